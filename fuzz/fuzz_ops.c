/*
 * fuzz_ops.c - the libFuzzer harness: an input is decoded into a sequence
 * of coherio calls on one file - cached, direct, vectored, pinned and async
 * reads and writes, truncate, fsync, fdatasync, invalidate, cancel, close
 * and reopen, fallocate in every mode, fault rules - with hostile arguments (misaligned, negative,
 * overflowing, huge, NULL, closed handles), and every result is checked
 * against the model of `coherio check` in its exact, single-threaded form:
 * the bytes and the size the file must have, which calls must be rejected
 * and with which errors (G11: a rejected call changes nothing), and which
 * handles owe a write-back error to their next fsync (G6).
 *
 * A mismatch prints the operations decoded so far and aborts, so libFuzzer
 * keeps the input; fuzz/replay_main.c runs saved inputs without libFuzzer.
 *
 * Input layout: byte 0 picks the page size, the engine, fault injection
 * and readahead; byte 1 the cache budget; then operations, each an opcode
 * byte followed by the argument bytes it consumes (missing bytes read as 0).
 * Model limits: valid ranges stay below FZ_FILE (so the file is small);
 * calls whose arguments are valid but would reach past it are skipped, not
 * issued. Async batches touch disjoint ranges (the order in which a context
 * runs operations is not the model's business); truncate goes alone.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <coherio.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/falloc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FZ_FILE   (192 * 1024)   /* the model's file: valid I/O stays below */
#define FZ_BUF    (64 * 1024)    /* the largest valid transfer              */
#define FZ_OPS    160            /* operations per input, at most           */
#define FZ_NH     3              /* handles: 0, 1 read-write, 2 read-only   */
#define FZ_TRACE  48             /* operations remembered for the report    */
#define RW_FLAGS  (CIO_RW_DIRECT | CIO_RW_DSYNC | CIO_RW_NOWAIT)

/* ---- input --------------------------------------------------------------- */

struct in {
	const uint8_t *p;
	size_t n, i;
};

static uint8_t g8(struct in *in)
{
	return in->i < in->n ? in->p[in->i++] : 0;
}

static uint32_t g32(struct in *in)
{
	uint32_t v = 0;

	for (int k = 0; k < 4; k++)
		v |= (uint32_t)g8(in) << (8 * k);
	return v;
}

/* ---- the state of one input ---------------------------------------------- */

struct fz {
	cio_cache *c;
	cio_file *h[FZ_NH];
	bool      open[FZ_NH];
	cio_file *dead;            /* a closed handle (use after close)       */
	cio_ctx  *ctx;
	char      path[4096];
	uint32_t  ps, lbs, malign;
	int       fault;           /* cache made with fault_inject           */
	bool      handle_checks;
	/* the model */
	uint8_t  *mem;             /* the file's bytes                        */
	int64_t   size;
	bool      owe[FZ_NH];      /* G6: this handle's next fsync fails      */
	bool      unseen;          /* an error nobody's fsync has reported    */
	uint64_t  wb0;             /* write-back errors counted so far        */
	int       wfault;          /* armed one-shot write fault rule, or -1  */
	int       rfault;          /* armed one-shot read fault rule, or -1   */
	/* a held read pin */
	cio_pin   pin;
	bool      pinned;
	int64_t   pin_p0, pin_p1;  /* its first and last page                 */
	/* buffers */
	uint8_t  *wbuf[5], *rbuf[5];
	uint32_t  seq;
	char      trace[FZ_TRACE][160];
	int       ntrace;
};

static void note(struct fz *z, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct fz *z, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(z->trace[z->ntrace % FZ_TRACE], sizeof(z->trace[0]), fmt, ap);
	va_end(ap);
	z->ntrace++;
}

