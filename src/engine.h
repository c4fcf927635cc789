/*
 * engine.h - the I/O engine ops table. An engine moves bytes between memory
 * and a descriptor; it knows nothing of pages. The cache talks to it through
 * struct cio_io requests: submit() accepts a request and completes it later
 * (or inline) by calling io->done exactly once.
 *
 *   sync    (engine_sync.c)    preadv/pwritev on the submitter; inline done
 *   threads (engine_threads.c) a worker pool; done on a worker thread
 *   uring   (engine_uring.c)   io_uring; done on the ring's completion thread
 *   fault   (engine_fault.c)   wraps another engine; delayed completions are
 *                              delivered on its timer thread
 *
 * Rules for every engine:
 *  (a) After submit() returned 0, done is called exactly once, on any thread
 *      (possibly before submit() returns). After a negative return it is
 *      never called.
 *  (b) The request (and its iovec array) belongs to the engine from submit()
 *      until done is called; the engine never touches it after calling done,
 *      so done may free it.
 *  (c) done runs on an engine thread: it must not block for long. It may
 *      submit new requests (engines never wait for queue space on their own
 *      completion threads), but must not wait for their completion.
 *  (d) destroy() completes every accepted request first (their done calls
 *      return before destroy does), then frees everything; no submit may run
 *      concurrently with or after destroy().
 */
#ifndef CIO_ENGINE_H
#define CIO_ENGINE_H

#include <errno.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <sys/types.h>
#include <sys/uio.h>

struct cio_inode;

#include "coherio.h"

/* Request op codes are the public CIO_OP_READ, CIO_OP_WRITE, CIO_OP_FSYNC
 * and CIO_OP_FDATASYNC (0..3); engines see no others. */

struct cio_io {
	int op;                     /* CIO_OP_READ..CIO_OP_FDATASYNC           */
	int fd;
	const struct iovec *iov;    /* READ/WRITE buffers                      */
	int iovcnt;
	uint64_t off;
	uint32_t lbs;               /* logical block size of fd                */
	struct cio_inode *ino;      /* for fault matching; may be NULL          */
	ssize_t res;                /* bytes or -errno, set before done()      */
	void (*done)(struct cio_io *io);
	void *priv;                 /* the submitter's                          */
};

struct cio_engine;
struct cio_engine_ops {
	const char *name;
	/* Accept @io; call io->done exactly once, now or later. 0 or -errno
	 * (then done is not called). */
	int (*submit)(struct cio_engine *e, struct cio_io *io);
	void (*destroy)(struct cio_engine *e);
	/* Optional (NULL = not supported). Tell the engine that requests will
	 * often use buffers inside [base, base+len) (the cache's frames), so it
	 * may pre-register them with the kernel. 0, or -errno when it could
	 * not (the engine works on without them: callers may ignore errors).
	 * Call at most once, before any request uses the memory; the memory
	 * must stay mapped until destroy(). */
	int (*register_buffers)(struct cio_engine *e, void *base, size_t len);
	/* True when a caller that is going to wait for one request anyway may
	 * run it on its own thread with cio_engine_exec() (same result, no
	 * hand-off to another thread). False for engines that must see every
	 * request (the fault engine). */
	bool wait_inline;
	/* Optional. Reap completions on the calling thread, calling their done
	 * callbacks here; wait up to @timeout (NULL: until one comes) when
	 * none is ready. Returns completions processed (0 on timeout or kick).
	 * A reaping thread saves the hand-off through an engine thread. */
	int (*poll)(struct cio_engine *e, const struct timespec *timeout);
	/* Optional, with poll: wake the threads waiting in poll(). */
	void (*kick)(struct cio_engine *e);
	/* Optional. While this thread holds a plug, submit() may queue
	 * requests without handing them to the kernel; unplug (or a flush)
	 * hands them over in one go. A plugged thread must flush before it
	 * waits for anything. */
	void (*plug)(struct cio_engine *e, bool on);
};


struct cio_engine {
	const struct cio_engine_ops *ops;
	struct cio_engine *inner;   /* wrapped engine (fault engine)           */
	void *priv;
};

/* Plug helpers (no-ops for engines without plug). */
static inline void cio_engine_plug(struct cio_engine *e)
{
	if (e->ops->plug)
		e->ops->plug(e, true);
}
static inline void cio_engine_unplug(struct cio_engine *e)
{
	if (e->ops->plug)
		e->ops->plug(e, false);
}
/* Hand over what this thread queued, staying plugged. */
static inline void cio_engine_flush(struct cio_engine *e)
{
	if (e->ops->plug) {
		e->ops->plug(e, false);
		e->ops->plug(e, true);
	}
}


struct cio_cache_opts;
/* Create the engine @opts asks for (engine_select.c): CIO_ENGINE_AUTO reads
 * COHERIO_ENGINE, else tries io_uring and falls back to the thread pool. */
int  cio_engine_select(const struct cio_cache_opts *opts, struct cio_engine **out);
int  cio_engine_sync_create(struct cio_engine **out);
/* A pool of @nthreads workers (0 = 4) and a queue of @queue_depth requests
 * (0 = 128); submit() waits while the queue is full. */
int  cio_engine_threads_create(unsigned nthreads, unsigned queue_depth,
                               struct cio_engine **out);
/* An io_uring of @queue_depth entries (0 = 128); -errno when the kernel
 * refuses a ring (EPERM, ENOSYS, ENOMEM, ...). */
int  cio_engine_uring_create(unsigned queue_depth, struct cio_engine **out);
int  cio_engine_fault_create(struct cio_engine *inner, struct cio_engine **out);
/* Run @io on the calling thread (preadv/pwritev/fsync/fdatasync, EINTR
 * retried): bytes or -errno. Does not call io->done. */
ssize_t cio_engine_exec(const struct cio_io *io);

/* Offer the frame memory to the engine (see ops->register_buffers). */
static inline int cio_engine_register_buffers(struct cio_engine *e,
                                              void *base, size_t len)
{
	if (!e->ops->register_buffers)
		return -EOPNOTSUPP;
	return e->ops->register_buffers(e, base, len);
}
/* Submit one request and wait for it: the result (bytes or -errno). */
ssize_t cio_engine_do(struct cio_engine *e, struct cio_io *io);

#endif
