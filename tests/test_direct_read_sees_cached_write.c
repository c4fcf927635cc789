/*
 * G2 - direct reads see cached writes.
 *
 * Cached writes X (no fsync) of unaligned, aligned, sub-page and extending
 * ranges; a direct read of the covering aligned range returns X. The direct
 * read writes the overlapping dirty pages back first: afterwards they are
 * still cached (a cached read of them is all hits, no misses) and clean
 * (dirty_pages == 0), the device holds X (plain kernel pread, still without
 * any fsync), and a cached read still returns X.
 */
#include "helpers.h"

#define NPAGES 8

struct wcase {
	const char *name;
	int64_t off;
	size_t len;
};

static void run(uint32_t ps)
{
	char *path = t_scratch_path("g2");
	const uint64_t seed_a = 1;
	int64_t fsize = (int64_t)NPAGES * ps;
	t_kernel_stamp_file(path, fsize, seed_a);

	size_t mlen = (size_t)(NPAGES + 2) * ps;
	uint8_t *model = t_alloc(mlen);
	t_stamp_fill(model, (size_t)fsize, 0, seed_a);
	uint8_t *buf = t_alloc(mlen), *x = t_alloc(mlen);

	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, path, O_RDWR);
	uint32_t lbs = t_lbs(f);
	CHECK(lbs <= ps);

	struct wcase cases[] = {
		{"unaligned, straddling pages", (int64_t)ps + 100, ps + 777},
		{"page aligned, two pages", 4 * (int64_t)ps, 2 * (size_t)ps},
		{"one logical block inside a page", 6 * (int64_t)ps + lbs, lbs},
		{"five bytes", 7 * (int64_t)ps + 3, 5},
		{"last byte of the file", fsize - 1, 1},
	};
	int64_t size = fsize;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		struct wcase *w = &cases[k];
		if (w->len == 0 || (w->len == lbs && lbs == ps))
			continue;
		t_ctx("ps=%u case '%s' off=%lld len=%zu", ps, w->name,
		      (long long)w->off, w->len);
		uint64_t seed_x = 100 + k;
		t_stamp_fill(x, w->len, (uint64_t)w->off, seed_x);
		t_write_all(f, x, w->len, w->off, 0);
		memcpy(model + w->off, x, w->len);

		struct cio_file_stats fs = t_fstats(f);
		CHECK_GE(fs.dirty_pages, 1);
		uint64_t cached_before = fs.cached_pages;

		/* 1. the smallest covering aligned range (logical blocks) */
		int64_t a = (int64_t)t_align_down((uint64_t)w->off, lbs);
		int64_t e = (int64_t)t_align_up((uint64_t)w->off + w->len, lbs);
		memset(buf, 0xee, (size_t)(e - a));
		t_read_all(f, buf, (size_t)(e - a), a, CIO_RW_DIRECT);
		CHECK_MEM(buf, model + a, (size_t)(e - a), a);

		fs = t_fstats(f);
		CHECK_EQ(fs.dirty_pages, 0);
		CHECK_EQ(fs.cached_pages, cached_before);

		/* The write-back reached the device (no fsync was done). */
		CHECK_KERNEL(path, model + a, (size_t)(e - a), a);

		/* 2. the covering page range, direct */
		int64_t pa = (int64_t)t_align_down((uint64_t)w->off, ps);
		int64_t pe = (int64_t)t_align_up((uint64_t)w->off + w->len, ps);
		memset(buf, 0xee, (size_t)(pe - pa));
		t_read_all(f, buf, (size_t)(pe - pa), pa, CIO_RW_DIRECT);
		CHECK_MEM(buf, model + pa, (size_t)(pe - pa), pa);

		/* 3. the pages are still cached: a cached read of them is
		 * served without a miss, and returns X. */
		struct cio_cache_stats s0 = t_cstats(c);
		memset(buf, 0xee, w->len);
		t_read_all(f, buf, w->len, w->off, 0);
		CHECK_MEM(buf, x, w->len, w->off);
		struct cio_cache_stats s1 = t_cstats(c);
		CHECK_EQ(s1.misses - s0.misses, 0);
		CHECK_GE(s1.hits - s0.hits, 1);
		CHECK_EQ(t_fstats(f).dirty_pages, 0);
		CHECK_EQ(cio_size(f), size);
	}

	/* An extending cached write past EOF: the direct read of the covering
	 * page returns the bytes up to the new EOF. */
	{
		int64_t off = fsize + 10;
		size_t len = 100;
		t_ctx("ps=%u extending cached write off=%lld len=%zu", ps,
		      (long long)off, len);
		t_stamp_fill(x, len, (uint64_t)off, 999);
		t_write_all(f, x, len, off, 0);
		memcpy(model + off, x, len);
		size = off + (int64_t)len;
		CHECK_EQ(cio_size(f), size);
		memset(buf, 0xee, ps);
		ssize_t r = cio_read(f, buf, ps, fsize, CIO_RW_DIRECT);
		CHECK_EQ(r, size - fsize);
		CHECK_MEM(buf, model + fsize, (size_t)(size - fsize), fsize);
		CHECK_EQ(t_fstats(f).dirty_pages, 0);
		CHECK_EQ(cio_size(f), size);
		memset(buf, 0xee, ps);
		r = cio_read(f, buf, ps, fsize, 0);
		CHECK_EQ(r, size - fsize);
		CHECK_MEM(buf, model + fsize, (size_t)(size - fsize), fsize);
	}

	/* Everything, every path. */
	t_ctx("ps=%u whole file", ps);
	memset(buf, 0xee, mlen);
	CHECK_EQ(cio_read(f, buf, mlen, 0, 0), size);
	CHECK_MEM(buf, model, (size_t)size, 0);
	memset(buf, 0xee, mlen);
	CHECK_EQ(cio_read(f, buf, mlen, 0, CIO_RW_DIRECT), size);
	CHECK_MEM(buf, model, (size_t)size, 0);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_EQ(t_kernel_size(path), size);
	CHECK_KERNEL(path, model, (size_t)size, 0);
	t_close(f);

	f = t_open(c, path, O_RDWR);
	CHECK_EQ(cio_size(f), size);
	memset(buf, 0xee, mlen);
	CHECK_EQ(cio_read(f, buf, mlen, 0, CIO_RW_DIRECT), size);
	CHECK_MEM(buf, model, (size_t)size, 0);
	t_close(f);
	t_destroy(c);
	free(model);
	free(buf);
	free(x);
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
