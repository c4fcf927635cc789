/*
 * engine_uring.c - the io_uring engine (through liburing): requests become
 * SQEs whose user_data is the struct cio_io pointer; one completion thread
 * reaps the CQEs and calls io->done.
 *
 * State and locks (struct ur_engine):
 *
 *   ur_lock guards the submission side of the ring (io_uring_get_sqe,
 *   io_uring_submit, the SQ memory), ur_inflight, ur_stopping and the
 *   registered-buffer table (ur_fixed_*). It is a leaf lock. It is held
 *   across io_uring_submit() (a system call) but never across a done call.
 *   ur_space - submitters wait here while ur_inflight == ur_cap.
 *   ur_cq_lock guards the completion side of the ring (reading CQEs,
 *   advancing the CQ head), ur_pollers and ur_idle. Nobody reads ring
 *   memory outside it; waiting in the kernel (io_uring_enter GETEVENTS)
 *   reads none. It is a leaf lock, never held across a done call.
 *
 * Who reaps: the completion thread, unless a thread is inside poll() (an
 * async context's reaper waiting for events): then the completion thread
 * parks on ur_idle and the poller reaps and runs the done callbacks on its
 * own thread, which saves a thread hand-off per completion. kick() queues a
 * NOP (UR_KICK) whose CQE wakes pollers waiting in the kernel.
 *   ur_cap, ur_thread, ur_ring's setup fields: immutable after create.
 *
 * Flow control: ur_inflight counts every SQE handed to the kernel whose CQE
 * has not been reaped (requests and our own NOPs). Submitters wait while it
 * is ur_cap (the SQ size), so the SQ always has a free slot after a flush
 * and the CQ (twice the SQ) never overflows. The one exception is a submit
 * from the completion thread itself (a done callback that submits): it may
 * not wait for itself, so it goes over the cap; the kernel keeps CQEs that
 * do not fit (IORING_FEAT_NODROP).
 *
 * Completion thread, per batch: copy up to UR_BATCH CQEs (user_data, res)
 * out of the ring and advance the CQ past them (io_uring_for_each_cqe /
 * io_uring_cq_advance: each CQE is read once, none is skipped); then take
 * ur_lock to subtract them from ur_inflight (this also orders the
 * submitter's writes to the request before our reads of it, for the thread
 * sanitizer too); then, with no lock held, set io->res and call io->done
 * for each. A request is completed only by its own CQE, so exactly once.
 *
 * destroy(): sets ur_stopping, submits a NOP whose user_data is UR_STOP;
 * the completion thread leaves after it has seen UR_STOP and ur_inflight
 * has reached 0 (every accepted request completed), and is joined; then
 * io_uring_queue_exit().
 *
 * Fixed buffers: register_buffers() registers [base, base+len) in chunks of
 * at most 1 GiB. A READ/WRITE with one iovec lying inside one chunk becomes
 * READ_FIXED/WRITE_FIXED. If registration fails (RLIMIT_MEMLOCK, ...), the
 * engine goes on with READV/WRITEV.
 */
#include "internal.h"
#include "engine.h"

#include <liburing.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>

#define UR_DEFAULT_DEPTH 128u
#define UR_MAX_DEPTH     4096u
#define UR_BATCH         64u
#define UR_CHUNK         (1ull << 30)   /* kernel limit per fixed buffer */

/* user_data values that are not requests (a struct cio_io is never at
 * address 1 or 2). */
#define UR_STOP    1ull                 /* destroy()'s wake-up NOP        */
#define UR_DROPPED 2ull                 /* an SQE withdrawn after an error */
#define UR_KICK    3ull                 /* kick()'s wake-up NOP           */

struct ur_engine {
	struct io_uring ur_ring;
	pthread_mutex_t ur_lock;
	pthread_cond_t  ur_space;      /* ur_inflight fell below ur_cap       */
	unsigned        ur_cap;        /* SQ entries; immutable               */
	unsigned        ur_inflight;   /* SQEs without reaped CQE, ur_lock    */
	int             ur_stopping;   /* destroy() began, ur_lock            */
	pthread_t       ur_thread;     /* the completion thread; immutable    */
	pthread_mutex_t ur_cq_lock;    /* the CQ side, ur_pollers             */
	pthread_cond_t  ur_idle;       /* the completion thread's timed park  */
	int             ur_pollers;    /* threads inside poll(), ur_cq_lock   */
	int             ur_linger;     /* a poller left recently, ur_cq_lock  */
	_Atomic int     ur_stop_seen;  /* the UR_STOP CQE was reaped          */
	int             ur_ext_arg;    /* kernel waits take a timeout; immut. */
	uint8_t        *ur_fixed_base; /* registered memory or NULL, ur_lock  */
	size_t          ur_fixed_len;  /* its length, ur_lock                 */
};

