/*
 * cli.h - shared pieces of the `coherio` command-line tool.
 *
 * The tool is the one place in the project that prints: the library never
 * does. Files:
 *   cli_main.c   argument parsing, help, version, dispatch
 *   cli_util.c   scratch files, timing, progress line, machine description
 *   cli_check.c  the coherency tour (G2, G1, G5, G3) on a scratch file
 *   cli_bench.c  coherio against the kernel on the same scratch file
 *   cli_stats.c  `coherio stats FILE`
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
int cli_bench(const struct cli_opts *o, const char *path);
int cli_stats(const char *file);

#endif /* COHERIO_CLI_H */
