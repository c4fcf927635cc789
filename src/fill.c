/*
 * fill.c - getting a page with its data: the look-up (the hit path) and, on
 * a miss, frame allocation, insertion into the index and the device read,
 * with sequential readahead that doubles its window along a detected stream.
 *
 * The hit path: one shard mutex round trip (uncontended: no system call),
 * a relaxed frequency store, and the latch CAS. No global lock.
 *
 * Ordering rules that make fills coherent with direct writes (G1, G5):
 * Readahead: a miss reads its own page on the caller's thread and the rest
 * of its window as one background request (ra_submit); a hit on the second
 * page of the last window starts the next one (readahead_ahead), so a
 * sequential stream finds its pages ready. Completions never block.
 *
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

#include <stdlib.h>
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
 * Allocate frames for pages [idx, idx+want) and insert them, in file order,
 * stopping at the first page already cached or past end of file; each is
 * latched exclusively with one reference. Only the first frame may wait
 * for eviction (@block_first): readahead never starves a real miss.
 * Return: pages inserted (0: the first was cached already), or -errno.
 */
static int insert_window(struct cio_inode *ino, uint64_t idx, uint32_t want,
                         bool block_first, struct cio_page **v)
{
	struct cio_cache *c = ino->i_cache;
	uint32_t ps = c->c_page_size;
	int n = 0, allocated = 0;

	if (want > 1) {
		int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
		uint64_t eof_pages = ((uint64_t)size + ps - 1) >> c->c_page_shift;
		if (idx + want > eof_pages)
			want = eof_pages > idx ? (uint32_t)(eof_pages - idx) : 1;
	}
	for (uint32_t i = 0; i < want; i++) {
		int aerr = 0;
		struct cio_page *pg = cio_frame_alloc(c, i == 0 && block_first, &aerr);
		if (!pg) {
			if (i == 0)
				return aerr;
			break;
		}
		v[allocated++] = pg;
	}
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
	return n;
}

/* Rule (2): after the insertion, ranges first, then the size. Over a
 * registered range the fill trusts the device (INT64_MAX). */
static int64_t fill_size(struct cio_inode *ino, uint64_t base, uint64_t len)
{
	if (atomic_load(&ino->i_nranges) && cio_range_overlaps(ino, base, base + len))
		return INT64_MAX;
	return atomic_load_explicit(&ino->i_size, memory_order_acquire);
}

/* Bytes of [base, ...) worth reading: up to the last page below @size. */
static size_t fill_need(struct cio_cache *c, uint64_t base, int n, int64_t size)
{
	size_t need = 0;
	for (int i = 0; i < n; i++)
		if ((int64_t)(base + (uint64_t)i * c->c_page_size) < size)
			need = (size_t)(i + 1) * c->c_page_size;
	return need;
}

/* Zero what the device did not have (@got bytes arrived) and everything
 * past @size, then mark the pages up to date. Bytes of a cached page past
 * end of file are always 0. */
static void fill_finish(struct cio_inode *ino, struct cio_page **v, int n, uint64_t base,
                        size_t got, int64_t size)
{
	struct cio_cache *c = ino->i_cache;
	uint32_t ps = c->c_page_size;
	uint64_t valid = CIO_MIN((uint64_t)got, size > (int64_t)base ? (uint64_t)size - base : 0);
	for (int i = 0; i < n; i++) {
		uint64_t pstart = (uint64_t)i * ps;
		uint8_t *d = cio_page_data(c, v[i]);
		if (valid <= pstart)
			memset(d, 0, ps);
		else if (valid < pstart + ps)
			memset(d + (valid - pstart), 0, ps - (valid - pstart));
		atomic_fetch_or(&v[i]->pg_flags, PG_UPTODATE);
	}
}

static void release_filled(struct cio_inode *ino, struct cio_page **v, int n)
{
	for (int i = 0; i < n; i++) {
		cio_unlatch(ino, v[i], LATCH_EXCLUSIVE);
		cio_page_put(ino, v[i]);
	}
}

/* ---- asynchronous readahead --------------------------------------------- */

struct ra_req {
	struct cio_io io;
	struct cio_inode *ino;
	int n;
	uint64_t base;
	int64_t size;
	size_t need, done;
	struct iovec part[64];
	struct cio_page **pg;      /* n pages, then n iovecs follow */
	struct iovec *iov;
};

static void ra_issue(struct ra_req *r);

/* Engine completion of a readahead: publish the pages (or drop them on an
 * error: a later read retries and reports it). Never blocks. */
static void ra_done(struct cio_io *io)
{
	struct ra_req *r = io->priv;
	struct cio_inode *ino = r->ino;
	ssize_t res = io->res;
	if (res < 0) {
		fail_new_pages(ino, r->pg, r->n);
		free(r);
		cio_inode_io_put(ino);
		return;
	}
	r->done += (size_t)res;
	if (res > 0 && r->done < r->need && (size_t)res % r->ino->i_lbs == 0) {
		ra_issue(r); /* short, not at end of file: the rest */
		return;
	}
	fill_finish(ino, r->pg, r->n, r->base, r->done, r->size);
	release_filled(ino, r->pg, r->n);
	free(r);
	cio_inode_io_put(ino); /* last: the inode may go now */
}

