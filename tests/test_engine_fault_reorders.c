/*
 * The fault engine delays and reorders completions without making the
 * submitter wait, for every inner engine (sync, threads, uring; uring is
 * skipped where the kernel refuses a ring).
 *
 * Engine level (the cache's engine driven directly with struct cio_io
 * requests): batches of writes submitted together under a delay + jitter
 * rule are accepted at once (submitting the batch takes far less than one
 * delay per request), each completes exactly once no earlier than the delay
 * after its submission, with the right result, and completion order differs
 * from submission order; the data read back (also in reordered batches)
 * and the kernel's view are right. An error rule with a delay completes
 * late with -EIO and never reaches the file; a short rule cuts a read.
 *
 * Cache level: several threads do direct writes (and direct and cached
 * reads of what they wrote) under delay/jitter rules; every call moves all
 * its bytes and the data is right on every path and on the device.
 */
#include "helpers.h"
#include "internal.h"

#include <pthread.h>

#define NREQ 64
#define BLK 4096
#define DELAY_US 20000
#define JITTER_US 20000

struct batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int ndone;
	int order[NREQ]; /* order[k]: index of the k-th completion */
};

struct req {
	struct cio_io io;
	struct iovec iov;
	int idx;
	int ncalls;          /* under b->lock */
	uint64_t submit_ns;
	uint64_t done_ns;    /* under b->lock */
	struct batch *b;
};

