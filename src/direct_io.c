/*
 * direct_io.c - the direct path, as one staged state machine (struct
 * cio_aop) that serves both the synchronous calls and the async context:
 * cio_aop_advance(a, can_block) runs stages until one would block (then,
 * in a context, the aop goes to a runner thread, cio_ctx_defer) or a device
 * transfer is in flight (then the engine's completion continues it). A
 * synchronous call advances its own aop with can_block and waits on the
 * engine inline: one code path per operation.
 *
 * Direct read (G2):
 *  PREPARE  clip to coherio's size; write back the dirty cached pages of the
 *           range (they stay cached, clean), waiting for write-backs in
 *           flight (i_ndirty counts those too, so 0 means nothing to do).
 *  ISSUE    read from the device, resuming short transfers.
 *  COMPLETE the event: bytes (clipped to the size), and the errno that cut
 *           a partial transfer short.
 *
 * Direct write (G1, G3, G5, G7, G8):
 *  PREPARE  Step 1. Register the byte range (range.c): overlapping direct
 *           writes, truncates and invalidates wait for each other, and no
 *           write-back of a page in the range can start until COMPLETE.
 *  PINS     Step 2. Latch every cached page of the range exclusively once:
 *           waits for pins (-EAGAIN with CIO_RW_NOWAIT) and for write-backs
 *           that started before Step 1.
 *  ISSUE    Step 3. Write the caller's buffers to the device.
 *  COMPLETE Step 4. Update every cached page of the range in place under its
 *           exclusive latch: a fill that raced the write is waited for and
 *           then overwritten, so every later read on any path sees the new
 *           data. Dirty pages stay dirty: their other bytes are newer than
 *           the device and their copy of this range is now the new data, so
 *           a later write-back cannot be stale. (Not on an engine's
 *           completion thread when pages are cached: it can block.)
 *           Step 5. Publish the size if it grew: the data is on the device
 *           and in every cached copy, so a reader that sees the new size
 *           sees the data (G5). A fill that inserts its page after Step 4's
 *           scan sees the registered range and reads the device instead of
 *           assuming zeros past the old size (fill.c, rule 2).
 *           Step 6. DSYNC flush; unregister the range; post the event.
 * Locks: i_lock (via range.c), page latches; no mutex across I/O. Engine
 * completion callbacks never block and never submit: they hand the aop to
 * a runner when it needs more than finishing.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

void cio_aop_init(struct cio_aop *a, cio_file *f, int kind, const struct iovec *iov,
                  int iovcnt, size_t len, int64_t off, unsigned flags)
{
	memset(a, 0, offsetof(struct cio_aop, io));
	a->file = f;
	a->kind = kind;
	a->iov = iov;
	a->iovcnt = iovcnt;
	a->len = len;
	a->op.off = off;
	a->op.flags = flags;
	a->op.file = f;
	a->stage = ST_PREPARE;
}

/* Does the range hold a dirty page or one under write-back? */
static bool range_needs_flush(struct cio_inode *ino, uint64_t first, uint64_t last)
{
	struct cio_page **v;
	size_t n;
	bool busy = false;
	if (!atomic_load(&ino->i_ndirty))
		return false;
	if (cio_page_collect(ino, first, last, false, &v, &n) < 0)
		return true;
	for (size_t i = 0; i < n && !busy; i++)
		busy = atomic_load(&v[i]->pg_flags) & (PG_DIRTY | PG_WRITEBACK);
	cio_page_put_all(ino, v, n);
	free(v);
	return busy;
}

static int flush_range(struct cio_inode *ino, uint64_t first, uint64_t last)
{
	struct cio_page **v;
	size_t n;
	int r = cio_page_collect(ino, first, last, false, &v, &n);
	if (r < 0)
		return r;
	r = cio_writeback_pages(ino, v, n, true, NULL, NULL);
	cio_page_put_all(ino, v, n);
	free(v);
	return r;
}

/* Step 5 for one page: copy the bytes of [off, off+len) that fall in @pg
 * (zeros when @iov is NULL: fallocate's punch and zero, fallocate.c). */
