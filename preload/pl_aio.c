/*
 * pl_aio.c - the libaio API of libcoherio-preload.so: io_setup, io_destroy,
 * io_submit, io_getevents, io_pgetevents, io_cancel, io_queue_init,
 * io_queue_release, io_queue_run, io_queue_wait.
 *
 * Programs build struct iocb themselves (the libaio ABI, <libaio.h>); every
 * function returns -errno as libaio does and never sets errno.
 *
 * A context (struct pl_actx) is a genuine kernel AIO context (its id is what
 * the program gets, so it is unique and a bad id is the kernel's -EINVAL)
 * plus, made at the first served iocb, a cio_ctx and a table of slots, one
 * per operation in flight (a_nr: as many as the kernel would take for the
 * program's nr_events, max(nr, 4 per CPU) x 2, at most 65536).
 * io_submit goes over the iocbs in order: runs of iocbs on descriptors not
 * served go to the kernel context in one io_submit system call each; an
 * iocb on a served descriptor becomes a cio_op whose user_data is its slot.
 * The slot keeps what the event needs (the iocb pointer and its data, as the
 * kernel copies them at submission), a copy of the iovec array, and a
 * reference on the description until the event is reaped (counted in the
 * description's o_aio too, so that a fork tells it from a call in
 * progress). An iocb whose descriptor left the cache at a fork goes to the
 * kernel context like any unserved one; an operation in flight in the
 * cio_ctx then still completes there, and its event comes as before.
 *
 * Errors follow the kernel's split: argument errors are io_submit's return
 * (bad opcode, reserved fields, negative offset: -EINVAL; wrong access mode
 * or descriptor: -EBADF; NULL iocb: -EFAULT; full: -EAGAIN), while what the
 * kernel finds while doing the I/O arrives in the event (misaligned O_DIRECT:
 * res = -EINVAL, made here as a "synthetic" event since coherio would reject
 * it at submission). res2 carries the errno that cut a partial transfer
 * short (coherio's res2, G4); the kernel's is 0.
 *
 * Cached (not O_DIRECT) reads and writes are done inside io_submit, as the
 * kernel does buffered AIO, and their events queued at once with the
 * synthetic ones: a cache hit costs no thread hand-off. Direct I/O, fsync
 * and fdatasync go through the cio_ctx (runner threads, the engine).
 *
 * io_getevents reaps synthetic events, then coherio's, then the kernel's;
 * it waits in slices (10 ms; 1 ms while both kernel and served operations
 * are in flight, polling both, or once synthetic events exist, for another
 * thread's io_submit) so that io_destroy and the other sources are
 * noticed. A wait never spins.
 *
 * Not supported on served descriptors: IOCB_FLAG_RESFD (eventfd
 * notification: -EINVAL), IOCB_CMD_NOOP and the socket commands (-EINVAL,
 * as the kernel). Reading the ring in user space (fio userspace_reap) sees
 * only kernel events.
 *
 * Lifetime: contexts are never freed (a destroyed one goes to a free list),
 * so a lookup may increment a_refs of one being destroyed: it increments
 * only a non-zero count and re-checks the registry, as pl_fd_get() does.
 * Locks: g_alock (registry writers, free list) and a_lock (slots, synthetic
 * queue, the lazy cio_ctx) are leaves; a_lock is never held across
 * cio_ctx_submit/getevents.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <fcntl.h>
#include <libaio.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define PL_IOCB_FLAG_RESFD  (1u << 0)
#define PL_IOCB_FLAG_IOPRIO (1u << 1)
#define PL_RWF_AIO (RWF_HIPRI | RWF_DSYNC | RWF_SYNC | RWF_NOWAIT | RWF_APPEND)
#define PL_ACTX_MAX 1024        /* registered contexts at once            */
#define PL_SLOT_INLINE 2        /* iovecs kept in a slot without malloc   */
#define PL_REAP_BATCH 64        /* cio events converted per call          */

struct pl_aslot {
	struct iocb *s_obj;         /* the program's iocb (event .obj)        */
	void *s_data;               /* its data at submission (event .data)   */
	struct pl_ofd *s_ofd;       /* reference until the event is reaped    */
	struct iovec *s_iov;        /* copy of the vector (or s_inline)       */
	struct iovec s_inline[PL_SLOT_INLINE];
	int s_next;                 /* free list                              */
	bool s_busy;                /* submitted to coherio, not reaped       */
};

