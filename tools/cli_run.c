/*
 * cli_run.c - `coherio run [--paths P] [--cache SIZE] [--engine E] [--stats]
 * -- PROGRAM ARGS`: run an unmodified program with its files under P served
 * by coherio (the preload library, libcoherio-preload.so).
 *
 * Sets LD_PRELOAD (the library first, before whatever was there),
 * COHERIO_PATHS (absolute; default: $COHERIO_PATHS, else the current
 * directory), COHERIO_CACHE, COHERIO_ENGINE and COHERIO_STATS, then execs
 * the program (execvp). The library is looked for, in order: $COHERIO_PRELOAD
 * (a path), next to this executable, in its preload/ subdirectory (the build
 * tree), in ../lib, ../lib64 and ../lib/<multiarch> relative to it, at the
 * install path, and where the build put it.
 *
 * Exit codes: those of the program; 2 for bad usage; 126/127 (as env(1))
 * when the program cannot be run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define PRELOAD_NAME "libcoherio-preload.so"

static const char run_usage_text[] =
"usage: coherio run [--paths P] [--cache SIZE] [--engine E] [--stats] -- PROGRAM [ARGS]\n"
"\n"
"Run PROGRAM unmodified with the files under the directories P served by\n"
"coherio (through the preload library libcoherio-preload.so): its POSIX file\n"
"calls and libaio calls on those files go through coherio's cache; all other\n"
"files are the kernel's, as without coherio.\n"
"\n"
"  --paths P     colon-separated directory prefixes to serve (default:\n"
"                $COHERIO_PATHS, else the current directory)\n"
"  --cache SIZE  cache memory, e.g. 256M, 2G (default 64M)\n"
"  --engine E    I/O engine: uring, threads or sync (default: io_uring,\n"
"                else the thread pool)\n"
"  --stats       print the cache statistics to stderr when the program exits\n"
"\n"
"Not served: mmap of a served file (refused with ENODEV), descriptors 0-2,\n"
"freopen().\n"
"\n"
"environment: COHERIO_PRELOAD=PATH names the library to use (default: next\n"
"to this program, in ../lib, or at the install path).\n";

static int run_bad(const char *fmt, const char *arg)
{
	fputs("coherio run: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'coherio run --help'.\n", stderr);
	return CLI_EXIT_ERROR;
}

static int readable_file(const char *p)
{
	return p && *p && access(p, R_OK) == 0;
}

/* Directory of this executable into @dir (PATH_MAX); 0 or -1. */
static int self_dir(char *dir)
{
	ssize_t n = readlink("/proc/self/exe", dir, PATH_MAX - 1);
	if (n <= 0)
		return -1;
	dir[n] = '\0';
	char *slash = strrchr(dir, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	return 0;
}

/* Find the preload library; its absolute path into @out (PATH_MAX). */
static int find_preload(char *out)
{
	static const char *const rel[] = {
		"/" PRELOAD_NAME,
		"/preload/" PRELOAD_NAME,
		"/../lib/" PRELOAD_NAME,
		"/../lib64/" PRELOAD_NAME,
#if defined(__x86_64__)
		"/../lib/x86_64-linux-gnu/" PRELOAD_NAME,
#elif defined(__aarch64__)
		"/../lib/aarch64-linux-gnu/" PRELOAD_NAME,
#endif
	};
	const char *env = getenv("COHERIO_PRELOAD");
	char dir[PATH_MAX], cand[PATH_MAX * 2];

	if (env && *env) {
		if (!readable_file(env) || !realpath(env, out))
			return -1;
		return 0;
	}
	if (self_dir(dir) == 0) {
		for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(cand, sizeof(cand), "%s%s", dir, rel[i]);
			if (readable_file(cand) && realpath(cand, out))
				return 0;
		}
	}
#ifdef COHERIO_PRELOAD_INSTALLED
	if (readable_file(COHERIO_PRELOAD_INSTALLED) && realpath(COHERIO_PRELOAD_INSTALLED, out))
		return 0;
#endif
#ifdef COHERIO_PRELOAD_BUILT
	if (readable_file(COHERIO_PRELOAD_BUILT) && realpath(COHERIO_PRELOAD_BUILT, out))
		return 0;
#endif
	return -1;
}

