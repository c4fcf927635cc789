/*
 * cli_bench_write.c - the workloads that write:
 *
 * Random write-back: 4 KiB random writes over a region (a quarter of the
 * file), then fsync; the rate counts the fsync. coherio's cached path
 * (writes dirty pages, cio_fsync writes them back sorted and merged) against
 * the kernel's buffered pwrite + fsync and against O_DIRECT pwrite + fsync.
 * Before each pass the region is dropped from the cache under test
 * (cio_invalidate / fdatasync + DONTNEED), so every pass starts alike.
 *
 * Mixed: 70 % reads, 30 % writes of 4 KiB, zipfian (theta 0.99, ranks
 * scrambled over the set) over a working set twice the size of coherio's
 * cache (each side on its own third of the file: see mx_set()), so
 * eviction and write-back run all the time (the cache is filled first);
 * each round ends with an fsync per side that is counted. The kernel's
 * page cache is not limited to coherio's budget (the set fits in memory),
 * so the buffered row is a kernel that does not evict, and O_DIRECT the
 * no-cache bound.
 *
 * The cost of coherence: a 64 KiB direct write over a range holding k
 * cached pages (k = 1, 4, 16) against the same write with none cached.
 * Batches of ranges are prepared untimed (invalidated, then k pages read
 * through the cache with readahead off), then their writes are timed; the
 * same for the kernel, whose O_DIRECT write must invalidate its cached
 * pages.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* ---- random write-back ------------------------------------------------------------- */

enum wr_kind { W_CIO, W_KERN, W_DIRECT, W_NKINDS };

static const char *const wr_name[W_NKINDS] = {
	"coherio cached write + cio_fsync", "kernel buffered pwrite + fsync",
	"kernel O_DIRECT pwrite + fsync",
};

static int wr_pass(struct bs_suite *b, int kind, cio_file *f, const unsigned char *buf,
                   uint64_t base, uint64_t region, uint64_t nw, uint64_t seed,
                   struct bs_meas *m, double *fsync_ms)
{
	const size_t io = b->bs_io;
	uint64_t rnd = seed | 1, npages = region / io, t0;
	int fd = kind == W_DIRECT ? b->bs_dfd : b->bs_kfd, r = 0;

	/* Step 1: the region is not cached (and nothing is dirty) anywhere. */
	if (kind == W_CIO) {
		r = cio_invalidate(f, (int64_t)base, (int64_t)region, 0, NULL);
		if (r < 0)
			return r;
	}
	r = bs_drop_kernel(b->bs_kfd, base, region);
	if (r < 0)
		return r;
	/* Step 2: the writes, each timed, then the fsync. */
	bs_meas_start(m);
	for (uint64_t i = 0; i < nw && !r; i++) {
		int64_t off = (int64_t)(base + bs_below(&rnd, npages) * io);
		ssize_t got;

		t0 = bs_ns();
		if (kind == W_CIO) {
			got = cio_write(f, buf, io, off, 0);
		} else {
			got = pwrite(fd, buf, io, (off_t)off);
			if (got < 0)
				got = -errno;
		}
		bs_meas_lat(m, bs_ns() - t0);
		if (got != (ssize_t)io)
			r = got < 0 ? (int)got : -EIO;
		m->ms_ops++;
		m->ms_bytes += io;
	}
	t0 = bs_ns();
	if (!r) {
		if (kind == W_CIO)
			r = cio_fsync(f);
		else if (fsync(fd) != 0)
			r = -errno;
	}
	*fsync_ms = (double)(bs_ns() - t0) / 1e6;
	bs_meas_stop(m);
	return r;
}

