/*
 * cio_ctx_destroy() with operations in flight: operations not started are
 * cancelled, running ones are waited for, their events are discarded, and
 * no buffer is touched after destroy returns.
 *
 * The file holds NB blocks (B = max(4096, logical block size)) stamped OLD.
 * While operations are in flight a fault rule delays every device read and
 * write by DELAY_US plus a random 0..JITTER_US. Each round submits NOPS operations to a context of depth
 * DEPTH (more than a context runs at once, so some wait PENDING), each on a
 * block of its own and with a buffer of its own (malloc'ed): direct and
 * cached writes of the block's NEW stamp, direct and cached reads, and a
 * few fsyncs. Then, after a round-dependent pause (none, or a few ms) and
 * sometimes after reaping a few events, the context is destroyed while most
 * operations are in flight. Then:
 *  - destroy returns 0;
 *  - every buffer is overwritten at once with a GARBAGE pattern; after a
 *    pause the read buffers still hold only GARBAGE (nothing wrote into
 *    them after destroy returned), then all buffers are freed (ASan reports
 *    any later touch);
 *  - in some rounds the file is closed right after destroy returns (no
 *    completion may still touch the file's state), and reopened;
 *  - a truncate to the same size returns (every accepted write was
 *    accounted for: nothing is left for it to drain);
 *  - after fsync every block on the device, on the cached and on the direct
 *    path is OLD or NEW (never GARBAGE), the paths agree, the device does
 *    not change any more, and blocks no write touched are OLD.
 */
#include "helpers.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NB 512
#define NOPS 500
#define DEPTH 512
#define ROUNDS 4
#define DELAY_US 1000
#define JITTER_US 4000
#define STALL_S 60
#define SEED_OLD 81
#define SEED_NEW 82
#define GARBAGE 0xDB

enum { K_CW, K_DW, K_CR, K_DR, K_FSYNC };

/* cio_ctx_destroy() on a helper thread, so that a destroy that never
 * returns fails with a message instead of hanging until the watchdog:
 * normally it takes milliseconds (the slowest operation's delay). */
struct destroyer {
	cio_ctx *cx;
	int rc;
	atomic_int done;
};

static void *destroy_thread(void *arg)
{
	struct destroyer *d = arg;
	d->rc = cio_ctx_destroy(d->cx);
	atomic_store(&d->done, 1);
	return NULL;
}

static int destroy_watched(cio_ctx *cx, int nops)
{
	struct destroyer d;
	d.cx = cx;
	d.rc = -1;
	atomic_init(&d.done, 0);
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, destroy_thread, &d), 0);
	uint64_t t0 = t_now_ns();
	while (!atomic_load(&d.done)) {
		CHECKF(t_now_ns() - t0 < STALL_S * 1000000000ull,
		       "cio_ctx_destroy with %d operations submitted has not"
		       " returned after %d s: the context is stuck (operations"
		       " queued for a runner thread while every runner waits"
		       " for them?)", nops, STALL_S);
		t_sleep_ms(1);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	return d.rc;
}

static const char *block_state(const uint8_t *p, const uint8_t *old,
                               const uint8_t *nw, size_t B)
{
	if (memcmp(p, old, B) == 0)
		return "OLD";
	if (memcmp(p, nw, B) == 0)
		return "NEW";
	for (size_t i = 0; i < B; i++)
		if (p[i] == GARBAGE && (i + 1 == B || p[i + 1] == GARBAGE))
			return "GARBAGE";
	return "mixed";
}

