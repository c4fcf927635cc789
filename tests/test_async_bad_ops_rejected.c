/*
 * G11 through the async API - bad operations are rejected at submission
 * with the documented error, as the synchronous call would reject them;
 * nothing is accepted and nothing changes; a batch stops at its first bad
 * operation, and the count returned says how many were accepted (each of
 * those produces its event).
 *
 * For every page size, on a file stamped OLD, with a context of depth
 * DEPTH:
 *  - each bad operation alone: cio_ctx_submit() returns the expected error
 *    (and the equivalent synchronous call returns the same), no event
 *    appears: misaligned direct offset / length / buffer / iovec, negative
 *    offsets and sizes, sizes past CIO_MAX_FILE_SIZE, unknown opcodes, NULL
 *    buffers, bad iovec counts, unknown or misplaced flags, a NULL handle,
 *    writes on a read-only handle and reads on a write-only one, and (when
 *    cio_build_flags() has CIO_BUILD_HANDLE_CHECKS) a closed handle;
 *  - batches [good, good, bad, good] return 2 and yield exactly the two
 *    good events; [bad, good] returns the error and yields nothing; the
 *    write after the bad operation never happens;
 *  - bad arguments to the context calls themselves (create, submit,
 *    getevents, destroy);
 *  - after all of that the context still takes exactly DEPTH operations
 *    (a rejected operation leaks no slot) and the file holds exactly what
 *    the accepted operations wrote.
 * Every deviation is reported (EXPECT), not only the first.
 */
#include "helpers.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEPTH 8
#define NBLK 16
#define SEED_OLD 91
#define SEED_NEW 92

struct env {
	uint32_t ps, lbs, memalign;
	size_t fsz;
	char *path;
	cio_cache *c;
	cio_file *f, *fro, *fwo, *fclosed;
	cio_ctx *cx;
	uint8_t *buf, *old, *nw;
	uint64_t ud;
	int nchecked;
};

static void no_event(struct env *e, const char *what)
{
	struct cio_event ev[2];
	struct timespec zero = {0, 0};
	int n = cio_ctx_getevents(e->cx, 0, 2, ev, &zero);
	EXPECTF(n == 0, "%s: rejected, yet %d event(s) appeared (user_data"
	        " %llu res %lld)", what, n,
	        n > 0 ? (unsigned long long)ev[0].user_data : 0ull,
	        n > 0 ? (long long)ev[0].res : 0ll);
}

static struct cio_op mk(uint32_t opcode, cio_file *f, void *buf, size_t len,
                        int64_t off, uint32_t flags)
{
	struct cio_op op;
	memset(&op, 0, sizeof op);
	op.opcode = opcode;
	op.file = f;
	op.buf = buf;
	op.len = len;
	op.off = off;
	op.flags = flags;
	return op;
}

/* The synchronous call equivalent to @op (READ/WRITE/TRUNCATE/FSYNC). */
static long long sync_equiv(const struct cio_op *op, bool *has)
{
	*has = true;
	switch (op->opcode) {
	case CIO_OP_READ:
		if (op->iov)
			return cio_readv(op->file, op->iov, op->iovcnt, op->off, op->flags);
		return cio_read(op->file, op->buf, op->len, op->off, op->flags);
	case CIO_OP_WRITE:
		if (op->iov)
			return cio_writev(op->file, op->iov, op->iovcnt, op->off, op->flags);
		return cio_write(op->file, op->buf, op->len, op->off, op->flags);
	case CIO_OP_TRUNCATE:
		return cio_truncate(op->file, op->off, op->flags);
	default:
		*has = false;
		return 0;
	}
}

static void expect_reject(struct env *e, struct cio_op op, int want,
                          const char *what)
{
	op.user_data = ++e->ud;
	e->nchecked++;
	int n = cio_ctx_submit(e->cx, &op, 1);
	EXPECTF(n == want, "%s: cio_ctx_submit = %d (%s), want %d (%s)", what,
	        n, n < 0 ? t_errname(n) : "accepted", want, t_errname(want));
	if (n == 1) {
		/* accepted by mistake: reap its event so the rest goes on */
		struct cio_event ev;
		cio_ctx_getevents(e->cx, 1, 1, &ev, NULL);
	}
	no_event(e, what);
	bool has;
	long long s = sync_equiv(&op, &has);
	if (has)
		EXPECTF(s == want, "%s: the synchronous call returns %lld (%s),"
		        " the async submission should reject it the same way"
		        " (%d, %s)", what, s, s < 0 ? t_errname(s) : "done", want,
		        t_errname(want));
}