static void fail(struct fz *z, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
static void fail(struct fz *z, const char *fmt, ...)
{
	va_list ap;
	int first = z->ntrace > FZ_TRACE ? z->ntrace - FZ_TRACE : 0;

	fprintf(stderr, "\nfuzz_ops: VIOLATION: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	struct cio_cache_stats cs;
	const char *eng = z->c && cio_cache_stats(z->c, &cs) == 0 && cs.engine ? cs.engine : "?";

	fprintf(stderr, "\n  page %u B, logical block %u B, engine %s, faults %s; the "
	        "operations, oldest first:\n", z->ps, z->lbs, eng, z->fault ? "on" : "off");
	for (int i = first; i < z->ntrace; i++)
		fprintf(stderr, "    %3d  %s\n", i, z->trace[i % FZ_TRACE]);
	fflush(stderr);
	abort();
}

/* ---- interesting values --------------------------------------------------- */

static int64_t pick_off(struct fz *z, struct in *in, uint32_t align)
{
	uint8_t k = g8(in);
	uint32_t r = g32(in);

	switch (k % 16) {
	case 0: return 0;
	case 1: return (int64_t)(r % 64);                 /* unaligned */
	case 2: return z->size;
	case 3: return z->size > 0 ? z->size - 1 : 0;
	case 4: return z->size + 1;
	case 5: return -1;
	case 6: return -(int64_t)align;
	case 7: return INT64_MIN;
	case 8: return CIO_MAX_FILE_SIZE;
	case 9: return CIO_MAX_FILE_SIZE - 1;
	case 10: return INT64_MAX;
	case 11: return (int64_t)((r % (FZ_FILE / 2)) / align * align) + (r & 1 ? 1 : 0);
	default: return (int64_t)((r % FZ_FILE) / align * align);
	}
}

static uint64_t pick_len(struct in *in, uint32_t align)
{
	uint8_t k = g8(in);
	uint32_t r = g32(in);

	switch (k % 16) {
	case 0: return 0;
	case 1: return 1;
	case 2: return (uint64_t)(r % 100) + 1;          /* unaligned */
	case 3: return SSIZE_MAX;
	case 4: return (uint64_t)SSIZE_MAX + 1;
	case 5: return SIZE_MAX;
	case 6: return (uint64_t)CIO_MAX_FILE_SIZE;
	case 7: return (uint64_t)CIO_MAX_FILE_SIZE + 1;
	case 8: return align;
	case 9: return (uint64_t)(r % (FZ_BUF / align) + 1) * align + (r & 0x100 ? 1 : 0);
	default: return (uint64_t)(r % (FZ_BUF / align) + 1) * align;
	}
}

/* ---- expected errors: the checks of rw.c, as the header documents them ----- */

#define E_EINVAL 1u
#define E_EFBIG  2u
#define E_EBADF  4u
#define E_EFAULT 8u

static unsigned bit_of(int64_t r)
{
	switch (r) {
	case -EINVAL: return E_EINVAL;
	case -EFBIG:  return E_EFBIG;
	case -EBADF:  return E_EBADF;
	case -EFAULT: return E_EFAULT;
	default:      return 0;
	}
}

static const char *errs_text(unsigned e)
{
	static char b[64];

	snprintf(b, sizeof(b), "%s%s%s%s", e & E_EINVAL ? " -EINVAL" : "",
	         e & E_EFBIG ? " -EFBIG" : "", e & E_EBADF ? " -EBADF" : "",
	         e & E_EFAULT ? " -EFAULT" : "");
	return b;
}

/* The errors a read or write must be rejected with (any one of them);
 * 0 = valid. @total: the iovec total (UINT64_MAX: overflows). */
static unsigned rw_errors(struct fz *z, int hi, bool live, int64_t off, uint64_t total,
                          const struct iovec *iov, int n, unsigned flags, bool write,
                          bool single)
{
	unsigned e = 0;

	if (single && total > SSIZE_MAX)
		e |= E_EFBIG;
	if (!live)
		return e | E_EBADF;
	if (flags & ~RW_FLAGS)
		e |= E_EINVAL;
	if (write && hi == 2)
		e |= E_EBADF;
	if (off < 0)
		e |= E_EINVAL;
	if (n < 1 || n > IOV_MAX)
		e |= E_EINVAL;
	else if (!iov)
		e |= E_EFAULT;
	else
		for (int i = 0; i < n; i++)
			if (iov[i].iov_len && !iov[i].iov_base)
				e |= E_EFAULT;
	if (total == UINT64_MAX)
		e |= E_EFBIG;
	else if (total > (uint64_t)CIO_MAX_FILE_SIZE ||
	         (off >= 0 && (uint64_t)off > (uint64_t)CIO_MAX_FILE_SIZE - total))
		e |= E_EFBIG;
	if (write ? (flags & CIO_RW_NOWAIT) && !(flags & CIO_RW_DIRECT)
	          : (flags & (CIO_RW_DSYNC | CIO_RW_NOWAIT)))
		e |= E_EINVAL;
	if (flags & CIO_RW_DIRECT) {
		if (off >= 0 && (uint64_t)off % z->lbs)
			e |= E_EINVAL;
		for (int i = 0; iov && i < n && i < IOV_MAX; i++)
			if (iov[i].iov_len % z->lbs || (uintptr_t)iov[i].iov_base % z->malign)
				e |= E_EINVAL;
	}
	return e;
}

/* ---- the model's view of results ------------------------------------------- */

static void model_write(struct fz *z, int64_t off, const uint8_t *src, uint64_t n)
{
	memcpy(z->mem + off, src, n);
	if (off + (int64_t)n > z->size)
		z->size = off + (int64_t)n;
}

static void model_truncate(struct fz *z, int64_t s)
{
	if (s < z->size)
		memset(z->mem + s, 0, (size_t)(z->size - s));
	z->size = s;
}

/* Check @got bytes read at @off against the model. */
static void check_read(struct fz *z, const char *what, int64_t off, uint64_t len,
                       const uint8_t *buf, int64_t got, bool may_fail)
{
	int64_t want = off >= z->size ? 0 : (int64_t)(len < (uint64_t)(z->size - off) ?
	                                              len : (uint64_t)(z->size - off));

	if (got < 0) {
		if (!may_fail)
			fail(z, "%s [%lld, +%llu) failed: %s (expected %lld bytes)", what,
			     (long long)off, (unsigned long long)len, cio_strerror((int)got),
			     (long long)want);
		return;
	}
	if (got > want || (got < want && !may_fail))
		fail(z, "%s [%lld, +%llu) returned %lld bytes; the file has %lld there "
		     "(size %lld)", what, (long long)off, (unsigned long long)len,
		     (long long)got, (long long)want, (long long)z->size);
	for (int64_t i = 0; i < got; i++)
		if (buf[i] != z->mem[off + i])
			fail(z, "%s [%lld, +%llu): byte %lld is 0x%02x, the model says "
			     "0x%02x (G1/G2/G5)", what, (long long)off, (unsigned long long)len,
			     (long long)(off + i), buf[i], z->mem[off + i]);
}

/* A one-shot fault fired during the last call? Consumes the rule. */
static bool fired(struct fz *z, int *id)
{
	int64_t n;

	if (*id < 0)
		return false;
	n = cio_fault_fired(z->c, *id);
	if (n <= 0)
		return false;
	cio_fault_clear(z->c, *id);
	*id = -1;
	return true;
}

/* A write-back failed somewhere (a fault fired outside the op's own I/O):
 * every handle owes the error to its next fsync; one opened later does too
 * while nobody has seen it. */
static void owe_all(struct fz *z)
{
	for (int i = 0; i < FZ_NH; i++)
		if (z->open[i])
			z->owe[i] = true;
	z->unseen = true;
}

/* The ground truth of G6: coherio's count of failed write-backs. A rule
 * that fired may not have taken effect (another rule matching the same I/O
 * decides), so owing follows the count, not the rules. Returns whether it
 * grew since the last call. */
static bool note_wb(struct fz *z)
{
	struct cio_file_stats fs;

	if (cio_file_stats(z->h[0], &fs) < 0 || fs.writeback_errors <= z->wb0)
		return false;
	z->wb0 = fs.writeback_errors;
	owe_all(z);
	return true;
}

static uint8_t *fill(struct fz *z, int k, uint64_t n)
{
	uint8_t v = (uint8_t)(++z->seq * 37 + 1);

	for (uint64_t i = 0; i < n; i++)
		z->wbuf[k][i] = (uint8_t)(v + i * 7);
	return z->wbuf[k];
}

/* ---- operations ----------------------------------------------------------- */

static int pick_handle(struct fz *z, struct in *in, cio_file **h, bool *live)
{
	uint8_t k = g8(in) % 8;

	if (k == 7 && z->dead && z->handle_checks) {
		*h = z->dead;
		*live = false;
		return -1;
	}
	k %= FZ_NH;
	if (!z->open[k])
		k = 0;
	*h = z->h[k];
	*live = true;
	return k;
}

/* The pages a range touches intersect the held pin's pages? */
static bool touches_pin(struct fz *z, int64_t off, uint64_t len)
{
	if (!z->pinned || len == 0 || off < 0)
		return false;
	int64_t p0 = off / z->ps, p1 = (int64_t)((uint64_t)off + len - 1) / z->ps;
	return p0 <= z->pin_p1 && p1 >= z->pin_p0;
}

static void op_rw(struct fz *z, struct in *in, bool write, bool vec)
{
	cio_file *h;
	bool live;
	int hi = pick_handle(z, in, &h, &live);
	uint8_t fl = g8(in);
	unsigned flags = (fl & 1 ? CIO_RW_DIRECT : 0) | (fl & 2 ? CIO_RW_DSYNC : 0) |
	                 (fl & 4 ? CIO_RW_NOWAIT : 0) | (fl == 0xff ? 1u << 7 : 0);
	uint32_t align = (flags & CIO_RW_DIRECT) ? z->lbs : 1;
	int64_t off = pick_off(z, in, align);
	uint64_t len = pick_len(in, align);
	uint8_t mis = g8(in);
	uint8_t *buf = write ? z->wbuf[0] : z->rbuf[0];
	struct iovec iov[4];
	int n = 1;
	uint64_t total = len;
	bool null_buf = mis == 0xfe;
	ssize_t r;
	unsigned want;
	bool faultw = z->wfault >= 0, faultr = z->rfault >= 0;

	if (mis % 8 == 1 && (flags & CIO_RW_DIRECT))
		buf += 64 < z->malign ? 64 : 1;            /* misaligned buffer */
	if (vec) {
		n = (int)(g8(in) % 6);                     /* 0 and 5: hostile */
		if (n == 5)
			n = IOV_MAX + 1;
		uint64_t a = len / 3 / align * align, b = len / 3 / align * align;
		if (n >= 1 && n <= 3 && len <= FZ_BUF) {
			iov[0] = (struct iovec){ buf, n == 1 ? len : a };
			if (n >= 2)
				iov[1] = (struct iovec){ buf + a, n == 2 ? len - a : b };
			if (n == 3)
				iov[2] = (struct iovec){ buf + a + b, len - a - b };
		} else if (n >= 1 && n <= 4) {
			for (int i = 0; i < n; i++)
				iov[i] = (struct iovec){ buf, i == 0 ? len : SIZE_MAX / 2 };
			total = n == 1 ? len : UINT64_MAX;
		}
		if (null_buf && n >= 1 && n <= 4)
			iov[0].iov_base = NULL;
	}
	want = vec ? rw_errors(z, hi, live, off, total, n <= 4 ? iov : NULL, n, flags,
	                       write, false)
	           : rw_errors(z, hi, live, off, len,
	                       &(struct iovec){ null_buf ? NULL : buf, len }, 1, flags,
	                       write, true);
	/* valid but beyond the model's file (or the buffer): not issued */
	if (!want && (len > FZ_BUF || off + (int64_t)len > FZ_FILE))
		return;
	if (!want && touches_pin(z, off, len) && write &&
	    (!(flags & CIO_RW_DIRECT) || !(flags & CIO_RW_NOWAIT)))
		return;                                        /* would wait for us */
	if (!want && z->pinned && write && !(flags & CIO_RW_DIRECT))
		return;          /* a cached write may wait for a page the pin needs */
	if (!want && write)
		fill(z, 0, len);
	if (!want && !write)
		memset(z->rbuf[0], 0xA5, len);
	note(z, "%s%s h%d [%lld, +%llu) flags %#x%s%s", write ? "write" : "read",
	     vec ? "v" : "", hi, (long long)off, (unsigned long long)len, flags,
	     mis % 8 == 1 ? " misaligned-buf" : "", null_buf ? " NULL" : "");
	if (vec) {
		r = write ? cio_writev(h, n <= 4 ? iov : NULL, n, off, flags)
		          : cio_readv(h, n <= 4 ? iov : NULL, n, off, flags);
	} else {
		r = write ? cio_write(h, null_buf ? NULL : buf, len, off, flags)
		          : cio_read(h, null_buf ? NULL : buf, len, off, flags);
	}
	note(z, "  -> %zd", r);
	bool fw = fired(z, &z->wfault), fr = fired(z, &z->rfault);

	if (want) {
		if (!(bit_of(r) & want))
			fail(z, "%s with bad arguments returned %zd, expected one of%s (G11)",
			     write ? "write" : "read", r, errs_text(want));
		return;
	}
	if (r < 0 && bit_of(r))
		fail(z, "%s with valid arguments was rejected: %s", write ? "write" : "read",
		     cio_strerror((int)r));
	if (write) {
		bool direct = flags & CIO_RW_DIRECT;

		if (r == -EAGAIN && (flags & CIO_RW_NOWAIT))
			return;                            /* no effect */
		if (touches_pin(z, off, len) && (flags & CIO_RW_NOWAIT))
			fail(z, "a NOWAIT direct write over a pinned page returned %zd, not "
			     "-EAGAIN (G7)", r);
		if (len == 0) {
			if (r != 0)
				fail(z, "a 0-byte write returned %zd", r);
			return;
		}
		note_wb(z);            /* an eviction or DSYNC write-back failed? */
		if (r >= 0) {
			if ((uint64_t)r > len || ((uint64_t)r < len && !fw && !fr))
				fail(z, "write returned %zd of %llu bytes with no fault", r,
				     (unsigned long long)len);
			model_write(z, off, buf, (uint64_t)r);
		} else if (!(fw || fr)) {
			fail(z, "write failed with %s and no fault fired", cio_strerror((int)r));
		} else if (!direct && (flags & CIO_RW_DSYNC)) {
			/* the data may be in the cache with the flush failed: the
			 * next read decides (the model takes the cache's word) */
			cio_fault_clear(z->c, -1);
			z->wfault = z->rfault = -1;
			uint8_t *tmp = malloc(len);
			ssize_t k = tmp ? cio_read(z->h[0], tmp, len, off, 0) : -1;

			note(z, "  (DSYNC failed: read back %zd)", k);
			/* A prefix may be new: the copy can stop at a page whose
			 * frame could not be had (an eviction's write-back failed
			 * too), and the flush error then hides the short count,
			 * as Linux's O_DSYNC write does. The rest must be old. */
			size_t got = k > 0 ? (size_t)(k < (int64_t)len ? k : (int64_t)len) : 0, p = 0;
			while (tmp && p < got && tmp[p] == buf[p])
				p++;
			if (k >= 0 && memcmp(tmp + p, z->mem + off + p, got - p))
				fail(z, "after a failed DSYNC write the range holds neither the "
				     "old nor the new data (new for %zu bytes, then neither)", p);
			else if (k >= 0 && p > 0)   /* nothing new: the size stays too */
				model_write(z, off, buf, p);
			free(tmp);
		}
		memset(buf, 0xDB, len); /* G4: never read after return */
		return;
	}
	note_wb(z);                    /* a write-back for this read failed? */
	check_read(z, (flags & CIO_RW_DIRECT) ? "direct read" : "cached read", off, len,
	           z->rbuf[0] + (buf - z->rbuf[0]), r, fr || fw || faultr || faultw);
}

static void op_truncate(struct fz *z, struct in *in)
{
	cio_file *h;
	bool live;
	int hi = pick_handle(z, in, &h, &live);
	uint8_t fl = g8(in);
	unsigned flags = (fl & 1 ? CIO_TRUNC_NOWAIT : 0) | (fl == 0xff ? 2u : 0);
	int64_t s = pick_off(z, in, 1);
	unsigned want = 0;
	int r;

	if (!live)
		want = E_EBADF;
	else {
		if (flags & ~CIO_TRUNC_NOWAIT)
			want |= E_EINVAL;
		if (s < 0)
			want |= E_EINVAL;
		if (s > CIO_MAX_FILE_SIZE)
			want |= E_EFBIG;
		if (hi == 2)
			want |= E_EBADF;
	}
	if (!want && s > FZ_FILE)
		return;
	/* down over a pinned page: waits for us unless NOWAIT */
	bool blocked = z->pinned && s < z->size && (s / z->ps) <= z->pin_p1;
	if (!want && blocked && !(flags & CIO_TRUNC_NOWAIT))
		return;
	note(z, "truncate h%d to %lld flags %#x", hi, (long long)s, flags);
	r = cio_truncate(h, s, flags);
	note(z, "  -> %d", r);
	fired(z, &z->wfault);
	fired(z, &z->rfault);
	if (want) {
		if (!(bit_of(r) & want))
			fail(z, "truncate with bad arguments returned %d, expected one of%s "
			     "(G11)", r, errs_text(want));
		return;
	}
	if (r == -EAGAIN && (flags & CIO_TRUNC_NOWAIT))
		return;
	if (blocked)
		fail(z, "a NOWAIT truncate down over a pinned page returned %d, not "
		     "-EAGAIN (G7)", r);
	if (r != 0)
		fail(z, "truncate to %lld failed: %s", (long long)s, cio_strerror(r));
	model_truncate(z, s);
}

static void op_fsync(struct fz *z, struct in *in, bool data)
{
	cio_file *h;
	bool live;
	int hi = pick_handle(z, in, &h, &live);
	int r;

	note(z, "%s h%d", data ? "fdatasync" : "fsync", hi);
	r = data ? cio_fdatasync(h) : cio_fsync(h);
	note(z, "  -> %d", r);
	bool fw = fired(z, &z->wfault);
	fired(z, &z->rfault);
	if (!live) {
		if (r != -EBADF)
			fail(z, "fsync of a closed handle returned %d, not -EBADF", r);
		return;
	}
	(void)fw;
	if (note_wb(z) && r == 0)
		fail(z, "fsync returned 0 although its own write-back failed (G6)");
	if (z->owe[hi] && r == 0)
		fail(z, "fsync of handle %d returned 0: a write-back error was recorded "
		     "since its last fsync and never reported to it (G6)", hi);
	if (!z->owe[hi] && r != 0 && !fw)
		fail(z, "fsync of handle %d failed (%s) with no error owed (G6)", hi,
		     cio_strerror(r));
	if (r < 0) {
		z->owe[hi] = false;
		z->unseen = false;
		if (fw)
			z->owe[hi] = false;
	}
}

static void op_invalidate(struct fz *z, struct in *in)
{
	cio_file *h;
	bool live;
	int hi = pick_handle(z, in, &h, &live);
	uint8_t fl = g8(in);
	unsigned flags = (fl & 1 ? CIO_INVAL_WAIT : 0) | (fl & 2 ? CIO_INVAL_DISCARD : 0) |
	                 (fl == 0xff ? 4u : 0);
	int64_t off = pick_off(z, in, 1);
	int64_t len = (int64_t)(g8(in) % 4 == 0 ? 0 : pick_len(in, 1));
	struct cio_inval_result res;
	unsigned want = 0;
	int r;

	if (!live)
		want = E_EBADF;
	else {
		if (flags & ~(CIO_INVAL_WAIT | CIO_INVAL_DISCARD))
			want |= E_EINVAL;
		if (off < 0 || len < 0)
			want |= E_EINVAL;
		if (len >= 0 && off >= 0 && (len > CIO_MAX_FILE_SIZE || off > CIO_MAX_FILE_SIZE - len))
			want |= E_EFBIG;
	}
	if (!want && z->pinned && (flags & CIO_INVAL_WAIT))
		return;
	if (!want && (flags & CIO_INVAL_DISCARD)) {
		/* the documented discard: only after everything is written, so
		 * that it may drop nothing the model still needs */
		if (z->wfault >= 0)
			return;
		note(z, "fsync h0 (before a discard)");
		r = cio_fsync(z->h[0]);
		if (r < 0 && !z->owe[0])
			fail(z, "fsync before a discard failed: %s", cio_strerror(r));
		if (r < 0) {
			z->owe[0] = false;
			z->unseen = false;
			return;
		}
	}
	note(z, "invalidate h%d [%lld, +%lld) flags %#x", hi, (long long)off,
	     (long long)len, flags);
	r = cio_invalidate(h, off, len, flags, &res);
	note(z, "  -> %d (dropped %llu, laundered %llu, kept %llu)", r,
	     (unsigned long long)res.dropped, (unsigned long long)res.laundered,
	     (unsigned long long)res.kept);
	bool fw = fired(z, &z->wfault);
	fired(z, &z->rfault);
	if (want) {
		if (!(bit_of(r) & want))
			fail(z, "invalidate with bad arguments returned %d, expected one of%s "
			     "(G11)", r, errs_text(want));
		return;
	}
	note_wb(z);
	if (r == 0 && res.kept)
		fail(z, "invalidate returned 0 but kept %llu pages", (unsigned long long)res.kept);
	if (r < 0 && (!res.kept || res.first_error != r))
		fail(z, "invalidate returned %d but its result says kept %llu, first error "
		     "%d (G3)", r, (unsigned long long)res.kept, res.first_error);
	/* -EBUSY without a pin is allowed: a page "in use" (a readahead or
	 * write-back in flight in the background) is kept too */
	if (r < 0 && r != -EBUSY && !fw)
		fail(z, "invalidate failed: %s", cio_strerror(r));
	if (z->pinned && r == 0 && len >= 0 && off >= 0) {
		uint64_t end = len ? (uint64_t)off + (uint64_t)len : UINT64_MAX;
		if ((uint64_t)off < (uint64_t)(z->pin_p1 + 1) * z->ps &&
		    end > (uint64_t)z->pin_p0 * z->ps)
			fail(z, "invalidate over a pinned page returned 0 (G3, G7)");
	}
}

static void op_pin(struct fz *z, struct in *in)
{
	cio_file *h;
	bool live;
	int hi = pick_handle(z, in, &h, &live);
	uint8_t fl = g8(in);
	unsigned flags = (fl & 1 ? CIO_PIN_WRITE : 0) | (fl & 2 ? CIO_PIN_NOWAIT : 0) |
	                 (fl == 0xff ? 4u : 0);
	bool hold = (fl & 0x30) == 0x30 && !(flags & CIO_PIN_WRITE) && !z->pinned;
	int64_t off = pick_off(z, in, 1);
	uint64_t len = pick_len(in, 1) % (uint64_t)((8 * z->ps < FZ_BUF ? 8 * z->ps : FZ_BUF) + 1);
	bool null_pin = fl == 0xfe;
	unsigned want = 0;
	cio_pin pin, *pp = hold ? &z->pin : &pin;
	int r;

	if (g8(in) == 0xff)
		len = (uint64_t)CIO_MAX_FILE_SIZE + 1;
	if (!live)
		want = E_EBADF;
	else {
		if (null_pin)
			want |= E_EFAULT;
		if (flags & ~(CIO_PIN_WRITE | CIO_PIN_NOWAIT))
			want |= E_EINVAL;
		if (off < 0 || len == 0)
			want |= E_EINVAL;
		if (len > (uint64_t)CIO_MAX_FILE_SIZE ||
		    (off >= 0 && (uint64_t)off > (uint64_t)CIO_MAX_FILE_SIZE - len))
			want |= E_EFBIG;
		if ((flags & CIO_PIN_WRITE) && hi == 2)
			want |= E_EBADF;
	}
	if (!want && (flags & CIO_PIN_WRITE) && off + (int64_t)len > FZ_FILE)
		return;
	if (!want && off + (int64_t)len > FZ_FILE)
		return;
	bool over = touches_pin(z, off, len);
	if (!want && over && (flags & CIO_PIN_WRITE) && !(flags & CIO_PIN_NOWAIT))
		return;                                  /* would wait for itself */
	if (!want && z->pinned && !over && (flags & CIO_PIN_WRITE))
		return;       /* latches in page order: keep it simple, no second */
	note(z, "pin h%d [%lld, +%llu) flags %#x%s%s", hi, (long long)off,
	     (unsigned long long)len, flags, hold ? " (held)" : "", null_pin ? " NULL" : "");
	r = cio_pin_range(h, off, len, flags, null_pin ? NULL : pp);
	note(z, "  -> %d", r);
	bool fw = fired(z, &z->wfault), fr = fired(z, &z->rfault);
	if (want) {
		if (!(bit_of(r) & want))
			fail(z, "pin with bad arguments returned %d, expected one of%s (G11)",
			     r, errs_text(want));
		return;
	}
	note_wb(z);
	if (r == -EAGAIN && (flags & CIO_PIN_NOWAIT))
		return;
	if (over && (flags & CIO_PIN_WRITE)) {
		if (r >= 0)
			cio_unpin(pp);
		fail(z, "a NOWAIT write pin over a pinned page returned %d, not -EAGAIN "
		     "(G7)", r);
	}
	if (!(flags & CIO_PIN_WRITE) && off + (int64_t)len > z->size) {
		if (r != -ENXIO)
			fail(z, "a read pin past the end of file (size %lld) returned %d, "
			     "not -ENXIO", (long long)z->size, r);
		return;
	}
	if (r < 0) {
		if (!(fw || fr))
			fail(z, "pin failed: %s", cio_strerror(r));
		return;
	}
	if (pp->nseg != r || pp->off != off || pp->len != len)
		fail(z, "pin returned %d but describes %d segments at %lld, %zu bytes", r,
		     pp->nseg, (long long)pp->off, pp->len);
	uint64_t pos = 0;
	if (flags & CIO_PIN_WRITE) {
		/* a write pin extends the file at once; the new bytes are zeros */
		if (off + (int64_t)len > z->size)
			z->size = off + (int64_t)len;
		fill(z, 1, len);
	}
	for (int i = 0; i < pp->nseg; i++) {
		if (pos + pp->seg[i].iov_len > len)
			fail(z, "pin segments exceed the pinned length");
		if (flags & CIO_PIN_WRITE) {
			memcpy(pp->seg[i].iov_base, z->wbuf[1] + pos, pp->seg[i].iov_len);
			memcpy(z->mem + off + (int64_t)pos, z->wbuf[1] + pos, pp->seg[i].iov_len);
		} else if (memcmp(pp->seg[i].iov_base, z->mem + off + (int64_t)pos,
		                  pp->seg[i].iov_len)) {
			fail(z, "pinned bytes of segment %d differ from the model (G7)", i);
		}
		pos += pp->seg[i].iov_len;
	}
	if (pos != len)
		fail(z, "pin segments hold %llu bytes, not %llu", (unsigned long long)pos,
		     (unsigned long long)len);
	if (hold) {
		z->pinned = true;
		z->pin_p0 = off / z->ps;
		z->pin_p1 = (off + (int64_t)len - 1) / z->ps;
		return;
	}
	r = cio_unpin(pp);
	if (r != 0)
		fail(z, "unpin failed: %d", r);
	if (cio_unpin(pp) != -EINVAL)
		fail(z, "a second unpin of the same pin did not say -EINVAL");
}

static void op_unpin(struct fz *z)
{
	if (!z->pinned)
		return;
	note(z, "unpin (held pages %lld-%lld)", (long long)z->pin_p0, (long long)z->pin_p1);
	if (cio_unpin(&z->pin) != 0)
		fail(z, "unpin of the held pin failed");
	z->pinned = false;
}

/* An async batch: up to 4 operations on disjoint ranges, maybe cancelled. */
static void op_async(struct fz *z, struct in *in)
{
	struct cio_op op[5];
	struct cio_event ev[8];
	int64_t off[5];
	uint64_t len[5];
	unsigned want[5];
	int cancel[5], n = 1 + g8(in) % 5, k, acc, got = 0;
	bool seen[5] = { false };
	struct timespec zero = { 0, 0 };

	int64_t size0 = z->size, size1 = z->size;

	/* a one-shot fault that fires inside a batch cannot be pinned on one
	 * operation; a held pin would make the batch wait for us */
	if (z->pinned || z->wfault >= 0 || z->rfault >= 0)
		return;
	memset(op, 0, sizeof(op));
	for (int i = 0; i < n; i++) {
		uint8_t t = g8(in) % 10, fl = g8(in);
		unsigned flags = fl & 1 ? CIO_RW_DIRECT : 0;
		uint32_t align = flags ? z->lbs : 1;

		/* disjoint slots of the file keep the batch's order irrelevant */
		off[i] = (int64_t)i * (FZ_FILE / 5) + (int64_t)((g32(in) % (FZ_FILE / 10)) / align * align);
		len[i] = (uint64_t)(g32(in) % (FZ_FILE / 10 / align) + 1) * align;
		if (g8(in) == 0xff)
			off[i] = -(int64_t)align;             /* hostile: rejected */
		op[i].file = z->h[i % 2];
		op[i].off = off[i];
		op[i].len = len[i];
		op[i].user_data = 100 + (uint64_t)i;
		op[i].flags = flags;
		cancel[i] = 1;
		if (t < 4) {
			op[i].opcode = CIO_OP_WRITE;
			op[i].buf = fill(z, i, len[i]);
			if (fl & 2)
				op[i].flags |= CIO_RW_DSYNC;
		} else if (t < 8) {
			op[i].opcode = CIO_OP_READ;
			op[i].buf = z->rbuf[i];
			memset(z->rbuf[i], 0xA5, len[i]);
		} else if (t == 8) {
			op[i].opcode = CIO_OP_FSYNC;
			op[i].flags = 0;
		} else {
			op[i].opcode = CIO_OP_INVALIDATE;
			op[i].flags = 0;
		}
		if (i == 4) {                                 /* a 5th over depth 4 */
			op[i].opcode = CIO_OP_READ;
			op[i].buf = z->rbuf[4];
		}
		if (op[i].opcode == CIO_OP_WRITE && off[i] >= 0 &&
		    off[i] + (int64_t)len[i] > size1)
			size1 = off[i] + (int64_t)len[i];
		want[i] = op[i].opcode <= CIO_OP_WRITE ?
		          rw_errors(z, i % 2, true, off[i], len[i],
		                    &(struct iovec){ op[i].buf, len[i] }, 1, op[i].flags,
		                    op[i].opcode == CIO_OP_WRITE, false) :
		          (off[i] < 0 && op[i].opcode == CIO_OP_INVALIDATE ? E_EINVAL : 0);
		note(z, "async op %d: opcode %u [%lld, +%llu) flags %#x", i, op[i].opcode,
		     (long long)off[i], (unsigned long long)len[i], op[i].flags);
	}
	k = cio_ctx_submit(z->ctx, op, n);
	note(z, "  submit %d -> %d", n, k);
	/* the first bad operation stops the batch; the context holds 4 */
	acc = 0;
	while (acc < n && acc < 4 && !want[acc])
		acc++;
	if (acc == 0 && k >= 0)
		fail(z, "submit accepted %d operations although the first was bad", k);
	if (acc == 0) {
		if (!(bit_of(k) & want[0]))
			fail(z, "submit of a bad operation returned %d, expected one of%s "
			     "(G11)", k, errs_text(want[0]));
		if (cio_ctx_getevents(z->ctx, 0, 8, ev, &zero) != 0)
			fail(z, "a rejected submission posted an event (G4)");
		return;
	}
	if (k != acc)
		fail(z, "submit of %d operations accepted %d, expected %d", n, k, acc);
	for (int i = 0; i < acc; i++) {
		if (g8(in) % 4 == 0) {
			cancel[i] = cio_ctx_cancel(z->ctx, op[i].user_data);
			note(z, "  cancel %d -> %d", i, cancel[i]);
			if (cancel[i] != 0 && cancel[i] != -EALREADY && cancel[i] != -ENOENT)
				fail(z, "cancel returned %d", cancel[i]);
		}
	}
	if (cio_ctx_cancel(z->ctx, 999) != -ENOENT)
		fail(z, "cancel of an unknown operation did not say -ENOENT");
	/* G6 for the batch's fsyncs, judged once all are in: two fsyncs of
	 * one handle run concurrently, and the one that takes the error may
	 * post its event after the other one's 0. */
	bool fs_ran[2] = { false, false }, fs_failed[2] = { false, false };
	bool owed[2] = { z->owe[0], z->owe[1] }; /* errors that arise during the
	                                          * batch stay owed to the next */
	while (got < acc) {
		int e = cio_ctx_getevents(z->ctx, 1, 8, ev, NULL);

		if (e < 1)
			fail(z, "getevents returned %d with %d events owed", e, acc - got);
		for (int j = 0; j < e; j++) {
			int i = (int)ev[j].user_data - 100;

			if (i < 0 || i >= acc || seen[i])
				fail(z, "an event for user_data %llu: unknown or twice (G4)",
				     (unsigned long long)ev[j].user_data);
			seen[i] = true;
			got++;
			note(z, "  event %d: res %lld res2 %d", i, (long long)ev[j].res, ev[j].res2);
			if (ev[j].opcode != op[i].opcode)
				fail(z, "event %d carries opcode %u, not %u (G4)", i, ev[j].opcode,
				     op[i].opcode);
			if (ev[j].res == -ECANCELED) {
				if (cancel[i] != 0)
					fail(z, "event %d is -ECANCELED but cancel said %d (G9)", i,
					     cancel[i]);
				continue;
			}
			if (cancel[i] == 0)
				fail(z, "cancel said 0 but event %d has res %lld (G9)", i,
				     (long long)ev[j].res);
			bool fw = fired(z, &z->wfault), fr = fired(z, &z->rfault);
			note_wb(z);
			switch (op[i].opcode) {
			case CIO_OP_WRITE:
				if (ev[j].res >= 0) {
					if ((uint64_t)ev[j].res < len[i] && !ev[j].res2)
						fail(z, "async write %d: %lld of %llu bytes and no errno in "
						     "res2 (G4)", i, (long long)ev[j].res,
						     (unsigned long long)len[i]);
					if ((uint64_t)ev[j].res > len[i])
						fail(z, "async write %d: more bytes than asked", i);
					model_write(z, off[i], op[i].buf, (uint64_t)ev[j].res);
				} else if (!fw && !fr) {
					fail(z, "async write %d failed: %s", i,
					     cio_strerror((int)ev[j].res));
				} else if (!(op[i].flags & CIO_RW_DIRECT)) {
					z->seq++;   /* data may be cached: read back and adopt */
					uint8_t *tmp = malloc(len[i]);
					ssize_t rb = tmp ? cio_read(z->h[0], tmp, len[i], off[i], 0) : -1;
					if (rb == (ssize_t)len[i] && !memcmp(tmp, op[i].buf, len[i]))
						model_write(z, off[i], op[i].buf, len[i]);
					free(tmp);
				}
				memset(op[i].buf, 0xDB, len[i]);
				break;
			case CIO_OP_READ: {
				/* the batch's writes (other slots) may grow the file before
				 * or after this read: its length may be either */
				int64_t lo = off[i] >= size0 ? 0 : (int64_t)(len[i] < (uint64_t)(size0 - off[i]) ? len[i] : (uint64_t)(size0 - off[i]));
				int64_t hi2 = off[i] >= size1 ? 0 : (int64_t)(len[i] < (uint64_t)(size1 - off[i]) ? len[i] : (uint64_t)(size1 - off[i]));

				if (ev[j].res2 && ev[j].res <= 0)
					fail(z, "async read %d: res2 %d with res %lld (G4)", i,
					     ev[j].res2, (long long)ev[j].res);
				if (ev[j].res >= 0 && (ev[j].res < lo || ev[j].res > hi2) && !ev[j].res2)
					fail(z, "async read %d [%lld, +%llu) returned %lld bytes; the "
					     "file had %lld to %lld there", i, (long long)off[i],
					     (unsigned long long)len[i], (long long)ev[j].res,
					     (long long)lo, (long long)hi2);
				if (ev[j].res < 0)
					fail(z, "async read %d failed: %s", i, cio_strerror((int)ev[j].res));
				for (int64_t b = 0; b < ev[j].res; b++)
					if (((uint8_t *)op[i].buf)[b] != z->mem[off[i] + b])
						fail(z, "async read %d: byte %lld is 0x%02x, the model says "
						     "0x%02x", i, (long long)(off[i] + b),
						     ((uint8_t *)op[i].buf)[b], z->mem[off[i] + b]);
				break;
			}
			case CIO_OP_FSYNC: {
				int hi = i % 2;

				fs_ran[hi] = true;
				if (ev[j].res < 0) {
					if (!z->owe[hi] && !fs_failed[hi] && !fw)
						fail(z, "async fsync failed (%s) with no error owed",
						     cio_strerror((int)ev[j].res));
					fs_failed[hi] = true;
				}
				break;
			}
			default:
				if (ev[j].res < 0 && ev[j].res != -EBUSY && !fw)
					fail(z, "async invalidate %d failed: %s", i,
					     cio_strerror((int)ev[j].res));
			}
		}
	}
	for (int hi = 0; hi < 2; hi++) {
		if (fs_ran[hi] && owed[hi] && !fs_failed[hi])
			fail(z, "every async fsync of handle %d returned 0 with an error "
			     "owed (G6)", hi);
		if (fs_failed[hi]) {
			z->owe[hi] = false;
			z->unseen = false;
		}
	}
	if (cio_ctx_getevents(z->ctx, 0, 8, ev, &zero) != 0)
		fail(z, "an extra event after every operation had its own (G4)");
}

static void op_fault(struct fz *z, struct in *in)
{
	uint8_t k = g8(in);
	struct cio_fault_rule fr;
	int id;

	memset(&fr, 0, sizeof(fr));
	fr.count = -1;
	switch (k % 6) {
	case 0:            /* short transfers */
		fr.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
		fr.short_bytes = 512u * (1 + g8(in) % 8);
		fr.count = 1 + g8(in) % 8;
		break;
	case 1:            /* delayed and reordered completions */
		fr.ops = CIO_FAULT_READ | CIO_FAULT_WRITE | CIO_FAULT_FSYNC;
		fr.jitter_us = 50 + g8(in);
		fr.count = 1 + g8(in) % 16;
		break;
	case 2:            /* one write fails */
		if (z->wfault >= 0)
			return;
		fr.ops = CIO_FAULT_WRITE;
		fr.error = g8(in) & 1 ? ENOSPC : EIO;
		fr.count = 1;
		fr.skip = g8(in) % 4;    /* e.g. the resumed part of a short one */
		break;
	case 3:            /* one read fails */
		if (z->rfault >= 0)
			return;
		fr.ops = CIO_FAULT_READ;
		fr.error = EIO;
		fr.count = 1;
		fr.skip = g8(in) % 4;
		break;
	case 4:            /* a bad rule */
		fr.ops = 0;
		break;
	default:
		fr.ops = CIO_FAULT_WRITE;
		fr.error = -5;    /* bad: negative */
	}
	note(z, "fault rule kind %d", k % 6);
	id = cio_fault_add(z->c, &fr);
	note(z, "  -> %d", id);
	if (!z->fault) {
		if (id != -ENOTSUP && id != -EINVAL)
			fail(z, "cio_fault_add on a cache without fault injection returned %d", id);
		return;
	}
	if (k % 6 >= 4) {
		if (id != -EINVAL)
			fail(z, "a bad fault rule was accepted (%d)", id);
		return;
	}
	if (id < 0)
		return;                 /* -ENOSPC: the table is full */
	if (k % 6 == 2)
		z->wfault = id;
	else if (k % 6 == 3)
		z->rfault = id;
}

static void op_reopen(struct fz *z, struct in *in)
{
	int k = 1 + g8(in) % 2;           /* handle 1 or 2; 0 stays open */
	int r;

	if (!z->open[k])
		return;
	note(z, "close h%d", k);
	r = cio_close(z->h[k]);
	note(z, "  -> %d", r);
	if (r != 0)
		fail(z, "close of a handle that is not the last failed: %d", r);
	z->open[k] = false;
	z->dead = z->h[k];
	if (z->handle_checks && cio_close(z->dead) != -EBADF)
		fail(z, "a second close did not say -EBADF");
	r = cio_open(z->c, z->path, k == 2 ? O_RDONLY : O_RDWR, 0, &z->h[k]);
	note(z, "open h%d -> %d", k, r);
	if (r != 0)
		fail(z, "reopen failed: %s", cio_strerror(r));
	z->open[k] = true;
	z->owe[k] = z->unseen; /* errseq: an error nobody saw reaches a new handle */
	if (k == 2 && cio_write(z->h[2], "x", 1, 0, 0) != -EBADF)
		fail(z, "a write through a read-only handle did not say -EBADF");
}

/* ---- fallocate --------------------------------------------------------------- */

#define E_EOPNOTSUPP 16u
#define FZ_FL_KNOWN  (FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | \
                      FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)
#define FZ_FL_SHIFT  (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)

/* The modes an input can ask for: every valid one, and the hostile ones. */
static int falloc_mode(struct in *in)
{
	static const int modes[15] = {
		0, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_ZERO_RANGE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE, FALLOC_FL_INSERT_RANGE, (int)CIO_FALLOC_POSIX,
		FALLOC_FL_PUNCH_HOLE,                                  /* EOPNOTSUPP */
		(int)CIO_FALLOC_POSIX | FALLOC_FL_KEEP_SIZE,           /* EINVAL */
		FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_KEEP_SIZE,
		FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE,
		FALLOC_FL_ZERO_RANGE | FALLOC_FL_INSERT_RANGE,
		1 << 20,                                               /* unknown bit */
	};
	uint8_t k = g8(in);

	if (k == 0xff)
		return (int)g32(in);                                   /* anything */
	return modes[k % 15];
}

/*
 * The errors cio_fallocate() must answer with (any one of them), as
 * coherio.h documents them; 0 = valid. Two modes at once are refused by
 * every kernel, with -EINVAL or (newer ones) -EOPNOTSUPP.
 */
static unsigned falloc_errors(struct fz *z, int hi, bool live, int mode, int64_t off,
                              int64_t len, int64_t bs)
{
	unsigned e = 0;
	int m = mode & ~(int)CIO_FALLOC_POSIX, kind = m & ~FALLOC_FL_KEEP_SIZE;

	if (!live)
		return E_EBADF;
	if (off < 0 || len <= 0)
		e |= E_EINVAL;
	if ((mode & (int)CIO_FALLOC_POSIX) && m)
		e |= E_EINVAL;
	if (m & ~FZ_FL_KNOWN)
		e |= E_EOPNOTSUPP;
	else if ((kind & (kind - 1)) || ((kind & FZ_FL_SHIFT) && (m & FALLOC_FL_KEEP_SIZE)))
		e |= E_EINVAL | E_EOPNOTSUPP;
	else if ((m & FALLOC_FL_PUNCH_HOLE) && !(m & FALLOC_FL_KEEP_SIZE))
		e |= E_EOPNOTSUPP;
	if (hi == 2)
		e |= E_EBADF;
	if (len > CIO_MAX_FILE_SIZE || (len > 0 && off > CIO_MAX_FILE_SIZE - len))
		e |= E_EFBIG;
	if (!e && (kind & FZ_FL_SHIFT)) {
		if (off % bs || len % bs)
			e |= E_EINVAL;
		else if (kind == FALLOC_FL_COLLAPSE_RANGE ? off + len >= z->size
		                                          : off >= z->size)
			e |= E_EINVAL;
		else if (kind == FALLOC_FL_INSERT_RANGE && z->size > CIO_MAX_FILE_SIZE - len)
			e |= E_EFBIG;
	}
	return e;
}

static unsigned falloc_bit(int r)
{
	return r == -EOPNOTSUPP ? E_EOPNOTSUPP : bit_of(r);
}

/* What a successful cio_fallocate() did to the file, in the model. */
static void model_falloc(struct fz *z, int mode, int64_t off, int64_t len)
{
	int m = mode & ~(int)CIO_FALLOC_POSIX;
	int64_t end = off + len, in_size = end < z->size ? end : z->size;

	if (m == FALLOC_FL_COLLAPSE_RANGE) {
		memmove(z->mem + off, z->mem + end, (size_t)(z->size - end));
		memset(z->mem + z->size - len, 0, (size_t)len);
		z->size -= len;
		return;
	}
	if (m == FALLOC_FL_INSERT_RANGE) {
		memmove(z->mem + end, z->mem + off, (size_t)(z->size - off));
		memset(z->mem + off, 0, (size_t)len);
		z->size += len;
		return;
	}
	if ((m & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE)) && off < in_size)
		memset(z->mem + off, 0, (size_t)(in_size - off));  /* past it: zeros */
	if (!(m & FALLOC_FL_KEEP_SIZE) && end > z->size)
		z->size = end;
}

