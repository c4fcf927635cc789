/*
 * rw.c - the read/write entry points: argument checks (G11: a rejected call
 * changes nothing), then dispatch to the cached or the direct path.
 * No state, no locks.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>

#define RW_FLAGS (CIO_RW_DIRECT | CIO_RW_DSYNC | CIO_RW_NOWAIT)

/* The checks of every read and write, synchronous or async (G11). */
int cio_rw_check(cio_file *f, const struct iovec *iov, int n, int64_t off,
                 unsigned flags, bool write, size_t *len)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	if (flags & ~RW_FLAGS)
		return -EINVAL;
	int acc = f->h_flags & O_ACCMODE;
	if (write ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	if (off < 0)
		return -EINVAL;
	*len = cio_iov_total(iov, n, &r);
	if (r < 0)
		return r;
	if (*len > (uint64_t)CIO_MAX_FILE_SIZE || (uint64_t)off > (uint64_t)CIO_MAX_FILE_SIZE - *len)
		return -EFBIG;
	if (write ? (flags & CIO_RW_NOWAIT) && !(flags & CIO_RW_DIRECT)
	          : (flags & (CIO_RW_DSYNC | CIO_RW_NOWAIT)))
		return -EINVAL;
	if (flags & CIO_RW_DIRECT) {
		struct cio_inode *ino = f->h_inode;
		if ((uint64_t)off % ino->i_lbs)
			return -EINVAL;
		for (int i = 0; i < n; i++)
			if (iov[i].iov_len % ino->i_lbs ||
			    (uintptr_t)iov[i].iov_base % ino->i_mem_align)
				return -EINVAL;
	}
	return 0;
}

ssize_t cio_readv(cio_file *f, const struct iovec *iov, int iovcnt, int64_t off, unsigned flags)
{
	size_t len;
	int r = cio_rw_check(f, iov, iovcnt, off, flags, false, &len);
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	if (flags & CIO_RW_DIRECT)
		return cio_direct_read(f, iov, iovcnt, len, (uint64_t)off);
	return cio_cached_read(f, iov, iovcnt, len, (uint64_t)off, NULL);
}

ssize_t cio_writev(cio_file *f, const struct iovec *iov, int iovcnt, int64_t off, unsigned flags)
{
	size_t len;
	int r = cio_rw_check(f, iov, iovcnt, off, flags, true, &len);
	if (r < 0)
		return r;
	if (len == 0)
		return 0;
	if (flags & CIO_RW_DIRECT)
		return cio_direct_write(f, iov, iovcnt, len, (uint64_t)off, flags);
	return cio_cached_write(f, iov, iovcnt, len, (uint64_t)off, flags, NULL);
}

ssize_t cio_read(cio_file *f, void *buf, size_t len, int64_t off, unsigned flags)
{
	if (len > SSIZE_MAX)
		return cio_file_check(f) < 0 ? -EBADF : -EFBIG;
	struct iovec iov = { buf, len };
	return cio_readv(f, &iov, 1, off, flags);
}

ssize_t cio_write(cio_file *f, const void *buf, size_t len, int64_t off, unsigned flags)
{
	if (len > SSIZE_MAX)
		return cio_file_check(f) < 0 ? -EBADF : -EFBIG;
	struct iovec iov = { (void *)buf, len };
	return cio_writev(f, &iov, 1, off, flags);
}
