/*
 * check.h - the model-based checker behind `coherio check` (docs/check.md).
 *
 * Random operations on every path (cached, direct, async, pinned; truncate,
 * fsync, fdatasync, invalidate, cancel) run from several threads against a
 * reference model of what every block of every file may hold. Files:
 *   check_stamp.c  stamps: the self-describing content of a 64-byte block
 *   check_model.c  the reference model: per block, the versions it may hold
 *   check_log.c    the operation log, violations and the history printer
 *   check_ops.c    the worker: random operations on each path, verified
 *   check_run.c    options, set-up, epochs (quiescent disk checks), faults,
 *                  the progress line and the closing table
 *   check_crash.c  --crash: the workload in a child killed with SIGKILL
 *
 * The model in one paragraph. Every operation takes a tick of one global
 * clock when it is invoked and another when it returns. A write adds, to
 * each 64-byte block ("cell") it covers, a version {DATA, inv, writer}; a
 * truncate adds ABSENT (past end of file) above the cut; growing the file
 * adds ZERO (a hole) to the cells it uncovers. A version is definite when
 * the operation surely happened (it returned success for that cell). A read
 * invoked at tick R may return, for a cell, any version that is not stale:
 * stale means it completed before some definite version of the cell that
 * itself completed before R was invoked and was invoked after it. Blocks
 * carry stamps (file, offset, writer, sequence = invocation tick, checksum),
 * so a reader can name the version it got, or tell it is torn or garbage.
 */
#ifndef COHERIO_CHECK_H
#define COHERIO_CHECK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cli.h"

#define CHK_CELL        64          /* bytes per stamped block              */
#define CHK_MAX_THREADS 64
#define CHK_MAX_FILES   8
#define CHK_MAX_IO      (64 * 1024) /* largest read or write                */
#define CHK_BATCH       8           /* most async operations per batch       */
#define CHK_PIN_PAGES   4           /* most pages per pin                   */
#define CHK_TICK        4           /* clock step: leaves room for the
                                     * "just before" ticks of G8 drains      */

/* ---- configuration ------------------------------------------------------ */

struct chk_cfg {
	const char *dir;        /* where the scratch directory goes            */
	uint64_t seed;
	uint64_t ops;           /* operations in all (0 = no limit)            */
	double   duration;      /* seconds (0 = no limit)                      */
	int      threads;
	int      files;
	uint64_t file_size;     /* bytes each file may grow to                 */
	uint64_t cache_bytes;   /* the cache's memory budget                   */
	uint32_t page_size;
	int      engine;        /* CIO_ENGINE_*                                */
	const char *engine_name;/* as given, or NULL                           */
	int      faults;        /* --faults                                    */
	int      crash;         /* --crash N: cycles (0 = off)                 */
	uint64_t epoch_ops;     /* operations per thread between disk checks   */
	double   hang_s;        /* an operation running longer is a hang       */
	int      verbose;
	int      progress;      /* 1: live progress line (terminal only)       */
	unsigned without;       /* CHK_NO_*: operation classes left out        */
	const char *without_arg;/* as given (for the rerun line)               */
};

/* Operation classes --without can leave out (to narrow a failure down). */
#define CHK_NO_CACHED   (1u << 0)
#define CHK_NO_DIRECT   (1u << 1)
#define CHK_NO_ASYNC    (1u << 2)
#define CHK_NO_PIN      (1u << 3)
#define CHK_NO_TRUNCATE (1u << 4)
#define CHK_NO_FSYNC    (1u << 5)
#define CHK_NO_INVAL    (1u << 6)
#define CHK_NO_CANCEL   (1u << 7)
#define CHK_NO_WRITE    (1u << 8)
#define CHK_NO_RESERVE  (1u << 9)   /* fallocate mode 0 / KEEP_SIZE        */
#define CHK_NO_PUNCH    (1u << 10)  /* PUNCH_HOLE | KEEP_SIZE              */
#define CHK_NO_ZERO     (1u << 11)  /* ZERO_RANGE (with, without KEEP_SIZE) */
#define CHK_NO_SHIFT    (1u << 12)  /* COLLAPSE/INSERT_RANGE (epoch checks) */
#define CHK_NO_FALLOC   (CHK_NO_RESERVE | CHK_NO_PUNCH | CHK_NO_ZERO | CHK_NO_SHIFT)

