/*
 * check_model.c - the reference model: for every 64-byte cell of a file,
 * the versions it may hold, and the judgement of what a read returned.
 *
 * Versions (struct chk_ver) are DATA (a write's stamp), ZERO (a hole: the
 * file grew over the cell without writing it, or a truncate up uncovered
 * it) and ABSENT (past the end of file). Each names the operation that made
 * it by its invocation tick, carries its completion tick once known, and is
 * definite (VF_DEF) when that operation surely did it (returned success for
 * the cell). Failed writes stay as versions that may or may not be there:
 * their blocks may hold old or new data.
 *
 * The rule (regularity of a register, per cell). For a read invoked at tick
 * R, let F = the largest invocation tick among the definite versions that
 * completed before R. A version is live for R unless it completed before F
 * (then a definite version that started after it had finished before R
 * started: it is overwritten). The read may return any live version; a
 * stamp of a version not in the list (cancelled, rejected, never written)
 * or not live, zeros without a live ZERO, end of file without a live ABSENT,
 * or a block that is no whole stamp at all is a violation.
 *
 * Growing and cutting. A truncate to S adds ABSENT to the cells >= S and
 * ZERO to the cells below S that may be absent now; a write adds ZERO to the
 * cells below it that may be absent (the hole it opens). Such a ZERO is
 * definite (VF_GAPDEF) only if the cell was surely absent when the operation
 * started (nothing else live, nothing in flight). A truncate invoked while a
 * write or truncate that may grow the file is in flight (the model's
 * "extenders") also adds that operation's ZERO to the cells it may uncover
 * again after the cut. G8: a truncate drains the async writes accepted
 * before it, so when it succeeds their versions above the cut end "just
 * before" it (VF_DRAINED, completion tick = its invocation - 1).
 *
 * Pruning: a version is dropped once it is stale for every read in flight
 * (the oldest read's F passes it) - reads register their invocation ticks.
 * Cells at or above the high-water mark hw hold only their first version.
 *
 * Locks: one mutex per file model (m_lock) protects everything in it and
 * the model fields of the chk_op structures on its lists. Callers take it
 * around each call; it is never held across a coherio call.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"

struct chk_cell {
	uint32_t n, cap;
	struct chk_ver *v;
	struct chk_ver inl[1];     /* first version, no allocation            */
};

struct chk_model {
	pthread_mutex_t m_lock;
	int      m_file;
	uint64_t m_ncells;
	struct chk_cell *m_cells;
	uint64_t m_hw;             /* cells >= m_hw hold only their first
	                            * version (never touched since)           */
	uint64_t m_absent_lo;      /* no cell below it may be absent          */
	struct chk_op *m_ext;      /* writes and truncates in flight          */
	uint64_t *m_reads;         /* invocation ticks of reads in flight     */
	int      m_nreads, m_maxreads;
	uint64_t m_checked;        /* cells judged                            */
	uint32_t m_page;           /* the cache's page size (write grain)     */
	bool     m_disk;           /* the disk's view (crash check): a cached
	                            * write's own cells may be holes there   */
};

static _Atomic uint64_t g_clock;

uint64_t chk_tick(void)
{
	return atomic_fetch_add(&g_clock, CHK_TICK) + CHK_TICK;
}

void chk_clock_set(uint64_t t)
{
	atomic_store(&g_clock, t);
}

uint64_t chk_clock_now(void)
{
	return atomic_load(&g_clock);
}

/* ---- cells --------------------------------------------------------------- */

static void cell_init(struct chk_cell *c, const struct chk_ver *first)
{
	c->n = 1;
	c->cap = 1;
	c->v = c->inl;
	c->inl[0] = *first;
}

static void cell_free(struct chk_cell *c)
{
	if (c->v != c->inl)
		free(c->v);
	c->v = c->inl;
	c->n = 0;
	c->cap = 1;
}

static void cell_add(struct chk_cell *c, uint64_t inv, uint32_t writer,
                     uint8_t kind, uint8_t flags)
{
	if (c->n == c->cap) {
		uint32_t cap = c->cap < 4 ? 4 : c->cap * 2;
		struct chk_ver *nv = malloc(cap * sizeof(*nv));

		if (!nv) {
			fprintf(stderr, "coherio check: out of memory for the model\n");
			_exit(CLI_EXIT_ERROR);
		}
		memcpy(nv, c->v, c->n * sizeof(*nv));
		if (c->v != c->inl)
			free(c->v);
		c->v = nv;
		c->cap = cap;
	}
	c->v[c->n++] = (struct chk_ver){ inv, 0, writer, kind, flags, 0, 0 };
}

static void cell_del(struct chk_cell *c, uint32_t i)
{
	c->v[i] = c->v[--c->n];
}

/* F: the largest invocation tick of a definite version completed before
 * tick @before. */