static void ra_issue(struct ra_req *r)
{
	struct cio_inode *ino = r->ino;
	struct cio_engine *e = ino->i_cache->c_engine;
	memset(&r->io, 0, sizeof(r->io));
	r->io.op = CIO_OP_READ;
	r->io.fd = ino->i_fd;
	if (r->done == 0 && r->need == (size_t)r->n * ino->i_cache->c_page_size) {
		r->io.iovcnt = r->n; /* the whole window in one request */
		r->io.iov = r->iov;
	} else {
		r->io.iovcnt = cio_iov_slice(r->iov, r->n, r->done, r->need - r->done, r->part, 64);
		r->io.iov = r->part;
	}
	r->io.off = r->base + r->done;
	r->io.lbs = ino->i_lbs;
	r->io.ino = ino;
	r->io.done = ra_done;
	r->io.priv = r;
	int rc = e->ops->submit(e, &r->io);
	if (rc < 0) {
		r->io.res = rc;
		ra_done(&r->io);
	}
}

/* Read pages @v[0..n) (inserted, latched) in the background; the last
 * reference and latch of each are released by the completion. */
static void ra_submit(struct cio_inode *ino, struct cio_page **v, int n)
{
	struct cio_cache *c = ino->i_cache;
	if (n <= 0)
		return;
	uint64_t base = v[0]->pg_index << c->c_page_shift;
	int64_t size = fill_size(ino, base, (uint64_t)n << c->c_page_shift);
	size_t need = fill_need(c, base, n, size);
	struct ra_req *r = need ? malloc(sizeof(*r) + (size_t)n * (sizeof(void *) + sizeof(struct iovec)))
	                        : NULL;
	if (!r) {
		if (need) { /* no memory: give the pages up, a read will retry */
			fail_new_pages(ino, v, n);
			return;
		}
		fill_finish(ino, v, n, base, 0, size); /* all past end of file */
		release_filled(ino, v, n);
		return;
	}
	memset(r, 0, sizeof(*r));
	r->ino = ino;
	r->n = n;
	r->base = base;
	r->size = size;
	r->need = need;
	r->pg = (struct cio_page **)(r + 1);
	r->iov = (struct iovec *)(r->pg + n);
	for (int i = 0; i < n; i++) {
		r->pg[i] = v[i];
		r->iov[i].iov_base = cio_page_data(c, v[i]);
		r->iov[i].iov_len = c->c_page_size;
	}
	atomic_fetch_add_explicit(&c->st_readahead, (uint64_t)n, memory_order_relaxed);
	cio_inode_io_get(ino); /* put by ra_done(), after the last page put */
	ra_issue(r);
}

/* Note a window [start, start+n) of size @w in the handle's stream: the
 * next miss expected at its end, the next window started by a hit on the
 * page after @start (cio_page_get), so one window is always ahead of the
 * reader. */
static void ra_note(cio_file *f, uint64_t start, int n, uint32_t w)
{
	atomic_store_explicit(&f->h_ra_next, start + (uint64_t)n, memory_order_relaxed);
	atomic_store_explicit(&f->h_ra_window, w, memory_order_relaxed);
	atomic_store_explicit(&f->h_ra_trigger, n > 1 ? start + 1 : UINT64_MAX,
	                      memory_order_relaxed);
}

/* A hit on the trigger page: start the next window now, in the background,
 * so a sequential reader finds its pages ready. */
static void readahead_ahead(cio_file *f)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_page *v[CIO_MAX_RA];
	uint64_t start = atomic_load_explicit(&f->h_ra_next, memory_order_relaxed);
	uint32_t max = CIO_MIN(f->h_cache->c_ra_max, CIO_MAX(1u, f->h_cache->c_nframes / 8));
	uint32_t w = CIO_MIN(atomic_load_explicit(&f->h_ra_window, memory_order_relaxed) * 2, max);
	atomic_store_explicit(&f->h_ra_trigger, UINT64_MAX, memory_order_relaxed);
	if (w < 2)
		return;
	int n = insert_window(ino, start, w, false, v);
	if (n <= 0)
		return;
	ra_note(f, start, n, w);
	ra_submit(ino, v, n);
}

/*
 * page_miss() - bring page @idx into the cache, reading it on this thread,
 * and start the rest of a readahead window in the background (a miss waits
 * only for its own page). Return: the page, referenced and latched in
 * @mode; NULL with *err = -EEXIST when another thread inserted it first
 * (the caller retries), or another -errno.
 */
static struct cio_page *page_miss(cio_file *f, uint64_t idx, int mode,
                                  unsigned gflags, int *err)
{
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	struct cio_page *v[CIO_MAX_RA];
	uint32_t want = readahead_window(f, idx, gflags);
	uint32_t ps = c->c_page_size;

	int n = insert_window(ino, idx, want, true, v);
	if (n <= 0) {
		*err = n == 0 ? -EEXIST : n;
		return NULL;
	}
	uint64_t base = idx << c->c_page_shift;
	if (!(gflags & GET_NOFILL)) {
		int64_t size = fill_size(ino, base, ps);
		size_t need = fill_need(c, base, 1, size), got = 0;
		if (need) {
			struct iovec iov = { cio_page_data(c, v[0]), ps };
			int cut = 0;
			ssize_t r = cio_dev_read_full(ino, &iov, 1, base, need, &cut);
			/* An error after a partial transfer is still an error:
			 * zero-filling the rest would cache zeros as data. */
			if (r >= 0 && cut < 0)
				r = cut;
			if (r < 0) {
				fail_new_pages(ino, v, n);
				*err = (int)r;
				return NULL;
			}
			got = (size_t)r;
		}
		fill_finish(ino, v, 1, base, got, size);
		ra_note(f, idx, n, want);
	} else {
		atomic_fetch_or(&v[0]->pg_flags, PG_UPTODATE);
	}
	cio_counter_add(&c->st_misses, 1);
	ra_submit(ino, v + 1, n - 1);
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
			if (CIO_UNLIKELY(idx == atomic_load_explicit(&f->h_ra_trigger,
			                                             memory_order_relaxed)))
				readahead_ahead(f);
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
