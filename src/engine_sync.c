/*
 * engine_sync.c - the synchronous engine: preadv/pwritev/fsync on the
 * caller's thread; every request completes inline. Owns no state, no locks.
 */
#include "internal.h"
#include "engine.h"

#include <stdlib.h>
#include <unistd.h>

static int sync_submit(struct cio_engine *e, struct cio_io *io)
{
	ssize_t r;
	(void)e;
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
		r = fsync(io->fd);
		break;
	case CIO_OP_FDATASYNC:
		r = fdatasync(io->fd);
		break;
	default:
		return -EINVAL;
	}
	io->res = r < 0 ? -errno : r;
	io->done(io);
	return 0;
}

static void sync_destroy(struct cio_engine *e)
{
	free(e);
}

static const struct cio_engine_ops sync_ops = {
	.name = "sync",
	.submit = sync_submit,
	.destroy = sync_destroy,
	.wait_inline = true,
};

int cio_engine_sync_create(struct cio_engine **out)
{
	struct cio_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->ops = &sync_ops;
	*out = e;
	return 0;
}
