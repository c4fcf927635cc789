/*
 * G4 through the async API - every operation completes exactly once, with
 * its true result, and the errno that cut a partial transfer short is kept.
 *
 * A "block" here is B = max(4096, logical block size) bytes, so the scenario
 * is the same for every page size. The file holds 32 blocks stamped OLD; a
 * fault-injecting cache serves it. For every page size:
 *
 *  A. EIO on writes overlapping block 5; an async direct write of blocks
 *     0..15 (with the old pages cached): exactly one event, and either
 *     res == -EIO (res2 0) or 0 < res <= 5 blocks with res2 == -EIO; never
 *     16 blocks. The first res bytes are new on every path; every other
 *     block is old or new and the cached path, the direct path and the
 *     device agree on it (G1 for partial writes). Once the rule is cleared
 *     the same write completes with 16 blocks and res2 0.
 *  B. A first rule cuts the first write to 4 blocks (count 1), a second
 *     fails block 5 with EIO: res == 4 blocks and res2 == -EIO exactly.
 *  C. The same for async direct reads (EIO alone, then short + EIO).
 *  D. An async cached read over blocks 0..15 with EIO on block 5 (nothing
 *     cached): -EIO, or a partial count with res2 == -EIO.
 *  E. An async fsync whose write-back fails reports -EIO in its event; once
 *     the fault is gone an async fsync returns 0 and the device holds the
 *     data.
 *  F. An async DSYNC direct write whose device flush fails reports the
 *     error in its event (res < 0 or res2 < 0), never plain success.
 *  G. An async cached write over [B/2, 16 blocks - B/2) (nothing cached, so
 *     its partial first and last pages must be read) with EIO on reads of
 *     block 15: -EIO, or a partial count with res2 == -EIO; after a
 *     successful fsync the cached path, the direct path and the device
 *     agree and hold the bytes the event reported.
 * After each case no second event shows up.
 */
#include "helpers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NB 16      /* blocks per operation */
#define FILE_NB 32 /* blocks in the file   */
#define BAD_BLK 5  /* the block that fails */

#define SEED_OLD 11
#define SEED_NEW 22
#define SEED_NEW2 33
#define SEED_NEW3 44

struct env {
	uint32_t ps, lbs;
	size_t B;
	char *path;
	cio_cache *c;
	cio_file *f;
	cio_ctx *cx;
	uint8_t *old, *nw; /* whole-file images: OLD stamp, NEW stamp */
	uint8_t *buf, *got, *kern;
	uint64_t next_ud;
};

static struct cio_op rw_op(uint32_t opcode, cio_file *f, void *buf, size_t len,
                           int64_t off, unsigned flags, uint64_t ud)
{
	struct cio_op op;
	memset(&op, 0, sizeof op);
	op.opcode = opcode;
	op.flags = flags;
	op.file = f;
	op.buf = buf;
	op.len = len;
	op.off = off;
	op.user_data = ud;
	return op;
}

/* Submit one op and reap exactly its event. */
static struct cio_event run_one(struct env *e, const struct cio_op *op)
{
	struct cio_event ev;
	int n = cio_ctx_submit(e->cx, op, 1);
	CHECKF(n == 1, "cio_ctx_submit(opcode %u) = %d (%s)", op->opcode, n,
	       t_errname(n));
	memset(&ev, 0, sizeof ev);
	n = cio_ctx_getevents(e->cx, 1, 1, &ev, NULL);
	CHECKF(n == 1, "cio_ctx_getevents = %d (%s)", n, t_errname(n));
	CHECK_EQ(ev.user_data, op->user_data);
	CHECK_EQ(ev.opcode, op->opcode);
	return ev;
}

/* No further event may show up (a second event for one operation). */
static void expect_no_event(struct env *e)
{
	struct cio_event ev[4];
	struct timespec ts = {0, 30 * 1000000L};
	int n = cio_ctx_getevents(e->cx, 1, 4, ev, &ts);
	CHECKF(n == 0, "a spurious event: getevents = %d, user_data %llu res %lld",
	       n, n > 0 ? (unsigned long long)ev[0].user_data : 0ull,
	       n > 0 ? (long long)ev[0].res : 0ll);
}

static int add_rule(cio_cache *c, unsigned ops, int64_t start, int64_t end,
                    int error, uint32_t short_bytes, int32_t count)
{
	struct cio_fault_rule r;
	memset(&r, 0, sizeof r);
	r.ops = ops;
	r.start = start;
	r.end = end;
	r.error = error;
	r.short_bytes = short_bytes;
	r.count = count;
	int id = cio_fault_add(c, &r);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));
	return id;
}

