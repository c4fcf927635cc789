/*
 * pl_stdio.c - stdio streams on served files.
 *
 * glibc's FILE functions read and write their descriptor with internal
 * system calls that no preload library sees, so a stream on a served file
 * must not be an ordinary one. fopen() of a served path and fdopen() of a
 * served descriptor make a fopencookie() stream whose read, write, seek and
 * close go through this library (and so through the cache). Its _fileno is
 * set to the served descriptor, so fileno(), fstat(fileno(fp)) and
 * posix_fadvise(fileno(fp), ...) work; glibc does not use _fileno of a cookie
 * stream for I/O (every transfer goes through the cookie functions).
 *
 * Not covered: freopen() onto a served path (the stream object is the
 * caller's, with glibc's own I/O functions) is the kernel's.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static ssize_t ck_read(void *cookie, char *buf, size_t len)
{
	return pl_fd_read((int)(intptr_t)cookie, buf, len);
}

/* glibc treats a short count as an error: write it all, or report 0. */
static ssize_t ck_write(void *cookie, const char *buf, size_t len)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pl_fd_write((int)(intptr_t)cookie, buf + done, len - done);
		if (n <= 0)
			return done ? (ssize_t)done : 0;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static int ck_seek(void *cookie, off64_t *pos, int whence)
{
	off_t r = pl_fd_lseek((int)(intptr_t)cookie, *pos, whence);
	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int ck_close(void *cookie)
{
	return pl_fd_close((int)(intptr_t)cookie);
}

FILE *pl_stdio_stream(int fd, const char *mode)
{
	cookie_io_functions_t io = { ck_read, ck_write, ck_seek, ck_close };
	FILE *fp = fopencookie((void *)(intptr_t)fd, mode, io);
	if (fp)
		fp->_fileno = fd;
	return fp;
}

/* fopen(3) mode string to open(2) flags; -1 if invalid. */
static int mode_flags(const char *mode)
{
	int flags;
	switch (mode[0]) {
	case 'r': flags = O_RDONLY; break;
	case 'w': flags = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': flags = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return -1;
	}
	for (const char *p = mode + 1; *p && *p != ','; p++) {
		if (*p == '+')
			flags = (flags & ~O_ACCMODE) | O_RDWR;
		else if (*p == 'x')
			flags |= O_EXCL;
		else if (*p == 'e')
			flags |= O_CLOEXEC;
	}
	return flags;
}

static FILE *do_fopen(const char *path, const char *mode)
{
	char abs[PATH_MAX];
	pl_boot();
	if (PL_LIKELY(!path || !mode || !pl_path_served(AT_FDCWD, path, abs)))
		return pl_real.fopen(path, mode);
	int flags = mode_flags(mode);
	if (flags < 0) {
		errno = EINVAL;
		return NULL;
	}
	int fd = pl_open_served(AT_FDCWD, path, abs, flags, 0666);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	FILE *fp = pl_fd_peek(fd) ? pl_stdio_stream(fd, mode) : pl_real.fdopen(fd, mode);
	if (!fp) {
		int e = errno;
		pl_fd_close(fd);
		errno = e;
	}
	return fp;
}

PL_EXPORT FILE *fopen(const char *path, const char *mode)
{
	return do_fopen(path, mode);
}

PL_EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return do_fopen(path, mode);
}

PL_EXPORT FILE *fdopen(int fd, const char *mode)
{
	pl_boot();
	struct pl_ofd *o = pl_fd_get(fd);
	if (PL_LIKELY(!o))
		return pl_real.fdopen(fd, mode);
	int flags = mode ? mode_flags(mode) : -1;
	int have = atomic_load(&o->o_flags);
	int acc = have & O_ACCMODE, want = flags & O_ACCMODE;
	pl_ofd_put(o);
	if (flags < 0 || (want == O_RDONLY && acc == O_WRONLY) ||
	    (want == O_WRONLY && acc == O_RDONLY) || (want == O_RDWR && acc != O_RDWR)) {
		errno = EINVAL;
		return NULL;
	}
	if ((flags & O_APPEND) && !(have & O_APPEND))
		pl_fd_fcntl(fd, F_SETFL, (void *)(intptr_t)((have & ~O_ACCMODE) | O_APPEND));
	return pl_stdio_stream(fd, mode);
}
