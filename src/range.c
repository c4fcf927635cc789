/*
 * range.c - the per-file registry of byte ranges owned by a direct write,
 * a truncate or an invalidate in progress, and size changes.
 *
 * Locks: i_lock protects i_ranges and serialises stores to i_size; i_cond
 * wakes range waiters. A registered range excludes overlapping ranges (two
 * direct writes to one block finish in the order they hit the device, so
 * the in-place cache update cannot be reordered) and write-back of pages
 * inside it (a stale page is never written over a direct write: G3).
 * Ranges are taken before any page latch; a thread holding a latch never
 * waits here.
 */
#include "internal.h"

static bool overlaps(const struct cio_range *r, uint64_t start, uint64_t end)
{
	return r->start < end && start < r->end;
}

/* Is [start, end) inside a range other than @own? i_lock held. */
bool __cio_range_busy(struct cio_inode *ino, uint64_t start, uint64_t end,
                      const struct cio_range *own)
{
	for (struct cio_range *r = ino->i_ranges; r; r = r->next)
		if (r != own && overlaps(r, start, end))
			return true;
	return false;
}

/*
 * cio_range_lock() - register [start, end) for the caller, waiting until no
 * registered range overlaps it (or -EAGAIN with @nowait).
 * Context: may sleep; the caller holds no latch.
 */
int cio_range_lock(struct cio_inode *ino, struct cio_range *r, uint64_t start,
                   uint64_t end, bool nowait)
{
	r->start = start;
	r->end = end;
	pthread_mutex_lock(&ino->i_lock);
	while (__cio_range_busy(ino, start, end, NULL)) {
		if (nowait) {
			pthread_mutex_unlock(&ino->i_lock);
			return -EAGAIN;
		}
		pthread_cond_wait(&ino->i_cond, &ino->i_lock);
	}
	r->next = ino->i_ranges;
	ino->i_ranges = r;
	atomic_fetch_add(&ino->i_nranges, 1);
	pthread_mutex_unlock(&ino->i_lock);
	return 0;
}

void cio_range_unlock(struct cio_inode *ino, struct cio_range *r)
{
	pthread_mutex_lock(&ino->i_lock);
	for (struct cio_range **p = &ino->i_ranges; *p; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			atomic_fetch_sub(&ino->i_nranges, 1);
			break;
		}
	}
	pthread_cond_broadcast(&ino->i_cond);
	pthread_mutex_unlock(&ino->i_lock);
}

/* Does a registered range overlap [start, end)? */
bool cio_range_overlaps(struct cio_inode *ino, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&ino->i_lock);
	bool busy = __cio_range_busy(ino, start, end, NULL);
	pthread_mutex_unlock(&ino->i_lock);
	return busy;
}

/* Wait until no registered range overlaps [start, end). */
void cio_range_wait_clear(struct cio_inode *ino, uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&ino->i_lock);
	while (__cio_range_busy(ino, start, end, NULL))
		pthread_cond_wait(&ino->i_cond, &ino->i_lock);
	pthread_mutex_unlock(&ino->i_lock);
}

/*
 * cio_size_extend() - grow i_size to @end if it is smaller. Called only
 * after the data below @end is readable (in the cache, or on the device for
 * direct writes): the release store pairs with the acquire load of readers,
 * so a reader that sees the new size also sees the data (G5). The size
 * never moves backwards here.
 */
void cio_size_extend(struct cio_inode *ino, int64_t end)
{
	if (atomic_load_explicit(&ino->i_size, memory_order_acquire) >= end)
		return;
	pthread_mutex_lock(&ino->i_lock);
	if (atomic_load_explicit(&ino->i_size, memory_order_relaxed) < end)
		atomic_store_explicit(&ino->i_size, end, memory_order_release);
	pthread_mutex_unlock(&ino->i_lock);
}
