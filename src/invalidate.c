/*
 * invalidate.c - cio_invalidate(): drop a range's cached pages without ever
 * losing dirty data (G3). Goes over the whole range; never stops at the
 * first failure. Registers the range, widened to whole pages, first
 * (range.c), so no direct write is in flight over its pages and laundering
 * cannot race one.
 */
#include "internal.h"

#include <stdlib.h>

static void note_kept(struct cio_inval_result *res, struct cio_inode *ino,
                      struct cio_page *pg, int why)
{
	res->kept++;
	if (res->first_kept < 0) {
		res->first_kept = (int64_t)(pg->pg_index << ino->i_cache->c_page_shift);
		res->first_error = why;
	}
}

int cio_invalidate(cio_file *f, int64_t off, int64_t len, unsigned flags,
                   struct cio_inval_result *resp)
{
	struct cio_inval_result res = { 0, 0, 0, -1, 0 };
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	if (flags & ~(CIO_INVAL_WAIT | CIO_INVAL_DISCARD))
		return -EINVAL;
	if (off < 0 || len < 0)
		return -EINVAL;
	if (len > CIO_MAX_FILE_SIZE || off > CIO_MAX_FILE_SIZE - len)
		return -EFBIG;
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	uint64_t end = len ? (uint64_t)(off + len) : UINT64_MAX;
	struct cio_range range;
	/* The range covers whole pages: laundering writes whole pages, so a
	 * direct write to another part of one of them must not run meanwhile
	 * (the page's old copy of its bytes would land over it). */
	uint64_t pmask = (uint64_t)c->c_page_size - 1;
	uint64_t rend = end == UINT64_MAX || end > UINT64_MAX - pmask ? UINT64_MAX
	                                                              : (end + pmask) & ~pmask;
	cio_range_lock(ino, &range, (uint64_t)off & ~pmask, rend, false);

	struct cio_page **v;
	size_t n;
	uint64_t last = len ? (end - 1) >> c->c_page_shift : UINT64_MAX;
	r = cio_page_collect(ino, (uint64_t)off >> c->c_page_shift, last, false, &v, &n);
	if (r < 0) {
		cio_range_unlock(ino, &range);
		return r;
	}
	for (size_t i = 0; i < n; i++) {
		struct cio_page *pg = v[i];
		if (cio_latch(ino, pg, LATCH_EXCLUSIVE, !(flags & CIO_INVAL_WAIT)) < 0) {
			note_kept(&res, ino, pg, -EBUSY);
			continue;
		}
		uint32_t fl = atomic_load(&pg->pg_flags);
		if (!(fl & PG_REMOVED)) {
			if ((fl & PG_DIRTY) && !(flags & CIO_INVAL_DISCARD)) {
				int w = cio_write_page_locked(ino, pg);
				if (w < 0) {
					note_kept(&res, ino, pg, w);
					cio_unlatch(ino, pg, LATCH_EXCLUSIVE);
					continue;
				}
				res.laundered++;
			}
			struct cio_shard *sh = cio_shard_of(ino, pg->pg_index);
			pthread_mutex_lock(&sh->sh_lock);
			__cio_page_remove(ino, sh, pg);
			pthread_mutex_unlock(&sh->sh_lock);
			res.dropped++;
		}
		cio_unlatch(ino, pg, LATCH_EXCLUSIVE);
	}
	cio_page_put_all(ino, v, n);
	free(v);
	cio_range_unlock(ino, &range);
	if (resp)
		*resp = res;
	return res.kept ? res.first_error : 0;
}
