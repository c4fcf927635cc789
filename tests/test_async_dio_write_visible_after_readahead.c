/*
 * G1 through the async API - once the completion event of an async direct
 * write has been reaped, every later read on every path returns the new
 * data, even when readahead or a cached reader brought the old data in
 * while the write was in flight.
 *
 * A file of NPAGES pages is divided in 512-byte stamp blocks. Every 8-byte
 * word of block b written by generation N holds (N << 32 | b). One writer
 * loops { submit an async direct write (cio_ctx_submit) of a random range
 * stamped with generation N (one buffer, or two iovecs); reap its event
 * (cio_ctx_getevents); check res == len, res2 == 0; publish N for each
 * block of the range (release store) }. Reader threads, each with its own
 * context, loop over cached sequential reads (readahead), unaligned cached
 * reads over overlapping/adjacent ranges, read pins, async cached reads and
 * async direct reads. Before each read a reader loads (acquire) the
 * published generation of every block it will read; every word it then
 * reads must carry that block's index and a generation >= the loaded one.
 * The cache is smaller than the file and one reader occasionally
 * invalidates, so pages keep being dropped and read in again.
 *
 * Each page size runs twice: on the plain engine, and on the fault engine
 * with a random 0..JITTER_US delay on every read and write, so fills
 * (readahead included) and direct writes overlap in time and complete out
 * of order. Bounded by RUN_MS per run.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NPAGES 64
#define BLK 512
#define NREADERS 3
#define RUN_MS 1200
#define MAX_WRITES 200000
#define JITTER_US 300

struct g1 {
	cio_file *f;
	cio_cache *c;
	uint32_t ps, lbs;
	uint32_t wal;          /* write alignment: max(lbs, BLK) */
	uint64_t nblocks;
	_Atomic uint32_t *pub; /* published generation per block */
	atomic_int stop;
	atomic_llong violations;
	atomic_llong reads_checked;
	atomic_llong async_reads_checked;
	atomic_llong writes_done;
	atomic_int first_violation_reported;
};

static inline uint64_t word_of(uint32_t gen, uint64_t blk)
{
	return (uint64_t)gen << 32 | (blk & 0xffffffffu);
}

static void report_violation(struct g1 *g, const char *how, int64_t off,
                             uint64_t blk, uint64_t got, uint32_t min_gen)
{
	atomic_fetch_add(&g->violations, 1);
	if (atomic_exchange(&g->first_violation_reported, 1) == 0)
		t_log("VIOLATION (%s) ps=%u: file offset %lld block %llu: word"
		      " 0x%016llx (gen %u, blk %u) but generation %u was"
		      " published (its event reaped) before the read",
		      how, g->ps, (long long)off, (unsigned long long)blk,
		      (unsigned long long)got, (unsigned)(got >> 32),
		      (unsigned)(got & 0xffffffffu), min_gen);
}

/* Verify bytes [off, off+len) in buf against snap[] (published generations
 * indexed from block off/BLK). Only whole 8-byte words are checked. */
static void verify_range(struct g1 *g, const char *how, const uint8_t *buf,
                         int64_t off, size_t len, const uint32_t *snap)
{
	uint64_t b0 = (uint64_t)off / BLK;
	int64_t w = (int64_t)t_align_up((uint64_t)off, 8);
	for (; w + 8 <= off + (int64_t)len; w += 8) {
		uint64_t v;
		memcpy(&v, buf + (w - off), 8);
		uint64_t blk = (uint64_t)w / BLK;
		uint32_t min_gen = snap[blk - b0];
		if ((v & 0xffffffffu) != (blk & 0xffffffffu) ||
		    (uint32_t)(v >> 32) < min_gen) {
			report_violation(g, how, w, blk, v, min_gen);
			return;
		}
	}
	atomic_fetch_add(&g->reads_checked, 1);
}

