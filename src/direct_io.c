/*
 * direct_io.c - the direct path: data moves between the caller's buffers
 * and the device, and the cache is kept coherent around it.
 *
 * Direct read (G2): write back the dirty cached pages of the range (they
 * stay cached, clean; a write-back already in flight is waited for), then
 * read from the device, clipped to coherio's size.
 *
 * Direct write (G1, G3, G5, G7):
 *  Step 1. Register the byte range (range.c): overlapping direct writes,
 *          truncates and invalidates wait for each other, and no write-back
 *          of a page in the range can start until Step 5.
 *  Step 2. Latch every cached page of the range exclusively once and let it
 *          go: waits for pins (or -EAGAIN with CIO_RW_NOWAIT, nothing done)
 *          and for write-backs that started before Step 1.
 *  Step 3. Write the caller's buffers to the device.
 *  Step 4. Publish the size if the write extended the file: the data is on
 *          the device now.
 *  Step 5. Update every cached page of the range in place under its
 *          exclusive latch (a fill that raced the write is waited for and
 *          then overwritten), so every later read on every path, pinned and
 *          cached, returns the new data. Dirty pages stay dirty: their other
 *          bytes are newer than the device, and their copy of this range is
 *          now the new data, so a later write-back cannot be stale.
 *  Step 6. Unregister the range; return only now.
 * Locks: i_lock (through range.c), page latches; no mutex across I/O.
 */
#include "internal.h"

#include <stdlib.h>

ssize_t cio_direct_read(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);

	atomic_fetch_add_explicit(&c->st_dio_reads, 1, memory_order_relaxed);
	if ((int64_t)off >= size)
		return 0;
	uint64_t end = CIO_MIN(off + len, (uint64_t)size);
	if (atomic_load(&ino->i_npages)) {
		struct cio_page **v;
		size_t nv;
		int r = cio_page_collect(ino, off >> c->c_page_shift,
		                         (end - 1) >> c->c_page_shift, false, &v, &nv);
		if (r < 0)
			return r;
		r = cio_writeback_pages(ino, v, nv, true, NULL, NULL);
		cio_page_put_all(ino, v, nv);
		free(v);
		if (r < 0)
			return r;
	}
	uint64_t lbs = ino->i_lbs;
	size_t rlen = CIO_MIN(len, (size_t)(((end - off) + lbs - 1) / lbs * lbs));
	ssize_t got = cio_dev_read_full(ino, iov, n, off, rlen);
	if (got < 0)
		return got;
	return (ssize_t)CIO_MIN((uint64_t)got, end - off);
}

/* Step 5 for one page: copy the bytes of [off, off+len) that fall in @pg. */
static void update_one(struct cio_inode *ino, struct cio_page *pg, const struct iovec *iov,
                       int n, uint64_t off, size_t len)
{
	struct cio_cache *c = ino->i_cache;
	cio_latch(ino, pg, LATCH_EXCLUSIVE, false);
	if (!(atomic_load(&pg->pg_flags) & PG_REMOVED)) {
		uint64_t pstart = pg->pg_index << c->c_page_shift;
		uint64_t a = CIO_MAX(pstart, off);
		uint64_t b = CIO_MIN(pstart + c->c_page_size, off + len);
		cio_iov_copy_in(iov, n, a - off, cio_page_data(c, pg) + (a - pstart), b - a);
		atomic_fetch_add_explicit(&c->st_coherence, 1, memory_order_relaxed);
	}
	cio_unlatch(ino, pg, LATCH_EXCLUSIVE);
}

/* Step 5: copy bytes [off, off+len) of the caller's buffers into every
 * cached page of the range. Cannot fail: without memory for the page list
 * it goes index by index. */
static void update_cached_copies(struct cio_inode *ino, const struct iovec *iov, int n,
                                 uint64_t off, size_t len)
{
	struct cio_cache *c = ino->i_cache;
	struct cio_page **v = NULL;
	size_t nv = 0;

	if (!atomic_load(&ino->i_npages))
		return;
	uint64_t first = off >> c->c_page_shift, last = (off + len - 1) >> c->c_page_shift;
	if (cio_page_collect(ino, first, last, false, &v, &nv) < 0) {
		for (uint64_t i = first; i <= last; i++) {
			struct cio_page *pg = cio_page_lookup(ino, i);
			if (pg) {
				update_one(ino, pg, iov, n, off, len);
				cio_page_put(ino, pg);
			}
		}
		return;
	}
	for (size_t i = 0; i < nv; i++)
		update_one(ino, v[i], iov, n, off, len);
	cio_page_put_all(ino, v, nv);
	free(v);
}

/* Step 2: wait for pins and earlier write-backs on the range's pages. */
static int wait_for_pins(struct cio_inode *ino, uint64_t off, size_t len, bool nowait)
{
	struct cio_cache *c = ino->i_cache;
	struct cio_page **v;
	size_t nv;
	int r = 0;

	if (!atomic_load(&ino->i_npages))
		return 0;
	r = cio_page_collect(ino, off >> c->c_page_shift, (off + len - 1) >> c->c_page_shift,
	                     false, &v, &nv);
	if (r < 0)
		return r;
	for (size_t i = 0; i < nv && r == 0; i++) {
		r = cio_latch(ino, v[i], LATCH_EXCLUSIVE, nowait);
		if (r == 0)
			cio_unlatch(ino, v[i], LATCH_EXCLUSIVE);
	}
	cio_page_put_all(ino, v, nv);
	free(v);
	return r;
}

ssize_t cio_direct_write(cio_file *f, const struct iovec *iov, int n, size_t len,
                         uint64_t off, unsigned flags)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	struct cio_range range;
	bool nowait = (flags & CIO_RW_NOWAIT) != 0;

	atomic_fetch_add_explicit(&c->st_dio_writes, 1, memory_order_relaxed);
	if (ino->i_blockdev) {
		int64_t size = atomic_load(&ino->i_size);
		if ((int64_t)off >= size)
			return -ENOSPC;
		len = CIO_MIN(len, (uint64_t)size - off);
	}
	int r = cio_range_lock(ino, &range, off, off + len, nowait);   /* Step 1 */
	if (r < 0)
		return r;
	r = wait_for_pins(ino, off, len, nowait);                        /* Step 2 */
	if (r < 0) {
		cio_range_unlock(ino, &range);
		return r;
	}
	ssize_t w = cio_dev_write_full(ino, iov, n, off, len);           /* Step 3 */
	if (w > 0) {
		cio_size_extend(ino, (int64_t)(off + (uint64_t)w));       /* Step 4 */
		update_cached_copies(ino, iov, n, off, (size_t)w);        /* Step 5 */
		if (flags & CIO_RW_DSYNC) {
			int s = cio_dev_sync(ino, true);
			if (s < 0)
				w = s;
		}
	}
	cio_range_unlock(ino, &range);                                   /* Step 6 */
	return w;
}
