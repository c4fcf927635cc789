/* helpers.c - see helpers.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const uint32_t t_page_sizes[T_NPAGE_SIZES] = {4096u, 16384u, 65536u};

static char t_name[128] = "test";
static _Thread_local char t_ctx_buf[256];

/* Registered scratch paths, removed on failure. */
#define T_MAX_SCRATCH 256
static pthread_mutex_t t_scratch_lock = PTHREAD_MUTEX_INITIALIZER;
static char *t_scratch[T_MAX_SCRATCH];
static atomic_uint t_scratch_seq;
static atomic_int t_failing;

/* ---- start, skip, fail ------------------------------------------------- */

static void t_watchdog(int sig)
{
	static const char msg[] = "\nFAIL: watchdog: the test hung (SIGALRM)\n";
	ssize_t r = write(2, msg, sizeof msg - 1);
	(void)r;
	(void)sig;
	_exit(1);
}

void t_init(const char *name, unsigned watchdog_s)
{
	const char *b = strrchr(name, '/');
	snprintf(t_name, sizeof t_name, "%s", b ? b + 1 : name);
	setvbuf(stdout, NULL, _IONBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	signal(SIGALRM, t_watchdog);
	alarm(watchdog_s ? watchdog_s : 150);
	t_log("coherio %s, build flags 0x%x, scratch dir %s", cio_version(),
	      cio_build_flags(), t_scratch_dir());
}

int t_skip(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "[%s] SKIP: ", t_name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 77;
}

static atomic_int t_nexpect_failed;

int t_expect_failures(void)
{
	return atomic_load(&t_nexpect_failed);
}

int t_pass(void)
{
	int n = atomic_load(&t_nexpect_failed);
	if (n) {
		fprintf(stderr, "[%s] FAIL: %d expectation(s) failed (see above)\n",
		        t_name, n);
		return 1;
	}
	fprintf(stderr, "[%s] PASS\n", t_name);
	return 0;
}

void t_ctx(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t_ctx_buf, sizeof t_ctx_buf, fmt, ap);
	va_end(ap);
}

void t_log(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "[%s] %s\n", t_name, line);
}

static void t_cleanup_scratch(void)
{
	/* Best effort, never blocks on the lock forever (we may be failing
	 * while another thread holds it). */
	if (pthread_mutex_trylock(&t_scratch_lock) != 0)
		return;
	for (int i = 0; i < T_MAX_SCRATCH; i++) {
		if (t_scratch[i])
			unlink(t_scratch[i]);
	}
	pthread_mutex_unlock(&t_scratch_lock);
}

void t_fail_at(const char *file, int line, const char *func, const char *fmt,
               ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* Only the first failing thread reports and exits; others park. */
	if (atomic_exchange(&t_failing, 1)) {
		for (;;)
			pause();
	}
	fprintf(stderr, "\n[%s] FAIL at %s:%d in %s():\n    %s\n", t_name, file,
	        line, func, msg);
	if (t_ctx_buf[0])
		fprintf(stderr, "    context: %s\n", t_ctx_buf);
	t_cleanup_scratch();
	fflush(NULL);
	_exit(1);
}

void t_expect_failed(const char *file, int line, const char *func,
                     const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	atomic_fetch_add(&t_nexpect_failed, 1);
	fprintf(stderr, "[%s] EXPECT FAILED at %s:%d in %s():\n    %s\n", t_name,
	        file, line, func, msg);
	if (t_ctx_buf[0])
		fprintf(stderr, "    context: %s\n", t_ctx_buf);
}

void t_expect_cmp_failed(const char *file, int line, const char *func,
                         const char *ea, const char *op, const char *eb,
                         long long a, long long b)
{
	char an[48] = "", bn[48] = "";
	if (a < 0 && a > -4096)
		snprintf(an, sizeof an, " (-%s)", t_errname(a));
	if (b < 0 && b > -4096)
		snprintf(bn, sizeof bn, " (-%s)", t_errname(b));
	t_expect_failed(file, line, func, "EXPECT(%s %s %s): %lld%s vs %lld%s",
	                ea, op, eb, a, an, b, bn);
}

const char *t_errname(long long err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case EINTR: return "EINTR";
	case EIO: return "EIO";
	case ENXIO: return "ENXIO";
	case EBADF: return "EBADF";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case EINVAL: return "EINVAL";
	case EFBIG: return "EFBIG";
	case ENOSPC: return "ENOSPC";
	case ESPIPE: return "ESPIPE";
	case EROFS: return "EROFS";
	case ERANGE: return "ERANGE";
	case EOVERFLOW: return "EOVERFLOW";
	case ENOTSUP: return "ENOTSUP";
	case ECANCELED: return "ECANCELED";
	case EALREADY: return "EALREADY";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EDEADLK: return "EDEADLK";
	case ENOSYS: return "ENOSYS";
	default: return "?";
	}
}

