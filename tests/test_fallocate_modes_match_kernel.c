/*
 * cio_fallocate() follows Linux's fallocate(2): every mode, on a file with
 * dirty cached pages, gives the same size, bytes and error codes as the
 * kernel on a reference file given the same calls (G3: dirty bytes outside
 * a punched or zeroed range survive; G11: a refused call changes nothing).
 *
 * Steps, each on both files, then compared (size; every byte on the cached
 * path; at the end, after fsync, every byte on the device): stamped cached
 * writes over 12 pages (dirty); reserve past the end with KEEP_SIZE; reserve
 * growing the size; punch a hole over parts of three dirty pages; zero a
 * range across page boundaries; zero past the end (grows); a direct write of
 * a block inside the punched hole; collapse one file-system block (data
 * moves down across cached pages); insert one (a hole moves the data up);
 * more cached writes over the shifted data. Collapse and insert skip when
 * the file system lacks them (the kernel's EOPNOTSUPP, compared too).
 * Bad input, each compared with the kernel's errno and followed by the full
 * comparison: len 0, negative offset, PUNCH_HOLE without KEEP_SIZE,
 * PUNCH_HOLE|ZERO_RANGE, COLLAPSE with KEEP_SIZE, collapse misaligned,
 * collapse reaching the end, insert at the end, an unknown mode bit, past
 * the largest size (coherio's -EFBIG), and a read-only handle (-EBADF).
 * Last, G7: a punch over a page another thread holds pinned waits for the
 * unpin.
 */
#include "helpers.h"

#include <linux/falloc.h>
#include <pthread.h>
#include <sys/stat.h>

#define NPAGES 12

struct pair {
	cio_file *f;        /* through coherio                          */
	int kfd;            /* the reference: a plain kernel descriptor */
	char *path, *kpath;
	uint32_t ps, bs;    /* page size, file system block size        */
	uint64_t seed;
};

static int kernel_fallocate(int fd, int mode, int64_t off, int64_t len)
{
	return fallocate(fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static void compare(struct pair *p, const char *what)
{
	t_ctx("page size %u: after %s", p->ps, what);
	struct stat st;
	CHECK_EQ(fstat(p->kfd, &st), 0);
	CHECK_EQ(cio_size(p->f), st.st_size);
	size_t n = (size_t)st.st_size;
	uint8_t *want = t_alloc(n + 1), *got = t_alloc(n + 1);
	CHECK_EQ(pread(p->kfd, want, n, 0), (ssize_t)n);
	if (n)
		t_read_all(p->f, got, n, 0, 0);
	CHECK_MEM(got, want, n, 0);
	free(want);
	free(got);
}

static void both_write(struct pair *p, int64_t off, size_t len, unsigned flags)
{
	uint8_t *buf = t_alloc(len);
	t_stamp_fill(buf, len, (uint64_t)off, ++p->seed);
	t_write_all(p->f, buf, len, off, flags);
	CHECK_EQ(pwrite(p->kfd, buf, len, off), (ssize_t)len);
	free(buf);
}

/* The same call on both: equal results; returns the result. */
static int both_fallocate(struct pair *p, int mode, int64_t off, int64_t len, const char *what)
{
	t_ctx("page size %u: %s (mode 0x%x, %lld + %lld)", p->ps, what, mode, (long long)off,
	      (long long)len);
	int k = kernel_fallocate(p->kfd, mode, off, len);
	int r = cio_fallocate(p->f, mode, off, len);
	CHECKF(r == k, "%s: coherio %s, kernel %s", what, t_errname(r), t_errname(k));
	compare(p, what);
	return r;
}

struct pinner {
	cio_file *f;
	int64_t off;
	atomic_int punched;
};

static void *punch_thread(void *arg)
{
	struct pinner *pn = arg;
	CHECK_EQ(cio_fallocate(pn->f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pn->off, 512), 0);
	atomic_store(&pn->punched, 1);
	return NULL;
}

/* G7: the punch of a pinned page waits for the unpin. */
static void punch_waits_for_pin(struct pair *p)
{
	t_ctx("page size %u: punch of a pinned page", p->ps);
	cio_pin pin;
	struct pinner pn = { p->f, 0, 0 };
	CHECK_GT(cio_pin_range(p->f, 0, 512, 0, &pin), 0);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, punch_thread, &pn), 0);
	t_sleep_ms(100);
	CHECK_EQ(atomic_load(&pn.punched), 0);
	CHECK_EQ(cio_unpin(&pin), 0);
	pthread_join(t, NULL);
	CHECK_EQ(atomic_load(&pn.punched), 1);
	CHECK_EQ(kernel_fallocate(p->kfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 512), 0);
	compare(p, "punch of a pinned page");
}

