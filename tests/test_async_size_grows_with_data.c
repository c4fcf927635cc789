/*
 * G5 through the async API - no uninitialised data, and the size grows only
 * with the data, while extending async writes complete out of order.
 *
 * The cache's frames are first filled with a poison file (read through the
 * cache, then closed), so a frame handed out without its bytes being
 * initialised shows poison. Then a writer thread submits NW extending async
 * writes over disjoint, ascending byte ranges with random gaps: direct
 * writes (logical-block aligned) and cached writes (any offset and length,
 * a quarter of them DSYNC), up to QD in flight, in batches. Write i carries
 * the stamp with seed i + 1. A fault rule delays every device write by
 * DELAY_US plus a random 0..JITTER_US, so the writes complete out of order.
 *
 * Reader threads (each with its own context) loop: s = cio_size(); s must
 * never decrease (per thread) and never exceed the end of the writes
 * submitted so far; then they read [previous s, s) - or a random window of
 * [0, s) - on the cached path, the direct path, async cached and async
 * direct, and every byte returned must be 0 or the stamp of the write whose
 * range holds it (0 in the gaps); bytes of a write whose event the writer
 * had reaped before the read began must be that write's stamp. A read
 * inside [0, s) must return at least up to s (a hole inside the size reads
 * as zeros, it is not end of file).
 *
 * The writer checks every event (res == len, res2 == 0, exactly one per
 * write) and that cio_size() >= the write's end once its event is reaped.
 * First, for every page size, the plain form of "a hole inside the size
 * reads as zeros": a cached extending write past a hole, then a read of the
 * hole on every path (hole_inside_size).
 * At the end: size == the largest write end on coherio and, after fsync, on
 * the device; every path and the device hold exactly the stamps and zeros.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NW 1000
#define QD 12
#define NREADERS 3
#define DELAY_US 200
#define JITTER_US 2000
#define MAX_READ (1u << 20)
#define POISON_SEED 0xbadbadull

struct wr {
	int64_t start, end;
	bool direct, dsync;
};

struct g5 {
	uint32_t ps, lbs;
	cio_cache *c;
	cio_file *f;
	struct wr w[NW];
	int64_t max_end;
	uint8_t *img;                  /* the final content: stamps, 0 gaps */
	_Atomic uint8_t done[NW];      /* event reaped with res == len   */
	_Atomic int64_t issued_end;    /* end of the writes submitted     */
	atomic_int writer_done;
	atomic_llong bytes_checked;
	atomic_llong reads;
	atomic_llong zero_bytes_in_writes; /* in-flight regions read as 0 */
};

static uint64_t seed_of(int i)
{
	return (uint64_t)i + 1;
}

