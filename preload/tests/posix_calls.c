/*
 * posix_calls.c - the POSIX file calls on served files behave as the
 * kernel's, and files outside COHERIO_PATHS are untouched.
 *
 * usage: posix_calls SERVED_DIR UNSERVED_DIR kernel|coherio|linked
 * In "coherio" mode (under `coherio run --paths SERVED_DIR`) files in
 * SERVED_DIR must be served (mmap refused with ENODEV) and those in
 * UNSERVED_DIR not; every other expectation is the same in both modes, and
 * "kernel" mode (no preload library) checks them against the kernel.
 * "linked" mode: the program is linked with the preload library (sanitizer
 * builds) and COHERIO_PATHS is set by the caller.
 *
 * Covered: open/openat/creat (O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_DIRECT),
 * read/write/pread/pwrite/readv/writev/preadv/pwritev/preadv2/pwritev2,
 * lseek (SET, CUR, END, DATA, HOLE), fstat/stat/lstat/fstatat/statx sizes,
 * ftruncate/truncate, fallocate/posix_fallocate (extend, keep size, punch),
 * fsync/fdatasync/sync_file_range/posix_fadvise, fcntl (F_GETFL/F_SETFL
 * O_DIRECT, F_DUPFD), dup/dup2/dup3 sharing the offset, coherence between
 * two opens (cached and direct, G1/G2 on the synchronous path), stdio
 * (fopen/fdopen/fileno), copy_file_range/sendfile, fork (the child sees the
 * parent's unflushed writes; the parent sees the child's; fork_calls.c has
 * the rest), exec and system (a new program sees unflushed writes), dup2
 * onto stdin, threads, errors.
 */
#define _GNU_SOURCE
#include "tcommon.h"

#include <limits.h>
#include <pthread.h>
#include <sys/sendfile.h>
#include <sys/uio.h>
#include <sys/wait.h>

static const char *sdir, *udir;
static int coherio_mode;

static void path_of(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

/* read exactly via the kernel, bypassing any preload library */
static ssize_t raw_pread(int fd, void *buf, size_t len, off_t off)
{
	return syscall(SYS_pread64, fd, buf, len, off);
}

static void test_served_detection(void)
{
	char p[PATH_MAX];
	path_of(p, sdir, "detect");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0, "open %s: %s", p, strerror(errno));
	CHECK(write(fd, "x", 1) == 1, "write");
	CHECK(t_is_served(fd) == coherio_mode, "served=%d in mode %d", t_is_served(fd), coherio_mode);
	close(fd);
	path_of(p, udir, "detect");
	fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1, "unserved open/write");
	/* outside COHERIO_PATHS: exactly the kernel's (mmap works) */
	CHECK(!t_is_served(fd), "a file outside COHERIO_PATHS is not served");
	void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED && ((char *)m)[0] == 'x', "mmap of an unserved file");
	if (m != MAP_FAILED)
		munmap(m, 4096);
	close(fd);
}

