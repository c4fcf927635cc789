/*
 * pl_posix.c - the POSIX file calls of libcoherio-preload.so.
 *
 * Every function here starts with pl_boot() and one look at the descriptor
 * table (or, for a path, a comparison with the prefixes). A descriptor or
 * path that is not served goes straight to the real function: no lock, no
 * allocation. A served descriptor's data moves through its description's
 * cio_file: the cached path, or the direct path when the description has
 * O_DIRECT (alignment as the kernel's: -EINVAL when misaligned).
 *
 * What the kernel would do is the reference for every corner: the errors
 * (EBADF for a read on a write-only descriptor, EINVAL for ftruncate on a
 * read-only one, ESPIPE never: served files are seekable), O_APPEND (also
 * for pwrite, as Linux does), preadv2 with offset -1, SEEK_DATA/SEEK_HOLE
 * (the whole file is data), posix_fadvise and posix_fallocate returning the
 * error number. Calls that would let the kernel read or write the file
 * behind the cache are refused on served descriptors: mmap (ENODEV: the
 * mapped view is not built), FICLONE/FIDEDUPERANGE/FIEMAP ioctls
 * (EOPNOTSUPP, so cp copies), splice (EINVAL); copy_file_range and sendfile
 * copy through the cache.
 *
 * Descriptors 0, 1 and 2 are never served: glibc's stdio writes stdout with
 * internal system calls no preload library sees. dup2() of a served
 * descriptor onto one of them writes the file back first and leaves the new
 * descriptor to the kernel.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_RW_COUNT ((size_t)INT_MAX & ~(size_t)4095) /* the kernel's cap */

#ifndef RWF_NOAPPEND
#define RWF_NOAPPEND 0x00000020
#endif
#define PL_RWF_KNOWN (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND | \
                      RWF_NOAPPEND | 0x40 /* RWF_ATOMIC */ | 0x80 /* RWF_DONTCACHE */)
/* internal: a copy's transfer, cached even on an O_DIRECT description */
#define PL_RWF_CACHED 0x40000000
#define PL_SETFL_MASK (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME | O_NONBLOCK)

/* ioctls that would reach the file's blocks behind the cache */
#define PL_FICLONE       _IOW(0x94, 9, int)
#define PL_FICLONERANGE  _IOW(0x94, 13, char[32])
#define PL_FIDEDUPERANGE _IOWR(0x94, 54, char[24])
#define PL_FS_IOC_FIEMAP _IOWR('f', 11, char[32])

static inline mode_t open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, unsigned);
	return 0;
}

/* ---- opening and closing ------------------------------------------------------ */

int pl_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	char abs[PATH_MAX];
	pl_boot();
	if (!(flags & O_PATH) && pl_path_served(dirfd, path, abs))
		return (int)pl_ret(pl_open_served(dirfd, path, abs, flags, mode));
	int fd = pl_real.openat(dirfd, path, flags, mode);
	if (fd >= 0)
		pl_fd_fresh(fd);
	return fd;
}

PL_EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	return pl_openat(AT_FDCWD, path, flags, mode);
}

PL_EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	return pl_openat(AT_FDCWD, path, flags, mode);
}

PL_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	return pl_openat(dirfd, path, flags, mode);
}

PL_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = open_mode(flags, ap);
	va_end(ap);
	return pl_openat(dirfd, path, flags, mode);
}

PL_EXPORT int creat(const char *path, mode_t mode)
{
	return pl_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

PL_EXPORT int creat64(const char *path, mode_t mode)
{
	return pl_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

/* _FORTIFY_SOURCE builds call these for two-argument opens. */
PL_EXPORT int __open_2(const char *path, int flags)
{
	return pl_openat(AT_FDCWD, path, flags, 0);
}

PL_EXPORT int __open64_2(const char *path, int flags)
{
	return pl_openat(AT_FDCWD, path, flags, 0);
}

PL_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return pl_openat(dirfd, path, flags, 0);
}

PL_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return pl_openat(dirfd, path, flags, 0);
}

int pl_fd_close(int fd)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_take(fd);
	if (PL_LIKELY(!o))
		return pl_real.close(fd);
	if (atomic_load_explicit(&o->o_refs, memory_order_relaxed) == 1)
		pl_ofd_note_close(o, fd); /* probably the last: linger, size */
	int r = pl_real.close(fd);
	int e = errno;
	int w = pl_ofd_put(o); /* the last close writes the file back */
	if (r == 0 && w < 0)
		return (int)pl_ret(w);
	errno = e;
	return r;
}

PL_EXPORT int close(int fd)
{
	return pl_fd_close(fd);
}

