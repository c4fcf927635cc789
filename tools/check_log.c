/*
 * check_log.c - the operation log and the violation report.
 *
 * Every operation the checker issues is logged when it is invoked and again
 * when it completes (struct chk_rec): its kind, path, file, range, flags,
 * ticks and result. Normally the log is a ring of the most recent records;
 * in crash mode it is a flat array in memory shared with the parent, which
 * is how the child reports what it did (each completion is written before
 * the operation counts as complete) - the parent reads it after the kill.
 *
 * On a violation the printer walks the log for the offending block: the
 * operations that touched it (wrote it, cut or grew the file over it,
 * invalidated it, and in crash or fault runs the fsyncs of its file), oldest
 * first, from the oldest version the model still considered possible up to
 * the read that saw the violation. That is the shortest history that shows
 * it: everything older had been overwritten for certain.
 *
 * Locks: l_lock protects the records and the count (a leaf lock).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

struct chk_log {
	pthread_mutex_t l_lock;
	struct chk_rec *l_rec;
	uint64_t l_size;            /* records the array holds                */
	bool     l_ring;            /* wrap (private) or stop when full       */
	_Atomic uint64_t *l_count;  /* records ever appended                  */
	_Atomic uint64_t l_own;     /* l_count of a private log               */
};

struct chk_log *chk_log_new(unsigned order)
{
	struct chk_log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->l_size = (uint64_t)1 << order;
	l->l_rec = calloc(l->l_size, sizeof(struct chk_rec));
	if (!l->l_rec) {
		free(l);
		return NULL;
	}
	l->l_ring = true;
	l->l_count = &l->l_own;
	pthread_mutex_init(&l->l_lock, NULL);
	return l;
}

struct chk_log *chk_log_shared(struct chk_rec *mem, uint64_t cap,
                               _Atomic uint64_t *count)
{
	struct chk_log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->l_rec = mem;
	l->l_size = cap;
	l->l_ring = false;
	l->l_count = count;
	pthread_mutex_init(&l->l_lock, NULL);
	return l;
}

void chk_log_free(struct chk_log *l)
{
	if (!l)
		return;
	if (l->l_ring)
		free(l->l_rec);
	pthread_mutex_destroy(&l->l_lock);
	free(l);
}

void chk_op_to_rec(const struct chk_op *op, struct chk_rec *r)
{
	memset(r, 0, sizeof(*r));
	r->inv = op->inv;
	r->resp = op->resp;
	r->off = op->off;
	r->len = op->len;
	r->res = op->res;
	r->res2 = op->res2;
	r->flags = op->flags;
	r->kind = op->kind;
	r->via = op->via;
	r->file = op->file;
	r->thread = op->thread;
	r->done = op->resp != 0;
	if (op->cancel_rc != 1)
		r->cancel = op->cancel_rc == 0 ? 1 : op->cancel_rc == -EALREADY ? 2 : 3;
}

bool chk_log_begin(struct chk_log *l, struct chk_op *op)
{
	uint64_t idx;
	struct chk_rec *r;

	pthread_mutex_lock(&l->l_lock);
	idx = atomic_load(l->l_count);
	if (!l->l_ring && idx >= l->l_size) {
		pthread_mutex_unlock(&l->l_lock);
		op->logslot = UINT64_MAX;
		return false;
	}
	r = &l->l_rec[l->l_ring ? idx & (l->l_size - 1) : idx];
	chk_op_to_rec(op, r);
	r->resp = 0;
	r->done = 0;
	op->logslot = idx;
	atomic_store(l->l_count, idx + 1);
	pthread_mutex_unlock(&l->l_lock);
	return true;
}

static struct chk_rec *slot_of(struct chk_log *l, const struct chk_op *op)
{
	uint64_t n = atomic_load(l->l_count);
	struct chk_rec *r;

	if (op->logslot == UINT64_MAX || op->logslot >= n ||
	    n - op->logslot > l->l_size)
		return NULL;
	r = &l->l_rec[l->l_ring ? op->logslot & (l->l_size - 1) : op->logslot];
	return r->inv == op->inv ? r : NULL;
}

void chk_log_end(struct chk_log *l, const struct chk_op *op)
{
	struct chk_rec *r;

	pthread_mutex_lock(&l->l_lock);
	r = slot_of(l, op);
	if (r) {
		r->resp = op->resp;
		r->res = op->res;
		r->res2 = op->res2;
		r->flags = op->flags;
		r->done = 1;
	}
	pthread_mutex_unlock(&l->l_lock);
}

