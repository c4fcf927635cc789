/*
 * G1 - a completed direct write is visible everywhere, even when readahead or
 * a cached reader raced it and brought the old data in while it was in
 * flight (sync engine).
 *
 * A file of NPAGES pages is divided in 512-byte stamp blocks. Every 8-byte
 * word of block b written by generation N holds (N << 32 | b). One writer
 * loops { direct write of a random block range stamped with a new generation
 * N; then publish N for each block of the range (release store) }. Reader
 * threads loop over cached sequential reads (readahead), unaligned cached
 * reads over overlapping/adjacent ranges, and read pins. Before each read a
 * reader loads (acquire) the published generation of every block it will
 * read; every word it then reads must carry that block's index and a
 * generation >= the loaded one. The cache is smaller than the file and one
 * reader occasionally invalidates, so pages keep being dropped and read in
 * (with readahead) while direct writes are in flight.
 *
 * Bounded by iterations and by RUN_MS per page size.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define NPAGES 64
#define BLK 512
#define NREADERS 3
#define RUN_MS 3000
#define MAX_WRITES 200000

struct g1 {
	cio_file *f;
	cio_cache *c;
	uint32_t ps;
	uint32_t wal;       /* write alignment: max(lbs, BLK) */
	uint64_t nblocks;
	_Atomic uint32_t *pub; /* published generation per block */
	atomic_int stop;
	atomic_llong violations;
	atomic_llong reads_checked;
	atomic_llong writes_done;
	atomic_llong inval_busy;
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
		      " published before the read",
		      how, g->ps, (long long)off, (unsigned long long)blk,
		      (unsigned long long)got, (unsigned)(got >> 32),
		      (unsigned)(got & 0xffffffffu), min_gen);
}

/* Verify bytes [off, off+len) in buf against the snapshot of published
 * generations snap[] (indexed from block off/BLK). Only whole 8-byte words
 * inside the range are checked. */
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
			return; /* one per read is enough */
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

static void *writer(void *arg)
{
	struct g1 *g = arg;
	uint64_t rs = t_rand_seed(g->ps * 7 + 1);
	size_t maxlen = 4 * (size_t)g->ps;
	uint8_t *buf = t_alloc(maxlen);
	uint64_t fsize = (uint64_t)NPAGES * g->ps;
	uint64_t nunits = fsize / g->wal;
	t_ctx("writer ps=%u", g->ps);
	for (uint32_t gen = 1; gen <= MAX_WRITES && !atomic_load(&g->stop);
	     gen++) {
		/* A range of 1..(4 pages) write units, sometimes page aligned,
		 * sometimes straddling pages. */
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
		ssize_t r = cio_write(g->f, buf, len, off, CIO_RW_DIRECT);
		CHECKF(r == (ssize_t)len, "direct write len %zu off %lld = %zd (%s)",
		       len, (long long)off, r, t_errname(r));
		for (uint64_t b = (uint64_t)off / BLK;
		     b < ((uint64_t)off + len) / BLK; b++)
			atomic_store_explicit(&g->pub[b], gen,
			                      memory_order_release);
		atomic_fetch_add(&g->writes_done, 1);
	}
	free(buf);
	return NULL;
}

