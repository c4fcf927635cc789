/*
 * G3(a) - a direct write never loses a dirty cached block next to it, and a
 * stale cached page is never written back over direct-written data.
 *
 * Cached write X into the first logical block of page P (P cached, dirty),
 * then a direct write Y of a different block of P (the last one, and in a
 * second round the one right after X). Then:
 *   round "invalidate": cio_invalidate(whole file) == 0, then cached and
 *           direct reads show both X and Y (and the rest of P unchanged);
 *   round "close":      last close (which writes dirty pages back), reopen,
 *           cached and direct reads show both;
 *   round "fsync":      cio_fsync, then the kernel's plain pread shows both;
 *           after close/reopen too.
 */
#include "helpers.h"

#define NPAGES 4
#define P 1

/* Cached and pinned reads only: neither writes anything back, so a dirty
 * page stays dirty. */
static void check_cached_paths(cio_file *f, const uint8_t *model, size_t len,
                               uint8_t *buf)
{
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	int n = cio_pin_range(f, 0, len, 0, &pin);
	CHECKF(n >= 1, "read pin = %d (%s)", n, t_errname(n));
	int64_t o = 0;
	for (int s = 0; s < pin.nseg; s++) {
		CHECK_MEM((uint8_t *)pin.seg[s].iov_base, model + o,
		          pin.seg[s].iov_len, o);
		o += (int64_t)pin.seg[s].iov_len;
	}
	CHECK_EQ(o, (int64_t)len);
	CHECK_EQ(cio_unpin(&pin), 0);
}

static void check_all_paths(cio_file *f, const uint8_t *model, size_t len,
                            uint8_t *buf)
{
	check_cached_paths(f, model, len, buf);
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, CIO_RW_DIRECT);
	CHECK_MEM(buf, model, len, 0);
	check_cached_paths(f, model, len, buf);
}

enum round { R_INVALIDATE, R_CLOSE, R_FSYNC, R_NROUNDS };
static const char *round_name[] = {"invalidate", "close", "fsync"};

static void run_round(uint32_t ps, enum round rd, int y_adjacent)
{
	char *path = t_scratch_path("g3a");
	const uint64_t seed_z = 7;
	size_t fsize = (size_t)NPAGES * ps;
	t_kernel_stamp_file(path, (int64_t)fsize, seed_z);
	uint8_t *model = t_alloc(fsize), *buf = t_alloc(fsize);
	t_stamp_fill(model, fsize, 0, seed_z);

	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, path, O_RDWR);
	uint32_t lbs = t_lbs(f);
	if (ps / lbs < 2) {
		t_log("ps=%u: logical block size %u, no second block in a page",
		      ps, lbs);
		t_close(f);
		t_destroy(c);
		free(model);
		free(buf);
		t_scratch_remove(path);
		return;
	}
	t_ctx("ps=%u lbs=%u round=%s Y=%s", ps, lbs, round_name[rd],
	      y_adjacent ? "adjacent block" : "last block");

	int64_t p_off = (int64_t)P * ps;
	/* X: cached write of block 0 of P. */
	size_t xlen = lbs < 512 ? lbs : 512;
	uint8_t *x = t_alloc(lbs);
	t_stamp_fill(x, xlen, (uint64_t)p_off, 1001);
	t_write_all(f, x, xlen, p_off, 0);
	memcpy(model + p_off, x, xlen);
	CHECK_EQ(t_fstats(f).dirty_pages, 1);

	/* Y: direct write of another logical block of P. */
	int64_t y_off = p_off + (int64_t)(y_adjacent ? lbs : ps - lbs);
	uint8_t *y = t_alloc(lbs);
	t_stamp_fill(y, lbs, (uint64_t)y_off, 2002);
	t_write_all(f, y, lbs, y_off, CIO_RW_DIRECT);
	memcpy(model + y_off, y, lbs);

	/* Before dropping anything, the cached and pinned paths agree (a
	 * direct read here would write P back; the rounds below must also
	 * work while P may still be dirty). */
	check_cached_paths(f, model, fsize, buf);
	uint64_t dirty = t_fstats(f).dirty_pages;
	CHECK_LE(dirty, 1);

	switch (rd) {
	case R_INVALIDATE: {
		struct cio_inval_result res;
		memset(&res, 0xa5, sizeof res);
		int rc = cio_invalidate(f, 0, 0, 0, &res);
		CHECK_EQ(rc, 0);
		CHECK_EQ(res.kept, 0);
		CHECK_EQ(res.first_kept, -1);
		CHECK_EQ(res.laundered, dirty);
		CHECK_EQ(res.dropped, NPAGES);
		struct cio_file_stats fs = t_fstats(f);
		CHECK_EQ(fs.cached_pages, 0);
		CHECK_EQ(fs.dirty_pages, 0);
		check_all_paths(f, model, fsize, buf);
		/* and once more from a cold cache, direct first */
		CHECK_EQ(cio_invalidate(f, 0, 0, 0, NULL), 0);
		memset(buf, 0xee, fsize);
		t_read_all(f, buf, fsize, 0, CIO_RW_DIRECT);
		CHECK_MEM(buf, model, fsize, 0);
		break;
	}
	case R_CLOSE:
		t_close(f);
		f = t_open(c, path, O_RDWR);
		check_all_paths(f, model, fsize, buf);
		break;
	case R_FSYNC:
		CHECK_EQ(cio_fsync(f), 0);
		CHECK_KERNEL(path, model, fsize, 0);
		t_close(f);
		CHECK_KERNEL(path, model, fsize, 0);
		f = t_open(c, path, O_RDWR);
		check_all_paths(f, model, fsize, buf);
		break;
	default:
		break;
	}
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_KERNEL(path, model, fsize, 0);
	t_close(f);
	t_destroy(c);
	/* A fresh cache sees the same. */
	c = t_cache(ps, 0, 0);
	f = t_open(c, path, O_RDONLY);
	check_all_paths(f, model, fsize, buf);
	t_close(f);
	t_destroy(c);
	free(x);
	free(y);
	free(model);
	free(buf);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		for (int rd = 0; rd < R_NROUNDS; rd++)
			for (int adj = 0; adj < 2; adj++)
				run_round(t_page_sizes[i], (enum round)rd, adj);
	return t_pass();
}
