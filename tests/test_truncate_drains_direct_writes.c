/*
 * G8 (sync engine) - truncate drains the direct writes in flight.
 *
 * A fault-injecting cache delays every write by DELAY_US. NWRITERS threads
 * each start one extending direct write of one logical block at a distinct
 * aligned offset. Once every one of them has reached the engine (the delay
 * rule's fired count says so, so each is provably in flight), the main thread
 * calls cio_truncate(f, 0). Every writer's call began before the truncate,
 * and each was already in the engine, so after the truncate returns none of
 * them may write into or resize the file: the size is 0 once truncate has
 * returned and stays 0 after every writer has returned, and re-extending the
 * file shows only zeros on the cached and the direct path and on the device.
 */
#include "helpers.h"

#include <pthread.h>

#define NWRITERS 16
#define DELAY_US 20000

struct g8 {
	cio_file *f;
	uint32_t ps, lbs;
	atomic_int go;
	atomic_int started;
	atomic_int truncate_returned;
};

struct warg {
	struct g8 *g;
	int i;
	long long rc;              /* read after join */
	int returned_before_truncate;
	int64_t off;
};

static void *writer(void *arg)
{
	struct warg *wa = arg;
	struct g8 *g = wa->g;
	uint8_t *buf = t_alloc(g->lbs);
	t_stamp_fill(buf, g->lbs, (uint64_t)wa->off, (uint64_t)wa->i + 1);
	t_ctx("writer %d ps=%u", wa->i, g->ps);
	while (!atomic_load(&g->go))
		t_sleep_ms(1);
	atomic_fetch_add(&g->started, 1);
	wa->rc = cio_write(g->f, buf, g->lbs, wa->off, CIO_RW_DIRECT);
	wa->returned_before_truncate = !atomic_load(&g->truncate_returned);
	free(buf);
	return NULL;
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("g8");
	cio_cache *c = t_cache(ps, 0, 1);
	struct g8 g;
	memset(&g, 0, sizeof g);
	g.ps = ps;
	g.f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	g.lbs = t_lbs(g.f);
	t_ctx("ps=%u", ps);

	struct cio_fault_rule rule;
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_WRITE;
	rule.delay_us = DELAY_US;
	rule.count = -1;
	int id = cio_fault_add(c, &rule);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));

	pthread_t th[NWRITERS];
	struct warg wa[NWRITERS];
	int64_t max_end = 0;
	for (int i = 0; i < NWRITERS; i++) {
		wa[i].g = &g;
		wa[i].i = i;
		/* distinct, spread out, all past EOF (0) */
		wa[i].off = (int64_t)(i * 3 + 1) * ps + (int64_t)(i % 3) * g.lbs;
		if (wa[i].off + (int64_t)g.lbs > max_end)
			max_end = wa[i].off + (int64_t)g.lbs;
		CHECK_EQ(pthread_create(&th[i], NULL, writer, &wa[i]), 0);
	}
	atomic_store(&g.go, 1);
	while (atomic_load(&g.started) < NWRITERS)
		t_sleep_ms(1);
	/* Wait until every write has reached the (delaying) engine. */
	uint64_t t0 = t_now_ns();
	int64_t fired;
	while ((fired = cio_fault_fired(c, id)) < NWRITERS) {
		CHECKF(fired >= 0, "cio_fault_fired = %lld",
		       (long long)fired);
		CHECKF(t_now_ns() - t0 < 60ull * 1000000000ull,
		       "only %lld of %d writes reached the engine in 60 s",
		       (long long)fired, NWRITERS);
		usleep(200);
	}
	int rc = cio_truncate(g.f, 0, 0);
	int64_t size_after = cio_size(g.f);
	atomic_store(&g.truncate_returned, 1);
	CHECK_EQ(rc, 0);
	CHECK_EQ(size_after, 0);

	int before = 0;
	for (int i = 0; i < NWRITERS; i++) {
		CHECK_EQ(pthread_join(th[i], NULL), 0);
		t_ctx("ps=%u writer %d off %lld", ps, i, (long long)wa[i].off);
		CHECK_EQ(wa[i].rc, (long long)g.lbs);
		before += wa[i].returned_before_truncate;
	}
	t_ctx("ps=%u after join", ps);
	/* Informational only: a writer may be descheduled between its return
	 * and its look at the flag, so this is not asserted. */
	t_log("ps=%u: %d of %d writers saw their write return before the"
	      " truncate returned",
	      ps, before, NWRITERS);
	CHECK_EQ(cio_size(g.f), 0);
	CHECK_EQ(t_fstats(g.f).size, 0);
	CHECK_EQ(cio_fault_clear(c, -1), 0);
	CHECK_EQ(cio_fsync(g.f), 0);
	CHECK_EQ(cio_size(g.f), 0);
	CHECK_EQ(t_kernel_size(path), 0);
	uint8_t *buf = t_alloc((size_t)max_end);
	CHECK_EQ(cio_read(g.f, buf, g.lbs, wa[0].off, 0), 0);
	CHECK_EQ(cio_read(g.f, buf, g.lbs, wa[0].off, CIO_RW_DIRECT), 0);

	/* The old range reads as zeros once the file is extended again. */
	CHECK_EQ(cio_truncate(g.f, max_end, 0), 0);
	CHECK_EQ(cio_size(g.f), max_end);
	memset(buf, 0xee, (size_t)max_end);
	t_read_all(g.f, buf, (size_t)max_end, 0, 0);
	CHECK_EQ(t_find_nonzero(buf, (size_t)max_end), -1);
	memset(buf, 0xee, (size_t)max_end);
	t_read_all(g.f, buf, (size_t)max_end, 0, CIO_RW_DIRECT);
	CHECK_EQ(t_find_nonzero(buf, (size_t)max_end), -1);
	CHECK_EQ(cio_invalidate(g.f, 0, 0, 0, NULL), 0);
	memset(buf, 0xee, (size_t)max_end);
	t_read_all(g.f, buf, (size_t)max_end, 0, 0);
	CHECK_EQ(t_find_nonzero(buf, (size_t)max_end), -1);
	CHECK_EQ(cio_fsync(g.f), 0);
	memset(buf, 0xee, (size_t)max_end);
	CHECK_EQ(t_kernel_pread(path, buf, (size_t)max_end, 0), max_end);
	CHECK_EQ(t_find_nonzero(buf, (size_t)max_end), -1);

	t_close(g.f);
	t_destroy(c);
	free(buf);
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
