/*
 * G11 - bad input gets a clear error and changes nothing.
 *
 * A file of 3 pages + 100 bytes of known content; every rejected call is
 * followed by a check that the size and the content (cached path, direct
 * path, device) are unchanged and that no page is left dirty or pinned.
 * Covers misaligned direct I/O (offset, length, buffer), negative offsets,
 * sizes past CIO_MAX_FILE_SIZE and overflowing lengths, NULL buffers, reads
 * at/past EOF, unknown flags, bad open flags, writes on read-only handles,
 * negative/too-large truncates, bad pins, bad cache options, fault calls on a
 * cache without fault injection, destroy with open files, and (only in builds
 * with CIO_BUILD_HANDLE_CHECKS) use after close.
 */
#include "helpers.h"

#include <limits.h>

struct fx {
	cio_cache *c;
	cio_file *f;    /* O_RDWR */
	cio_file *ro;   /* O_RDONLY */
	cio_file *wo;   /* O_WRONLY */
	char *path;
	uint8_t *model;
	int64_t size;
	uint32_t ps, lbs, malign;
	uint8_t *buf;   /* aligned scratch, 4 pages */
};

#define UNCHANGED(fx) unchanged_at(fx, __LINE__)

static void unchanged_at(struct fx *x, int line)
{
	t_ctx("ps=%u unchanged-check after the call at line %d", x->ps, line);
	CHECK_EQ(cio_size(x->f), x->size);
	CHECK_EQ(cio_size(x->ro), x->size);
	struct cio_file_stats fs = t_fstats(x->f);
	CHECK_EQ(fs.size, x->size);
	CHECK_EQ(fs.dirty_pages, 0);
	size_t n = (size_t)x->size;
	memset(x->buf, 0xee, 4 * (size_t)x->ps);
	CHECK_EQ(cio_read(x->f, x->buf, 4 * (size_t)x->ps, 0, 0), x->size);
	CHECK_MEM(x->buf, x->model, n, 0);
	memset(x->buf, 0xee, 4 * (size_t)x->ps);
	CHECK_EQ(cio_read(x->ro, x->buf, 4 * (size_t)x->ps, 0, CIO_RW_DIRECT),
	         x->size);
	CHECK_MEM(x->buf, x->model, n, 0);
	CHECK_EQ(t_kernel_size(x->path), x->size);
	CHECK_KERNEL(x->path, x->model, n, 0);
	/* nothing is left pinned: a no-wait direct write of the same data and
	 * a no-wait write pin succeed */
	memcpy(x->buf, x->model, x->ps);
	CHECK_EQ(cio_write(x->f, x->buf, x->ps, 0,
	                   CIO_RW_DIRECT | CIO_RW_NOWAIT),
	         (ssize_t)x->ps);
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	CHECK_EQ(cio_pin_range(x->f, 0, (size_t)x->size, CIO_PIN_NOWAIT, &pin),
	         pin.nseg);
	CHECK_EQ(cio_unpin(&pin), 0);
	t_ctx("ps=%u after line %d", x->ps, line);
}

/* A misaligned direct call: -EINVAL from coherio's own check, before the
 * direct path (its call counters stay put) - not from the kernel's O_DIRECT
 * check, which a file on the buffered fallback would not make. */
#define DIO_REJECTED(call)                                                   \
	do {                                                                 \
		struct cio_cache_stats s0_ = t_cstats(x->c);                 \
		EXPECT_EQ((call), -EINVAL);                                  \
		struct cio_cache_stats s1_ = t_cstats(x->c);                 \
		CHECK_EQ(s1_.direct_reads, s0_.direct_reads);                \
		CHECK_EQ(s1_.direct_writes, s0_.direct_writes);              \
	} while (0)

