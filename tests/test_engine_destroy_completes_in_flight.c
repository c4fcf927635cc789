/*
 * Destroying an engine with requests in flight completes every one of them
 * exactly once before destroy returns, and the writes are on the file: the
 * thread pool (few workers, a short queue, so submit waits for space), the
 * io_uring engine (skipped where the kernel refuses a ring), and the fault
 * engine around each (destroyed through cio_cache_destroy with completions
 * parked behind long delays).
 *
 * Also: done callbacks that submit the next request of a chain from the
 * engine's own completion thread, with a queue depth of 1 or 2, so the
 * queue is full when they submit: the engines must not deadlock on
 * themselves, and every chain runs to its end.
 */
#include "helpers.h"
#include "internal.h"

#include <pthread.h>

#define NREQ 256
#define BLK 65536

struct req {
	struct cio_io io;
	struct iovec iov;
	atomic_int ncalls;
};

static atomic_int g_done;

static void req_done(struct cio_io *io)
{
	struct req *r = io->priv;
	atomic_fetch_add(&r->ncalls, 1);
	atomic_fetch_add(&g_done, 1);
}

static void destroy_in_flight(struct cio_engine *e, cio_cache *c,
                              const char *what)
{
	char *path = t_scratch_path("destroy");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECKF(fd >= 0, "open: %s", strerror(errno));
	uint8_t *data = t_alloc((size_t)NREQ * BLK);
	struct req *rq = calloc(NREQ, sizeof(*rq));
	CHECK(rq != NULL);
	t_stamp_fill(data, (size_t)NREQ * BLK, 0, 77);
	atomic_store(&g_done, 0);
	t_ctx("%s", what);
	if (c) {
		struct cio_fault_rule r;
		memset(&r, 0, sizeof r);
		r.ops = CIO_FAULT_WRITE;
		r.delay_us = 300000; /* far longer than the submits take */
		r.jitter_us = 50000;
		r.count = -1;
		CHECK_GE(cio_fault_add(c, &r), 0);
	}
	for (int i = 0; i < NREQ; i++) {
		rq[i].iov.iov_base = data + (size_t)i * BLK;
		rq[i].iov.iov_len = BLK;
		rq[i].io.op = CIO_OP_WRITE;
		rq[i].io.fd = fd;
		rq[i].io.iov = &rq[i].iov;
		rq[i].io.iovcnt = 1;
		rq[i].io.off = (uint64_t)i * BLK;
		rq[i].io.lbs = 512;
		rq[i].io.done = req_done;
		rq[i].io.priv = &rq[i];
		CHECK_EQ(e->ops->submit(e, &rq[i].io), 0);
	}
	int before = atomic_load(&g_done);
	if (c)
		t_destroy(c);
	else
		e->ops->destroy(e);
	t_log("%s: %d of %d requests had completed when destroy began", what,
	      before, NREQ);
	if (c)
		CHECK_LT(before, NREQ); /* the delays kept them in flight */
	CHECK_EQ(atomic_load(&g_done), NREQ);
	for (int i = 0; i < NREQ; i++) {
		t_ctx("%s req %d", what, i);
		CHECK_EQ(atomic_load(&rq[i].ncalls), 1);
		CHECK_EQ(rq[i].io.res, BLK);
	}
	CHECK_KERNEL(path, data, (size_t)NREQ * BLK, 0);
	close(fd);
	free(rq);
	free(data);
	t_scratch_remove(path);
}

/* ---- chains: done submits the next request ----------------------------- */

#define NCHAINS 8
#define CHAIN_LEN 40

struct chain {
	struct cio_io io;
	struct iovec iov;
	struct cio_engine *e;
	int fd, id, step;
	uint8_t *buf;     /* BLK bytes, aligned */
	atomic_int *left; /* chains not finished */
	int err;
};

static void chain_done(struct cio_io *io)
{
	struct chain *ch = io->priv;
	if (io->res != 4096 && !ch->err)
		ch->err = io->res < 0 ? (int)io->res : -EIO;
	if (++ch->step == CHAIN_LEN || ch->err) {
		atomic_fetch_sub(ch->left, 1);
		return;
	}
	/* Submit the next link from the engine's completion thread. */
	ch->io.off = ((uint64_t)ch->id * CHAIN_LEN + (uint64_t)ch->step) * 4096;
	ch->iov.iov_base = ch->buf + (size_t)ch->step * 4096;
	int r = ch->e->ops->submit(ch->e, &ch->io);
	if (r < 0) {
		ch->err = r;
		atomic_fetch_sub(ch->left, 1);
	}
}

