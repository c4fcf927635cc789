/*
 * G6 - write-back errors are kept and reported to every handle, and the
 * pages whose write-back failed stay dirty and are never lost.
 *
 * Part 1 (errseq): handles h1, h2 on one file; cached write of page P; a
 * fault rule fails the next write of P with EIO. fsync(h1) == -EIO, P is still
 * dirty; a handle h3 opened after h1 saw the error does not see it
 * (fsync(h3) == 0 - P is now written, since the fault fired only once);
 * fsync(h1) again == 0; fsync(h2) == -EIO (it had not seen it), then 0. The
 * data of P (and of the pages around it) is on the device.
 *
 * Part 2 (full cache): a tiny cache, every write fails (count -1). Cached
 * writes of new pages eventually fail with a negative error instead of
 * dropping dirty data; once the rule is cleared, fsync succeeds (after at
 * most one report of the recorded error) and every byte that was accepted is
 * on the device.
 */
#include "helpers.h"

#define NPAGES 4
#define P 2

static void part1(uint32_t ps)
{
	char *path = t_scratch_path("g6a");
	size_t fsize = (size_t)NPAGES * ps;
	uint8_t *model = t_alloc(fsize);
	cio_cache *c = t_cache(ps, 0, 1);
	cio_file *h1 = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	cio_file *h2 = t_open(c, path, O_RDWR);
	t_ctx("ps=%u errseq", ps);

	/* A clean baseline on the device, seen by both handles. */
	t_stamp_fill(model, fsize, 0, 5);
	t_write_all(h1, model, fsize, 0, 0);
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(cio_fsync(h2), 0);
	CHECK_KERNEL(path, model, fsize, 0);

	/* Page P dirty with new data (and page 0 too, which is not faulted). */
	int64_t p_off = (int64_t)P * ps;
	t_stamp_fill(model + p_off, ps, (uint64_t)p_off, 6);
	t_write_all(h2, model + p_off, ps, p_off, 0);
	t_stamp_fill(model, 100, 0, 7);
	t_write_all(h1, model, 100, 0, 0);
	CHECK_EQ(t_fstats(h1).dirty_pages, 2);

	struct cio_fault_rule rule;
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_WRITE;
	rule.file = h1;
	rule.start = p_off;
	rule.end = p_off + (int64_t)ps;
	rule.error = EIO;
	rule.count = 1;
	int id = cio_fault_add(c, &rule);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));

	struct cio_cache_stats s0 = t_cstats(c);
	CHECK_EQ(cio_fsync(h1), -EIO);
	CHECK_EQ(cio_fault_fired(c, id), 1);
	struct cio_file_stats fs = t_fstats(h1);
	CHECK_EQ(fs.dirty_pages, 1); /* P kept dirty, page 0 written */
	CHECK_GE(fs.writeback_errors, 1);
	struct cio_cache_stats s1 = t_cstats(c);
	CHECK_GE(s1.writeback_errors - s0.writeback_errors, 1);
	CHECK_EQ(s1.pages_dirty, 1);
	/* The cached data of P is intact. */
	uint8_t *buf = t_alloc(fsize);
	t_read_all(h1, buf, fsize, 0, 0);
	CHECK_MEM(buf, model, fsize, 0);

	/* h3 is opened after h1 saw the error: it does not see it. */
	cio_file *h3 = t_open(c, path, O_RDWR);
	CHECK_EQ(cio_fsync(h3), 0);
	CHECK_EQ(t_fstats(h3).dirty_pages, 0); /* retried: P written now */
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(cio_fsync(h2), -EIO); /* h2 had not seen it */
	CHECK_EQ(cio_fsync(h2), 0);
	CHECK_EQ(cio_fsync(h3), 0);
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(cio_fault_fired(c, id), 1);
	CHECK_KERNEL(path, model, fsize, 0);

	/* Same again, but the retry happens through h1 itself. */
	t_ctx("ps=%u errseq, retry by the seeing handle", ps);
	t_stamp_fill(model + p_off, ps, (uint64_t)p_off, 8);
	t_write_all(h3, model + p_off, ps, p_off, 0);
	rule.count = 1;
	int id2 = cio_fault_add(c, &rule);
	CHECK(id2 >= 0);
	CHECK_EQ(cio_fsync(h1), -EIO);
	CHECK_EQ(t_fstats(h1).dirty_pages, 1);
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(t_fstats(h1).dirty_pages, 0);
	CHECK_EQ(cio_fsync(h3), -EIO);
	CHECK_EQ(cio_fsync(h2), -EIO);
	CHECK_EQ(cio_fsync(h2), 0);
	CHECK_EQ(cio_fsync(h3), 0);
	CHECK_KERNEL(path, model, fsize, 0);

	CHECK_EQ(cio_fault_clear(c, -1), 0);
	t_close(h3);
	t_close(h2);
	t_close(h1);
	t_destroy(c);
	free(buf);
	free(model);
	t_scratch_remove(path);
}

