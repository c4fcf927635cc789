/*
 * G5 - the size never moves backwards except by truncate: a growing
 * cio_fallocate() racing an extending async direct write keeps the larger
 * size, whichever finishes first (issue: fallocate(fd, 0, 0, bs) racing an
 * extending O_DIRECT write of [bs, 2bs) left st_size = bs).
 *
 * Part 1, deterministic: a fault rule delays the device write of [bs, 2bs)
 * so it is in flight for DELAY_MS; meanwhile fallocate(0, 0, bs) (below the
 * write: the size must end at 2bs, not bs), fallocate(KEEP_SIZE, 0, 8bs)
 * (size unchanged) and, on a second round, fallocate(0, 0, 3bs) (above it:
 * 3bs). Every time, after the event: cio_size(), the device after fsync,
 * and the bytes (zeros, then the write's stamp).
 * Part 2, the race as a program written for the kernel makes it: one
 * thread calls fallocate(0, 0, bs) while another submits the extending
 * async direct write and waits for its event, TRIES times on an emptied
 * file; the size must be 2bs every time.
 */
#include "helpers.h"

#include <linux/falloc.h>
#include <pthread.h>

#define DELAY_MS 60
#define TRIES 300

struct race {
	cio_cache *c;
	cio_file *f;
	cio_ctx *ctx;
	uint8_t *buf;
	uint32_t bs;
	pthread_barrier_t go;
	int fres;
};

static void submit_write(cio_ctx *ctx, cio_file *f, void *buf, uint32_t bs)
{
	struct cio_op op = { .opcode = CIO_OP_WRITE, .flags = CIO_RW_DIRECT, .file = f,
	                     .buf = buf, .len = bs, .off = bs, .user_data = 7 };
	CHECK_EQ(cio_ctx_submit(ctx, &op, 1), 1);
}

static void reap_write(cio_ctx *ctx, uint32_t bs)
{
	struct cio_event ev;
	CHECK_EQ(cio_ctx_getevents(ctx, 1, 1, &ev, NULL), 1);
	CHECK_EQ(ev.user_data, 7);
	CHECK_EQ(ev.res, bs);
	CHECK_EQ(ev.res2, 0);
}

/* The file holds zeros in [0, bs) and the stamp in [bs, 2bs), then zeros
 * up to @size, on the cached path and on the device. */
static void check_content(cio_file *f, const char *path, uint32_t bs, int64_t size)
{
	uint8_t *got = t_alloc((size_t)size);
	t_read_all(f, got, (size_t)size, 0, 0);
	CHECK_EQ(t_find_nonzero(got, bs), -1);
	CHECK_STAMP(got + bs, bs, bs, 11);
	CHECK_EQ(t_find_nonzero(got + 2 * bs, (size_t)size - 2 * bs), -1);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_EQ(t_kernel_size(path), size);
	CHECK_KERNEL(path, got, (size_t)size, 0);
	free(got);
}

static void part1(uint32_t ps)
{
	t_ctx("part 1, page size %u", ps);
	cio_cache *c = t_cache(ps, 0, 1);
	char *path = t_scratch_path("falloc1");
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_TRUNC);
	uint32_t bs = t_lbs(f) > 4096 ? t_lbs(f) : 4096;
	uint8_t *buf = t_alloc(bs);
	t_stamp_fill(buf, bs, bs, 11);
	cio_ctx *ctx;
	CHECK_EQ(cio_ctx_create(c, 8, &ctx), 0);
	struct cio_fault_rule rule = { .ops = CIO_FAULT_WRITE, .start = bs, .end = 2 * bs,
	                               .delay_us = DELAY_MS * 1000, .count = -1 };
	CHECK_GE(cio_fault_add(c, &rule), 0);

	/* below the write in flight: the write's larger size stays */
	submit_write(ctx, f, buf, bs);
	t_sleep_ms(DELAY_MS / 3);
	CHECK_EQ(cio_fallocate(f, 0, 0, bs), 0);
	CHECK_EQ(cio_size(f), 2 * (int64_t)bs);
	reap_write(ctx, bs);
	CHECK_EQ(cio_size(f), 2 * (int64_t)bs);
	/* KEEP_SIZE never changes it */
	CHECK_EQ(cio_fallocate(f, FALLOC_FL_KEEP_SIZE, 0, 8 * (int64_t)bs), 0);
	CHECK_EQ(cio_size(f), 2 * (int64_t)bs);
	check_content(f, path, bs, 2 * (int64_t)bs);

	/* above the write in flight: the fallocate's end */
	CHECK_EQ(cio_truncate(f, 0, 0), 0);
	submit_write(ctx, f, buf, bs);
	t_sleep_ms(DELAY_MS / 3);
	CHECK_EQ(cio_fallocate(f, 0, 0, 3 * (int64_t)bs), 0);
	reap_write(ctx, bs);
	CHECK_EQ(cio_size(f), 3 * (int64_t)bs);
	check_content(f, path, bs, 3 * (int64_t)bs);

	CHECK_GE(cio_fault_fired(c, -1), 2);
	CHECK_EQ(cio_ctx_destroy(ctx), 0);
	free(buf);
	t_close(f);
	t_destroy(c);
	t_scratch_remove(path);
}

static void *fallocator(void *arg)
{
	struct race *r = arg;
	pthread_barrier_wait(&r->go);
	r->fres = cio_fallocate(r->f, 0, 0, r->bs);
	return NULL;
}

static void part2(uint32_t ps)
{
	t_ctx("part 2, page size %u", ps);
	struct race r;
	memset(&r, 0, sizeof r);
	r.c = t_cache(ps, 0, 0);
	char *path = t_scratch_path("falloc2");
	r.f = t_open(r.c, path, O_RDWR | O_CREAT | O_TRUNC);
	r.bs = t_lbs(r.f) > 4096 ? t_lbs(r.f) : 4096;
	r.buf = t_alloc(r.bs);
	t_stamp_fill(r.buf, r.bs, r.bs, 11);
	CHECK_EQ(cio_ctx_create(r.c, 8, &r.ctx), 0);
	int lowered = 0;
	for (int i = 0; i < TRIES; i++) {
		t_ctx("part 2, page size %u, try %d", ps, i);
		CHECK_EQ(cio_truncate(r.f, 0, 0), 0);
		pthread_t t;
		pthread_barrier_init(&r.go, NULL, 2);
		CHECK_EQ(pthread_create(&t, NULL, fallocator, &r), 0);
		pthread_barrier_wait(&r.go);
		submit_write(r.ctx, r.f, r.buf, r.bs);
		reap_write(r.ctx, r.bs);
		pthread_join(t, NULL);
		pthread_barrier_destroy(&r.go);
		CHECK_EQ(r.fres, 0);
		lowered += cio_size(r.f) != 2 * (int64_t)r.bs;
	}
	CHECK_EQ(lowered, 0);
	check_content(r.f, path, r.bs, 2 * (int64_t)r.bs);
	CHECK_EQ(cio_ctx_destroy(r.ctx), 0);
	free(r.buf);
	t_close(r.f);
	t_destroy(r.c);
	t_scratch_remove(path);
}

int main(void)
{
	t_init("fallocate_never_lowers_size", 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		part1(t_page_sizes[i]);
		part2(t_page_sizes[i]);
	}
	return t_pass();
}
