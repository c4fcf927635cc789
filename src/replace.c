/*
 * replace.c - frames and replacement: the free list and S3-FIFO (a small
 * probation FIFO of ~10% of the frames, a main FIFO with frequency-based
 * reinsertion, and a hash-indexed ghost of recently evicted keys). Chosen
 * because it survives scans (a page read once never reaches the main
 * queue) and its hit path is one relaxed byte store (cio_page_touch), with
 * no list moves and no lock.
 *
 * Locks: c_lru_lock protects the three queues, pg_queue/pg_qprev/pg_qnext
 * and c_ghost. The evictor holds c_lru_lock and only try-locks a shard
 * (lock order is shard -> lru), so it never waits against the order. Dirty
 * victims are not written under the lock: they are collected with a
 * reference and written back after it is dropped (Step 4 below).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct cio_queue *queue_of(struct cio_cache *c, uint8_t q)
{
	switch (q) {
	case Q_FREE: return &c->c_free;
	case Q_SMALL: return &c->c_small;
	case Q_MAIN: return &c->c_main;
	default: return NULL;
	}
}

/* Insert @pg at the head of queue @q. c_lru_lock held. */
static void queue_push_head(struct cio_cache *c, uint8_t q, struct cio_page *pg)
{
	struct cio_queue *qu = queue_of(c, q);
	uint32_t id = cio_page_id(c, pg);
	pg->pg_queue = q;
	pg->pg_qprev = CIO_NIL;
	pg->pg_qnext = qu->head;
	if (qu->head != CIO_NIL)
		c->c_pages[qu->head].pg_qprev = id;
	else
		qu->tail = id;
	qu->head = id;
	qu->count++;
}

void __cio_queue_remove(struct cio_cache *c, struct cio_page *pg)
{
	struct cio_queue *qu = queue_of(c, pg->pg_queue);
	if (!qu)
		return;
	if (pg->pg_qprev != CIO_NIL)
		c->c_pages[pg->pg_qprev].pg_qnext = pg->pg_qnext;
	else
		qu->head = pg->pg_qnext;
	if (pg->pg_qnext != CIO_NIL)
		c->c_pages[pg->pg_qnext].pg_qprev = pg->pg_qprev;
	else
		qu->tail = pg->pg_qprev;
	qu->count--;
	pg->pg_queue = Q_NONE;
	pg->pg_qprev = pg->pg_qnext = CIO_NIL;
}

static uint64_t ghost_key(const struct cio_page *pg)
{
	uint64_t k = (pg->pg_inode->i_id * 0x9E3779B97F4A7C15ull) ^ (pg->pg_index * 0xC2B2AE3D27D4EB4Full);
	return k | 1;
}

/* A newly filled page enters the main queue if its key is in the ghost
 * (it was evicted recently and is back: not a one-time scan), else the
 * small queue. c_lru_lock held. */
void __cio_queue_insert(struct cio_cache *c, struct cio_page *pg)
{
	uint64_t k = ghost_key(pg);
	uint64_t *g = &c->c_ghost[k % c->c_nframes];
	if (*g == k) {
		*g = 0;
		atomic_fetch_add_explicit(&c->st_ghost_hits, 1, memory_order_relaxed);
		queue_push_head(c, Q_MAIN, pg);
	} else {
		queue_push_head(c, Q_SMALL, pg);
	}
}

int cio_replace_init(struct cio_cache *c)
{
	c->c_ghost = calloc(c->c_nframes, sizeof(uint64_t));
	if (!c->c_ghost)
		return -ENOMEM;
	pthread_mutex_init(&c->c_lru_lock, NULL);
	c->c_free = c->c_small = c->c_main = (struct cio_queue){ CIO_NIL, CIO_NIL, 0 };
	c->c_small_target = CIO_MAX(1u, c->c_nframes / 10);
	for (uint32_t i = c->c_nframes; i-- > 0;) {
		struct cio_page *pg = &c->c_pages[i];
		memset(pg, 0, sizeof(*pg));
		pg->pg_hnext = CIO_NIL;
		queue_push_head(c, Q_FREE, pg);
	}
	return 0;
}

void cio_replace_fini(struct cio_cache *c)
{
	free(c->c_ghost);
	pthread_mutex_destroy(&c->c_lru_lock);
}

