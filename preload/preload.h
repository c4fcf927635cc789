/*
 * preload.h - internals of libcoherio-preload.so, the LD_PRELOAD library that
 * runs unmodified programs on coherio.
 *
 * Files:
 *   pl_core.c   start-up (real functions, COHERIO_PATHS), the descriptor
 *               table, open file descriptions and inodes, the cache, flushes
 *               around fork/exec/exit, --stats
 *   pl_posix.c  the POSIX file calls (open ... dup3, stat family, mmap refusal,
 *               fork/exec/exit hooks)
 *   pl_stdio.c  fopen/fdopen on served files (fopencookie streams)
 *   pl_aio.c    the libaio API (io_setup ... io_queue_run)
 *   pl_uring.c  a program's own io_uring rings refused (seccomp filter)
 *   pl_syscall.c libc's syscall(): the file system call numbers routed to
 *               the calls above, every other number passed on
 *
 * The model, as the kernel's:
 *   descriptor (int)  --table-->  open file description (struct pl_ofd:
 *   offset, flags, one cio_file with its own errseq)  -->  file (struct
 *   pl_inode: dev+ino, the O_APPEND lock)  -->  the cache's shared pages.
 * dup() shares the description; every open() makes a new one. A served
 * descriptor is also a genuine kernel descriptor of the same file (opened
 * with the program's flags), so numbers stay unique and fcntl locks, fchmod,
 * fstatfs ... work on it unchanged; its data never moves through it.
 *
 * Lock order:
 *   o_pos_lock (read/write/lseek on one description)
 *     pi_append (O_APPEND writes of one file)
 *       [coherio's own locks]
 *   g_lock (inodes, the list of descriptions, the cache pointer, fork) is
 *   never held across a data transfer and never taken under the two above;
 *   pl_aio's a_lock is a leaf.
 * The pass-through path (descriptors and paths not served) takes no lock and
 * allocates nothing: one or two atomic loads of the descriptor table, or a
 * string comparison of the path against the prefixes.
 *
 * Fork: every description served at a fork leaves the cache for good, in
 * parent and child, and so does its file (dev/ino): "descriptors shared by
 * fork leave the cache" (pl_core.c, "Fork").
 */
#ifndef COHERIO_PRELOAD_H
#define COHERIO_PRELOAD_H

#include <coherio.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#define PL_EXPORT __attribute__((visibility("default")))
#define PL_LIKELY(x)   __builtin_expect(!!(x), 1)
#define PL_UNLIKELY(x) __builtin_expect(!!(x), 0)

_Static_assert(sizeof(off_t) == 8, "the preload library needs a 64-bit off_t");

/* ---- the real functions (dlsym(RTLD_NEXT)) ------------------------------- */

struct statx;
struct pl_real {
	int (*open)(const char *, int, ...);
	int (*openat)(int, const char *, int, ...);
	int (*close)(int);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*write)(int, const void *, size_t);
	ssize_t (*pread)(int, void *, size_t, off_t);
	ssize_t (*pwrite)(int, const void *, size_t, off_t);
	ssize_t (*readv)(int, const struct iovec *, int);
	ssize_t (*writev)(int, const struct iovec *, int);
	ssize_t (*preadv)(int, const struct iovec *, int, off_t);
	ssize_t (*pwritev)(int, const struct iovec *, int, off_t);
	ssize_t (*preadv2)(int, const struct iovec *, int, off_t, int);
	ssize_t (*pwritev2)(int, const struct iovec *, int, off_t, int);
	off_t (*lseek)(int, off_t, int);
	int (*fstat)(int, struct stat *);
	int (*stat)(const char *, struct stat *);
	int (*lstat)(const char *, struct stat *);
	int (*fstatat)(int, const char *, struct stat *, int);
	int (*statx)(int, const char *, int, unsigned, struct statx *);
	int (*ftruncate)(int, off_t);
	int (*truncate)(const char *, off_t);
	int (*fallocate)(int, int, off_t, off_t);
	int (*posix_fallocate)(int, off_t, off_t);
	int (*fsync)(int);
	int (*fdatasync)(int);
	int (*sync_file_range)(int, off_t, off_t, unsigned);
	int (*posix_fadvise)(int, off_t, off_t, int);
	ssize_t (*readahead)(int, off_t, size_t);
	int (*fcntl)(int, int, ...);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*close_range)(unsigned, unsigned, int);
	void (*closefrom)(int);
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*ioctl)(int, unsigned long, ...);
	ssize_t (*copy_file_range)(int, off_t *, int, off_t *, size_t, unsigned);
	ssize_t (*sendfile)(int, int, off_t *, size_t);
	ssize_t (*splice)(int, off_t *, int, off_t *, size_t, unsigned);
	void (*sync)(void);
	int (*syncfs)(int);
	FILE *(*fopen)(const char *, const char *);
	FILE *(*fdopen)(int, const char *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
	                   const posix_spawnattr_t *, char *const[], char *const[]);
	int (*posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
	                    const posix_spawnattr_t *, char *const[], char *const[]);
	int (*system)(const char *);
	FILE *(*popen)(const char *, const char *);
	pid_t (*fork)(void);
	long (*syscall)(long, ...);
	void (*_exit)(int) __attribute__((noreturn));
	void (*_Exit)(int) __attribute__((noreturn));
};

