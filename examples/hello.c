/* hello.c - a first coherio program: one cache, one file, three paths that agree. */
#include <coherio.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(call) do { long r_ = (call); if (r_ < 0) { \
	fprintf(stderr, "%s: %s\n", #call, cio_strerror((int)r_)); exit(1); } } while (0)

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "hello.dat", msg[] = "hello, coherent world";
	cio_cache *c;
	cio_file *f;
	cio_pin pin;
	char *buf;

	TRY(cio_cache_create(&c, NULL));                      /* 64 MiB, 4 KiB pages */
	TRY(cio_open(c, path, O_RDWR | O_CREAT | O_TRUNC, 0644, &f));
	TRY(cio_write(f, msg, sizeof(msg), 0, 0));            /* cached: dirty, not on disk */
	if (posix_memalign((void **)&buf, 4096, 4096) != 0)   /* direct I/O wants alignment */
		return 1;
	memset(buf, 0, 4096);
	TRY(cio_read(f, buf, 4096, 0, CIO_RW_DIRECT));        /* writes the page back, then reads the disk */
	printf("direct read: %s\n", buf);
	TRY(cio_pin_range(f, 0, sizeof(msg), 0, &pin));       /* a pointer into the cached page */
	printf("pinned:      %s\n", (const char *)pin.seg[0].iov_base);
	TRY(cio_unpin(&pin));
	free(buf);
	TRY(cio_close(f));
	TRY(cio_cache_destroy(c));
	return 0;
}