static void frame_reset(struct cio_page *pg)
{
	atomic_store(&pg->pg_latch, 0);
	atomic_store(&pg->pg_flags, 0);
	atomic_store(&pg->pg_refs, 0);
	atomic_store_explicit(&pg->pg_freq, 0, memory_order_relaxed);
	pg->pg_hnext = CIO_NIL;
	pg->pg_inode = NULL;
	pg->pg_index = 0;
}

/* Called by the last cio_page_put() of a removed page. */
void cio_frame_release(struct cio_cache *c, struct cio_page *pg)
{
	frame_reset(pg);
	pthread_mutex_lock(&c->c_lru_lock);
	/* Count the frame free before it can be taken again: decrementing
	 * after the unlock let an allocator's increment come first, and
	 * pages_used could read one above pages_total. */
	atomic_fetch_sub(&c->c_nused, 1);
	queue_push_head(c, Q_FREE, pg);
	pthread_mutex_unlock(&c->c_lru_lock);
}

/* Try to take @pg out of its inode's index for reuse. c_lru_lock held.
 * Succeeds only if nobody references, latches, or needs it (clean). */
static bool try_evict(struct cio_cache *c, struct cio_page *pg)
{
	struct cio_inode *ino = pg->pg_inode;
	struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
	if (pthread_mutex_trylock(&sh->sh_lock) != 0)
		return false;
	bool ok = atomic_load(&pg->pg_refs) == 0 && atomic_load(&pg->pg_latch) == 0 &&
	          !(atomic_load(&pg->pg_flags) & (PG_DIRTY | PG_WRITEBACK | PG_REMOVED));
	if (ok) {
		__cio_index_remove(ino, sh, pg);
		c->c_ghost[ghost_key(pg) % c->c_nframes] = ghost_key(pg);
		__cio_queue_remove(c, pg);
	}
	pthread_mutex_unlock(&sh->sh_lock);
	return ok;
}

/* Take a reference on dirty victim @pg for write-back. c_lru_lock held. */
static bool try_ref(struct cio_page *pg)
{
	struct cio_shard *sh = cio_shard_of(pg->pg_inode, pg->pg_index);
	if (pthread_mutex_trylock(&sh->sh_lock) != 0)
		return false;
	bool ok = !(atomic_load(&pg->pg_flags) & PG_REMOVED);
	if (ok) {
		/* the page is in the index under its shard lock: the inode
		 * is alive; this keeps it so until the victim's last put */
		cio_inode_io_get(pg->pg_inode);
		atomic_fetch_add(&pg->pg_refs, 1);
	}
	pthread_mutex_unlock(&sh->sh_lock);
	return ok;
}

/* Drop a dirty victim's reference, then its inode hold (try_ref). */
static void victim_put(struct cio_page *pg)
{
	struct cio_inode *ino = pg->pg_inode; /* stable while referenced */
	cio_page_put(ino, pg);
	cio_inode_io_put(ino);
}

static bool in_batch(struct cio_page **wb, size_t n, struct cio_page *pg)
{
	for (size_t i = 0; i < n; i++)
		if (wb[i] == pg)
			return true;
	return false;
}

static int cmp_inode_index(const void *a, const void *b)
{
	const struct cio_page *x = *(struct cio_page *const *)a;
	const struct cio_page *y = *(struct cio_page *const *)b;
	if (x->pg_inode != y->pg_inode)
		return x->pg_inode < y->pg_inode ? -1 : 1;
	return x->pg_index < y->pg_index ? -1 : x->pg_index > y->pg_index;
}

/*
 * One pass of S3-FIFO eviction. c_lru_lock held.
 * Step 1. Choose the queue: the small one while it is over its target.
 * Step 2. Small tail: accessed twice or more -> main; else evict (ghost it).
 * Step 3. Main tail: frequency > 0 -> decrement and reinsert; else evict.
 * Pages in use (referenced, latched, under write-back) go to the head of
 * main; dirty ones too, after being collected into @wb (with a reference)
 * for Step 4.
 */
