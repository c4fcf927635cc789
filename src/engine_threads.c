/*
 * engine_threads.c - the thread-pool engine: a fixed set of worker threads
 * doing preadv/pwritev/fsync/fdatasync, for systems where io_uring is
 * unavailable (containers often forbid it). Also owns cio_engine_exec(), the
 * one place that turns a request into a system call (the io_uring engine
 * uses it as its fallback).
 *
 * State and locks (struct tp_engine):
 *
 *   tp_lock guards the request queue (tp_q, tp_head, tp_count) and
 *   tp_stopping. It is a leaf: nothing else is locked while it is held, and
 *   it is never held across a system call or a done callback.
 *   tp_work  - workers wait here for a request (or for tp_stopping).
 *   tp_space - submitters wait here while the queue is full.
 *   tp_cap, tp_nthreads, tp_threads: immutable after create.
 *
 * Lifetime of a request: submit() appends it to the ring tp_q (waiting for
 * space when tp_count == tp_cap); one worker pops it, runs it with no lock
 * held, sets io->res and calls io->done on the worker thread, then never
 * touches it again. A submit from a worker of the same pool (a done callback
 * that submits) never waits for space: when the queue is full the worker
 * runs the request itself, so a full queue cannot deadlock the pool.
 *
 * destroy(): sets tp_stopping; workers leave only once the queue is empty,
 * so every accepted request completes; then they are joined.
 */
#include "internal.h"
#include "engine.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define TP_DEFAULT_THREADS 4u
#define TP_DEFAULT_DEPTH   128u

struct tp_engine {
	pthread_mutex_t tp_lock;
	pthread_cond_t  tp_work;      /* a request queued or stopping          */
	pthread_cond_t  tp_space;     /* tp_count dropped below tp_cap         */
	struct cio_io **tp_q;         /* ring of tp_cap slots, under tp_lock   */
	unsigned        tp_cap;       /* immutable                              */
	unsigned        tp_head;      /* oldest queued request, under tp_lock  */
	unsigned        tp_count;     /* queued requests, under tp_lock        */
	int             tp_stopping;  /* destroy() began, under tp_lock        */
	unsigned        tp_nthreads;  /* workers started; immutable after create */
	pthread_t      *tp_threads;   /* immutable after create                */
};

/* The pool whose worker this thread is (NULL elsewhere). */
static _Thread_local struct tp_engine *tp_self;

ssize_t cio_engine_exec(const struct cio_io *io)
{
	ssize_t r;

	switch (io->op) {
	case CIO_OP_READ:
		do r = preadv(io->fd, io->iov, io->iovcnt, (off_t)io->off);
		while (r < 0 && errno == EINTR);
		break;
	case CIO_OP_WRITE:
		do r = pwritev(io->fd, io->iov, io->iovcnt, (off_t)io->off);
		while (r < 0 && errno == EINTR);
		break;
	case CIO_OP_FSYNC:
		do r = fsync(io->fd);
		while (r < 0 && errno == EINTR);
		break;
	case CIO_OP_FDATASYNC:
		do r = fdatasync(io->fd);
		while (r < 0 && errno == EINTR);
		break;
	default:
		return -EINVAL;
	}
	return r < 0 ? -errno : r;
}

static void tp_run(struct cio_io *io)
{
	io->res = cio_engine_exec(io);
	io->done(io); /* io is the submitter's again from here on */
}

static void *tp_worker(void *arg)
{
	struct tp_engine *te = arg;

	tp_self = te;
	pthread_mutex_lock(&te->tp_lock);
	for (;;) {
		while (!te->tp_count && !te->tp_stopping)
			pthread_cond_wait(&te->tp_work, &te->tp_lock);
		if (!te->tp_count)
			break; /* stopping and drained */
		struct cio_io *io = te->tp_q[te->tp_head];
		te->tp_head = (te->tp_head + 1) % te->tp_cap;
		te->tp_count--;
		/* Every pop frees one slot: wake one submitter for it. */
		pthread_cond_signal(&te->tp_space);
		pthread_mutex_unlock(&te->tp_lock);
		tp_run(io);
		pthread_mutex_lock(&te->tp_lock);
	}
	pthread_mutex_unlock(&te->tp_lock);
	return NULL;
}

