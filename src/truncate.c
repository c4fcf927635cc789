/*
 * truncate.c - cio_truncate(): size changes that drain in-flight direct
 * writes (G8) and wait for pins (G7).
 *
 * Both ways, first: wait for the async writes accepted before (they may
 * extend the file; G8), without holding anything they could need.
 * Down:
 *  Step 1. Register [page of min(old, new size), end of file): waits for
 *          the direct writes, truncates and invalidates in flight past the
 *          cut, and in the block ftruncate zeroes (see there).
 *  Step 2. Latch every cached page from the cut on, in index order (waits
 *          for pins; with CIO_TRUNC_NOWAIT a busy page gives -EAGAIN and
 *          nothing has changed).
 *  Step 3. Publish the size, then ftruncate the backing file (a failed
 *          ftruncate puts the old size back; readers meanwhile saw the
 *          shorter file, which Linux's truncate shows them too).
 *  Step 4. Drop the pages past the cut (the documented discard of dirty
 *          data) and zero the tail of the page the cut falls in.
 *  Step 5. Again for pages a racing fill inserted after Step 2: such a fill
 *          inserted its page before it read, so Step 5 finds it; a reader
 *          of such a page re-checks the size once the page is ready and
 *          stops at the new end of file, never returning its zeros.
 * Up: ftruncate and publish; the new range reads as zeros (bytes of cached
 * pages past the size are always zero, see fill.c).
 */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Step 4 on one latched page. */
static void cut_page(struct cio_inode *ino, struct cio_page *pg, uint64_t size)
{
	struct cio_cache *c = ino->i_cache;
	uint64_t pstart = pg->pg_index << c->c_page_shift;
	if (atomic_load(&pg->pg_flags) & PG_REMOVED)
		return;
	if (pstart >= size) {
		struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
		pthread_mutex_lock(&sh->sh_lock);
		__cio_page_remove(ino, sh, pg);
		pthread_mutex_unlock(&sh->sh_lock);
	} else if (size - pstart < c->c_page_size) {
		memset(cio_page_data(c, pg) + (size - pstart), 0, c->c_page_size - (size - pstart));
	}
}

static void release_pages(struct cio_inode *ino, struct cio_page **v, size_t n, size_t latched)
{
	for (size_t i = 0; i < latched; i++)
		cio_unlatch(ino, v[i], LATCH_EXCLUSIVE);
	cio_page_put_all(ino, v, n);
	free(v);
}

/*
 * cio_kernel_cache_drop() - after an ftruncate of the backing file, write
 * back and drop the kernel's page cache of it from @from on. ftruncate
 * zeroes the tail of the file system block the end falls in through the
 * kernel's page cache and leaves that page there, dirty; an O_DIRECT write
 * to the block later cannot always invalidate it (with the kernel's own
 * write-back of it, or a second direct write, in flight) and Linux then
 * reports -EIO to every fsync of the file ("Page cache invalidation failure
 * on direct I/O"). Called with the range from @from registered, so no
 * direct write or write-back of coherio's is in flight there. Best effort:
 * both calls only fail for arguments that cannot happen here.
 */
void cio_kernel_cache_drop(int fd, uint64_t from)
{
	cio_kernel_cache_drop_range(fd, from, 0);
}

/* The same for [@from, @to) only (@to 0: to the end): fallocate's punch
 * and zero, which zero partial blocks at both edges. */
void cio_kernel_cache_drop_range(int fd, uint64_t from, uint64_t to)
{
	off_t n = to ? (off_t)(to - from) : 0;
	(void)sync_file_range(fd, (off_t)from, n,
	                      SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
	                      SYNC_FILE_RANGE_WAIT_AFTER);
	(void)posix_fadvise(fd, (off_t)from, n, POSIX_FADV_DONTNEED);
}

/* Wait until no write-back is in flight to a cached page from @first on.
 * With a range registered over them, none can start meanwhile. Takes no
 * latch, so pins (even the caller's) do not make it wait. */
void cio_wait_tail_writeback(struct cio_inode *ino, uint64_t first)
{
	struct cio_page **v;
	size_t n;
	if (cio_page_collect(ino, first, UINT64_MAX, false, &v, &n) < 0) {
		for (uint64_t i = first; i < first + 64; i++) { /* no memory: nearby */
			struct cio_page *pg = cio_page_lookup(ino, i);
			if (pg) {
				cio_page_wait_writeback(ino, pg);
				cio_page_put(ino, pg);
			}
		}
		return;
	}
	for (size_t i = 0; i < n; i++)
		cio_page_wait_writeback(ino, v[i]);
	cio_page_put_all(ino, v, n);
	free(v);
}

