/*
 * G9 - cancellation is all or nothing: a cancelled operation has had no
 * effect and completes with -ECANCELED; one already started runs to
 * completion with its real result; cio_ctx_cancel() says which (0,
 * -EALREADY, -ENOENT).
 *
 * The file holds NOPS blocks (B = max(4096, logical block size) bytes)
 * stamped OLD. A fault rule makes every device write slow (DELAY_US plus a
 * random 0..JITTER_US). The main thread holds a read pin on the first GATE
 * blocks: the first GATE operations are direct writes to those blocks, so
 * they start and then wait for the pin, filling the context's running
 * slots; the other NOPS - GATE operations are direct and cached writes
 * (mixed at random) to the other blocks in random order, and most of them
 * wait PENDING (queue depth 1024). Each writes its block's NEW stamp.
 *
 * A random half of the operations is cancelled by user_data: the first
 * part while the pin is held (a gated write cannot have finished: 0 or
 * -EALREADY), the rest after the pin is released, while writes complete
 * (0, -EALREADY or -ENOENT). Then:
 *  - exactly one event per submission; the events of operations cancelled
 *    with 0 carry -ECANCELED (res2 0), every other event its full length;
 *    no -ECANCELED event for an operation whose cancel did not return 0;
 *  - cancelling an unknown user_data, or one whose event has been reaped,
 *    gives -ENOENT;
 *  - after fsync, every block whose write was cancelled (0) is OLD on the
 *    device (plain kernel pread), on the cached and on the direct path;
 *    every other block is NEW.
 */
#include "helpers.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NOPS 1000
#define GATE 256
#define DEPTH 1024
#define DELAY_US 3000
#define JITTER_US 5000
#define SEED_OLD 5
#define SEED_NEW 6
#define UD_BASE 0x5000000000ull

struct opinfo {
	uint32_t blk;
	bool direct;
	int cancel_rc;   /* 1 = not cancelled */
	bool got_event;
};