static void req_done(struct cio_io *io)
{
	struct req *r = io->priv;
	struct batch *b = r->b;
	pthread_mutex_lock(&b->lock);
	r->ncalls++;
	r->done_ns = t_now_ns();
	if (b->ndone < NREQ)
		b->order[b->ndone] = r->idx;
	b->ndone++;
	pthread_cond_broadcast(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void batch_wait(struct batch *b, int n)
{
	pthread_mutex_lock(&b->lock);
	while (b->ndone < n)
		pthread_cond_wait(&b->cond, &b->lock);
	pthread_mutex_unlock(&b->lock);
}

static void req_init(struct req *r, struct batch *b, int idx, int op, int fd,
                     void *buf, size_t len, uint64_t off)
{
	memset(r, 0, sizeof(*r));
	r->b = b;
	r->idx = idx;
	r->iov.iov_base = buf;
	r->iov.iov_len = len;
	r->io.op = op;
	r->io.fd = fd;
	r->io.iov = len ? &r->iov : NULL;
	r->io.iovcnt = len ? 1 : 0;
	r->io.off = off;
	r->io.lbs = 512;
	r->io.done = req_done;
	r->io.priv = r;
}

/* Submit @n requests back to back; return how long submitting took (ns). */
static uint64_t submit_all(struct cio_engine *e, struct req *rq, int n)
{
	uint64_t t0 = t_now_ns();
	for (int i = 0; i < n; i++) {
		rq[i].submit_ns = t_now_ns();
		int rc = e->ops->submit(e, &rq[i].io);
		CHECKF(rc == 0, "submit %d = %d (%s)", i, rc, t_errname(rc));
	}
	return t_now_ns() - t0;
}

/* Inversions in b->order (0 = completion order == submission order). */
static int inversions(const struct batch *b)
{
	int inv = 0;
	for (int i = 1; i < NREQ; i++)
		if (b->order[i] < b->order[i - 1])
			inv++;
	return inv;
}

static void batch_reset(struct batch *b)
{
	b->ndone = 0;
}

static void engine_level(cio_cache *c, const char *ename)
{
	struct cio_engine *e = c->c_engine;
	char *path = t_scratch_path("reorder");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	CHECKF(fd >= 0, "open(%s): %s", path, strerror(errno));
	uint8_t *data = t_alloc((size_t)NREQ * BLK);
	uint8_t *back = t_alloc((size_t)NREQ * BLK);
	struct req *rq = calloc(NREQ, sizeof(*rq));
	struct batch b;
	CHECK(rq != NULL);
	memset(&b, 0, sizeof b);
	pthread_mutex_init(&b.lock, NULL);
	pthread_cond_init(&b.cond, NULL);

	struct cio_fault_rule rule;
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_READ | CIO_FAULT_WRITE | CIO_FAULT_FSYNC;
	rule.delay_us = DELAY_US;
	rule.jitter_us = JITTER_US;
	rule.count = -1;
	rule.seed = 42;
	int id = cio_fault_add(c, &rule);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));

	int reordered_rounds = 0;
	const int rounds = 3;
	for (int round = 0; round < rounds; round++) {
		uint64_t seed = 100 + (uint64_t)round;
		t_ctx("%s: write round %d", ename, round);
		t_stamp_fill(data, (size_t)NREQ * BLK, 0, seed);
		batch_reset(&b);
		for (int i = 0; i < NREQ; i++)
			req_init(&rq[i], &b, i, CIO_OP_WRITE, fd,
			         data + (size_t)i * BLK, BLK, (uint64_t)i * BLK);
		uint64_t sub_ns = submit_all(e, rq, NREQ);
		batch_wait(&b, NREQ);
		/* The submitter does not sit out the delays: one delay per
		 * request would be NREQ * DELAY_US. */
		CHECKF(sub_ns < (uint64_t)NREQ * DELAY_US * 1000ull / 4,
		       "submitting %d delayed writes took %llu us", NREQ,
		       (unsigned long long)(sub_ns / 1000));
		for (int i = 0; i < NREQ; i++) {
			t_ctx("%s: write round %d req %d", ename, round, i);
			CHECK_EQ(rq[i].ncalls, 1);
			CHECK_EQ(rq[i].io.res, BLK);
			CHECK_GE(rq[i].done_ns - rq[i].submit_ns,
			         (uint64_t)DELAY_US * 1000ull);
		}
		CHECK_EQ(b.ndone, NREQ);
		int inv = inversions(&b);
		t_log("%s: round %d: %d writes submitted in %llu us, %d "
		      "inversions in completion order", ename, round, NREQ,
		      (unsigned long long)(sub_ns / 1000), inv);
		if (inv)
			reordered_rounds++;

		/* Read back, also in one reordered batch. */
		t_ctx("%s: read round %d", ename, round);
		memset(back, 0xee, (size_t)NREQ * BLK);
		batch_reset(&b);
		for (int i = 0; i < NREQ; i++) {
			int j = NREQ - 1 - i; /* submit in reverse */
			req_init(&rq[i], &b, i, CIO_OP_READ, fd,
			         back + (size_t)j * BLK, BLK, (uint64_t)j * BLK);
		}
		submit_all(e, rq, NREQ);
		batch_wait(&b, NREQ);
		for (int i = 0; i < NREQ; i++) {
			CHECK_EQ(rq[i].ncalls, 1);
			CHECK_EQ(rq[i].io.res, BLK);
		}
		CHECK_MEM(back, data, (size_t)NREQ * BLK, 0);
	}
	CHECKF(reordered_rounds > 0,
	       "%s: completions never came back out of order in %d rounds",
	       ename, rounds);

	/* fdatasync and fsync through the delaying engine */
	t_ctx("%s: sync", ename);
	batch_reset(&b);
	req_init(&rq[0], &b, 0, CIO_OP_FDATASYNC, fd, NULL, 0, 0);
	req_init(&rq[1], &b, 1, CIO_OP_FSYNC, fd, NULL, 0, 0);
	submit_all(e, rq, 2);
	batch_wait(&b, 2);
	CHECK_EQ(rq[0].io.res, 0);
	CHECK_EQ(rq[1].io.res, 0);
	CHECK_KERNEL(path, data, (size_t)NREQ * BLK, 0);
	CHECK_EQ(cio_fault_clear(c, id), 0);

	/* An error with a delay: completes late, never reaches the file. */
	t_ctx("%s: delayed error", ename);
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_WRITE;
	rule.start = (int64_t)NREQ * BLK;
	rule.end = rule.start + BLK;
	rule.error = EIO;
	rule.delay_us = 5000;
	rule.count = 1;
	id = cio_fault_add(c, &rule);
	CHECK_GE(id, 0);
	batch_reset(&b);
	req_init(&rq[0], &b, 0, CIO_OP_WRITE, fd, data, BLK, (uint64_t)NREQ * BLK);
	submit_all(e, rq, 1);
	batch_wait(&b, 1);
	CHECK_EQ(rq[0].ncalls, 1);
	CHECK_EQ(rq[0].io.res, -EIO);
	CHECK_GE(rq[0].done_ns - rq[0].submit_ns, 5000ull * 1000ull);
	CHECK_EQ(cio_fault_fired(c, id), 1);
	CHECK_EQ(t_kernel_size(path), (int64_t)NREQ * BLK);
	CHECK_EQ(cio_fault_clear(c, id), 0);

	/* An error with no delay completes inline, before submit returns. */
	rule.delay_us = 0;
	id = cio_fault_add(c, &rule);
	CHECK_GE(id, 0);
	batch_reset(&b);
	req_init(&rq[0], &b, 0, CIO_OP_WRITE, fd, data, BLK, (uint64_t)NREQ * BLK);
	submit_all(e, rq, 1);
	pthread_mutex_lock(&b.lock);
	CHECK_EQ(b.ndone, 1);
	pthread_mutex_unlock(&b.lock);
	CHECK_EQ(rq[0].io.res, -EIO);
	CHECK_EQ(cio_fault_clear(c, id), 0);

	/* A short read with a delay. */
	t_ctx("%s: short read", ename);
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_READ;
	rule.short_bytes = BLK + 100; /* rounded down to 4096 */
	rule.delay_us = 1000;
	rule.count = 1;
	id = cio_fault_add(c, &rule);
	CHECK_GE(id, 0);
	batch_reset(&b);
	memset(back, 0xee, 4 * BLK);
	req_init(&rq[0], &b, 0, CIO_OP_READ, fd, back, 4 * BLK, 0);
	submit_all(e, rq, 1);
	batch_wait(&b, 1);
	CHECK_EQ(rq[0].io.res, BLK);
	CHECK_MEM(back, data, BLK, 0);
	CHECK_EQ(back[BLK], 0xee);
	CHECK_EQ(cio_fault_clear(c, -1), 0);

	pthread_cond_destroy(&b.cond);
	pthread_mutex_destroy(&b.lock);
	free(rq);
	free(back);
	free(data);
	close(fd);
	t_scratch_remove(path);
}

