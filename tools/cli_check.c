/*
 * cli_check.c - the coherency tour of `coherio demo` / `coherio check`.
 *
 * Four guarantees of SPEC.md, each shown on the scratch file as it happens
 * and judged PASS or FAIL:
 *   G2  a direct read sees a cached write that is not yet on the device;
 *   G1  a completed direct write is seen by every later read on every path,
 *       while a cached/readahead/pinned/direct reader races the writer;
 *   G5  extending direct writes: the size moves only with the data, and what
 *       lies past the old end of file reads as end of file or zeros;
 *   G3  a cached write in one half of a page and a direct write in the other
 *       half both survive dropping the cache; invalidation keeps (and names)
 *       a pinned dirty page and never drops dirty data.
 * Every check opens its own cache, so one failure cannot poison the next.
 * A coherio call failing inside a check makes that check FAIL, with the
 * error printed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* ------------------------------------------------------------------------ */
/* A cache with the scratch file open in it                                  */
/* ------------------------------------------------------------------------ */

struct sess {
	cio_cache  *s_cache;
	cio_file   *s_file;
	const char *s_path;
	uint32_t    s_pg;    /* page size                                      */
	uint32_t    s_lbs;   /* logical block size: direct I/O offset/length   */
	uint32_t    s_align; /* buffer alignment for direct I/O                */
	int         s_dio;   /* 1: O_DIRECT underneath, 0: buffered fallback   */
	const char *s_engine;
};

static int sess_open(struct sess *s, const char *path, uint32_t page_size,
                     uint64_t memory)
{
	struct cio_cache_opts co;
	struct cio_file_stats fs;
	struct cio_cache_stats cs;
	int r;

	memset(s, 0, sizeof(*s));
	memset(&co, 0, sizeof(co));
	co.page_size = page_size;
	co.memory_bytes = memory;
	s->s_path = path;
	r = cio_cache_create(&s->s_cache, &co);
	if (r < 0) {
		cli_err("cannot create a cache", r);
		return r;
	}
	r = cio_open(s->s_cache, path, O_RDWR, 0, &s->s_file);
	if (r < 0) {
		cli_progress_done();
		fprintf(stderr, "coherio: cannot open '%s': %s\n", path,
		        cio_strerror(r));
		cio_cache_destroy(s->s_cache);
		s->s_cache = NULL;
		return r;
	}
	r = cio_file_stats(s->s_file, &fs);
	if (r == 0)
		r = cio_cache_stats(s->s_cache, &cs);
	if (r < 0) {
		cli_err("cannot read the file's stats", r);
		cio_close(s->s_file);
		cio_cache_destroy(s->s_cache);
		s->s_cache = NULL;
		return r;
	}
	s->s_pg = fs.page_size;
	s->s_lbs = fs.logical_block_size ? fs.logical_block_size : 512;
	s->s_align = fs.memory_alignment > s->s_lbs ? fs.memory_alignment
	                                            : s->s_lbs;
	s->s_dio = fs.direct_io;
	s->s_engine = cs.engine ? cs.engine : "?";
	return 0;
}

/* Close the file and destroy the cache; returns the first error. */
static int sess_close(struct sess *s)
{
	int r = 0, r2;

	if (s->s_file) {
		r = cio_close(s->s_file);
		if (r < 0)
			cli_err("close", r);
	}
	if (s->s_cache) {
		r2 = cio_cache_destroy(s->s_cache);
		if (r2 < 0)
			cli_err("cache destroy", r2);
		if (r == 0)
			r = r2;
	}
	s->s_file = NULL;
	s->s_cache = NULL;
	return r;
}

/*
 * One read or write on the async path, waited for: submit it to @ctx and
 * reap its event. Returns the event's byte count, or -errno. @ctx must not
 * be shared with another thread (it could reap our event).
 */
static ssize_t aio_rw(cio_ctx *ctx, unsigned opcode, cio_file *f, void *buf,
                      size_t len, int64_t off)
{
	struct cio_event ev;
	struct cio_op op;
	int r;

	memset(&op, 0, sizeof(op));
	op.opcode = opcode;
	op.flags = CIO_RW_DIRECT;
	op.file = f;
	op.buf = buf;
	op.len = len;
	op.off = off;
	op.user_data = (uint64_t)off;
	r = cio_ctx_submit(ctx, &op, 1);
	if (r < 0)
		return r;
	if (r != 1)
		return -EIO;
	do
		r = cio_ctx_getevents(ctx, 1, 1, &ev, NULL);
	while (r == 0);
	if (r < 0)
		return r;
	if (ev.user_data != op.user_data || ev.opcode != opcode)
		return -EPROTO;
	return (ssize_t)ev.res;
}