/* @newfd now refers to the description @o (dup, dup2, F_DUPFD): consumes the
 * caller's reference. 0-2 leave the cache (written back first). */
static int attach(int newfd, struct pl_ofd *o)
{
	if (newfd <= 2) {
		pl_flush_ofd(o, newfd);
		pl_ofd_put(o);
		return newfd;
	}
	int r = pl_fd_install(newfd, o);
	if (r < 0) {
		pl_ofd_put(o);
		pl_real.close(newfd);
		return (int)pl_ret(r);
	}
	return newfd;
}

int pl_fd_dup(int fd)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	int r = pl_real.dup(fd);
	if (!o) {
		if (r >= 0)
			pl_fd_fresh(r);
		return r;
	}
	if (r < 0) {
		int e = errno;
		pl_ofd_put(o);
		errno = e;
		return r;
	}
	return attach(r, o);
}

PL_EXPORT int dup(int fd)
{
	return pl_fd_dup(fd);
}

int pl_dup3(int oldfd, int newfd, int flags, bool is_dup3)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(oldfd);
	if (PL_LIKELY(!o && !pl_fd_peek(newfd)))
		return is_dup3 ? pl_real.dup3(oldfd, newfd, flags) : pl_real.dup2(oldfd, newfd);
	int r = is_dup3 ? pl_real.dup3(oldfd, newfd, flags) : pl_real.dup2(oldfd, newfd);
	if (r < 0 || oldfd == newfd) {
		int e = errno;
		if (o)
			pl_ofd_put(o);
		errno = e;
		return r;
	}
	struct pl_ofd *old = pl_fd_take(newfd); /* the kernel closed it */
	if (old)
		pl_ofd_put(old);
	return o ? attach(newfd, o) : r;
}

PL_EXPORT int dup2(int oldfd, int newfd)
{
	return pl_dup3(oldfd, newfd, 0, false);
}

PL_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	return pl_dup3(oldfd, newfd, flags, true);
}

/* Take the served descriptors of [first, last] out of the table. */
static void take_range(unsigned first, unsigned last, struct pl_ofd ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	if (last >= PL_FD_MAX)
		last = PL_FD_MAX - 1;
	for (unsigned fd = first; fd <= last && first < PL_FD_MAX; fd++) {
		if ((fd & (PL_FD_CHUNK - 1)) == 0 &&
		    !atomic_load_explicit(&pl_fdt[fd >> PL_FD_SHIFT], memory_order_acquire)) {
			fd += PL_FD_CHUNK - 1;
			continue;
		}
		struct pl_ofd *o = pl_fd_take((int)fd);
		if (!o)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			struct pl_ofd **v = realloc(*out, cap * sizeof(*v));
			if (!v) {
				pl_ofd_put(o);
				continue;
			}
			*out = v;
		}
		(*out)[(*n)++] = o;
	}
}

static void put_all(struct pl_ofd **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pl_ofd_put(v[i]);
	free(v);
}

PL_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	pl_boot();
	if (!pl_real.close_range) {
		errno = ENOSYS;
		return -1;
	}
	if (flags & CLOSE_RANGE_CLOEXEC || first > last)
		return pl_real.close_range(first, last, flags);
	struct pl_ofd **v;
	size_t n;
	take_range(first, last, &v, &n);
	int r = pl_real.close_range(first, last, flags);
	int e = errno;
	put_all(v, n);
	errno = e;
	return r;
}

PL_EXPORT void closefrom(int lowfd)
{
	pl_boot();
	struct pl_ofd **v;
	size_t n;
	take_range(lowfd < 0 ? 0 : (unsigned)lowfd, ~0u, &v, &n);
	if (pl_real.closefrom)
		pl_real.closefrom(lowfd);
	put_all(v, n);
}

/* ---- reading and writing ------------------------------------------------------ */

/*
 * One transfer on a served description. @use_pos: at (and advancing) the
 * file position, under o_pos_lock, as read(2)/write(2) are. O_APPEND (or
 * RWF_APPEND): at the size, read and written under the file's append lock.
 * Return: bytes, or -errno.
 */