static void test_basic_rw(void)
{
	char p[PATH_MAX], buf[20000], got[20000];
	path_of(p, sdir, "basic");
	unlink(p);
	int fd = open(p, O_CREAT | O_EXCL | O_RDWR, 0644);
	CHECK(fd >= 0, "O_CREAT|O_EXCL: %s", strerror(errno));
	CHECK_ERR(open(p, O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
	t_fill(buf, sizeof(buf), 1, 0);
	CHECK(write(fd, buf, 10000) == 10000, "write");
	CHECK(lseek(fd, 0, SEEK_CUR) == 10000, "position after write");
	CHECK(write(fd, buf + 10000, 10000) == 10000, "write 2");
	struct stat st;
	CHECK(fstat(fd, &st) == 0 && st.st_size == 20000, "fstat size %lld", (long long)st.st_size);
	CHECK(stat(p, &st) == 0 && st.st_size == 20000, "stat size %lld", (long long)st.st_size);
	CHECK(lstat(p, &st) == 0 && st.st_size == 20000, "lstat size");
	CHECK(fstatat(AT_FDCWD, p, &st, 0) == 0 && st.st_size == 20000, "fstatat size");
	struct statx sx;
	CHECK(statx(AT_FDCWD, p, 0, STATX_SIZE, &sx) == 0 && sx.stx_size == 20000, "statx size");
	CHECK(statx(fd, "", AT_EMPTY_PATH, STATX_SIZE, &sx) == 0 && sx.stx_size == 20000, "statx fd size");
	CHECK(lseek(fd, 0, SEEK_SET) == 0, "lseek set");
	memset(got, 0, sizeof(got));
	CHECK(read(fd, got, 7000) == 7000 && read(fd, got + 7000, 13000) == 13000, "reads");
	CHECK(t_verify(got, 20000, 1, 0) < 0, "read data");
	CHECK(read(fd, got, 10) == 0, "read at EOF = 0");
	CHECK(pread(fd, got, 100, 30000) == 0, "pread past EOF = 0");
	CHECK(pread(fd, got, 100, 19950) == 50, "pread across EOF = 50");
	CHECK(lseek(fd, -100, SEEK_END) == 19900, "SEEK_END");
	CHECK(lseek(fd, 50, SEEK_CUR) == 19950, "SEEK_CUR");
	CHECK_ERR(lseek(fd, -1, SEEK_SET), EINVAL);
	CHECK(lseek(fd, 0, SEEK_CUR) == 19950, "failed lseek moves nothing");
	CHECK(lseek(fd, 100, SEEK_DATA) == 100, "SEEK_DATA");
	CHECK(lseek(fd, 100, SEEK_HOLE) == 20000, "SEEK_HOLE");
	CHECK_ERR(lseek(fd, 20000, SEEK_DATA), ENXIO);
	/* a write past the end leaves a hole that reads as zeros */
	CHECK(pwrite(fd, "Z", 1, 30000) == 1, "pwrite past end");
	CHECK(pread(fd, got, 10000, 20000) == 10000, "pread hole");
	int zeros = 1;
	for (int i = 0; i < 10000; i++)
		zeros &= got[i] == 0;
	CHECK(zeros, "hole reads zeros");
	CHECK_ERR(pread(fd, got, 10, -1), EINVAL);
	CHECK_ERR(pwrite(fd, got, 10, -4096), EINVAL);
	close(fd);

	/* vectors */
	fd = open(p, O_RDWR | O_TRUNC);
	CHECK(fd >= 0, "reopen O_TRUNC");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 0, "O_TRUNC made it empty");
	struct iovec iov[3] = { { buf, 100 }, { buf + 100, 4000 }, { buf + 4100, 900 } };
	CHECK(writev(fd, iov, 3) == 5000, "writev");
	CHECK(pwritev(fd, iov, 3, 5000) == 5000, "pwritev");
	memset(got, 0, sizeof(got));
	struct iovec rv[2] = { { got, 2500 }, { got + 2500, 7500 } };
	CHECK(preadv(fd, rv, 2, 0) == 10000, "preadv");
	CHECK(t_verify(got, 5000, 1, 0) < 0 && t_verify(got + 5000, 5000, 1, 0) < 0, "vector data");
	CHECK(lseek(fd, 1000, SEEK_SET) == 1000, "lseek");
	CHECK(preadv2(fd, rv, 1, -1, 0) == 2500, "preadv2 at the position");
	CHECK(lseek(fd, 0, SEEK_CUR) == 3500, "preadv2(-1) moved the position");
	CHECK(t_verify(got, 2500, 1, 1000) < 0, "preadv2 data");
	CHECK(pwritev2(fd, iov, 1, 20000, RWF_DSYNC) == 100, "pwritev2 RWF_DSYNC");
	CHECK(pwritev2(fd, iov, 1, 0, RWF_APPEND) == 100, "pwritev2 RWF_APPEND");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 20200, "RWF_APPEND appended (%lld)", (long long)st.st_size);
	CHECK_ERR(pwritev2(fd, iov, 1, 0, 0x10000000), EOPNOTSUPP);
	CHECK(readv(fd, rv, 0) == 0, "readv of 0 vectors");
	volatile int minus1 = -1;
	CHECK_ERR(readv(fd, rv, minus1), EINVAL);
	close(fd);
	unlink(p);
}

