/*
 * pl_syscall.c - libc's syscall() function in libcoherio-preload.so.
 *
 * A program that calls syscall(SYS_copy_file_range, ...) (xfstests' fsx
 * does), syscall(SYS_pwrite64, ...) or any other file system call through
 * libc's syscall() would reach the kernel's file behind the cache. The
 * numbers of the calls this library serves through libc entry points are
 * routed here to the same code (pl_posix.c, pl_aio.c), with syscall()'s
 * convention kept: -1 and errno on error (glibc's syscall() turns the
 * kernel's -errno into that). Every other number goes to libc's syscall()
 * unchanged: one switch and one indirect call, no lock, no allocation.
 *
 * What this does not catch: system calls made inline, not through libc's
 * syscall() (statically linked programs, Go, liburing): see
 * docs/syscalls.md.
 *
 * Re-entry: nothing here calls syscall(). coherio itself and pl_aio.c's
 * kernel calls reach libc's syscall() through the link's --wrap=syscall
 * (pl_wrap.c), never this function.
 *
 * No state, no locks of its own.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/syscall.h>
#include <unistd.h>

_Static_assert(sizeof(long) == 8, "syscall() routing assumes 64-bit arguments (one offset per register)");

/* pl_aio.c's libaio entry points (libaio's convention: -errno). Their
 * context and iocb types are opaque here. */
int io_setup(int nr, void **ctxp);
int io_destroy(void *ctx);
int io_submit(void *ctx, long nr, void **ios);
int io_getevents(void *ctx, long min_nr, long nr, void *events, struct timespec *timeout);
int io_pgetevents(void *ctx, long min_nr, long nr, void *events, struct timespec *timeout,
                  sigset_t *sigmask);
int io_cancel(void *ctx, void *cb, void *evt);

/* The kernel's io_pgetevents signal argument. */
struct pl_aio_sigset {
	const sigset_t *sigmask;
	size_t sigsetsize;
};

static long aio_pgetevents(long a[6])
{
	const struct pl_aio_sigset *us = (const struct pl_aio_sigset *)a[5];
	sigset_t *mask = us ? (sigset_t *)us->sigmask : NULL;
	return pl_ret(io_pgetevents((void *)a[0], a[1], a[2], (void *)a[3],
	                            (struct timespec *)a[4], mask));
}

/* The error number of posix_fadvise as syscall()'s -1 and errno. */
static long errno_ret(int e)
{
	if (e) {
		errno = e;
		return -1;
	}
	return 0;
}

#define FD(i)   ((int)a[i])
#define PTR(i)  ((void *)a[i])
#define OFF(i)  ((off_t)a[i])
#define SZ(i)   ((size_t)a[i])
#define IOV(i)  ((const struct iovec *)a[i])