/* The engine whose done callbacks this thread is running (the completion
 * thread's, or a poller's): its submits must not wait for space, which only
 * reaping frees (NULL elsewhere). */
static _Thread_local struct ur_engine *ur_self;

/* This thread's plug: requests it queues on ur_plugged stay in the SQ until
 * it unplugs (one io_uring_submit for a batch). */
static _Thread_local struct ur_engine *ur_plugged;
static _Thread_local unsigned ur_plug_depth;

static void ur_pause(void)
{
	struct timespec ts = { 0, 50 * 1000 };
	nanosleep(&ts, NULL);
}

/* The fixed-buffer index of @io's buffer, or -1. Called under ur_lock. */
static int ur_fixed_index(const struct ur_engine *ue, const struct cio_io *io)
{
	uintptr_t b, base;

	if (!ue->ur_fixed_base || io->iovcnt != 1 || !io->iov[0].iov_len)
		return -1;
	b = (uintptr_t)io->iov[0].iov_base;
	base = (uintptr_t)ue->ur_fixed_base;
	if (b < base || b - base >= ue->ur_fixed_len)
		return -1;
	size_t idx = (size_t)((b - base) / UR_CHUNK);
	size_t chunk_end = CIO_MIN((size_t)(idx + 1) * UR_CHUNK, ue->ur_fixed_len);
	if (io->iov[0].iov_len > chunk_end - (size_t)(b - base))
		return -1;
	return (int)idx;
}

static void ur_prep(struct ur_engine *ue, struct io_uring_sqe *sqe,
                    struct cio_io *io)
{
	int fi;

	switch (io->op) {
	case CIO_OP_READ:
		fi = ur_fixed_index(ue, io);
		if (fi >= 0)
			io_uring_prep_read_fixed(sqe, io->fd, io->iov[0].iov_base,
			                         (unsigned)io->iov[0].iov_len,
			                         io->off, fi);
		else
			io_uring_prep_readv(sqe, io->fd, io->iov,
			                    (unsigned)io->iovcnt, io->off);
		break;
	case CIO_OP_WRITE:
		fi = ur_fixed_index(ue, io);
		if (fi >= 0)
			io_uring_prep_write_fixed(sqe, io->fd, io->iov[0].iov_base,
			                          (unsigned)io->iov[0].iov_len,
			                          io->off, fi);
		else
			io_uring_prep_writev(sqe, io->fd, io->iov,
			                     (unsigned)io->iovcnt, io->off);
		break;
	case CIO_OP_FSYNC:
		io_uring_prep_fsync(sqe, io->fd, 0);
		break;
	default: /* CIO_OP_FDATASYNC */
		io_uring_prep_fsync(sqe, io->fd, IORING_FSYNC_DATASYNC);
		break;
	}
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)io);
}

/*
 * Queue one SQE (made by @prep_io, or a NOP with @ud when @io is NULL) and
 * hand it to the kernel. Called under ur_lock with room below the cap (or
 * on the completion thread). Returns 0 once the kernel owns the SQE (its
 * CQE will come, and ur_inflight counts it), or -errno: then nothing was
 * queued that will ever complete @io.
 */
