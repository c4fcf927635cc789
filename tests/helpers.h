/*
 * helpers.h - shared helpers for the coherio test programs.
 *
 * Every test program is its own executable: exit 0 = pass, 1 = fail,
 * 77 = skip. A failed CHECK prints file:line, the function, the expression,
 * the values involved and the current context (t_ctx()), removes the scratch
 * files this process registered, and exits the whole process with status 1
 * (from any thread), so a failure is always loud and never hidden by later
 * code.
 *
 * Scratch files live under $COHERIO_TEST_DIR (created if missing; /tmp when
 * unset or unusable) and carry the pid in their names.
 */
#ifndef CIO_TEST_HELPERS_H
#define CIO_TEST_HELPERS_H

/* The build defines it; include this header first when building by hand. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "coherio.h"

#if defined(__GNUC__)
#define T_NORETURN __attribute__((noreturn))
#define T_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define T_NORETURN
#define T_PRINTF(a, b)
#endif

/* The page sizes every test loops over unless it says otherwise. */
#define T_NPAGE_SIZES 3
extern const uint32_t t_page_sizes[T_NPAGE_SIZES];

/* ---- start, skip, fail ------------------------------------------------- */

/* t_init() - call first in main(): remembers the test name, arms a watchdog
 * (SIGALRM after @watchdog_s seconds, 0 = 150) that fails the test loudly if
 * it hangs, and makes stdout/stderr unbuffered. */
void t_init(const char *name, unsigned watchdog_s);

/* t_skip() - print why and return 77 (return its value from main). */
int t_skip(const char *fmt, ...) T_PRINTF(1, 2);

/* t_pass() - print PASS and return 0 (return its value from main); if an
 * EXPECT failed, print FAIL with their number and return 1 instead. */
int t_pass(void);

/* t_ctx() - set this thread's context line (printed by a failing CHECK). */
void t_ctx(const char *fmt, ...) T_PRINTF(1, 2);

/* t_log() - a progress line on stderr, prefixed with the test name. */
void t_log(const char *fmt, ...) T_PRINTF(1, 2);

/* t_fail() - print a failure with location and exit(1) after cleanup. */
T_NORETURN void t_fail_at(const char *file, int line, const char *func,
                          const char *fmt, ...) T_PRINTF(4, 5);

#define t_fail(...) t_fail_at(__FILE__, __LINE__, __func__, __VA_ARGS__)

/* CHECK(cond): fail with the expression text. */
#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			t_fail_at(__FILE__, __LINE__, __func__,              \
			          "CHECK(%s) failed", #cond);                \
	} while (0)

