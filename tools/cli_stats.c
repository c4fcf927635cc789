/*
 * cli_stats.c - `coherio stats FILE`: open FILE through coherio, read it
 * once sequentially on the cached path, print the cache's and the file's
 * statistics.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

int cli_stats(const char *file)
{
	const size_t chunk = 1u << 20;
	struct cio_cache_stats cs;
	struct cio_file_stats fs;
	cio_cache *c;
	cio_file *f;
	unsigned char *buf;
	int64_t off = 0;
	double t0, dt;
	ssize_t r = 0;
	int rc = CLI_EXIT_OK, e;

	e = cio_cache_create(&c, NULL);
	if (e < 0) {
		cli_err("cannot create a cache", e);
		return CLI_EXIT_ERROR;
	}
	e = cio_open(c, file, O_RDONLY, 0, &f);
	if (e < 0) {
		fprintf(stderr, "coherio: cannot open '%s': %s\n", file,
		        cio_strerror(e));
		cio_cache_destroy(c);
		return CLI_EXIT_ERROR;
	}
	buf = malloc(chunk);
	if (!buf) {
		fprintf(stderr, "coherio: out of memory\n");
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	t0 = cli_now();
	for (;;) {
		r = cio_read(f, buf, chunk, off, 0);
		if (r <= 0)
			break;
		off += r;
		cli_progress("reading %s: %lld MiB", file, (long long)(off >> 20));
	}
	dt = cli_now() - t0;
	cli_progress_done();
	if (r < 0) {
		fprintf(stderr, "coherio: read of '%s' at byte %lld failed: %s\n",
		        file, (long long)off, cio_strerror((int)r));
		rc = CLI_EXIT_ERROR;
	}
	e = cio_file_stats(f, &fs);
	if (e == 0)
		e = cio_cache_stats(c, &cs);
	if (e < 0) {
		cli_err("stats", e);
		rc = CLI_EXIT_ERROR;
		goto out;
	}

	printf("file            %s\n", file);
	printf("kind            %s\n", fs.is_block_device ? "block device" :
	       "regular file");
	printf("size            %lld bytes\n", (long long)fs.size);
	printf("read            %lld bytes sequentially in %.3f s (%.1f MiB/s)\n",
	       (long long)off, dt, dt > 0 ? (double)off / dt / (1 << 20) : 0.0);
	printf("engine          %s\n", cs.engine ? cs.engine : "?");
	printf("direct I/O      %s\n", fs.direct_io ?
	       "yes (O_DIRECT descriptor; the kernel keeps no second copy)" :
	       "no (fallback: the file system refused O_DIRECT, buffered "
	       "descriptor)");
	printf("logical block   %u B (direct I/O offset and length alignment)\n",
	       fs.logical_block_size);
	printf("memory align    %u B (direct I/O buffer alignment)\n",
	       fs.memory_alignment);
	printf("page size       %u B\n", fs.page_size);
	printf("file pages      %llu cached, %llu dirty, %llu write-back errors\n",
	       (unsigned long long)fs.cached_pages,
	       (unsigned long long)fs.dirty_pages,
	       (unsigned long long)fs.writeback_errors);
	printf("cache           %llu of %llu pages used, %llu bytes of memory\n",
	       (unsigned long long)cs.pages_used,
	       (unsigned long long)cs.pages_total,
	       (unsigned long long)cs.memory_bytes);
	printf("hits            %llu\n", (unsigned long long)cs.hits);
	printf("misses          %llu\n", (unsigned long long)cs.misses);
	printf("readahead       %llu pages\n",
	       (unsigned long long)cs.readahead_pages);
	printf("evictions       %llu\n", (unsigned long long)cs.evictions);
	printf("ghost hits      %llu\n", (unsigned long long)cs.ghost_hits);
	printf("write-back      %llu pages, %llu errors\n",
	       (unsigned long long)cs.writeback_pages,
	       (unsigned long long)cs.writeback_errors);
out:
	free(buf);
	e = cio_close(f);
	if (e < 0) {
		cli_err("close", e);
		rc = CLI_EXIT_ERROR;
	}
	e = cio_cache_destroy(c);
	if (e < 0) {
		cli_err("cache destroy", e);
		rc = CLI_EXIT_ERROR;
	}
	return rc;
}