int bs_run_write(struct bs_suite *b)
{
	uint64_t region = b->bs_file / 4, base = 0;
	uint64_t nw = region / b->bs_io / 2;
	struct cio_cache_stats s0, s1;
	cio_cache *c = NULL;
	cio_file *f = NULL;
	unsigned char *buf;
	int g, sd[W_NKINDS], r;
	struct bs_meas m;
	char title[192];

	if (nw > (b->bs_quick ? 4096u : 16384u))
		nw = b->bs_quick ? 4096u : 16384u;
	snprintf(title, sizeof(title), "4 KiB random writes then fsync: %llu writes "
	         "over %llu MiB; coherio cache holds the region",
	         (unsigned long long)nw, (unsigned long long)(region >> 20));
	g = bs_group_add(b, "write", title, 0, "fsync ms");
	for (int k = 0; k < W_NKINDS; k++)
		sd[k] = (k != W_DIRECT || b->bs_dfd >= 0) ?
		        bs_side_add(b, g, wr_name[k], k == W_CIO ? BS_COHERIO : BS_KERNEL, 1) :
		        -1;
	bs_cmp_add(b, g, "write-back / kernel buffered + fsync", sd[W_CIO], sd[W_KERN],
	           BS_M_OPS, 1.0, 0);
	bs_cmp_add(b, g, "write-back / O_DIRECT writes + fsync", sd[W_CIO], sd[W_DIRECT],
	           BS_M_OPS, 0, 0);
	buf = cli_alloc_aligned(4096, b->bs_io);
	if (!buf)
		return bs_fail(b, -ENOMEM, "allocating");
	memset(buf, 0xA5, b->bs_io);
	r = bs_cache_open(b, bs_cache_budget(region), &c, &f);
	if (!r && bs_meas_init(&m, b, 1) < 0)
		r = bs_fail(b, -ENOMEM, "allocating");
	if (r)
		goto out;
	cio_cache_stats(c, &s0);
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		for (int i = 0; i < W_NKINDS && !r; i++) {
			int k = bs_order(W_NKINDS, round, i);
			double fs_ms = NAN;

			if (sd[k] < 0)
				continue;
			bs_progress(b, "write round %d/%d: %s", round + 1, b->bs_rounds,
			            wr_name[k]);
			buf[0] = (unsigned char)round;
			r = wr_pass(b, k, f, buf, base, region, nw, 0x3217Eull + (uint64_t)round,
			            &m, &fs_ms);
			if (r < 0)
				bs_fail(b, r, "write: %s", wr_name[k]);
			else
				bs_record(b, sd[k], round, &m, fs_ms);
		}
	}
	cio_cache_stats(c, &s1);
	bs_note(b, g, "ops/s counts the fsync: writes / (time of the writes + the "
	        "fsync); p50/p99 are of the writes");
	bs_note(b, g, "coherio, all rounds: %llu pages written back, %llu evictions",
	        (unsigned long long)(s1.writeback_pages - s0.writeback_pages),
	        (unsigned long long)(s1.evictions - s0.evictions));
	bs_meas_free(&m);
out:
	bs_cache_close(b, c, f);
	free(buf);
	return r ? r : b->bs_err;
}

/* ---- mixed zipfian --------------------------------------------------------------------- */

#define ZIPF_N   (1u << 20)   /* precomputed operations, replayed  */
#define ZIPF_W   (1ull << 63) /* the write bit of an entry         */

/* YCSB's zipfian generator (Gray et al.), ranks scrambled by a hash so the
 * hot pages are spread over the set. Entry: page index | ZIPF_W. */
static uint64_t *zipf_sequence(uint64_t npages, double theta, uint64_t seed)
{
	uint64_t *v = malloc(ZIPF_N * sizeof(*v)), rnd = seed | 1;
	double zetan = 0, zeta2 = 1 + bs_pow(0.5, theta), alpha, eta;

	if (!v)
		return NULL;
	for (uint64_t i = 1; i <= npages; i++)
		zetan += 1.0 / bs_pow((double)i, theta);
	alpha = 1.0 / (1.0 - theta);
	eta = (1 - bs_pow(2.0 / (double)npages, 1 - theta)) / (1 - zeta2 / zetan);
	for (uint64_t i = 0; i < ZIPF_N; i++) {
		double u = (double)(cli_rand(&rnd) >> 11) * (1.0 / 9007199254740992.0);
		double uz = u * zetan;
		uint64_t rank, h;

		if (uz < 1.0)
			rank = 0;
		else if (uz < zeta2)
			rank = 1;
		else
			rank = (uint64_t)((double)npages * bs_pow(eta * u - eta + 1, alpha));
		if (rank >= npages)
			rank = npages - 1;
		/* FNV-1a of the rank, as YCSB's ScrambledZipfianGenerator */
		h = 0xCBF29CE484222325ull;
		for (int k = 0; k < 8; k++) {
			h ^= (rank >> (8 * k)) & 0xff;
			h *= 0x100000001B3ull;
		}
		v[i] = h % npages;
		if (bs_below(&rnd, 100) < 30)
			v[i] |= ZIPF_W;
	}
	return v;
}

