/*
 * Async contexts under pressure: a full context refuses more work with
 * -EAGAIN until events are reaped, and many threads submitting to and
 * reaping from contexts lose and duplicate nothing (G4: exactly one event
 * per accepted operation).
 *
 * The file holds NBLK blocks of the logical block size, stamped OLD; every
 * write op writes its own block (never written by another op) with the NEW
 * stamp, every read op reads a random block, which must be OLD or NEW.
 * Ops mix cached and direct reads and writes and, now and then, an fsync.
 * A fault rule delays device writes by a random 0..JITTER_US.
 *
 *  A. One thread, one context of depth D (several depths): submitting in
 *     batches accepts exactly D operations (the batch that reaches D is
 *     cut: the count says how many were taken), then -EAGAIN; reaping k
 *     events makes room for exactly k more. Repeated for several rounds.
 *  B. NTHREADS threads share one small context: each submits NPER ops in
 *     batches, and on -EAGAIN or a cut batch reaps whatever events are
 *     there (any thread's); once done submitting, they reap until every
 *     event has been seen. Every user_data is seen exactly once, with the
 *     right opcode and result.
 *  C. NTHREADS threads, each with its own context: each fills its context
 *     to exactly its depth (then -EAGAIN), and runs the same workload.
 * At the end the cached path, the direct path and the device hold NEW in
 * every written block and OLD elsewhere.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NTHREADS 8
#define NPER 200
#define SHARED_DEPTH 24
#define OWN_DEPTH 16
#define JITTER_US 500
#define SEED_OLD 71
#define SEED_NEW 72
#define A_ROUNDS 6

/* blocks: part A uses [0, A_BLOCKS), B and C one range per thread each */
#define A_BLOCKS 1024
#define NBLK (A_BLOCKS + 2 * NTHREADS * NPER)

struct env {
	uint32_t ps, lbs;
	size_t B;
	char *path;
	cio_cache *c;
	cio_file *f;
	uint8_t *old, *nw;     /* whole-file images                      */
	_Atomic uint8_t *written; /* block written by an accepted op      */
	_Atomic uint8_t *seen; /* per op id: events seen                  */
	atomic_llong reaped;   /* part B: events seen in total             */
	atomic_llong eagain;   /* submissions refused with -EAGAIN         */
	atomic_llong cut;      /* batches accepted in part                 */
	cio_ctx *shared;
	uint32_t next_blk;     /* part A's next block                      */
};

/* cio_ctx_getevents(cx, min_nr, max_nr, ev, NULL), but fail loudly (rather
 * than hang until the watchdog) when no event at all arrives for
 * STALL_S seconds: every operation here completes within milliseconds, so
 * that is a deadlock in the library, not a slow machine. */
#define STALL_S 60
static int wait_events(cio_ctx *cx, int min_nr, int max_nr,
                       struct cio_event *ev, const char *what)
{
	int got = 0;
	unsigned idle_s = 0;
	while (got < min_nr) {
		struct timespec one = {1, 0};
		int n = cio_ctx_getevents(cx, 1, max_nr - got, ev + got, &one);
		CHECKF(n >= 0, "getevents = %d (%s)", n, t_errname(n));
		got += n;
		idle_s = n ? 0 : idle_s + 1;
		CHECKF(idle_s < STALL_S,
		       "%s: waited %d s for %d more event(s) with none arriving:"
		       " the context is stuck (operations queued for a runner"
		       " thread while every runner waits for them?)", what,
		       STALL_S, min_nr - got);
	}
	return got;
}

/* op kinds */
enum { K_CW, K_DW, K_CR, K_DR, K_FSYNC };

struct opbuf {
	struct cio_op op;
	int kind;
	uint32_t blk;
	uint8_t *rbuf;         /* reads: a buffer of B bytes of its own */
};