void chk_log_cancel(struct chk_log *l, const struct chk_op *op, int rc)
{
	struct chk_rec *r;

	pthread_mutex_lock(&l->l_lock);
	r = slot_of(l, op);
	if (r)
		r->cancel = rc == 0 ? 1 : rc == -EALREADY ? 2 : 3;
	pthread_mutex_unlock(&l->l_lock);
}

uint64_t chk_log_count(struct chk_log *l)
{
	uint64_t n = atomic_load(l->l_count);

	if (!l->l_ring && n > l->l_size)
		n = l->l_size;
	return l->l_ring && n > l->l_size ? l->l_size : n;
}

bool chk_log_get(struct chk_log *l, uint64_t i, struct chk_rec *out)
{
	uint64_t n, first;
	bool ok = false;

	pthread_mutex_lock(&l->l_lock);
	n = atomic_load(l->l_count);
	if (!l->l_ring && n > l->l_size)
		n = l->l_size;
	first = l->l_ring && n > l->l_size ? n - l->l_size : 0;
	if (first + i < n) {
		*out = l->l_rec[l->l_ring ? (first + i) & (l->l_size - 1) : first + i];
		ok = true;
	}
	pthread_mutex_unlock(&l->l_lock);
	return ok;
}

/* ---- describing operations ------------------------------------------------ */

const char *chk_falloc_mode_name(uint32_t mode)
{
	switch (mode & ~(uint32_t)CIO_FALLOC_POSIX) {
	case 0:  return mode & CIO_FALLOC_POSIX ? "reserve (posix)" : "reserve";
	case FALLOC_FL_KEEP_SIZE: return "reserve keep-size";
	case FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE: return "punch keep-size";
	case FALLOC_FL_ZERO_RANGE: return "zero-range";
	case FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE: return "zero-range keep-size";
	case FALLOC_FL_COLLAPSE_RANGE: return "collapse-range";
	case FALLOC_FL_INSERT_RANGE: return "insert-range";
	default: return "mode ?";
	}
}

const char *chk_kind_name(int kind, int via)
{
	static const char *const rw[VIA_N][2] = {
		[VIA_CACHED] = { "cached read", "cached write" },
		[VIA_DIRECT] = { "direct read", "direct write" },
		[VIA_ACACHED] = { "async cached read", "async cached write" },
		[VIA_ADIRECT] = { "async direct read", "async direct write" },
		[VIA_PIN] = { "read pin", "write pin" },
		[VIA_SYNC] = { "read", "write" },
		[VIA_ASYNC] = { "async read", "async write" },
	};
	bool a = via == VIA_ASYNC || via == VIA_ACACHED || via == VIA_ADIRECT;

	switch (kind) {
	case OK_READ:   return via < VIA_N ? rw[via][0] : "read";
	case OK_WRITE:  return via < VIA_N ? rw[via][1] : "write";
	case OK_PINR:   return "read pin";
	case OK_PINW:   return "write pin";
	case OK_TRUNC:  return a ? "async truncate" : "truncate";
	case OK_FSYNC:  return a ? "async fsync" : "fsync";
	case OK_FDSYNC: return a ? "async fdatasync" : "fdatasync";
	case OK_INVAL:  return a ? "async invalidate" : "invalidate";
	case OK_SIZE:   return "cio_size";
	case OK_BAD:    return "bad-argument call";
	case OK_CANCEL: return "async batch (submit, cancel, reap)";
	case OK_FALLOC: return "fallocate";
	default:        return "operation";
	}
}

static void flags_text(const struct chk_rec *r, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	if (r->kind == OK_READ || r->kind == OK_WRITE) {
		if (r->flags & CIO_RW_DSYNC)
			n += (size_t)snprintf(buf + n, len - n, " dsync");
		if (r->flags & CIO_RW_NOWAIT)
			n += (size_t)snprintf(buf + n, len - n, " nowait");
	} else if (r->kind == OK_PINR || r->kind == OK_PINW) {
		if (r->flags & CIO_PIN_NOWAIT)
			n += (size_t)snprintf(buf + n, len - n, " nowait");
	} else if (r->kind == OK_TRUNC) {
		if (r->flags & CIO_TRUNC_NOWAIT)
			n += (size_t)snprintf(buf + n, len - n, " nowait");
	} else if (r->kind == OK_INVAL) {
		if (r->flags & CIO_INVAL_WAIT)
			n += (size_t)snprintf(buf + n, len - n, " wait");
	} else if (r->kind == OK_FALLOC) {
		n += (size_t)snprintf(buf + n, len - n, " %s", chk_falloc_mode_name(r->flags));
	}
	(void)n;
}