static uint64_t cell_floor(const struct chk_cell *c, uint64_t before)
{
	uint64_t f = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		const struct chk_ver *v = &c->v[i];

		if ((v->flags & VF_DEF) && chk_ver_resp(v, before) < before && v->inv > f)
			f = v->inv;
	}
	return f;
}

/* Is @v live for a read invoked at @r whose floor is @f? */
static bool ver_live(const struct chk_ver *v, uint64_t f, uint64_t r)
{
	uint64_t resp = chk_ver_resp(v, r);
	return resp == UINT64_MAX || resp >= f;
}

static bool has_live(const struct chk_cell *c, uint8_t kind, uint64_t f, uint64_t r)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->v[i].kind == kind && ver_live(&c->v[i], f, r))
			return true;
	return false;
}

static uint64_t horizon(const struct chk_model *m)
{
	uint64_t h = UINT64_MAX;

	for (int i = 0; i < m->m_nreads; i++)
		if (m->m_reads[i] < h)
			h = m->m_reads[i];
	return h;
}

/*
 * Drop what no reader in flight or to come can get: versions completed
 * before the floor of the oldest read in flight (@hz). Of the completed
 * holes that are not definite only the one that completed last matters
 * (it stays possible longest and none of them moves the floor).
 */
static void cell_prune(struct chk_cell *c, uint64_t hz)
{
	uint64_t f;
	int32_t maybe0 = -1;

	if (c->n < 2)
		return;
	f = cell_floor(c, hz);
	for (uint32_t i = 0; i < c->n;) {
		struct chk_ver *v = &c->v[i];

		if (chk_ver_resp(v, hz) < f) {
			cell_del(c, i);
			continue;
		}
		if (v->kind == VK_ZERO && (v->flags & (VF_DONE | VF_DEF)) == VF_DONE) {
			if (maybe0 < 0) {
				maybe0 = (int32_t)i;
			} else if (chk_ver_resp(&c->v[maybe0], hz) >= chk_ver_resp(v, hz)) {
				cell_del(c, i);
				continue;
			} else {
				c->v[maybe0] = *v;
				cell_del(c, i);
				continue;
			}
		}
		i++;
	}
}

/* ---- the model ------------------------------------------------------------ */

struct chk_model *chk_model_new(int file, uint64_t ncells, int maxreads)
{
	struct chk_model *m = calloc(1, sizeof(*m));
	struct chk_ver first = { 0, 0, 0, VK_ABSENT, VF_DEF | VF_DONE, 0, 0 };

	if (!m)
		return NULL;
	m->m_cells = calloc(ncells ? ncells : 1, sizeof(*m->m_cells));
	m->m_maxreads = maxreads > 4 ? maxreads : 4;
	m->m_reads = calloc((size_t)m->m_maxreads, sizeof(uint64_t));
	if (!m->m_cells || !m->m_reads) {
		free(m->m_cells);
		free(m->m_reads);
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->m_lock, NULL);
	m->m_file = file;
	m->m_ncells = ncells;
	for (uint64_t c = 0; c < ncells; c++)
		cell_init(&m->m_cells[c], &first);
	m->m_hw = 0;
	m->m_absent_lo = 0;
	m->m_page = 4096;
	return m;
}

void chk_model_free(struct chk_model *m)
{
	if (!m)
		return;
	for (uint64_t c = 0; c < m->m_ncells; c++)
		cell_free(&m->m_cells[c]);
	free(m->m_cells);
	free(m->m_reads);
	pthread_mutex_destroy(&m->m_lock);
	free(m);
}

void chk_model_baseline(struct chk_model *m, const uint8_t *img, uint64_t size,
                        uint64_t base)
{
	uint64_t hw = (size + CHK_CELL - 1) / CHK_CELL;

	for (uint64_t c = 0; c < m->m_ncells; c++) {
		struct chk_ver first = { base, base, 0, VK_ABSENT, VF_DEF | VF_DONE, 0, 0 };
		struct chk_stamp st;

		if (c < hw) {
			if (chk_stamp_parse(img + c * CHK_CELL, &st) == CELL_STAMP &&
			    st.file == (uint32_t)m->m_file && st.off == c * CHK_CELL) {
				first.kind = VK_DATA;
				first.inv = st.seq;
				first.writer = st.writer;
			} else {
				/* zeros, or (checked by the caller before) nothing
				 * else: the image was verified */
				first.kind = VK_ZERO;
			}
		}
		cell_free(&m->m_cells[c]);
		cell_init(&m->m_cells[c], &first);
	}
	m->m_hw = hw < m->m_ncells ? hw : m->m_ncells;
	m->m_absent_lo = size / CHK_CELL;
}

void chk_model_lock(struct chk_model *m)
{
	pthread_mutex_lock(&m->m_lock);
}

void chk_model_unlock(struct chk_model *m)
{
	pthread_mutex_unlock(&m->m_lock);
}

void chk_model_set_page(struct chk_model *m, uint32_t page)
{
	m->m_page = page;
}

void chk_model_set_disk(struct chk_model *m, bool disk)
{
	m->m_disk = disk;
}

