/*
 * G8 through the async API - truncate drains the async operations in
 * flight: no completion may write into, or resize, the file after a later
 * truncate has returned.
 *
 * A fault-injecting cache delays every device write by DELAY_US plus a
 * random 0..JITTER_US. Context W accepts NDIO extending async direct writes
 * (one block each, spread over the file, all past end of file) and NCACHED
 * extending async cached writes; once every direct write has reached the
 * engine (the delay rule's fired count says so), the file is truncated to 0
 * in one of three ways:
 *   (a) cio_truncate(f, 0) on this thread, concurrently with the writes;
 *   (b) a CIO_OP_TRUNCATE submitted to W after the writes;
 *   (c) a CIO_OP_TRUNCATE submitted to a second context.
 * Once the truncate has returned (its event reaped for (b) and (c)):
 *   - every write's event is already posted (a non-blocking reap gets them
 *     all), each write reports its full length, each arrives exactly once
 *     and no event arrives after that;
 *   - the size is 0 and stays 0: a sampler thread checks cio_size() all the
 *     time, and this thread samples it for a while and after reaping;
 *   - the backing file's size is 0 and the old range is end of file on the
 *     cached, direct, async cached and async direct paths (a read pin gets
 *     -ENXIO); after truncating up again it reads as zeros on every path
 *     and on the device.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NDIO 64
#define NCACHED 8
#define NW (NDIO + NCACHED)
#define DELAY_US 20000
#define JITTER_US 20000

struct g8 {
	cio_file *f;
	/* odd while the size must be 0 (from the truncate's return until
	 * this thread grows the file again): a seqlock-like phase counter */
	atomic_int phase;
	atomic_int stop;
	atomic_llong samples;
};

static void *sampler(void *arg)
{
	struct g8 *g = arg;
	t_ctx("size sampler");
	while (!atomic_load(&g->stop)) {
		int p1 = atomic_load(&g->phase);
		int64_t s = cio_size(g->f);
		int p2 = atomic_load(&g->phase);
		CHECKF(p1 != p2 || !(p1 & 1) || s == 0,
		       "size %lld after the truncate to 0 returned", (long long)s);
		atomic_fetch_add_explicit(&g->samples, 1, memory_order_relaxed);
		if ((atomic_load_explicit(&g->samples, memory_order_relaxed) & 63) == 0) {
			struct timespec ts = {0, 50000};
			nanosleep(&ts, NULL); /* leave the CPU to the others */
		}
	}
	return NULL;
}

struct env {
	uint32_t ps, lbs;
	size_t L;          /* bytes per write                 */
	int64_t end;       /* end of the furthest write       */
	char *path;
	cio_cache *c;
	cio_file *f;
	int rule;
	uint8_t *bufs;     /* NW * L, write i at i * L         */
	uint8_t *rbuf;
	struct g8 g;
};

static int64_t off_of(const struct env *e, int i)
{
	/* direct writes: one block every 3 blocks from block 1; cached
	 * writes: unaligned, in between */
	if (i < NDIO)
		return (int64_t)(3 * i + 1) * (int64_t)e->L;
	return (int64_t)(3 * (i - NDIO) * 8 + 2) * (int64_t)e->L + 123;
}

static void submit_writes(struct env *e, cio_ctx *w, uint64_t base_ud)
{
	struct cio_op ops[NW];
	memset(ops, 0, sizeof ops);
	for (int i = 0; i < NW; i++) {
		int k = i;
		ops[k].opcode = CIO_OP_WRITE;
		ops[k].flags = i < NDIO ? CIO_RW_DIRECT : 0;
		ops[k].file = e->f;
		ops[k].buf = e->bufs + (size_t)i * e->L;
		ops[k].len = i < NDIO ? e->L : e->L - 200;
		ops[k].off = off_of(e, i);
		ops[k].user_data = base_ud + (uint64_t)i;
	}
	int64_t fired0 = cio_fault_fired(e->c, e->rule);
	int done = 0;
	while (done < NW) {
		int n = cio_ctx_submit(w, ops + done, NW - done);
		CHECKF(n >= 1, "cio_ctx_submit = %d (%s)", n, t_errname(n));
		done += n;
	}
	/* every direct write has reached the engine (where it is delayed) */
	while (cio_fault_fired(e->c, e->rule) - fired0 < NDIO)
		t_sleep_ms(1);
}