static ssize_t ofd_rw(struct pl_ofd *o, int fd, const struct iovec *iov, int iovcnt,
                      int64_t off, bool use_pos, bool write, int rwf)
{
	int err = -EIO;
	cio_file *f = pl_ofd_file(o, fd, &err);
	if (!f)
		return err;
	int fl = atomic_load_explicit(&o->o_flags, memory_order_relaxed);
	int acc = fl & O_ACCMODE;
	if (write ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	if (iovcnt < 0 || iovcnt > IOV_MAX)
		return -EINVAL;
	bool cached = rwf & PL_RWF_CACHED;
	rwf &= ~PL_RWF_CACHED;
	if (rwf & ~PL_RWF_KNOWN)
		return -EOPNOTSUPP;
	if (iovcnt == 0)
		return 0;
	unsigned cf = (fl & O_DIRECT) && !cached ? CIO_RW_DIRECT : 0;
	if (write && ((fl & O_DSYNC) || (rwf & (RWF_DSYNC | RWF_SYNC)) ||
	              atomic_load_explicit(&pl_exiting, memory_order_relaxed)))
		cf |= CIO_RW_DSYNC;
	bool append = write && (((fl & O_APPEND) && !(rwf & RWF_NOAPPEND)) || (rwf & RWF_APPEND));
	ssize_t n;
	if (use_pos)
		pthread_mutex_lock(&o->o_pos_lock);
	if (append) {
		pthread_mutex_lock(&o->o_inode->pi_append);
		int64_t at = cio_size(f);
		n = at < 0 ? at : cio_writev(f, iov, iovcnt, at, cf);
		pthread_mutex_unlock(&o->o_inode->pi_append);
		if (use_pos && n >= 0)
			atomic_store_explicit(&o->o_pos, at + n, memory_order_relaxed);
	} else {
		int64_t at = use_pos ? atomic_load_explicit(&o->o_pos, memory_order_relaxed) : off;
		n = write ? cio_writev(f, iov, iovcnt, at, cf) : cio_readv(f, iov, iovcnt, at, cf);
		if (use_pos && n > 0)
			atomic_store_explicit(&o->o_pos, at + n, memory_order_relaxed);
	}
	if (use_pos)
		pthread_mutex_unlock(&o->o_pos_lock);
	return n;
}

static ssize_t ofd_rw1(struct pl_ofd *o, int fd, void *buf, size_t len, int64_t off,
                       bool use_pos, bool write)
{
	struct iovec iov = { buf, len > MAX_RW_COUNT ? MAX_RW_COUNT : len };
	return ofd_rw(o, fd, &iov, 1, off, use_pos, write, 0);
}

/* Served or not: the helpers pl_stdio.c and the copy emulation use. */
ssize_t pl_fd_read(int fd, void *buf, size_t len)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.read(fd, buf, len);
	ssize_t r = ofd_rw1(o, fd, buf, len, 0, true, false);
	pl_ofd_put(o);
	return pl_ret(r);
}

ssize_t pl_fd_write(int fd, const void *buf, size_t len)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.write(fd, buf, len);
	ssize_t r = ofd_rw1(o, fd, (void *)buf, len, 0, true, true);
	pl_ofd_put(o);
	return pl_ret(r);
}

ssize_t pl_fd_pread(int fd, void *buf, size_t len, off_t off)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.pread(fd, buf, len, off);
	ssize_t r = ofd_rw1(o, fd, buf, len, off, false, false);
	pl_ofd_put(o);
	return pl_ret(r);
}

ssize_t pl_fd_pwrite(int fd, const void *buf, size_t len, off_t off)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.pwrite(fd, buf, len, off);
	ssize_t r = ofd_rw1(o, fd, (void *)buf, len, off, false, true);
	pl_ofd_put(o);
	return pl_ret(r);
}

PL_EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	return pl_fd_read(fd, buf, len);
}

PL_EXPORT ssize_t __read_chk(int fd, void *buf, size_t len, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return pl_fd_read(fd, buf, len);
}

PL_EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	return pl_fd_write(fd, buf, len);
}

PL_EXPORT ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	return pl_fd_pread(fd, buf, len, off);
}

PL_EXPORT ssize_t pread64(int fd, void *buf, size_t len, off_t off)
{
	return pl_fd_pread(fd, buf, len, off);
}

PL_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return pl_fd_pread(fd, buf, len, off);
}

PL_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t len, off_t off, size_t buflen)
{
	if (len > buflen)
		__chk_fail();
	return pl_fd_pread(fd, buf, len, off);
}

PL_EXPORT ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
	return pl_fd_pwrite(fd, buf, len, off);
}

PL_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off)
{
	return pl_fd_pwrite(fd, buf, len, off);
}

