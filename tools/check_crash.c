/*
 * check_crash.c - `coherio check --crash N`: the workload in a child
 * process, killed with SIGKILL at a random moment, then the files on disk
 * are checked. N cycles; each starts from what the previous one left.
 *
 * The child runs the normal workload (check_run.c, check_ops.c) with its
 * operation log in memory shared with the parent (check_log.c): every
 * operation is recorded when it is invoked and its result before it counts
 * as complete (before the model, or any other thread, treats it as done).
 * So the parent, after the kill, knows a superset of what may have
 * happened and a subset of what surely completed.
 *
 * The check, per file, in steps:
 *  1. A fresh model starts from the image the previous cycle left (every
 *     cell definite, at the cycle's base tick).
 *  2. The logged writes and truncates are replayed in tick order into it,
 *     with durability as the rule for "definite": a direct write that
 *     completed (its data was in the kernel before it returned), a cached or
 *     pinned write that completed before a successful fsync or fdatasync of
 *     the file began, a write with CIO_RW_DSYNC, a completed truncate
 *     (ftruncate is done before it returns), a completed KEEP_SIZE punch or
 *     zero-range (the kernel did it before it returned), a completed
 *     growing fallocate once an fsync began after it (coherio's size
 *     reaches the backing file at once only when the fallocate raised it
 *     above a size a cached write gave it). Everything else, and every
 *     operation in flight at the kill, is only possible.
 *  3. The file read with the kernel must agree with the model: every block
 *     covered by a durable write holds it or something newer; no block holds
 *     bytes that nobody wrote (garbage, a cancelled or rejected write); the
 *     size covers every durable write. Zeros in the last logical block past
 *     the size are accepted (a write-back rounds to whole blocks and the trim
 *     comes with the next fsync).
 * The image becomes the next cycle's starting point.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/falloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define CRASH_LOG_CAP ((uint64_t)1 << 18)   /* records a child may log */
#define CYCLE_SHIFT   40                    /* tick base of cycle k: k << 40 */

struct chk_shm {
	_Atomic uint64_t count;     /* records logged                          */
	_Atomic int      ready;     /* the child's workers run                 */
	int      pad;
	struct chk_rec   rec[];     /* CRASH_LOG_CAP of them                   */
};

struct crash_stats {
	uint64_t ops, completed, inflight, durable_writes, fsyncs, truncates;
	uint64_t fallocs, durable_fallocs;  /* completed with 0; of which durable */
	uint64_t blocks;
	uint64_t finished_early;
};

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int child_main(struct chk_run *r, struct chk_shm *shm, uint64_t base,
                      uint8_t *const *img, const uint64_t *size)
{
	int rc;

	r->log = chk_log_shared(shm->rec, CRASH_LOG_CAP, &shm->count);
	chk_clock_set(base);
	r->cfg.seed = chk_mix(r->cfg.seed + (base >> CYCLE_SHIFT));
	r->cfg.ops = 0;
	r->cfg.duration = 0;
	r->cfg.progress = 0;
	if (!r->log || chk_setup(r) < 0)
		return CLI_EXIT_ERROR;
	for (int f = 0; f < r->cfg.files; f++)
		chk_model_baseline(r->model[f], img[f], size[f], base);
	r->shm_ready = &shm->ready;
	rc = chk_workload(r);
	if (r->nviol) {
		chk_print_violation(r);
		printf("  (found inside the crash child, before the kill)\n");
		fflush(stdout);
		return CLI_EXIT_VIOLATE;
	}
	return rc;
}

struct event {
	uint64_t tick;
	uint32_t idx;
	bool     end;
};

static int cmp_event(const void *a, const void *b)
{
	const struct event *x = a, *y = b;

	return x->tick < y->tick ? -1 : x->tick > y->tick;
}

static bool is_direct(const struct chk_rec *r)
{
	return r->via == VIA_DIRECT || r->via == VIA_ADIRECT;
}

