/*
 * cache.c - creating and destroying a cache, its memory budget, engine
 * choice, and cache-wide statistics.
 *
 * The budget is a hard limit fixed at creation: every frame, page
 * descriptor and ghost slot is allocated here, and the page index may only
 * grow into the share reserved for it (c_index_budget). Per frame that is
 * page_size + 48 (descriptor) + 8 (ghost) + 8 (index reserve) bytes.
 */
#include "internal.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define DEFAULT_BUDGET (64ull << 20)
#define INDEX_RESERVE_PER_FRAME 8u
#define GHOST_PER_FRAME 8u

_Static_assert(sizeof(struct cio_page) <= 64, "page descriptor must stay small");

int cio_cache_create(cio_cache **out, const struct cio_cache_opts *opts)
{
	struct cio_cache_opts o;
	int r;

	if (!out)
		return -EFAULT;
	*out = NULL;
	memset(&o, 0, sizeof(o));
	if (opts)
		o = *opts;
	if (!o.memory_bytes)
		o.memory_bytes = DEFAULT_BUDGET;
	if (!o.page_size)
		o.page_size = 4096;
	if (!o.readahead_max)
		o.readahead_max = 256; /* 1 MiB of 4 KiB pages */
	if (!o.writeback_batch)
		o.writeback_batch = 32;
	if (o.page_size < 4096 || o.page_size > (1u << 20) || (o.page_size & (o.page_size - 1)))
		return -EINVAL;
	if (o.readahead_max > CIO_MAX_RA || o.writeback_batch > 64)
		return -EINVAL;
	if (o.engine < CIO_ENGINE_AUTO || o.engine > CIO_ENGINE_URING)
		return -EINVAL;
	if (!o.queue_depth)
		o.queue_depth = 128;
	if (!o.engine_threads)
		o.engine_threads = 4;
	if (o.queue_depth > 4096 || o.engine_threads > 256)
		return -EINVAL;

	uint64_t per_frame = (uint64_t)o.page_size + sizeof(struct cio_page) +
	                     GHOST_PER_FRAME + INDEX_RESERVE_PER_FRAME;
	uint64_t fixed = sizeof(struct cio_cache);
	if (o.memory_bytes <= fixed || (o.memory_bytes - fixed) / per_frame < 16)
		return -EINVAL;
	uint64_t nframes = (o.memory_bytes - fixed) / per_frame;
	if (nframes > UINT32_MAX - 1)
		return -EINVAL;

	struct cio_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->c_page_size = o.page_size;
	c->c_page_shift = (uint32_t)__builtin_ctz(o.page_size);
	c->c_nframes = (uint32_t)nframes;
	c->c_ra_max = o.readahead_max;
	c->c_wb_batch = o.writeback_batch;
	c->c_budget = o.memory_bytes;
	c->c_index_budget = nframes * INDEX_RESERVE_PER_FRAME;
	c->c_frames_len = (size_t)nframes * o.page_size;
	c->c_frames = mmap(NULL, c->c_frames_len, PROT_READ | PROT_WRITE,
	                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->c_frames == MAP_FAILED) {
		free(c);
		return -ENOMEM;
	}
	c->c_pages = calloc(nframes, sizeof(struct cio_page));
	if (!c->c_pages) {
		r = -ENOMEM;
		goto fail;
	}
	r = cio_replace_init(c);
	if (r < 0)
		goto fail;
	r = cio_engine_select(&o, &c->c_engine);
	if (r < 0)
		goto fail_replace;
	if (o.fault_inject) {
		struct cio_engine *fe;
		r = cio_engine_fault_create(c->c_engine, &fe);
		if (r < 0) {
			c->c_engine->ops->destroy(c->c_engine);
			goto fail_replace;
		}
		c->c_engine = fe;
		c->c_fault = 1;
	}
	/* Fixed buffers for io_uring where the kernel allows it; harmless
	 * when it does not (the frames stay mapped until the engine is gone). */
	(void)cio_engine_register_buffers(c->c_engine, c->c_frames, c->c_frames_len);
	pthread_mutex_init(&c->c_inode_lock, NULL);
	*out = c;
	return 0;
fail_replace:
	cio_replace_fini(c);
fail:
	free(c->c_pages);
	munmap(c->c_frames, c->c_frames_len);
	free(c);
	return r;
}

int cio_cache_destroy(cio_cache *c)
{
	int ret = 0;
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->c_inode_lock);
	if (c->c_nhandles) {
		pthread_mutex_unlock(&c->c_inode_lock);
		return -EBUSY;
	}
	while (c->c_inodes) {
		int r = __cio_inode_release(c, c->c_inodes, true);
		if (r < 0 && !ret)
			ret = r;
	}
	while (c->c_dead) {
		cio_file *f = c->c_dead;
		c->c_dead = f->h_next;
		free(f);
	}
	pthread_mutex_unlock(&c->c_inode_lock);
	pthread_mutex_destroy(&c->c_inode_lock);
	c->c_engine->ops->destroy(c->c_engine);
	cio_replace_fini(c);
	free(c->c_pages);
	munmap(c->c_frames, c->c_frames_len);
	free(c);
	return ret;
}

int cio_cache_stats(cio_cache *c, struct cio_cache_stats *st)
{
	if (!c || !st)
		return -EINVAL;
	memset(st, 0, sizeof(*st));
	st->page_size = c->c_page_size;
	st->pages_total = c->c_nframes;
	st->pages_used = atomic_load(&c->c_nused);
	st->pages_dirty = atomic_load(&c->c_ndirty);
	st->memory_bytes = (uint64_t)c->c_nframes * (c->c_page_size + sizeof(struct cio_page) + GHOST_PER_FRAME) +
	                   atomic_load(&c->c_index_bytes) + sizeof(*c);
	st->hits = cio_counter_sum(&c->st_hits);
	st->misses = cio_counter_sum(&c->st_misses);
	st->readahead_pages = atomic_load(&c->st_readahead);
	st->evictions = atomic_load(&c->st_evictions);
	st->writeback_pages = atomic_load(&c->st_wb_pages);
	st->writeback_errors = atomic_load(&c->st_wb_errors);
	st->direct_reads = atomic_load(&c->st_dio_reads);
	st->direct_writes = atomic_load(&c->st_dio_writes);
	st->coherence_updates = atomic_load(&c->st_coherence);
	st->ghost_hits = atomic_load(&c->st_ghost_hits);
	st->engine = c->c_fault ? c->c_engine->inner->ops->name : c->c_engine->ops->name;
	return 0;
}
