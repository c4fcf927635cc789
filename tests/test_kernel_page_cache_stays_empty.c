/*
 * coherio never leaves pages of a file it opened O_DIRECT in the kernel's
 * page cache. A kernel page there is what makes a later O_DIRECT write fail
 * to invalidate it, after which Linux logs "Page cache invalidation failure
 * on direct I/O" and fails every fsync of the file with -EIO (issue 13,
 * point 1). ftruncate, fallocate's punch and zero, and collapse/insert all
 * zero partial file-system blocks through the kernel's page cache; coherio
 * must write those pages back and drop them while it still owns the range.
 *
 * After each kind of operation coherio does, the file's pages resident in
 * the kernel's page cache are counted with mincore() on a read-only shared
 * mapping (which itself faults nothing in): the count must be 0. A control
 * shows the probe works: a buffered pwrite through a plain descriptor
 * makes the count non-zero. Skipped where the file system refuses
 * O_DIRECT (coherio falls back to the kernel's page cache there by design).
 * On some kernels ftruncate and fallocate leave no such pages at all (6.18
 * ext4: a standalone probe - O_DIRECT writes, then ftruncate, punch, zero,
 * collapse - shows 0 pages with mincore and fincore), and there the test
 * guards only against coherio itself doing buffered I/O on the file; on
 * kernels that zero through the page cache it also catches a missing
 * cio_kernel_cache_drop().
 */
#include "helpers.h"

#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>

#define SPAN (4u << 20) /* the probe looks at this much of the file */

/* Pages of @path's first SPAN bytes in the kernel's page cache. */
static long kernel_cached_pages(const char *path)
{
	int fd = open(path, O_RDONLY);
	CHECK_GE(fd, 0);
	long psz = sysconf(_SC_PAGESIZE);
	void *m = mmap(NULL, SPAN, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);
	unsigned char vec[SPAN / 4096];
	CHECK_EQ(mincore(m, SPAN, vec), 0);
	long n = 0;
	for (size_t i = 0; i < SPAN / (size_t)psz; i++)
		n += vec[i] & 1;
	munmap(m, SPAN);
	close(fd);
	return n;
}

static void expect_empty(const char *path, const char *after)
{
	long n = kernel_cached_pages(path);
	EXPECTF(n == 0, "after %s: %ld page(s) of the file in the kernel's page cache", after, n);
}

static void run(uint32_t ps)
{
	t_ctx("page size %u", ps);
	cio_cache *c = t_cache(ps, 0, 0);
	char *path = t_scratch_path("kpc");
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_TRUNC);
	if (!t_fstats(f).direct_io) {
		t_close(f);
		t_destroy(c);
		t_scratch_remove(path);
		return;
	}
	uint32_t lbs = t_lbs(f);
	size_t big = 64 * (size_t)ps;
	uint8_t *buf = t_alloc(big);
	t_stamp_fill(buf, big, 0, 1);
	expect_empty(path, "open");

	t_write_all(f, buf, big, 0, 0);
	CHECK_EQ(cio_fsync(f), 0);
	expect_empty(path, "cached writes + fsync");
	t_write_all(f, buf, 3 * lbs, (int64_t)big, CIO_RW_DIRECT);
	expect_empty(path, "an extending direct write");
	t_read_all(f, buf, 2 * lbs, lbs, CIO_RW_DIRECT);
	expect_empty(path, "a direct read");
	t_write_all(f, buf, 1000, (int64_t)big + 3 * lbs + 77, 0);
	CHECK_EQ(cio_fsync(f), 0);
	expect_empty(path, "an unaligned extending cached write + fsync (trim)");
	CHECK_EQ(cio_truncate(f, (int64_t)big / 2 + 123, 0), 0);
	expect_empty(path, "truncate down to an unaligned size");
	CHECK_EQ(cio_truncate(f, (int64_t)big + 5555, 0), 0);
	expect_empty(path, "truncate up");
	CHECK_EQ(cio_fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 1000, 3 * (int64_t)ps), 0);
	expect_empty(path, "fallocate punch (unaligned)");
	CHECK_EQ(cio_fallocate(f, FALLOC_FL_ZERO_RANGE, 5 * (int64_t)ps + 9, 2 * (int64_t)ps), 0);
	expect_empty(path, "fallocate zero range (unaligned)");
	CHECK_EQ(cio_fallocate(f, 0, 0, (int64_t)big * 2 + 17), 0);
	expect_empty(path, "fallocate growing the size");
	struct stat st;
	CHECK_EQ(stat(path, &st), 0);
	int64_t fsb = st.st_blksize;
	int r = cio_fallocate(f, FALLOC_FL_COLLAPSE_RANGE, fsb, fsb);
	CHECK(r == 0 || r == -EOPNOTSUPP);
	expect_empty(path, "fallocate collapse");
	r = cio_fallocate(f, FALLOC_FL_INSERT_RANGE, fsb, 2 * fsb);
	CHECK(r == 0 || r == -EOPNOTSUPP);
	expect_empty(path, "fallocate insert");
	t_write_all(f, buf, 5000, 12345, 0);
	CHECK_EQ(cio_invalidate(f, 0, 0, CIO_INVAL_WAIT, NULL), 0);
	expect_empty(path, "invalidate (laundering)");
	t_read_all(f, buf, big / 2, 0, 0);
	expect_empty(path, "cached reads (fills and readahead)");
	t_write_all(f, buf, 777, 3, 0);
	t_close(f);
	expect_empty(path, "the last close");

	/* the probe sees what a buffered write leaves there */
	int kfd = open(path, O_RDWR);
	CHECK_GE(kfd, 0);
	CHECK_EQ(pwrite(kfd, buf, 8192, 0), 8192);
	CHECKF(kernel_cached_pages(path) > 0, "control: a buffered pwrite is not seen by the probe");
	close(kfd);

	free(buf);
	t_destroy(c);
	t_scratch_remove(path);
}

int main(void)
{
	t_init("kernel_page_cache_stays_empty", 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
