/*
 * cli.h - shared pieces of the `coherio` command-line tool.
 *
 * The tool is the one place in the project that prints: the library never
 * does. Files:
 *   cli_main.c   argument parsing, help, version, dispatch
 *   cli_util.c   scratch files, timing, progress line, machine description
 *   cli_check.c  the coherency tour (G2, G1, G5, G3) on a scratch file
 *   check.h, check_*.c  `coherio check`: the model-based stress checker
 *   cli_bench.c  `coherio bench`: the suite's driver and framework
 *   cli_bench_hot.c, cli_bench_io.c, cli_bench_write.c  its workloads
 *   cli_bench_demo.c  the short benchmark of `coherio demo`
 *   cli_plot.c   the suite's plots (gnuplot)
 *   cli_stats.c  `coherio stats FILE`
 *   cli_run.c    `coherio run -- PROGRAM`: PROGRAM on coherio (preload library)
 *
 * Exit codes: 0 all guarantees held (or the command succeeded), 1 a
 * guarantee was violated, 2 bad usage or a set-up error (reported on stderr).
 */
#ifndef COHERIO_CLI_H
#define COHERIO_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <coherio.h>

#define CLI_EXIT_OK      0
#define CLI_EXIT_VIOLATE 1
#define CLI_EXIT_ERROR   2

struct cli_opts {
	const char *dir;   /* where the scratch file goes; NULL = default   */
	int         quick; /* shorter run: fewer iterations, fewer rounds   */
	int         rounds;/* benchmark rounds; 0 = default                 */
};

/* A scratch file: created empty, removed by cli_scratch_remove() or on
 * SIGINT/SIGTERM. One at a time. */
struct cli_scratch {
	char path[4096];
};

int  cli_scratch_create(struct cli_scratch *s, const char *dir);
void cli_scratch_remove(struct cli_scratch *s);

/* Monotonic clock in seconds. */
double cli_now(void);

/* xorshift64* pseudo-random numbers (deterministic per seed). */
uint64_t cli_rand(uint64_t *state);

/* Aligned buffer for direct I/O: aligned to the larger of @align and the
 * pointer size; NULL on failure. Free with free(). */
void *cli_alloc_aligned(size_t align, size_t len);
/* Where scratch files go by default: the current directory (more often on
 * a real disk with O_DIRECT than /tmp), else $TMPDIR, else /tmp. */
const char *cli_default_dir(void);

/* Progress line on stderr, rewritten in place with '\r'; printed only when
 * stderr is a terminal. cli_progress_done() clears it. */
void cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_progress_done(void);

/* One line describing the machine: CPUs, CPU model, kernel. */
void cli_machine(char *buf, size_t len);

/* Name of the file system that holds @path ("ext4", "tmpfs", ...). */
const char *cli_fs_name(const char *path);

/* Print an error for a failed coherio call: "coherio: WHAT: strerror". */
void cli_err(const char *what, int err);

/* "EBUSY" for -EBUSY (or EBUSY); "0" for 0; "E<n>" for the uncommon. */
const char *cli_errname(int err);

/* Human-readable counts: 1234567 -> "1.23 M". */
void cli_fmt_rate(char *buf, size_t len, double v);

/* The commands. Return an exit code. */
int cli_check(const struct cli_opts *o, const char *path);
/* `coherio check [OPTIONS]` (check_run.c): argv[0] is "check". */
int cli_check_stress(int argc, char **argv);
int cli_bench(const struct cli_opts *o, const char *path);
int cli_stats(const char *file);
/* `coherio run ... -- PROGRAM ARGS`: argv[0] is "run". Returns only on error. */
int cli_run(int argc, char **argv);

/* ------------------------------------------------------------------------ */
/* `coherio bench`: the side-by-side suite (cli_bench.c is the driver;       */
/* cli_bench_hot.c, cli_bench_io.c, cli_bench_write.c the workloads;         */
/* cli_plot.c the plots). `demo` keeps its short benchmark, cli_bench(), in  */
/* cli_bench_demo.c.                                                         */
/* ------------------------------------------------------------------------ */

/* `coherio bench [OPTIONS]`: parses its own options (argv[0] is "bench"),
 * makes the scratch file, runs, prints. Returns an exit code; a MISS never
 * changes it. */
int cli_bench_main(int argc, char **argv);

#define BS_MAX_ROUNDS 99
#define BS_MAX_SIDES  96
#define BS_MAX_CMPS   64
#define BS_MAX_GROUPS 16

