/*
 * aio_calls.c - the libaio API on served files, written against <libaio.h>
 * only, with hand-built iocbs.
 *
 * usage: aio_calls SERVED_DIR UNSERVED_DIR kernel|coherio|fault|linked|linked-fault
 * ("linked": linked with the preload library instead of LD_PRELOADed, for
 * the sanitizer builds; COHERIO_PATHS set by the caller)
 *
 *  G11  bad inputs get the kernel's errors: io_setup(0), a non-zero *ctxp,
 *       a read-only ctxp (-EFAULT), a bad context (-EINVAL), NULL iocb array
 *       or iocb (-EFAULT), negative nr, unknown opcode, reserved fields
 *       (-EINVAL), bad descriptor, wrong access mode (-EBADF), negative
 *       offset (-EINVAL), min_nr > nr (-EINVAL); misaligned O_DIRECT is
 *       accepted and its event says -EINVAL; nothing is left half-done.
 *  G1   an io_submit direct write, once its event is reaped, is seen by a
 *       buffered read through another descriptor that had the old data
 *       cached.
 *  G5   extending io_submit writes (direct and buffered): a concurrent
 *       observer never sees a size whose bytes are not all written (no
 *       zeros, no garbage below the size), and the size never goes back.
 *  G4   ("fault" mode: COHERIO_FAULT fails block 5 of the file with EIO):
 *       one event for a 16-block direct write, with 5 blocks and res2 =
 *       -EIO (or res = -EIO); never 16 blocks. The kernel cannot be made to
 *       fail here, so "kernel" mode skips this part.
 *  also: vectors (PREADV/PWRITEV), FSYNC/FDSYNC, 64 in flight, a batch mixing
 *  served and unserved files (the unserved go to the kernel), io_queue_init/
 *  io_queue_run callbacks, io_cancel of a completed iocb (-EINVAL),
 *  io_destroy with operations in flight.
 */
#define _GNU_SOURCE
#include "tcommon.h"

#include <libaio.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#define BS 4096

static const char *sdir, *udir;
static int mode; /* 0 kernel, 1 coherio, 2 fault */