static void test_modes_and_errors(void)
{
	char p[PATH_MAX], buf[64];
	path_of(p, sdir, "modes");
	int fd = creat(p, 0644);
	CHECK(fd >= 0, "creat");
	CHECK(write(fd, "hello", 5) == 5, "write");
	CHECK_ERR(read(fd, buf, 5), EBADF);       /* creat is O_WRONLY */
	CHECK_ERR(pread(fd, buf, 5, 0), EBADF);
	close(fd);
	fd = open(p, O_RDONLY);
	CHECK(fd >= 0, "open ro");
	CHECK_ERR(write(fd, "x", 1), EBADF);
	CHECK_ERR(pwrite(fd, "x", 1, 0), EBADF);
	CHECK_ERR(ftruncate(fd, 0), EINVAL);     /* Linux: not open for writing */
	CHECK(pread(fd, buf, 5, 0) == 5 && !memcmp(buf, "hello", 5), "read back");
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0, "fsync on read-only");
	close(fd);
	CHECK_ERR(read(fd, buf, 1), EBADF);      /* closed */
	CHECK_ERR(close(fd), EBADF);
	/* directories under the prefix are the kernel's */
	int dfd = open(sdir, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0, "open dir");
	CHECK_ERR(read(dfd, buf, 1), EISDIR);
	/* openat relative to a served directory */
	fd = openat(dfd, "modes", O_RDWR);
	CHECK(fd >= 0 && t_is_served(fd) == coherio_mode, "openat relative");
	CHECK(pread(fd, buf, 5, 0) == 5 && !memcmp(buf, "hello", 5), "openat data");
	close(fd);
	close(dfd);
	/* a served descriptor closed behind the library's back (a raw system
	 * call): the number, reused by an unserved open, is the new file's */
	int fs = open(p, O_RDONLY);
	CHECK(fs >= 0 && syscall(SYS_close, fs) == 0, "raw close");
	char up[PATH_MAX];
	path_of(up, udir, "reuse");
	int fu = open(up, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fu == fs, "the number is reused (%d, %d)", fu, fs);
	CHECK(write(fu, "unserved", 8) == 8 && pread(fu, buf, 8, 0) == 8 && !memcmp(buf, "unserved", 8),
	      "the reused number reaches the new file");
	CHECK(!t_is_served(fu), "and it is not served");
	close(fu);
	unlink(up);
	/* O_APPEND: two descriptions append, pwrite appends too (Linux) */
	int a1 = open(p, O_WRONLY | O_APPEND), a2 = open(p, O_WRONLY | O_APPEND);
	CHECK(a1 >= 0 && a2 >= 0, "open append");
	CHECK(write(a1, "AB", 2) == 2 && write(a2, "CD", 2) == 2 && write(a1, "EF", 2) == 2, "appends");
	CHECK(pwrite(a2, "GH", 2, 0) == 2, "pwrite on O_APPEND");
	CHECK(lseek(a1, 0, SEEK_CUR) == 11, "append position %lld", (long long)lseek(a1, 0, SEEK_CUR));
	close(a1);
	close(a2);
	fd = open(p, O_RDONLY);
	memset(buf, 0, sizeof(buf));
	CHECK(read(fd, buf, 64) == 13 && !strcmp(buf, "helloABCDEFGH"), "appended '%s'", buf);
	close(fd);
	unlink(p);
}