/* "256M" -> bytes; 0 if not a size. */
static unsigned long long parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return 0;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	return *end ? 0 : v;
}

/* Make each colon-separated prefix of @in absolute, into @out. */
static int absolute_paths(const char *in, char *out, size_t cap)
{
	char cwd[PATH_MAX];
	size_t n = 0;
	const char *p = in;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	out[0] = '\0';
	while (*p) {
		const char *e = strchr(p, ':');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		if (len) {
			int k = snprintf(out + n, cap - n, "%s%s%s%.*s", n ? ":" : "",
			                 p[0] == '/' ? "" : cwd, p[0] == '/' ? "" : "/",
			                 (int)len, p);
			if (k < 0 || (size_t)k >= cap - n)
				return -1;
			n += (size_t)k;
		}
		p += len;
		if (*p == ':')
			p++;
	}
	return n ? 0 : -1;
}

int cli_run(int argc, char **argv)
{
	const char *paths = NULL, *cache = NULL, *engine = NULL;
	int stats = 0, i;
	char lib[PATH_MAX], abspaths[8192];

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = NULL;
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(run_usage_text, stdout);
			return CLI_EXIT_OK;
		}
		if (strcmp(a, "--stats") == 0) {
			stats = 1;
			continue;
		}
		if (a[0] != '-')
			break; /* the program, without "--" */
		const char *opts[] = { "--paths", "--cache", "--engine" };
		const char **dst[] = { &paths, &cache, &engine };
		size_t k;
		for (k = 0; k < 3; k++) {
			size_t l = strlen(opts[k]);
			if (strcmp(a, opts[k]) == 0) {
				if (++i >= argc)
					return run_bad("%s needs a value", a);
				val = argv[i];
				break;
			}
			if (strncmp(a, opts[k], l) == 0 && a[l] == '=') {
				val = a + l + 1;
				break;
			}
		}
		if (k == 3)
			return run_bad("unknown option '%s'", a);
		*dst[k] = val;
	}
	if (i >= argc)
		return run_bad("%s", "no PROGRAM to run");

	if (!paths)
		paths = getenv("COHERIO_PATHS");
	if (!paths || !*paths)
		paths = ".";
	if (absolute_paths(paths, abspaths, sizeof(abspaths)) < 0)
		return run_bad("bad --paths '%s'", paths);
	if (cache && parse_size(cache) == 0)
		return run_bad("--cache wants a size such as 256M, not '%s'", cache);
	if (engine && strcmp(engine, "uring") && strcmp(engine, "threads") && strcmp(engine, "sync"))
		return run_bad("--engine wants uring, threads or sync, not '%s'", engine);
	if (find_preload(lib) < 0) {
		fprintf(stderr, "coherio run: cannot find %s (looked next to this program, in "
		        "../lib, at the install path; set COHERIO_PRELOAD to its path)\n",
		        PRELOAD_NAME);
		return CLI_EXIT_ERROR;
	}

	/* LD_PRELOAD: ours first; what was there stays after it */
	const char *old = getenv("LD_PRELOAD");
	size_t need = strlen(lib) + (old ? strlen(old) : 0) + 2;
	char *pre = malloc(need);
	if (!pre) {
		fputs("coherio run: out of memory\n", stderr);
		return CLI_EXIT_ERROR;
	}
	snprintf(pre, need, "%s%s%s", lib, old && *old ? ":" : "", old && *old ? old : "");
	if (setenv("LD_PRELOAD", pre, 1) < 0 || setenv("COHERIO_PATHS", abspaths, 1) < 0 ||
	    (cache && setenv("COHERIO_CACHE", cache, 1) < 0) ||
	    (engine && setenv("COHERIO_ENGINE", engine, 1) < 0) ||
	    (stats && setenv("COHERIO_STATS", "1", 1) < 0)) {
		fprintf(stderr, "coherio run: setenv: %s\n", strerror(errno));
		free(pre);
		return CLI_EXIT_ERROR;
	}
	free(pre);
	fflush(NULL);
	execvp(argv[i], argv + i);
	int e = errno;
	fprintf(stderr, "coherio run: cannot run '%s': %s\n", argv[i], strerror(e));
	return e == ENOENT ? 127 : 126;
}