enum mx_kind { X_CIO, X_KERN, X_DIRECT, X_NKINDS };

static const char *const mx_name[X_NKINDS] = {
	"coherio cached read/write", "kernel buffered pread/pwrite",
	"kernel O_DIRECT pread/pwrite",
};

/* Each side's set: its own third of the file, so that no side's writes
 * touch another's cached pages (an O_DIRECT write flushes and invalidates
 * the kernel's page cache over its range; an fsync on one descriptor
 * flushes the whole file). Side k uses [k * set, (k + 1) * set). */
static uint64_t mx_set(const struct bs_suite *b)
{
	return b->bs_file / 3 / b->bs_io * b->bs_io;
}

/* @dur seconds of the mix from entry @start of the sequence. */
static int mx_run(struct bs_suite *b, int kind, cio_file *f, unsigned char *buf,
                  const uint64_t *seq, uint64_t start, double dur, struct bs_meas *m)
{
	const size_t io = b->bs_io;
	const uint64_t base = (uint64_t)kind * mx_set(b);
	int fd = kind == X_DIRECT ? b->bs_dfd : b->bs_kfd, r = 0;
	uint64_t i = start, t0, tend;

	bs_meas_start(m);
	tend = bs_ns() + (uint64_t)(dur * 1e9);
	while (!r) {
		for (int j = 0; j < 64 && !r; j++, i++) {
			uint64_t e = seq[i & (ZIPF_N - 1)];
			int64_t off = (int64_t)(base + (e & ~ZIPF_W) * io);
			int w = (e & ZIPF_W) != 0, timed = bs_meas_want(m);
			ssize_t got;

			t0 = timed ? bs_ns() : 0;
			if (kind == X_CIO) {
				got = w ? cio_write(f, buf, io, off, 0) : cio_read(f, buf, io, off, 0);
			} else {
				got = w ? pwrite(fd, buf, io, (off_t)off) : pread(fd, buf, io, (off_t)off);
				if (got < 0)
					got = -errno;
			}
			if (timed)
				bs_meas_lat(m, bs_ns() - t0);
			if (got != (ssize_t)io)
				r = got < 0 ? (int)got : -EIO;
			m->ms_ops++;
			m->ms_bytes += io;
		}
		if (bs_ns() >= tend)
			break;
	}
	bs_meas_stop(m);
	return r;
}

/* The closing fsync of a round, timed into @m (no operations). */
static int mx_sync(struct bs_suite *b, int kind, cio_file *f, struct bs_meas *m)
{
	int r = 0;

	bs_meas_start(m);
	if (kind == X_CIO)
		r = cio_fsync(f);
	else if (fsync(kind == X_DIRECT ? b->bs_dfd : b->bs_kfd) != 0)
		r = -errno;
	bs_meas_stop(m);
	return r;
}

