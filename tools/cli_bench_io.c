/*
 * cli_bench_io.c - the workloads that go to the device on every operation:
 *
 * Cold 4 KiB random direct reads at queue depth 1 and 32 over the whole
 * file: coherio's async API (cio_ctx_submit / cio_ctx_getevents with
 * CIO_RW_DIRECT) against a plain liburing loop on an O_DIRECT descriptor
 * (io_uring_prep_read, io_uring_submit_and_wait; no fixed buffers, no
 * SQPOLL), both keeping the queue full; and, where fio is installed, fio
 * with ioengine=io_uring, direct=1 on the same file, printed alongside.
 * Latency is from submission to reaping, every I/O.
 *
 * Sequential read of a file twice the size of coherio's cache in 1 MiB
 * calls: coherio's cached path (cache emptied with cio_invalidate() first)
 * against the kernel's buffered read (the file dropped from the page cache
 * with posix_fadvise(DONTNEED) first) and 1 MiB O_DIRECT reads.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <liburing.h>

#include "cli.h"

#define DIO_MAXQD 32

enum dio_kind { D_CIO, D_URING, D_FIO, D_NKINDS };

static const char *const dio_name[D_NKINDS] = {
	"coherio async direct read (cio_ctx)", "liburing O_DIRECT loop",
	"fio io_uring direct=1 (reference)",
};

struct dio_env {
	cio_file      *de_file;
	cio_ctx       *de_cx[2];      /* depth 1, depth 32             */
	struct io_uring de_ring;
	int            de_have_ring;
	int            de_dfd;
	unsigned char *de_bufs;       /* DIO_MAXQD aligned buffers     */
	uint64_t       de_nblocks;
	size_t         de_io;
};

/* The free slots of a loop with @depth I/Os in flight. */
struct dio_slots {
	int      ds_free[DIO_MAXQD];
	int      ds_nfree;
	uint64_t ds_sub[DIO_MAXQD];   /* submission time of each slot  */
};

static void slots_init(struct dio_slots *s, int depth)
{
	s->ds_nfree = depth;
	for (int i = 0; i < depth; i++)
		s->ds_free[i] = depth - 1 - i;
}

/*
 * The watchdog of coherio's async loop. cio_ctx_getevents() has been seen
 * to block forever with its event already posted (a lost wake-up in the
 * library: see the report). Rather than hang, the loop's thread is sent
 * SIGUSR1 (a no-op handler, no SA_RESTART) after DIO_STALL_S seconds
 * without a completion while I/O is in flight: its io_uring_enter returns
 * EINTR and cio_ctx_getevents finds the event. The stall is counted and
 * reported, and its time stays in the measurement. The measured path is
 * the plain one (no timeout).
 */
#define DIO_STALL_S 1.0

struct dio_watch {
	pthread_t          dw_thread;
	pthread_t          dw_target;    /* the measuring thread            */
	atomic_uint_fast64_t dw_progress;/* bumped at every reap            */
	atomic_int         dw_waiting;   /* the target is in getevents      */
	atomic_int         dw_stop;
	atomic_uint        dw_stalls;    /* signals sent                    */
	int                dw_started;
};

static void dio_wake(int sig)
{
	(void)sig;
}

static void *dio_watch_main(void *arg)
{
	struct dio_watch *w = arg;
	uint_fast64_t last = atomic_load(&w->dw_progress);
	double idle = 0;

	while (!atomic_load(&w->dw_stop)) {
		uint_fast64_t p;

		bs_sleep(0.1);
		p = atomic_load(&w->dw_progress);
		if (p != last || !atomic_load(&w->dw_waiting)) {
			last = p;
			idle = 0;
			continue;
		}
		idle += 0.1;
		if (idle >= DIO_STALL_S) {
			atomic_fetch_add(&w->dw_stalls, 1);
			pthread_kill(w->dw_target, SIGUSR1);
			idle = 0;
		}
	}
	return NULL;
}