/* One round; returns how often the delay rule fired. */
static long long round_(uint32_t ps, int round, const char *path, cio_cache *c,
                        size_t B, const uint8_t *old, const uint8_t *nw,
                        uint8_t *written)
{
	t_ctx("ps=%u round %d", ps, round);
	cio_file *f = t_open(c, path, O_RDWR);
	size_t fsz = (size_t)NB * B;
	uint64_t rs = t_rand_seed((uint64_t)ps * 100 + (uint64_t)round);

	/* blocks: a random permutation, one per op */
	uint32_t perm[NB];
	for (uint32_t i = 0; i < NB; i++)
		perm[i] = i;
	for (uint32_t i = NB - 1; i > 0; i--) {
		uint32_t j = (uint32_t)t_rand_below(&rs, (uint64_t)i + 1);
		uint32_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	static struct cio_op ops[NOPS];
	static uint8_t *bufs[NOPS];
	static int kind[NOPS];
	memset(ops, 0, sizeof ops);
	for (int i = 0; i < NOPS; i++) {
		int k = (int)t_rand_below(&rs, 40);
		kind[i] = k < 14 ? K_DW : k < 26 ? K_CW : k < 32 ? K_DR : k < 39 ? K_CR : K_FSYNC;
		void *p = NULL;
		CHECK_EQ(posix_memalign(&p, 4096, B), 0);
		bufs[i] = p;
		uint32_t blk = perm[i];
		ops[i].file = f;
		ops[i].user_data = (uint64_t)round << 32 | (uint64_t)i;
		switch (kind[i]) {
		case K_DW:
		case K_CW:
			memcpy(bufs[i], nw + (size_t)blk * B, B);
			ops[i].opcode = CIO_OP_WRITE;
			ops[i].flags = kind[i] == K_DW ? CIO_RW_DIRECT : 0;
			written[blk] = 1;
			break;
		case K_DR:
		case K_CR:
			memset(bufs[i], 0xEE, B);
			ops[i].opcode = CIO_OP_READ;
			ops[i].flags = kind[i] == K_DR ? CIO_RW_DIRECT : 0;
			break;
		default:
			ops[i].opcode = CIO_OP_FSYNC;
			break;
		}
		if (kind[i] != K_FSYNC) {
			ops[i].buf = bufs[i];
			ops[i].len = B;
			ops[i].off = (int64_t)blk * (int64_t)B;
		}
	}

	/* slow device while the operations are in flight */
	struct cio_fault_rule r;
	memset(&r, 0, sizeof r);
	r.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
	r.delay_us = DELAY_US;
	r.jitter_us = JITTER_US;
	r.count = -1;
	int id = cio_fault_add(c, &r);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));

	cio_ctx *cx = NULL;
	CHECK_EQ(cio_ctx_create(c, DEPTH, &cx), 0);
	int acc = 0;
	while (acc < NOPS) {
		int n = cio_ctx_submit(cx, ops + acc, NOPS - acc);
		CHECKF(n >= 1, "submit = %d (%s)", n, t_errname(n));
		acc += n;
	}
	if (round % 3 == 1)
		t_sleep_ms(1 + (unsigned)t_rand_below(&rs, 5));
	if (round % 3 == 2) {
		/* reap a few (waiting for them), leave the rest */
		struct cio_event ev[8];
		int n = cio_ctx_getevents(cx, 3, 8, ev, NULL);
		CHECK_GE(n, 3);
	}
	int rc = destroy_watched(cx, NOPS);
	CHECKF(rc == 0, "cio_ctx_destroy with operations in flight = %d (%s)",
	       rc, t_errname(rc));

	long long fired = cio_fault_fired(c, id);
	CHECK_EQ(cio_fault_clear(c, id), 0); /* the checks below at full speed */

	/* the buffers are ours again: scribble, then free them */
	for (int i = 0; i < NOPS; i++)
		memset(bufs[i], GARBAGE, B);
	bool close_now = round & 1;
	if (close_now) {
		t_close(f);
		f = NULL;
	}
	t_sleep_ms(20);
	for (int i = 0; i < NOPS; i++) {
		for (size_t k = 0; k < B; k++)
			if (bufs[i][k] != GARBAGE)
				t_fail("op %d (kind %d): its buffer was written (byte %zu"
				       " = 0x%02x) after cio_ctx_destroy returned", i,
				       kind[i], k, bufs[i][k]);
		free(bufs[i]);
		bufs[i] = NULL;
	}
	if (!f)
		f = t_open(c, path, O_RDWR);

	/* nothing left for a truncate to drain */
	CHECK_EQ(cio_truncate(f, (int64_t)fsz, 0), 0);
	CHECK_EQ(cio_size(f), (int64_t)fsz);
	CHECK_EQ(cio_fsync(f), 0);

	uint8_t *kern = t_alloc(fsz), *again = t_alloc(fsz), *got = t_alloc(fsz);
	CHECK_EQ(t_kernel_pread(path, kern, fsz, 0), (ssize_t)fsz);
	int nnew = 0;
	for (uint32_t b = 0; b < NB; b++) {
		size_t o = (size_t)b * B;
		const char *st = block_state(kern + o, old + o, nw + o, B);
		CHECKF(!strcmp(st, "OLD") || (written[b] && !strcmp(st, "NEW")),
		       "device block %u is %s (a write was %s)", b, st,
		       written[b] ? "submitted for it" : "never submitted for it");
		nnew += !strcmp(st, "NEW");
	}
	t_read_all(f, got, fsz, 0, 0);
	CHECK_MEM(got, kern, fsz, 0);
	memset(got, 0, fsz);
	t_read_all(f, got, fsz, 0, CIO_RW_DIRECT);
	CHECK_MEM(got, kern, fsz, 0);
	t_sleep_ms(20);
	CHECK_EQ(t_kernel_pread(path, again, fsz, 0), (ssize_t)fsz);
	CHECK_MEM(again, kern, fsz, 0);
	if (round == 0 || round == ROUNDS - 1)
		t_log("ps=%u round %d: %d blocks NEW so far", ps, round, nnew);
	free(kern);
	free(again);
	free(got);
	t_close(f);
	return fired;
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("destroy");
	cio_cache *c = t_cache(ps, 0, 1);
	CHECK_EQ(t_kernel_create(path, 0), 0);
	cio_file *f = t_open(c, path, O_RDWR);
	uint32_t lbs = t_lbs(f);
	t_close(f);
	size_t B = lbs > 4096 ? lbs : 4096;
	size_t fsz = (size_t)NB * B;
	t_kernel_stamp_file(path, (int64_t)fsz, SEED_OLD);
	uint8_t *old = t_alloc(fsz), *nw = t_alloc(fsz);
	t_stamp_fill(old, fsz, 0, SEED_OLD);
	t_stamp_fill(nw, fsz, 0, SEED_NEW);
	uint8_t written[NB];
	memset(written, 0, sizeof written);

	long long fired = 0;
	for (int round = 0; round < ROUNDS; round++)
		fired += round_(ps, round, path, c, B, old, nw, written);
	t_log("ps=%u engine %s: %d rounds, delay rule fired %lld times", ps,
	      t_cstats(c).engine, ROUNDS, fired);
	t_destroy(c);
	free(old);
	free(nw);
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