extern struct pl_real pl_real; /* written once by pl_boot_slow() */
extern atomic_int pl_booted;    /* release: pl_real and the config are set
                                 * (pl_real alone may be set before)    */

void pl_boot_slow(void);

/* Every interposed function starts here: one acquire load once booted. */
static inline void pl_boot(void)
{
	if (PL_UNLIKELY(!atomic_load_explicit(&pl_booted, memory_order_acquire)))
		pl_boot_slow();
}

/* ---- files and descriptions ---------------------------------------------- */

struct pl_ofd;

/* A served file (one per st_dev/st_ino with a description open on it). */
struct pl_inode {
	dev_t pi_dev;                /* immutable                           */
	ino_t pi_ino;                /* immutable                           */
	struct pl_ofd *pi_ofds;      /* g_lock: its descriptions             */
	pthread_mutex_t pi_append;   /* O_APPEND: size read + write as one   */
	struct pl_inode *pi_next;    /* g_lock: all inodes                   */
	int64_t pi_btime_ns;         /* birth time (statx), -1 unknown: with
	                              * dev/ino, names the file in the
	                              * kernel-only set; immutable            */
	bool pi_kernel;              /* g_lock: it left the cache at a fork
	                              * (no linger for its descriptions)      */
	struct stat pi_st;           /* the kernel's stat at the first open:
	                              * immutable (linger check, pl_core.c)   */
};

/* o_state: a description leaves the cache at a fork (pl_core.c, "Fork"). */
enum {
	PL_SERVED = 0,               /* calls go through its cio_file          */
	PL_LEAVING = 1,              /* a fork is switching it: new calls wait */
	PL_LEFT = 2,                 /* the kernel's for good: new calls and
	                              * its table entries go to the kernel     */
};

/* An open file description: what open() makes and dup() shares. Never freed:
 * a released one goes to a free list and is reused (type-stable memory), so
 * pl_fd_get() may touch o_refs of a description that is being closed. */
struct pl_ofd {
	atomic_int o_refs;           /* table entries + calls in progress +
	                              * async operations in flight; 0 = free */
	atomic_int o_state;          /* PL_SERVED/LEAVING/LEFT: written by the
	                              * forking thread under g_lock (seq_cst:
	                              * pairs with the count in pl_fd_get)    */
	atomic_int o_aio;            /* of o_refs: async operations in flight
	                              * (pl_aio.c slots), not calls           */
	int o_fork_nfd;              /* the forking thread's own: table entries
	                              * counted while it waits                */
	int o_fork_calls;            /* ditto: o_refs - o_aio it read          */
	int64_t o_fork_size;         /* ditto: cio_size() before the close     */
	int o_fork_fd;               /* ditto: one of its descriptors, or -1  */
	struct pl_ofd *o_fork_next;  /* ditto: the descriptions it switches   */
	_Atomic(cio_file *) o_file;  /* the handle; NULL once it left at a
	                              * fork (or kept for async operations)   */
	atomic_int o_flags;          /* open(2) flags; F_SETFL updates them   */
	uint32_t o_lbs;              /* direct-I/O offset/length alignment,
	                              * immutable while o_refs > 0             */
	uint32_t o_memalign;         /* direct-I/O buffer alignment, ditto    */
	bool o_blockdev;             /* immutable while o_refs > 0           */
	pthread_mutex_t o_pos_lock;  /* read/write/lseek: the file position  */
	_Atomic int64_t o_pos;       /* written under o_pos_lock; read
	                              * relaxed by fork/exec (kernel offsets) */
	struct pl_inode *o_inode;    /* immutable while o_refs > 0           */
	struct pl_ofd *o_inext;      /* g_lock: next description of o_inode  */
	struct pl_ofd *o_anext;      /* g_lock: every description allocated  */
	struct pl_ofd *o_fnext;      /* g_lock: free list                    */
	bool o_live;                 /* g_lock: between open and release     */
	bool o_have_close_st;        /* o_close_st is set (by close())       */
	struct stat o_close_st;      /* the kernel's stat when the last
	                              * descriptor was closed (by the closing
	                              * thread, before its last put)          */
	int o_close_pathfd;          /* with it: an O_PATH descriptor of the
	                              * file if it may linger, else -1        */
};