/*
 * Check file @f's image @img (@isz bytes) after the kill of a cycle whose
 * ticks started at @base, from @prev (@psz bytes), against the records.
 * 0, or -1 with *v filled.
 */
/* The operations the replay puts into the model: those that change data or
 * size (a KEEP_SIZE reserve changes neither). */
static bool replayed(const struct chk_rec *x)
{
	if (x->kind == OK_FALLOC)
		return x->flags != FALLOC_FL_KEEP_SIZE;
	return x->kind == OK_WRITE || x->kind == OK_PINW || x->kind == OK_TRUNC;
}

static int verify_cycle(struct chk_run *r, int f, const struct chk_rec *recs,
                        uint64_t nrec, uint64_t base, const uint8_t *prev,
                        uint64_t psz, const uint8_t *img, uint64_t isz,
                        uint32_t lbs, struct chk_viol *v, struct crash_stats *cs)
{
	struct chk_model *m = chk_model_new(f, r->cfg.file_size / CHK_CELL, 4);
	struct chk_op *ops = NULL, q;
	struct event *ev = NULL;
	uint64_t fsync_max = 0, n = 0, ne = 0;
	int rc = 0;

	if (!m)
		return 0;
	chk_model_set_page(m, r->cfg.page_size);
	chk_model_set_disk(m, true);
	chk_model_baseline(m, prev, psz, base);
	for (uint64_t i = 0; i < nrec; i++) {
		const struct chk_rec *x = &recs[i];

		if (x->file != f)
			continue;
		if ((x->kind == OK_FSYNC || x->kind == OK_FDSYNC) && x->done && x->res == 0) {
			cs->fsyncs++;
			if (x->inv > fsync_max)
				fsync_max = x->inv;
		}
		if (replayed(x))
			n++;
	}
	ops = calloc(n ? n : 1, sizeof(*ops));
	ev = calloc(2 * (n ? n : 1), sizeof(*ev));
	if (!ops || !ev)
		goto out;
	n = 0;
	for (uint64_t i = 0; i < nrec; i++) {
		const struct chk_rec *x = &recs[i];
		struct chk_op *op;

		if (x->file != f || !replayed(x))
			continue;
		op = &ops[n];
		op->kind = x->kind;
		op->via = x->via;
		op->file = x->file;
		op->thread = x->thread;
		op->flags = x->flags;
		op->off = x->off;
		op->len = x->len;
		op->cancel_rc = 1;
		op->logslot = i;               /* the record behind it */
		ev[ne++] = (struct event){ x->inv, (uint32_t)n, false };
		if (x->done)
			ev[ne++] = (struct event){ x->resp, (uint32_t)n, true };
		n++;
	}
	qsort(ev, ne, sizeof(*ev), cmp_event);
	for (uint64_t e = 0; e < ne; e++) {
		struct chk_op *op = &ops[ev[e].idx];
		const struct chk_rec *x = &recs[op->logslot];

		if (!ev[e].end) {
			if (op->kind == OK_TRUNC)
				chk_trunc_begin(m, op, x->inv);
			else if (op->kind == OK_FALLOC)
				chk_falloc_begin(m, op, x->inv);
			else
				chk_write_begin(m, op, x->inv);
			continue;
		}
		op->res = x->res;
		op->res2 = x->res2;
		if (op->kind == OK_TRUNC) {
			bool none = x->res == -ECANCELED ||
			            (x->res == -EAGAIN && (x->flags & CIO_TRUNC_NOWAIT));
			chk_trunc_end(m, op, none ? EFF_NONE : EFF_SOME, x->resp);
			cs->truncates += !none;
		} else if (op->kind == OK_FALLOC) {
			/* The kernel punched or zeroed the range before it returned;
			 * the size it grew is coherio's, which reaches the backing file
			 * at once only when it was the larger (else a cached write's
			 * size covered it, durable with that write): growing modes are
			 * durable once an fsync began after them. */
			bool grows = !(x->flags & FALLOC_FL_KEEP_SIZE);
			bool durable = x->res == 0 && (!grows || fsync_max > x->resp);

			chk_falloc_end(m, op, x->res == -EOPNOTSUPP ? EFF_NONE : EFF_SOME,
			               durable, x->resp);
			cs->fallocs += x->res == 0;
			cs->durable_fallocs += durable;
		} else {
			bool none = x->res == -ECANCELED ||
			            (x->res == -EAGAIN && (x->flags & CIO_RW_NOWAIT)) ||
			            (op->kind == OK_PINW && x->res < 0);
			uint64_t done = x->res > 0 ? (op->kind == OK_PINW ? x->len :
			                              (uint64_t)x->res) : 0;
			bool durable = is_direct(x) || (x->flags & CIO_RW_DSYNC) ||
			               fsync_max > x->resp;

			if (op->kind == OK_PINW)
				durable = fsync_max > x->resp;
			chk_write_end(m, op, none ? EFF_NONE : EFF_SOME, durable ? done : 0,
			              false, x->resp);
			cs->durable_writes += durable && done;
		}
	}
	/* the post-crash read: after everything */
	memset(&q, 0, sizeof(q));
	q.kind = OK_READ;
	q.via = VIA_SYNC;
	q.file = (uint8_t)f;
	q.thread = 0xff;
	q.len = isz;
	q.cancel_rc = 1;
	q.inv = UINT64_MAX - 64;
	q.resp = UINT64_MAX - 60;
	if (chk_check_image(m, &q, img, isz, lbs, true, v) < 0)
		rc = -1;
	cs->blocks += isz / CHK_CELL;
out:
	for (uint64_t i = 0; ops && i < n; i++)
		free(ops[i].drain);
	free(ops);
	free(ev);
	chk_model_free(m);
	return rc;
}

