/*
 * async.c - async contexts: accept batches of operations, run them, post
 * exactly one completion event each, cancel those not started.
 *
 * Life of an operation (struct cio_aop, one of cx_aops[]):
 *   submit: arguments checked; accepted only if fewer than cx_depth are
 *           accepted and not reaped. Write-type operations are counted in
 *           the file's i_async_writes (truncate drains them: G8).
 *   PENDING: more than cx_io_limit already running; waits in cx_pending,
 *           untouched; cio_ctx_cancel() can still remove it (-ECANCELED).
 *   RUNNING: started. Direct reads and writes advance without blocking on
 *           the submitter's thread and complete from the engine (direct_io.c);
 *           whatever must block (range or pin waits, the coherence step
 *           with cached pages, DSYNC, every other opcode) runs on a runner
 *           thread. Cancel says -EALREADY.
 *   posted: cio_ctx_post() copies the event into cx_events after all the
 *           operation's work is done; the aop is free again; the caller's
 *           buffers are never touched after that.
 * Runners are started on demand, at most one per slot of the queue, so an
 * operation that waits (a truncate draining writes) never starves the ones
 * it waits for.
 * Reaping: with an engine that can poll (io_uring), a thread waiting in
 * cio_ctx_getevents reaps the engine's completions itself and runs their
 * callbacks, so an event posted by its own thread needs no wake-up; an
 * event posted by any other thread (a runner, the fault timer, another
 * reaper) kicks the engine so that the waiting reaper returns from the
 * kernel. cx_polling is read and written under cx_lock on both sides, so a
 * reaper either sees the event before it waits or the poster sees it.
 * Locks: cx_lock protects every cx_ field below it and aop->state/next;
 * it is a leaf (nothing is taken under it) and never held across I/O.
 */
#include "internal.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RUNNERS_MAX 256 /* = the most operations running at once */

struct cio_ctx {
	struct cio_cache *cx_cache;      /* immutable                          */
	unsigned cx_depth;               /* immutable                          */
	unsigned cx_io_limit;            /* immutable: running at once         */
	struct cio_aop *cx_aops;         /* immutable array of cx_depth        */

	pthread_mutex_t cx_lock;
	pthread_cond_t cx_ev_cond;       /* events posted                      */
	pthread_cond_t cx_run_cond;      /* runner work queued, or stopping    */
	pthread_cond_t cx_idle_cond;     /* an operation finished (destroy)    */
	struct cio_aop *cx_free;
	struct cio_aop *cx_pend_head, *cx_pend_tail;
	struct cio_aop *cx_run_head, *cx_run_tail;
	struct cio_event *cx_events;     /* ring of cx_depth                   */
	unsigned cx_ev_head, cx_ev_count;
	unsigned cx_accepted;            /* accepted, event not reaped         */
	unsigned cx_running;             /* RUNNING operations                 */
	unsigned cx_runners, cx_idle_runners;
	unsigned cx_queued;              /* items in the runner queue          */
	unsigned cx_polling;             /* reapers inside the engine's poll() */
	pthread_t cx_threads[RUNNERS_MAX];
	bool cx_stopping;
};

/* ---- i_async_writes: truncate drains writes accepted before it ---------- */

/* The count drops under i_lock, and waiters always take i_lock: a waiter
 * that sees 0 knows the last putter is done with the inode (the last close
 * waits here before freeing it). */
void cio_async_writes_put(struct cio_inode *ino)
{
	pthread_mutex_lock(&ino->i_lock);
	if (atomic_fetch_sub(&ino->i_async_writes, 1) == 1)
		pthread_cond_broadcast(&ino->i_cond);
	pthread_mutex_unlock(&ino->i_lock);
}

void cio_async_writes_wait(struct cio_inode *ino)
{
	pthread_mutex_lock(&ino->i_lock);
	while (atomic_load(&ino->i_async_writes))
		pthread_cond_wait(&ino->i_cond, &ino->i_lock);
	pthread_mutex_unlock(&ino->i_lock);
}

/* The context this thread is reaping in (inside the engine's poll). */
static _Thread_local struct cio_ctx *cx_reaping;

/* ---- queues (cx_lock held) ----------------------------------------------- */

static void q_push(struct cio_aop **head, struct cio_aop **tail, struct cio_aop *a)
{
	a->next = NULL;
	if (*tail)
		(*tail)->next = a;
	else
		*head = a;
	*tail = a;
}