static void snapshot(struct g1 *g, int64_t off, size_t len, uint32_t *snap)
{
	uint64_t b0 = (uint64_t)off / BLK;
	uint64_t b1 = ((uint64_t)off + len - 1) / BLK;
	for (uint64_t b = b0; b <= b1; b++)
		snap[b - b0] = atomic_load_explicit(&g->pub[b],
		                                    memory_order_acquire);
}

static cio_ctx *new_ctx(cio_cache *c, unsigned depth)
{
	cio_ctx *cx = NULL;
	int rc = cio_ctx_create(c, depth, &cx);
	CHECKF(rc == 0 && cx, "cio_ctx_create(%u) = %d (%s)", depth, rc,
	       t_errname(rc));
	return cx;
}

/* Submit @op and reap its event (the context has nothing else in flight). */
static struct cio_event submit_wait(cio_ctx *cx, const struct cio_op *op)
{
	int n = cio_ctx_submit(cx, op, 1);
	CHECKF(n == 1, "cio_ctx_submit(opcode %u, off %lld, len %zu, flags 0x%x)"
	       " = %d (%s)", op->opcode, (long long)op->off, op->len,
	       op->flags, n, t_errname(n));
	struct cio_event ev;
	memset(&ev, 0, sizeof ev);
	n = cio_ctx_getevents(cx, 1, 1, &ev, NULL);
	CHECKF(n == 1, "cio_ctx_getevents = %d (%s)", n, t_errname(n));
	CHECKF(ev.user_data == op->user_data && ev.opcode == op->opcode,
	       "event for user_data %llu opcode %u, want %llu opcode %u",
	       (unsigned long long)ev.user_data, ev.opcode,
	       (unsigned long long)op->user_data, op->opcode);
	return ev;
}