void chk_rec_describe(const struct chk_rec *r, char *buf, size_t len)
{
	char fl[64], res[96], who[16];
	size_t n;

	flags_text(r, fl, sizeof(fl));
	if (r->thread == 0xff)
		snprintf(who, sizeof(who), "checker");
	else
		snprintf(who, sizeof(who), "T%u", r->thread);
	if (!r->done)
		snprintf(res, sizeof(res), "(no result: in flight)");
	else if (r->res < 0)
		snprintf(res, sizeof(res), "-> -%s", cli_errname((int)r->res));
	else if (r->res2)
		snprintf(res, sizeof(res), "-> %lld, res2 -%s", (long long)r->res,
		         cli_errname(r->res2));
	else
		snprintf(res, sizeof(res), "-> %lld", (long long)r->res);
	switch (r->kind) {
	case OK_TRUNC:
		n = (size_t)snprintf(buf, len, "%-7s %s to %lld%s", who,
		                     chk_kind_name(r->kind, r->via), (long long)r->off, fl);
		break;
	case OK_FSYNC: case OK_FDSYNC: case OK_SIZE:
		n = (size_t)snprintf(buf, len, "%-7s %s%s", who,
		                     chk_kind_name(r->kind, r->via), fl);
		break;
	case OK_INVAL:
		if (r->len)
			n = (size_t)snprintf(buf, len, "%-7s %s [%lld, +%llu)%s", who,
			                     chk_kind_name(r->kind, r->via), (long long)r->off,
			                     (unsigned long long)r->len, fl);
		else
			n = (size_t)snprintf(buf, len, "%-7s %s [%lld, end)%s", who,
			                     chk_kind_name(r->kind, r->via), (long long)r->off, fl);
		break;
	default:
		n = (size_t)snprintf(buf, len, "%-7s %s [%lld, +%llu)%s", who,
		                     chk_kind_name(r->kind, r->via), (long long)r->off,
		                     (unsigned long long)r->len, fl);
	}
	if (n < len)
		n += (size_t)snprintf(buf + n, len - n, " %s", res);
	if (n < len && r->cancel)
		snprintf(buf + n, len - n, " (cancel said %s)", r->cancel == 1 ? "0" :
		         r->cancel == 2 ? "-EALREADY" : "-ENOENT");
}

/* ---- the report ------------------------------------------------------------ */

/* Does record @r touch cell @c of its file? */
static bool rec_touches(const struct chk_rec *r, int64_t c, const struct chk_viol *v,
                        bool durability, uint32_t page)
{
	uint64_t cs = (uint64_t)c * CHK_CELL, ce = cs + CHK_CELL;
	uint64_t ps = (uint64_t)c * CHK_CELL / page * page, pe = ps + page;

	switch (r->kind) {
	case OK_WRITE: case OK_PINW: case OK_READ: case OK_PINR:
		if ((uint64_t)r->off < ce && (uint64_t)r->off + r->len > cs)
			return true;
		/* a write below the block's old end: it may have opened a hole */
		for (int i = 0; r->kind == OK_WRITE || r->kind == OK_PINW ?
		     i < v->nver : 0; i++)
			if (v->ver[i].inv == r->inv)
				return true;
		return false;
	case OK_TRUNC:
		return true;
	case OK_FALLOC:  /* a growing one may open a hole below its range;
	                  * collapse and insert move every block after it */
		if (!(r->flags & FALLOC_FL_KEEP_SIZE) ||
		    (r->flags & (FALLOC_FL_COLLAPSE_RANGE | FALLOC_FL_INSERT_RANGE)))
			return true;
		return (uint64_t)r->off < ce && (uint64_t)r->off + r->len > cs;
	case OK_INVAL:   /* it launders and drops whole pages */
		return (uint64_t)r->off < pe && (!r->len || (uint64_t)r->off + r->len > ps);
	case OK_FSYNC: case OK_FDSYNC:
		return durability;
	default:
		return false;
	}
}