void t_check_cmp_failed(const char *file, int line, const char *func,
                        const char *ea, const char *op, const char *eb,
                        long long a, long long b)
{
	char an[48] = "", bn[48] = "";
	if (a < 0 && a > -4096)
		snprintf(an, sizeof an, " (-%s)", t_errname(a));
	if (b < 0 && b > -4096)
		snprintf(bn, sizeof bn, " (-%s)", t_errname(b));
	t_fail_at(file, line, func, "CHECK(%s %s %s) failed: %lld%s vs %lld%s",
	          ea, op, eb, a, an, b, bn);
}

static void t_hex(char *out, size_t outlen, const uint8_t *p, size_t n)
{
	size_t k = 0;
	out[0] = 0;
	for (size_t i = 0; i < n && k + 4 < outlen; i++)
		k += (size_t)snprintf(out + k, outlen - k, "%02x ", p[i]);
}

void t_check_mem(const char *file, int line, const char *func,
                 const char *what, const void *got, const void *want,
                 size_t len, int64_t base_off)
{
	const uint8_t *g = got, *w = want;
	size_t i;
	if (memcmp(g, w, len) == 0)
		return;
	for (i = 0; i < len && g[i] == w[i]; i++)
		;
	size_t j = len;
	while (j > i && g[j - 1] == w[j - 1])
		j--;
	size_t n = len - i < 16 ? len - i : 16;
	char hg[80], hw[80];
	t_hex(hg, sizeof hg, g + i, n);
	t_hex(hw, sizeof hw, w + i, n);
	t_fail_at(file, line, func,
	          "%s: content differs at file offset %lld (index %zu of %zu;"
	          " last differing index %zu)\n      got : %s\n      want: %s",
	          what, (long long)(base_off + (int64_t)i), i, len, j - 1, hg,
	          hw);
}

/* ---- scratch files ----------------------------------------------------- */

static pthread_once_t t_dir_once = PTHREAD_ONCE_INIT;
static char t_dir[4096];

static int t_mkdir_p(const char *path)
{
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	}
	if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void t_dir_init(void)
{
	const char *d = getenv("COHERIO_TEST_DIR");
	struct stat st;
	if (d && *d && t_mkdir_p(d) == 0 && stat(d, &st) == 0 &&
	    S_ISDIR(st.st_mode) && access(d, W_OK) == 0) {
		snprintf(t_dir, sizeof t_dir, "%s", d);
		return;
	}
	snprintf(t_dir, sizeof t_dir, "/tmp");
}

const char *t_scratch_dir(void)
{
	pthread_once(&t_dir_once, t_dir_init);
	return t_dir;
}

char *t_scratch_path(const char *tag)
{
	char buf[4400];
	unsigned n = atomic_fetch_add(&t_scratch_seq, 1);
	snprintf(buf, sizeof buf, "%s/cio-%s-%s-%ld-%u", t_scratch_dir(), t_name,
	         tag, (long)getpid(), n);
	char *p = strdup(buf);
	CHECK(p != NULL);
	unlink(p); /* a left-over from a recycled pid */
	pthread_mutex_lock(&t_scratch_lock);
	for (int i = 0; i < T_MAX_SCRATCH; i++) {
		if (!t_scratch[i]) {
			t_scratch[i] = p;
			break;
		}
	}
	pthread_mutex_unlock(&t_scratch_lock);
	return p;
}

void t_scratch_remove(char *path)
{
	if (!path)
		return;
	unlink(path);
	pthread_mutex_lock(&t_scratch_lock);
	for (int i = 0; i < T_MAX_SCRATCH; i++) {
		if (t_scratch[i] == path)
			t_scratch[i] = NULL;
	}
	pthread_mutex_unlock(&t_scratch_lock);
	free(path);
}

/* ---- caches and files -------------------------------------------------- */

struct cio_cache_opts t_opts(uint32_t ps, uint64_t mem)
{
	struct cio_cache_opts o;
	memset(&o, 0, sizeof o);
	o.page_size = ps;
	o.memory_bytes = mem;
	return o;
}

cio_cache *t_cache_opts(const struct cio_cache_opts *o)
{
	cio_cache *c = NULL;
	int rc = cio_cache_create(&c, o);
	CHECKF(rc == 0 && c != NULL,
	       "cio_cache_create(page_size=%u, memory=%llu, fault=%d) = %d (%s)",
	       o->page_size, (unsigned long long)o->memory_bytes,
	       o->fault_inject, rc, t_errname(rc));
	static atomic_int logged;
	if (!atomic_exchange(&logged, 1)) {
		struct cio_cache_stats st = t_cstats(c);
		t_log("engine: %s", st.engine ? st.engine : "(null)");
	}
	return c;
}