static struct cio_aop *q_pop(struct cio_aop **head, struct cio_aop **tail)
{
	struct cio_aop *a = *head;
	if (a) {
		*head = a->next;
		if (!*head)
			*tail = NULL;
		a->next = NULL;
	}
	return a;
}

static void *runner_main(void *arg);

/*
 * Queue @a for a runner. Invariant: every queued item has an idle runner
 * waiting for it (one is started when needed), so an item never waits
 * behind runners that block on it (an fsync waiting for the range of a
 * direct write whose completion is queued). Running operations are capped
 * at cx_io_limit <= RUNNERS_MAX, so the cap is never what stops it.
 * An aop that has started (it may hold a range) goes to the head.
 * cx_lock held.
 */
static void __run_queue(struct cio_ctx *cx, struct cio_aop *a, bool urgent)
{
	if (urgent && cx->cx_run_head) {
		a->next = cx->cx_run_head;
		cx->cx_run_head = a;
	} else {
		q_push(&cx->cx_run_head, &cx->cx_run_tail, a);
	}
	cx->cx_queued++;
	while (cx->cx_queued > cx->cx_idle_runners && cx->cx_runners < RUNNERS_MAX) {
		if (pthread_create(&cx->cx_threads[cx->cx_runners], NULL, runner_main, cx) != 0)
			break;
		cx->cx_runners++;
		cx->cx_idle_runners++;
	}
	pthread_cond_signal(&cx->cx_run_cond);
}

void cio_ctx_defer(struct cio_aop *a)
{
	struct cio_ctx *cx = a->ctx;
	pthread_mutex_lock(&cx->cx_lock);
	__run_queue(cx, a, a->stage != ST_PREPARE);
	pthread_mutex_unlock(&cx->cx_lock);
}

/* ---- running one operation -------------------------------------------------- */

/* The operations that are not direct I/O: the synchronous calls, on a
 * runner thread. */
static void run_other(struct cio_aop *a)
{
	const struct cio_op *op = &a->op;
	int64_t r;
	int cut = 0;
	switch (op->opcode) {
	case CIO_OP_READ:
		r = cio_cached_read(a->file, a->iov, a->iovcnt, a->len, (uint64_t)op->off, &cut);
		break;
	case CIO_OP_WRITE:
		r = cio_cached_write(a->file, a->iov, a->iovcnt, a->len, (uint64_t)op->off, op->flags,
		                     &cut);
		break;
	case CIO_OP_FSYNC:
		r = cio_fsync(a->file);
		break;
	case CIO_OP_FDATASYNC:
		r = cio_fdatasync(a->file);
		break;
	case CIO_OP_TRUNCATE:
		r = cio_truncate(a->file, op->off, op->flags);
		break;
	case CIO_OP_INVALIDATE:
		r = cio_invalidate(a->file, op->off, (int64_t)op->len, op->flags, NULL);
		break;
	default:
		r = -EINVAL;
	}
	cio_aop_finish(a, r, r > 0 ? cut : 0);
}

static void start(struct cio_aop *a, bool can_block)
{
	if (a->kind == AK_OTHER) {
		if (can_block)
			run_other(a);
		else
			cio_ctx_defer(a);
		return;
	}
	cio_aop_advance(a, can_block);
}

static void *runner_main(void *arg)
{
	struct cio_ctx *cx = arg;
	pthread_mutex_lock(&cx->cx_lock);
	for (;;) {
		struct cio_aop *a = q_pop(&cx->cx_run_head, &cx->cx_run_tail);
		if (!a) {
			if (cx->cx_stopping)
				break;
			pthread_cond_wait(&cx->cx_run_cond, &cx->cx_lock);
			continue;
		}
		cx->cx_queued--;
		cx->cx_idle_runners--;
		pthread_mutex_unlock(&cx->cx_lock);
		start(a, true);
		pthread_mutex_lock(&cx->cx_lock);
		cx->cx_idle_runners++;
	}
	pthread_mutex_unlock(&cx->cx_lock);
	return NULL;
}

/*
 * cio_ctx_post() - the operation's work is all done: post its event, free
 * its slot, and start a pending operation if one waits. Context: any
 * thread, an engine completion included; takes only cx_lock.
 */
