/*
 * The page index grows: one file with many thousands of cached pages in a
 * cache big enough to hold them all (written in a scattered order), then
 * several files sharing one cache.
 *  - after k distinct pages are written, the file's cached_pages == k and
 *    dirty_pages == k (nothing is evicted);
 *  - every page reads back correct, all hits (no misses);
 *  - after fsync nothing is dirty and the device matches;
 *  - several files interleaved in one cache: per-file counts exact, the
 *    cache's pages_used is their sum; closing one file drops exactly its
 *    pages and leaves the others intact; invalidating half of a file drops
 *    exactly that half.
 */
#include "helpers.h"

#define NFILES 3

static uint64_t npages_for(uint32_t ps)
{
	/* 32 MiB of pages: 8192 x 4K, 2048 x 16K, 512 x 64K (a power of two,
	 * which scatter() needs) */
	return (32ull << 20) / ps;
}

/* a scattered order: multiply by an odd constant modulo a power of two */
static uint64_t scatter(uint64_t i, uint64_t n)
{
	return (i * 0x9e3779b1ull) & (n - 1);
}

static void one_file(uint32_t ps)
{
	uint64_t n = npages_for(ps);
	uint64_t budget = n * ps + n * ps / 4 + (8ull << 20);
	char *path = t_scratch_path("idx");
	cio_cache *c = t_cache(ps, budget, 0);
	struct cio_cache_stats cs = t_cstats(c);
	t_ctx("ps=%u one file of %llu pages, cache of %llu pages", ps,
	      (unsigned long long)n, (unsigned long long)cs.pages_total);
	CHECKF(cs.pages_total >= n,
	       "a budget of %llu bytes holds only %llu pages of %u bytes",
	       (unsigned long long)budget, (unsigned long long)cs.pages_total,
	       ps);
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	CHECK_EQ(cio_truncate(f, (int64_t)(n * ps), 0), 0);
	uint8_t *buf = t_alloc(ps);
	for (uint64_t i = 0; i < n; i++) {
		uint64_t p = scatter(i, n);
		t_stamp_fill(buf, ps, p * ps, 41);
		t_write_all(f, buf, ps, (int64_t)(p * ps), 0);
		if (i % 997 == 0 || i == n - 1) {
			struct cio_file_stats fs = t_fstats(f);
			CHECK_EQ(fs.cached_pages, i + 1);
			CHECK_EQ(fs.dirty_pages, i + 1);
		}
	}
	cs = t_cstats(c);
	CHECK_EQ(cs.evictions, 0);
	CHECK_EQ(cs.pages_used, n);
	CHECK_EQ(cs.pages_dirty, n);
	CHECK_ULE(cs.memory_bytes, budget);

	struct cio_cache_stats s0 = t_cstats(c);
	for (uint64_t p = 0; p < n; p++) {
		t_read_all(f, buf, ps, (int64_t)(p * ps), 0);
		CHECK_STAMP(buf, ps, p * ps, 41);
	}
	struct cio_cache_stats s1 = t_cstats(c);
	CHECK_EQ(s1.misses - s0.misses, 0);
	CHECK_GE(s1.hits - s0.hits, n);

	CHECK_EQ(cio_fsync(f), 0);
	struct cio_file_stats fs = t_fstats(f);
	CHECK_EQ(fs.dirty_pages, 0);
	CHECK_EQ(fs.cached_pages, n);
	/* spot-check the device */
	for (uint64_t i = 0; i < n; i += n / 64) {
		uint64_t p = scatter(i, n);
		t_stamp_fill(buf, ps, p * ps, 41);
		CHECK_KERNEL(path, buf, ps, p * ps);
	}
	/* invalidate the second half: exactly that many pages go */
	struct cio_inval_result res;
	CHECK_EQ(cio_invalidate(f, (int64_t)(n / 2 * ps), 0, 0, &res), 0);
	CHECK_EQ(res.dropped, n - n / 2);
	CHECK_EQ(res.laundered, 0);
	CHECK_EQ(t_fstats(f).cached_pages, n / 2);
	for (uint64_t p = n / 2 - 3; p < n / 2 + 3; p++) {
		t_read_all(f, buf, ps, (int64_t)(p * ps), 0);
		CHECK_STAMP(buf, ps, p * ps, 41);
	}
	t_close(f);
	CHECK_EQ(t_cstats(c).pages_used, 0);
	t_destroy(c);
	free(buf);
	t_scratch_remove(path);
}

