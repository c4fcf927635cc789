/*
 * Eviction under pressure: a cache of 64 pages over a file of 1000 pages.
 *
 * Cached writes of every page (dirty, so eviction must write back), then a
 * few pages held pinned (three read pins and one write pin whose stores are
 * data) while a few thousand random operations run over the rest: cached
 * writes (aligned and unaligned, some straddling pages), cached reads, direct
 * reads and writes, each checked against a full shadow copy of the file.
 * Throughout: pinned pointers stay valid and their bytes intact, pages_used
 * <= pages_total, memory_bytes <= the budget. At the end evictions > 0 and,
 * after unpin + fsync, the whole file is correct on the cached and direct
 * paths and on the device.
 */
#include "helpers.h"

#define NPAGES 1000
#define CACHE_PAGES 64
#define NOPS 2000
#define NPINS 4

struct held {
	int64_t page;
	unsigned flags;
	cio_pin pin;
};

static int is_pinned(const struct held *h, int64_t first, int64_t last)
{
	for (int i = 0; i < NPINS; i++)
		if (h[i].page >= first && h[i].page <= last)
			return 1;
	return 0;
}

static void check_pins(const struct held *h, const uint8_t *model,
                       uint32_t ps)
{
	for (int i = 0; i < NPINS; i++) {
		CHECK_EQ(h[i].pin.nseg, 1);
		CHECK_EQ(h[i].pin.seg[0].iov_len, ps);
		CHECK_MEM((uint8_t *)h[i].pin.seg[0].iov_base,
		          model + h[i].page * ps, ps, h[i].page * ps);
	}
}