/* ---- small helpers (check_stamp.c) ------------------------------------- */

uint64_t chk_mix(uint64_t x);                   /* splitmix64 finaliser   */
uint64_t chk_rand(uint64_t *s);                 /* xorshift64*            */
uint64_t chk_below(uint64_t *s, uint64_t n);    /* uniform in [0, n)      */
double   chk_now(void);                         /* monotonic seconds      */

/* ---- stamps (check_stamp.c) --------------------------------------------- */

enum { CELL_ZERO, CELL_STAMP, CELL_GARBAGE };

struct chk_stamp {
	uint32_t file, writer;
	uint64_t off, seq;
};

/* Write the stamp of (file, writer, seq) into the cells of [off, off+len)
 * (both multiples of CHK_CELL); @dst holds the bytes of that range. */
void chk_stamp_fill(uint8_t *dst, uint64_t len, uint32_t file, uint32_t writer,
                    uint64_t off, uint64_t seq);
/* Classify one cell: CELL_ZERO (all zeros), CELL_STAMP (a whole, valid
 * stamp: *st filled) or CELL_GARBAGE (anything else: torn, foreign). */
int  chk_stamp_parse(const uint8_t *cell, struct chk_stamp *st);
/* Describe a cell for people: "zeros", "stamp T2 #1234", "garbage 0x..". */
void chk_cell_describe(const uint8_t *cell, char *buf, size_t len);

/* ---- operations -------------------------------------------------------- */

enum chk_kind {
	OK_READ, OK_WRITE, OK_PINR, OK_PINW, OK_TRUNC, OK_FSYNC, OK_FDSYNC,
	OK_INVAL, OK_SIZE, OK_BAD, OK_CANCEL, OK_FALLOC, OK_NKINDS
};
/* The fallocate modes the checker counts (struct chk_run.falloc_n). */
enum {
	FA_RESERVE, FA_RESERVE_KEEP, FA_PUNCH, FA_ZERO, FA_ZERO_KEEP, FA_COLLAPSE,
	FA_INSERT, FA_N
};
enum chk_via {
	VIA_CACHED, VIA_DIRECT, VIA_ACACHED, VIA_ADIRECT, VIA_PIN, VIA_SYNC,
	VIA_ASYNC, VIA_N
};

/* What a write or truncate did, for the model (chk_*_end). */
enum chk_eff {
	EFF_NONE,   /* no effect at all (rejected, cancelled, -EAGAIN)      */
	EFF_SOME,   /* ran: def_bytes from off are surely written           */
};

/* A drained async write (G8), remembered by the truncate that drains it. */
struct chk_drain {
	uint64_t inv;           /* the write's invocation tick             */
	uint64_t lo, hi;        /* cells that may hold its versions        */
};

struct chk_op {
	/* what */
	uint8_t  kind, via, file, thread;   /* OK_*, VIA_*                  */
	uint32_t flags;                     /* CIO_RW_*, CIO_TRUNC_*, ...;
	                                     * FALLOC: the fallocate mode    */
	int64_t  off;                       /* TRUNC: the new size          */
	uint64_t len;
	/* when (ticks of the global clock) */
	uint64_t inv, resp;
	/* result */
	int64_t  res;
	int32_t  res2;
	/* model bookkeeping, under the file model's lock */
	uint64_t c0, c1;        /* write: cells [c0, c1); trunc: cut cell and
	                         * the high-water cell at invocation        */
	uint64_t gap_lo;        /* lowest cell that got a ZERO of this op   */
	bool     on_ext;        /* on the model's list of extenders         */
	bool     accepted;      /* async write accepted by submit (G8)       */
	bool     drained;       /* a truncate drained it (G8)                */
	struct chk_op *ext_prev, *ext_next;
	struct chk_drain *drain;/* trunc: async writes it must drain        */
	int      ndrain, cdrain;
	uint64_t logslot;       /* where the log keeps it                    */
	/* async */
	uint64_t user_data;
	int      cancel_rc;     /* what cio_ctx_cancel said (1 = not tried)  */
	bool     reaped;
	void    *buf;
	struct iovec iov[3];
	int      iovcnt;
	uint64_t e1;            /* fsync: write-back errors seen before it   */
};