/*
 * One cio_fallocate(): every mode, on ranges aligned to bytes, logical
 * blocks or file-system blocks (collapse and insert need the latter), with
 * hostile arguments - negative, zero and overflowing offsets and lengths,
 * past CIO_MAX_FILE_SIZE, unknown bits, two modes at once, misaligned
 * shifts, shifts outside the file, a read-only or closed handle. A rejected
 * call must change nothing; a valid one must do what Linux does (the model),
 * return 0 or -EOPNOTSUPP where the file system lacks the mode (then nothing
 * changed either); with faults, collapse and insert may fail with the error
 * of a page they had to write back first, and nothing moved then.
 */
static void op_falloc(struct fz *z, struct in *in)
{
	cio_file *h;
	bool live;
	int hi = pick_handle(z, in, &h, &live);
	int mode = falloc_mode(in);
	uint8_t a = g8(in);
	struct stat st;
	int64_t bs = stat(z->path, &st) == 0 && st.st_blksize > 0 ? st.st_blksize : 4096;
	uint32_t align = a % 3 == 0 ? 1 : a % 3 == 1 ? z->lbs : (uint32_t)bs;
	int64_t off = pick_off(z, in, align);
	int64_t len = (int64_t)pick_len(in, align);
	int m = mode & ~(int)CIO_FALLOC_POSIX;
	unsigned want = falloc_errors(z, hi, live, mode, off, len, bs);
	int r;

	if (!want && (m == FALLOC_FL_INSERT_RANGE ? z->size + len > FZ_FILE
	                                          : off + len > FZ_FILE))
		return;                   /* valid but beyond the model's file */
	note(z, "fallocate h%d mode %#x [%lld, +%lld) (fs block %lld)", hi, (unsigned)mode,
	     (long long)off, (long long)len, (long long)bs);
	r = cio_fallocate(h, mode, off, len);
	note(z, "  -> %d", r);
	bool fw = fired(z, &z->wfault);
	fired(z, &z->rfault);
	fw |= note_wb(z);             /* collapse/insert write back pages first */
	if (want) {
		if (!(falloc_bit(r) & want))
			fail(z, "fallocate mode %#x [%lld, +%lld) with bad arguments returned "
			     "%d, expected one of%s%s (G11)", (unsigned)mode, (long long)off,
			     (long long)len, r, errs_text(want & ~E_EOPNOTSUPP),
			     want & E_EOPNOTSUPP ? " -EOPNOTSUPP" : "");
	} else if (r == -EOPNOTSUPP && mode != (int)CIO_FALLOC_POSIX) {
		/* the file system lacks the mode: nothing changed */
	} else if (r < 0 && (m & FZ_FL_SHIFT) && fw) {
		/* a page it had to write back failed: nothing moved */
	} else if (r != 0) {
		fail(z, "fallocate mode %#x [%lld, +%lld) with valid arguments failed: %s",
		     (unsigned)mode, (long long)off, (long long)len, cio_strerror(r));
	} else {
		model_falloc(z, mode, off, len);
	}
	int64_t sz = cio_size(z->h[0]);
	if (sz != z->size)
		fail(z, "after fallocate mode %#x [%lld, +%lld) -> %d, cio_size says %lld, "
		     "the model %lld (G5)", (unsigned)mode, (long long)off, (long long)len, r,
		     (long long)sz, (long long)z->size);
}

