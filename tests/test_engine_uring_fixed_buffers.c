/*
 * The io_uring engine's registered (fixed) buffers move the right bytes:
 * after register_buffers() over a region, reads and writes whose one buffer
 * lies inside the region (READ_FIXED/WRITE_FIXED), buffers that straddle
 * its end or lie outside it, and vectored requests (READV/WRITEV) all
 * transfer correctly, buffered and O_DIRECT. A second registration is
 * -EBUSY; when the kernel refuses registration (RLIMIT_MEMLOCK) the engine
 * works on without it. Engines without the op answer -EOPNOTSUPP; the fault
 * engine forwards to its inner engine, and a cache whose frames are
 * registered reads and writes correctly on both paths. Skipped where the
 * kernel refuses a ring.
 */
#include "helpers.h"
#include "internal.h"

#include <sys/mman.h>
#include <sys/resource.h>

#define REG (2u << 20)

static ssize_t do_io(struct cio_engine *e, int op, int fd, struct iovec *iov,
                     int n, uint64_t off)
{
	struct cio_io io;
	memset(&io, 0, sizeof io);
	io.op = op;
	io.fd = fd;
	io.iov = iov;
	io.iovcnt = n;
	io.off = off;
	io.lbs = 512;
	return cio_engine_do(e, &io);
}

/* Write then read back through @e with buffers at @wbuf / @rbuf. */
static void roundtrip(struct cio_engine *e, int fd, const char *path,
                      uint8_t *wbuf, uint8_t *rbuf, size_t len, uint64_t off,
                      uint64_t seed, const char *what)
{
	struct iovec v = { wbuf, len };
	t_ctx("%s: len %zu off %llu", what, len, (unsigned long long)off);
	t_stamp_fill(wbuf, len, off, seed);
	CHECK_EQ(do_io(e, CIO_OP_WRITE, fd, &v, 1, off), (ssize_t)len);
	memset(rbuf, 0xee, len);
	v.iov_base = rbuf;
	CHECK_EQ(do_io(e, CIO_OP_READ, fd, &v, 1, off), (ssize_t)len);
	CHECK_STAMP(rbuf, len, off, seed);
	CHECK_EQ(do_io(e, CIO_OP_FDATASYNC, fd, NULL, 0, 0), 0);
	CHECK_KERNEL(path, wbuf, len, off);
}

/* A ring with a 3 MiB mapping whose first 2 MiB are offered for
 * registration; I/O with buffers inside, across the end, outside, and
 * vectored. */
static void engine_checks(int direct, int expect_registered)
{
	struct cio_engine *e;
	const char *what = direct ? "direct" : "buffered";
	char *path = t_scratch_path("fixed");
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | (direct ? O_DIRECT : 0), 0644);
	if (fd < 0 && direct && errno == EINVAL) {
		t_log("O_DIRECT unsupported in %s: direct part skipped",
		      t_scratch_dir());
		t_scratch_remove(path);
		return;
	}
	CHECKF(fd >= 0, "open(%s): %s", path, strerror(errno));
	uint8_t *m = mmap(NULL, REG + (1u << 20), PROT_READ | PROT_WRITE,
	                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(m != MAP_FAILED);
	uint8_t *heap = t_alloc(1u << 20);

	CHECK_EQ(cio_engine_uring_create(32, &e), 0);
	int reg = cio_engine_register_buffers(e, m, REG);
	t_log("%s: register_buffers(2 MiB) = %d (%s)", what, reg,
	      reg ? t_errname(reg) : "registered");
	if (expect_registered)
		CHECK_EQ(reg, 0);
	if (reg == 0)
		CHECK_EQ(cio_engine_register_buffers(e, m, REG), -EBUSY);
	else
		CHECKF(reg == -ENOMEM || reg == -EPERM || reg == -EFAULT ||
		       reg == -EOPNOTSUPP || reg == -EINVAL,
		       "register_buffers = %d", reg);
	CHECK_EQ(cio_engine_register_buffers(e, NULL, 0), -EINVAL);

	roundtrip(e, fd, path, m, m + (1u << 20), 65536, 0, 1, what);
	roundtrip(e, fd, path, m + 4096, m + REG - 65536, 65536, 65536, 2, what);
	/* half the registered region in one request, each way */
	roundtrip(e, fd, path, m, heap, REG / 2, 131072, 3, what);
	roundtrip(e, fd, path, heap, m + REG / 2, REG / 2, 131072, 4, what);
	/* straddling the end of the region: not fixed */
	roundtrip(e, fd, path, m + REG - 8192, heap, 16384, 8192, 5, what);
	roundtrip(e, fd, path, heap, m + REG - 4096, 16384, 8192, 8, what);
	/* outside it */
	roundtrip(e, fd, path, m + REG, heap, 65536, 4096, 6, what);

	/* vectored, segments inside and outside the region */
	t_ctx("%s: vectored", what);
	struct iovec v[3] = { { m, 4096 }, { m + 65536, 8192 }, { heap, 4096 } };
	t_stamp_fill(m, 4096, 0, 7);
	t_stamp_fill(m + 65536, 8192, 4096, 7);
	t_stamp_fill(heap, 4096, 12288, 7);
	CHECK_EQ(do_io(e, CIO_OP_WRITE, fd, v, 3, 0), 16384);
	uint8_t *back = t_alloc(16384);
	struct iovec one = { back, 16384 };
	CHECK_EQ(do_io(e, CIO_OP_READ, fd, &one, 1, 0), 16384);
	CHECK_STAMP(back, 16384, 0, 7);
	memset(m, 0xee, 4096);
	memset(m + 65536, 0xee, 8192);
	memset(heap, 0xee, 4096);
	CHECK_EQ(do_io(e, CIO_OP_READ, fd, v, 3, 0), 16384);
	CHECK_STAMP(m, 4096, 0, 7);
	CHECK_STAMP(m + 65536, 8192, 4096, 7);
	CHECK_STAMP(heap, 4096, 12288, 7);
	CHECK_EQ(do_io(e, CIO_OP_FSYNC, fd, NULL, 0, 0), 0);

	/* the region stays mapped until the engine is gone */
	e->ops->destroy(e);
	munmap(m, REG + (1u << 20));
	free(back);
	free(heap);
	close(fd);
	t_scratch_remove(path);
}