static struct cio_page *evict_scan(struct cio_cache *c, struct cio_page **wb,
                                   size_t *nwb, size_t wbmax)
{
	uint32_t steps = c->c_nframes * 3;
	while (steps--) {
		uint8_t q;
		if (c->c_small.count && (c->c_small.count > c->c_small_target || !c->c_main.count))
			q = Q_SMALL;
		else if (c->c_main.count)
			q = Q_MAIN;
		else
			return NULL;
		struct cio_page *pg = &c->c_pages[queue_of(c, q)->tail];
		uint8_t freq = atomic_load_explicit(&pg->pg_freq, memory_order_relaxed);
		uint32_t fl = atomic_load(&pg->pg_flags);
		bool busy = atomic_load(&pg->pg_refs) || atomic_load(&pg->pg_latch) ||
		            (fl & PG_WRITEBACK);

		__cio_queue_remove(c, pg);
		if (q == Q_SMALL && freq >= 2) {
			atomic_store_explicit(&pg->pg_freq, 0, memory_order_relaxed);
			queue_push_head(c, Q_MAIN, pg);
			continue;
		}
		if (q == Q_MAIN && freq > 0) {
			atomic_store_explicit(&pg->pg_freq, freq - 1, memory_order_relaxed);
			queue_push_head(c, Q_MAIN, pg);
			continue;
		}
		/* A page leaving the small queue that cannot be evicted now
		 * (in use, or dirty) moves on to main, so the small queue
		 * always drains and main gets scanned; main reinserts. */
		queue_push_head(c, Q_MAIN, pg);
		if (busy)
			continue;
		if (fl & PG_DIRTY) {
			if (*nwb < wbmax && !in_batch(wb, *nwb, pg) && try_ref(pg))
				wb[(*nwb)++] = pg;
			if (wbmax && *nwb >= wbmax)
				return NULL;
			continue;
		}
		if (try_evict(c, pg))
			return pg;
	}
	return NULL;
}

/*
 * cio_frame_alloc() - a free frame for a new page, evicting if needed.
 * Step 1. Free list. Step 2-3. evict_scan(). Step 4. Write back the dirty
 * victims it collected (outside the lock), then retry. Pages whose
 * write-back fails stay dirty: when nothing else can be freed, the
 * allocation fails with that error rather than dropping them (G6).
 * With @may_block false (readahead) it makes one pass that neither writes
 * nor sleeps, and gives up: readahead must never starve a real miss.
 * Return: a private frame (refs 0, latch 0) or NULL with *err set.
 * Context: may block on I/O; the caller holds no lock and no latch on a
 * dirty page it would need written.
 */
struct cio_page *cio_frame_alloc(struct cio_cache *c, bool may_block, int *err)
{
	struct cio_page *wb[64];
	int wb_err = 0, idle = 0;
	size_t wbmax = may_block ? CIO_MIN((size_t)c->c_wb_batch, sizeof(wb) / sizeof(wb[0])) : 0;

	for (;;) {
		size_t nwb = 0;
		struct cio_page *pg = NULL;
		pthread_mutex_lock(&c->c_lru_lock);
		if (c->c_free.count) {
			pg = &c->c_pages[c->c_free.tail];
			__cio_queue_remove(c, pg);
			atomic_fetch_add(&c->c_nused, 1);
		} else {
			pg = evict_scan(c, wb, &nwb, wbmax);
			if (pg)
				atomic_fetch_add_explicit(&c->st_evictions, 1, memory_order_relaxed);
		}
		pthread_mutex_unlock(&c->c_lru_lock);
		if (pg) {
			for (size_t i = 0; i < nwb; i++)
				victim_put(wb[i]);
			frame_reset(pg);
			return pg;
		}
		if (!may_block) {
			*err = -ENOMEM;
			return NULL;
		}
		if (nwb) {
			int wrote = 0;
			qsort(wb, nwb, sizeof(wb[0]), cmp_inode_index);
			for (size_t i = 0; i < nwb;) {
				size_t j = i;
				while (j < nwb && wb[j]->pg_inode == wb[i]->pg_inode)
					j++;
				struct cio_inode *ino = wb[i]->pg_inode;
				size_t w = 0;
				int r = cio_writeback_pages(ino, wb + i, j - i, false, NULL, &w);
				wrote += (int)w;
				if (r < 0 && !wb_err)
					wb_err = r;
				for (; i < j; i++)
					victim_put(wb[i]);
			}
			if (wrote) {
				idle = 0;
				continue;
			}
		}
		/* Nothing could be freed or written this round. */
		if (++idle > (wb_err ? 3 : 200)) {
			*err = wb_err ? wb_err : -ENOMEM;
			return NULL;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}
