/*
 * writeback.c - writing dirty pages back, fsync, and write-back errors.
 *
 * A write-back holds the page's latch shared (the data is stable: writers
 * need it exclusive) and PG_WRITEBACK (one write-back per page at a time).
 * DIRTY is cleared before the write is issued; if the write fails it is set
 * again with PG_ERROR: pages whose write-back failed stay dirty and are
 * retried by the next fsync or eviction, never dropped (G6). Contiguous
 * dirty pages go out as one vectored write (a batch).
 *
 * Before issuing, the write-back checks under i_lock that no direct write,
 * truncate or invalidate has registered a range over the page (range.c):
 * a direct write's Step 2 waits for a write-back that passed this check,
 * and any later one sees the range and backs off, so a stale page is never
 * written over a direct write's data (G3).
 *
 * Errors are kept per file as an errseq (Linux's errseq_t): each handle
 * sees each error once, at its next fsync.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- errseq ------------------------------------------------------------ */

void cio_errseq_set(struct cio_inode *ino, int err)
{
	uint32_t old = atomic_load(&ino->i_wb_err), nw;
	if (err >= 0)
		return;
	do {
		nw = (old & ~(ERRSEQ_MASK | ERRSEQ_SEEN)) | ((uint32_t)-err & ERRSEQ_MASK);
		if (old & ERRSEQ_SEEN)
			nw += 1u << ERRSEQ_SHIFT;
	} while (!atomic_compare_exchange_weak(&ino->i_wb_err, &old, nw));
}

/* The cursor a new handle starts from: an error nobody has seen yet will
 * be reported to it; one already seen will not. */
uint32_t cio_errseq_sample(struct cio_inode *ino)
{
	uint32_t old = atomic_load(&ino->i_wb_err);
	return (old & ERRSEQ_SEEN) ? old : 0;
}

int cio_errseq_check_and_advance(cio_file *f)
{
	struct cio_inode *ino = f->h_inode;
	int err = 0;
	pthread_mutex_lock(&f->h_err_lock);
	uint32_t old = atomic_load(&ino->i_wb_err);
	if (old != f->h_wb_since) {
		/* mark it seen, so that later errors bump the counter */
		while (!(old & ERRSEQ_SEEN) &&
		       !atomic_compare_exchange_weak(&ino->i_wb_err, &old, old | ERRSEQ_SEEN))
			;
		f->h_wb_since = old | ERRSEQ_SEEN;
		err = -(int)(old & ERRSEQ_MASK);
	}
	pthread_mutex_unlock(&f->h_err_lock);
	return err;
}

/* ---- one page or a run of pages ------------------------------------------ */

/* Bytes of page @pg that must reach the device: the whole page, or up to
 * the size rounded up to the logical block size for the last page. */
static size_t page_write_len(struct cio_inode *ino, struct cio_page *pg)
{
	struct cio_cache *c = ino->i_cache;
	uint64_t pstart = pg->pg_index << c->c_page_shift;
	int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
	if ((int64_t)pstart >= size)
		return 0;
	uint64_t rest = (uint64_t)size - pstart;
	if (rest >= c->c_page_size)
		return c->c_page_size;
	return (size_t)((rest + ino->i_lbs - 1) / ino->i_lbs * ino->i_lbs);
}

static void account_error(struct cio_inode *ino, int err, uint64_t pages)
{
	struct cio_cache *c = ino->i_cache;
	atomic_fetch_add(&ino->i_wb_errors, pages);
	atomic_fetch_add_explicit(&c->st_wb_errors, pages, memory_order_relaxed);
	cio_errseq_set(ino, err);
}

/*
 * cio_write_page_locked() - write @pg back now. Context: the caller holds
 * the page's latch exclusively and owns a range covering it (or knows none
 * can cover it). Return: 0 or the write error (the page stays dirty).
 */
