/*
 * check_run.c - `coherio check`: options, set-up, the run (worker threads,
 * epochs, the watchdog, the progress line), fault injection, the final
 * checks and the closing table.
 *
 * The run in steps:
 *  1. Create a scratch directory with the files (empty), a cache with the
 *     requested budget, page size and engine (wrapped in the fault engine
 *     with --faults), and one worker per thread, each with its own handle
 *     on every file and its own async context.
 *  2. Workers run random operations (check_ops.c). Every --epoch operations
 *     each worker parks; when all are parked the main thread runs an epoch
 *     check: faults are cleared, every handle is fsynced (G6: a handle whose
 *     file had a write-back error since its previous fsync must get an
 *     error now; a second fsync must succeed), and every file is read whole
 *     three ways - the kernel's pread of the backing file, a cached read and
 *     a direct read through coherio. All three must be equal and agree with
 *     the model (nothing lost: every block holds a version the model allows,
 *     the backing file has coherio's size). Then faults resume.
 *  3. At the end: a last epoch check, every context destroyed, every handle
 *     closed and the cache destroyed (all must succeed), and the files read
 *     once more with plain pread against the model.
 * A violation stops everything; the report names the guarantee, the block,
 * what was read, and the history of the block. A watchdog thread reports an
 * operation that runs longer than --hang seconds (a deadlock) and exits.
 *
 * Threads and locks: ctl_lock/ctl_cond for parking and the epoch counter;
 * viol_lock for the first violation; everything the progress line reads is
 * atomic.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

/* ---- scratch files, removed on SIGINT/SIGTERM too -------------------------- */

static char g_paths[CHK_MAX_FILES + 1][4160];
static volatile sig_atomic_t g_npaths;
static volatile sig_atomic_t g_remove_on_signal;

