/*
 * cli_bench_hot.c - hot 4 KiB random reads with the working set already in
 * both caches, and the hit path with 1..N threads (the scaling curve).
 *
 * Contestants, each reading a random 4 KiB page of the set per operation:
 *   coherio cached read   cio_read() into a private buffer (a copy)
 *   kernel buffered pread pread(2) on a warm page cache (a copy)
 *   coherio pin+unpin     cio_pin_range(), load 8 bytes, cio_unpin()
 *   kernel mmap load      load the same 8 bytes from a MAP_POPULATE mapping
 *   memcpy (ceiling)      memcpy of the same 4 KiB out of that mapping
 * Two sets: an LLC-sized one (half the last-level cache) and a DRAM-sized
 * one (the whole file). Each coherio cache is sized to hold its set and is
 * warmed by one sequential pass, as is the kernel's page cache; the report
 * says how many look-ups missed during the rounds (0 when warm).
 *
 * A measurement runs for bs_dur seconds on its own threads (started at a
 * gate, stopped by a flag); every 64th operation is timed on its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"

enum hot_kind { H_CIO_READ, H_KERN_PREAD, H_CIO_PIN, H_MMAP_LOAD, H_MEMCPY, H_NKINDS };

static const char *const hot_name[H_NKINDS] = {
	"coherio cached read", "kernel buffered pread", "coherio pin+unpin",
	"kernel mmap load (pre-faulted)", "memcpy from the mapping (ceiling)",
};
static const int hot_who[H_NKINDS] = {
	BS_COHERIO, BS_KERNEL, BS_COHERIO, BS_KERNEL, BS_REF,
};

#define HOT_BATCH  256 /* operations between looks at the stop flag */
#define HOT_STRIDE 64  /* time one operation in this many           */

/* The set being read: immutable during a measurement. */
struct hot_env {
	cio_file            *he_file;
	int                  he_kfd;
	const unsigned char *he_map;    /* the set, mapped and pre-faulted */
	uint64_t             he_npages; /* pages in the set                */
	size_t               he_io;     /* bytes per read                  */
};

/* The start gate of a measurement: workers wait until go is set. */
struct hot_gate {
	pthread_mutex_t hg_lock;
	pthread_cond_t  hg_cond;
	int             hg_go;
};

static void gate_wait(struct hot_gate *g)
{
	pthread_mutex_lock(&g->hg_lock);
	while (!g->hg_go)
		pthread_cond_wait(&g->hg_cond, &g->hg_lock);
	pthread_mutex_unlock(&g->hg_lock);
}

static void gate_open(struct hot_gate *g)
{
	pthread_mutex_lock(&g->hg_lock);
	g->hg_go = 1;
	pthread_cond_broadcast(&g->hg_cond);
	pthread_mutex_unlock(&g->hg_lock);
}

/* One worker thread of a measurement. */
struct hot_thr {
	const struct hot_env *ht_env;
	int                   ht_kind;
	uint64_t              ht_seed;
	struct bs_meas        ht_m;     /* its ops and latency samples     */
	struct hot_gate      *ht_gate;  /* start together                  */
	atomic_int           *ht_stop;
	int                   ht_err;   /* -errno of the first failure     */
	uint64_t              ht_sink;  /* keeps loads from being elided   */
	unsigned char        *ht_buf;   /* private read buffer             */
	pthread_t             ht_tid;
};

static void *hot_worker(void *arg)
{
	struct hot_thr *t = arg;
	const struct hot_env *e = t->ht_env;
	struct bs_meas *m = &t->ht_m;
	uint64_t rnd = t->ht_seed | 1, sink = 0, ops = 0;
	const size_t io = e->he_io;

	gate_wait(t->ht_gate);
	while (!atomic_load_explicit(t->ht_stop, memory_order_relaxed)) {
		for (int i = 0; i < HOT_BATCH; i++) {
			uint64_t off = bs_below(&rnd, e->he_npages) * io;
			int timed = bs_meas_want(m);
			uint64_t t0 = timed ? bs_ns() : 0;
			ssize_t r = (ssize_t)io;
			cio_pin pin;
			int n;

			switch (t->ht_kind) {
			case H_CIO_READ:
				r = cio_read(e->he_file, t->ht_buf, io, (int64_t)off, 0);
				break;
			case H_KERN_PREAD:
				r = pread(e->he_kfd, t->ht_buf, io, (off_t)off);
				if (r < 0)
					r = -errno;
				break;
			case H_CIO_PIN:
				n = cio_pin_range(e->he_file, (int64_t)off, io, 0, &pin);
				if (n < 0) {
					r = n;
					break;
				}
				sink += *(volatile const uint64_t *)pin.seg[0].iov_base;
				n = cio_unpin(&pin);
				if (n < 0)
					r = n;
				break;
			case H_MMAP_LOAD:
				sink += *(volatile const uint64_t *)(e->he_map + off);
				break;
			default: /* H_MEMCPY */
				memcpy(t->ht_buf, e->he_map + off, io);
				__asm__ volatile("" : : "r"(t->ht_buf) : "memory");
				break;
			}
			if (timed)
				bs_meas_lat(m, bs_ns() - t0);
			if (r != (ssize_t)io) {
				t->ht_err = r < 0 ? (int)r : -EIO;
				atomic_store(t->ht_stop, 1);
				break;
			}
		}
		ops += HOT_BATCH;
	}
	m->ms_ops = ops;
	m->ms_bytes = ops * io;
	t->ht_sink = sink;
	return NULL;
}

