/*
 * inode.c - files: cio_open/cio_close, the cache's table of inodes (one per
 * device+inode number, shared by every handle on that file), the backing
 * descriptor (O_DIRECT, or a buffered fallback), direct-I/O alignment, and
 * per-file statistics.
 *
 * Locks: c_inode_lock protects c_inodes, i_next, i_nhandles, c_nhandles and
 * c_dead; the last close writes back and tears its inode down under it, so
 * an open of the same file cannot create a second inode with its own pages
 * meanwhile. An inode whose dirty pages could not be written at the last
 * close stays in the table (with no handle) so that nothing is lost: a
 * later open finds it, and cio_cache_destroy() retries it.
 */
#include "internal.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define OPEN_FLAGS_OK (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC | O_LARGEFILE | O_NOCTTY)

/* Reopen the file behind @hfd with @flags (O_DIRECT etc.). */
static int reopen(int hfd, const char *path, int flags)
{
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", hfd);
	int fd = open(proc, flags | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		fd = open(path, flags | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static void dio_alignment(struct cio_inode *ino)
{
	struct statx stx;
	ino->i_lbs = 512;
	ino->i_mem_align = 512;
	if (ino->i_blockdev) {
		int bs;
		if (ioctl(ino->i_fd, BLKSSZGET, &bs) == 0 && bs > 0)
			ino->i_lbs = ino->i_mem_align = (uint32_t)bs;
		return;
	}
	if (statx(ino->i_fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align) {
		ino->i_lbs = stx.stx_dio_offset_align;
		ino->i_mem_align = stx.stx_dio_mem_align ? stx.stx_dio_mem_align : stx.stx_dio_offset_align;
	}
}

static void inode_free(struct cio_inode *ino)
{
	for (int s = 0; s < CIO_NSHARDS; s++)
		cio_shard_fini(ino->i_cache, &ino->i_shards[s]);
	if (ino->i_fd >= 0)
		close(ino->i_fd);
	pthread_mutex_destroy(&ino->i_lock);
	pthread_cond_destroy(&ino->i_cond);
	free(ino);
}

/* Make the inode for the file open as @hfd. c_inode_lock held. */
static int inode_create(struct cio_cache *c, const char *path, int hfd,
                        const struct stat *st, struct cio_inode **out)
{
	struct cio_inode *ino = calloc(1, sizeof(*ino));
	int r;
	if (!ino)
		return -ENOMEM;
	ino->i_cache = c;
	ino->i_dev = st->st_dev;
	ino->i_ino = st->st_ino;
	ino->i_blockdev = S_ISBLK(st->st_mode);
	ino->i_fd = -1;
	pthread_mutex_init(&ino->i_lock, NULL);
	pthread_cond_init(&ino->i_cond, NULL);
	atomic_init(&ino->i_trunc_page, UINT64_MAX);
	for (int s = 0; s < CIO_NSHARDS; s++) {
		r = cio_shard_init(c, &ino->i_shards[s]);
		if (r < 0) {
			for (int t = 0; t < s; t++)
				cio_shard_fini(c, &ino->i_shards[t]);
			pthread_mutex_destroy(&ino->i_lock);
			pthread_cond_destroy(&ino->i_cond);
			free(ino);
			return r;
		}
	}
	/* Best first: read-write O_DIRECT; then without O_DIRECT (the file
	 * system refuses it); then read-only. */
	static const struct { int flags; int direct; int writable; } tries[] = {
		{ O_RDWR | O_DIRECT, 1, 1 }, { O_RDWR, 0, 1 },
		{ O_RDONLY | O_DIRECT, 1, 0 }, { O_RDONLY, 0, 0 },
	};
	r = -EACCES;
	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		r = reopen(hfd, path, tries[i].flags);
		if (r >= 0) {
			ino->i_fd = r;
			ino->i_direct = tries[i].direct;
			ino->i_writable = tries[i].writable;
			break;
		}
	}
	if (r < 0) {
		inode_free(ino);
		return r;
	}
	dio_alignment(ino);
	if (ino->i_lbs > c->c_page_size || (ino->i_lbs & (ino->i_lbs - 1))) {
		inode_free(ino);
		return -EINVAL;
	}
	int64_t size = st->st_size;
	if (ino->i_blockdev) {
		uint64_t bytes = 0;
		if (ioctl(ino->i_fd, BLKGETSIZE64, &bytes) < 0) {
			r = -errno;
			inode_free(ino);
			return r;
		}
		size = (int64_t)bytes;
	}
	atomic_store(&ino->i_size, size);
	ino->i_id = atomic_fetch_add(&c->c_inode_ids, 1) + 1;
	ino->i_next = c->c_inodes;
	c->c_inodes = ino;
	*out = ino;
	return 0;
}

int cio_open(cio_cache *c, const char *path, int flags, mode_t mode, cio_file **out)
{
	struct stat st;
	struct cio_inode *ino;
	int r, acc = flags & O_ACCMODE;

	if (!c || !path || !out)
		return -EFAULT;
	*out = NULL;
	if ((flags & ~OPEN_FLAGS_OK) || acc == O_ACCMODE)
		return -EINVAL;
	int hfd = open(path, (flags & ~O_TRUNC) | O_CLOEXEC, mode);
	if (hfd < 0)
		return -errno;
	if (fstat(hfd, &st) < 0) {
		r = -errno;
		goto fail_fd;
	}
	if (S_ISDIR(st.st_mode)) {
		r = -EISDIR;
		goto fail_fd;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		r = -EINVAL;
		goto fail_fd;
	}
	cio_file *f = calloc(1, sizeof(*f));
	if (!f) {
		r = -ENOMEM;
		goto fail_fd;
	}
	pthread_mutex_lock(&c->c_inode_lock);
	for (ino = c->c_inodes; ino; ino = ino->i_next)
		if (ino->i_dev == st.st_dev && ino->i_ino == st.st_ino)
			break;
	if (!ino) {
		r = inode_create(c, path, hfd, &st, &ino);
		if (r < 0) {
			pthread_mutex_unlock(&c->c_inode_lock);
			free(f);
			goto fail_fd;
		}
	}
	if (acc != O_RDONLY && !ino->i_writable) {
		pthread_mutex_unlock(&c->c_inode_lock);
		free(f);
		r = -EACCES;
		goto fail_fd;
	}
	ino->i_nhandles++;
	c->c_nhandles++;
	pthread_mutex_unlock(&c->c_inode_lock);

	f->h_magic = CIO_FILE_MAGIC;
	f->h_flags = flags;
	f->h_fd = hfd;
	f->h_inode = ino;
	f->h_cache = c;
	atomic_store(&f->h_ra_trigger, UINT64_MAX);
	pthread_mutex_init(&f->h_err_lock, NULL);
	f->h_wb_since = cio_errseq_sample(ino);
	if ((flags & O_TRUNC) && acc != O_RDONLY && !ino->i_blockdev) {
		r = cio_truncate(f, 0, 0);
		if (r < 0) {
			cio_close(f);
			return r;
		}
	}
	*out = f;
	return 0;
fail_fd:
	close(hfd);
	return r;
}

/* Remove every page of @ino; waits for stray references (an evictor's
 * write-back batch) to go. Dirty pages must have been written. */
void cio_inode_drop_all_pages(struct cio_inode *ino)
{
	struct cio_cache *c = ino->i_cache;
	for (int s = 0; s < CIO_NSHARDS; s++) {
		struct cio_shard *sh = &ino->i_shards[s];
		pthread_mutex_lock(&sh->sh_lock);
		while (sh->sh_count) {
			struct cio_page *busy = NULL;
			for (uint32_t b = 0; b < sh->sh_nbuckets; b++) {
				uint32_t id = sh->sh_buckets[b];
				while (id != CIO_NIL) {
					struct cio_page *pg = &c->c_pages[id];
					id = pg->pg_hnext;
					if (atomic_load(&pg->pg_refs) || atomic_load(&pg->pg_latch)) {
						busy = pg;
						continue;
					}
					atomic_fetch_add(&pg->pg_refs, 1);
					__cio_page_remove(ino, sh, pg);
					pthread_mutex_unlock(&sh->sh_lock);
					cio_page_put(ino, pg);
					pthread_mutex_lock(&sh->sh_lock);
					id = sh->sh_buckets[b];
				}
			}
			if (busy && sh->sh_count) {
				atomic_fetch_or(&busy->pg_flags, PG_WAITERS);
				if (atomic_load(&busy->pg_refs) || atomic_load(&busy->pg_latch))
					pthread_cond_wait(&sh->sh_cond, &sh->sh_lock);
			}
		}
		pthread_mutex_unlock(&sh->sh_lock);
	}
}

/* The last touch of @ino by a background holder: i_lock is taken so that a
 * release waiting on i_cond cannot free the inode before the broadcast. */
void cio_inode_io_put(struct cio_inode *ino)
{
	pthread_mutex_lock(&ino->i_lock);
	if (atomic_fetch_sub(&ino->i_io_refs, 1) == 1)
		pthread_cond_broadcast(&ino->i_cond);
	pthread_mutex_unlock(&ino->i_lock);
}

/* Wait until no background holder has a page reference. A page that was
 * removed from the index (invalidate, truncate) while a readahead or the
 * evictor still held it is not seen by cio_inode_drop_all_pages(), and
 * the holder's last put touches the inode (found by the preload library's
 * fork tests: invalidate, then the last close, with a readahead in flight:
 * the completion put pages of a freed inode). */
static void inode_io_wait(struct cio_inode *ino)
{
	pthread_mutex_lock(&ino->i_lock);
	while (atomic_load(&ino->i_io_refs))
		pthread_cond_wait(&ino->i_cond, &ino->i_lock);
	pthread_mutex_unlock(&ino->i_lock);
}

/* Write back and tear down an inode nobody has open. c_inode_lock held.
 * Return: 0 (freed) or the write-back error (kept, pages still dirty). */
int __cio_inode_release(struct cio_cache *c, struct cio_inode *ino, bool force)
{
	cio_async_writes_wait(ino); /* a context's post may still hold it */
	int r = cio_writeback_inode(ino, 0, UINT64_MAX);
	int fix = cio_backing_fixup(ino);
	if (r == 0 && atomic_load(&ino->i_ndirty))
		r = -EIO;
	if (r < 0 && !force)
		return r;
	cio_inode_drop_all_pages(ino);
	inode_io_wait(ino);
	for (struct cio_inode **p = &c->c_inodes; *p; p = &(*p)->i_next) {
		if (*p == ino) {
			*p = ino->i_next;
			break;
		}
	}
	inode_free(ino);
	return r ? r : fix;
}

int cio_close(cio_file *f)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	struct cio_cache *c = f->h_cache;
	struct cio_inode *ino = f->h_inode;

	pthread_mutex_lock(&c->c_inode_lock);
	f->h_magic = CIO_FILE_DEAD;
	c->c_nhandles--;
	if (--ino->i_nhandles == 0)
		r = __cio_inode_release(c, ino, false);
	close(f->h_fd);
	pthread_mutex_destroy(&f->h_err_lock);
#ifdef CIO_HANDLE_CHECKS
	f->h_inode = NULL;
	f->h_next = c->c_dead;
	c->c_dead = f;
#else
	free(f);
#endif
	pthread_mutex_unlock(&c->c_inode_lock);
	return r;
}

int64_t cio_size(cio_file *f)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	return atomic_load_explicit(&f->h_inode->i_size, memory_order_acquire);
}

int cio_file_stats(cio_file *f, struct cio_file_stats *st)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	if (!st)
		return -EFAULT;
	struct cio_inode *ino = f->h_inode;
	memset(st, 0, sizeof(*st));
	st->size = atomic_load(&ino->i_size);
	st->logical_block_size = ino->i_lbs;
	st->memory_alignment = ino->i_mem_align;
	st->page_size = ino->i_cache->c_page_size;
	st->direct_io = ino->i_direct;
	st->is_block_device = ino->i_blockdev;
	st->cached_pages = atomic_load(&ino->i_npages);
	st->dirty_pages = atomic_load(&ino->i_ndirty);
	st->writeback_errors = atomic_load(&ino->i_wb_errors);
	return 0;
}