/* readv ... pwritev2: @off -1 with @use_pos means the file position. */
ssize_t pl_rwv(int fd, const struct iovec *iov, int n, off_t off, int rwf,
                      bool use_pos, bool write, int kind)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o)) {
		switch (kind) {
		case 0: return write ? pl_real.writev(fd, iov, n) : pl_real.readv(fd, iov, n);
		case 1: return write ? pl_real.pwritev(fd, iov, n, off) : pl_real.preadv(fd, iov, n, off);
		default: return write ? pl_real.pwritev2(fd, iov, n, off, rwf)
		                      : pl_real.preadv2(fd, iov, n, off, rwf);
		}
	}
	if (kind == 2 && off == -1)
		use_pos = true;
	ssize_t r;
	if (!use_pos && off < 0)
		r = -EINVAL;
	else
		r = ofd_rw(o, fd, iov, n, off, use_pos, write, write ? rwf : rwf & ~(RWF_DSYNC | RWF_SYNC));
	pl_ofd_put(o);
	return pl_ret(r);
}

PL_EXPORT ssize_t readv(int fd, const struct iovec *iov, int n)
{
	return pl_rwv(fd, iov, n, 0, 0, true, false, 0);
}

PL_EXPORT ssize_t writev(int fd, const struct iovec *iov, int n)
{
	return pl_rwv(fd, iov, n, 0, 0, true, true, 0);
}

PL_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int n, off_t off)
{
	return pl_rwv(fd, iov, n, off, 0, false, false, 1);
}

PL_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pl_rwv(fd, iov, n, off, 0, false, false, 1);
}

PL_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	return pl_rwv(fd, iov, n, off, 0, false, true, 1);
}

PL_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off)
{
	return pl_rwv(fd, iov, n, off, 0, false, true, 1);
}

PL_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return pl_rwv(fd, iov, n, off, flags, false, false, 2);
}

PL_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return pl_rwv(fd, iov, n, off, flags, false, false, 2);
}

PL_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return pl_rwv(fd, iov, n, off, flags, false, true, 2);
}

PL_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return pl_rwv(fd, iov, n, off, flags, false, true, 2);
}

/* ---- position, size, metadata --------------------------------------------------- */

static off_t ofd_lseek(struct pl_ofd *o, int fd, off_t off, int whence)
{
	int err = -EIO;
	cio_file *f = pl_ofd_file(o, fd, &err);
	if (!f)
		return err;
	int64_t cur, size, n;
	pthread_mutex_lock(&o->o_pos_lock);
	cur = atomic_load_explicit(&o->o_pos, memory_order_relaxed);
	switch (whence) {
	case SEEK_SET:
		n = off;
		break;
	case SEEK_CUR:
		n = __builtin_add_overflow(cur, off, &n) ? -1 : n;
		break;
	case SEEK_END:
		size = cio_size(f);
		n = size < 0 ? size : __builtin_add_overflow(size, off, &n) ? -1 : n;
		break;
	case SEEK_DATA: /* the whole file is data (as file systems without holes) */
		size = cio_size(f);
		n = off < 0 || off >= size ? -ENXIO : off;
		break;
	case SEEK_HOLE:
		size = cio_size(f);
		n = off < 0 || off >= size ? -ENXIO : size;
		break;
	default:
		n = -EINVAL;
	}
	if (n == -1)
		n = -EINVAL;
	if (n >= 0)
		atomic_store_explicit(&o->o_pos, n, memory_order_relaxed);
	pthread_mutex_unlock(&o->o_pos_lock);
	return n;
}

off_t pl_fd_lseek(int fd, off_t off, int whence)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.lseek(fd, off, whence);
	off_t r = ofd_lseek(o, fd, off, whence);
	pl_ofd_put(o);
	return pl_ret(r);
}

PL_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	return pl_fd_lseek(fd, off, whence);
}

PL_EXPORT off_t lseek64(int fd, off_t off, int whence)
{
	return pl_fd_lseek(fd, off, whence);
}

/* coherio's size over the kernel's (cached writes not yet written back) */
static void overlay_stat(struct stat *st)
{
	int64_t size;
	if (S_ISREG(st->st_mode) && pl_inode_size(st->st_dev, st->st_ino, &size) == 0)
		st->st_size = size;
}

int pl_fstat(int fd, struct stat *st)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	int r = pl_real.fstat(fd, st);
	if (PL_LIKELY(!o))
		return r;
	if (r == 0 && S_ISREG(st->st_mode)) {
		cio_file *f = atomic_load_explicit(&o->o_file, memory_order_acquire);
		int64_t size = f ? cio_size(f) : -1;
		if (size >= 0)
			st->st_size = size;
	}
	pl_ofd_put(o);
	return r;
}

PL_EXPORT int fstat(int fd, struct stat *st)
{
	return pl_fstat(fd, st);
}

PL_EXPORT int fstat64(int fd, struct stat64 *st)
{
	return pl_fstat(fd, (struct stat *)st);
}