/*
 * hot_measure() - run @kind on @nthr threads for @dur seconds into @agg
 * (wall and CPU time of the whole process, ops and samples of all threads).
 * Return: 0 or -errno.
 */
static int hot_measure(struct bs_suite *b, const struct hot_env *e, int kind,
                       int nthr, uint64_t seed, double dur, struct bs_meas *agg)
{
	struct hot_thr *t = calloc((size_t)nthr, sizeof(*t));
	struct hot_gate gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	atomic_int stop = 0;
	int err = 0, started = 0;

	if (!t)
		return -ENOMEM;
	for (int i = 0; i < nthr && !err; i++) {
		t[i].ht_env = e;
		t[i].ht_kind = kind;
		t[i].ht_seed = seed * 0x9E3779B97F4A7C15ull + (uint64_t)i;
		t[i].ht_gate = &gate;
		t[i].ht_stop = &stop;
		t[i].ht_buf = cli_alloc_aligned(4096, e->he_io);
		if (!t[i].ht_buf || bs_meas_init(&t[i].ht_m, b, HOT_STRIDE) < 0)
			err = -ENOMEM;
	}
	for (int i = 0; i < nthr && !err; i++) {
		int r = pthread_create(&t[i].ht_tid, NULL, hot_worker, &t[i]);

		if (r)
			err = -r;
		else
			started++;
	}
	if (err)
		atomic_store(&stop, 1); /* the started ones leave at once */
	bs_meas_start(agg);
	gate_open(&gate);
	if (!err)
		bs_sleep(dur);
	atomic_store(&stop, 1);
	for (int i = 0; i < started; i++)
		pthread_join(t[i].ht_tid, NULL);
	bs_meas_stop(agg);
	for (int i = 0; i < nthr; i++) {
		if (!err && t[i].ht_err)
			err = t[i].ht_err;
		if (t[i].ht_m.ms_lat)
			bs_meas_merge(agg, &t[i].ht_m);
		bs_meas_free(&t[i].ht_m);
		free(t[i].ht_buf);
	}
	free(t);
	return err;
}

/* Cache, kernel page cache and mapping holding the first @set bytes. */
struct hot_setup {
	cio_cache     *hs_cache;
	struct hot_env hs_env;
	void          *hs_map;
	size_t         hs_maplen;
};

static int hot_open(struct bs_suite *b, uint64_t set, struct hot_setup *h)
{
	int r;

	memset(h, 0, sizeof(*h));
	h->hs_env.he_kfd = b->bs_kfd;
	h->hs_env.he_io = b->bs_io;
	h->hs_env.he_npages = set / b->bs_io;
	r = bs_cache_open(b, bs_cache_budget(set), &h->hs_cache, &h->hs_env.he_file);
	if (r < 0)
		return r;
	bs_progress(b, "warming coherio's cache and the kernel's with %llu MiB...",
	            (unsigned long long)(set >> 20));
	r = bs_warm_cio(h->hs_env.he_file, set);
	if (r < 0)
		return bs_fail(b, r, "warming the coherio cache");
	r = bs_warm_kernel(b->bs_kfd, set);
	if (r < 0)
		return bs_fail(b, r, "warming the kernel page cache");
	h->hs_maplen = (size_t)set;
	h->hs_map = mmap(NULL, h->hs_maplen, PROT_READ, MAP_SHARED | MAP_POPULATE,
	                 b->bs_kfd, 0);
	if (h->hs_map == MAP_FAILED) {
		h->hs_map = NULL;
		return bs_fail(b, -errno, "mmap of %llu MiB", (unsigned long long)(set >> 20));
	}
	h->hs_env.he_map = h->hs_map;
	return 0;
}

static void hot_close(struct bs_suite *b, struct hot_setup *h)
{
	if (h->hs_map)
		munmap(h->hs_map, h->hs_maplen);
	bs_cache_close(b, h->hs_cache, h->hs_env.he_file);
	memset(h, 0, sizeof(*h));
}

