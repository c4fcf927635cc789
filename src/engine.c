/*
 * engine.c - waiting for engine requests, and the device helpers the cache
 * uses: full transfers that resume after short ones, and sync. A waiter is a
 * mutex/condvar pair on the caller's stack; inline completions never sleep.
 */
#include "internal.h"
#include "engine.h"

#include <string.h>

struct io_waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done; /* under lock */
};

static void waiter_done(struct cio_io *io)
{
	struct io_waiter *w = io->priv;
	pthread_mutex_lock(&w->lock);
	w->done = 1;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/*
 * cio_engine_do() - one request, waited for. An engine that allows it
 * (wait_inline) runs the request on this thread: a caller that blocks for
 * one I/O is served best by one system call, without a hand-off to an
 * engine thread and back (two context switches measured on io_uring).
 * Batches and async operations still go through submit().
 */
ssize_t cio_engine_do(struct cio_engine *e, struct cio_io *io)
{
	struct io_waiter w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0 };
	int r;

	if (e->ops->wait_inline) {
		io->res = cio_engine_exec(io);
		return io->res;
	}

	io->done = waiter_done;
	io->priv = &w;
	r = e->ops->submit(e, io);
	if (r < 0)
		return r;
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	pthread_cond_destroy(&w.cond);
	pthread_mutex_destroy(&w.lock);
	return io->res;
}

ssize_t cio_dev_rw(struct cio_inode *ino, int op, const struct iovec *iov,
                   int iovcnt, uint64_t off)
{
	struct cio_io io;
	memset(&io, 0, sizeof(io));
	io.op = op;
	io.fd = ino->i_fd;
	io.iov = iov;
	io.iovcnt = iovcnt;
	io.off = off;
	io.lbs = ino->i_lbs;
	io.ino = ino;
	return cio_engine_do(ino->i_cache->c_engine, &io);
}

/*
 * Transfer @total bytes, resuming after short transfers. Reads stop at end
 * of file: a read that returns 0, or a count not a multiple of the logical
 * block size (O_DIRECT returns those only at EOF), ends the transfer and the
 * bytes done are returned. A write that makes no progress is -EIO.
 * Returns bytes done or -errno (when nothing was done); *cut (if not NULL)
 * receives the error that stopped a partial transfer, else 0.
 */
static ssize_t dev_full(struct cio_inode *ino, int op, const struct iovec *iov,
                        int iovcnt, uint64_t off, size_t total, int *cut)
{
	struct iovec part[64];
	size_t done = 0;

	if (cut)
		*cut = 0;
	while (done < total) {
		int n = cio_iov_slice(iov, iovcnt, done, total - done, part, 64);
		ssize_t r = cio_dev_rw(ino, op, part, n, off + done);
		if (r == 0 && op == CIO_OP_WRITE)
			r = -EIO;
		if (r < 0) {
			if (done && cut)
				*cut = (int)r;
			return done ? (ssize_t)done : r;
		}
		if (r == 0)
			break;
		done += (size_t)r;
		if (op == CIO_OP_READ && ((size_t)r % ino->i_lbs) != 0)
			break;
	}
	return (ssize_t)done;
}

ssize_t cio_dev_read_full(struct cio_inode *ino, const struct iovec *iov,
                          int iovcnt, uint64_t off, size_t total, int *cut)
{
	return dev_full(ino, CIO_OP_READ, iov, iovcnt, off, total, cut);
}

ssize_t cio_dev_write_full(struct cio_inode *ino, const struct iovec *iov,
                           int iovcnt, uint64_t off, size_t total, int *cut)
{
	return dev_full(ino, CIO_OP_WRITE, iov, iovcnt, off, total, cut);
}

int cio_dev_sync(struct cio_inode *ino, bool datasync)
{
	struct cio_io io;
	memset(&io, 0, sizeof(io));
	io.op = datasync ? CIO_OP_FDATASYNC : CIO_OP_FSYNC;
	io.fd = ino->i_fd;
	io.lbs = ino->i_lbs;
	io.ino = ino;
	return (int)cio_engine_do(ino->i_cache->c_engine, &io);
}
