/*
 * cli_bench_demo.c - the short benchmark of `coherio demo`: coherio against
 * the kernel, on the same file, in one run (about 15 s; `coherio bench` is
 * the full suite, cli_bench.c).
 *
 * Single thread, one I/O at a time, 4 KiB random reads at 4 KiB-aligned
 * offsets of a scratch file:
 *   hot:    coherio cached read and coherio pin+unpin, both on a cache that
 *           holds the whole file, against a buffered pread(2) on a warm
 *           kernel page cache;
 *   direct: coherio direct read against pread(2) on an O_DIRECT descriptor.
 * Each measurement runs for a fixed time; rounds alternate the order of the
 * contestants (coherio first on even rounds, the kernel first on odd ones)
 * and the table shows the median of the rounds. The numbers are for
 * orientation: the machine may be shared and noisy, which is why medians of
 * several rounds are shown. A ratio never changes the exit code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

enum bench_test {
	B_CIO_CACHED,   /* coherio cached read, warm cache     */
	B_KERN_BUFFERED,/* kernel buffered pread, warm cache   */
	B_CIO_PIN,      /* coherio pin + unpin, warm cache     */
	B_CIO_DIRECT,   /* coherio direct read                 */
	B_KERN_DIRECT,  /* kernel O_DIRECT pread               */
	B_NTESTS
};

static const char *const bench_name[B_NTESTS] = {
	"coherio cached read", "kernel buffered pread", "coherio pin+unpin",
	"coherio direct read", "kernel O_DIRECT pread",
};

#define MAX_ROUNDS 99

struct bench {
	cio_cache     *b_cache;
	cio_file      *b_file;
	int            b_kfd;      /* buffered kernel descriptor            */
	int            b_kdfd;     /* O_DIRECT kernel descriptor, or -1     */
	size_t         b_io;       /* bytes per read                        */
	uint64_t       b_nblocks;  /* file size / b_io                      */
	unsigned char *b_buf;      /* aligned read buffer                   */
	uint64_t       b_sink;     /* keeps pinned loads from being elided  */
	int            b_err;      /* first error (-errno)                  */
	const char    *b_errwhat;  /* what failed                           */
	double         b_res[B_NTESTS][MAX_ROUNDS]; /* ops/s per round      */
};

/* Run @t for about @dur seconds; returns ops/s, or -1 on error. */
static double bench_run(struct bench *b, enum bench_test t, double dur,
                        uint64_t seed)
{
	const unsigned batch = (t == B_CIO_DIRECT || t == B_KERN_DIRECT) ? 8 : 256;
	uint64_t rnd = seed | 1, ops = 0;
	double t0 = cli_now(), t1;

	do {
		unsigned i;

		for (i = 0; i < batch; i++) {
			int64_t off = (int64_t)((cli_rand(&rnd) % b->b_nblocks) *
			                        b->b_io);
			ssize_t r;
			cio_pin pin;
			int n;

			switch (t) {
			case B_CIO_CACHED:
				r = cio_read(b->b_file, b->b_buf, b->b_io, off, 0);
				break;
			case B_CIO_DIRECT:
				r = cio_read(b->b_file, b->b_buf, b->b_io, off,
				             CIO_RW_DIRECT);
				break;
			case B_CIO_PIN:
				n = cio_pin_range(b->b_file, off, b->b_io, 0, &pin);
				if (n < 0) {
					r = n;
					break;
				}
				b->b_sink += *(volatile unsigned char *)pin.seg[0].iov_base;
				r = cio_unpin(&pin);
				if (r == 0)
					r = (ssize_t)b->b_io;
				break;
			case B_KERN_BUFFERED:
				r = pread(b->b_kfd, b->b_buf, b->b_io, off);
				if (r < 0)
					r = -errno;
				break;
			case B_KERN_DIRECT:
			default:
				r = pread(b->b_kdfd, b->b_buf, b->b_io, off);
				if (r < 0)
					r = -errno;
				break;
			}
			if (r != (ssize_t)b->b_io) {
				b->b_err = r < 0 ? (int)r : -EIO;
				b->b_errwhat = bench_name[t];
				return -1;
			}
		}
		ops += batch;
		t1 = cli_now();
	} while (t1 - t0 < dur);
	return (double)ops / (t1 - t0);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double tmp[MAX_ROUNDS];

	memcpy(tmp, v, (size_t)n * sizeof(*v));
	qsort(tmp, (size_t)n, sizeof(*tmp), cmp_double);
	return n % 2 ? tmp[n / 2] : (tmp[n / 2 - 1] + tmp[n / 2]) / 2;
}