static void cache_counts(cio_cache *c, uint64_t *hits, uint64_t *misses)
{
	struct cio_cache_stats st;

	*hits = *misses = 0;
	if (cio_cache_stats(c, &st) == 0) {
		*hits = st.hits;
		*misses = st.misses;
	}
}

/* The five contestants on one set, rounds alternating. */
static int hot_set(struct bs_suite *b, struct hot_setup *h, const char *id,
                   const char *title)
{
	int g = bs_group_add(b, id, title, 0, NULL);
	int sd[H_NKINDS];
	uint64_t h0, m0, h1, m1;
	struct bs_meas m = { 0 }, acc[H_NKINDS] = { { 0 } };
	int r = 0;

	if (g < 0)
		return bs_fail(b, -ENOSPC, "too many workloads");
	for (int k = 0; k < H_NKINDS; k++)
		sd[k] = bs_side_add(b, g, hot_name[k], hot_who[k], 1);
	bs_cmp_add(b, g, "cached read / buffered pread", sd[H_CIO_READ],
	           sd[H_KERN_PREAD], BS_M_OPS, strcmp(id, "hot-llc") == 0 ? 2.0 : 0, 0);
	bs_cmp_add(b, g, "pin+unpin / buffered pread", sd[H_CIO_PIN],
	           sd[H_KERN_PREAD], BS_M_OPS, 10.0, 0);
	bs_cmp_add(b, g, "pin+unpin / mmap load (within 1.5x)", sd[H_CIO_PIN],
	           sd[H_MMAP_LOAD], BS_M_OPS, 1.0 / 1.5, 0);
	bs_cmp_add(b, g, "cached read / memcpy (the ceiling)", sd[H_CIO_READ],
	           sd[H_MEMCPY], BS_M_OPS, 0, 0);
	bs_cmp_add(b, g, "CPU/op: cached read / buffered pread", sd[H_CIO_READ],
	           sd[H_KERN_PREAD], BS_M_CPU, 0, 1);
	for (int k = 0; k < H_NKINDS; k++)
		if (bs_meas_init(&acc[k], b, 1) < 0)
			r = -ENOMEM;
	if (r || bs_meas_init(&m, b, 1) < 0) {
		r = bs_fail(b, -ENOMEM, "allocating");
		goto out;
	}

	/* One untimed pass of each, so first-touch costs are not in round 0. */
	for (int k = 0; k < H_NKINDS && !r; k++)
		r = hot_measure(b, &h->hs_env, k, 1, 1, b->bs_dur / 4, &m);
	cache_counts(h->hs_cache, &h0, &m0);
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		for (int k = 0; k < H_NKINDS; k++)
			bs_meas_clear(&acc[k]);
		for (int sl = 0; sl < BS_SLICES && !r; sl++) {
			uint64_t seed = 0x5EED00ull + (uint64_t)(round * BS_SLICES + sl);

			for (int i = 0; i < H_NKINDS && !r; i++) {
				int k = bs_order(H_NKINDS, round * BS_SLICES + sl, i);

				bs_progress(b, "%s round %d/%d: %s", id, round + 1,
				            b->bs_rounds, hot_name[k]);
				r = hot_measure(b, &h->hs_env, k, 1, seed,
				                b->bs_dur / BS_SLICES, &m);
				if (r < 0)
					bs_fail(b, r, "%s: %s", id, hot_name[k]);
				else
					bs_meas_add(&acc[k], &m);
			}
		}
		for (int k = 0; k < H_NKINDS && !r; k++)
			bs_record(b, sd[k], round, &acc[k], NAN);
	}
	cache_counts(h->hs_cache, &h1, &m1);
	bs_note(b, g, "coherio cache: %llu hits, %llu misses during the rounds; "
	        "pin and mmap load read 8 bytes of the page",
	        (unsigned long long)(h1 - h0), (unsigned long long)(m1 - m0));
out:
	for (int k = 0; k < H_NKINDS; k++)
		bs_meas_free(&acc[k]);
	bs_meas_free(&m);
	return r;
}

