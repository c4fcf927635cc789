/*
 * The memory budget is a hard limit: for several budgets and page sizes,
 * stats.memory_bytes <= budget and pages_total * page_size <= budget, at
 * creation and all through sustained load (two threads doing cached, direct
 * and pinned I/O with verification over files larger than the cache, several
 * files open, while the main thread samples the stats). A budget too small
 * for 16 pages is rejected with -EINVAL and a budget that can hold 16 pages
 * with room to spare is accepted.
 */
#include "helpers.h"

#include <pthread.h>

#define NWORKERS 2
#define OPS 400

struct mb {
	cio_cache *c;
	cio_file *f[NWORKERS];
	uint32_t ps, lbs;
	uint64_t fpages;
	atomic_int done;
};

struct warg {
	struct mb *m;
	int id;
};

static void *worker(void *arg)
{
	struct warg *wa = arg;
	struct mb *m = wa->m;
	uint32_t ps = m->ps;
	size_t fsize = (size_t)(m->fpages * ps);
	uint8_t *model = t_alloc(fsize);
	uint8_t *buf = t_alloc(2 * (size_t)ps);
	cio_file *f = m->f[wa->id];
	uint64_t rs = t_rand_seed((uint64_t)wa->id * 3 + ps);
	t_ctx("worker %d ps=%u", wa->id, ps);
	/* a first pass over the whole (sparse) file: more than the cache */
	for (int64_t off = 0; off < (int64_t)fsize; off += 2 * (int64_t)ps) {
		t_read_all(f, buf, 2 * (size_t)ps, off, 0);
		CHECK_EQ(t_find_nonzero(buf, 2 * (size_t)ps), -1);
	}
	for (int op = 0; op < OPS; op++) {
		int64_t p = (int64_t)t_rand_below(&rs, m->fpages - 1);
		int64_t off = p * ps;
		unsigned kind = (unsigned)t_rand_below(&rs, 5);
		if (kind == 0) {
			int64_t o = off + (int64_t)t_rand_below(&rs, ps);
			size_t len = 1 + (size_t)t_rand_below(&rs, ps);
			t_stamp_fill(model + o, len, (uint64_t)o, (uint64_t)op + 9);
			t_write_all(f, model + o, len, o, 0);
		} else if (kind == 1) {
			size_t len = m->lbs * (1 + (size_t)t_rand_below(
			                               &rs, ps / m->lbs));
			t_stamp_fill(buf, len, (uint64_t)off, (uint64_t)op + 9);
			t_write_all(f, buf, len, off, CIO_RW_DIRECT);
			memcpy(model + off, buf, len);
		} else if (kind == 2) {
			int64_t o = off + (int64_t)t_rand_below(&rs, ps);
			size_t len = 1 + (size_t)t_rand_below(&rs, ps);
			t_read_all(f, buf, len, o, 0);
			CHECK_MEM(buf, model + o, len, o);
		} else if (kind == 3) {
			cio_pin pin;
			memset(&pin, 0, sizeof pin);
			int n = cio_pin_range(f, off, 2 * (size_t)ps,
			                      (op & 1) ? CIO_PIN_WRITE : 0, &pin);
			CHECKF(n == 2, "pin = %d (%s)", n, t_errname(n));
			int64_t o = off;
			for (int s = 0; s < n; s++) {
				CHECK_MEM((uint8_t *)pin.seg[s].iov_base, model + o,
				          pin.seg[s].iov_len, o);
				if (op & 1) {
					t_stamp_fill(pin.seg[s].iov_base, 64,
					             (uint64_t)o, (uint64_t)op + 9);
					memcpy(model + o, pin.seg[s].iov_base, 64);
				}
				o += (int64_t)pin.seg[s].iov_len;
			}
			CHECK_EQ(cio_unpin(&pin), 0);
		} else {
			size_t len = 2 * (size_t)ps;
			t_read_all(f, buf, len, off, CIO_RW_DIRECT);
			CHECK_MEM(buf, model + off, len, off);
		}
	}
	CHECK_EQ(cio_fsync(f), 0);
	free(model);
	free(buf);
	atomic_fetch_add(&m->done, 1);
	return NULL;
}