static void on_signal(int sig)
{
	if (g_remove_on_signal) {
		for (int i = 0; i < g_npaths; i++)
			unlink(g_paths[i + 1]);
		rmdir(g_paths[0]);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static int make_files(struct chk_run *r)
{
	struct sigaction sa;
	const char *dir = r->cfg.dir ? r->cfg.dir : cli_default_dir();

	if (snprintf(r->dir, sizeof(r->dir), "%s/coherio-check-XXXXXX", dir) >=
	    (int)sizeof(r->dir) || !mkdtemp(r->dir)) {
		fprintf(stderr, "coherio check: cannot create a scratch directory in "
		        "'%s': %s\n", dir, strerror(errno));
		return -1;
	}
	snprintf(g_paths[0], sizeof(g_paths[0]), "%s", r->dir);
	for (int f = 0; f < r->cfg.files; f++) {
		int fd;

		snprintf(r->path[f], sizeof(r->path[f]), "%s/file%d", r->dir, f);
		snprintf(g_paths[f + 1], sizeof(g_paths[f + 1]), "%s", r->path[f]);
		fd = open(r->path[f], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			fprintf(stderr, "coherio check: cannot create '%s': %s\n",
			        r->path[f], strerror(errno));
			return -1;
		}
		close(fd);
		g_npaths = f + 1;
	}
	g_remove_on_signal = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

int chk_remove_files(struct chk_run *r)
{
	if (!g_remove_on_signal)
		return 0;
	g_remove_on_signal = 0;
	for (int f = 0; f < r->cfg.files; f++)
		unlink(r->path[f]);
	return rmdir(r->dir);
}

/* ---- violations ---------------------------------------------------------------- */

void chk_violation(struct chk_run *r, const struct chk_viol *v)
{
	pthread_mutex_lock(&r->viol_lock);
	if (r->nviol++ == 0)
		r->viol = *v;
	pthread_mutex_unlock(&r->viol_lock);
	atomic_store(&r->stop, true);
	pthread_mutex_lock(&r->ctl_lock);
	pthread_cond_broadcast(&r->ctl_cond);
	pthread_mutex_unlock(&r->ctl_lock);
}

static void viol_text(struct chk_run *r, const char *g, int file,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void viol_text(struct chk_run *r, const char *g, int file,
                      const char *fmt, ...)
{
	struct chk_viol *v = calloc(1, sizeof(*v));
	va_list ap;

	if (!v)
		return;
	v->g = g;
	v->file = file;
	v->cell = -1;
	v->tick = chk_clock_now();
	va_start(ap, fmt);
	vsnprintf(v->what, sizeof(v->what), fmt, ap);
	va_end(ap);
	chk_violation(r, v);
	free(v);
}

void chk_print_rerun(struct chk_run *r, FILE *fp)
{
	const struct chk_cfg *c = &r->cfg;

	fprintf(fp, "  rerun: coherio check --seed %#" PRIx64 " --threads %d --files %d "
	        "--file-size %" PRIu64 " --cache %" PRIu64 " --page-size %u",
	        c->seed, c->threads, c->files, c->file_size, c->cache_bytes,
	        c->page_size);
	if (c->engine_name)
		fprintf(fp, " --engine %s", c->engine_name);
	if (c->faults)
		fprintf(fp, " --faults");
	if (c->without_arg)
		fprintf(fp, " --without %s", c->without_arg);
	if (c->crash)
		fprintf(fp, " --crash %d", c->crash);
	if (c->ops)
		fprintf(fp, " --ops %" PRIu64, c->ops);
	else if (c->duration)
		fprintf(fp, " --duration %g", c->duration);
	fprintf(fp, " --epoch %" PRIu64 "\n", c->epoch_ops);
	fprintf(fp, "  (with --threads 1 --engine sync the operation sequence is "
	        "the same on every run)\n");
}

void chk_print_violation(struct chk_run *r)
{
	cli_progress_done();
	fflush(stdout);
	chk_viol_print(stdout, &r->viol, r->log, &r->cfg);
	if (r->nviol > 1)
		printf("  (%d violations in all; the first is shown)\n", r->nviol);
	chk_print_rerun(r, stdout);
	fflush(stdout);
}

/* ---- faults ---------------------------------------------------------------------- */

static void fault_add(struct chk_run *r, const struct cio_fault_rule *fr)
{
	int id = cio_fault_add(r->cache, fr);

	if (id >= 0 && r->nfault < (int)(sizeof(r->fault_id) / sizeof(r->fault_id[0])))
		r->fault_id[r->nfault++] = id;
}

/* A new random set of rules for the next epoch. */
static void faults_start(struct chk_run *r)
{
	uint64_t s = chk_mix(r->cfg.seed ^ chk_mix(r->epoch + 77));
	struct cio_fault_rule fr;
	int added = 0;

	r->nfault = 0;
	for (int k = 0; k < 6; k++) {
		if (chk_below(&s, 100) >= 60)
			continue;
		memset(&fr, 0, sizeof(fr));
		fr.count = -1;
		fr.seed = chk_mix(s + (uint64_t)k);
		switch (k) {
		case 0:
			fr.ops = CIO_FAULT_WRITE;
			fr.error = EIO;
			fr.per_million = 2000 + (uint32_t)chk_below(&s, 15000);
			break;
		case 1:
			fr.ops = CIO_FAULT_WRITE;
			fr.error = ENOSPC;
			fr.per_million = 1000 + (uint32_t)chk_below(&s, 4000);
			break;
		case 2:
			fr.ops = CIO_FAULT_READ;
			fr.error = EIO;
			fr.per_million = 1000 + (uint32_t)chk_below(&s, 8000);
			atomic_store(&r->read_faults, true);
			break;
		case 3:
			fr.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
			fr.short_bytes = 512 * (1 + (uint32_t)chk_below(&s, 16));
			fr.per_million = 20000 + (uint32_t)chk_below(&s, 80000);
			break;
		case 4:
			fr.ops = CIO_FAULT_READ | CIO_FAULT_WRITE | CIO_FAULT_FSYNC;
			fr.delay_us = (uint32_t)chk_below(&s, 200);
			fr.jitter_us = 100 + (uint32_t)chk_below(&s, 2000);
			fr.per_million = 20000 + (uint32_t)chk_below(&s, 150000);
			break;
		default:
			fr.ops = CIO_FAULT_FSYNC;
			fr.error = EIO;
			fr.per_million = 10000 + (uint32_t)chk_below(&s, 40000);
		}
		fault_add(r, &fr);
		added++;
	}
	if (!added) {
		memset(&fr, 0, sizeof(fr));
		fr.ops = CIO_FAULT_READ | CIO_FAULT_WRITE;
		fr.count = -1;
		fr.jitter_us = 500;
		fr.per_million = 100000;
		fr.seed = s;
		fault_add(r, &fr);
	}
	atomic_store(&r->faults_live, true);
}

static void faults_stop(struct chk_run *r)
{
	int64_t n = cio_fault_fired(r->cache, -1);

	if (n > 0)
		atomic_fetch_add(&r->faults_fired, n);
	cio_fault_clear(r->cache, -1);
	r->nfault = 0;
	atomic_store(&r->faults_live, false);
	atomic_store(&r->read_faults, false);
}

/* ---- epoch checks: the disk equals the model ------------------------------------- */

static uint8_t *g_img[3];   /* kernel, cached, direct images (main thread) */
static uint64_t g_ksz;      /* the kernel image's size after a verify      */

/*
 * Read the backing file with the kernel, bypassing coherio. O_DIRECT, so
 * the kernel's page cache stays empty: a buffered read would leave pages
 * that coherio's O_DIRECT writes must invalidate, and when that fails Linux
 * records -EIO for the file (dio_warn_stale_pagecache) - an error the
 * checker, not coherio, would have caused. @buf is aligned; @cap leaves
 * room for rounding up to a logical block.
 */
static int read_kernel(const char *path, uint8_t *buf, uint64_t cap, uint64_t *size)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECT);
	uint64_t got = 0, want;

	if (fd < 0)
		fd = open(path, O_RDONLY | O_CLOEXEC);  /* no O_DIRECT here */
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -errno;
	}
	*size = (uint64_t)st.st_size;
	want = (*size + 4095) / 4096 * 4096;
	if (want > cap)
		want = cap / 4096 * 4096;
	while (got < want) {
		ssize_t k = pread(fd, buf + got, (size_t)(want - got), (off_t)got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (uint64_t)k;
	}
	close(fd);
	if (*size > cap - 4096)
		*size = cap - 4096 + CHK_CELL; /* judged as "beyond" */
	return 0;
}

/* An operation the checker itself makes (epoch checks, shifts). */
void chk_checker_op(struct chk_op *op, int kind, int via, int file)
{
	memset(op, 0, sizeof(*op));
	op->kind = (uint8_t)kind;
	op->via = (uint8_t)via;
	op->file = (uint8_t)file;
	op->thread = 0xff;
	op->cancel_rc = 1;
}

/* Compare images @a and @b (@n bytes): the first differing cell, or -1. */
static int64_t first_diff(const uint8_t *a, const uint8_t *b, uint64_t n)
{
	for (uint64_t c = 0; c * CHK_CELL < n; c++) {
		uint64_t k = n - c * CHK_CELL < CHK_CELL ? n - c * CHK_CELL : CHK_CELL;

		if (memcmp(a + c * CHK_CELL, b + c * CHK_CELL, k))
			return (int64_t)c;
	}
	return -1;
}

static void report_image(struct chk_run *r, struct chk_viol *v, const char *which)
{
	char tmp[1024];

	snprintf(tmp, sizeof(tmp), "At an epoch check (all threads quiet, after "
	         "fsync), %s %s", which, v->what);
	memcpy(v->what, tmp, sizeof(v->what) - 1);
	v->what[sizeof(v->what) - 1] = '\0';
	chk_violation(r, v);
}

/* Verify file @f (through handle @h, or with the kernel alone); 0 when it
 * equals the model, -1 after a violation. The kernel's image stays in
 * g_img[0] (chk_kernel_image()). */
static int verify_file(struct chk_run *r, int f, cio_file *h)
{
	struct chk_model *m = r->model[f];
	uint64_t cap = r->cfg.file_size + 8192;
	struct chk_viol *v = calloc(1, sizeof(*v));
	struct chk_op op;
	uint64_t ksz = 0;
	int64_t sz = 0, rc_c = 0, rc_d = 0;
	int64_t d;
	int krc;

	int ok = -1;

	if (!v)
		return -1;
	chk_checker_op(&op, OK_READ, h ? VIA_CACHED : VIA_SYNC, f);
	op.len = r->cfg.file_size;
	chk_model_lock(m);
	chk_read_begin(m, &op);
	chk_model_unlock(m);
	if (h) {
		sz = cio_size(h);
		rc_c = cio_read(h, g_img[1], r->cfg.file_size + CHK_CELL, 0, 0);
		rc_d = cio_read(h, g_img[2], cap, 0, CIO_RW_DIRECT);
	}
	krc = read_kernel(r->path[f], g_img[0], cap, &ksz);
	chk_model_lock(m);
	chk_read_end(m, &op);
	if (krc < 0) {
		chk_model_unlock(m);
		viol_text(r, "G3", f, "cannot read back file %d with the kernel: %s", f,
		          strerror(-krc));
		goto out;
	}
	if (h && (rc_c != sz || rc_d != sz)) {
		chk_model_unlock(m);
		viol_text(r, "G4", f, "At an epoch check, file %d: coherio's size is %lld "
		          "but a cached read of the whole file returned %lld and a direct "
		          "read %lld.", f, (long long)sz, (long long)rc_c, (long long)rc_d);
		goto out;
	}
	if (h && (int64_t)ksz != sz) {
		chk_model_unlock(m);
		viol_text(r, "G6", f, "At an epoch check, after every handle's fsync "
		          "succeeded, the backing file %d is %llu bytes but coherio's size "
		          "is %lld: data or size never reached the file.", f,
		          (unsigned long long)ksz, (long long)sz);
		goto out;
	}
	op.via = h ? VIA_CACHED : VIA_SYNC;
	if (h && chk_check_image(m, &op, g_img[1], (uint64_t)sz, r->lbs, false, v) < 0) {
		chk_model_unlock(m);
		report_image(r, v, "a cached read of the whole file:");
		goto out;
	}
	op.via = VIA_SYNC;
	if (chk_check_image(m, &op, g_img[0], ksz, r->lbs, false, v) < 0) {
		chk_model_unlock(m);
		report_image(r, v, "the backing file read with the kernel's pread():");
		goto out;
	}
	chk_model_unlock(m);
	if (h && (d = first_diff(g_img[0], g_img[1], ksz)) >= 0) {
		char a[160], b[160];

		chk_cell_describe(g_img[1] + d * CHK_CELL, a, sizeof(a));
		chk_cell_describe(g_img[0] + d * CHK_CELL, b, sizeof(b));
		viol_text(r, "G3", f, "At an epoch check (after fsync), block %lld of file "
		          "%d differs between the paths: coherio's cached read gives %s; "
		          "the file on disk holds %s.", (long long)d, f, a, b);
		goto out;
	}
	if (h && (d = first_diff(g_img[2], g_img[1], ksz)) >= 0) {
		char a[160], b[160];

		chk_cell_describe(g_img[1] + d * CHK_CELL, a, sizeof(a));
		chk_cell_describe(g_img[2] + d * CHK_CELL, b, sizeof(b));
		viol_text(r, "G2", f, "At an epoch check, block %lld of file %d differs "
		          "between the paths: a cached read gives %s; a direct read gives "
		          "%s.", (long long)d, f, a, b);
		goto out;
	}
	r->cells_imaged += ksz / CHK_CELL;
	g_ksz = ksz;
	ok = 0;
out:
	free(v);
	return ok;
}

int chk_verify_file(struct chk_run *r, int f, cio_file *h, const uint8_t **img,
                    uint64_t *size)
{
	int rc = verify_file(r, f, h);

	*img = g_img[0];
	*size = g_ksz;
	return rc;
}

static void fsync_handle(struct chk_run *r, struct chk_worker *w, int f)
{
	struct chk_op op;
	uint64_t e1 = chk_file_wb_errors(w->h[f]);
	int rc;

	chk_checker_op(&op, OK_FSYNC, VIA_SYNC, f);
	chk_model_lock(r->model[f]);
	chk_other_begin(r->model[f], &op);
	chk_log_begin(r->log, &op);
	chk_model_unlock(r->model[f]);
	rc = cio_fsync(w->h[f]);
	op.res = rc;
	chk_model_lock(r->model[f]);
	chk_other_end(r->model[f], &op);
	chk_log_end(r->log, &op);
	chk_model_unlock(r->model[f]);
	if (chk_g6_after_fsync(r, w, f, w->h[f], e1, rc, &op))
		return;
	if (rc < 0) {
		/* the faults are gone: the error is reported once, the pages are
		 * retried and must reach the device now */
		rc = cio_fsync(w->h[f]);
		if (rc < 0)
			viol_text(r, "G6", f, "At an epoch check with the faults cleared, "
			          "thread %d's handle on file %d: fsync reported -%s, and a "
			          "second fsync failed again with -%s (%s): pages whose "
			          "write-back failed must be retried and the error reported "
			          "once.", w->id, f, cli_errname((int)op.res), cli_errname(rc),
			          cio_strerror(rc));
		w->g6[f].e0 = chk_file_wb_errors(w->h[f]);
	}
}

static void epoch_check(struct chk_run *r, bool final)
{
	if (r->cfg.faults)
		faults_stop(r);
	for (int f = 0; f < r->cfg.files && !atomic_load(&r->stop); f++) {
		for (int i = 0; i < r->nw && !atomic_load(&r->stop); i++)
			fsync_handle(r, &r->w[i], f);
		if (!atomic_load(&r->stop) && verify_file(r, f, r->w[0].h[f]) == 0 &&
		    !final)
			chk_shift_file(r, f, g_img[0], g_ksz); /* collapse or insert */
		chk_model_lock(r->model[f]);
		chk_model_prune_all(r->model[f]);
		chk_model_unlock(r->model[f]);
	}
	r->epochs_checked++;
	if (r->cfg.faults && !final && !atomic_load(&r->stop))
		faults_start(r);
}

/* ---- progress, watchdog, table -------------------------------------------------- */

static uint64_t sum_kind(struct chk_run *r, int via, int kind)
{
	uint64_t n = 0;

	for (int i = 0; i < r->nw; i++)
		n += atomic_load_explicit(&r->w[i].st.n[via][kind], memory_order_relaxed);
	return n;
}

static uint64_t sum_via(struct chk_run *r, int via)
{
	uint64_t n = 0;

	for (int k = 0; k < OK_NKINDS; k++)
		if (k != OK_CANCEL)
			n += sum_kind(r, via, k);
	return n;
}

static uint64_t total_ops(struct chk_run *r)
{
	uint64_t n = 0;

	for (int v = 0; v < VIA_N; v++)
		n += sum_via(r, v);
	return n;
}

static int64_t faults_now(struct chk_run *r)
{
	int64_t n = atomic_load(&r->faults_fired);

	if (r->cfg.faults && atomic_load(&r->faults_live)) {
		int64_t k = cio_fault_fired(r->cache, -1);

		if (k > 0)
			n += k;
	}
	return n;
}

static void progress(struct chk_run *r)
{
	double t = chk_now() - r->t0;
	uint64_t n = total_ops(r);
	char rate[32];

	if (!r->cfg.progress)
		return;
	cli_fmt_rate(rate, sizeof(rate), t > 0 ? (double)n / t : 0);
	cli_progress("check %.0fs  %llu ops (%sops/s)  cached %llu  direct %llu  "
	             "async %llu  pinned %llu  other %llu  faults %lld  epochs %llu  "
	             "violations %d", t, (unsigned long long)n, rate,
	             (unsigned long long)sum_via(r, VIA_CACHED),
	             (unsigned long long)sum_via(r, VIA_DIRECT),
	             (unsigned long long)(sum_via(r, VIA_ACACHED) + sum_via(r, VIA_ADIRECT) +
	                                  sum_via(r, VIA_ASYNC)),
	             (unsigned long long)sum_via(r, VIA_PIN),
	             (unsigned long long)sum_via(r, VIA_SYNC),
	             (long long)faults_now(r), (unsigned long long)r->epochs_checked,
	             r->nviol);
}

static void *watchdog_main(void *arg)
{
	struct chk_run *r = arg;
	uint64_t limit = (uint64_t)(r->cfg.hang_s * 1e9);

	for (;;) {
		struct timespec ts = { 0, 200 * 1000000 };
		struct timespec now;
		uint64_t t;

		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
		for (int i = 0; i < r->nw; i++) {
			struct chk_worker *w = &r->w[i];
			uint64_t s = atomic_load(&w->op_start_ns);

			if (atomic_load(&w->exited) || !s || s > t || t - s < limit)
				continue;
			cli_progress_done();
			printf("\nVIOLATION (hang): thread %d has been inside a %s for %.0f "
			       "seconds (a deadlock or a lost completion). Threads now:\n",
			       i, chk_kind_name(atomic_load(&w->op_kind), atomic_load(&w->op_via)),
			       (double)(t - s) / 1e9);
			for (int j = 0; j < r->nw; j++) {
				uint64_t sj = atomic_load(&r->w[j].op_start_ns);

				if (sj && sj <= t)
					printf("  thread %d: in a %s for %.1f s\n", j,
					       chk_kind_name(atomic_load(&r->w[j].op_kind),
					                     atomic_load(&r->w[j].op_via)),
					       (double)(t - sj) / 1e9);
				else
					printf("  thread %d: between operations (or parked)\n", j);
			}
			printf("  The last operations logged:\n");
			{
				uint64_t n = chk_log_count(r->log);
				struct chk_rec rec;
				char d[220];

				for (uint64_t k = n > 20 ? n - 20 : 0; k < n; k++)
					if (chk_log_get(r->log, k, &rec)) {
						chk_rec_describe(&rec, d, sizeof(d));
						printf("    #%-10llu file %u %s\n",
						       (unsigned long long)rec.inv, rec.file, d);
					}
			}
			chk_print_rerun(r, stdout);
			fflush(stdout);
			chk_remove_files(r);
			_exit(CLI_EXIT_VIOLATE);
		}
		pthread_mutex_lock(&r->ctl_lock);
		if (r->active == 0 && r->nw) {
			pthread_mutex_unlock(&r->ctl_lock);
			return NULL;
		}
		pthread_mutex_unlock(&r->ctl_lock);
	}
}

static void row(FILE *fp, struct chk_run *r, const char *name, int via)
{
	uint64_t rd = sum_kind(r, via, OK_READ) + sum_kind(r, via, OK_PINR);
	uint64_t wr = sum_kind(r, via, OK_WRITE) + sum_kind(r, via, OK_PINW);
	uint64_t err = 0, bytes = 0;

	for (int i = 0; i < r->nw; i++) {
		for (int k = 0; k < OK_NKINDS; k++)
			err += atomic_load(&r->w[i].st.err[via][k]);
		bytes += atomic_load(&r->w[i].st.bytes[via]);
	}
	fprintf(fp, "  %-14s %12llu %12llu %10llu %12.1f\n", name,
	        (unsigned long long)rd, (unsigned long long)wr,
	        (unsigned long long)err, (double)bytes / 1048576.0);
}

/* The table's fallocate line: calls that returned 0 per mode. */
static void print_falloc(struct chk_run *r, FILE *fp)
{
	unsigned unsup = atomic_load(&r->falloc_unsup);
	uint64_t n[FA_N];

	for (int i = 0; i < FA_N; i++)
		n[i] = atomic_load(&r->falloc_n[i]);
	fprintf(fp, "  fallocate: reserve %llu (+%llu keep-size), punch %llu, zero-range "
	        "%llu (+%llu keep-size); at epoch checks: collapse %llu, insert %llu\n",
	        (unsigned long long)n[FA_RESERVE], (unsigned long long)n[FA_RESERVE_KEEP],
	        (unsigned long long)n[FA_PUNCH], (unsigned long long)n[FA_ZERO],
	        (unsigned long long)n[FA_ZERO_KEEP], (unsigned long long)n[FA_COLLAPSE],
	        (unsigned long long)n[FA_INSERT]);
	if (atomic_load(&r->falloc_nospc))
		fprintf(fp, "  fallocate -ENOSPC/-EDQUOT (the file system was full): %llu\n",
		        (unsigned long long)atomic_load(&r->falloc_nospc));
	if (unsup)
		fprintf(fp, "  not checked: the file system refused (-EOPNOTSUPP)%s%s%s%s; "
		        "those modes were left out after the first refusal\n",
		        unsup & CHK_NO_RESERVE ? " reserve" : "",
		        unsup & CHK_NO_PUNCH ? " punch" : "", unsup & CHK_NO_ZERO ? " zero" : "",
		        unsup & CHK_NO_SHIFT ? " collapse/insert" : "");
}

void chk_print_table(struct chk_run *r, double secs, FILE *fp)
{
	uint64_t n = total_ops(r), cells = 0;
	struct cio_cache_stats cs;
	char rate[32];

	for (int f = 0; f < r->cfg.files; f++)
		if (r->model[f])
			cells += chk_model_cells_checked(r->model[f]);
	cli_fmt_rate(rate, sizeof(rate), secs > 0 ? (double)n / secs : 0);
	fprintf(fp, "\n  %-14s %12s %12s %10s %12s\n", "path", "reads", "writes",
	        "failed*", "MiB moved");
	row(fp, r, "cached", VIA_CACHED);
	row(fp, r, "direct", VIA_DIRECT);
	row(fp, r, "async cached", VIA_ACACHED);
	row(fp, r, "async direct", VIA_ADIRECT);
	row(fp, r, "pinned", VIA_PIN);
	fprintf(fp, "  * an error result, injected faults and NOWAIT -EAGAIN included\n");
	fprintf(fp, "  other: truncate %llu (+%llu async), fsync %llu (+%llu), "
	        "fdatasync %llu (+%llu),\n         invalidate %llu (+%llu), cio_size %llu, "
	        "bad-argument calls %llu, cancels %llu\n",
	        (unsigned long long)sum_kind(r, VIA_SYNC, OK_TRUNC),
	        (unsigned long long)sum_kind(r, VIA_ASYNC, OK_TRUNC),
	        (unsigned long long)sum_kind(r, VIA_SYNC, OK_FSYNC),
	        (unsigned long long)sum_kind(r, VIA_ASYNC, OK_FSYNC),
	        (unsigned long long)sum_kind(r, VIA_SYNC, OK_FDSYNC),
	        (unsigned long long)sum_kind(r, VIA_ASYNC, OK_FDSYNC),
	        (unsigned long long)sum_kind(r, VIA_SYNC, OK_INVAL),
	        (unsigned long long)sum_kind(r, VIA_ASYNC, OK_INVAL),
	        (unsigned long long)sum_kind(r, VIA_SYNC, OK_SIZE),
	        (unsigned long long)sum_kind(r, VIA_SYNC, OK_BAD),
	        (unsigned long long)sum_kind(r, VIA_ASYNC, OK_CANCEL));
	print_falloc(r, fp);
	if (r->cfg.faults)
		fprintf(fp, "  faults injected: %lld; fsyncs that had to report a "
		        "write-back error: %llu (all did; %llu one fsync late), fsyncs "
		        "that reported one: %llu\n", (long long)atomic_load(&r->faults_fired),
		        (unsigned long long)atomic_load(&r->g6_required),
		        (unsigned long long)atomic_load(&r->g6_late),
		        (unsigned long long)atomic_load(&r->g6_reported));
	if (atomic_load(&r->soft_errors))
		fprintf(fp, "  -ENOMEM (every frame busy for 200 ms): %llu\n",
		        (unsigned long long)atomic_load(&r->soft_errors));
	if (r->cache && cio_cache_stats(r->cache, &cs) == 0)
		fprintf(fp, "  cache: %llu hits, %llu misses, %llu evictions, %llu pages "
		        "written back (%llu failed), %llu coherence updates\n",
		        (unsigned long long)cs.hits, (unsigned long long)cs.misses,
		        (unsigned long long)cs.evictions,
		        (unsigned long long)cs.writeback_pages,
		        (unsigned long long)cs.writeback_errors,
		        (unsigned long long)cs.coherence_updates);
	if (r->cfg.verbose) {
		fprintf(fp, "  time inside coherio, average per call (us):\n");
		for (int v = 0; v < VIA_N; v++)
			for (int k = 0; k < OK_NKINDS; k++) {
				uint64_t ns = 0, cnt = sum_kind(r, v, k);

				for (int i = 0; i < r->nw; i++)
					ns += atomic_load(&r->w[i].st.ns[v][k]);
				if (ns && cnt)
					fprintf(fp, "    %-40s %8llu calls %10.1f us\n",
					        chk_kind_name(k, v), (unsigned long long)cnt,
					        (double)ns / 1e3 / (double)cnt);
			}
	}
	fprintf(fp, "  model: %llu blocks judged in reads, %llu more in %llu epoch "
	        "checks (disk == cache == direct == model)\n",
	        (unsigned long long)cells, (unsigned long long)r->cells_imaged,
	        (unsigned long long)r->epochs_checked);
	fprintf(fp, "  %llu operations in %.1f s (%sops/s)\n", (unsigned long long)n,
	        secs, rate);
}

/* ---- set-up and the run ------------------------------------------------------------ */

int chk_setup(struct chk_run *r)
{
	struct cio_cache_opts co;
	struct cio_cache_stats cs;
	struct cio_file_stats fs;
	cio_file *probe;
	int rc;
	uint64_t need;

	memset(&co, 0, sizeof(co));
	co.memory_bytes = r->cfg.cache_bytes;
	co.page_size = r->cfg.page_size;
	co.engine = r->cfg.engine;
	co.fault_inject = r->cfg.faults;
	rc = cio_cache_create(&r->cache, &co);
	if (rc < 0) {
		fprintf(stderr, "coherio check: cannot create a cache of %llu bytes with "
		        "%u-byte pages: %s\n", (unsigned long long)r->cfg.cache_bytes,
		        r->cfg.page_size, cio_strerror(rc));
		return -1;
	}
	cio_cache_stats(r->cache, &cs);
	r->engine = cs.engine ? cs.engine : "?";
	r->nframes = cs.pages_total;
	need = (uint64_t)r->cfg.threads * (CHK_PIN_PAGES + CHK_BATCH + 4) + 32;
	if (r->nframes < need) {
		fprintf(stderr, "coherio check: a cache of %llu pages is too small for %d "
		        "threads (pins and async batches hold up to %llu pages at once); "
		        "give --cache at least %llu bytes\n",
		        (unsigned long long)r->nframes, r->cfg.threads,
		        (unsigned long long)need,
		        (unsigned long long)(need * (r->cfg.page_size + 80) + 4096));
		return -1;
	}
	rc = cio_open(r->cache, r->path[0], O_RDWR, 0, &probe);
	if (rc < 0) {
		fprintf(stderr, "coherio check: cannot open '%s': %s\n", r->path[0],
		        cio_strerror(rc));
		return -1;
	}
	cio_file_stats(probe, &fs);
	r->lbs = fs.logical_block_size ? fs.logical_block_size : 512;
	r->mem_align = fs.memory_alignment;
	r->page_size = fs.page_size;
	r->direct_io = fs.direct_io;
	rc = cio_close(probe);
	if (rc < 0 || r->lbs < CHK_CELL || r->lbs > CHK_MAX_IO / 4) {
		fprintf(stderr, "coherio check: unusable logical block size %u\n", r->lbs);
		return -1;
	}
	if (r->cfg.file_size % r->lbs) {
		r->cfg.file_size = r->cfg.file_size / r->lbs * r->lbs;
		if (!r->cfg.file_size)
			r->cfg.file_size = r->lbs;
	}
	r->ncells = r->cfg.file_size / CHK_CELL;
	r->shift_rng = chk_mix(r->cfg.seed ^ 0x5368696674ull) | 1;
	r->nw = r->cfg.threads;
	r->w = calloc((size_t)r->nw, sizeof(*r->w));
	if (!r->w)
		return -1;
	if (!r->log)
		r->log = chk_log_new(18);
	for (int f = 0; f < r->cfg.files; f++) {
		if (!r->model[f])
			r->model[f] = chk_model_new(f, r->ncells, r->nw * (CHK_BATCH + 2) + 4);
		if (!r->model[f] || !r->log)
			return -1;
		chk_model_set_page(r->model[f], r->page_size);
	}
	for (int i = 0; i < 3; i++) {
		g_img[i] = cli_alloc_aligned(4096, r->cfg.file_size + 8192 + CHK_CELL);
		if (!g_img[i])
			return -1;
	}
	for (int i = 0; i < r->nw; i++) {
		if (chk_worker_init(r, &r->w[i], i) < 0)
			return -1;
		r->w[i].budget = r->cfg.ops ? (r->cfg.ops + (uint64_t)r->nw - 1 -
		                               (uint64_t)i) / (uint64_t)r->nw : 0;
	}
	return 0;
}

/* Close everything; a failure is a violation (G6: close and destroy report
 * the write-back error, nothing is left unwritten). */
void chk_teardown(struct chk_run *r)
{
	bool judge = !atomic_load(&r->stop);

	for (int i = 0; r->w && i < r->nw; i++) {
		struct chk_worker *w = &r->w[i];

		if (w->ctx) {
			int rc = cio_ctx_destroy(w->ctx);

			if (rc < 0 && judge)
				viol_text(r, "G4", 0, "cio_ctx_destroy failed: %s", cio_strerror(rc));
			w->ctx = NULL;
		}
		for (int f = 0; f < r->cfg.files; f++) {
			if (!w->h[f])
				continue;
			int rc = cio_close(w->h[f]);

			if (rc < 0 && judge)
				viol_text(r, "G6", f, "closing thread %d's handle on file %d "
				          "failed: %s (nothing was dirty after the last fsync)",
				          i, f, cio_strerror(rc));
			w->h[f] = NULL;
		}
		chk_worker_fini(w);
	}
	if (r->cache) {
		int rc = cio_cache_destroy(r->cache);

		if (rc < 0 && judge)
			viol_text(r, "G6", 0, "cio_cache_destroy failed: %s", cio_strerror(rc));
		r->cache = NULL;
	}
}

int chk_workload(struct chk_run *r)
{
	pthread_t wd;
	bool wd_ok;
	int started = 0;

	r->t0 = chk_now();
	r->active = 0;
	r->parked = 0;
	if (r->cfg.faults)
		faults_start(r);
	pthread_mutex_lock(&r->ctl_lock);
	for (int i = 0; i < r->nw; i++) {
		if (pthread_create(&r->w[i].th, NULL, chk_worker_main, &r->w[i]) != 0) {
			atomic_store(&r->stop, true);
			break;
		}
		r->w[i].started = true;
		r->active++;
		started++;
	}
	pthread_mutex_unlock(&r->ctl_lock);
	wd_ok = pthread_create(&wd, NULL, watchdog_main, r) == 0;
	if (r->shm_ready)
		atomic_store(r->shm_ready, 1);

	pthread_mutex_lock(&r->ctl_lock);
	for (;;) {
		struct timespec ts;

		if (r->active == 0)
			break;
		if (r->parked > 0 && r->parked == r->active && !atomic_load(&r->stop)) {
			pthread_mutex_unlock(&r->ctl_lock);
			epoch_check(r, false);
			pthread_mutex_lock(&r->ctl_lock);
			r->epoch++;
			r->parked = 0;
			pthread_cond_broadcast(&r->ctl_cond);
			continue;
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&r->ctl_cond, &r->ctl_lock, &ts);
		pthread_mutex_unlock(&r->ctl_lock);
		progress(r);
		if (r->cfg.duration && chk_now() - r->t0 >= r->cfg.duration &&
		    !atomic_load(&r->time_up)) {
			atomic_store(&r->time_up, true);
		}
		pthread_mutex_lock(&r->ctl_lock);
		if (atomic_load(&r->time_up) || atomic_load(&r->stop))
			pthread_cond_broadcast(&r->ctl_cond);
	}
	pthread_mutex_unlock(&r->ctl_lock);
	for (int i = 0; i < r->nw; i++)
		if (r->w[i].started)
			pthread_join(r->w[i].th, NULL);
	if (wd_ok)
		pthread_join(wd, NULL);
	if (!atomic_load(&r->stop))
		epoch_check(r, true);
	cli_progress_done();
	return r->nviol ? CLI_EXIT_VIOLATE : CLI_EXIT_OK;
}

/* After the cache is gone: the files as the kernel has them equal the model. */
static void final_disk_check(struct chk_run *r)
{
	for (int f = 0; f < r->cfg.files && !atomic_load(&r->stop); f++)
		verify_file(r, f, NULL);
}

/* ---- options ------------------------------------------------------------------------ */

static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	uint64_t mul = 1;

	if (end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': mul = 1024; end++; break;
	case 'm': case 'M': mul = 1024 * 1024; end++; break;
	case 'g': case 'G': mul = 1024ull * 1024 * 1024; end++; break;
	case '\0': break;
	default: return -1;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B' || *end == 'b')
		end++;
	if (*end)
		return -1;
	*out = (uint64_t)(v * (double)mul);
	return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		return -1;
	*out = v;
	return 0;
}

static int parse_duration(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v < 0)
		return -1;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		v *= 60, end++;
	else if (*end == 'h')
		v *= 3600, end++;
	if (*end)
		return -1;
	*out = v;
	return 0;
}

static const char check_usage[] =
"usage: coherio check [OPTIONS]\n"
"\n"
"A model-based stress of every path: random cached, direct, async and pinned\n"
"reads and writes, truncates, fallocates, fsyncs, invalidations and\n"
"cancellations from several threads over several files, judged against a\n"
"model of what every 64-byte block may hold. Stops at the first violation,\n"
"prints the history of the offending block and exits 1; exits 0 if nothing\n"
"was violated.\n"
"See docs/check.md.\n"
"\n"
"  --duration T     run for T (seconds; or 30s, 5m, 1h). Default 20 s.\n"
"  --ops N          run N operations in all (with --duration: whichever ends\n"
"                   first)\n"
"  --threads N      worker threads (default 4, at most 64)\n"
"  --files N        files (default 2, at most 8)\n"
"  --file-size S    largest size of each file (default 1M)\n"
"  --cache S        the cache's memory budget (default 512K: small, so pages\n"
"                   are evicted and written back all the time)\n"
"  --page-size S    the cache's page size (default 4096)\n"
"  --engine E       sync, threads, uring or auto (default auto: the\n"
"                   COHERIO_ENGINE variable, else io_uring)\n"
"  --seed N         the random seed (default: from the clock; printed)\n"
"  --faults         inject EIO, ENOSPC, short, delayed and reordered I/O and\n"
"                   fsync errors; checks G4 and G6 and that after the faults\n"
"                   stop and fsync succeeds the disk equals the model\n"
"  --crash N        N cycles of: run the workload in a child, SIGKILL it at a\n"
"                   random moment, check the files on disk\n"
"  --without LIST   leave classes of operations out, to narrow a failure\n"
"                   down: cached, direct, async, pin, truncate, fsync,\n"
"                   invalidate, cancel, write, fallocate (all of: reserve,\n"
"                   punch, zero, shift = collapse/insert) (comma-separated)\n"
"  --epoch N        operations per thread between full disk checks (2000)\n"
"  --hang S         an operation running S seconds is a hang (default 120)\n"
"  --dir DIR        where the scratch directory goes (default: the current\n"
"                   directory, else $TMPDIR, else /tmp)\n"
"  --quick          a short run (20000 operations)\n"
"  --no-progress    no progress line (it is shown only on a terminal anyway)\n"
"  --tour           the short guarantee tour of `coherio demo` instead\n";

static int bad(const char *fmt, const char *arg)
{
	fputs("coherio check: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'coherio check --help'.\n", stderr);
	return -1;
}

static int parse_args(int argc, char **argv, struct chk_cfg *c, int *tour)
{
	bool have_ops = false, have_dur = false, have_seed = false;

	memset(c, 0, sizeof(*c));
	c->threads = 4;
	c->files = 2;
	c->file_size = 1 << 20;
	c->cache_bytes = 512 << 10;
	c->page_size = 4096;
	c->engine = CIO_ENGINE_AUTO;
	c->epoch_ops = 2000;
	c->hang_s = 120;
	c->progress = 1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		char name[32];
		const char *eq = strchr(a, '=');

		if (eq && eq - a < (int)sizeof(name)) {
			memcpy(name, a, (size_t)(eq - a));
			name[eq - a] = '\0';
			val = eq + 1;
			a = name;
		}
#define NEED() do { if (!val) { if (++i >= argc) return bad("%s needs a value", a); \
		val = argv[i]; } } while (0)
		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			fputs(check_usage, stdout);
			exit(CLI_EXIT_OK);
		} else if (!strcmp(a, "--tour")) {
			*tour = 1;
		} else if (!strcmp(a, "--quick")) {
			c->ops = 20000;
			have_ops = true;
		} else if (!strcmp(a, "--faults")) {
			c->faults = 1;
		} else if (!strcmp(a, "--no-progress")) {
			c->progress = 0;
		} else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
			c->verbose = 1;
		} else if (!strcmp(a, "--dir") || !strcmp(a, "-d")) {
			NEED();
			if (!*val)
				return bad("%s", "--dir needs a non-empty directory name");
			c->dir = val;
		} else if (!strcmp(a, "--seed")) {
			NEED();
			if (parse_u64(val, &c->seed))
				return bad("--seed wants a number, not '%s'", val);
			have_seed = true;
		} else if (!strcmp(a, "--ops")) {
			NEED();
			if (parse_u64(val, &c->ops) || !c->ops)
				return bad("--ops wants a positive number, not '%s'", val);
			have_ops = true;
		} else if (!strcmp(a, "--duration")) {
			NEED();
			if (parse_duration(val, &c->duration) || c->duration <= 0)
				return bad("--duration wants a time (20, 30s, 5m), not '%s'", val);
			have_dur = true;
		} else if (!strcmp(a, "--threads")) {
			uint64_t v;

			NEED();
			if (parse_u64(val, &v) || v < 1 || v > CHK_MAX_THREADS)
				return bad("--threads wants 1..64, not '%s'", val);
			c->threads = (int)v;
		} else if (!strcmp(a, "--files")) {
			uint64_t v;

			NEED();
			if (parse_u64(val, &v) || v < 1 || v > CHK_MAX_FILES)
				return bad("--files wants 1..8, not '%s'", val);
			c->files = (int)v;
		} else if (!strcmp(a, "--file-size")) {
			NEED();
			if (parse_size(val, &c->file_size) || c->file_size < 64 * 1024 ||
			    c->file_size > (1ull << 30))
				return bad("--file-size wants 64K..1G, not '%s'", val);
		} else if (!strcmp(a, "--cache")) {
			NEED();
			if (parse_size(val, &c->cache_bytes) || c->cache_bytes < 64 * 1024)
				return bad("--cache wants a size of at least 64K, not '%s'", val);
		} else if (!strcmp(a, "--page-size")) {
			uint64_t v;

			NEED();
			if (parse_size(val, &v) || v < 4096 || v > (1u << 20) || (v & (v - 1)))
				return bad("--page-size wants a power of two 4K..1M, not '%s'", val);
			c->page_size = (uint32_t)v;
		} else if (!strcmp(a, "--engine")) {
			NEED();
			c->engine_name = val;
			if (!strcmp(val, "sync"))
				c->engine = CIO_ENGINE_SYNC;
			else if (!strcmp(val, "threads"))
				c->engine = CIO_ENGINE_THREADS;
			else if (!strcmp(val, "uring"))
				c->engine = CIO_ENGINE_URING;
			else if (!strcmp(val, "auto"))
				c->engine = CIO_ENGINE_AUTO, c->engine_name = NULL;
			else
				return bad("--engine wants sync, threads, uring or auto, not '%s'", val);
		} else if (!strcmp(a, "--crash")) {
			uint64_t v;

			NEED();
			if (parse_u64(val, &v) || v < 1 || v > 1000000)
				return bad("--crash wants a number of cycles, not '%s'", val);
			c->crash = (int)v;
		} else if (!strcmp(a, "--without")) {
			static const struct { const char *n; unsigned bit; } cls[] = {
				{ "cached", CHK_NO_CACHED }, { "direct", CHK_NO_DIRECT },
				{ "async", CHK_NO_ASYNC }, { "pin", CHK_NO_PIN },
				{ "truncate", CHK_NO_TRUNCATE }, { "fsync", CHK_NO_FSYNC },
				{ "invalidate", CHK_NO_INVAL }, { "cancel", CHK_NO_CANCEL },
				{ "write", CHK_NO_WRITE }, { "fallocate", CHK_NO_FALLOC },
				{ "reserve", CHK_NO_RESERVE }, { "punch", CHK_NO_PUNCH },
				{ "zero", CHK_NO_ZERO }, { "shift", CHK_NO_SHIFT },
			};
			char list[256], *save = NULL, *tok;

			NEED();
			snprintf(list, sizeof(list), "%s", val);
			c->without_arg = val;
			for (tok = strtok_r(list, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				size_t k;

				for (k = 0; k < sizeof(cls) / sizeof(cls[0]); k++)
					if (!strcmp(tok, cls[k].n))
						break;
				if (k == sizeof(cls) / sizeof(cls[0]))
					return bad("--without: unknown class '%s' (cached, direct, "
					           "async, pin, truncate, fsync, invalidate, cancel, "
					           "write, fallocate, reserve, punch, zero, shift)", tok);
				c->without |= cls[k].bit;
			}
			if ((c->without & (CHK_NO_CACHED | CHK_NO_DIRECT)) ==
			    (CHK_NO_CACHED | CHK_NO_DIRECT))
				return bad("%s", "--without: leave the cached or the direct path in");
		} else if (!strcmp(a, "--epoch")) {
			NEED();
			if (parse_u64(val, &c->epoch_ops) || !c->epoch_ops)
				return bad("--epoch wants a positive number, not '%s'", val);
		} else if (!strcmp(a, "--hang")) {
			NEED();
			if (parse_duration(val, &c->hang_s) || c->hang_s < 1)
				return bad("--hang wants seconds, not '%s'", val);
		} else {
			return bad("unknown option '%s'", argv[i]);
		}
#undef NEED
	}
	if (!have_ops && !have_dur && !c->crash)
		c->duration = 20;
	if (!have_seed) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		c->seed = chk_mix((uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 20 ^
		                  (uint64_t)getpid() << 40);
	}
	if (c->cache_bytes < (uint64_t)c->page_size * 20)
		return bad("%s", "--cache must hold at least 20 pages");
	if (!isatty(STDERR_FILENO))
		c->progress = 0;
	return 0;
}