static void op_misc(struct fz *z, struct in *in)
{
	struct cio_event ev;
	int e = (int)(int32_t)g32(in);
	const char *s = cio_strerror(e);

	if (!s)
		fail(z, "cio_strerror(%d) returned NULL", e);
	if (cio_ctx_getevents(z->ctx, 2, 1, &ev, NULL) != -EINVAL ||
	    cio_ctx_getevents(z->ctx, 0, 0, &ev, NULL) != -EINVAL ||
	    cio_ctx_getevents(z->ctx, 0, 1, NULL, NULL) != -EINVAL)
		fail(z, "getevents accepted bad arguments");
	if (cio_ctx_submit(z->ctx, NULL, 1) != -EFAULT || cio_ctx_submit(z->ctx, NULL, 0) != 0)
		fail(z, "submit with no operations misbehaved");
	int64_t sz = cio_size(z->h[0]);
	note(z, "size -> %lld", (long long)sz);
	if (sz != z->size)
		fail(z, "cio_size says %lld, the model %lld (G5)", (long long)sz,
		     (long long)z->size);
	if (z->dead && z->handle_checks && cio_size(z->dead) != -EBADF)
		fail(z, "cio_size of a closed handle did not say -EBADF");
}

/* ---- one input ---------------------------------------------------------------- */

