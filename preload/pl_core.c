/*
 * pl_core.c - start-up, the descriptor table, open file descriptions and
 * inodes, the cache, and the flushes around fork, exec and exit.
 *
 * Start-up (pl_boot_slow): resolve the real functions with dlsym(RTLD_NEXT)
 * (stage 1, at the first call whatever it is); then, as soon as the
 * environment exists (a sanitizer runtime calls mmap before it does), read
 * COHERIO_PATHS (colon-separated prefixes, made
 * absolute and normalised; each also in its realpath() form), COHERIO_CACHE
 * (bytes, with K/M/G) and COHERIO_STATS, register the fork handlers. The
 * cache itself is created at the first served open (COHERIO_ENGINE is read by
 * the library; COHERIO_FAULT adds fault-injection rules for tests).
 *
 * Descriptions (struct pl_ofd) are counted references:
 *  (a) each descriptor-table entry holds one;
 *  (b) each call in progress on it holds one (pl_fd_get .. pl_ofd_put);
 *  (c) each async operation in flight holds one until its event is reaped.
 * The last put closes the cio_file (which writes the file back if it is the
 * last handle) and puts the description on the free list. Because
 * descriptions are never freed, pl_fd_get() can increment the count of one
 * it found in the table without a lock: it increments only a non-zero count
 * and then checks the table still holds it (a description reused for another
 * descriptor meanwhile is put back).
 *
 * Fork: the interim rule, until processes share one cache (issue 11):
 *
 *   DESCRIPTORS SHARED BY FORK LEAVE THE CACHE. At a fork, every open file
 *   description served at that moment, and the file (st_dev/st_ino) it
 *   belongs to, leaves coherio in the parent and in the child, for good:
 *   from the fork on, every call on those descriptors, and every later open
 *   of the same file in either process, goes straight to the kernel, whose
 *   one page cache is coherent between processes (and between buffered and
 *   O_DIRECT). Files no descriptor had open at the fork stay served in each
 *   process, each with its own cache, like two unrelated processes (G10,
 *   issue 11: not coherent with each other until closed and reopened).
 *
 * Two caches holding one file would let a child read stale data after the
 * parent's O_DIRECT write, and worse, let one process's write-back of a
 * whole page land stale bytes over the other's direct write (data lost).
 * Handing the shared files to the kernel removes the second cache. The
 * cost: a forking program loses caching on the files open at its forks
 * (for as long as it runs: the kernel-only set is not pruned; a later file
 * that reuses an inode number is told apart by its birth time where the
 * file system keeps one, else it is kernel-only too), and a fork waits for
 * the calls in progress on them and writes every served file back.
 *
 * The switch (fork_prepare, in the forking thread), in order:
 *  1. g_forking is set; new served opens wait for the fork to end (after
 *     their kernel open: a FIFO may block there) and the ones in progress
 *     are waited for (g_opening), so every description is seen below.
 *  2. Under g_lock: lingering handles are dropped (clean by construction);
 *     every inode is marked kernel-only (g_kset by dev/ino, pi_kernel);
 *     every live description gets a reference of ours and o_state LEAVING
 *     (seq_cst: a pl_fd_get() that counts itself after this sees it). New
 *     calls on a LEAVING description wait in pl_fd_get() until it is LEFT,
 *     then go to the kernel. One whose count is already 0 (its last put in
 *     progress) is waited for until it is released.
 *  3. Without g_lock (calls in progress may need it): wait until no call is
 *     in progress on those descriptions: o_refs - o_aio - table entries - 1
 *     (ours) == 0, read in that order (see wait_calls). Async operations in
 *     flight (o_aio) are not waited for: the forking thread may be the one
 *     that reaps them; a cached one was done inside io_submit (a call), a
 *     direct one goes to the device and only updates clean pages.
 *  4. Under g_lock again, held until the fork returns: set each served
 *     descriptor's kernel offset to ours; write every file back (the last
 *     close of its handles, below; a handle kept for async operations is
 *     written back with cio_invalidate); then check that each file's
 *     kernel st_size is the cio_size() it had (coherio trims the backing
 *     file on write-back: checked, and ftruncate()d to coherio's size where
 *     it is not). Now the kernel file is the file.
 *  5. o_state LEFT; table entries of LEFT descriptions are removed (their
 *     references are dropped; ours are put after the fork, in the parent).
 *     The handles were closed in step 4, except one with async operations
 *     in flight: kept until the last of them is reaped and then parked,
 *     never closed (a late last close would set the kernel file's size to
 *     coherio's, by then stale, view).
 *  parent: release g_lock, clear g_forking, put the references.
 *  child:  the cache belongs to the parent (its engine and runner threads
 *          do not exist here): abandon it, never touching it again. Every
 *          description and table entry is dropped (all of them left: the
 *          child serves nothing it inherited), the inodes join the
 *          kernel-only set, locks are re-initialised, async contexts are
 *          dropped (the kernel does not give them to a child either). A new
 *          cache is made at the first served open of another file.
 * vfork is a fork (pl_posix.c). On the kernel descriptors the program's
 * flags are the open(2) flags and F_SETFL's (O_DIRECT, O_APPEND kept), the
 * offset is shared with the other process as Linux shares it, and fstat
 * reports the kernel's size. A program that never forks pays one load of
 * o_state per served call (pl_fd_get); the pass-through path is unchanged.
 * A fork from a signal handler that interrupted a call on a served
 * descriptor would wait for that call forever (not handled). Calls that
 * may wait for another process hold no reference (fcntl locks: pl_posix.c).
 * Exec, posix_spawn, system, popen: the same write-back first (a new program
 * reads the kernel's file). Exit (destructor, _exit): stdio streams are
 * flushed into the cache, the cache is written back, later writes go
 * through (DSYNC), and --stats prints.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct pl_real pl_real;
atomic_int pl_booted;
atomic_int pl_exiting;
_Atomic(struct pl_fdchunk *) pl_fdt[PL_FD_MAX / PL_FD_CHUNK];

/* ---- configuration (immutable after boot) ---------------------------------- */

#define PL_MAX_PREFIX 64
static char *g_prefix[PL_MAX_PREFIX]; /* normalised absolute, no trailing / */
static size_t g_prefix_len[PL_MAX_PREFIX];
static int g_nprefix;
static uint64_t g_cache_bytes;        /* 0 = the library's default          */
static bool g_stats;                  /* COHERIO_STATS: print at exit       */
static int g_stats_fd = -1;           /* a copy of stderr made at start-up:
                                       * programs close fd 2 before exit  */

/* ---- state ------------------------------------------------------------------ */

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(cio_cache *) g_cache;  /* written under g_lock               */
static struct pl_inode *g_inodes;     /* g_lock                              */
static struct pl_ofd *g_ofds;         /* g_lock: every description ever made */
static struct pl_ofd *g_ofd_free;     /* g_lock                              */
static unsigned long g_nopens;        /* g_lock: served opens (--stats)      */
static unsigned long g_nleft;         /* g_lock: descriptions that left the
                                       * cache at a fork (--stats)         */
static atomic_int g_stats_done;

/* Fork (see "Fork" above). g_forking and g_opening pair as Dekker's flags
 * (seq_cst): an opener counts itself in g_opening, then looks at
 * g_forking; the forking thread sets g_forking, then waits for g_opening
 * to drain. */