static void run(uint32_t ps)
{
	char *path = t_scratch_path("g9");
	cio_cache *c = t_cache(ps, 0, 1);
	CHECK_EQ(t_kernel_create(path, 0), 0);
	cio_file *f = t_open(c, path, O_RDWR);
	uint32_t lbs = t_lbs(f);
	size_t B = lbs > 4096 ? lbs : 4096;
	size_t fsz = (size_t)NOPS * B;
	t_close(f);
	t_kernel_stamp_file(path, (int64_t)fsz, SEED_OLD);
	f = t_open(c, path, O_RDWR);
	t_ctx("ps=%u", ps);
	CHECK_EQ(cio_size(f), (int64_t)fsz);
	CHECK_EQ((GATE * B) % ps, 0);

	uint8_t *old = t_alloc(fsz), *nw = t_alloc(fsz), *got = t_alloc(fsz);
	t_stamp_fill(old, fsz, 0, SEED_OLD);
	t_stamp_fill(nw, fsz, 0, SEED_NEW);

	/* operations: the gated ones first, then the rest shuffled */
	static struct opinfo info[NOPS];
	uint64_t rs = t_rand_seed(ps + 99);
	for (int i = 0; i < NOPS; i++) {
		info[i].blk = (uint32_t)i;
		info[i].direct = i < GATE || t_rand_below(&rs, 2) == 0;
		info[i].cancel_rc = 1;
		info[i].got_event = false;
	}
	for (int i = NOPS - 1; i > GATE; i--) {
		int j = GATE + (int)t_rand_below(&rs, (uint64_t)(i - GATE + 1));
		uint32_t tb = info[i].blk;
		info[i].blk = info[j].blk;
		info[j].blk = tb;
	}
	static struct cio_op ops[NOPS];
	memset(ops, 0, sizeof ops);
	for (int i = 0; i < NOPS; i++) {
		ops[i].opcode = CIO_OP_WRITE;
		ops[i].flags = info[i].direct ? CIO_RW_DIRECT : 0;
		ops[i].file = f;
		ops[i].buf = nw + (size_t)info[i].blk * B;
		ops[i].len = B;
		ops[i].off = (int64_t)info[i].blk * (int64_t)B;
		ops[i].user_data = UD_BASE + (uint64_t)i;
	}

	struct cio_fault_rule r;
	memset(&r, 0, sizeof r);
	r.ops = CIO_FAULT_WRITE;
	r.delay_us = DELAY_US;
	r.jitter_us = JITTER_US;
	r.count = -1;
	int rule = cio_fault_add(c, &r);
	CHECKF(rule >= 0, "cio_fault_add = %d (%s)", rule, t_errname(rule));

	cio_pin gate;
	memset(&gate, 0, sizeof gate);
	int n = cio_pin_range(f, 0, GATE * B, 0, &gate);
	CHECKF(n >= 1, "gate pin = %d (%s)", n, t_errname(n));

	cio_ctx *cx = NULL;
	CHECK_EQ(cio_ctx_create(c, DEPTH, &cx), 0);
	int accepted = 0;
	while (accepted < NOPS) {
		n = cio_ctx_submit(cx, ops + accepted, NOPS - accepted);
		CHECKF(n >= 1, "cio_ctx_submit after %d = %d (%s)", accepted, n,
		       t_errname(n));
		accepted += n;
	}

	/* a random half, in random order */
	int picks[NOPS], npick = 0;
	for (int i = 0; i < NOPS; i++)
		if (t_rand_below(&rs, 2))
			picks[npick++] = i;
	for (int i = npick - 1; i > 0; i--) {
		int j = (int)t_rand_below(&rs, (uint64_t)i + 1);
		int t = picks[i];
		picks[i] = picks[j];
		picks[j] = t;
	}
	int cnt[3] = {0, 0, 0}; /* 0, -EALREADY, -ENOENT */
	int half = npick / 2;
	for (int k = 0; k < npick; k++) {
		if (k == half)
			CHECK_EQ(cio_unpin(&gate), 0); /* let the gated ones go */
		int i = picks[k];
		int rc = cio_ctx_cancel(cx, ops[i].user_data);
		info[i].cancel_rc = rc;
		if (k < half && i < GATE)
			CHECKF(rc == 0 || rc == -EALREADY,
			       "cancel of gated write %d (it cannot have finished)"
			       " = %d (%s)", i, rc, t_errname(rc));
		else
			CHECKF(rc == 0 || rc == -EALREADY || rc == -ENOENT,
			       "cancel of op %d = %d (%s)", i, rc, t_errname(rc));
		cnt[rc == 0 ? 0 : rc == -EALREADY ? 1 : 2]++;
		if (k >= half) {
			/* spread the rest over the completions */
			struct timespec pause = {0, 100000};
			nanosleep(&pause, NULL);
		}
	}
	if (half == npick)
		CHECK_EQ(cio_unpin(&gate), 0);
	CHECK_EQ(cio_ctx_cancel(cx, 0xdeadbeef12345ull), -ENOENT);
	t_log("ps=%u engine %s: %d cancels: %d cancelled, %d already started,"
	      " %d not found", ps, t_cstats(c).engine, npick, cnt[0], cnt[1],
	      cnt[2]);
	CHECKF(cnt[0] > 0, "no cancel returned 0, although at most 256"
	       " operations of a context run at once and the first %d were held"
	       " back by a pin: the rest should have been PENDING", GATE);

	/* exactly one event per submission */
	static struct cio_event ev[NOPS];
	int reaped = 0;
	while (reaped < NOPS) {
		n = cio_ctx_getevents(cx, 1, NOPS, ev, NULL);
		CHECKF(n >= 1, "getevents = %d (%s)", n, t_errname(n));
		for (int k = 0; k < n; k++) {
			uint64_t i = ev[k].user_data - UD_BASE;
			CHECKF(ev[k].user_data >= UD_BASE && i < NOPS,
			       "event for unknown user_data 0x%llx",
			       (unsigned long long)ev[k].user_data);
			CHECKF(!info[i].got_event, "second event for op %llu",
			       (unsigned long long)i);
			info[i].got_event = true;
			CHECK_EQ(ev[k].opcode, CIO_OP_WRITE);
			if (info[i].cancel_rc == 0)
				CHECKF(ev[k].res == -ECANCELED && ev[k].res2 == 0,
				       "op %llu cancelled (0) but its event says res"
				       " %lld res2 %d", (unsigned long long)i,
				       (long long)ev[k].res, ev[k].res2);
			else
				CHECKF(ev[k].res == (int64_t)B && ev[k].res2 == 0,
				       "op %llu (%s, cancel %d %s): res %lld (%s)"
				       " res2 %d", (unsigned long long)i,
				       info[i].direct ? "direct" : "cached",
				       info[i].cancel_rc,
				       info[i].cancel_rc == 1 ? "not tried"
				                              : t_errname(info[i].cancel_rc),
				       (long long)ev[k].res, t_errname(ev[k].res),
				       ev[k].res2);
		}
		reaped += n;
	}
	struct timespec ts = {0, 20 * 1000000L};
	CHECK_EQ(cio_ctx_getevents(cx, 1, 4, ev, &ts), 0);

	/* after its event, an operation is not found */
	CHECK_EQ(cio_ctx_cancel(cx, ops[0].user_data), -ENOENT);
	CHECK_EQ(cio_ctx_cancel(cx, ops[picks[0]].user_data), -ENOENT);
	CHECK_EQ(cio_ctx_cancel(cx, ops[NOPS - 1].user_data), -ENOENT);
	CHECK_EQ(cio_ctx_destroy(cx), 0);

	/* the file: cancelled blocks OLD, every other block NEW */
	CHECK_EQ(cio_fault_clear(c, -1), 0);
	CHECK_EQ(cio_fsync(f), 0);
	uint8_t *want = t_alloc(fsz);
	memcpy(want, nw, fsz);
	int ncancelled = 0;
	for (int i = 0; i < NOPS; i++) {
		if (info[i].cancel_rc == 0) {
			size_t o = (size_t)info[i].blk * B;
			memcpy(want + o, old + o, B);
			ncancelled++;
		}
	}
	CHECK_EQ(ncancelled, cnt[0]);
	ssize_t kr = t_kernel_pread(path, got, fsz, 0);
	CHECK_EQ(kr, (ssize_t)fsz);
	for (int i = 0; i < NOPS; i++) {
		size_t o = (size_t)info[i].blk * B;
		if (memcmp(got + o, want + o, B) != 0)
			t_fail("device: block %u written by op %d (%s, cancel %d %s)"
			       " is %s, want %s", info[i].blk, i,
			       info[i].direct ? "direct" : "cached",
			       info[i].cancel_rc,
			       info[i].cancel_rc == 1 ? "not tried" : t_errname(info[i].cancel_rc),
			       memcmp(got + o, old + o, B) == 0 ? "OLD"
			       : memcmp(got + o, nw + o, B) == 0 ? "NEW" : "garbage",
			       info[i].cancel_rc == 0 ? "OLD" : "NEW");
	}
	memset(got, 0, fsz);
	t_read_all(f, got, fsz, 0, 0);
	CHECK_MEM(got, want, fsz, 0);
	memset(got, 0, fsz);
	t_read_all(f, got, fsz, 0, CIO_RW_DIRECT);
	CHECK_MEM(got, want, fsz, 0);

	t_close(f);
	t_destroy(c);
	free(old);
	free(nw);
	free(got);
	free(want);
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