PL_EXPORT PL_RAW_ARGS long syscall(long nr, ...)
{
	long a[6];
	PL_SYSCALL_ARGS(a, nr);
	pl_boot();
	switch (nr) {
	case SYS_read:     return pl_fd_read(FD(0), PTR(1), SZ(2));
	case SYS_write:    return pl_fd_write(FD(0), PTR(1), SZ(2));
	case SYS_pread64:  return pl_fd_pread(FD(0), PTR(1), SZ(2), OFF(3));
	case SYS_pwrite64: return pl_fd_pwrite(FD(0), PTR(1), SZ(2), OFF(3));
	case SYS_readv:    return pl_rwv(FD(0), IOV(1), (int)a[2], 0, 0, true, false, 0);
	case SYS_writev:   return pl_rwv(FD(0), IOV(1), (int)a[2], 0, 0, true, true, 0);
	/* (fd, iov, cnt, pos_l, pos_h[, flags]): pos_l is the whole offset */
	case SYS_preadv:   return pl_rwv(FD(0), IOV(1), (int)a[2], OFF(3), 0, false, false, 1);
	case SYS_pwritev:  return pl_rwv(FD(0), IOV(1), (int)a[2], OFF(3), 0, false, true, 1);
	case SYS_preadv2:  return pl_rwv(FD(0), IOV(1), (int)a[2], OFF(3), (int)a[5], false, false, 2);
	case SYS_pwritev2: return pl_rwv(FD(0), IOV(1), (int)a[2], OFF(3), (int)a[5], false, true, 2);
	case SYS_lseek:    return pl_fd_lseek(FD(0), OFF(1), (int)a[2]);
	case SYS_fstat:    return pl_fstat(FD(0), PTR(1));
#ifdef SYS_stat
	case SYS_stat:     return pl_fstatat(AT_FDCWD, PTR(0), PTR(1), 0);
	case SYS_lstat:    return pl_fstatat(AT_FDCWD, PTR(0), PTR(1), AT_SYMLINK_NOFOLLOW);
#endif
	case SYS_newfstatat: return pl_fstatat(FD(0), PTR(1), PTR(2), (int)a[3]);
	case SYS_statx:    return pl_statx(FD(0), PTR(1), (int)a[2], (unsigned)a[3], PTR(4));
	case SYS_ftruncate: return pl_ftruncate(FD(0), OFF(1));
	case SYS_truncate: return pl_truncate(PTR(0), OFF(1));
	case SYS_fallocate: return pl_fallocate(FD(0), (int)a[1], OFF(2), OFF(3));
	case SYS_fsync:    return pl_fsync(FD(0), false);
	case SYS_fdatasync: return pl_fsync(FD(0), true);
	case SYS_sync_file_range:
		return pl_sync_file_range(FD(0), OFF(1), OFF(2), (unsigned)a[3]);
	case SYS_fadvise64: return errno_ret(pl_fadvise(FD(0), OFF(1), OFF(2), (int)a[3]));
	case SYS_copy_file_range:
		return pl_copy_file_range(FD(0), PTR(1), FD(2), PTR(3), SZ(4), (unsigned)a[5]);
	case SYS_sendfile: return pl_sendfile(FD(0), FD(1), PTR(2), SZ(3));
	case SYS_close:    return pl_fd_close(FD(0));
	case SYS_dup:      return pl_fd_dup(FD(0));
#ifdef SYS_dup2
	case SYS_dup2:     return pl_dup3(FD(0), FD(1), 0, false);
#endif
	case SYS_dup3:     return pl_dup3(FD(0), FD(1), (int)a[2], true);
	case SYS_fcntl:    return pl_fd_fcntl(FD(0), (int)a[1], PTR(2));
#ifdef SYS_open
	case SYS_open:     return pl_openat(AT_FDCWD, PTR(0), (int)a[1], (mode_t)a[2]);
	case SYS_creat:    return pl_openat(AT_FDCWD, PTR(0), O_CREAT | O_WRONLY | O_TRUNC, (mode_t)a[1]);
#endif
	case SYS_openat:   return pl_openat(FD(0), PTR(1), (int)a[2], (mode_t)a[3]);
	case SYS_mmap:     return (long)pl_mmap(PTR(0), SZ(1), (int)a[2], (int)a[3], FD(4), OFF(5));
	case SYS_io_setup: return pl_ret(io_setup((int)a[0], PTR(1)));
	case SYS_io_destroy: return pl_ret(io_destroy(PTR(0)));
	case SYS_io_submit: return pl_ret(io_submit(PTR(0), a[1], PTR(2)));
	case SYS_io_getevents:
		return pl_ret(io_getevents(PTR(0), a[1], a[2], PTR(3), PTR(4)));
	case SYS_io_pgetevents: return aio_pgetevents(a);
	case SYS_io_cancel: return pl_ret(io_cancel(PTR(0), PTR(1), PTR(2)));
	case SYS_io_uring_setup:
		if (pl_uring_refused()) {
			errno = ENOSYS; /* pl_uring.c: never a ring behind the cache */
			return -1;
		}
		return pl_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	default:
		return pl_real.syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
	}
}