/* Reap what is posted without waiting; record user_data; return count. */
static int reap_now(cio_ctx *cx, uint64_t base_ud, int *seen,
                    struct env *e, int *trunc_seen, uint64_t trunc_ud)
{
	struct cio_event ev[NW + 2];
	struct timespec zero = {0, 0};
	int total = 0;
	for (;;) {
		int n = cio_ctx_getevents(cx, 0, NW + 2, ev, &zero);
		CHECKF(n >= 0, "getevents = %d (%s)", n, t_errname(n));
		if (n == 0)
			return total;
		for (int k = 0; k < n; k++) {
			if (trunc_seen && ev[k].user_data == trunc_ud) {
				CHECKF(!*trunc_seen, "second truncate event");
				*trunc_seen = 1;
				CHECK_EQ(ev[k].opcode, CIO_OP_TRUNCATE);
				CHECKF(ev[k].res == 0, "truncate event res %lld (%s)",
				       (long long)ev[k].res, t_errname(ev[k].res));
				continue;
			}
			uint64_t i = ev[k].user_data - base_ud;
			CHECKF(ev[k].user_data >= base_ud && i < NW,
			       "event for unknown user_data %llu",
			       (unsigned long long)ev[k].user_data);
			CHECKF(!seen[i], "second event for write %llu",
			       (unsigned long long)i);
			seen[i] = 1;
			CHECK_EQ(ev[k].opcode, CIO_OP_WRITE);
			size_t len = i < NDIO ? e->L : e->L - 200;
			CHECKF(ev[k].res == (int64_t)len && ev[k].res2 == 0,
			       "write %llu (%s, off %lld): res %lld res2 %d (%s)",
			       (unsigned long long)i, i < NDIO ? "direct" : "cached",
			       (long long)off_of(e, (int)i), (long long)ev[k].res,
			       ev[k].res2, t_errname(ev[k].res < 0 ? ev[k].res : ev[k].res2));
			total++;
		}
	}
}

static struct cio_event submit_wait(cio_ctx *cx, const struct cio_op *op)
{
	int n = cio_ctx_submit(cx, op, 1);
	CHECKF(n == 1, "cio_ctx_submit = %d (%s)", n, t_errname(n));
	struct cio_event ev;
	n = cio_ctx_getevents(cx, 1, 1, &ev, NULL);
	CHECKF(n == 1, "cio_ctx_getevents = %d (%s)", n, t_errname(n));
	CHECK_EQ(ev.user_data, op->user_data);
	return ev;
}

/* After the truncate: the size stays 0, the old range is end of file on
 * every path; truncated up again it reads as zeros everywhere. */
