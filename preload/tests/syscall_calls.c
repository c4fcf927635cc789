/*
 * syscall_calls.c - file system calls made through libc's syscall() (as
 * xfstests' fsx makes copy_file_range) agree with the libc entry points on
 * a served file: the preload library routes them to the same code
 * (pl_syscall.c). Each check is ordered so that a call reaching the
 * kernel's file behind the cache fails it (a cached dirty page the kernel
 * has not seen, a cached clean page the kernel changed under it, a size
 * only the cache knows).
 *
 * And a program's own io_uring ring is refused while files are served
 * (COHERIO_URING unset or "refuse": ENOSYS, both through syscall() and
 * through liburing's inline system call), allowed with COHERIO_URING=allow
 * and on the kernel; coherio's own ring (COHERIO_ENGINE=uring) stays.
 *
 * Usage: syscall_calls DIR kernel|coherio|linked
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tcommon.h"

#include <limits.h>
#include <liburing.h>
#include <linux/io_uring.h>
#include <sys/uio.h>
#include <sys/wait.h>

static const char *dir;
static int coherio_mode;

static int open_file(const char *name, int flags)
{
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	int fd = open(p, O_CREAT | O_RDWR | flags, 0644);
	if (fd < 0)
		DIE("open %s", p);
	return fd;
}

static off_t fstat_size(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	return st.st_size;
}

/* raw pwrite64 then libc pread, and libc pwrite then raw pread64 */
static void test_rw(void)
{
	char buf[8192], got[8192];
	int fd = open_file("rw", 0);
	CHECK(!coherio_mode || t_is_served(fd), "the file is served");
	t_fill(buf, sizeof(buf), 1, 0);
	CHECK(pwrite(fd, buf, sizeof(buf), 0) == (ssize_t)sizeof(buf), "libc pwrite");
	/* the page is cached now: a raw write the kernel took would leave it
	 * stale for the libc read */
	CHECK(pread(fd, got, sizeof(got), 0) == (ssize_t)sizeof(got), "libc pread");
	t_fill(buf, 4096, 2, 0);
	CHECK(syscall(SYS_pwrite64, fd, buf, 4096, 4096) == 4096, "raw pwrite64: %s", strerror(errno));
	CHECK(pread(fd, got, 4096, 4096) == 4096 && t_verify(got, 4096, 2, 0) < 0,
	      "libc pread sees the raw pwrite64");
	/* a libc write the cache holds (not written back): the raw read sees it */
	t_fill(buf, 4096, 3, 0);
	CHECK(pwrite(fd, buf, 4096, 0) == 4096, "libc pwrite");
	memset(got, 0, sizeof(got));
	CHECK(syscall(SYS_pread64, fd, got, 4096, 0) == 4096 && t_verify(got, 4096, 3, 0) < 0,
	      "raw pread64 sees the libc pwrite");
	/* raw write/read at the file position, raw lseek */
	CHECK(syscall(SYS_lseek, fd, 8192, SEEK_SET) == 8192, "raw lseek SEEK_SET");
	t_fill(buf, 100, 4, 0);
	CHECK(syscall(SYS_write, fd, buf, 100) == 100, "raw write");
	CHECK(lseek(fd, 0, SEEK_CUR) == 8292, "libc lseek sees the raw write's position");
	CHECK(syscall(SYS_lseek, fd, 0, SEEK_END) == 8292, "raw lseek SEEK_END: the cache's size");
	CHECK(fstat_size(fd) == 8292, "libc fstat size %lld", (long long)fstat_size(fd));
	CHECK(syscall(SYS_lseek, fd, 8192, SEEK_SET) == 8192, "raw lseek");
	memset(got, 0, 100);
	CHECK(syscall(SYS_read, fd, got, 100) == 100 && t_verify(got, 100, 4, 0) < 0, "raw read");
	/* vectored forms */
	struct iovec iov[2] = { { buf, 50 }, { buf + 50, 50 } };
	t_fill(buf, 100, 5, 0);
	CHECK(syscall(SYS_pwritev, fd, iov, 2, 9000, 0) == 100, "raw pwritev");
	memset(got, 0, 100);
	CHECK(pread(fd, got, 100, 9000) == 100 && t_verify(got, 100, 5, 0) < 0,
	      "libc pread sees the raw pwritev");
	struct iovec riov[1] = { { got, 100 } };
	memset(got, 0, 100);
	CHECK(syscall(SYS_preadv2, fd, riov, 1, 9000, 0, 0) == 100 && t_verify(got, 100, 5, 0) < 0,
	      "raw preadv2");
	/* bad descriptor: -1 and errno, as glibc's syscall() */
	CHECK_ERR(syscall(SYS_pread64, -5, got, 1, 0), EBADF);
	/* read on a descriptor open for writing only: EBADF, as the kernel */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/rw", dir);
	int wfd = (int)syscall(SYS_openat, AT_FDCWD, p, O_WRONLY, 0);
	CHECK(wfd >= 0, "raw openat: %s", strerror(errno));
	CHECK(!coherio_mode || t_is_served(wfd), "a raw openat'ed descriptor is served");
	CHECK_ERR(syscall(SYS_read, wfd, got, 1), EBADF);
	CHECK(syscall(SYS_close, wfd) == 0, "raw close");
	/* mmap of a served file: refused as through libc (ENODEV) */
	void *m = (void *)syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (coherio_mode) {
		CHECK(m == MAP_FAILED && errno == ENODEV, "raw mmap of a served file: ENODEV");
	} else {
		CHECK(m != MAP_FAILED, "raw mmap on the kernel");
	}
	if (m != MAP_FAILED)
		munmap(m, 4096);
	close(fd);
}

