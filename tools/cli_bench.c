/*
 * cli_bench.c - `coherio bench`: coherio side by side with its kernel
 * counterpart, on the same file, in the same run.
 *
 * This file is the driver and the framework; the workloads live in
 * cli_bench_hot.c (hot reads, the scaling curve), cli_bench_io.c (cold
 * direct reads, sequential read), cli_bench_write.c (random write-back, the
 * mixed zipfian load, the cost of coherence) and the plots in cli_plot.c.
 *
 * Method (the same for every workload):
 *  1. Every contestant of a workload runs once per round, on the same file
 *     and the same sequence of offsets (the seed is the round's); the order
 *     alternates (forward on even rounds, backward on odd ones) so that
 *     drift on a shared machine hits both sides. Time-bound workloads (hot
 *     reads, scaling, direct reads, mixed) go further: a round is
 *     BS_SLICES slices, each contestant runs a fifth of its time in each
 *     slice, the order alternating every slice, and the slices add up to
 *     the round's figure; so a burst of load from a neighbour falls on
 *     every side of a ratio alike.
 *  2. A measurement records wall time, process CPU time (getrusage: user +
 *     system of every thread, coherio's completion threads included),
 *     operations, bytes, and latency samples (every op for I/O, every 64th
 *     for hot paths, so the clock does not dominate a 10 ns load; the cost
 *     of one clock read is measured once and subtracted).
 *  3. The report shows the median over rounds of each metric, and for each
 *     comparison the median over rounds of the per-round ratio (the two
 *     sides of a ratio ran back to back in that round).
 *  4. Targets are fixed here (never derived from the machine) and both
 *     sides of every target are measured in the same run. A MISS does not
 *     change the exit code.
 * The report prints the configuration and the machine first and the
 * comparison table last; --json prints the same content as one object.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "cli.h"

#define MiB (1024.0 * 1024.0)

/* ---- small tools ------------------------------------------------------------ */

uint64_t bs_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Lemire's multiply-shift: no division on the hot loop. */
uint64_t bs_below(uint64_t *rnd, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)cli_rand(rnd) * n) >> 64);
}

/* ln(x) for x > 0: x = m * 2^e, m in [1, 2); ln m = 2 atanh((m-1)/(m+1)). */
static double bs_log(double x)
{
	union { double d; uint64_t u; } v = { x };
	int e = (int)((v.u >> 52) & 0x7ff) - 1023;
	double t, t2, sum = 0, term;

	v.u = (v.u & ~(0x7ffull << 52)) | (1023ull << 52);
	t = (v.d - 1) / (v.d + 1);
	t2 = t * t;
	term = t;
	for (int k = 1; k < 60; k += 2) {
		sum += term / k;
		term *= t2;
	}
	return 2 * sum + e * 0.69314718055994530942;
}

/* e^x: x = n ln 2 + r, |r| <= ln 2 / 2; Taylor series for e^r. */
static double bs_exp(double x)
{
	union { double d; uint64_t u; } v;
	double n, r, sum = 1, term = 1;

	if (x > 709)
		return INFINITY;
	if (x < -708)
		return 0;
	n = (double)(long)(x / 0.69314718055994530942 + (x < 0 ? -0.5 : 0.5));
	r = x - n * 0.69314718055994530942;
	for (int k = 1; k < 30; k++) {
		term *= r / k;
		sum += term;
	}
	v.u = (uint64_t)((long)n + 1023) << 52;
	return sum * v.d;
}

/* x^y for x > 0 (the CLI does not link libm). */
double bs_pow(double x, double y)
{
	return x > 0 ? bs_exp(y * bs_log(x)) : 0;
}

int bs_order(int n, int round, int i)
{
	return round % 2 ? n - 1 - i : i;
}