int pl_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	pl_boot();
	if (path && !*path && (flags & AT_EMPTY_PATH) && pl_fd_peek(dirfd))
		return pl_fstat(dirfd, st);
	int r = pl_real.fstatat(dirfd, path, st, flags);
	if (r == 0)
		overlay_stat(st);
	return r;
}

PL_EXPORT int stat(const char *path, struct stat *st)
{
	return pl_fstatat(AT_FDCWD, path, st, 0);
}

PL_EXPORT int stat64(const char *path, struct stat64 *st)
{
	return pl_fstatat(AT_FDCWD, path, (struct stat *)st, 0);
}

PL_EXPORT int lstat(const char *path, struct stat *st)
{
	return pl_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return pl_fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return pl_fstatat(dirfd, path, st, flags);
}

PL_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return pl_fstatat(dirfd, path, (struct stat *)st, flags);
}

/* the pre-2.33 glibc entry points (x86_64: one struct stat for all) */
PL_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return pl_fstatat(AT_FDCWD, path, st, 0);
}

PL_EXPORT int __xstat64(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return pl_fstatat(AT_FDCWD, path, st, 0);
}

PL_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return pl_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int __lxstat64(int ver, const char *path, struct stat *st)
{
	(void)ver;
	return pl_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW);
}

PL_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	(void)ver;
	return pl_fstat(fd, st);
}

PL_EXPORT int __fxstat64(int ver, int fd, struct stat *st)
{
	(void)ver;
	return pl_fstat(fd, st);
}

PL_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return pl_fstatat(dirfd, path, st, flags);
}

PL_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return pl_fstatat(dirfd, path, st, flags);
}

int pl_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	pl_boot();
	if (!pl_real.statx) {
		errno = ENOSYS;
		return -1;
	}
	int r = pl_real.statx(dirfd, path, flags, mask, stx);
	if (r == 0 && (stx->stx_mask & STATX_SIZE) && S_ISREG(stx->stx_mode)) {
		int64_t size;
		if (pl_inode_size(makedev(stx->stx_dev_major, stx->stx_dev_minor),
		                  (ino_t)stx->stx_ino, &size) == 0)
			stx->stx_size = (uint64_t)size;
	}
	return r;
}

PL_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	return pl_statx(dirfd, path, flags, mask, stx);
}

int pl_ftruncate(int fd, off_t len)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.ftruncate(fd, len);
	int r, err = -EIO;
	cio_file *f = pl_ofd_file(o, fd, &err);
	if (!f)
		r = err;
	else if (len < 0 || (atomic_load(&o->o_flags) & O_ACCMODE) == O_RDONLY || o->o_blockdev)
		r = -EINVAL; /* as Linux: not open for writing is EINVAL here */
	else
		r = cio_truncate(f, len, 0);
	pl_ofd_put(o);
	return (int)pl_ret(r);
}

PL_EXPORT int ftruncate(int fd, off_t len)
{
	return pl_ftruncate(fd, len);
}

PL_EXPORT int ftruncate64(int fd, off_t len)
{
	return pl_ftruncate(fd, len);
}

int pl_truncate(const char *path, off_t len)
{
	char abs[PATH_MAX];
	cio_file *f;
	struct pl_ofd *ref;
	pl_boot();
	if (PL_LIKELY(!pl_path_served(AT_FDCWD, path, abs)))
		return pl_real.truncate(path, len);
	int r = pl_path_handle(abs, O_WRONLY, &f, &ref);
	if (r == -ENOENT) /* not open here: the kernel's file is the file */
		return pl_real.truncate(path, len);
	if (r < 0)
		return (int)pl_ret(r);
	r = len < 0 ? -EINVAL : cio_truncate(f, len, 0);
	int c = pl_handle_close(f, ref);
	return (int)pl_ret(r < 0 ? r : c);
}

PL_EXPORT int truncate(const char *path, off_t len)
{
	return pl_truncate(path, len);
}

PL_EXPORT int truncate64(const char *path, off_t len)
{
	return pl_truncate(path, len);
}

/*
 * fallocate on a served file: cio_fallocate() (Linux's rules, ordered
 * against direct writes in flight and every other size change; the size
 * never moves backwards because of it). Return 0 or -errno.
 */
static int ofd_fallocate(struct pl_ofd *o, int fd, int mode, off_t off, off_t len, bool posix)
{
	int err = -EIO;
	cio_file *f = pl_ofd_file(o, fd, &err);
	if (!f)
		return err;
	return cio_fallocate(f, posix ? (int)CIO_FALLOC_POSIX : mode, off, len);
}