cio_cache *t_cache(uint32_t ps, uint64_t mem, int fault_inject)
{
	struct cio_cache_opts o = t_opts(ps, mem);
	o.fault_inject = fault_inject;
	return t_cache_opts(&o);
}

cio_file *t_open(cio_cache *c, const char *path, int flags)
{
	cio_file *f = NULL;
	int rc = cio_open(c, path, flags, 0644, &f);
	CHECKF(rc == 0 && f != NULL, "cio_open(%s, 0x%x) = %d (%s)", path,
	       flags, rc, t_errname(rc));
	return f;
}

void t_close(cio_file *f)
{
	int rc = cio_close(f);
	CHECKF(rc == 0, "cio_close = %d (%s)", rc, t_errname(rc));
}

void t_destroy(cio_cache *c)
{
	int rc = cio_cache_destroy(c);
	CHECKF(rc == 0, "cio_cache_destroy = %d (%s)", rc, t_errname(rc));
}

struct cio_file_stats t_fstats(cio_file *f)
{
	struct cio_file_stats st;
	memset(&st, 0, sizeof st);
	int rc = cio_file_stats(f, &st);
	CHECKF(rc == 0, "cio_file_stats = %d (%s)", rc, t_errname(rc));
	return st;
}

struct cio_cache_stats t_cstats(cio_cache *c)
{
	struct cio_cache_stats st;
	memset(&st, 0, sizeof st);
	int rc = cio_cache_stats(c, &st);
	CHECKF(rc == 0, "cio_cache_stats = %d (%s)", rc, t_errname(rc));
	return st;
}

uint32_t t_lbs(cio_file *f)
{
	struct cio_file_stats st = t_fstats(f);
	CHECKF(st.logical_block_size >= 1 && st.logical_block_size <= 65536 &&
	           (st.logical_block_size & (st.logical_block_size - 1)) == 0,
	       "logical_block_size = %u", st.logical_block_size);
	return st.logical_block_size;
}

uint32_t t_memalign(cio_file *f)
{
	struct cio_file_stats st = t_fstats(f);
	CHECKF(st.memory_alignment <= 65536, "memory_alignment = %u",
	       st.memory_alignment);
	return st.memory_alignment ? st.memory_alignment : 1;
}

void *t_alloc(size_t len)
{
	void *p = NULL;
	size_t n = len ? t_align_up(len, 65536) : 65536;
	int rc = posix_memalign(&p, 65536, n);
	CHECKF(rc == 0 && p != NULL, "posix_memalign(%zu) failed", n);
	memset(p, 0, n);
	return p;
}

void t_write_all(cio_file *f, const void *buf, size_t len, int64_t off,
                 unsigned flags)
{
	ssize_t r = cio_write(f, buf, len, off, flags);
	CHECKF(r == (ssize_t)len,
	       "cio_write(len=%zu, off=%lld, flags=0x%x) = %zd (%s)", len,
	       (long long)off, flags, r, r < 0 ? t_errname(r) : "short");
}

void t_read_all(cio_file *f, void *buf, size_t len, int64_t off,
                unsigned flags)
{
	ssize_t r = cio_read(f, buf, len, off, flags);
	CHECKF(r == (ssize_t)len,
	       "cio_read(len=%zu, off=%lld, flags=0x%x) = %zd (%s)", len,
	       (long long)off, flags, r, r < 0 ? t_errname(r) : "short");
}

/* ---- stamps ------------------------------------------------------------ */

uint64_t t_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint64_t t_stamp_word(uint64_t seed, uint64_t word)
{
	return t_mix64(word * 0x9e3779b97f4a7c15ull ^ t_mix64(seed + 0x1234567));
}

uint8_t t_stamp_byte(uint64_t seed, uint64_t off)
{
	return (uint8_t)(t_stamp_word(seed, off >> 3) >> ((off & 7) * 8));
}

void t_stamp_fill(void *buf, size_t len, uint64_t off, uint64_t seed)
{
	uint8_t *p = buf;
	size_t i = 0;
	while (i < len && ((off + i) & 7))
		p[i] = t_stamp_byte(seed, off + i), i++;
	uint64_t sk = t_mix64(seed + 0x1234567);
	for (; i + 8 <= len; i += 8) {
		uint64_t w = t_mix64(((off + i) >> 3) * 0x9e3779b97f4a7c15ull ^ sk);
		memcpy(p + i, &w, 8); /* little-endian: byte k = w >> 8k */
	}
	for (; i < len; i++)
		p[i] = t_stamp_byte(seed, off + i);
}