void cio_ctx_post(struct cio_aop *a)
{
	struct cio_ctx *cx = a->ctx;
	struct cio_inode *ino = a->file->h_inode;
	bool counted = a->counted;
	struct cio_event ev = { a->op.user_data, a->res, a->res2, a->op.opcode };

	pthread_mutex_lock(&cx->cx_lock);
	cx->cx_events[(cx->cx_ev_head + cx->cx_ev_count) % cx->cx_depth] = ev;
	cx->cx_ev_count++;
	if (a->state == AOP_RUNNING)
		cx->cx_running--;
	a->state = AOP_FREE;
	a->next = cx->cx_free;
	cx->cx_free = a;
	struct cio_aop *p = NULL;
	if (cx->cx_pend_head && cx->cx_running < cx->cx_io_limit) {
		p = q_pop(&cx->cx_pend_head, &cx->cx_pend_tail);
		p->state = AOP_RUNNING;
		cx->cx_running++;
		__run_queue(cx, p, false); /* not from here: we may be an engine thread */
	}
	pthread_cond_broadcast(&cx->cx_ev_cond);
	pthread_cond_broadcast(&cx->cx_idle_cond);
	/* a reaper of this context waits in the engine: wake it, unless it is
	 * this thread (it looks at the events when its poll returns) */
	bool kick = cx->cx_polling > (cx_reaping == cx ? 1u : 0u);
	struct cio_engine *e = cx->cx_cache->c_engine; /* cx may go once unlocked */
	pthread_mutex_unlock(&cx->cx_lock);
	if (kick)
		e->ops->kick(e);
	if (counted)
		cio_async_writes_put(ino);
}

/* ---- the API ---------------------------------------------------------------- */

int cio_ctx_create(cio_cache *c, unsigned depth, cio_ctx **out)
{
	if (!c || !out)
		return -EINVAL;
	*out = NULL;
	if (depth < 1 || depth > 65536)
		return -EINVAL;
	struct cio_ctx *cx = calloc(1, sizeof(*cx));
	if (!cx)
		return -ENOMEM;
	cx->cx_aops = calloc(depth, sizeof(struct cio_aop));
	cx->cx_events = calloc(depth, sizeof(struct cio_event));
	if (!cx->cx_aops || !cx->cx_events) {
		free(cx->cx_aops);
		free(cx->cx_events);
		free(cx);
		return -ENOMEM;
	}
	cx->cx_cache = c;
	cx->cx_depth = depth;
	cx->cx_io_limit = CIO_MIN(depth, (unsigned)RUNNERS_MAX);
	for (unsigned i = depth; i-- > 0;) {
		cx->cx_aops[i].next = cx->cx_free;
		cx->cx_free = &cx->cx_aops[i];
	}
	pthread_mutex_init(&cx->cx_lock, NULL);
	pthread_cond_init(&cx->cx_ev_cond, NULL);
	pthread_cond_init(&cx->cx_run_cond, NULL);
	pthread_cond_init(&cx->cx_idle_cond, NULL);
	/* one runner from the start, so deferred work always makes progress */
	if (pthread_create(&cx->cx_threads[0], NULL, runner_main, cx) != 0) {
		pthread_mutex_destroy(&cx->cx_lock);
		pthread_cond_destroy(&cx->cx_ev_cond);
		pthread_cond_destroy(&cx->cx_run_cond);
		pthread_cond_destroy(&cx->cx_idle_cond);
		free(cx->cx_aops);
		free(cx->cx_events);
		free(cx);
		return -EAGAIN;
	}
	cx->cx_runners = cx->cx_idle_runners = 1;
	*out = cx;
	return 0;
}

int cio_ctx_destroy(cio_ctx *cx)
{
	if (!cx)
		return -EINVAL;
	pthread_mutex_lock(&cx->cx_lock);
	/* cancel what has not started, wait for the rest */
	struct cio_aop *a;
	while ((a = q_pop(&cx->cx_pend_head, &cx->cx_pend_tail))) {
		a->state = AOP_FREE;
		pthread_mutex_unlock(&cx->cx_lock);
		a->res = -ECANCELED;
		cio_ctx_post(a);
		pthread_mutex_lock(&cx->cx_lock);
	}
	while (cx->cx_running)
		pthread_cond_wait(&cx->cx_idle_cond, &cx->cx_lock);
	cx->cx_stopping = true;
	pthread_cond_broadcast(&cx->cx_run_cond);
	unsigned n = cx->cx_runners;
	pthread_mutex_unlock(&cx->cx_lock);
	for (unsigned i = 0; i < n; i++)
		pthread_join(cx->cx_threads[i], NULL);
	pthread_mutex_destroy(&cx->cx_lock);
	pthread_cond_destroy(&cx->cx_ev_cond);
	pthread_cond_destroy(&cx->cx_run_cond);
	pthread_cond_destroy(&cx->cx_idle_cond);
	free(cx->cx_aops);
	free(cx->cx_events);
	free(cx);
	return 0;
}