static void dio_watch_start(struct dio_watch *w)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = dio_wake;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL); /* no SA_RESTART: the wait returns */
	w->dw_target = pthread_self();
	w->dw_started = pthread_create(&w->dw_thread, NULL, dio_watch_main, w) == 0;
}

static void dio_watch_stop(struct dio_watch *w)
{
	atomic_store(&w->dw_stop, 1);
	if (w->dw_started)
		pthread_join(w->dw_thread, NULL);
	signal(SIGUSR1, SIG_DFL);
}

/* coherio: keep @depth direct reads in flight on a context. */
static int dio_cio(struct dio_env *e, struct dio_watch *w, int depth, uint64_t seed,
                   double dur, struct bs_meas *m)
{
	cio_ctx *cx = e->de_cx[depth == 1 ? 0 : 1];
	struct cio_op ops[DIO_MAXQD];
	struct cio_event ev[DIO_MAXQD];
	struct dio_slots sl;
	uint64_t rnd = seed | 1, tend;
	int inflight = 0, stopping = 0, err = 0;

	slots_init(&sl, depth);
	bs_meas_start(m);
	tend = bs_ns() + (uint64_t)(dur * 1e9);
	for (;;) {
		int n = 0, acc = 0;

		while (!stopping && sl.ds_nfree) {
			int s = sl.ds_free[--sl.ds_nfree];

			memset(&ops[n], 0, sizeof(ops[n]));
			ops[n].opcode = CIO_OP_READ;
			ops[n].flags = CIO_RW_DIRECT;
			ops[n].file = e->de_file;
			ops[n].buf = e->de_bufs + (size_t)s * e->de_io;
			ops[n].len = e->de_io;
			ops[n].off = (int64_t)(bs_below(&rnd, e->de_nblocks) * e->de_io);
			ops[n].user_data = (uint64_t)s;
			n++;
		}
		if (n) {
			uint64_t now = bs_ns();

			for (int j = 0; j < n; j++)
				sl.ds_sub[ops[j].user_data] = now;
			while (acc < n) {
				int r = cio_ctx_submit(cx, ops + acc, n - acc);

				if (r < 0) {
					err = r;
					stopping = 1;
					break;
				}
				acc += r;
			}
			for (int j = acc; j < n; j++)
				sl.ds_free[sl.ds_nfree++] = (int)ops[j].user_data;
			inflight += acc;
		}
		if (!inflight)
			break;
		atomic_store(&w->dw_waiting, 1);
		int got = cio_ctx_getevents(cx, 1, depth, ev, NULL);
		uint64_t now = bs_ns();

		atomic_store(&w->dw_waiting, 0);
		atomic_fetch_add(&w->dw_progress, 1);

		if (got < 0) {
			err = got;
			break; /* cannot reap: leave them to cio_ctx_destroy() */
		}
		for (int j = 0; j < got; j++) {
			int s = (int)ev[j].user_data;

			if (ev[j].res != (int64_t)e->de_io && !err) {
				err = ev[j].res < 0 ? (int)ev[j].res : -EIO;
				stopping = 1;
			}
			bs_meas_lat(m, now - sl.ds_sub[s]);
			sl.ds_free[sl.ds_nfree++] = s;
			inflight--;
			m->ms_ops++;
		}
		if (now >= tend)
			stopping = 1;
	}
	bs_meas_stop(m);
	m->ms_bytes = m->ms_ops * e->de_io;
	return err;
}

/* The kernel: a plain liburing loop with @depth reads in flight. */
static int dio_uring(struct dio_env *e, int depth, uint64_t seed, double dur,
                     struct bs_meas *m)
{
	struct io_uring *ring = &e->de_ring;
	struct dio_slots sl;
	uint64_t rnd = seed | 1, tend;
	int inflight = 0, stopping = 0, err = 0;