static int run_tour(const struct chk_cfg *c)
{
	struct cli_opts o;
	struct cli_scratch s;
	int rc;

	memset(&o, 0, sizeof(o));
	o.dir = c->dir;
	o.quick = c->ops != 0;
	if (cli_scratch_create(&s, o.dir) < 0)
		return CLI_EXIT_ERROR;
	rc = cli_check(&o, s.path);
	cli_scratch_remove(&s);
	return rc;
}

static void print_header(struct chk_run *r)
{
	const struct chk_cfg *c = &r->cfg;

	printf("coherio check %s: %d thread%s, %d file%s of up to %llu KiB, cache %llu "
	       "KiB (%llu pages of %u B), engine %s%s, %s\n", cio_version(),
	       c->threads, c->threads == 1 ? "" : "s", c->files, c->files == 1 ? "" : "s",
	       (unsigned long long)(c->file_size >> 10),
	       (unsigned long long)(c->cache_bytes >> 10),
	       (unsigned long long)r->nframes, r->page_size, r->engine,
	       c->faults ? " with fault injection" : "",
	       r->direct_io ? "O_DIRECT underneath" : "buffered fallback (no O_DIRECT)");
	printf("  seed %#" PRIx64 "; ", c->seed);
	if (c->crash)
		printf("%d crash cycles", c->crash);
	else if (c->ops && c->duration)
		printf("%llu operations or %g s", (unsigned long long)c->ops, c->duration);
	else if (c->ops)
		printf("%llu operations", (unsigned long long)c->ops);
	else
		printf("%g s", c->duration);
	printf("; a full disk check every %llu operations per thread; files in %s\n",
	       (unsigned long long)c->epoch_ops, r->dir);
	fflush(stdout);
}