void bs_sleep(double s)
{
	struct timespec ts;

	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Median of the values that are not NaN; NaN if there are none. */
double bs_median(const double *v, int n)
{
	double tmp[BS_MAX_ROUNDS];
	int k = 0;

	for (int i = 0; i < n && i < BS_MAX_ROUNDS; i++)
		if (!isnan(v[i]))
			tmp[k++] = v[i];
	if (!k)
		return NAN;
	qsort(tmp, (size_t)k, sizeof(*tmp), cmp_double);
	return k % 2 ? tmp[k / 2] : (tmp[k / 2 - 1] + tmp[k / 2]) / 2;
}

static const double *side_metric(const struct bs_side *s, int metric)
{
	switch (metric) {
	case BS_M_MBS: return s->sd_mbs;
	case BS_M_CPU: return s->sd_cpu;
	default:       return s->sd_ops;
	}
}

double bs_side_median(const struct bs_side *s, int metric)
{
	return bs_median(side_metric(s, metric), s->sd_nrounds);
}

int bs_fail(struct bs_suite *b, int err, const char *fmt, ...)
{
	va_list ap;

	if (!b->bs_err) {
		b->bs_err = err < 0 ? err : -EIO;
		va_start(ap, fmt);
		vsnprintf(b->bs_errwhat, sizeof(b->bs_errwhat), fmt, ap);
		va_end(ap);
	}
	return b->bs_err;
}

void bs_progress(const struct bs_suite *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cli_progress("  [%3.0f s] %s", cli_now() - b->bs_t0, line);
}

/* ---- groups, sides, comparisons ------------------------------------------ */

int bs_group_add(struct bs_suite *b, const char *id, const char *title, int mbs,
                 const char *extra)
{
	struct bs_group *g;

	if (b->ngr >= BS_MAX_GROUPS)
		return -1;
	g = &b->gr[b->ngr];
	memset(g, 0, sizeof(*g));
	snprintf(g->gr_id, sizeof(g->gr_id), "%s", id);
	snprintf(g->gr_title, sizeof(g->gr_title), "%s", title);
	snprintf(g->gr_extra, sizeof(g->gr_extra), "%s", extra ? extra : "");
	g->gr_mbs = mbs;
	return b->ngr++;
}

void bs_note(struct bs_suite *b, int g, const char *fmt, ...)
{
	struct bs_group *gr;
	size_t used;
	va_list ap;

	if (g < 0 || g >= b->ngr)
		return;
	gr = &b->gr[g];
	used = strlen(gr->gr_note);
	if (used && used + 2 < sizeof(gr->gr_note)) {
		gr->gr_note[used++] = '\n';
		gr->gr_note[used] = '\0';
	}
	va_start(ap, fmt);
	vsnprintf(gr->gr_note + used, sizeof(gr->gr_note) - used, fmt, ap);
	va_end(ap);
}

int bs_side_add(struct bs_suite *b, int g, const char *name, int who, int threads)
{
	struct bs_side *s;

	if (b->nsd >= BS_MAX_SIDES)
		return -1;
	s = &b->sd[b->nsd];
	memset(s, 0, sizeof(*s));
	snprintf(s->sd_name, sizeof(s->sd_name), "%s", name);
	s->sd_group = g;
	s->sd_who = who;
	s->sd_threads = threads;
	for (int i = 0; i < BS_MAX_ROUNDS; i++)
		s->sd_ops[i] = s->sd_mbs[i] = s->sd_cpu[i] = s->sd_p50[i] =
			s->sd_p99[i] = s->sd_extra[i] = NAN;
	return b->nsd++;
}

void bs_cmp_add(struct bs_suite *b, int g, const char *name, int a, int bside,
                int metric, double target, int le)
{
	struct bs_cmp *c;

	if (b->ncm >= BS_MAX_CMPS || a < 0 || bside < 0)
		return;
	c = &b->cm[b->ncm++];
	memset(c, 0, sizeof(*c));
	c->cm_group = g;
	snprintf(c->cm_name, sizeof(c->cm_name), "%s", name);
	c->cm_a = a;
	c->cm_b = bside;
	c->cm_metric = metric;
	c->cm_target = target;
	c->cm_le = le;
	c->cm_ratio = NAN;
	if (target <= 0)
		snprintf(c->cm_tgt, sizeof(c->cm_tgt), "-");
	else if (metric == BS_M_EFF)
		snprintf(c->cm_tgt, sizeof(c->cm_tgt), ">= %.2f/core", target);
	else
		snprintf(c->cm_tgt, sizeof(c->cm_tgt), "%s %.2fx", le ? "<=" : ">=",
		         target);
}

/* Per round ratio of the comparison (or NaN), then the median. */
static void cmp_compute(struct bs_suite *b, struct bs_cmp *c)
{
	const struct bs_side *a = &b->sd[c->cm_a], *k = &b->sd[c->cm_b];
	const double *va = side_metric(a, c->cm_metric == BS_M_EFF ? BS_M_OPS : c->cm_metric);
	const double *vb = side_metric(k, c->cm_metric == BS_M_EFF ? BS_M_OPS : c->cm_metric);
	double r[BS_MAX_ROUNDS];
	int n = a->sd_nrounds < k->sd_nrounds ? a->sd_nrounds : k->sd_nrounds;

	for (int i = 0; i < n; i++) {
		r[i] = NAN;
		if (isnan(va[i]) || isnan(vb[i]) || vb[i] <= 0)
			continue;
		r[i] = va[i] / vb[i];
		if (c->cm_metric == BS_M_EFF)
			r[i] = a->sd_threads > 1 ?
			       (r[i] - 1) / (double)(a->sd_threads - 1) : NAN;
	}
	c->cm_ratio = bs_median(r, n);
	if (isnan(c->cm_ratio))
		c->cm_verdict = BS_V_NA;
	else if (c->cm_target <= 0)
		c->cm_verdict = BS_V_INFO;
	else if (c->cm_le)
		c->cm_verdict = c->cm_ratio <= c->cm_target ? BS_V_PASS : BS_V_MISS;
	else
		c->cm_verdict = c->cm_ratio >= c->cm_target ? BS_V_PASS : BS_V_MISS;
}

static const char *verdict_name(int v)
{
	switch (v) {
	case BS_V_PASS: return "PASS";
	case BS_V_MISS: return "MISS";
	case BS_V_NA:   return "n/a";
	default:        return "info";
	}
}

static const char *metric_name(int m)
{
	switch (m) {
	case BS_M_MBS: return "MB/s";
	case BS_M_CPU: return "CPU/op";
	case BS_M_EFF: return "per core";
	default:       return "ops/s";
	}
}

/* ---- measurements -------------------------------------------------------- */

#define MEAS_CAP 65536u     /* latency samples kept per measurement      */
#define POOL_CAP 120000u    /* latency samples kept per side (plots)     */

int bs_meas_init(struct bs_meas *m, const struct bs_suite *b, unsigned stride)
{
	memset(m, 0, sizeof(*m));
	m->ms_cap = MEAS_CAP;
	m->ms_lat = malloc(m->ms_cap * sizeof(*m->ms_lat));
	m->ms_stride = m->ms_stride0 = stride ? stride : 1;
	m->ms_clock_ns = b->bs_clock_ns;
	return m->ms_lat ? 0 : -ENOMEM;
}

void bs_meas_free(struct bs_meas *m)
{
	free(m->ms_lat);
	m->ms_lat = NULL;
}

void bs_meas_start(struct bs_meas *m)
{
	m->ms_ops = m->ms_bytes = 0;
	m->ms_nlat = 0;
	m->ms_tick = 0;
	m->ms_stride = m->ms_stride0;
	m->ms_cpu0 = cpu_seconds();
	m->ms_t0 = cli_now();
}

void bs_meas_stop(struct bs_meas *m)
{
	m->ms_t1 = cli_now();
	m->ms_cpu1 = cpu_seconds();
}

/* Keep every other sample when full and time half as often: the samples
 * stay evenly spread over the measurement. */
static void meas_decimate(struct bs_meas *m)
{
	size_t j = 0;

	for (size_t i = 0; i < m->ms_nlat; i += 2)
		m->ms_lat[j++] = m->ms_lat[i];
	m->ms_nlat = j;
	m->ms_stride *= 2;
}

void bs_meas_lat(struct bs_meas *m, uint64_t ns)
{
	if (!m->ms_lat)
		return;
	if (m->ms_nlat == m->ms_cap)
		meas_decimate(m);
	m->ms_lat[m->ms_nlat++] = ns > m->ms_clock_ns ? ns - m->ms_clock_ns : 0;
}

void bs_meas_merge(struct bs_meas *dst, const struct bs_meas *src)
{
	dst->ms_ops += src->ms_ops;
	dst->ms_bytes += src->ms_bytes;
	for (size_t i = 0; i < src->ms_nlat; i++) {
		if (dst->ms_nlat == dst->ms_cap)
			meas_decimate(dst);
		dst->ms_lat[dst->ms_nlat++] = src->ms_lat[i];
	}
}

void bs_meas_clear(struct bs_meas *m)
{
	m->ms_t0 = m->ms_t1 = m->ms_cpu0 = m->ms_cpu1 = 0;
	m->ms_ops = m->ms_bytes = 0;
	m->ms_nlat = 0;
}

void bs_meas_add(struct bs_meas *dst, const struct bs_meas *src)
{
	dst->ms_t1 += src->ms_t1 - src->ms_t0;
	dst->ms_cpu1 += src->ms_cpu1 - src->ms_cpu0;
	bs_meas_merge(dst, src);
}

static double pct(const uint64_t *sorted, size_t n, double p)
{
	size_t i;

	if (!n)
		return NAN;
	i = (size_t)(p * (double)n); /* nearest rank: ceil(p n) */
	if ((double)i < p * (double)n)
		i++;
	return (double)sorted[i ? i - 1 : 0];
}

void bs_record(struct bs_suite *b, int side, int round, const struct bs_meas *m,
               double extra)
{
	struct bs_side *s;
	double wall = m->ms_t1 - m->ms_t0;
	uint64_t *tmp;

	if (side < 0 || side >= b->nsd || round >= BS_MAX_ROUNDS || wall <= 0)
		return;
	s = &b->sd[side];
	s->sd_ops[round] = (double)m->ms_ops / wall;
	s->sd_mbs[round] = (double)m->ms_bytes / wall / 1e6;
	s->sd_cpu[round] = m->ms_ops ? (m->ms_cpu1 - m->ms_cpu0) * 1e9 /
	                               (double)m->ms_ops : NAN;
	s->sd_extra[round] = extra;
	if (round + 1 > s->sd_nrounds)
		s->sd_nrounds = round + 1;
	if (!m->ms_nlat)
		return;
	tmp = malloc(m->ms_nlat * sizeof(*tmp));
	if (!tmp)
		return;
	memcpy(tmp, m->ms_lat, m->ms_nlat * sizeof(*tmp));
	qsort(tmp, m->ms_nlat, sizeof(*tmp), cmp_u64);
	s->sd_p50[round] = pct(tmp, m->ms_nlat, 0.50);
	s->sd_p99[round] = pct(tmp, m->ms_nlat, 0.99);
	free(tmp);

	/* Pool an even share of each round's samples for the plots. */
	if (!s->sd_lat) {
		s->sd_lat_cap = POOL_CAP;
		s->sd_lat = malloc(s->sd_lat_cap * sizeof(*s->sd_lat));
		if (!s->sd_lat)
			return;
	}
	size_t share = s->sd_lat_cap / (size_t)(b->bs_rounds ? b->bs_rounds : 1);
	size_t step = m->ms_nlat > share ? (m->ms_nlat + share - 1) / share : 1;
	for (size_t i = 0; i < m->ms_nlat && s->sd_nlat < s->sd_lat_cap; i += step)
		s->sd_lat[s->sd_nlat++] = m->ms_lat[i];
}

/* ---- caches and warming -------------------------------------------------------- */

uint64_t bs_cache_budget(uint64_t bytes)
{
	uint64_t pages = (bytes + 4095) / 4096;

	/* a frame, 64 bytes of bookkeeping per page, readahead slack */
	return pages * (4096 + 64) + (8u << 20);
}

int bs_cache_open(struct bs_suite *b, uint64_t budget, cio_cache **c, cio_file **f)
{
	struct cio_cache_opts co;
	struct cio_cache_stats st;
	int r;

	memset(&co, 0, sizeof(co));
	co.memory_bytes = budget;
	*f = NULL;
	r = cio_cache_create(c, &co);
	if (r < 0)
		return bs_fail(b, r, "cio_cache_create(%llu MiB)",
		               (unsigned long long)(budget >> 20));
	r = cio_open(*c, b->bs_path, O_RDWR, 0, f);
	if (r < 0) {
		cio_cache_destroy(*c);
		*c = NULL;
		return bs_fail(b, r, "cio_open(%s)", b->bs_path);
	}
	if (cio_cache_stats(*c, &st) == 0 && st.engine && !b->bs_engine[0]) {
		struct cio_file_stats fs;

		snprintf(b->bs_engine, sizeof(b->bs_engine), "%s", st.engine);
		if (cio_file_stats(*f, &fs) == 0)
			b->bs_cio_direct = fs.direct_io;
	}
	return 0;
}

int bs_cache_close(struct bs_suite *b, cio_cache *c, cio_file *f)
{
	int r = 0, r2;

	if (f) {
		r = cio_close(f);
		if (r < 0)
			bs_fail(b, r, "cio_close");
	}
	if (c) {
		r2 = cio_cache_destroy(c);
		if (r2 < 0 && !r)
			r = bs_fail(b, r2, "cio_cache_destroy");
	}
	return r;
}

#define WARM_CHUNK (1u << 20)

int bs_warm_cio(cio_file *f, uint64_t len)
{
	unsigned char *buf = malloc(WARM_CHUNK);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < len && !r; off += WARM_CHUNK) {
		size_t n = len - off < WARM_CHUNK ? (size_t)(len - off) : WARM_CHUNK;
		ssize_t got = cio_read(f, buf, n, (int64_t)off, 0);

		if (got != (ssize_t)n)
			r = got < 0 ? (int)got : -EIO;
	}
	free(buf);
	return r;
}