static void single_ops(struct env *e)
{
	uint32_t L = e->lbs;
	uint8_t *b = e->buf;
	char what[160];
	t_ctx("ps=%u single bad ops", e->ps);

	/* misaligned direct I/O */
	for (int w = 0; w < 2; w++) {
		uint32_t opc = w ? CIO_OP_WRITE : CIO_OP_READ;
		const char *nm = w ? "direct write" : "direct read";
		snprintf(what, sizeof what, "%s, offset lbs/2", nm);
		expect_reject(e, mk(opc, e->f, b, L, L / 2, CIO_RW_DIRECT), -EINVAL, what);
		snprintf(what, sizeof what, "%s, offset 1", nm);
		expect_reject(e, mk(opc, e->f, b, L, 1, CIO_RW_DIRECT), -EINVAL, what);
		snprintf(what, sizeof what, "%s, length lbs+1", nm);
		expect_reject(e, mk(opc, e->f, b, L + 1, 0, CIO_RW_DIRECT), -EINVAL, what);
		snprintf(what, sizeof what, "%s, length lbs/2", nm);
		expect_reject(e, mk(opc, e->f, b, L / 2, 0, CIO_RW_DIRECT), -EINVAL, what);
		if (e->memalign > 1) {
			snprintf(what, sizeof what, "%s, buffer misaligned by %u", nm,
			         e->memalign / 2);
			expect_reject(e, mk(opc, e->f, b + e->memalign / 2, L, 0, CIO_RW_DIRECT),
			              -EINVAL, what);
		}
		struct iovec iov[2] = {{b, L}, {b + 2 * L, L / 2}};
		struct cio_op op = mk(opc, e->f, NULL, 0, 0, CIO_RW_DIRECT);
		op.iov = iov;
		op.iovcnt = 2;
		snprintf(what, sizeof what, "%s, second iovec length lbs/2", nm);
		expect_reject(e, op, -EINVAL, what);
		if (e->memalign > 1) {
			struct iovec iov2[2] = {{b, L}, {b + 2 * L + e->memalign / 2, L}};
			op.iov = iov2;
			snprintf(what, sizeof what, "%s, second iovec base misaligned", nm);
			expect_reject(e, op, -EINVAL, what);
		}
	}

	/* negative offsets and sizes, sizes past the limit */
	for (int w = 0; w < 2; w++) {
		uint32_t opc = w ? CIO_OP_WRITE : CIO_OP_READ;
		const char *nm = w ? "write" : "read";
		snprintf(what, sizeof what, "cached %s at -1", nm);
		expect_reject(e, mk(opc, e->f, b, 10, -1, 0), -EINVAL, what);
		snprintf(what, sizeof what, "cached %s at INT64_MIN", nm);
		expect_reject(e, mk(opc, e->f, b, 10, INT64_MIN, 0), -EINVAL, what);
		snprintf(what, sizeof what, "direct %s at -lbs", nm);
		expect_reject(e, mk(opc, e->f, b, L, -(int64_t)L, CIO_RW_DIRECT), -EINVAL, what);
		snprintf(what, sizeof what, "cached %s ending past CIO_MAX_FILE_SIZE", nm);
		expect_reject(e, mk(opc, e->f, b, 100, CIO_MAX_FILE_SIZE - 10, 0), -EFBIG, what);
		snprintf(what, sizeof what, "cached %s at INT64_MAX", nm);
		expect_reject(e, mk(opc, e->f, b, 1, INT64_MAX, 0), -EFBIG, what);
		snprintf(what, sizeof what, "cached %s of SIZE_MAX bytes", nm);
		expect_reject(e, mk(opc, e->f, b, SIZE_MAX, 0, 0), -EFBIG, what);
	}
	expect_reject(e, mk(CIO_OP_TRUNCATE, e->f, NULL, 0, -1, 0), -EINVAL,
	              "truncate to -1");
	expect_reject(e, mk(CIO_OP_TRUNCATE, e->f, NULL, 0, CIO_MAX_FILE_SIZE + 1, 0),
	              -EFBIG, "truncate past CIO_MAX_FILE_SIZE");
	expect_reject(e, mk(CIO_OP_INVALIDATE, e->f, NULL, 0, -1, 0), -EINVAL,
	              "invalidate at -1");

	/* unknown opcodes */
	static const uint32_t badop[] = {6, 7, 64, 1000, UINT32_MAX};
	for (size_t i = 0; i < sizeof badop / sizeof badop[0]; i++) {
		snprintf(what, sizeof what, "opcode %u", badop[i]);
		expect_reject(e, mk(badop[i], e->f, b, L, 0, 0), -EINVAL, what);
	}

	/* NULL buffers, bad iovec counts */
	for (int w = 0; w < 2; w++) {
		uint32_t opc = w ? CIO_OP_WRITE : CIO_OP_READ;
		const char *nm = w ? "write" : "read";
		snprintf(what, sizeof what, "cached %s, NULL buffer", nm);
		expect_reject(e, mk(opc, e->f, NULL, 10, 0, 0), -EFAULT, what);
		snprintf(what, sizeof what, "direct %s, NULL buffer", nm);
		expect_reject(e, mk(opc, e->f, NULL, L, 0, CIO_RW_DIRECT), -EFAULT, what);
		struct iovec iov[2] = {{b, 10}, {NULL, 10}};
		struct cio_op op = mk(opc, e->f, NULL, 0, 0, 0);
		op.iov = iov;
		op.iovcnt = 2;
		snprintf(what, sizeof what, "cached %s, NULL base in the second iovec", nm);
		expect_reject(e, op, -EFAULT, what);
		op.iovcnt = 0;
		snprintf(what, sizeof what, "cached %s, iovcnt 0 (1..IOV_MAX)", nm);
		expect_reject(e, op, -EINVAL, what);
		op.iovcnt = -1;
		snprintf(what, sizeof what, "cached %s, iovcnt -1", nm);
		expect_reject(e, op, -EINVAL, what);
		op.iovcnt = IOV_MAX + 1;
		snprintf(what, sizeof what, "cached %s, iovcnt IOV_MAX+1", nm);
		expect_reject(e, op, -EINVAL, what);
	}

	/* unknown and misplaced flags */
	expect_reject(e, mk(CIO_OP_READ, e->f, b, 10, 0, 1u << 7), -EINVAL,
	              "read, unknown flag");
	expect_reject(e, mk(CIO_OP_WRITE, e->f, b, 10, 0, 1u << 7), -EINVAL,
	              "write, unknown flag");
	expect_reject(e, mk(CIO_OP_READ, e->f, b, 10, 0, CIO_RW_DSYNC), -EINVAL,
	              "read with DSYNC");
	expect_reject(e, mk(CIO_OP_READ, e->f, b, L, 0, CIO_RW_DIRECT | CIO_RW_NOWAIT),
	              -EINVAL, "direct read with NOWAIT");
	expect_reject(e, mk(CIO_OP_WRITE, e->f, b, 10, 0, CIO_RW_NOWAIT), -EINVAL,
	              "cached write with NOWAIT");
	expect_reject(e, mk(CIO_OP_FSYNC, e->f, NULL, 0, 0, 1), -EINVAL,
	              "fsync with a flag");
	expect_reject(e, mk(CIO_OP_FDATASYNC, e->f, NULL, 0, 0, 1), -EINVAL,
	              "fdatasync with a flag");
	expect_reject(e, mk(CIO_OP_TRUNCATE, e->f, NULL, 0, (int64_t)e->fsz, 1u << 5),
	              -EINVAL, "truncate, unknown flag");
	expect_reject(e, mk(CIO_OP_INVALIDATE, e->f, NULL, 0, 0, 1u << 5), -EINVAL,
	              "invalidate, unknown flag");

	/* handles */
	static const uint32_t allops[] = {CIO_OP_READ, CIO_OP_WRITE, CIO_OP_FSYNC,
	                                  CIO_OP_FDATASYNC, CIO_OP_TRUNCATE,
	                                  CIO_OP_INVALIDATE};
	for (size_t i = 0; i < sizeof allops / sizeof allops[0]; i++) {
		uint64_t off = allops[i] == CIO_OP_TRUNCATE ? e->fsz : 0;
		snprintf(what, sizeof what, "opcode %u on a NULL handle", allops[i]);
		expect_reject(e, mk(allops[i], NULL, b, 10, (int64_t)off, 0), -EBADF, what);
		if (e->fclosed) {
			snprintf(what, sizeof what, "opcode %u on a closed handle", allops[i]);
			expect_reject(e, mk(allops[i], e->fclosed, b, 10, (int64_t)off, 0),
			              -EBADF, what);
		}
	}
	expect_reject(e, mk(CIO_OP_WRITE, e->fro, b, 10, 0, 0), -EBADF,
	              "cached write on a read-only handle");
	expect_reject(e, mk(CIO_OP_WRITE, e->fro, b, L, 0, CIO_RW_DIRECT), -EBADF,
	              "direct write on a read-only handle");
	expect_reject(e, mk(CIO_OP_TRUNCATE, e->fro, NULL, 0, 0, 0), -EBADF,
	              "truncate on a read-only handle");
	expect_reject(e, mk(CIO_OP_READ, e->fwo, b, 10, 0, 0), -EBADF,
	              "cached read on a write-only handle");
	expect_reject(e, mk(CIO_OP_READ, e->fwo, b, L, 0, CIO_RW_DIRECT), -EBADF,
	              "direct read on a write-only handle");
}