/* A cache on io_uring with the fault engine around it: the frames are
 * offered through the fault engine; both paths still move the right
 * bytes. */
static void cache_checks(void)
{
	struct cio_cache_opts o = t_opts(4096, 4ull << 20);
	o.engine = CIO_ENGINE_URING;
	o.fault_inject = 1;
	cio_cache *c = t_cache_opts(&o);
	int reg = cio_engine_register_buffers(c->c_engine, c->c_frames,
	                                      c->c_frames_len);
	/* -EBUSY: the cache registered them itself already */
	t_log("cache frames: register_buffers = %d (%s)", reg,
	      reg ? t_errname(reg) : "registered");
	CHECK_LE(reg, 0);
	char *path = t_scratch_path("fixed-cache");
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	size_t len = 8u << 20; /* twice the cache: eviction, write-back */
	uint8_t *buf = t_alloc(len), *back = t_alloc(len);
	t_ctx("cache");
	t_stamp_fill(buf, len, 0, 11);
	t_write_all(f, buf, len, 0, 0);
	t_stamp_fill(buf + 65536, 65536, 65536, 12);
	t_write_all(f, buf + 65536, 65536, 65536, CIO_RW_DIRECT);
	t_read_all(f, back, len, 0, 0);
	CHECK_MEM(back, buf, len, 0);
	memset(back, 0xee, len);
	t_read_all(f, back, len, 0, CIO_RW_DIRECT);
	CHECK_MEM(back, buf, len, 0);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_KERNEL(path, buf, len, 0);
	t_close(f);
	t_destroy(c);
	free(buf);
	free(back);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	struct cio_engine *e;
	struct rlimit rl;

	int r = cio_engine_uring_create(32, &e);
	if (r < 0)
		return t_skip("the kernel refuses a ring: %s", t_errname(r));
	e->ops->destroy(e);

	/* 2 MiB of registration fits the usual 8 MiB RLIMIT_MEMLOCK */
	CHECK_EQ(getrlimit(RLIMIT_MEMLOCK, &rl), 0);
	int expect = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= (8u << 20);
	engine_checks(0, expect);
	engine_checks(1, expect);
	cache_checks();

	/* engines without the op */
	CHECK_EQ(cio_engine_sync_create(&e), 0);
	CHECK_EQ(cio_engine_register_buffers(e, &r, sizeof r), -EOPNOTSUPP);
	e->ops->destroy(e);
	CHECK_EQ(cio_engine_threads_create(1, 1, &e), 0);
	CHECK_EQ(cio_engine_register_buffers(e, &r, sizeof r), -EOPNOTSUPP);
	e->ops->destroy(e);

	/* No locked memory allowed: registration may fail (it does unless
	 * we hold CAP_IPC_LOCK); the engine works on either way. */
	rl.rlim_cur = 0;
	if (setrlimit(RLIMIT_MEMLOCK, &rl) == 0) {
		engine_checks(0, 0);
		engine_checks(1, 0);
	}
	return t_pass();
}