struct pl_actx {
	atomic_int a_refs;          /* registry + calls in progress; 0 = free */
	atomic_bool a_dead;         /* io_destroy began                       */
	unsigned long a_kctx;       /* kernel context id; immutable while
	                             * registered                             */
	unsigned a_nr;              /* slots; immutable while registered      */
	pthread_mutex_t a_lock;     /* the fields below                       */
	_Atomic(cio_ctx *) a_cctx;  /* made at the first served iocb: stored
	                             * (release) under a_lock after a_slots;
	                             * read without the lock                  */
	struct pl_aslot *a_slots;   /* a_nr, ditto                            */
	int a_free;                 /* free slot list, -1 = none              */
	atomic_uint a_busy;         /* slots submitted to coherio; written
	                             * under a_lock, read without (it only
	                             * picks how io_getevents waits)          */
	struct io_event *a_syn;     /* synthetic events (ring of a_nr)        */
	atomic_bool a_had_syn;      /* a synthetic event was ever queued: a
	                             * waiter in coherio polls in 1 ms slices */
	int *a_syn_slot;            /* their slots                            */
	unsigned a_syn_head, a_syn_count;
	atomic_long a_kernel;       /* kernel iocbs submitted, not reaped     */
	struct pl_actx *a_fnext;    /* g_alock: free list                     */
};

static struct {
	_Atomic unsigned long key;        /* kernel id; 0 = never used        */
	_Atomic(struct pl_actx *) ctx;    /* NULL = free (key kept)           */
} g_areg[PL_ACTX_MAX];
static pthread_mutex_t g_alock = PTHREAD_MUTEX_INITIALIZER;
static struct pl_actx *g_actx_free; /* g_alock */
static atomic_int g_nactx;          /* registered: 0 = all pass-through   */

/* ---- kernel calls (-errno) ------------------------------------------------ */

static long sys_ret(long r)
{
	return r < 0 ? -errno : r;
}

static long k_setup(int nr, io_context_t *ctxp)
{
	return sys_ret(syscall(SYS_io_setup, nr, ctxp));
}

static long k_destroy(unsigned long ctx)
{
	return sys_ret(syscall(SYS_io_destroy, ctx));
}

static long k_submit(unsigned long ctx, long nr, struct iocb **ios)
{
	return sys_ret(syscall(SYS_io_submit, ctx, nr, ios));
}

static long k_getevents(unsigned long ctx, long min, long nr, struct io_event *ev,
                        struct timespec *ts)
{
	return sys_ret(syscall(SYS_io_getevents, ctx, min, nr, ev, ts));
}

static long k_cancel(unsigned long ctx, struct iocb *cb, struct io_event *ev)
{
	return sys_ret(syscall(SYS_io_cancel, ctx, cb, ev));
}

/* ---- registry ---------------------------------------------------------------- */

static unsigned reg_hash(unsigned long k)
{
	return (unsigned)((k >> 12) * 0x9e3779b97f4a7c15ull >> 40) & (PL_ACTX_MAX - 1);
}

static void actx_put(struct pl_actx *a)
{
	if (atomic_fetch_sub_explicit(&a->a_refs, 1, memory_order_acq_rel) == 1) {
		pthread_mutex_lock(&g_alock);
		a->a_fnext = g_actx_free;
		g_actx_free = a;
		pthread_mutex_unlock(&g_alock);
	}
}

/* The context of id @ctx with a reference, or NULL (not ours). */
static struct pl_actx *actx_get(io_context_t ctx)
{
	unsigned long k = (unsigned long)ctx;
	if (PL_LIKELY(!atomic_load_explicit(&g_nactx, memory_order_acquire)) || !k)
		return NULL;
	unsigned h = reg_hash(k);
	for (unsigned i = 0; i < PL_ACTX_MAX; i++) {
		unsigned j = (h + i) & (PL_ACTX_MAX - 1);
		unsigned long key = atomic_load_explicit(&g_areg[j].key, memory_order_acquire);
		if (!key)
			return NULL;
		if (key != k)
			continue;
		struct pl_actx *a = atomic_load_explicit(&g_areg[j].ctx, memory_order_acquire);
		if (!a)
			return NULL;
		int r = atomic_load_explicit(&a->a_refs, memory_order_relaxed);
		while (r > 0 && !atomic_compare_exchange_weak_explicit(&a->a_refs, &r, r + 1,
		                                                         memory_order_acquire,
		                                                         memory_order_relaxed))
			;
		if (r <= 0)
			return NULL;
		if (atomic_load_explicit(&g_areg[j].ctx, memory_order_acquire) != a ||
		    a->a_kctx != k || atomic_load(&a->a_dead)) {
			actx_put(a);
			return NULL;
		}
		return a;
	}
	return NULL;
}