/* ---- the model (check_model.c) ------------------------------------------- */

enum { VK_DATA, VK_ZERO, VK_ABSENT };
#define VF_DEF     1u  /* definite: surely happened once completed     */
#define VF_DONE    2u  /* completed: resp is valid                      */
#define VF_GAPDEF  4u  /* a hole that becomes definite if the op grows
                        * the file                                     */
#define VF_DRAINED 8u  /* resp pinned by a truncate's drain (G8)        */
#define VF_REAL   16u  /* DRAINED: the operation's own completion, real,
                        * is known                                     */

struct chk_ver {
	uint64_t inv;      /* invocation tick (DATA: the stamp's sequence)  */
	uint64_t resp;     /* completion tick, valid with VF_DONE           */
	uint32_t writer;   /* DATA: the stamp's writer                      */
	uint8_t  kind;     /* VK_*                                          */
	uint8_t  flags;    /* VF_*                                          */
	uint64_t real;     /* DRAINED: its own completion (with VF_REAL)    */
	uint64_t cut_end;  /* DRAINED: when the draining truncate returned  */
};

/* The completion tick of @v as a read invoked at @r must see it, or
 * UINT64_MAX if it had not completed. A version drained by a truncate
 * (G8) ended before the truncate's cut - but only a read that began after
 * the truncate returned knows that: one that began while it ran may come
 * before the drained operation's own completion, and sees that. */
static inline uint64_t chk_ver_resp(const struct chk_ver *v, uint64_t r)
{
	if (!(v->flags & VF_DONE))
		return UINT64_MAX;
	if ((v->flags & VF_DRAINED) && r <= v->cut_end)
		return (v->flags & VF_REAL) ? v->real : UINT64_MAX;
	return v->resp;
}

struct chk_model;

struct chk_model *chk_model_new(int file, uint64_t ncells, int maxreads);
void     chk_model_free(struct chk_model *m);
/* Start from a disk image (crash mode): each cell holds what the image
 * holds (a stamp, zeros, or absent past @size), definite, at tick @base. */
void     chk_model_baseline(struct chk_model *m, const uint8_t *img,
                            uint64_t size, uint64_t base);
/* The cache's page size: cached writes change the file page by page. */
void     chk_model_set_page(struct chk_model *m, uint32_t page);
/* The disk's view for the crash check (see chk_write_begin). */
void     chk_model_set_disk(struct chk_model *m, bool disk);
void     chk_model_lock(struct chk_model *m);
void     chk_model_unlock(struct chk_model *m);
uint64_t chk_model_ncells(const struct chk_model *m);

/* The global clock. */
uint64_t chk_tick(void);
void     chk_clock_set(uint64_t t);
uint64_t chk_clock_now(void);

/* All of the following: the model's lock held. Each takes its own tick
 * (op->inv at begin, op->resp at end) unless @tick is non-zero. */
void chk_write_begin(struct chk_model *m, struct chk_op *op, uint64_t tick);
void chk_write_end(struct chk_model *m, struct chk_op *op, int eff,
                   uint64_t def_bytes, bool gap_def, uint64_t tick);
void chk_trunc_begin(struct chk_model *m, struct chk_op *op, uint64_t tick);
void chk_trunc_end(struct chk_model *m, struct chk_op *op, int eff,
                   uint64_t tick);