uint64_t chk_model_ncells(const struct chk_model *m)
{
	return m->m_ncells;
}

uint64_t chk_model_cells_checked(struct chk_model *m)
{
	uint64_t n;

	pthread_mutex_lock(&m->m_lock);
	n = m->m_checked;
	pthread_mutex_unlock(&m->m_lock);
	return n;
}

/* ---- extenders ------------------------------------------------------------ */

static void ext_add(struct chk_model *m, struct chk_op *op)
{
	op->ext_prev = NULL;
	op->ext_next = m->m_ext;
	if (m->m_ext)
		m->m_ext->ext_prev = op;
	m->m_ext = op;
	op->on_ext = true;
}

static void ext_del(struct chk_model *m, struct chk_op *op)
{
	if (!op->on_ext)
		return;
	if (op->ext_prev)
		op->ext_prev->ext_next = op->ext_next;
	else
		m->m_ext = op->ext_next;
	if (op->ext_next)
		op->ext_next->ext_prev = op->ext_prev;
	op->ext_prev = op->ext_next = NULL;
	op->on_ext = false;
}

/*
 * Cells at and above m_hw hold only their first version. When an operation
 * reaches past it, the truncates in flight whose cut lies below the new
 * cells must have their ABSENT there too (they may still cut them).
 */
static void hw_raise(struct chk_model *m, uint64_t hw)
{
	if (hw > m->m_ncells)
		hw = m->m_ncells;
	if (hw <= m->m_hw)
		return;
	for (struct chk_op *e = m->m_ext; e; e = e->ext_next) {
		if (e->kind != OK_TRUNC || e->c0 >= hw)
			continue;
		for (uint64_t c = e->c0 > m->m_hw ? e->c0 : m->m_hw; c < hw; c++)
			cell_add(&m->m_cells[c], e->inv, e->thread, VK_ABSENT, 0);
		if (e->c1 < hw)
			e->c1 = hw;
	}
	m->m_hw = hw;
}

/*
 * The cells in [lo, hi) that may be absent get a ZERO of @op (they become
 * a hole if @op grows the file over them). Moves m_absent_lo up to the
 * first cell still absent-able (or @hi).
 */
static void gap_scan(struct chk_model *m, struct chk_op *op, uint64_t lo,
                     uint64_t hi)
{
	uint64_t first = UINT64_MAX, hz = horizon(m);

	if (hi > m->m_ncells)
		hi = m->m_ncells;
	for (uint64_t c = lo; c < hi; c++) {
		struct chk_cell *cell = &m->m_cells[c];
		bool absent = false, only = true;
		uint64_t f;

		/* The hole is surely one if @op grows the file (GAPDEF) when no
		 * data is possible or in flight there: absent or zero before,
		 * zero after. */
		if (c >= m->m_hw) {            /* only its first version: absent */
			absent = cell->n == 1 && cell->v[0].kind == VK_ABSENT;
			only = absent;
		} else {
			cell_prune(cell, hz);
			f = cell_floor(cell, UINT64_MAX);
			for (uint32_t i = 0; i < cell->n; i++) {
				const struct chk_ver *v = &cell->v[i];

				if (v->kind == VK_DATA && (!(v->flags & VF_DONE) ||
				                          ver_live(v, f, UINT64_MAX)))
					only = false;
				if (v->kind == VK_ABSENT && ver_live(v, f, UINT64_MAX))
					absent = true;
			}
		}
		if (!absent)
			continue;
		if (first == UINT64_MAX)
			first = c;
		cell_add(cell, op->inv, op->thread, VK_ZERO, only ? VF_GAPDEF : 0);
		if (c < op->gap_lo)
			op->gap_lo = c;
	}
	m->m_absent_lo = first == UINT64_MAX ? hi : first;
}

/* ---- writes ------------------------------------------------------------------ */

void chk_write_begin(struct chk_model *m, struct chk_op *op, uint64_t tick)
{
	uint64_t hz;
	uint64_t c0 = (uint64_t)op->off / CHK_CELL;
	uint64_t c1 = ((uint64_t)op->off + op->len) / CHK_CELL;

	op->inv = tick ? tick : chk_tick();
	if (c1 > m->m_ncells)
		c1 = m->m_ncells;
	op->c0 = c0;
	op->c1 = c1;
	op->gap_lo = c0;
	op->accepted = false;
	op->drained = false;
	hz = horizon(m);
	if (m->m_disk && op->via != VIA_DIRECT && op->via != VIA_ADIRECT) {
		/* On the disk a cached or pinned write that is not yet written
		 * back leaves its own cells a hole if the file grows past them
		 * first (a later page written back, the trim to coherio's size
		 * at fsync). Scanned before its own data versions go in: a
		 * cell past the high water is a gap only while absent alone. */
		if (m->m_absent_lo < c1)
			gap_scan(m, op, m->m_absent_lo, c1);
	} else if (m->m_absent_lo < c0) {
		gap_scan(m, op, m->m_absent_lo, c0);
	}
	for (uint64_t c = c0; c < c1; c++) {
		if (m->m_cells[c].n >= 6)
			cell_prune(&m->m_cells[c], hz);
		cell_add(&m->m_cells[c], op->inv, op->thread, VK_DATA, 0);
	}
	hw_raise(m, c1);
	ext_add(m, op);
}