/* Index of the first write whose end is > off (NW if none). */
static int first_write_after(const struct g5 *g, int64_t off)
{
	int lo = 0, hi = NW;
	while (lo < hi) {
		int mid = (lo + hi) / 2;
		if (g->w[mid].end <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void fail_byte(const struct g5 *g, const char *how, int64_t off,
                      uint8_t got, int owner, bool must)
{
	if (owner < 0)
		t_fail("%s ps=%u: byte at %lld is 0x%02x in a gap no write"
		       " touched (must be 0)", how, g->ps, (long long)off, got);
	t_fail("%s ps=%u: byte at %lld is 0x%02x; write %d [%lld, %lld) %s"
	       " has stamp 0x%02x there%s", how, g->ps, (long long)off, got,
	       owner, (long long)g->w[owner].start, (long long)g->w[owner].end,
	       g->w[owner].direct ? "direct" : "cached",
	       t_stamp_byte(seed_of(owner), (uint64_t)off),
	       must ? " and its event was reaped before the read" : " (or 0)");
}

/* Check buf = bytes [off, off+len); snap[i] = done[i] loaded before the
 * read, for every write i overlapping the range. */
static void verify(struct g5 *g, const char *how, const uint8_t *buf,
                   int64_t off, size_t len, const uint8_t *snap)
{
	static _Thread_local uint8_t tmp[4096];
	int64_t end = off + (int64_t)len, pos = off;
	int i = first_write_after(g, off);
	while (pos < end) {
		int64_t ws = i < NW ? g->w[i].start : INT64_MAX;
		if (pos < ws) { /* a gap: zeros */
			int64_t ge = ws < end ? ws : end;
			ssize_t nz = t_find_nonzero(buf + (pos - off), (size_t)(ge - pos));
			if (nz >= 0)
				fail_byte(g, how, pos + nz, buf[pos - off + nz], -1, false);
			pos = ge;
			continue;
		}
		int64_t we = g->w[i].end < end ? g->w[i].end : end;
		bool must = snap[i] != 0;
		while (pos < we) {
			size_t n = (size_t)(we - pos) < sizeof tmp ? (size_t)(we - pos) : sizeof tmp;
			const uint8_t *p = buf + (pos - off);
			t_stamp_fill(tmp, n, (uint64_t)pos, seed_of(i));
			if (memcmp(p, tmp, n) != 0) {
				for (size_t k = 0; k < n; k++) {
					if (p[k] == tmp[k])
						continue;
					if (must || p[k] != 0)
						fail_byte(g, how, pos + (int64_t)k, p[k], i, must);
					atomic_fetch_add_explicit(&g->zero_bytes_in_writes, 1,
					                          memory_order_relaxed);
				}
			}
			pos += (int64_t)n;
		}
		i++;
	}
	atomic_fetch_add(&g->bytes_checked, (long long)len);
	atomic_fetch_add(&g->reads, 1);
}

static void snap_done(struct g5 *g, int64_t off, size_t len, uint8_t *snap)
{
	for (int i = first_write_after(g, off);
	     i < NW && g->w[i].start < off + (int64_t)len; i++)
		snap[i] = atomic_load_explicit(&g->done[i], memory_order_acquire);
}

/* ---- writer ------------------------------------------------------------ */

static void *writer(void *arg)
{
	struct g5 *g = arg;
	cio_ctx *cx = NULL;
	int rc = cio_ctx_create(g->c, 2 * QD, &cx);
	CHECKF(rc == 0, "cio_ctx_create = %d (%s)", rc, t_errname(rc));
	uint64_t rs = t_rand_seed(g->ps + 5);
	int seen[NW];
	memset(seen, 0, sizeof seen);
	int next = 0, inflight = 0, reaped = 0;
	t_ctx("writer ps=%u", g->ps);
	while (reaped < NW) {
		if (next < NW && inflight < QD) {
			int nb = 1 + (int)t_rand_below(&rs, 8);
			if (nb > NW - next)
				nb = NW - next;
			if (nb > QD - inflight)
				nb = QD - inflight;
			struct cio_op ops[8];
			memset(ops, 0, sizeof ops);
			for (int k = 0; k < nb; k++) {
				const struct wr *w = &g->w[next + k];
				ops[k].opcode = CIO_OP_WRITE;
				ops[k].flags = (w->direct ? CIO_RW_DIRECT : 0) |
				               (w->dsync ? CIO_RW_DSYNC : 0);
				ops[k].file = g->f;
				ops[k].buf = g->img + w->start;
				ops[k].len = (size_t)(w->end - w->start);
				ops[k].off = w->start;
				ops[k].user_data = (uint64_t)(next + k);
			}
			/* publish before submitting: the size can never pass it */
			atomic_store_explicit(&g->issued_end, g->w[next + nb - 1].end,
			                      memory_order_release);
			int n = cio_ctx_submit(cx, ops, nb);
			CHECKF(n == nb, "cio_ctx_submit(%d) = %d (%s)", nb, n,
			       t_errname(n));
			next += n;
			inflight += n;
		}
		struct cio_event ev[QD];
		struct timespec zero = {0, 0};
		bool block = next == NW || inflight == QD;
		int n = cio_ctx_getevents(cx, block ? 1 : 0, QD, ev, block ? NULL : &zero);
		CHECKF(n >= 0, "getevents = %d (%s)", n, t_errname(n));
		for (int k = 0; k < n; k++) {
			uint64_t i = ev[k].user_data;
			CHECKF(i < (uint64_t)next, "event for unknown user_data %llu",
			       (unsigned long long)i);
			CHECKF(!seen[i], "second event for write %llu",
			       (unsigned long long)i);
			seen[i] = 1;
			const struct wr *w = &g->w[i];
			CHECKF(ev[k].res == w->end - w->start && ev[k].res2 == 0,
			       "write %llu [%lld, %lld) %s: res %lld res2 %d (%s)",
			       (unsigned long long)i, (long long)w->start,
			       (long long)w->end, w->direct ? "direct" : "cached",
			       (long long)ev[k].res, ev[k].res2,
			       t_errname(ev[k].res < 0 ? ev[k].res : ev[k].res2));
			int64_t sz = cio_size(g->f);
			CHECKF(sz >= w->end, "write %llu [%lld, %lld) %s completed but"
			       " the size is %lld", (unsigned long long)i,
			       (long long)w->start, (long long)w->end,
			       w->direct ? "direct" : "cached", (long long)sz);
			atomic_store_explicit(&g->done[i], 1, memory_order_release);
		}
		inflight -= n;
		reaped += n;
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	atomic_store(&g->writer_done, 1);
	return NULL;
}

/* ---- readers ----------------------------------------------------------- */

struct rarg {
	struct g5 *g;
	int id;
};

static struct cio_event submit_wait(cio_ctx *cx, const struct cio_op *op)
{
	int n = cio_ctx_submit(cx, op, 1);
	CHECKF(n == 1, "cio_ctx_submit = %d (%s)", n, t_errname(n));
	struct cio_event ev;
	memset(&ev, 0, sizeof ev);
	n = cio_ctx_getevents(cx, 1, 1, &ev, NULL);
	CHECKF(n == 1, "cio_ctx_getevents = %d (%s)", n, t_errname(n));
	CHECK_EQ(ev.user_data, op->user_data);
	return ev;
}

/* Read [a, b) (b <= a size seen before) on path @mode and verify it. */
static void read_check(struct g5 *g, cio_ctx *cx, int mode, int64_t a,
                       int64_t b, uint8_t *buf, uint8_t *snap, uint64_t *ud)
{
	static const char *names[4] = {"cached", "direct", "async cached",
	                               "async direct"};
	bool direct = mode & 1;
	int64_t off = direct ? (int64_t)t_align_down((uint64_t)a, g->lbs) : a;
	size_t len = direct ? (size_t)(t_align_up((uint64_t)b, g->lbs) - (uint64_t)off)
	                    : (size_t)(b - a);
	memset(buf, 0xEE, len);
	snap_done(g, off, len, snap);
	int64_t r;
	if (mode < 2) {
		r = cio_read(g->f, buf, len, off, direct ? CIO_RW_DIRECT : 0);
	} else {
		struct cio_op op;
		memset(&op, 0, sizeof op);
		op.opcode = CIO_OP_READ;
		op.flags = direct ? CIO_RW_DIRECT : 0;
		op.file = g->f;
		op.buf = buf;
		op.len = len;
		op.off = off;
		op.user_data = ++*ud;
		struct cio_event ev = submit_wait(cx, &op);
		r = ev.res;
		CHECKF(ev.res2 == 0, "%s read res2 %d", names[mode], ev.res2);
	}
	CHECKF(r >= b - off && r <= (int64_t)len,
	       "%s read [%lld, +%zu) returned %lld (%s), but the size was already"
	       " %lld: a range inside the size must be read in full (zeros"
	       " for holes), not cut as if at end of file", names[mode],
	       (long long)off, len, (long long)r, r < 0 ? t_errname(r) : "short",
	       (long long)b);
	verify(g, names[mode], buf, off, (size_t)r, snap);
}

static void *reader(void *arg)
{
	struct rarg *ra = arg;
	struct g5 *g = ra->g;
	cio_ctx *cx = NULL;
	int rc = cio_ctx_create(g->c, 2, &cx);
	CHECKF(rc == 0, "cio_ctx_create = %d (%s)", rc, t_errname(rc));
	uint8_t *buf = t_alloc(MAX_READ + 65536);
	uint8_t *snap = calloc(NW, 1);
	CHECK(snap != NULL);
	uint64_t rs = t_rand_seed(ra->id * 31 + g->ps);
	uint64_t ud = 0;
	int64_t last = 0;
	t_ctx("reader %d ps=%u", ra->id, g->ps);
	for (int final = 0; final < 2;) {
		if (atomic_load(&g->writer_done))
			final++; /* one more full pass after the writer is done */
		int64_t s = cio_size(g->f);
		int64_t issued = atomic_load_explicit(&g->issued_end, memory_order_acquire);
		CHECKF(s >= last, "size went backwards: %lld after %lld",
		       (long long)s, (long long)last);
		CHECKF(s <= issued, "size %lld is past the end of every write"
		       " submitted so far (%lld)", (long long)s, (long long)issued);
		int mode = (int)t_rand_below(&rs, 4);
		if (s > last) {
			for (int64_t a = last; a < s; a += MAX_READ) {
				int64_t b = a + MAX_READ < s ? a + MAX_READ : s;
				read_check(g, cx, mode, a, b, buf, snap, &ud);
			}
			last = s;
		}
		if (s > 0) {
			/* a random window of [0, s), mostly near the end where
			 * writes are still in flight */
			mode = (int)t_rand_below(&rs, 4);
			uint64_t span = t_rand_below(&rs, 4) ? 16ull * g->ps : (uint64_t)s;
			if (span > (uint64_t)s)
				span = (uint64_t)s;
			int64_t a = s - 1 - (int64_t)t_rand_below(&rs, span);
			int64_t b = a + 1 + (int64_t)t_rand_below(&rs, 2ull * g->ps);
			if (b > s)
				b = s;
			read_check(g, cx, mode, a, b, buf, snap, &ud);
		} else {
			t_sleep_ms(1);
		}
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	free(snap);
	free(buf);
	return NULL;
}

/* ---- one page size ----------------------------------------------------- */

static void poison_frames(cio_cache *c, uint64_t bytes)
{
	char *pp = t_scratch_path("poison");
	t_kernel_stamp_file(pp, (int64_t)bytes, POISON_SEED);
	cio_file *pf = t_open(c, pp, O_RDONLY);
	uint8_t *b = t_alloc(1u << 20);
	for (uint64_t o = 0; o < bytes; o += 1u << 20)
		t_read_all(pf, b, 1u << 20, (int64_t)o, 0);
	free(b);
	t_close(pf);
	t_scratch_remove(pp);
}

/*
 * The simplest form of "a hole inside the size reads as zeros on every
 * path": a cached extending write leaves [0, its offset) a hole that the
 * backing file does not have yet (not written back); a read of [0, ps) on
 * every path must return ps zero bytes, not end of file. Not fatal, so the
 * stress part below runs too.
 */
static void hole_inside_size(uint32_t ps)
{
	char *path = t_scratch_path("hole");
	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	uint8_t *buf = t_alloc(ps);
	const char tail[] = "tail";
	int64_t off = 8ll * ps + 100;
	t_write_all(f, tail, sizeof tail, off, 0);
	CHECK_EQ(cio_size(f), off + (int64_t)sizeof tail);
	cio_ctx *cx = NULL;
	CHECK_EQ(cio_ctx_create(c, 2, &cx), 0);
	static const char *names[4] = {"cached", "direct", "async cached",
	                               "async direct"};
	for (int mode = 0; mode < 4; mode++) {
		unsigned flags = (mode & 1) ? CIO_RW_DIRECT : 0;
		int64_t r;
		memset(buf, 0xEE, ps);
		if (mode < 2) {
			r = cio_read(f, buf, ps, 0, flags);
		} else {
			struct cio_op op;
			memset(&op, 0, sizeof op);
			op.opcode = CIO_OP_READ;
			op.flags = flags;
			op.file = f;
			op.buf = buf;
			op.len = ps;
			op.user_data = (uint64_t)mode;
			struct cio_event ev = submit_wait(cx, &op);
			r = ev.res;
		}
		EXPECTF(r == (int64_t)ps,
		        "ps=%u: %s read of [0, %u) inside the size %lld (a hole"
		        " before an extending cached write not yet written back)"
		        " returned %lld (%s), want %u zero bytes",
		        ps, names[mode], ps, (long long)cio_size(f), (long long)r,
		        r < 0 ? t_errname(r) : "short", ps);
		if (r > 0) {
			ssize_t nz = t_find_nonzero(buf, (size_t)r);
			EXPECTF(nz < 0, "ps=%u: %s read of a hole: non-zero byte at %zd",
			        ps, names[mode], nz);
		}
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	free(buf);
	t_close(f);
	t_destroy(c);
	t_scratch_remove(path);
}

static void run(uint32_t ps)
{
	struct g5 *g = calloc(1, sizeof *g);
	CHECK(g != NULL);
	g->ps = ps;
	uint64_t mem = 8ull << 20;
	if (mem < 64ull * ps)
		mem = 64ull * ps;
	g->c = t_cache(ps, mem, 1);
	t_ctx("ps=%u setup", ps);
	poison_frames(g->c, mem);

	char *path = t_scratch_path("g5a");
	g->f = t_open(g->c, path, O_RDWR | O_CREAT | O_EXCL);
	g->lbs = t_lbs(g->f);
	CHECK_EQ(cio_size(g->f), 0);

	/* ascending disjoint writes with gaps */
	uint64_t rs = t_rand_seed(ps * 3 + 11);
	int64_t pos = 0;
	size_t maxlen = 2u * ps < 32768u ? 2u * ps : 32768u;
	for (int i = 0; i < NW; i++) {
		struct wr *w = &g->w[i];
		w->direct = t_rand_below(&rs, 2) == 0;
		int64_t gap = t_rand_below(&rs, 3) == 0 ? 0 : (int64_t)t_rand_below(&rs, 3000);
		if (w->direct) {
			w->start = (int64_t)t_align_up((uint64_t)(pos + gap), g->lbs);
			size_t nb = 1 + (size_t)t_rand_below(&rs, maxlen / g->lbs);
			w->end = w->start + (int64_t)(nb * g->lbs);
		} else {
			w->start = pos + gap;
			w->end = w->start + 1 + (int64_t)t_rand_below(&rs, maxlen);
			w->dsync = t_rand_below(&rs, 4) == 0;
		}
		pos = w->end;
		atomic_init(&g->done[i], 0);
	}
	g->max_end = pos;
	atomic_init(&g->issued_end, 0);
	/* the writes' buffers: one image of the final content (direct writes
	 * start at aligned offsets of a 64 KiB aligned image) */
	g->img = t_alloc((size_t)g->max_end);
	for (int i = 0; i < NW; i++)
		t_stamp_fill(g->img + g->w[i].start,
		             (size_t)(g->w[i].end - g->w[i].start),
		             (uint64_t)g->w[i].start, seed_of(i));

	struct cio_fault_rule r;
	memset(&r, 0, sizeof r);
	r.ops = CIO_FAULT_WRITE;
	r.delay_us = DELAY_US;
	r.jitter_us = JITTER_US;
	r.count = -1;
	int id = cio_fault_add(g->c, &r);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));

	pthread_t wt, rt[NREADERS];
	struct rarg ra[NREADERS];
	for (int i = 0; i < NREADERS; i++) {
		ra[i].g = g;
		ra[i].id = i;
		CHECK_EQ(pthread_create(&rt[i], NULL, reader, &ra[i]), 0);
	}
	CHECK_EQ(pthread_create(&wt, NULL, writer, g), 0);
	CHECK_EQ(pthread_join(wt, NULL), 0);
	for (int i = 0; i < NREADERS; i++)
		CHECK_EQ(pthread_join(rt[i], NULL), 0);
	t_log("ps=%u engine %s: %d writes, file %lld bytes; %lld reads, %lld"
	      " bytes checked, %lld zero bytes seen inside writes in flight;"
	      " delay rule fired %lld times",
	      ps, t_cstats(g->c).engine, NW, (long long)g->max_end,
	      (long long)atomic_load(&g->reads),
	      (long long)atomic_load(&g->bytes_checked),
	      (long long)atomic_load(&g->zero_bytes_in_writes),
	      (long long)cio_fault_fired(g->c, id));

	/* the end state, on every path and on the device */
	t_ctx("ps=%u final", ps);
	CHECK_EQ(cio_fault_clear(g->c, -1), 0);
	CHECK_EQ(cio_size(g->f), g->max_end);
	size_t fsz = (size_t)g->max_end;
	uint8_t *want = g->img, *got = t_alloc(fsz + g->lbs);
	t_read_all(g->f, got, fsz, 0, 0);
	CHECK_MEM(got, want, fsz, 0);
	memset(got, 0xEE, fsz);
	ssize_t rd = cio_read(g->f, got, t_align_up(fsz, g->lbs), 0, CIO_RW_DIRECT);
	CHECK_EQ(rd, (ssize_t)fsz);
	CHECK_MEM(got, want, fsz, 0);
	cio_ctx *cx = NULL;
	CHECK_EQ(cio_ctx_create(g->c, 4, &cx), 0);
	for (int d = 0; d < 2; d++) {
		struct cio_op op;
		memset(&op, 0, sizeof op);
		op.opcode = CIO_OP_READ;
		op.flags = d ? CIO_RW_DIRECT : 0;
		op.file = g->f;
		op.buf = got;
		op.len = d ? t_align_up(fsz, g->lbs) : fsz + 100;
		op.user_data = 99;
		memset(got, 0xEE, fsz);
		struct cio_event ev = submit_wait(cx, &op);
		CHECK_EQ(ev.res, (int64_t)fsz);
		CHECK_MEM(got, want, fsz, 0);
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	CHECK_EQ(cio_fsync(g->f), 0);
	CHECK_EQ(t_kernel_size(path), g->max_end);
	CHECK_KERNEL(path, want, fsz, 0);

	t_close(g->f);
	t_destroy(g->c);
	free(want);
	free(got);
	t_scratch_remove(path);
	free(g);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		hole_inside_size(t_page_sizes[i]);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