static atomic_int g_forking;          /* a fork is switching descriptions */
static atomic_int g_opening;          /* served opens past their kernel open */
static pthread_mutex_t g_fork_mutex = PTHREAD_MUTEX_INITIALIZER; /* one fork
                                       * at a time (prepare .. parent/child) */
static struct pl_ofd *g_fork_list;    /* the forking thread's: descriptions
                                       * it switches and holds a reference
                                       * on (through o_fork_next)          */

/* The kernel-only set: files (dev, ino and, where the file system keeps
 * one, birth time: inode numbers are reused) that left the cache at a
 * fork. g_lock. Never pruned. */
#define PL_KSET 256
struct pl_kino {
	dev_t k_dev;
	ino_t k_ino;
	int64_t k_btime_ns;           /* -1: unknown (matches any file)    */
	struct pl_kino *k_next;
};
static struct pl_kino *g_kset[PL_KSET]; /* g_lock */

/* Handles of descriptions that left with async operations in flight:
 * never closed (see "Fork"). g_lock. */
struct pl_parked {
	cio_file *pk_file;
	struct pl_parked *pk_next;
};
static struct pl_parked *g_parked;

/* A counting filter of the served inodes: stat() of a file that is not
 * served looks at one counter instead of taking g_lock. */
#define PL_IFILTER 1024
static atomic_uint g_ifilter[PL_IFILTER];

static unsigned ifilter_slot(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)dev * 0xc2b2ae3d27d4eb4full);
	return (unsigned)(h >> 54) & (PL_IFILTER - 1);
}

/* Birth time of the file of @fd in ns, or -1 (not kept, no statx). */
static int64_t btime_ns(int fd)
{
	struct statx stx;
	if (!pl_real.statx || pl_real.statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &stx) < 0 ||
	    !(stx.stx_mask & STATX_BTIME))
		return -1;
	return (int64_t)stx.stx_btime.tv_sec * 1000000000 + stx.stx_btime.tv_nsec;
}

static bool kset_has_locked(dev_t dev, ino_t ino, int64_t btime)
{
	for (struct pl_kino *k = g_kset[ifilter_slot(dev, ino) & (PL_KSET - 1)]; k; k = k->k_next)
		if (k->k_dev == dev && k->k_ino == ino &&
		    (k->k_btime_ns < 0 || btime < 0 || k->k_btime_ns == btime))
			return true;
	return false;
}

/* False: no memory (a later open of the file is served then: not handled). */
static bool kset_add_locked(dev_t dev, ino_t ino, int64_t btime)
{
	unsigned b = ifilter_slot(dev, ino) & (PL_KSET - 1);
	for (struct pl_kino *k = g_kset[b]; k; k = k->k_next)
		if (k->k_dev == dev && k->k_ino == ino && k->k_btime_ns == btime)
			return true;
	struct pl_kino *k = malloc(sizeof(*k));
	if (!k)
		return false;
	k->k_dev = dev;
	k->k_ino = ino;
	k->k_btime_ns = btime;
	k->k_next = g_kset[b];
	g_kset[b] = k;
	return true;
}

static void nap_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* ---- start-up --------------------------------------------------------------- */

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);

/* Lexically normalise absolute path @in into @out (PATH_MAX): no "//", ".",
 * "..", or trailing "/". False if too long or not absolute. */
static bool normalise(const char *in, char *out)
{
	size_t n = 0;
	const char *p = in;
	if (*p != '/')
		return false;
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t len = (size_t)(p - s);
		if (len == 1 && s[0] == '.')
			continue;
		if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		if (n + 1 + len >= PATH_MAX)
			return false;
		out[n++] = '/';
		memcpy(out + n, s, len);
		n += len;
	}
	if (n == 0)
		out[n++] = '/';
	out[n] = '\0';
	return true;
}

static void add_prefix_norm(const char *norm)
{
	for (int i = 0; i < g_nprefix; i++)
		if (!strcmp(g_prefix[i], norm))
			return;
	if (g_nprefix >= PL_MAX_PREFIX)
		return;
	char *d = strdup(norm);
	if (!d)
		return;
	g_prefix[g_nprefix] = d;
	g_prefix_len[g_nprefix] = strlen(d);
	g_nprefix++;
}

static void add_prefix(const char *p, size_t len)
{
	char buf[PATH_MAX], norm[PATH_MAX];
	size_t off = 0;
	if (len == 0 || len >= PATH_MAX)
		return;
	if (p[0] != '/') {
		if (!getcwd(buf, sizeof(buf)))
			return;
		off = strlen(buf);
		if (off + 1 + len >= PATH_MAX)
			return;
		buf[off++] = '/';
	}
	memcpy(buf + off, p, len);
	buf[off + len] = '\0';
	if (!normalise(buf, norm))
		return;
	add_prefix_norm(norm);
	char *rp = realpath(norm, NULL); /* the same directory through symlinks */
	if (rp) {
		if (normalise(rp, buf))
			add_prefix_norm(buf);
		free(rp);
	}
}

static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v;
	if (!s || !*s)
		return 0;
	v = strtoull(s, &end, 10);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	case 't': case 'T': v <<= 40; end++; break;
	default: break;
	}
	if (*end == 'i' || *end == 'I')
		end++;
	if (*end == 'b' || *end == 'B')
		end++;
	return *end ? 0 : v;
}

static void config(void)
{
	const char *paths = getenv("COHERIO_PATHS");
	if (paths) {
		const char *p = paths;
		while (*p) {
			const char *e = strchr(p, ':');
			size_t len = e ? (size_t)(e - p) : strlen(p);
			add_prefix(p, len);
			p += len;
			if (*p == ':')
				p++;
		}
	}
	g_cache_bytes = parse_size(getenv("COHERIO_CACHE"));
	const char *st = getenv("COHERIO_STATS");
	g_stats = st && *st && strcmp(st, "0") != 0;
	if (g_stats && pl_real.fcntl)
		g_stats_fd = pl_real.fcntl(2, F_DUPFD_CLOEXEC, 10);
}

/* Stage 1: the real functions. Safe at any time, even inside a sanitizer's
 * start-up (which calls mmap before libc has set up the environment). */
static void boot_real(void)
{
#define R(name) pl_real.name = (__typeof__(pl_real.name))dlsym(RTLD_NEXT, #name)
	R(open); R(openat); R(close); R(read); R(write); R(pread); R(pwrite);
	R(readv); R(writev); R(preadv); R(pwritev); R(preadv2); R(pwritev2);
	R(lseek); R(fstat); R(stat); R(lstat); R(fstatat); R(statx);
	R(ftruncate); R(truncate); R(fallocate); R(posix_fallocate); R(fsync);
	R(fdatasync); R(sync_file_range); R(posix_fadvise); R(readahead);
	R(fcntl); R(dup); R(dup2); R(dup3); R(close_range); R(closefrom);
	R(mmap); R(ioctl); R(copy_file_range); R(sendfile); R(splice); R(sync);
	R(syncfs); R(fopen); R(fdopen); R(execve); R(execvpe); R(fexecve);
	R(posix_spawn); R(posix_spawnp); R(system); R(popen); R(fork); R(syscall);
	R(_exit); R(_Exit);
#undef R
}