	slots_init(&sl, depth);
	bs_meas_start(m);
	tend = bs_ns() + (uint64_t)(dur * 1e9);
	for (;;) {
		uint64_t now = bs_ns();
		struct io_uring_cqe *cqe;
		unsigned head, cnt = 0;
		int r;

		while (!stopping && sl.ds_nfree) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
			int s;

			if (!sqe)
				break;
			s = sl.ds_free[--sl.ds_nfree];
			io_uring_prep_read(sqe, e->de_dfd, e->de_bufs + (size_t)s * e->de_io,
			                   (unsigned)e->de_io,
			                   bs_below(&rnd, e->de_nblocks) * e->de_io);
			io_uring_sqe_set_data64(sqe, (uint64_t)s);
			sl.ds_sub[s] = now;
			inflight++;
		}
		if (!inflight)
			break;
		r = io_uring_submit_and_wait(ring, 1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			err = r;
			break;
		}
		now = bs_ns();
		io_uring_for_each_cqe(ring, head, cqe) {
			int s = (int)io_uring_cqe_get_data64(cqe);

			if (cqe->res != (int)e->de_io && !err) {
				err = cqe->res < 0 ? cqe->res : -EIO;
				stopping = 1;
			}
			bs_meas_lat(m, now - sl.ds_sub[s]);
			sl.ds_free[sl.ds_nfree++] = s;
			inflight--;
			m->ms_ops++;
			cnt++;
		}
		io_uring_cq_advance(ring, cnt);
		if (now >= tend)
			stopping = 1;
	}
	bs_meas_stop(m);
	m->ms_bytes = m->ms_ops * e->de_io;
	return err;
}

/* ---- fio ---------------------------------------------------------------------- */

/* The number after "key" : in @from (NaN if absent). */
static double json_get(const char *from, const char *key, const char **where)
{
	const char *p = from ? strstr(from, key) : NULL;
	char *end;
	double v;

	if (!p)
		return NAN;
	p += strlen(key);
	p += strspn(p, " \t\n");
	if (*p != ':')
		return NAN;
	p++;
	v = strtod(p, &end);
	if (end == p)
		return NAN;
	if (where)
		*where = end;
	return v;
}

struct fio_res {
	double fr_iops, fr_bw, fr_p50, fr_p99, fr_cpu_ns, fr_runtime_s;
};

