/*
 * page.c - the per-page latch, references and waiting, and the per-file
 * page index (CIO_NSHARDS hash tables per inode).
 *
 * Locks: sh_lock protects a shard's table and the pg_hnext chains of its
 * pages; a reference (pg_refs) is only taken under sh_lock, so a page found
 * with refs == 0 under sh_lock cannot gain one while the lock is held. The
 * latch word and the flags are atomics: see the Dekker pairing below.
 *
 * Sleeping: a thread that must wait for a page (latch, refs, write-back)
 * takes sh_lock, sets PG_WAITERS, re-checks, and waits on sh_cond. Whoever
 * releases sets its change first and then looks at PG_WAITERS; all of these
 * accesses are seq_cst, so either the waiter sees the change or the waker
 * sees PG_WAITERS and broadcasts under sh_lock (no lost wake-up).
 */
#include "internal.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

void cio_page_wake(struct cio_inode *ino, struct cio_page *pg)
{
	if (atomic_load(&pg->pg_flags) & PG_WAITERS) {
		struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
		pthread_mutex_lock(&sh->sh_lock);
		atomic_fetch_and(&pg->pg_flags, ~PG_WAITERS);
		pthread_cond_broadcast(&sh->sh_cond);
		pthread_mutex_unlock(&sh->sh_lock);
	}
}

static bool latch_free_for(uint32_t l, int mode, bool honour_xwait)
{
	if (mode == LATCH_SHARED)
		return !(l & LATCH_EXCL) && (!honour_xwait || !(l & LATCH_XWAIT)) &&
		       (l & LATCH_COUNT) < LATCH_COUNT;
	return (l & ~LATCH_XWAIT) == 0;
}

/*
 * cio_latch() - take the content latch of a page the caller holds a
 * reference on. Shared latches give way to a waiting exclusive one for a
 * short while (writer preference without the deadlock of a thread that
 * already holds a shared latch on the page). Return: 0 or -EAGAIN (nowait).
 * Context: may sleep; the caller holds no mutex.
 */
int cio_latch(struct cio_inode *ino, struct cio_page *pg, int mode, bool nowait)
{
	unsigned spins = 0;
	for (;;) {
		uint32_t l = atomic_load(&pg->pg_latch);
		bool honour = spins < 256;
		if (latch_free_for(l, mode, honour)) {
			uint32_t nl = mode == LATCH_SHARED ? l + 1 : LATCH_EXCL;
			if (atomic_compare_exchange_weak(&pg->pg_latch, &l, nl))
				return 0;
			continue;
		}
		if (nowait)
			return -EAGAIN;
		if (++spins < 128 || (mode == LATCH_SHARED && (l & LATCH_XWAIT) && spins < 256)) {
			cpu_relax();
			continue;
		}
		struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
		pthread_mutex_lock(&sh->sh_lock);
		atomic_fetch_or(&pg->pg_flags, PG_WAITERS);
		if (mode == LATCH_EXCLUSIVE)
			atomic_fetch_or(&pg->pg_latch, LATCH_XWAIT);
		l = atomic_load(&pg->pg_latch);
		if (!latch_free_for(l, mode, false))
			pthread_cond_wait(&sh->sh_cond, &sh->sh_lock);
		pthread_mutex_unlock(&sh->sh_lock);
		spins = mode == LATCH_SHARED ? 256 : 0;
	}
}

void cio_unlatch(struct cio_inode *ino, struct cio_page *pg, int mode)
{
	if (mode == LATCH_SHARED)
		atomic_fetch_sub(&pg->pg_latch, 1);
	else
		atomic_fetch_and(&pg->pg_latch, ~LATCH_EXCL);
	cio_page_wake(ino, pg);
}

void cio_latch_downgrade(struct cio_inode *ino, struct cio_page *pg)
{
	uint32_t l = atomic_load(&pg->pg_latch);
	while (!atomic_compare_exchange_weak(&pg->pg_latch, &l, (l & LATCH_XWAIT) | 1))
		;
	cio_page_wake(ino, pg);
}

