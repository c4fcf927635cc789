/*
 * Readahead: sequential cached reads of a cold file are served mostly by
 * readahead (readahead_pages > 0, misses far fewer than pages read); random
 * single-page reads produce little readahead; readahead_max = 1 turns it off
 * (no readahead pages, one miss per page). Every byte read is checked.
 */
#include "helpers.h"

#define NPAGES 256

struct delta {
	uint64_t hits, misses, ra;
};

static struct delta diff(const struct cio_cache_stats *a,
                         const struct cio_cache_stats *b)
{
	struct delta d = {b->hits - a->hits, b->misses - a->misses,
	                  b->readahead_pages - a->readahead_pages};
	return d;
}

static struct delta sequential(const char *path, uint32_t ps, uint32_t ra_max,
                               size_t chunk)
{
	struct cio_cache_opts o = t_opts(ps, 4ull * NPAGES * ps);
	o.readahead_max = ra_max;
	cio_cache *c = t_cache_opts(&o);
	cio_file *f = t_open(c, path, O_RDONLY);
	uint8_t *buf = t_alloc(chunk);
	struct cio_cache_stats s0 = t_cstats(c);
	for (int64_t off = 0; off < (int64_t)NPAGES * ps; off += (int64_t)chunk) {
		t_read_all(f, buf, chunk, off, 0);
		CHECK_STAMP(buf, chunk, (uint64_t)off, 21);
	}
	struct cio_cache_stats s1 = t_cstats(c);
	CHECK_ULE(s1.pages_used, s1.pages_total);
	t_close(f);
	t_destroy(c);
	free(buf);
	return diff(&s0, &s1);
}

static struct delta random_reads(const char *path, uint32_t ps)
{
	cio_cache *c = t_cache(ps, 4ull * NPAGES * ps, 0);
	cio_file *f = t_open(c, path, O_RDONLY);
	uint8_t *buf = t_alloc(ps);
	/* a fixed pseudo-random permutation of the pages, avoiding p+1 after
	 * p so that no two consecutive reads look like a stream */
	int64_t perm[NPAGES];
	for (int i = 0; i < NPAGES; i++)
		perm[i] = i;
	uint64_t rs = t_rand_seed(ps + 5);
	for (int i = NPAGES - 1; i > 0; i--) {
		int j = (int)t_rand_below(&rs, (uint64_t)i + 1);
		int64_t t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (int i = 1; i < NPAGES; i++) {
		int64_t d = perm[i] - perm[i - 1];
		if ((d == 1 || d == -1) && i + 1 < NPAGES) {
			int64_t t = perm[i];
			perm[i] = perm[i + 1];
			perm[i + 1] = t;
		}
	}
	struct cio_cache_stats s0 = t_cstats(c);
	for (int i = 0; i < NPAGES / 2; i++) {
		int64_t off = perm[i] * ps;
		t_read_all(f, buf, ps, off, 0);
		CHECK_STAMP(buf, ps, (uint64_t)off, 21);
	}
	struct cio_cache_stats s1 = t_cstats(c);
	t_close(f);
	t_destroy(c);
	free(buf);
	return diff(&s0, &s1);
}

static void run(uint32_t ps)
{
	char *path = t_scratch_path("ra");
	t_kernel_stamp_file(path, (int64_t)NPAGES * ps, 21);

	t_ctx("ps=%u sequential, page chunks", ps);
	struct delta d = sequential(path, ps, 0, ps);
	t_log("ps=%u sequential (page chunks): hits %llu misses %llu readahead"
	      " %llu",
	      ps, (unsigned long long)d.hits, (unsigned long long)d.misses,
	      (unsigned long long)d.ra);
	CHECK_GT(d.ra, 0);
	CHECK_GE(d.ra, NPAGES / 2);
	CHECK_LE(d.misses, NPAGES / 8);
	CHECK_GE(d.hits + d.misses, NPAGES);
	uint64_t seq_ra = d.ra;

	t_ctx("ps=%u sequential, small unaligned-size chunks", ps);
	d = sequential(path, ps, 0, ps / 4);
	t_log("ps=%u sequential (quarter-page chunks): hits %llu misses %llu"
	      " readahead %llu",
	      ps, (unsigned long long)d.hits, (unsigned long long)d.misses,
	      (unsigned long long)d.ra);
	CHECK_GE(d.ra, NPAGES / 2);
	CHECK_LE(d.misses, NPAGES / 8);

	t_ctx("ps=%u random", ps);
	d = random_reads(path, ps);
	t_log("ps=%u random: hits %llu misses %llu readahead %llu", ps,
	      (unsigned long long)d.hits, (unsigned long long)d.misses,
	      (unsigned long long)d.ra);
	CHECK_LE(d.ra, NPAGES / 8);
	CHECK_LT(d.ra * 4, seq_ra);
	CHECK_GE(d.misses, NPAGES / 4);

	t_ctx("ps=%u readahead_max = 1", ps);
	d = sequential(path, ps, 1, ps);
	t_log("ps=%u readahead off: hits %llu misses %llu readahead %llu", ps,
	      (unsigned long long)d.hits, (unsigned long long)d.misses,
	      (unsigned long long)d.ra);
	CHECK_EQ(d.ra, 0);
	CHECK_EQ(d.misses, NPAGES);

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