int bs_warm_kernel(int fd, uint64_t len)
{
	unsigned char *buf = malloc(WARM_CHUNK);
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < len && !r; off += WARM_CHUNK) {
		size_t n = len - off < WARM_CHUNK ? (size_t)(len - off) : WARM_CHUNK;
		ssize_t got = pread(fd, buf, n, (off_t)off);

		if (got != (ssize_t)n)
			r = got < 0 ? -errno : -EIO;
	}
	free(buf);
	return r;
}

int bs_drop_kernel(int fd, uint64_t off, uint64_t len)
{
	int r;

	if (fdatasync(fd) != 0)
		return -errno;
	r = posix_fadvise(fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	return -r;
}

/* ---- the machine ------------------------------------------------------------ */

static void read_line(const char *path, char *buf, size_t len)
{
	FILE *fp = fopen(path, "r");

	buf[0] = '\0';
	if (!fp)
		return;
	if (!fgets(buf, (int)len, fp))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	fclose(fp);
}

static uint64_t parse_size_k(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s)
		return 0;
	switch (*end) {
	case 'K': case 'k': return (uint64_t)(v * 1024);
	case 'M': case 'm': return (uint64_t)(v * MiB);
	case 'G': case 'g': return (uint64_t)(v * MiB * 1024);
	default:            return (uint64_t)v;
	}
}