static void row(const char *what, double cio, double kern, int have_kern)
{
	char a[32], k[32];

	cli_fmt_rate(a, sizeof(a), cio);
	if (!have_kern) {
		printf("  %-38s %12sops/s %14s %8s\n", what, a, "n/a", "");
		return;
	}
	cli_fmt_rate(k, sizeof(k), kern);
	printf("  %-38s %12sops/s %12sops/s %7.2fx\n", what, a, k,
	       kern > 0 ? cio / kern : 0.0);
}

/* Fill the file with @size bytes of non-zero data through the direct path
 * and read it once on every side so the hot tests start warm. */
static int bench_prepare(struct bench *b, int64_t size)
{
	const size_t chunk = 1u << 20;
	unsigned char *big = cli_alloc_aligned(4096, chunk);
	uint64_t rnd = 42;
	int64_t off;
	ssize_t r;
	int rc;
	size_t k;

	if (!big)
		return -ENOMEM;
	rc = cio_truncate(b->b_file, 0, 0);
	for (off = 0; rc == 0 && off < size; off += (int64_t)chunk) {
		for (k = 0; k < chunk; k += 8) {
			uint64_t w = cli_rand(&rnd);

			memcpy(big + k, &w, 8);
		}
		r = cio_write(b->b_file, big, chunk, off, CIO_RW_DIRECT);
		if (r != (ssize_t)chunk)
			rc = r < 0 ? (int)r : -EIO;
	}
	if (rc == 0)
		rc = cio_fsync(b->b_file);
	/* Warm both caches with one sequential pass each. */
	for (off = 0; rc == 0 && off < size; off += (int64_t)chunk) {
		r = cio_read(b->b_file, big, chunk, off, 0);
		if (r != (ssize_t)chunk)
			rc = r < 0 ? (int)r : -EIO;
		else if (pread(b->b_kfd, big, chunk, off) != (ssize_t)chunk)
			rc = -errno ? -errno : -EIO;
	}
	free(big);
	return rc;
}