static void bad_input(struct pair *p)
{
	int64_t size = cio_size(p->f);
	int kp = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
	both_fallocate(p, 0, 0, 0, "len 0");
	both_fallocate(p, 0, -4096, 4096, "negative offset");
	both_fallocate(p, FALLOC_FL_PUNCH_HOLE, 0, 4096, "punch without KEEP_SIZE");
	both_fallocate(p, kp | FALLOC_FL_ZERO_RANGE, 0, 4096, "punch and zero");
	both_fallocate(p, FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE, 0, p->bs,
	               "collapse with KEEP_SIZE");
	both_fallocate(p, FALLOC_FL_INSERT_RANGE | FALLOC_FL_KEEP_SIZE, 0, p->bs,
	               "insert with KEEP_SIZE");
	both_fallocate(p, 0x4000, 0, 4096, "unknown mode bit");
	if (both_fallocate(p, FALLOC_FL_COLLAPSE_RANGE, 0, p->bs, "collapse probe") != -EOPNOTSUPP) {
		both_fallocate(p, FALLOC_FL_COLLAPSE_RANGE, 512, p->bs, "collapse misaligned");
		size = cio_size(p->f);
		both_fallocate(p, FALLOC_FL_COLLAPSE_RANGE, 0, t_align_up((uint64_t)size, p->bs),
		               "collapse reaching the end");
		both_fallocate(p, FALLOC_FL_INSERT_RANGE, t_align_up((uint64_t)size, p->bs), p->bs,
		               "insert at the end");
	}
	t_ctx("page size %u: coherio-only refusals", p->ps);
	EXPECT_EQ(cio_fallocate(p->f, 0, CIO_MAX_FILE_SIZE, 1), -EFBIG);
	EXPECT_EQ(cio_fallocate(p->f, 0, INT64_MAX - 10, 100), -EFBIG);
	EXPECT_EQ(cio_fallocate(p->f, FALLOC_FL_KEEP_SIZE | CIO_FALLOC_POSIX, 0, 4096), -EINVAL);
	EXPECT_EQ(cio_fallocate(NULL, 0, 0, 4096), -EBADF);
	compare(p, "coherio-only refusals");
}

static void run(uint32_t ps)
{
	struct pair p;
	memset(&p, 0, sizeof p);
	p.ps = ps;
	cio_cache *c = t_cache(ps, 0, 0);
	p.path = t_scratch_path("fmodes");
	p.kpath = t_scratch_path("fmodes-ref");
	p.f = t_open(c, p.path, O_RDWR | O_CREAT | O_TRUNC);
	p.kfd = open(p.kpath, O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK_GE(p.kfd, 0);
	struct stat st;
	CHECK_EQ(fstat(p.kfd, &st), 0);
	p.bs = (uint32_t)st.st_blksize;
	int kp = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
	int64_t P = ps;

	both_write(&p, 0, (size_t)(NPAGES * P) - 333, 0);
	compare(&p, "cached writes");
	both_fallocate(&p, FALLOC_FL_KEEP_SIZE, 0, 20 * P, "reserve, keep size");
	both_fallocate(&p, 0, NPAGES * P - 1000, 5000, "reserve, grow");
	both_fallocate(&p, kp, P + 100, 2 * P + 500, "punch over dirty pages");
	both_fallocate(&p, FALLOC_FL_ZERO_RANGE, 5 * P - 7, P + 9000, "zero across pages");
	both_fallocate(&p, FALLOC_FL_ZERO_RANGE, cio_size(p.f) - 10, 3 * P, "zero past the end");
	both_fallocate(&p, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, cio_size(p.f) - 10, 3 * P,
	               "zero past the end, keep size");
	uint32_t lbs = t_lbs(p.f);
	both_write(&p, (int64_t)t_align_up((uint64_t)P + 100, lbs), lbs, CIO_RW_DIRECT);
	compare(&p, "direct write into the hole");
	if (both_fallocate(&p, FALLOC_FL_COLLAPSE_RANGE, p.bs, p.bs, "collapse") == 0) {
		both_write(&p, 3 * P - 50, 200, 0);
		both_fallocate(&p, FALLOC_FL_COLLAPSE_RANGE, 4 * (int64_t)p.bs, 2 * (int64_t)p.bs,
		               "collapse across dirty pages");
		both_fallocate(&p, FALLOC_FL_INSERT_RANGE, 2 * (int64_t)p.bs, p.bs, "insert");
		both_write(&p, 2 * (int64_t)p.bs + 10, 100, 0);
		both_fallocate(&p, FALLOC_FL_INSERT_RANGE, 0, 3 * (int64_t)p.bs, "insert at 0");
	} else {
		t_log("page size %u: collapse/insert not supported here (both EOPNOTSUPP)", ps);
	}
	both_write(&p, 7 * P + 3, 5000, 0);
	compare(&p, "cached writes after the shifts");
	bad_input(&p);
	punch_waits_for_pin(&p);

	/* read-only handle: -EBADF, nothing changed */
	cio_file *ro = t_open(c, p.path, O_RDONLY);
	EXPECT_EQ(cio_fallocate(ro, 0, 0, 4 * P), -EBADF);
	EXPECT_EQ(cio_fallocate(ro, kp, 0, P), -EBADF);
	t_close(ro);
	compare(&p, "read-only handle");

	/* the device, after fsync, holds the reference's bytes */
	CHECK_EQ(cio_fsync(p.f), 0);
	CHECK_EQ(fstat(p.kfd, &st), 0);
	CHECK_EQ(t_kernel_size(p.path), st.st_size);
	uint8_t *want = t_alloc((size_t)st.st_size);
	CHECK_EQ(pread(p.kfd, want, (size_t)st.st_size, 0), st.st_size);
	CHECK_KERNEL(p.path, want, (size_t)st.st_size, 0);
	free(want);

	close(p.kfd);
	t_close(p.f);
	t_destroy(c);
	t_scratch_remove(p.path);
	t_scratch_remove(p.kpath);
}

int main(void)
{
	t_init("fallocate_modes_match_kernel", 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