/* The file as the kernel has it, read with O_DIRECT (see read_kernel() in
 * check_run.c: no kernel page cache left behind for the next child). */
static int read_image(const char *path, uint8_t *buf, uint64_t cap, uint64_t *size)
{
	struct stat st;
	uint64_t got = 0, want;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);

	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	if (*size > cap - 4096)
		*size = cap - 4096;
	want = (*size + 4095) / 4096 * 4096;
	while (got < want) {
		ssize_t k = pread(fd, buf + got, (size_t)(want - got), (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (uint64_t)k;
	}
	close(fd);
	return 0;
}

/* FNV-1a over the files' sizes and bytes (0 if one cannot be read). */
static uint64_t files_hash(struct chk_run *r, uint8_t *img, uint64_t cap)
{
	uint64_t h = 1469598103934665603ull;

	for (int f = 0; f < r->cfg.files; f++) {
		uint64_t sz = 0;

		if (read_image(r->path[f], img, cap, &sz) < 0)
			return 0;
		for (int b = 0; b < 8; b++)
			h = (h ^ ((sz >> (8 * b)) & 0xff)) * 1099511628211ull;
		for (uint64_t i = 0; i < sz; i++)
			h = (h ^ img[i]) * 1099511628211ull;
	}
	return h;
}

/*
 * After the kill, wait until the files stop changing (at most about 2 s).
 * A killed process's io_uring requests are torn down by the kernel after
 * the process is reaped (the ring's exit work), so a write in flight at the
 * kill may still land then - legitimately: it was in flight at the crash.
 * Read too early, the image would miss it, and it would land inside the
 * next cycle, where the model cannot account for it.
 */
static void settle_files(struct chk_run *r, uint8_t *img, uint64_t cap)
{
	sleep_ms(30);
	uint64_t prev = files_hash(r, img, cap);

	for (int i = 0; i < 100; i++) {
		sleep_ms(20);
		uint64_t now = files_hash(r, img, cap);
		if (now == prev)
			return;
		prev = now;
	}
}

static uint32_t dio_align(const char *path)
{
	struct statx stx;

	if (statx(AT_FDCWD, path, 0, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN) && stx.stx_dio_offset_align)
		return stx.stx_dio_offset_align;
	return 4096;
}

int chk_crash_main(struct chk_run *r)
{
	size_t shm_len = sizeof(struct chk_shm) + CRASH_LOG_CAP * sizeof(struct chk_rec);
	struct chk_shm *shm;
	uint8_t *prev[CHK_MAX_FILES] = { 0 }, *img = NULL;
	uint64_t psz[CHK_MAX_FILES] = { 0 }, rng = chk_mix(r->cfg.seed ^ 0xC4A5);
	struct crash_stats cs;
	struct chk_log *view = NULL;
	struct chk_viol *v = calloc(1, sizeof(*v));
	uint32_t lbs = dio_align(r->path[0]);
	uint64_t cap;
	double t0 = chk_now();
	int rc = CLI_EXIT_OK;

	memset(&cs, 0, sizeof(cs));
	r->cfg.file_size = r->cfg.file_size / 4096 * 4096;
	cap = r->cfg.file_size + 3 * 4096;
	shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	img = cli_alloc_aligned(4096, cap);
	if (shm == MAP_FAILED || !img || !v) {
		fprintf(stderr, "coherio check: out of memory for the crash log\n");
		free(img);
		free(v);
		return CLI_EXIT_ERROR;
	}
	for (int f = 0; f < r->cfg.files; f++) {
		prev[f] = calloc(1, cap);
		if (!prev[f]) {
			rc = CLI_EXIT_ERROR;
			goto out;
		}
	}
	view = chk_log_shared(shm->rec, CRASH_LOG_CAP, &shm->count);
	printf("coherio check %s --crash %d: %d thread%s, %d file%s of up to %llu KiB, "
	       "cache %llu KiB, engine %s%s\n  seed %#" PRIx64 "; each cycle runs the "
	       "workload in a child and kills it with SIGKILL at a random moment;\n"
	       "  files in %s\n", cio_version(), r->cfg.crash, r->cfg.threads,
	       r->cfg.threads == 1 ? "" : "s", r->cfg.files, r->cfg.files == 1 ? "" : "s",
	       (unsigned long long)(r->cfg.file_size >> 10),
	       (unsigned long long)(r->cfg.cache_bytes >> 10),
	       r->cfg.engine_name ? r->cfg.engine_name :
	       (getenv("COHERIO_ENGINE") && *getenv("COHERIO_ENGINE") ?
	        getenv("COHERIO_ENGINE") : "auto"),
	       r->cfg.faults ? " with fault injection" : "", r->cfg.seed, r->dir);
	fflush(stdout);

	for (int cycle = 1; cycle <= r->cfg.crash && rc == CLI_EXIT_OK; cycle++) {
		uint64_t base = (uint64_t)cycle << CYCLE_SHIFT, nrec;
		uint64_t delay = 5 + chk_below(&rng, 300);
		int st = 0;
		pid_t pid;
		bool killed = false;

		atomic_store(&shm->count, 0);
		atomic_store(&shm->ready, 0);
		fflush(stdout);
		fflush(stderr);
		pid = fork();
		if (pid < 0) {
			fprintf(stderr, "coherio check: fork: %s\n", strerror(errno));
			rc = CLI_EXIT_ERROR;
			break;
		}
		if (pid == 0)
			_exit(child_main(r, shm, base, prev, psz));
		/* wait for the workers to start, then a random moment */
		for (int i = 0; i < 30000 && !atomic_load(&shm->ready); i++) {
			if (waitpid(pid, &st, WNOHANG) == pid)
				goto reaped;
			sleep_ms(1);
		}
		sleep_ms(delay);
		kill(pid, SIGKILL);
		killed = true;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
reaped:
		if (WIFEXITED(st)) {
			if (WEXITSTATUS(st) == CLI_EXIT_VIOLATE) {
				printf("coherio check: FAIL in crash cycle %d (the child found "
				       "the violation above)\n", cycle);
				rc = CLI_EXIT_VIOLATE;
				break;
			}
			if (WEXITSTATUS(st) != CLI_EXIT_OK) {
				fprintf(stderr, "coherio check: the crash child of cycle %d "
				        "failed to start (exit %d)\n", cycle, WEXITSTATUS(st));
				rc = CLI_EXIT_ERROR;
				break;
			}
			cs.finished_early++;
		} else if (!killed || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
			printf("coherio check: FAIL: the crash child of cycle %d died of "
			       "signal %d before it was killed\n", cycle,
			       WIFSIGNALED(st) ? WTERMSIG(st) : 0);
			rc = CLI_EXIT_VIOLATE;
			break;
		}
		settle_files(r, img, cap);
		nrec = atomic_load(&shm->count);
		if (nrec > CRASH_LOG_CAP)
			nrec = CRASH_LOG_CAP;
		for (uint64_t i = 0; i < nrec; i++) {
			cs.ops++;
			if (shm->rec[i].done)
				cs.completed++;
			else
				cs.inflight++;
		}
		for (int f = 0; f < r->cfg.files; f++) {
			uint64_t isz = 0;
			int k = read_image(r->path[f], img, cap, &isz);

			if (k < 0) {
				fprintf(stderr, "coherio check: cannot read '%s': %s\n",
				        r->path[f], strerror(-k));
				rc = CLI_EXIT_ERROR;
				break;
			}
			if (verify_cycle(r, f, shm->rec, nrec, base, prev[f], psz[f], img,
			                 isz, lbs, v, &cs) < 0) {
				char tmp[1024];

				if (!strcmp(v->g, "stale") || v->why == V_EOF ||
				    v->why == V_ZERO)
					v->g = "durability";
				snprintf(tmp, sizeof(tmp), "After the SIGKILL of crash cycle %d "
				         "(%llu ms after the workers started; %llu operations "
				         "logged), the file on disk: %s", cycle,
				         (unsigned long long)delay, (unsigned long long)nrec, v->what);
				memcpy(v->what, tmp, sizeof(v->what) - 1);
	v->what[sizeof(v->what) - 1] = '\0';
				v->tick = UINT64_MAX - 64;
				cli_progress_done();
				chk_viol_print(stdout, v, view, &r->cfg);
				chk_print_rerun(r, stdout);
				printf("coherio check: FAIL in crash cycle %d\n", cycle);
				rc = CLI_EXIT_VIOLATE;
				break;
			}
			memcpy(prev[f], img, isz);
			memset(prev[f] + isz, 0, cap - isz);
			psz[f] = isz;
		}
		if (r->cfg.progress)
			cli_progress("crash cycle %d/%d: %llu operations logged, %llu in "
			             "flight at the kills, %llu blocks checked", cycle,
			             r->cfg.crash, (unsigned long long)cs.ops,
			             (unsigned long long)cs.inflight,
			             (unsigned long long)cs.blocks);
	}
	cli_progress_done();
	if (rc == CLI_EXIT_OK) {
		printf("\n  cycles %d (%llu ended before the kill: log full), operations "
		       "logged %llu,\n  completed %llu, in flight at the kills %llu, "
		       "durable writes %llu, successful fsyncs %llu, truncates %llu,\n"
		       "  fallocates that changed data or size %llu (durable %llu), "
		       "blocks checked on disk after the kills %llu\n", r->cfg.crash,
		       (unsigned long long)cs.finished_early, (unsigned long long)cs.ops,
		       (unsigned long long)cs.completed, (unsigned long long)cs.inflight,
		       (unsigned long long)cs.durable_writes, (unsigned long long)cs.fsyncs,
		       (unsigned long long)cs.truncates, (unsigned long long)cs.fallocs,
		       (unsigned long long)cs.durable_fallocs, (unsigned long long)cs.blocks);
		printf("coherio check: PASS - %d crash cycles in %.1f s, every durable "
		       "write on disk, no byte nobody wrote\n", r->cfg.crash, chk_now() - t0);
	}
out:
	chk_log_free(view);
	for (int f = 0; f < r->cfg.files; f++)
		free(prev[f]);
	free(img);
	free(v);
	munmap(shm, shm_len);
	return rc;
}