static void rw_checks(struct fx *x)
{
	uint32_t lbs = x->lbs, ps = x->ps;
	uint8_t *b = x->buf;
	unsigned D = CIO_RW_DIRECT;

	/* ---- misaligned direct I/O: offset, length, buffer ---- */
	memset(b, 0x5a, 2 * (size_t)ps);
	if (lbs > 1) {
		DIO_REJECTED(cio_read(x->f, b, lbs, 1, D));
		DIO_REJECTED(cio_read(x->f, b, lbs, lbs / 2, D));
		DIO_REJECTED(cio_read(x->f, b, lbs + 1, 0, D));
		DIO_REJECTED(cio_read(x->f, b, lbs - 1, 0, D));
		DIO_REJECTED(cio_write(x->f, b, lbs, 1, D));
		UNCHANGED(x);
		DIO_REJECTED(cio_write(x->f, b, lbs, lbs / 2, D));
		UNCHANGED(x);
		DIO_REJECTED(cio_write(x->f, b, lbs + 1, 0, D));
		UNCHANGED(x);
		DIO_REJECTED(cio_write(x->f, b, 1, 0, D));
		UNCHANGED(x);
		/* misaligned extending direct write: size unchanged too */
		DIO_REJECTED(cio_write(x->f, b, lbs, x->size + 1, D));
		UNCHANGED(x);
	}
	if (x->malign > 1) {
		DIO_REJECTED(cio_read(x->f, b + 1, lbs, 0, D));
		DIO_REJECTED(cio_write(x->f, b + 1, lbs, 0, D));
		UNCHANGED(x);
		struct iovec iov[2] = {{b + 1, lbs}, {b + 2 * lbs, lbs}};
		DIO_REJECTED(cio_readv(x->f, iov, 2, 0, D));
		DIO_REJECTED(cio_writev(x->f, iov, 2, 0, D));
		UNCHANGED(x);
	}
	if (lbs > 1) {
		struct iovec iov[2] = {{b, lbs + 1}, {b + 2 * lbs, lbs - 1}};
		DIO_REJECTED(cio_readv(x->f, iov, 2, 0, D));
		DIO_REJECTED(cio_writev(x->f, iov, 2, 0, D));
		UNCHANGED(x);
	}

	/* ---- negative offsets ---- */
	EXPECT_EQ(cio_read(x->f, b, 10, -1, 0), -EINVAL);
	EXPECT_EQ(cio_read(x->f, b, lbs, -(int64_t)lbs, D), -EINVAL);
	EXPECT_EQ(cio_read(x->f, b, 10, INT64_MIN, 0), -EINVAL);
	EXPECT_EQ(cio_write(x->f, b, 10, -1, 0), -EINVAL);
	EXPECT_EQ(cio_write(x->f, b, lbs, -(int64_t)lbs, D), -EINVAL);
	EXPECT_EQ(cio_write(x->f, b, 10, INT64_MIN, 0), -EINVAL);
	{
		struct iovec iov[1] = {{b, 10}};
		EXPECT_EQ(cio_readv(x->f, iov, 1, -1, 0), -EINVAL);
		EXPECT_EQ(cio_writev(x->f, iov, 1, -1, 0), -EINVAL);
	}
	EXPECT_EQ(cio_invalidate(x->f, -1, 10, 0, NULL), -EINVAL);
	EXPECT_EQ(cio_invalidate(x->f, 0, -10, 0, NULL), -EINVAL);
	UNCHANGED(x);

	/* ---- past CIO_MAX_FILE_SIZE, overflowing lengths ---- */
	EXPECT_EQ(cio_write(x->f, b, 100, CIO_MAX_FILE_SIZE - 10, 0), -EFBIG);
	UNCHANGED(x);
	EXPECT_EQ(cio_write(x->f, b, 1, CIO_MAX_FILE_SIZE, 0), -EFBIG);
	UNCHANGED(x);
	EXPECT_EQ(cio_write(x->f, b, lbs, CIO_MAX_FILE_SIZE, D), -EFBIG);
	UNCHANGED(x);
	EXPECT_EQ(cio_write(x->f, b, 1, INT64_MAX, 0), -EFBIG);
	UNCHANGED(x);
	EXPECT_EQ(cio_read(x->f, b, 100, CIO_MAX_FILE_SIZE - 10, 0), -EFBIG);
	EXPECT_EQ(cio_read(x->f, b, lbs, CIO_MAX_FILE_SIZE, D), -EFBIG);
	{
		ssize_t r = cio_write(x->f, b, SIZE_MAX, 0, 0);
		EXPECTF(r == -EFBIG || r == -EINVAL, "write len SIZE_MAX = %zd (%s)",
		       r, t_errname(r));
		UNCHANGED(x);
		r = cio_write(x->f, b, SIZE_MAX - lbs + 1, 0, D);
		EXPECTF(r == -EFBIG || r == -EINVAL,
		       "direct write len SIZE_MAX-lbs+1 = %zd (%s)", r,
		       t_errname(r));
		UNCHANGED(x);
		r = cio_read(x->f, b, SIZE_MAX, 0, 0);
		EXPECTF(r == -EFBIG || r == -EINVAL, "read len SIZE_MAX = %zd (%s)",
		       r, t_errname(r));
		r = cio_read(x->f, b, (size_t)INT64_MAX, 10, 0);
		EXPECTF(r == -EFBIG || r == -EINVAL,
		       "read len INT64_MAX at 10 = %zd (%s)", r, t_errname(r));
		struct iovec iov[2] = {{b, SIZE_MAX / 2 + 1}, {b, SIZE_MAX / 2 + 1}};
		r = cio_writev(x->f, iov, 2, 0, 0);
		EXPECTF(r == -EFBIG || r == -EINVAL,
		       "writev with overflowing total = %zd (%s)", r, t_errname(r));
		UNCHANGED(x);
	}
	EXPECT_EQ(cio_truncate(x->f, CIO_MAX_FILE_SIZE + 1, 0), -EFBIG);
	UNCHANGED(x);

	/* ---- NULL buffers ---- */
	EXPECT_EQ(cio_read(x->f, NULL, 10, 0, 0), -EFAULT);
	EXPECT_EQ(cio_read(x->f, NULL, lbs, 0, D), -EFAULT);
	EXPECT_EQ(cio_write(x->f, NULL, 10, 0, 0), -EFAULT);
	EXPECT_EQ(cio_write(x->f, NULL, lbs, 0, D), -EFAULT);
	EXPECT_EQ(cio_write(x->f, NULL, 10, x->size, 0), -EFAULT);
	UNCHANGED(x);

	/* ---- reads at and past EOF ---- */
	EXPECT_EQ(cio_read(x->f, b, 10, x->size, 0), 0);
	EXPECT_EQ(cio_read(x->f, b, 10, x->size + 12345, 0), 0);
	EXPECT_EQ(cio_read(x->f, b, lbs,
	                  (int64_t)t_align_up((uint64_t)x->size, lbs), D),
	         0);
	EXPECT_EQ(cio_read(x->f, b, lbs, 1000 * (int64_t)ps, D), 0);
	EXPECT_EQ(cio_read(x->f, b, 0, 0, 0), 0);
	EXPECT_EQ(cio_read(x->f, b, 10, x->size - 4, 0), 4);
	CHECK_MEM(b, x->model + x->size - 4, 4, x->size - 4);
	UNCHANGED(x);

	/* ---- unknown flags ---- */
	for (unsigned bit = 3; bit < 32; bit++) {
		unsigned fl = 1u << bit;
		t_ctx("ps=%u unknown flag bit %u", ps, bit);
		EXPECT_EQ(cio_read(x->f, b, 10, 0, fl), -EINVAL);
		EXPECT_EQ(cio_write(x->f, b, 10, 0, fl), -EINVAL);
		EXPECT_EQ(cio_write(x->f, b, lbs, 0, fl | D), -EINVAL);
	}
	for (unsigned bit = 2; bit < 32; bit++) {
		cio_pin pin;
		memset(&pin, 0, sizeof pin);
		t_ctx("ps=%u unknown pin flag bit %u", ps, bit);
		EXPECT_EQ(cio_pin_range(x->f, 0, 10, 1u << bit, &pin), -EINVAL);
	}
	UNCHANGED(x);

	/* ---- handles not open for writing / reading ---- */
	EXPECT_EQ(cio_write(x->ro, b, 10, 0, 0), -EBADF);
	EXPECT_EQ(cio_write(x->ro, b, lbs, 0, D), -EBADF);
	EXPECT_EQ(cio_write(x->ro, b, 10, x->size, 0), -EBADF);
	{
		struct iovec iov[1] = {{b, 10}};
		EXPECT_EQ(cio_writev(x->ro, iov, 1, 0, 0), -EBADF);
	}
	{
		int rc = cio_truncate(x->ro, 0, 0);
		EXPECTF(rc == -EBADF || rc == -EINVAL,
		       "truncate on a read-only handle = %d (%s)", rc,
		       t_errname(rc));
		cio_pin pin;
		memset(&pin, 0, sizeof pin);
		rc = cio_pin_range(x->ro, 0, 10, CIO_PIN_WRITE, &pin);
		EXPECTF(rc == -EBADF || rc == -EINVAL,
		       "write pin on a read-only handle = %d (%s)", rc,
		       t_errname(rc));
	}
	UNCHANGED(x);
	EXPECT_EQ(cio_read(x->wo, b, 10, 0, 0), -EBADF);
	EXPECT_EQ(cio_read(x->wo, b, lbs, 0, D), -EBADF);
	UNCHANGED(x);

	/* ---- truncate ---- */
	EXPECT_EQ(cio_truncate(x->f, -1, 0), -EINVAL);
	EXPECT_EQ(cio_truncate(x->f, INT64_MIN, 0), -EINVAL);
	UNCHANGED(x);

	/* ---- pins ---- */
	{
		cio_pin pin;
		memset(&pin, 0, sizeof pin);
		EXPECT_EQ(cio_pin_range(x->f, 0, 0, 0, &pin), -EINVAL);
		EXPECT_EQ(cio_pin_range(x->f, 0, 0, CIO_PIN_WRITE, &pin), -EINVAL);
		EXPECT_EQ(cio_pin_range(x->f, -1, 10, 0, &pin), -EINVAL);
		EXPECT_EQ(cio_pin_range(x->f, -(int64_t)ps, 10, CIO_PIN_WRITE,
		                       &pin),
		         -EINVAL);
		EXPECT_EQ(cio_pin_range(x->f, x->size, 1, 0, &pin), -ENXIO);
		EXPECT_EQ(cio_pin_range(x->f, x->size + 10 * (int64_t)ps, 1, 0,
		                       &pin),
		         -ENXIO);
		EXPECT_EQ(cio_pin_range(x->f, 0, (size_t)x->size + 1, 0, &pin),
		         -ENXIO);
		EXPECT_EQ(cio_pin_range(x->f, 0, 10, 0, NULL), -EFAULT);
		EXPECT_EQ(cio_pin_range(x->f, CIO_MAX_FILE_SIZE, 1, CIO_PIN_WRITE,
		                       &pin),
		         -EFBIG);
		UNCHANGED(x);
		/* unpin of something that is not a live pin */
		memset(&pin, 0, sizeof pin);
		EXPECT_EQ(cio_unpin(&pin), -EINVAL);
		EXPECT_EQ(cio_pin_range(x->f, 0, 10, 0, &pin), 1);
		EXPECT_EQ(cio_unpin(&pin), 0);
		EXPECT_EQ(cio_unpin(&pin), -EINVAL);
		UNCHANGED(x);
	}

	/* ---- vectors ---- */
	{
		struct iovec iov[1] = {{b, 10}};
		EXPECT_EQ(cio_readv(x->f, iov, 0, 0, 0), -EINVAL);
		EXPECT_EQ(cio_writev(x->f, iov, 0, 0, 0), -EINVAL);
		EXPECT_EQ(cio_readv(x->f, iov, -1, 0, 0), -EINVAL);
		EXPECT_EQ(cio_writev(x->f, iov, IOV_MAX + 1, 0, 0), -EINVAL);
		ssize_t r = cio_readv(x->f, NULL, 1, 0, 0);
		EXPECTF(r == -EFAULT || r == -EINVAL, "readv(NULL) = %zd (%s)", r,
		       t_errname(r));
		r = cio_writev(x->f, NULL, 1, 0, 0);
		EXPECTF(r == -EFAULT || r == -EINVAL, "writev(NULL) = %zd (%s)", r,
		       t_errname(r));
		struct iovec nulliov[2] = {{b, 10}, {NULL, 10}};
		r = cio_writev(x->f, nulliov, 2, 0, 0);
		EXPECTF(r == -EFAULT || r == 10,
		       "writev with a NULL second buffer = %zd (%s)", r,
		       t_errname(r));
		if (r == 10) /* it wrote the first buffer: put the data back */
			t_write_all(x->f, x->model, 10, 0, 0);
		EXPECT_EQ(cio_fsync(x->f), 0);
		UNCHANGED(x);
	}

	/* ---- unknown flags of truncate and invalidate (last: these two
	 * calls' headers say "bad arguments" rather than listing flags) ---- */
	for (unsigned bit = 2; bit < 32; bit++) {
		t_ctx("ps=%u unknown invalidate flag bit %u", ps, bit);
		EXPECT_EQ(cio_invalidate(x->f, 0, 0, 1u << bit, NULL), -EINVAL);
	}
	for (unsigned bit = 1; bit < 32; bit++) {
		t_ctx("ps=%u unknown truncate flag bit %u", ps, bit);
		EXPECT_EQ(cio_truncate(x->f, x->size - 1, 1u << bit), -EINVAL);
		EXPECT_EQ(cio_size(x->f), x->size);
	}
	UNCHANGED(x);
}