/* Register a new context for kernel id @k (g_alock taken here). */
static struct pl_actx *actx_new(unsigned long k, int nr)
{
	pthread_mutex_lock(&g_alock);
	struct pl_actx *a = g_actx_free;
	if (a) {
		g_actx_free = a->a_fnext;
	} else {
		a = calloc(1, sizeof(*a));
		if (!a) {
			pthread_mutex_unlock(&g_alock);
			return NULL;
		}
		pthread_mutex_init(&a->a_lock, NULL);
	}
	a->a_kctx = k;
	/* the kernel's capacity: max(nr, 4 per CPU) x 2 (fs/aio.c) */
	long cpus = sysconf(_SC_NPROCESSORS_CONF);
	long cap = 2 * (nr > 4 * cpus ? nr : 4 * cpus);
	a->a_nr = cap > 65536 ? 65536 : (unsigned)cap;
	atomic_store(&a->a_cctx, NULL);
	a->a_slots = NULL;
	a->a_syn = NULL;
	a->a_syn_slot = NULL;
	a->a_free = -1;
	atomic_store(&a->a_busy, 0);
	atomic_store(&a->a_had_syn, false);
	a->a_syn_head = a->a_syn_count = 0;
	atomic_store(&a->a_kernel, 0);
	atomic_store(&a->a_dead, false);
	atomic_fetch_add(&a->a_refs, 1); /* the registry's */
	/* one slot per key: reuse this key's slot, else the first free one */
	unsigned h = reg_hash(k), use = PL_ACTX_MAX;
	for (unsigned i = 0; i < PL_ACTX_MAX; i++) {
		unsigned j = (h + i) & (PL_ACTX_MAX - 1);
		unsigned long key = atomic_load(&g_areg[j].key);
		if (key == k) {
			use = j;
			break;
		}
		if (use == PL_ACTX_MAX && !atomic_load(&g_areg[j].ctx))
			use = j;
		if (!key)
			break;
	}
	if (use == PL_ACTX_MAX) {
		atomic_store(&a->a_refs, 0);
		a->a_fnext = g_actx_free;
		g_actx_free = a;
		pthread_mutex_unlock(&g_alock);
		return NULL;
	}
	atomic_store_explicit(&g_areg[use].key, k, memory_order_release);
	atomic_store_explicit(&g_areg[use].ctx, a, memory_order_release);
	atomic_fetch_add_explicit(&g_nactx, 1, memory_order_release);
	pthread_mutex_unlock(&g_alock);
	return a;
}

static void actx_unregister(struct pl_actx *a)
{
	pthread_mutex_lock(&g_alock);
	for (unsigned i = 0; i < PL_ACTX_MAX; i++) {
		if (atomic_load(&g_areg[i].ctx) == a) {
			atomic_store_explicit(&g_areg[i].ctx, NULL, memory_order_release);
			atomic_fetch_sub(&g_nactx, 1);
			break;
		}
	}
	pthread_mutex_unlock(&g_alock);
}

/* ---- slots (a_lock held) ------------------------------------------------------ */

/* Make the cio_ctx and the slot table on first use. */
static int actx_ready_locked(struct pl_actx *a, cio_file *f)
{
	if (atomic_load_explicit(&a->a_cctx, memory_order_relaxed))
		return 0;
	(void)f;
	int err = 0;
	cio_cache *c = pl_cache_get(&err);
	if (!c)
		return err;
	struct pl_aslot *s = calloc(a->a_nr, sizeof(*s));
	struct io_event *syn = calloc(a->a_nr, sizeof(*syn));
	int *synslot = calloc(a->a_nr, sizeof(*synslot));
	cio_ctx *cx = NULL;
	int r = (s && syn && synslot) ? cio_ctx_create(c, a->a_nr, &cx) : -ENOMEM;
	if (r < 0) {
		free(s);
		free(syn);
		free(synslot);
		return r;
	}
	for (unsigned i = 0; i < a->a_nr; i++)
		s[i].s_next = i + 1 < a->a_nr ? (int)i + 1 : -1;
	a->a_slots = s;
	a->a_syn = syn;
	a->a_syn_slot = synslot;
	a->a_free = 0;
	atomic_store_explicit(&a->a_cctx, cx, memory_order_release);
	return 0;
}

/* The slot takes over the caller's reference on @o: from here the
 * operation is an async one in flight (o_aio), not a call in progress, for
 * a fork (pl_core.c, "Fork", step 3). Set only once its cache work is done
 * (a cached one) or handed to the cio_ctx (a direct one). */
static void slot_bind_locked(struct pl_aslot *s, struct pl_ofd *o)
{
	atomic_fetch_add(&o->o_aio, 1);
	s->s_ofd = o;
}

static void slot_release_locked(struct pl_actx *a, int i, struct pl_ofd **ofd)
{
	struct pl_aslot *s = &a->a_slots[i];
	if (s->s_iov && s->s_iov != s->s_inline)
		free(s->s_iov);
	s->s_iov = NULL;
	*ofd = s->s_ofd;
	if (s->s_ofd) /* before the reference goes (the fork's reading order) */
		atomic_fetch_sub(&s->s_ofd->o_aio, 1);
	s->s_ofd = NULL;
	if (s->s_busy) {
		s->s_busy = false;
		a->a_busy--;
	}
	s->s_next = a->a_free;
	a->a_free = i;
}