int cli_bench(const struct cli_opts *o, const char *path)
{
	struct cio_cache_opts co;
	struct cio_cache_stats cs0, cs1;
	struct cio_file_stats fs;
	struct bench *b;
	const int rounds = o->rounds ? o->rounds : (o->quick ? 1 : 5);
	const double dur = o->quick ? 0.15 : 0.6;
	const int64_t size = (int64_t)(o->quick ? 8 : 32) << 20;
	char machine[512];
	double med[B_NTESTS];
	unsigned fl = cio_build_flags();
	int rc = CLI_EXIT_OK, r, i, round;

	b = calloc(1, sizeof(*b));
	if (!b) {
		fprintf(stderr, "coherio: out of memory\n");
		return CLI_EXIT_ERROR;
	}
	b->b_kfd = b->b_kdfd = -1;
	memset(&co, 0, sizeof(co));
	co.memory_bytes = (uint64_t)size * 3; /* the whole file fits */
	r = cio_cache_create(&b->b_cache, &co);
	if (r < 0) {
		cli_err("cannot create a cache", r);
		free(b);
		return CLI_EXIT_ERROR;
	}
	r = cio_open(b->b_cache, path, O_RDWR, 0, &b->b_file);
	if (r < 0) {
		fprintf(stderr, "coherio: cannot open '%s': %s\n", path,
		        cio_strerror(r));
		rc = CLI_EXIT_ERROR;
		goto out_cache;
	}
	cio_file_stats(b->b_file, &fs);
	cio_cache_stats(b->b_cache, &cs0);
	b->b_io = fs.logical_block_size > 4096 ? fs.logical_block_size : 4096;
	if (fs.page_size > b->b_io)
		b->b_io = fs.page_size;
	b->b_nblocks = (uint64_t)size / b->b_io;
	b->b_buf = cli_alloc_aligned(4096 > fs.memory_alignment ? 4096 :
	                             fs.memory_alignment, b->b_io);
	b->b_kfd = open(path, O_RDONLY | O_CLOEXEC);
	b->b_kdfd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
	if (!b->b_buf || b->b_kfd < 0) {
		fprintf(stderr, "coherio: cannot set up the benchmark: %s\n",
		        b->b_buf ? strerror(errno) : "out of memory");
		rc = CLI_EXIT_ERROR;
		goto out;
	}

	cli_machine(machine, sizeof(machine));
	printf("Part 2: speed. coherio against the kernel on the same file, in "
	       "the same run.\n\n");
	printf("  machine: %s\n", machine);
	printf("  file:    %lld MiB scratch file on %s, %s; coherio cache %llu "
	       "MiB, page %u B, engine %s\n", (long long)(size >> 20),
	       cli_fs_name(path),
	       fs.direct_io ? "O_DIRECT" : "no O_DIRECT (buffered fallback)",
	       (unsigned long long)(co.memory_bytes >> 20), fs.page_size,
	       cs0.engine ? cs0.engine : "?");
	printf("  method:  %zu B random reads, 1 thread, 1 I/O at a time; %d "
	       "round%s of %.2f s per test,\n"
	       "           coherio and the kernel alternating; the median of "
	       "the rounds is shown.\n", b->b_io, rounds, rounds == 1 ? "" : "s",
	       dur);
	if (fl & (CIO_BUILD_HANDLE_CHECKS | CIO_BUILD_ASSERTS))
		printf("  note:    this library is a checking build (%s%s%s); a "
		       "Release build is faster.\n",
		       (fl & CIO_BUILD_HANDLE_CHECKS) ? "handle checks" : "",
		       (fl & CIO_BUILD_HANDLE_CHECKS) && (fl & CIO_BUILD_ASSERTS) ?
		       ", " : "", (fl & CIO_BUILD_ASSERTS) ? "asserts" : "");
	fflush(stdout);

	cli_progress("  preparing the %lld MiB file and warming both caches...",
	             (long long)(size >> 20));
	r = bench_prepare(b, size);
	if (r < 0) {
		cli_err("preparing the benchmark file", r);
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	cio_cache_stats(b->b_cache, &cs0);

	for (round = 0; round < rounds && !b->b_err; round++) {
		static const enum bench_test order[B_NTESTS] = {
			B_CIO_CACHED, B_KERN_BUFFERED, B_CIO_PIN, B_CIO_DIRECT,
			B_KERN_DIRECT,
		};

		for (i = 0; i < B_NTESTS && !b->b_err; i++) {
			enum bench_test t = order[round % 2 ? B_NTESTS - 1 - i : i];
			uint64_t seed = 0x5EED0000ULL + (uint64_t)round;

			if (t == B_KERN_DIRECT && b->b_kdfd < 0)
				continue;
			cli_progress("  round %d/%d: %s...", round + 1, rounds,
			             bench_name[t]);
			b->b_res[t][round] = bench_run(b, t, dur, seed);
		}
	}
	cli_progress_done();
	if (b->b_err) {
		fprintf(stderr, "coherio: benchmark '%s' failed: %s\n",
		        b->b_errwhat, cio_strerror(b->b_err));
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	cio_cache_stats(b->b_cache, &cs1);
	for (i = 0; i < B_NTESTS; i++)
		med[i] = median(b->b_res[i], rounds);

	snprintf(machine, sizeof(machine), "%zu %s random reads",
	         b->b_io % 1024 ? b->b_io : b->b_io / 1024,
	         b->b_io % 1024 ? "B" : "KiB");
	printf("\n  %-38s %17s %17s %8s\n", machine, "coherio", "kernel",
	       "ratio");
	row("hot: cached read vs buffered pread", med[B_CIO_CACHED],
	    med[B_KERN_BUFFERED], 1);
	row("hot: pin+unpin vs buffered pread", med[B_CIO_PIN],
	    med[B_KERN_BUFFERED], 1);
	row("direct: direct read vs O_DIRECT pread", med[B_CIO_DIRECT],
	    med[B_KERN_DIRECT], b->b_kdfd >= 0);
	printf("\n  Medians of %d round%s on a shared, possibly noisy machine; "
	       "ratio = coherio / kernel.\n", rounds, rounds == 1 ? "" : "s");
	printf("  During the rounds the coherio cache had %llu hits and %llu "
	       "misses (%llu direct reads).\n",
	       (unsigned long long)(cs1.hits - cs0.hits),
	       (unsigned long long)(cs1.misses - cs0.misses),
	       (unsigned long long)(cs1.direct_reads - cs0.direct_reads));
	if (b->b_kdfd < 0)
		printf("  The kernel refused O_DIRECT on this file system, so there "
		       "is no direct comparison.\n");
	printf("\n");
out:
	if (b->b_kfd >= 0)
		close(b->b_kfd);
	if (b->b_kdfd >= 0)
		close(b->b_kdfd);
	free(b->b_buf);
	r = cio_close(b->b_file);
	if (r < 0) {
		cli_err("close", r);
		rc = CLI_EXIT_ERROR;
	}
out_cache:
	r = cio_cache_destroy(b->b_cache);
	if (r < 0) {
		cli_err("cache destroy", r);
		rc = CLI_EXIT_ERROR;
	}
	free(b);
	return rc;
}