static void shared_cache(uint32_t ps)
{
	uint64_t n = npages_for(ps) / 2;
	uint64_t per = n / NFILES;
	uint64_t budget = n * ps + n * ps / 4 + (8ull << 20);
	cio_cache *c = t_cache(ps, budget, 0);
	char *path[NFILES];
	cio_file *f[NFILES];
	uint8_t *buf = t_alloc(ps);
	t_ctx("ps=%u %d files x %llu pages in one cache", ps, NFILES,
	      (unsigned long long)per);
	for (int k = 0; k < NFILES; k++) {
		path[k] = t_scratch_path("idxs");
		f[k] = t_open(c, path[k], O_RDWR | O_CREAT | O_EXCL);
	}
	/* interleaved: page p of every file, in a scattered page order */
	uint64_t pow2 = 1;
	while (pow2 < per)
		pow2 <<= 1;
	uint64_t written = 0;
	for (uint64_t i = 0; i < pow2; i++) {
		uint64_t p = scatter(i, pow2);
		if (p >= per)
			continue;
		for (int k = 0; k < NFILES; k++) {
			t_stamp_fill(buf, ps, p * ps, 50 + (uint64_t)k);
			t_write_all(f[k], buf, ps, (int64_t)(p * ps), 0);
		}
		written++;
		if (written % 499 == 0) {
			uint64_t sum = 0;
			for (int k = 0; k < NFILES; k++) {
				struct cio_file_stats fs = t_fstats(f[k]);
				CHECK_EQ(fs.cached_pages, written);
				sum += fs.cached_pages;
			}
			CHECK_EQ(t_cstats(c).pages_used, sum);
		}
	}
	CHECK_EQ(written, per);
	for (int k = 0; k < NFILES; k++) {
		CHECK_EQ(cio_size(f[k]), (int64_t)(per * ps));
		CHECK_EQ(t_fstats(f[k]).cached_pages, per);
	}
	CHECK_EQ(t_cstats(c).pages_used, NFILES * per);
	CHECK_EQ(t_cstats(c).evictions, 0);

	/* closing file 1 drops exactly its pages (after writing them back) */
	t_close(f[1]);
	f[1] = NULL;
	CHECK_EQ(t_cstats(c).pages_used, (NFILES - 1) * per);
	for (int k = 0; k < NFILES; k++) {
		if (!f[k])
			continue;
		for (uint64_t p = 0; p < per; p++) {
			t_read_all(f[k], buf, ps, (int64_t)(p * ps), 0);
			CHECK_STAMP(buf, ps, p * ps, 50 + (uint64_t)k);
		}
	}
	/* file 1 was written back by its last close */
	for (uint64_t p = 0; p < per; p += 1 + per / 32) {
		t_stamp_fill(buf, ps, p * ps, 51);
		CHECK_KERNEL(path[1], buf, ps, p * ps);
	}
	/* reopen it: cold, then all readable again through the same cache */
	f[1] = t_open(c, path[1], O_RDWR);
	CHECK_EQ(t_fstats(f[1]).cached_pages, 0);
	for (uint64_t p = 0; p < per; p++) {
		t_read_all(f[1], buf, ps, (int64_t)(p * ps), CIO_RW_DIRECT);
		CHECK_STAMP(buf, ps, p * ps, 51);
	}
	for (int k = 0; k < NFILES; k++) {
		CHECK_EQ(cio_fsync(f[k]), 0);
		t_close(f[k]);
		t_scratch_remove(path[k]);
	}
	CHECK_EQ(t_cstats(c).pages_used, 0);
	t_destroy(c);
	free(buf);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		one_file(t_page_sizes[i]);
		shared_cache(t_page_sizes[i]);
	}
	return t_pass();
}