/* Stage 2: the configuration, once the environment exists. */
static void boot_config(void)
{
	config();
	pl_uring_boot(g_nprefix > 0);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atomic_store_explicit(&pl_booted, 1, memory_order_release);
}

static pthread_once_t g_once_cfg = PTHREAD_ONCE_INIT;

void pl_boot_slow(void)
{
	pthread_once(&g_once, boot_real);
	/* Called before libc set up the environment (a sanitizer runtime's own
	 * start-up): the real functions only; configure on a later call. Until
	 * then nothing is served. */
	if (environ)
		pthread_once(&g_once_cfg, boot_config);
}

__attribute__((constructor)) static void pl_ctor(void)
{
	pl_boot();
}

bool pl_serving(void)
{
	pl_boot();
	return g_nprefix > 0;
}

/* ---- paths --------------------------------------------------------------- */

bool pl_path_served(int dirfd, const char *path, char *abs)
{
	char tmp[PATH_MAX], local[PATH_MAX];
	const char *src = path;
	if (!g_nprefix || !path || !*path)
		return false;
	if (path[0] != '/') {
		size_t n, m = strlen(path);
		if (dirfd == AT_FDCWD) {
			if (!getcwd(tmp, sizeof(tmp)))
				return false;
		} else {
			char proc[48];
			snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dirfd);
			ssize_t k = readlink(proc, tmp, sizeof(tmp) - 1);
			if (k <= 0)
				return false;
			tmp[k] = '\0';
		}
		if (tmp[0] != '/')
			return false;
		n = strlen(tmp);
		if (n + 1 + m >= PATH_MAX)
			return false;
		tmp[n] = '/';
		memcpy(tmp + n + 1, path, m + 1);
		src = tmp;
	}
	char *out = abs ? abs : local;
	if (!normalise(src, out))
		return false;
	for (int i = 0; i < g_nprefix; i++) {
		size_t l = g_prefix_len[i];
		if (l == 1 || (!strncmp(out, g_prefix[i], l) && (out[l] == '/' || out[l] == '\0')))
			return true;
	}
	return false;
}

/* ---- the descriptor table ------------------------------------------------- */

static struct pl_fdchunk *chunk_for(int fd, bool create)
{
	_Atomic(struct pl_fdchunk *) *slot = &pl_fdt[fd >> PL_FD_SHIFT];
	struct pl_fdchunk *ch = atomic_load_explicit(slot, memory_order_acquire);
	if (ch || !create)
		return ch;
	struct pl_fdchunk *n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	/* release: the zeroed entries are visible before the chunk is */
	if (!atomic_compare_exchange_strong_explicit(slot, &ch, n, memory_order_acq_rel,
	                                             memory_order_acquire)) {
		free(n);
		return ch;
	}
	return n;
}

/* A call found LEAVING or LEFT description @o at @fd (no reference held):
 * wait for the fork to finish the switch, and drop a LEFT entry that was
 * installed after the fork removed the others (pl_fd_install's race). */
static void fd_leave_wait(int fd, struct pl_ofd *o)
{
	struct pl_fdchunk *ch = atomic_load_explicit(&pl_fdt[fd >> PL_FD_SHIFT], memory_order_acquire);
	_Atomic(struct pl_ofd *) *e = &ch->e[fd & (PL_FD_CHUNK - 1)];
	while (atomic_load_explicit(e, memory_order_acquire) == o &&
	       atomic_load(&o->o_state) == PL_LEAVING)
		nap_us(50);
	struct pl_ofd *want = o;
	if (atomic_load(&o->o_state) == PL_LEFT &&
	    atomic_compare_exchange_strong(e, &want, NULL))
		pl_ofd_put(o); /* the entry's reference */
}

struct pl_ofd *pl_fd_get_slow(int fd, struct pl_ofd *o)
{
	for (;;) {
		int r = atomic_load_explicit(&o->o_refs, memory_order_relaxed);
		/* seq_cst: the fork stores o_state, then reads o_refs; we count
		 * ourselves, then read o_state: one of us sees the other */
		while (r > 0 && !atomic_compare_exchange_weak_explicit(&o->o_refs, &r, r + 1,
		                                                         memory_order_seq_cst,
		                                                         memory_order_relaxed))
			;
		if (r > 0) {
			if (pl_fd_peek(fd) == o) {
				if (PL_LIKELY(atomic_load(&o->o_state) == PL_SERVED))
					return o;
				pl_ofd_put(o);
				fd_leave_wait(fd, o);
			} else {
				pl_ofd_put(o); /* reused for another descriptor meanwhile */
			}
		}
		o = pl_fd_peek(fd);
		if (!o)
			return NULL;
	}
}

struct pl_ofd *pl_fd_take(int fd)
{
	if ((unsigned)fd >= PL_FD_MAX)
		return NULL;
	struct pl_fdchunk *ch = chunk_for(fd, false);
	if (!ch)
		return NULL;
	_Atomic(struct pl_ofd *) *e = &ch->e[fd & (PL_FD_CHUNK - 1)];
	if (!atomic_load_explicit(e, memory_order_relaxed))
		return NULL; /* the pass-through close: no store */
	return atomic_exchange_explicit(e, NULL, memory_order_acq_rel);
}

void pl_fd_drop(int fd)
{
	struct pl_ofd *o = pl_fd_take(fd);
	if (o)
		pl_ofd_put(o);
}

int pl_fd_install(int fd, struct pl_ofd *o)
{
	if ((unsigned)fd >= PL_FD_MAX)
		return -EMFILE;
	struct pl_fdchunk *ch = chunk_for(fd, true);
	if (!ch)
		return -ENOMEM;
	/* release: the description's fields are visible before the entry */
	_Atomic(struct pl_ofd *) *e = &ch->e[fd & (PL_FD_CHUNK - 1)];
	struct pl_ofd *old = atomic_exchange(e, o);
	if (old) /* closed behind our back (close_range, glibc internals) */
		pl_ofd_put(old);
	/* seq_cst: the fork sets LEFT, then removes the entries it finds; an
	 * entry it missed is ours to remove (dup of a description that left) */
	struct pl_ofd *want = o;
	if (PL_UNLIKELY(atomic_load(&o->o_state) == PL_LEFT) &&
	    atomic_compare_exchange_strong(e, &want, NULL))
		pl_ofd_put(o);
	return 0;
}

/* ---- descriptions and inodes ---------------------------------------------- */

void pl_ofd_ref(struct pl_ofd *o)
{
	atomic_fetch_add_explicit(&o->o_refs, 1, memory_order_relaxed);
}

/* g_lock held. A fresh description with one reference. */
static struct pl_ofd *ofd_alloc_locked(void)
{
	struct pl_ofd *o = g_ofd_free;
	if (o) {
		g_ofd_free = o->o_fnext;
	} else {
		o = calloc(1, sizeof(*o));
		if (!o)
			return NULL;
		pthread_mutex_init(&o->o_pos_lock, NULL);
		o->o_close_pathfd = -1;
		o->o_anext = g_ofds;
		g_ofds = o;
	}
	o->o_fnext = NULL;
	o->o_inext = NULL;
	o->o_inode = NULL;
	atomic_store_explicit(&o->o_file, NULL, memory_order_relaxed);
	atomic_store_explicit(&o->o_pos, 0, memory_order_relaxed);
	atomic_store_explicit(&o->o_state, PL_SERVED, memory_order_relaxed);
	atomic_store_explicit(&o->o_aio, 0, memory_order_relaxed);
	/* add, not store: a stale pl_fd_get() may be holding a count on it */
	atomic_fetch_add_explicit(&o->o_refs, 1, memory_order_relaxed);
	return o;
}