static void make_op(struct env *e, struct opbuf *ob, uint64_t ud,
                    uint32_t wblk, uint64_t *rs, uint8_t *rbuf)
{
	memset(&ob->op, 0, sizeof ob->op);
	int k = (int)t_rand_below(rs, 20);
	ob->kind = k < 7 ? K_CW : k < 14 ? K_DW : k < 16 ? K_CR : k < 19 ? K_DR : K_FSYNC;
	ob->op.file = e->f;
	ob->op.user_data = ud;
	ob->rbuf = rbuf;
	switch (ob->kind) {
	case K_CW:
	case K_DW:
		ob->blk = wblk;
		ob->op.opcode = CIO_OP_WRITE;
		ob->op.flags = ob->kind == K_DW ? CIO_RW_DIRECT : 0;
		ob->op.buf = e->nw + (size_t)wblk * e->B;
		ob->op.len = e->B;
		ob->op.off = (int64_t)wblk * (int64_t)e->B;
		break;
	case K_CR:
	case K_DR:
		ob->blk = (uint32_t)t_rand_below(rs, NBLK);
		ob->op.opcode = CIO_OP_READ;
		ob->op.flags = ob->kind == K_DR ? CIO_RW_DIRECT : 0;
		ob->op.buf = rbuf;
		ob->op.len = e->B;
		ob->op.off = (int64_t)ob->blk * (int64_t)e->B;
		break;
	default:
		ob->op.opcode = CIO_OP_FSYNC;
		break;
	}
}

/* Mark the op's block as written once the op is accepted. */
static void accepted(struct env *e, const struct opbuf *ob)
{
	if (ob->kind == K_CW || ob->kind == K_DW)
		atomic_store(&e->written[ob->blk], 1);
}

/* Check one event against its op. */
static void check_event(struct env *e, const struct cio_event *ev,
                        const struct opbuf *ob, uint64_t id,
                        _Atomic uint8_t *seen)
{
	uint8_t prev = atomic_fetch_add(&seen[id], 1);
	CHECKF(prev == 0, "event for op %llu (user_data 0x%llx) seen %u times",
	       (unsigned long long)id, (unsigned long long)ev->user_data,
	       prev + 1u);
	CHECKF(ev->user_data == ob->op.user_data && ev->opcode == ob->op.opcode,
	       "event user_data 0x%llx opcode %u, op has 0x%llx opcode %u",
	       (unsigned long long)ev->user_data, ev->opcode,
	       (unsigned long long)ob->op.user_data, ob->op.opcode);
	int64_t want = ob->kind == K_FSYNC ? 0 : (int64_t)e->B;
	CHECKF(ev->res == want && ev->res2 == 0,
	       "op %llu kind %d block %u: res %lld (%s) res2 %d, want %lld",
	       (unsigned long long)id, ob->kind, ob->blk, (long long)ev->res,
	       t_errname(ev->res), ev->res2, (long long)want);
	if (ob->kind == K_CR || ob->kind == K_DR) {
		size_t o = (size_t)ob->blk * e->B;
		CHECKF(memcmp(ob->rbuf, e->old + o, e->B) == 0 ||
		           memcmp(ob->rbuf, e->nw + o, e->B) == 0,
		       "%s read of block %u: neither OLD nor NEW",
		       ob->kind == K_DR ? "direct" : "cached", ob->blk);
	}
}

/* ---- part A: one thread, exact capacity ------------------------------- */