ssize_t t_stamp_find_bad(const void *buf, size_t len, uint64_t off,
                         uint64_t seed)
{
	const uint8_t *p = buf;
	uint8_t tmp[4096];
	for (size_t i = 0; i < len; i += sizeof tmp) {
		size_t n = len - i < sizeof tmp ? len - i : sizeof tmp;
		t_stamp_fill(tmp, n, off + i, seed);
		if (memcmp(tmp, p + i, n) != 0) {
			for (size_t k = 0; k < n; k++)
				if (tmp[k] != p[i + k])
					return (ssize_t)(i + k);
		}
	}
	return -1;
}

void t_check_stamp(const char *file, int line, const char *func,
                   const void *buf, size_t len, uint64_t off, uint64_t seed)
{
	ssize_t bad = t_stamp_find_bad(buf, len, off, seed);
	if (bad < 0)
		return;
	const uint8_t *p = buf;
	size_t n = len - (size_t)bad < 16 ? len - (size_t)bad : 16;
	uint8_t want[16];
	t_stamp_fill(want, n, off + (uint64_t)bad, seed);
	char hg[80], hw[80];
	t_hex(hg, sizeof hg, p + bad, n);
	t_hex(hw, sizeof hw, want, n);
	t_fail_at(file, line, func,
	          "stamp (seed %llu) mismatch at file offset %llu (index %zd of"
	          " %zu)\n      got : %s\n      want: %s",
	          (unsigned long long)seed,
	          (unsigned long long)(off + (uint64_t)bad), bad, len, hg, hw);
}

ssize_t t_find_nonzero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return (ssize_t)i;
	return -1;
}

/* ---- kernel view ------------------------------------------------------- */

ssize_t t_kernel_pread(const char *path, void *buf, size_t len, int64_t off)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	size_t done = 0;
	while (done < len) {
		ssize_t r = pread(fd, (char *)buf + done, len - done,
		                  (off_t)(off + (int64_t)done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	close(fd);
	return (ssize_t)done;
}

int t_kernel_pwrite(const char *path, const void *buf, size_t len,
                    int64_t off)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	size_t done = 0;
	while (done < len) {
		ssize_t r = pwrite(fd, (const char *)buf + done, len - done,
		                   (off_t)(off + (int64_t)done));
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			return -e;
		}
		done += (size_t)r;
	}
	int rc = fsync(fd) ? -errno : 0;
	close(fd);
	return rc;
}

int64_t t_kernel_size(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return -errno;
	return (int64_t)st.st_size;
}

int t_kernel_create(const char *path, int64_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = ftruncate(fd, (off_t)size) ? -errno : 0;
	close(fd);
	return rc;
}

void t_kernel_stamp_file(const char *path, int64_t size, uint64_t seed)
{
	int rc = t_kernel_create(path, 0);
	CHECKF(rc == 0, "create %s: %s", path, t_errname(rc));
	size_t chunk = 1u << 20;
	uint8_t *b = t_alloc(chunk);
	for (int64_t o = 0; o < size; o += (int64_t)chunk) {
		size_t n = (size_t)(size - o) < chunk ? (size_t)(size - o) : chunk;
		t_stamp_fill(b, n, (uint64_t)o, seed);
		rc = t_kernel_pwrite(path, b, n, o);
		CHECKF(rc == 0, "pwrite %s: %s", path, t_errname(rc));
	}
	free(b);
}

void t_check_kernel(const char *file, int line, const char *func,
                    const char *path, const void *want, size_t len,
                    int64_t off)
{
	uint8_t *b = t_alloc(len);
	ssize_t r = t_kernel_pread(path, b, len, off);
	if (r != (ssize_t)len) {
		t_fail_at(file, line, func,
		          "kernel pread(%s, len=%zu, off=%lld) = %zd (%s)", path,
		          len, (long long)off, r, r < 0 ? t_errname(r) : "short");
	}
	t_check_mem(file, line, func, "kernel view", b, want, len, off);
	free(b);
}

/* ---- time, random ------------------------------------------------------ */

uint64_t t_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void t_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

uint64_t t_rand_seed(uint64_t x)
{
	uint64_t s = t_mix64(x + 0x9e3779b97f4a7c15ull);
	return s ? s : 0x2545f4914f6cdd1dull;
}

uint64_t t_rand(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

uint64_t t_rand_below(uint64_t *s, uint64_t n)
{
	return (t_rand(s) >> 11) % n;
}