static struct pl_inode *inode_find_locked(dev_t dev, ino_t ino)
{
	for (struct pl_inode *pi = g_inodes; pi; pi = pi->pi_next)
		if (pi->pi_dev == dev && pi->pi_ino == ino)
			return pi;
	return NULL;
}

/* g_lock held: attach @o to the inode of @st, creating it. */
static int inode_attach_locked(struct pl_ofd *o, const struct stat *st, int64_t btime)
{
	dev_t dev = st->st_dev;
	ino_t ino = st->st_ino;
	struct pl_inode *pi = inode_find_locked(dev, ino);
	if (!pi) {
		pi = calloc(1, sizeof(*pi));
		if (!pi)
			return -ENOMEM;
		pi->pi_dev = dev;
		pi->pi_ino = ino;
		pi->pi_st = *st;
		pi->pi_btime_ns = btime;
		pthread_mutex_init(&pi->pi_append, NULL);
		pi->pi_next = g_inodes;
		g_inodes = pi;
		atomic_fetch_add_explicit(&g_ifilter[ifilter_slot(dev, ino)], 1, memory_order_release);
	}
	o->o_inode = pi;
	o->o_inext = pi->pi_ofds;
	pi->pi_ofds = o;
	o->o_live = true;
	return 0;
}

/* g_lock held: detach @o; free its inode with the last description. */
static void inode_detach_locked(struct pl_ofd *o)
{
	struct pl_inode *pi = o->o_inode;
	o->o_live = false;
	if (!pi)
		return;
	for (struct pl_ofd **p = &pi->pi_ofds; *p; p = &(*p)->o_inext) {
		if (*p == o) {
			*p = o->o_inext;
			break;
		}
	}
	o->o_inext = NULL;
	if (pi->pi_ofds)
		return;
	for (struct pl_inode **p = &g_inodes; *p; p = &(*p)->pi_next) {
		if (*p == pi) {
			*p = pi->pi_next;
			break;
		}
	}
	atomic_fetch_sub_explicit(&g_ifilter[ifilter_slot(pi->pi_dev, pi->pi_ino)], 1,
	                          memory_order_release);
	pthread_mutex_destroy(&pi->pi_append);
	free(pi);
}

/*
 * Linger: coherio drops a file's pages at the last close of its last handle,
 * while the kernel keeps its page cache. Programs that open, read, close and
 * reopen (fio's pre_read, make, repeated cat) would find a cold cache every
 * time. So the handle of a file whose last description closes is kept open
 * (up to PL_LINGER_MAX files, oldest first out) if
 *  (a) it has no dirty pages (nothing to write back: lingering costs no
 *      I/O and no durability), and
 *  (b) the kernel's stat at close equals its stat at the first open (size,
 *      mtime, ctime, dev, ino): nobody, us included, changed the file
 *      meanwhile, so the cached pages are the kernel file's.
 * The next open of the file (same dev/ino) takes the lingering handle if
 * the kernel's stat is still the same (nobody changed the file since),
 * and keeps the pages; otherwise the lingering handle is closed first (its
 * pages go) and the file opens cold. A forked child forgets them (they are
 * the parent's cache).
 * Closing a lingering handle is the file's last close, where coherio trims
 * the kernel file to its own size (see pl_ofd_note_close): if the file's
 * size changed behind us meanwhile, coherio's is set to the kernel's first,
 * through the O_PATH descriptor kept for it (O_PATH: no locks, no lease).
 */
#define PL_LINGER_MAX 16
struct pl_linger {
	cio_file *lg_file;
	struct stat lg_st;             /* the kernel's stat when it closed   */
	int lg_pathfd;                 /* O_PATH descriptor of the file: to
	                                * fix the size before the handle goes */
	struct pl_linger *lg_next;     /* g_lock: newest first */
};
static struct pl_linger *g_linger; /* g_lock */
static unsigned g_nlinger;         /* g_lock */