static const struct chk_rec *find_inv(const struct chk_rec *v, size_t n, uint64_t inv)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].inv == inv)
			return &v[i];
	return NULL;
}

static const char *name_guarantee(const struct chk_viol *v, const struct chk_rec *newer)
{
	bool reader_direct = v->op.via == VIA_DIRECT || v->op.via == VIA_ADIRECT;

	if (strcmp(v->g, "stale") != 0)
		return v->g;
	if (!newer)
		return "G3";
	if (newer->kind == OK_TRUNC)
		return "G8";
	if (newer->kind == OK_FALLOC)   /* its zeros reached the device first */
		return "G1";
	if (newer->via == VIA_DIRECT || newer->via == VIA_ADIRECT)
		return "G1";
	if (reader_direct)
		return "G2";
	return "G3";
}

static const char *g_text(const char *g)
{
	if (!strcmp(g, "G1")) return "a completed direct write is visible everywhere";
	if (!strcmp(g, "G2")) return "direct reads see cached writes";
	if (!strcmp(g, "G3")) return "nothing ever drops dirty data";
	if (!strcmp(g, "G4")) return "every operation completes exactly once, with its true result";
	if (!strcmp(g, "G5")) return "no uninitialised data; the size grows only with the data";
	if (!strcmp(g, "G6")) return "write-back errors are kept and reported to everyone";
	if (!strcmp(g, "G7")) return "pins are latches";
	if (!strcmp(g, "G8")) return "truncate drains in-flight I/O";
	if (!strcmp(g, "G9")) return "cancellation is all or nothing";
	if (!strcmp(g, "G9/G11")) return "cancelled or rejected operations have no effect";
	if (!strcmp(g, "G11")) return "bad input gets a clear error and changes nothing";
	if (!strcmp(g, "durability")) return "completed fsyncs and direct writes survive a crash";
	if (!strcmp(g, "hang")) return "every operation completes";
	return "the model";
}

static void print_versions(FILE *fp, const struct chk_viol *v, const struct chk_rec *recs,
                           size_t nrec)
{
	uint64_t f = 0;

	for (int i = 0; i < v->nver; i++) {
		const struct chk_ver *x = &v->ver[i];

		if ((x->flags & VF_DEF) && chk_ver_resp(x, v->op.inv) < v->op.inv && x->inv > f)
			f = x->inv;
	}
	fprintf(fp, "  The model's versions of the block when the read began (t=%llu):\n",
	        (unsigned long long)v->op.inv);
	for (int i = 0; i < v->nver; i++) {
		const struct chk_ver *x = &v->ver[i];
		const struct chk_rec *r = find_inv(recs, nrec, x->inv);
		uint64_t xr = chk_ver_resp(x, v->op.inv);
		bool live = xr == UINT64_MAX || xr >= f;
		char who[160] = "";

		if (r)
			chk_rec_describe(r, who, sizeof(who));
		else if (x->inv == 0 || x->inv == x->resp)
			snprintf(who, sizeof(who), "the file as it was at the start");
		else
			snprintf(who, sizeof(who), "(operation no longer in the log)");
		fprintf(fp, "    %-6s of #%-10llu %-9s %-10s %s\n",
		        x->kind == VK_DATA ? "data" : x->kind == VK_ZERO ? "hole" : "absent",
		        (unsigned long long)x->inv,
		        !(x->flags & VF_DONE) ? "in flight" :
		        (x->flags & VF_DEF) ? "definite" : "maybe",
		        live ? "possible" : "overwritten", who);
	}
}

