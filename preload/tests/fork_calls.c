/*
 * fork_calls.c - a forked child and its parent agree on every file they
 * share, as on Linux: the preload library's fork rule ("descriptors shared
 * by fork leave the cache", pl_core.c) in use.
 *
 * usage: fork_calls SERVED_DIR UNSERVED_DIR kernel|coherio|linked [ROUNDS]
 * (modes as posix_calls.c). Scenarios:
 *  forked_reader  the parent O_DIRECT-writes generation N of a file, then
 *                 publishes N in shared memory; a forked child reads the
 *                 file buffered (the inherited descriptor and one it opens
 *                 itself) and every block must carry a generation >= the
 *                 last N published before its read (issue 11's scenario).
 *                 Prints the rounds and the stale blocks it saw.
 *  child_cached_parent_direct, parent_cached_child_direct
 *                 one process writes 512 bytes of a page through the cache,
 *                 the other O_DIRECT-writes another block of the same page;
 *                 both close and exit: the file has both writes (no write-
 *                 back of a whole page lands stale bytes over the other).
 *                 Also: O_APPEND, O_DIRECT and fstat's size on inherited
 *                 descriptors are the kernel's; a file opened after the fork
 *                 is served, one open at the fork is not (coherio modes).
 *  fork_races_cached_writes
 *                 a thread keeps writing known patterns through the cache
 *                 (a new file after each fork) while the main thread forks
 *                 again and again; afterwards each file holds exactly the
 *                 last pattern written to each block. (It catches a switch
 *                 that does not wait for the calls in progress: 4 runs in 6
 *                 failed with that wait taken out.)
 *  fork_while_lock_waits
 *                 a thread waiting in F_SETLKW (another process holds the
 *                 lock) does not hold up a fork.
 */
#define _GNU_SOURCE
#include "tcommon.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>

#define BLK 4096
#define NBLK 16

static const char *sdir, *udir;
static int coherio_mode;
static int rounds = 300;

static void path_of(char *buf, const char *dir, const char *name)
{
	snprintf(buf, PATH_MAX, "%s/%s", dir, name);
}

/* read exactly via the kernel, bypassing any preload library */
static ssize_t raw_pread(int fd, void *buf, size_t len, off_t off)
{
	return syscall(SYS_pread64, fd, buf, len, off);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *shared_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		DIE("mmap shared");
	memset(p, 0, 4096);
	return p;
}

static int wait_child(pid_t pid)
{
	int status = 0;
	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- forked reader ---------------------------------------------------------- */

struct reader_shm {
	_Atomic uint64_t published; /* last generation fully written      */
	_Atomic uint64_t seen;      /* child: last published it read after */
	atomic_int done;
	_Atomic uint64_t rounds;    /* child: read rounds                   */
	_Atomic uint64_t stale;     /* child: blocks older than published   */
	_Atomic uint64_t first_stale_round;
};

static void gen_fill(uint64_t *buf, uint64_t gen)
{
	for (size_t i = 0; i < NBLK * BLK / 8; i++)
		buf[i] = gen;
}

/* Blocks of @buf with a word older than @min. */
static unsigned count_stale(const uint64_t *buf, uint64_t min)
{
	unsigned n = 0;
	for (int b = 0; b < NBLK; b++) {
		for (int w = 0; w < BLK / 8; w++) {
			if (buf[b * BLK / 8 + w] < min) {
				n++;
				break;
			}
		}
	}
	return n;
}

static void reader_child(struct reader_shm *sh, int fdb, const char *path, pid_t parent)
{
	uint64_t *buf = t_aligned(NBLK * BLK);
	int own = open(path, O_RDONLY);
	if (own < 0)
		_exit(2);
	while (!atomic_load(&sh->done)) {
		if (getppid() != parent)
			_exit(4); /* the parent died: no one will say done */
		uint64_t min = atomic_load(&sh->published);
		unsigned stale = 0;
		if (pread(fdb, buf, NBLK * BLK, 0) != NBLK * BLK)
			_exit(3);
		stale += count_stale(buf, min);
		if (pread(own, buf, NBLK * BLK, 0) != NBLK * BLK)
			_exit(3);
		stale += count_stale(buf, min);
		uint64_t r = atomic_fetch_add(&sh->rounds, 1);
		if (stale && !atomic_load(&sh->stale))
			atomic_store(&sh->first_stale_round, r + 1);
		atomic_fetch_add(&sh->stale, stale);
		atomic_store(&sh->seen, min);
	}
	close(own);
	free(buf);
	_exit(0);
}

static void test_forked_reader(void)
{
	char p[PATH_MAX];
	path_of(p, sdir, "forked-reader");
	int fdb = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int fdd = open(p, O_RDWR | O_DIRECT);
	CHECK(fdb >= 0 && fdd >= 0, "open %s: %s", p, strerror(errno));
	uint64_t *buf = t_aligned(NBLK * BLK);
	gen_fill(buf, 0);
	CHECK(pwrite(fdd, buf, NBLK * BLK, 0) == NBLK * BLK, "O_DIRECT write of generation 0");
	CHECK(pread(fdb, buf, NBLK * BLK, 0) == NBLK * BLK, "buffered read (the cache holds it)");
	struct reader_shm *sh = shared_page();
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid == 0)
		reader_child(sh, fdb, p, parent);
	CHECK(pid > 0, "fork");
	int64_t t0 = now_ms();
	for (uint64_t g = 1; g <= (uint64_t)rounds && pid > 0; g++) {
		gen_fill(buf, g);
		if (pwrite(fdd, buf, NBLK * BLK, 0) != NBLK * BLK) {
			CHECK(0, "O_DIRECT write of generation %llu: %s", (unsigned long long)g,
			      strerror(errno));
			break;
		}
		atomic_store(&sh->published, g);
		/* the child reads at least once after it (1 s at most) */
		int64_t until = now_ms() + 1000;
		while (atomic_load(&sh->seen) < g && now_ms() < until)
			sched_yield();
	}
	atomic_store(&sh->done, 1);
	int st = pid > 0 ? wait_child(pid) : -1;
	CHECK(st == 0, "reader child exit %d", st);
	unsigned long long nr = atomic_load(&sh->rounds), ns = atomic_load(&sh->stale);
	t_log("forked_reader: %d generations, %llu read rounds in the child, %llu stale blocks "
	      "(first in round %llu), %lld ms", rounds, nr, ns,
	      (unsigned long long)atomic_load(&sh->first_stale_round), (long long)(now_ms() - t0));
	CHECK(nr >= (unsigned long long)rounds, "the child read %llu rounds (want >= %d)", nr, rounds);
	CHECK(ns == 0, "the child read %llu stale blocks after the parent's O_DIRECT writes", ns);
	munmap(sh, 4096);
	free(buf);
	close(fdb);
	close(fdd);
	unlink(p);
}