/* Put OLD back on the device and in the cache: direct write of the whole
 * file (updates cached copies), then a cached read so every page is cached. */
static void reset_old(struct env *e)
{
	size_t fsz = FILE_NB * e->B;
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	memcpy(e->buf, e->old, fsz);
	t_write_all(e->f, e->buf, fsz, 0, CIO_RW_DIRECT);
	t_read_all(e->f, e->got, fsz, 0, 0);
	CHECK_MEM(e->got, e->old, fsz, 0);
}

/* Cached path, direct path and device all agree on the file; bytes
 * [0, k) are NEW; blocks [k, NB) each wholly OLD or NEW; the rest OLD. */
static void verify_after_write(struct env *e, size_t k, const char *what)
{
	size_t fsz = FILE_NB * e->B;
	t_ctx("ps=%u %s: verify (k=%zu)", e->ps, what, k);
	t_read_all(e->f, e->got, fsz, 0, 0);
	ssize_t kr = t_kernel_pread(e->path, e->kern, fsz, 0);
	CHECK_EQ(kr, (ssize_t)fsz);
	CHECK_MEM(e->got, e->kern, fsz, 0); /* cached == device */
	memset(e->got, 0xEE, fsz);
	t_read_all(e->f, e->got, fsz, 0, CIO_RW_DIRECT);
	CHECK_MEM(e->got, e->kern, fsz, 0); /* direct == device */
	CHECK_MEM(e->kern, e->nw, k, 0);
	for (size_t b = k / e->B; b < NB; b++) {
		size_t o = b * e->B, s = o < k ? k - o : 0;
		const uint8_t *p = e->kern + o;
		bool is_old = memcmp(p + s, e->old + o + s, e->B - s) == 0;
		bool is_new = memcmp(p + s, e->nw + o + s, e->B - s) == 0;
		CHECKF(is_old || is_new, "%s: block %zu is neither old nor new",
		       what, b);
	}
	CHECK_MEM(e->kern + NB * e->B, e->old + NB * e->B,
	          (FILE_NB - NB) * e->B, NB * e->B);
}

/* The shape every partial-failure event must have. Returns bytes done. */
static size_t check_eio_event(struct env *e, const struct cio_event *ev,
                              const char *what)
{
	size_t whole = NB * e->B, upto = BAD_BLK * e->B;
	t_log("ps=%u %s: res %lld res2 %d", e->ps, what, (long long)ev->res,
	      ev->res2);
	CHECKF(ev->res != (int64_t)whole,
	       "%s: the whole transfer reported done despite EIO on block %d",
	       what, BAD_BLK);
	if (ev->res < 0) {
		EXPECTF(ev->res == -EIO, "%s: res %lld (%s), want -EIO", what,
		        (long long)ev->res, t_errname(ev->res));
		EXPECTF(ev->res2 == 0, "%s: res %lld with res2 %d (%s)", what,
		        (long long)ev->res, ev->res2, t_errname(ev->res2));
		return 0;
	}
	EXPECTF(ev->res > 0 && (size_t)ev->res <= upto &&
	            (size_t)ev->res % e->lbs == 0,
	        "%s: res %lld, want -EIO or a partial count of at most %d"
	        " blocks (%zu bytes)", what, (long long)ev->res, BAD_BLK, upto);
	EXPECTF(ev->res2 == -EIO,
	        "%s: partial transfer of %lld bytes with res2 %d (%s): the errno"
	        " that cut it short is lost (G4)", what, (long long)ev->res,
	        ev->res2, t_errname(ev->res2));
	return ev->res > 0 && (size_t)ev->res <= upto ? (size_t)ev->res : 0;
}