int pl_fallocate(int fd, int mode, off_t off, off_t len)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.fallocate(fd, mode, off, len);
	int r = ofd_fallocate(o, fd, mode, off, len, false);
	pl_ofd_put(o);
	return (int)pl_ret(r);
}

PL_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	return pl_fallocate(fd, mode, off, len);
}

PL_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len)
{
	return pl_fallocate(fd, mode, off, len);
}

static int do_posix_fallocate(int fd, off_t off, off_t len)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.posix_fallocate(fd, off, len);
	int r = ofd_fallocate(o, fd, 0, off, len, true);
	pl_ofd_put(o);
	return -r; /* an error number, not -1 */
}

PL_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	return do_posix_fallocate(fd, off, len);
}

PL_EXPORT int posix_fallocate64(int fd, off_t off, off_t len)
{
	return do_posix_fallocate(fd, off, len);
}

int pl_fsync(int fd, bool data)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return data ? pl_real.fdatasync(fd) : pl_real.fsync(fd);
	int err = -EIO;
	cio_file *f = pl_ofd_file(o, fd, &err);
	/* errors are per description (errseq, G6) */
	int r = !f ? err : data ? cio_fdatasync(f) : cio_fsync(f);
	pl_ofd_put(o);
	return (int)pl_ret(r);
}

PL_EXPORT int fsync(int fd)
{
	return pl_fsync(fd, false);
}

PL_EXPORT int fdatasync(int fd)
{
	return pl_fsync(fd, true);
}

int pl_sync_file_range(int fd, off_t off, off_t nbytes, unsigned flags)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.sync_file_range(fd, off, nbytes, flags);
	int r = 0, err = -EIO;
	int64_t end;
	cio_file *f = pl_ofd_file(o, fd, &err);
	if (!f)
		r = err;
	else if (flags & ~(SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	                   SYNC_FILE_RANGE_WAIT_AFTER) ||
	         off < 0 || nbytes < 0 || __builtin_add_overflow(off, nbytes, &end))
		r = -EINVAL;
	else if (flags & SYNC_FILE_RANGE_WRITE) {
		/* write back the range (its clean pages are dropped too); the
		 * errors stay in the errseq for fsync, as the kernel's do */
		r = cio_invalidate(f, off, nbytes, 0, NULL);
		if (r == -EBUSY || !(flags & SYNC_FILE_RANGE_WAIT_AFTER))
			r = 0;
	}
	pl_ofd_put(o);
	return (int)pl_ret(r);
}

PL_EXPORT int sync_file_range(int fd, off_t off, off_t nbytes, unsigned flags)
{
	return pl_sync_file_range(fd, off, nbytes, flags);
}

int pl_fadvise(int fd, off_t off, off_t len, int advice)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.posix_fadvise(fd, off, len, advice);
	int r = 0, err = -EIO;
	cio_file *f = pl_ofd_file(o, fd, &err);
	if (!f)
		r = err;
	else if (advice < POSIX_FADV_NORMAL || advice > POSIX_FADV_NOREUSE || len < 0)
		r = -EINVAL;
	else if (advice == POSIX_FADV_DONTNEED && off >= 0)
		cio_invalidate(f, off, len, 0, NULL); /* writes back, drops; busy kept */
	pl_ofd_put(o);
	return -r; /* an error number, not -1 */
}

PL_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	return pl_fadvise(fd, off, len, advice);
}

PL_EXPORT int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
	return pl_fadvise(fd, off, len, advice);
}

PL_EXPORT ssize_t readahead(int fd, off_t off, size_t count)
{
	pl_boot();
	if (PL_LIKELY(!pl_fd_peek(fd)))
		return pl_real.readahead(fd, off, count);
	return 0; /* a hint; coherio reads ahead by itself */
}

/* fcntl: F_SETFL flips O_DIRECT/O_APPEND (checked by the kernel first, on
 * the genuine descriptor), F_DUPFD makes a new descriptor of the same
 * description; everything else (locks, F_GETFL, F_SETFD ...) is the
 * kernel's, on the genuine descriptor. */