/* The descriptor table: 1024 chunks of 1024 entries, a chunk allocated the
 * first time a served descriptor lands in it. An entry is the description
 * the descriptor refers to, or NULL (not served). */
#define PL_FD_SHIFT 10
#define PL_FD_CHUNK (1 << PL_FD_SHIFT)
#define PL_FD_MAX   (1 << 20)
struct pl_fdchunk {
	_Atomic(struct pl_ofd *) e[PL_FD_CHUNK];
};
extern _Atomic(struct pl_fdchunk *) pl_fdt[PL_FD_MAX / PL_FD_CHUNK];

/* The description of @fd without a reference (NULL: not served). Two
 * acquire loads, pairing with the release stores of pl_fd_install(). */
static inline struct pl_ofd *pl_fd_peek(int fd)
{
	if ((unsigned)fd >= PL_FD_MAX)
		return NULL;
	struct pl_fdchunk *ch = atomic_load_explicit(&pl_fdt[fd >> PL_FD_SHIFT],
	                                             memory_order_acquire);
	if (!ch)
		return NULL;
	return atomic_load_explicit(&ch->e[fd & (PL_FD_CHUNK - 1)], memory_order_acquire);
}

struct pl_ofd *pl_fd_get_slow(int fd, struct pl_ofd *o);

/* The description of @fd with a reference, or NULL (not served). */
static inline struct pl_ofd *pl_fd_get(int fd)
{
	struct pl_ofd *o = pl_fd_peek(fd);
	return o ? pl_fd_get_slow(fd, o) : NULL;
}

struct pl_ofd *pl_fd_take(int fd);                 /* clear entry; its ref */

/* @fd was just made by the kernel for something we do not serve: an entry
 * left for it (a served descriptor closed behind our back, e.g. with a raw
 * system call) must not capture it. One load when there is none. */
void pl_fd_drop(int fd);
static inline void pl_fd_fresh(int fd)
{
	if (PL_UNLIKELY(pl_fd_peek(fd) != NULL))
		pl_fd_drop(fd);
}
int  pl_fd_install(int fd, struct pl_ofd *o);      /* consumes a ref; -EMFILE */
void pl_ofd_ref(struct pl_ofd *o);
int  pl_ofd_put(struct pl_ofd *o);                 /* last: cio_close error */

/* The handle of @o, for a call holding a reference (pl_fd_get returned @o:
 * it is served, and a fork waits for the call before it closes the
 * handle). NULL with *err only if it is gone all the same. */
static inline cio_file *pl_ofd_file(struct pl_ofd *o, int fd, int *err)
{
	(void)fd;
	cio_file *f = atomic_load_explicit(&o->o_file, memory_order_acquire);
	if (PL_UNLIKELY(!f))
		*err = -EBADF;
	return f;
}

/* ---- paths ------------------------------------------------------------------ */

/* Is the file @path (relative to @dirfd) under a COHERIO_PATHS prefix?
 * @abs (PATH_MAX bytes, may be NULL) receives the normalised absolute path. */
bool pl_path_served(int dirfd, const char *path, char *abs);

/* Are any prefixes configured (is anything served at all)? */
bool pl_serving(void);

/* ---- opening and the rest of the core ----------------------------------- */

/* open/openat/creat of a path already known to be served. Return: the
 * descriptor, or -errno. */
int pl_open_served(int dirfd, const char *path, const char *abs, int flags, mode_t mode);

/* close() of the last descriptor of @o: note the kernel's stat (linger). */
void pl_ofd_note_close(struct pl_ofd *o, int fd);

/* The cache (made on first use), or NULL with *err. */
cio_cache *pl_cache_get(int *err);

/* Size of served file (dev, ino) if a description of it is open: 0 and
 * *size set; -ENOENT if none. */
int pl_inode_size(dev_t dev, ino_t ino, int64_t *size);

/* A temporary handle on a served path (truncate(2) of a file we cache),
 * with a reference on one of its descriptions (*ofd: a fork waits for it).
 * Return 0 with *out, -ENOENT if the file is not served here, or -errno. */
int pl_path_handle(const char *abs, int flags, cio_file **out, struct pl_ofd **ofd);
int pl_handle_close(cio_file *f, struct pl_ofd *ofd);

/* Write back every dirty page of every served file and set the kernel offset
 * of every served descriptor to ours (before fork/exec/spawn/exit). */
void pl_flush_all(void);
/* Same for one description (dup2 onto 0-2: the descriptor leaves us). */
void pl_flush_ofd(struct pl_ofd *o, int fd);

extern atomic_int pl_exiting; /* the exit flush ran: writes go through */

/* At exit (@stdio: fflush(NULL) first) and _exit: write everything back,
 * print --stats. */