static void case_write(struct env *e, bool with_short)
{
	const char *what = with_short ? "direct write, short+EIO" : "direct write, EIO";
	size_t whole = NB * e->B;
	reset_old(e);
	t_ctx("ps=%u %s", e->ps, what);
	int sid = -1;
	if (with_short)
		sid = add_rule(e->c, CIO_FAULT_WRITE, 0, 0, 0, (uint32_t)(4 * e->B), 1);
	int eid = add_rule(e->c, CIO_FAULT_WRITE, BAD_BLK * (int64_t)e->B,
	                   (BAD_BLK + 1) * (int64_t)e->B, EIO, 0, -1);
	memcpy(e->buf, e->nw, whole);
	struct cio_op op = rw_op(CIO_OP_WRITE, e->f, e->buf, whole, 0,
	                         CIO_RW_DIRECT, ++e->next_ud);
	struct cio_event ev = run_one(e, &op);
	size_t k = check_eio_event(e, &ev, what);
	if (with_short) {
		CHECK_EQ(cio_fault_fired(e->c, sid), 1);
		CHECKF(ev.res == (int64_t)(4 * e->B) && ev.res2 == -EIO,
		       "%s: res %lld res2 %d (%s), want exactly 4 blocks (%zu)"
		       " and -EIO", what, (long long)ev.res, ev.res2,
		       t_errname(ev.res2), 4 * e->B);
	}
	CHECK_GE(cio_fault_fired(e->c, eid), 1);
	expect_no_event(e);
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	verify_after_write(e, k, what);
	if (ev.res < 0) {
		/* nothing was done: blocks 0..BAD_BLK-1 are still old */
		CHECK_MEM(e->kern, e->old, BAD_BLK * e->B, 0);
	}
	/* the fault is gone: the same write succeeds whole */
	op.user_data = ++e->next_ud;
	ev = run_one(e, &op);
	CHECKF(ev.res == (int64_t)whole && ev.res2 == 0,
	       "%s: retry res %lld res2 %d (%s)", what, (long long)ev.res,
	       ev.res2, t_errname(ev.res2));
	expect_no_event(e);
	verify_after_write(e, whole, "retry");
}

static void case_direct_read(struct env *e, bool with_short)
{
	const char *what = with_short ? "direct read, short+EIO" : "direct read, EIO";
	size_t whole = NB * e->B;
	reset_old(e);
	t_ctx("ps=%u %s", e->ps, what);
	int sid = -1;
	if (with_short)
		sid = add_rule(e->c, CIO_FAULT_READ, 0, 0, 0, (uint32_t)(4 * e->B), 1);
	add_rule(e->c, CIO_FAULT_READ, BAD_BLK * (int64_t)e->B,
	         (BAD_BLK + 1) * (int64_t)e->B, EIO, 0, -1);
	memset(e->buf, 0xEE, whole);
	struct cio_op op = rw_op(CIO_OP_READ, e->f, e->buf, whole, 0,
	                         CIO_RW_DIRECT, ++e->next_ud);
	struct cio_event ev = run_one(e, &op);
	size_t k = check_eio_event(e, &ev, what);
	if (with_short) {
		CHECK_EQ(cio_fault_fired(e->c, sid), 1);
		CHECKF(ev.res == (int64_t)(4 * e->B) && ev.res2 == -EIO,
		       "%s: res %lld res2 %d (%s), want exactly 4 blocks and"
		       " -EIO", what, (long long)ev.res, ev.res2,
		       t_errname(ev.res2));
	}
	CHECK_MEM(e->buf, e->old, k, 0);
	expect_no_event(e);
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	op.user_data = ++e->next_ud;
	ev = run_one(e, &op);
	CHECKF(ev.res == (int64_t)whole && ev.res2 == 0,
	       "%s: retry res %lld res2 %d", what, (long long)ev.res, ev.res2);
	CHECK_MEM(e->buf, e->old, whole, 0);
	expect_no_event(e);
}

static void case_cached_read(struct env *e)
{
	const char *what = "cached read, EIO";
	size_t whole = NB * e->B;
	reset_old(e);
	t_ctx("ps=%u %s", e->ps, what);
	struct cio_inval_result ir;
	int rc = cio_invalidate(e->f, 0, 0, 0, &ir);
	CHECKF(rc == 0, "invalidate = %d (%s)", rc, t_errname(rc));
	CHECK_EQ(t_fstats(e->f).cached_pages, 0);
	add_rule(e->c, CIO_FAULT_READ, BAD_BLK * (int64_t)e->B,
	         (BAD_BLK + 1) * (int64_t)e->B, EIO, 0, -1);
	memset(e->buf, 0xEE, whole);
	struct cio_op op = rw_op(CIO_OP_READ, e->f, e->buf, whole, 0, 0,
	                         ++e->next_ud);
	struct cio_event ev = run_one(e, &op);
	size_t k = check_eio_event(e, &ev, what);
	CHECK_MEM(e->buf, e->old, k, 0);
	expect_no_event(e);
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	op.user_data = ++e->next_ud;
	ev = run_one(e, &op);
	CHECKF(ev.res == (int64_t)whole && ev.res2 == 0,
	       "%s: retry res %lld res2 %d", what, (long long)ev.res, ev.res2);
	CHECK_MEM(e->buf, e->old, whole, 0);
	expect_no_event(e);
}