static void check_stats(cio_cache *c, uint64_t budget)
{
	struct cio_cache_stats s = t_cstats(c);
	CHECK_ULE(s.pages_used, s.pages_total);
	CHECK_ULE(s.pages_dirty, s.pages_used);
	CHECK_ULE(s.memory_bytes, budget);
	CHECK_ULE(s.pages_total * s.page_size, budget);
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("evict");
	size_t fsize = (size_t)NPAGES * ps;
	uint64_t budget = (uint64_t)CACHE_PAGES * ps;
	uint8_t *model = t_alloc(fsize);
	uint8_t *buf = t_alloc(4 * (size_t)ps);
	cio_cache *c = t_cache(ps, budget, 0);
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	uint32_t lbs = t_lbs(f);
	struct cio_cache_stats s0 = t_cstats(c);
	t_log("ps=%u: %llu pages total in a budget of %llu pages", ps,
	      (unsigned long long)s0.pages_total,
	      (unsigned long long)(budget / ps));
	CHECK_GE(s0.pages_total, 16);
	CHECK_LT(s0.pages_total, NPAGES);

	/* 1. fill the file with cached writes (all dirty) */
	t_ctx("ps=%u fill", ps);
	t_stamp_fill(model, fsize, 0, 1);
	for (int64_t p = 0; p < NPAGES; p++) {
		t_write_all(f, model + p * ps, ps, p * ps, 0);
		if (p % 100 == 0)
			check_stats(c, budget);
	}
	CHECK_EQ(cio_size(f), (int64_t)fsize);
	struct cio_cache_stats s1 = t_cstats(c);
	CHECK_GT(s1.evictions, 0);
	CHECK_GT(s1.writeback_pages, 0);

	/* 2. pins: three read pins and one write pin */
	t_ctx("ps=%u pins", ps);
	struct held h[NPINS] = {{10, 0, {0}}, {500, 0, {0}}, {999, 0, {0}},
	                        {700, CIO_PIN_WRITE, {0}}};
	for (int i = 0; i < NPINS; i++) {
		memset(&h[i].pin, 0, sizeof h[i].pin);
		int n = cio_pin_range(f, h[i].page * ps, ps, h[i].flags,
		                      &h[i].pin);
		CHECKF(n == 1, "pin of page %lld = %d (%s)", (long long)h[i].page,
		       n, t_errname(n));
		if (h[i].flags & CIO_PIN_WRITE) {
			t_stamp_fill(h[i].pin.seg[0].iov_base, ps,
			             (uint64_t)(h[i].page * ps), 2);
			memcpy(model + h[i].page * ps, h[i].pin.seg[0].iov_base,
			       ps);
		}
	}
	check_pins(h, model, ps);

	/* 3. random operations over the unpinned pages */
	uint64_t rs = t_rand_seed(ps);
	for (int op = 0; op < NOPS; op++) {
		unsigned kind = (unsigned)t_rand_below(&rs, 6);
		int64_t p = (int64_t)t_rand_below(&rs, NPAGES - 1);
		t_ctx("ps=%u op %d kind %u page %lld", ps, op, kind, (long long)p);
		if (is_pinned(h, p, p + 1)) /* ops touch at most pages p, p+1 */
			continue;
		int64_t off = p * ps;
		switch (kind) {
		case 0: { /* cached write, unaligned, may straddle p/p+1 */
			int64_t o = off + (int64_t)t_rand_below(&rs, ps);
			size_t len = 1 + (size_t)t_rand_below(&rs, ps);
			t_stamp_fill(model + o, len, (uint64_t)o, 100 + (uint64_t)op);
			t_write_all(f, model + o, len, o, 0);
			break;
		}
		case 1: /* cached write of a whole page */
			t_stamp_fill(model + off, ps, (uint64_t)off,
			             100 + (uint64_t)op);
			t_write_all(f, model + off, ps, off, 0);
			break;
		case 2: { /* cached read, unaligned */
			int64_t o = off + (int64_t)t_rand_below(&rs, ps);
			size_t len = 1 + (size_t)t_rand_below(&rs, ps);
			t_read_all(f, buf, len, o, 0);
			CHECK_MEM(buf, model + o, len, o);
			break;
		}
		case 3: { /* direct read of aligned blocks in p, p+1 */
			int64_t o = off + (int64_t)t_align_down(
			                          t_rand_below(&rs, ps), lbs);
			size_t len = lbs * (1 + (size_t)t_rand_below(&rs, ps / lbs));
			t_read_all(f, buf, len, o, CIO_RW_DIRECT);
			CHECK_MEM(buf, model + o, len, o);
			break;
		}
		case 4: { /* direct write of aligned blocks in p, p+1 */
			int64_t o = off + (int64_t)t_align_down(
			                          t_rand_below(&rs, ps), lbs);
			size_t len = lbs * (1 + (size_t)t_rand_below(&rs, ps / lbs));
			t_stamp_fill(buf, len, (uint64_t)o, 100 + (uint64_t)op);
			t_write_all(f, buf, len, o, CIO_RW_DIRECT);
			memcpy(model + o, buf, len);
			break;
		}
		default: /* sequential cached read of a few pages */
			if (is_pinned(h, p, p + 3) || p + 4 > NPAGES)
				break;
			t_read_all(f, buf, 4 * (size_t)ps, off, 0);
			CHECK_MEM(buf, model + off, 4 * (size_t)ps, off);
			break;
		}
		if (op % 250 == 0) {
			check_stats(c, budget);
			check_pins(h, model, ps);
		}
	}
	t_ctx("ps=%u after the random phase", ps);
	check_stats(c, budget);
	check_pins(h, model, ps);
	struct cio_cache_stats s2 = t_cstats(c);
	CHECK_GT(s2.evictions, s1.evictions);

	/* 4. unpin, fsync, verify everything */
	for (int i = 0; i < NPINS; i++)
		CHECK_EQ(cio_unpin(&h[i].pin), 0);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_EQ(t_fstats(f).dirty_pages, 0);
	CHECK_EQ(t_cstats(c).pages_dirty, 0);
	CHECK_KERNEL(path, model, fsize, 0);
	uint8_t *all = t_alloc(fsize);
	t_read_all(f, all, fsize, 0, 0);
	CHECK_MEM(all, model, fsize, 0);
	memset(all, 0, fsize);
	t_read_all(f, all, fsize, 0, CIO_RW_DIRECT);
	CHECK_MEM(all, model, fsize, 0);
	check_stats(c, budget);
	struct cio_cache_stats s3 = t_cstats(c);
	t_log("ps=%u: evictions %llu, write-backs %llu, hits %llu, misses %llu",
	      ps, (unsigned long long)s3.evictions,
	      (unsigned long long)s3.writeback_pages,
	      (unsigned long long)s3.hits, (unsigned long long)s3.misses);

	t_close(f);
	CHECK_EQ(t_cstats(c).pages_used, 0);
	t_destroy(c);
	free(all);
	free(model);
	free(buf);
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