static void part_a(struct env *e, unsigned depth)
{
	t_ctx("ps=%u part A depth %u", e->ps, depth);
	cio_ctx *cx = NULL;
	CHECK_EQ(cio_ctx_create(e->c, depth, &cx), 0);
	uint64_t rs = t_rand_seed(depth * 13 + e->ps);
	size_t nops = (size_t)depth * (A_ROUNDS + 2) + 16;
	struct opbuf *obs = calloc(nops, sizeof *obs);
	_Atomic uint8_t *aseen = calloc(nops, 1);
	CHECK(aseen != NULL);
	uint8_t *rbufs = t_alloc(nops * e->B);
	uint64_t ud_base = 0xA000000000ull + (uint64_t)depth * 0x100000ull;
	CHECK(obs != NULL);
	size_t made = 0, nsub = 0, nreaped = 0;
	unsigned inflight = 0;
	for (int round = 0; round < A_ROUNDS; round++) {
		/* fill up in batches of 1..7 */
		for (;;) {
			int want = 1 + (int)t_rand_below(&rs, 7);
			while (made < nsub + (size_t)want) {
				CHECK(made < nops);
				make_op(e, &obs[made], ud_base + made,
				        e->next_blk++ % A_BLOCKS, &rs, rbufs + made * e->B);
				made++;
			}
			struct cio_op batch[8];
			for (int k = 0; k < want; k++)
				batch[k] = obs[nsub + (size_t)k].op;
			int n = cio_ctx_submit(cx, batch, want);
			if (inflight == depth) {
				CHECKF(n == -EAGAIN, "depth %u, %u accepted and not"
				       " reaped: submit = %d (%s), want -EAGAIN",
				       depth, inflight, n, t_errname(n));
				atomic_fetch_add(&e->eagain, 1);
				/* what was built stays for the next batch */
				break;
			}
			unsigned room = depth - inflight;
			int expect = want < (int)room ? want : (int)room;
			CHECKF(n == expect, "depth %u with %u in flight: submit(%d)"
			       " = %d (%s), want %d", depth, inflight, want, n,
			       t_errname(n), expect);
			for (int k = 0; k < n; k++)
				accepted(e, &obs[nsub + (size_t)k]);
			nsub += (size_t)n;
			inflight += (unsigned)n;
		}
		/* make room for k: reap exactly k (waiting for them) */
		unsigned k = 1 + (unsigned)t_rand_below(&rs, depth);
		struct cio_event *ev = calloc(depth, sizeof *ev);
		CHECK(ev != NULL);
		int n = wait_events(cx, (int)k, (int)k, ev, "part A: reap k");
		CHECKF(n == (int)k, "getevents(%u, %u) = %d", k, k, n);
		for (int i = 0; i < n; i++) {
			uint64_t id = ev[i].user_data - ud_base;
			CHECKF(id < nsub, "event for unknown user_data 0x%llx",
			       (unsigned long long)ev[i].user_data);
			check_event(e, &ev[i], &obs[id], id, aseen);
		}
		free(ev);
		inflight -= k;
		nreaped += k;
	}
	/* drain */
	struct cio_event *ev = calloc(depth, sizeof *ev);
	CHECK(ev != NULL);
	while (inflight) {
		int n = wait_events(cx, 1, (int)depth, ev, "part A: drain");
		for (int i = 0; i < n; i++) {
			uint64_t id = ev[i].user_data - ud_base;
			CHECKF(id < nsub, "event for unknown user_data 0x%llx",
			       (unsigned long long)ev[i].user_data);
			check_event(e, &ev[i], &obs[id], id, aseen);
		}
		inflight -= (unsigned)n;
		nreaped += (size_t)n;
	}
	CHECK_EQ(nreaped, nsub);
	for (size_t i = 0; i < nsub; i++)
		CHECKF(atomic_load(&aseen[i]) == 1, "op %zu: %u events", i,
		       (unsigned)atomic_load(&aseen[i]));
	free((void *)aseen);
	struct timespec ts = {0, 10 * 1000000L};
	CHECK_EQ(cio_ctx_getevents(cx, 1, 1, ev, &ts), 0);
	free(ev);
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	free(obs);
	free(rbufs);
}

/* ---- parts B and C: many threads -------------------------------------- */

struct targ {
	struct env *e;
	int tid;
	bool own;               /* part C: a context of its own          */
	struct opbuf *all;      /* every op of this part (B: shared)      */
};

static void process(struct env *e, const struct cio_event *ev, int n,
                    struct opbuf *all, uint64_t ud_base)
{
	for (int i = 0; i < n; i++) {
		uint64_t id = ev[i].user_data - ud_base;
		CHECKF(ev[i].user_data >= ud_base && id < NTHREADS * NPER,
		       "event for unknown user_data 0x%llx",
		       (unsigned long long)ev[i].user_data);
		check_event(e, &ev[i], &all[id], id, e->seen);
	}
	atomic_fetch_add(&e->reaped, n);
}