/* ---- io_setup / io_destroy ------------------------------------------------------- */

PL_EXPORT int io_setup(int nr, io_context_t *ctxp)
{
	pl_boot();
	long r = k_setup(nr, ctxp); /* the kernel checks nr and ctxp (EFAULT) */
	if (r < 0 || !pl_serving())
		return (int)r;
	unsigned long k = (unsigned long)*ctxp;
	if (!actx_new(k, nr)) {
		k_destroy(k);
		*ctxp = NULL;
		return -EAGAIN;
	}
	return 0;
}

PL_EXPORT int io_destroy(io_context_t ctx)
{
	pl_boot();
	struct pl_actx *a = actx_get(ctx);
	if (!a)
		return (int)k_destroy((unsigned long)ctx);
	if (atomic_exchange(&a->a_dead, true)) {
		actx_put(a);
		return -EINVAL;
	}
	actx_unregister(a);
	actx_put(a); /* the registry's reference; ours keeps it */
	/* callers inside (a waiting io_getevents) see a_dead within a slice */
	while (atomic_load(&a->a_refs) > 1) {
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	cio_ctx *cx = atomic_load(&a->a_cctx);
	if (cx) {
		cio_ctx_destroy(cx); /* cancels what has not started */
		for (unsigned i = 0; i < a->a_nr; i++) {
			struct pl_aslot *s = &a->a_slots[i];
			if (s->s_ofd) {
				atomic_fetch_sub(&s->s_ofd->o_aio, 1);
				pl_ofd_put(s->s_ofd);
			}
			if (s->s_iov && s->s_iov != s->s_inline)
				free(s->s_iov);
		}
		free(a->a_slots);
		free(a->a_syn);
		free(a->a_syn_slot);
		atomic_store(&a->a_cctx, NULL);
		a->a_slots = NULL;
	}
	long r = k_destroy(a->a_kctx); /* waits for the kernel's iocbs */
	actx_put(a);
	return (int)(r < 0 ? r : 0);
}

/* ---- io_submit --------------------------------------------------------------------- */

static bool iocb_served(struct iocb *cb)
{
	return (uintptr_t)cb >= 4096 && pl_fd_peek(cb->aio_fildes) != NULL;
}

/* Queue a synthetic event for slot @i (a_lock held). */
static void syn_push_locked(struct pl_actx *a, int i, long res, long res2)
{
	unsigned at = (a->a_syn_head + a->a_syn_count) % a->a_nr;
	struct pl_aslot *s = &a->a_slots[i];
	a->a_syn[at].data = s->s_data;
	a->a_syn[at].obj = s->s_obj;
	a->a_syn[at].res = (unsigned long)res;
	a->a_syn[at].res2 = (unsigned long)res2;
	a->a_syn_slot[at] = i;
	a->a_syn_count++;
	atomic_store_explicit(&a->a_had_syn, true, memory_order_relaxed);
}

static bool dio_aligned(const struct pl_ofd *o, const struct iovec *iov, int n, int64_t off)
{
	if ((uint64_t)off % o->o_lbs)
		return false;
	for (int i = 0; i < n; i++)
		if (iov[i].iov_len % o->o_lbs || (uintptr_t)iov[i].iov_base % o->o_memalign)
			return false;
	return true;
}

/*
 * A cached read or write of @iov at @off, to completion: coherio resumes
 * short transfers itself, so a short count means an error (or end of file
 * for a read); the rest is tried once more to learn that error, which goes
 * to *@res2 as the event's res2 (G4).
 */
static ssize_t cached_now(cio_file *f, bool write, const struct iovec *iov, int n, int64_t off,
                          unsigned flags, long *res2)
{
	ssize_t done = write ? cio_writev(f, iov, n, off, flags) : cio_readv(f, iov, n, off, flags);
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (done <= 0 || (size_t)done >= len)
		return done;
	if (!write && off + done >= cio_size(f))
		return done; /* end of file */
	struct iovec rest[PL_SLOT_INLINE + 1], *v = rest;
	int k = 0;
	size_t skip = (size_t)done;
	if (n > PL_SLOT_INLINE + 1 && !(v = malloc((size_t)n * sizeof(*v))))
		return done;
	for (int i = 0; i < n; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		v[k].iov_base = (char *)iov[i].iov_base + skip;
		v[k].iov_len = iov[i].iov_len - skip;
		skip = 0;
		k++;
	}
	ssize_t more = write ? cio_writev(f, v, k, off + done, flags)
	                     : cio_readv(f, v, k, off + done, flags);
	if (v != rest)
		free(v);
	if (more < 0)
		*res2 = more;
	else
		done += more;
	return done;
}

/* One iocb on served description @o (the caller's reference moves to the
 * slot on success). Return 0 or -errno (nothing queued). */
static int submit_one(struct pl_actx *a, struct iocb *cb, struct pl_ofd *o)
{
	int err = -EIO;
	cio_file *f = pl_ofd_file(o, cb->aio_fildes, &err);
	if (!f)
		return err;
	int fl = atomic_load_explicit(&o->o_flags, memory_order_relaxed);
	int acc = fl & O_ACCMODE;
	unsigned rwf = cb->aio_rw_flags;
	struct cio_op op;
	memset(&op, 0, sizeof(op));
	op.file = f;
	bool syn = false; /* complete at once with syn_res */
	long syn_res = 0;
	int op_code = cb->aio_lio_opcode;
	bool vec = op_code == IO_CMD_PREADV || op_code == IO_CMD_PWRITEV;
	bool write = op_code == IO_CMD_PWRITE || op_code == IO_CMD_PWRITEV;

	if (cb->u.c.__pad3) /* aio_reserved2 */
		return -EINVAL;
	if (cb->u.c.flags & PL_IOCB_FLAG_RESFD)
		return -EINVAL; /* eventfd notification: not supported here */
	switch (op_code) {
	case IO_CMD_PREAD:
	case IO_CMD_PWRITE:
	case IO_CMD_PREADV:
	case IO_CMD_PWRITEV:
		if (write ? acc == O_RDONLY : acc == O_WRONLY)
			return -EBADF;
		if (vec ? cb->u.c.nbytes > IOV_MAX : (long)cb->u.c.nbytes < 0)
			return -EINVAL;
		if (cb->u.c.nbytes && !cb->u.c.buf)
			return -EFAULT; /* as the kernel's access_ok() at submission */
		if (rwf & ~PL_RWF_AIO)
			return -EOPNOTSUPP;
		if (cb->u.c.offset < 0)
			return -EINVAL;
		op.opcode = write ? CIO_OP_WRITE : CIO_OP_READ;
		op.off = cb->u.c.offset;
		if (fl & O_DIRECT)
			op.flags |= CIO_RW_DIRECT;
		if (write && ((fl & O_DSYNC) || (rwf & (RWF_DSYNC | RWF_SYNC))))
			op.flags |= CIO_RW_DSYNC;
		if (write && ((fl & O_APPEND) || (rwf & RWF_APPEND))) {
			int64_t size = cio_size(f);
			if (size < 0)
				return (int)size;
			op.off = size;
		}
		break;
	case IO_CMD_FSYNC:
	case IO_CMD_FDSYNC:
		if (cb->u.c.buf || cb->u.c.nbytes || cb->u.c.offset || rwf)
			return -EINVAL;
		op.opcode = op_code == IO_CMD_FSYNC ? CIO_OP_FSYNC : CIO_OP_FDATASYNC;
		break;
	case IO_CMD_POLL:
		if (cb->u.c.nbytes || cb->u.c.offset || rwf)
			return -EINVAL;
		/* a regular file is always ready */
		syn = true;
		syn_res = (long)((unsigned)cb->u.poll.events & (POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM));
		break;
	default:
		return -EINVAL;
	}

	pthread_mutex_lock(&a->a_lock);
	int r = actx_ready_locked(a, f);
	if (r < 0 || a->a_free < 0) {
		pthread_mutex_unlock(&a->a_lock);
		return r < 0 ? r : -EAGAIN;
	}
	int i = a->a_free;
	struct pl_aslot *s = &a->a_slots[i];
	a->a_free = s->s_next;
	s->s_obj = cb;
	s->s_data = cb->data;
	s->s_ofd = NULL; /* bound (slot_bind_locked) when it is in flight */
	s->s_iov = NULL;
	int n = 0;
	if (op.opcode == CIO_OP_READ || op.opcode == CIO_OP_WRITE) {
		if (vec) {
			n = (int)cb->u.c.nbytes;
			s->s_iov = n <= PL_SLOT_INLINE ? s->s_inline : malloc((size_t)n * sizeof(struct iovec));
			if (!s->s_iov) {
				s->s_next = a->a_free;
				a->a_free = i;
				pthread_mutex_unlock(&a->a_lock);
				return -ENOMEM;
			}
			if (n)
				memcpy(s->s_iov, cb->u.c.buf, (size_t)n * sizeof(struct iovec));
			for (int v = 0; v < n; v++) {
				if (!s->s_iov[v].iov_base && s->s_iov[v].iov_len) {
					if (s->s_iov != s->s_inline)
						free(s->s_iov);
					s->s_iov = NULL;
					s->s_next = a->a_free;
					a->a_free = i;
					pthread_mutex_unlock(&a->a_lock);
					return -EFAULT;
				}
			}
		} else {
			n = 1;
			s->s_iov = s->s_inline;
			s->s_inline[0].iov_base = cb->u.c.buf;
			s->s_inline[0].iov_len = cb->u.c.nbytes;
		}
		/* the kernel finds misaligned direct I/O while doing it: the
		 * iocb is accepted and its event says -EINVAL */
		if ((op.flags & CIO_RW_DIRECT) && !dio_aligned(o, s->s_iov, n, op.off)) {
			syn = true;
			syn_res = -EINVAL;
		} else if (n == 0) {
			syn = true; /* an empty vector moves 0 bytes */
			syn_res = 0;
		}
	}
	if (syn) {
		slot_bind_locked(s, o);
		syn_push_locked(a, i, syn_res, 0);
		pthread_mutex_unlock(&a->a_lock);
		return 0;
	}
	if ((op.opcode == CIO_OP_READ || op.opcode == CIO_OP_WRITE) && !(op.flags & CIO_RW_DIRECT)) {
		/* Cached I/O is done here and now, as the kernel does buffered
		 * AIO inside io_submit: no hand-off to a runner thread. */
		pthread_mutex_unlock(&a->a_lock);
		long res2 = 0;
		ssize_t res = cached_now(f, op.opcode == CIO_OP_WRITE, s->s_iov, n, op.off,
		                         op.flags, &res2);
		pthread_mutex_lock(&a->a_lock);
		slot_bind_locked(s, o);
		syn_push_locked(a, i, res, res2);
		pthread_mutex_unlock(&a->a_lock);
		return 0;
	}
	s->s_busy = true;
	a->a_busy++;
	slot_bind_locked(s, o);
	pthread_mutex_unlock(&a->a_lock);

	op.iov = s->s_iov;
	op.iovcnt = n;
	op.user_data = (uint64_t)i;
	r = cio_ctx_submit(atomic_load_explicit(&a->a_cctx, memory_order_acquire), &op, 1);
	if (r < 0) { /* the caller keeps (and puts) its reference */
		struct pl_ofd *dummy;
		pthread_mutex_lock(&a->a_lock);
		slot_release_locked(a, i, &dummy);
		pthread_mutex_unlock(&a->a_lock);
		return r;
	}
	return 0;
}

static int actx_submit(struct pl_actx *a, long nr, struct iocb **ios)
{
	if (nr < 0)
		return -EINVAL;
	if (nr == 0)
		return 0;
	if (!ios)
		return -EFAULT;
	long done = 0;
	while (done < nr) {
		long k = done;
		while (k < nr && !iocb_served(ios[k]))
			k++;
		if (k > done) { /* a run the kernel does (NULL iocbs included) */
			long r = k_submit(a->a_kctx, k - done, ios + done);
			if (r < 0)
				return done ? (int)done : (int)r;
			atomic_fetch_add(&a->a_kernel, r);
			done += r;
			if (done < k)
				return (int)done;
			continue;
		}
		struct iocb *cb = ios[done];
		struct pl_ofd *o = pl_fd_get(cb->aio_fildes);
		if (!o) { /* it left the cache at a fork meanwhile: the kernel's */
			long r = k_submit(a->a_kctx, 1, ios + done);
			if (r < 0)
				return done ? (int)done : (int)r;
			atomic_fetch_add(&a->a_kernel, r);
			done += r;
			if (r == 0)
				return (int)done;
			continue;
		}
		int r = submit_one(a, cb, o);
		if (r < 0) {
			if (o)
				pl_ofd_put(o);
			return done ? (int)done : r;
		}
		done++;
	}
	return (int)done;
}

PL_EXPORT int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	pl_boot();
	struct pl_actx *a = actx_get(ctx);
	if (PL_LIKELY(!a))
		return (int)k_submit((unsigned long)ctx, nr, ios);
	int r = actx_submit(a, nr, ios);
	actx_put(a);
	return r;
}