static void chains(struct cio_engine *e, const char *what)
{
	char *path = t_scratch_path("chain");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECKF(fd >= 0, "open: %s", strerror(errno));
	struct chain ch[NCHAINS];
	atomic_int left = NCHAINS;
	t_ctx("%s chains", what);
	for (int i = 0; i < NCHAINS; i++) {
		memset(&ch[i], 0, sizeof ch[i]);
		ch[i].e = e;
		ch[i].fd = fd;
		ch[i].id = i;
		ch[i].left = &left;
		ch[i].buf = t_alloc((size_t)CHAIN_LEN * 4096);
		t_stamp_fill(ch[i].buf, (size_t)CHAIN_LEN * 4096,
		             (uint64_t)i * CHAIN_LEN * 4096, 5);
		ch[i].iov.iov_base = ch[i].buf;
		ch[i].iov.iov_len = 4096;
		ch[i].io.op = CIO_OP_WRITE;
		ch[i].io.fd = fd;
		ch[i].io.iov = &ch[i].iov;
		ch[i].io.iovcnt = 1;
		ch[i].io.off = (uint64_t)i * CHAIN_LEN * 4096;
		ch[i].io.lbs = 512;
		ch[i].io.done = chain_done;
		ch[i].io.priv = &ch[i];
	}
	for (int i = 0; i < NCHAINS; i++)
		CHECK_EQ(e->ops->submit(e, &ch[i].io), 0);
	uint64_t t0 = t_now_ns();
	while (atomic_load(&left) > 0) {
		CHECKF(t_now_ns() - t0 < 60ull * 1000000000ull,
		       "%s: %d chains still running after 60 s (deadlock?)",
		       what, atomic_load(&left));
		t_sleep_ms(1);
	}
	e->ops->destroy(e);
	for (int i = 0; i < NCHAINS; i++) {
		t_ctx("%s chain %d", what, i);
		CHECK_EQ(ch[i].err, 0);
		CHECK_EQ(ch[i].step, CHAIN_LEN);
		CHECK_KERNEL(path, ch[i].buf, (size_t)CHAIN_LEN * 4096,
		             (int64_t)i * CHAIN_LEN * 4096);
		free(ch[i].buf);
	}
	close(fd);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	struct cio_engine *e;
	int uring_ok = 1;

	/* A short queue (submit waits for space), then a deep one (many
	 * requests still queued when destroy begins). */
	CHECK_EQ(cio_engine_threads_create(2, 4, &e), 0);
	CHECK(!strcmp(e->ops->name, "threads"));
	destroy_in_flight(e, NULL, "threads qd 4");
	CHECK_EQ(cio_engine_threads_create(2, NREQ, &e), 0);
	destroy_in_flight(e, NULL, "threads qd 256");

	int r = cio_engine_uring_create(8, &e);
	if (r < 0) {
		t_log("uring: the kernel refuses a ring (%s): skipped", t_errname(r));
		uring_ok = 0;
	} else {
		CHECK(!strcmp(e->ops->name, "uring"));
		destroy_in_flight(e, NULL, "uring qd 8");
		CHECK_EQ(cio_engine_uring_create(NREQ, &e), 0);
		destroy_in_flight(e, NULL, "uring qd 256");
	}

	static const struct { int engine; const char *name; } fe[] = {
		{ CIO_ENGINE_SYNC, "fault(sync)" },
		{ CIO_ENGINE_THREADS, "fault(threads)" },
		{ CIO_ENGINE_URING, "fault(uring)" },
	};
	for (unsigned k = 0; k < 3; k++) {
		if (fe[k].engine == CIO_ENGINE_URING && !uring_ok)
			continue;
		struct cio_cache_opts o = t_opts(4096, 4ull << 20);
		o.engine = fe[k].engine;
		o.fault_inject = 1;
		o.queue_depth = 8;
		o.engine_threads = 2;
		cio_cache *c = t_cache_opts(&o);
		destroy_in_flight(c->c_engine, c, fe[k].name);
	}

	CHECK_EQ(cio_engine_threads_create(1, 1, &e), 0);
	chains(e, "threads qd 1");
	CHECK_EQ(cio_engine_threads_create(3, 2, &e), 0);
	chains(e, "threads qd 2");
	if (uring_ok) {
		CHECK_EQ(cio_engine_uring_create(1, &e), 0);
		chains(e, "uring qd 1");
		CHECK_EQ(cio_engine_uring_create(2, &e), 0);
		chains(e, "uring qd 2");
	}
	return t_pass();
}
