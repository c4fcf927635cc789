/* consumer.c - a program built outside coherio's tree against an installed
 * coherio (examples/consumer/: CMake find_package or pkg-config). It writes
 * through the cache, reads the bytes back through the direct path (which
 * writes the dirty page back first, G2), and checks that the library it runs
 * with is the release its header came from. Usage: consumer [FILE]. */
#include <coherio.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fail(const char *what, long r)
{
	fprintf(stderr, "consumer: %s: %s\n", what, cio_strerror((int)r));
	return 1;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "consumer.dat";
	const char msg[] = "installed coherio works";
	char want[32], *buf = NULL;
	cio_cache *c;
	cio_file *f;
	long r;

	snprintf(want, sizeof(want), "%d.%d.", COHERIO_VERSION_MAJOR, COHERIO_VERSION_MINOR);
	if (strncmp(cio_version(), want, strlen(want)) != 0) {
		fprintf(stderr, "consumer: header %s* but library %s\n", want, cio_version());
		return 1;
	}
	if ((r = cio_cache_create(&c, NULL)) < 0)
		return fail("cio_cache_create", r);
	if ((r = cio_open(c, path, O_RDWR | O_CREAT | O_TRUNC, 0644, &f)) < 0)
		return fail("cio_open", r);
	if ((r = cio_write(f, msg, sizeof(msg), 0, 0)) != (long)sizeof(msg))
		return fail("cio_write", r < 0 ? r : -5);
	if (posix_memalign((void **)&buf, 4096, 4096) != 0)
		return 1;
	memset(buf, 0, 4096);
	if ((r = cio_read(f, buf, 4096, 0, CIO_RW_DIRECT)) < (long)sizeof(msg))
		return fail("cio_read", r < 0 ? r : -5);
	if (memcmp(buf, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "consumer: direct read returned other bytes\n");
		return 1;
	}
	free(buf);
	if ((r = cio_close(f)) < 0 || (r = cio_cache_destroy(c)) < 0)
		return fail("close", r);
	unlink(path);
	printf("consumer: coherio %s: %s\n", cio_version(), msg);
	return 0;
}