/* Runs fio with io_uring, direct=1 at @depth on the scratch file. */
static int run_fio(struct bs_suite *b, int depth, double dur, struct fio_res *fr)
{
	char a_file[4200], a_depth[32], a_size[48], a_rt[48];
	char *argv[] = {
		"fio", "--name=coherio-bench", a_file, "--ioengine=io_uring",
		"--direct=1", "--rw=randread", "--bs=4k", a_depth, a_size, a_rt,
		"--time_based", "--norandommap", "--randrepeat=0", "--invalidate=0",
		"--lat_percentiles=1", "--output-format=json", NULL,
	};
	size_t cap = 1 << 16, len = 0;
	char *out = malloc(cap);
	int pfd[2], status = 0;
	pid_t pid;

	if (!out)
		return -ENOMEM;
	snprintf(a_file, sizeof(a_file), "--filename=%s", b->bs_path);
	snprintf(a_depth, sizeof(a_depth), "--iodepth=%d", depth);
	snprintf(a_size, sizeof(a_size), "--size=%llu", (unsigned long long)b->bs_file);
	snprintf(a_rt, sizeof(a_rt), "--runtime=%dms", (int)(dur * 1000));
	if (pipe(pfd) != 0) {
		free(out);
		return -errno;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		free(out);
		return -errno;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(pfd[1], STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		close(pfd[0]);
		close(pfd[1]);
		execvp("fio", argv);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t n;

		if (len + 1 >= cap) {
			char *bigger = realloc(out, cap * 2);

			if (!bigger)
				break;
			out = bigger;
			cap *= 2;
		}
		n = read(pfd[0], out + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	out[len] = '\0';
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(out);
		return -ECHILD;
	}
	/* jobs[0].read.{iops,bw_bytes,runtime,total_ios,lat_ns.percentile},
	 * then jobs[0].{usr_cpu,sys_cpu} (percent of the runtime) */
	const char *job = strstr(out, "\"jobs\""), *rd = job ? strstr(job, "\"read\"") : NULL;
	const char *lat = rd ? strstr(rd, "\"lat_ns\"") : NULL;
	const char *pc = lat ? strstr(lat, "\"percentile\"") : NULL;
	double ios = json_get(rd, "\"total_ios\"", NULL);
	double rt_ms = json_get(rd, "\"runtime\"", NULL);
	double usr = json_get(job, "\"usr_cpu\"", NULL), sys = json_get(job, "\"sys_cpu\"", NULL);

	fr->fr_iops = json_get(rd, "\"iops\"", NULL);
	fr->fr_bw = json_get(rd, "\"bw_bytes\"", NULL);
	fr->fr_p50 = json_get(pc, "\"50.000000\"", NULL);
	fr->fr_p99 = json_get(pc, "\"99.000000\"", NULL);
	fr->fr_runtime_s = rt_ms / 1e3;
	fr->fr_cpu_ns = ios > 0 ? (usr + sys) / 100.0 * rt_ms * 1e6 / ios : NAN;
	free(out);
	return isnan(fr->fr_iops) ? -EPROTO : 0;
}

/* ---- cold direct reads ------------------------------------------------------------ */

/* One fio run at @depth, recorded as round @round of side @side. */
static void fio_round(struct bs_suite *b, int side, int depth, int round, int *fio_err)
{
	struct fio_res fr = { NAN, NAN, NAN, NAN, NAN, NAN };
	struct bs_meas m;
	int fe;

	bs_progress(b, "direct depth %d round %d/%d: %s", depth, round + 1,
	            b->bs_rounds, dio_name[D_FIO]);
	fe = run_fio(b, depth, b->bs_dur < 1 ? 1 : b->bs_dur, &fr);
	if (fe < 0) {
		*fio_err = fe;
		return;
	}
	memset(&m, 0, sizeof(m));
	m.ms_ops = (uint64_t)(fr.fr_iops * fr.fr_runtime_s);
	m.ms_bytes = (uint64_t)(fr.fr_bw * fr.fr_runtime_s);
	m.ms_t1 = fr.fr_runtime_s;
	m.ms_cpu1 = fr.fr_cpu_ns * (double)m.ms_ops / 1e9;
	bs_record(b, side, round, &m, NAN);
	b->sd[side].sd_p50[round] = fr.fr_p50;
	b->sd[side].sd_p99[round] = fr.fr_p99;
}

int bs_run_direct(struct bs_suite *b)
{
	static const int depths[2] = { 1, DIO_MAXQD };
	struct dio_env e;
	cio_cache *c = NULL;
	int g[2], sd[2][D_NKINDS], r = 0, fio_err = 0;
	struct bs_meas m = { 0 }, acc[2] = { { 0 } };
	struct dio_watch wd;
	unsigned timed_stalls = 0;
	char title[160];
	int have_fio = b->bs_fio[0] != 0;

	memset(&e, 0, sizeof(e));
	memset(&wd, 0, sizeof(wd));
	for (int d = 0; d < 2; d++) {
		snprintf(title, sizeof(title), "Cold 4 KiB random direct reads at queue "
		         "depth %d over the %llu MiB file", depths[d],
		         (unsigned long long)(b->bs_file >> 20));
		g[d] = bs_group_add(b, d ? "direct-qd32" : "direct-qd1", title, 0, NULL);
		for (int k = 0; k < D_NKINDS; k++)
			sd[d][k] = (k != D_FIO || have_fio) ?
			           bs_side_add(b, g[d], dio_name[k],
			                       k == D_CIO ? BS_COHERIO : k == D_URING ?
			                       BS_KERNEL : BS_REF, 1) : -1;
	}
	if (b->bs_dfd < 0) {
		bs_note(b, g[0], "skipped: the file system refuses O_DIRECT");
		bs_note(b, g[1], "skipped: the file system refuses O_DIRECT");
		return 0;
	}
	bs_cmp_add(b, g[0], "async direct read / liburing loop", sd[0][D_CIO],
	           sd[0][D_URING], BS_M_OPS, 0, 0);
	bs_cmp_add(b, g[0], "CPU/IO: async direct read / liburing loop", sd[0][D_CIO],
	           sd[0][D_URING], BS_M_CPU, 0, 1);
	bs_cmp_add(b, g[1], "async direct read / liburing loop", sd[1][D_CIO],
	           sd[1][D_URING], BS_M_OPS, 0.9, 0);
	bs_cmp_add(b, g[1], "CPU/IO: async direct read / liburing loop", sd[1][D_CIO],
	           sd[1][D_URING], BS_M_CPU, 1.3, 1);
	if (have_fio)
		for (int d = 0; d < 2; d++)
			bs_cmp_add(b, g[d], "async direct read / fio", sd[d][D_CIO],
			           sd[d][D_FIO], BS_M_OPS, 0, 0);

	e.de_io = b->bs_io;
	e.de_dfd = b->bs_dfd;
	e.de_nblocks = b->bs_file / b->bs_io;
	e.de_bufs = cli_alloc_aligned(4096, DIO_MAXQD * b->bs_io);
	if (!e.de_bufs)
		return bs_fail(b, -ENOMEM, "allocating");
	memset(e.de_bufs, 0, DIO_MAXQD * b->bs_io);
	r = bs_cache_open(b, 16u << 20, &c, &e.de_file);
	for (int d = 0; d < 2 && !r; d++) {
		r = cio_ctx_create(c, (unsigned)depths[d], &e.de_cx[d]);
		if (r < 0)
			bs_fail(b, r, "cio_ctx_create(%d)", depths[d]);
	}
	if (!r) {
		int ur = io_uring_queue_init(DIO_MAXQD, &e.de_ring, 0);

		e.de_have_ring = ur == 0;
		if (ur < 0)
			for (int d = 0; d < 2; d++)
				bs_note(b, g[d], "no liburing row: io_uring_queue_init: %s",
				        strerror(-ur));
	}
	if (!r && (bs_meas_init(&m, b, 1) < 0 || bs_meas_init(&acc[0], b, 1) < 0 ||
	           bs_meas_init(&acc[1], b, 1) < 0))
		r = bs_fail(b, -ENOMEM, "allocating");
	if (r)
		goto out;

	/* untimed warm-up of both paths (threads, rings) */
	dio_watch_start(&wd);
	dio_cio(&e, &wd, DIO_MAXQD, 7, b->bs_dur / 4, &m);
	if (e.de_have_ring)
		dio_uring(&e, DIO_MAXQD, 7, b->bs_dur / 4, &m);
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		for (int d = 0; d < 2 && !r; d++) {
			/* coherio and liburing in interleaved slices; fio after
			 * them on even rounds, before them on odd ones */
			if (sd[d][D_FIO] >= 0 && round % 2 == 1)
				fio_round(b, sd[d][D_FIO], depths[d], round, &fio_err);
			for (int k = 0; k < 2; k++)
				bs_meas_clear(&acc[k]);
			for (int sl = 0; sl < BS_SLICES && !r; sl++) {
				uint64_t seed = 0xD10ull + (uint64_t)(round * BS_SLICES + sl);

				for (int i = 0; i < 2 && !r; i++) {
					int k = bs_order(2, round * BS_SLICES + sl, i);

					if (k == D_URING && !e.de_have_ring)
						continue;
					unsigned st0 = atomic_load(&wd.dw_stalls);

					bs_progress(b, "direct depth %d round %d/%d: %s",
					            depths[d], round + 1, b->bs_rounds,
					            dio_name[k]);
					r = k == D_CIO ?
					    dio_cio(&e, &wd, depths[d], seed, b->bs_dur / BS_SLICES,
					            &m) :
					    dio_uring(&e, depths[d], seed, b->bs_dur / BS_SLICES, &m);
					timed_stalls += atomic_load(&wd.dw_stalls) - st0;
					if (r < 0)
						bs_fail(b, r, "direct depth %d: %s", depths[d],
						        dio_name[k]);
					else
						bs_meas_add(&acc[k], &m);
				}
			}
			for (int k = 0; k < 2 && !r; k++)
				if (k == D_CIO || e.de_have_ring)
					bs_record(b, sd[d][k], round, &acc[k], NAN);
			if (sd[d][D_FIO] >= 0 && round % 2 == 0)
				fio_round(b, sd[d][D_FIO], depths[d], round, &fio_err);
		}
	}
	dio_watch_stop(&wd);
	for (int d = 0; d < 2; d++) {
		bs_note(b, g[d], "latency: submission to reaping; fio: its lat_ns "
		        "percentiles, CPU from its usr_cpu + sys_cpu");
		if (fio_err)
			bs_note(b, g[d], "fio failed (%s); its row is missing",
			        strerror(-fio_err));
	}
	if (atomic_load(&wd.dw_stalls))
		bs_note(b, g[0], "STALL: cio_ctx_getevents blocked %u time%s for %.0f s "
		        "with I/O in flight and its event posted (a lost wake-up in "
		        "the library) and was woken by the benchmark's watchdog; %u "
		        "in timed measurements, whose figures include the stall",
		        atomic_load(&wd.dw_stalls), atomic_load(&wd.dw_stalls) == 1 ? "" : "s",
		        DIO_STALL_S, timed_stalls);
out:
	bs_meas_free(&m);
	bs_meas_free(&acc[0]);
	bs_meas_free(&acc[1]);
	for (int d = 0; d < 2; d++)
		if (e.de_cx[d])
			cio_ctx_destroy(e.de_cx[d]);
	if (e.de_have_ring)
		io_uring_queue_exit(&e.de_ring);
	bs_cache_close(b, c, e.de_file);
	free(e.de_bufs);
	return r ? r : b->bs_err;
}

/* ---- sequential read ------------------------------------------------------------- */

enum seq_kind { S_CIO, S_KERN, S_DIRECT, S_NKINDS };

static const char *const seq_name[S_NKINDS] = {
	"coherio cached read", "kernel buffered read (after DONTNEED)",
	"kernel O_DIRECT read",
};

#define SEQ_CHUNK (1u << 20)

static int seq_pass(struct bs_suite *b, int kind, cio_file *f, unsigned char *buf,
                    uint64_t len, struct bs_meas *m)
{
	int r = 0;

	/* Step 1: nothing of the file in the cache under test (untimed). */
	if (kind == S_CIO) {
		struct cio_inval_result res;

		r = cio_invalidate(f, 0, 0, 0, &res);
		if (r < 0)
			return r;
	} else if (kind == S_KERN) {
		r = bs_drop_kernel(b->bs_kfd, 0, 0);
		if (r < 0)
			return r;
	}
	/* Step 2: read it all in 1 MiB calls. */
	bs_meas_start(m);
	for (uint64_t off = 0; off < len && !r; off += SEQ_CHUNK) {
		size_t n = len - off < SEQ_CHUNK ? (size_t)(len - off) : SEQ_CHUNK;
		uint64_t t0 = bs_ns();
		ssize_t got;

		if (kind == S_CIO)
			got = cio_read(f, buf, n, (int64_t)off, 0);
		else
			got = pread(kind == S_KERN ? b->bs_kfd : b->bs_dfd, buf, n, (off_t)off);
		if (got < 0 && kind != S_CIO)
			got = -errno;
		bs_meas_lat(m, bs_ns() - t0);
		if (got != (ssize_t)n)
			r = got < 0 ? (int)got : -EIO;
		m->ms_ops++;
		m->ms_bytes += n;
	}
	bs_meas_stop(m);
	return r;
}

int bs_run_seq(struct bs_suite *b)
{
	uint64_t cache = b->bs_file / 2, len = b->bs_file;
	struct cio_cache_stats s0, s1;
	cio_cache *c = NULL;
	cio_file *f = NULL;
	unsigned char *buf;
	int g, sd[S_NKINDS], r;
	struct bs_meas m;
	char title[192];

	snprintf(title, sizeof(title), "Sequential read of the %llu MiB file in 1 MiB "
	         "calls; coherio cache %llu MiB (half the file)",
	         (unsigned long long)(len >> 20), (unsigned long long)(cache >> 20));
	g = bs_group_add(b, "seq", title, 1, NULL);
	for (int k = 0; k < S_NKINDS; k++)
		sd[k] = (k != S_DIRECT || b->bs_dfd >= 0) ?
		        bs_side_add(b, g, seq_name[k], k == S_CIO ? BS_COHERIO : BS_KERNEL, 1) :
		        -1;
	bs_cmp_add(b, g, "cached read / kernel buffered read", sd[S_CIO], sd[S_KERN],
	           BS_M_MBS, 1.0, 0);
	bs_cmp_add(b, g, "cached read / O_DIRECT 1 MiB reads", sd[S_CIO], sd[S_DIRECT],
	           BS_M_MBS, 0, 0);
	buf = cli_alloc_aligned(4096, SEQ_CHUNK);
	if (!buf)
		return bs_fail(b, -ENOMEM, "allocating");
	r = bs_cache_open(b, cache, &c, &f);
	if (!r && bs_meas_init(&m, b, 1) < 0)
		r = bs_fail(b, -ENOMEM, "allocating");
	if (r)
		goto out;
	cio_cache_stats(c, &s0);
	for (int round = 0; round < b->bs_rounds && !r; round++) {
		for (int i = 0; i < S_NKINDS && !r; i++) {
			int k = bs_order(S_NKINDS, round, i);

			if (sd[k] < 0)
				continue;
			bs_progress(b, "seq round %d/%d: %s", round + 1, b->bs_rounds,
			            seq_name[k]);
			r = seq_pass(b, k, f, buf, len, &m);
			if (r < 0)
				bs_fail(b, r, "seq: %s", seq_name[k]);
			else
				bs_record(b, sd[k], round, &m, NAN);
		}
	}
	cio_cache_stats(c, &s1);
	bs_note(b, g, "coherio, all rounds: %llu misses, %llu pages read ahead, %llu "
	        "evictions; readahead window up to the default 64 pages",
	        (unsigned long long)(s1.misses - s0.misses),
	        (unsigned long long)(s1.readahead_pages - s0.readahead_pages),
	        (unsigned long long)(s1.evictions - s0.evictions));
	{
		char ra[32] = "", p[160];
		const char *dev = b->bs_dev;
		size_t n = strcspn(dev, " ");

		snprintf(p, sizeof(p), "/sys/block/%.*s/queue/read_ahead_kb", (int)n, dev);
		FILE *fp = fopen(p, "r");

		if (fp) {
			if (!fgets(ra, sizeof(ra), fp))
				ra[0] = '\0';
			ra[strcspn(ra, "\n")] = '\0';
			fclose(fp);
		}
		if (ra[0])
			bs_note(b, g, "the kernel's readahead on this device: read_ahead_kb = %s",
			        ra);
	}
	bs_meas_free(&m);
out:
	bs_cache_close(b, c, f);
	free(buf);
	return r ? r : b->bs_err;
}
