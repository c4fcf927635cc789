/*
 * cached_io.c - the cached path: reads copy out of cached pages under a
 * shared latch; writes copy in under an exclusive latch and mark the pages
 * dirty. An extending write grows the size after the data is in the page
 * (G5). No locks of its own: pages are latched one at a time. A write is
 * inside the truncate fence for the whole call (truncate.c); readers
 * re-check the size once their page is ready.
 */
#include "internal.h"

/* Returns bytes copied or -errno (nothing copied); *cut (may be NULL) gets
 * the error that stopped a partial transfer, else 0. */
ssize_t cio_cached_read(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off,
                        int *cut)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	uint32_t ps = c->c_page_size;
	int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
	size_t done = 0;

	if (cut)
		*cut = 0;
	if ((int64_t)off >= size)
		return 0;
	len = CIO_MIN(len, (uint64_t)size - off);
	while (done < len) {
		uint64_t pos = off + done;
		size_t pofs = pos & (ps - 1);
		size_t k = CIO_MIN((size_t)ps - pofs, len - done);
		int err;
		struct cio_page *pg = cio_page_get(f, pos >> c->c_page_shift, LATCH_SHARED, 0, &err);
		if (!pg) {
			if (done && cut)
				*cut = err;
			return done ? (ssize_t)done : err;
		}
		/* A truncate may have cut the file while the page was filled
		 * (truncate.c Step 3 publishes the size before the device is
		 * cut): the size now, not the one at entry, bounds the copy. */
		int64_t now = atomic_load_explicit(&ino->i_size, memory_order_acquire);
		if ((int64_t)pos >= now) {
			cio_unlatch(ino, pg, LATCH_SHARED);
			cio_page_put(ino, pg);
			break;
		}
		if ((uint64_t)now - pos < k) {
			k = (size_t)((uint64_t)now - pos);
			len = done + k;
		}
		cio_iov_copy_out(iov, n, done, cio_page_data(c, pg) + pofs, k);
		cio_unlatch(ino, pg, LATCH_SHARED);
		cio_page_put(ino, pg);
		done += k;
	}
	return (ssize_t)done;
}

/* As cio_cached_read(); a DSYNC flush error is returned as the result. */
ssize_t cio_cached_write(cio_file *f, const struct iovec *iov, int n, size_t len,
                         uint64_t off, unsigned flags, int *cut)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	uint32_t ps = c->c_page_size;
	size_t done = 0;
	int err = 0;

	if (cut)
		*cut = 0;
	if (ino->i_blockdev) {
		int64_t size = atomic_load(&ino->i_size);
		if ((int64_t)off >= size)
			return -ENOSPC;
		len = CIO_MIN(len, (uint64_t)size - off);
	}
	if (len == 0)
		return 0;
	err = cio_write_enter(ino, (off + len - 1) >> c->c_page_shift, false); /* truncate.c */
	if (err < 0)
		return err;
	while (done < len) {
		uint64_t pos = off + done;
		size_t pofs = pos & (ps - 1);
		size_t k = CIO_MIN((size_t)ps - pofs, len - done);
		unsigned g = (pofs == 0 && k == ps) ? GET_NOFILL : 0;
		struct cio_page *pg = cio_page_get(f, pos >> c->c_page_shift, LATCH_EXCLUSIVE, g, &err);
		if (!pg)
			break;
		cio_iov_copy_in(iov, n, done, cio_page_data(c, pg) + pofs, k);
		cio_page_set_dirty(ino, pg);
		cio_size_extend(ino, (int64_t)(pos + k));
		cio_unlatch(ino, pg, LATCH_EXCLUSIVE);
		cio_page_put(ino, pg);
		done += k;
	}
	cio_write_exit(ino);
	if (done && (flags & CIO_RW_DSYNC)) {
		uint64_t first = off >> c->c_page_shift;
		uint64_t last = (off + done - 1) >> c->c_page_shift;
		int r = cio_writeback_inode(ino, first, last);
		if (!r)
			r = cio_backing_fixup(ino);
		if (!r)
			r = cio_dev_sync(ino, true);
		if (r < 0)
			return r;
	}
	if (done && err && cut)
		*cut = err;
	return done ? (ssize_t)done : err;
}