int cio_write_page_locked(struct cio_inode *ino, struct cio_page *pg)
{
	struct cio_cache *c = ino->i_cache;
	if (!(atomic_load(&pg->pg_flags) & PG_DIRTY))
		return 0;
	/* WRITEBACK while DIRTY is off: a direct read's flush check
	 * (direct_io.c) must see the page as busy until the data is down. */
	atomic_fetch_or(&pg->pg_flags, PG_WRITEBACK);
	atomic_fetch_and(&pg->pg_flags, ~PG_DIRTY);
	size_t len = page_write_len(ino, pg);
	ssize_t w = len;
	if (len) {
		struct iovec iov = { cio_page_data(c, pg), len };
		atomic_store_explicit(&ino->i_wrote, 1, memory_order_relaxed);
		w = cio_dev_write_full(ino, &iov, 1, pg->pg_index << c->c_page_shift, len, NULL);
	}
	if (w != (ssize_t)len) {
		int err = w < 0 ? (int)w : -EIO;
		atomic_fetch_or(&pg->pg_flags, PG_DIRTY | PG_ERROR); /* still counted */
		atomic_fetch_and(&pg->pg_flags, ~PG_WRITEBACK);
		cio_page_wake(ino, pg);
		account_error(ino, err, 1);
		return err;
	}
	cio_page_clear_dirty_count(ino); /* only now: i_ndirty covers the write */
	atomic_fetch_and(&pg->pg_flags, ~(PG_ERROR | PG_WRITEBACK));
	cio_page_wake(ino, pg);
	atomic_fetch_add_explicit(&c->st_wb_pages, 1, memory_order_relaxed);
	return 0;
}

/*
 * Make @pg ready for write-back: shared latch, PG_WRITEBACK, DIRTY cleared,
 * no range over it. Return: 1 ready, 0 nothing to do (clean), -EAGAIN busy
 * (only without @wait). With @wait it waits for a write-back in flight, for
 * a write pin, and for registered ranges (other than @own) to go; the
 * caller must hold no prepared page it has not submitted (a direct write
 * owning the range may be waiting for that page's latch).
 */
static int wb_prepare(struct cio_inode *ino, struct cio_page *pg, bool wait,
                      const struct cio_range *own)
{
	struct cio_cache *c = ino->i_cache;
	uint64_t pstart = pg->pg_index << c->c_page_shift;
	for (;;) {
		/* Every wait below is preceded by a flush: runs this thread
		 * queued under the plug must reach the kernel first, or what
		 * we wait for could be waiting for them.
		 * Both bits from one load. DIRTY is cleared only while
		 * WRITEBACK is set (below, and cio_write_page_locked()), so a
		 * page seen with neither is clean with no write in flight.
		 * Separate loads are not enough: another thread's write-back
		 * can take the page between them (it holds its latch shared,
		 * as we would) and clear DIRTY, and "not dirty" would then
		 * return 0 while its write is still queued or on its way - a
		 * direct read's flush or an fsync would not wait for it. */
		uint32_t fl = atomic_load(&pg->pg_flags);
		if (fl & PG_WRITEBACK) {
			if (!wait)
				return -EAGAIN;
			cio_engine_flush(c->c_engine);
			cio_page_wait_writeback(ino, pg);
			continue;
		}
		if (!(fl & PG_DIRTY))
			return 0;
		if (cio_latch(ino, pg, LATCH_SHARED, true) < 0) {
			if (!wait)
				return -EAGAIN;
			cio_engine_flush(c->c_engine);
			cio_latch(ino, pg, LATCH_SHARED, false);
		}
		fl = atomic_load(&pg->pg_flags);
		if ((fl & PG_REMOVED) || !(fl & PG_DIRTY)) {
			cio_unlatch(ino, pg, LATCH_SHARED);
			if ((fl & PG_WRITEBACK) && !(fl & PG_REMOVED)) {
				/* another write-back took it meanwhile: as above */
				if (!wait)
					return -EAGAIN;
				continue;
			}
			return 0;
		}
		fl = atomic_fetch_or(&pg->pg_flags, PG_WRITEBACK);
		if (fl & PG_WRITEBACK) { /* another write-back got there first */
			cio_unlatch(ino, pg, LATCH_SHARED);
			if (!wait)
				return -EAGAIN;
			continue;
		}
		pthread_mutex_lock(&ino->i_lock);
		bool busy = __cio_range_busy(ino, pstart, pstart + c->c_page_size, own);
		pthread_mutex_unlock(&ino->i_lock);
		if (busy) {
			atomic_fetch_and(&pg->pg_flags, ~PG_WRITEBACK);
			cio_unlatch(ino, pg, LATCH_SHARED);
			if (!wait)
				return -EAGAIN;
			cio_engine_flush(c->c_engine);
			cio_range_wait_clear(ino, pstart, pstart + c->c_page_size);
			continue;
		}
		/* DIRTY goes now (a failed write sets it again); the page
		 * stays counted in i_ndirty until the write is done, so a
		 * direct read that sees i_ndirty == 0 has nothing to wait for */
		atomic_fetch_and(&pg->pg_flags, ~PG_DIRTY);
		return 1;
	}
}

