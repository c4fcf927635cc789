/*
 * G3(b) - invalidation never drops a dirty page and goes over the whole
 * range: three dirty pages, the middle one pinned (read pin).
 *
 *  - cio_invalidate(range) == -EBUSY, res: kept 1, first_kept = offset of the
 *    middle page, first_error -EBUSY, dropped 2, laundered 2; the file has
 *    exactly one cached page left and it is still dirty; the pinned bytes are
 *    intact. After unpin + cio_fsync every byte of the three pages is on the
 *    device (plain kernel pread).
 *  - with CIO_INVAL_WAIT from another thread: the call does not return while
 *    the pin is held (checked with a flag set before the unpin, not with
 *    clocks), then returns 0 with dropped 3, laundered 3, kept 0.
 */
#include "helpers.h"

#include <pthread.h>

#define NP 3

struct waiter {
	cio_file *f;
	int64_t len;
	atomic_int started;
	atomic_int unpin_begun; /* set by the pin holder just before unpin */
	atomic_int returned;
	atomic_int saw_unpin;   /* unpin_begun as seen when invalidate returned */
	int rc;                 /* written by waiter, read after join */
	struct cio_inval_result res;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	t_ctx("waiter thread");
	atomic_store(&w->started, 1);
	int rc = cio_invalidate(w->f, 0, w->len, CIO_INVAL_WAIT, &w->res);
	atomic_store(&w->saw_unpin, atomic_load(&w->unpin_begun));
	w->rc = rc;
	atomic_store(&w->returned, 1);
	return NULL;
}

static void setup_dirty(cio_file *f, uint32_t ps, uint8_t *model,
                        uint64_t seed)
{
	size_t len = (size_t)NP * ps;
	t_stamp_fill(model, len, 0, seed);
	t_write_all(f, model, len, 0, 0);
	struct cio_file_stats fs = t_fstats(f);
	CHECK_EQ(fs.dirty_pages, NP);
	CHECK_EQ(fs.cached_pages, NP);
}

static void check_pin(const cio_pin *pin, const uint8_t *model, int64_t off,
                      size_t len)
{
	CHECK_EQ(pin->off, off);
	CHECK_EQ(pin->len, len);
	int64_t o = off;
	for (int s = 0; s < pin->nseg; s++) {
		CHECK_MEM((uint8_t *)pin->seg[s].iov_base, model + o,
		          pin->seg[s].iov_len, o);
		o += (int64_t)pin->seg[s].iov_len;
	}
	CHECK_EQ(o, off + (int64_t)len);
}

static void run(uint32_t ps)
{
	size_t len = (size_t)NP * ps;
	uint8_t *model = t_alloc(len), *buf = t_alloc(len);
	char *path = t_scratch_path("g3b");
	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);

	/* --- skip: invalidate without waiting ---------------------------- */
	t_ctx("ps=%u no-wait", ps);
	setup_dirty(f, ps, model, 31);
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	int n = cio_pin_range(f, ps, ps, 0, &pin);
	CHECK_EQ(n, 1);
	check_pin(&pin, model, ps, ps);

	struct cio_inval_result res;
	memset(&res, 0xa5, sizeof res);
	int rc = cio_invalidate(f, 0, (int64_t)len, 0, &res);
	CHECK_EQ(rc, -EBUSY);
	CHECK_EQ(res.kept, 1);
	CHECK_EQ(res.first_kept, (int64_t)ps);
	CHECK_EQ(res.first_error, -EBUSY);
	CHECK_EQ(res.dropped, 2);
	CHECK_EQ(res.laundered, 2);
	struct cio_file_stats fs = t_fstats(f);
	CHECK_EQ(fs.cached_pages, 1);
	CHECK_EQ(fs.dirty_pages, 1);
	check_pin(&pin, model, ps, ps);
	/* The two laundered pages are on the device already. */
	CHECK_KERNEL(path, model, ps, 0);
	CHECK_KERNEL(path, model + 2 * ps, ps, 2 * (int64_t)ps);
	CHECK_EQ(cio_unpin(&pin), 0);
	CHECK_EQ(t_fstats(f).dirty_pages, 1);

	/* Every path still sees everything before the fsync. */
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_EQ(t_fstats(f).dirty_pages, 0);
	CHECK_KERNEL(path, model, len, 0);
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, CIO_RW_DIRECT);
	CHECK_MEM(buf, model, len, 0);

	/* len 0 = to end of file: the same with the whole-file form. */
	t_ctx("ps=%u no-wait, len 0", ps);
	setup_dirty(f, ps, model, 32);
	memset(&pin, 0, sizeof pin);
	CHECK_EQ(cio_pin_range(f, ps, ps, 0, &pin), 1);
	memset(&res, 0xa5, sizeof res);
	CHECK_EQ(cio_invalidate(f, 0, 0, 0, &res), -EBUSY);
	CHECK_EQ(res.kept, 1);
	CHECK_EQ(res.first_kept, (int64_t)ps);
	CHECK_EQ(res.dropped, 2);
	CHECK_EQ(res.laundered, 2);
	CHECK_EQ(t_fstats(f).dirty_pages, 1);
	CHECK_EQ(cio_unpin(&pin), 0);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_KERNEL(path, model, len, 0);

	/* --- wait: CIO_INVAL_WAIT from another thread --------------------- */
	t_ctx("ps=%u CIO_INVAL_WAIT", ps);
	setup_dirty(f, ps, model, 33);
	memset(&pin, 0, sizeof pin);
	CHECK_EQ(cio_pin_range(f, ps, ps, 0, &pin), 1);
	struct waiter w;
	memset(&w, 0, sizeof w);
	w.f = f;
	w.len = (int64_t)len;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, waiter_main, &w), 0);
	while (!atomic_load(&w.started))
		t_sleep_ms(1);
	t_sleep_ms(100); /* give it time to reach the pinned page */
	CHECK_EQ(atomic_load(&w.returned), 0); /* it cannot have returned */
	check_pin(&pin, model, ps, ps);
	atomic_store(&w.unpin_begun, 1);
	CHECK_EQ(cio_unpin(&pin), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(atomic_load(&w.saw_unpin), 1);
	CHECK_EQ(w.rc, 0);
	CHECK_EQ(w.res.kept, 0);
	CHECK_EQ(w.res.first_kept, -1);
	CHECK_EQ(w.res.dropped, 3);
	CHECK_EQ(w.res.laundered, 3);
	fs = t_fstats(f);
	CHECK_EQ(fs.cached_pages, 0);
	CHECK_EQ(fs.dirty_pages, 0);
	CHECK_KERNEL(path, model, len, 0);
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);

	t_close(f);
	t_destroy(c);
	free(model);
	free(buf);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++)
		run(t_page_sizes[i]);
	return t_pass();
}