static void cache_checks(uint32_t ps)
{
	cio_cache *c = NULL;
	struct cio_cache_opts o;
	uint32_t bad_ps[] = {3000, 2048, 1024, 4095, 4097, 12288,
	                     2u << 20, 0x80000000u};
	for (size_t i = 0; i < sizeof bad_ps / sizeof bad_ps[0]; i++) {
		t_ctx("cio_cache_create page_size %u", bad_ps[i]);
		o = t_opts(bad_ps[i], 0);
		c = (cio_cache *)(uintptr_t)1;
		EXPECT_EQ(cio_cache_create(&c, &o), -EINVAL);
	}
	t_ctx("cio_cache_create ps=%u tiny budget", ps);
	o = t_opts(ps, 8ull * ps);
	EXPECT_EQ(cio_cache_create(&c, &o), -EINVAL);
	o = t_opts(ps, 1);
	EXPECT_EQ(cio_cache_create(&c, &o), -EINVAL);
	o = t_opts(ps, 0);
	o.engine = 99;
	EXPECT_EQ(cio_cache_create(&c, &o), -EINVAL);
	o.engine = -1;
	EXPECT_EQ(cio_cache_create(&c, &o), -EINVAL);

	/* fault calls on a cache made without fault_inject */
	c = t_cache(ps, 0, 0);
	struct cio_fault_rule rule;
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_WRITE;
	rule.error = EIO;
	rule.count = 1;
	t_ctx("fault calls without fault_inject");
	EXPECT_EQ(cio_fault_add(c, &rule), -ENOTSUP);
	EXPECT_EQ(cio_fault_clear(c, -1), -ENOTSUP);
	EXPECT_EQ(cio_fault_fired(c, -1), -ENOTSUP);
	EXPECT_EQ(cio_cache_stats(c, NULL), -EINVAL);
	t_destroy(c);

	/* bad fault rules */
	c = t_cache(ps, 0, 1);
	t_ctx("bad fault rules");
	EXPECT_EQ(cio_fault_clear(c, 12345), -ENOENT);
	EXPECT_EQ(cio_fault_fired(c, 12345), -ENOENT);
	EXPECT_EQ(cio_fault_fired(c, -1), 0);
	t_destroy(c);

	/* strerror is never NULL */
	int errs[] = {0, -EIO, EIO, -EINVAL, -EBUSY, -ENOSPC, -99999, 99999,
	              INT_MIN};
	for (size_t i = 0; i < sizeof errs / sizeof errs[0]; i++)
		CHECK(cio_strerror(errs[i]) != NULL);
	CHECK(cio_version() != NULL);
}