/* ---- cache level ------------------------------------------------------- */

#define NTHREADS 6
#define NWRITES 40
#define REGION (256 * 1024)

struct warg {
	cio_file *f;
	int id;
	uint32_t lbs;
	uint8_t *shadow; /* REGION bytes: what the region holds */
};

static void *writer(void *arg)
{
	struct warg *wa = arg;
	uint64_t rs = t_rand_seed((uint64_t)wa->id * 77 + 5);
	int64_t base = (int64_t)wa->id * REGION;
	uint8_t *buf = t_alloc(64 * 1024);
	for (int k = 0; k < NWRITES; k++) {
		size_t len = (size_t)(1 + t_rand_below(&rs, (64 * 1024) / wa->lbs)) * wa->lbs;
		int64_t rel = (int64_t)t_align_down(
			t_rand_below(&rs, REGION - len + 1), wa->lbs);
		t_ctx("writer %d op %d rel %lld len %zu", wa->id, k,
		      (long long)rel, len);
		t_stamp_fill(buf, len, (uint64_t)(base + rel),
		             (uint64_t)(wa->id * 1000 + k + 1));
		t_write_all(wa->f, buf, len, base + rel, CIO_RW_DIRECT);
		memcpy(wa->shadow + rel, buf, len);
		memset(buf, 0xee, len);
		t_read_all(wa->f, buf, len, base + rel, CIO_RW_DIRECT);
		CHECK_MEM(buf, wa->shadow + rel, len, base + rel);
		if (k % 4 == 0) {
			memset(buf, 0xee, len);
			t_read_all(wa->f, buf, len, base + rel, 0);
			CHECK_MEM(buf, wa->shadow + rel, len, base + rel);
		}
	}
	free(buf);
	return NULL;
}

static void cache_level(cio_cache *c, const char *ename)
{
	char *path = t_scratch_path("reorder-cache");
	CHECK_EQ(t_kernel_create(path, (int64_t)NTHREADS * REGION), 0);
	cio_file *f = t_open(c, path, O_RDWR);
	struct cio_fault_rule rule;
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
	rule.delay_us = 200;
	rule.jitter_us = 3000;
	rule.count = -1;
	rule.per_million = 600000;
	rule.seed = 9;
	int id = cio_fault_add(c, &rule);
	CHECK_GE(id, 0);

	pthread_t th[NTHREADS];
	struct warg wa[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		wa[i].f = f;
		wa[i].id = i;
		wa[i].lbs = t_lbs(f);
		wa[i].shadow = t_alloc(REGION);
		CHECK_EQ(pthread_create(&th[i], NULL, writer, &wa[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	int64_t fired = cio_fault_fired(c, id);
	t_log("%s: cache level: the delay rule fired %lld times", ename,
	      (long long)fired);
	CHECK_GT(fired, 0);
	CHECK_EQ(cio_fault_clear(c, -1), 0);
	CHECK_EQ(cio_fsync(f), 0);
	t_ctx("%s: cache level final check", ename);
	for (int i = 0; i < NTHREADS; i++) {
		CHECK_KERNEL(path, wa[i].shadow, REGION, (int64_t)i * REGION);
		free(wa[i].shadow);
	}
	t_close(f);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	static const struct { int engine; const char *name; } engines[] = {
		{ CIO_ENGINE_SYNC, "sync" },
		{ CIO_ENGINE_THREADS, "threads" },
		{ CIO_ENGINE_URING, "uring" },
	};
	int ran = 0;
	for (unsigned k = 0; k < sizeof engines / sizeof engines[0]; k++) {
		struct cio_cache_opts o = t_opts(4096, 4ull << 20);
		o.engine = engines[k].engine;
		o.fault_inject = 1;
		cio_cache *c = NULL;
		int rc = cio_cache_create(&c, &o);
		if (rc < 0 && engines[k].engine == CIO_ENGINE_URING) {
			t_log("uring: the kernel refuses a ring (%s): skipped",
			      t_errname(rc));
			continue;
		}
		CHECKF(rc == 0, "cio_cache_create(%s) = %d (%s)",
		       engines[k].name, rc, t_errname(rc));
		struct cio_cache_stats st = t_cstats(c);
		CHECK(st.engine && !strcmp(st.engine, engines[k].name));
		engine_level(c, engines[k].name);
		cache_level(c, engines[k].name);
		t_destroy(c);
		ran++;
	}
	CHECK_GE(ran, 2);
	return t_pass();
}