static void part2(uint32_t ps)
{
	char *path = t_scratch_path("g6b");
	const uint64_t budget = 32ull * ps;
	struct cio_cache_opts o = t_opts(ps, budget);
	o.fault_inject = 1;
	o.readahead_max = 1;
	cio_cache *c = t_cache_opts(&o);
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	struct cio_cache_stats cs = t_cstats(c);
	t_ctx("ps=%u full cache (pages_total %llu)", ps,
	      (unsigned long long)cs.pages_total);
	CHECK_GE(cs.pages_total, 16);
	CHECK_ULE(cs.pages_total * ps, budget);

	struct cio_fault_rule rule;
	memset(&rule, 0, sizeof rule);
	rule.ops = CIO_FAULT_WRITE;
	rule.error = EIO;
	rule.count = -1;
	int id = cio_fault_add(c, &rule);
	CHECKF(id >= 0, "cio_fault_add = %d (%s)", id, t_errname(id));

	uint64_t max_pages = 4 * cs.pages_total + 8;
	size_t mlen = (size_t)max_pages * ps;
	uint8_t *model = t_alloc(mlen);
	uint8_t *buf = t_alloc(ps);
	int64_t accepted = 0; /* bytes [0, accepted) were accepted */
	int failed = 0;
	for (uint64_t p = 0; p < max_pages; p++) {
		int64_t off = (int64_t)(p * ps);
		t_stamp_fill(model + off, ps, (uint64_t)off, 9);
		ssize_t r = cio_write(f, model + off, ps, off, 0);
		if (r < 0) {
			t_log("ps=%u: cached write of page %llu failed with %zd"
			      " (%s) with %llu pages total",
			      ps, (unsigned long long)p, r, t_errname(r),
			      (unsigned long long)cs.pages_total);
			failed = 1;
			break;
		}
		CHECK_LE(r, (ssize_t)ps);
		accepted = off + r;
		if (r < (ssize_t)ps) {
			/* a short write: the next one must fail */
			r = cio_write(f, model + off + r, ps - (size_t)r, off + r,
			              0);
			CHECKF(r < 0, "write after a short write = %zd", r);
			failed = 1;
			break;
		}
	}
	CHECKF(failed, "%llu pages of cached writes all succeeded in a cache of"
	       " %llu pages whose write-back always fails",
	       (unsigned long long)max_pages,
	       (unsigned long long)cs.pages_total);
	/* Still failing while the fault stays: another new page. */
	int64_t far = (int64_t)t_align_up((uint64_t)accepted, ps) + 2 * (int64_t)ps;
	t_stamp_fill(buf, ps, (uint64_t)far, 10);
	ssize_t r = cio_write(f, buf, ps, far, 0);
	CHECKF(r < 0, "a second cached write of a new page (off %lld) = %zd",
	       (long long)far, r);
	if (cio_size(f) != accepted)
		t_log("ps=%u: note: size %lld after failed writes, %lld accepted", ps,
		      (long long)cio_size(f), (long long)accepted);
	CHECK_GE(cio_size(f), accepted);
	cs = t_cstats(c);
	CHECK_ULE(cs.pages_used, cs.pages_total);
	CHECK_ULE(cs.pages_dirty, cs.pages_total);
	CHECK_ULE(cs.memory_bytes, budget);
	CHECK_GE(cs.writeback_errors, 1);
	/* Everything accepted is still readable from the cache. */
	for (int64_t off = 0; off < accepted; off += ps) {
		size_t n = (size_t)(accepted - off) < ps ? (size_t)(accepted - off)
		                                         : ps;
		ssize_t rr = cio_read(f, buf, n, off, 0);
		CHECKF(rr == (ssize_t)n, "cached read at %lld = %zd (%s)",
		       (long long)off, rr, t_errname(rr));
		CHECK_MEM(buf, model + off, n, off);
	}
	/* fsync with the fault still on fails and keeps the data. */
	int rc = cio_fsync(f);
	CHECKF(rc < 0, "fsync with every write failing = %d", rc);

	CHECK_EQ(cio_fault_clear(c, id), 0);
	rc = cio_fsync(f);
	if (rc != 0) {
		/* at most one more report of an error recorded earlier */
		CHECK_EQ(rc, -EIO);
		rc = cio_fsync(f);
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(t_fstats(f).dirty_pages, 0);
	CHECK_EQ(t_kernel_size(path), cio_size(f));
	CHECK_KERNEL(path, model, (size_t)accepted, 0);
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
	for (int i = 0; i < T_NPAGE_SIZES; i++) {
		part1(t_page_sizes[i]);
		part2(t_page_sizes[i]);
	}
	return t_pass();
}