/* ---- no write-back over the other process's direct write ------------------ */

/* Sync: one byte through a pipe. */
static void post(int fd)
{
	char c = 1;
	if (write(fd, &c, 1) != 1)
		DIE("pipe write");
}

static void await(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		DIE("pipe read");
}

/*
 * @child_direct 0: the child writes 512 bytes at 0 through the cache, the
 * parent O_DIRECT-writes 512 at 2048 (the same 4 KiB page) meanwhile.
 * 1: the other way round.
 */
static void test_no_lost_write(int child_direct)
{
	char p[PATH_MAX], q[PATH_MAX];
	path_of(p, sdir, child_direct ? "lost-pd" : "lost-cd");
	path_of(q, sdir, child_direct ? "after-pd" : "after-cd");
	unlink(q);
	unsigned char *a = t_aligned(8192), *w = t_aligned(512), *got = t_aligned(8192);
	int fdb = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	int fdd = open(p, O_RDWR | O_DIRECT);
	int fda = open(p, O_WRONLY | O_APPEND);
	CHECK(fdb >= 0 && fdd >= 0 && fda >= 0, "open %s: %s", p, strerror(errno));
	t_fill(a, 8192, 20, 0);
	CHECK(write(fdb, a, 8192) == 8192, "cached write (dirty before the fork)");
	CHECK(pread(fdb, got, 8192, 0) == 8192, "cached read");
	CHECK(t_is_served(fdb) == coherio_mode, "served before the fork");
	int to_child[2], to_parent[2];
	if (pipe(to_child) || pipe(to_parent))
		DIE("pipe");
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		/* the page in this process's cache (if any) before the parent writes */
		if (pread(fdb, got, 8192, 0) != 8192)
			bad |= 8;
		await(to_child[0]);
		if (!child_direct) {
			t_fill(w, 512, 21, 0);
			if (pwrite(fdb, w, 512, 0) != 512)
				bad |= 1;
		} else {
			t_fill(w, 512, 22, 2048);
			if (pwrite(fdd, w, 512, 2048) != 512)
				bad |= 1;
		}
		/* O_APPEND on the inherited descriptor: at the kernel's end */
		if (write(fda, "appended", 8) != 8)
			bad |= 2;
		post(to_parent[1]);
		await(to_child[0]); /* the parent wrote too */
		if (fsync(fdb) || close(fdb) || close(fdd) || close(fda))
			bad |= 4;
		exit(bad); /* the exit writes back what this process caches */
	}
	CHECK(pid > 0, "fork");
	/* the page in this process's cache (if any) before the child writes */
	CHECK(pread(fdb, got, 8192, 0) == 8192, "cached read after the fork");
	post(to_child[1]);
	await(to_parent[0]);
	if (!child_direct) {
		t_fill(w, 512, 22, 2048);
		CHECK(pwrite(fdd, w, 512, 2048) == 512, "parent O_DIRECT write: %s", strerror(errno));
	} else {
		t_fill(w, 512, 21, 0);
		CHECK(pwrite(fdb, w, 512, 0) == 512, "parent cached write");
	}
	/* the kernel's O_DIRECT on the inherited descriptor: misaligned EINVAL */
	CHECK_ERR(pwrite(fdd, w, 100, 0), EINVAL);
	CHECK(fcntl(fdd, F_GETFL) & O_DIRECT, "O_DIRECT kept");
	post(to_child[1]);
	int st = wait_child(pid);
	CHECK(st == 0, "child exit %d", st);
	/* fstat and SEEK_END: the kernel's size, with the child's append */
	struct stat sb;
	CHECK(fstat(fdb, &sb) == 0 && sb.st_size == 8192 + 8, "fstat size %lld, want %d",
	      (long long)sb.st_size, 8192 + 8);
	CHECK(lseek(fdb, 0, SEEK_END) == 8192 + 8, "SEEK_END");
	CHECK(fsync(fdb) == 0 && close(fdb) == 0, "parent fsync/close");
	close(fdd);
	close(fda);
	/* both writes are in the file, and the rest is the first pattern */
	int r = open(p, O_RDONLY);
	CHECK(r >= 0 && raw_pread(r, got, 8192, 0) == 8192, "read back");
	CHECK(t_verify(got, 512, 21, 0) < 0, "the cached write at 0 is there");
	CHECK(t_verify(got + 2048, 512, 22, 2048) < 0, "the O_DIRECT write at 2048 is there (%s)",
	      child_direct ? "the child's" : "the parent's");
	CHECK(t_verify(got + 512, 1536, 20, 512) < 0 && t_verify(got + 2560, 8192 - 2560, 20, 2560) < 0,
	      "the rest is the first write");
	CHECK(raw_pread(r, got, 100, 8192) == 8 && !memcmp(got, "appended", 8), "the append is at the end");
	/* a file open at the fork is the kernel's from then on (re-open too);
	 * a file opened after it is served */
	CHECK(!t_is_served(r), "a re-open of a file open at the fork is not served");
	close(r);
	int n = open(q, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(n >= 0 && write(n, "x", 1) == 1, "a new file");
	CHECK(t_is_served(n) == coherio_mode, "a file opened after the fork is served");
	close(n);
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	unlink(p);
	unlink(q);
	free(a);
	free(w);
	free(got);
}