static int __ur_queue(struct ur_engine *ue, struct cio_io *io, uint64_t ud)
{
	struct io_uring_sqe *sqe;
	int r;

	/* 1. A slot: the SQ is empty after every flush below, so this only
	 *    fails when a withdrawn SQE is still parked; flush it first. */
	while (!(sqe = io_uring_get_sqe(&ue->ur_ring))) {
		r = io_uring_submit(&ue->ur_ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return r;
		if (r <= 0)
			ur_pause();
	}
	if (io)
		ur_prep(ue, sqe, io);
	else {
		io_uring_prep_nop(sqe);
		io_uring_sqe_set_data64(sqe, ud);
	}
	ue->ur_inflight++;
	if (io && ur_plugged == ue && ur_plug_depth)
		return 0; /* plugged: the unplug's submit hands it over */

	/* 2. Hand it over. EINTR, EAGAIN (kernel short of memory) and EBUSY
	 *    (CQ overflow backlog, drained by the completion thread) pass. */
	for (;;) {
		r = io_uring_submit(&ue->ur_ring);
		if (io_uring_sq_ready(&ue->ur_ring) == 0)
			return 0; /* consumed: its CQE will come */
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			break;
		if (r != -EINTR)
			ur_pause();
	}
	/* 3. Hard error with our SQE still unconsumed (it is the only one in
	 *    the SQ): withdraw it by turning it into a NOP that the next
	 *    submit carries; its CQE only lowers ur_inflight. */
	io_uring_prep_nop(sqe);
	io_uring_sqe_set_data64(sqe, UR_DROPPED);
	return r;
}

static int ur_submit(struct cio_engine *e, struct cio_io *io)
{
	struct ur_engine *ue = e->priv;
	int r;

	if (io->op < CIO_OP_READ || io->op > CIO_OP_FDATASYNC)
		return -EINVAL;
	pthread_mutex_lock(&ue->ur_lock);
	/* The completion thread must not wait for itself (see top); nor may
	 * a plugged thread wait for SQEs it has not handed over. */
	while (ue->ur_inflight >= ue->ur_cap && !ue->ur_stopping && ur_self != ue) {
		if (io_uring_sq_ready(&ue->ur_ring))
			(void)io_uring_submit(&ue->ur_ring);
		pthread_cond_wait(&ue->ur_space, &ue->ur_lock);
	}
	if (ue->ur_stopping)
		r = -ESHUTDOWN; /* a caller bug: submit during destroy */
	else
		r = __ur_queue(ue, io, 0);
	pthread_mutex_unlock(&ue->ur_lock);
	return r;
}

/*
 * Reap up to UR_BATCH completions and run their callbacks on this thread.
 * Returns how many CQEs were consumed.
 */
static unsigned ur_reap(struct ur_engine *ue)
{
	struct io_uring *ring = &ue->ur_ring;
	struct { uint64_t ud; int res; } batch[UR_BATCH];
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	pthread_mutex_lock(&ue->ur_cq_lock);
	io_uring_for_each_cqe(ring, head, cqe) {
		batch[n].ud = io_uring_cqe_get_data64(cqe);
		batch[n].res = cqe->res;
		if (++n == UR_BATCH)
			break;
	}
	if (n)
		io_uring_cq_advance(ring, n);
	pthread_mutex_unlock(&ue->ur_cq_lock);
	if (!n)
		return 0;

	pthread_mutex_lock(&ue->ur_lock);
	ue->ur_inflight -= n;
	pthread_cond_broadcast(&ue->ur_space);
	pthread_mutex_unlock(&ue->ur_lock);

	struct ur_engine *prev = ur_self;
	ur_self = ue;
	for (unsigned i = 0; i < n; i++) {
		struct cio_io *io;
		if (batch[i].ud == UR_STOP) {
			atomic_store(&ue->ur_stop_seen, 1);
			continue;
		}
		if (batch[i].ud == UR_DROPPED || batch[i].ud == UR_KICK)
			continue;
		io = (struct cio_io *)(uintptr_t)batch[i].ud;
		if (batch[i].res == -EINTR || batch[i].res == -EAGAIN)
			io->res = cio_engine_exec(io); /* retry blocking */
		else
			io->res = batch[i].res;
		io->done(io); /* io is the submitter's again */
	}
	ur_self = prev;
	return n;
}

/* Wait in the kernel until the CQ holds a completion (or @ts passes);
 * reads no ring memory. */
static void ur_kernel_wait(struct ur_engine *ue, const struct timespec *ts)
{
	int r;
	if (ts && ue->ur_ext_arg) {
		struct __kernel_timespec kts = { ts->tv_sec, ts->tv_nsec };
		struct io_uring_getevents_arg arg = { .ts = (uint64_t)(uintptr_t)&kts };
		r = io_uring_enter2(ue->ur_ring.ring_fd, 0, 1,
		                    IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, (sigset_t *)&arg,
		                    sizeof(arg));
	} else {
		r = io_uring_enter(ue->ur_ring.ring_fd, 0, 1, IORING_ENTER_GETEVENTS, NULL);
	}
	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -ETIME && r != -EBUSY) /* -errno */
		ur_pause(); /* not expected; do not spin */
}