void chk_write_accepted(struct chk_model *m, struct chk_op *op)
{
	(void)m;
	op->accepted = true;
}

/* Complete version @v of an operation that ended at @resp. */
static void ver_finish(struct chk_ver *v, uint64_t resp, bool def)
{
	if (!(v->flags & VF_DRAINED)) {
		v->resp = resp;
	} else if (!(v->flags & VF_REAL)) {
		v->real = resp;
		v->flags |= VF_REAL;
	}
	v->flags |= VF_DONE;
	if (def)
		v->flags |= VF_DEF;
}

/*
 * Settle the versions made by invocation @inv in cells [lo, hi): delete
 * them (@del), or complete them at @resp, definite as follows: DATA below
 * cell @def_below; ZERO if @gap_def and the hole was surely one (GAPDEF);
 * ABSENT if @def_below is UINT64_MAX (a truncate that succeeded).
 */
static void cells_settle(struct chk_model *m, uint64_t lo, uint64_t hi,
                         uint64_t inv, bool del, uint64_t resp,
                         uint64_t def_below, bool gap_def)
{
	if (hi > m->m_ncells)
		hi = m->m_ncells;
	for (uint64_t c = lo; c < hi; c++) {
		struct chk_cell *cell = &m->m_cells[c];

		for (uint32_t i = 0; i < cell->n;) {
			struct chk_ver *v = &cell->v[i];

			if (v->inv != inv) {
				i++;
				continue;
			}
			if (del) {
				cell_del(cell, i);
				continue;
			}
			if (v->kind == VK_ZERO)
				ver_finish(v, resp, gap_def && (v->flags & VF_GAPDEF));
			else if (v->kind == VK_DATA)
				ver_finish(v, resp, c < def_below);
			else
				ver_finish(v, resp, def_below == UINT64_MAX);
			i++;
		}
	}
}

void chk_write_end(struct chk_model *m, struct chk_op *op, int eff,
                   uint64_t def_bytes, bool gap_def, uint64_t tick)
{
	bool del = eff == EFF_NONE;
	uint64_t def_below = ((uint64_t)op->off + def_bytes) / CHK_CELL;

	op->resp = tick ? tick : chk_tick();
	ext_del(m, op);
	cells_settle(m, op->gap_lo < op->c0 ? op->gap_lo : op->c0, op->c1, op->inv,
	             del, op->resp, def_bytes ? def_below : 0, gap_def);
}

/* ---- truncates -------------------------------------------------------------- */

static void drain_add(struct chk_op *t, const struct chk_op *e)
{
	if (t->ndrain == t->cdrain) {
		int cap = t->cdrain ? t->cdrain * 2 : 8;
		struct chk_drain *nd = realloc(t->drain, (size_t)cap * sizeof(*nd));

		if (!nd)
			return; /* fewer drains checked; never a false report */
		t->drain = nd;
		t->cdrain = cap;
	}
	t->drain[t->ndrain++] = (struct chk_drain){
		e->inv, e->gap_lo < e->c0 ? e->gap_lo : e->c0, e->c1 };
}

void chk_trunc_begin(struct chk_model *m, struct chk_op *op, uint64_t tick)
{
	uint64_t hz = horizon(m);
	uint64_t sc = (uint64_t)op->off / CHK_CELL;

	op->inv = tick ? tick : chk_tick();
	if (sc > m->m_ncells)
		sc = m->m_ncells;
	op->c0 = sc;
	op->c1 = m->m_hw;
	op->gap_lo = sc;
	op->ndrain = 0;
	/* past the cut: absent */
	for (uint64_t c = sc; c < m->m_hw; c++) {
		if (m->m_cells[c].n >= 6)
			cell_prune(&m->m_cells[c], hz);
		cell_add(&m->m_cells[c], op->inv, op->thread, VK_ABSENT, 0);
	}
	/* below it: holes where the file may end now */
	if (m->m_absent_lo < sc)
		gap_scan(m, op, m->m_absent_lo, sc);
	if (m->m_absent_lo > sc)
		m->m_absent_lo = sc;
	hw_raise(m, sc);
	/* extenders in flight may grow the file again after the cut */
	for (struct chk_op *e = m->m_ext; e; e = e->ext_next) {
		uint64_t b = e->c0;

		/* A cached write is copied page by page, each page growing the
		 * size: if the cut falls between two of its pages, its earlier
		 * pages past the cut are gone and the later ones make them a
		 * hole. (Direct writes and pins are whole: the truncate waits
		 * for their range or latches; accepted async writes are
		 * drained before the cut.) So its cells before its last page
		 * may become holes too. */
		if (e->kind == OK_WRITE && !e->accepted &&
		    (e->via == VIA_CACHED || e->via == VIA_ACACHED)) {
			uint64_t lastp = ((uint64_t)e->off + e->len - 1) / m->m_page *
			                 m->m_page / CHK_CELL;

			if (lastp > b)
				b = lastp;
		}
		if (b > sc) {
			for (uint64_t c = sc; c < b && c < m->m_ncells; c++)
				cell_add(&m->m_cells[c], e->inv, e->thread, VK_ZERO, 0);
			if (sc < e->gap_lo)
				e->gap_lo = sc;
		}
		if (e->kind != OK_TRUNC && e->accepted) {
			drain_add(op, e);
			e->drained = true;
		}
	}
	ext_add(m, op);
}