/* ---- a thread writing through the cache while the main thread forks --------- */

#define RACE_FILES 48
#define RACE_NBLK 256 /* a write at the switch is likely a block's last */

struct racer {
	char path[RACE_FILES][PATH_MAX];
	_Atomic unsigned last[RACE_FILES][RACE_NBLK]; /* seed of the last write, 0 none */
	atomic_int next;    /* the main thread: move on to file next */
	atomic_int opened;  /* files the racer made */
	atomic_int stop;
	int bad;
};

/* File f is written (4 KiB blocks, a new seed each) until next > f. */
static void *racer_main(void *arg)
{
	struct racer *r = arg;
	unsigned char *buf = malloc(BLK);
	unsigned seed = 1;
	for (int f = 0; f < RACE_FILES && !atomic_load(&r->stop); f++) {
		int fd = open(r->path[f], O_CREAT | O_RDWR | O_TRUNC, 0644);
		if (fd < 0) {
			r->bad |= 1;
			break;
		}
		atomic_store(&r->opened, f + 1);
		while (atomic_load(&r->next) <= f && !atomic_load(&r->stop)) {
			int b = (int)((seed * 7u) % RACE_NBLK);
			t_fill(buf, BLK, seed, 0);
			if (pwrite(fd, buf, BLK, (off_t)b * BLK) != BLK)
				r->bad |= 2;
			atomic_store(&r->last[f][b], seed);
			seed++;
		}
		if (close(fd))
			r->bad |= 4;
	}
	free(buf);
	return NULL;
}

