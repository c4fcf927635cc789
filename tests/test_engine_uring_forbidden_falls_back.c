/*
 * Where the kernel forbids io_uring (as container seccomp profiles do), a
 * cache made with CIO_ENGINE_AUTO falls back to the thread pool and works;
 * an explicit io_uring request fails instead of being silently replaced.
 *
 * The test installs a seccomp filter (raw BPF, no libseccomp) that makes
 * io_uring_setup fail with EPERM for this process, checks that the
 * filter works, then with COHERIO_ENGINE unset: an AUTO cache reports the
 * "threads" engine and moves data right on the cached and the direct path
 * (with fsync, checked against the kernel's view); CIO_ENGINE_URING makes
 * cio_cache_create fail with -EPERM; COHERIO_ENGINE=uring does too,
 * COHERIO_ENGINE=threads and =sync choose those, and an unknown value is
 * -EINVAL.
 */
#include "helpers.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#if defined(__x86_64__)
#define T_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define T_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define T_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__riscv) && __riscv_xlen == 64
#define T_AUDIT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define T_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define T_AUDIT_ARCH AUDIT_ARCH_S390X
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif

/* 0, or -errno when no filter could be installed. */
static int forbid_io_uring(void)
{
#ifdef T_AUDIT_ARCH
	struct sock_filter prog[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, T_AUDIT_ARCH, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog fprog = { (unsigned short)(sizeof prog / sizeof prog[0]), prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0)
		return -errno;
	return 0;
#else
	return -ENOTSUP;
#endif
}

static void move_bytes(cio_cache *c, uint32_t ps)
{
	char *path = t_scratch_path("nouring");
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	uint32_t lbs = t_lbs(f);
	size_t len = 8 * (size_t)ps;
	uint8_t *want = t_alloc(len), *buf = t_alloc(len);

	t_ctx("ps=%u", ps);
	/* cached write of the whole span, unaligned tail */
	t_stamp_fill(want, len, 0, 1);
	t_write_all(f, want, len - 100, 0, 0);
	/* direct write over the middle */
	t_stamp_fill(want + 2 * ps, 2 * ps, 2 * (uint64_t)ps, 2);
	t_write_all(f, want + 2 * ps, 2 * ps, 2 * (int64_t)ps, CIO_RW_DIRECT);
	/* cached write over a direct-written block */
	t_stamp_fill(want + 2 * ps + 10, 50, 2 * (uint64_t)ps + 10, 3);
	t_write_all(f, want + 2 * ps + 10, 50, 2 * (int64_t)ps + 10, 0);
	memset(want + len - 100, 0, 100);

	memset(buf, 0xee, len);
	t_read_all(f, buf, len - 100, 0, 0);
	CHECK_MEM(buf, want, len - 100, 0);
	CHECK_EQ(cio_fsync(f), 0);
	memset(buf, 0xee, len);
	size_t dlen = t_align_down(len - 100, lbs);
	t_read_all(f, buf, dlen, 0, CIO_RW_DIRECT);
	CHECK_MEM(buf, want, dlen, 0);
	CHECK_EQ(cio_invalidate(f, 0, 0, 0, NULL), 0);
	memset(buf, 0xee, len);
	t_read_all(f, buf, len - 100, 0, 0);
	CHECK_MEM(buf, want, len - 100, 0);
	CHECK_EQ(cio_fdatasync(f), 0);
	CHECK_KERNEL(path, want, len - 100, 0);
	t_close(f);
	free(want);
	free(buf);
	t_scratch_remove(path);
}

static int create_rc(int engine)
{
	struct cio_cache_opts o = t_opts(4096, 4ull << 20);
	cio_cache *c = NULL;
	o.engine = engine;
	int rc = cio_cache_create(&c, &o);
	if (rc == 0) {
		CHECK(c != NULL);
		t_destroy(c);
	} else {
		CHECK(c == NULL);
	}
	return rc;
}

static const char *engine_name(int engine)
{
	struct cio_cache_opts o = t_opts(4096, 4ull << 20);
	o.engine = engine;
	cio_cache *c = t_cache_opts(&o);
	static char name[32];
	snprintf(name, sizeof name, "%s", t_cstats(c).engine);
	t_destroy(c);
	return name;
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	int r = forbid_io_uring();
	if (r < 0)
		return t_skip("cannot install a seccomp filter: %s", t_errname(r));
	long s = syscall(__NR_io_uring_setup, 4, NULL);
	CHECKF(s < 0 && errno == EPERM,
	       "io_uring_setup under the filter: %ld errno %d", s, errno);

	CHECK_EQ(unsetenv("COHERIO_ENGINE"), 0);
	CHECK(!strcmp(engine_name(CIO_ENGINE_AUTO), "threads"));
	for (int fault = 0; fault < 2; fault++) {
		for (int i = 0; i < T_NPAGE_SIZES; i++) {
			struct cio_cache_opts o = t_opts(t_page_sizes[i], 4ull << 20);
			o.fault_inject = fault;
			cio_cache *c = t_cache_opts(&o);
			CHECK(!strcmp(t_cstats(c).engine, "threads"));
			move_bytes(c, t_page_sizes[i]);
			t_destroy(c);
		}
	}

	/* Explicit requests are not silently replaced. */
	CHECK_EQ(create_rc(CIO_ENGINE_URING), -EPERM);
	CHECK_EQ(setenv("COHERIO_ENGINE", "uring", 1), 0);
	CHECK_EQ(create_rc(CIO_ENGINE_AUTO), -EPERM);
	CHECK_EQ(setenv("COHERIO_ENGINE", "threads", 1), 0);
	CHECK(!strcmp(engine_name(CIO_ENGINE_AUTO), "threads"));
	CHECK_EQ(setenv("COHERIO_ENGINE", "sync", 1), 0);
	CHECK(!strcmp(engine_name(CIO_ENGINE_AUTO), "sync"));
	/* An explicit option wins over the environment. */
	CHECK(!strcmp(engine_name(CIO_ENGINE_THREADS), "threads"));
	CHECK_EQ(setenv("COHERIO_ENGINE", "io_uring", 1), 0);
	CHECK_EQ(create_rc(CIO_ENGINE_AUTO), -EINVAL);
	CHECK_EQ(unsetenv("COHERIO_ENGINE"), 0);
	CHECK(!strcmp(engine_name(CIO_ENGINE_SYNC), "sync"));
	return t_pass();
}
