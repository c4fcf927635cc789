/*
 * cli_main.c - the `coherio` command: argument parsing, help, version and
 * dispatch to the demo, the coherency check, the benchmark and stats.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
"usage: coherio COMMAND [OPTIONS]\n"
"\n"
"coherio is a user-space page cache over files whose cached, direct,\n"
"pinned and async paths always agree. This tool shows it working.\n"
"\n"
"commands:\n"
"  demo  [--dir DIR] [--quick] [--rounds N]\n"
"        the tour: a coherency check across paths (guarantees G2, G1, G5,\n"
"        G3), then a benchmark against the kernel on the same file (about\n"
"        20 s). Exits 0 if every guarantee held, 1 if one did not.\n"
"  check [--duration T | --ops N] [--threads N] [--faults] [--crash N] ...\n"
"        the model-based stress of every path (cached, direct, async,\n"
"        pinned) with faults, crashes and a reference model; exits 1 at\n"
"        the first violation with its history; see 'coherio check --help'\n"
"        (--tour: only the short guarantee tour of demo).\n"
"  bench [--quick] [--rounds N] [--size SIZE] [--threads N] [--only LIST]\n"
"        [--json] [--plot DIR] [--dir DIR]\n"
"        the full benchmark suite, coherio side by side with the kernel\n"
"        (page cache, O_DIRECT with io_uring, mmap, fio) with targets and\n"
"        PASS/MISS; see 'coherio bench --help'.\n"
"  stats FILE\n"
"        read FILE once sequentially through coherio and print the cache\n"
"        and file statistics.\n"
"  run [--paths P] [--cache SIZE] [--engine E] [--stats] -- PROGRAM [ARGS]\n"
"        run an unmodified PROGRAM with its files under P served by coherio\n"
"        (POSIX file calls and libaio, through the preload library); see\n"
"        'coherio run --help'.\n"
"  version                         print the version and build flags\n"
"  help, --help                    this text\n"
"\n"
"options:\n"
"  --dir DIR   where the scratch file goes (default: the current directory\n"
"              if writable, else $TMPDIR, else /tmp); it is removed after.\n"
"  --quick     fewer iterations and one short benchmark round (smoke test).\n"
"  --rounds N  benchmark rounds whose median is shown (default 5).\n"
"\n"
"environment: COHERIO_ENGINE selects the I/O engine (\"uring\", \"threads\"\n"
"or \"sync\"; default io_uring, else the thread pool).\n";

static void usage(FILE *fp)
{
	fputs(usage_text, fp);
}

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("coherio: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'coherio --help'.\n", stderr);
	return CLI_EXIT_ERROR;
}

static void print_version(void)
{
	unsigned fl = cio_build_flags();

	printf("coherio %d.%d.%d (library %s; handle checks %s, asserts %s)\n",
	       COHERIO_VERSION_MAJOR, COHERIO_VERSION_MINOR,
	       COHERIO_VERSION_PATCH, cio_version(),
	       (fl & CIO_BUILD_HANDLE_CHECKS) ? "on" : "off",
	       (fl & CIO_BUILD_ASSERTS) ? "on" : "off");
}

/* Parse the options of demo/check/bench; argv[0] is the command. */
static int parse_opts(int argc, char **argv, struct cli_opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--dir") == 0 || strcmp(a, "-d") == 0) {
			if (++i >= argc)
				return bad_usage("%s needs a directory", a);
			o->dir = argv[i];
		} else if (strncmp(a, "--dir=", 6) == 0) {
			o->dir = a + 6;
		} else if (strcmp(a, "--quick") == 0) {
			o->quick = 1;
		} else if (strcmp(a, "--rounds") == 0) {
			char *end;
			long n;

			if (++i >= argc)
				return bad_usage("%s needs a number", a);
			n = strtol(argv[i], &end, 10);
			if (*end || n < 1 || n > 99)
				return bad_usage("--rounds wants 1..99, not '%s'", argv[i]);
			o->rounds = (int)n;
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(CLI_EXIT_OK);
		} else {
			return bad_usage("unknown option '%s'", a);
		}
	}
	if (o->dir && !*o->dir)
		return bad_usage("%s", "--dir needs a non-empty directory name");
	return 0;
}

static int run_scratch(int argc, char **argv, int do_check, int do_bench)
{
	struct cli_opts o;
	struct cli_scratch s;
	int rc = CLI_EXIT_OK, r;

	if (parse_opts(argc, argv, &o) != 0)
		return CLI_EXIT_ERROR;
	if (cli_scratch_create(&s, o.dir) < 0)
		return CLI_EXIT_ERROR;

	printf("coherio %s: a user-space page cache whose cached, direct, "
	       "pinned and async paths\nalways agree.\n", cio_version());
	printf("Scratch file: %s (%s; removed at the end)\n\n", s.path,
	       cli_fs_name(s.path));
	fflush(stdout);

	if (do_check)
		rc = cli_check(&o, s.path);
	if (do_bench && rc != CLI_EXIT_ERROR) {
		r = cli_bench(&o, s.path);
		if (r == CLI_EXIT_ERROR)
			rc = r;
	}
	cli_scratch_remove(&s);
	return rc;
}

int main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		usage(stderr);
		return CLI_EXIT_ERROR;
	}
	cmd = argv[1];
	if (strcmp(cmd, "demo") == 0)
		return run_scratch(argc - 1, argv + 1, 1, 1);
	if (strcmp(cmd, "check") == 0)
		return cli_check_stress(argc - 1, argv + 1);
	if (strcmp(cmd, "bench") == 0)
		return cli_bench_main(argc - 1, argv + 1);
	if (strcmp(cmd, "stats") == 0) {
		if (argc == 3 && (strcmp(argv[2], "--help") == 0 ||
		                  strcmp(argv[2], "-h") == 0)) {
			usage(stdout);
			return CLI_EXIT_OK;
		}
		if (argc != 3)
			return bad_usage("%s", "stats wants exactly one FILE");
		return cli_stats(argv[2]);
	}
	if (strcmp(cmd, "run") == 0)
		return cli_run(argc - 1, argv + 1);
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		print_version();
		return CLI_EXIT_OK;
	}
	if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 ||
	    strcmp(cmd, "-h") == 0) {
		usage(stdout);
		return CLI_EXIT_OK;
	}
	return bad_usage("unknown command '%s'", cmd);
}