/* ---- io_getevents ------------------------------------------------------------------- */

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Turn coherio's events into the program's (slots freed, references put). */
static int convert(struct pl_actx *a, const struct cio_event *cev, int n, struct io_event *out)
{
	struct pl_ofd *put[PL_REAP_BATCH];
	pthread_mutex_lock(&a->a_lock);
	for (int i = 0; i < n; i++) {
		int si = (int)cev[i].user_data;
		struct pl_aslot *s = &a->a_slots[si];
		out[i].data = s->s_data;
		out[i].obj = s->s_obj;
		out[i].res = (unsigned long)cev[i].res;
		out[i].res2 = (unsigned long)(long)cev[i].res2;
		slot_release_locked(a, si, &put[i]);
	}
	pthread_mutex_unlock(&a->a_lock);
	for (int i = 0; i < n; i++)
		if (put[i])
			pl_ofd_put(put[i]);
	return n;
}

/* Synthetic events, up to @max, without waiting. */
static int reap_syn(struct pl_actx *a, struct io_event *out, long max)
{
	struct pl_ofd *put[PL_REAP_BATCH];
	int n = 0;
	if (!atomic_load_explicit(&a->a_cctx, memory_order_acquire))
		return 0;
	pthread_mutex_lock(&a->a_lock);
	while (n < max && n < PL_REAP_BATCH && a->a_syn_count) {
		out[n] = a->a_syn[a->a_syn_head];
		slot_release_locked(a, a->a_syn_slot[a->a_syn_head], &put[n]);
		a->a_syn_head = (a->a_syn_head + 1) % a->a_nr;
		a->a_syn_count--;
		n++;
	}
	pthread_mutex_unlock(&a->a_lock);
	for (int i = 0; i < n; i++)
		if (put[i])
			pl_ofd_put(put[i]);
	return n;
}

