/*
 * cli_util.c - scratch files, clocks, random numbers, the progress line and
 * the machine description for the `coherio` tool.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* The scratch file to remove if we are interrupted. Written before the
 * handlers are installed, read only by them. */
static char scratch_path[4096];
static volatile sig_atomic_t scratch_live;

static void scratch_on_signal(int sig)
{
	if (scratch_live)
		unlink(scratch_path);
	signal(sig, SIG_DFL);
	raise(sig);
}

const char *cli_default_dir(void)
{
	const char *t = getenv("TMPDIR");

	/* The current directory first: it is more often on a real disk (with
	 * O_DIRECT) than /tmp, which may be tmpfs. */
	if (access(".", W_OK) == 0)
		return ".";
	if (t && *t && access(t, W_OK) == 0)
		return t;
	return "/tmp";
}

int cli_scratch_create(struct cli_scratch *s, const char *dir)
{
	struct sigaction sa;
	int fd;

	if (!dir)
		dir = cli_default_dir();
	if (snprintf(s->path, sizeof(s->path), "%s/coherio-demo-XXXXXX", dir) >=
	    (int)sizeof(s->path)) {
		fprintf(stderr, "coherio: directory name too long: %s\n", dir);
		return -ENAMETOOLONG;
	}
	fd = mkstemp(s->path);
	if (fd < 0) {
		int e = errno;

		fprintf(stderr, "coherio: cannot create a scratch file in '%s': %s\n",
		        dir, strerror(e));
		return -e;
	}
	close(fd);

	memcpy(scratch_path, s->path, sizeof(scratch_path));
	scratch_live = 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = scratch_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return 0;
}

void cli_scratch_remove(struct cli_scratch *s)
{
	scratch_live = 0;
	if (s->path[0])
		unlink(s->path);
	s->path[0] = '\0';
}

double cli_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

uint64_t cli_rand(uint64_t *state)
{
	uint64_t x = *state;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return x * 0x2545F4914F6CDD1DULL;
}

void *cli_alloc_aligned(size_t align, size_t len)
{
	void *p = NULL;

	if (align < sizeof(void *))
		align = sizeof(void *);
	if (posix_memalign(&p, align, len ? len : align) != 0)
		return NULL;
	return p;
}

static int progress_shown;
static double progress_last;

void cli_progress(const char *fmt, ...)
{
	va_list ap;
	double t;

	if (!isatty(STDERR_FILENO))
		return;
	t = cli_now();
	if (progress_shown && t - progress_last < 0.05)
		return; /* at most 20 updates a second */
	progress_last = t;
	fputs("\r\033[K", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
	progress_shown = 1;
}

void cli_progress_done(void)
{
	if (!progress_shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	progress_shown = 0;
}

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *fp = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown CPU");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *colon;

		/* x86: "model name"; arm64: no model name, "CPU part" is cryptic,
		 * so fall back to "Hardware"/"cpu model" where present. */
		if (strncmp(line, "model name", 10) != 0 &&
		    strncmp(line, "cpu model", 9) != 0 &&
		    strncmp(line, "Hardware", 8) != 0)
			continue;
		colon = strchr(line, ':');
		if (!colon)
			continue;
		colon++;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(fp);
}

void cli_machine(char *buf, size_t len)
{
	struct utsname u;
	char model[256];
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	cpu_model(model, sizeof(model));
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	snprintf(buf, len, "%ld CPU%s, %s, %s %s %s", n, n == 1 ? "" : "s",
	         model, u.sysname, u.release, u.machine);
}

const char *cli_fs_name(const char *path)
{
	struct statfs sf;

	if (statfs(path, &sf) != 0)
		return "unknown";
	switch ((unsigned long)sf.f_type) {
	case 0xEF53UL:     return "ext4";
	case 0x58465342UL: return "xfs";
	case 0x9123683EUL: return "btrfs";
	case 0x01021994UL: return "tmpfs";
	case 0x794C7630UL: return "overlayfs";
	case 0x6969UL:     return "nfs";
	case 0x2FC12FC1UL: return "zfs";
	case 0xF2F52010UL: return "f2fs";
	case 0x65735546UL: return "fuse";
	case 0x00C36400UL: return "ceph";
	case 0x01021997UL: return "9p";
	default:           return "other";
	}
}

void cli_err(const char *what, int err)
{
	cli_progress_done();
	fprintf(stderr, "coherio: %s: %s\n", what, cio_strerror(err));
}

const char *cli_errname(int err)
{
	static __thread char other[16];

	if (err < 0)
		err = -err;
	switch (err) {
	case 0:       return "0";
	case EIO:     return "EIO";
	case EBUSY:   return "EBUSY";
	case EAGAIN:  return "EAGAIN";
	case EINVAL:  return "EINVAL";
	case EBADF:   return "EBADF";
	case ENOSPC:  return "ENOSPC";
	case ENOMEM:  return "ENOMEM";
	case ENXIO:   return "ENXIO";
	case EFBIG:   return "EFBIG";
	case ENOENT:  return "ENOENT";
	case ENOTSUP: return "ENOTSUP";
	default:
		snprintf(other, sizeof(other), "E%d", err);
		return other;
	}
}

void cli_fmt_rate(char *buf, size_t len, double v)
{
	if (v >= 1e9)
		snprintf(buf, len, "%.2f G", v / 1e9);
	else if (v >= 1e6)
		snprintf(buf, len, "%.2f M", v / 1e6);
	else if (v >= 1e3)
		snprintf(buf, len, "%.1f k", v / 1e3);
	else
		snprintf(buf, len, "%.0f ", v);
}
