/*
 * fill.c - getting a page with its data: the look-up (the hit path) and, on
 * a miss, frame allocation, insertion into the index and the device read,
 * with sequential readahead that doubles its window along a detected stream.
 *
 * The hit path: one shard mutex round trip (uncontended: no system call),
 * a relaxed frequency store, and the latch CAS. No global lock.
 *
 * Ordering rules that make fills coherent with direct writes (G1, G5):
 *  (1) a page is inserted into the index, latched exclusively, BEFORE its
 *      device read is issued; a direct write scans the index only after its
 *      own device write completed, so it either finds the page (and waits
 *      for the fill, then overwrites it in place) or the read starts after
 *      the write finished and returns the new data;
 *  (2) a direct write updates cached pages (its scan) before it publishes
 *      its size, so a fill inserted after the scan may still see the old
 *      size while the device already holds the new data past it. So after
 *      inserting, a fill checks for registered ranges (i_nranges, then
 *      i_lock): over a range it reads the device and keeps whatever it
 *      returns; otherwise the size loaded after the insertion decides
 *      "past end of file: zeros, no read" and the zeroed tail. (The range
 *      was registered before the write's scan; the scan missed the page, so
 *      the insertion came after the scan under the same shard lock.)
 * Locks: sh_lock for the index, c_lru_lock (inside sh_lock) for the queue.
 */
#include "internal.h"

#include <string.h>

static void fail_new_pages(struct cio_inode *ino, struct cio_page **v, int n)
{
	for (int i = 0; i < n; i++) {
		struct cio_shard *sh = cio_shard_of(ino, v[i]->pg_index);
		pthread_mutex_lock(&sh->sh_lock);
		__cio_page_remove(ino, sh, v[i]);
		pthread_mutex_unlock(&sh->sh_lock);
		cio_unlatch(ino, v[i], LATCH_EXCLUSIVE);
		cio_page_put(ino, v[i]);
	}
}

/* Choose how many pages to bring in for a miss at @idx. */
static uint32_t readahead_window(cio_file *f, uint64_t idx, unsigned gflags)
{
	/* at most an eighth of the cache in one window */
	uint32_t max = CIO_MIN(f->h_cache->c_ra_max, CIO_MAX(1u, f->h_cache->c_nframes / 8));
	if ((gflags & GET_NOFILL) || max <= 1)
		return 1;
	uint64_t expect = atomic_load_explicit(&f->h_ra_next, memory_order_relaxed);
	uint32_t w = atomic_load_explicit(&f->h_ra_window, memory_order_relaxed);
	if (idx == expect && expect != 0)
		w = w ? CIO_MIN(w * 2, max) : CIO_MIN(4u, max);
	else
		w = 1;
	return w;
}

/*
 * page_miss() - bring page @idx (and a readahead window after it) into the
 * cache. Return: the page, referenced and latched in @mode; NULL with *err
 * = -EEXIST when another thread inserted it first (the caller retries), or
 * another -errno.
 */