/* Wait until no write-back of @pg is in flight. Caller holds a ref. */
void cio_page_wait_writeback(struct cio_inode *ino, struct cio_page *pg)
{
	if (!(atomic_load(&pg->pg_flags) & PG_WRITEBACK))
		return;
	struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
	pthread_mutex_lock(&sh->sh_lock);
	for (;;) {
		atomic_fetch_or(&pg->pg_flags, PG_WAITERS);
		if (!(atomic_load(&pg->pg_flags) & PG_WRITEBACK))
			break;
		pthread_cond_wait(&sh->sh_cond, &sh->sh_lock);
	}
	pthread_mutex_unlock(&sh->sh_lock);
}

/*
 * cio_page_put() - drop a reference. The last reference of a REMOVED page
 * frees its frame (only one thread can see the count reach 0: the remover
 * holds a reference until after it set PG_REMOVED).
 */
void cio_page_put(struct cio_inode *ino, struct cio_page *pg)
{
	/* The shard while the reference still pins the frame: once it is
	 * dropped, another put may free the frame and it may be reused
	 * (pg_index rewritten). For the same reason the wake below leaves
	 * PG_WAITERS alone: on a reused frame it is someone else's. */
	struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
	uint32_t old = atomic_fetch_sub(&pg->pg_refs, 1);
	if (old == 1 && (atomic_load(&pg->pg_flags) & PG_REMOVED)) {
		cio_frame_release(ino->i_cache, pg);
		return;
	}
	if (atomic_load(&pg->pg_flags) & PG_WAITERS) {
		pthread_mutex_lock(&sh->sh_lock);
		pthread_cond_broadcast(&sh->sh_cond);
		pthread_mutex_unlock(&sh->sh_lock);
	}
}

void cio_page_set_dirty(struct cio_inode *ino, struct cio_page *pg)
{
	uint32_t old = atomic_fetch_or(&pg->pg_flags, PG_DIRTY);
	if (!(old & PG_DIRTY)) {
		atomic_fetch_add(&ino->i_ndirty, 1);
		atomic_fetch_add(&ino->i_cache->c_ndirty, 1);
	}
}

void cio_page_clear_dirty_count(struct cio_inode *ino)
{
	atomic_fetch_sub(&ino->i_ndirty, 1);
	atomic_fetch_sub(&ino->i_cache->c_ndirty, 1);
}

/* ---- the index -------------------------------------------------------- */

#define MIN_BUCKETS 16u

static inline uint32_t bucket_of(const struct cio_shard *sh, uint64_t idx)
{
	uint64_t h = (idx / CIO_NSHARDS) * 0x9E3779B97F4A7C15ull;
	return (uint32_t)(h >> 32) & (sh->sh_nbuckets - 1);
}

int cio_shard_init(struct cio_cache *c, struct cio_shard *sh)
{
	sh->sh_buckets = malloc(MIN_BUCKETS * sizeof(uint32_t));
	if (!sh->sh_buckets)
		return -ENOMEM;
	memset(sh->sh_buckets, 0xff, MIN_BUCKETS * sizeof(uint32_t));
	sh->sh_nbuckets = MIN_BUCKETS;
	sh->sh_count = 0;
	pthread_mutex_init(&sh->sh_lock, NULL);
	pthread_cond_init(&sh->sh_cond, NULL);
	(void)c;
	return 0;
}

void cio_shard_fini(struct cio_cache *c, struct cio_shard *sh)
{
	if (sh->sh_nbuckets > MIN_BUCKETS)
		atomic_fetch_sub(&c->c_index_bytes,
		                 (uint64_t)(sh->sh_nbuckets - MIN_BUCKETS) * sizeof(uint32_t));
	free(sh->sh_buckets);
	pthread_mutex_destroy(&sh->sh_lock);
	pthread_cond_destroy(&sh->sh_cond);
}