static void test_fork_races_cached_writes(void)
{
	struct racer *r = calloc(1, sizeof(*r));
	for (int f = 0; f < RACE_FILES; f++) {
		char name[32];
		snprintf(name, sizeof(name), "race-%d", f);
		path_of(r->path[f], sdir, name);
		unlink(r->path[f]);
	}
	pthread_t th;
	pthread_create(&th, NULL, racer_main, r);
	int forks = 0;
	/* a fork per file, which finds it served, mid-write; the racer moves
	 * on soon after, so a write lost in the switch is often the last one
	 * of its block */
	for (int k = 0; k < RACE_FILES; k++) {
		struct timespec ts = { 0, 3000000 };
		nanosleep(&ts, NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(0);
		atomic_fetch_add(&r->next, 1);
		CHECK(pid > 0 && wait_child(pid) == 0, "fork/child");
		forks++;
	}
	atomic_store(&r->stop, 1);
	pthread_join(th, NULL);
	CHECK(!r->bad, "racer: %d", r->bad);
	unsigned char *got = malloc(BLK);
	int wrong = 0, blocks = 0;
	for (int f = 0; f < atomic_load(&r->opened); f++) {
		int fd = open(r->path[f], O_RDONLY);
		CHECK(fd >= 0, "open %s", r->path[f]);
		for (int b = 0; fd >= 0 && b < RACE_NBLK; b++) {
			unsigned s = atomic_load(&r->last[f][b]);
			if (!s)
				continue;
			blocks++;
			if (raw_pread(fd, got, BLK, (off_t)b * BLK) != BLK || t_verify(got, BLK, s, 0) >= 0) {
				if (!wrong++)
					t_log("%s block %d: not the last write (seed %u)", r->path[f], b, s);
			}
		}
		if (fd >= 0)
			close(fd);
	}
	for (int f = 0; f < RACE_FILES; f++)
		unlink(r->path[f]);
	t_log("fork_races_cached_writes: %d forks, %d blocks checked, %d wrong", forks, blocks, wrong);
	CHECK(wrong == 0, "%d blocks are not the last write", wrong);
	CHECK(blocks >= RACE_FILES, "the racer wrote %d blocks", blocks);
	free(got);
	free(r);
}

/* ---- a thread waiting for a lock does not hold a fork up ------------------ */

struct locker {
	int fd;
	int got;
};

static void *locker_main(void *arg)
{
	struct locker *l = arg;
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
	l->got = fcntl(l->fd, F_SETLKW, &fl) == 0;
	return NULL;
}

static void test_fork_while_lock_waits(void)
{
	char p[PATH_MAX];
	path_of(p, sdir, "lock-wait");
	int fd = open(p, O_CREAT | O_RDWR | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, "x", 1) == 1 && close(fd) == 0, "create");
	int go[2], ready[2];
	if (pipe(go) || pipe(ready))
		DIE("pipe");
	pid_t holder = fork(); /* holds the lock until told */
	if (holder == 0) {
		int h = open(p, O_RDWR);
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
		if (h < 0 || fcntl(h, F_SETLK, &fl) < 0)
			_exit(1);
		post(ready[1]);
		await(go[0]);
		_exit(0);
	}
	await(ready[0]);
	/* served: the file was not open at the fork above */
	int fd2 = open(p, O_RDWR);
	CHECK(t_is_served(fd2) == coherio_mode, "served");
	struct locker l = { fd2, 0 };
	pthread_t th;
	pthread_create(&th, NULL, locker_main, &l);
	struct timespec ts = { 0, 50000000 };
	nanosleep(&ts, NULL); /* it waits in F_SETLKW */
	int64_t t0 = now_ms();
	pid_t pid = fork();
	if (pid == 0)
		_exit(0);
	int64_t dt = now_ms() - t0;
	CHECK(pid > 0 && wait_child(pid) == 0, "fork/child");
	CHECK(dt < 5000, "the fork took %lld ms while a thread waited for a lock", (long long)dt);
	post(go[1]);
	pthread_join(th, NULL);
	CHECK(l.got, "the lock, once released");
	CHECK(wait_child(holder) == 0, "holder");
	close(fd2);
	close(go[0]);
	close(go[1]);
	close(ready[0]);
	close(ready[1]);
	unlink(p);
}

int main(int argc, char **argv)
{
	t_name = "fork_calls";
	if (argc < 4)
		DIE("usage: fork_calls SERVED_DIR UNSERVED_DIR kernel|coherio|linked [ROUNDS]");
	sdir = argv[1];
	udir = argv[2];
	coherio_mode = !strcmp(argv[3], "coherio") || !strcmp(argv[3], "linked");
	t_linked = !strcmp(argv[3], "linked");
	if (argc > 4)
		rounds = atoi(argv[4]);
	if (!t_dirs_ready(sdir, udir))
		return 77;

	test_forked_reader();
	test_no_lost_write(0);
	test_no_lost_write(1);
	test_fork_races_cached_writes();
	test_fork_while_lock_waits();
	return t_finish();
}
