/*
 * The last close of a file frees its inode only once nothing in the
 * background still holds one of its pages: a readahead in flight, or the
 * evictor writing back a dirty victim for another file's allocation. Pages
 * an invalidate (or truncate) removed from the index while such a holder
 * had them are not in the index any more, so the close's own drop does not
 * see them; the holder's last put then touched a freed inode (found by the
 * preload library's fork tests: invalidate, then the last close, with a
 * readahead in flight - a crash in the free list on the threads engine).
 *
 * Part 1: ROUNDS x {open, read 8 KiB at 0, read 8 KiB at 8 KiB (starts a
 * readahead window), invalidate (wait), close}: must not crash (and under
 * ASan, must not touch freed memory); the data read is the file's.
 * Part 2: a tiny cache, thread A loops {open X, dirty every page of X,
 * invalidate a random page, close} while thread B reads file Y through the
 * cache, so the evictor keeps taking A's dirty pages as victims; both run
 * for DURATION_MS; then X on the device holds A's last round.
 */
#include "helpers.h"

#include <pthread.h>

#define ROUNDS 1000
#define DURATION_MS 700
#define XPAGES 24

static void part1(uint32_t ps)
{
	t_ctx("part 1, page size %u", ps);
	cio_cache *c = t_cache(ps, 0, 0);
	char *path = t_scratch_path("closebg");
	t_kernel_stamp_file(path, 64 * (int64_t)ps, 5);
	uint8_t *buf = t_alloc(2 * (size_t)ps);
	for (int i = 0; i < ROUNDS; i++) {
		cio_file *f = t_open(c, path, O_RDWR);
		t_read_all(f, buf, 8192, 0, 0);
		CHECK_STAMP(buf, 8192, 0, 5);
		t_read_all(f, buf, 2 * (size_t)ps, 2 * (int64_t)ps, 0);
		CHECK_STAMP(buf, 2 * (size_t)ps, 2 * (uint64_t)ps, 5);
		CHECK_EQ(cio_invalidate(f, 0, 0, CIO_INVAL_WAIT, NULL), 0);
		t_close(f);
	}
	free(buf);
	t_destroy(c);
	t_scratch_remove(path);
}

struct p2 {
	cio_cache *c;
	char *xpath, *ypath;
	uint32_t ps;
	atomic_int stop;
	uint64_t last_seed;
};

static void *dirtier(void *arg)
{
	struct p2 *p = arg;
	size_t len = (size_t)XPAGES * p->ps;
	uint8_t *buf = t_alloc(len);
	uint64_t rnd = t_rand_seed(7), seed = 100;
	while (!atomic_load(&p->stop)) {
		cio_file *f = t_open(p->c, p->xpath, O_RDWR | O_CREAT);
		t_stamp_fill(buf, len, 0, ++seed);
		t_write_all(f, buf, len, 0, 0);
		int64_t pg = (int64_t)t_rand_below(&rnd, XPAGES);
		int r = cio_invalidate(f, pg * p->ps, p->ps, CIO_INVAL_WAIT, NULL);
		CHECK_EQ(r, 0);
		t_close(f);
		p->last_seed = seed;
	}
	free(buf);
	return NULL;
}

static void *reader(void *arg)
{
	struct p2 *p = arg;
	cio_file *f = t_open(p->c, p->ypath, O_RDONLY);
	uint8_t *buf = t_alloc(p->ps);
	uint64_t rnd = t_rand_seed(11);
	while (!atomic_load(&p->stop)) {
		int64_t off = (int64_t)t_rand_below(&rnd, 256) * p->ps;
		t_read_all(f, buf, p->ps, off, 0);
		CHECK_STAMP(buf, p->ps, (uint64_t)off, 9);
	}
	free(buf);
	t_close(f);
	return NULL;
}

static void part2(uint32_t ps)
{
	t_ctx("part 2, page size %u", ps);
	struct p2 p;
	memset(&p, 0, sizeof p);
	p.ps = ps;
	p.c = t_cache(ps, 48 * (uint64_t)ps + (256u << 10), 0);
	p.xpath = t_scratch_path("closebg-x");
	p.ypath = t_scratch_path("closebg-y");
	t_kernel_stamp_file(p.ypath, 256 * (int64_t)ps, 9);
	pthread_t a, b;
	CHECK_EQ(pthread_create(&a, NULL, dirtier, &p), 0);
	CHECK_EQ(pthread_create(&b, NULL, reader, &p), 0);
	t_sleep_ms(DURATION_MS);
	atomic_store(&p.stop, 1);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	CHECK_GT(p.last_seed, 100);
	size_t len = (size_t)XPAGES * ps;
	uint8_t *want = t_alloc(len);
	t_stamp_fill(want, len, 0, p.last_seed);
	CHECK_KERNEL(p.xpath, want, len, 0);
	free(want);
	t_destroy(p.c);
	t_scratch_remove(p.xpath);
	t_scratch_remove(p.ypath);
}

int main(void)
{
	t_init("close_waits_for_background_io", 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		part1(t_page_sizes[i]);
		part2(t_page_sizes[i]);
	}
	return t_pass();
}