/* The hit path with 1, 2, 4, ... and b->bs_threads threads. */
static int hot_scale(struct bs_suite *b, struct hot_setup *h)
{
	static const int kinds[] = { H_CIO_READ, H_CIO_PIN, H_KERN_PREAD };
	enum { NK = sizeof(kinds) / sizeof(kinds[0]) };
	int nthr[16], nn = 0, sd[NK][16], g;
	char title[160], name[64];
	struct bs_meas m = { 0 }, acc[NK * 16];
	int r = 0;

	memset(acc, 0, sizeof(acc));
	for (int k = 1; k < b->bs_threads && nn < 15; k *= 2)
		nthr[nn++] = k;
	nthr[nn++] = b->bs_threads;
	snprintf(title, sizeof(title), "Hit path scaling: 4 KiB random reads of the "
	         "LLC-sized set (%llu MiB) with 1..%d threads",
	         (unsigned long long)(b->bs_llc_set >> 20), b->bs_threads);
	g = bs_group_add(b, "scale", title, 0, NULL);
	if (g < 0)
		return bs_fail(b, -ENOSPC, "too many workloads");
	for (int k = 0; k < NK; k++)
		for (int j = 0; j < nn; j++) {
			snprintf(name, sizeof(name), "%s, %d thread%s", hot_name[kinds[k]],
			         nthr[j], nthr[j] == 1 ? "" : "s");
			sd[k][j] = bs_side_add(b, g, name, hot_who[kinds[k]], nthr[j]);
		}
	for (int j = 1; j < nn; j++)
		for (int k = 0; k < NK; k++) {
			snprintf(name, sizeof(name), "%s, 1 -> %d threads",
			         kinds[k] == H_CIO_READ ? "coherio cached read" :
			         kinds[k] == H_CIO_PIN ? "coherio pin+unpin" :
			         "kernel pread (reference)", nthr[j]);
			bs_cmp_add(b, g, name, sd[k][j], sd[k][0], BS_M_EFF,
			           kinds[k] == H_KERN_PREAD ? 0 : 0.8, 0);
		}
	for (int x = 0; x < NK * nn; x++)
		if (bs_meas_init(&acc[x], b, 1) < 0)
			r = -ENOMEM;
	if (r || bs_meas_init(&m, b, 1) < 0) {
		r = bs_fail(b, -ENOMEM, "allocating");
		goto out;
	}
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		for (int x = 0; x < NK * nn; x++)
			bs_meas_clear(&acc[x]);
		for (int sl = 0; sl < BS_SLICES && !r; sl++) {
			uint64_t seed = 0x5CA1E00ull + (uint64_t)(round * BS_SLICES + sl);

			for (int i = 0; i < NK * nn && !r; i++) {
				int x = bs_order(NK * nn, round * BS_SLICES + sl, i);
				int k = x / nn, j = x % nn;

				bs_progress(b, "scale round %d/%d: %s, %d threads", round + 1,
				            b->bs_rounds, hot_name[kinds[k]], nthr[j]);
				r = hot_measure(b, &h->hs_env, kinds[k], nthr[j], seed,
				                b->bs_dur / BS_SLICES, &m);
				if (r < 0)
					bs_fail(b, r, "scale: %s", hot_name[kinds[k]]);
				else
					bs_meas_add(&acc[x], &m);
			}
		}
		for (int x = 0; x < NK * nn && !r; x++)
			bs_record(b, sd[x / nn][x % nn], round, &acc[x], NAN);
	}
	bs_note(b, g, "per core = (ops/s with k threads / ops/s with 1 - 1) / (k - 1), "
	        "per round, median; the kernel's curve shows what the machine allows");
	if (b->bs_threads > b->bs_ncpu)
		bs_note(b, g, "more threads (%d) than online CPUs (%d)", b->bs_threads,
		        b->bs_ncpu);
out:
	for (int x = 0; x < NK * nn; x++)
		bs_meas_free(&acc[x]);
	bs_meas_free(&m);
	return r;
}

int bs_run_hot(struct bs_suite *b)
{
	struct hot_setup h;
	char title[192];
	int r = 0;

	if (b->bs_only & (BS_W_HOT | BS_W_SCALE)) {
		r = hot_open(b, b->bs_llc_set, &h);
		if (!r && (b->bs_only & BS_W_HOT)) {
			snprintf(title, sizeof(title), "Hot 4 KiB random reads, LLC-sized set "
			         "(%llu MiB; LLC %llu MiB), 1 thread, both caches warm",
			         (unsigned long long)(b->bs_llc_set >> 20),
			         (unsigned long long)(b->bs_llc >> 20));
			r = hot_set(b, &h, "hot-llc", title);
		}
		if (!r && (b->bs_only & BS_W_SCALE))
			r = hot_scale(b, &h);
		hot_close(b, &h);
	}
	if (!r && (b->bs_only & BS_W_HOT)) {
		r = hot_open(b, b->bs_file, &h);
		if (!r) {
			snprintf(title, sizeof(title), "Hot 4 KiB random reads, DRAM-sized "
			         "set (%llu MiB), 1 thread, both caches warm",
			         (unsigned long long)(b->bs_file >> 20));
			r = hot_set(b, &h, "hot-dram", title);
		}
		hot_close(b, &h);
	}
	return r ? r : b->bs_err;
}