static void *ur_reaper(void *arg)
{
	struct ur_engine *ue = arg;

	for (;;) {
		/* Park while a poller reaps, and 1 ms after the last one left
		 * (it usually comes straight back): polled every 1 ms rather
		 * than woken per event, so the two do not take turns at the CQ.
		 * Nothing is lost meanwhile: pollers reap everything. */
		pthread_mutex_lock(&ue->ur_cq_lock);
		while (ue->ur_pollers || ue->ur_linger) {
			struct timespec dl;
			clock_gettime(CLOCK_REALTIME, &dl);
			dl.tv_nsec += 1000000;
			if (dl.tv_nsec >= 1000000000L) {
				dl.tv_nsec -= 1000000000L;
				dl.tv_sec++;
			}
			if (!ue->ur_pollers)
				ue->ur_linger = 0;
			pthread_cond_timedwait(&ue->ur_idle, &ue->ur_cq_lock, &dl);
		}
		pthread_mutex_unlock(&ue->ur_cq_lock);
		if (ur_reap(ue))
			continue;
		pthread_mutex_lock(&ue->ur_lock);
		int leave = atomic_load(&ue->ur_stop_seen) && ue->ur_inflight == 0;
		pthread_mutex_unlock(&ue->ur_lock);
		if (leave)
			break;
		ur_kernel_wait(ue, NULL);
	}
	return NULL;
}

/*
 * poll(): reap on this thread; wait up to @ts (at most UR_POLL_MAX) for one
 * completion. The cap bounds a lost kick: the completion thread may reap a
 * kick's NOP before it has seen that a poller registered, and the poller
 * then waits in the kernel for nothing; callers re-check their condition
 * after every return, so the cost of such a race is one capped wait.
 * Without IORING_FEAT_EXT_ARG the kernel wait has no timeout: sleep briefly.
 */
#define UR_POLL_MAX_NS 10000000L /* 10 ms */
static int ur_poll(struct cio_engine *e, const struct timespec *ts)
{
	struct ur_engine *ue = e->priv;
	pthread_mutex_lock(&ue->ur_cq_lock);
	ue->ur_pollers++;
	pthread_mutex_unlock(&ue->ur_cq_lock);
	unsigned n = ur_reap(ue);
	if (!n) {
		struct timespec cap = { 0, UR_POLL_MAX_NS };
		if (ts && (ts->tv_sec == 0 && ts->tv_nsec < cap.tv_nsec))
			cap = *ts;
		if (ue->ur_ext_arg) {
			ur_kernel_wait(ue, &cap);
		} else {
			struct timespec nap = { 0, 100000 };
			nanosleep(&nap, NULL);
		}
		n = ur_reap(ue);
	}
	pthread_mutex_lock(&ue->ur_cq_lock);
	if (--ue->ur_pollers == 0)
		ue->ur_linger = 1; /* the completion thread resumes after 1 ms */
	pthread_mutex_unlock(&ue->ur_cq_lock);
	return (int)n;
}

static void ur_plug(struct cio_engine *e, bool on)
{
	struct ur_engine *ue = e->priv;
	if (on) {
		if (ur_plugged && ur_plugged != ue)
			return; /* one engine plugged per thread; others go straight */
		ur_plugged = ue;
		ur_plug_depth++;
		return;
	}
	if (ur_plugged != ue || !ur_plug_depth)
		return;
	if (--ur_plug_depth)
		return;
	ur_plugged = NULL;
	pthread_mutex_lock(&ue->ur_lock);
	for (int tries = 0; io_uring_sq_ready(&ue->ur_ring) && tries < 1000; tries++) {
		int r = io_uring_submit(&ue->ur_ring);
		if (r < 0 && r != -EINTR)
			ur_pause();
	}
	pthread_mutex_unlock(&ue->ur_lock);
}

static void ur_kick(struct cio_engine *e)
{
	struct ur_engine *ue = e->priv;
	pthread_mutex_lock(&ue->ur_lock);
	if (!ue->ur_stopping)
		(void)__ur_queue(ue, NULL, UR_KICK); /* may go over the cap: a NOP */
	pthread_mutex_unlock(&ue->ur_lock);
}

