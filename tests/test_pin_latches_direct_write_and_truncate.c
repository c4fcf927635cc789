/*
 * G7 - pins are latches: a direct write or a truncate over a pinned page
 * waits for the unpin (or fails with -EAGAIN under a no-wait flag), and never
 * frees or overwrites memory a pin points into while it is held.
 *
 * T1 (the main thread) holds a write pin on page P and keeps storing a
 * counter into it. T2 direct-writes P; T3 truncates below P and re-extends.
 * While the pin is held: CIO_RW_NOWAIT / CIO_TRUNC_NOWAIT / CIO_PIN_NOWAIT
 * probes return -EAGAIN and change nothing, and the blocked T2/T3 have not
 * returned. T1 sets a flag just before cio_unpin(); T2/T3 read it right after
 * their call returns and must see it set (an ordering check, no clocks).
 * Both orders are run: T2 (then T3 on a second pin) and T3 (then T2). After
 * each step cached, direct and pinned reads agree with the model: T2's data
 * after T2, zeros over the cut range after T3.
 */
#include "helpers.h"

#include <pthread.h>

#define NPAGES 4
#define P 2

enum op { OP_DIRECT_WRITE, OP_TRUNCATE };

struct blocked {
	cio_file *f;
	enum op op;
	const uint8_t *data; /* OP_DIRECT_WRITE: page P */
	uint32_t ps;
	int64_t cut, full;   /* OP_TRUNCATE: down to cut, up to full */
	atomic_int started;
	atomic_int returned;
	atomic_int *unpin_begun;
	atomic_int saw_unpin;
	long long rc;        /* read after join */
	long long rc_up;
};

static void *blocked_main(void *arg)
{
	struct blocked *b = arg;
	t_ctx("blocked %s", b->op == OP_DIRECT_WRITE ? "direct write"
	                                            : "truncate");
	atomic_store(&b->started, 1);
	long long rc;
	if (b->op == OP_DIRECT_WRITE)
		rc = cio_write(b->f, b->data, b->ps, (int64_t)P * b->ps,
		               CIO_RW_DIRECT);
	else
		rc = cio_truncate(b->f, b->cut, 0);
	atomic_store(&b->saw_unpin, atomic_load(b->unpin_begun));
	atomic_store(&b->returned, 1);
	b->rc = rc;
	if (b->op == OP_TRUNCATE)
		b->rc_up = cio_truncate(b->f, b->full, 0);
	return NULL;
}

static void check_all_paths(cio_file *f, const uint8_t *model, size_t len)
{
	uint8_t *buf = t_alloc(len);
	CHECK_EQ(cio_size(f), (int64_t)len);
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);
	memset(buf, 0xee, len);
	t_read_all(f, buf, len, 0, CIO_RW_DIRECT);
	CHECK_MEM(buf, model, len, 0);
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	int n = cio_pin_range(f, 0, len, 0, &pin);
	CHECKF(n >= 1, "read pin = %d (%s)", n, t_errname(n));
	int64_t o = 0;
	for (int s = 0; s < pin.nseg; s++) {
		CHECK_MEM((uint8_t *)pin.seg[s].iov_base, model + o,
		          pin.seg[s].iov_len, o);
		o += (int64_t)pin.seg[s].iov_len;
	}
	CHECK_EQ(o, (int64_t)len);
	CHECK_EQ(cio_unpin(&pin), 0);
	free(buf);
}

/* Hold a write pin on P, store counters into it, run @op in a thread,
 * probe the no-wait forms, check the op waited, unpin, join. */