int bs_run_mixed(struct bs_suite *b)
{
	uint64_t set = mx_set(b), cache = set / 2;
	uint64_t npages = set / b->bs_io, *seq;
	struct cio_cache_stats s0, s1;
	cio_cache *c = NULL;
	cio_file *f = NULL;
	unsigned char *buf;
	int g, sd[X_NKINDS], r;
	struct bs_meas m = { 0 }, acc[X_NKINDS] = { { 0 } };
	char title[192];

	snprintf(title, sizeof(title), "Mixed 70/30 zipfian (0.99) 4 KiB read/write "
	         "over %llu MiB (each side its own third of the file); coherio cache "
	         "%llu MiB", (unsigned long long)(set >> 20),
	         (unsigned long long)(cache >> 20));
	g = bs_group_add(b, "mixed", title, 0, "fsync ms");
	for (int k = 0; k < X_NKINDS; k++)
		sd[k] = (k != X_DIRECT || b->bs_dfd >= 0) ?
		        bs_side_add(b, g, mx_name[k], k == X_CIO ? BS_COHERIO : BS_KERNEL, 1) :
		        -1;
	bs_cmp_add(b, g, "mixed / kernel buffered (a cache that never evicts)",
	           sd[X_CIO], sd[X_KERN], BS_M_OPS, 0, 0);
	bs_cmp_add(b, g, "mixed / O_DIRECT (no cache)", sd[X_CIO], sd[X_DIRECT],
	           BS_M_OPS, 0, 0);
	bs_progress(b, "mixed: computing the zipfian sequence...");
	seq = zipf_sequence(npages, 0.99, 0x21Bull);
	buf = cli_alloc_aligned(4096, b->bs_io);
	if (!seq || !buf) {
		free(seq);
		free(buf);
		return bs_fail(b, -ENOMEM, "allocating");
	}
	memset(buf, 0x5A, b->bs_io);
	r = bs_cache_open(b, cache, &c, &f);
	if (!r && (bs_meas_init(&m, b, 4) < 0 || bs_meas_init(&acc[0], b, 1) < 0 ||
	           bs_meas_init(&acc[1], b, 1) < 0 || bs_meas_init(&acc[2], b, 1) < 0))
		r = bs_fail(b, -ENOMEM, "allocating");
	if (r)
		goto out;
	/* Warm-up, untimed: coherio's cache filled by one pass over the set
	 * (so from here on every miss evicts), the kernel's likewise; then each
	 * side once into its steady state. */
	bs_progress(b, "mixed: filling both caches with the %llu MiB set...",
	            (unsigned long long)(set >> 20));
	r = bs_warm_cio(f, set);
	if (!r)
		r = bs_warm_kernel(b->bs_kfd, 2 * set); /* [set, 2 set) is its part */
	if (r < 0)
		bs_fail(b, r, "mixed: warming the caches");
	for (int k = 0; k < X_NKINDS && !r; k++) {
		if (sd[k] < 0)
			continue;
		bs_progress(b, "mixed warm-up: %s", mx_name[k]);
		r = mx_run(b, k, f, buf, seq, 0, b->bs_dur / 2, &m);
		if (!r)
			r = mx_sync(b, k, f, &m);
		if (r < 0)
			bs_fail(b, r, "mixed warm-up: %s", mx_name[k]);
	}
	cio_cache_stats(c, &s0);
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		double fs_ms[X_NKINDS];

		for (int k = 0; k < X_NKINDS; k++)
			bs_meas_clear(&acc[k]);
		for (int sl = 0; sl < BS_SLICES && !r; sl++) {
			uint64_t start = (uint64_t)(round * BS_SLICES + sl) * 104729u;

			for (int i = 0; i < X_NKINDS && !r; i++) {
				int k = bs_order(X_NKINDS, round * BS_SLICES + sl, i);

				if (sd[k] < 0)
					continue;
				bs_progress(b, "mixed round %d/%d: %s", round + 1, b->bs_rounds,
				            mx_name[k]);
				r = mx_run(b, k, f, buf, seq, start, b->bs_dur / BS_SLICES, &m);
				if (r < 0)
					bs_fail(b, r, "mixed: %s", mx_name[k]);
				else
					bs_meas_add(&acc[k], &m);
			}
		}
		/* Step 2: each side's fsync, counted. fsync(2) flushes the whole
		 * inode, so the kernel's buffered side goes first: its dirty pages
		 * are then never written by another side's fsync. */
		for (int i = 0; i < X_NKINDS && !r; i++) {
			static const int sync_order[2][X_NKINDS] = {
				{ X_KERN, X_CIO, X_DIRECT }, { X_KERN, X_DIRECT, X_CIO },
			};
			int k = sync_order[round % 2][i];

			if (sd[k] < 0)
				continue;
			r = mx_sync(b, k, f, &m);
			if (r < 0) {
				bs_fail(b, r, "mixed: fsync of %s", mx_name[k]);
				break;
			}
			fs_ms[k] = (m.ms_t1 - m.ms_t0) * 1e3;
			m.ms_ops = m.ms_bytes = 0;
			m.ms_nlat = 0;
			bs_meas_add(&acc[k], &m);
			bs_record(b, sd[k], round, &acc[k], fs_ms[k]);
		}
	}
	cio_cache_stats(c, &s1);
	{
		uint64_t hits = s1.hits - s0.hits, misses = s1.misses - s0.misses;

		bs_note(b, g, "coherio, all rounds: hit ratio %.1f %%, %llu evictions, "
		        "%llu pages written back",
		        hits + misses ? 100.0 * (double)hits / (double)(hits + misses) : 0.0,
		        (unsigned long long)(s1.evictions - s0.evictions),
		        (unsigned long long)(s1.writeback_pages - s0.writeback_pages));
	}
	bs_note(b, g, "ops/s counts each round's closing fsync; the kernel's page "
	        "cache is not held to coherio's budget: the whole set stays in it");