void chk_trunc_end(struct chk_model *m, struct chk_op *op, int eff, uint64_t tick)
{
	bool del = eff == EFF_NONE, ok = !del && op->res == 0;
	uint64_t sc = op->c0;

	op->resp = tick ? tick : chk_tick();
	ext_del(m, op);
	cells_settle(m, op->gap_lo < sc ? op->gap_lo : sc, op->c1 > sc ? op->c1 : sc,
	             op->inv, del, op->resp, ok ? UINT64_MAX : 0, ok);
	/* G8: the async writes accepted before it were finished before the cut */
	for (int i = 0; ok && i < op->ndrain; i++) {
		const struct chk_drain *d = &op->drain[i];
		uint64_t lo = d->lo > sc ? d->lo : sc;

		for (uint64_t c = lo; c < d->hi && c < m->m_ncells; c++) {
			struct chk_cell *cell = &m->m_cells[c];

			for (uint32_t k = 0; k < cell->n; k++) {
				struct chk_ver *v = &cell->v[k];

				if (v->inv != d->inv || v->kind == VK_ABSENT)
					continue;
				if (!(v->flags & VF_DRAINED)) {
					if (v->flags & VF_DONE) { /* its own end */
						v->real = v->resp;
						v->flags |= VF_REAL;
					}
					v->cut_end = op->resp;
				} else if (op->resp < v->cut_end) {
					v->cut_end = op->resp;
				}
				if (!(v->flags & VF_DONE) || v->resp > op->inv - 1)
					v->resp = op->inv - 1;
				v->flags |= VF_DONE | VF_DRAINED;
			}
		}
	}
	free(op->drain);
	op->drain = NULL;
	op->ndrain = op->cdrain = 0;
}

/* ---- fallocate ------------------------------------------------------------------- */

/*
 * Reserve (mode 0) and ZERO_RANGE without KEEP_SIZE grow the file to
 * off + len if it is smaller, like a write ending there: the cells they
 * uncover get a hole (gap_scan), and ZERO_RANGE's own cells get a ZERO that
 * is definite once it returns 0 (VF_GAPDEF marks it so). They are extenders:
 * a truncate that cuts below them while they are in flight may see them grow
 * the file again (op->c0 is where their own cells start: the end for a
 * reserve, which writes nothing). KEEP_SIZE punch and zero move no size:
 * each cell of the range gets a ZERO, definite only where no ABSENT was live
 * when the call began (the cell was surely inside the file and stays there
 * unless a truncate races it, whose ABSENT is then live too). A cell that may
 * be past the end gets a ZERO that is never definite: if the file grows over
 * it while the call runs, the call may zero it or not. KEEP_SIZE reserve
 * changes nothing the model sees.
 */
void chk_falloc_begin(struct chk_model *m, struct chk_op *op, uint64_t tick)
{
	unsigned mode = op->flags;
	bool keep = mode & FALLOC_FL_KEEP_SIZE;
	bool zeroes = mode & (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE);
	uint64_t c0 = (uint64_t)op->off / CHK_CELL;
	uint64_t c1 = ((uint64_t)op->off + op->len) / CHK_CELL;
	uint64_t hz = horizon(m);

	op->inv = tick ? tick : chk_tick();
	if (c1 > m->m_ncells)
		c1 = m->m_ncells;
	if (c0 > c1)
		c0 = c1;
	op->accepted = false;
	op->drained = false;
	op->c1 = c1;
	if (!keep) {
		op->c0 = zeroes ? c0 : c1;
		op->gap_lo = op->c0;
		if (m->m_absent_lo < op->c0)
			gap_scan(m, op, m->m_absent_lo, op->c0);
		for (uint64_t c = op->c0; c < c1; c++) {
			if (m->m_cells[c].n >= 6)
				cell_prune(&m->m_cells[c], hz);
			cell_add(&m->m_cells[c], op->inv, op->thread, VK_ZERO, VF_GAPDEF);
		}
		hw_raise(m, c1);
		ext_add(m, op);
		return;
	}
	op->c0 = c0;
	op->gap_lo = c0;
	if (!zeroes) {
		op->c1 = c0;            /* touches nothing */
		return;
	}
	for (uint64_t c = c0; c < c1; c++) {
		struct chk_cell *cell = &m->m_cells[c];
		bool def = false;

		if (c < m->m_hw) {
			if (cell->n >= 6)
				cell_prune(cell, hz);
			def = !has_live(cell, VK_ABSENT, cell_floor(cell, UINT64_MAX), UINT64_MAX);
		}
		cell_add(cell, op->inv, op->thread, VK_ZERO, def ? VF_GAPDEF : 0);
	}
	hw_raise(m, c1);
}