void chk_viol_print(FILE *fp, const struct chk_viol *v, struct chk_log *l,
                    const struct chk_cfg *cfg)
{
	struct chk_rec *recs = NULL, *hist = NULL;
	size_t nrec = 0, nh = 0, cap = 0;
	uint64_t start = UINT64_MAX;
	const struct chk_rec *newer = NULL, *seen = NULL;
	const char *g;
	bool durability = cfg->crash || cfg->faults;

	/* the records of this file, oldest first */
	if (l && v->cell >= 0) {
		struct chk_rec r;

		for (uint64_t i = 0; chk_log_get(l, i, &r); i++) {
			if (r.file != v->file || r.inv > v->tick)
				continue;
			if (nrec == cap) {
				size_t nc = cap ? cap * 2 : 1024;
				struct chk_rec *nr = realloc(recs, nc * sizeof(*nr));

				if (!nr)
					break;
				recs = nr;
				cap = nc;
			}
			recs[nrec++] = r;
		}
	}
	if (v->newer_inv)
		newer = find_inv(recs, nrec, v->newer_inv);
	if (v->seen_inv)
		seen = find_inv(recs, nrec, v->seen_inv);
	g = name_guarantee(v, newer);
	/* a cached write lost after a failed write-back: G6 */
	if (newer && !strcmp(v->g, "stale") && newer->via != VIA_DIRECT &&
	    newer->via != VIA_ADIRECT && newer->kind != OK_TRUNC &&
	    newer->kind != OK_FALLOC)
		for (size_t i = 0; i < nrec; i++)
			if ((recs[i].kind == OK_FSYNC || recs[i].kind == OK_FDSYNC) &&
			    recs[i].inv > newer->inv && recs[i].done && recs[i].res < 0)
				g = "G6";

	fprintf(fp, "\nVIOLATION of %s (%s):\n  %s\n", g, g_text(g), v->what);
	if (newer && strcmp(v->g, "stale") == 0) {
		char d[200];

		chk_rec_describe(newer, d, sizeof(d));
		fprintf(fp, "  The newest write of the block that had surely completed "
		        "before the read began:\n    #%llu [t=%llu..%llu] %s\n",
		        (unsigned long long)newer->inv, (unsigned long long)newer->inv,
		        (unsigned long long)newer->resp, d);
	}
	if (seen) {
		char d[200];

		chk_rec_describe(seen, d, sizeof(d));
		fprintf(fp, "  The version read came from:\n    #%llu [t=%llu..%llu] %s\n",
		        (unsigned long long)seen->inv, (unsigned long long)seen->inv,
		        (unsigned long long)seen->resp, d);
	}
	if (v->cell < 0 || !l) {
		free(recs);
		return;
	}

	/* the window: from the oldest version still possible (everything
	 * before it was overwritten for certain) to the read */
	for (int i = 0; i < v->nver; i++)
		if (v->ver[i].inv && v->ver[i].inv != v->ver[i].resp &&
		    v->ver[i].inv < start)
			start = v->ver[i].inv;
	if (v->seen_inv && v->seen_inv < start)
		start = v->seen_inv;
	if (v->newer_inv && v->newer_inv < start)
		start = v->newer_inv;
	if (start == UINT64_MAX)
		start = 0;
	for (size_t i = 0; i < nrec; i++) {
		const struct chk_rec *r = &recs[i];
		bool self = r->inv == v->op.inv;

		if (!self && (r->inv < start ||
		              (!cfg->verbose && (!rec_touches(r, v->cell, v, durability,
		                                              cfg->page_size ? cfg->page_size : 4096) ||
		                                 r->kind == OK_READ || r->kind == OK_PINR))))
			continue;
		if (nh % 256 == 0) {
			struct chk_rec *nr = realloc(hist, (nh + 256) * sizeof(*nr));

			if (!nr)
				break;
			hist = nr;
		}
		hist[nh++] = *r;
	}
	if (!nh || hist[nh - 1].inv != v->op.inv) {
		/* the offending operation itself (it may not be logged yet) */
		struct chk_rec *nr = realloc(hist, (nh + 1) * sizeof(*nr));

		if (nr) {
			hist = nr;
			hist[nh++] = v->op;
		}
	}
	fprintf(fp, "  History of block %lld of file %d (bytes %lld-%lld): the "
	        "operations that changed it or the file's size, and the "
	        "invalidations of its page, oldest first, [t=invoked..returned]:\n", (long long)v->cell, v->file,
	        (long long)v->cell * CHK_CELL, (long long)v->cell * CHK_CELL + CHK_CELL - 1);
	for (size_t i = 0; i < nh; i++) {
		char d[220];
		const struct chk_rec *r = &hist[i];

		if (nh > 60 && i == 10) {
			fprintf(fp, "    ... %zu operations ...\n", nh - 60);
			i = nh - 50;
			r = &hist[i];
		}
		chk_rec_describe(r, d, sizeof(d));
		fprintf(fp, "    #%-10llu [t=%llu..%llu] %s%s\n", (unsigned long long)r->inv,
		        (unsigned long long)r->inv, (unsigned long long)r->resp, d,
		        r->inv == v->op.inv ? "   <== this one" : "");
	}
	if (v->nver)
		print_versions(fp, v, recs, nrec);
	free(hist);
	free(recs);
}