static void *worker(void *arg)
{
	struct targ *ta = arg;
	struct env *e = ta->e;
	uint64_t ud_base = ta->own ? 0xC000000000ull : 0xB000000000ull;
	uint32_t blk0 = A_BLOCKS + (ta->own ? NTHREADS * NPER : 0) + (uint32_t)ta->tid * NPER;
	uint64_t rs = t_rand_seed((uint64_t)ta->tid * 77 + e->ps + ta->own);
	struct opbuf *mine = ta->all + (size_t)ta->tid * NPER;
	uint8_t *rbufs = t_alloc((size_t)NPER * e->B);
	cio_ctx *cx = e->shared;
	unsigned depth = OWN_DEPTH;
	t_ctx("ps=%u part %s thread %d", e->ps, ta->own ? "C" : "B", ta->tid);
	for (int s = 0; s < NPER; s++)
		make_op(e, &mine[s], ud_base + (uint64_t)ta->tid * NPER + (uint64_t)s,
		        blk0 + (uint32_t)s, &rs, rbufs + (size_t)s * e->B);
	if (ta->own)
		CHECK_EQ(cio_ctx_create(e->c, depth, &cx), 0);

	struct cio_event ev[16];
	struct timespec ts = {0, 2 * 1000000L};
	int s = 0, inflight = 0;
	if (ta->own) {
		/* nobody else reaps here: exactly depth ops are accepted, then
		 * the context is full */
		int want = NPER < (int)depth ? NPER : (int)depth;
		struct cio_op batch[OWN_DEPTH + 1];
		for (int k = 0; k <= want && k < NPER; k++)
			batch[k] = mine[k].op;
		int n = cio_ctx_submit(cx, batch, want < NPER ? want + 1 : want);
		CHECKF(n == want, "own context of depth %u, empty: submit(%d) = %d"
		       " (%s)", depth, want + 1, n, t_errname(n));
		for (int k = 0; k < n; k++)
			accepted(e, &mine[k]);
		s = inflight = n;
		if (s < NPER) {
			n = cio_ctx_submit(cx, &mine[s].op, 1);
			CHECKF(n == -EAGAIN, "own context full (%u accepted, none"
			       " reaped): submit = %d (%s)", depth, n, t_errname(n));
			atomic_fetch_add(&e->eagain, 1);
		}
	}
	while (s < NPER) {
		int want = 1 + (int)t_rand_below(&rs, 4);
		if (want > NPER - s)
			want = NPER - s;
		struct cio_op batch[4];
		for (int k = 0; k < want; k++)
			batch[k] = mine[s + k].op;
		int n = cio_ctx_submit(cx, batch, want);
		CHECKF(n == -EAGAIN || (n >= 1 && n <= want),
		       "submit(%d) = %d (%s)", want, n, t_errname(n));
		if (n > 0) {
			for (int k = 0; k < n; k++)
				accepted(e, &mine[s + k]);
			s += n;
			inflight += n;
			if (n < want)
				atomic_fetch_add(&e->cut, 1);
		} else {
			atomic_fetch_add(&e->eagain, 1);
		}
		if (n < want) {
			/* full: reap whatever is there (any thread's in B) */
			int m = ta->own ? wait_events(cx, 1, 16, ev, "part C: reap")
			                : cio_ctx_getevents(cx, 1, 16, ev, &ts);
			CHECK_GE(m, 0);
			process(e, ev, m, ta->all, ud_base);
			inflight -= m;
		}
	}
	if (ta->own) {
		while (inflight > 0) {
			int m = wait_events(cx, 1, 16, ev, "part C: drain");
			process(e, ev, m, ta->all, ud_base);
			inflight -= m;
		}
		struct timespec z = {0, 5 * 1000000L};
		CHECK_EQ(cio_ctx_getevents(cx, 1, 1, ev, &z), 0);
		CHECK_EQ(cio_ctx_destroy(cx), 0);
	} else {
		long long last = -1;
		uint64_t since = t_now_ns();
		for (;;) {
			long long now = atomic_load(&e->reaped);
			if (now >= NTHREADS * NPER)
				break;
			if (now != last) {
				last = now;
				since = t_now_ns();
			}
			CHECKF(t_now_ns() - since < STALL_S * 1000000000ull,
			       "part B: %lld of %d events after %d s without"
			       " progress: the shared context is stuck", now,
			       NTHREADS * NPER, STALL_S);
			int m = cio_ctx_getevents(cx, 1, 16, ev, &ts);
			CHECK_GE(m, 0);
			process(e, ev, m, ta->all, ud_base);
		}
	}
	/* rbufs stay until every event of the part is seen: another thread
	 * may reap (and check) this thread's reads in part B */
	return rbufs;
}