static struct cio_page *page_miss(cio_file *f, uint64_t idx, int mode,
                                  unsigned gflags, int *err)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	struct cio_page *v[CIO_MAX_RA];
	struct iovec iov[CIO_MAX_RA];
	uint32_t want = readahead_window(f, idx, gflags);
	int n = 0, allocated = 0;
	uint32_t ps = c->c_page_size;

	if (want > 1) {
		/* never read ahead past end of file */
		int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
		uint64_t eof_pages = ((uint64_t)size + ps - 1) >> c->c_page_shift;
		if (idx + want > eof_pages)
			want = eof_pages > idx ? (uint32_t)(eof_pages - idx) : 1;
	}
	for (uint32_t i = 0; i < want; i++) {
		int aerr = 0;
		struct cio_page *pg = cio_frame_alloc(c, i == 0, &aerr);
		if (!pg) {
			if (i == 0) {
				*err = aerr;
				return NULL;
			}
			break;
		}
		v[allocated++] = pg;
	}
	/* Insert in file order; stop at the first page already cached. */
	for (int i = 0; i < allocated; i++) {
		struct cio_page *pg = v[i];
		struct cio_shard *sh = cio_shard_of(ino, idx + (uint64_t)i);
		pg->pg_inode = ino;
		pg->pg_index = idx + (uint64_t)i;
		atomic_store(&pg->pg_latch, LATCH_EXCL);
		atomic_store(&pg->pg_refs, 1);
		pthread_mutex_lock(&sh->sh_lock);
		if (__cio_index_find(ino, sh, pg->pg_index)) {
			pthread_mutex_unlock(&sh->sh_lock);
			break;
		}
		__cio_index_insert(ino, sh, pg);
		pthread_mutex_lock(&c->c_lru_lock);
		__cio_queue_insert(c, pg);
		pthread_mutex_unlock(&c->c_lru_lock);
		pthread_mutex_unlock(&sh->sh_lock);
		n++;
	}
	for (int i = n; i < allocated; i++)
		cio_frame_release(c, v[i]);
	if (n == 0) {
		*err = -EEXIST;
		return NULL;
	}

	/* Rule (2): after the insertion, ranges first, then the size. */
	uint64_t base = idx << c->c_page_shift;
	int64_t size = INT64_MAX;
	if (!atomic_load(&ino->i_nranges) ||
	    !cio_range_overlaps(ino, base, base + (uint64_t)n * ps))
		size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
	if (!(gflags & GET_NOFILL)) {
		size_t need = 0;
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = cio_page_data(c, v[i]);
			iov[i].iov_len = ps;
			if ((int64_t)(base + (uint64_t)i * ps) < size)
				need = (size_t)(i + 1) * ps;
		}
		size_t got = 0;
		if (need) {
			ssize_t r = cio_dev_read_full(ino, iov, n, base, need, NULL);
			if (r < 0) {
				fail_new_pages(ino, v, n);
				*err = (int)r;
				return NULL;
			}
			got = (size_t)r;
		}
		/* Zero what the device did not have, and everything past the
		 * size: bytes of a cached page past end of file are always 0. */
		uint64_t valid = CIO_MIN((uint64_t)got,
		                         size > (int64_t)base ? (uint64_t)size - base : 0);
		for (int i = 0; i < n; i++) {
			uint64_t pstart = (uint64_t)i * ps;
			if (valid <= pstart)
				memset(iov[i].iov_base, 0, ps);
			else if (valid < pstart + ps)
				memset((uint8_t *)iov[i].iov_base + (valid - pstart), 0,
				       ps - (valid - pstart));
		}
	}
	for (int i = 0; i < n; i++)
		atomic_fetch_or(&v[i]->pg_flags, PG_UPTODATE);

	cio_counter_add(&c->st_misses, 1);
	if (n > 1)
		atomic_fetch_add_explicit(&c->st_readahead, (uint64_t)(n - 1), memory_order_relaxed);
	if (!(gflags & GET_NOFILL)) {
		atomic_store_explicit(&f->h_ra_next, idx + (uint64_t)n, memory_order_relaxed);
		atomic_store_explicit(&f->h_ra_window, want, memory_order_relaxed);
	}
	for (int i = 1; i < n; i++) {
		cio_unlatch(ino, v[i], LATCH_EXCLUSIVE);
		cio_page_put(ino, v[i]);
	}
	if (mode == LATCH_SHARED)
		cio_latch_downgrade(ino, v[0]);
	return v[0];
}

/*
 * cio_page_get() - page @idx of @f's file, referenced and latched in @mode,
 * holding its data (or, with GET_NOFILL, a frame the caller overwrites
 * whole). GET_CACHED: only a cached page; NULL with *err = 0 if absent.
 * GET_NOWAIT: -EAGAIN instead of waiting for a latch.
 * Context: may sleep and do I/O; the caller holds no mutex, and no latch
 * on a page of a higher index of the same file.
 */
struct cio_page *cio_page_get(cio_file *f, uint64_t idx, int mode,
                              unsigned gflags, int *err)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	*err = 0;
	for (;;) {
		struct cio_shard *sh = cio_shard_of(ino, idx);
		pthread_mutex_lock(&sh->sh_lock);
		struct cio_page *pg = __cio_index_find(ino, sh, idx);
		if (pg)
			atomic_fetch_add(&pg->pg_refs, 1);
		pthread_mutex_unlock(&sh->sh_lock);
		if (pg) {
			int r = cio_latch(ino, pg, mode, (gflags & GET_NOWAIT) != 0);
			if (r < 0) {
				cio_page_put(ino, pg);
				*err = r;
				return NULL;
			}
			if (CIO_UNLIKELY(atomic_load(&pg->pg_flags) & PG_REMOVED)) {
				cio_unlatch(ino, pg, mode);
				cio_page_put(ino, pg);
				continue;
			}
			cio_page_touch(pg);
			cio_counter_add(&c->st_hits, 1);
			return pg;
		}
		if (gflags & GET_CACHED)
			return NULL;
		pg = page_miss(f, idx, mode, gflags, err);
		if (pg || *err != -EEXIST)
			return pg;
		*err = 0;
	}
}