static void test_two_opens_coherent(void)
{
	char p[PATH_MAX];
	enum { N = 64 << 10 };
	unsigned char *w = t_aligned(N), *r = t_aligned(N);
	path_of(p, sdir, "coherent");
	int c1 = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int c2 = open(p, O_RDWR);
	int d = open(p, O_RDWR | O_DIRECT);
	CHECK(c1 >= 0 && c2 >= 0 && d >= 0, "opens: %s", strerror(errno));
	t_fill(w, N, 2, 0);
	CHECK(pwrite(c1, w, N, 0) == N, "cached write");
	CHECK(pread(c2, r, N, 0) == N && t_verify(r, N, 2, 0) < 0, "second open sees it");
	/* G2: a direct read sees the cached write */
	memset(r, 0, N);
	CHECK(pread(d, r, N, 0) == N && t_verify(r, N, 2, 0) < 0, "direct read sees cached write");
	/* G1: a direct write is seen by cached readers that hold the old data */
	CHECK(pread(c2, r, 4096, 8192) == 4096, "warm the cache");
	t_fill(w, 8192, 3, 8192);
	CHECK(pwrite(d, w, 8192, 8192) == 8192, "direct write");
	CHECK(pread(c2, r, 8192, 8192) == 8192 && t_verify(r, 8192, 3, 8192) < 0,
	      "cached read after direct write sees the new data");
	CHECK(pread(c1, r, 4096, 0) == 4096 && t_verify(r, 4096, 2, 0) < 0, "untouched data kept");
	/* direct-I/O rules: misaligned is EINVAL, as the kernel's */
	CHECK_ERR(pread(d, r + 1, 4096, 0), EINVAL);
	CHECK_ERR(pread(d, r, 4096, 100), EINVAL);
	CHECK_ERR(pwrite(d, w, 100, 0), EINVAL);
	/* F_SETFL O_DIRECT flips the path of an open description */
	int fl = fcntl(c2, F_GETFL);
	CHECK(fl >= 0 && !(fl & O_DIRECT), "F_GETFL");
	CHECK(fcntl(c2, F_SETFL, fl | O_DIRECT) == 0, "F_SETFL O_DIRECT: %s", strerror(errno));
	CHECK(fcntl(c2, F_GETFL) & O_DIRECT, "F_GETFL shows O_DIRECT");
	CHECK_ERR(pread(c2, r + 1, 4096, 0), EINVAL);
	CHECK(pread(c2, r, 4096, 0) == 4096 && t_verify(r, 4096, 2, 0) < 0, "aligned direct read");
	CHECK(fcntl(c2, F_SETFL, fl) == 0, "F_SETFL back");
	CHECK(pread(c2, r + 1, 100, 1) == 100 && t_verify(r + 1, 100, 2, 1) < 0, "misaligned cached read");
	close(c1);
	close(c2);
	close(d);
	unlink(p);
	free(w);
	free(r);
}

static void test_dup(void)
{
	char p[PATH_MAX], buf[16];
	path_of(p, sdir, "dup");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "0123456789", 10) == 10, "setup");
	CHECK(lseek(fd, 2, SEEK_SET) == 2, "lseek");
	int d1 = dup(fd);
	int d2 = fcntl(fd, F_DUPFD, 100);
	int d3 = dup2(fd, 200);
	int d4 = dup3(fd, 201, O_CLOEXEC);
	CHECK(d1 > 2 && d2 >= 100 && d3 == 200 && d4 == 201, "dups %d %d %d %d", d1, d2, d3, d4);
	CHECK(read(d1, buf, 2) == 2 && !memcmp(buf, "23", 2), "dup shares the offset");
	CHECK(read(d2, buf, 2) == 2 && !memcmp(buf, "45", 2), "F_DUPFD shares the offset");
	CHECK(read(d3, buf, 2) == 2 && !memcmp(buf, "67", 2), "dup2 shares the offset");
	CHECK(lseek(d4, 0, SEEK_CUR) == 8, "dup3 shares the offset");
	CHECK(fcntl(d4, F_GETFD) == FD_CLOEXEC, "dup3 O_CLOEXEC");
	close(fd);
	CHECK(write(d1, "xy", 2) == 2, "write via dup after close of the original");
	CHECK(pread(d2, buf, 10, 0) == 10 && !memcmp(buf, "01234567xy", 10), "data '%.10s'", buf);
	/* dup2 over a served descriptor closes that one */
	int other = open(p, O_RDONLY);
	CHECK(dup2(d1, other) == other, "dup2 over served");
	CHECK(write(other, "Q", 1) == 1, "the new one is the writable description");
	close(d1);
	close(d2);
	close(d3);
	close(d4);
	close(other);
	unlink(p);
}