static void pinned_step(cio_file *f, uint32_t ps, enum op op,
                        const uint8_t *b_data, int64_t cut, uint8_t *model,
                        uint8_t *scratch)
{
	size_t fsize = (size_t)NPAGES * ps;
	int64_t p_off = (int64_t)P * ps;
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	int n = cio_pin_range(f, p_off, ps, CIO_PIN_WRITE, &pin);
	CHECKF(n == 1, "write pin of P = %d (%s)", n, t_errname(n));
	CHECK_EQ(pin.off, p_off);
	CHECK_EQ(pin.len, ps);
	CHECK_EQ(pin.seg[0].iov_len, ps);
	uint8_t *pp = pin.seg[0].iov_base;
	CHECK_MEM(pp, model + p_off, ps, p_off); /* the pin shows the data */

	/* Store a counter through the pin (it becomes the page's data). */
	uint64_t counter = 0xc0c0000000000000ull;
	for (size_t i = 0; i < ps; i += 8) {
		uint64_t v = counter + i;
		memcpy(pp + i, &v, 8);
	}
	memcpy(model + p_off, pp, ps);

	/* No-wait probes: -EAGAIN, nothing changes. */
	t_stamp_fill(scratch, ps, (uint64_t)p_off, 4242);
	CHECK_EQ(cio_write(f, scratch, ps, p_off,
	                   CIO_RW_DIRECT | CIO_RW_NOWAIT),
	         -EAGAIN);
	CHECK_EQ(cio_truncate(f, cut, CIO_TRUNC_NOWAIT), -EAGAIN);
	CHECK_EQ(cio_size(f), (int64_t)fsize);
	cio_pin probe;
	memset(&probe, 0, sizeof probe);
	CHECK_EQ(cio_pin_range(f, p_off, 1, CIO_PIN_NOWAIT, &probe), -EAGAIN);
	CHECK_MEM(pp, model + p_off, ps, p_off);

	atomic_int unpin_begun;
	atomic_init(&unpin_begun, 0);
	struct blocked b;
	memset(&b, 0, sizeof b);
	b.f = f;
	b.op = op;
	b.data = b_data;
	b.ps = ps;
	b.cut = cut;
	b.full = (int64_t)fsize;
	b.unpin_begun = &unpin_begun;
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, blocked_main, &b), 0);
	while (!atomic_load(&b.started))
		t_sleep_ms(1);
	/* Keep the pin ~100 ms, storing a running counter into the page. */
	for (int i = 0; i < 100; i++) {
		uint64_t v = counter + (uint64_t)i;
		memcpy(pp, &v, 8);
		t_sleep_ms(1);
	}
	memcpy(model + p_off, pp, 8);
	CHECK_EQ(atomic_load(&b.returned), 0);  /* it must still wait */
	CHECK_MEM(pp, model + p_off, ps, p_off); /* the memory is intact */
	atomic_store(&unpin_begun, 1);
	CHECK_EQ(cio_unpin(&pin), 0);
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(atomic_load(&b.saw_unpin), 1);
	if (op == OP_DIRECT_WRITE) {
		CHECK_EQ(b.rc, (long long)ps);
		memcpy(model + p_off, b_data, ps);
	} else {
		CHECK_EQ(b.rc, 0);
		CHECK_EQ(b.rc_up, 0);
		memset(model + cut, 0, fsize - (size_t)cut);
	}
}

static void run_order(uint32_t ps, int t3_first)
{
	char *path = t_scratch_path("g7");
	size_t fsize = (size_t)NPAGES * ps;
	int64_t p_off = (int64_t)P * ps;
	int64_t cut = p_off - 100; /* inside the page before P */
	t_kernel_stamp_file(path, (int64_t)fsize, 3);
	uint8_t *model = t_alloc(fsize), *scratch = t_alloc(ps);
	uint8_t *b_data = t_alloc(ps);
	t_stamp_fill(model, fsize, 0, 3);
	t_stamp_fill(b_data, ps, (uint64_t)p_off, 77);

	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, path, O_RDWR);
	enum op first = t3_first ? OP_TRUNCATE : OP_DIRECT_WRITE;
	enum op second = t3_first ? OP_DIRECT_WRITE : OP_TRUNCATE;

	t_ctx("ps=%u order %s: first step", ps, t3_first ? "T3,T2" : "T2,T3");
	pinned_step(f, ps, first, b_data, cut, model, scratch);
	check_all_paths(f, model, fsize);
	if (first == OP_TRUNCATE) {
		/* the cut range reads as zeros on every path */
		uint8_t *z = t_alloc(fsize);
		t_read_all(f, z, fsize - (size_t)cut, cut, 0);
		CHECK_EQ(t_find_nonzero(z, fsize - (size_t)cut), -1);
		free(z);
	}

	t_ctx("ps=%u order %s: second step", ps, t3_first ? "T3,T2" : "T2,T3");
	pinned_step(f, ps, second, b_data, cut, model, scratch);
	check_all_paths(f, model, fsize);

	CHECK_EQ(cio_fsync(f), 0);
	CHECK_EQ(t_kernel_size(path), (int64_t)fsize);
	CHECK_KERNEL(path, model, fsize, 0);

	/* Stores through a write pin are written back. */
	t_ctx("ps=%u stores through a write pin reach the device", ps);
	cio_pin pin;
	memset(&pin, 0, sizeof pin);
	CHECK_EQ(cio_pin_range(f, 0, 300, CIO_PIN_WRITE, &pin), 1);
	t_stamp_fill(pin.seg[0].iov_base, 300, 0, 55);
	memcpy(model, pin.seg[0].iov_base, 300);
	CHECK_EQ(cio_unpin(&pin), 0);
	CHECK_GE(t_fstats(f).dirty_pages, 1);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_KERNEL(path, model, fsize, 0);
	check_all_paths(f, model, fsize);

	t_close(f);
	t_destroy(c);
	free(model);
	free(scratch);
	free(b_data);
	t_scratch_remove(path);
}

int main(int argc, char **argv)
{
	(void)argc;
	t_init(argv[0], 0);
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		run_order(t_page_sizes[i], 0);
		run_order(t_page_sizes[i], 1);
	}
	return t_pass();
}