static void part_bc(struct env *e, bool own)
{
	t_ctx("ps=%u part %s", e->ps, own ? "C" : "B");
	struct opbuf *all = calloc((size_t)NTHREADS * NPER, sizeof *all);
	CHECK(all != NULL);
	for (int i = 0; i < NTHREADS * NPER; i++)
		atomic_store(&e->seen[i], 0);
	atomic_store(&e->reaped, 0);
	if (!own)
		CHECK_EQ(cio_ctx_create(e->c, SHARED_DEPTH, &e->shared), 0);
	pthread_t th[NTHREADS];
	struct targ ta[NTHREADS];
	void *rb[NTHREADS];
	for (int i = 0; i < NTHREADS; i++) {
		ta[i].e = e;
		ta[i].tid = i;
		ta[i].own = own;
		ta[i].all = all;
		CHECK_EQ(pthread_create(&th[i], NULL, worker, &ta[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		CHECK_EQ(pthread_join(th[i], &rb[i]), 0);
	t_ctx("ps=%u part %s: totals", e->ps, own ? "C" : "B");
	CHECK_EQ(atomic_load(&e->reaped), NTHREADS * NPER);
	for (int i = 0; i < NTHREADS * NPER; i++)
		CHECKF(atomic_load(&e->seen[i]) == 1, "op %d: %u events", i,
		       (unsigned)atomic_load(&e->seen[i]));
	if (!own) {
		struct cio_event ev;
		struct timespec z = {0, 10 * 1000000L};
		CHECK_EQ(cio_ctx_getevents(e->shared, 1, 1, &ev, &z), 0);
		CHECK_EQ(cio_ctx_destroy(e->shared), 0);
		e->shared = NULL;
	}
	for (int i = 0; i < NTHREADS; i++)
		free(rb[i]);
	free(all);
}

static void run(uint32_t ps)
{
	struct env e;
	memset(&e, 0, sizeof e);
	e.ps = ps;
	e.path = t_scratch_path("qfull");
	e.c = t_cache(ps, 0, 1);
	CHECK_EQ(t_kernel_create(e.path, 0), 0);
	e.f = t_open(e.c, e.path, O_RDWR);
	e.lbs = t_lbs(e.f);
	e.B = e.lbs;
	size_t fsz = (size_t)NBLK * e.B;
	t_close(e.f);
	t_kernel_stamp_file(e.path, (int64_t)fsz, SEED_OLD);
	e.f = t_open(e.c, e.path, O_RDWR);
	e.old = t_alloc(fsz);
	e.nw = t_alloc(fsz);
	t_stamp_fill(e.old, fsz, 0, SEED_OLD);
	t_stamp_fill(e.nw, fsz, 0, SEED_NEW);
	e.written = calloc(NBLK, 1);
	e.seen = calloc(NTHREADS * NPER, 1);
	CHECK(e.written && e.seen);
	struct cio_fault_rule r;
	memset(&r, 0, sizeof r);
	r.ops = CIO_FAULT_WRITE;
	r.jitter_us = JITTER_US;
	r.count = -1;
	CHECK_GE(cio_fault_add(e.c, &r), 0);

	static const unsigned depths[] = {1, 2, 7, 64};
	for (size_t i = 0; i < sizeof depths / sizeof depths[0]; i++)
		part_a(&e, depths[i]);
	part_bc(&e, false);
	part_bc(&e, true);
	t_log("ps=%u engine %s: %lld submissions refused with -EAGAIN, %lld"
	      " batches cut short", ps, t_cstats(e.c).engine,
	      (long long)atomic_load(&e.eagain), (long long)atomic_load(&e.cut));

	t_ctx("ps=%u final", ps);
	CHECK_EQ(cio_fault_clear(e.c, -1), 0);
	CHECK_EQ(cio_fsync(e.f), 0);
	uint8_t *want = t_alloc(fsz), *got = t_alloc(fsz);
	for (uint32_t b = 0; b < NBLK; b++) {
		size_t o = (size_t)b * e.B;
		memcpy(want + o, atomic_load(&e.written[b]) ? e.nw + o : e.old + o, e.B);
	}
	t_read_all(e.f, got, fsz, 0, 0);
	CHECK_MEM(got, want, fsz, 0);
	memset(got, 0, fsz);
	t_read_all(e.f, got, fsz, 0, CIO_RW_DIRECT);
	CHECK_MEM(got, want, fsz, 0);
	CHECK_KERNEL(e.path, want, fsz, 0);

	t_close(e.f);
	t_destroy(e.c);
	free(want);
	free(got);
	free(e.old);
	free(e.nw);
	free((void *)e.written);
	free((void *)e.seen);
	t_scratch_remove(e.path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 150);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