/* Check @op as the synchronous call would, and describe it in @a. */
static int op_prepare(struct cio_aop *a, const struct cio_op *op)
{
	int r = cio_file_check(op->file);
	if (r < 0)
		return r;
	cio_file *f = op->file;
	const struct iovec *iov = op->iov;
	int iovcnt = op->iovcnt;
	size_t len = 0;
	int kind = AK_OTHER;

	switch (op->opcode) {
	case CIO_OP_READ:
	case CIO_OP_WRITE: {
		bool write = op->opcode == CIO_OP_WRITE;
		if (!iov) {
			if (op->len > SSIZE_MAX)
				return -EFBIG;
			a->one.iov_base = op->buf;
			a->one.iov_len = op->len;
			iov = &a->one;
			iovcnt = 1;
		}
		r = cio_rw_check(f, iov, iovcnt, op->off, op->flags, write, &len);
		if (r < 0)
			return r;
		if (op->flags & CIO_RW_DIRECT)
			kind = write ? AK_DIRECT_WRITE : AK_DIRECT_READ;
		break;
	}
	case CIO_OP_FSYNC:
	case CIO_OP_FDATASYNC:
		if (op->flags)
			return -EINVAL;
		break;
	case CIO_OP_TRUNCATE:
		r = cio_truncate_check(f, op->off, op->flags);
		if (r < 0)
			return r;
		break;
	case CIO_OP_INVALIDATE:
		if ((op->flags & ~(CIO_INVAL_WAIT | CIO_INVAL_DISCARD)) || op->off < 0 ||
		    op->len > (uint64_t)CIO_MAX_FILE_SIZE)
			return -EINVAL;
		if ((uint64_t)op->off > (uint64_t)CIO_MAX_FILE_SIZE - op->len)
			return -EFBIG;
		break;
	default:
		return -EINVAL;
	}
	struct iovec one = a->one; /* cio_aop_init() clears it */
	cio_aop_init(a, f, kind, iov, iovcnt, len, op->off, op->flags);
	a->one = one;
	a->iov = op->iov ? op->iov : &a->one;
	a->op = *op;
	a->counted = op->opcode == CIO_OP_WRITE;
	return 0;
}

static int submit_batch(cio_ctx *cx, const struct cio_op *ops, int nr);

int cio_ctx_submit(cio_ctx *cx, const struct cio_op *ops, int nr)
{
	if (!cx)
		return -EINVAL;
	if (nr <= 0)
		return nr == 0 ? 0 : -EINVAL;
	if (!ops)
		return -EFAULT;
	/* One hand-over to the kernel for the whole batch: operations only
	 * queue their requests while plugged (nothing here waits). */
	struct cio_engine *e = cx->cx_cache->c_engine;
	cio_engine_plug(e);
	int i = submit_batch(cx, ops, nr);
	cio_engine_unplug(e);
	return i;
}

static int submit_batch(cio_ctx *cx, const struct cio_op *ops, int nr)
{
	int i;
	for (i = 0; i < nr; i++) {
		pthread_mutex_lock(&cx->cx_lock);
		struct cio_aop *a = cx->cx_free;
		/* accepted counts unreaped events too: they must fit the ring */
		if (!a || cx->cx_accepted >= cx->cx_depth || cx->cx_stopping) {
			pthread_mutex_unlock(&cx->cx_lock);
			return i ? i : -EAGAIN;
		}
		cx->cx_free = a->next;
		pthread_mutex_unlock(&cx->cx_lock);

		int r = op_prepare(a, &ops[i]);
		if (r < 0) {
			pthread_mutex_lock(&cx->cx_lock);
			a->next = cx->cx_free;
			cx->cx_free = a;
			pthread_mutex_unlock(&cx->cx_lock);
			return i ? i : r;
		}
		a->ctx = cx;
		if (a->counted)
			atomic_fetch_add(&a->file->h_inode->i_async_writes, 1);
		if (a->kind == AK_DIRECT_READ)
			atomic_fetch_add_explicit(&cx->cx_cache->st_dio_reads, 1, memory_order_relaxed);
		else if (a->kind == AK_DIRECT_WRITE)
			atomic_fetch_add_explicit(&cx->cx_cache->st_dio_writes, 1, memory_order_relaxed);

		pthread_mutex_lock(&cx->cx_lock);
		cx->cx_accepted++;
		bool run_now = cx->cx_running < cx->cx_io_limit && !cx->cx_pend_head;
		if (run_now) {
			a->state = AOP_RUNNING;
			cx->cx_running++;
		} else {
			a->state = AOP_PENDING;
			q_push(&cx->cx_pend_head, &cx->cx_pend_tail, a);
		}
		pthread_mutex_unlock(&cx->cx_lock);
		if (run_now)
			start(a, false);
	}
	return i;
}