int pl_fd_fcntl(int fd, int cmd, void *arg)
{
	pl_boot();
	/* locks (F_SETLKW may wait for another process, for as long as it
	 * likes), F_GETFL ...: the kernel's, without a reference, so that a
	 * fork does not wait for them (pl_core.c, "Fork", step 3) */
	if (cmd != F_SETFL && cmd != F_DUPFD && cmd != F_DUPFD_CLOEXEC)
		return pl_real.fcntl(fd, cmd, arg);
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o)) {
		int d = pl_real.fcntl(fd, cmd, arg);
		if (d >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
			pl_fd_fresh(d);
		return d;
	}
	int r = pl_real.fcntl(fd, cmd, arg);
	int e = errno;
	if (r >= 0 && cmd == F_SETFL) {
		int nf = (int)(intptr_t)arg;
		int old = atomic_load(&o->o_flags);
		while (!atomic_compare_exchange_weak(&o->o_flags, &old,
		                                     (old & ~PL_SETFL_MASK) | (nf & PL_SETFL_MASK)))
			;
	} else if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)) {
		return attach(r, o); /* our reference goes to the new entry */
	}
	pl_ofd_put(o);
	errno = e;
	return r;
}

PL_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return pl_fd_fcntl(fd, cmd, arg);
}

PL_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return pl_fd_fcntl(fd, cmd, arg);
}

/* ---- what would reach the file behind the cache ------------------------------- */

void *pl_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	pl_boot();
	if (PL_UNLIKELY(!(flags & MAP_ANONYMOUS) && pl_fd_peek(fd))) {
		/* the mapped view of coherio is not built: never serve a map
		 * that the cache could not keep coherent */
		errno = ENODEV;
		return MAP_FAILED;
	}
	return pl_real.mmap(addr, len, prot, flags, fd, off);
}

PL_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return pl_mmap(addr, len, prot, flags, fd, off);
}

PL_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return pl_mmap(addr, len, prot, flags, fd, off);
}

PL_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	pl_boot();
	if (PL_UNLIKELY(req == PL_FICLONE || req == PL_FICLONERANGE ||
	                req == PL_FIDEDUPERANGE || req == PL_FS_IOC_FIEMAP)) {
		int src = -1;
		if (req == PL_FICLONE)
			src = (int)(intptr_t)arg;
		else if (req == PL_FICLONERANGE && arg)
			src = (int)*(int64_t *)arg; /* struct file_clone_range.src_fd */
		if (pl_fd_peek(fd) || (src >= 0 && pl_fd_peek(src))) {
			errno = EOPNOTSUPP; /* the kernel's blocks may be stale */
			return -1;
		}
	}
	return pl_real.ioctl(fd, req, arg);
}

/* One transfer of a copy: a served side through the cache's cached path
 * even when the description has O_DIRECT (copy_file_range and sendfile take
 * any offset and length, and the cached and direct paths agree); @off NULL:
 * at the file position. -1 and errno on error. */
static ssize_t copy_io(int fd, char *buf, size_t len, const off_t *off, bool write)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (!o) {
		if (write)
			return off ? pl_real.pwrite(fd, buf, len, *off) : pl_real.write(fd, buf, len);
		return off ? pl_real.pread(fd, buf, len, *off) : pl_real.read(fd, buf, len);
	}
	struct iovec iov = { buf, len };
	ssize_t r = ofd_rw(o, fd, &iov, 1, off ? *off : 0, !off, write, PL_RWF_CACHED);
	pl_ofd_put(o);
	return pl_ret(r);
}

/* copy_file_range/sendfile with a served side: through a buffer and the
 * cache. @in_off/@out_off NULL: the file positions. */
static ssize_t copy_through(int in, off_t *in_off, int out, off_t *out_off, size_t len)
{
	size_t chunk = 256 << 10, done = 0;
	if (len > MAX_RW_COUNT)
		len = MAX_RW_COUNT;
	char *buf = malloc(chunk);
	if (!buf)
		return pl_ret(-ENOMEM);
	while (done < len) {
		size_t want = len - done < chunk ? len - done : chunk;
		ssize_t n = copy_io(in, buf, want, in_off, false);
		if (n <= 0) {
			if (n < 0 && done == 0) {
				free(buf);
				return -1;
			}
			break;
		}
		ssize_t w = 0;
		while (w < n) {
			off_t at = out_off ? *out_off + w : 0;
			ssize_t k = copy_io(out, buf + w, (size_t)(n - w), out_off ? &at : NULL, true);
			if (k <= 0)
				break;
			w += k;
		}
		if (in_off)
			*in_off += w;
		else if (w < n)
			pl_fd_lseek(in, w - n, SEEK_CUR);
		if (out_off)
			*out_off += w;
		done += (size_t)w;
		if (w < n) {
			if (done == 0) {
				free(buf);
				return -1;
			}
			break;
		}
	}
	free(buf);
	return (ssize_t)done;
}

ssize_t pl_copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len,
                           unsigned flags)
{
	pl_boot();
	if (PL_LIKELY(!pl_fd_peek(in) && !pl_fd_peek(out)))
		return pl_real.copy_file_range(in, in_off, out, out_off, len, flags);
	if (flags)
		return pl_ret(-EINVAL);
	return copy_through(in, in_off, out, out_off, len);
}