/* A context for aio_rw(), or NULL (and a note) where there is none. */
static cio_ctx *aio_ctx(struct sess *s)
{
	cio_ctx *ctx = NULL;
	int r = cio_ctx_create(s->s_cache, 4, &ctx);

	if (r < 0) {
		cli_progress_done();
		printf("    (no async context: %s; the async path is left out)\n",
		       cio_strerror(r));
		return NULL;
	}
	return ctx;
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */
/* ------------------------------------------------------------------------ */

static void title(const char *g, const char *what)
{
	cli_progress_done();
	printf("%s  %s\n", g, what);
	fflush(stdout);
}

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...)
{
	va_list ap;

	cli_progress_done();
	fputs("    ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* A check failed: say what was expected and what happened. */
static void fail(int *ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(int *ok, const char *fmt, ...)
{
	va_list ap;

	cli_progress_done();
	fputs("    ! ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
	*ok = 0;
}

static int verdict(int ok, const char *meaning)
{
	cli_progress_done();
	printf("    %s  %s\n\n", ok ? "PASS" : "FAIL", meaning);
	fflush(stdout);
	return ok;
}

static int all_bytes(const void *buf, size_t n, unsigned char c)
{
	const unsigned char *p = buf;
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != c)
			return 0;
	return 1;
}

/* Size of the file as the kernel sees it through its own stat(). */
static long long kernel_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* ------------------------------------------------------------------------ */
/* G2: direct reads see cached writes                                        */
/* ------------------------------------------------------------------------ */

static int check_g2(const char *path)
{
	static const char msg[] = "coherio says hello";
	const size_t mlen = sizeof(msg) - 1;
	const int64_t at = 100;
	struct cio_file_stats fs;
	struct sess s;
	unsigned char *buf;
	ssize_t r;
	int ok = 1;

	title("G2", "A direct read sees what was written through the cache");
	if (sess_open(&s, path, 0, 8u << 20) < 0)
		return verdict(0, "could not open the file through coherio.");
	step("opened through coherio: engine %s, %s, logical block %u B, "
	     "page %u B", s.s_engine,
	     s.s_dio ? "O_DIRECT underneath" :
	               "buffered fallback (the file system refused O_DIRECT)",
	     s.s_lbs, s.s_pg);

	buf = cli_alloc_aligned(s.s_align, s.s_pg);
	if (!buf) {
		sess_close(&s);
		return verdict(0, "out of memory.");
	}
	r = cio_write(s.s_file, msg, mlen, at, 0);
	if (r != (ssize_t)mlen) {
		fail(&ok, "cached write returned %zd (%s)", r,
		     r < 0 ? cio_strerror((int)r) : "short");
		goto out;
	}
	cio_file_stats(s.s_file, &fs);
	step("cached write \"%s\" at byte %lld: %llu dirty page in the cache;",
	     msg, (long long)at, (unsigned long long)fs.dirty_pages);
	step("the kernel's stat() still sees a %lld-byte file",
	     kernel_size(path));

	memset(buf, 0xEE, s.s_pg);
	r = cio_read(s.s_file, buf, s.s_pg, 0, CIO_RW_DIRECT);
	if (r < 0) {
		fail(&ok, "direct read failed: %s", cio_strerror((int)r));
		goto out;
	}
	if (r != at + (ssize_t)mlen)
		fail(&ok, "direct read of [0, %u) returned %zd bytes, the file "
		     "holds %lld", s.s_pg, r, (long long)(at + (int64_t)mlen));
	else if (memcmp(buf + at, msg, mlen) != 0)
		fail(&ok, "direct read did not return the cached write: \"%.*s\"",
		     (int)mlen, buf + at);
	else if (!all_bytes(buf, (size_t)at, 0))
		fail(&ok, "bytes 0..%lld, never written, are not zeros",
		     (long long)at - 1);
	cio_file_stats(s.s_file, &fs);
	if (ok) {
		step("direct read of [0, %u) bypassing the cache: \"%.*s\" at byte "
		     "%lld, zeros before it;", s.s_pg, (int)mlen, buf + at,
		     (long long)at);
		step("the page stays cached, now clean (%llu dirty, %llu cached)",
		     (unsigned long long)fs.dirty_pages,
		     (unsigned long long)fs.cached_pages);
	}
	if (fs.dirty_pages != 0)
		fail(&ok, "the page should have been written back (clean) by the "
		     "direct read; %llu dirty", (unsigned long long)fs.dirty_pages);
out:
	free(buf);
	if (sess_close(&s) < 0)
		ok = 0;
	return verdict(ok, "a direct read first writes back the dirty cached "
	               "pages it overlaps, so it never returns stale data.");
}

/* ------------------------------------------------------------------------ */
/* Violations found by the racing checks                                     */
/* ------------------------------------------------------------------------ */

struct violations {
	_Atomic uint64_t v_count;   /* how many                                */
	char             v_first[256]; /* the first one, written by whichever
	                             * thread counted it first; read only after
	                             * the threads are joined                  */
};

static void violation(struct violations *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void violation(struct violations *v, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&v->v_count, 1) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(v->v_first, sizeof(v->v_first), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------------------ */
/* G1: a completed direct write is visible on every path                     */
/* ------------------------------------------------------------------------ */

#define G1_PAGES 64 /* pages in the raced region; < 256 (see g1_word) */

struct g1 {
	struct sess     *g_s;
	_Atomic uint64_t g_issued;            /* generations handed to a write
	                                       * so far (an upper bound on what
	                                       * any read may return)          */
	_Atomic uint64_t g_gen[G1_PAGES];     /* published generation per page:
	                                       * store-release after the write
	                                       * returned, load-acquire by the
	                                       * reader before its read        */
	atomic_int       g_done;              /* writer finished               */
	cio_ctx         *g_rctx;              /* the reader's async context    */
	_Atomic uint64_t g_cached, g_pinned, g_direct, g_async, g_sweeps;
	struct violations g_v;
};

/* Each 8-byte word of page p holds generation << 8 | p. */
static inline uint64_t g1_word(uint64_t gen, unsigned page)
{
	return gen << 8 | page;
}

/* Check @n bytes read on @path at file offset @off (8-byte aligned) against
 * the generations @want published before the read started. */
static void g1_verify(struct g1 *g, const char *path, const unsigned char *buf,
                      size_t n, int64_t off, const uint64_t *want)
{
	uint32_t pg = g->g_s->s_pg;
	size_t k;

	for (k = 0; k + 8 <= n; k += 8) {
		int64_t pos = off + (int64_t)k;
		unsigned page = (unsigned)(pos / pg);
		uint64_t v;

		memcpy(&v, buf + k, 8);
		if ((v & 0xff) != page ||
		    (v >> 8) > atomic_load_explicit(&g->g_issued,
		                                    memory_order_acquire)) {
			violation(&g->g_v, "%s read at byte %lld: garbage word %#llx",
			                path, (long long)pos, (unsigned long long)v);
			return;
		}
		if ((v >> 8) < want[page]) {
			violation(&g->g_v, "%s read at byte %lld: generation %llu after "
			                "generation %llu was written and published",
			                path, (long long)pos, (unsigned long long)(v >> 8),
			                (unsigned long long)want[page]);
			return;
		}
	}
}

static void g1_snapshot(struct g1 *g, uint64_t *want)
{
	int i;

	for (i = 0; i < G1_PAGES; i++)
		want[i] = atomic_load_explicit(&g->g_gen[i], memory_order_acquire);
}

static void *g1_reader(void *arg)
{
	struct g1 *g = arg;
	struct sess *s = g->g_s;
	const uint32_t pg = s->s_pg;
	const int64_t region = (int64_t)G1_PAGES * pg;
	uint64_t want[G1_PAGES];
	uint64_t rnd = 0x9E3779B97F4A7C15ULL;
	unsigned char *buf = cli_alloc_aligned(s->s_align, 4 * (size_t)pg);
	unsigned long op = 0;

	if (!buf) {
		violation(&g->g_v, "reader: out of memory");
		return NULL;
	}
	while (!atomic_load_explicit(&g->g_done, memory_order_acquire)) {
		int64_t off = (int64_t)(cli_rand(&rnd) % (uint64_t)(region / 8)) * 8;
		size_t len = (size_t)(cli_rand(&rnd) % (3 * (uint64_t)pg / 8) + 1) * 8;
		ssize_t r;

		if (off + (int64_t)len > region)
			len = (size_t)(region - off);
		op++;
		if (op % 128 == 0) {
			/* Drop the cache and sweep a run of pages sequentially: the
			 * stream detector reads ahead while direct writes are in
			 * flight, the case of seed 000. */
			unsigned p0 = (unsigned)(cli_rand(&rnd) % (G1_PAGES - 16));
			unsigned p;

			cio_invalidate(s->s_file, 0, 0, 0, NULL);
			for (p = p0; p < p0 + 16; p++) {
				g1_snapshot(g, want);
				r = cio_read(s->s_file, buf, pg, (int64_t)p * pg, 0);
				if (r != (ssize_t)pg) {
					violation(&g->g_v, "cached read of page %u returned %zd "
					                "(%s)", p, r, r < 0 ?
					                cio_strerror((int)r) : "short");
					break;
				}
				g1_verify(g, "cached (readahead)", buf, pg,
				          (int64_t)p * pg, want);
			}
			atomic_fetch_add_explicit(&g->g_sweeps, 1, memory_order_relaxed);
			continue;
		}
		switch (op % 8) {
		case 0: case 1: case 2: case 3:
			/* cached read of an arbitrary (8-byte aligned) range */
			g1_snapshot(g, want);
			r = cio_read(s->s_file, buf, len, off, 0);
			if (r != (ssize_t)len) {
				violation(&g->g_v, "cached read [%lld, +%zu) returned %zd (%s)",
				                (long long)off, len, r,
				                r < 0 ? cio_strerror((int)r) : "short");
				break;
			}
			g1_verify(g, "cached", buf, len, off, want);
			atomic_fetch_add_explicit(&g->g_cached, 1, memory_order_relaxed);
			break;
		case 4: case 5: case 6: {
			/* pinned read: pointers into the cached pages */
			cio_pin pin;
			int64_t at;
			int n, i;

			if (len > 2 * (size_t)pg)
				len = 2 * (size_t)pg;
			g1_snapshot(g, want);
			n = cio_pin_range(s->s_file, off, len, 0, &pin);
			if (n < 0) {
				violation(&g->g_v, "pin [%lld, +%zu) failed: %s",
				                (long long)off, len, cio_strerror(n));
				break;
			}
			at = pin.off;
			for (i = 0; i < pin.nseg; i++) {
				g1_verify(g, "pinned", pin.seg[i].iov_base,
				          pin.seg[i].iov_len, at, want);
				at += (int64_t)pin.seg[i].iov_len;
			}
			cio_unpin(&pin);
			atomic_fetch_add_explicit(&g->g_pinned, 1, memory_order_relaxed);
			break;
		}
		default: { /* direct read of whole pages */
			int64_t p = off / pg;

			len = pg;
			if (p + 1 < G1_PAGES && (op & 8))
				len = 2 * (size_t)pg;
			g1_snapshot(g, want);
			if (g->g_rctx && (op & 16))
				r = aio_rw(g->g_rctx, CIO_OP_READ, s->s_file, buf, len,
				           p * pg);
			else
				r = cio_read(s->s_file, buf, len, p * pg, CIO_RW_DIRECT);
			if (r != (ssize_t)len) {
				violation(&g->g_v, "%s direct read of page %lld returned %zd "
				                "(%s)", (g->g_rctx && (op & 16)) ? "async" :
				                "sync", (long long)p, r,
				                r < 0 ? cio_strerror((int)r) : "short");
				break;
			}
			if (g->g_rctx && (op & 16)) {
				g1_verify(g, "async direct", buf, len, p * pg, want);
				atomic_fetch_add_explicit(&g->g_async, 1,
				                          memory_order_relaxed);
			} else {
				g1_verify(g, "direct", buf, len, p * pg, want);
				atomic_fetch_add_explicit(&g->g_direct, 1,
				                          memory_order_relaxed);
			}
			break;
		}
		}
	}
	free(buf);
	return NULL;
}

/* After the race: every page reads its final generation on every path. */
static void g1_final(struct g1 *g, unsigned char *buf)
{
	struct sess *s = g->g_s;
	const uint32_t pg = s->s_pg;
	uint64_t want[G1_PAGES];
	unsigned p;
	ssize_t r;

	g1_snapshot(g, want);
	for (p = 0; p < G1_PAGES; p++) {
		uint64_t expect = g1_word(want[p], p), v;
		cio_pin pin;
		int path;

		for (path = 0; path < 3; path++) {
			const char *name = path == 0 ? "cached" :
			                   path == 1 ? "direct" : "pinned";
			const unsigned char *data = buf;
			size_t k;

			if (path == 2) {
				int n = cio_pin_range(s->s_file, (int64_t)p * pg, pg, 0, &pin);

				if (n < 0) {
					violation(&g->g_v, "final pin of page %u: %s", p,
					                cio_strerror(n));
					continue;
				}
				data = pin.seg[0].iov_base;
			} else {
				r = cio_read(s->s_file, buf, pg, (int64_t)p * pg,
				             path ? CIO_RW_DIRECT : 0);
				if (r != (ssize_t)pg) {
					violation(&g->g_v, "final %s read of page %u returned %zd",
					                name, p, r);
					continue;
				}
			}
			for (k = 0; k < pg; k += 8) {
				memcpy(&v, data + k, 8);
				if (v != expect) {
					violation(&g->g_v, "after the race, %s read of page %u "
					                "shows generation %llu, not the last "
					                "written %llu", name, p,
					                (unsigned long long)(v >> 8),
					                (unsigned long long)want[p]);
					break;
				}
			}
			if (path == 2)
				cio_unpin(&pin);
		}
	}
}

static int check_g1(const struct cli_opts *o, const char *path)
{
	struct g1 *g;
	struct sess s;
	unsigned char *wbuf = NULL;
	pthread_t th;
	uint64_t rnd = 0xC0FFEEULL, i;
	double t0, dt;
	const double dur = o->quick ? 1.0 : 4.0;      /* seconds of racing    */
	const uint64_t min_writes = o->quick ? 500 : 2000;
	uint64_t n_async = 0;
	cio_ctx *wctx = NULL;
	size_t k;
	ssize_t r;
	int ok = 1, rc;

	title("G1", "A completed direct write is seen by every later read, "
	      "on every path");
	g = calloc(1, sizeof(*g));
	if (!g)
		return verdict(0, "out of memory.");
	if (sess_open(&s, path, 0, 8u << 20) < 0) {
		free(g);
		return verdict(0, "could not open the file through coherio.");
	}
	g->g_s = &s;

	/* Generation 0 everywhere, written directly. */
	wbuf = cli_alloc_aligned(s.s_align, (size_t)G1_PAGES * s.s_pg);
	if (!wbuf) {
		fail(&ok, "out of memory");
		goto out;
	}
	rc = cio_truncate(s.s_file, 0, 0);
	if (rc < 0) {
		fail(&ok, "truncate failed: %s", cio_strerror(rc));
		goto out;
	}
	for (k = 0; k < (size_t)G1_PAGES * s.s_pg; k += 8) {
		uint64_t w = g1_word(0, (unsigned)(k / s.s_pg));

		memcpy(wbuf + k, &w, 8);
	}
	r = cio_write(s.s_file, wbuf, (size_t)G1_PAGES * s.s_pg, 0, CIO_RW_DIRECT);
	if (r != (ssize_t)G1_PAGES * s.s_pg) {
		fail(&ok, "initial direct write returned %zd (%s)", r,
		     r < 0 ? cio_strerror((int)r) : "short");
		goto out;
	}
	wctx = aio_ctx(&s);
	if (wctx)
		g->g_rctx = aio_ctx(&s);
	step("for %.0f s, one thread writes a new generation into one of %d "
	     "pages with a direct write", dur, G1_PAGES);
	step("%s, while a second thread reads", wctx ?
	     "(every other one async, waiting for its completion event)" :
	     "(synchronous)");
	step("the pages cached, pinned, direct%s and in readahead sweeps; every "
	     "block it reads", g->g_rctx ? " (sync and async)" : "");
	step("must be at least as new as the last write completed before the "
	     "read began");

	if (pthread_create(&th, NULL, g1_reader, g) != 0) {
		fail(&ok, "cannot start the reader thread");
		goto out;
	}
	t0 = cli_now();
	for (i = 1; (dt = cli_now() - t0) < dur || i <= min_writes; i++) {
		unsigned page = (unsigned)(cli_rand(&rnd) % G1_PAGES);
		uint64_t w = g1_word(i, page);

		atomic_store_explicit(&g->g_issued, i, memory_order_release);
		for (k = 0; k < s.s_pg; k += 8)
			memcpy(wbuf + k, &w, 8);
		if (wctx && (i & 1)) {
			r = aio_rw(wctx, CIO_OP_WRITE, s.s_file, wbuf, s.s_pg,
			           (int64_t)page * s.s_pg);
			n_async++;
		} else {
			r = cio_write(s.s_file, wbuf, s.s_pg, (int64_t)page * s.s_pg,
			              CIO_RW_DIRECT);
		}
		if (r != (ssize_t)s.s_pg) {
			fail(&ok, "%s direct write %llu returned %zd (%s)",
			     wctx && (i & 1) ? "async" : "sync",
			     (unsigned long long)i, r,
			     r < 0 ? cio_strerror((int)r) : "short");
			break;
		}
		atomic_store_explicit(&g->g_gen[page], i, memory_order_release);
		if (i % 128 == 0)
			cli_progress("    G1  %.1f s: %llu direct writes, %llu reads "
			             "checked, %llu violations", dt,
			             (unsigned long long)i,
			             (unsigned long long)(g->g_cached + g->g_pinned +
			                                  g->g_direct + g->g_async),
			             (unsigned long long)g->g_v.v_count);
	}
	atomic_store_explicit(&g->g_done, 1, memory_order_release);
	pthread_join(th, NULL);
	dt = cli_now() - t0;
	g1_final(g, wbuf);

	step("%llu direct writes (%llu async) in %.1f s raced %llu cached, %llu "
	     "pinned, %llu direct and", (unsigned long long)(i - 1),
	     (unsigned long long)n_async, dt, (unsigned long long)g->g_cached,
	     (unsigned long long)g->g_pinned, (unsigned long long)g->g_direct);
	step("%llu async direct reads, and %llu readahead sweeps of 16 pages "
	     "after dropping the cache", (unsigned long long)g->g_async,
	     (unsigned long long)g->g_sweeps);
	step("then every page read back on the cached, direct and pinned paths: "
	     "%llu violation%s", (unsigned long long)g->g_v.v_count,
	     g->g_v.v_count == 1 ? "" : "s");
	if (g->g_v.v_count) {
		fail(&ok, "first violation: %s", g->g_v.v_first);
	}
	if (g->g_cached + g->g_pinned + g->g_direct == 0)
		fail(&ok, "the reader did not get to read anything");
out:
	free(wbuf);
	if (g->g_rctx && (rc = cio_ctx_destroy(g->g_rctx)) < 0)
		fail(&ok, "destroying the reader's async context: %s",
		     cio_strerror(rc));
	if (wctx && (rc = cio_ctx_destroy(wctx)) < 0)
		fail(&ok, "destroying the writer's async context: %s",
		     cio_strerror(rc));
	if (sess_close(&s) < 0)
		ok = 0;
	free(g);
	return verdict(ok, "once a direct write has completed, no read on any "
	               "path shows the old data.");
}

/* ------------------------------------------------------------------------ */
/* G5: no uninitialised data; the size grows only with the data              */
/* ------------------------------------------------------------------------ */

struct g5 {
	struct sess     *g_s;
	uint64_t         g_pages;   /* extending writes to do              */
	atomic_int       g_done;
	_Atomic uint64_t g_reads;   /* reads at or past the moving end     */
	_Atomic uint64_t g_sizes;   /* size queries                        */
	struct violations g_v;
};

static inline uint64_t g5_word(uint64_t page)
{
	return 0xA5C0000000000000ULL | page;
}

/* Every word of @n bytes at @off must be the pattern of its page. */
static int g5_verify(struct g5 *g, const char *path, const unsigned char *buf,
                     size_t n, int64_t off)
{
	uint32_t pg = g->g_s->s_pg;
	size_t k;

	if (n % 8) {
		violation(&g->g_v, "%s read at byte %lld returned %zu bytes, not a "
		                "whole write", path, (long long)off, n);
		return 0;
	}
	for (k = 0; k < n; k += 8) {
		uint64_t v, page = (uint64_t)(off + (int64_t)k) / pg;

		memcpy(&v, buf + k, 8);
		if (v != g5_word(page)) {
			violation(&g->g_v, "%s read at byte %lld returned %#llx, bytes "
			                "nobody wrote", path, (long long)(off + (int64_t)k),
			                (unsigned long long)v);
			return 0;
		}
	}
	return 1;
}

static void *g5_reader(void *arg)
{
	struct g5 *g = arg;
	struct sess *s = g->g_s;
	const uint32_t pg = s->s_pg;
	unsigned char *buf = cli_alloc_aligned(s->s_align, pg);
	int64_t last = 0;
	unsigned long op = 0;

	if (!buf) {
		violation(&g->g_v, "reader: out of memory");
		return NULL;
	}
	while (!atomic_load_explicit(&g->g_done, memory_order_acquire) &&
	       !g->g_v.v_count) {
		int64_t sz = cio_size(s->s_file);
		unsigned flags = (op++ & 1) ? CIO_RW_DIRECT : 0;
		const char *name = flags ? "direct" : "cached";
		ssize_t r;

		atomic_fetch_add_explicit(&g->g_sizes, 1, memory_order_relaxed);
		if (sz < 0) {
			violation(&g->g_v, "cio_size failed: %s", cio_strerror((int)sz));
			break;
		}
		if (sz < last) {
			violation(&g->g_v, "the size went backwards: %lld after %lld",
			                (long long)sz, (long long)last);
			break;
		}
		if (sz % pg) {
			violation(&g->g_v, "size %lld is not the end of any write",
			                (long long)sz);
			break;
		}
		last = sz;
		/* The last page inside the size holds its data... */
		if (sz > 0) {
			if (op % 4 == 3) {
				cio_pin pin;
				int n = cio_pin_range(s->s_file, sz - pg, pg, 0, &pin);

				if (n < 0) {
					violation(&g->g_v, "pin of the last page [%lld, %lld) "
					                "failed: %s", (long long)(sz - pg),
					                (long long)sz, cio_strerror(n));
					break;
				}
				g5_verify(g, "pinned", pin.seg[0].iov_base,
				          pin.seg[0].iov_len, sz - pg);
				cio_unpin(&pin);
			} else {
				r = cio_read(s->s_file, buf, pg, sz - pg, flags);
				if (r != (ssize_t)pg) {
					violation(&g->g_v, "%s read of the last page [%lld, %lld) "
					                "returned %zd", name, (long long)(sz - pg),
					                (long long)sz, r);
					break;
				}
				g5_verify(g, name, buf, pg, sz - pg);
			}
		}
		/* ...and the page past it is end of file, or data that has
		 * just landed, never zeros or garbage. */
		r = cio_read(s->s_file, buf, pg, sz, flags);
		if (r < 0) {
			violation(&g->g_v, "%s read past the end at %lld failed: %s", name,
			                (long long)sz, cio_strerror((int)r));
			break;
		}
		g5_verify(g, name, buf, (size_t)r, sz);
		atomic_fetch_add_explicit(&g->g_reads, 2, memory_order_relaxed);
	}
	free(buf);
	return NULL;
}

/* Read [off, off + len) on the cached, direct and pinned paths: all zeros? */
static void g5_zeros(struct g5 *g, unsigned char *buf, int64_t off, size_t len,
                     const char *what)
{
	struct sess *s = g->g_s;
	cio_pin pin;
	ssize_t r;
	int n, i;

	r = cio_read(s->s_file, buf, len, off, 0);
	if (r != (ssize_t)len || !all_bytes(buf, len, 0))
		violation(&g->g_v, "%s: cached read returned %zd bytes, %s", what, r,
		                r == (ssize_t)len ? "not zeros" : "not the whole range");
	memset(buf, 0xEE, len);
	r = cio_read(s->s_file, buf, len, off, CIO_RW_DIRECT);
	if (r != (ssize_t)len || !all_bytes(buf, len, 0))
		violation(&g->g_v, "%s: direct read returned %zd bytes, %s", what, r,
		                r == (ssize_t)len ? "not zeros" : "not the whole range");
	n = cio_pin_range(s->s_file, off, len, 0, &pin);
	if (n < 0) {
		violation(&g->g_v, "%s: pin failed: %s", what, cio_strerror(n));
		return;
	}
	for (i = 0; i < pin.nseg; i++)
		if (!all_bytes(pin.seg[i].iov_base, pin.seg[i].iov_len, 0))
			violation(&g->g_v, "%s: pinned bytes are not zeros", what);
	cio_unpin(&pin);
}

static int check_g5(const struct cli_opts *o, const char *path)
{
	struct g5 *g;
	struct sess s;
	unsigned char *buf = NULL;
	pthread_t th;
	uint64_t p;
	int64_t sz, end;
	cio_ctx *wctx = NULL;
	size_t k;
	ssize_t r;
	int ok = 1, rc;

	title("G5", "No uninitialised data; the size grows only with the data");
	g = calloc(1, sizeof(*g));
	if (!g)
		return verdict(0, "out of memory.");
	if (sess_open(&s, path, 0, 8u << 20) < 0) {
		free(g);
		return verdict(0, "could not open the file through coherio.");
	}
	g->g_s = &s;
	g->g_pages = o->quick ? 256 : 1024;
	buf = cli_alloc_aligned(s.s_align, 4 * (size_t)s.s_pg);
	if (!buf) {
		fail(&ok, "out of memory");
		goto out;
	}
	rc = cio_truncate(s.s_file, 0, 0);
	if (rc < 0) {
		fail(&ok, "truncate to 0 failed: %s", cio_strerror(rc));
		goto out;
	}
	wctx = aio_ctx(&s);
	step("%llu extending direct writes of %u B at the end of an empty file%s,",
	     (unsigned long long)g->g_pages, s.s_pg,
	     wctx ? " (every other one async)" : "");
	step("while a second thread polls the size and reads the last page and "
	     "the page past the end");
	step("(cached, direct, pinned): the size may never go back, and no read "
	     "may return a byte nobody wrote");
	if (pthread_create(&th, NULL, g5_reader, g) != 0) {
		fail(&ok, "cannot start the reader thread");
		goto out;
	}
	for (p = 0; p < g->g_pages; p++) {
		for (k = 0; k < s.s_pg; k += 8) {
			uint64_t w = g5_word(p);

			memcpy(buf + k, &w, 8);
		}
		if (wctx && (p & 1))
			r = aio_rw(wctx, CIO_OP_WRITE, s.s_file, buf, s.s_pg,
			           (int64_t)(p * s.s_pg));
		else
			r = cio_write(s.s_file, buf, s.s_pg, (int64_t)(p * s.s_pg),
			              CIO_RW_DIRECT);
		if (r != (ssize_t)s.s_pg) {
			fail(&ok, "extending %s direct write %llu returned %zd (%s)",
			     wctx && (p & 1) ? "async" : "sync",
			     (unsigned long long)p, r,
			     r < 0 ? cio_strerror((int)r) : "short");
			break;
		}
		if (p % 64 == 63)
			cli_progress("    G5  %llu/%llu extending writes, %llu reads at "
			             "the edge, %llu violations",
			             (unsigned long long)p + 1,
			             (unsigned long long)g->g_pages,
			             (unsigned long long)g->g_reads,
			             (unsigned long long)g->g_v.v_count);
	}
	atomic_store_explicit(&g->g_done, 1, memory_order_release);
	pthread_join(th, NULL);
	if (!ok)
		goto out;

	end = (int64_t)(g->g_pages * s.s_pg);
	sz = cio_size(s.s_file);
	if (sz != end)
		violation(&g->g_v, "final size %lld, expected %lld", (long long)sz,
		                (long long)end);
	step("size went 0 -> %lld in %llu steps, never backwards; %llu size "
	     "queries and %llu reads at the edge", (long long)sz,
	     (unsigned long long)g->g_pages, (unsigned long long)g->g_sizes,
	     (unsigned long long)g->g_reads);
	for (p = 0; p < g->g_pages && !g->g_v.v_count; p += 4) {
		size_t len = (size_t)(g->g_pages - p < 4 ? g->g_pages - p : 4) *
		             s.s_pg;

		r = cio_read(s.s_file, buf, len, (int64_t)(p * s.s_pg), 0);
		if (r != (ssize_t)len)
			violation(&g->g_v, "cached read of page %llu returned %zd",
			                (unsigned long long)p, r);
		else
			g5_verify(g, "cached (final)", buf, len, (int64_t)(p * s.s_pg));
	}

	/* A hole past the end of file: write one page two pages further on. */
	for (k = 0; k < s.s_pg; k += 8) {
		uint64_t w = g5_word((uint64_t)(end / s.s_pg) + 2);

		memcpy(buf + k, &w, 8);
	}
	r = cio_write(s.s_file, buf, s.s_pg, end + 2 * (int64_t)s.s_pg,
	              CIO_RW_DIRECT);
	if (r != (ssize_t)s.s_pg) {
		fail(&ok, "direct write past the end returned %zd", r);
		goto out;
	}
	sz = cio_size(s.s_file);
	if (sz != end + 3 * (int64_t)s.s_pg)
		violation(&g->g_v, "size after writing past the end is %lld, expected "
		                "%lld", (long long)sz,
		                (long long)(end + 3 * (int64_t)s.s_pg));
	g5_zeros(g, buf, end, 2 * (size_t)s.s_pg, "the gap");
	r = cio_read(s.s_file, buf, s.s_pg, sz, 0);
	if (r != 0)
		violation(&g->g_v, "a read at the end of file returned %zd, not 0", r);
	rc = cio_truncate(s.s_file, sz + 2 * (int64_t)s.s_pg, 0);
	if (rc < 0)
		violation(&g->g_v, "truncate up failed: %s", cio_strerror(rc));
	else
		g5_zeros(g, buf, sz, 2 * (size_t)s.s_pg, "the truncated-up range");
	step("direct write %u B past the end, then truncate 2 pages up: the gap "
	     "and the new range read", s.s_pg);
	step("as zeros on the cached, direct and pinned paths; %llu violation%s",
	     (unsigned long long)g->g_v.v_count, g->g_v.v_count == 1 ? "" : "s");
	if (g->g_v.v_count)
		fail(&ok, "first violation: %s", g->g_v.v_first);
out:
	free(buf);
	if (wctx && (rc = cio_ctx_destroy(wctx)) < 0)
		fail(&ok, "destroying the async context: %s", cio_strerror(rc));
	if (sess_close(&s) < 0)
		ok = 0;
	free(g);
	return verdict(ok, "a reader past the old end of file sees end of file "
	               "or zeros, never bytes nobody wrote.");
}

/* ------------------------------------------------------------------------ */
/* G3: nothing ever drops dirty data                                         */
/* ------------------------------------------------------------------------ */

/* Read page @page on the cached and direct paths and with the kernel's own
 * pread; each must show @half bytes of @a then @half bytes of @b. */
static void g3_verify(struct sess *s, int *ok, unsigned char *buf, int kfd,
                      int64_t page, size_t half, unsigned char a,
                      unsigned char b)
{
	int64_t off = page * s->s_pg;
	int path;

	for (path = 0; path < 3; path++) {
		const char *name = path == 0 ? "cached" : path == 1 ? "direct" :
		                   "kernel pread";
		ssize_t r;

		memset(buf, 0xEE, s->s_pg);
		if (path == 2)
			r = kfd >= 0 ? pread(kfd, buf, s->s_pg, off) : -1;
		else
			r = cio_read(s->s_file, buf, s->s_pg, off,
			             path ? CIO_RW_DIRECT : 0);
		if (path == 2 && kfd < 0)
			continue;
		if (r != (ssize_t)s->s_pg) {
			fail(ok, "%s read of page %lld returned %zd", name,
			     (long long)page, r);
			continue;
		}
		if (!all_bytes(buf, half, a) || !all_bytes(buf + half, half, b))
			fail(ok, "%s read of page %lld: expected %zu x '%c' then %zu "
			     "x '%c', got \"%.8s...%.8s\"", name, (long long)page,
			     half, a, half, b, buf, buf + half);
	}
}

static int check_g3(const char *path)
{
	struct cio_inval_result res;
	struct cio_file_stats fs;
	struct sess s;
	unsigned char *buf = NULL;
	cio_pin pin;
	size_t half;
	ssize_t r;
	int ok = 1, rc, kfd = -1, n;
	uint32_t pg;

	title("G3", "Nothing ever drops dirty data");
	if (sess_open(&s, path, 0, 8u << 20) < 0)
		return verdict(0, "could not open the file through coherio.");
	if (s.s_lbs > s.s_pg / 2) {
		/* A page must hold two logical blocks for this scenario. */
		uint32_t want = 2 * s.s_lbs;

		sess_close(&s);
		if (sess_open(&s, path, want, 8u << 20) < 0)
			return verdict(0, "could not open the file through coherio.");
	}
	pg = s.s_pg;
	half = pg / 2;
	buf = cli_alloc_aligned(s.s_align, 3 * (size_t)pg);
	if (!buf) {
		fail(&ok, "out of memory");
		goto out;
	}
	kfd = open(path, O_RDONLY | O_CLOEXEC);

	/* (a) Two halves of one page, one through each path. */
	rc = cio_truncate(s.s_file, 0, 0);
	memset(buf, '.', 3 * (size_t)pg);
	r = rc < 0 ? rc : cio_write(s.s_file, buf, 3 * (size_t)pg, 0,
	                            CIO_RW_DIRECT);
	if (r != 3 * (ssize_t)pg) {
		fail(&ok, "setting up 3 pages of '.' failed: %s",
		     r < 0 ? cio_strerror((int)r) : "short write");
		goto out;
	}
	memset(buf, 'X', half);
	r = cio_write(s.s_file, buf, half, pg, 0);
	if (r != (ssize_t)half) {
		fail(&ok, "cached write returned %zd", r);
		goto out;
	}
	cio_file_stats(s.s_file, &fs);
	step("cached write of 'X' into bytes 0-%zu of page 1: dirty, only in the "
	     "cache (%llu dirty page)", half - 1,
	     (unsigned long long)fs.dirty_pages);
	memset(buf, 'Y', half);
	r = cio_write(s.s_file, buf, half, (int64_t)pg + (int64_t)half,
	              CIO_RW_DIRECT);
	if (r != (ssize_t)half) {
		fail(&ok, "direct write returned %zd (%s)", r,
		     r < 0 ? cio_strerror((int)r) : "short");
		goto out;
	}
	step("direct write of 'Y' into bytes %zu-%u of page 1: straight to the "
	     "disk", half, pg - 1);
	memset(&res, 0, sizeof(res));
	rc = cio_invalidate(s.s_file, 0, 0, 0, &res);
	if (rc < 0)
		fail(&ok, "dropping the cache failed: %s", cio_strerror(rc));
	cio_file_stats(s.s_file, &fs);
	step("drop the cache: %llu page%s dropped (%llu laundered), %llu kept; "
	     "%llu cached now", (unsigned long long)res.dropped,
	     res.dropped == 1 ? "" : "s", (unsigned long long)res.laundered,
	     (unsigned long long)res.kept, (unsigned long long)fs.cached_pages);
	g3_verify(&s, &ok, buf, kfd, 1, half, 'X', 'Y');
	if (ok)
		step("page 1 reads %zu x 'X' then %zu x 'Y' on the cached and direct "
		     "paths%s", half, half, kfd >= 0 ? " and with the kernel's pread" :
		     "");

	/* (b) Invalidate over a pinned dirty page. */
	memset(buf, 'Z', 3 * (size_t)pg);
	r = cio_write(s.s_file, buf, 3 * (size_t)pg, 0, 0);
	if (r != 3 * (ssize_t)pg) {
		fail(&ok, "cached write of 3 pages returned %zd", r);
		goto out;
	}
	n = cio_pin_range(s.s_file, pg, pg, 0, &pin);
	if (n < 0) {
		fail(&ok, "pin of page 1 failed: %s", cio_strerror(n));
		goto out;
	}
	memset(&res, 0, sizeof(res));
	rc = cio_invalidate(s.s_file, 0, 3 * (int64_t)pg, 0, &res);
	cio_file_stats(s.s_file, &fs);
	step("cached write of 'Z' over pages 0-2 (all dirty), pin page 1, drop "
	     "pages 0-2: %s%s", rc < 0 ? "-" : "", cli_errname(rc));
	step("%llu dropped (%llu laundered), %llu kept: the page at byte %lld, "
	     "%s%s (%s); dirty pages left: %llu", (unsigned long long)res.dropped,
	     (unsigned long long)res.laundered, (unsigned long long)res.kept,
	     (long long)res.first_kept, res.first_error < 0 ? "-" : "",
	     cli_errname(res.first_error),
	     res.first_error == -EBUSY ? "pinned" : cio_strerror(res.first_error),
	     (unsigned long long)fs.dirty_pages);
	if (rc != -EBUSY || res.kept != 1 || res.first_kept != (int64_t)pg ||
	    res.first_error != -EBUSY || res.dropped != 2)
		fail(&ok, "expected -EBUSY with pages 0 and 2 dropped and page 1 "
		     "kept and named");
	rc = cio_unpin(&pin);
	if (rc < 0)
		fail(&ok, "unpin failed: %s", cio_strerror(rc));
	rc = cio_fsync(s.s_file);
	if (rc < 0)
		fail(&ok, "fsync failed: %s", cio_strerror(rc));
	rc = cio_invalidate(s.s_file, 0, 0, 0, &res);
	if (rc < 0)
		fail(&ok, "dropping the cache after unpin failed: %s",
		     cio_strerror(rc));
	r = cio_read(s.s_file, buf, 3 * (size_t)pg, 0, CIO_RW_DIRECT);
	if (r != 3 * (ssize_t)pg || !all_bytes(buf, 3 * (size_t)pg, 'Z'))
		fail(&ok, "after unpin, fsync and drop, pages 0-2 are not all 'Z'");
	else
		step("unpin, fsync, drop everything: pages 0-2 read all 'Z' from the "
		     "disk");
out:
	if (kfd >= 0)
		close(kfd);
	free(buf);
	if (sess_close(&s) < 0)
		ok = 0;
	return verdict(ok, "dirty data is written back before its page is "
	               "dropped; a pinned page is kept and reported.");
}

/* ------------------------------------------------------------------------ */

int cli_check(const struct cli_opts *o, const char *path)
{
	int passed = 0, total = 4;

	printf("Part 1: coherency. Four guarantees of coherio, each checked on "
	       "the scratch file.\n\n");
	fflush(stdout);
	passed += check_g2(path);
	passed += check_g1(o, path);
	passed += check_g5(o, path);
	passed += check_g3(path);
	if (passed == total)
		printf("All %d guarantees held.\n\n", total);
	else
		printf("%d of %d guarantees FAILED.\n\n", total - passed, total);
	fflush(stdout);
	return passed == total ? CLI_EXIT_OK : CLI_EXIT_VIOLATE;
}