static void test_truncate_fallocate(void)
{
	char p[PATH_MAX], buf[8192];
	struct stat st;
	path_of(p, sdir, "trunc");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	t_fill(buf, sizeof(buf), 4, 0);
	CHECK(write(fd, buf, 8192) == 8192, "write");
	CHECK(ftruncate(fd, 1000) == 0, "ftruncate down");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 1000, "size 1000");
	CHECK(ftruncate(fd, 5000) == 0, "ftruncate up");
	CHECK(pread(fd, buf, 8192, 0) == 5000, "read to the new end");
	CHECK(t_verify(buf, 1000, 4, 0) < 0, "kept part");
	int z = 1;
	for (int i = 1000; i < 5000; i++)
		z &= buf[i] == 0;
	CHECK(z, "extended part is zeros");
	CHECK_ERR(ftruncate(fd, -1), EINVAL);
	CHECK(truncate(p, 3000) == 0, "truncate(path) while open");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 3000, "size after truncate(path): %lld",
	      (long long)st.st_size);
	CHECK(pread(fd, buf, 8192, 0) == 3000, "read after truncate(path)");
	CHECK(fallocate(fd, 0, 0, 10000) == 0, "fallocate extends: %s", strerror(errno));
	CHECK(fstat(fd, &st) == 0 && st.st_size == 10000, "size 10000");
	CHECK(fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 20000) == 0, "fallocate keep size");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 10000, "size still 10000");
	t_fill(buf, 8192, 5, 0);
	CHECK(pwrite(fd, buf, 8192, 0) == 8192, "write");
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 4096) == 0, "punch");
	CHECK(pread(fd, buf, 8192, 0) == 8192, "read");
	z = 1;
	for (int i = 4096; i < 8192; i++)
		z &= buf[i] == 0;
	CHECK(t_verify(buf, 4096, 5, 0) < 0 && z, "punched range reads zeros, rest kept");
	CHECK(posix_fallocate(fd, 0, 12000) == 0, "posix_fallocate");
	CHECK(fstat(fd, &st) == 0 && st.st_size == 12000, "size 12000");
	CHECK(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0, "fadvise dontneed");
	CHECK(posix_fadvise(fd, 0, 0, 99) == EINVAL, "fadvise bad advice");
	CHECK(pread(fd, buf, 4096, 0) == 4096 && t_verify(buf, 4096, 5, 0) < 0, "data after DONTNEED");
	CHECK(sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0,
	      "sync_file_range");
	CHECK_ERR(sync_file_range(fd, -1, 0, SYNC_FILE_RANGE_WRITE), EINVAL);
	CHECK(fsync(fd) == 0 && fdatasync(fd) == 0, "fsync");
	close(fd);
	unlink(p);
}

static void test_stdio(void)
{
	char p[PATH_MAX], line[128];
	struct stat st;
	path_of(p, sdir, "stdio");
	FILE *f = fopen(p, "w+");
	CHECK(f != NULL, "fopen w+: %s", strerror(errno));
	if (!f)
		return;
	CHECK(t_is_served(fileno(f)) == coherio_mode, "fopen'd file is served");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "line %d\n", i);
	CHECK(fflush(f) == 0, "fflush");
	CHECK(fstat(fileno(f), &st) == 0 && st.st_size > 6000, "fstat(fileno)");
	rewind(f);
	CHECK(fgets(line, sizeof(line), f) && !strcmp(line, "line 0\n"), "fgets after rewind");
	CHECK(fseek(f, -9, SEEK_END) == 0 && fgets(line, sizeof(line), f) &&
	      !strcmp(line, "line 999\n"), "fseek SEEK_END '%s'", line);
	CHECK(fclose(f) == 0, "fclose");
	int fd = open(p, O_RDONLY);
	CHECK(fd >= 0 && read(fd, line, 7) == 7 && !memcmp(line, "line 0\n", 7), "open after fclose");
	f = fdopen(fd, "r");
	CHECK(f && fgets(line, sizeof(line), f) && !strcmp(line, "line 1\n"), "fdopen continues");
	if (f)
		fclose(f);
	f = fopen(p, "a");
	CHECK(f && fputs("tail\n", f) >= 0 && fclose(f) == 0, "fopen a");
	CHECK(stat(p, &st) == 0, "stat");
	fd = open(p, O_RDONLY);
	CHECK(pread(fd, line, 5, st.st_size - 5) == 5 && !memcmp(line, "tail\n", 5), "appended");
	close(fd);
	unlink(p);
}