out:
	bs_meas_free(&m);
	for (int k = 0; k < X_NKINDS; k++)
		bs_meas_free(&acc[k]);
	bs_cache_close(b, c, f);
	free(buf);
	free(seq);
	return r ? r : b->bs_err;
}

/* ---- the cost of coherence ------------------------------------------------------------ */

#define COH_RANGE (64u << 10)   /* bytes per direct write */

static const int coh_k[] = { 0, 1, 4, 16 };
enum { COH_NK = sizeof(coh_k) / sizeof(coh_k[0]) };

/* Step 1 (untimed): each range of @offs empty of cached pages, then its
 * pages j * (16 / k) cached, for j < k. Kernel: the same in its page cache
 * through @kfd (readahead off on it). */
static int coh_prepare(struct bs_suite *b, int kernel, int k, cio_file *f, int kfd,
                       const uint64_t *offs, int n, unsigned char *page)
{
	const uint32_t per = COH_RANGE / (uint32_t)b->bs_io;

	for (int j = 0; j < n; j++) {
		int r;

		if (kernel)
			r = -posix_fadvise(kfd, (off_t)offs[j], COH_RANGE, POSIX_FADV_DONTNEED);
		else
			r = cio_invalidate(f, (int64_t)offs[j], COH_RANGE, 0, NULL);
		if (r < 0)
			return r;
		for (int p = 0; p < k; p++) {
			uint64_t off = offs[j] + (uint64_t)p * (per / (uint32_t)k) * b->bs_io;
			ssize_t got = kernel ? pread(kfd, page, b->bs_io, (off_t)off) :
			                       cio_read(f, page, b->bs_io, (int64_t)off, 0);

			if (got != (ssize_t)b->bs_io)
				return got < 0 ? (kernel ? -errno : (int)got) : -EIO;
		}
	}
	return 0;
}

