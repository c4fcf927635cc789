/*
 * Mixed paths, two threads: a 1 GiB sparse file under a 64 MiB cache. Each
 * thread owns half of the file and, in it, NZONES zones of ZONE bytes at
 * scattered places (kept well away from the other half). It mixes cached,
 * direct (aligned) and pinned reads and writes, occasional fsyncs and
 * invalidations of its own zones, and checks every read against its shadow
 * copy of its zones (never stale; bytes never written read as zeros). The
 * zones together are larger than the cache, so eviction and write-back run
 * all the time. Reads of untouched parts of its half return zeros. At the
 * end, after cio_fsync, the device holds exactly the shadow copies.
 */
#include "helpers.h"

#include <pthread.h>

#define FILE_SIZE (1ll << 30)
#define CACHE_BYTES (64ull << 20)
#define NZONES 48
#define ZONE (1ll << 20)
#define OPS 1000
#define GUARD (32ll << 20) /* zones stay this far from the halves' edges */

struct mx {
	cio_file *f;
	uint32_t ps, lbs;
	atomic_int inval_busy;
};

struct targ {
	struct mx *m;
	int id;
	int64_t zone_off[NZONES];
	uint8_t *shadow; /* NZONES * ZONE */
};

static void *worker(void *arg)
{
	struct targ *ta = arg;
	struct mx *m = ta->m;
	uint32_t ps = m->ps, lbs = m->lbs;
	cio_file *f = m->f;
	size_t maxlen = 3 * (size_t)ps;
	uint8_t *buf = t_alloc(maxlen);
	uint64_t rs = t_rand_seed((uint64_t)ta->id * 1009 + ps);
	int64_t half = FILE_SIZE / 2, base = ta->id * half;
	for (int op = 0; op < OPS; op++) {
		int z = (int)t_rand_below(&rs, NZONES);
		uint8_t *sh = ta->shadow + (size_t)z * ZONE;
		int64_t zo = ta->zone_off[z];
		unsigned kind = (unsigned)t_rand_below(&rs, 20);
		/* a range inside the zone */
		size_t len = 1 + (size_t)t_rand_below(&rs, maxlen);
		int64_t rel = (int64_t)t_rand_below(&rs, (uint64_t)(ZONE - (int64_t)len));
		t_ctx("thread %d ps=%u op %d kind %u zone %d (at %lld) rel %lld"
		      " len %zu",
		      ta->id, ps, op, kind, z, (long long)zo, (long long)rel, len);
		if (kind < 4) { /* cached write, unaligned */
			t_stamp_fill(sh + rel, len, (uint64_t)(zo + rel),
			             (uint64_t)op * 2 + (uint64_t)ta->id);
			t_write_all(f, sh + rel, len, zo + rel, 0);
		} else if (kind < 8) { /* cached read */
			memset(buf, 0xee, len);
			t_read_all(f, buf, len, zo + rel, 0);
			CHECK_MEM(buf, sh + rel, len, zo + rel);
		} else if (kind < 11) { /* direct write, aligned */
			rel = (int64_t)t_align_down((uint64_t)rel, lbs);
			len = t_align_up(len, lbs);
			if (rel + (int64_t)len > ZONE)
				rel = ZONE - (int64_t)len;
			t_stamp_fill(buf, len, (uint64_t)(zo + rel),
			             (uint64_t)op * 2 + (uint64_t)ta->id);
			t_write_all(f, buf, len, zo + rel, CIO_RW_DIRECT);
			memcpy(sh + rel, buf, len);
		} else if (kind < 14) { /* direct read, aligned */
			rel = (int64_t)t_align_down((uint64_t)rel, lbs);
			len = t_align_up(len, lbs);
			if (rel + (int64_t)len > ZONE)
				rel = ZONE - (int64_t)len;
			memset(buf, 0xee, len);
			t_read_all(f, buf, len, zo + rel, CIO_RW_DIRECT);
			CHECK_MEM(buf, sh + rel, len, zo + rel);
		} else if (kind < 18) { /* pin: read, or write + store */
			int wr = kind >= 16;
			cio_pin pin;
			memset(&pin, 0, sizeof pin);
			int n = cio_pin_range(f, zo + rel, len,
			                      wr ? CIO_PIN_WRITE : 0, &pin);
			CHECKF(n >= 1, "pin = %d (%s)", n, t_errname(n));
			CHECK_EQ(pin.nseg, n);
			CHECK_EQ(pin.off, zo + rel);
			CHECK_EQ(pin.len, len);
			int64_t o = rel;
			for (int s = 0; s < n; s++) {
				uint8_t *p = pin.seg[s].iov_base;
				size_t sl = pin.seg[s].iov_len;
				CHECK_MEM(p, sh + o, sl, zo + o);
				if (wr) {
					t_stamp_fill(p, sl, (uint64_t)(zo + o),
					             (uint64_t)op * 2 +
					                     (uint64_t)ta->id);
					memcpy(sh + o, p, sl);
				}
				o += (int64_t)sl;
			}
			CHECK_EQ(o, rel + (int64_t)len);
			CHECK_EQ(cio_unpin(&pin), 0);
		} else if (kind == 18) { /* untouched space reads as zeros */
			int64_t off = base + (int64_t)t_rand_below(
			                             &rs, (uint64_t)(half - ZONE));
			int inzone = 0;
			for (int k = 0; k < NZONES; k++)
				if (off < ta->zone_off[k] + ZONE &&
				    off + ZONE > ta->zone_off[k])
					inzone = 1;
			if (!inzone) {
				int64_t a = (int64_t)t_align_down((uint64_t)off, lbs);
				t_read_all(f, buf, len, off, 0);
				CHECK_EQ(t_find_nonzero(buf, len), -1);
				memset(buf, 0xee, lbs);
				t_read_all(f, buf, lbs, a, CIO_RW_DIRECT);
				CHECK_EQ(t_find_nonzero(buf, lbs), -1);
			}
		} else { /* now and then: fsync, or invalidate a zone */
			if (t_rand_below(&rs, 4) == 0) {
				CHECK_EQ(cio_fsync(f), 0);
			} else {
				struct cio_inval_result res;
				int rc = cio_invalidate(f, zo, ZONE, 0, &res);
				/* the zone is ours and nothing of ours is
				 * pinned now; -EBUSY only for a page the
				 * other thread's I/O holds transiently */
				CHECKF(rc == 0 || rc == -EBUSY,
				       "invalidate = %d (%s)", rc, t_errname(rc));
				if (rc == -EBUSY) {
					CHECK_EQ(res.first_error, -EBUSY);
					atomic_fetch_add(&m->inval_busy, 1);
				}
			}
		}
	}
	free(buf);
	return NULL;
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("mixed");
	CHECK_EQ(t_kernel_create(path, FILE_SIZE), 0);
	cio_cache *c = t_cache(ps, CACHE_BYTES, 0);
	struct mx m;
	memset(&m, 0, sizeof m);
	m.ps = ps;
	m.f = t_open(c, path, O_RDWR);
	m.lbs = t_lbs(m.f);
	CHECK_EQ(cio_size(m.f), FILE_SIZE);

	struct targ ta[2];
	pthread_t th[2];
	for (int t = 0; t < 2; t++) {
		ta[t].m = &m;
		ta[t].id = t;
		ta[t].shadow = t_alloc((size_t)NZONES * ZONE);
		/* zones: distinct 1 MiB slots of the thread's half, minus
		 * guards at both edges */
		int64_t lo = t * (FILE_SIZE / 2) + GUARD;
		int64_t nslots = (FILE_SIZE / 2 - 2 * GUARD) / ZONE;
		uint64_t rs = t_rand_seed((uint64_t)t + 99);
		for (int z = 0; z < NZONES; z++) {
			int64_t slot;
			int dup;
			do {
				slot = (int64_t)t_rand_below(&rs, (uint64_t)nslots);
				dup = 0;
				for (int k = 0; k < z; k++)
					if (ta[t].zone_off[k] == lo + slot * ZONE)
						dup = 1;
			} while (dup);
			ta[t].zone_off[z] = lo + slot * ZONE;
		}
	}
	for (int t = 0; t < 2; t++)
		CHECK_EQ(pthread_create(&th[t], NULL, worker, &ta[t]), 0);
	for (int t = 0; t < 2; t++)
		CHECK_EQ(pthread_join(th[t], NULL), 0);

	t_ctx("ps=%u final check", ps);
	struct cio_cache_stats s = t_cstats(c);
	CHECK_ULE(s.memory_bytes, CACHE_BYTES);
	CHECK_ULE(s.pages_used, s.pages_total);
	t_log("ps=%u: evictions %llu, write-backs %llu, coherence updates %llu,"
	      " invalidations that met a busy page %d",
	      ps, (unsigned long long)s.evictions,
	      (unsigned long long)s.writeback_pages,
	      (unsigned long long)s.coherence_updates,
	      atomic_load(&m.inval_busy));
	CHECK_EQ(cio_fsync(m.f), 0);
	CHECK_EQ(t_fstats(m.f).dirty_pages, 0);
	CHECK_EQ(cio_size(m.f), FILE_SIZE);
	CHECK_EQ(t_kernel_size(path), FILE_SIZE);
	uint8_t *buf = t_alloc(ZONE);
	for (int t = 0; t < 2; t++)
		for (int z = 0; z < NZONES; z++) {
			uint8_t *sh = ta[t].shadow + (size_t)z * ZONE;
			CHECK_KERNEL(path, sh, ZONE, ta[t].zone_off[z]);
			if (z % 8 == 0) {
				t_read_all(m.f, buf, ZONE, ta[t].zone_off[z], 0);
				CHECK_MEM(buf, sh, ZONE, ta[t].zone_off[z]);
			}
		}
	t_close(m.f);
	t_destroy(c);
	free(buf);
	for (int t = 0; t < 2; t++)
		free(ta[t].shadow);
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