/* Batches stop at their first bad operation. */
static void batches(struct env *e)
{
	uint32_t L = e->lbs;
	t_ctx("ps=%u batches", e->ps);
	uint8_t *rb = e->buf;
	/* good: direct write NEW to block 0, cached write NEW to block 1;
	 * bad: misaligned direct read; then a write NEW to block 3 */
	struct cio_op ops[4];
	ops[0] = mk(CIO_OP_WRITE, e->f, e->nw, L, 0, CIO_RW_DIRECT);
	ops[1] = mk(CIO_OP_WRITE, e->f, e->nw + L, L, L, 0);
	ops[2] = mk(CIO_OP_READ, e->f, rb, L, 1, CIO_RW_DIRECT);
	ops[3] = mk(CIO_OP_WRITE, e->f, e->nw + 3 * L, L, 3 * (int64_t)L, 0);
	for (int i = 0; i < 4; i++)
		ops[i].user_data = 7000 + (uint64_t)i;
	int n = cio_ctx_submit(e->cx, ops, 4);
	EXPECTF(n == 2, "[good, good, bad, good] = %d (%s), want 2", n,
	        t_errname(n));
	if (n > 0) {
		struct cio_event ev[4];
		int got = 0;
		while (got < n) {
			int m = cio_ctx_getevents(e->cx, 1, 4, ev + got, NULL);
			CHECK_GT(m, 0);
			got += m;
		}
		bool s0 = false, s1 = false;
		for (int i = 0; i < got; i++) {
			EXPECTF(ev[i].user_data == 7000 || ev[i].user_data == 7001,
			        "batch: event for user_data %llu",
			        (unsigned long long)ev[i].user_data);
			EXPECTF(ev[i].res == (int64_t)L, "batch: user_data %llu res %lld",
			        (unsigned long long)ev[i].user_data, (long long)ev[i].res);
			s0 |= ev[i].user_data == 7000;
			s1 |= ev[i].user_data == 7001;
		}
		EXPECTF(s0 && s1, "batch: missing event (7000 %d, 7001 %d)", s0, s1);
	}
	no_event(e, "[good, good, bad, good]");

	/* [bad, good]: the error, nothing accepted */
	struct cio_op two[2];
	two[0] = mk(CIO_OP_WRITE, e->f, NULL, L, 0, 0);
	two[1] = mk(CIO_OP_WRITE, e->f, e->nw + 3 * L, L, 3 * (int64_t)L, 0);
	two[0].user_data = 7100;
	two[1].user_data = 7101;
	n = cio_ctx_submit(e->cx, two, 2);
	EXPECTF(n == -EFAULT, "[bad (NULL buffer), good] = %d (%s), want -EFAULT",
	        n, t_errname(n));
	no_event(e, "[bad, good]");
	/* [good, bad opcode]: 1 */
	two[0] = mk(CIO_OP_READ, e->f, rb, 100, 0, 0);
	two[1] = mk(99, e->f, rb, 100, 0, 0);
	two[0].user_data = 7200;
	two[1].user_data = 7201;
	n = cio_ctx_submit(e->cx, two, 2);
	EXPECTF(n == 1, "[good, bad opcode] = %d (%s), want 1", n, t_errname(n));
	if (n == 1) {
		struct cio_event ev;
		CHECK_EQ(cio_ctx_getevents(e->cx, 1, 1, &ev, NULL), 1);
		EXPECT_EQ(ev.user_data, 7200);
		EXPECT_EQ(ev.res, 100);
	}
	no_event(e, "[good, bad opcode]");
}

