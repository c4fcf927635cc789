/*
 * check_ops.c - the worker: a thread that issues random operations on every
 * path and judges each result against the model.
 *
 * Each operation follows the same four steps:
 *  1. begin: under the file model's lock, take the invocation tick, add the
 *     operation's versions (writes, truncates) or register the read, and
 *     log it;
 *  2. stamp the data of a write with that tick (so the stamp names it);
 *  3. the coherio call (or, async, submit ... reap the event);
 *  4. end: under the lock again, take the completion tick, settle the
 *     versions (definite for what surely happened, removed for what surely
 *     did not), log the result, and judge what was read.
 * A write's buffer is poisoned (0xDB) as soon as the call returns or its
 * event is reaped: if coherio read it later, garbage would reach the file
 * and a reader would say so (G4: the buffer is never touched after the
 * event). A read's buffer is pre-filled with 0xA5 so that bytes the call
 * claims but never wrote are garbage too; async read buffers are
 * fingerprinted when reaped and checked again at the end of the batch.
 *
 * Threads: one worker per thread; a worker's handles, context, buffers and
 * operations are its own. Shared state is the models (their locks), the log
 * (its lock) and the run's atomics.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/falloc.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define POISON_W 0xDB
#define POISON_R 0xA5

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static bool faults_live(struct chk_run *r)
{
	return atomic_load_explicit(&r->faults_live, memory_order_relaxed);
}

static uint64_t rnd(struct chk_worker *w, uint64_t n)
{
	return chk_below(&w->rng, n);
}

/* ---- bookkeeping -------------------------------------------------------- */

static void op_init(struct chk_worker *w, struct chk_op *op, int kind, int via,
                    int file)
{
	memset(op, 0, sizeof(*op));
	op->kind = (uint8_t)kind;
	op->via = (uint8_t)via;
	op->file = (uint8_t)file;
	op->thread = (uint8_t)w->id;
	op->cancel_rc = 1;
}

static void watch(struct chk_worker *w, const struct chk_op *op)
{
	atomic_store_explicit(&w->op_kind, op->kind, memory_order_relaxed);
	atomic_store_explicit(&w->op_via, op->via, memory_order_relaxed);
	atomic_store_explicit(&w->op_start_ns, now_ns(), memory_order_release);
}

static void unwatch(struct chk_worker *w)
{
	uint64_t s = atomic_load_explicit(&w->op_start_ns, memory_order_relaxed);
	int k = atomic_load_explicit(&w->op_kind, memory_order_relaxed);
	int v = atomic_load_explicit(&w->op_via, memory_order_relaxed);

	if (s)
		atomic_fetch_add_explicit(&w->st.ns[v][k], now_ns() - s,
		                          memory_order_relaxed);
	atomic_store_explicit(&w->op_start_ns, 0, memory_order_release);
}

static void count(struct chk_worker *w, const struct chk_op *op, bool err,
                  uint64_t bytes)
{
	atomic_fetch_add_explicit(&w->st.n[op->via][op->kind], 1, memory_order_relaxed);
	if (err)
		atomic_fetch_add_explicit(&w->st.err[op->via][op->kind], 1,
		                          memory_order_relaxed);
	if (bytes)
		atomic_fetch_add_explicit(&w->st.bytes[op->via], bytes,
		                          memory_order_relaxed);
}

/* A new violation about operation @op (its result, not a block's content):
 * the fields every such report has; the caller writes v->what. NULL when
 * out of memory (the report is lost, the run goes on). */
struct chk_viol *chk_viol_of_op(const struct chk_op *op, const char *g)
{
	struct chk_viol *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->g = g;
	v->file = op->file;
	v->cell = -1;
	v->tick = op->resp ? op->resp : op->inv;
	chk_op_to_rec(op, &v->op);
	v->have_op = true;
	return v;
}

