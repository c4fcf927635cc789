/*
 * fallocate.c - cio_fallocate(): fallocate(2) through the cache, ordered
 * against every other size change and direct write, with Linux's rules.
 *
 * The backing file is only ever given its size by coherio's own size
 * changes (truncate.c) and the write-back trim (writeback.c), so the kernel
 * call always runs with FALLOC_FL_KEEP_SIZE and the size moves here:
 *
 * Reserve (mode 0, KEEP_SIZE): wait for the async writes accepted before
 *   (Linux's fallocate waits for direct I/O in flight too), reserve the
 *   blocks, then grow the size with cio_size_change(grow_only): the decision
 *   "is the size below off + len?" is taken under the range [size's page,
 *   end of file) and the truncate fence, so an extending direct write in
 *   flight is either done first (its larger size stays) or runs after.
 *   (Reading the size first and truncating to off + len, as the preload
 *   library once did, lowered a size that such a write raised meanwhile.)
 * Punch and zero:
 *   Step 1. Register the range widened to whole pages: the kernel zeroes the
 *           partial file system blocks at the edges through its own page
 *           cache, so no direct write or write-back of coherio's may be in
 *           flight to those blocks meanwhile (see cio_kernel_cache_drop()).
 *   Step 2. Latch each cached page of it once: waits for pins and for
 *           write-backs that started before Step 1 (none can start now).
 *   Step 3. The kernel call; then write back and drop the kernel's own
 *           pages of the range.
 *   Step 4. Zero [off, off + len) in every cached page in place, as a direct
 *           write updates them (direct_io.c): a dirty page keeps its other
 *           bytes (G3), and a fill that raced the call either inserted its
 *           page before this scan (waited for, then zeroed) or read the
 *           device after Step 3.
 *   Step 5. Unregister; ZERO_RANGE without KEEP_SIZE grows the size as
 *           reserve does.
 * Collapse and insert move data under every page from @off on:
 *   Step 1. Register [off's page, end of file) and raise the truncate fence
 *           there (no cached write or write pin from that page on is inside
 *           or can enter), so the size is stable.
 *   Step 2. Check the range against the size (Linux's EINVAL rules).
 *   Step 3. Latch, write back ("launder") and drop every cached page from
 *           off's page on; a failed write-back stops here with its error,
 *           the page kept dirty and nothing moved.
 *   Step 4. Make the backing file's size coherio's, then the kernel call.
 *   Step 5. Publish the new size (bumping i_trunc_gen, so direct reads that
 *           met the device's end start over), drop the kernel's page cache
 *           from off's page on, and drop the pages racing fills inserted
 *           meanwhile (they inserted before reading, so this pass finds
 *           them). A cached read racing the shift may return a mix of data
 *           from before and after it (Linux holds readers off with its
 *           invalidate lock; coherio does not yet): documented in coherio.h
 *           terms as "the cache afterwards holds only the shifted data".
 * Locks: ranges (range.c) before latches; no mutex across the kernel call.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FALLOC_KNOWN (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | \
                      FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)
#define FALLOC_SHIFT (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)

/* The argument checks, in the order vfs_fallocate() makes them. */
static int falloc_check(cio_file *f, int mode, int64_t off, int64_t len)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	if (off < 0 || len <= 0)
		return -EINVAL;
	if ((mode & CIO_FALLOC_POSIX) && (mode & ~CIO_FALLOC_POSIX))
		return -EINVAL;
	mode &= ~(int)CIO_FALLOC_POSIX;
	if (mode & ~FALLOC_KNOWN)
		return -EOPNOTSUPP;
	struct cio_inode *ino = f->h_inode;
	int kind = mode & ~FALLOC_FL_KEEP_SIZE;
	if (kind & (kind - 1) || ((kind & FALLOC_SHIFT) && (mode & FALLOC_FL_KEEP_SIZE))) {
		/* two modes at once: refused by every kernel before it looks
		 * at the file, with an errno that changed between versions
		 * (EINVAL, then EOPNOTSUPP): ask the one we run on */
		int e = fallocate(ino->i_fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
		return e ? e : -EINVAL;
	}
	if ((mode & FALLOC_FL_PUNCH_HOLE) && !(mode & FALLOC_FL_KEEP_SIZE))
		return -EOPNOTSUPP;
	if ((f->h_flags & O_ACCMODE) == O_RDONLY)
		return -EBADF;
	if (len > CIO_MAX_FILE_SIZE || off > CIO_MAX_FILE_SIZE - len)
		return -EFBIG;
	if (ino->i_blockdev && !((mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) &&
	                         (mode & FALLOC_FL_KEEP_SIZE)))
		return -EOPNOTSUPP;
	if (mode & FALLOC_SHIFT) {
		/* the kernel's block-size rule, checked before anything moves */
		struct stat st;
		if (fstat(ino->i_fd, &st) < 0)
			return -errno;
		int64_t bs = st.st_blksize > 0 ? st.st_blksize : 4096;
		if (off % bs || len % bs)
			return -EINVAL;
	}
	return 0;
}

/* The kernel call on the backing file (always keeping its size). */
static int backing_fallocate(struct cio_inode *ino, int mode, int64_t off, int64_t len)
{
	if (!(mode & FALLOC_SHIFT) && !ino->i_blockdev)
		mode |= FALLOC_FL_KEEP_SIZE;
	return fallocate(ino->i_fd, mode, (off_t)off, (off_t)len) < 0 ? -errno : 0;
}