/* raw copy_file_range past the end of file: size and data (fsx's failure) */
static void test_copy_file_range(void)
{
	char buf[20000], got[20000];
	int src = open_file("cfr-src", 0), dst = open_file("cfr-dst", 0);
	t_fill(buf, sizeof(buf), 6, 0);
	CHECK(write(src, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "write src");
	t_fill(buf, 5000, 7, 0);
	CHECK(write(dst, buf, 5000) == 5000, "write dst"); /* a size the cache holds */
	loff_t in = 1000, out = 70000;
	ssize_t n = syscall(SYS_copy_file_range, src, &in, dst, &out, 12000, 0);
	CHECK(n == 12000, "raw copy_file_range = %zd (%s)", n, strerror(errno));
	CHECK(in == 13000 && out == 82000, "offsets advanced: %lld %lld", (long long)in, (long long)out);
	CHECK(fstat_size(dst) == 82000, "fstat after the copy past EOF: %lld",
	      (long long)fstat_size(dst));
	struct stat st;
	CHECK(syscall(SYS_fstat, dst, &st) == 0 && st.st_size == 82000, "raw fstat size");
	memset(got, 0, sizeof(got));
	CHECK(pread(dst, got, 12000, 70000) == 12000 && t_verify(got, 12000, 6, 1000) < 0,
	      "the copied data");
	CHECK(pread(dst, got, 5000, 0) == 5000 && t_verify(got, 5000, 7, 0) < 0, "the data before");
	char zero[100] = { 0 };
	CHECK(pread(dst, got, 100, 60000) == 100 && !memcmp(got, zero, 100), "the hole reads zeros");
	/* at the file positions (NULL offsets) */
	CHECK(lseek(src, 0, SEEK_SET) == 0 && lseek(dst, 0, SEEK_END) == 82000, "lseek");
	n = syscall(SYS_copy_file_range, src, NULL, dst, NULL, 100, 0);
	CHECK(n == 100 && fstat_size(dst) == 82100, "copy at the positions: %zd size %lld", n,
	      (long long)fstat_size(dst));
	/* sendfile from the served file */
	off_t so = 0;
	int d2 = open_file("cfr-dst2", 0);
	CHECK(syscall(SYS_sendfile, d2, dst, &so, 5000) == 5000 && so == 5000, "raw sendfile");
	CHECK(pread(d2, got, 5000, 0) == 5000 && t_verify(got, 5000, 7, 0) < 0, "sendfile's data");
	close(d2);
	/* onto an O_DIRECT description (fsx -Z): the copy takes any buffer */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/cfr-direct", dir);
	unlink(p);
	int dd = open(p, O_CREAT | O_RDWR | O_DIRECT, 0644);
	if (dd < 0) {
		t_log("%s refuses O_DIRECT (%s): the O_DIRECT copy is not checked", dir, strerror(errno));
	} else {
		in = 0;
		out = 8192;
		n = syscall(SYS_copy_file_range, src, &in, dd, &out, 8192, 0);
		CHECK(n == 8192, "raw copy_file_range onto O_DIRECT = %zd (%s)", n, strerror(errno));
		CHECK(fstat_size(dd) == 16384, "O_DIRECT copy size %lld", (long long)fstat_size(dd));
		close(dd);
		int rd = open(p, O_RDONLY);
		CHECK(rd >= 0 && pread(rd, got, 8192, 8192) == 8192 && t_verify(got, 8192, 6, 0) < 0,
		      "the data copied onto O_DIRECT");
		close(rd);
	}
	close(src);
	close(dst);
}

static void test_size_calls(void)
{
	char buf[4096], got[4096];
	int fd = open_file("size", 0);
	t_fill(buf, sizeof(buf), 8, 0);
	CHECK(write(fd, buf, sizeof(buf)) == 4096, "write");
	CHECK(syscall(SYS_ftruncate, fd, 100000) == 0, "raw ftruncate up");
	CHECK(fstat_size(fd) == 100000, "size after raw ftruncate up: %lld", (long long)fstat_size(fd));
	CHECK(syscall(SYS_ftruncate, fd, 1000) == 0, "raw ftruncate down");
	CHECK(fstat_size(fd) == 1000, "size after raw ftruncate down: %lld", (long long)fstat_size(fd));
	CHECK(pread(fd, got, 4096, 0) == 1000 && t_verify(got, 1000, 8, 0) < 0, "data kept below");
	CHECK(syscall(SYS_fallocate, fd, 0, 0, 50000) == 0, "raw fallocate: %s", strerror(errno));
	CHECK(fstat_size(fd) == 50000, "size after raw fallocate: %lld", (long long)fstat_size(fd));
	CHECK(syscall(SYS_fallocate, fd, FALLOC_FL_KEEP_SIZE, 0, 90000) == 0, "raw fallocate KEEP_SIZE");
	CHECK(fstat_size(fd) == 50000, "KEEP_SIZE keeps the size");
	CHECK(syscall(SYS_lseek, fd, 0, SEEK_END) == 50000, "raw lseek SEEK_END");
	CHECK(syscall(SYS_fsync, fd) == 0 && syscall(SYS_fdatasync, fd) == 0, "raw fsync/fdatasync");
	CHECK(syscall(SYS_fadvise64, fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "raw fadvise64");
	CHECK_ERR(syscall(SYS_fadvise64, fd, 0, 0, 999), EINVAL);
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/size", dir);
	CHECK(syscall(SYS_truncate, p, 3000) == 0, "raw truncate");
	CHECK(fstat_size(fd) == 3000, "size after raw truncate: %lld", (long long)fstat_size(fd));
	struct stat st;
	CHECK(syscall(SYS_newfstatat, AT_FDCWD, p, &st, 0) == 0 && st.st_size == 3000,
	      "raw newfstatat size");
	/* dup of a served descriptor shares the description */
	int d = (int)syscall(SYS_dup, fd);
	CHECK(d >= 0 && lseek(fd, 10, SEEK_SET) == 10 && lseek(d, 0, SEEK_CUR) == 10, "raw dup");
	int d3 = (int)syscall(SYS_dup3, fd, 200, O_CLOEXEC);
	CHECK(d3 == 200 && lseek(d3, 0, SEEK_CUR) == 10, "raw dup3");
	int fl = (int)syscall(SYS_fcntl, fd, F_GETFL);
	CHECK(fl >= 0 && (fl & O_ACCMODE) == O_RDWR, "raw fcntl F_GETFL");
	close(d3);
	close(d);
	close(fd);
}

/* Does this process hold an io_uring descriptor? */
static int have_ring_fd(void)
{
	char p[64], l[256];
	for (int i = 3; i < 1024; i++) {
		snprintf(p, sizeof(p), "/proc/self/fd/%d", i);
		ssize_t n = readlink(p, l, sizeof(l) - 1);
		if (n > 0) {
			l[n] = '\0';
			if (strstr(l, "io_uring"))
				return 1;
		}
	}
	return 0;
}

static void test_uring(void)
{
	const char *v = getenv("COHERIO_URING");
	int refuse = coherio_mode && !(v && !strcmp(v, "allow"));
	const char *eng = getenv("COHERIO_ENGINE");
	if (coherio_mode && eng && !strcmp(eng, "uring")) {
		/* coherio's own ring, made by the served I/O above. Does the
		 * kernel give rings at all? Ask with coherio's own entry count,
		 * which the filter lets by (the documented gap, pl_uring.c). */
		struct io_uring probe;
		if (io_uring_queue_init(127, &probe, 0) == 0) {
			io_uring_queue_exit(&probe);
			CHECK(have_ring_fd(), "coherio's cache kept its io_uring ring");
		} else {
			t_log("the kernel refuses io_uring here: coherio's own ring not checked");
		}
	}
	struct io_uring_params par;
	memset(&par, 0, sizeof(par));
	errno = 0;
	long fd = syscall(SYS_io_uring_setup, 8, &par);
	int e = errno;
	if (!coherio_mode && fd < 0 && (e == ENOSYS || e == EPERM)) {
		t_log("the kernel refuses io_uring here (%s): ring checks not done", strerror(e));
		return;
	}
	if (refuse)
		CHECK(fd == -1 && e == ENOSYS, "raw io_uring_setup refused: %ld (%s)", fd, strerror(e));
	else
		CHECK(fd >= 0, "raw io_uring_setup allowed: %s", strerror(e));
	if (fd >= 0)
		close((int)fd);
	struct io_uring ring;
	int r = io_uring_queue_init(8, &ring, 0);
	if (refuse)
		CHECK(r == -ENOSYS, "liburing io_uring_queue_init refused: %d", r);
	else
		CHECK(r == 0, "liburing io_uring_queue_init allowed: %d", r);
	if (r == 0)
		io_uring_queue_exit(&ring);
	/* a child inherits the refusal (the filter survives fork and exec) */
	pid_t pid = fork();
	if (pid == 0) {
		struct io_uring cr;
		int cr_r = io_uring_queue_init(8, &cr, 0);
		_exit(refuse ? cr_r != -ENOSYS : cr_r != 0);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the forked child sees the same answer");
}

int main(int argc, char **argv)
{
	t_name = "syscall_calls";
	if (argc != 3)
		DIE("usage: syscall_calls DIR kernel|coherio|linked");
	dir = argv[1];
	coherio_mode = strcmp(argv[2], "kernel") != 0;
	t_linked = !strcmp(argv[2], "linked");
	t_mkdir(dir);
	/* pass-through: a number the preload library does not route */
	CHECK(syscall(SYS_getpid) == getpid(), "raw getpid");
	CHECK_ERR(syscall(SYS_close, -1), EBADF);
	test_rw();
	test_copy_file_range();
	test_size_calls();
	test_uring();
	return t_finish();
}