static const char *fz_dir(void)
{
	const char *d = getenv("COHERIO_FUZZ_DIR");

	if (!d || !*d)
		d = getenv("COHERIO_TEST_DIR");
	if (!d || !*d)
		d = getenv("TMPDIR");
	return d && *d ? d : "/tmp";
}

static bool setup(struct fz *z, struct in *in)
{
	uint8_t b0 = g8(in), b1 = g8(in);
	static const uint32_t pages[4] = { 4096, 4096, 8192, 16384 };
	static const int engines[4] = { CIO_ENGINE_SYNC, CIO_ENGINE_SYNC,
	                                CIO_ENGINE_THREADS, CIO_ENGINE_URING };
	struct cio_cache_opts o;
	struct cio_file_stats fs;
	static unsigned long serial;
	int r;

	memset(&o, 0, sizeof(o));
	o.page_size = pages[b0 & 3];
	o.engine = engines[(b0 >> 2) & 3];
	o.fault_inject = (b0 >> 4) & 1;
	o.readahead_max = (b0 >> 5) & 1 ? 1 : 8;
	o.engine_threads = 2;
	o.queue_depth = 16;
	o.memory_bytes = (uint64_t)(24 + b1 % 40) * (o.page_size + 160) + 8192;
	if (getenv("COHERIO_ENGINE") && o.engine != CIO_ENGINE_SYNC)
		o.engine = CIO_ENGINE_AUTO; /* the suite's choice */
	r = cio_cache_create(&z->c, &o);
	if (r == -EINVAL || r == -ENOMEM || r == -ENOSYS || r == -EPERM) {
		o.engine = CIO_ENGINE_SYNC;    /* no ring here: the sync engine */
		r = cio_cache_create(&z->c, &o);
	}
	if (r < 0)
		return false;
	z->fault = o.fault_inject;
	z->handle_checks = (cio_build_flags() & CIO_BUILD_HANDLE_CHECKS) != 0;
	snprintf(z->path, sizeof(z->path), "%s/coherio-fuzz-%d-%lu", fz_dir(),
	         (int)getpid(), serial++);
	for (int i = 0; i < FZ_NH; i++) {
		r = cio_open(z->c, z->path, i == 2 ? O_RDONLY :
		             (i == 0 ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR), 0600, &z->h[i]);
		if (r < 0) {
			fprintf(stderr, "fuzz_ops: cannot open %s: %s\n", z->path, cio_strerror(r));
			abort();
		}
		z->open[i] = true;
	}
	if (cio_file_stats(z->h[0], &fs) < 0 || cio_ctx_create(z->c, 4, &z->ctx) < 0)
		abort();
	z->ps = fs.page_size;
	z->lbs = fs.logical_block_size ? fs.logical_block_size : 512;
	z->malign = fs.memory_alignment ? fs.memory_alignment : z->lbs;
	z->wfault = z->rfault = -1;
	return true;
}