static void case_fsync(struct env *e)
{
	size_t whole = NB * e->B, fsz = FILE_NB * e->B;
	reset_old(e);
	t_ctx("ps=%u async fsync, write-back EIO", e->ps);
	uint8_t *want = t_alloc(fsz);
	memcpy(want, e->old, fsz);
	t_stamp_fill(want, whole, 0, SEED_NEW2);
	t_write_all(e->f, want, whole, 0, 0); /* cached: dirty pages */
	CHECK_GT(t_fstats(e->f).dirty_pages, 0);
	int id = add_rule(e->c, CIO_FAULT_WRITE, 0, 0, EIO, 0, -1);
	struct cio_op op;
	memset(&op, 0, sizeof op);
	op.opcode = CIO_OP_FSYNC;
	op.file = e->f;
	op.user_data = ++e->next_ud;
	struct cio_event ev = run_one(e, &op);
	t_log("ps=%u async fsync with failing write-back: res %lld res2 %d",
	      e->ps, (long long)ev.res, ev.res2);
	CHECKF(ev.res == -EIO, "async fsync whose write-back failed: res %lld"
	       " (%s), want -EIO", (long long)ev.res, t_errname(ev.res));
	CHECK_GE(cio_fault_fired(e->c, id), 1);
	expect_no_event(e);
	/* the data is still there (dirty), and on every read path */
	CHECK_GT(t_fstats(e->f).dirty_pages, 0);
	t_read_all(e->f, e->got, fsz, 0, 0);
	CHECK_MEM(e->got, want, fsz, 0);
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	op.user_data = ++e->next_ud;
	ev = run_one(e, &op);
	CHECKF(ev.res == 0, "async fsync after the fault was cleared: res %lld"
	       " (%s)", (long long)ev.res, t_errname(ev.res));
	expect_no_event(e);
	CHECK_EQ(t_fstats(e->f).dirty_pages, 0);
	CHECK_KERNEL(e->path, want, fsz, 0);
	memset(e->got, 0, fsz);
	t_read_all(e->f, e->got, fsz, 0, CIO_RW_DIRECT);
	CHECK_MEM(e->got, want, fsz, 0);
	free(want);
}

static void case_dsync(struct env *e)
{
	size_t whole = NB * e->B, fsz = FILE_NB * e->B;
	reset_old(e);
	t_ctx("ps=%u async DSYNC direct write, flush EIO", e->ps);
	uint8_t *want = t_alloc(fsz);
	memcpy(want, e->old, fsz);
	t_stamp_fill(want, whole, 0, SEED_NEW3);
	memcpy(e->buf, want, whole);
	int id = add_rule(e->c, CIO_FAULT_FSYNC, 0, 0, EIO, 0, -1);
	struct cio_op op = rw_op(CIO_OP_WRITE, e->f, e->buf, whole, 0,
	                         CIO_RW_DIRECT | CIO_RW_DSYNC, ++e->next_ud);
	struct cio_event ev = run_one(e, &op);
	t_log("ps=%u DSYNC direct write with failing flush: res %lld res2 %d",
	      e->ps, (long long)ev.res, ev.res2);
	CHECK_GE(cio_fault_fired(e->c, id), 1);
	CHECKF(ev.res < 0 || ev.res2 < 0,
	       "DSYNC write whose flush failed reported success: res %lld res2 %d",
	       (long long)ev.res, ev.res2);
	if (ev.res < 0)
		CHECK_EQ(ev.res, -EIO);
	else
		CHECK_EQ(ev.res2, -EIO);
	expect_no_event(e);
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	op.user_data = ++e->next_ud;
	ev = run_one(e, &op);
	CHECKF(ev.res == (int64_t)whole && ev.res2 == 0,
	       "DSYNC retry res %lld res2 %d", (long long)ev.res, ev.res2);
	expect_no_event(e);
	t_read_all(e->f, e->got, fsz, 0, 0);
	CHECK_MEM(e->got, want, fsz, 0);
	CHECK_KERNEL(e->path, want, fsz, 0);
	free(want);
}