int cli_check_stress(int argc, char **argv)
{
	struct chk_run *r = calloc(1, sizeof(*r));
	int tour = 0, rc;
	double t0;

	if (!r)
		return CLI_EXIT_ERROR;
	if (parse_args(argc, argv, &r->cfg, &tour) < 0) {
		free(r);
		return CLI_EXIT_ERROR;
	}
	if (tour) {
		rc = run_tour(&r->cfg);
		free(r);
		return rc;
	}
	pthread_mutex_init(&r->ctl_lock, NULL);
	pthread_cond_init(&r->ctl_cond, NULL);
	pthread_mutex_init(&r->viol_lock, NULL);
	if (make_files(r) < 0) {
		free(r);
		return CLI_EXIT_ERROR;
	}
	if (r->cfg.crash) {
		rc = chk_crash_main(r);
		chk_remove_files(r);
		for (int f = 0; f < CHK_MAX_FILES; f++)
			chk_model_free(r->model[f]);
		chk_log_free(r->log);
		free(r->w);
		free(r);
		return rc;
	}
	if (chk_setup(r) < 0) {
		chk_teardown(r);
		chk_remove_files(r);
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	print_header(r);
	t0 = chk_now();
	rc = chk_workload(r);
	t0 = chk_now() - t0;
	if (rc == CLI_EXIT_OK)
		chk_print_table(r, t0, stdout);
	chk_teardown(r);
	if (!r->nviol)
		final_disk_check(r);
	if (r->nviol) {
		chk_print_violation(r);
		rc = CLI_EXIT_VIOLATE;
		printf("coherio check: FAIL after %.1f s\n", t0);
	} else {
		printf("coherio check: PASS - no violation in %.1f s (seed %#" PRIx64 ")\n",
		       t0, r->cfg.seed);
	}
	chk_remove_files(r);
out:
	for (int i = 0; i < 3; i++) {
		free(g_img[i]);
		g_img[i] = NULL;
	}
	free(r->shift_img);
	free(r->shift_buf);
	for (int f = 0; f < CHK_MAX_FILES; f++)
		chk_model_free(r->model[f]);
	chk_log_free(r->log);
	free(r->w);
	pthread_mutex_destroy(&r->ctl_lock);
	pthread_cond_destroy(&r->ctl_cond);
	pthread_mutex_destroy(&r->viol_lock);
	free(r);
	return rc;
}