/* coherio's events: at least @min (waiting up to @ts), at most @max. */
static int reap_cio(struct pl_actx *a, long min, long max, struct io_event *out,
                    const struct timespec *ts)
{
	struct cio_event cev[PL_REAP_BATCH];
	cio_ctx *cx = atomic_load_explicit(&a->a_cctx, memory_order_acquire);
	if (!cx)
		return 0;
	if (max > PL_REAP_BATCH)
		max = PL_REAP_BATCH;
	if (min > max)
		min = max;
	int r = cio_ctx_getevents(cx, (int)min, (int)max, cev, ts);
	return r > 0 ? convert(a, cev, r, out) : 0;
}

static int reap_kernel(struct pl_actx *a, long min, long max, struct io_event *out,
                       struct timespec *ts)
{
	if (atomic_load(&a->a_kernel) <= 0)
		return 0;
	long r = k_getevents(a->a_kctx, min, max, out, ts);
	if (r > 0)
		atomic_fetch_sub(&a->a_kernel, r);
	return (int)r;
}

static int actx_getevents(struct pl_actx *a, long min_nr, long nr, struct io_event *ev,
                          const struct timespec *timeout)
{
	static const struct timespec zero = { 0, 0 };
	if (min_nr < 0 || min_nr > nr)
		return -EINVAL;
	if (nr == 0)
		return 0;
	if (!ev)
		return -EFAULT;
	int64_t deadline = INT64_MAX;
	if (timeout) {
		int64_t t = (int64_t)timeout->tv_sec * 1000000000 + timeout->tv_nsec;
		deadline = now_ns() + (t > 0 ? t : 0);
	}
	long n = 0;
	for (;;) {
		if (atomic_load(&a->a_dead))
			return n ? (int)n : -EINVAL;
		n += reap_syn(a, ev + n, nr - n);
		if (n < nr)
			n += reap_cio(a, 0, nr - n, ev + n, &zero);
		if (n < nr) {
			struct timespec z = zero;
			int k = reap_kernel(a, 0, nr - n, ev + n, &z);
			if (k > 0)
				n += k;
		}
		if (n >= min_nr)
			return (int)n;
		int64_t left = deadline - now_ns();
		if (left <= 0)
			return (int)n;
		bool kern = atomic_load(&a->a_kernel) > 0;
		bool srv = atomic_load(&a->a_busy) > 0;
		int64_t slice = (kern && srv) || atomic_load_explicit(&a->a_had_syn, memory_order_relaxed)
		                ? 1000000 : 10000000;
		if (slice > left)
			slice = left;
		struct timespec st = { (time_t)(slice / 1000000000), (long)(slice % 1000000000) };
		if (srv) {
			n += reap_cio(a, kern ? 1 : min_nr - n, nr - n, ev + n, &st);
		} else if (kern) {
			int k = reap_kernel(a, min_nr - n, nr - n, ev + n, &st);
			if (k == -EINTR)
				return n ? (int)n : -EINTR;
			if (k > 0)
				n += k;
		} else {
			nanosleep(&st, NULL); /* nothing in flight: as the kernel, wait */
		}
	}
}