/* CHECKF(cond, fmt, ...): fail with the expression and a message. */
#define CHECKF(cond, ...)                                                    \
	do {                                                                 \
		if (!(cond)) {                                               \
			char _t_msg[512];                                    \
			snprintf(_t_msg, sizeof _t_msg, __VA_ARGS__);        \
			t_fail_at(__FILE__, __LINE__, __func__,              \
			          "CHECK(%s) failed: %s", #cond, _t_msg);    \
		}                                                            \
	} while (0)

/* CHECK_EQ(a, b): both are converted to long long and printed (negative
 * values that look like errnos are also printed by name). */
#define CHECK_EQ(a, b)                                                       \
	do {                                                                 \
		long long _t_a = (long long)(a), _t_b = (long long)(b);     \
		if (_t_a != _t_b)                                            \
			t_check_cmp_failed(__FILE__, __LINE__, __func__, #a, \
			                   "==", #b, _t_a, _t_b);            \
	} while (0)

#define T_CMP_(a, op, b)                                                     \
	do {                                                                 \
		long long _t_a = (long long)(a), _t_b = (long long)(b);     \
		if (!(_t_a op _t_b))                                         \
			t_check_cmp_failed(__FILE__, __LINE__, __func__, #a, \
			                   #op, #b, _t_a, _t_b);             \
	} while (0)
#define CHECK_NE(a, b) T_CMP_(a, !=, b)
#define CHECK_LT(a, b) T_CMP_(a, <, b)
#define CHECK_LE(a, b) T_CMP_(a, <=, b)
#define CHECK_GT(a, b) T_CMP_(a, >, b)
#define CHECK_GE(a, b) T_CMP_(a, >=, b)

/* Unsigned comparisons of 64-bit counters. */
#define CHECK_ULE(a, b)                                                      \
	do {                                                                 \
		unsigned long long _t_a = (unsigned long long)(a),          \
		                   _t_b = (unsigned long long)(b);          \
		if (!(_t_a <= _t_b))                                         \
			t_fail_at(__FILE__, __LINE__, __func__,              \
			          "CHECK(%s <= %s) failed: %llu > %llu", #a, \
			          #b, _t_a, _t_b);                           \
	} while (0)

/* EXPECT_EQ(a, b) / EXPECTF(cond, fmt, ...): like CHECK_EQ / CHECKF but not
 * fatal: the failure is printed (with context) and counted, the test goes
 * on, and t_pass() then fails the test. For long lists of independent checks
 * (bad input), so that one run reports every deviation. */
#define EXPECT_EQ(a, b)                                                      \
	do {                                                                 \
		long long _t_a = (long long)(a), _t_b = (long long)(b);     \
		if (_t_a != _t_b)                                            \
			t_expect_cmp_failed(__FILE__, __LINE__, __func__,    \
			                    #a, "==", #b, _t_a, _t_b);       \
	} while (0)
#define EXPECTF(cond, ...)                                                   \
	do {                                                                 \
		if (!(cond)) {                                               \
			char _t_msg[512];                                    \
			snprintf(_t_msg, sizeof _t_msg, __VA_ARGS__);        \
			t_expect_failed(__FILE__, __LINE__, __func__,        \
			                "EXPECT(%s) failed: %s", #cond,      \
			                _t_msg);                             \
		}                                                            \
	} while (0)
void t_expect_cmp_failed(const char *file, int line, const char *func,
                         const char *ea, const char *op, const char *eb,
                         long long a, long long b);
void t_expect_failed(const char *file, int line, const char *func,
                     const char *fmt, ...) T_PRINTF(4, 5);
/* Number of failed EXPECTs so far. */
int t_expect_failures(void);

/* CHECK_MEM(got, want, len, base_off): compare buffers; on mismatch print the
 * first differing file offset (base_off + index) and a hex excerpt. */
#define CHECK_MEM(got, want, len, base_off)                                  \
	t_check_mem(__FILE__, __LINE__, __func__, #got, (got), (want), (len),\
	            (int64_t)(base_off))

T_NORETURN void t_check_cmp_failed(const char *file, int line,
                                   const char *func, const char *ea,
                                   const char *op, const char *eb,
                                   long long a, long long b);
void t_check_mem(const char *file, int line, const char *func,
                 const char *what, const void *got, const void *want,
                 size_t len, int64_t base_off);

/* t_errname() - "EINVAL" for -EINVAL or EINVAL; "?" when unknown. */
const char *t_errname(long long err);

/* ---- scratch files ----------------------------------------------------- */

/* t_scratch_dir() - $COHERIO_TEST_DIR (created) or /tmp. */
const char *t_scratch_dir(void);

/* t_scratch_path() - a fresh unique path "<dir>/<tag>-<pid>-<n>" (malloc'd),
 * registered for removal when the test fails. Nothing is created. */
char *t_scratch_path(const char *tag);

/* t_scratch_remove() - unlink the file, unregister and free the path. */
void t_scratch_remove(char *path);

/* ---- caches and files -------------------------------------------------- */

/* t_opts() - options with page size @ps and budget @mem (0 = default). */
struct cio_cache_opts t_opts(uint32_t ps, uint64_t mem);

/* t_cache() - create a cache or fail the test. */
cio_cache *t_cache(uint32_t ps, uint64_t mem, int fault_inject);
cio_cache *t_cache_opts(const struct cio_cache_opts *o);

/* t_open() - cio_open() or fail the test. */
cio_file *t_open(cio_cache *c, const char *path, int flags);

/* t_close()/t_destroy() - must return 0. */
void t_close(cio_file *f);
void t_destroy(cio_cache *c);

/* t_fstats()/t_cstats() - stats or fail. */
struct cio_file_stats t_fstats(cio_file *f);
struct cio_cache_stats t_cstats(cio_cache *c);

/* Direct-I/O alignment of a file (logical block size, buffer alignment). */
uint32_t t_lbs(cio_file *f);
uint32_t t_memalign(cio_file *f);

/* t_alloc() - zeroed memory aligned to 64 KiB (enough for direct I/O);
 * fails the test when out of memory. Free with free(). */
void *t_alloc(size_t len);

/* Full-length helpers that fail the test unless all @len bytes move. */
void t_write_all(cio_file *f, const void *buf, size_t len, int64_t off,
                 unsigned flags);
void t_read_all(cio_file *f, void *buf, size_t len, int64_t off,
                unsigned flags);

/* ---- stamps: deterministic content as a function of (seed, offset) ----- */

uint64_t t_mix64(uint64_t x);
uint8_t t_stamp_byte(uint64_t seed, uint64_t off);
/* Fill buf so that buf[i] == t_stamp_byte(seed, off + i). */
void t_stamp_fill(void *buf, size_t len, uint64_t off, uint64_t seed);
/* -1 if buf matches the stamp, else the index of the first bad byte. */
ssize_t t_stamp_find_bad(const void *buf, size_t len, uint64_t off,
                         uint64_t seed);
/* Fail the test (with offsets) unless buf matches the stamp. */
#define CHECK_STAMP(buf, len, off, seed)                                     \
	t_check_stamp(__FILE__, __LINE__, __func__, (buf), (len), (off),    \
	              (seed))
void t_check_stamp(const char *file, int line, const char *func,
                   const void *buf, size_t len, uint64_t off, uint64_t seed);
/* -1 if every byte is zero, else the index of the first non-zero byte. */
ssize_t t_find_nonzero(const void *buf, size_t len);

/* ---- the kernel's view of a file (plain descriptors, no coherio) ------- */

/* t_kernel_pread() - open without O_DIRECT, drop the kernel's cached copy
 * (posix_fadvise DONTNEED) and read: returns bytes read (short at EOF) or
 * -errno. */
ssize_t t_kernel_pread(const char *path, void *buf, size_t len, int64_t off);
/* t_kernel_pwrite() - create if missing, write everything, fsync; 0 or
 * -errno. */
int t_kernel_pwrite(const char *path, const void *buf, size_t len,
                    int64_t off);
/* t_kernel_size() - st_size, or -errno. */
int64_t t_kernel_size(const char *path);
/* t_kernel_create() - create/truncate to @size (sparse); 0 or -errno. */
int t_kernel_create(const char *path, int64_t size);
/* t_kernel_stamp_file() - create a file of @size bytes stamped with @seed. */
void t_kernel_stamp_file(const char *path, int64_t size, uint64_t seed);
/* Fail unless the kernel's view of [off, off+len) equals @want. */
void t_check_kernel(const char *file, int line, const char *func,
                    const char *path, const void *want, size_t len,
                    int64_t off);
#define CHECK_KERNEL(path, want, len, off)                                   \
	t_check_kernel(__FILE__, __LINE__, __func__, (path), (want), (len), \
	               (int64_t)(off))

/* ---- time, sleep, random ----------------------------------------------- */

uint64_t t_now_ns(void);
void t_sleep_ms(unsigned ms);
/* xorshift64*; the state must not be 0 (t_rand_seed() makes a good one). */
uint64_t t_rand_seed(uint64_t x);
uint64_t t_rand(uint64_t *state);
/* uniform-ish in [0, n), n > 0 */
uint64_t t_rand_below(uint64_t *state, uint64_t n);

/* ---- misc -------------------------------------------------------------- */

static inline uint64_t t_align_down(uint64_t x, uint64_t a)
{
	return x / a * a;
}
static inline uint64_t t_align_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

#endif /* CIO_TEST_HELPERS_H */