struct cio_page *__cio_index_find(struct cio_inode *ino, struct cio_shard *sh, uint64_t idx)
{
	struct cio_cache *c = ino->i_cache;
	uint32_t id = sh->sh_buckets[bucket_of(sh, idx)];
	while (id != CIO_NIL) {
		struct cio_page *pg = &c->c_pages[id];
		if (pg->pg_index == idx)
			return pg;
		id = pg->pg_hnext;
	}
	return NULL;
}

/* Double the table when it is fuller than one page per bucket and the
 * index budget allows; otherwise chains just get longer. */
static void index_grow(struct cio_inode *ino, struct cio_shard *sh)
{
	struct cio_cache *c = ino->i_cache;
	uint32_t nb = sh->sh_nbuckets * 2;
	uint64_t extra = (uint64_t)sh->sh_nbuckets * sizeof(uint32_t);
	uint64_t cur = atomic_load(&c->c_index_bytes);
	do {
		if (cur + extra > c->c_index_budget)
			return;
	} while (!atomic_compare_exchange_weak(&c->c_index_bytes, &cur, cur + extra));
	uint32_t *nbk = malloc((size_t)nb * sizeof(uint32_t));
	if (!nbk) {
		atomic_fetch_sub(&c->c_index_bytes, extra);
		return;
	}
	memset(nbk, 0xff, (size_t)nb * sizeof(uint32_t));
	uint32_t *old = sh->sh_buckets;
	uint32_t onb = sh->sh_nbuckets;
	sh->sh_buckets = nbk;
	sh->sh_nbuckets = nb;
	for (uint32_t b = 0; b < onb; b++) {
		uint32_t id = old[b];
		while (id != CIO_NIL) {
			struct cio_page *pg = &c->c_pages[id];
			uint32_t next = pg->pg_hnext;
			uint32_t nbi = bucket_of(sh, pg->pg_index);
			pg->pg_hnext = nbk[nbi];
			nbk[nbi] = id;
			id = next;
		}
	}
	free(old);
}

void __cio_index_insert(struct cio_inode *ino, struct cio_shard *sh, struct cio_page *pg)
{
	if (sh->sh_count >= sh->sh_nbuckets)
		index_grow(ino, sh);
	uint32_t b = bucket_of(sh, pg->pg_index);
	pg->pg_hnext = sh->sh_buckets[b];
	sh->sh_buckets[b] = cio_page_id(ino->i_cache, pg);
	sh->sh_count++;
	atomic_fetch_add(&ino->i_npages, 1);
}

void __cio_index_remove(struct cio_inode *ino, struct cio_shard *sh, struct cio_page *pg)
{
	struct cio_cache *c = ino->i_cache;
	uint32_t id = cio_page_id(c, pg);
	uint32_t *link = &sh->sh_buckets[bucket_of(sh, pg->pg_index)];
	while (*link != CIO_NIL) {
		if (*link == id) {
			*link = pg->pg_hnext;
			pg->pg_hnext = CIO_NIL;
			sh->sh_count--;
			atomic_fetch_sub(&ino->i_npages, 1);
			return;
		}
		link = &c->c_pages[*link].pg_hnext;
	}
}

/* Find page @idx and take a reference on it; NULL if it is not cached. */
struct cio_page *cio_page_lookup(struct cio_inode *ino, uint64_t idx)
{
	struct cio_shard *sh = cio_shard_of(ino, idx);
	pthread_mutex_lock(&sh->sh_lock);
	struct cio_page *pg = __cio_index_find(ino, sh, idx);
	if (pg)
		atomic_fetch_add(&pg->pg_refs, 1);
	pthread_mutex_unlock(&sh->sh_lock);
	return pg;
}

/*
 * __cio_page_remove() - take @pg out of the index and the queues; the frame
 * is freed by the last cio_page_put(). A dirty page loses its data here:
 * callers only remove dirty pages after a successful write-back or for an
 * explicit discard (truncate, CIO_INVAL_DISCARD). Context: sh_lock held, the
 * caller holds a reference.
 */