static void path_of(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

/* Submit one iocb and reap its event; return the event's res (as long). */
static long do_one(io_context_t ctx, struct iocb *cb, long *res2)
{
	struct iocb *v[1] = { cb };
	struct io_event ev;
	int r = io_submit(ctx, 1, v);
	if (r != 1)
		return r < 0 ? (long)r - 100000 : -100000;
	r = io_getevents(ctx, 1, 1, &ev, NULL);
	if (r != 1)
		return -200000;
	CHECK(ev.obj == cb && ev.data == cb->data, "event obj/data");
	if (res2)
		*res2 = (long)ev.res2;
	return (long)ev.res;
}

static void test_bad_inputs(void)
{
	io_context_t ctx = 0, junk = (io_context_t)0x1234;
	char p[PATH_MAX];
	CHECK(io_setup(0, &ctx) == -EINVAL, "io_setup(0)");
	CHECK(io_setup(8, &junk) == -EINVAL, "io_setup with *ctxp != 0");
	void *ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(io_setup(8, (io_context_t *)ro) == -EFAULT, "io_setup read-only ctxp");
	if (mode)
		CHECK(io_queue_init(8, (io_context_t *)ro) == -EFAULT,
		      "io_queue_init read-only ctxp (libaio itself would crash)");
	munmap(ro, 4096);
	CHECK(io_submit((io_context_t)0x1000, 0, NULL) == -EINVAL, "io_submit bad ctx, nr 0");
	struct iocb cb, *v[2];
	memset(&cb, 0, sizeof(cb));
	v[0] = &cb;
	CHECK(io_submit((io_context_t)0x1000, 1, v) == -EINVAL, "io_submit bad ctx");
	CHECK(io_destroy((io_context_t)0x1000) == -EINVAL, "io_destroy bad ctx");
	if (mode) /* libaio itself reads the ring of a bad context and crashes */
		CHECK(io_getevents((io_context_t)0x1000, 1, 1, NULL, NULL) == -EINVAL,
		      "io_getevents bad ctx");

	CHECK(io_setup(8, &ctx) == 0, "io_setup");
	path_of(p, sdir, "bad");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int wo = open(p, O_WRONLY);
	int dfd = open(p, O_RDWR | O_DIRECT);
	CHECK(fd >= 0 && wo >= 0 && dfd >= 0, "opens");
	CHECK(mode == 0 || t_is_served(fd), "the file is served");
	char *buf = t_aligned(2 * BS);
	CHECK(pwrite(fd, buf, 2 * BS, 0) == 2 * BS, "pwrite");

	CHECK(io_submit(ctx, 1, NULL) == -EFAULT, "NULL iocb array");
	v[0] = NULL;
	CHECK(io_submit(ctx, 1, v) == -EFAULT, "NULL iocb");
	io_prep_pread(&cb, fd, buf, BS, 0);
	v[0] = &cb;
	CHECK(io_submit(ctx, -1, v) == -EINVAL, "negative nr");
	CHECK(io_submit(ctx, 0, v) == 0, "nr 0");
	cb.aio_lio_opcode = 42;
	CHECK(io_submit(ctx, 1, v) == -EINVAL, "unknown opcode");
	io_prep_pread(&cb, fd, buf, BS, 0);
	cb.u.c.__pad3 = 1;
	CHECK(io_submit(ctx, 1, v) == -EINVAL, "reserved field");
	io_prep_pread(&cb, 9999, buf, BS, 0);
	CHECK(io_submit(ctx, 1, v) == -EBADF, "bad descriptor");
	io_prep_pread(&cb, wo, buf, BS, 0);
	CHECK(io_submit(ctx, 1, v) == -EBADF, "read on O_WRONLY");
	io_prep_pread(&cb, fd, buf, BS, -4096);
	CHECK(io_submit(ctx, 1, v) == -EINVAL, "negative offset");
	io_prep_fsync(&cb, fd);
	cb.u.c.offset = 1;
	CHECK(io_submit(ctx, 1, v) == -EINVAL, "fsync with an offset");
	/* the first of a batch fails: the error; a later one: the count */
	struct iocb ok;
	io_prep_pread(&ok, fd, buf, BS, 0);
	io_prep_pread(&cb, fd, buf, BS, -1);
	v[0] = &ok;
	v[1] = &cb;
	CHECK(io_submit(ctx, 2, v) == 1, "batch stops at the bad one");
	struct io_event ev[4];
	CHECK(io_getevents(ctx, 2, 1, ev, NULL) == -EINVAL, "min_nr > nr");
	CHECK(io_getevents(ctx, -1, 1, ev, NULL) == -EINVAL, "min_nr < 0");
	CHECK(io_getevents(ctx, 1, 4, ev, NULL) == 1 && (long)ev[0].res == BS, "the good one completes");
	/* misaligned direct: accepted, the event says -EINVAL */
	io_prep_pread(&cb, dfd, buf + 1, BS, 0);
	CHECK(do_one(ctx, &cb, NULL) == -EINVAL, "misaligned O_DIRECT buffer");
	io_prep_pwrite(&cb, dfd, buf, 100, 0);
	CHECK(do_one(ctx, &cb, NULL) == -EINVAL, "misaligned O_DIRECT length");
	/* io_cancel of a completed iocb (regular files: never cancellable) */
	CHECK(io_cancel(ctx, &cb, ev) == -EINVAL, "io_cancel completed");
	struct timespec zero = { 0, 0 };
	CHECK(io_getevents(ctx, 0, 4, ev, &zero) == 0, "nothing left over");
	CHECK(io_destroy(ctx) == 0, "io_destroy");
	CHECK(io_submit(ctx, 1, v) == -EINVAL, "submit after destroy");
	close(fd);
	close(wo);
	close(dfd);
	unlink(p);
	free(buf);
}

static void test_g1_and_ops(void)
{
	io_context_t ctx = 0;
	char p[PATH_MAX];
	enum { N = 16 };
	path_of(p, sdir, "g1");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int dfd = open(p, O_RDWR | O_DIRECT);
	CHECK(fd >= 0 && dfd >= 0, "opens");
	char *w = t_aligned(N * BS), *r = t_aligned(N * BS);
	t_fill(w, N * BS, 20, 0);
	CHECK(pwrite(fd, w, N * BS, 0) == N * BS, "old data");
	CHECK(pread(fd, r, N * BS, 0) == N * BS, "cache it");
	CHECK(io_setup(64, &ctx) == 0, "io_setup");
	t_fill(w, N * BS, 21, 0);
	struct iocb cb;
	io_prep_pwrite(&cb, dfd, w, N * BS, 0);
	cb.data = (void *)0x5151;
	CHECK(do_one(ctx, &cb, NULL) == N * BS, "direct write");
	memset(r, 0, N * BS);
	CHECK(pread(fd, r, N * BS, 0) == N * BS && t_verify(r, N * BS, 21, 0) < 0,
	      "G1: buffered read after the direct write's event sees the new data");

	/* vectors, both paths */
	struct iovec iov[3] = { { w, BS }, { w + BS, 2 * BS }, { w + 3 * BS, BS } };
	t_fill(w, 4 * BS, 22, 0);
	io_prep_pwritev(&cb, fd, iov, 3, 8 * BS);
	CHECK(do_one(ctx, &cb, NULL) == 4 * BS, "PWRITEV");
	struct iovec rv[2] = { { r, BS }, { r + BS, 3 * BS } };
	memset(r, 0, 4 * BS);
	io_prep_preadv(&cb, dfd, rv, 2, 8 * BS);
	CHECK(do_one(ctx, &cb, NULL) == 4 * BS && t_verify(r, 4 * BS, 22, 0) < 0, "PREADV direct");
	io_prep_fsync(&cb, fd);
	CHECK(do_one(ctx, &cb, NULL) == 0, "FSYNC");
	io_prep_fdsync(&cb, dfd);
	CHECK(do_one(ctx, &cb, NULL) == 0, "FDSYNC");
	io_prep_pread(&cb, fd, r, BS, 100 * BS);
	CHECK(do_one(ctx, &cb, NULL) == 0, "read past EOF = 0");

	/* 64 in flight, events in any order */
	struct iocb cbs[64], *v[64];
	char *big = t_aligned(64 * BS);
	for (int i = 0; i < 64; i++) {
		t_fill(big + i * BS, BS, 100 + (unsigned)i, 0);
		io_prep_pwrite(&cbs[i], (i & 1) ? dfd : fd, big + i * BS, BS, (off_t)i * BS);
		cbs[i].data = (void *)(intptr_t)(i + 1);
		v[i] = &cbs[i];
	}
	CHECK(io_submit(ctx, 64, v) == 64, "64 submitted");
	struct io_event ev[64];
	int got = 0, seen[64] = { 0 };
	while (got < 64) {
		int k = io_getevents(ctx, 1, 64, ev, NULL);
		if (k <= 0)
			break;
		for (int i = 0; i < k; i++) {
			int idx = (int)(intptr_t)ev[i].data - 1;
			CHECK(idx >= 0 && idx < 64 && ev[i].obj == &cbs[idx] && (long)ev[i].res == BS &&
			      ev[i].res2 == 0, "event %d", idx);
			if (idx >= 0 && idx < 64)
				seen[idx]++;
		}
		got += k;
	}
	CHECK(got == 64, "64 events (%d)", got);
	for (int i = 0; i < 64; i++) {
		CHECK(seen[i] == 1, "iocb %d completed %d times", i, seen[i]);
		CHECK(pread(fd, r, BS, (off_t)i * BS) == BS && t_verify(r, BS, 100 + (unsigned)i, 0) < 0,
		      "block %d", i);
	}
	/* io_destroy with operations in flight: they finish, nothing breaks */
	CHECK(io_submit(ctx, 64, v) == 64, "64 submitted again");
	CHECK(io_destroy(ctx) == 0, "io_destroy in flight");
	close(fd);
	close(dfd);
	unlink(p);
	free(w);
	free(r);
	free(big);
}

static atomic_int cb_calls, cb_bad;

static void queue_cb(io_context_t ctx, struct iocb *cb, long res, long res2)
{
	(void)ctx;
	if (!cb || res != BS || res2 != 0)
		atomic_fetch_add(&cb_bad, 1);
	atomic_fetch_add(&cb_calls, 1);
}

static void test_mixed_and_queue(void)
{
	io_context_t ctx = 0;
	char sp[PATH_MAX], up[PATH_MAX];
	path_of(sp, sdir, "mixed");
	path_of(up, udir, "mixed");
	int sfd = open(sp, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int ufd = open(up, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(sfd >= 0 && ufd >= 0, "opens");
	CHECK(mode == 0 || (t_is_served(sfd) && !t_is_served(ufd)), "served / unserved");
	CHECK(io_queue_init(16, &ctx) == 0, "io_queue_init");
	char *a = t_aligned(8 * BS);
	t_fill(a, 8 * BS, 30, 0);
	struct iocb cbs[8], *v[8];
	for (int i = 0; i < 8; i++) {
		io_prep_pwrite(&cbs[i], (i % 3) ? sfd : ufd, a + i * BS, BS, (off_t)i * BS);
		v[i] = &cbs[i];
	}
	CHECK(io_submit(ctx, 8, v) == 8, "mixed batch");
	struct io_event ev[8];
	int got = 0;
	while (got < 8) {
		int k = io_getevents(ctx, 1, 8 - got, ev + got, NULL);
		if (k <= 0)
			break;
		got += k;
	}
	CHECK(got == 8, "8 events (%d)", got);
	for (int i = 0; i < got; i++)
		CHECK((long)ev[i].res == BS, "res %ld", (long)ev[i].res);
	char *r = t_aligned(BS);
	for (int i = 0; i < 8; i++) {
		int fd = (i % 3) ? sfd : ufd;
		CHECK(pread(fd, r, BS, (off_t)i * BS) == BS && t_verify(r, BS, 30, (size_t)i * BS) < 0,
		      "mixed block %d", i);
	}
	/* io_queue_run calls each iocb's callback with res and res2 */
	for (int i = 0; i < 4; i++) {
		io_prep_pread(&cbs[i], (i & 1) ? sfd : ufd, a + i * BS, BS, (off_t)i * BS);
		io_set_callback(&cbs[i], queue_cb);
		v[i] = &cbs[i];
	}
	CHECK(io_submit(ctx, 4, v) == 4, "callback batch");
	int ran = 0;
	for (int tries = 0; ran < 4 && tries < 2000; tries++) {
		int k = io_queue_run(ctx);
		CHECK(k >= 0, "io_queue_run %d", k);
		ran = atomic_load(&cb_calls);
		if (ran < 4)
			usleep(1000);
	}
	CHECK(ran == 4 && atomic_load(&cb_bad) == 0, "callbacks %d bad %d", ran, atomic_load(&cb_bad));
	free(r);
	free(a);
	io_queue_release(ctx);
	close(sfd);
	close(ufd);
	unlink(sp);
	unlink(up);
}

/* ---- G5: the size grows only with the data --------------------------- */

struct g5 {
	const char *path;
	atomic_int stop;
	int bad_size, bad_byte, zero_below_strict;
	long checks;
	atomic_long strict_upto; /* bytes the writer waited for in order */
};

static void *g5_observer(void *arg)
{
	struct g5 *g = arg;
	int fd = open(g->path, O_RDONLY);
	unsigned char *buf = malloc(1 << 20);
	off_t last = 0;
	while (!atomic_load(&g->stop)) {
		struct stat st;
		if (fstat(fd, &st) < 0)
			break;
		if (st.st_size < last)
			g->bad_size++;
		last = st.st_size;
		long strict = atomic_load(&g->strict_upto);
		ssize_t n = pread(fd, buf, (size_t)st.st_size < (1u << 20) ? (size_t)st.st_size : (1u << 20), 0);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == 0) {
				if (i < strict)
					g->zero_below_strict++;
			} else if (buf[i] != t_pat(50, (size_t)i)) {
				g->bad_byte++; /* neither written nor zero: garbage */
			}
		}
		g->checks++;
	}
	close(fd);
	free(buf);
	return NULL;
}

static void test_g5(void)
{
	io_context_t ctx = 0;
	char p[PATH_MAX];
	enum { B = 16384, N = 48 };
	path_of(p, sdir, "g5");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int dfd = open(p, O_RDWR | O_DIRECT);
	CHECK(fd >= 0 && dfd >= 0, "opens");
	CHECK(io_setup(N, &ctx) == 0, "io_setup");
	char *w = t_aligned((size_t)N * B);
	t_fill(w, (size_t)N * B, 50, 0);
	struct g5 g = { .path = p };
	pthread_t th;
	pthread_create(&th, NULL, g5_observer, &g);
	/* one at a time, alternately direct and buffered: strictly in order */
	for (int i = 0; i < N / 2; i++) {
		struct iocb cb;
		io_prep_pwrite(&cb, (i & 1) ? fd : dfd, w + (size_t)i * B, B, (off_t)i * B);
		CHECK(do_one(ctx, &cb, NULL) == B, "extending write %d", i);
		atomic_store(&g.strict_upto, (long)(i + 1) * B);
		usleep(200);
	}
	/* a batch in flight at once: they may complete out of order (a gap
	 * reads as zeros until its write completes, never as garbage) */
	struct iocb cbs[N / 2], *v[N / 2];
	for (int i = N / 2; i < N; i++) {
		io_prep_pwrite(&cbs[i - N / 2], (i & 1) ? fd : dfd, w + (size_t)i * B, B, (off_t)i * B);
		v[i - N / 2] = &cbs[i - N / 2];
	}
	int sub = io_submit(ctx, N / 2, v);
	CHECK(sub == N / 2, "batch: %d", sub);
	struct io_event ev[N / 2];
	int got = 0;
	while (got < sub) {
		int k = io_getevents(ctx, 1, N / 2, ev, NULL);
		if (k <= 0)
			break;
		for (int i = 0; i < k; i++)
			CHECK((long)ev[i].res == B, "batch res %ld", (long)ev[i].res);
		got += k;
	}
	usleep(2000);
	atomic_store(&g.stop, 1);
	pthread_join(th, NULL);
	CHECK(g.bad_size == 0, "G5: the size went backwards %d times", g.bad_size);
	CHECK(g.bad_byte == 0, "G5: %d bytes below the size were never written", g.bad_byte);
	CHECK(g.zero_below_strict == 0, "G5: %d zero bytes below completed writes", g.zero_below_strict);
	CHECK(g.checks > 0, "observer ran");
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == (off_t)N * B, "final size %lld", (long long)st.st_size);
	char *r = t_aligned((size_t)N * B);
	CHECK(pread(fd, r, (size_t)N * B, 0) == (ssize_t)N * B && t_verify(r, (size_t)N * B, 50, 0) < 0,
	      "final data");
	io_destroy(ctx);
	close(fd);
	close(dfd);
	unlink(p);
	free(w);
	free(r);
}