static void context_calls(struct env *e)
{
	t_ctx("ps=%u context calls", e->ps);
	cio_ctx *cx = (cio_ctx *)0x1;
	EXPECT_EQ(cio_ctx_create(e->c, 0, &cx), -EINVAL);
	EXPECT_EQ(cio_ctx_create(e->c, 65537, &cx), -EINVAL);
	EXPECT_EQ(cio_ctx_create(NULL, 4, &cx), -EINVAL);
	EXPECT_EQ(cio_ctx_create(e->c, 4, NULL), -EINVAL);
	EXPECT_EQ(cio_ctx_destroy(NULL), -EINVAL);
	struct cio_op op = mk(CIO_OP_READ, e->f, e->buf, 10, 0, 0);
	int n = cio_ctx_submit(NULL, &op, 1);
	EXPECTF(n == -EINVAL || n == -EFAULT || n == -EBADF,
	        "submit to a NULL context = %d (%s)", n, t_errname(n));
	n = cio_ctx_submit(e->cx, NULL, 1);
	EXPECTF(n == -EFAULT || n == -EINVAL, "submit of NULL ops = %d (%s)", n,
	        t_errname(n));
	n = cio_ctx_submit(e->cx, &op, -1);
	EXPECTF(n == -EINVAL, "submit of -1 ops = %d (%s)", n, t_errname(n));
	n = cio_ctx_submit(e->cx, &op, 0);
	EXPECTF(n == 0 || n == -EINVAL, "submit of 0 ops = %d (%s)", n,
	        t_errname(n));
	no_event(e, "context calls");
	struct cio_event ev[2];
	struct timespec zero = {0, 0}, bad = {0, 1000000000L}, neg = {-1, 0};
	EXPECT_EQ(cio_ctx_getevents(NULL, 0, 1, ev, &zero), -EINVAL);
	EXPECT_EQ(cio_ctx_getevents(e->cx, 2, 1, ev, &zero), -EINVAL);
	EXPECT_EQ(cio_ctx_getevents(e->cx, 0, 0, ev, &zero), -EINVAL);
	EXPECT_EQ(cio_ctx_getevents(e->cx, 0, 1, NULL, &zero), -EINVAL);
	/* not documented: only neither an event nor a hang */
	n = cio_ctx_getevents(e->cx, 0, 1, ev, &bad);
	EXPECTF(n == -EINVAL || n == 0, "getevents with tv_nsec 1e9 = %d", n);
	n = cio_ctx_getevents(e->cx, 0, 1, ev, &neg);
	EXPECTF(n == -EINVAL || n == 0, "getevents with a negative timeout = %d", n);
	EXPECT_EQ(cio_ctx_cancel(e->cx, 123456789), -ENOENT);
}

