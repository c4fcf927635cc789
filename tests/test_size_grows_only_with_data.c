/*
 * G5 (sync engine) - no uninitialised data, and the size grows only with the
 * data.
 *
 * A fresh file. Writer threads append: each reserves a fresh range past
 * everything reserved so far (an atomic reservation counter) and then writes
 * it, direct writers with aligned ranges, cached writers with unaligned ones.
 * The byte at offset o written by writer w is t_stamp_byte(w, o), so any byte
 * can be checked on its own. Reader threads loop: size = cio_size() must never
 * go backwards (per thread) nor past what was reserved; then they read
 * [old size, size) on the cached and the direct path: every byte must be 0
 * (hole, or data not there yet) or the stamp of one of the writers at that
 * offset - never anything else. The size always lies inside or at the end
 * of one write W (ranges are disjoint; a cached write may grow the size page
 * by page); when W is a direct write, the size may only have moved there once
 * W's data was on the device, so W's bytes just below the size must then
 * read back exactly on both paths. At the end the size equals the
 * largest write end and every written range holds its writer's data on every
 * path and on the device.
 */
#include "helpers.h"

#include <pthread.h>

#define NDIRECT 2
#define NCACHED 2
#define NWRITERS (NDIRECT + NCACHED)
#define NREADERS 2
#define OPS_PER_WRITER 3000
#define MAXW 8192 /* largest write; several writes share a page */
#define RUN_MS 1500

struct range {
	int64_t off;
	size_t len;
};

/* One entry per write, in file order (reserved under the lock). */
struct wlog {
	int64_t off;  /* the write's own range (after any hole) */
	int64_t end;
	int w;        /* writer id */
	int direct;
};

struct g5 {
	cio_file *f;
	uint32_t ps, lbs;
	pthread_mutex_t lock;  /* protects reserved_end, log, nlog */
	int64_t reserved_end;  /* end of the last reserved range */
	struct wlog log[NWRITERS * OPS_PER_WRITER];
	int nlog;
	atomic_llong reserved; /* = reserved_end, for lock-free reads */
	atomic_int stop;
	atomic_llong bad_bytes;
	atomic_llong reads;
	atomic_llong exact_checks;
	atomic_int reported;
	struct range ranges[NWRITERS][OPS_PER_WRITER];
	int nranges[NWRITERS]; /* written by the writer, read after join */
};

struct warg {
	struct g5 *g;
	int w; /* writer id 1..NWRITERS */
};

/* Reserve [start, start + gap + len) past everything reserved so far, with
 * start aligned to @align; the write itself is [start + gap, +len). */
static int64_t reserve(struct g5 *g, size_t len, uint32_t gap, uint32_t align,
                       int w, int direct)
{
	pthread_mutex_lock(&g->lock);
	int64_t start = (int64_t)t_align_up((uint64_t)g->reserved_end, align);
	int64_t off = start + gap;
	struct wlog *e = &g->log[g->nlog++];
	e->off = off;
	e->end = off + (int64_t)len;
	e->w = w;
	e->direct = direct;
	g->reserved_end = e->end;
	atomic_store(&g->reserved, (long long)e->end);
	pthread_mutex_unlock(&g->lock);
	return off;
}

/* The write W with W.off < @size <= W.end. A size is always inside (or at
 * the end of) a write: cached writes may grow it page by page. */
static int find_write_at_size(struct g5 *g, int64_t size, struct wlog *out)
{
	int found = 0;
	pthread_mutex_lock(&g->lock);
	int lo = 0, hi = g->nlog - 1, first = -1;
	while (lo <= hi) { /* the first entry with end >= size */
		int mid = (lo + hi) / 2;
		if (g->log[mid].end >= size) {
			first = mid;
			hi = mid - 1;
		} else {
			lo = mid + 1;
		}
	}
	if (first >= 0 && g->log[first].off < size) {
		*out = g->log[first];
		found = 1;
	}
	pthread_mutex_unlock(&g->lock);
	return found;
}

static void *writer(void *arg)
{
	struct warg *wa = arg;
	struct g5 *g = wa->g;
	int direct = wa->w <= NDIRECT;
	uint64_t rs = t_rand_seed((uint64_t)wa->w * 31 + g->ps);
	size_t maxlen = MAXW;
	uint8_t *buf = t_alloc(maxlen);
	uint64_t t0 = t_now_ns();
	t_ctx("writer %d (%s) ps=%u", wa->w, direct ? "direct" : "cached",
	      g->ps);
	int i;
	for (i = 0; i < OPS_PER_WRITER; i++) {
		if (t_now_ns() - t0 > (uint64_t)RUN_MS * 1000000ull)
			break;
		size_t len;
		int64_t off;
		if (direct) {
			len = g->lbs * (1 + (size_t)t_rand_below(
			                            &rs, maxlen / g->lbs));
			off = reserve(g, len, 0, g->lbs, wa->w, 1);
		} else {
			len = 1 + (size_t)t_rand_below(&rs, maxlen);
			/* sometimes leave a hole before it */
			uint32_t gap = (uint32_t)t_rand_below(&rs, 3) == 0
			                       ? (uint32_t)t_rand_below(&rs, 2 * MAXW)
			                       : 0;
			off = reserve(g, len, gap, 1, wa->w, 0);
		}
		t_stamp_fill(buf, len, (uint64_t)off, (uint64_t)wa->w);
		ssize_t r = cio_write(g->f, buf, len, off,
		                      direct ? CIO_RW_DIRECT : 0);
		CHECKF(r == (ssize_t)len, "write len %zu off %lld = %zd (%s)",
		       len, (long long)off, r, t_errname(r));
		g->ranges[wa->w - 1][i].off = off;
		g->ranges[wa->w - 1][i].len = len;
	}
	g->nranges[wa->w - 1] = i;
	free(buf);
	return NULL;
}