/* A violation that is about a result, not a block's content. */
static void viol_op(struct chk_worker *w, const struct chk_op *op, const char *g,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void viol_op(struct chk_worker *w, const struct chk_op *op, const char *g,
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
	if (op->kind == OK_FSYNC || op->kind == OK_FDSYNC || op->kind == OK_SIZE)
		snprintf(v->what, sizeof(v->what), "%s of file %u by %s%.0u: %s",
		         chk_kind_name(op->kind, op->via), op->file,
		         op->thread == 0xff ? "the checker" : "thread ",
		         op->thread == 0xff ? 0 : op->thread, text);
	else if (op->kind == OK_TRUNC)
		snprintf(v->what, sizeof(v->what), "%s of file %u to %lld by thread %u: %s",
		         chk_kind_name(op->kind, op->via), op->file, (long long)op->off,
		         op->thread, text);
	else
		snprintf(v->what, sizeof(v->what), "%s of file %u [%lld, +%llu) by thread "
		         "%u: %s", chk_kind_name(op->kind, op->via), op->file,
		         (long long)op->off, (unsigned long long)op->len, op->thread, text);
	chk_violation(w->run, v);
	free(v);
}

static void viol_model(struct chk_worker *w, struct chk_viol *v)
{
	chk_violation(w->run, v);
}

/* An error result: fine while faults are injected; -ENOMEM is a soft
 * error (the cache had nothing to evict for a while); else a violation. */
static bool error_ok(struct chk_worker *w, const struct chk_op *op, int64_t res)
{
	if (faults_live(w->run))
		return true;
	if (res == -ENOMEM) {
		atomic_fetch_add(&w->run->soft_errors, 1);
		if (++w->enomem_streak < 200)
			return true;
	}
	viol_op(w, op, "G4", "failed with -%s (%s) though no fault was injected",
	        cli_errname((int)res), cio_strerror((int)res));
	return false;
}

/* ---- ranges -------------------------------------------------------------- */

/*
 * A random range inside the file: off and len multiples of @align, len at
 * most @maxlen and skewed towards small. 40% of ranges fall in a hot window
 * at the front (operations collide), 20% around the current end of file
 * (growth and truncation races), the rest anywhere.
 */
static void pick_range(struct chk_worker *w, int file, uint64_t align,
                       uint64_t maxlen, int64_t *off, uint64_t *len)
{
	struct chk_run *r = w->run;
	uint64_t fsz = r->cfg.file_size, lo = 0, hi = fsz, units, n, l, slots;
	unsigned sh = (unsigned)rnd(w, 13);
	uint64_t z = rnd(w, 10);

	if (z < 4) {
		hi = fsz < 256 * 1024 ? fsz : 256 * 1024;
	} else if (z < 6) {
		int64_t s = cio_size(w->h[file]);

		if (s < 0)
			s = 0;
		lo = (uint64_t)s > 64 * 1024 ? (uint64_t)s - 64 * 1024 : 0;
		lo = lo / align * align;
		hi = (uint64_t)s + 64 * 1024 < fsz ? (uint64_t)s + 64 * 1024 : fsz;
		if (hi < lo + align)
			lo = 0, hi = fsz;
	}
	units = maxlen / align;
	if (units < 1)
		units = 1;
	n = 1 + rnd(w, units < ((uint64_t)1 << sh) ? units : ((uint64_t)1 << sh));
	l = n * align;
	if (l > hi - lo)
		l = (hi - lo) / align * align;
	if (l < align)
		l = align;
	slots = (hi - lo - l) / align + 1;
	*off = (int64_t)(lo + rnd(w, slots) * align);
	*len = l;
}

/* Split @len bytes at @buf into 1..3 iovecs at random points. */
static int split_iov(struct chk_worker *w, uint8_t *buf, uint64_t len,
                     struct iovec *iov, uint64_t unit)
{
	int n = 1 + (int)rnd(w, 3);
	uint64_t a, b;

	if (len < 3 * unit || n == 1) {
		iov[0] = (struct iovec){ buf, len };
		return 1;
	}
	a = (1 + rnd(w, len / unit - 1)) * unit;
	if (n == 2) {
		iov[0] = (struct iovec){ buf, a };
		iov[1] = (struct iovec){ buf + a, len - a };
		return 2;
	}
	if (a >= len - unit)
		a = len - 2 * unit;
	b = a + (1 + rnd(w, (len - a) / unit - 1)) * unit;
	iov[0] = (struct iovec){ buf, a };
	iov[1] = (struct iovec){ buf + a, 0 };  /* an empty one is legal */
	iov[2] = (struct iovec){ buf + a, b - a };
	if (b < len) {
		iov[1] = (struct iovec){ buf + a, b - a };
		iov[2] = (struct iovec){ buf + b, len - b };
	}
	return 3;
}

/* ---- begin and end ----------------------------------------------------------- */

static void begin(struct chk_worker *w, struct chk_model *m, struct chk_op *op)
{
	chk_model_lock(m);
	switch (op->kind) {
	case OK_WRITE: case OK_PINW:
		chk_write_begin(m, op, 0);
		break;
	case OK_TRUNC:
		atomic_fetch_add(&w->run->trunc_started[op->file], 1);
		chk_trunc_begin(m, op, 0);
		break;
	case OK_FALLOC:
		chk_falloc_begin(m, op, 0);
		break;
	case OK_READ: case OK_PINR: case OK_SIZE:
		chk_read_begin(m, op);
		break;
	default:
		chk_other_begin(m, op);
	}
	if (!chk_log_begin(w->run->log, op))
		atomic_store(&w->run->stop, true); /* crash child: the log is full */
	chk_model_unlock(m);
}

/* Settle a write that returned op->res (op->res2 for async). */
static void end_write(struct chk_worker *w, struct chk_model *m, struct chk_op *op)
{
	struct chk_run *r = w->run;
	bool async = op->via == VIA_ACACHED || op->via == VIA_ADIRECT;
	int64_t res = op->res;
	int eff = EFF_SOME;
	uint64_t def = 0;
	const char *g = NULL;
	char why[200] = "";

	if (op->kind == OK_PINW) {
		if (res < 0)
			eff = EFF_NONE; /* no store was made: nothing changed */
		else
			def = op->len;
		if (res < 0 && !(res == -EAGAIN && (op->flags & CIO_PIN_NOWAIT)) &&
		    !faults_live(r) && res != -ENOMEM) {
			g = "G4";
			snprintf(why, sizeof(why), "failed with -%s though no fault was "
			         "injected", cli_errname((int)res));
		}
	} else if (res == -ECANCELED && async) {
		eff = EFF_NONE;
		if (op->cancel_rc != 0) {
			g = "G9";
			snprintf(why, sizeof(why), "the event says -ECANCELED but cio_ctx_cancel "
			         "%s", op->cancel_rc == 1 ? "was never called for it" :
			         "said it had already started");
		}
	} else {
		if (async && op->cancel_rc == 0) {
			g = "G9";
			snprintf(why, sizeof(why), "cio_ctx_cancel said 0 (cancelled, no "
			         "effect) but the event says %lld", (long long)res);
		}
		if (res == -EAGAIN && (op->flags & CIO_RW_NOWAIT)) {
			eff = EFF_NONE;
		} else if (res < 0) {
			if (!g && !faults_live(r) && !(res == -ENOMEM && ++w->enomem_streak < 200)) {
				g = "G4";
				snprintf(why, sizeof(why), "failed with -%s (%s) though no fault "
				         "was injected", cli_errname((int)res),
				         cio_strerror((int)res));
			}
			if (res == -ENOMEM)
				atomic_fetch_add(&r->soft_errors, 1);
		} else if ((uint64_t)res > op->len) {
			g = "G4";
			snprintf(why, sizeof(why), "returned %lld, more than the %llu bytes "
			         "asked", (long long)res, (unsigned long long)op->len);
		} else {
			def = (uint64_t)res;
			if ((uint64_t)res < op->len && !g) {
				if (async && op->res2 == 0) {
					g = "G4";
					snprintf(why, sizeof(why), "the event says %lld of %llu bytes "
					         "with no errno in res2: the error that cut it short "
					         "was lost", (long long)res, (unsigned long long)op->len);
				} else if (!async && !faults_live(r)) {
					g = "G4";
					snprintf(why, sizeof(why), "wrote %lld of %llu bytes though no "
					         "fault was injected", (long long)res,
					         (unsigned long long)op->len);
				}
			}
			if (res == (int64_t)op->len)
				w->enomem_streak = 0;
		}
		if (!g && op->res2 && (res <= 0 || !faults_live(r))) {
			g = "G4";
			snprintf(why, sizeof(why), "res2 = -%s with res = %lld",
			         cli_errname(op->res2), (long long)res);
		}
	}
	chk_model_lock(m);
	chk_write_end(m, op, eff, def, def > 0, 0);
	chk_log_end(r->log, op);
	chk_model_unlock(m);
	count(w, op, res < 0 || op->res2, def);
	if (g)
		viol_op(w, op, g, "%s", why);
}

/* Judge a read of op->len bytes at op->off into @buf that returned
 * op->res (op->res2 for async). @eof_known: a short count means end of
 * file (async: res2 is 0; sync: no read faults are live). */
static void end_read(struct chk_worker *w, struct chk_model *m, struct chk_op *op,
                     const uint8_t *buf, bool eof_known)
{
	struct chk_run *r = w->run;
	struct chk_viol *v = NULL;
	bool async = op->via == VIA_ACACHED || op->via == VIA_ADIRECT;
	int64_t res = op->res;
	int bad = 0;

	chk_model_lock(m);
	chk_read_end(m, op);
	chk_log_end(r->log, op);
	if (res >= 0 && (uint64_t)res <= op->len) {
		v = malloc(sizeof(*v));
		if (v && chk_check_bytes(m, op, buf, op->off, (uint64_t)res,
		                         eof_known && (uint64_t)res < op->len &&
		                         !op->res2, v) < 0)
			bad = 1;
	}
	chk_model_unlock(m);
	count(w, op, res < 0 || op->res2, res > 0 ? (uint64_t)res : 0);
	if (bad) {
		viol_model(w, v);
	} else if (res == -ECANCELED && async) {
		if (op->cancel_rc != 0)
			viol_op(w, op, "G9", "the event says -ECANCELED but cio_ctx_cancel %s",
			        op->cancel_rc == 1 ? "was never called for it" :
			        "said it had already started");
	} else if (async && op->cancel_rc == 0) {
		viol_op(w, op, "G9", "cio_ctx_cancel said 0 but the event says %lld",
		        (long long)res);
	} else if (res < 0) {
		error_ok(w, op, res);
	} else if ((uint64_t)res > op->len) {
		viol_op(w, op, "G4", "returned %lld, more than the %llu bytes asked",
		        (long long)res, (unsigned long long)op->len);
	} else if (op->res2 && (res == 0 || !faults_live(r))) {
		viol_op(w, op, "G4", "res2 = -%s with res = %lld", cli_errname(op->res2),
		        (long long)res);
	} else if (res > 0) {
		w->enomem_streak = 0;
	}
	free(v);
}

static void end_other(struct chk_worker *w, struct chk_model *m, struct chk_op *op)
{
	chk_model_lock(m);
	if (op->kind == OK_TRUNC) {
		bool none = op->res == -ECANCELED ||
		            (op->res == -EAGAIN && (op->flags & CIO_TRUNC_NOWAIT));
		chk_trunc_end(m, op, none ? EFF_NONE : EFF_SOME, 0);
		atomic_fetch_add(&w->run->trunc_ended[op->file], 1);
	} else {
		chk_other_end(m, op);
	}
	chk_log_end(w->run->log, op);
	chk_model_unlock(m);
	count(w, op, op->res < 0, 0);
}

/* ---- G6: every write-back error reaches the next fsync of every handle -------- */

uint64_t chk_file_wb_errors(cio_file *f)
{
	struct cio_file_stats fs;

	if (cio_file_stats(f, &fs) < 0)
		return 0;
	return fs.writeback_errors;
}

/*
 * The rule for one fsync of handle @h: if the file's write-back error count
 * grew after this handle's previous fsync returned and before this one
 * started (@e1), this one must report an error. coherio counts an error
 * before it records it in the errseq, so an fsync that starts in that
 * instant may legitimately miss it: then the next fsync of the handle must
 * report it (counted as "late"); if that one does not either, the error was
 * lost.
 */
int chk_g6_after_fsync(struct chk_run *r, struct chk_worker *w, int file,
                       cio_file *h, uint64_t e1, int rc, struct chk_op *op)
{
	struct chk_g6 *g = &w->g6[file];
	int bad = 0;

	if (rc < 0)
		atomic_fetch_add(&r->g6_reported, 1);
	if (e1 > g->e0) {
		atomic_fetch_add(&r->g6_required, 1);
		if (rc == 0) {
			struct timespec ts = { 0, 2000000 };
			int rc2;

			nanosleep(&ts, NULL);
			rc2 = cio_fsync(h);
			if (rc2 < 0) {
				atomic_fetch_add(&r->g6_late, 1);
			} else {
				viol_op(w, op, "G6", "returned 0, but %llu write-back error%s of "
				        "the file happened after this handle's previous fsync "
				        "returned; neither this fsync nor the next reported it "
				        "(the error was lost for this handle)",
				        (unsigned long long)(e1 - g->e0), e1 - g->e0 == 1 ? "" : "s");
				bad = 1;
			}
		}
	}
	if (rc < 0 && rc != -ECANCELED && !r->cfg.faults) {
		viol_op(w, op, "G6", "failed with -%s (%s) though no fault was injected",
		        cli_errname(rc), cio_strerror(rc));
		bad = 1;
	}
	g->e0 = chk_file_wb_errors(h);
	return bad;
}

/* ---- synchronous operations ------------------------------------------------ */

static void do_write(struct chk_worker *w, int file, bool direct)
{
	struct chk_run *r = w->run;
	struct chk_model *m = r->model[file];
	struct chk_op *op = &w->ops[0];
	uint8_t *buf = w->buf[0];
	struct iovec iov[3];
	int n = 0;
	ssize_t res;

	op_init(w, op, OK_WRITE, direct ? VIA_DIRECT : VIA_CACHED, file);
	pick_range(w, file, direct ? r->lbs : CHK_CELL, CHK_MAX_IO, &op->off, &op->len);
	if (direct) {
		op->flags = CIO_RW_DIRECT;
		if (rnd(w, 8) == 0)
			op->flags |= CIO_RW_NOWAIT;
	}
	if (rnd(w, 20) == 0)
		op->flags |= CIO_RW_DSYNC;
	if (!direct && rnd(w, 3) == 0)
		n = split_iov(w, buf, op->len, iov, 1);
	begin(w, m, op);
	chk_stamp_fill(buf, op->len, op->file, op->thread, (uint64_t)op->off, op->inv);
	watch(w, op);
	if (n)
		res = cio_writev(w->h[file], iov, n, op->off, op->flags);
	else
		res = cio_write(w->h[file], buf, op->len, op->off, op->flags);
	unwatch(w);
	memset(buf, POISON_W, op->len);
	op->res = res;
	end_write(w, m, op);
}

static void do_read(struct chk_worker *w, int file, bool direct)
{
	struct chk_run *r = w->run;
	struct chk_model *m = r->model[file];
	struct chk_op *op = &w->ops[0];
	uint8_t *buf = w->buf[0];
	struct iovec iov[3];
	int n = 0;
	ssize_t res;

	op_init(w, op, OK_READ, direct ? VIA_DIRECT : VIA_CACHED, file);
	if (direct) {
		pick_range(w, file, r->lbs, CHK_MAX_IO, &op->off, &op->len);
		op->flags = CIO_RW_DIRECT;
	} else {
		pick_range(w, file, rnd(w, 2) ? 1 : CHK_CELL, CHK_MAX_IO, &op->off, &op->len);
		if (rnd(w, 3) == 0)
			n = split_iov(w, buf, op->len, iov, 1);
	}
	memset(buf, POISON_R, op->len);
	begin(w, m, op);
	watch(w, op);
	if (n)
		res = cio_readv(w->h[file], iov, n, op->off, op->flags);
	else
		res = cio_read(w->h[file], buf, op->len, op->off, op->flags);
	unwatch(w);
	op->res = res;
	end_read(w, m, op, buf, !atomic_load(&r->read_faults));
}

static void do_pin(struct chk_worker *w, int file, bool write)
{
	struct chk_run *r = w->run;
	struct chk_model *m = r->model[file];
	struct chk_op *op = &w->ops[0];
	uint8_t *copy = w->vbuf;
	cio_pin pin;
	int n, urc = 0;
	uint64_t pos = 0;
	bool shape_ok = true;

	op_init(w, op, write ? OK_PINW : OK_PINR, VIA_PIN, file);
	pick_range(w, file, CHK_CELL, (uint64_t)(CHK_PIN_PAGES - 1) * r->page_size,
	           &op->off, &op->len);
	op->flags = write ? CIO_PIN_WRITE : 0;
	if (rnd(w, 5) == 0)
		op->flags |= CIO_PIN_NOWAIT;
	begin(w, m, op);
	watch(w, op);
	n = cio_pin_range(w->h[file], op->off, op->len, op->flags, &pin);
	if (n > 0) {
		if (pin.nseg != n || pin.off != op->off || pin.len != op->len)
			shape_ok = false;
		for (int i = 0; i < pin.nseg && shape_ok; i++) {
			if (pos + pin.seg[i].iov_len > op->len) {
				shape_ok = false;
				break;
			}
			if (write)
				chk_stamp_fill(pin.seg[i].iov_base, pin.seg[i].iov_len,
				               op->file, op->thread, (uint64_t)op->off + pos,
				               op->inv);
			else
				memcpy(copy + pos, pin.seg[i].iov_base, pin.seg[i].iov_len);
			pos += pin.seg[i].iov_len;
		}
		if (pos != op->len)
			shape_ok = false;
		urc = cio_unpin(&pin);
	}
	unwatch(w);
	op->res = n;
	if (write) {
		end_write(w, m, op);
	} else if (n == -ENXIO) {
		struct chk_viol *v = malloc(sizeof(*v));
		int bad = 0;

		chk_model_lock(m);
		chk_read_end(m, op);
		chk_log_end(r->log, op);
		if (v)
			bad = chk_check_absent(m, op, op->off + (int64_t)op->len, v) < 0;
		chk_model_unlock(m);
		count(w, op, false, 0);
		if (bad)
			viol_model(w, v);
		free(v);
	} else {
		if (n == -EAGAIN && (op->flags & CIO_PIN_NOWAIT))
			op->res = 0, op->len = 0;       /* nothing read, nothing to judge */
		else if (n > 0)
			op->res = (int64_t)pos;
		end_read(w, m, op, copy, false);
		op->res = n;
	}
	if (n > 0 && !shape_ok)
		viol_op(w, op, "G7", "the pin's segments do not describe [%lld, +%llu) "
		        "(%d segments, off %lld, len %zu)", (long long)op->off,
		        (unsigned long long)op->len, pin.nseg, (long long)pin.off, pin.len);
	if (urc < 0)
		viol_op(w, op, "G7", "cio_unpin failed: -%s", cli_errname(urc));
}

static int64_t pick_size(struct chk_worker *w)
{
	uint64_t fsz = w->run->cfg.file_size;
	uint64_t z = rnd(w, 8);

	if (z == 0)
		return 0;
	if (z < 3)
		return (int64_t)(rnd(w, fsz / 16 / CHK_CELL + 1) * CHK_CELL);
	if (z < 6)
		return (int64_t)((fsz / 2 + rnd(w, fsz / 2 / CHK_CELL + 1) * CHK_CELL));
	return (int64_t)(rnd(w, fsz / CHK_CELL + 1) * CHK_CELL);
}

static void do_truncate(struct chk_worker *w, int file)
{
	struct chk_model *m = w->run->model[file];
	struct chk_op *op = &w->ops[0];
	int rc;

	op_init(w, op, OK_TRUNC, VIA_SYNC, file);
	op->off = pick_size(w);
	if (rnd(w, 5) == 0)
		op->flags = CIO_TRUNC_NOWAIT;
	begin(w, m, op);
	watch(w, op);
	rc = cio_truncate(w->h[file], op->off, op->flags);
	unwatch(w);
	op->res = rc;
	end_other(w, m, op);
	if (rc < 0 && !(rc == -EAGAIN && (op->flags & CIO_TRUNC_NOWAIT)))
		error_ok(w, op, rc);
}

static void do_fsync(struct chk_worker *w, int file, bool data)
{
	struct chk_run *r = w->run;
	struct chk_model *m = r->model[file];
	struct chk_op *op = &w->ops[0];
	int rc;

	op_init(w, op, data ? OK_FDSYNC : OK_FSYNC, VIA_SYNC, file);
	op->e1 = chk_file_wb_errors(w->h[file]);
	begin(w, m, op);
	watch(w, op);
	rc = data ? cio_fdatasync(w->h[file]) : cio_fsync(w->h[file]);
	unwatch(w);
	op->res = rc;
	end_other(w, m, op);
	chk_g6_after_fsync(r, w, file, w->h[file], op->e1, rc, op);
}

static void check_inval(struct chk_worker *w, struct chk_op *op, int rc,
                        const struct cio_inval_result *res)
{
	if (rc == 0 && res && res->kept) {
		viol_op(w, op, "G3", "returned 0 but kept %llu page(s)",
		        (unsigned long long)res->kept);
	} else if (rc < 0 && res && (!res->kept || res->first_error != rc)) {
		viol_op(w, op, "G3", "returned -%s but its result says kept %llu, first "
		        "error %d", cli_errname(rc), (unsigned long long)res->kept,
		        res->first_error);
	} else if (rc == -EBUSY && (op->flags & CIO_INVAL_WAIT)) {
		viol_op(w, op, "G7", "returned -EBUSY although it was told to wait for "
		        "pins");
	} else if (rc < 0 && rc != -EBUSY && rc != -ECANCELED) {
		error_ok(w, op, rc);
	}
}

static void do_invalidate(struct chk_worker *w, int file)
{
	struct chk_model *m = w->run->model[file];
	struct chk_op *op = &w->ops[0];
	struct cio_inval_result res;
	int rc;

	op_init(w, op, OK_INVAL, VIA_SYNC, file);
	pick_range(w, file, CHK_CELL, 4 * CHK_MAX_IO, &op->off, &op->len);
	if (rnd(w, 5) == 0)
		op->len = 0;                  /* to the end of the file */
	if (rnd(w, 3) == 0)
		op->flags = CIO_INVAL_WAIT;
	begin(w, m, op);
	watch(w, op);
	rc = cio_invalidate(w->h[file], op->off, (int64_t)op->len, op->flags, &res);
	unwatch(w);
	op->res = rc;
	end_other(w, m, op);
	check_inval(w, op, rc, &res);
}

static void do_size(struct chk_worker *w, int file)
{
	struct chk_model *m = w->run->model[file];
	struct chk_op *op = &w->ops[0];
	struct chk_viol *v = malloc(sizeof(*v));
	int64_t s;
	int bad = 0;

	op_init(w, op, OK_SIZE, VIA_SYNC, file);
	begin(w, m, op);
	s = cio_size(w->h[file]);
	op->res = s;
	chk_model_lock(m);
	chk_read_end(m, op);
	chk_log_end(w->run->log, op);
	if (v)
		bad = chk_check_size(m, op, s, v) < 0;
	chk_model_unlock(m);
	count(w, op, s < 0, 0);
	if (bad)
		viol_model(w, v);
	free(v);
}

/* No truncate of @file in flight now; with @since, none begun since the
 * count *since was read either. */
static bool no_truncate(struct chk_run *r, int file, const uint64_t *since)
{
	uint64_t s = atomic_load(&r->trunc_started[file]);
	uint64_t e = atomic_load(&r->trunc_ended[file]);

	return s == e && (!since || *since == s);
}

/* The fallocate mode for the mix, among the classes left in; -1 if none. */
static int pick_falloc_mode(struct chk_worker *w, int *fa)
{
	unsigned no = w->run->cfg.without | atomic_load(&w->run->falloc_unsup);
	int k = (int)rnd(w, 6);

	for (int i = 0; i < 6; i++, k = (k + 1) % 6) {
		switch (k) {
		case 0: case 1:
			if (no & CHK_NO_RESERVE)
				continue;
			*fa = FA_RESERVE;
			return rnd(w, 4) == 0 ? (int)CIO_FALLOC_POSIX : 0;
		case 2:
			if (no & CHK_NO_RESERVE)
				continue;
			*fa = FA_RESERVE_KEEP;
			return FALLOC_FL_KEEP_SIZE;
		case 3:
			if (no & CHK_NO_PUNCH)
				continue;
			*fa = FA_PUNCH;
			return FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
		case 4:
			if (no & CHK_NO_ZERO)
				continue;
			*fa = FA_ZERO;
			return FALLOC_FL_ZERO_RANGE;
		default:
			if (no & CHK_NO_ZERO)
				continue;
			*fa = FA_ZERO_KEEP;
			return FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		}
	}
	return -1;
}

static unsigned falloc_class(int fa)
{
	return fa == FA_PUNCH ? CHK_NO_PUNCH :
	       fa == FA_ZERO || fa == FA_ZERO_KEEP ? CHK_NO_ZERO : CHK_NO_RESERVE;
}

/*
 * fallocate in the concurrent mix: reserve (with and without KEEP_SIZE),
 * punch and zero, on cell-, block- or page-aligned ranges (the model is
 * exact at its 64-byte cells). It does no I/O through the engine (the
 * kernel call is direct; pages are zeroed in place), so it returns 0 with
 * and without injected faults: -ENOSPC/-EDQUOT (a full disk) is counted,
 * -EOPNOTSUPP turns that mode off for the run with a note, anything else is
 * a violation. After a growing one returns the size must be at least its
 * end and at least the size before it (G5: it never moves the size back),
 * when no truncate of the file ran meanwhile - and the model judges the
 * size in any case.
 */
static void do_falloc(struct chk_worker *w, int file)
{
	struct chk_run *r = w->run;
	struct chk_model *m = r->model[file];
	struct chk_op *op = &w->ops[0];
	uint64_t aligns[3] = { CHK_CELL, r->lbs, r->page_size };
	uint64_t tseq = atomic_load(&r->trunc_started[file]);
	int64_t before, after, end;
	int fa = 0, mode = pick_falloc_mode(w, &fa), rc, eff;
	bool grows, calm;

	if (mode < 0) {
		do_size(w, file);
		return;
	}
	op_init(w, op, OK_FALLOC, VIA_SYNC, file);
	pick_range(w, file, aligns[rnd(w, 3)], 4 * CHK_MAX_IO, &op->off, &op->len);
	op->flags = (uint32_t)mode;
	grows = !(mode & FALLOC_FL_KEEP_SIZE);
	end = op->off + (int64_t)op->len;
	calm = no_truncate(r, file, NULL);
	before = cio_size(w->h[file]);
	begin(w, m, op);
	watch(w, op);
	rc = cio_fallocate(w->h[file], mode, op->off, (int64_t)op->len);
	unwatch(w);
	op->res = rc;
	after = grows && rc == 0 ? cio_size(w->h[file]) : 0;
	calm = calm && no_truncate(r, file, &tseq);
	eff = rc == 0 ? EFF_SOME : rc == -EOPNOTSUPP ? EFF_NONE : EFF_SOME;
	chk_model_lock(m);
	chk_falloc_end(m, op, eff, rc == 0, 0);
	chk_log_end(r->log, op);
	chk_model_unlock(m);
	count(w, op, rc < 0, 0);
	if (rc == 0) {
		atomic_fetch_add(&r->falloc_n[fa], 1);
	} else if (rc == -EOPNOTSUPP) {
		atomic_fetch_or(&r->falloc_unsup, falloc_class(fa));
	} else if (rc == -ENOSPC || rc == -EDQUOT) {
		atomic_fetch_add(&r->falloc_nospc, 1);
	} else {
		viol_op(w, op, "G4", "%s failed with -%s (%s)%s", chk_falloc_mode_name(op->flags),
		        cli_errname(rc), cio_strerror(rc), r->cfg.faults ?
		        "; it does no I/O through the engine, so no injected fault can "
		        "reach it" : " though no fault was injected");
		return;
	}
	if (rc == 0 && grows && calm && before >= 0 &&
	    (after < end || after < before)) {
		viol_op(w, op, "G5", "returned 0, but the size afterwards is %lld: below %s "
		        "(%lld), and no truncate of the file ran meanwhile (a growing "
		        "fallocate never lowers the size)", (long long)after,
		        after < end ? "its end" : "the size before it began",
		        (long long)(after < end ? end : before));
		return;
	}
	if (rc == 0 && grows)
		do_size(w, file);   /* and the model's view of the size */
}

/*
 * G11: a call with bad arguments gets the documented error and changes
 * nothing. A rejected write carries stamps with a fresh tick that no
 * version has: if any of it reached the file, a later read would find a
 * block "never written there".
 */
static void do_bad(struct chk_worker *w, int file)
{
	struct chk_run *r = w->run;
	struct chk_model *m = r->model[file];
	struct chk_op *op = &w->ops[0];
	cio_file *h = w->h[file];
	uint8_t *buf = w->buf[0];
	int64_t off = (int64_t)(rnd(w, r->cfg.file_size / r->lbs) * r->lbs);
	uint64_t seq = chk_tick();
	int64_t res = 0, want = -EINVAL;
	const char *what = "";
	cio_pin pin;

	op_init(w, op, OK_BAD, VIA_SYNC, file);
	chk_stamp_fill(buf, 2 * r->lbs + CHK_CELL, op->file, op->thread, 0, seq);
	begin(w, m, op);
	switch (rnd(w, 13)) {
	case 0:
		what = "direct write at an offset not a multiple of the logical block";
		if (r->lbs > CHK_CELL) {
			res = cio_write(h, buf, r->lbs, off + CHK_CELL, CIO_RW_DIRECT);
			break;
		}
		/* fall through */
	case 1:
		what = "direct write of a length not a multiple of the logical block";
		res = cio_write(h, buf, r->lbs + CHK_CELL, off, CIO_RW_DIRECT);
		break;
	case 2:
		what = "direct read into a misaligned buffer";
		if (r->mem_align > 1) {
			res = cio_read(h, buf + 1, r->lbs, off, CIO_RW_DIRECT);
			break;
		}
		res = cio_read(h, buf, r->lbs, -512, CIO_RW_DIRECT);
		break;
	case 3:
		what = "write at a negative offset";
		res = cio_write(h, buf, CHK_CELL, -(int64_t)CHK_CELL, 0);
		break;
	case 4:
		what = "write past CIO_MAX_FILE_SIZE";
		want = -EFBIG;
		res = cio_write(h, buf, 2 * CHK_CELL, CIO_MAX_FILE_SIZE - CHK_CELL, 0);
		break;
	case 5:
		what = "read with CIO_RW_DSYNC";
		res = cio_read(h, buf, CHK_CELL, off, CIO_RW_DSYNC);
		break;
	case 6:
		what = "write with an unknown flag";
		res = cio_write(h, buf, CHK_CELL, off, 1u << 9);
		break;
	case 7:
		what = "truncate to a negative size";
		res = cio_truncate(h, -(int64_t)CHK_CELL, 0);
		break;
	case 8:
		what = "truncate past CIO_MAX_FILE_SIZE";
		want = -EFBIG;
		res = cio_truncate(h, CIO_MAX_FILE_SIZE + CHK_CELL, 0);
		break;
	case 9:
		what = "invalidate at a negative offset";
		res = cio_invalidate(h, -1, CHK_CELL, 0, NULL);
		break;
	case 10:
		what = "pin of length 0";
		res = cio_pin_range(h, off, 0, 0, &pin);
		break;
	case 11:
		what = "writev with no iovec";
		res = cio_writev(h, (const struct iovec *)buf, 0, off, 0);
		break;
	default: {
		struct cio_op cop;
		struct cio_event ev;
		struct timespec zero = { 0, 0 };
		int k;

		what = "async direct write at a misaligned offset";
		memset(&cop, 0, sizeof(cop));
		cop.opcode = CIO_OP_WRITE;
		cop.flags = CIO_RW_DIRECT;
		cop.file = h;
		cop.buf = buf;
		cop.len = r->lbs;
		cop.off = off + (r->lbs > CHK_CELL ? CHK_CELL : 1);
		cop.user_data = 0xBAD;
		res = cio_ctx_submit(w->ctx, &cop, 1);
		k = cio_ctx_getevents(w->ctx, 0, 1, &ev, &zero);
		if (k != 0 && res < 0) {
			op->res = res;
			viol_op(w, op, "G4", "a rejected submission (%lld) still posted "
			        "an event", (long long)res);
		}
	}
	}
	op->res = res;
	end_other(w, m, op);
	memset(buf, POISON_W, 2 * r->lbs + CHK_CELL);
	if (res != want)
		viol_op(w, op, "G11", "%s returned %lld (%s), not -%s",
		        what, (long long)res, res < 0 ? cio_strerror((int)res) : "success",
		        cli_errname((int)want));
}

/* ---- async batches ----------------------------------------------------------- */

struct batch {
	struct cio_op cop[CHK_BATCH];
	uint64_t fp[CHK_BATCH];     /* fingerprints of reaped read buffers */
	int      n, sub;
	bool     fsync_file[CHK_MAX_FILES];
};

static uint64_t fingerprint(const uint8_t *p, uint64_t n)
{
	uint64_t h = n;

	for (uint64_t i = 0; i + 8 <= n; i += 8) {
		uint64_t x;

		memcpy(&x, p + i, 8);
		h = chk_mix(h ^ x);
	}
	return h;
}

static void batch_prepare(struct chk_worker *w, struct batch *b, int i)
{
	struct chk_run *r = w->run;
	struct chk_op *op = &w->ops[i];
	struct cio_op *c = &b->cop[i];
	int file = (int)rnd(w, (uint64_t)r->cfg.files);
	uint64_t k = rnd(w, 100);
	uint8_t *buf = w->buf[i];
	bool direct = rnd(w, 2);
	unsigned no = r->cfg.without;

	if (no & CHK_NO_DIRECT)
		direct = false;
	else if (no & CHK_NO_CACHED)
		direct = true;
	if (k < 38 && (no & CHK_NO_WRITE))
		k = 40;
	if (k >= 80 && k < 88 && (no & CHK_NO_FSYNC))
		k = 40;
	if (k >= 88 && k < 99 && (no & CHK_NO_INVAL))
		k = 40;
	if (k >= 99 && (no & CHK_NO_TRUNCATE))
		k = 40;

	memset(c, 0, sizeof(*c));
	if (k < 38) {
		op_init(w, op, OK_WRITE, direct ? VIA_ADIRECT : VIA_ACACHED, file);
		pick_range(w, file, direct ? r->lbs : CHK_CELL, CHK_MAX_IO, &op->off, &op->len);
		op->flags = direct ? CIO_RW_DIRECT : 0;
		if (rnd(w, 20) == 0)
			op->flags |= CIO_RW_DSYNC;
		c->opcode = CIO_OP_WRITE;
	} else if (k < 80 || (k < 88 && b->fsync_file[file])) {
		op_init(w, op, OK_READ, direct ? VIA_ADIRECT : VIA_ACACHED, file);
		pick_range(w, file, direct ? r->lbs : (rnd(w, 2) ? 1 : CHK_CELL),
		           CHK_MAX_IO, &op->off, &op->len);
		op->flags = direct ? CIO_RW_DIRECT : 0;
		c->opcode = CIO_OP_READ;
		memset(buf, POISON_R, op->len);
	} else if (k < 88) {
		bool data = rnd(w, 3) == 0;

		op_init(w, op, data ? OK_FDSYNC : OK_FSYNC, VIA_ASYNC, file);
		c->opcode = data ? CIO_OP_FDATASYNC : CIO_OP_FSYNC;
		b->fsync_file[file] = true;
		op->e1 = chk_file_wb_errors(w->h[file]);
	} else if (k < 99) {
		op_init(w, op, OK_INVAL, VIA_ASYNC, file);
		pick_range(w, file, CHK_CELL, 4 * CHK_MAX_IO, &op->off, &op->len);
		op->flags = rnd(w, 3) == 0 ? CIO_INVAL_WAIT : 0;
		c->opcode = CIO_OP_INVALIDATE;
	} else {
		op_init(w, op, OK_TRUNC, VIA_ASYNC, file);
		op->off = pick_size(w);
		op->flags = rnd(w, 5) == 0 ? CIO_TRUNC_NOWAIT : 0;
		c->opcode = CIO_OP_TRUNCATE;
	}
	c->flags = op->flags;
	c->file = w->h[file];
	c->off = op->off;
	c->len = op->len;
	if (op->kind == OK_READ || op->kind == OK_WRITE) {
		op->iovcnt = 0;
		if (!direct && rnd(w, 4) == 0) {
			op->iovcnt = split_iov(w, buf, op->len, op->iov, 1);
			c->iov = op->iov;
			c->iovcnt = op->iovcnt;
		} else {
			c->buf = buf;
		}
	}
	op->buf = buf;
	op->user_data = (uint64_t)w->id << 48 | ++w->ud_next;
	c->user_data = op->user_data;
	begin(w, r->model[file], op);
	if (op->kind == OK_WRITE)
		chk_stamp_fill(buf, op->len, op->file, op->thread, (uint64_t)op->off, op->inv);
}

/* The event @ev for operation @i of the batch. */
static void batch_complete(struct chk_worker *w, struct batch *b, int i,
                           const struct cio_event *ev)
{
	struct chk_run *r = w->run;
	struct chk_op *op = &w->ops[i];
	struct chk_model *m = r->model[op->file];

	op->reaped = true;
	op->res = ev->res;
	op->res2 = ev->res2;
	if (ev->opcode != b->cop[i].opcode)
		viol_op(w, op, "G4", "its event carries opcode %u, not %u", ev->opcode,
		        b->cop[i].opcode);
	switch (op->kind) {
	case OK_WRITE:
		end_write(w, m, op);
		memset(op->buf, POISON_W, op->len);
		break;
	case OK_READ:
		end_read(w, m, op, op->buf, true);
		if (ev->res > 0)
			b->fp[i] = fingerprint(op->buf, (uint64_t)ev->res);
		break;
	case OK_FSYNC: case OK_FDSYNC:
		end_other(w, m, op);
		if (ev->res == -ECANCELED) {
			if (op->cancel_rc != 0)
				viol_op(w, op, "G9", "the event says -ECANCELED but the cancel "
				        "was not accepted");
			break;
		}
		if (op->cancel_rc == 0)
			viol_op(w, op, "G9", "cancelled (cancel said 0) but the event says %lld",
			        (long long)ev->res);
		chk_g6_after_fsync(r, w, op->file, w->h[op->file], op->e1, (int)ev->res, op);
		break;
	default:
		end_other(w, m, op);
		if (ev->res == -ECANCELED) {
			if (op->cancel_rc != 0)
				viol_op(w, op, "G9", "the event says -ECANCELED but the cancel "
				        "was not accepted");
		} else if (op->cancel_rc == 0) {
			viol_op(w, op, "G9", "cancelled (cancel said 0) but the event says %lld",
			        (long long)ev->res);
		} else if (op->kind == OK_INVAL) {
			check_inval(w, op, (int)ev->res, NULL);
		} else if (ev->res < 0 && !(ev->res == -EAGAIN && (op->flags & CIO_TRUNC_NOWAIT))) {
			error_ok(w, op, ev->res);
		}
	}
}

/* Reap at least @min events; 0, or -1 after a violation. */
static int batch_reap(struct chk_worker *w, struct batch *b, int min)
{
	struct cio_event ev[CHK_BATCH];
	struct timespec ts = { 0, 100 * 1000000 };
	int got = 0;

	while (got < min) {
		int k = cio_ctx_getevents(w->ctx, 1, CHK_BATCH, ev, &ts);

		if (k < 0) {
			viol_op(w, &w->ops[0], "G4", "cio_ctx_getevents failed: -%s",
			        cli_errname(k));
			return -1;
		}
		for (int e = 0; e < k; e++) {
			int i;

			for (i = 0; i < b->sub; i++)
				if (w->ops[i].user_data == ev[e].user_data && !w->ops[i].reaped)
					break;
			if (i == b->sub) {
				struct chk_op dummy;

				op_init(w, &dummy, OK_READ, VIA_ASYNC, 0);
				dummy.user_data = ev[e].user_data;
				viol_op(w, &dummy, "G4", "an event for user_data %#llx (res %lld), "
				        "which is not in flight: a second event, or one from "
				        "nowhere", (unsigned long long)ev[e].user_data,
				        (long long)ev[e].res);
				return -1;
			}
			batch_complete(w, b, i, &ev[e]);
			got++;
		}
	}
	return 0;
}

static int do_batch(struct chk_worker *w)
{
	struct chk_run *r = w->run;
	struct batch b;
	int n = 1 + (int)rnd(w, CHK_BATCH), outstanding;

	memset(&b, 0, sizeof(b));
	b.n = n;
	for (int i = 0; i < n; i++)
		batch_prepare(w, &b, i);
	watch(w, &(struct chk_op){ .kind = OK_CANCEL, .via = VIA_ASYNC });
	/* submit, possibly in pieces */
	while (b.sub < n) {
		int k = cio_ctx_submit(w->ctx, b.cop + b.sub, n - b.sub);

		if (k > 0) {
			for (int i = b.sub; i < b.sub + k; i++) {
				if (w->ops[i].kind == OK_WRITE) {
					struct chk_model *m = r->model[w->ops[i].file];

					chk_model_lock(m);
					chk_write_accepted(m, &w->ops[i]);
					chk_model_unlock(m);
				}
			}
			b.sub += k;
			continue;
		}
		if (k == -EAGAIN) {
			int live = 0;

			for (int i = 0; i < b.sub; i++)
				live += !w->ops[i].reaped;
			if (live && batch_reap(w, &b, 1) == 0)
				continue;
		}
		viol_op(w, &w->ops[b.sub], "G4", "cio_ctx_submit rejected a valid "
		        "operation: -%s", cli_errname(k));
		for (int i = b.sub; i < n; i++) {
			struct chk_op *op = &w->ops[i];
			struct chk_model *m = r->model[op->file];

			op->res = k;
			chk_model_lock(m);
			if (op->kind == OK_WRITE)
				chk_write_end(m, op, EFF_NONE, 0, false, 0);
			else if (op->kind == OK_TRUNC) {
				chk_trunc_end(m, op, EFF_NONE, 0);
				atomic_fetch_add(&r->trunc_ended[op->file], 1);
			} else if (op->kind == OK_READ)
				chk_read_end(m, op);
			else
				chk_other_end(m, op);
			chk_log_end(r->log, op);
			chk_model_unlock(m);
		}
		break;
	}
	/* cancel some */
	if (rnd(w, 100) < 30 && !(r->cfg.without & CHK_NO_CANCEL)) {
		int k = 1 + (int)rnd(w, (uint64_t)b.sub + 1);

		for (int j = 0; j < k && b.sub; j++) {
			struct chk_op *op = &w->ops[rnd(w, (uint64_t)b.sub)];
			int rc;

			if (op->reaped || op->cancel_rc != 1)
				continue;
			rc = cio_ctx_cancel(w->ctx, op->user_data);
			op->cancel_rc = rc;
			chk_log_cancel(r->log, op, rc);
			count(w, &(struct chk_op){ .kind = OK_CANCEL, .via = VIA_ASYNC }, false, 0);
			if (rc != 0 && rc != -EALREADY && rc != -ENOENT)
				viol_op(w, op, "G9", "cio_ctx_cancel returned %d", rc);
		}
	}
	/* reap everything */
	outstanding = 0;
	for (int i = 0; i < b.sub; i++)
		outstanding += !w->ops[i].reaped;
	if (outstanding && batch_reap(w, &b, outstanding) < 0) {
		unwatch(w);
		return n;
	}
	unwatch(w);
	{
		struct cio_event ev;
		struct timespec zero = { 0, 0 };
		int k = cio_ctx_getevents(w->ctx, 0, 1, &ev, &zero);

		if (k > 0)
			viol_op(w, &w->ops[0], "G4", "an extra event (user_data %#llx, res "
			        "%lld) after every operation of the batch had its own",
			        (unsigned long long)ev.user_data, (long long)ev.res);
	}
	/* G4: nothing touched a read buffer after its event */
	for (int i = 0; i < b.sub; i++) {
		struct chk_op *op = &w->ops[i];

		if (op->kind == OK_READ && op->res > 0 &&
		    fingerprint(op->buf, (uint64_t)op->res) != b.fp[i])
			viol_op(w, op, "G4", "its buffer changed after its event was reaped");
	}
	return n;
}

/* ---- the worker ------------------------------------------------------------ */

int chk_worker_init(struct chk_run *r, struct chk_worker *w, int id)
{
	int rc;

	memset(w, 0, sizeof(*w));
	w->run = r;
	w->id = id;
	w->rng = chk_mix(r->cfg.seed ^ chk_mix((uint64_t)id + 1));
	for (int i = 0; i < CHK_BATCH + 2; i++) {
		w->buf[i] = cli_alloc_aligned(4096, CHK_MAX_IO + 4096);
		if (!w->buf[i])
			return -ENOMEM;
	}
	w->vbuf = cli_alloc_aligned(4096, CHK_MAX_IO + 4096);
	if (!w->vbuf)
		return -ENOMEM;
	for (int f = 0; f < r->cfg.files; f++) {
		rc = cio_open(r->cache, r->path[f], O_RDWR, 0, &w->h[f]);
		if (rc < 0) {
			fprintf(stderr, "coherio check: cannot open %s through coherio: %s\n",
			        r->path[f], cio_strerror(rc));
			return rc;
		}
		w->g6[f].e0 = chk_file_wb_errors(w->h[f]);
	}
	rc = cio_ctx_create(r->cache, 2 * CHK_BATCH, &w->ctx);
	if (rc < 0) {
		fprintf(stderr, "coherio check: cannot create an async context: %s\n",
		        cio_strerror(rc));
		return rc;
	}
	return 0;
}

void chk_worker_fini(struct chk_worker *w)
{
	for (int i = 0; i < CHK_BATCH + 2; i++)
		free(w->buf[i]);
	free(w->vbuf);
	w->vbuf = NULL;
	memset(w->buf, 0, sizeof(w->buf));
}

static void park(struct chk_worker *w)
{
	struct chk_run *r = w->run;
	uint64_t gen;

	pthread_mutex_lock(&r->ctl_lock);
	gen = r->epoch;
	r->parked++;
	pthread_cond_broadcast(&r->ctl_cond);
	while (r->epoch == gen && !atomic_load(&r->stop))
		pthread_cond_wait(&r->ctl_cond, &r->ctl_lock);
	pthread_mutex_unlock(&r->ctl_lock);
}

/* The operation mix, per thousand; --without zeroes classes. */
enum {
	W_CWRITE, W_DWRITE, W_PWRITE, W_CREAD, W_DREAD, W_PREAD, W_BATCH, W_TRUNC,
	W_FSYNC, W_FDSYNC, W_INVAL, W_SIZE, W_BAD, W_FALLOC, W_N
};
static const struct { uint16_t weight; unsigned cls; } mix[W_N] = {
	[W_CWRITE] = { 175, CHK_NO_CACHED | CHK_NO_WRITE },
	[W_DWRITE] = { 100, CHK_NO_DIRECT | CHK_NO_WRITE },
	[W_PWRITE] = {  50, CHK_NO_PIN | CHK_NO_WRITE },
	[W_CREAD]  = { 200, CHK_NO_CACHED },
	[W_DREAD]  = { 115, CHK_NO_DIRECT },
	[W_PREAD]  = {  70, CHK_NO_PIN },
	[W_BATCH]  = { 165, CHK_NO_ASYNC },
	[W_TRUNC]  = {   7, CHK_NO_TRUNCATE },
	[W_FSYNC]  = {  25, CHK_NO_FSYNC },
	[W_FDSYNC] = {  13, CHK_NO_FSYNC },
	[W_INVAL]  = {  35, CHK_NO_INVAL },
	[W_SIZE]   = {  30, 0 },
	[W_BAD]    = {  10, 0 },
	[W_FALLOC] = {  12, CHK_NO_RESERVE | CHK_NO_PUNCH | CHK_NO_ZERO },
};

/* Is entry @i of the mix left out? (fallocate: once all its modes are) */
static bool mix_out(int i, unsigned no)
{
	if (i == W_FALLOC)
		return (mix[i].cls & no) == mix[i].cls;
	return (mix[i].cls & no) != 0;
}

/* One operation (or batch); returns how many operations it was. */
static int one_op(struct chk_worker *w)
{
	unsigned no = w->run->cfg.without;
	int file = (int)rnd(w, (uint64_t)w->run->cfg.files);
	uint64_t total = 0, k;
	int i;

	for (i = 0; i < W_N; i++)
		if (!mix_out(i, no))
			total += mix[i].weight;
	k = rnd(w, total);
	for (i = 0; i < W_N; i++) {
		if (mix_out(i, no))
			continue;
		if (k < mix[i].weight)
			break;
		k -= mix[i].weight;
	}
	switch (i) {
	case W_CWRITE: do_write(w, file, false); return 1;
	case W_DWRITE: do_write(w, file, true); return 1;
	case W_PWRITE: do_pin(w, file, true); return 1;
	case W_CREAD:  do_read(w, file, false); return 1;
	case W_DREAD:  do_read(w, file, true); return 1;
	case W_PREAD:  do_pin(w, file, false); return 1;
	case W_BATCH:  return do_batch(w);
	case W_TRUNC:  do_truncate(w, file); return 1;
	case W_FSYNC:  do_fsync(w, file, false); return 1;
	case W_FDSYNC: do_fsync(w, file, true); return 1;
	case W_INVAL:  do_invalidate(w, file); return 1;
	case W_SIZE:   do_size(w, file); return 1;
	case W_FALLOC: do_falloc(w, file); return 1;
	default:       do_bad(w, file); return 1;
	}
}

void *chk_worker_main(void *arg)
{
	struct chk_worker *w = arg;
	struct chk_run *r = w->run;
	uint64_t next_epoch = r->cfg.epoch_ops;

	while (!atomic_load(&r->stop) && !atomic_load(&r->time_up)) {
		if (w->budget && w->done_ops >= w->budget)
			break;
		if (w->done_ops >= next_epoch) {
			park(w);
			next_epoch += r->cfg.epoch_ops;
			continue;
		}
		w->done_ops += (uint64_t)one_op(w);
	}
	pthread_mutex_lock(&r->ctl_lock);
	r->active--;
	pthread_cond_broadcast(&r->ctl_cond);
	pthread_mutex_unlock(&r->ctl_lock);
	atomic_store(&w->exited, 1);
	return NULL;
}
