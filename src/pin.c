/*
 * pin.c - pins: pointers into cached pages, held as latches (G7). A read
 * pin holds each page's latch shared, a write pin exclusive (and marks the
 * pages dirty up front: they cannot be written back while pinned, so the
 * stores made through the pointers go out at the next write-back after
 * cio_unpin()). Pages are latched in index order. The cio_pin struct is the
 * caller's; it owns no lock.
 */
#include "internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

static void pin_release(struct cio_inode *ino, void **pages, int n, int mode)
{
	for (int i = 0; i < n; i++) {
		cio_unlatch(ino, pages[i], mode);
		cio_page_put(ino, pages[i]);
	}
}

int cio_pin_range(cio_file *f, int64_t off, size_t len, unsigned flags, cio_pin *pin)
{
	int r = cio_file_check(f);
	if (r < 0)
		return r;
	if (!pin)
		return -EFAULT;
	if (flags & ~(CIO_PIN_WRITE | CIO_PIN_NOWAIT))
		return -EINVAL;
	if (off < 0 || len == 0)
		return -EINVAL;
	if (len > (uint64_t)CIO_MAX_FILE_SIZE || (uint64_t)off > (uint64_t)CIO_MAX_FILE_SIZE - len)
		return -EFBIG;
	bool write = (flags & CIO_PIN_WRITE) != 0;
	int acc = f->h_flags & O_ACCMODE;
	if (write ? acc == O_RDONLY : acc == O_WRONLY)
		return -EBADF;
	struct cio_inode *ino = f->h_inode;
	struct cio_cache *c = ino->i_cache;
	int64_t size = atomic_load_explicit(&ino->i_size, memory_order_acquire);
	uint64_t end = (uint64_t)off + len;
	if ((!write || ino->i_blockdev) && (int64_t)end > size)
		return -ENXIO;

	uint64_t first = (uint64_t)off >> c->c_page_shift;
	uint64_t last = (end - 1) >> c->c_page_shift;
	uint64_t np = last - first + 1;
	if (np > INT32_MAX)
		return -EFBIG;
	memset(pin, 0, sizeof(*pin));
	pin->pn_pages = pin->pn_inline_pages;
	pin->seg = pin->pn_inline_seg;
	if (np > CIO_PIN_INLINE) {
		pin->pn_pages = malloc(np * sizeof(void *));
		pin->seg = malloc(np * sizeof(struct iovec));
		if (!pin->pn_pages || !pin->seg) {
			free(pin->pn_pages);
			free(pin->seg);
			memset(pin, 0, sizeof(*pin));
			return -ENOMEM;
		}
	}
	int mode = write ? LATCH_EXCLUSIVE : LATCH_SHARED;
	unsigned g = (flags & CIO_PIN_NOWAIT) ? GET_NOWAIT : 0;
	if (write) {
		r = cio_write_enter(ino, last, (flags & CIO_PIN_NOWAIT) != 0); /* truncate.c */
		if (r < 0) {
			if (np > CIO_PIN_INLINE) {
				free(pin->pn_pages);
				free(pin->seg);
			}
			memset(pin, 0, sizeof(*pin));
			return r;
		}
	}
	for (uint64_t i = 0; i < np; i++) {
		struct cio_page *pg = cio_page_get(f, first + i, mode, g, &r);
		if (!pg) {
			pin_release(ino, pin->pn_pages, (int)i, mode);
			if (write)
				cio_write_exit(ino);
			if (np > CIO_PIN_INLINE) {
				free(pin->pn_pages);
				free(pin->seg);
			}
			memset(pin, 0, sizeof(*pin));
			return r;
		}
		pin->pn_pages[i] = pg;
		uint64_t pstart = pg->pg_index << c->c_page_shift;
		uint64_t a = CIO_MAX(pstart, (uint64_t)off), b = CIO_MIN(pstart + c->c_page_size, end);
		pin->seg[i].iov_base = cio_page_data(c, pg) + (a - pstart);
		pin->seg[i].iov_len = b - a;
	}
	for (uint64_t i = 0; write && i < np; i++)
		cio_page_set_dirty(ino, pin->pn_pages[i]);
	/* A truncate may have cut the file while the pages were filled (see
	 * cached_io.c): a read pin past the size now is -ENXIO, as at entry. */
	if (!write && (int64_t)end > atomic_load_explicit(&ino->i_size, memory_order_acquire)) {
		pin_release(ino, pin->pn_pages, (int)np, mode);
		if (np > CIO_PIN_INLINE) {
			free(pin->pn_pages);
			free(pin->seg);
		}
		memset(pin, 0, sizeof(*pin));
		return -ENXIO;
	}
	if (write) {
		cio_size_extend(ino, (int64_t)end);
		cio_write_exit(ino);
	}
	pin->nseg = (int)np;
	pin->off = off;
	pin->len = len;
	pin->pn_file = f;
	pin->pn_flags = flags;
	return (int)np;
}

int cio_unpin(cio_pin *pin)
{
	if (!pin || !pin->pn_pages || cio_file_check(pin->pn_file) < 0)
		return -EINVAL;
	struct cio_inode *ino = pin->pn_file->h_inode;
	int mode = (pin->pn_flags & CIO_PIN_WRITE) ? LATCH_EXCLUSIVE : LATCH_SHARED;
	pin_release(ino, pin->pn_pages, pin->nseg, mode);
	if (pin->pn_pages != pin->pn_inline_pages) {
		free(pin->pn_pages);
		free(pin->seg);
	}
	pin->pn_pages = NULL;
	pin->seg = NULL;
	pin->nseg = 0;
	return 0;
}