PL_EXPORT int io_getevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
                           struct timespec *timeout)
{
	pl_boot();
	struct pl_actx *a = actx_get(ctx);
	if (PL_LIKELY(!a))
		return (int)k_getevents((unsigned long)ctx, min_nr, nr, events, timeout);
	int r = actx_getevents(a, min_nr, nr, events, timeout);
	actx_put(a);
	return r;
}

PL_EXPORT int io_pgetevents(io_context_t ctx, long min_nr, long nr, struct io_event *events,
                            struct timespec *timeout, sigset_t *sigmask)
{
	pl_boot();
	struct pl_actx *a = actx_get(ctx);
	if (PL_LIKELY(!a)) {
		struct { const sigset_t *ss; unsigned long len; } sig = { sigmask, _NSIG / 8 };
		return (int)sys_ret(syscall(SYS_io_pgetevents, ctx, min_nr, nr, events, timeout,
		                            sigmask ? &sig : NULL));
	}
	sigset_t old;
	if (sigmask)
		pthread_sigmask(SIG_SETMASK, sigmask, &old);
	int r = actx_getevents(a, min_nr, nr, events, timeout);
	if (sigmask)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	actx_put(a);
	return r;
}

/* ---- io_cancel ---------------------------------------------------------------------- */

PL_EXPORT int io_cancel(io_context_t ctx, struct iocb *cb, struct io_event *evt)
{
	pl_boot();
	struct pl_actx *a = actx_get(ctx);
	if (PL_LIKELY(!a))
		return (int)k_cancel((unsigned long)ctx, cb, evt);
	int r;
	if ((uintptr_t)cb < 4096) {
		r = -EFAULT;
	} else {
		int idx = -1;
		pthread_mutex_lock(&a->a_lock);
		for (unsigned i = 0; a->a_slots && i < a->a_nr; i++) {
			if (a->a_slots[i].s_busy && a->a_slots[i].s_obj == cb) {
				idx = (int)i;
				break;
			}
		}
		pthread_mutex_unlock(&a->a_lock);
		if (idx < 0) {
			r = (int)k_cancel(a->a_kctx, cb, evt); /* a kernel iocb, or none */
		} else {
			r = cio_ctx_cancel(atomic_load(&a->a_cctx), (uint64_t)idx);
			/* as Linux since 4.19: a cancelled operation's event (res
			 * -ECANCELED) comes through io_getevents; -EINPROGRESS says
			 * so. One already started cannot be: -EAGAIN. */
			r = r == 0 ? -EINPROGRESS : r == -EALREADY ? -EAGAIN : -EINVAL;
		}
	}
	actx_put(a);
	return r;
}