int bs_run_coherence(struct bs_suite *b)
{
	const int n = b->bs_quick ? 64 : 256;
	uint64_t region = b->bs_file < (256u << 20) ? b->bs_file : (256u << 20);
	uint64_t nranges = region / COH_RANGE, *offs = NULL, *perm = NULL;
	int sd[2][COH_NK], g, r = 0, kfd = -1;
	struct cio_cache_opts co;
	struct cio_file_stats fst;
	cio_cache *c = NULL;
	cio_file *f = NULL;
	unsigned char *wbuf = NULL, *page = NULL;
	struct bs_meas m;
	char title[192], name[64];
	uint64_t short_k = 0;

	snprintf(title, sizeof(title), "The cost of coherence: a %u KiB direct write "
	         "over a range holding k cached 4 KiB pages (%d writes per round)",
	         COH_RANGE >> 10, n);
	g = bs_group_add(b, "coherence", title, 0, NULL);
	for (int w = 0; w < 2; w++)
		for (int i = 0; i < COH_NK; i++) {
			snprintf(name, sizeof(name), "%s, k = %d", w ? "kernel O_DIRECT pwrite" :
			         "coherio direct write", coh_k[i]);
			sd[w][i] = (w == 0 || b->bs_dfd >= 0) ?
			           bs_side_add(b, g, name, w ? BS_KERNEL : BS_COHERIO, 1) : -1;
		}
	for (int i = 1; i < COH_NK; i++) {
		snprintf(name, sizeof(name), "coherio: k = %d / none cached", coh_k[i]);
		bs_cmp_add(b, g, name, sd[0][i], sd[0][0], BS_M_OPS, 0, 0);
	}
	bs_cmp_add(b, g, "kernel: k = 16 / none cached", sd[1][COH_NK - 1], sd[1][0],
	           BS_M_OPS, 0, 0);
	bs_cmp_add(b, g, "coherio / kernel, none cached", sd[0][0], sd[1][0],
	           BS_M_OPS, 0, 0);
	bs_cmp_add(b, g, "coherio / kernel, k = 16", sd[0][COH_NK - 1],
	           sd[1][COH_NK - 1], BS_M_OPS, 0, 0);

	offs = malloc((size_t)n * sizeof(*offs));
	perm = malloc(nranges * sizeof(*perm));
	wbuf = cli_alloc_aligned(4096, COH_RANGE);
	page = cli_alloc_aligned(4096, b->bs_io);
	if (!offs || !perm || !wbuf || !page) {
		r = bs_fail(b, -ENOMEM, "allocating");
		goto out;
	}
	memset(wbuf, 0xC0, COH_RANGE);
	/* A cache with readahead off, so exactly k pages are cached. */
	memset(&co, 0, sizeof(co));
	co.memory_bytes = bs_cache_budget((uint64_t)n * COH_RANGE);
	co.readahead_max = 1;
	r = cio_cache_create(&c, &co);
	if (r < 0) {
		bs_fail(b, r, "cio_cache_create");
		c = NULL;
		goto out;
	}
	r = cio_open(c, b->bs_path, O_RDWR, 0, &f);
	if (r < 0) {
		bs_fail(b, r, "cio_open");
		f = NULL;
		goto out;
	}
	kfd = open(b->bs_path, O_RDONLY | O_CLOEXEC);
	if (kfd < 0) {
		r = bs_fail(b, -errno, "open %s", b->bs_path);
		goto out;
	}
	posix_fadvise(kfd, 0, 0, POSIX_FADV_RANDOM);
	if (bs_meas_init(&m, b, 1) < 0) {
		r = bs_fail(b, -ENOMEM, "allocating");
		goto out;
	}
	for (uint64_t i = 0; i < nranges; i++)
		perm[i] = i;
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		uint64_t rnd = 0xC0Eull + (uint64_t)round;

		/* the round's ranges: the first n of a shuffle */
		for (int j = 0; j < n && (uint64_t)j < nranges; j++) {
			uint64_t x = (uint64_t)j + bs_below(&rnd, nranges - (uint64_t)j), t = perm[j];

			perm[j] = perm[x];
			perm[x] = t;
			offs[j] = perm[j] * COH_RANGE;
		}
		for (int i = 0; i < 2 * COH_NK && !r; i++) {
			int x = bs_order(2 * COH_NK, round, i), w = x / COH_NK, ki = x % COH_NK;
			int side = sd[w][ki];

			if (side < 0)
				continue;
			bs_progress(b, "coherence round %d/%d: %s", round + 1, b->bs_rounds,
			            b->sd[side].sd_name);
			r = coh_prepare(b, w, coh_k[ki], f, kfd, offs, n, page);
			if (r < 0) {
				bs_fail(b, r, "coherence: preparing %s", b->sd[side].sd_name);
				break;
			}
			if (!w && cio_file_stats(f, &fst) == 0 &&
			    fst.cached_pages < (uint64_t)n * (uint64_t)coh_k[ki])
				short_k++;
			bs_meas_start(&m);
			for (int j = 0; j < n && !r; j++) {
				uint64_t t0 = bs_ns();
				ssize_t got;

				if (w) {
					got = pwrite(b->bs_dfd, wbuf, COH_RANGE, (off_t)offs[j]);
					if (got < 0)
						got = -errno;
				} else {
					got = cio_write(f, wbuf, COH_RANGE, (int64_t)offs[j],
					                CIO_RW_DIRECT);
				}
				bs_meas_lat(&m, bs_ns() - t0);
				if (got != (ssize_t)COH_RANGE)
					r = got < 0 ? (int)got : -EIO;
				m.ms_ops++;
				m.ms_bytes += COH_RANGE;
			}
			bs_meas_stop(&m);
			if (r < 0)
				bs_fail(b, r, "coherence: %s", b->sd[side].sd_name);
			else
				bs_record(b, side, round, &m, NAN);
		}
	}
	{
		double p0 = bs_median(b->sd[sd[0][0]].sd_p50, b->sd[sd[0][0]].sd_nrounds);
		double p16 = bs_median(b->sd[sd[0][COH_NK - 1]].sd_p50,
		                       b->sd[sd[0][COH_NK - 1]].sd_nrounds);

		if (!isnan(p0) && !isnan(p16))
			bs_note(b, g, "coherio: each cached page adds %.2f us to the p50 "
			        "((p50 k=16 - p50 k=0) / 16)", (p16 - p0) / 16 / 1e3);
	}
	bs_note(b, g, "ranges prepared untimed: emptied, then k pages spread over the "
	        "range read through the cache (coherio readahead off; kernel "
	        "FADV_RANDOM)");
	if (short_k)
		bs_note(b, g, "warning: %llu preparations left fewer than k pages cached",
		        (unsigned long long)short_k);
	bs_meas_free(&m);
out:
	if (kfd >= 0)
		close(kfd);
	bs_cache_close(b, c, f);
	free(offs);
	free(perm);
	free(wbuf);
	free(page);
	return r ? r : b->bs_err;
}