/* The largest cache level's size from sysfs, or 0. */
static uint64_t llc_bytes(void)
{
	uint64_t best = 0;
	int best_level = 0;

	for (int i = 0; i < 16; i++) {
		char p[128], v[64];
		int level;

		snprintf(p, sizeof(p), "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
		read_line(p, v, sizeof(v));
		if (!v[0])
			break;
		level = atoi(v);
		snprintf(p, sizeof(p), "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
		read_line(p, v, sizeof(v));
		if (level >= best_level && v[0]) {
			best_level = level;
			best = parse_size_k(v);
		}
	}
	return best;
}

static uint64_t meminfo_kib(const char *key)
{
	char line[256];
	FILE *fp = fopen("/proc/meminfo", "r");
	uint64_t v = 0;
	size_t kl = strlen(key);

	if (!fp)
		return 0;
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtoull(line + kl + 1, NULL, 10);
			break;
		}
	fclose(fp);
	return v;
}

static void cpu_model(char *buf, size_t len)
{
	char line[512];
	FILE *fp = fopen("/proc/cpuinfo", "r");

	snprintf(buf, len, "unknown CPU");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp)) {
		char *colon = strchr(line, ':');

		if (!colon || (strncmp(line, "model name", 10) != 0 &&
		               strncmp(line, "cpu model", 9) != 0))
			continue;
		colon++;
		colon += strspn(colon, " \t");
		colon[strcspn(colon, "\n")] = '\0';
		snprintf(buf, len, "%s", colon);
		break;
	}
	fclose(fp);
}

/* "vda (virtio, rotational 1, scheduler mq-deadline)" for @path's device. */
static void device_of(const char *path, char *buf, size_t len)
{
	struct stat st;
	char p[200], name[128] = "", line[128];
	FILE *fp;

	snprintf(buf, len, "unknown device");
	if (stat(path, &st) != 0)
		return;
	snprintf(p, sizeof(p), "/sys/dev/block/%u:%u/uevent", major(st.st_dev),
	         minor(st.st_dev));
	fp = fopen(p, "r");
	if (!fp)
		return;
	while (fgets(line, sizeof(line), fp))
		if (strncmp(line, "DEVNAME=", 8) == 0) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(name, sizeof(name), "%s", line + 8);
		}
	fclose(fp);
	if (!name[0])
		return;
	char rot[16], sched[128];
	snprintf(p, sizeof(p), "/sys/block/%s/queue/rotational", name);
	read_line(p, rot, sizeof(rot));
	snprintf(p, sizeof(p), "/sys/block/%s/queue/scheduler", name);
	read_line(p, sched, sizeof(sched));
	char *lb = strchr(sched, '['), *rb = lb ? strchr(lb, ']') : NULL;
	if (lb && rb) {
		*rb = '\0';
		memmove(sched, lb + 1, strlen(lb + 1) + 1);
	}
	snprintf(buf, len, "%.40s (rotational %.4s, scheduler %.32s)", name,
	         rot[0] ? rot : "?", sched[0] ? sched : "?");
}

/* The first line @cmd prints; "" if it fails. */
static void command_line(const char *cmd, char *buf, size_t len)
{
	FILE *fp = popen(cmd, "r");

	buf[0] = '\0';
	if (!fp)
		return;
	if (!fgets(buf, (int)len, fp))
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (pclose(fp) != 0)
		buf[0] = '\0';
}

/* The cost of one clock read (median of back-to-back pairs). */
static uint64_t clock_cost(void)
{
	double v[BS_MAX_ROUNDS];

	for (int i = 0; i < 31; i++) {
		uint64_t t0 = bs_ns(), t1 = t0;

		for (int k = 0; k < 1000; k++)
			t1 = bs_ns();
		v[i] = (double)(t1 - t0) / 1000.0;
	}
	return (uint64_t)bs_median(v, 31);
}

static void probe_machine(struct bs_suite *b)
{
	struct utsname u;
	time_t now = time(NULL);
	struct tm tm;

	cli_machine(b->bs_machine, sizeof(b->bs_machine));
	cpu_model(b->bs_cpu, sizeof(b->bs_cpu));
	b->bs_ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
	if (uname(&u) == 0)
		snprintf(b->bs_kernel, sizeof(b->bs_kernel), "%.40s %.60s %.20s",
		         u.sysname, u.release, u.machine);
	snprintf(b->bs_fs, sizeof(b->bs_fs), "%s", cli_fs_name(b->bs_path));
	device_of(b->bs_path, b->bs_dev, sizeof(b->bs_dev));
	command_line("fio --version 2>/dev/null", b->bs_fio, sizeof(b->bs_fio));
#ifdef IO_URING_VERSION_MAJOR
	snprintf(b->bs_uring, sizeof(b->bs_uring), "%d.%d", IO_URING_VERSION_MAJOR,
	         IO_URING_VERSION_MINOR);
#else
	command_line("pkg-config --modversion liburing 2>/dev/null", b->bs_uring,
	             sizeof(b->bs_uring));
	if (!b->bs_uring[0])
		snprintf(b->bs_uring, sizeof(b->bs_uring), "(version unknown)");
#endif
	gmtime_r(&now, &tm);
	strftime(b->bs_date, sizeof(b->bs_date), "%Y-%m-%d %H:%M UTC", &tm);
	read_line("/proc/loadavg", b->bs_load0, sizeof(b->bs_load0));
	b->bs_llc = llc_bytes();
	b->bs_clock_ns = clock_cost();
}

/* ---- the file ------------------------------------------------------------------ */

/* Fill the scratch file with @size bytes of pseudo-random data through the
 * kernel and make it durable. */
static int prepare_file(struct bs_suite *b)
{
	const size_t chunk = 1u << 20;
	uint64_t *buf = malloc(chunk), rnd = 0xC0FFEEull;
	int r = 0;

	if (!buf)
		return bs_fail(b, -ENOMEM, "allocating");
	if (ftruncate(b->bs_kfd, 0) != 0)
		r = bs_fail(b, -errno, "truncating %s", b->bs_path);
	for (uint64_t off = 0; !r && off < b->bs_file; off += chunk) {
		for (size_t i = 0; i < chunk / 8; i++)
			buf[i] = cli_rand(&rnd);
		if (pwrite(b->bs_kfd, buf, chunk, (off_t)off) != (ssize_t)chunk)
			r = bs_fail(b, errno ? -errno : -EIO, "writing %s", b->bs_path);
		if (!(off & ((64u << 20) - 1)))
			bs_progress(b, "writing the %llu MiB file... %llu MiB",
			            (unsigned long long)(b->bs_file >> 20),
			            (unsigned long long)(off >> 20));
	}
	if (!r && fsync(b->bs_kfd) != 0)
		r = bs_fail(b, -errno, "fsync %s", b->bs_path);
	free(buf);
	return r;
}