void chk_falloc_end(struct chk_model *m, struct chk_op *op, int eff, bool ok,
                    uint64_t tick)
{
	op->resp = tick ? tick : chk_tick();
	ext_del(m, op);
	cells_settle(m, op->gap_lo < op->c0 ? op->gap_lo : op->c0, op->c1, op->inv,
	             eff == EFF_NONE, op->resp, 0, ok);
}

/* ---- reads and the rest ------------------------------------------------------ */

void chk_read_begin(struct chk_model *m, struct chk_op *op)
{
	op->inv = chk_tick();
	if (m->m_nreads == m->m_maxreads) {
		int cap = m->m_maxreads * 2;
		uint64_t *nr = realloc(m->m_reads, (size_t)cap * sizeof(uint64_t));

		if (!nr) {
			fprintf(stderr, "coherio check: out of memory for the model\n");
			_exit(CLI_EXIT_ERROR);
		}
		m->m_reads = nr;
		m->m_maxreads = cap;
	}
	m->m_reads[m->m_nreads++] = op->inv;
}

void chk_read_end(struct chk_model *m, struct chk_op *op)
{
	op->resp = chk_tick();
	for (int i = 0; i < m->m_nreads; i++) {
		if (m->m_reads[i] == op->inv) {
			m->m_reads[i] = m->m_reads[--m->m_nreads];
			break;
		}
	}
}

void chk_other_begin(struct chk_model *m, struct chk_op *op)
{
	(void)m;
	op->inv = chk_tick();
}

void chk_other_end(struct chk_model *m, struct chk_op *op)
{
	(void)m;
	op->resp = chk_tick();
}

void chk_model_prune_all(struct chk_model *m)
{
	uint64_t hz = horizon(m);

	for (uint64_t c = 0; c < m->m_hw && c < m->m_ncells; c++)
		cell_prune(&m->m_cells[c], hz);
}

/* ---- judging what was read ---------------------------------------------------- */

static const char *const why_text[] = {
	[V_STALE] = "an older version of the block, although a newer write of "
	            "it had completed before the read began",
	[V_ZERO] = "zeros, although the block held data (or lay past the end of "
	           "file) and no operation could have made it a hole",
	[V_GARBAGE] = "bytes that are neither zeros nor one whole stamped "
	              "version: torn, uninitialised or foreign data",
	[V_MISPLACED] = "a block stamped for another file or offset",
	[V_UNKNOWN] = "a version that was never written there (a write that was "
	              "rejected or cancelled, or data from nowhere)",
	[V_EOF] = "end of file at this block, although a completed operation had "
	          "put the file past it",
	[V_SIZE] = "a size that is not the end of any write or truncate",
	[V_BEYOND] = "bytes past the largest size any operation gave the file",
	[V_TORN] = "part of a block that matches no version of it",
};

static const char *why_g(int why)
{
	switch (why) {
	case V_STALE:    return "stale";  /* named by the printer */
	case V_ZERO:     return "G5";
	case V_GARBAGE:  return "G5";
	case V_MISPLACED:return "G5";
	case V_UNKNOWN:  return "G9/G11";
	case V_EOF:      return "G5";
	case V_SIZE:     return "G5";
	case V_BEYOND:   return "G5";
	default:         return "G5";
	}
}

static int viol_fill(struct chk_model *m, const struct chk_op *op, uint64_t c,
                     int why, const uint8_t *seen, size_t seen_off,
                     size_t seen_len, uint64_t newer, uint64_t seen_inv,
                     struct chk_viol *v)
{
	const struct chk_cell *cell = c < m->m_ncells ? &m->m_cells[c] : NULL;
	char desc[200] = "";

