/*
 * pl_wrap.c - the libc calls of coherio itself.
 *
 * coherio is linked into this library (static), and its own open(),
 * pwritev(), fstat() ... would otherwise bind to our interposers: open() of a
 * served path would recurse into serving it. The link wraps them
 * (-Wl,--wrap=NAME, see CMakeLists.txt): coherio's references to NAME go to
 * __wrap_NAME here, which is always the real function. The test
 * preload_wraps_cover_library_calls checks that every interposed name the
 * library calls is wrapped. syscall is wrapped too: pl_aio.c's kernel calls
 * (and any of coherio's) must reach libc's, never pl_syscall.c's router.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

/* Declarations for -Wmissing-prototypes; the names exist only at link time. */
int __wrap_open(const char *path, int flags, ...);
int __wrap_openat(int dirfd, const char *path, int flags, ...);
int __wrap_close(int fd);
ssize_t __wrap_read(int fd, void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len);
ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off);
ssize_t __wrap_preadv(int fd, const struct iovec *iov, int n, off_t off);
ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t off);
off_t __wrap_lseek(int fd, off_t off, int whence);
int __wrap_fstat(int fd, struct stat *st);
int __wrap_stat(const char *path, struct stat *st);
int __wrap_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int __wrap_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx);
int __wrap_ftruncate(int fd, off_t len);
int __wrap_fallocate(int fd, int mode, off_t off, off_t len);
int __wrap_sync_file_range(int fd, off_t off, off_t nbytes, unsigned flags);
int __wrap_posix_fadvise(int fd, off_t off, off_t len, int advice);
int __wrap_fsync(int fd);
int __wrap_fdatasync(int fd);
int __wrap_ioctl(int fd, unsigned long req, ...);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
int __wrap_fcntl(int fd, int cmd, ...);
int __wrap_dup(int fd);
long __wrap_syscall(long nr, ...);

int __wrap_open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	unsigned mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(ap, unsigned) : 0;
	va_end(ap);
	pl_boot();
	return pl_real.open(path, flags, mode);
}

int __wrap_openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	unsigned mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? va_arg(ap, unsigned) : 0;
	va_end(ap);
	pl_boot();
	return pl_real.openat(dirfd, path, flags, mode);
}

int __wrap_close(int fd)
{
	pl_boot();
	return pl_real.close(fd);
}

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
	pl_boot();
	return pl_real.read(fd, buf, len);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
	pl_boot();
	return pl_real.write(fd, buf, len);
}

ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t off)
{
	pl_boot();
	return pl_real.pread(fd, buf, len, off);
}

ssize_t __wrap_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	pl_boot();
	return pl_real.pwrite(fd, buf, len, off);
}

ssize_t __wrap_preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	pl_boot();
	return pl_real.preadv(fd, iov, n, off);
}

ssize_t __wrap_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	pl_boot();
	return pl_real.pwritev(fd, iov, n, off);
}

off_t __wrap_lseek(int fd, off_t off, int whence)
{
	pl_boot();
	return pl_real.lseek(fd, off, whence);
}

int __wrap_fstat(int fd, struct stat *st)
{
	pl_boot();
	return pl_real.fstat(fd, st);
}

int __wrap_stat(const char *path, struct stat *st)
{
	pl_boot();
	return pl_real.stat(path, st);
}

int __wrap_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	pl_boot();
	return pl_real.fstatat(dirfd, path, st, flags);
}

int __wrap_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	pl_boot();
	return pl_real.statx(dirfd, path, flags, mask, stx);
}

int __wrap_ftruncate(int fd, off_t len)
{
	pl_boot();
	return pl_real.ftruncate(fd, len);
}

int __wrap_sync_file_range(int fd, off_t off, off_t nbytes, unsigned flags)
{
	pl_boot();
	return pl_real.sync_file_range(fd, off, nbytes, flags);
}

int __wrap_posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	pl_boot();
	return pl_real.posix_fadvise(fd, off, len, advice);
}

int __wrap_fallocate(int fd, int mode, off_t off, off_t len)
{
	pl_boot();
	return pl_real.fallocate(fd, mode, off, len);
}

int __wrap_fsync(int fd)
{
	pl_boot();
	return pl_real.fsync(fd);
}

int __wrap_fdatasync(int fd)
{
	pl_boot();
	return pl_real.fdatasync(fd);
}

int __wrap_ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	pl_boot();
	return pl_real.ioctl(fd, req, arg);
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	pl_boot();
	return pl_real.mmap(addr, len, prot, flags, fd, off);
}

int __wrap_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	pl_boot();
	return pl_real.fcntl(fd, cmd, arg);
}

int __wrap_dup(int fd)
{
	pl_boot();
	return pl_real.dup(fd);
}

PL_RAW_ARGS long __wrap_syscall(long nr, ...)
{
	long a[6];
	PL_SYSCALL_ARGS(a, nr);
	pl_boot();
	return pl_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