static int punch_or_zero(struct cio_inode *ino, int mode, uint64_t off, uint64_t len)
{
	uint64_t pmask = (uint64_t)ino->i_cache->c_page_size - 1;
	uint64_t from = off & ~pmask, to = (off + len + pmask) & ~pmask;
	struct cio_range range;
	cio_range_lock(ino, &range, from, to, false);                  /* Step 1 */
	int r = cio_dio_wait_pins(ino, from, to - from, false);         /* Step 2 */
	if (r == 0)
		r = backing_fallocate(ino, mode, (int64_t)off, (int64_t)len); /* Step 3 */
	if (r == 0) {
		if (!ino->i_blockdev)
			cio_kernel_cache_drop_range(ino->i_fd, from, to);
		cio_dio_update_cached(ino, NULL, 0, off, len);          /* Step 4 */
	}
	cio_range_unlock(ino, &range);                                 /* Step 5 */
	return r;
}

/* Step 3 of collapse/insert (and Step 5's second pass with @launder false):
 * latch, write back if dirty, and drop every cached page from @first on. */
static int drop_tail(struct cio_inode *ino, uint64_t first, bool launder)
{
	struct cio_page **v;
	size_t n, i;
	int r = cio_page_collect(ino, first, UINT64_MAX, false, &v, &n);
	if (r < 0)
		return r;
	for (i = 0; i < n && r == 0; i++) {
		struct cio_page *pg = v[i];
		cio_latch(ino, pg, LATCH_EXCLUSIVE, false);
		if (!(atomic_load(&pg->pg_flags) & PG_REMOVED)) {
			if (launder)
				r = cio_write_page_locked(ino, pg);
			if (r == 0) {
				struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
				pthread_mutex_lock(&sh->sh_lock);
				__cio_page_remove(ino, sh, pg);
				pthread_mutex_unlock(&sh->sh_lock);
			}
		}
		cio_unlatch(ino, pg, LATCH_EXCLUSIVE);
	}
	cio_page_put_all(ino, v, n);
	free(v);
	return r;
}

static int shift_range(struct cio_inode *ino, int mode, int64_t off, int64_t len)
{
	struct cio_cache *c = ino->i_cache;
	uint64_t pmask = (uint64_t)c->c_page_size - 1;
	uint64_t from = (uint64_t)off & ~pmask;
	struct cio_range range;
	struct stat st;
	int r = 0;

	cio_range_lock(ino, &range, from, UINT64_MAX, false);          /* Step 1 */
	cio_fence_set(ino, from >> c->c_page_shift);
	int64_t size = atomic_load(&ino->i_size);                      /* Step 2 */
	bool collapse = mode & FALLOC_FL_COLLAPSE_RANGE;
	if (collapse ? off + len >= size : off >= size)
		r = -EINVAL;
	else if (!collapse && size > CIO_MAX_FILE_SIZE - len)
		r = -EFBIG;
	if (r == 0)
		r = drop_tail(ino, from >> c->c_page_shift, true);         /* Step 3 */
	/* Step 4: the kernel shifts from its own size. Every page from
	 * @from on is on the device now; a backing file longer than coherio's
	 * size holds only write-back padding there (or a change made behind
	 * the cache, G10, which coherio's view overrides here). */
	bool cut = false;
	if (r == 0 && fstat(ino->i_fd, &st) < 0)
		r = -errno;
	if (r == 0 && st.st_size != size) {
		cut = true;
		if (ftruncate(ino->i_fd, (off_t)size) < 0)
			r = -errno;
	}
	if (r == 0)
		r = backing_fallocate(ino, mode, off, len);
	if (r < 0 && cut)
		cio_kernel_cache_drop(ino->i_fd, from); /* ftruncate's zeroing */
	if (r == 0) {                                                  /* Step 5 */
		pthread_mutex_lock(&ino->i_lock);
		atomic_store_explicit(&ino->i_size, collapse ? size - len : size + len,
		                      memory_order_release);
		atomic_fetch_add_explicit(&ino->i_trunc_gen, 1, memory_order_release);
		pthread_mutex_unlock(&ino->i_lock);
		atomic_store_explicit(&ino->i_wrote, 1, memory_order_relaxed);
		cio_kernel_cache_drop(ino->i_fd, from);
		(void)drop_tail(ino, from >> c->c_page_shift, false);
	}
	cio_fence_set(ino, UINT64_MAX);
	cio_range_unlock(ino, &range);
	return r;
}

int cio_fallocate(cio_file *f, int mode, int64_t off, int64_t len)
{
	int r = falloc_check(f, mode, off, len);
	if (r < 0)
		return r;
	struct cio_inode *ino = f->h_inode;
	bool posix = mode & CIO_FALLOC_POSIX;
	mode &= ~(int)CIO_FALLOC_POSIX;
	cio_async_writes_wait(ino);   /* as Linux waits for direct I/O in flight */
	if (mode & FALLOC_SHIFT)
		return shift_range(ino, mode, off, len);
	if (mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE))
		r = punch_or_zero(ino, mode, (uint64_t)off, (uint64_t)len);
	else
		r = backing_fallocate(ino, mode, off, len);
	/* posix_fallocate: glibc writes zeros where the file system cannot
	 * reserve blocks; growing the size gives the same reads here */
	if (r == -EOPNOTSUPP && posix)
		r = 0;
	if (r == 0 && !(mode & FALLOC_FL_KEEP_SIZE) && !ino->i_blockdev)
		r = cio_size_change(ino, off + len, false, true);
	return r;
}