/* Collect and latch exclusively every cached page from @first on, in
 * index order: waits for pins and for write-backs in flight. */
static int latch_tail(struct cio_inode *ino, uint64_t first, bool nowait,
                      struct cio_page ***out, size_t *nout)
{
	struct cio_page **v;
	size_t n;
	int r = cio_page_collect(ino, first, UINT64_MAX, false, &v, &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		r = cio_latch(ino, v[i], LATCH_EXCLUSIVE, nowait);
		if (r < 0) {
			release_pages(ino, v, n, i);
			return r;
		}
	}
	*out = v;
	*nout = n;
	return 0;
}

static int truncate_down(struct cio_inode *ino, uint64_t size, bool nowait)
{
	struct cio_cache *c = ino->i_cache;
	uint64_t first = size >> c->c_page_shift;
	struct cio_page **v;
	size_t n, i;
	int r = latch_tail(ino, first, nowait, &v, &n);             /* Step 2 */
	if (r < 0)
		return r;
	/* Step 3: the size first, so that a fill that reads the cut-off
	 * device (zeros) serves a reader that re-checks the size after its
	 * page is ready (cached_io.c, pin.c) and sees end of file there. */
	int64_t old = atomic_load(&ino->i_size);
	pthread_mutex_lock(&ino->i_lock);
	atomic_store_explicit(&ino->i_size, (int64_t)size, memory_order_release);
	atomic_fetch_add_explicit(&ino->i_trunc_gen, 1, memory_order_release); /* direct_io.c */
	pthread_mutex_unlock(&ino->i_lock);
	if (!ino->i_blockdev && ftruncate(ino->i_fd, (off_t)size) < 0) {
		r = -errno;
		pthread_mutex_lock(&ino->i_lock);
		atomic_store_explicit(&ino->i_size, old, memory_order_release);
		atomic_fetch_add_explicit(&ino->i_trunc_gen, 1, memory_order_release);
		pthread_mutex_unlock(&ino->i_lock);
		release_pages(ino, v, n, n);
		return r;
	}
	if (!ino->i_blockdev)
		cio_kernel_cache_drop(ino->i_fd, size & ~(uint64_t)(c->c_page_size - 1));
	for (i = 0; i < n; i++)                                     /* Step 4 */
		cut_page(ino, v[i], size);
	release_pages(ino, v, n, n);

	if (cio_page_collect(ino, first, UINT64_MAX, false, &v, &n) == 0) { /* Step 5 */
		for (i = 0; i < n; i++) {
			cio_latch(ino, v[i], LATCH_EXCLUSIVE, false);
			cut_page(ino, v[i], size);
			cio_unlatch(ino, v[i], LATCH_EXCLUSIVE);
		}
		cio_page_put_all(ino, v, n);
		free(v);
	}
	return 0;
}

/*
 * The truncate fence. A cached write or a write pin is atomic with respect
 * to a truncate: wholly before it or wholly after it. Otherwise the
 * truncate's collect (Step 2) could miss a page the writer inserts, Step 5
 * would drop data the writer put there, and a multi-page write could land
 * half before the cut and half after it (zeros where it wrote). Writers
 * enter (i_writers) for the whole call and check i_trunc_page; a truncate
 * sets i_trunc_page, then waits until no writer is inside. Dekker pairing,
 * all seq_cst: the writer increments i_writers then reads i_trunc_page;
 * the truncate stores i_trunc_page then reads i_writers: one of them sees
 * the other. A writer that meets the fence with its last page at or past
 * it leaves and waits, holding no latch, for the truncate to end.
 * A thread that holds a pin the truncate waits for and then writes past
 * the cut would wait for itself: documented at cio_truncate() in coherio.h.
 */
void cio_fence_set(struct cio_inode *ino, uint64_t page)
{
	pthread_mutex_lock(&ino->i_lock);
	atomic_store(&ino->i_trunc_page, page);
	if (page == UINT64_MAX) {
		pthread_cond_broadcast(&ino->i_cond);
	} else {
		while (atomic_load(&ino->i_writers))
			pthread_cond_wait(&ino->i_cond, &ino->i_lock);
	}
	pthread_mutex_unlock(&ino->i_lock);
}

/* Wait, holding no latch, until no truncate runs (-EAGAIN with @nowait). */
static int truncate_wait(struct cio_inode *ino, bool nowait)
{
	int r = 0;
	pthread_mutex_lock(&ino->i_lock);
	while (atomic_load(&ino->i_trunc_page) != UINT64_MAX) {
		if (nowait) {
			r = -EAGAIN;
			break;
		}
		pthread_cond_wait(&ino->i_cond, &ino->i_lock);
	}
	pthread_mutex_unlock(&ino->i_lock);
	return r;
}

