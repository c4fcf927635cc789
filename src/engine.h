/*
 * engine.h - the I/O engine ops table. An engine moves bytes between memory
 * and a descriptor; it knows nothing of pages. The cache talks to it through
 * struct cio_io requests: submit() accepts a request and completes it later
 * (or inline) by calling io->done exactly once. The synchronous engine
 * (engine_sync.c) completes inline; the fault engine (engine_fault.c) wraps
 * another engine; async engines (io_uring, thread pool) fit the same table.
 */
#ifndef CIO_ENGINE_H
#define CIO_ENGINE_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

struct cio_inode;

enum cio_io_op { CIO_OP_READ, CIO_OP_WRITE, CIO_OP_FSYNC, CIO_OP_FDATASYNC };

struct cio_io {
	int op;                     /* enum cio_io_op                          */
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
};

struct cio_engine {
	const struct cio_engine_ops *ops;
	struct cio_engine *inner;   /* wrapped engine (fault engine)           */
	void *priv;
};

int  cio_engine_sync_create(struct cio_engine **out);
int  cio_engine_fault_create(struct cio_engine *inner, struct cio_engine **out);
/* Submit one request and wait for it: the result (bytes or -errno). */
ssize_t cio_engine_do(struct cio_engine *e, struct cio_io *io);

#endif
