/*
 * fallocate_race.c - the size never moves backwards (G5), as a program
 * written for the kernel sees it: one thread calls fallocate(fd, 0, 0, bs)
 * while another submits an extending O_DIRECT write of [bs, 2bs) through
 * libaio on the same descriptor of an empty file; after the event and the
 * join, fstat must say 2bs, TRIES times out of TRIES (Linux: always).
 * The data is checked too: zeros, then the write's pattern.
 *
 * Usage: fallocate_race DIR kernel|coherio|linked
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "tcommon.h"

#include <libaio.h>
#include <pthread.h>

#define TRIES 1000
#define BS 4096

static int g_fd;
static pthread_barrier_t g_go;

static void *fallocator(void *arg)
{
	int *res = arg;
	pthread_barrier_wait(&g_go);
	*res = fallocate(g_fd, 0, 0, BS) < 0 ? errno : 0;
	return NULL;
}

int main(int argc, char **argv)
{
	t_name = "fallocate_race";
	if (argc != 3)
		DIE("usage: fallocate_race DIR kernel|coherio|linked");
	t_linked = !strcmp(argv[2], "linked");
	int served = strcmp(argv[2], "kernel") != 0;
	t_mkdir(argv[1]);
	char path[4096];
	snprintf(path, sizeof(path), "%s/falloc-race", argv[1]);
	g_fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0644);
	if (g_fd < 0)
		DIE("open %s", path);
	CHECK(t_is_served(g_fd) == served, "served: %d, want %d", t_is_served(g_fd), served);
	unsigned char *buf = t_aligned(BS), *got = t_aligned(2 * BS);
	t_fill(buf, BS, 3, BS);
	io_context_t ctx = 0;
	int r = io_setup(8, &ctx);
	if (r < 0) {
		errno = -r;
		DIE("io_setup");
	}
	int lowered = 0, errors = 0;
	for (int i = 0; i < TRIES; i++) {
		if (ftruncate(g_fd, 0) < 0)
			DIE("ftruncate");
		int fres = -1;
		pthread_t t;
		pthread_barrier_init(&g_go, NULL, 2);
		if (pthread_create(&t, NULL, fallocator, &fres))
			DIE("pthread_create");
		struct iocb cb, *cbs[1] = { &cb };
		io_prep_pwrite(&cb, g_fd, buf, BS, BS);
		pthread_barrier_wait(&g_go);
		r = io_submit(ctx, 1, cbs);
		struct io_event ev;
		int n = r == 1 ? io_getevents(ctx, 1, 1, &ev, NULL) : 0;
		pthread_join(t, NULL);
		pthread_barrier_destroy(&g_go);
		if (r != 1 || n != 1 || ev.res != BS || fres != 0) {
			if (errors++ < 5)
				CHECK(0, "try %d: io_submit %d, getevents %d, res %ld, fallocate %s",
				      i, r, n, n == 1 ? (long)ev.res : 0L, strerror(fres));
			continue;
		}
		struct stat st;
		if (fstat(g_fd, &st) < 0)
			DIE("fstat");
		if (st.st_size != 2 * BS && lowered++ < 5)
			CHECK(0, "try %d: st_size %lld, want %d", i, (long long)st.st_size, 2 * BS);
	}
	CHECK(lowered == 0, "the size went backwards in %d of %d tries", lowered, TRIES);
	CHECK(pread(g_fd, got, 2 * BS, 0) == 2 * BS, "pread");
	for (int i = 0; i < BS; i++)
		if (got[i]) {
			CHECK(0, "byte %d is %d, want 0", i, got[i]);
			break;
		}
	CHECK(t_verify(got + BS, BS, 3, BS) < 0, "the write's data at %ld",
	      t_verify(got + BS, BS, 3, BS));
	t_log("%d tries, size lowered in %d", TRIES, lowered);
	io_destroy(ctx);
	close(g_fd);
	unlink(path);
	free(buf);
	free(got);
	return t_finish();
}