void pl_exit_flush(bool stdio);

/* ---- pl_posix.c's calls, served or not (pl_stdio.c, pl_syscall.c) --------
 * The libc conventions (-1 and errno; pl_fadvise: the error number), and
 * never through a --wrap'ed name (pl_wrap.c: those are the real ones). */
int pl_openat(int dirfd, const char *path, int flags, mode_t mode);
int pl_fd_close(int fd);
int pl_fd_dup(int fd);
int pl_dup3(int oldfd, int newfd, int flags, bool is_dup3);
ssize_t pl_fd_read(int fd, void *buf, size_t len);
ssize_t pl_fd_write(int fd, const void *buf, size_t len);
ssize_t pl_fd_pread(int fd, void *buf, size_t len, off_t off);
ssize_t pl_fd_pwrite(int fd, const void *buf, size_t len, off_t off);
/* readv (kind 0), preadv/pwritev (1), preadv2/pwritev2 (2) */
ssize_t pl_rwv(int fd, const struct iovec *iov, int n, off_t off, int rwf,
               bool use_pos, bool write, int kind);
off_t pl_fd_lseek(int fd, off_t off, int whence);
int pl_fstat(int fd, struct stat *st);
int pl_fstatat(int dirfd, const char *path, struct stat *st, int flags);
int pl_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx);
int pl_ftruncate(int fd, off_t len);
int pl_truncate(const char *path, off_t len);
int pl_fallocate(int fd, int mode, off_t off, off_t len);
int pl_fsync(int fd, bool data);
int pl_sync_file_range(int fd, off_t off, off_t nbytes, unsigned flags);
int pl_fadvise(int fd, off_t off, off_t len, int advice);
int pl_fd_fcntl(int fd, int cmd, void *arg);
void *pl_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
ssize_t pl_copy_file_range(int in, off_t *in_off, int out, off_t *out_off, size_t len,
                           unsigned flags);
ssize_t pl_sendfile(int out, int in, off_t *off, size_t count);

/* ---- pl_uring.c ------------------------------------------------------------ */

/* The ring size coherio's own cache asks for: the seccomp filter lets
 * io_uring_setup through for this count only (pl_uring.c). */
#define PL_RING_ENTRIES 127u

/* Start-up (before pl_booted): COHERIO_URING, the filter. */
void pl_uring_boot(bool serving);
/* Is a program's io_uring_setup refused (COHERIO_URING=refuse, serving)? */
bool pl_uring_refused(void);

/* ---- pl_aio.c / pl_stdio.c hooks ---------------------------------------- */

void pl_aio_fork_child(void);
void pl_aio_fork_prepare(void);
void pl_aio_fork_parent(void);

/* Wrap served descriptor @fd in a stdio stream (owns @fd). NULL + errno. */
FILE *pl_stdio_stream(int fd, const char *mode);

/* ---- helpers --------------------------------------------------------------- */

/* Return -1 with errno = -@r when @r < 0, else @r. */
static inline long pl_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

/* syscall()'s arguments after the number: always six longs, as the kernel
 * takes them and glibc's syscall() loads them. A caller that passed fewer
 * leaves the rest to be read from its registers and its own stack frame
 * (the sixth), which is mapped, and unused: the functions that do this are
 * marked PL_RAW_ARGS so that ASan does not report that read. */
#define PL_RAW_ARGS __attribute__((no_sanitize("address")))
#define PL_SYSCALL_ARGS(a, last)                                        \
	do {                                                            \
		va_list ap_;                                            \
		va_start(ap_, last);                                    \
		for (int i_ = 0; i_ < 6; i_++)                          \
			(a)[i_] = va_arg(ap_, long);                    \
		va_end(ap_);                                            \
	} while (0)

/* Names glibc exports that its headers do not declare (fortified and old
 * stat entry points). */
int __open_2(const char *, int);
int __open64_2(const char *, int);
int __openat_2(int, const char *, int);
int __openat64_2(int, const char *, int);
ssize_t __read_chk(int, void *, size_t, size_t);
ssize_t __pread_chk(int, void *, size_t, off_t, size_t);
ssize_t __pread64_chk(int, void *, size_t, off_t, size_t);
void __chk_fail(void) __attribute__((noreturn));
int __xstat(int, const char *, struct stat *);
int __xstat64(int, const char *, struct stat *);
int __lxstat(int, const char *, struct stat *);
int __lxstat64(int, const char *, struct stat *);
int __fxstat(int, int, struct stat *);
int __fxstat64(int, int, struct stat *);
int __fxstatat(int, int, const char *, struct stat *, int);
int __fxstatat64(int, int, const char *, struct stat *, int);

#endif /* COHERIO_PRELOAD_H */