static bool same_file_state(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* g_lock held: take the lingering handle of (dev, ino), if any. */
static struct pl_linger *linger_take_locked(dev_t dev, ino_t ino)
{
	for (struct pl_linger **p = &g_linger; *p; p = &(*p)->lg_next) {
		struct pl_linger *lg = *p;
		if (lg->lg_st.st_dev == dev && lg->lg_st.st_ino == ino) {
			*p = lg->lg_next;
			g_nlinger--;
			return lg;
		}
	}
	return NULL;
}

/* g_lock held: keep @f lingering; returns the oldest one pushed out (to
 * close outside the lock) or NULL. */
static struct pl_linger *linger_add_locked(struct pl_linger *lg)
{
	lg->lg_next = g_linger;
	g_linger = lg;
	if (++g_nlinger <= PL_LINGER_MAX)
		return NULL;
	struct pl_linger **p = &g_linger;
	while ((*p)->lg_next)
		p = &(*p)->lg_next;
	struct pl_linger *old = *p;
	*p = NULL;
	g_nlinger--;
	return old;
}

/*
 * close() of what is probably the last descriptor of @o (fd still open).
 * Notes the kernel's stat for linger. And: the last close of a file makes
 * coherio trim the kernel file to coherio's size (cio_backing_fixup), which
 * cuts off what another process appended while we had the file open (or
 * extends what it truncated). With nothing of ours dirty, the kernel's size
 * is the file's: coherio's is set to it first.
 */
/* Close a lingering handle; @now: the kernel's stat if known. */
static void linger_close(struct pl_linger *lg, const struct stat *now)
{
	struct stat st;
	if (!now && pl_real.fstat(lg->lg_pathfd, &st) == 0)
		now = &st;
	cio_cache *c = atomic_load_explicit(&g_cache, memory_order_acquire);
	if (now && c && cio_size(lg->lg_file) != now->st_size) {
		char proc[48];
		cio_file *w;
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", lg->lg_pathfd);
		if (cio_open(c, proc, O_WRONLY, 0, &w) == 0) {
			cio_truncate(w, now->st_size, 0);
			cio_close(w);
		}
	}
	cio_close(lg->lg_file);
	pl_real.close(lg->lg_pathfd);
	free(lg);
}

void pl_ofd_note_close(struct pl_ofd *o, int fd)
{
	/* only the closing thread of the last reference writes it; the put
	 * that releases the description reads it (acq_rel on o_refs) */
	o->o_have_close_st = pl_real.fstat(fd, &o->o_close_st) == 0;
	o->o_close_pathfd = -1;
	cio_file *f = atomic_load_explicit(&o->o_file, memory_order_acquire);
	if (!o->o_have_close_st || !f || !S_ISREG(o->o_close_st.st_mode))
		return;
	pthread_mutex_lock(&g_lock);
	if (atomic_load(&o->o_state) != PL_SERVED) {
		/* left at a fork: its handle is the fork's to close */
		pthread_mutex_unlock(&g_lock);
		return;
	}
	bool last = o->o_inode && o->o_inode->pi_ofds == o && !o->o_inext;
	bool unchanged = last && same_file_state(&o->o_inode->pi_st, &o->o_close_st);
	cio_cache *c = atomic_load_explicit(&g_cache, memory_order_acquire);
	pthread_mutex_unlock(&g_lock);
	struct cio_file_stats fs;
	if (!last || !c || cio_file_stats(f, &fs) < 0 || fs.dirty_pages)
		return;
	if (unchanged) { /* a linger candidate: keep a way back to the file */
		char proc[48];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		o->o_close_pathfd = pl_real.open(proc, O_PATH | O_CLOEXEC);
	}
	if (fs.size == o->o_close_st.st_size)
		return;
	char proc[48];
	cio_file *w;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if (cio_open(c, proc, O_WRONLY, 0, &w) == 0) {
		cio_truncate(w, o->o_close_st.st_size, 0);
		cio_close(w);
	}
}

/*
 * The last put: the handle is closed (the file's last handle writes it
 * back), kept lingering, or, for a description that left the cache at a
 * fork with async operations in flight, parked. The description stays on
 * its inode until the handle is closed, so a fork that finds it live waits
 * for the close (fork_prepare, step 2).
 */
int pl_ofd_put(struct pl_ofd *o)
{
	if (atomic_fetch_sub_explicit(&o->o_refs, 1, memory_order_acq_rel) != 1)
		return 0;
	struct pl_linger *lg = NULL, *out = NULL;
	pthread_mutex_lock(&g_lock);
	cio_file *f = atomic_exchange_explicit(&o->o_file, NULL, memory_order_acq_rel);
	struct pl_inode *pi = o->o_inode;
	int pathfd = o->o_have_close_st ? o->o_close_pathfd : -1;
	if (f && atomic_load(&o->o_state) != PL_SERVED) {
		struct pl_parked *pk = malloc(sizeof(*pk));
		if (pk) { /* no memory: closed below, the lesser harm */
			pk->pk_file = f;
			pk->pk_next = g_parked;
			g_parked = pk;
			f = NULL;
		}
	} else if (f && pi && !pi->pi_kernel && pi->pi_ofds == o && !o->o_inext && pathfd >= 0 &&
	           same_file_state(&pi->pi_st, &o->o_close_st)) {
		struct cio_file_stats fs;
		if (cio_file_stats(f, &fs) == 0 && fs.dirty_pages == 0 &&
		    (lg = malloc(sizeof(*lg))) != NULL) {
			lg->lg_file = f;
			lg->lg_st = o->o_close_st;
			lg->lg_pathfd = pathfd;
			out = linger_add_locked(lg);
			f = NULL;
			pathfd = -1;
		}
	}
	o->o_have_close_st = false;
	o->o_close_pathfd = -1;
	pthread_mutex_unlock(&g_lock);
	if (pathfd >= 0)
		pl_real.close(pathfd);
	int r = f ? cio_close(f) : 0; /* the last handle writes the file back */
	if (out)
		linger_close(out, NULL);
	pthread_mutex_lock(&g_lock);
	inode_detach_locked(o);
	o->o_fnext = g_ofd_free;
	g_ofd_free = o;
	pthread_mutex_unlock(&g_lock);
	return r;
}

/* ---- the cache ---------------------------------------------------------------- */

/* COHERIO_FAULT="ops=w,start=N,end=N,error=5,short=N,skip=N,count=N,delay=US|..."
 * (tests only; rules separated by "|" or ";"): fault rules (struct
 * cio_fault_rule) for every served file. */
static void add_faults(cio_cache *c, const char *spec)
{
	char buf[1024];
	snprintf(buf, sizeof(buf), "%s", spec);
	char *save1 = NULL;
	for (char *rule = strtok_r(buf, ";|", &save1); rule; rule = strtok_r(NULL, ";|", &save1)) {
		struct cio_fault_rule r;
		memset(&r, 0, sizeof(r));
		r.count = -1;
		char *save2 = NULL;
		for (char *kv = strtok_r(rule, ",", &save2); kv; kv = strtok_r(NULL, ",", &save2)) {
			char *eq = strchr(kv, '=');
			if (!eq)
				continue;
			*eq++ = '\0';
			long long v = strtoll(eq, NULL, 0);
			if (!strcmp(kv, "ops")) {
				for (const char *p = eq; *p; p++)
					r.ops |= *p == 'r' ? CIO_FAULT_READ : *p == 'w' ? CIO_FAULT_WRITE :
					         *p == 'f' ? CIO_FAULT_FSYNC : 0;
			} else if (!strcmp(kv, "start")) {
				r.start = v;
			} else if (!strcmp(kv, "end")) {
				r.end = v;
			} else if (!strcmp(kv, "error")) {
				r.error = (int)v;
			} else if (!strcmp(kv, "short")) {
				r.short_bytes = (uint32_t)v;
			} else if (!strcmp(kv, "skip")) {
				r.skip = (uint32_t)v;
			} else if (!strcmp(kv, "count")) {
				r.count = (int32_t)v;
			} else if (!strcmp(kv, "delay")) {
				r.delay_us = (uint32_t)v;
			}
		}
		cio_fault_add(c, &r);
	}
}

/* g_lock held. The cache, created on first use. */
static cio_cache *cache_locked(int *err)
{
	cio_cache *c = atomic_load_explicit(&g_cache, memory_order_acquire);
	if (c)
		return c;
	struct cio_cache_opts o;
	memset(&o, 0, sizeof(o));
	o.memory_bytes = g_cache_bytes;
	o.queue_depth = PL_RING_ENTRIES; /* the ring the seccomp filter lets by */
	const char *faults = getenv("COHERIO_FAULT");
	o.fault_inject = faults && *faults;
	int r = cio_cache_create(&c, &o);
	if (r < 0 && r != -ENOMEM) {
		/* COHERIO_ENGINE=uring where rings are forbidden: the program still
		 * runs, on the thread pool (--stats names the engine). */
		struct cio_cache_opts o2 = o;
		o2.engine = CIO_ENGINE_THREADS;
		if (cio_cache_create(&c, &o2) == 0)
			r = 0;
	}
	if (r < 0) {
		*err = r;
		return NULL;
	}
	if (o.fault_inject)
		add_faults(c, faults);
	atomic_store_explicit(&g_cache, c, memory_order_release);
	return c;
}

cio_cache *pl_cache_get(int *err)
{
	cio_cache *c = atomic_load_explicit(&g_cache, memory_order_acquire);
	if (c)
		return c;
	pthread_mutex_lock(&g_lock);
	c = cache_locked(err);
	pthread_mutex_unlock(&g_lock);
	return c;
}

/* ---- opening ---------------------------------------------------------------- */

/* O_TRUNC on a served file that will not get a served descriptor (it landed
 * on 0-2, or the file left the cache at a fork): through the cache if we
 * serve the file, else the kernel's. */
static int trunc_unserved(int kfd, const char *abs)
{
	cio_file *f;
	struct pl_ofd *ref;
	int r = abs ? pl_path_handle(abs, O_WRONLY, &f, &ref) : -ENOENT;
	if (r == -ENOENT)
		return pl_real.ftruncate(kfd, 0) < 0 ? -errno : 0;
	if (r < 0)
		return r;
	r = cio_truncate(f, 0, 0);
	int c = pl_handle_close(f, ref);
	return r < 0 ? r : c;
}

/* A served open past its kernel open: counted in g_opening; waits while a
 * fork switches descriptions (see "Fork", step 1). */
static void open_enter(void)
{
	for (;;) {
		atomic_fetch_add(&g_opening, 1);
		if (PL_LIKELY(!atomic_load(&g_forking)))
			return;
		atomic_fetch_sub(&g_opening, 1);
		while (atomic_load(&g_forking))
			nap_us(50);
	}
}

static void open_exit(void)
{
	atomic_fetch_sub(&g_opening, 1);
}

/* Serve kernel descriptor @kfd (3 .. PL_FD_MAX-1) of the regular file or
 * block device @st. Return: @kfd, or -errno (closed). */
static int serve_kfd(int kfd, const char *abs, int flags, bool trunc, const struct stat *st)
{
	int acc = flags & O_ACCMODE;
	int r = 0;
	int64_t btime = btime_ns(kfd);
	pthread_mutex_lock(&g_lock);
	if (kset_has_locked(st->st_dev, st->st_ino, btime)) {
		/* it left the cache at a fork: the kernel's, in this process
		 * and in the others that share it */
		pthread_mutex_unlock(&g_lock);
		r = trunc ? trunc_unserved(kfd, abs) : 0;
		if (r < 0)
			goto fail;
		return kfd;
	}
	cio_cache *c = cache_locked(&r);
	struct pl_linger *lg = c ? linger_take_locked(st->st_dev, st->st_ino) : NULL;
	pthread_mutex_unlock(&g_lock);
	if (!c)
		goto fail;
	if (lg && (trunc || !same_file_state(&lg->lg_st, st))) {
		linger_close(lg, st); /* changed behind us: its pages go */
		lg = NULL;
	}
	cio_file *f;
	char proc[48];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", kfd);
	r = cio_open(c, proc, acc, 0, &f);
	if (r == -ENOENT && abs) /* no /proc */
		r = cio_open(c, abs, acc, 0, &f);
	if (lg) { /* the new handle holds the inode (and its pages) now */
		cio_close(lg->lg_file);
		pl_real.close(lg->lg_pathfd);
		free(lg);
	}
	if (r < 0)
		goto fail;
	if (trunc && (r = cio_truncate(f, 0, 0)) < 0) {
		cio_close(f);
		goto fail;
	}
	struct cio_file_stats fst;
	cio_file_stats(f, &fst);

	pthread_mutex_lock(&g_lock);
	struct pl_ofd *o = ofd_alloc_locked();
	if (!o || (r = inode_attach_locked(o, st, btime)) < 0) {
		if (o) {
			atomic_store(&o->o_refs, 0);
			o->o_fnext = g_ofd_free;
			g_ofd_free = o;
		}
		pthread_mutex_unlock(&g_lock);
		cio_close(f);
		r = r < 0 ? r : -ENOMEM;
		goto fail;
	}
	atomic_store_explicit(&o->o_flags, flags & ~(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY),
	                      memory_order_relaxed);
	o->o_lbs = fst.logical_block_size ? fst.logical_block_size : 512;
	o->o_memalign = fst.memory_alignment ? fst.memory_alignment : o->o_lbs;
	o->o_blockdev = S_ISBLK(st->st_mode);
	atomic_store_explicit(&o->o_file, f, memory_order_release);
	g_nopens++;
	pthread_mutex_unlock(&g_lock);
	r = pl_fd_install(kfd, o);
	if (r < 0) {
		pl_ofd_put(o);
		goto fail;
	}
	return kfd;
fail:
	pl_real.close(kfd);
	return r;
}

int pl_open_served(int dirfd, const char *path, const char *abs, int flags, mode_t mode)
{
	int acc = flags & O_ACCMODE;
	int kfd = pl_real.openat(dirfd, path, flags & ~O_TRUNC, mode);
	if (kfd < 0)
		return -errno;
	struct stat st;
	if (pl_real.fstat(kfd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return kfd; /* a directory, FIFO, ...: the kernel's, as it is */
	bool trunc = (flags & O_TRUNC) && acc != O_RDONLY && S_ISREG(st.st_mode);
	if (kfd <= 2 || kfd >= PL_FD_MAX) {
		/* 0-2 are never served: glibc's stdio writes the standard streams
		 * with internal system calls no preload library sees. */
		int r = trunc ? trunc_unserved(kfd, abs) : 0;
		if (r < 0 || kfd >= PL_FD_MAX) {
			pl_real.close(kfd);
			return r < 0 ? r : -EMFILE;
		}
		return kfd;
	}
	open_enter();
	int r = serve_kfd(kfd, abs, flags, trunc, &st);
	open_exit();
	return r;
}

/* The size of served file (dev, ino), if a served description of it is
 * open here: 0 and *size; else -ENOENT (the kernel's size is the file's). */
int pl_inode_size(dev_t dev, ino_t ino, int64_t *size)
{
	if (!atomic_load_explicit(&g_ifilter[ifilter_slot(dev, ino)], memory_order_acquire))
		return -ENOENT;
	int r = -ENOENT;
	pthread_mutex_lock(&g_lock);
	struct pl_inode *pi = inode_find_locked(dev, ino);
	for (struct pl_ofd *o = pi ? pi->pi_ofds : NULL; o; o = o->o_inext) {
		cio_file *f = atomic_load_explicit(&o->o_file, memory_order_acquire);
		/* LEAVING: coherio's view is the file's until the fork's switch
		 * ends (under g_lock); a LEFT one's handle may be kept, stale */
		if (f && atomic_load(&o->o_state) != PL_LEFT) {
			int64_t s = cio_size(f);
			if (s >= 0) {
				*size = s;
				r = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&g_lock);
	return r;
}

int pl_path_handle(const char *abs, int flags, cio_file **out, struct pl_ofd **ofd)
{
	struct stat st;
	if (!abs || pl_real.stat(abs, &st) < 0 || !S_ISREG(st.st_mode) ||
	    !atomic_load_explicit(&g_ifilter[ifilter_slot(st.st_dev, st.st_ino)], memory_order_acquire))
		return -ENOENT;
	int r = 0;
	for (;;) {
		struct pl_ofd *ref = NULL;
		bool leaving = false;
		pthread_mutex_lock(&g_lock);
		struct pl_inode *pi = inode_find_locked(st.st_dev, st.st_ino);
		for (struct pl_ofd *o = pi ? pi->pi_ofds : NULL; o && !ref; o = o->o_inext) {
			if (!atomic_load_explicit(&o->o_file, memory_order_acquire))
				continue;
			int s = atomic_load(&o->o_state);
			if (s == PL_LEAVING) {
				leaving = true;
				continue;
			}
			int n = atomic_load_explicit(&o->o_refs, memory_order_relaxed);
			while (s == PL_SERVED && n > 0 &&
			       !atomic_compare_exchange_weak(&o->o_refs, &n, n + 1))
				;
			if (s == PL_SERVED && n > 0)
				ref = o; /* a call in progress on it, for a fork */
		}
		cio_cache *c = ref ? cache_locked(&r) : NULL;
		pthread_mutex_unlock(&g_lock);
		if (leaving && !ref) { /* a fork is switching it: wait, then the kernel's */
			nap_us(50);
			continue;
		}
		if (!ref)
			return -ENOENT;
		if (!c) {
			pl_ofd_put(ref);
			return r;
		}
		r = cio_open(c, abs, flags, 0, out);
		if (r < 0) {
			pl_ofd_put(ref);
			return r;
		}
		*ofd = ref;
		return 0;
	}
}

int pl_handle_close(cio_file *f, struct pl_ofd *ofd)
{
	int r = cio_close(f);
	pl_ofd_put(ofd);
	return r;
}

/* ---- write-back around fork, exec and exit --------------------------------- */

/* Set the kernel offset of every served descriptor to ours. With @note
 * (a fork, g_lock held): also note one descriptor of each LEAVING
 * description in o_fork_fd. */
static void sync_offsets(bool note)
{
	for (int c = 0; c < PL_FD_MAX / PL_FD_CHUNK; c++) {
		struct pl_fdchunk *ch = atomic_load_explicit(&pl_fdt[c], memory_order_acquire);
		if (!ch)
			continue;
		for (int i = 0; i < PL_FD_CHUNK; i++) {
			struct pl_ofd *o = atomic_load_explicit(&ch->e[i], memory_order_acquire);
			if (!o)
				continue;
			int fd = c * PL_FD_CHUNK + i;
			pl_real.lseek(fd, atomic_load_explicit(&o->o_pos, memory_order_relaxed), SEEK_SET);
			if (note && o->o_fork_fd < 0 && atomic_load(&o->o_state) == PL_LEAVING)
				o->o_fork_fd = fd;
		}
	}
}

/* g_lock held: write back every served file (and drop its clean pages). */
static void flush_locked(void)
{
	for (struct pl_inode *pi = g_inodes; pi; pi = pi->pi_next) {
		for (struct pl_ofd *o = pi->pi_ofds; o; o = o->o_inext) {
			cio_file *f = atomic_load_explicit(&o->o_file, memory_order_acquire);
			if (f && atomic_load(&o->o_state) != PL_LEFT) {
				/* write-back errors stay in the file's errseq for fsync */
				cio_invalidate(f, 0, 0, CIO_INVAL_WAIT, NULL);
				break;
			}
		}
	}
}

void pl_flush_all(void)
{
	pl_boot();
	if (!g_nprefix)
		return;
	pthread_mutex_lock(&g_lock);
	flush_locked();
	sync_offsets(false);
	pthread_mutex_unlock(&g_lock);
}

void pl_flush_ofd(struct pl_ofd *o, int fd)
{
	cio_file *f = atomic_load_explicit(&o->o_file, memory_order_acquire);
	if (f)
		cio_invalidate(f, 0, 0, CIO_INVAL_WAIT, NULL);
	pl_real.lseek(fd, atomic_load_explicit(&o->o_pos, memory_order_relaxed), SEEK_SET);
}

/* ---- fork: descriptors shared by fork leave the cache ("Fork" above) ------ */

/* Count the table entries of every LEAVING description (o_fork_nfd). */
static void count_entries(void)
{
	for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next)
		o->o_fork_nfd = 0;
	for (int c = 0; c < PL_FD_MAX / PL_FD_CHUNK; c++) {
		struct pl_fdchunk *ch = atomic_load(&pl_fdt[c]);
		for (int i = 0; ch && i < PL_FD_CHUNK; i++) {
			struct pl_ofd *o = atomic_load(&ch->e[i]);
			if (o && atomic_load(&o->o_state) == PL_LEAVING)
				o->o_fork_nfd++;
		}
	}
}

/*
 * Step 3: wait until no call is in progress on the LEAVING descriptions.
 * In progress = o_refs - o_aio - table entries - 1 (ours). Read in this
 * order (all of the o_refs, then all of the o_aio, then the table), a
 * count that moves meanwhile only reads high: a close takes its entry
 * before it puts its reference, an async slot drops o_aio before its
 * reference. (An install moves a call's reference to a new entry: that
 * call has nothing left to do in the cache.)
 */
static void wait_calls(void)
{
	for (;;) {
		for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next)
			o->o_fork_calls = atomic_load(&o->o_refs);
		for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next)
			o->o_fork_calls -= atomic_load(&o->o_aio);
		count_entries();
		bool busy = false;
		for (struct pl_ofd *o = g_fork_list; o && !busy; o = o->o_fork_next)
			busy = o->o_fork_calls - o->o_fork_nfd - 1 > 0;
		if (!busy)
			return;
		nap_us(50);
	}
}

/* Steps 1-3 (g_lock not held, taken here). */
static void leave_mark(void)
{
	atomic_store(&g_forking, 1);
	while (atomic_load(&g_opening))
		nap_us(50);
	bool releasing;
	do {
		releasing = false;
		pthread_mutex_lock(&g_lock);
		struct pl_linger *lg = g_linger;
		g_linger = NULL;
		g_nlinger = 0;
		/* (kset_add_locked without memory leaves a file served in later
		 * opens: not handled) */
		for (struct pl_inode *pi = g_inodes; pi; pi = pi->pi_next) {
			pi->pi_kernel = true;
			kset_add_locked(pi->pi_dev, pi->pi_ino, pi->pi_btime_ns);
		}
		for (struct pl_ofd *o = g_ofds; o; o = o->o_anext) {
			if (!o->o_live || atomic_load(&o->o_state) != PL_SERVED)
				continue;
			int r = atomic_load(&o->o_refs);
			while (r > 0 && !atomic_compare_exchange_weak(&o->o_refs, &r, r + 1))
				;
			if (r == 0) { /* its last put is in progress: wait for it */
				releasing = true;
				continue;
			}
			o->o_fork_fd = -1;
			atomic_store(&o->o_state, PL_LEAVING);
			o->o_fork_next = g_fork_list;
			g_fork_list = o;
		}
		pthread_mutex_unlock(&g_lock);
		while (lg) {
			struct pl_linger *next = lg->lg_next;
			linger_close(lg, NULL);
			lg = next;
		}
		if (releasing)
			nap_us(50);
	} while (releasing);
	wait_calls();
}

/* g_lock held. Make the kernel's size of @o's file coherio's (after the
 * write-back: coherio trims the backing file itself; checked here). */
static void leave_fix_size(struct pl_ofd *o)
{
	struct stat st;
	int fd = o->o_fork_fd;
	int64_t size = o->o_fork_size;
	if (fd < 0 || o->o_blockdev || size < 0 || pl_real.fstat(fd, &st) < 0 ||
	    !S_ISREG(st.st_mode) || st.st_size == size)
		return;
	if (pl_real.ftruncate(fd, size) == 0)
		return;
	char proc[48];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int w = pl_real.open(proc, O_WRONLY | O_CLOEXEC);
	if (w >= 0) { /* a read-only description of a file we may write */
		pl_real.ftruncate(w, size);
		pl_real.close(w);
	}
}

/*
 * Steps 4-5, g_lock held (until the fork returns). The write-back is the
 * handles' last close (the last handle of a file writes it back), not a
 * cio_invalidate() first: an invalidate followed at once by the last
 * close can free the file's state under a readahead still completing on
 * the thread engine (a library bug, reported). A handle kept for async
 * operations in flight is written back with cio_invalidate() instead.
 */
static void leave_switch(void)
{
	sync_offsets(true);
	for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next) {
		cio_file *f = atomic_load(&o->o_file);
		o->o_fork_size = f ? cio_size(f) : -1;
	}
	for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next) {
		if (atomic_load(&o->o_aio) == 0) {
			cio_file *f = atomic_exchange(&o->o_file, NULL);
			if (f)
				cio_close(f); /* errors: see README, Limits */
		}
	}
	for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next) {
		cio_file *f = atomic_load(&o->o_file);
		if (f) /* kept for async operations in flight */
			cio_invalidate(f, 0, 0, CIO_INVAL_WAIT, NULL);
	}
	for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next)
		leave_fix_size(o);
	for (struct pl_ofd *o = g_fork_list; o; o = o->o_fork_next) {
		atomic_store(&o->o_state, PL_LEFT);
		g_nleft++;
	}
	/* the entries (seq_cst after LEFT: pairs with pl_fd_install); never
	 * the last reference: we hold one */
	for (int c = 0; c < PL_FD_MAX / PL_FD_CHUNK; c++) {
		struct pl_fdchunk *ch = atomic_load(&pl_fdt[c]);
		for (int i = 0; ch && i < PL_FD_CHUNK; i++) {
			struct pl_ofd *o = atomic_load(&ch->e[i]);
			if (o && atomic_load(&o->o_state) == PL_LEFT &&
			    atomic_compare_exchange_strong(&ch->e[i], &o, NULL))
				atomic_fetch_sub(&o->o_refs, 1);
		}
	}
}

