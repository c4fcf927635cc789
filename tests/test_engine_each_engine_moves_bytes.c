/*
 * Every engine moves the right bytes: for each engine (sync, threads,
 * uring; uring skipped where the kernel refuses a ring), with and without
 * the fault engine wrapped around it (delayed, reordered and short
 * transfers, which the cache must resume), several threads run a mixed
 * workload of cached and direct reads and writes (plain and vectored) and
 * fsync/fdatasync over several files, each thread in its own region of
 * every file, checking every read against its model. The cache is smaller
 * than the data, so eviction and write-back run all the time. At the end,
 * after fsync, the kernel's view (plain pread) of every region equals the
 * model, and the stats name the engine.
 */
#include "helpers.h"

#include <pthread.h>

#define NFILES 3
#define NTHREADS 4
#define REGION (192 * 1024)
#define OPS 250
#define CACHE_BYTES (1ull << 20)

struct world {
	cio_file *f[NFILES];
	uint32_t lbs, ps;
	const char *ename;
	int fault;
};

struct targ {
	struct world *w;
	int id;
	uint8_t *model[NFILES]; /* REGION bytes each */
};

static void *worker(void *arg)
{
	struct targ *ta = arg;
	struct world *w = ta->w;
	uint32_t lbs = w->lbs;
	size_t maxlen = 3 * (size_t)w->ps;
	uint8_t *buf = t_alloc(maxlen);
	uint8_t *seg[3] = { t_alloc(maxlen), t_alloc(maxlen), t_alloc(maxlen) };
	uint64_t rs = t_rand_seed((uint64_t)ta->id * 31 + (uint64_t)w->fault * 7 + 1);
	int64_t base = (int64_t)ta->id * REGION;

	for (int op = 0; op < OPS; op++) {
		int fi = (int)t_rand_below(&rs, NFILES);
		cio_file *f = w->f[fi];
		uint8_t *m = ta->model[fi];
		unsigned kind = (unsigned)t_rand_below(&rs, 16);
		size_t len = 1 + (size_t)t_rand_below(&rs, maxlen);
		int64_t rel = (int64_t)t_rand_below(&rs, REGION - len + 1);
		uint64_t seed = ((uint64_t)ta->id << 32) + (uint64_t)op + 1;
		t_ctx("%s fault=%d thread %d op %d kind %u file %d rel %lld len %zu",
		      w->ename, w->fault, ta->id, op, kind, fi, (long long)rel, len);
		if (kind >= 4 && kind < 12 && kind != 9) {
			/* direct ops: whole logical blocks */
			rel = (int64_t)t_align_down((uint64_t)rel, lbs);
			len = t_align_up(len, lbs);
			if (rel + (int64_t)len > REGION)
				rel = REGION - (int64_t)len;
		}
		int64_t off = base + rel;
		switch (kind) {
		case 0: case 1: /* cached write */
			t_stamp_fill(m + rel, len, (uint64_t)off, seed);
			t_write_all(f, m + rel, len, off, 0);
			break;
		case 2: case 3: /* cached read */
			memset(buf, 0xee, len);
			t_read_all(f, buf, len, off, 0);
			CHECK_MEM(buf, m + rel, len, off);
			break;
		case 4: case 5: /* direct write */
			t_stamp_fill(buf, len, (uint64_t)off, seed);
			t_write_all(f, buf, len, off, CIO_RW_DIRECT);
			memcpy(m + rel, buf, len);
			break;
		case 6: case 7: /* direct read */
			memset(buf, 0xee, len);
			t_read_all(f, buf, len, off, CIO_RW_DIRECT);
			CHECK_MEM(buf, m + rel, len, off);
			break;
		case 8: case 10: { /* direct writev / readv, 1..3 segments */
			struct iovec iov[3];
			size_t blocks = len / lbs, left = blocks;
			int n = 0;
			for (int s = 0; s < 3 && left; s++) {
				size_t b = s == 2 ? left : 1 + (size_t)t_rand_below(&rs, left);
				iov[n].iov_base = seg[s];
				iov[n].iov_len = b * lbs;
				left -= b;
				n++;
			}
			size_t pos = 0;
			if (kind == 8) {
				for (int s = 0; s < n; s++) {
					t_stamp_fill(iov[s].iov_base, iov[s].iov_len,
					             (uint64_t)off + pos, seed);
					pos += iov[s].iov_len;
				}
				ssize_t r = cio_writev(f, iov, n, off, CIO_RW_DIRECT);
				CHECK_EQ(r, (ssize_t)len);
				pos = 0;
				for (int s = 0; s < n; s++) {
					memcpy(m + rel + (int64_t)pos, iov[s].iov_base,
					       iov[s].iov_len);
					pos += iov[s].iov_len;
				}
			} else {
				for (int s = 0; s < n; s++)
					memset(iov[s].iov_base, 0xee, iov[s].iov_len);
				ssize_t r = cio_readv(f, iov, n, off, CIO_RW_DIRECT);
				CHECK_EQ(r, (ssize_t)len);
				for (int s = 0; s < n; s++) {
					CHECK_MEM((uint8_t *)iov[s].iov_base,
					          m + rel + (int64_t)pos,
					          iov[s].iov_len, off + (int64_t)pos);
					pos += iov[s].iov_len;
				}
			}
			break;
		}
		case 9: case 11: { /* cached readv / writev, 2 segments */
			size_t a = len / 2;
			struct iovec iov[2] = { { seg[0], a }, { seg[1], len - a } };
			if (kind == 11) {
				t_stamp_fill(seg[0], a, (uint64_t)off, seed);
				t_stamp_fill(seg[1], len - a, (uint64_t)off + a, seed);
				CHECK_EQ(cio_writev(f, iov, 2, off, 0), (ssize_t)len);
				memcpy(m + rel, seg[0], a);
				memcpy(m + rel + (int64_t)a, seg[1], len - a);
			} else {
				memset(seg[0], 0xee, a);
				memset(seg[1], 0xee, len - a);
				CHECK_EQ(cio_readv(f, iov, 2, off, 0), (ssize_t)len);
				CHECK_MEM(seg[0], m + rel, a, off);
				CHECK_MEM(seg[1], m + rel + (int64_t)a, len - a,
				          off + (int64_t)a);
			}
			break;
		}
		case 12:
			if (t_rand_below(&rs, 4) == 0)
				CHECK_EQ(cio_fsync(f), 0);
			break;
		case 13:
			if (t_rand_below(&rs, 4) == 0)
				CHECK_EQ(cio_fdatasync(f), 0);
			break;
		default: /* another cached read */
			memset(buf, 0xee, len);
			t_read_all(f, buf, len, off, 0);
			CHECK_MEM(buf, m + rel, len, off);
			break;
		}
	}
	for (int s = 0; s < 3; s++)
		free(seg[s]);
	free(buf);
	return NULL;
}