/* A fallocate of [off, off + len) with mode op->flags (reserve, punch or
 * zero; cell-aligned): growing modes are extenders like a write (zeros in
 * place of data for ZERO_RANGE), KEEP_SIZE punch/zero adds a hole version to
 * each cell of the range, definite where the cell was surely inside the
 * file when it began. @ok: it returned 0 (its versions become definite). */
void chk_falloc_begin(struct chk_model *m, struct chk_op *op, uint64_t tick);
void chk_falloc_end(struct chk_model *m, struct chk_op *op, int eff, bool ok,
                    uint64_t tick);
void chk_read_begin(struct chk_model *m, struct chk_op *op);
void chk_read_end(struct chk_model *m, struct chk_op *op);
void chk_other_begin(struct chk_model *m, struct chk_op *op);
void chk_other_end(struct chk_model *m, struct chk_op *op);
/* Mark an async write accepted by submit (it is drained by truncates). */
void chk_write_accepted(struct chk_model *m, struct chk_op *op);

struct chk_viol;
/*
 * chk_check_bytes() - are @got bytes read at @off (any alignment) by the
 * read @op valid? @eof: the read stopped at end of file after @got bytes
 * (check that the size may have been there). Returns 0, or -1 with *v
 * filled (the first bad cell). Model lock held; op->inv/resp set.
 */
int  chk_check_bytes(struct chk_model *m, const struct chk_op *op,
                     const uint8_t *buf, int64_t off, uint64_t got, bool eof,
                     struct chk_viol *v);
/* A size @size seen by @op: the cell at it may be absent, the one before
 * it present. 0 or -1 with *v. */
int  chk_check_size(struct chk_model *m, const struct chk_op *op,
                    int64_t size, struct chk_viol *v);
/* -ENXIO from a read pin of [off, off+len): the end may be past the end
 * of file. 0 or -1 with *v. */
int  chk_check_absent(struct chk_model *m, const struct chk_op *op,
                      int64_t end, struct chk_viol *v);
/*
 * chk_check_image() - a whole-file image @img of @size bytes against the
 * model as of @op (a quiescent read). @tail_zero_ok: zeros in the last
 * logical block (@lbs) past the model's size are accepted (a crash between
 * a write-back and the trim). 0 or -1 with *v.
 */
int  chk_check_image(struct chk_model *m, const struct chk_op *op,
                     const uint8_t *img, uint64_t size, uint32_t lbs,
                     bool tail_zero_ok, struct chk_viol *v);
/* Drop versions no reader can still get (no read in flight). */
void chk_model_prune_all(struct chk_model *m);
/* Statistics for the table. */
uint64_t chk_model_cells_checked(struct chk_model *m);

/* ---- the log and violations (check_log.c) --------------------------------- */

/* One operation as the log keeps it (also the crash child's report to its
 * parent, in shared memory). */
struct chk_rec {
	uint64_t inv, resp;      /* resp 0: not completed (or not reported) */
	int64_t  off;
	uint64_t len;
	int64_t  res;
	int32_t  res2;
	uint32_t flags;
	uint8_t  kind, via, file, thread;
	uint8_t  done;           /* 1 once resp/res are valid               */
	uint8_t  cancel;         /* async: 1 cancel said 0, 2 -EALREADY, 3
	                          * -ENOENT                                 */
	uint8_t  pad[2];
};

struct chk_log;
/* A ring of 2^@order records in private memory, or (@shared) a flat log
 * of @cap records at @mem that stops when full (crash mode). */
struct chk_log *chk_log_new(unsigned order);
struct chk_log *chk_log_shared(struct chk_rec *mem, uint64_t cap,
                               _Atomic uint64_t *count);
void     chk_log_free(struct chk_log *l);
/* Record @op's invocation; false when a shared log is full. */
bool     chk_log_begin(struct chk_log *l, struct chk_op *op);
void     chk_log_end(struct chk_log *l, const struct chk_op *op);
void     chk_log_cancel(struct chk_log *l, const struct chk_op *op, int rc);
uint64_t chk_log_count(struct chk_log *l);
/* Copy record @i (0 = oldest kept) out; false past the end. */
bool     chk_log_get(struct chk_log *l, uint64_t i, struct chk_rec *out);