static void deadline_of(const struct timespec *timeout, struct timespec *dl)
{
	clock_gettime(CLOCK_REALTIME, dl);
	dl->tv_sec += timeout->tv_sec;
	dl->tv_nsec += timeout->tv_nsec;
	while (dl->tv_nsec >= 1000000000L) {
		dl->tv_nsec -= 1000000000L;
		dl->tv_sec++;
	}
}

int cio_ctx_getevents(cio_ctx *cx, int min_nr, int max_nr, struct cio_event *ev,
                      const struct timespec *timeout)
{
	struct timespec dl;
	if (!cx || !ev || max_nr < 1 || min_nr < 0 || min_nr > max_nr)
		return -EINVAL;
	if (timeout && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000L))
		return -EINVAL;
	if (timeout)
		deadline_of(timeout, &dl);
	struct cio_engine *e = cx->cx_cache->c_engine;
	pthread_mutex_lock(&cx->cx_lock);
	while (cx->cx_ev_count < (unsigned)min_nr) {
		struct timespec left, now;
		if (timeout) {
			clock_gettime(CLOCK_REALTIME, &now);
			if (now.tv_sec > dl.tv_sec || (now.tv_sec == dl.tv_sec && now.tv_nsec >= dl.tv_nsec))
				break;
			left.tv_sec = dl.tv_sec - now.tv_sec;
			left.tv_nsec = dl.tv_nsec - now.tv_nsec;
			if (left.tv_nsec < 0) {
				left.tv_nsec += 1000000000L;
				left.tv_sec--;
			}
		}
		if (e->ops->poll) {
			/* reap the engine on this thread (see the top comment) */
			cx->cx_polling++;
			pthread_mutex_unlock(&cx->cx_lock);
			struct cio_ctx *prev = cx_reaping;
			cx_reaping = cx;
			e->ops->poll(e, timeout ? &left : NULL);
			cx_reaping = prev;
			pthread_mutex_lock(&cx->cx_lock);
			cx->cx_polling--;
		} else if (timeout) {
			if (pthread_cond_timedwait(&cx->cx_ev_cond, &cx->cx_lock, &dl) == ETIMEDOUT)
				break;
		} else {
			pthread_cond_wait(&cx->cx_ev_cond, &cx->cx_lock);
		}
	}
	int n = 0;
	while (n < max_nr && cx->cx_ev_count) {
		ev[n++] = cx->cx_events[cx->cx_ev_head];
		cx->cx_ev_head = (cx->cx_ev_head + 1) % cx->cx_depth;
		cx->cx_ev_count--;
		cx->cx_accepted--;
	}
	pthread_mutex_unlock(&cx->cx_lock);
	return n;
}

int cio_ctx_cancel(cio_ctx *cx, uint64_t user_data)
{
	if (!cx)
		return -EINVAL;
	pthread_mutex_lock(&cx->cx_lock);
	for (struct cio_aop **p = &cx->cx_pend_head, *prev = NULL; *p; prev = *p, p = &(*p)->next) {
		struct cio_aop *a = *p;
		if (a->op.user_data != user_data)
			continue;
		*p = a->next;
		if (cx->cx_pend_tail == a)
			cx->cx_pend_tail = prev;
		a->state = AOP_FREE;
		pthread_mutex_unlock(&cx->cx_lock);
		a->res = -ECANCELED;
		a->res2 = 0;
		cio_ctx_post(a);
		return 0;
	}
	int r = -ENOENT;
	for (unsigned i = 0; i < cx->cx_depth; i++)
		if (cx->cx_aops[i].state == AOP_RUNNING && cx->cx_aops[i].op.user_data == user_data)
			r = -EALREADY;
	pthread_mutex_unlock(&cx->cx_lock);
	return r;
}