/* ---- the io_queue_* wrappers of libaio ----------------------------------------------- */

PL_EXPORT int io_queue_init(int maxevents, io_context_t *ctxp)
{
	pl_boot();
	if (maxevents <= 0)
		return -EINVAL;
	/* libaio stores NULL first; do it without faulting on a bad pointer */
	io_context_t zero = NULL;
	struct iovec local = { &zero, sizeof(zero) }, remote = { ctxp, sizeof(zero) };
	ssize_t w = syscall(SYS_process_vm_writev, getpid(), &local, 1UL, &remote, 1UL, 0UL);
	if (w < 0 && errno == EFAULT)
		return -EFAULT;
	if (w < 0) {
		if (!ctxp)
			return -EFAULT;
		*ctxp = NULL;
	}
	return io_setup(maxevents, ctxp);
}

PL_EXPORT int io_queue_release(io_context_t ctx)
{
	return io_destroy(ctx);
}

int io_queue_wait(io_context_t ctx, struct timespec *timeout); /* libaio has it, its header not */

PL_EXPORT int io_queue_wait(io_context_t ctx, struct timespec *timeout)
{
	return io_getevents(ctx, 0, 0, NULL, timeout);
}

PL_EXPORT int io_queue_run(io_context_t ctx)
{
	static struct timespec zero = { 0, 0 };
	struct io_event ev;
	int r;
	while ((r = io_getevents(ctx, 0, 1, &ev, &zero)) == 1) {
		io_callback_t cb = (io_callback_t)ev.data;
		if (cb)
			cb(ctx, ev.obj, (long)ev.res, (long)ev.res2);
	}
	return r;
}

/* ---- fork ------------------------------------------------------------------------------ */

void pl_aio_fork_prepare(void)
{
	pthread_mutex_lock(&g_alock);
}

void pl_aio_fork_parent(void)
{
	pthread_mutex_unlock(&g_alock);
}

/* A child has no AIO contexts (nor does it with the kernel's): forget them
 * all; their ids are now the kernel's -EINVAL. Their memory is left alone. */
void pl_aio_fork_child(void)
{
	for (unsigned i = 0; i < PL_ACTX_MAX; i++) {
		atomic_store_explicit(&g_areg[i].ctx, NULL, memory_order_relaxed);
		atomic_store_explicit(&g_areg[i].key, 0, memory_order_relaxed);
	}
	atomic_store(&g_nactx, 0);
	g_actx_free = NULL;
	pthread_mutex_init(&g_alock, NULL);
}