static void run(int engine, const char *ename, int fault)
{
	struct cio_cache_opts o = t_opts(4096, CACHE_BYTES);
	o.engine = engine;
	o.fault_inject = fault;
	o.queue_depth = 16;
	o.engine_threads = 3;
	cio_cache *c = t_cache_opts(&o);
	struct world w;
	char *path[NFILES];
	memset(&w, 0, sizeof w);
	w.ename = ename;
	w.fault = fault;
	w.ps = 4096;
	t_ctx("%s fault=%d setup", ename, fault);
	CHECK(!strcmp(t_cstats(c).engine, ename));
	for (int i = 0; i < NFILES; i++) {
		path[i] = t_scratch_path("moves");
		CHECK_EQ(t_kernel_create(path[i], (int64_t)NTHREADS * REGION), 0);
		w.f[i] = t_open(c, path[i], O_RDWR);
	}
	w.lbs = t_lbs(w.f[0]);
	if (fault) {
		struct cio_fault_rule r;
		memset(&r, 0, sizeof r);
		r.ops = CIO_FAULT_READ | CIO_FAULT_WRITE | CIO_FAULT_FSYNC;
		r.delay_us = 50;
		r.jitter_us = 700;
		r.per_million = 300000;
		r.count = -1;
		r.seed = 1234;
		CHECK_GE(cio_fault_add(c, &r), 0);
		memset(&r, 0, sizeof r);
		r.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
		r.short_bytes = 4096;
		r.per_million = 150000;
		r.count = -1;
		r.seed = 99;
		CHECK_GE(cio_fault_add(c, &r), 0);
	}

	struct targ ta[NTHREADS];
	pthread_t th[NTHREADS];
	for (int t = 0; t < NTHREADS; t++) {
		ta[t].w = &w;
		ta[t].id = t;
		for (int i = 0; i < NFILES; i++)
			ta[t].model[i] = t_alloc(REGION); /* zeros, like the file */
		CHECK_EQ(pthread_create(&th[t], NULL, worker, &ta[t]), 0);
	}
	for (int t = 0; t < NTHREADS; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);

	struct cio_cache_stats s = t_cstats(c);
	t_log("%s fault=%d: hits %llu misses %llu evictions %llu write-backs "
	      "%llu direct r/w %llu/%llu, faults fired %lld", ename, fault,
	      (unsigned long long)s.hits, (unsigned long long)s.misses,
	      (unsigned long long)s.evictions,
	      (unsigned long long)s.writeback_pages,
	      (unsigned long long)s.direct_reads,
	      (unsigned long long)s.direct_writes,
	      fault ? (long long)cio_fault_fired(c, -1) : 0ll);
	if (fault)
		CHECK_EQ(cio_fault_clear(c, -1), 0);
	uint8_t *buf = t_alloc(REGION);
	for (int i = 0; i < NFILES; i++) {
		t_ctx("%s fault=%d final check file %d", ename, fault, i);
		CHECK_EQ(cio_fsync(w.f[i]), 0);
		CHECK_EQ(t_fstats(w.f[i]).dirty_pages, 0);
		for (int t = 0; t < NTHREADS; t++) {
			int64_t off = (int64_t)t * REGION;
			CHECK_KERNEL(path[i], ta[t].model[i], REGION, off);
			memset(buf, 0xee, REGION);
			t_read_all(w.f[i], buf, REGION, off, CIO_RW_DIRECT);
			CHECK_MEM(buf, ta[t].model[i], REGION, off);
			memset(buf, 0xee, REGION);
			t_read_all(w.f[i], buf, REGION, off, 0);
			CHECK_MEM(buf, ta[t].model[i], REGION, off);
		}
		t_close(w.f[i]);
		t_scratch_remove(path[i]);
	}
	free(buf);
	for (int t = 0; t < NTHREADS; t++)
		for (int i = 0; i < NFILES; i++)
			free(ta[t].model[i]);
	t_destroy(c);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	static const struct { int engine; const char *name; } engines[] = {
		{ CIO_ENGINE_SYNC, "sync" },
		{ CIO_ENGINE_THREADS, "threads" },
		{ CIO_ENGINE_URING, "uring" },
	};
	for (unsigned k = 0; k < sizeof engines / sizeof engines[0]; k++) {
		if (engines[k].engine == CIO_ENGINE_URING) {
			struct cio_cache_opts o = t_opts(4096, CACHE_BYTES);
			cio_cache *c = NULL;
			o.engine = CIO_ENGINE_URING;
			int rc = cio_cache_create(&c, &o);
			if (rc < 0) {
				t_log("uring: the kernel refuses a ring (%s): "
				      "skipped", t_errname(rc));
				continue;
			}
			t_destroy(c);
		}
		for (int fault = 0; fault < 2; fault++)
			run(engines[k].engine, engines[k].name, fault);
	}
	return t_pass();
}