static void wb_finish(struct cio_inode *ino, struct cio_page *pg, int err)
{
	if (err) {
		atomic_fetch_or(&pg->pg_flags, PG_DIRTY | PG_ERROR); /* still counted */
	} else {
		atomic_fetch_and(&pg->pg_flags, ~PG_ERROR);
		cio_page_clear_dirty_count(ino);
	}
	atomic_fetch_and(&pg->pg_flags, ~PG_WRITEBACK);
	cio_unlatch(ino, pg, LATCH_SHARED); /* wakes write-back waiters too */
}

#define RUN_MAX 64

/* A batch of write-back runs in flight; lives on the waiter's stack. */
struct wb_batch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int inflight;       /* runs submitted, not completed (under lock) */
	int first_err;      /* under lock                                 */
	size_t written;     /* pages written, under lock                  */
};

/* One run: index-contiguous prepared pages, one vectored write. */
struct wb_run {
	struct cio_io io;
	struct wb_batch *b;
	struct cio_inode *ino;
	int n, k;           /* pages, iovecs (pages past EOF have none)   */
	size_t total, done;
	struct cio_page *pg[RUN_MAX];
	struct iovec iov[RUN_MAX];
	struct iovec part[RUN_MAX];
};

static void run_complete(struct wb_run *r, int err)
{
	struct cio_inode *ino = r->ino;
	struct cio_cache *c = ino->i_cache;
	size_t ok_pages = err ? r->done >> c->c_page_shift : (size_t)r->n;
	if (err)
		account_error(ino, err, (uint64_t)(r->n - (int)ok_pages));
	for (int i = 0; i < r->n; i++)
		wb_finish(ino, r->pg[i], (size_t)i < ok_pages ? 0 : err);
	atomic_fetch_add_explicit(&c->st_wb_pages, ok_pages, memory_order_relaxed);
	struct wb_batch *b = r->b;
	free(r);
	pthread_mutex_lock(&b->lock);
	b->written += ok_pages;
	if (err && !b->first_err)
		b->first_err = err;
	if (--b->inflight == 0)
		pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

static void run_issue(struct wb_run *r);

/* Engine completion: account, resume a short write, or finish the run.
 * Never blocks (engine rule); it may submit the rest of a short write. */
static void run_done(struct cio_io *io)
{
	struct wb_run *r = io->priv;
	ssize_t res = io->res;
	if (res == 0)
		res = -EIO; /* no progress */
	if (res < 0) {
		run_complete(r, (int)res);
		return;
	}
	r->done += (size_t)res;
	if (r->done < r->total)
		run_issue(r);
	else
		run_complete(r, 0);
}

static void run_issue(struct wb_run *r)
{
	struct cio_inode *ino = r->ino;
	atomic_store_explicit(&ino->i_wrote, 1, memory_order_relaxed);
	struct cio_cache *c = ino->i_cache;
	memset(&r->io, 0, sizeof(r->io));
	r->io.op = CIO_OP_WRITE;
	r->io.fd = ino->i_fd;
	r->io.iovcnt = cio_iov_slice(r->iov, r->k, r->done, r->total - r->done, r->part, RUN_MAX);
	r->io.iov = r->part;
	r->io.off = (r->pg[0]->pg_index << c->c_page_shift) + r->done;
	r->io.lbs = ino->i_lbs;
	r->io.ino = ino;
	r->io.done = run_done;
	r->io.priv = r;
	int e = c->c_engine->ops->submit(c->c_engine, &r->io);
	if (e < 0)
		run_complete(r, e);
}

/* Start writing a run of prepared pages; completion is counted in @b. */
static void wb_submit_run(struct cio_inode *ino, struct cio_page **run, int n,
                          struct wb_batch *b)
{
	struct cio_cache *c = ino->i_cache;
	struct wb_run *r = calloc(1, sizeof(*r));
	pthread_mutex_lock(&b->lock);
	b->inflight++;
	pthread_mutex_unlock(&b->lock);
	if (!r) { /* the pages stay dirty and are retried later */
		account_error(ino, -ENOMEM, (uint64_t)n);
		for (int i = 0; i < n; i++)
			wb_finish(ino, run[i], -ENOMEM);
		pthread_mutex_lock(&b->lock);
		if (!b->first_err)
			b->first_err = -ENOMEM;
		if (--b->inflight == 0)
			pthread_cond_signal(&b->cond);
		pthread_mutex_unlock(&b->lock);
		return;
	}
	r->b = b;
	r->ino = ino;
	r->n = n;
	bool end = false; /* pages after a partial last page have no bytes */
	for (int i = 0; i < n; i++) {
		r->pg[i] = run[i];
		size_t len = end ? 0 : page_write_len(ino, run[i]);
		if (!len) {
			end = true;
			continue;
		}
		r->iov[r->k].iov_base = cio_page_data(c, run[i]);
		r->iov[r->k].iov_len = len;
		r->total += len;
		r->k++;
		end = len < c->c_page_size;
	}
	if (r->total == 0)
		run_complete(r, 0);
	else
		run_issue(r);
}

/*
 * cio_writeback_pages() - write back the dirty pages among @v (referenced
 * by the caller, sorted by index). Contiguous pages go out as one vectored
 * write; all runs are in flight at once (the engine's queue depth bounds
 * them), and the call waits once for all of them.
 * @wait: wait for latches, write-backs in flight and ranges; without it,
 *        busy pages are skipped (eviction).
 * @own:  a range the caller registered itself (its pages may be written).
 * Return: 0, or the first write error (every page is still attempted);
 * *written (if not NULL) counts the pages written.
 */
int cio_writeback_pages(struct cio_inode *ino, struct cio_page **v, size_t n,
                        bool wait, const struct cio_range *own, size_t *written)
{
	struct wb_batch b = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	struct cio_page *run[RUN_MAX];
	struct cio_engine *e = ino->i_cache->c_engine;
	int nrun = 0;
	cio_engine_plug(e); /* all runs in one hand-over (see wb_prepare) */
	for (size_t i = 0; i <= n; i++) {
		bool flush = (i == n) || nrun == RUN_MAX ||
		             (nrun && v[i]->pg_index != run[nrun - 1]->pg_index + 1);
		if (flush && nrun) {
			wb_submit_run(ino, run, nrun, &b);
			nrun = 0;
		}
		if (i == n)
			break;
		/* Try without waiting first; before a wait, the run built so
		 * far goes out (its pages' latches may be what is waited for). */
		int p = wb_prepare(ino, v[i], false, own);
		if (p == -EAGAIN && wait) {
			if (nrun) {
				wb_submit_run(ino, run, nrun, &b);
				nrun = 0;
			}
			p = wb_prepare(ino, v[i], true, own);
		}
		if (p == 1)
			run[nrun++] = v[i];
		else if (nrun) {
			wb_submit_run(ino, run, nrun, &b);
			nrun = 0;
		}
	}
	cio_engine_unplug(e);
	pthread_mutex_lock(&b.lock);
	while (b.inflight)
		pthread_cond_wait(&b.cond, &b.lock);
	pthread_mutex_unlock(&b.lock);
	pthread_mutex_destroy(&b.lock);
	pthread_cond_destroy(&b.cond);
	if (written)
		*written = b.written;
	return b.first_err;
}

/* Write back every dirty page of @ino with index in [first, last]. */
int cio_writeback_inode(struct cio_inode *ino, uint64_t first, uint64_t last)
{
	struct cio_page **v;
	size_t n;
	int r = cio_page_collect(ino, first, last, true, &v, &n);
	if (r < 0)
		return r;
	r = cio_writeback_pages(ino, v, n, true, NULL, NULL);
	cio_page_put_all(ino, v, n);
	free(v);
	return r;
}

/*
 * cio_backing_fixup() - make the backing file's size equal coherio's view,
 * undoing only what coherio itself did: write-backs move whole logical
 * blocks, so the file can end up to a page past the size (with zeros), and
 * cached writes past the end need the file extended. Nothing is trimmed
 * unless coherio wrote to the file (i_wrote), and never more than that
 * padding: a file another process extended behind the cache keeps its data
 * (revalidation, G10, is not built yet). Skipped while a range is
 * registered from the size's page on.
 */
int cio_backing_fixup(struct cio_inode *ino)
{
	struct stat st;
	struct cio_range range;
	int r = 0;
	if (ino->i_blockdev || !ino->i_writable || !atomic_load(&ino->i_wrote))
		return 0;
	/* The trim's ftruncate zeroes the tail of the last file system block
	 * through the kernel's page cache: no direct write (the range) and no
	 * write-back (waited for; the range stops new ones) may be in flight
	 * to it meanwhile, or the
	 * kernel fails to invalidate that page after their write and reports
	 * -EIO to every fsync (see truncate.c, Step 1). Busy: skip, as with
	 * any range from the size on (a direct write in flight may have put
	 * data past the size). */
	uint64_t pmask = (uint64_t)ino->i_cache->c_page_size - 1;
	uint64_t from = (uint64_t)atomic_load(&ino->i_size) & ~pmask;
	if (cio_range_lock(ino, &range, from, UINT64_MAX, true) < 0)
		return 0;
	cio_wait_tail_writeback(ino, from >> ino->i_cache->c_page_shift);
	pthread_mutex_lock(&ino->i_lock);
	if (fstat(ino->i_fd, &st) == 0) {
		int64_t size = atomic_load(&ino->i_size);
		int64_t pad_end = size + (int64_t)ino->i_cache->c_page_size;
		if ((uint64_t)size >= from &&
		    (st.st_size < size || (st.st_size > size && st.st_size <= pad_end))) {
			if (ftruncate(ino->i_fd, size) < 0)
				r = -errno;
			else
				cio_kernel_cache_drop(ino->i_fd, from);
		}
	}
	pthread_mutex_unlock(&ino->i_lock);
	cio_range_unlock(ino, &range);
	return r;
}

static int do_fsync(cio_file *f, bool datasync)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	struct cio_inode *ino = f->h_inode;
	cio_writeback_inode(ino, 0, UINT64_MAX); /* errors land in the errseq */
	int fix = cio_backing_fixup(ino);
	if (ino->i_writable) {
		int s = cio_dev_sync(ino, datasync);
		if (s < 0)
			cio_errseq_set(ino, s);
	}
	r = cio_errseq_check_and_advance(f);
	return r ? r : fix;
}

int cio_fsync(cio_file *f)
{
	return do_fsync(f, false);
}

int cio_fdatasync(cio_file *f)
{
	return do_fsync(f, true);
}