static void open_checks(struct fx *x)
{
	cio_file *g = NULL;
	char *np = t_scratch_path("never");
	int bad[] = {O_RDWR | O_APPEND, O_RDWR | O_DIRECT, O_RDWR | O_NONBLOCK,
	             O_RDWR | O_SYNC, O_RDWR | O_DIRECTORY, O_RDWR | O_TMPFILE,
	             O_RDWR | O_NOFOLLOW, O_RDWR | O_ASYNC, O_ACCMODE,
	             O_RDWR | O_CREAT | O_APPEND, O_WRONLY | O_CREAT | O_DIRECT,
	             O_RDWR | O_CREAT | O_PATH};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		t_ctx("cio_open flags 0x%x", bad[i]);
		EXPECT_EQ(cio_open(x->c, np, bad[i], 0644, &g), -EINVAL);
		/* rejected before touching the file system */
		EXPECT_EQ(t_kernel_size(np), -ENOENT);
		EXPECT_EQ(cio_open(x->c, x->path, bad[i], 0644, &g), -EINVAL);
	}
	t_ctx("cio_open NULLs");
	EXPECT_EQ(cio_open(x->c, NULL, O_RDWR, 0644, &g), -EFAULT);
	EXPECT_EQ(cio_open(x->c, x->path, O_RDWR, 0644, NULL), -EFAULT);
	EXPECT_EQ(cio_open(x->c, np, O_RDWR, 0644, &g), -ENOENT);
	EXPECT_EQ(cio_open(x->c, x->path, O_RDWR | O_CREAT | O_EXCL, 0644, &g),
	         -EEXIST);
	UNCHANGED(x);
	t_scratch_remove(np);
}