	memset(v, 0, sizeof(*v));
	v->g = why_g(why);
	v->file = m->m_file;
	v->cell = (int64_t)c;
	v->tick = op->resp ? op->resp : op->inv;
	chk_op_to_rec(op, &v->op);
	v->have_op = true;
	v->newer_inv = newer;
	v->seen_inv = seen_inv;
	v->why = why;
	if (seen) {
		memcpy(v->seen + seen_off, seen, seen_len);
		v->have_seen = seen_off == 0 && seen_len == CHK_CELL;
		if (v->have_seen)
			chk_cell_describe(v->seen, desc, sizeof(desc));
		else
			snprintf(desc, sizeof(desc), "bytes %zu-%zu of the block",
			         seen_off, seen_off + seen_len - 1);
	} else {
		snprintf(desc, sizeof(desc), "end of file");
		v->absent_seen = 1;
	}
	if (cell)
		for (uint32_t i = 0; i < cell->n && v->nver < (int)(sizeof(v->ver) /
		                                                  sizeof(v->ver[0])); i++)
			v->ver[v->nver++] = cell->v[i];
	snprintf(v->what, sizeof(v->what),
	         "%s returned for block %llu of file %d (bytes %llu-%llu) %s: %s.",
	         chk_kind_name(op->kind, op->via), (unsigned long long)c, m->m_file,
	         (unsigned long long)(c * CHK_CELL),
	         (unsigned long long)(c * CHK_CELL + CHK_CELL - 1), desc,
	         why_text[why]);
	return -1;
}

/* The newest definite version completed before @before (for the report). */
static uint64_t newest_def(const struct chk_cell *c, uint64_t before)
{
	return cell_floor(c, before);
}

static int check_cell_full(struct chk_model *m, const struct chk_op *op,
                           uint64_t c, const uint8_t *p, bool tail_zero_ok,
                           struct chk_viol *v)
{
	struct chk_cell *cell = &m->m_cells[c];
	uint64_t f = cell_floor(cell, op->inv);
	struct chk_stamp st;

	switch (chk_stamp_parse(p, &st)) {
	case CELL_ZERO:
		if (has_live(cell, VK_ZERO, f, op->inv))
			return 0;
		if (tail_zero_ok && has_live(cell, VK_ABSENT, f, op->inv))
			return 0;
		/* On the disk (crash check) a block that may be cut off may
		 * also read as a hole: the file can have grown past it again
		 * without its data - a later cached write's page written back,
		 * or the backing file extended to coherio's size at an fsync
		 * while that write's own page was not yet down. */
		if (m->m_disk && has_live(cell, VK_ABSENT, f, op->inv))
			return 0;
		return viol_fill(m, op, c, V_ZERO, p, 0, CHK_CELL,
		                 newest_def(cell, op->inv), 0, v);
	case CELL_STAMP:
		if (st.file != (uint32_t)m->m_file || st.off != c * CHK_CELL)
			return viol_fill(m, op, c, V_MISPLACED, p, 0, CHK_CELL, 0,
			                 st.seq, v);
		for (uint32_t i = 0; i < cell->n; i++) {
			const struct chk_ver *ver = &cell->v[i];

			if (ver->kind != VK_DATA || ver->inv != st.seq ||
			    ver->writer != st.writer)
				continue;
			if (ver_live(ver, f, op->inv))
				return 0;
			return viol_fill(m, op, c, V_STALE, p, 0, CHK_CELL, f, st.seq, v);
		}
		/* pruned as stale, or never a version of this cell */
		return viol_fill(m, op, c, st.seq < f ? V_STALE : V_UNKNOWN, p, 0,
		                 CHK_CELL, f, st.seq, v);
	default:
		return viol_fill(m, op, c, V_GARBAGE, p, 0, CHK_CELL, 0, 0, v);
	}
}

/* Bytes [a, b) of cell @c (offsets inside the cell) read as @p. */
static int check_cell_part(struct chk_model *m, const struct chk_op *op,
                           uint64_t c, const uint8_t *p, size_t a, size_t b,
                           struct chk_viol *v)
{
	struct chk_cell *cell = &m->m_cells[c];
	uint64_t f = cell_floor(cell, op->inv);
	uint8_t img[CHK_CELL];

	for (uint32_t i = 0; i < cell->n; i++) {
		const struct chk_ver *ver = &cell->v[i];

		if (!ver_live(ver, f, op->inv) || ver->kind == VK_ABSENT)
			continue;
		if (ver->kind == VK_ZERO)
			memset(img, 0, sizeof(img));
		else
			chk_stamp_fill(img, CHK_CELL, (uint32_t)m->m_file, ver->writer,
			               c * CHK_CELL, ver->inv);
		if (memcmp(img + a, p, b - a) == 0)
			return 0;
	}
	return viol_fill(m, op, c, V_TORN, p, a, b - a, newest_def(cell, op->inv),
	                 0, v);
}

static int check_eof_at(struct chk_model *m, const struct chk_op *op,
                        uint64_t c, struct chk_viol *v)
{
	struct chk_cell *cell;
	uint64_t f;

	if (c >= m->m_ncells)
		return 0; /* nothing is ever written there */
	cell = &m->m_cells[c];
	f = cell_floor(cell, op->inv);
	if (has_live(cell, VK_ABSENT, f, op->inv))
		return 0;
	return viol_fill(m, op, c, V_EOF, NULL, 0, 0, f, 0, v);
}