/* Why a read was judged wrong (chk_viol.why). */
enum {
	V_STALE, V_ZERO, V_GARBAGE, V_MISPLACED, V_UNKNOWN, V_EOF, V_SIZE,
	V_BEYOND, V_TORN
};

struct chk_viol {
	const char *g;           /* "G1", "G5", ...                          */
	char     what[600];      /* one paragraph for people                 */
	int      file;
	int64_t  cell;           /* the offending cell (-1: none)            */
	uint64_t tick;           /* when it was seen                         */
	struct chk_rec op;       /* the operation that saw it                */
	bool     have_op;
	uint8_t  seen[CHK_CELL]; /* the cell's bytes as read                 */
	bool     have_seen;
	int      absent_seen;    /* the read met end of file at the cell     */
	struct chk_ver ver[24];  /* the cell's versions when it was seen     */
	int      nver;
	int      why;            /* the model's reason code (check_model.c)  */
	uint64_t newer_inv;      /* the newest definite version before the
	                          * read (F), 0 if none                      */
	uint64_t seen_inv;       /* the version seen (its stamp), 0 if none  */
};

/* Print @v with the history of its cell from log @l: the operations that
 * touched the block, oldest first, with their results. */
void chk_viol_print(FILE *fp, const struct chk_viol *v, struct chk_log *l,
                    const struct chk_cfg *cfg);
void chk_rec_describe(const struct chk_rec *r, char *buf, size_t len);
const char *chk_kind_name(int kind, int via);
const char *chk_falloc_mode_name(uint32_t mode);  /* "punch keep-size", ... */
void chk_op_to_rec(const struct chk_op *op, struct chk_rec *r);
struct chk_viol *chk_viol_of_op(const struct chk_op *op, const char *g);
void chk_checker_op(struct chk_op *op, int kind, int via, int file);

/* ---- the run (check_run.c, check_ops.c) ------------------------------------ */

struct chk_stat {
	_Atomic uint64_t n[VIA_N][OK_NKINDS];    /* operations              */
	_Atomic uint64_t err[VIA_N][OK_NKINDS];  /* of which with an error  */
	_Atomic uint64_t bytes[VIA_N];           /* bytes moved             */
	_Atomic uint64_t ns[VIA_N][OK_NKINDS];   /* time inside coherio     */
};

struct chk_g6 {                 /* per handle: errseq bookkeeping (G6)  */
	uint64_t e0;            /* file write-back errors after the last
	                         * fsync of this handle returned          */
	int      inflight;      /* fsyncs of this handle in flight       */
};

struct chk_run;

struct chk_worker {
	struct chk_run *run;
	int      id;
	pthread_t th;
	bool     started;
	uint64_t rng;
	cio_file *h[CHK_MAX_FILES];
	struct chk_g6 g6[CHK_MAX_FILES];
	cio_ctx  *ctx;
	uint8_t  *buf[CHK_BATCH + 2];   /* CHK_MAX_IO each, aligned             */
	uint8_t  *vbuf;                 /* a copy for verification              */
	struct chk_op ops[CHK_BATCH + 1];
	uint64_t done_ops, budget;
	uint64_t ud_next;               /* async user_data counter              */
	int      enomem_streak;
	_Atomic uint64_t op_start_ns;   /* 0 = between operations (watchdog)    */
	_Atomic int      op_kind, op_via;
	_Atomic int      exited;
	struct chk_stat st;
};

struct chk_run {
	struct chk_cfg cfg;
	char     dir[4096];
	char     path[CHK_MAX_FILES][4160];
	cio_cache *cache;
	uint32_t lbs, mem_align, page_size;
	int      direct_io;
	const char *engine;
	uint64_t ncells;
	uint64_t nframes;
	struct chk_model *model[CHK_MAX_FILES];
	struct chk_log *log;
	struct chk_worker *w;
	int      nw;
	double   t0;