/* A writer of pages up to @last_page enters: 0, or -EAGAIN with @nowait
 * when a truncate would make it wait. Context: holds no latch. */
int cio_write_enter(struct cio_inode *ino, uint64_t last_page, bool nowait)
{
	for (;;) {
		atomic_fetch_add(&ino->i_writers, 1);
		if (last_page < atomic_load(&ino->i_trunc_page))
			return 0;
		cio_write_exit(ino);
		int r = truncate_wait(ino, nowait);
		if (r < 0)
			return r;
	}
}

void cio_write_exit(struct cio_inode *ino)
{
	if (atomic_fetch_sub(&ino->i_writers, 1) == 1 &&
	    atomic_load(&ino->i_trunc_page) != UINT64_MAX) {
		pthread_mutex_lock(&ino->i_lock);
		pthread_cond_broadcast(&ino->i_cond);
		pthread_mutex_unlock(&ino->i_lock);
	}
}

/* The argument checks of cio_truncate(), shared with the async path. */
int cio_truncate_check(cio_file *f, int64_t size, unsigned flags)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	if (flags & ~CIO_TRUNC_NOWAIT)
		return -EINVAL;
	if (size < 0)
		return -EINVAL;
	if (size > CIO_MAX_FILE_SIZE)
		return -EFBIG;
	if ((f->h_flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (f->h_inode->i_blockdev)
		return -EINVAL;
	return 0;
}

int cio_truncate(cio_file *f, int64_t size, unsigned flags)
{
	int r = cio_truncate_check(f, size, flags);
	if (r < 0)
		return r;
	return cio_size_change(f->h_inode, size, (flags & CIO_TRUNC_NOWAIT) != 0, false);
}

/*
 * cio_size_change() - set the size to @size (truncate), or with @grow_only
 * raise it to @size if it is smaller and leave it alone otherwise (a growing
 * fallocate: the decision is taken under the range and the fence, so a size
 * that an extending write raised meanwhile is never lowered, G5).
 * Context: may block; the caller holds no latch and no range.
 */
int cio_size_change(struct cio_inode *ino, int64_t size, bool nowait, bool grow_only)
{
	int r = 0;
	struct cio_range range;
	cio_async_writes_wait(ino);                                  /* G8 */
	/* Step 1, from the page of the lower of the two ends: ftruncate
	 * zeroes the rest of the file system block the old or new end falls
	 * in through the kernel's page cache, and a direct write or a
	 * write-back to that block in flight meanwhile makes the kernel fail
	 * to invalidate that page after its write and report -EIO to every
	 * fsync of the file ("Page cache invalidation failure on direct I/O";
	 * found by coherio check after 15 minutes). */
	uint64_t pmask = (uint64_t)ino->i_cache->c_page_size - 1;
	for (;;) {
		uint64_t from = (uint64_t)CIO_MIN(atomic_load(&ino->i_size), size) & ~pmask;
		r = cio_range_lock(ino, &range, from, UINT64_MAX, nowait);
		if (r < 0)
			return r;
		if ((uint64_t)atomic_load(&ino->i_size) >= from)
			break;
		cio_range_unlock(ino, &range); /* another truncate cut below it */
	}
	int64_t old = atomic_load(&ino->i_size);
	cio_fence_set(ino, (uint64_t)CIO_MIN(old, size) >> ino->i_cache->c_page_shift);
	/* No writer is inside now and none can extend past min(old, size):
	 * the loop only guards the decision, taken on the size under i_lock. */
	for (;;) {
		old = atomic_load(&ino->i_size);
		if (size <= old && grow_only)
			break;
		if (size < old) {
			r = truncate_down(ino, (uint64_t)size, nowait);
			break;
		}
		if (size == old)
			break;
		/* Up: no write-back in flight to the old end's page either,
		 * for the zeroing described at Step 1 (the range keeps new
		 * ones from starting). */
		cio_wait_tail_writeback(ino, (uint64_t)old >> ino->i_cache->c_page_shift);
		if (ftruncate(ino->i_fd, (off_t)size) < 0) {
			r = -errno;
			break;
		}
		cio_kernel_cache_drop(ino->i_fd, (uint64_t)old & ~pmask);
		pthread_mutex_lock(&ino->i_lock);
		bool grown = atomic_load(&ino->i_size) <= size;
		if (grown)
			atomic_store_explicit(&ino->i_size, size, memory_order_release);
		pthread_mutex_unlock(&ino->i_lock);
		if (grown)
			break;
	}
	cio_fence_set(ino, UINT64_MAX);
	cio_range_unlock(ino, &range);
	return r;
}