static void fork_prepare(void)
{
	pl_boot();
	pthread_mutex_lock(&g_fork_mutex);
	if (g_nprefix)
		leave_mark();
	pthread_mutex_lock(&g_lock);
	if (g_nprefix)
		leave_switch();
	pl_aio_fork_prepare();
}

static void fork_parent(void)
{
	pl_aio_fork_parent();
	pthread_mutex_unlock(&g_lock);
	atomic_store(&g_forking, 0);
	for (struct pl_ofd *o = g_fork_list, *next; o; o = next) {
		next = o->o_fork_next;
		pl_ofd_put(o); /* ours; the last parks a handle kept for aio */
	}
	g_fork_list = NULL;
	pthread_mutex_unlock(&g_fork_mutex);
}

static void fork_child(void)
{
	pl_aio_fork_child();
	/* The parent's cache: its threads are not here, its locks may be held
	 * by them. Leave it alone for good. Nothing inherited is served: every
	 * description left (in the parent too, see "Fork"). */
	atomic_store_explicit(&g_cache, NULL, memory_order_relaxed);
	for (int c = 0; c < PL_FD_MAX / PL_FD_CHUNK; c++) {
		struct pl_fdchunk *ch = atomic_load_explicit(&pl_fdt[c], memory_order_relaxed);
		for (int i = 0; ch && i < PL_FD_CHUNK; i++)
			atomic_store_explicit(&ch->e[i], NULL, memory_order_relaxed);
	}
	g_ofd_free = NULL;
	for (struct pl_ofd *o = g_ofds; o; o = o->o_anext) {
		pthread_mutex_init(&o->o_pos_lock, NULL);
		if (o->o_have_close_st && o->o_close_pathfd >= 0)
			pl_real.close(o->o_close_pathfd);
		o->o_have_close_st = false;
		o->o_close_pathfd = -1;
		atomic_store_explicit(&o->o_file, NULL, memory_order_relaxed);
		atomic_store_explicit(&o->o_refs, 0, memory_order_relaxed);
		atomic_store_explicit(&o->o_aio, 0, memory_order_relaxed);
		atomic_store_explicit(&o->o_state, PL_SERVED, memory_order_relaxed);
		o->o_live = false;
		o->o_inode = NULL;
		o->o_inext = NULL;
		o->o_fnext = g_ofd_free;
		g_ofd_free = o;
	}
	/* the files: kernel-only here too (a re-open goes to the kernel) */
	for (struct pl_inode *pi = g_inodes, *next; pi; pi = next) {
		next = pi->pi_next;
		kset_add_locked(pi->pi_dev, pi->pi_ino, pi->pi_btime_ns);
		free(pi);
	}
	g_inodes = NULL;
	for (int i = 0; i < PL_IFILTER; i++)
		atomic_store_explicit(&g_ifilter[i], 0, memory_order_relaxed);
	for (struct pl_linger *lg = g_linger; lg; lg = lg->lg_next)
		pl_real.close(lg->lg_pathfd); /* its handle is the parent's cache's */
	g_linger = NULL;
	g_nlinger = 0;
	g_parked = NULL; /* ditto */
	g_fork_list = NULL;
	atomic_store(&g_forking, 0);
	atomic_store(&g_opening, 0);
	atomic_store(&g_stats_done, 0);
	pthread_mutex_init(&g_lock, NULL);
	pthread_mutex_init(&g_fork_mutex, NULL);
}