/* ---- options ---------------------------------------------------------------------- */

static const char bench_usage[] =
"usage: coherio bench [--quick] [--rounds N] [--size SIZE] [--threads N]\n"
"                     [--only LIST] [--json] [--plot DIR] [--dir DIR]\n"
"\n"
"Runs each workload on coherio and on its kernel counterpart over the same\n"
"file in the same run, rounds alternating, and prints medians, the ratio,\n"
"the target and PASS/MISS: hot 4 KiB random reads (LLC- and DRAM-sized\n"
"sets; cached read, pin/unpin, kernel pread, mmap load, memcpy), the hit\n"
"path with 1..N threads, cold 4 KiB direct reads at depth 1 and 32 (async\n"
"API vs liburing, and fio), a sequential read of twice the cache, 4 KiB\n"
"random writes then fsync, a 70/30 zipfian mix over twice the cache, and\n"
"the cost of coherence for a direct write over cached pages.\n"
"\n"
"  --quick        short run (3 rounds of 0.25 s; about a minute)\n"
"  --rounds N     rounds per workload, 1..99 (default 5, quick 3)\n"
"  --size SIZE    the file and DRAM-sized set, e.g. 2G (default: the larger\n"
"                 of 1 GiB (quick 256 MiB) and twice the last-level cache,\n"
"                 at most a third of the available memory); other sets are\n"
"                 derived from it\n"
"  --threads N    most threads of the scaling curve (default: online CPUs)\n"
"  --only LIST    comma list of hot,scale,direct,seq,write,mixed,coherence\n"
"  --json         print the same report as one JSON object\n"
"  --plot DIR     also write PNG plots there (needs gnuplot)\n"
"  --dir DIR      where the scratch file goes (removed at the end)\n"
"\n"
"A ratio or a MISS never changes the exit code: 0 when the run completed,\n"
"2 on a usage or set-up error.\n";

static int bad(const char *fmt, const char *arg)
{
	fputs("coherio bench: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs("\nTry 'coherio bench --help'.\n", stderr);
	return CLI_EXIT_ERROR;
}

static uint64_t parse_bytes(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || v <= 0)
		return 0;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'g': case 'G': v *= MiB * 1024; end++; break;
	case 't': case 'T': v *= MiB * MiB; end++; break;
	case 'm': case 'M': end++; /* fall through */
	case '\0':          v *= MiB; break; /* a bare number is MiB */
	default:            return 0;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	return *end ? 0 : (uint64_t)v;
}

static const struct { const char *name; unsigned bit; } workloads[] = {
	{ "hot", BS_W_HOT }, { "scale", BS_W_SCALE }, { "direct", BS_W_DIRECT },
	{ "seq", BS_W_SEQ }, { "write", BS_W_WRITE }, { "mixed", BS_W_MIXED },
	{ "coherence", BS_W_COH },
};

static int parse_only(const char *s, unsigned *out)
{
	char tmp[256], *save = NULL, *tok;

	snprintf(tmp, sizeof(tmp), "%s", s);
	*out = 0;
	for (tok = strtok_r(tmp, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned i;

		for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
			if (strcmp(tok, workloads[i].name) == 0)
				break;
		if (i == sizeof(workloads) / sizeof(workloads[0]))
			return -1;
		*out |= workloads[i].bit;
	}
	return *out ? 0 : -1;
}

struct bench_args {
	const char *dir, *plot;
	int quick, json, rounds, threads;
	unsigned only;
	uint64_t size;
};

static int parse_args(int argc, char **argv, struct bench_args *a)
{
	memset(a, 0, sizeof(*a));
	a->only = BS_W_ALL;
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = NULL;
		char *end;
		long n;

#define OPTARG(name) (strcmp(o, name) == 0 ? (i + 1 < argc ? (v = argv[++i]) : NULL) : \
	(strncmp(o, name "=", sizeof(name)) == 0 ? (v = o + sizeof(name)) : NULL))
		if (strcmp(o, "--quick") == 0) {
			a->quick = 1;
		} else if (strcmp(o, "--json") == 0) {
			a->json = 1;
		} else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			fputs(bench_usage, stdout);
			exit(CLI_EXIT_OK);
		} else if (OPTARG("--dir")) {
			a->dir = v;
		} else if (OPTARG("--plot")) {
			a->plot = v;
		} else if (OPTARG("--rounds")) {
			n = strtol(v, &end, 10);
			if (*end || n < 1 || n > BS_MAX_ROUNDS)
				return bad("--rounds wants 1..99, not '%s'", v);
			a->rounds = (int)n;
		} else if (OPTARG("--threads")) {
			n = strtol(v, &end, 10);
			if (*end || n < 1 || n > 1024)
				return bad("--threads wants 1..1024, not '%s'", v);
			a->threads = (int)n;
		} else if (OPTARG("--size")) {
			a->size = parse_bytes(v);
			if (a->size < (64u << 20))
				return bad("--size wants 64M or more (e.g. 512M, 2G), not '%s'", v);
		} else if (OPTARG("--only")) {
			if (parse_only(v, &a->only) < 0)
				return bad("--only wants a comma list of hot,scale,direct,"
				           "seq,write,mixed,coherence, not '%s'", v);
		} else if (strcmp(o, "--dir") == 0 || strcmp(o, "--plot") == 0 ||
		           strcmp(o, "--rounds") == 0 || strcmp(o, "--threads") == 0 ||
		           strcmp(o, "--size") == 0 || strcmp(o, "--only") == 0) {
			return bad("%s needs a value", o);
		} else {
			return bad("unknown option '%s'", o);
		}
#undef OPTARG
		if (v && !*v)
			return bad("%s needs a non-empty value", o);
	}
	return 0;
}