/* Every byte must be 0 or the stamp of some writer at its offset. Checked
 * a word at a time: the writers' stamp words are computed once per word. */
static void check_bytes(struct g5 *g, const char *how, const uint8_t *buf,
                        int64_t off, size_t len)
{
	uint8_t sw[NWRITERS][8];
	int64_t cur_word = -1;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = buf[i];
		if (b == 0)
			continue;
		int64_t o = off + (int64_t)i;
		if ((o >> 3) != cur_word) {
			cur_word = o >> 3;
			for (int w = 0; w < NWRITERS; w++)
				t_stamp_fill(sw[w], 8, (uint64_t)cur_word << 3,
				             (uint64_t)w + 1);
		}
		int ok = 0;
		for (int w = 0; w < NWRITERS && !ok; w++)
			ok = sw[w][o & 7] == b;
		if (!ok) {
			atomic_fetch_add(&g->bad_bytes, 1);
			if (atomic_exchange(&g->reported, 1) == 0)
				t_log("ps=%u %s read: byte 0x%02x at offset %lld"
				      " was never written",
				      g->ps, how, b, (long long)o);
			return;
		}
	}
}

struct rarg {
	struct g5 *g;
	int id;
};

static void *reader(void *arg)
{
	struct rarg *ra = arg;
	struct g5 *g = ra->g;
	/* Each round reads at most WIN bytes below the current size (the part
	 * that just became visible, starting at the old size when it is that
	 * close) and, on the direct path, up to two pages past it. */
	const int64_t WIN = 4 * MAXW;
	size_t maxlen = (size_t)(WIN + 4 * MAXW);
	uint8_t *buf = t_alloc(maxlen);
	int64_t last = 0;
	uint64_t rs = t_rand_seed((uint64_t)ra->id + 77);
	t_ctx("reader %d ps=%u", ra->id, g->ps);
	while (!atomic_load(&g->stop)) {
		int64_t s = cio_size(g->f);
		long long resv = atomic_load(&g->reserved);
		CHECKF(s >= 0, "cio_size = %lld", (long long)s);
		CHECKF(s >= last, "size went backwards: %lld after %lld",
		       (long long)s, (long long)last);
		CHECKF(s <= resv, "size %lld past everything reserved (%lld)",
		       (long long)s, resv);
		int64_t from = last - (int64_t)t_rand_below(&rs, g->ps);
		if (from < s - WIN)
			from = s - WIN;
		if (from < 0)
			from = 0;
		if (s > from) {
			size_t len = (size_t)(s - from);
			memset(buf, 0xee, len);
			ssize_t r = cio_read(g->f, buf, len, from, 0);
			/* the size only grows: everything below s is there */
			CHECKF(r == (ssize_t)len,
			       "cached read [%lld, +%zu) below size = %zd (%s)",
			       (long long)from, len, r, t_errname(r));
			check_bytes(g, "cached", buf, from, len);

			int64_t a = (int64_t)t_align_down((uint64_t)from, g->lbs);
			int64_t e = (int64_t)t_align_up((uint64_t)s, g->lbs) +
			            2 * MAXW;
			memset(buf, 0xee, (size_t)(e - a));
			r = cio_read(g->f, buf, (size_t)(e - a), a, CIO_RW_DIRECT);
			CHECKF(r >= s - a && r <= e - a,
			       "direct read [%lld, %lld) with size %lld = %zd (%s)",
			       (long long)a, (long long)e, (long long)s, r,
			       t_errname(r));
			check_bytes(g, "direct", buf, a, (size_t)r);
			atomic_fetch_add(&g->reads, 1);

			/* The size lies in (or at the end of) one write W. If
			 * W is a direct write, the size may only have moved
			 * there once W's data was on the device: W's bytes just
			 * below the size must read back exactly, on both paths.
			 */
			struct wlog wl;
			CHECKF(find_write_at_size(g, s, &wl),
			       "size %lld is not inside any write",
			       (long long)s);
			if (wl.direct) {
				int64_t o = wl.off;
				if (o < s - (int64_t)g->lbs)
					o = s - (int64_t)g->lbs;
				size_t n = (size_t)(s - o);
				r = cio_read(g->f, buf, n, o, 0);
				CHECKF(r == (ssize_t)n, "cached read = %zd (%s)", r,
				       t_errname(r));
				ssize_t bad = t_stamp_find_bad(buf, n, (uint64_t)o,
				                               (uint64_t)wl.w);
				CHECKF(bad < 0,
				       "size %lld was published before the data of"
				       " direct write [%lld, %lld) by writer %d: byte"
				       " at %lld reads 0x%02x (cached path)",
				       (long long)s, (long long)wl.off,
				       (long long)wl.end, wl.w,
				       (long long)(o + bad), buf[bad]);
				int64_t da = (int64_t)t_align_down((uint64_t)o, g->lbs);
				size_t dn = t_align_up((uint64_t)(s - da), g->lbs);
				memset(buf, 0xee, dn);
				r = cio_read(g->f, buf, dn, da, CIO_RW_DIRECT);
				CHECKF(r >= s - da, "direct read = %zd (%s)", r,
				       t_errname(r));
				bad = t_stamp_find_bad(buf + (o - da), n, (uint64_t)o,
				                       (uint64_t)wl.w);
				CHECKF(bad < 0,
				       "size %lld was published before the data of"
				       " direct write [%lld, %lld) by writer %d: byte"
				       " at %lld (direct path)",
				       (long long)s, (long long)wl.off,
				       (long long)wl.end, wl.w, (long long)(o + bad));
				atomic_fetch_add(&g->exact_checks, 1);
			}
		}
		last = s;
	}
	free(buf);
	return NULL;
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("g5");
	cio_cache *c = t_cache(ps, 0, 0);
	struct g5 *g = calloc(1, sizeof *g);
	CHECK(g != NULL);
	g->ps = ps;
	CHECK_EQ(pthread_mutex_init(&g->lock, NULL), 0);
	g->f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	g->lbs = t_lbs(g->f);
	CHECK_EQ(cio_size(g->f), 0);

	pthread_t wt[NWRITERS], rt[NREADERS];
	struct warg wa[NWRITERS];
	struct rarg ra[NREADERS];
	for (int i = 0; i < NREADERS; i++) {
		ra[i].g = g;
		ra[i].id = i;
		CHECK_EQ(pthread_create(&rt[i], NULL, reader, &ra[i]), 0);
	}
	for (int i = 0; i < NWRITERS; i++) {
		wa[i].g = g;
		wa[i].w = i + 1;
		CHECK_EQ(pthread_create(&wt[i], NULL, writer, &wa[i]), 0);
	}
	for (int i = 0; i < NWRITERS; i++)
		CHECK_EQ(pthread_join(wt[i], NULL), 0);
	atomic_store(&g->stop, 1);
	for (int i = 0; i < NREADERS; i++)
		CHECK_EQ(pthread_join(rt[i], NULL), 0);

	t_ctx("ps=%u final", ps);
	int64_t want_size = 0;
	for (int w = 0; w < NWRITERS; w++)
		for (int i = 0; i < g->nranges[w]; i++) {
			int64_t e = g->ranges[w][i].off +
			            (int64_t)g->ranges[w][i].len;
			if (e > want_size)
				want_size = e;
		}
	t_log("ps=%u: final size %lld, %lld reads checked (%lld with the size in"
	      " a direct write), %lld bad",
	      ps, (long long)want_size, (long long)atomic_load(&g->reads),
	      (long long)atomic_load(&g->exact_checks),
	      (long long)atomic_load(&g->bad_bytes));
	CHECK_EQ(atomic_load(&g->bad_bytes), 0);
	CHECK_EQ(cio_size(g->f), want_size);
	CHECK_EQ(t_fstats(g->f).size, want_size);

	/* Every range holds exactly its writer's stamp; the rest is zero. */
	size_t sz = (size_t)want_size;
	uint8_t *want = t_alloc(sz), *got = t_alloc(sz + g->lbs);
	for (int w = 0; w < NWRITERS; w++)
		for (int i = 0; i < g->nranges[w]; i++)
			t_stamp_fill(want + g->ranges[w][i].off,
			             g->ranges[w][i].len,
			             (uint64_t)g->ranges[w][i].off,
			             (uint64_t)w + 1);
	t_read_all(g->f, got, sz, 0, 0);
	CHECK_MEM(got, want, sz, 0);
	memset(got, 0xee, sz);
	ssize_t r = cio_read(g->f, got, t_align_up(sz, g->lbs), 0,
	                     CIO_RW_DIRECT);
	CHECK_EQ(r, (ssize_t)sz);
	CHECK_MEM(got, want, sz, 0);
	CHECK_EQ(cio_fsync(g->f), 0);
	CHECK_EQ(t_kernel_size(path), want_size);
	CHECK_KERNEL(path, want, sz, 0);
	t_close(g->f);
	t_destroy(c);
	free(want);
	free(got);
	pthread_mutex_destroy(&g->lock);
	free(g);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