static void test_copy(void)
{
	char s[PATH_MAX], d[PATH_MAX], u[PATH_MAX];
	enum { N = 300000 };
	unsigned char *buf = malloc(N), *got = malloc(N);
	path_of(s, sdir, "copysrc");
	path_of(d, sdir, "copydst");
	path_of(u, udir, "copyu");
	t_fill(buf, N, 6, 0);
	int fs = open(s, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int fd = open(d, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int fu = open(u, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fs >= 0 && fd >= 0 && fu >= 0, "opens");
	CHECK(write(fs, buf, N) == N, "write src (cached, not written back)");
	off_t in = 0, out = 0;
	ssize_t n = 0, k;
	while ((k = copy_file_range(fs, &in, fd, &out, N, 0)) > 0)
		n += k;
	CHECK(n == N, "copy_file_range copied %zd", n);
	CHECK(pread(fd, got, N, 0) == N && t_verify(got, N, 6, 0) < 0, "copied data");
	in = 0;
	n = 0;
	while ((k = sendfile(fu, fs, &in, N)) > 0)
		n += k;
	CHECK(n == N && pread(fu, got, N, 0) == N && t_verify(got, N, 6, 0) < 0,
	      "sendfile to an unserved file: %zd", n);
	close(fs);
	close(fd);
	close(fu);
	unlink(s);
	unlink(d);
	unlink(u);
	free(buf);
	free(got);
}

static void test_fork_exec(void)
{
	char p[PATH_MAX], buf[8192], got[8192];
	path_of(p, sdir, "fork");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	t_fill(buf, sizeof(buf), 7, 0);
	CHECK(write(fd, buf, 8192) == 8192, "write (cached)");
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		/* the kernel's file has the parent's writes: written back at fork */
		if (raw_pread(fd, got, 8192, 0) != 8192 || t_verify(got, 8192, 7, 0) >= 0)
			bad |= 1;
		int f2 = open(p, O_RDWR);
		if (f2 < 0 || pread(f2, got, 8192, 0) != 8192 || t_verify(got, 8192, 7, 0) >= 0)
			bad |= 2;
		/* the inherited descriptor works and keeps the offset */
		if (lseek(fd, 0, SEEK_CUR) != 8192)
			bad |= 4;
		t_fill(buf, 4096, 8, 0);
		if (pwrite(fd, buf, 4096, 0) != 4096)
			bad |= 8;
		exit(bad); /* written back at exit */
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/wait");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child checks: status %d", status);
	int f3 = open(p, O_RDONLY);
	CHECK(pread(f3, got, 4096, 0) == 4096 && t_verify(got, 4096, 8, 0) < 0,
	      "parent sees the child's write");
	CHECK(pread(f3, got, 4096, 4096) == 4096 && t_verify(got, 4096, 7, 4096) < 0,
	      "and its own");
	close(f3);

	/* a program started by exec reads what we wrote and did not flush */
	t_fill(buf, sizeof(buf), 9, 0);
	CHECK(pwrite(fd, buf, 8192, 0) == 8192, "write (cached)");
	int pfd[2];
	CHECK(pipe(pfd) == 0, "pipe");
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		close(pfd[0]);
		execlp("cat", "cat", p, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(got) && (k = read(pfd[0], got + n, sizeof(got) - n)) > 0)
		n += (size_t)k;
	close(pfd[0]);
	waitpid(pid, &status, 0);
	CHECK(n == 8192 && t_verify(got, 8192, 9, 0) < 0, "exec'd cat read %zu bytes", n);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "cat status %d", status);

	/* the descriptor left the cache at the forks above (the interim fork
	 * rule, pl_core.c): what follows needs a served file, a new one */
	close(fd);
	unlink(p);
	path_of(p, sdir, "fork2");
	fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(t_is_served(fd) == coherio_mode, "a file opened after the forks is served");

	/* posix_spawn'd too (system() uses it) */
	t_fill(buf, sizeof(buf), 10, 0);
	CHECK(pwrite(fd, buf, 8192, 0) == 8192, "write (cached)");
	char cmd[2 * PATH_MAX + 64], ref[PATH_MAX];
	path_of(ref, udir, "forkref");
	int r = open(ref, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	CHECK(r >= 0 && write(r, buf, 8192) == 8192, "reference file");
	close(r);
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", p, ref);
	CHECK(system(cmd) == 0, "system(cmp) sees the unflushed write");
	unlink(ref);

	/* dup2 onto stdin: the descriptor leaves the cache, written back first */
	t_fill(buf, sizeof(buf), 11, 0);
	CHECK(pwrite(fd, buf, 8192, 0) == 8192, "write (cached)");
	int saved = dup(0);
	CHECK(lseek(fd, 100, SEEK_SET) == 100, "lseek");
	CHECK(dup2(fd, 0) == 0, "dup2 onto 0");
	CHECK(read(0, got, 100) == 100 && t_verify(got, 100, 11, 100) < 0, "stdin reads the data at the offset");
	dup2(saved, 0);
	close(saved);
	close(fd);
	unlink(p);
}

/* A file read and closed is cached on (linger); a change made behind the
 * library's back (raw system calls here, another process in life) between
 * the close and the next open is seen by that open. */
static void test_reopen_after_change(void)
{
	char p[PATH_MAX], buf[8192], got[8192];
	path_of(p, sdir, "linger");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	t_fill(buf, sizeof(buf), 12, 0);
	CHECK(fd >= 0 && write(fd, buf, 8192) == 8192, "write");
	close(fd);
	for (int round = 0; round < 3; round++) {
		fd = open(p, O_RDONLY);
		CHECK(fd >= 0 && pread(fd, got, 8192, 0) == 8192, "read round %d", round);
		CHECK(t_verify(got, 8192, (unsigned)(12 + round), 0) < 0, "round %d data", round);
		close(fd);
		fd = open(p, O_RDONLY); /* reopened unchanged: same data */
		CHECK(pread(fd, got, 8192, 0) == 8192 && t_verify(got, 8192, (unsigned)(12 + round), 0) < 0,
		      "round %d reopened", round);
		close(fd);
		/* the kernel's file changes (same size) behind the library */
		usleep(5000);
		t_fill(buf, sizeof(buf), (unsigned)(13 + round), 0);
		int raw = (int)syscall(SYS_openat, AT_FDCWD, p, O_WRONLY);
		CHECK(raw >= 0 && syscall(SYS_pwrite64, raw, buf, 8192, 0) == 8192, "raw write");
		syscall(SYS_close, raw);
	}
	fd = open(p, O_RDONLY);
	CHECK(pread(fd, got, 8192, 0) == 8192 && t_verify(got, 8192, 15, 0) < 0, "last change seen");
	/* another process appends while we hold the file open: our close
	 * must not cut its bytes off */
	int raw = (int)syscall(SYS_openat, AT_FDCWD, p, O_WRONLY | O_APPEND);
	CHECK(raw >= 0 && syscall(SYS_write, raw, "APPENDED", 8) == 8, "raw append");
	syscall(SYS_close, raw);
	close(fd);
	struct stat st;
	CHECK(stat(p, &st) == 0 && st.st_size == 8200, "the append survives our close: size %lld",
	      (long long)st.st_size);
	fd = open(p, O_RDONLY);
	CHECK(pread(fd, got, 8, 8192) == 8 && !memcmp(got, "APPENDED", 8), "appended bytes");
	close(fd); /* read and closed: cached on */
	/* appended behind us after our close, then many other files are read
	 * and closed (pushing this one's cached state out): still intact */
	raw = (int)syscall(SYS_openat, AT_FDCWD, p, O_WRONLY | O_APPEND);
	CHECK(raw >= 0 && syscall(SYS_write, raw, "MORE", 4) == 4, "raw append 2");
	syscall(SYS_close, raw);
	for (int i = 0; i < 40; i++) {
		char q[PATH_MAX + 16];
		snprintf(q, sizeof(q), "%s.%d", p, i);
		int w = open(q, O_CREAT | O_RDWR | O_TRUNC, 0644);
		CHECK(w >= 0 && write(w, "x", 1) == 1, "other file %d", i);
		close(w);
		w = open(q, O_RDONLY);
		CHECK(w >= 0 && pread(w, got, 1, 0) == 1, "read other %d", i);
		close(w);
		unlink(q);
	}
	CHECK(stat(p, &st) == 0 && st.st_size == 8204, "size after the push-out: %lld",
	      (long long)st.st_size);
	unlink(p);
}

struct thr {
	int id;
	const char *path;
	int bad;
};

static void *thr_main(void *arg)
{
	struct thr *t = arg;
	enum { B = 16384, ROUNDS = 200 };
	unsigned char *buf = malloc(B), *got = malloc(B);
	int fd = open(t->path, O_RDWR);
	if (fd < 0) {
		t->bad = 1;
		return NULL;
	}
	for (int r = 0; r < ROUNDS; r++) {
		off_t off = (off_t)(t->id * ROUNDS + r) * B;
		t_fill(buf, B, (unsigned)(t->id * 1000 + r), 0);
		if (pwrite(fd, buf, B, off) != B)
			t->bad = 2;
		if (pread(fd, got, B, off) != B || t_verify(got, B, (unsigned)(t->id * 1000 + r), 0) >= 0)
			t->bad = 3;
	}
	close(fd);
	free(buf);
	free(got);
	return NULL;
}

static void test_threads(void)
{
	char p[PATH_MAX];
	path_of(p, sdir, "threads");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0, "create");
	pthread_t th[4];
	struct thr t[4];
	for (int i = 0; i < 4; i++) {
		t[i].id = i;
		t[i].path = p;
		t[i].bad = 0;
		pthread_create(&th[i], NULL, thr_main, &t[i]);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(!t[i].bad, "thread %d: %d", i, t[i].bad);
	}
	/* every thread's data, read through another description */
	unsigned char *got = malloc(16384);
	for (int i = 0; i < 4; i++)
		for (int r = 0; r < 200; r += 37) {
			off_t off = (off_t)(i * 200 + r) * 16384;
			CHECK(pread(fd, got, 16384, off) == 16384 &&
			      t_verify(got, 16384, (unsigned)(i * 1000 + r), 0) < 0, "thread %d round %d", i, r);
		}
	free(got);
	close(fd);
	unlink(p);
}

int main(int argc, char **argv)
{
	t_name = "posix_calls";
	if (argc != 4)
		DIE("usage: posix_calls SERVED_DIR UNSERVED_DIR kernel|coherio");
	sdir = argv[1];
	udir = argv[2];
	coherio_mode = !strcmp(argv[3], "coherio") || !strcmp(argv[3], "linked");
	t_linked = !strcmp(argv[3], "linked");
	if (!t_dirs_ready(sdir, udir))
		return 77;

	test_served_detection();
	test_basic_rw();
	test_modes_and_errors();
	test_two_opens_coherent();
	test_dup();
	test_truncate_fallocate();
	test_stdio();
	test_copy();
	test_fork_exec();
	test_reopen_after_change();
	test_threads();
	return t_finish();
}
