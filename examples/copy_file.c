/*
 * copy_file.c - copy a file through coherio, using each path for what it is
 * good at:
 *   - the first 4 KiB (a "header" a program would re-read often) through the
 *     cached path, so it stays in the cache;
 *   - the bulk through the direct path, in 1 MiB aligned chunks, so it does
 *     not wash the cache out;
 *   - the tail (less than one logical block) through the cached path, which
 *     takes any length;
 * then cio_fsync() for durability.
 *
 * usage: example_copy_file SRC DST
 * Exit status 0 on success, 1 on any error (reported with cio_strerror).
 */
#define _GNU_SOURCE
#include <coherio.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEADER_BYTES 4096
#define CHUNK_BYTES  (1u << 20)

static int fail(const char *what, const char *path, long err)
{
	fprintf(stderr, "copy_file: %s %s: %s\n", what, path,
	        cio_strerror((int)err));
	return 1;
}

/* Copy [off, off + len) on the cached path; returns bytes copied or -errno. */
static int64_t copy_cached(cio_file *src, cio_file *dst, unsigned char *buf,
                           size_t bufsz, int64_t off, int64_t len)
{
	int64_t done = 0;

	while (done < len) {
		size_t want = (size_t)(len - done < (int64_t)bufsz ? len - done :
		                                                    (int64_t)bufsz);
		ssize_t r = cio_read(src, buf, want, off + done, 0), w;

		if (r <= 0)
			return r < 0 ? r : done; /* 0: the source got shorter */
		w = cio_write(dst, buf, (size_t)r, off + done, 0);
		if (w < 0)
			return w;
		done += r;
	}
	return done;
}

int main(int argc, char **argv)
{
	struct cio_file_stats ss, ds;
	struct stat st;
	cio_cache *c;
	cio_file *src, *dst;
	unsigned char *buf;
	size_t align, memalign_;
	int64_t size, off, header, bulk_end, n;
	mode_t mode = 0644;
	int r, rc = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
		return 2;
	}
	if (stat(argv[1], &st) == 0)
		mode = st.st_mode & 07777;

	r = cio_cache_create(&c, NULL);
	if (r < 0)
		return fail("cannot create a cache for", argv[1], r);
	r = cio_open(c, argv[1], O_RDONLY, 0, &src);
	if (r < 0) {
		cio_cache_destroy(c);
		return fail("cannot open", argv[1], r);
	}
	r = cio_open(c, argv[2], O_WRONLY | O_CREAT | O_TRUNC, mode, &dst);
	if (r < 0) {
		cio_close(src);
		cio_cache_destroy(c);
		return fail("cannot create", argv[2], r);
	}

	/* Direct I/O must satisfy both files: offsets and lengths aligned to the
	 * larger logical block size, buffers to the larger memory alignment. */
	cio_file_stats(src, &ss);
	cio_file_stats(dst, &ds);
	align = ss.logical_block_size > ds.logical_block_size ?
	        ss.logical_block_size : ds.logical_block_size;
	memalign_ = ss.memory_alignment > ds.memory_alignment ?
	            ss.memory_alignment : ds.memory_alignment;
	if (memalign_ < align)
		memalign_ = align;
	if (memalign_ < sizeof(void *))
		memalign_ = sizeof(void *);
	if (posix_memalign((void **)&buf, memalign_, CHUNK_BYTES) != 0) {
		fprintf(stderr, "copy_file: out of memory\n");
		rc = 1;
		goto out;
	}

	size = ss.size;
	/* The header: one cached copy of the first 4 KiB, rounded up to the
	 * block size so that the bulk starts aligned. */
	header = (HEADER_BYTES + (int64_t)align - 1) / (int64_t)align *
	         (int64_t)align;
	if (header > size)
		header = size;
	n = copy_cached(src, dst, buf, CHUNK_BYTES, 0, header);
	if (n < 0) {
		rc = fail("cached copy of the header of", argv[1], (long)n);
		goto out_free;
	}

	/* The bulk: whole blocks on the direct path. */
	bulk_end = header + (size - header) / (int64_t)align * (int64_t)align;
	for (off = header; off < bulk_end;) {
		size_t want = (size_t)(bulk_end - off < CHUNK_BYTES ?
		                       bulk_end - off : CHUNK_BYTES);
		ssize_t got = cio_read(src, buf, want, off, CIO_RW_DIRECT), w;

		if (got < 0) {
			rc = fail("direct read of", argv[1], (long)got);
			goto out_free;
		}
		if (got == 0 || (size_t)got % align)
			break; /* the source changed under us: finish cached */
		w = cio_write(dst, buf, (size_t)got, off, CIO_RW_DIRECT);
		if (w < 0) {
			rc = fail("direct write of", argv[2], (long)w);
			goto out_free;
		}
		off += got;
	}

	/* The tail (and anything left after a short read): cached path, to the
	 * end of file whatever it is now. */
	n = copy_cached(src, dst, buf, CHUNK_BYTES, off, INT64_MAX / 2 - off);
	if (n < 0) {
		rc = fail("cached copy of the tail of", argv[1], (long)n);
		goto out_free;
	}
	r = cio_fsync(dst);
	if (r < 0) {
		rc = fail("fsync of", argv[2], r);
		goto out_free;
	}
	printf("copied %lld bytes: %lld cached header, %lld direct bulk, %lld "
	       "cached tail (block %zu B, source %s, destination %s)\n",
	       (long long)(off + n), (long long)header, (long long)(off - header),
	       (long long)n, align, ss.direct_io ? "O_DIRECT" : "buffered",
	       ds.direct_io ? "O_DIRECT" : "buffered");
out_free:
	free(buf);
out:
	r = cio_close(dst);
	if (r < 0 && rc == 0)
		rc = fail("close of", argv[2], r);
	r = cio_close(src);
	if (r < 0 && rc == 0)
		rc = fail("close of", argv[1], r);
	r = cio_cache_destroy(c);
	if (r < 0 && rc == 0)
		rc = fail("cache destroy after copying", argv[1], r);
	return rc;
}