/* Workloads, for --only. */
#define BS_W_HOT   (1u << 0) /* hot random reads, LLC and DRAM sets      */
#define BS_W_SCALE (1u << 1) /* the hit path with 1..N threads           */
#define BS_W_DIRECT (1u << 2)/* cold direct reads, depth 1 and 32        */
#define BS_W_SEQ   (1u << 3) /* sequential read of 2x the cache          */
#define BS_W_WRITE (1u << 4) /* random writes then fsync                 */
#define BS_W_MIXED (1u << 5) /* 70/30 zipfian over 2x the cache          */
#define BS_W_COH   (1u << 6) /* the cost of coherence on direct writes   */
#define BS_W_ALL   0x7fu

/* Who a contestant is. */
enum { BS_COHERIO, BS_KERNEL, BS_REF };

/* One contestant of one workload: one value per round for each metric. */
struct bs_side {
	char      sd_name[64];               /* "coherio cached read"         */
	int       sd_group;                  /* its workload (bs_suite.gr)    */
	int       sd_who;                    /* BS_COHERIO, BS_KERNEL, BS_REF */
	int       sd_threads;                /* threads that ran it           */
	int       sd_nrounds;                /* rounds recorded               */
	double    sd_ops[BS_MAX_ROUNDS];     /* operations per second         */
	double    sd_mbs[BS_MAX_ROUNDS];     /* 10^6 bytes per second         */
	double    sd_cpu[BS_MAX_ROUNDS];     /* CPU ns per op (getrusage)     */
	double    sd_p50[BS_MAX_ROUNDS];     /* latency ns                    */
	double    sd_p99[BS_MAX_ROUNDS];
	double    sd_extra[BS_MAX_ROUNDS];   /* the group's extra column (ms) */
	uint64_t *sd_lat;                    /* pooled latency samples, ns    */
	size_t    sd_nlat, sd_lat_cap;
};

/* What a comparison compares. */
enum { BS_M_OPS, BS_M_MBS, BS_M_CPU, BS_M_EFF };
enum { BS_V_INFO, BS_V_PASS, BS_V_MISS, BS_V_NA };

/* One comparison: a ratio, with a target or for information. */
struct bs_cmp {
	int         cm_group;
	char        cm_name[96];   /* "cached read / buffered pread"          */
	int         cm_a, cm_b;    /* sides; ratio = a / b. BS_M_EFF: a runs
	                            * k threads, b one: (a/b - 1) / (k - 1)   */
	int         cm_metric;     /* BS_M_*                                  */
	double      cm_target;     /* 0: none                                 */
	int         cm_le;         /* pass when ratio <= target (a ceiling)   */
	char        cm_tgt[24];    /* the target as printed: ">= 2.00x"       */
	double      cm_ratio;      /* median of the per-round ratios          */
	int         cm_verdict;    /* BS_V_*                                  */
};

/* One workload's section of the report. */
struct bs_group {
	char gr_id[24];       /* "hot-llc": names plots and JSON         */
	char gr_title[160];
	char gr_note[768];    /* set-up facts: cache hits, sizes, why n/a */
	char gr_extra[24];    /* heading of the extra column, or ""      */
	int  gr_mbs;          /* MB/s is the primary rate                */
};

/* The whole run. Single-threaded except inside a measurement. */
struct bs_suite {
	/* configuration: fixed before the first workload */
	const char *bs_path;          /* the scratch file                       */
	const char *bs_plot;          /* --plot DIR or NULL                     */
	int         bs_quick, bs_json;
	int         bs_rounds;        /* rounds per workload                    */
	int         bs_threads;       /* most threads of the scaling curve      */
	unsigned    bs_only;          /* BS_W_* to run                          */
	double      bs_dur;           /* seconds per timed measurement          */
	uint64_t    bs_file;          /* file size = the DRAM-sized set         */
	uint64_t    bs_llc;           /* last-level cache size (0: unknown)     */
	uint64_t    bs_llc_set;       /* the LLC-sized set                      */
	uint64_t    bs_clock_ns;      /* cost of one clock read, subtracted     */
	size_t      bs_io;            /* 4096, or the block size if larger      */
	int         bs_kfd, bs_dfd;   /* kernel descriptors: buffered, O_DIRECT */
	int         bs_cio_direct;    /* coherio's backing descriptor: O_DIRECT */
	char        bs_machine[512], bs_cpu[160], bs_kernel[128], bs_fs[32];
	char        bs_dev[128], bs_engine[32], bs_fio[64], bs_date[64];
	char        bs_uring[32];
	char        bs_load0[64], bs_load1[64], bs_sizes_note[256];
	int         bs_ncpu;
	double      bs_t0;            /* when the run started                   */
	/* results */
	struct bs_group gr[BS_MAX_GROUPS];
	int         ngr;
	struct bs_side *sd;           /* BS_MAX_SIDES                           */
	int         nsd;
	struct bs_cmp cm[BS_MAX_CMPS];
	int         ncm;
	int         bs_err;           /* first set-up or I/O error (-errno)     */
	char        bs_errwhat[160];
};