void __cio_page_remove(struct cio_inode *ino, struct cio_shard *sh, struct cio_page *pg)
{
	struct cio_cache *c = ino->i_cache;
	__cio_index_remove(ino, sh, pg);
	uint32_t old = atomic_fetch_or(&pg->pg_flags, PG_REMOVED);
	if (old & PG_DIRTY) {
		atomic_fetch_and(&pg->pg_flags, ~PG_DIRTY);
		cio_page_clear_dirty_count(ino);
	}
	pthread_mutex_lock(&c->c_lru_lock);
	__cio_queue_remove(c, pg);
	pthread_mutex_unlock(&c->c_lru_lock);
}

static int cmp_page_index(const void *a, const void *b)
{
	const struct cio_page *x = *(struct cio_page *const *)a;
	const struct cio_page *y = *(struct cio_page *const *)b;
	return x->pg_index < y->pg_index ? -1 : x->pg_index > y->pg_index;
}

static int vec_push(struct cio_page ***v, size_t *n, size_t *cap, struct cio_page *pg)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct cio_page **nv = realloc(*v, nc * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[(*n)++] = pg;
	return 0;
}

/*
 * cio_page_collect() - references to the cached pages with index in
 * [@first, @last] (with @dirty_only: the dirty ones and those under
 * write-back, which fsync must wait for too), sorted by index. The
 * caller drops them with cio_page_put_all() and frees *out.
 * Return: 0 or -ENOMEM (nothing held).
 */
int cio_page_collect(struct cio_inode *ino, uint64_t first, uint64_t last,
                     bool dirty_only, struct cio_page ***out, size_t *n)
{
	struct cio_page **v = NULL;
	size_t cnt = 0, cap = 0;
	int err = 0;

	*out = NULL;
	*n = 0;
	uint64_t cached = atomic_load(&ino->i_npages);
	if (cached == 0 || first > last)
		return 0;
	if (dirty_only && atomic_load(&ino->i_ndirty) == 0)
		return 0;
	if (last - first < cached) {
		/* narrow range: look each index up */
		for (uint64_t i = first; i <= last && !err; i++) {
			struct cio_page *pg = cio_page_lookup(ino, i);
			if (!pg)
				continue;
			if (dirty_only && !(atomic_load(&pg->pg_flags) & (PG_DIRTY | PG_WRITEBACK))) {
				cio_page_put(ino, pg);
				continue;
			}
			err = vec_push(&v, &cnt, &cap, pg);
			if (err)
				cio_page_put(ino, pg);
		}
	} else {
		struct cio_cache *c = ino->i_cache;
		for (int s = 0; s < CIO_NSHARDS && !err; s++) {
			struct cio_shard *sh = &ino->i_shards[s];
			pthread_mutex_lock(&sh->sh_lock);
			for (uint32_t b = 0; b < sh->sh_nbuckets && !err; b++) {
				for (uint32_t id = sh->sh_buckets[b]; id != CIO_NIL && !err;) {
					struct cio_page *pg = &c->c_pages[id];
					id = pg->pg_hnext;
					if (pg->pg_index < first || pg->pg_index > last)
						continue;
					if (dirty_only && !(atomic_load(&pg->pg_flags) & (PG_DIRTY | PG_WRITEBACK)))
						continue;
					err = vec_push(&v, &cnt, &cap, pg);
					if (!err)
						atomic_fetch_add(&pg->pg_refs, 1);
				}
			}
			pthread_mutex_unlock(&sh->sh_lock);
		}
	}
	if (err) {
		cio_page_put_all(ino, v, cnt);
		free(v);
		return err;
	}
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), cmp_page_index);
	*out = v;
	*n = cnt;
	return 0;
}

void cio_page_put_all(struct cio_inode *ino, struct cio_page **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i])
			cio_page_put(ino, v[i]);
}
