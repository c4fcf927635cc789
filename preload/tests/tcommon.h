/*
 * tcommon.h - shared bits of the preload test programs. They are written
 * against POSIX and libaio only (never coherio.h): the same program runs on
 * the kernel ("kernel" mode, which checks the expectations themselves) and
 * under `coherio run` ("coherio" mode), and must pass both ways.
 *
 * Exit codes: 0 pass, 1 fail, 77 skip (as the rest of the suite).
 */
#ifndef PRELOAD_TCOMMON_H
#define PRELOAD_TCOMMON_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int t_failures;
static const char *t_name = "test";

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			t_failures++;                                           \
			fprintf(stderr, "%s:%d: FAIL (%s): ", t_name, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
		}                                                               \
	} while (0)

/* The call returned -1 with errno @e. */
#define CHECK_ERR(call, e)                                                      \
	do {                                                                    \
		errno = 0;                                                      \
		long r_ = (long)(call);                                         \
		int e_ = errno;                                                 \
		CHECK(r_ == -1 && e_ == (e), "%s = %ld errno %d (%s), want %s", \
		      #call, r_, e_, strerror(e_), #e);                         \
	} while (0)

#define DIE(...)                                                                \
	do {                                                                    \
		fprintf(stderr, "%s:%d: setup failed: ", t_name, __LINE__);    \
		fprintf(stderr, __VA_ARGS__);                                   \
		fprintf(stderr, " (%s)\n", strerror(errno));                     \
		exit(1);                                                        \
	} while (0)

__attribute__((unused)) static void t_log(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", t_name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* Byte @i of pattern @seed: never 0, so zeros show up as wrong. */
static inline unsigned char t_pat(unsigned seed, size_t i)
{
	unsigned x = (unsigned)i * 2654435761u + seed * 40503u;
	x ^= x >> 13;
	return (unsigned char)(x % 255 + 1);
}

static void t_fill(void *buf, size_t len, unsigned seed, size_t base)
{
	unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		p[i] = t_pat(seed, base + i);
}

/* Index of the first byte that differs from the pattern, or -1. */
static long t_verify(const void *buf, size_t len, unsigned seed, size_t base)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != t_pat(seed, base + i))
			return (long)i;
	return -1;
}

__attribute__((unused)) static void *t_aligned(size_t len)
{
	void *p = NULL;
	if (posix_memalign(&p, 4096, len))
		DIE("posix_memalign");
	memset(p, 0, len);
	return p;
}

/* mkdir -p */
static void t_mkdir(const char *dir)
{
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", dir);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			DIE("mkdir %s", buf);
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		DIE("mkdir %s", buf);
}

/* Set by "linked" mode: the program is linked with the preload library
 * instead of LD_PRELOADed (sanitizer builds), where the sanitizer's own
 * mmap interceptor goes to the system call and our refusal is not seen. */
static int t_linked;

/* Does another descriptor of this process, opened close-on-exec, refer to
 * @fd's file? (coherio keeps its own descriptors of a served file.) */
static int t_has_shadow_fd(int fd)
{
	char p[64], want[4096], got[4096];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, want, sizeof(want) - 1);
	if (n <= 0)
		return 0;
	want[n] = '\0';
	for (int i = 3; i < 4096; i++) {
		if (i == fd)
			continue;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", i);
		ssize_t k = readlink(p, got, sizeof(got) - 1);
		if (k != n || memcmp(got, want, (size_t)n))
			continue;
		snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", i);
		FILE *f = fopen(p, "r");
		unsigned long flags = 0;
		char line[128];
		while (f && fgets(line, sizeof(line), f))
			if (sscanf(line, "flags: %lo", &flags) == 1)
				break;
		if (f)
			fclose(f);
		if (flags & O_CLOEXEC)
			return 1;
	}
	return 0;
}

/* Is @fd's file served? mmap of a served file is refused (ENODEV). */
static int t_is_served(int fd)
{
	if (t_linked)
		return t_has_shadow_fd(fd);
	void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		return errno == ENODEV;
	munmap(m, 4096);
	return 0;
}

/* Make @sdir and @udir; false if @udir refuses O_DIRECT (the caller skips:
 * the direct-path checks need it). */
__attribute__((unused)) static int t_dirs_ready(const char *sdir, const char *udir)
{
	char probe[4096];
	t_mkdir(sdir);
	t_mkdir(udir);
	snprintf(probe, sizeof(probe), "%s/odirect-probe", udir);
	int pf = open(probe, O_CREAT | O_RDWR | O_DIRECT, 0644);
	if (pf < 0) {
		fprintf(stderr, "%s: skipped: %s refuses O_DIRECT\n", t_name, udir);
		return 0;
	}
	close(pf);
	unlink(probe);
	return 1;
}

static int t_finish(void)
{
	if (t_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", t_name, t_failures);
		return 1;
	}
	fprintf(stderr, "%s: all checks passed\n", t_name);
	return 0;
}

#endif