static void check_budget(cio_cache *c, uint64_t budget)
{
	struct cio_cache_stats s = t_cstats(c);
	CHECK_ULE(s.memory_bytes, budget);
	CHECK_ULE(s.pages_total * s.page_size, budget);
	CHECK_ULE(s.pages_used, s.pages_total);
	CHECK_ULE(s.pages_dirty, s.pages_used);
}

static void run(uint32_t ps, uint64_t budget)
{
	struct cio_cache_opts o = t_opts(ps, budget);
	cio_cache *c = NULL;
	int rc = cio_cache_create(&c, &o);
	t_ctx("ps=%u budget=%llu", ps, (unsigned long long)budget);
	if (budget < 16ull * ps) {
		CHECK_EQ(rc, -EINVAL);
		return;
	}
	if (rc == -EINVAL && budget < 20ull * ps) {
		t_log("ps=%u budget=%llu (%.2f pages): rejected as too small", ps,
		      (unsigned long long)budget, (double)budget / ps);
		return;
	}
	CHECKF(rc == 0, "cio_cache_create = %d (%s)", rc, t_errname(rc));
	struct cio_cache_stats s = t_cstats(c);
	CHECK_EQ(s.page_size, ps);
	CHECK_GE(s.pages_total, 16);
	check_budget(c, budget);
	t_log("ps=%u budget=%llu: %llu pages, %llu bytes taken", ps,
	      (unsigned long long)budget, (unsigned long long)s.pages_total,
	      (unsigned long long)s.memory_bytes);

	struct mb m;
	memset(&m, 0, sizeof m);
	m.c = c;
	m.ps = ps;
	m.fpages = 4 * s.pages_total + 8;
	if (m.fpages > 2048)
		m.fpages = 2048;
	char *path[NWORKERS + 2];
	for (int i = 0; i < NWORKERS + 2; i++)
		path[i] = t_scratch_path("mb");
	for (int i = 0; i < NWORKERS; i++) {
		m.f[i] = t_open(c, path[i], O_RDWR | O_CREAT | O_EXCL);
		CHECK_EQ(cio_truncate(m.f[i], (int64_t)(m.fpages * ps), 0), 0);
	}
	m.lbs = t_lbs(m.f[0]);
	/* two more open files that only sit there */
	cio_file *idle[2];
	for (int i = 0; i < 2; i++)
		idle[i] = t_open(c, path[NWORKERS + i], O_RDWR | O_CREAT | O_EXCL);
	check_budget(c, budget);

	pthread_t th[NWORKERS];
	struct warg wa[NWORKERS];
	for (int i = 0; i < NWORKERS; i++) {
		wa[i].m = &m;
		wa[i].id = i;
		CHECK_EQ(pthread_create(&th[i], NULL, worker, &wa[i]), 0);
	}
	unsigned samples = 0;
	while (atomic_load(&m.done) < NWORKERS) {
		check_budget(c, budget);
		samples++;
		t_sleep_ms(2);
	}
	for (int i = 0; i < NWORKERS; i++)
		CHECK_EQ(pthread_join(th[i], NULL), 0);
	check_budget(c, budget);
	struct cio_cache_stats e = t_cstats(c);
	CHECK_GT(e.evictions, 0);
	t_log("ps=%u budget=%llu: %u samples, evictions %llu", ps,
	      (unsigned long long)budget, samples,
	      (unsigned long long)e.evictions);
	for (int i = 0; i < NWORKERS; i++)
		t_close(m.f[i]);
	for (int i = 0; i < 2; i++)
		t_close(idle[i]);
	check_budget(c, budget);
	t_destroy(c);
	for (int i = 0; i < NWORKERS + 2; i++)
		t_scratch_remove(path[i]);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		uint32_t ps = t_page_sizes[i];
		uint64_t budgets[] = {15ull * ps, 16ull * ps + ps / 2,
		                      24ull * ps,  64ull * ps + 12345,
		                      1ull << 20,  (4ull << 20) + 777};
		for (size_t k = 0; k < sizeof budgets / sizeof budgets[0]; k++)
			run(ps, budgets[k]);
	}
	return t_pass();
}