static int check_range(struct chk_model *m, const struct chk_op *op,
                       const uint8_t *buf, int64_t off, uint64_t got, bool eof,
                       uint64_t tail_from, struct chk_viol *v)
{
	uint64_t end = (uint64_t)off + got;

	for (uint64_t c = (uint64_t)off / CHK_CELL; c * CHK_CELL < end; c++) {
		uint64_t cs = c * CHK_CELL;
		uint64_t a = cs > (uint64_t)off ? cs : (uint64_t)off;
		uint64_t b = cs + CHK_CELL < end ? cs + CHK_CELL : end;
		const uint8_t *p = buf + (a - (uint64_t)off);
		int r;

		if (a >= b)
			break;
		if (c >= m->m_ncells)
			return viol_fill(m, op, c, V_BEYOND, p, a - cs, b - a, 0, 0, v);
		m->m_checked++;
		if (a == cs && b == cs + CHK_CELL)
			r = check_cell_full(m, op, c, p, cs >= tail_from, v);
		else
			r = check_cell_part(m, op, c, p, a - cs, b - cs, v);
		if (r)
			return r;
	}
	if (!eof)
		return 0;
	if (got == 0)
		return check_eof_at(m, op, (uint64_t)off / CHK_CELL, v);
	if (end % CHK_CELL) {
		viol_fill(m, op, end / CHK_CELL, V_SIZE, NULL, 0, 0, 0, 0, v);
		snprintf(v->what, sizeof(v->what), "%s of file %d stopped at end of "
		         "file at byte %llu, inside block %llu: %s.",
		         chk_kind_name(op->kind, op->via), m->m_file,
		         (unsigned long long)end, (unsigned long long)(end / CHK_CELL),
		         why_text[V_SIZE]);
		return -1;
	}
	return check_eof_at(m, op, end / CHK_CELL, v);
}

int chk_check_bytes(struct chk_model *m, const struct chk_op *op,
                    const uint8_t *buf, int64_t off, uint64_t got, bool eof,
                    struct chk_viol *v)
{
	return check_range(m, op, buf, off, got, eof, UINT64_MAX, v);
}

int chk_check_size(struct chk_model *m, const struct chk_op *op, int64_t size,
                   struct chk_viol *v)
{
	uint64_t c;

	if (size < 0 || size % CHK_CELL) {
		viol_fill(m, op, size < 0 ? 0 : (uint64_t)size / CHK_CELL, V_SIZE,
		          NULL, 0, 0, 0, 0, v);
		snprintf(v->what, sizeof(v->what), "cio_size() of file %d returned "
		         "%lld: %s.", m->m_file, (long long)size, why_text[V_SIZE]);
		return -1;
	}
	c = (uint64_t)size / CHK_CELL;
	if (c > m->m_ncells) {
		viol_fill(m, op, c, V_BEYOND, NULL, 0, 0, 0, 0, v);
		snprintf(v->what, sizeof(v->what), "cio_size() of file %d returned "
		         "%lld: %s.", m->m_file, (long long)size, why_text[V_BEYOND]);
		return -1;
	}
	if (check_eof_at(m, op, c, v)) {
		snprintf(v->what, sizeof(v->what), "cio_size() of file %d returned "
		         "%lld, but block %llu had been written (or uncovered) by a "
		         "completed operation: the size went back below data.",
		         m->m_file, (long long)size, (unsigned long long)c);
		return -1;
	}
	if (c > 0) {
		struct chk_cell *cell = &m->m_cells[c - 1];
		uint64_t f = cell_floor(cell, op->inv);

		if (!has_live(cell, VK_DATA, f, op->inv) && !has_live(cell, VK_ZERO, f, op->inv)) {
			viol_fill(m, op, c - 1, V_SIZE, NULL, 0, 0, f, 0, v);
			snprintf(v->what, sizeof(v->what), "cio_size() of file %d returned "
			         "%lld, but no operation had put data or a hole in block "
			         "%llu below it (the size ran ahead of the data).",
			         m->m_file, (long long)size, (unsigned long long)(c - 1));
			return -1;
		}
	}
	return 0;
}

int chk_check_absent(struct chk_model *m, const struct chk_op *op, int64_t end,
                     struct chk_viol *v)
{
	uint64_t c = ((uint64_t)end - 1) / CHK_CELL;

	if (check_eof_at(m, op, c, v) == 0)
		return 0;
	snprintf(v->what, sizeof(v->what), "%s of file %d up to byte %lld said "
	         "-ENXIO (past the end of file), but block %llu had been written "
	         "by a completed operation.", chk_kind_name(op->kind, op->via),
	         m->m_file, (long long)end, (unsigned long long)c);
	return -1;
}

int chk_check_image(struct chk_model *m, const struct chk_op *op,
                    const uint8_t *img, uint64_t size, uint32_t lbs,
                    bool tail_zero_ok, struct chk_viol *v)
{
	uint64_t tail = UINT64_MAX;

	if (tail_zero_ok && size && lbs)
		tail = (size - 1) / lbs * lbs;
	return check_range(m, op, img, 0, size, true, tail, v);
}