static void check_after(struct env *e, const char *how)
{
	t_ctx("ps=%u %s: after the truncate", e->ps, how);
	for (int i = 0; i < 30; i++) {
		CHECK_EQ(cio_size(e->f), 0);
		t_sleep_ms(1);
	}
	CHECK_EQ(t_kernel_size(e->path), 0);
	size_t len = (size_t)e->end;
	cio_ctx *cx = NULL;
	CHECK_EQ(cio_ctx_create(e->c, 2, &cx), 0);
	for (int mode = 0; mode < 4; mode++) {
		unsigned flags = (mode & 1) ? CIO_RW_DIRECT : 0;
		int64_t r;
		if (mode < 2) {
			r = cio_read(e->f, e->rbuf, len, 0, flags);
		} else {
			struct cio_op op;
			memset(&op, 0, sizeof op);
			op.opcode = CIO_OP_READ;
			op.flags = flags;
			op.file = e->f;
			op.buf = e->rbuf;
			op.len = len;
			op.user_data = 1000 + (uint64_t)mode;
			r = submit_wait(cx, &op).res;
		}
		CHECKF(r == 0, "%s read of the old range after truncate(0) = %lld",
		       mode & 1 ? "direct" : "cached", (long long)r);
	}
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	CHECK_EQ(cio_pin_range(e->f, 0, e->L, 0, &pin), -ENXIO);
	CHECK_EQ(cio_size(e->f), 0);

	/* end the sampler's "must be 0" before growing the file again */
	atomic_fetch_add(&e->g.phase, 1);
	CHECK_EQ(cio_truncate(e->f, e->end, 0), 0);
	CHECK_EQ(cio_size(e->f), e->end);
	for (int mode = 0; mode < 4; mode++) {
		unsigned flags = (mode & 1) ? CIO_RW_DIRECT : 0;
		int64_t r;
		memset(e->rbuf, 0xEE, len);
		if (mode < 2) {
			r = cio_read(e->f, e->rbuf, len, 0, flags);
		} else {
			struct cio_op op;
			memset(&op, 0, sizeof op);
			op.opcode = CIO_OP_READ;
			op.flags = flags;
			op.file = e->f;
			op.buf = e->rbuf;
			op.len = len;
			op.user_data = 2000 + (uint64_t)mode;
			r = submit_wait(cx, &op).res;
		}
		CHECKF(r == (int64_t)len, "%s read after re-extending = %lld",
		       mode & 1 ? "direct" : "cached", (long long)r);
		ssize_t nz = t_find_nonzero(e->rbuf, len);
		CHECKF(nz < 0, "%s%s read: old data at offset %zd after truncate(0)"
		       " and re-extension", mode >= 2 ? "async " : "",
		       mode & 1 ? "direct" : "cached", nz);
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	CHECK_EQ(cio_fsync(e->f), 0);
	CHECK_EQ(t_kernel_size(e->path), e->end);
	ssize_t kr = t_kernel_pread(e->path, e->rbuf, len, 0);
	CHECK_EQ(kr, (ssize_t)len);
	ssize_t nz = t_find_nonzero(e->rbuf, len);
	CHECKF(nz < 0, "device: old data at offset %zd", nz);
	/* back to empty for the next scenario */
	CHECK_EQ(cio_truncate(e->f, 0, 0), 0);
}

static void scenario(struct env *e, int how)
{
	static const char *names[3] = {"cio_truncate concurrently",
	                               "CIO_OP_TRUNCATE in the same context",
	                               "CIO_OP_TRUNCATE in another context"};
	const char *name = names[how];
	uint64_t base = (uint64_t)(how + 1) << 32;
	uint64_t trunc_ud = base + 0xffff;
	int seen[NW];
	memset(seen, 0, sizeof seen);
	cio_ctx *w = NULL, *t = NULL;
	CHECK_EQ(cio_ctx_create(e->c, NW + 8, &w), 0);
	t_ctx("ps=%u %s", e->ps, name);
	CHECK_EQ(cio_size(e->f), 0);

	submit_writes(e, w, base);
	int got = 0, trunc_seen = 0;
	if (how == 0) {
		int rc = cio_truncate(e->f, 0, 0);
		CHECKF(rc == 0, "cio_truncate = %d (%s)", rc, t_errname(rc));
		atomic_fetch_add(&e->g.phase, 1);
		CHECK_EQ(cio_size(e->f), 0);
		got = reap_now(w, base, seen, e, NULL, 0);
	} else {
		struct cio_op op;
		memset(&op, 0, sizeof op);
		op.opcode = CIO_OP_TRUNCATE;
		op.file = e->f;
		op.off = 0;
		op.user_data = trunc_ud;
		cio_ctx *tc = w;
		if (how == 2) {
			CHECK_EQ(cio_ctx_create(e->c, 4, &t), 0);
			tc = t;
		}
		CHECK_EQ(cio_ctx_submit(tc, &op, 1), 1);
		/* wait for the truncate's event; in the same context the
		 * writes' events come in between */
		while (!trunc_seen) {
			struct cio_event ev;
			int n = cio_ctx_getevents(tc, 1, 1, &ev, NULL);
			CHECK_EQ(n, 1);
			if (ev.user_data == trunc_ud) {
				CHECK_EQ(ev.opcode, CIO_OP_TRUNCATE);
				CHECKF(ev.res == 0, "truncate event res %lld (%s)",
				       (long long)ev.res, t_errname(ev.res));
				trunc_seen = 1;
			} else {
				uint64_t i = ev.user_data - base;
				CHECKF(how == 1 && i < NW && !seen[i],
				       "unexpected event user_data %llu",
				       (unsigned long long)ev.user_data);
				seen[i] = 1;
				size_t len = i < NDIO ? e->L : e->L - 200;
				CHECK_EQ(ev.res, (int64_t)len);
				got++;
			}
		}
		atomic_fetch_add(&e->g.phase, 1);
		CHECK_EQ(cio_size(e->f), 0);
		got += reap_now(w, base, seen, e, NULL, 0);
	}
	CHECKF(got == NW, "%s: when the truncate returned only %d of the %d"
	       " writes accepted before it had completed (posted their"
	       " events): truncate must drain them (G8)", name, got, NW);

	/* no event may follow */
	struct cio_event ev[4];
	struct timespec ts = {0, 20 * 1000000L};
	CHECK_EQ(cio_ctx_getevents(w, 1, 4, ev, &ts), 0);
	if (t) {
		CHECK_EQ(cio_ctx_getevents(t, 1, 4, ev, &ts), 0);
		CHECK_EQ(cio_ctx_destroy(t), 0);
	}
	CHECK_EQ(cio_ctx_destroy(w), 0);
	for (int i = 0; i < NW; i++)
		CHECKF(seen[i], "no event for write %d", i);
	check_after(e, name);
}

static void run(uint32_t ps)
{
	struct env e;
	memset(&e, 0, sizeof e);
	e.ps = ps;
	e.path = t_scratch_path("g8a");
	e.c = t_cache(ps, 0, 1);
	e.f = t_open(e.c, e.path, O_RDWR | O_CREAT | O_EXCL);
	e.lbs = t_lbs(e.f);
	e.L = e.lbs > 4096 ? e.lbs : 4096;
	e.end = 0;
	for (int i = 0; i < NW; i++) {
		int64_t end = off_of(&e, i) + (int64_t)(i < NDIO ? e.L : e.L - 200);
		if (end > e.end)
			e.end = end;
	}
	e.bufs = t_alloc((size_t)NW * e.L);
	for (int i = 0; i < NW; i++)
		t_stamp_fill(e.bufs + (size_t)i * e.L, e.L, (uint64_t)off_of(&e, i),
		             (uint64_t)i + 1);
	e.rbuf = t_alloc((size_t)e.end + 65536);
	struct cio_fault_rule r;
	memset(&r, 0, sizeof r);
	r.ops = CIO_FAULT_WRITE;
	r.delay_us = DELAY_US;
	r.jitter_us = JITTER_US;
	r.count = -1;
	e.rule = cio_fault_add(e.c, &r);
	CHECKF(e.rule >= 0, "cio_fault_add = %d (%s)", e.rule, t_errname(e.rule));

	e.g.f = e.f;
	pthread_t st;
	CHECK_EQ(pthread_create(&st, NULL, sampler, &e.g), 0);
	for (int round = 0; round < (ps == t_page_sizes[0] ? 2 : 1); round++)
		for (int how = 0; how < 3; how++)
			scenario(&e, how);
	atomic_store(&e.g.stop, 1);
	CHECK_EQ(pthread_join(st, NULL), 0);
	t_log("ps=%u engine %s: %lld size samples, delay rule fired %lld times",
	      ps, t_cstats(e.c).engine, (long long)atomic_load(&e.g.samples),
	      (long long)cio_fault_fired(e.c, e.rule));

	t_close(e.f);
	t_destroy(e.c);
	free(e.bufs);
	free(e.rbuf);
	t_scratch_remove(e.path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