static void update_one(struct cio_inode *ino, struct cio_page *pg, const struct iovec *iov,
                       int n, uint64_t off, size_t len)
{
	struct cio_cache *c = ino->i_cache;
	cio_latch(ino, pg, LATCH_EXCLUSIVE, false);
	if (!(atomic_load(&pg->pg_flags) & PG_REMOVED)) {
		uint64_t pstart = pg->pg_index << c->c_page_shift;
		uint64_t a = CIO_MAX(pstart, off);
		uint64_t b = CIO_MIN(pstart + c->c_page_size, off + len);
		if (iov)
			cio_iov_copy_in(iov, n, a - off, cio_page_data(c, pg) + (a - pstart), b - a);
		else
			memset(cio_page_data(c, pg) + (a - pstart), 0, b - a);
		atomic_fetch_add_explicit(&c->st_coherence, 1, memory_order_relaxed);
	}
	cio_unlatch(ino, pg, LATCH_EXCLUSIVE);
}

/* Step 5: copy bytes [off, off+len) of the caller's buffers into every
 * cached page of the range. Cannot fail: without memory for the page list
 * it goes index by index. */
void cio_dio_update_cached(struct cio_inode *ino, const struct iovec *iov, int n,
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
int cio_dio_wait_pins(struct cio_inode *ino, uint64_t off, size_t len, bool nowait)
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

/* Account one engine result; returns true when the transfer is over. */
static bool account_io(struct cio_aop *a, ssize_t r)
{
	struct cio_inode *ino = a->file->h_inode;
	if (r == 0 && a->kind == AK_DIRECT_WRITE)
		r = -EIO; /* no progress */
	if (r < 0) {
		a->err = (int)r;
		return true;
	}
	if (r == 0)
		return true; /* end of file */
	a->done += (size_t)r;
	if (a->kind == AK_DIRECT_READ && (size_t)r % ino->i_lbs)
		return true; /* O_DIRECT returns partial blocks only at EOF */
	return a->done >= a->want;
}

static void io_done(struct cio_io *io)
{
	struct cio_aop *a = io->priv;
	if (account_io(a, io->res))
		a->stage = ST_COMPLETE;
	if (a->stage == ST_ISSUE)
		cio_ctx_defer(a);       /* resume a short transfer: not from here */
	else
		cio_aop_advance(a, false);
}

void cio_aop_finish(struct cio_aop *a, int64_t res, int32_t res2)
{
	a->res = res;
	a->res2 = res2;
	if (a->have_range) {
		cio_range_unlock(a->file->h_inode, &a->range);  /* Step 6 */
		a->have_range = false;
	}
	if (a->ctx)
		cio_ctx_post(a);
}

/* The end of a transfer: the event's result. A read that met the end of
 * the device's file inside coherio's size read a hole that only coherio
 * knows (the size grew by cached writes not yet written back past it, whose
 * own pages the flush wrote): those bytes are zeros. */
static void finish_transfer(struct cio_aop *a)
{
	if (a->kind == AK_DIRECT_READ && !a->err && a->done < a->clip) {
		size_t end = (a->clip + a->file->h_inode->i_lbs - 1) / a->file->h_inode->i_lbs *
		             a->file->h_inode->i_lbs;
		struct iovec part[64];
		size_t pos = a->done;
		while (pos < end) {
			int n = cio_iov_slice(a->iov, a->iovcnt, pos, end - pos, part, 64);
			for (int i = 0; i < n; i++) {
				memset(part[i].iov_base, 0, part[i].iov_len);
				pos += part[i].iov_len;
			}
		}
		a->done = a->clip;
	}
	size_t got = a->kind == AK_DIRECT_READ ? CIO_MIN(a->done, a->clip) : a->done;
	if (got)
		cio_aop_finish(a, (int64_t)got, a->err);
	else
		cio_aop_finish(a, a->err ? a->err : 0, 0);
}

/* Defer @a to a runner when it may not block here. Returns true if the
 * caller must stop advancing it. */
static bool must_defer(struct cio_aop *a, bool can_block)
{
	if (can_block)
		return false;
	cio_ctx_defer(a);
	return true;
}

static bool stage_prepare(struct cio_aop *a, bool can_block)
{
	struct cio_inode *ino = a->file->h_inode;
	struct cio_cache *c = ino->i_cache;
	uint64_t off = (uint64_t)a->op.off;

	if (a->kind == AK_DIRECT_READ) {
		/* generation before size: a size from before a cut comes with
		 * a generation from before it (truncate.c stores them in the
		 * other order) */
		a->trunc_gen = atomic_load_explicit(&ino->i_trunc_gen, memory_order_acquire);
		int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
		if ((int64_t)off >= size) {
			cio_aop_finish(a, 0, 0);
			return false;
		}
		uint64_t end = CIO_MIN(off + a->len, (uint64_t)size);
		uint64_t first = off >> c->c_page_shift, last = (end - 1) >> c->c_page_shift;
		if (range_needs_flush(ino, first, last)) {
			if (must_defer(a, can_block))
				return false;
			int r = flush_range(ino, first, last);
			if (r < 0) {
				cio_aop_finish(a, r, 0);
				return false;
			}
		}
		a->clip = end - off;
		a->want = CIO_MIN(a->len, (a->clip + ino->i_lbs - 1) / ino->i_lbs * ino->i_lbs);
		a->stage = ST_ISSUE;
		return true;
	}
	/* direct write: Step 1 */
	bool nowait_flag = (a->op.flags & CIO_RW_NOWAIT) != 0;
	a->want = a->len;
	if (ino->i_blockdev) {
		int64_t size = atomic_load(&ino->i_size);
		if ((int64_t)off >= size) {
			cio_aop_finish(a, -ENOSPC, 0);
			return false;
		}
		a->want = CIO_MIN(a->len, (uint64_t)size - off);
	}
	int r = cio_range_lock(ino, &a->range, off, off + a->want, nowait_flag || !can_block);
	if (r == -EAGAIN && !nowait_flag) {
		must_defer(a, false);
		return false;
	}
	if (r < 0) {
		cio_aop_finish(a, r, 0);
		return false;
	}
	a->have_range = true;
	a->stage = ST_PINS;
	return true;
}

static bool stage_pins(struct cio_aop *a, bool can_block)
{
	struct cio_inode *ino = a->file->h_inode;
	bool nowait_flag = (a->op.flags & CIO_RW_NOWAIT) != 0;
	int r = cio_dio_wait_pins(ino, (uint64_t)a->op.off, a->want, nowait_flag || !can_block);
	if (r == -EAGAIN && !nowait_flag) {
		must_defer(a, false);
		return false;
	}
	if (r < 0) {
		cio_aop_finish(a, r, 0);
		return false;
	}
	a->stage = ST_ISSUE;
	return true;
}

/* Issue the rest of the transfer. Synchronous calls wait for it here;
 * in a context the engine's completion continues (io_done). */
static bool stage_issue(struct cio_aop *a)
{
	struct cio_inode *ino = a->file->h_inode;
	if (a->done >= a->want) {
		a->stage = ST_COMPLETE;
		return true;
	}
	struct cio_io *io = &a->io;
	memset(io, 0, sizeof(*io));
	io->op = a->kind == AK_DIRECT_READ ? CIO_OP_READ : CIO_OP_WRITE;
	io->fd = ino->i_fd;
	io->iovcnt = cio_iov_slice(a->iov, a->iovcnt, a->done, a->want - a->done, a->part, 64);
	io->iov = a->part;
	io->off = (uint64_t)a->op.off + a->done;
	io->lbs = ino->i_lbs;
	io->ino = ino;
	if (!a->ctx) {
		if (account_io(a, cio_engine_do(ino->i_cache->c_engine, io)))
			a->stage = ST_COMPLETE;
		return true;
	}
	io->done = io_done;
	io->priv = a;
	int r = ino->i_cache->c_engine->ops->submit(ino->i_cache->c_engine, io);
	if (r < 0) {
		a->err = r;
		a->stage = ST_COMPLETE;
		return true;
	}
	return false;
}

/* Returns true when a direct read starts over (a->stage is ST_PREPARE and,
 * with @can_block, the caller goes on advancing it); false when @a was
 * finished or handed on - it may already be reused: do not touch it. */
static bool stage_complete(struct cio_aop *a, bool can_block)
{
	struct cio_inode *ino = a->file->h_inode;
	if (a->kind == AK_DIRECT_READ) {
		/* A truncate cut the file since PREPARE (truncate.c bumps
		 * i_trunc_gen before it cuts the device): what the device gave
		 * is not known to be the file. It may have ended at the cut
		 * inside the size (the zeros finish_transfer() would add are
		 * not known to be holes), or a write may have grown the file
		 * again since, into cached pages, while a write-back of a later
		 * page extended the device past a hole where one of those pages
		 * still is (zeros no one wrote: coherio check, threads engine
		 * with faults, seed 0x4c60072f14360513). Read again from PREPARE
		 * (flush, size, device); after a few rounds of constant
		 * truncation, end where the device ended. */
		if (!a->err &&
		    atomic_load_explicit(&ino->i_trunc_gen, memory_order_acquire) != a->trunc_gen) {
			if (a->rereads < 4) {
				a->rereads++;
				a->done = 0;
				a->stage = ST_PREPARE;
				if (!can_block) {
					cio_ctx_defer(a);
					return false;
				}
				return true;
			}
			if (a->done < a->clip)
				a->clip = a->done;
		}
		finish_transfer(a);
		return false;
	}
	if (a->done) {
		/* Step 4 (blocking only if pages are cached), then Step 5 */
		if (!a->coherent) {
			if (atomic_load(&ino->i_npages) && must_defer(a, can_block))
				return false;
			cio_dio_update_cached(ino, a->iov, a->iovcnt, (uint64_t)a->op.off, a->done);
			a->coherent = true;
		}
		cio_size_extend(ino, a->op.off + (int64_t)a->done);
		if (a->op.flags & CIO_RW_DSYNC) {
			if (must_defer(a, can_block))
				return false;
			int s = cio_dev_sync(ino, true);
			if (s < 0) {
				cio_aop_finish(a, s, 0);
				return false;
			}
		}
	}
	finish_transfer(a);
	return false;
}

/*
 * cio_aop_advance() - run @a's stages until it finishes, waits for the
 * device, or (without @can_block) needs to block, in which case it goes to
 * a runner thread. Context: can_block false may be an engine completion.
 */
void cio_aop_advance(struct cio_aop *a, bool can_block)
{
	for (;;) {
		switch (a->stage) {
		case ST_PREPARE:
			if (!stage_prepare(a, can_block))
				return;
			break;
		case ST_PINS:
			if (!stage_pins(a, can_block))
				return;
			break;
		case ST_ISSUE:
			if (!stage_issue(a))
				return;
			break;
		case ST_COMPLETE:
			if (stage_complete(a, can_block))
				break; /* a direct read reads again */
			return;
		}
	}
}

ssize_t cio_direct_read(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off)
{
	struct cio_aop a;
	atomic_fetch_add_explicit(&f->h_cache->st_dio_reads, 1, memory_order_relaxed);
	cio_aop_init(&a, f, AK_DIRECT_READ, iov, n, len, (int64_t)off, 0);
	cio_aop_advance(&a, true);
	return (ssize_t)a.res;
}

ssize_t cio_direct_write(cio_file *f, const struct iovec *iov, int n, size_t len,
                         uint64_t off, unsigned flags)
{
	struct cio_aop a;
	atomic_fetch_add_explicit(&f->h_cache->st_dio_writes, 1, memory_order_relaxed);
	cio_aop_init(&a, f, AK_DIRECT_WRITE, iov, n, len, (int64_t)off, flags);
	cio_aop_advance(&a, true);
	return (ssize_t)a.res;
}