static int ur_register_buffers(struct cio_engine *e, void *base, size_t len)
{
	struct ur_engine *ue = e->priv;
	struct iovec *v;
	size_t n;
	int r;

	if (!base || !len)
		return -EINVAL;
	n = (size_t)((len + UR_CHUNK - 1) / UR_CHUNK);
	if (n > 16384) /* IORING_MAX_REG_BUFFERS */
		return -E2BIG;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v[i].iov_base = (uint8_t *)base + i * UR_CHUNK;
		v[i].iov_len = (size_t)CIO_MIN((uint64_t)UR_CHUNK, len - i * UR_CHUNK);
	}
	pthread_mutex_lock(&ue->ur_lock);
	if (ue->ur_fixed_base) {
		r = -EBUSY;
	} else {
		r = io_uring_register_buffers(&ue->ur_ring, v, (unsigned)n);
		if (r == 0) {
			ue->ur_fixed_base = base;
			ue->ur_fixed_len = len;
		}
	}
	pthread_mutex_unlock(&ue->ur_lock);
	free(v);
	return r < 0 ? r : 0;
}

static void ur_destroy(struct cio_engine *e)
{
	struct ur_engine *ue = e->priv;

	pthread_mutex_lock(&ue->ur_lock);
	ue->ur_stopping = 1;
	while (ue->ur_inflight >= ue->ur_cap)
		pthread_cond_wait(&ue->ur_space, &ue->ur_lock);
	/* The stop NOP must reach the kernel, or the thread never leaves. */
	while (__ur_queue(ue, NULL, UR_STOP) < 0)
		ur_pause();
	pthread_mutex_unlock(&ue->ur_lock);
	pthread_join(ue->ur_thread, NULL);
	io_uring_queue_exit(&ue->ur_ring);
	pthread_cond_destroy(&ue->ur_space);
	pthread_mutex_destroy(&ue->ur_lock);
	pthread_cond_destroy(&ue->ur_idle);
	pthread_mutex_destroy(&ue->ur_cq_lock);
	free(ue);
	free(e);
}

static const struct cio_engine_ops ur_ops = {
	.name = "uring",
	.submit = ur_submit,
	.destroy = ur_destroy,
	.register_buffers = ur_register_buffers,
	.wait_inline = true,
	.poll = ur_poll,
	.kick = ur_kick,
	.plug = ur_plug,
};

int cio_engine_uring_create(unsigned queue_depth, struct cio_engine **out)
{
	struct cio_engine *e;
	struct ur_engine *ue;
	sigset_t all, old;
	int r;

	if (!queue_depth)
		queue_depth = UR_DEFAULT_DEPTH;
	if (queue_depth > UR_MAX_DEPTH)
		queue_depth = UR_MAX_DEPTH;
	e = calloc(1, sizeof(*e));
	ue = calloc(1, sizeof(*ue));
	if (!e || !ue) {
		free(e);
		free(ue);
		return -ENOMEM;
	}
	r = io_uring_queue_init(queue_depth, &ue->ur_ring, 0);
	if (r < 0) {
		free(ue);
		free(e);
		return r;
	}
	ue->ur_cap = ue->ur_ring.sq.ring_entries;
	ue->ur_ext_arg = (ue->ur_ring.features & IORING_FEAT_EXT_ARG) != 0;
	pthread_mutex_init(&ue->ur_lock, NULL);
	pthread_cond_init(&ue->ur_space, NULL);
	pthread_mutex_init(&ue->ur_cq_lock, NULL);
	pthread_cond_init(&ue->ur_idle, NULL);

	/* The completion thread blocks every signal (see engine_threads.c). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&ue->ur_thread, NULL, ur_reaper, ue);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&ue->ur_space);
		pthread_mutex_destroy(&ue->ur_lock);
		pthread_cond_destroy(&ue->ur_idle);
		pthread_mutex_destroy(&ue->ur_cq_lock);
		io_uring_queue_exit(&ue->ur_ring);
		free(ue);
		free(e);
		return r;
	}
	e->ops = &ur_ops;
	e->priv = ue;
	*out = e;
	return 0;
}