struct rarg {
	struct g1 *g;
	int id;
};

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
	t_ctx("reader %d ps=%u", ra->id, g->ps);
	while (!atomic_load(&g->stop)) {
		unsigned mode = (unsigned)t_rand_below(&rs, 10);
		if (mode < 4) {
			/* Sequential cached stream from a random page: 1..16
			 * chunks of a page (or half a page), to get readahead. */
			size_t chunk = (mode & 1) ? g->ps : g->ps / 2;
			uint64_t off = t_align_down(t_rand_below(&rs, fsize),
			                            g->ps);
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
		} else if (mode < 7) {
			/* Unaligned cached read over any range (overlapping
			 * and adjacent to the writer's ranges). */
			uint64_t off = t_rand_below(&rs, fsize);
			size_t len = 1 + (size_t)t_rand_below(&rs, maxlen);
			if (off + len > fsize)
				len = (size_t)(fsize - off);
			snapshot(g, (int64_t)off, len, snap);
			ssize_t r = cio_read(g->f, buf, len, (int64_t)off, 0);
			CHECKF(r == (ssize_t)len, "cached read = %zd (%s)", r,
			       t_errname(r));
			verify_range(g, "cached", buf, (int64_t)off, len, snap);
		} else if (mode < 9) {
			/* Read pin, inspect, unpin. */
			uint64_t off = t_rand_below(&rs, fsize);
			size_t len = 1 + (size_t)t_rand_below(&rs, 2 * g->ps);
			if (off + len > fsize)
				len = (size_t)(fsize - off);
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
			uint64_t sb0 = (uint64_t)off / BLK;
			for (int s = 0; s < pin.nseg; s++) {
				const uint8_t *p = pin.seg[s].iov_base;
				size_t sl = pin.seg[s].iov_len;
				/* check the part inside [off, off+len) */
				int64_t a = o > (int64_t)off ? o : (int64_t)off;
				int64_t e = o + (int64_t)sl;
				if (e > (int64_t)(off + len))
					e = (int64_t)(off + len);
				if (a < e)
					verify_range(g, "pinned", p + (a - o), a,
					             (size_t)(e - a),
					             snap + ((uint64_t)a / BLK - sb0));
				o += (int64_t)sl;
			}
			CHECK_EQ(cio_unpin(&pin), 0);
		} else if (ra->id == 0) {
			/* Drop the cache so readahead happens again. */
			struct cio_inval_result res;
			int rc = cio_invalidate(g->f, 0, 0, 0, &res);
			CHECKF(rc == 0 || rc == -EBUSY, "invalidate = %d (%s)", rc,
			       t_errname(rc));
			if (rc == -EBUSY)
				atomic_fetch_add(&g->inval_busy, 1);
		}
	}
	free(snap);
	free(buf);
	return NULL;
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("g1");
	uint64_t fsize = (uint64_t)NPAGES * ps;
	struct g1 g;
	memset(&g, 0, sizeof g);
	g.ps = ps;
	g.nblocks = fsize / BLK;
	g.pub = calloc(g.nblocks, sizeof *g.pub);
	CHECK(g.pub != NULL);
	for (uint64_t b = 0; b < g.nblocks; b++)
		atomic_init(&g.pub[b], 0);

	/* Generation 0 on disk before the cache sees the file. */
	uint8_t *init = t_alloc(fsize);
	for (uint64_t i = 0; i < fsize; i += 8) {
		uint64_t v = word_of(0, i / BLK);
		memcpy(init + i, &v, 8);
	}
	CHECK_EQ(t_kernel_pwrite(path, init, fsize, 0), 0);

	/* A cache smaller than the file: pages keep cycling. */
	g.c = t_cache(ps, 48ull * ps, 0);
	g.f = t_open(g.c, path, O_RDWR);
	uint32_t lbs = t_lbs(g.f);
	if (lbs > ps / 2) {
		t_log("ps=%u: logical block size %u leaves no sub-page writes",
		      ps, lbs);
	}
	g.wal = lbs > BLK ? lbs : BLK;
	CHECK(t_memalign(g.f) <= 65536);

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

	t_log("ps=%u: %lld direct writes, %lld reads checked, %lld invalidations"
	      " kept a pinned page, %lld violations",
	      ps, (long long)atomic_load(&g.writes_done),
	      (long long)atomic_load(&g.reads_checked),
	      (long long)atomic_load(&g.inval_busy),
	      (long long)atomic_load(&g.violations));
	t_ctx("ps=%u final check", ps);
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
	/* read pins, 8 pages at a time (the cache is smaller than the file) */
	for (uint64_t po = 0; po < fsize; po += 8ull * ps) {
		cio_pin pin;
		memset(&pin, 0, sizeof pin);
		int n = cio_pin_range(g.f, (int64_t)po, 8ull * ps, 0, &pin);
		CHECKF(n >= 1, "pin [%llu, +8 pages) = %d (%s)",
		       (unsigned long long)po, n, t_errname(n));
		int64_t o = (int64_t)po;
		for (int s = 0; s < pin.nseg; s++) {
			CHECK_MEM((uint8_t *)pin.seg[s].iov_base, want + o,
			          pin.seg[s].iov_len, o);
			o += (int64_t)pin.seg[s].iov_len;
		}
		CHECK_EQ(o, (int64_t)(po + 8ull * ps));
		CHECK_EQ(cio_unpin(&pin), 0);
	}
	CHECK_EQ(cio_fsync(g.f), 0);
	CHECK_KERNEL(path, want, fsize, 0);

	struct cio_cache_stats cs = t_cstats(g.c);
	t_log("ps=%u: stats: hits %llu misses %llu readahead %llu evictions %llu"
	      " coherence_updates %llu direct_writes %llu",
	      ps, (unsigned long long)cs.hits, (unsigned long long)cs.misses,
	      (unsigned long long)cs.readahead_pages,
	      (unsigned long long)cs.evictions,
	      (unsigned long long)cs.coherence_updates,
	      (unsigned long long)cs.direct_writes);
	CHECK_EQ(cs.direct_writes, (uint64_t)atomic_load(&g.writes_done));

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
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