/* The end of an input: faults off, every owed error reported once, the
 * data on the disk, everything closed. */
static void finish(struct fz *z)
{
	uint8_t *img;
	struct stat st;
	int fd, r;

	op_unpin(z);
	if (z->fault)
		cio_fault_clear(z->c, -1);
	fired(z, &z->wfault);
	note_wb(z);
	for (int i = 0; i < FZ_NH; i++) {
		if (i == 2)
			continue;                         /* read-only: nothing to do */
		note(z, "final fsync h%d", i);
		r = cio_fsync(z->h[i]);
		note(z, "  -> %d", r);
		if (z->owe[i] && r == 0)
			fail(z, "final fsync of handle %d returned 0 with an error owed (G6)", i);
		if (r < 0) {
			if (!z->owe[i])
				fail(z, "final fsync of handle %d failed: %s", i, cio_strerror(r));
			r = cio_fsync(z->h[i]);
			if (r != 0)
				fail(z, "the second final fsync of handle %d failed: %s (G6: the "
				     "pages must be retried once the faults are gone)", i,
				     cio_strerror(r));
		}
		z->owe[i] = false;
	}
	fd = open(z->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		fail(z, "cannot read the file back");
	if (st.st_size != z->size)
		fail(z, "after fsync the file on disk is %lld bytes, the model %lld (G6)",
		     (long long)st.st_size, (long long)z->size);
	img = malloc((size_t)z->size + 1);
	if (!img || pread(fd, img, (size_t)z->size, 0) != z->size)
		fail(z, "cannot read the file back");
	for (int64_t i = 0; i < z->size; i++)
		if (img[i] != z->mem[i])
			fail(z, "after fsync, byte %lld on disk is 0x%02x, the model 0x%02x "
			     "(G3/G6: data lost)", (long long)i, img[i], z->mem[i]);
	free(img);
	close(fd);
	if ((r = cio_ctx_destroy(z->ctx)) != 0)
		fail(z, "cio_ctx_destroy: %d", r);
	for (int i = FZ_NH - 1; i >= 0; i--)
		if ((r = cio_close(z->h[i])) != 0)
			fail(z, "close h%d: %s", i, cio_strerror(r));
	if ((r = cio_cache_destroy(z->c)) != 0)
		fail(z, "cio_cache_destroy: %s", cio_strerror(r));
	unlink(z->path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz zs;
	struct fz *z = &zs;
	struct in in = { data, size, 0 };

	for (int i = 0; i < 5; i++) {
		free(z->wbuf[i]);
		free(z->rbuf[i]);
	}
	free(z->mem);
	memset(z, 0, sizeof(*z));
	z->mem = calloc(1, FZ_FILE + FZ_BUF);
	for (int i = 0; i < 5; i++) {
		if (posix_memalign((void **)&z->wbuf[i], 4096, FZ_BUF + 4096) ||
		    posix_memalign((void **)&z->rbuf[i], 4096, FZ_BUF + 4096))
			abort();
	}
	if (!z->mem || !setup(z, &in))
		return 0;
	for (int n = 0; n < FZ_OPS && in.i < in.n; n++) {
		uint8_t op = g8(&in);

		if (z->pinned) {
			/* while a read pin is held: only what cannot wait for it */
			switch (op % 8) {
			case 0: op_rw(z, &in, false, false); break;
			case 1: op_rw(z, &in, true, false); break;   /* NOWAIT direct only */
			case 2: op_truncate(z, &in); break;
			case 3: op_invalidate(z, &in); break;
			case 4: op_pin(z, &in); break;
			case 5: op_misc(z, &in); break;
			default: op_unpin(z);
			}
			continue;
		}
		switch (op % 16) {
		case 0: case 1: op_rw(z, &in, false, false); break;
		case 2: case 3: op_rw(z, &in, true, false); break;
		case 4: op_rw(z, &in, false, true); break;
		case 5: op_rw(z, &in, true, true); break;
		case 6: op_truncate(z, &in); break;
		case 7: op_fsync(z, &in, false); break;
		case 8: op_fsync(z, &in, true); break;
		case 9: op_invalidate(z, &in); break;
		case 10: op_pin(z, &in); break;
		case 11: case 12: op_async(z, &in); break;
		case 13: op_fault(z, &in); break;
		case 14: op_reopen(z, &in); break;
		default:            /* 15: the last op; its upper half is fallocate */
			if (op >= 128)
				op_falloc(z, &in);
			else
				op_misc(z, &in);
		}
	}
	finish(z);
	if (getenv("COHERIO_FUZZ_TRACE")) {   /* what the input decoded to */
		int first = z->ntrace > FZ_TRACE ? z->ntrace - FZ_TRACE : 0;

		for (int i = first; i < z->ntrace; i++)
			fprintf(stderr, "    %3d  %s\n", i, z->trace[i % FZ_TRACE]);
	}
	return 0;
}