/* Sizes: the file (= the DRAM-sized set) and the LLC-sized set. */
static void choose_sizes(struct bs_suite *b, const struct bench_args *a)
{
	uint64_t avail = meminfo_kib("MemAvailable") * 1024, want, cap;
	struct statvfs sv;
	char *n = b->bs_sizes_note;

	want = a->size;
	if (!want) {
		want = a->quick ? (256u << 20) : (1024u << 20);
		if (b->bs_llc && 2 * b->bs_llc > want)
			want = 2 * b->bs_llc;
	}
	/* coherio's cache and the kernel's both hold it at once */
	cap = avail ? avail / 3 : want;
	if (statvfs(b->bs_path, &sv) == 0) {
		uint64_t disk = (uint64_t)sv.f_bavail * sv.f_frsize / 2;

		if (disk < cap)
			cap = disk;
	}
	if (want > cap) {
		snprintf(n, sizeof(b->bs_sizes_note),
		         "file cut from %llu MiB to %llu MiB to fit the memory/disk",
		         (unsigned long long)(want >> 20), (unsigned long long)(cap >> 20));
		want = cap;
	}
	want &= ~((uint64_t)(1u << 20) - 1);
	if (want < (64u << 20))
		want = 64u << 20;
	b->bs_file = want;
	b->bs_llc_set = b->bs_llc ? b->bs_llc / 2 : (16u << 20);
	b->bs_llc_set &= ~((uint64_t)(1u << 20) - 1);
	if (b->bs_llc_set < (4u << 20))
		b->bs_llc_set = 4u << 20;
	if (b->bs_llc_set > b->bs_file / 2)
		b->bs_llc_set = b->bs_file / 2;
}

/* ---- the report: text ---------------------------------------------------------- */

static void fmt_ns(char *buf, size_t len, double ns)
{
	if (isnan(ns))
		snprintf(buf, len, "-");
	else if (ns < 1e3)
		snprintf(buf, len, "%.0f ns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1f us", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2f ms", ns / 1e6);
	else
		snprintf(buf, len, "%.2f s", ns / 1e9);
}

static void fmt_rate(char *buf, size_t len, double v)
{
	if (isnan(v))
		snprintf(buf, len, "-");
	else
		cli_fmt_rate(buf, len, v);
}

static void print_config(const struct bs_suite *b)
{
	unsigned fl = cio_build_flags();
	uint64_t mem = meminfo_kib("MemTotal");

	printf("coherio bench %s: coherio side by side with the kernel, same file, "
	       "same run.\n\n", cio_version());
	printf("Configuration\n");
	printf("  machine:  %s; %d CPUs; LLC %.0f MiB; RAM %.1f GiB\n", b->bs_cpu,
	       b->bs_ncpu, (double)b->bs_llc / MiB, (double)mem / MiB);
	printf("  kernel:   %s\n", b->bs_kernel);
	printf("  file:     %s, %llu MiB, on %s, device %s\n", b->bs_path,
	       (unsigned long long)(b->bs_file >> 20), b->bs_fs, b->bs_dev);
	printf("  coherio:  library %s, %s build (handle checks %s, asserts %s), "
	       "engine %s, page %zu B,\n            backing descriptor %s\n",
	       cio_version(),
	       (fl & (CIO_BUILD_HANDLE_CHECKS | CIO_BUILD_ASSERTS)) ? "checking" :
	       "release", (fl & CIO_BUILD_HANDLE_CHECKS) ? "on" : "off",
	       (fl & CIO_BUILD_ASSERTS) ? "on" : "off",
	       b->bs_engine[0] ? b->bs_engine : "?", b->bs_io,
	       b->bs_cio_direct ? "O_DIRECT" : "buffered (the file system refused "
	       "O_DIRECT)");
	printf("  kernel:   liburing %s (plain loop, no fixed buffers, no SQPOLL); "
	       "O_DIRECT %s\n", b->bs_uring,
	       b->bs_dfd >= 0 ? "available" : "refused by the file system");
	printf("  fio:      %s\n", b->bs_fio[0] ? b->bs_fio : "not installed "
	       "(the fio rows are skipped)");
	printf("  sets:     LLC-sized %llu MiB (half the LLC), DRAM-sized %llu MiB "
	       "(the file); threads 1..%d%s%s\n",
	       (unsigned long long)(b->bs_llc_set >> 20),
	       (unsigned long long)(b->bs_file >> 20), b->bs_threads,
	       b->bs_sizes_note[0] ? "; " : "", b->bs_sizes_note);
	printf("  method:   %d round%s per workload, %.2f s per contestant per round "
	       "(timed workloads: in %d\n            interleaved slices, order "
	       "alternating per slice; file passes: order alternating\n"
	       "            per round); medians over rounds; ratio = median of "
	       "per-round ratios;\n            CPU/op from getrusage (all threads); "
	       "clock read %llu ns, subtracted\n",
	       b->bs_rounds, b->bs_rounds == 1 ? "" : "s", b->bs_dur, BS_SLICES,
	       (unsigned long long)b->bs_clock_ns);
	printf("  run:      %s%s, load average at start %s\n", b->bs_date,
	       b->bs_quick ? ", --quick" : "", b->bs_load0);
	printf("\n");
	fflush(stdout);
}

static void print_group(const struct bs_suite *b, int g)
{
	const struct bs_group *gr = &b->gr[g];
	int any = 0;

	for (int i = 0; i < b->nsd; i++)
		if (b->sd[i].sd_group == g && b->sd[i].sd_nrounds)
			any = 1;
	printf("%s\n", gr->gr_title);
	if (any) {
		printf("  %-40s %10s %10s %9s %9s %9s%s%s\n", "contestant",
		       gr->gr_mbs ? "MB/s" : "ops/s", gr->gr_mbs ? "ops/s" : "MB/s",
		       "p50", "p99", "CPU/op", gr->gr_extra[0] ? " " : "", gr->gr_extra);
		for (int i = 0; i < b->nsd; i++) {
			const struct bs_side *s = &b->sd[i];
			char r1[32], r2[32], p50[32], p99[32], cpu[32];
			double ops = bs_side_median(s, BS_M_OPS);
			double mbs = bs_side_median(s, BS_M_MBS);

			if (s->sd_group != g || !s->sd_nrounds)
				continue;
			if (gr->gr_mbs) {
				snprintf(r1, sizeof(r1), "%.1f", mbs);
				fmt_rate(r2, sizeof(r2), ops);
			} else {
				fmt_rate(r1, sizeof(r1), ops);
				snprintf(r2, sizeof(r2), "%.1f", mbs);
			}
			fmt_ns(p50, sizeof(p50), bs_median(s->sd_p50, s->sd_nrounds));
			fmt_ns(p99, sizeof(p99), bs_median(s->sd_p99, s->sd_nrounds));
			fmt_ns(cpu, sizeof(cpu), bs_side_median(s, BS_M_CPU));
			printf("  %-40s %10s %10s %9s %9s %9s", s->sd_name, r1, r2, p50,
			       p99, cpu);
			if (gr->gr_extra[0]) {
				double x = bs_median(s->sd_extra, s->sd_nrounds);

				if (isnan(x))
					printf(" %*s", (int)strlen(gr->gr_extra), "-");
				else
					printf(" %*.1f", (int)strlen(gr->gr_extra), x);
			}
			printf("\n");
		}
	}
	if (gr->gr_note[0]) {
		const char *p = gr->gr_note;

		while (*p) {
			size_t n = strcspn(p, "\n");

			printf("  note: %.*s\n", (int)n, p);
			p += n;
			if (*p)
				p++;
		}
	}
	printf("\n");
	fflush(stdout);
}

static void print_comparison(const struct bs_suite *b)
{
	int pass = 0, miss = 0, na = 0;

	printf("Comparison (ratio = median over %d round%s of the per-round ratio; "
	       "CPU/op: lower is better)\n", b->bs_rounds, b->bs_rounds == 1 ? "" : "s");
	printf("  %-11s %-50s %-8s %8s %13s %s\n", "workload", "comparison", "metric",
	       "ratio", "target", "verdict");
	for (int i = 0; i < b->ncm; i++) {
		const struct bs_cmp *c = &b->cm[i];
		char r[32];

		if (isnan(c->cm_ratio))
			snprintf(r, sizeof(r), "-");
		else if (c->cm_metric == BS_M_EFF)
			snprintf(r, sizeof(r), "%.2f", c->cm_ratio);
		else
			snprintf(r, sizeof(r), "%.2fx", c->cm_ratio);
		printf("  %-11s %-50s %-8s %8s %13s %s\n", b->gr[c->cm_group].gr_id,
		       c->cm_name, metric_name(c->cm_metric), r, c->cm_tgt,
		       verdict_name(c->cm_verdict));
		pass += c->cm_verdict == BS_V_PASS;
		miss += c->cm_verdict == BS_V_MISS;
		na += c->cm_verdict == BS_V_NA && c->cm_target > 0;
	}
	printf("\n  targets: %d PASS, %d MISS%s%.0d%s; load average at the end %s; "
	       "%.0f s in all.\n", pass, miss, na ? ", " : "", na, na ? " n/a" : "",
	       b->bs_load1, cli_now() - b->bs_t0);
	printf("  A shared, noisy machine: figures are medians of %d alternating "
	       "round%s; a MISS\n  does not change the exit code.\n", b->bs_rounds,
	       b->bs_rounds == 1 ? "" : "s");
}

/* ---- the report: JSON -------------------------------------------------------------- */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch == '\n')
			fputs("\\n", stdout);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void json_num(double v)
{
	if (isnan(v) || isinf(v))
		fputs("null", stdout);
	else
		printf("%.6g", v);
}