static void *writer(void *arg)
{
	struct g1 *g = arg;
	uint64_t rs = t_rand_seed(g->ps * 7 + 1);
	size_t maxlen = 4 * (size_t)g->ps;
	uint8_t *buf = t_alloc(maxlen);
	uint64_t fsize = (uint64_t)NPAGES * g->ps;
	uint64_t nunits = fsize / g->wal;
	cio_ctx *cx = new_ctx(g->c, 4);
	t_ctx("writer ps=%u", g->ps);
	for (uint32_t gen = 1; gen <= MAX_WRITES && !atomic_load(&g->stop);
	     gen++) {
		uint64_t units = 1 + t_rand_below(&rs, maxlen / g->wal);
		uint64_t start = t_rand_below(&rs, nunits);
		if (t_rand_below(&rs, 4) == 0)
			start = t_align_down(start, g->ps / g->wal);
		if (start + units > nunits)
			units = nunits - start;
		size_t len = (size_t)(units * g->wal);
		int64_t off = (int64_t)(start * g->wal);
		for (size_t i = 0; i < len; i += 8) {
			uint64_t v = word_of(gen, ((uint64_t)off + i) / BLK);
			memcpy(buf + i, &v, 8);
		}
		struct cio_op op;
		struct iovec iov[2];
		memset(&op, 0, sizeof op);
		op.opcode = CIO_OP_WRITE;
		op.flags = CIO_RW_DIRECT;
		op.file = g->f;
		op.off = off;
		op.user_data = gen;
		if (units >= 2 && (gen & 1)) {
			size_t cut = (size_t)(1 + t_rand_below(&rs, units - 1)) * g->wal;
			iov[0].iov_base = buf;
			iov[0].iov_len = cut;
			iov[1].iov_base = buf + cut;
			iov[1].iov_len = len - cut;
			op.iov = iov;
			op.iovcnt = 2;
		} else {
			op.buf = buf;
			op.len = len;
		}
		struct cio_event ev = submit_wait(cx, &op);
		CHECKF(ev.res == (int64_t)len && ev.res2 == 0,
		       "async direct write len %zu off %lld: res %lld res2 %d (%s)",
		       len, (long long)off, (long long)ev.res, ev.res2,
		       t_errname(ev.res < 0 ? ev.res : ev.res2));
		for (uint64_t b = (uint64_t)off / BLK;
		     b < ((uint64_t)off + len) / BLK; b++)
			atomic_store_explicit(&g->pub[b], gen,
			                      memory_order_release);
		atomic_fetch_add(&g->writes_done, 1);
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	free(buf);
	return NULL;
}

struct rarg {
	struct g1 *g;
	int id;
};

static void check_pin(struct g1 *g, uint64_t off, size_t len, uint32_t *snap)
{
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	snapshot(g, (int64_t)off, len, snap);
	int n = cio_pin_range(g->f, (int64_t)off, len, 0, &pin);
	CHECKF(n >= 1, "read pin off %llu len %zu = %d (%s)",
	       (unsigned long long)off, len, n, t_errname(n));
	CHECK_EQ(pin.nseg, n);
	CHECK(pin.off <= (int64_t)off);
	CHECK(pin.off + (int64_t)pin.len >= (int64_t)(off + len));
	int64_t o = pin.off;
	uint64_t sb0 = off / BLK;
	for (int s = 0; s < pin.nseg; s++) {
		const uint8_t *p = pin.seg[s].iov_base;
		size_t sl = pin.seg[s].iov_len;
		int64_t a = o > (int64_t)off ? o : (int64_t)off;
		int64_t e = o + (int64_t)sl;
		if (e > (int64_t)(off + len))
			e = (int64_t)(off + len);
		if (a < e)
			verify_range(g, "pinned", p + (a - o), a, (size_t)(e - a),
			             snap + ((uint64_t)a / BLK - sb0));
		o += (int64_t)sl;
	}
	CHECK_EQ(cio_unpin(&pin), 0);
}

static void *reader(void *arg)
{
	struct rarg *ra = arg;
	struct g1 *g = ra->g;
	uint64_t rs = t_rand_seed(ra->id * 1000 + g->ps);
	uint64_t fsize = (uint64_t)NPAGES * g->ps;
	size_t maxlen = 8 * (size_t)g->ps;
	uint8_t *buf = t_alloc(maxlen);
	uint32_t *snap = calloc(maxlen / BLK + 2, sizeof *snap);
	CHECK(snap != NULL);
	cio_ctx *cx = new_ctx(g->c, 2);
	uint64_t ud = (uint64_t)ra->id << 40;
	t_ctx("reader %d ps=%u", ra->id, g->ps);
	while (!atomic_load(&g->stop)) {
		unsigned mode = (unsigned)t_rand_below(&rs, 16);
		if (mode < 4) {
			/* sequential cached stream: readahead */
			size_t chunk = (mode & 1) ? g->ps : g->ps / 2;
			uint64_t off = t_align_down(t_rand_below(&rs, fsize), g->ps);
			unsigned n = 1 + (unsigned)t_rand_below(&rs, 16);
			for (unsigned i = 0; i < n && off < fsize; i++) {
				size_t len = chunk;
				if (off + len > fsize)
					len = (size_t)(fsize - off);
				snapshot(g, (int64_t)off, len, snap);
				ssize_t r = cio_read(g->f, buf, len, (int64_t)off, 0);
				CHECKF(r == (ssize_t)len, "cached read = %zd (%s)",
				       r, t_errname(r));
				verify_range(g, "cached sequential", buf,
				             (int64_t)off, len, snap);
				off += len;
			}
		} else if (mode < 6) {
			/* unaligned cached read, overlapping and adjacent */
			uint64_t off = t_rand_below(&rs, fsize);
			size_t len = 1 + (size_t)t_rand_below(&rs, maxlen);
			if (off + len > fsize)
				len = (size_t)(fsize - off);
			snapshot(g, (int64_t)off, len, snap);
			ssize_t r = cio_read(g->f, buf, len, (int64_t)off, 0);
			CHECKF(r == (ssize_t)len, "cached read = %zd (%s)", r,
			       t_errname(r));
			verify_range(g, "cached", buf, (int64_t)off, len, snap);
		} else if (mode < 8) {
			uint64_t off = t_rand_below(&rs, fsize);
			size_t len = 1 + (size_t)t_rand_below(&rs, 2 * g->ps);
			if (off + len > fsize)
				len = (size_t)(fsize - off);
			check_pin(g, off, len, snap);
		} else if (mode < 11) {
			/* async cached read: a sequential run sometimes */
			uint64_t off = t_rand_below(&rs, fsize);
			size_t len = 1 + (size_t)t_rand_below(&rs, maxlen);
			unsigned n = (mode == 10) ? 1 + (unsigned)t_rand_below(&rs, 8) : 1;
			if (mode == 10) {
				off = t_align_down(off, g->ps);
				len = g->ps;
			}
			for (unsigned i = 0; i < n && off < fsize; i++) {
				if (off + len > fsize)
					len = (size_t)(fsize - off);
				struct cio_op op;
				memset(&op, 0, sizeof op);
				op.opcode = CIO_OP_READ;
				op.file = g->f;
				op.buf = buf;
				op.len = len;
				op.off = (int64_t)off;
				op.user_data = ++ud;
				snapshot(g, (int64_t)off, len, snap);
				struct cio_event ev = submit_wait(cx, &op);
				CHECKF(ev.res == (int64_t)len && ev.res2 == 0,
				       "async cached read off %llu len %zu: res %lld"
				       " res2 %d", (unsigned long long)off, len,
				       (long long)ev.res, ev.res2);
				verify_range(g, "async cached", buf, (int64_t)off,
				             len, snap);
				atomic_fetch_add(&g->async_reads_checked, 1);
				off += len;
			}
		} else if (mode < 15) {
			/* async direct read, aligned to the logical block */
			uint64_t nl = fsize / g->lbs;
			uint64_t s = t_rand_below(&rs, nl);
			uint64_t cnt = 1 + t_rand_below(&rs, maxlen / g->lbs);
			if (s + cnt > nl)
				cnt = nl - s;
			uint64_t off = s * g->lbs;
			size_t len = (size_t)(cnt * g->lbs);
			struct cio_op op;
			memset(&op, 0, sizeof op);
			op.opcode = CIO_OP_READ;
			op.flags = CIO_RW_DIRECT;
			op.file = g->f;
			op.buf = buf;
			op.len = len;
			op.off = (int64_t)off;
			op.user_data = ++ud;
			snapshot(g, (int64_t)off, len, snap);
			struct cio_event ev = submit_wait(cx, &op);
			CHECKF(ev.res == (int64_t)len && ev.res2 == 0,
			       "async direct read off %llu len %zu: res %lld res2 %d",
			       (unsigned long long)off, len, (long long)ev.res,
			       ev.res2);
			verify_range(g, "async direct", buf, (int64_t)off, len,
			             snap);
			atomic_fetch_add(&g->async_reads_checked, 1);
		} else if (ra->id == 0) {
			/* drop the cache so readahead happens again */
			struct cio_inval_result res;
			int rc = cio_invalidate(g->f, 0, 0, 0, &res);
			CHECKF(rc == 0 || rc == -EBUSY, "invalidate = %d (%s)", rc,
			       t_errname(rc));
		}
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	free(snap);
	free(buf);
	return NULL;
}

static void run(uint32_t ps, int jitter)
{
	char *path = t_scratch_path("g1a");
	uint64_t fsize = (uint64_t)NPAGES * ps;
	struct g1 g;
	memset(&g, 0, sizeof g);
	g.ps = ps;
	g.nblocks = fsize / BLK;
	g.pub = calloc(g.nblocks, sizeof *g.pub);
	CHECK(g.pub != NULL);
	for (uint64_t b = 0; b < g.nblocks; b++)
		atomic_init(&g.pub[b], 0);

	uint8_t *init = t_alloc(fsize);
	for (uint64_t i = 0; i < fsize; i += 8) {
		uint64_t v = word_of(0, i / BLK);
		memcpy(init + i, &v, 8);
	}
	CHECK_EQ(t_kernel_pwrite(path, init, fsize, 0), 0);

	g.c = t_cache(ps, 48ull * ps, jitter);
	g.f = t_open(g.c, path, O_RDWR);
	g.lbs = t_lbs(g.f);
	g.wal = g.lbs > BLK ? g.lbs : BLK;
	CHECK(t_memalign(g.f) <= 65536);
	t_ctx("ps=%u jitter=%d", ps, jitter);
	if (jitter) {
		struct cio_fault_rule r;
		memset(&r, 0, sizeof r);
		r.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
		r.jitter_us = JITTER_US;
		r.count = -1;
		int id = cio_fault_add(g.c, &r);
		CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));
	}

	pthread_t wt, rt[NREADERS];
	struct rarg ra[NREADERS];
	for (int i = 0; i < NREADERS; i++) {
		ra[i].g = &g;
		ra[i].id = i;
		CHECK_EQ(pthread_create(&rt[i], NULL, reader, &ra[i]), 0);
	}
	CHECK_EQ(pthread_create(&wt, NULL, writer, &g), 0);
	uint64_t t0 = t_now_ns();
	while (t_now_ns() - t0 < (uint64_t)RUN_MS * 1000000ull &&
	       atomic_load(&g.writes_done) < MAX_WRITES)
		t_sleep_ms(20);
	atomic_store(&g.stop, 1);
	CHECK_EQ(pthread_join(wt, NULL), 0);
	for (int i = 0; i < NREADERS; i++)
		CHECK_EQ(pthread_join(rt[i], NULL), 0);

	t_log("ps=%u jitter=%d engine %s: %lld async direct writes, %lld reads"
	      " checked (%lld async), %lld violations",
	      ps, jitter, t_cstats(g.c).engine,
	      (long long)atomic_load(&g.writes_done),
	      (long long)atomic_load(&g.reads_checked),
	      (long long)atomic_load(&g.async_reads_checked),
	      (long long)atomic_load(&g.violations));
	t_ctx("ps=%u jitter=%d final check", ps, jitter);
	CHECK_EQ(atomic_load(&g.violations), 0);
	CHECK_GT(atomic_load(&g.writes_done), 0);
	CHECK_GT(atomic_load(&g.reads_checked), 0);

	/* Quiescent: every path returns exactly the last generation. */
	uint8_t *want = t_alloc(fsize), *got = t_alloc(fsize);
	for (uint64_t i = 0; i < fsize; i += 8) {
		uint64_t v = word_of(atomic_load(&g.pub[i / BLK]), i / BLK);
		memcpy(want + i, &v, 8);
	}
	t_read_all(g.f, got, fsize, 0, 0);
	CHECK_MEM(got, want, fsize, 0);
	memset(got, 0, fsize);
	t_read_all(g.f, got, fsize, 0, CIO_RW_DIRECT);
	CHECK_MEM(got, want, fsize, 0);
	cio_ctx *cx = new_ctx(g.c, 2);
	for (unsigned flags = 0; flags <= CIO_RW_DIRECT; flags += CIO_RW_DIRECT) {
		struct cio_op op;
		memset(&op, 0, sizeof op);
		op.opcode = CIO_OP_READ;
		op.flags = flags;
		op.file = g.f;
		op.buf = got;
		op.len = fsize;
		op.user_data = 7 + flags;
		memset(got, 0, fsize);
		struct cio_event ev = submit_wait(cx, &op);
		CHECK_EQ(ev.res, (int64_t)fsize);
		CHECK_MEM(got, want, fsize, 0);
	}
	CHECK_EQ(cio_ctx_destroy(cx), 0);
	CHECK_EQ(cio_fsync(g.f), 0);
	CHECK_KERNEL(path, want, fsize, 0);
	CHECK_EQ(t_cstats(g.c).direct_writes >= (uint64_t)atomic_load(&g.writes_done), 1);

	t_close(g.f);
	t_destroy(g.c);
	free(want);
	free(got);
	free(init);
	free(g.pub);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		run(t_page_sizes[i], 0);
		run(t_page_sizes[i], 1);
	}
	return t_pass();
}