static void use_after_close_checks(struct fx *x)
{
	if (!(cio_build_flags() & CIO_BUILD_HANDLE_CHECKS)) {
		t_log("ps=%u: library built without handle checks: use after close"
		      " not tested",
		      x->ps);
		return;
	}
	t_ctx("ps=%u use after close", x->ps);
	cio_file *h = t_open(x->c, x->path, O_RDWR);
	t_close(h);
	/* another handle is opened after the close: it must not be hit */
	cio_file *g = t_open(x->c, x->path, O_RDWR);
	uint8_t *b = x->buf;
	memset(b, 0x77, x->ps);
	EXPECT_EQ(cio_close(h), -EBADF);
	EXPECT_EQ(cio_read(h, b, 10, 0, 0), -EBADF);
	EXPECT_EQ(cio_write(h, b, 10, 0, 0), -EBADF);
	EXPECT_EQ(cio_write(h, b, x->lbs, 0, CIO_RW_DIRECT), -EBADF);
	EXPECT_EQ(cio_size(h), -EBADF);
	EXPECT_EQ(cio_fsync(h), -EBADF);
	EXPECT_EQ(cio_fdatasync(h), -EBADF);
	EXPECT_EQ(cio_truncate(h, 0, 0), -EBADF);
	EXPECT_EQ(cio_invalidate(h, 0, 0, 0, NULL), -EBADF);
	struct cio_file_stats fs;
	EXPECT_EQ(cio_file_stats(h, &fs), -EBADF);
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	EXPECT_EQ(cio_pin_range(h, 0, 10, 0, &pin), -EBADF);
	EXPECT_EQ(cio_pin_range(h, 0, 10, CIO_PIN_WRITE, &pin), -EBADF);
	struct iovec iov[1] = {{b, 10}};
	EXPECT_EQ(cio_writev(h, iov, 1, 0, 0), -EBADF);
	EXPECT_EQ(cio_readv(h, iov, 1, 0, 0), -EBADF);
	UNCHANGED(x);
	EXPECT_EQ(cio_size(g), x->size);
	t_close(g);
}