PL_EXPORT ssize_t copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len,
                                  unsigned flags)
{
	return pl_copy_file_range(in, in_off, out, out_off, len, flags);
}

ssize_t pl_sendfile(int out, int in, off_t *off, size_t count)
{
	pl_boot();
	if (PL_LIKELY(!pl_fd_peek(in) && !pl_fd_peek(out)))
		return pl_real.sendfile(out, in, off, count);
	return copy_through(in, off, out, NULL, count);
}

PL_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	return pl_sendfile(out, in, off, count);
}

PL_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count)
{
	return pl_sendfile(out, in, off, count);
}

PL_EXPORT ssize_t splice(int in, off_t *in_off, int out, off_t *out_off, size_t len,
                         unsigned flags)
{
	pl_boot();
	if (PL_UNLIKELY(pl_fd_peek(in) || pl_fd_peek(out)))
		return pl_ret(-EINVAL); /* no page cache pages of ours to splice */
	return pl_real.splice(in, in_off, out, out_off, len, flags);
}

PL_EXPORT void sync(void)
{
	pl_flush_all();
	pl_real.sync();
}

PL_EXPORT int syncfs(int fd)
{
	pl_flush_all();
	return pl_real.syncfs(fd);
}

/* ---- new programs: written back first ------------------------------------------ */

PL_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	pl_flush_all();
	return pl_real.execve(path, argv, envp);
}

PL_EXPORT int execv(const char *path, char *const argv[])
{
	pl_flush_all();
	return pl_real.execve(path, argv, environ);
}

PL_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	pl_flush_all();
	return pl_real.execvpe(file, argv, envp);
}

PL_EXPORT int execvp(const char *file, char *const argv[])
{
	pl_flush_all();
	return pl_real.execvpe(file, argv, environ);
}

PL_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	pl_flush_all();
	return pl_real.fexecve(fd, argv, envp);
}

/* execl, execlp, execle: collect the arguments, then as execve/execvpe */
static char **collect_args(const char *arg0, va_list ap, char ***envp)
{
	size_t n = 1, cap = 16;
	char **v = malloc(cap * sizeof(*v));
	if (!v)
		return NULL;
	v[0] = (char *)arg0;
	while (v[n - 1]) {
		if (n == cap) {
			char **w = realloc(v, (cap *= 2) * sizeof(*v));
			if (!w) {
				free(v);
				return NULL;
			}
			v = w;
		}
		v[n++] = va_arg(ap, char *);
	}
	if (envp)
		*envp = va_arg(ap, char **);
	return v;
}

PL_EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **v = collect_args(arg, ap, NULL);
	va_end(ap);
	if (!v)
		return (int)pl_ret(-ENOMEM);
	pl_flush_all();
	int r = pl_real.execve(path, v, environ);
	int e = errno;
	free(v);
	errno = e;
	return r;
}

PL_EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	va_start(ap, arg);
	char **v = collect_args(arg, ap, &envp);
	va_end(ap);
	if (!v)
		return (int)pl_ret(-ENOMEM);
	pl_flush_all();
	int r = pl_real.execve(path, v, envp);
	int e = errno;
	free(v);
	errno = e;
	return r;
}

PL_EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **v = collect_args(arg, ap, NULL);
	va_end(ap);
	if (!v)
		return (int)pl_ret(-ENOMEM);
	pl_flush_all();
	int r = pl_real.execvpe(file, v, environ);
	int e = errno;
	free(v);
	errno = e;
	return r;
}

PL_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	pl_flush_all();
	return pl_real.posix_spawn(pid, path, fa, attr, argv, envp);
}

PL_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	pl_flush_all();
	return pl_real.posix_spawnp(pid, file, fa, attr, argv, envp);
}

PL_EXPORT int system(const char *cmd)
{
	pl_flush_all();
	return pl_real.system(cmd);
}

PL_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	pl_flush_all();
	return pl_real.popen(cmd, mode);
}

/* vfork shares the parent's memory and skips the fork handlers: a plain
 * fork gives the child the same program semantics and a coherent start
 * (and the fork rule: the descriptions served now leave the cache). */
PL_EXPORT pid_t vfork(void)
{
	pl_boot();
	return pl_real.fork();
}

PL_EXPORT void _exit(int status)
{
	pl_exit_flush(false);
	pl_real._exit(status);
}

PL_EXPORT void _Exit(int status)
{
	pl_exit_flush(false);
	pl_real._Exit(status);
}
