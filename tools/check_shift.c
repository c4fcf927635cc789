/*
 * check_shift.c - fallocate's COLLAPSE_RANGE and INSERT_RANGE in `coherio
 * check`, at epoch checks only.
 *
 * Collapse and insert move every block after their offset, so in the
 * concurrent mix the model would have to move every version of every cell
 * past it while reads and writes of both positions are in flight. Instead
 * they run at an epoch check, with every worker parked, right after the file
 * was verified (disk == cache == direct reads == model, so the kernel's image
 * is exactly the file's content):
 *  1. pick a collapse or an insert on file-system-block-aligned (st_blksize)
 *     offset and length, inside the rules (collapse: off + len < size;
 *     insert: off < size, and the file stays within --file-size);
 *  2. cio_fallocate(), which must return 0 (faults are off at epoch checks);
 *     -EOPNOTSUPP turns shifts off for the run, with a note in the table;
 *  3. the expected image is the verified one, shifted; coherio's size, a
 *     cached and a direct read of the whole file must equal it byte for byte;
 *  4. the moved blocks carry stamps of their old offsets, which the model
 *     would call misplaced: the checker rewrites them with its own stamps
 *     (writer 0xff, a fresh tick), fsyncs, restarts the file's model from
 *     the new image (as crash mode starts from a disk image) and verifies
 *     the file once more the usual way.
 * Not in --crash mode: the replay of a killed child's record would have to
 * shift its model at the right moment too, which it does not do.
 *
 * Threads: only the main thread, while every worker is parked; the run's
 * shift_* fields are its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"

static void shift_viol(struct chk_run *r, const struct chk_op *op, const char *g,
                       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void shift_viol(struct chk_run *r, const struct chk_op *op, const char *g,
                       const char *fmt, ...)
{
	char text[400];
	va_list ap;
	struct chk_viol *v = chk_viol_of_op(op, g);

	if (!v)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(v->what, sizeof(v->what), "At an epoch check (every thread parked), "
	         "the checker's %s of file %u [%lld, +%llu): %s",
	         chk_falloc_mode_name(op->flags), op->file, (long long)op->off,
	         (unsigned long long)op->len, text);
	chk_violation(r, v);
	free(v);
}

/* Compare @n bytes of what was read with the expected image; 0 or -1. */
static int compare(struct chk_run *r, const struct chk_op *op, const char *how,
                   const uint8_t *got, const uint8_t *exp, uint64_t n)
{
	for (uint64_t c = 0; c * CHK_CELL < n; c++) {
		char a[160], b[160];

		if (!memcmp(got + c * CHK_CELL, exp + c * CHK_CELL, CHK_CELL))
			continue;
		chk_cell_describe(got + c * CHK_CELL, a, sizeof(a));
		chk_cell_describe(exp + c * CHK_CELL, b, sizeof(b));
		shift_viol(r, op, "G3", "afterwards a %s read of the whole file gives, for "
		           "block %llu (bytes %llu-%llu), %s; the file shifted as the "
		           "call says holds %s there", how, (unsigned long long)c,
		           (unsigned long long)(c * CHK_CELL),
		           (unsigned long long)(c * CHK_CELL + CHK_CELL - 1), a, b);
		return -1;
	}
	return 0;
}

/* Log a checker operation (the model is restarted afterwards). */
static void log_op(struct chk_run *r, struct chk_op *op, bool end)
{
	chk_model_lock(r->model[op->file]);
	if (end) {
		op->resp = chk_tick();
		chk_log_end(r->log, op);
	} else {
		op->inv = chk_tick();
		chk_log_begin(r->log, op);
	}
	chk_model_unlock(r->model[op->file]);
}

/* Step 1: the call's mode, offset and length; false if none fits. */
static bool pick(struct chk_run *r, uint64_t size, uint64_t bs, struct chk_op *op)
{
	uint64_t *rng = &r->shift_rng;
	uint64_t k = size ? (size - 1) / bs : 0; /* whole blocks below the end */
	bool can_collapse = k >= 1;
	bool can_insert = size > 0 && r->cfg.file_size - size >= bs;
	bool collapse = chk_below(rng, 2) ? can_collapse : !can_insert;

	if (!can_collapse && !can_insert)
		return false;
	if (collapse) {
		uint64_t lb = 1 + chk_below(rng, k < 16 ? k : 16);
		uint64_t ob = chk_below(rng, k - lb + 1);

		op->flags = FALLOC_FL_COLLAPSE_RANGE;
		op->off = (int64_t)(ob * bs);
		op->len = lb * bs;
	} else {
		uint64_t room = (r->cfg.file_size - size) / bs;
		uint64_t lb = 1 + chk_below(rng, room < 16 ? room : 16);

		op->flags = FALLOC_FL_INSERT_RANGE;
		op->off = (int64_t)(chk_below(rng, k + 1) * bs);
		op->len = lb * bs;
	}
	return true;
}