static void case_cached_write(struct env *e)
{
	const char *what = "cached write, EIO on the fill of its last page";
	size_t whole = NB * e->B, fsz = FILE_NB * e->B, h = e->B / 2;
	size_t len = whole - 2 * h;
	reset_old(e);
	t_ctx("ps=%u %s", e->ps, what);
	struct cio_inval_result ir;
	int rc = cio_invalidate(e->f, 0, 0, 0, &ir);
	CHECKF(rc == 0, "invalidate = %d (%s)", rc, t_errname(rc));
	int id = add_rule(e->c, CIO_FAULT_READ, (NB - 1) * (int64_t)e->B,
	                  NB * (int64_t)e->B, EIO, 0, -1);
	memcpy(e->buf, e->nw + h, len);
	struct cio_op op = rw_op(CIO_OP_WRITE, e->f, e->buf, len, (int64_t)h, 0,
	                         ++e->next_ud);
	struct cio_event ev = run_one(e, &op);
	t_log("ps=%u %s: res %lld res2 %d", e->ps, what, (long long)ev.res,
	      ev.res2);
	CHECK_GE(cio_fault_fired(e->c, id), 1);
	CHECKF(ev.res != (int64_t)len,
	       "%s: reported whole although a page could not be read", what);
	size_t k = 0;
	if (ev.res < 0) {
		EXPECTF(ev.res == -EIO && ev.res2 == 0, "%s: res %lld res2 %d",
		        what, (long long)ev.res, ev.res2);
	} else {
		EXPECTF(ev.res > 0 && (size_t)ev.res < len, "%s: res %lld", what,
		        (long long)ev.res);
		EXPECTF(ev.res2 == -EIO,
		        "%s: partial transfer of %lld bytes with res2 %d (%s):"
		        " the errno that cut it short is lost (G4)", what,
		        (long long)ev.res, ev.res2, t_errname(ev.res2));
		if ((size_t)ev.res < len)
			k = (size_t)ev.res;
	}
	expect_no_event(e);
	CHECK_EQ(cio_fault_clear(e->c, -1), 0);
	CHECK_EQ(cio_fsync(e->f), 0);
	t_read_all(e->f, e->got, fsz, 0, 0);
	CHECK_MEM(e->got + h, e->nw + h, k, h);
	CHECK_MEM(e->got, e->old, h, 0);
	CHECK_MEM(e->got + whole - h, e->old + whole - h, fsz - whole + h,
	          whole - h);
	CHECK_KERNEL(e->path, e->got, fsz, 0);
	memset(e->kern, 0xEE, fsz);
	t_read_all(e->f, e->kern, fsz, 0, CIO_RW_DIRECT);
	CHECK_MEM(e->kern, e->got, fsz, 0);
}

static void run(uint32_t ps)
{
	struct env e;
	memset(&e, 0, sizeof e);
	e.ps = ps;
	e.path = t_scratch_path("g4");
	e.c = t_cache(ps, 0, 1);
	CHECK_EQ(t_kernel_create(e.path, 0), 0);
	e.f = t_open(e.c, e.path, O_RDWR);
	e.lbs = t_lbs(e.f);
	e.B = e.lbs > 4096 ? e.lbs : 4096;
	size_t fsz = FILE_NB * e.B;
	e.old = t_alloc(fsz);
	e.nw = t_alloc(fsz);
	e.buf = t_alloc(fsz);
	e.got = t_alloc(fsz);
	e.kern = t_alloc(fsz);
	t_stamp_fill(e.old, fsz, 0, SEED_OLD);
	t_stamp_fill(e.nw, fsz, 0, SEED_NEW);
	int rc = cio_ctx_create(e.c, 16, &e.cx);
	CHECKF(rc == 0, "cio_ctx_create = %d (%s)", rc, t_errname(rc));
	if (ps == t_page_sizes[0])
		t_log("engine %s, logical block size %u, block %zu",
		      t_cstats(e.c).engine, e.lbs, e.B);

	case_write(&e, false);
	case_write(&e, true);
	case_direct_read(&e, false);
	case_direct_read(&e, true);
	case_cached_read(&e);
	case_fsync(&e);
	case_dsync(&e);
	case_cached_write(&e);

	t_ctx("ps=%u teardown", ps);
	CHECK_EQ(cio_ctx_destroy(e.cx), 0);
	CHECK_EQ(cio_fsync(e.f), 0);
	t_close(e.f);
	t_destroy(e.c);
	free(e.old);
	free(e.nw);
	free(e.buf);
	free(e.got);
	free(e.kern);
	t_scratch_remove(e.path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 120);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