static void print_stats(void)
{
	char buf[1536];
	int n;
	cio_cache *c = atomic_load_explicit(&g_cache, memory_order_acquire);
	struct cio_cache_stats s;
	if (atomic_exchange(&g_stats_done, 1))
		return;
	if (!c || cio_cache_stats(c, &s) < 0) {
		n = snprintf(buf, sizeof(buf), "coherio: pid %d: no file was served (COHERIO_PATHS=%s)\n",
		             (int)getpid(), getenv("COHERIO_PATHS") ? getenv("COHERIO_PATHS") : "");
	} else {
		uint64_t look = s.hits + s.misses;
		n = snprintf(buf, sizeof(buf),
		             "coherio: pid %d: %lu served opens; engine %s; cache %llu pages of %llu B (%.1f MiB), %llu in use, %llu dirty\n"
		             "coherio: hits %llu, misses %llu (%.1f%% hits), readahead %llu pages, ghost hits %llu, evictions %llu\n"
		             "coherio: written back %llu pages, write-back errors %llu; direct reads %llu, direct writes %llu, coherence updates %llu; left the cache at fork %lu\n",
		             (int)getpid(), g_nopens, s.engine ? s.engine : "?",
		             (unsigned long long)s.pages_total, (unsigned long long)s.page_size,
		             (double)s.memory_bytes / (1 << 20), (unsigned long long)s.pages_used,
		             (unsigned long long)s.pages_dirty, (unsigned long long)s.hits,
		             (unsigned long long)s.misses, look ? 100.0 * (double)s.hits / (double)look : 0.0,
		             (unsigned long long)s.readahead_pages, (unsigned long long)s.ghost_hits,
		             (unsigned long long)s.evictions, (unsigned long long)s.writeback_pages,
		             (unsigned long long)s.writeback_errors, (unsigned long long)s.direct_reads,
		             (unsigned long long)s.direct_writes, (unsigned long long)s.coherence_updates,
		             g_nleft);
	}
	if (n > 0 && pl_real.write)
		pl_real.write(g_stats_fd >= 0 ? g_stats_fd : 2, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* Exit: whatever stdio still buffers goes into the cache, the cache goes to
 * the files, later writes (other threads, later destructors) go through. */
void pl_exit_flush(bool stdio)
{
	if (!atomic_load_explicit(&pl_booted, memory_order_acquire))
		return;
	if (stdio)
		fflush(NULL);
	/* first: a write that starts from now on goes through by itself */
	atomic_store(&pl_exiting, 1);
	pl_flush_all();
	if (g_stats)
		print_stats();
}

__attribute__((destructor)) static void pl_dtor(void)
{
	pl_exit_flush(true);
}