static void json_rounds(const double *v, int n)
{
	putchar('[');
	for (int i = 0; i < n; i++) {
		if (i)
			putchar(',');
		json_num(v[i]);
	}
	putchar(']');
}

static void print_json(const struct bs_suite *b)
{
	unsigned fl = cio_build_flags();

	printf("{\n \"config\": {\"coherio\": ");
	json_str(cio_version());
	printf(", \"build\": ");
	json_str((fl & (CIO_BUILD_HANDLE_CHECKS | CIO_BUILD_ASSERTS)) ? "checking" :
	         "release");
	printf(", \"engine\": ");
	json_str(b->bs_engine);
	printf(", \"page_size\": %zu, \"cio_o_direct\": %s, \"file\": ", b->bs_io,
	       b->bs_cio_direct ? "true" : "false");
	json_str(b->bs_path);
	printf(", \"file_bytes\": %llu, \"llc_set_bytes\": %llu, \"threads\": %d, "
	       "\"rounds\": %d, \"seconds_per_measurement\": %.3f, \"quick\": %s, "
	       "\"clock_ns\": %llu, \"liburing\": ",
	       (unsigned long long)b->bs_file, (unsigned long long)b->bs_llc_set,
	       b->bs_threads, b->bs_rounds, b->bs_dur, b->bs_quick ? "true" : "false",
	       (unsigned long long)b->bs_clock_ns);
	json_str(b->bs_uring);
	printf(", \"fio\": ");
	json_str(b->bs_fio);
	printf(", \"date\": ");
	json_str(b->bs_date);
	printf(", \"note\": ");
	json_str(b->bs_sizes_note);
	printf("},\n \"machine\": {\"cpu\": ");
	json_str(b->bs_cpu);
	printf(", \"cpus\": %d, \"llc_bytes\": %llu, \"mem_kib\": %llu, \"kernel\": ",
	       b->bs_ncpu, (unsigned long long)b->bs_llc,
	       (unsigned long long)meminfo_kib("MemTotal"));
	json_str(b->bs_kernel);
	printf(", \"fs\": ");
	json_str(b->bs_fs);
	printf(", \"device\": ");
	json_str(b->bs_dev);
	printf(", \"o_direct\": %s, \"load_start\": ", b->bs_dfd >= 0 ? "true" : "false");
	json_str(b->bs_load0);
	printf(", \"load_end\": ");
	json_str(b->bs_load1);
	printf("},\n \"workloads\": [");
	for (int g = 0; g < b->ngr; g++) {
		const struct bs_group *gr = &b->gr[g];
		int first = 1;

		printf("%s\n  {\"id\": ", g ? "," : "");
		json_str(gr->gr_id);
		printf(", \"title\": ");
		json_str(gr->gr_title);
		printf(", \"note\": ");
		json_str(gr->gr_note);
		printf(", \"extra\": ");
		json_str(gr->gr_extra);
		printf(", \"contestants\": [");
		for (int i = 0; i < b->nsd; i++) {
			const struct bs_side *s = &b->sd[i];
			int n = s->sd_nrounds;

			if (s->sd_group != g || !n)
				continue;
			printf("%s\n   {\"name\": ", first ? "" : ",");
			first = 0;
			json_str(s->sd_name);
			printf(", \"who\": \"%s\", \"threads\": %d, \"ops_per_s\": ",
			       s->sd_who == BS_COHERIO ? "coherio" :
			       s->sd_who == BS_KERNEL ? "kernel" : "reference", s->sd_threads);
			json_num(bs_side_median(s, BS_M_OPS));
			printf(", \"mb_per_s\": ");
			json_num(bs_side_median(s, BS_M_MBS));
			printf(", \"p50_ns\": ");
			json_num(bs_median(s->sd_p50, n));
			printf(", \"p99_ns\": ");
			json_num(bs_median(s->sd_p99, n));
			printf(", \"cpu_ns_per_op\": ");
			json_num(bs_side_median(s, BS_M_CPU));
			printf(", \"extra\": ");
			json_num(bs_median(s->sd_extra, n));
			printf(",\n    \"rounds\": {\"ops_per_s\": ");
			json_rounds(s->sd_ops, n);
			printf(", \"mb_per_s\": ");
			json_rounds(s->sd_mbs, n);
			printf(", \"p50_ns\": ");
			json_rounds(s->sd_p50, n);
			printf(", \"p99_ns\": ");
			json_rounds(s->sd_p99, n);
			printf(", \"cpu_ns_per_op\": ");
			json_rounds(s->sd_cpu, n);
			printf("}}");
		}
		printf("]}");
	}
	printf("\n ],\n \"comparisons\": [");
	for (int i = 0; i < b->ncm; i++) {
		const struct bs_cmp *c = &b->cm[i];

		printf("%s\n  {\"workload\": ", i ? "," : "");
		json_str(b->gr[c->cm_group].gr_id);
		printf(", \"name\": ");
		json_str(c->cm_name);
		printf(", \"a\": ");
		json_str(b->sd[c->cm_a].sd_name);
		printf(", \"b\": ");
		json_str(b->sd[c->cm_b].sd_name);
		printf(", \"metric\": \"%s\", \"ratio\": ", metric_name(c->cm_metric));
		json_num(c->cm_ratio);
		printf(", \"target\": ");
		if (c->cm_target > 0)
			json_num(c->cm_target);
		else
			fputs("null", stdout);
		printf(", \"target_text\": ");
		json_str(c->cm_tgt);
		printf(", \"verdict\": \"%s\"}", verdict_name(c->cm_verdict));
	}
	printf("\n ],\n \"seconds\": %.1f", cli_now() - b->bs_t0);
	if (b->bs_err) {
		printf(", \"error\": ");
		json_str(b->bs_errwhat);
	}
	printf("\n}\n");
}