/* A rejected operation leaks no slot: DEPTH good ones fit, one more not. */
static void capacity(struct env *e)
{
	t_ctx("ps=%u capacity", e->ps);
	struct cio_op ops[DEPTH + 1];
	uint8_t *rb = t_alloc((size_t)(DEPTH + 1) * e->lbs);
	for (int i = 0; i <= DEPTH; i++) {
		ops[i] = mk(CIO_OP_READ, e->f, rb + (size_t)i * e->lbs, e->lbs,
		            (int64_t)i * e->lbs, i & 1 ? CIO_RW_DIRECT : 0);
		ops[i].user_data = 8000 + (uint64_t)i;
	}
	int n = cio_ctx_submit(e->cx, ops, DEPTH + 1);
	EXPECTF(n == DEPTH, "a context of depth %d, empty after many rejected"
	        " operations, accepted %d of %d", DEPTH, n, DEPTH + 1);
	if (n == DEPTH) {
		int m = cio_ctx_submit(e->cx, ops + DEPTH, 1);
		EXPECTF(m == -EAGAIN, "full context: submit = %d (%s)", m,
		        t_errname(m));
	}
	struct cio_event ev[DEPTH + 1];
	int got = 0;
	while (n > 0 && got < n) {
		int m = cio_ctx_getevents(e->cx, 1, DEPTH + 1, ev + got, NULL);
		CHECK_GT(m, 0);
		got += m;
	}
	for (int i = 0; i < got; i++) {
		uint64_t k = ev[i].user_data - 8000;
		EXPECTF(k < DEPTH && ev[i].res == (int64_t)e->lbs,
		        "capacity: user_data %llu res %lld",
		        (unsigned long long)ev[i].user_data, (long long)ev[i].res);
		if (k < DEPTH)
			EXPECTF(memcmp(rb + k * e->lbs, e->old + k * e->lbs, e->lbs) == 0 ||
			            memcmp(rb + k * e->lbs, e->nw + k * e->lbs, e->lbs) == 0,
			        "capacity: read of block %llu: neither OLD nor NEW",
			        (unsigned long long)k);
	}
	no_event(e, "capacity");
	free(rb);
}