	/* control: ctl_lock */
	pthread_mutex_t ctl_lock;
	pthread_cond_t  ctl_cond;
	int      parked;                /* workers waiting for the epoch check   */
	int      active;                /* workers still running                 */
	uint64_t epoch;                 /* epochs completed                      */
	atomic_bool stop;               /* a violation, the end, or a signal     */
	atomic_bool time_up;

	/* faults */
	int      fault_id[16];
	int      nfault;
	atomic_bool read_faults;        /* read rules are live this epoch        */
	atomic_bool faults_live;
	_Atomic int64_t faults_fired;   /* over all epochs                       */
	_Atomic uint64_t g6_late;       /* errors one fsync late (see G6 note)   */
	_Atomic uint64_t g6_reported;   /* fsyncs that reported an error         */
	_Atomic uint64_t g6_required;   /* fsyncs that had to report one        */
	_Atomic uint64_t soft_errors;   /* -ENOMEM with everything pinned, ...   */

	/* fallocate (collapse/insert: the main thread at epoch checks) */
	uint64_t shift_rng;
	uint8_t *shift_img;               /* the expected image                  */
	uint8_t *shift_buf;               /* what coherio or the kernel read     */
	uint64_t shift_skipped;           /* epochs where the file was too small */
	_Atomic uint64_t falloc_n[FA_N];  /* calls per mode that returned 0    */
	_Atomic uint64_t falloc_nospc;    /* -ENOSPC/-EDQUOT (a full disk)       */
	_Atomic unsigned falloc_unsup;    /* CHK_NO_* of the modes the file
	                                   * system refused (-EOPNOTSUPP)       */
	_Atomic uint64_t trunc_started[CHK_MAX_FILES]; /* truncates begun and */
	_Atomic uint64_t trunc_ended[CHK_MAX_FILES];   /* ended, per file     */

	/* violations: viol_lock */
	pthread_mutex_t viol_lock;
	int      nviol;
	struct chk_viol viol;

	/* crash mode: set once the child's workers run (shared memory) */
	_Atomic int *shm_ready;
	uint64_t epochs_checked, cells_imaged;
};

/* check_run.c */
int  cli_check_stress(int argc, char **argv);
void chk_violation(struct chk_run *r, const struct chk_viol *v);
int  chk_setup(struct chk_run *r);
int  chk_workload(struct chk_run *r);        /* threads, epochs, end */
void chk_teardown(struct chk_run *r);
int  chk_remove_files(struct chk_run *r);
void chk_print_violation(struct chk_run *r);
void chk_print_rerun(struct chk_run *r, FILE *fp);
uint64_t chk_file_wb_errors(cio_file *f);
void chk_print_table(struct chk_run *r, double secs, FILE *fp);
/* An epoch check's verification of file @f (quiescent, after fsync): 0
 * when disk, cache, direct reads and model agree; *img and *size: the file
 * as the kernel read it (valid until the next call). */
int  chk_verify_file(struct chk_run *r, int f, cio_file *h, const uint8_t **img,
                     uint64_t *size);

/* check_shift.c: at an epoch check (every worker parked, file @f just
 * verified: @img, @size as the kernel read it), now and then a
 * COLLAPSE_RANGE or INSERT_RANGE through coherio, the file compared byte for
 * byte with the shifted image, then restamped and the model restarted from
 * it. */
void chk_shift_file(struct chk_run *r, int f, const uint8_t *img, uint64_t size);

/* check_ops.c */
void *chk_worker_main(void *arg);
int   chk_worker_init(struct chk_run *r, struct chk_worker *w, int id);
void  chk_worker_fini(struct chk_worker *w);
/* The G6 rule for one fsync of handle @h of worker @w (file @file) that
 * returned @rc, with @e1 write-back errors counted before it started. */
int   chk_g6_after_fsync(struct chk_run *r, struct chk_worker *w, int file,
                         cio_file *h, uint64_t e1, int rc, struct chk_op *op);

/* check_crash.c */
int  chk_crash_main(struct chk_run *r);

#endif /* COHERIO_CHECK_H */