void chk_shift_file(struct chk_run *r, int f, const uint8_t *img, uint64_t size)
{
	uint64_t cap = r->cfg.file_size + 8192, nsz, lo = UINT64_MAX, hi = 0, bs;
	cio_file *h = r->w[0].h[f];
	struct chk_op op, wop;
	struct stat st;
	const uint8_t *kimg;
	uint64_t ksz;
	int64_t got;
	int rc;

	if (r->cfg.crash || (r->cfg.without & CHK_NO_SHIFT) ||
	    (atomic_load(&r->falloc_unsup) & CHK_NO_SHIFT) || chk_below(&r->shift_rng, 2))
		return;
	if (!r->shift_img)
		r->shift_img = cli_alloc_aligned(4096, cap + CHK_CELL);
	if (!r->shift_buf)
		r->shift_buf = cli_alloc_aligned(4096, cap + CHK_CELL);
	if (!r->shift_img || !r->shift_buf || stat(r->path[f], &st) < 0)
		return;
	bs = st.st_blksize > 0 ? (uint64_t)st.st_blksize : 4096;
	chk_checker_op(&op, OK_FALLOC, VIA_SYNC, f);
	if (bs % CHK_CELL || size % CHK_CELL || !pick(r, size, bs, &op)) {
		r->shift_skipped++;
		return;
	}
	/* Step 3's expectation, from the verified image */
	memset(r->shift_img, 0, cap + CHK_CELL);
	memcpy(r->shift_img, img, (size_t)op.off);
	if (op.flags & FALLOC_FL_COLLAPSE_RANGE) {
		nsz = size - op.len;
		memcpy(r->shift_img + op.off, img + op.off + op.len,
		       (size_t)(nsz - (uint64_t)op.off));
	} else {
		nsz = size + op.len;
		memcpy(r->shift_img + op.off + op.len, img + op.off,
		       (size_t)(size - (uint64_t)op.off));
	}
	/* Step 2 */
	log_op(r, &op, false);
	rc = cio_fallocate(h, (int)op.flags, op.off, (int64_t)op.len);
	op.res = rc;
	log_op(r, &op, true);
	if (rc == -EOPNOTSUPP) {
		atomic_fetch_or(&r->falloc_unsup, CHK_NO_SHIFT);
		return;
	}
	if (rc < 0) {
		shift_viol(r, &op, "G4", "returned -%s (%s) with no fault injected, on a "
		           "file of %llu bytes and file-system blocks of %llu bytes",
		           cli_errname(rc), cio_strerror(rc), (unsigned long long)size,
		           (unsigned long long)bs);
		return;
	}
	atomic_fetch_add(&r->falloc_n[op.flags & FALLOC_FL_COLLAPSE_RANGE ?
	                              FA_COLLAPSE : FA_INSERT], 1);
	/* Step 3 */
	if ((got = cio_size(h)) != (int64_t)nsz) {
		shift_viol(r, &op, "G5", "the size was %llu before it and is %lld after "
		           "it, not %llu", (unsigned long long)size, (long long)got,
		           (unsigned long long)nsz);
		return;
	}
	got = cio_read(h, r->shift_buf, nsz + CHK_CELL, 0, 0);
	if (got != (int64_t)nsz) {
		shift_viol(r, &op, "G5", "a cached read of the whole file returned %lld, "
		           "not the size %llu", (long long)got, (unsigned long long)nsz);
		return;
	}
	if (compare(r, &op, "cached", r->shift_buf, r->shift_img, nsz) < 0)
		return;
	got = cio_read(h, r->shift_buf, cap, 0, CIO_RW_DIRECT);
	if (got != (int64_t)nsz) {
		shift_viol(r, &op, "G5", "a direct read of the whole file returned %lld, "
		           "not the size %llu", (long long)got, (unsigned long long)nsz);
		return;
	}
	if (compare(r, &op, "direct", r->shift_buf, r->shift_img, nsz) < 0)
		return;
	/* Step 4: restamp the moved blocks that hold data */
	chk_checker_op(&wop, OK_WRITE, VIA_CACHED, f);
	log_op(r, &wop, false);
	for (uint64_t c = (uint64_t)op.off / CHK_CELL; c < nsz / CHK_CELL; c++) {
		struct chk_stamp sst;

		if (chk_stamp_parse(r->shift_img + c * CHK_CELL, &sst) != CELL_STAMP)
			continue;
		chk_stamp_fill(r->shift_img + c * CHK_CELL, CHK_CELL, (uint32_t)f, 0xff,
		               c * CHK_CELL, wop.inv);
		if (lo == UINT64_MAX)
			lo = c * CHK_CELL;
		hi = c * CHK_CELL + CHK_CELL;
	}
	wop.off = lo == UINT64_MAX ? 0 : (int64_t)lo;
	wop.len = lo == UINT64_MAX ? 0 : hi - lo;
	got = wop.len ? cio_write(h, r->shift_img + lo, wop.len, (int64_t)lo, 0) : 0;
	wop.res = got;
	log_op(r, &wop, true);
	rc = got == (int64_t)wop.len ? cio_fsync(h) : (got < 0 ? (int)got : -EIO);
	if (rc < 0) {
		shift_viol(r, &op, "G4", "the checker's rewrite of the moved blocks "
		           "afterwards (a cached write and fsync, no fault injected) "
		           "failed: -%s", cli_errname(rc));
		return;
	}
	chk_model_lock(r->model[f]);
	chk_model_baseline(r->model[f], r->shift_img, nsz, chk_tick());
	chk_model_unlock(r->model[f]);
	(void)chk_verify_file(r, f, h, &kimg, &ksz);
}