static void run(uint32_t ps)
{
	struct fx x;
	memset(&x, 0, sizeof x);
	x.ps = ps;
	x.path = t_scratch_path("g11");
	x.size = 3 * (int64_t)ps + 100;
	x.model = t_alloc((size_t)x.size);
	t_stamp_fill(x.model, (size_t)x.size, 0, 11);
	t_kernel_stamp_file(x.path, x.size, 11);
	x.buf = t_alloc(4 * (size_t)ps);
	x.c = t_cache(ps, 0, 0);
	x.f = t_open(x.c, x.path, O_RDWR);
	x.ro = t_open(x.c, x.path, O_RDONLY);
	x.wo = t_open(x.c, x.path, O_WRONLY);
	x.lbs = t_lbs(x.f);
	x.malign = t_memalign(x.f);
	t_log("ps=%u: logical block %u, memory alignment %u, direct_io %d", ps,
	      x.lbs, x.malign, t_fstats(x.f).direct_io);
	UNCHANGED(&x);

	rw_checks(&x);
	open_checks(&x);
	use_after_close_checks(&x);

	/* destroy with open files: -EBUSY, nothing freed, still usable */
	t_ctx("ps=%u destroy with open files", ps);
	EXPECT_EQ(cio_cache_destroy(x.c), -EBUSY);
	UNCHANGED(&x);
	t_close(x.wo);
	t_close(x.ro);
	t_close(x.f);
	t_destroy(x.c);
	free(x.model);
	free(x.buf);
	t_scratch_remove(x.path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		cache_checks(t_page_sizes[i]);
		run(t_page_sizes[i]);
	}
	return t_pass();
}