static void run(uint32_t ps)
{
	struct env e;
	memset(&e, 0, sizeof e);
	e.ps = ps;
	e.path = t_scratch_path("bad");
	e.c = t_cache(ps, 0, 0);
	CHECK_EQ(t_kernel_create(e.path, 0), 0);
	cio_file *probe = t_open(e.c, e.path, O_RDWR);
	e.lbs = t_lbs(probe);
	e.memalign = t_memalign(probe);
	t_close(probe);
	e.fsz = (size_t)NBLK * e.lbs;
	t_kernel_stamp_file(e.path, (int64_t)e.fsz, SEED_OLD);
	e.old = t_alloc(e.fsz);
	e.nw = t_alloc(e.fsz);
	e.buf = t_alloc(4 * (size_t)ps + 65536);
	t_stamp_fill(e.old, e.fsz, 0, SEED_OLD);
	t_stamp_fill(e.nw, e.fsz, 0, SEED_NEW);
	e.f = t_open(e.c, e.path, O_RDWR);
	e.fro = t_open(e.c, e.path, O_RDONLY);
	e.fwo = t_open(e.c, e.path, O_WRONLY);
	if (cio_build_flags() & CIO_BUILD_HANDLE_CHECKS) {
		e.fclosed = t_open(e.c, e.path, O_RDWR);
		t_close(e.fclosed);
	} else if (ps == t_page_sizes[0]) {
		t_log("no CIO_BUILD_HANDLE_CHECKS: closed handles not tried");
	}
	CHECK_EQ(cio_ctx_create(e.c, DEPTH, &e.cx), 0);

	single_ops(&e);
	context_calls(&e);
	batches(&e);
	capacity(&e);
	if (ps == t_page_sizes[0])
		t_log("ps=%u: %d bad operations tried (lbs %u, buffer alignment %u,"
		      " closed handles %s)", ps, e.nchecked, e.lbs, e.memalign,
		      e.fclosed ? "tried" : "not tried");

	/* the file: OLD, except blocks 0 and 1 (the good batch writes) */
	t_ctx("ps=%u final", ps);
	CHECK_EQ(cio_ctx_destroy(e.cx), 0);
	CHECK_EQ(cio_size(e.f), (int64_t)e.fsz);
	CHECK_EQ(cio_fsync(e.f), 0);
	uint8_t *want = t_alloc(e.fsz), *got = t_alloc(e.fsz);
	memcpy(want, e.old, e.fsz);
	memcpy(want, e.nw, 2 * (size_t)e.lbs);
	t_read_all(e.f, got, e.fsz, 0, 0);
	CHECK_MEM(got, want, e.fsz, 0);
	CHECK_KERNEL(e.path, want, e.fsz, 0);
	CHECK_EQ(t_kernel_size(e.path), (int64_t)e.fsz);

	t_close(e.fwo);
	t_close(e.fro);
	t_close(e.f);
	t_destroy(e.c);
	free(want);
	free(got);
	free(e.old);
	free(e.nw);
	free(e.buf);
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