/* ---- the run -------------------------------------------------------------------------- */

static int run_all(struct bs_suite *b)
{
	static const struct {
		unsigned bits;
		int (*fn)(struct bs_suite *);
	} steps[] = {
		{ BS_W_HOT | BS_W_SCALE, bs_run_hot },
		{ BS_W_DIRECT, bs_run_direct },
		{ BS_W_SEQ, bs_run_seq },
		{ BS_W_WRITE, bs_run_write },
		{ BS_W_MIXED, bs_run_mixed },
		{ BS_W_COH, bs_run_coherence },
	};

	for (unsigned i = 0; i < sizeof(steps) / sizeof(steps[0]) && !b->bs_err; i++) {
		int g0 = b->ngr;

		if (!(b->bs_only & steps[i].bits))
			continue;
		steps[i].fn(b);
		cli_progress_done();
		if (!b->bs_json)
			for (int g = g0; g < b->ngr; g++)
				print_group(b, g);
	}
	for (int i = 0; i < b->ncm; i++)
		cmp_compute(b, &b->cm[i]);
	return b->bs_err;
}

int cli_bench_main(int argc, char **argv)
{
	struct bench_args a;
	struct cli_scratch s;
	struct bs_suite *b;
	int rc = CLI_EXIT_OK;

	if (parse_args(argc, argv, &a) != 0)
		return CLI_EXIT_ERROR;
	b = calloc(1, sizeof(*b));
	if (b)
		b->sd = calloc(BS_MAX_SIDES, sizeof(*b->sd));
	if (!b || !b->sd) {
		fprintf(stderr, "coherio: out of memory\n");
		free(b);
		return CLI_EXIT_ERROR;
	}
	if (cli_scratch_create(&s, a.dir) < 0) {
		free(b->sd);
		free(b);
		return CLI_EXIT_ERROR;
	}
	b->bs_t0 = cli_now();
	b->bs_path = s.path;
	b->bs_plot = a.plot;
	b->bs_quick = a.quick;
	b->bs_json = a.json;
	b->bs_only = a.only;
	b->bs_rounds = a.rounds ? a.rounds : (a.quick ? 3 : 5);
	b->bs_dur = a.quick ? 0.25 : 1.0;
	b->bs_io = 4096;
	b->bs_kfd = open(s.path, O_RDWR | O_CLOEXEC);
	b->bs_dfd = open(s.path, O_RDWR | O_DIRECT | O_CLOEXEC);
	probe_machine(b);
	b->bs_threads = a.threads ? a.threads : (b->bs_ncpu > 0 ? b->bs_ncpu : 1);
	choose_sizes(b, &a);
	if (b->bs_kfd < 0) {
		fprintf(stderr, "coherio: cannot open %s: %s\n", s.path, strerror(errno));
		rc = CLI_EXIT_ERROR;
		goto out;
	}
	{
		/* learn the engine's name before printing the configuration */
		cio_cache *c;
		cio_file *f;

		if (bs_cache_open(b, 16u << 20, &c, &f) == 0)
			bs_cache_close(b, c, f);
		if (b->bs_err) {
			fprintf(stderr, "coherio: %s: %s\n", b->bs_errwhat,
			        cio_strerror(b->bs_err));
			rc = CLI_EXIT_ERROR;
			goto out;
		}
	}
	if (!b->bs_json)
		print_config(b);
	bs_progress(b, "writing the %llu MiB file...",
	            (unsigned long long)(b->bs_file >> 20));
	if (prepare_file(b) == 0)
		run_all(b);
	cli_progress_done();
	read_line("/proc/loadavg", b->bs_load1, sizeof(b->bs_load1));
	if (b->bs_err) {
		fprintf(stderr, "coherio bench: %s: %s\n", b->bs_errwhat,
		        cio_strerror(b->bs_err));
		rc = CLI_EXIT_ERROR;
	}
	if (b->bs_json)
		print_json(b);
	else
		print_comparison(b);
	fflush(stdout);
	if (b->bs_plot && !b->bs_err) {
		int n = bs_plot(b, b->bs_plot);

		if (n < 0) {
			fprintf(stderr, "coherio bench: plots in %s: %s\n", b->bs_plot,
			        strerror(-n));
			rc = CLI_EXIT_ERROR;
		} else {
			fprintf(b->bs_json ? stderr : stdout,
			        "%s%d plots written to %s\n", b->bs_json ? "" : "\n", n,
			        b->bs_plot);
		}
	}
out:
	if (b->bs_kfd >= 0)
		close(b->bs_kfd);
	if (b->bs_dfd >= 0)
		close(b->bs_dfd);
	cli_scratch_remove(&s);
	for (int i = 0; i < b->nsd; i++)
		free(b->sd[i].sd_lat);
	free(b->sd);
	free(b);
	return rc;
}