/* ---- G4 and G6 through the shim (fault mode) ------------------------------ */

/* COHERIO_FAULT (set by the test's registration):
 *   ops=w,start=0,end=65536,short=16384,count=1     first write cut to 4 blocks
 *   ops=w,start=20480,end=24576,error=5             writes of block 5 fail (EIO)
 *   ops=w,start=1048576,end=1052672,error=5,count=1 a write-back at 1 MiB fails
 *   ops=r,start=2117632,end=2121728,error=5         reads of block 5 past 2 MiB
 *   ops=w,start=4194304,end=4259840,delay=300000    writes at 4 MiB take 300 ms
 * (the second rule has no count: a rule that matches the first write along
 * with the first rule is counted as fired even though the first decides). */
static void test_g4_g6(void)
{
	io_context_t ctx = 0;
	char p[PATH_MAX];
	path_of(p, sdir, "g4");
	int dfd = open(p, O_CREAT | O_RDWR | O_TRUNC | O_DIRECT, 0644);
	CHECK(dfd >= 0, "open");
	CHECK(io_setup(8, &ctx) == 0, "io_setup");
	char *w = t_aligned(16 * BS);
	t_fill(w, 16 * BS, 60, 0);
	struct iocb cb;
	long res2 = 0;
	io_prep_pwrite(&cb, dfd, w, 16 * BS, 0);
	long res = do_one(ctx, &cb, &res2);
	t_log("G4: 16-block direct write with EIO on block 5: res %ld res2 %ld", res, res2);
	CHECK((res == -EIO && res2 == 0) || (res > 0 && res <= 5 * BS && res2 == -EIO),
	      "G4: res %ld res2 %ld", res, res2);
	CHECK(res == 4 * BS && res2 == -EIO, "G4: the partial count (4 blocks) and its errno");
	struct timespec zero = { 0, 0 };
	struct io_event ev;
	CHECK(io_getevents(ctx, 0, 1, &ev, &zero) == 0, "exactly one event");

	/* G4 on the cached path (done inside io_submit): a cached read of 16
	 * blocks at 2 MiB, nothing cached, reads of its block 5 fail */
	int cfd = open(p, O_RDWR);
	CHECK(pwrite(dfd, w, 16 * BS, 2097152) == 16 * BS, "direct write at 2 MiB");
	char *cr = t_aligned(16 * BS);
	io_prep_pread(&cb, cfd, cr, 16 * BS, 2097152);
	res = do_one(ctx, &cb, &res2);
	t_log("G4: 16-block cached read with EIO on block 5: res %ld res2 %ld", res, res2);
	CHECK((res == -EIO && res2 == 0) || (res >= 0 && res <= 5 * BS && res2 == -EIO),
	      "G4 cached: res %ld res2 %ld", res, res2);
	CHECK(res <= 0 || t_verify(cr, (size_t)res, 60, 0) < 0, "the bytes reported are the data");
	close(cfd);
	free(cr);

	/* G5 through the shim: an extending direct write held in flight (its
	 * device write is delayed 300 ms) has not moved the size; its event
	 * comes with the size moved and the data there */
	int bfd = open(p, O_RDONLY);
	struct stat st0, st1;
	CHECK(fstat(bfd, &st0) == 0 && st0.st_size < 4194304, "size before: %lld", (long long)st0.st_size);
	struct iocb ecb, *ev1[1] = { &ecb };
	io_prep_pwrite(&ecb, dfd, w, 16 * BS, 4194304);
	CHECK(io_submit(ctx, 1, ev1) == 1, "extending write submitted");
	usleep(50000);
	CHECK(fstat(bfd, &st1) == 0 && st1.st_size == st0.st_size,
	      "G5: size moved before completion: %lld -> %lld", (long long)st0.st_size, (long long)st1.st_size);
	char tmp[16];
	CHECK(pread(bfd, tmp, 16, 4194304) == 0, "G5: the new range is past EOF while in flight");
	CHECK(io_getevents(ctx, 1, 1, &ev, NULL) == 1 && (long)ev.res == 16 * BS, "extending write done");
	CHECK(fstat(bfd, &st1) == 0 && st1.st_size == 4194304 + 16 * BS, "G5: size at completion %lld",
	      (long long)st1.st_size);
	char *er = t_aligned(16 * BS);
	CHECK(pread(bfd, er, 16 * BS, 4194304) == 16 * BS && t_verify(er, 16 * BS, 60, 0) < 0,
	      "G5: the data is there with the size");
	free(er);
	close(bfd);

	/* G6: write-back errors per open file description (errseq) */
	int h1 = open(p, O_RDWR), h2 = open(p, O_RDWR);
	CHECK(h1 >= 0 && h2 >= 0, "opens");
	CHECK(pwrite(h1, w, BS, 1048576) == BS, "cached write at 1 MiB");
	CHECK_ERR(fsync(h1), EIO);
	CHECK(fsync(h1) == 0, "fsync again: the page was kept dirty and is written now");
	CHECK_ERR(fsync(h2), EIO); /* h2 was open before anyone saw the error */
	CHECK(fsync(h2) == 0, "h2 sees it once");
	char *r = t_aligned(BS);
	CHECK(syscall(SYS_pread64, h1, r, BS, 1048576) == BS && t_verify(r, BS, 60, 0) < 0,
	      "the data is in the kernel's file");
	io_destroy(ctx);
	close(h1);
	close(h2);
	close(dfd);
	unlink(p);
	free(w);
	free(r);
}

int main(int argc, char **argv)
{
	t_name = "aio_calls";
	if (argc != 4)
		DIE("usage: aio_calls SERVED_DIR UNSERVED_DIR kernel|coherio|fault|linked|linked-fault");
	sdir = argv[1];
	udir = argv[2];
	t_linked = !strncmp(argv[3], "linked", 6);
	mode = !strcmp(argv[3], "coherio") || !strcmp(argv[3], "linked") ? 1
	     : !strcmp(argv[3], "fault") || !strcmp(argv[3], "linked-fault") ? 2 : 0;
	t_mkdir(sdir);
	t_mkdir(udir);
	if (mode == 2) {
		test_g4_g6();
		return t_finish();
	}
	test_bad_inputs();
	test_g1_and_ops();
	test_mixed_and_queue();
	test_g5();
	return t_finish();
}