/* One timed measurement of one contestant in one round. */
struct bs_meas {
	double    ms_t0, ms_t1;       /* wall clock, s                           */
	double    ms_cpu0, ms_cpu1;   /* process CPU (user + system), s          */
	uint64_t  ms_ops, ms_bytes;
	uint64_t *ms_lat;             /* latency samples, ns                     */
	size_t    ms_nlat, ms_cap;
	unsigned  ms_stride, ms_tick; /* time every ms_stride-th operation;
	                               * doubled when the buffer fills           */
	unsigned  ms_stride0;         /* the stride each measurement starts at   */
	uint64_t  ms_clock_ns;        /* subtracted from each sample             */
};

/* cli_bench.c: the framework the workloads use. */
uint64_t bs_ns(void);
uint64_t bs_below(uint64_t *rnd, uint64_t n);       /* uniform 0..n-1       */
int  bs_order(int n, int round, int i);             /* alternate the order  */
double bs_pow(double x, double y);                  /* x > 0; no libm here  */
int  bs_group_add(struct bs_suite *b, const char *id, const char *title,
                  int mbs, const char *extra);
void bs_note(struct bs_suite *b, int g, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int  bs_side_add(struct bs_suite *b, int g, const char *name, int who, int threads);
void bs_cmp_add(struct bs_suite *b, int g, const char *name, int a, int bside,
                int metric, double target, int le);
int  bs_meas_init(struct bs_meas *m, const struct bs_suite *b, unsigned stride);
void bs_meas_free(struct bs_meas *m);
void bs_meas_start(struct bs_meas *m);
void bs_meas_stop(struct bs_meas *m);
void bs_meas_lat(struct bs_meas *m, uint64_t ns);
void bs_meas_merge(struct bs_meas *dst, const struct bs_meas *src);
/* A round's total over its slices: clear, then add each slice's
 * measurement (wall and CPU time, ops, bytes and samples add up). */
#define BS_SLICES 5
void bs_meas_clear(struct bs_meas *m);
void bs_meas_add(struct bs_meas *dst, const struct bs_meas *src);
static inline int bs_meas_want(struct bs_meas *m)
{
	if (++m->ms_tick < m->ms_stride)
		return 0;
	m->ms_tick = 0;
	return 1;
}
void bs_record(struct bs_suite *b, int side, int round, const struct bs_meas *m,
               double extra);
int  bs_fail(struct bs_suite *b, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void bs_progress(const struct bs_suite *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void bs_sleep(double s);
double bs_median(const double *v, int n);
double bs_side_median(const struct bs_side *s, int metric);
int  bs_cache_open(struct bs_suite *b, uint64_t budget, cio_cache **c, cio_file **f);
int  bs_cache_close(struct bs_suite *b, cio_cache *c, cio_file *f);
int  bs_warm_cio(cio_file *f, uint64_t len);
int  bs_warm_kernel(int fd, uint64_t len);
int  bs_drop_kernel(int fd, uint64_t off, uint64_t len);
uint64_t bs_cache_budget(uint64_t bytes);          /* a cache that holds it */

/* The workloads; each returns 0 or -errno (details in b->bs_errwhat). */
int bs_run_hot(struct bs_suite *b);      /* BS_W_HOT and BS_W_SCALE        */
int bs_run_direct(struct bs_suite *b);   /* cli_bench_io.c                 */
int bs_run_seq(struct bs_suite *b);
int bs_run_write(struct bs_suite *b);    /* cli_bench_write.c              */
int bs_run_mixed(struct bs_suite *b);
int bs_run_coherence(struct bs_suite *b);

/* cli_plot.c: PNG plots of @b's results into @dir (made if missing) with
 * gnuplot. Returns the number of plots written, or -errno. */
int bs_plot(const struct bs_suite *b, const char *dir);

#endif /* COHERIO_CLI_H */