static int tp_submit(struct cio_engine *e, struct cio_io *io)
{
	struct tp_engine *te = e->priv;

	if (io->op < CIO_OP_READ || io->op > CIO_OP_FDATASYNC)
		return -EINVAL;
	pthread_mutex_lock(&te->tp_lock);
	while (te->tp_count == te->tp_cap && !te->tp_stopping) {
		if (tp_self == te) {
			/* A done callback of ours submits into a full
			 * queue: waiting could deadlock the pool. */
			pthread_mutex_unlock(&te->tp_lock);
			tp_run(io);
			return 0;
		}
		pthread_cond_wait(&te->tp_space, &te->tp_lock);
	}
	if (te->tp_stopping) {
		pthread_mutex_unlock(&te->tp_lock);
		return -ESHUTDOWN; /* a caller bug: submit during destroy */
	}
	te->tp_q[(te->tp_head + te->tp_count) % te->tp_cap] = io;
	te->tp_count++;
	pthread_cond_signal(&te->tp_work);
	pthread_mutex_unlock(&te->tp_lock);
	return 0;
}

static void tp_free(struct tp_engine *te)
{
	pthread_cond_destroy(&te->tp_space);
	pthread_cond_destroy(&te->tp_work);
	pthread_mutex_destroy(&te->tp_lock);
	free(te->tp_threads);
	free(te->tp_q);
	free(te);
}

/* Stop and join the workers that were started. */
static void tp_stop(struct tp_engine *te)
{
	pthread_mutex_lock(&te->tp_lock);
	te->tp_stopping = 1;
	pthread_cond_broadcast(&te->tp_work);
	pthread_cond_broadcast(&te->tp_space);
	pthread_mutex_unlock(&te->tp_lock);
	for (unsigned i = 0; i < te->tp_nthreads; i++)
		pthread_join(te->tp_threads[i], NULL);
}

static void tp_destroy(struct cio_engine *e)
{
	struct tp_engine *te = e->priv;
	tp_stop(te);
	tp_free(te);
	free(e);
}

static const struct cio_engine_ops tp_ops = {
	.name = "threads",
	.submit = tp_submit,
	.destroy = tp_destroy,
	.wait_inline = true,
};

int cio_engine_threads_create(unsigned nthreads, unsigned queue_depth,
                              struct cio_engine **out)
{
	struct cio_engine *e;
	struct tp_engine *te;
	sigset_t all, old;
	int r = 0;

	if (!nthreads)
		nthreads = TP_DEFAULT_THREADS;
	if (!queue_depth)
		queue_depth = TP_DEFAULT_DEPTH;
	e = calloc(1, sizeof(*e));
	te = calloc(1, sizeof(*te));
	if (!e || !te)
		goto nomem;
	te->tp_q = calloc(queue_depth, sizeof(*te->tp_q));
	te->tp_threads = calloc(nthreads, sizeof(*te->tp_threads));
	if (!te->tp_q || !te->tp_threads)
		goto nomem;
	te->tp_cap = queue_depth;
	pthread_mutex_init(&te->tp_lock, NULL);
	pthread_cond_init(&te->tp_work, NULL);
	pthread_cond_init(&te->tp_space, NULL);

	/* Workers block every signal: the application's handlers run on
	 * its own threads, not in the middle of our system calls. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < nthreads; i++) {
		r = -pthread_create(&te->tp_threads[i], NULL, tp_worker, te);
		if (r < 0)
			break;
		te->tp_nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		tp_stop(te);
		tp_free(te);
		free(e);
		return r;
	}
	e->ops = &tp_ops;
	e->priv = te;
	*out = e;
	return 0;
nomem:
	if (te) {
		free(te->tp_q);
		free(te->tp_threads);
	}
	free(te);
	free(e);
	return -ENOMEM;
}
