/*
 * coherio.h - the one public header of coherio, a user-space page cache over
 * files and block devices whose cached, direct and pinned paths always agree.
 *
 * Conventions (they hold for every call below):
 *  - Every call returns >= 0 on success or a negative errno value on failure.
 *    coherio never sets errno, never prints, never exits and never aborts on
 *    an I/O result.
 *  - A call rejected for bad arguments changes nothing.
 *  - Offsets are int64_t so that a negative offset can be detected (-EINVAL).
 *  - Handles are opaque. A handle used after cio_close() is detected
 *    (-EBADF) in builds with handle checks (the default for non-Release
 *    builds, see cio_build_flags()); it never reaches another file.
 *
 * Thread rules: a cio_cache and every cio_file may be used from any number of
 * threads at once, except that cio_close() and cio_cache_destroy() must not
 * race with other calls on the same object. A pin (cio_pin) belongs to the
 * thread that took it until cio_unpin(); pins are latches, see cio_pin_range().
 */
#ifndef COHERIO_H
#define COHERIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define COHERIO_VERSION_MAJOR 0
#define COHERIO_VERSION_MINOR 1
#define COHERIO_VERSION_PATCH 0

#if defined(__GNUC__)
#define CIO_API __attribute__((visibility("default")))
#else
#define CIO_API
#endif

typedef struct cio_cache cio_cache; /* a page cache: memory, engine, files */
typedef struct cio_file cio_file;   /* an open handle on a file or device  */

/* Largest file size coherio accepts (bytes); beyond it: -EFBIG. */
#define CIO_MAX_FILE_SIZE ((int64_t)1 << 50)

/* ------------------------------------------------------------------------ */
/* Library                                                                   */
/* ------------------------------------------------------------------------ */

/** cio_version() - "MAJOR.MINOR.PATCH" of the library that is loaded. */
CIO_API const char *cio_version(void);

#define CIO_BUILD_HANDLE_CHECKS (1u << 0) /* use-after-close is detected */
#define CIO_BUILD_ASSERTS       (1u << 1) /* internal assert()s are live  */

/** cio_build_flags() - CIO_BUILD_* bits describing how the library was built. */
CIO_API unsigned cio_build_flags(void);

/** cio_strerror() - a static English description of a -errno value that a
 * coherio call returned (also accepts the positive value). Never NULL. */
CIO_API const char *cio_strerror(int err);

/* ------------------------------------------------------------------------ */
/* Caches                                                                    */
/* ------------------------------------------------------------------------ */

/* I/O engines behind the cache. */
#define CIO_ENGINE_AUTO    0 /* io_uring, else the thread pool (default)    */
#define CIO_ENGINE_SYNC    1 /* preadv/pwritev on the caller's thread       */
#define CIO_ENGINE_THREADS 2 /* a pool of worker threads doing preadv/pwritev */
#define CIO_ENGINE_URING   3 /* io_uring through liburing                   */

struct cio_cache_opts {
	uint64_t memory_bytes;   /* hard memory budget: frames, page descriptors,
	                          * replacement and index state. 0 = 64 MiB.   */
	uint32_t page_size;      /* power of two, 4 KiB..1 MiB; 0 = 4096.      */
	uint32_t readahead_max;  /* largest readahead window in pages; 0 = 256,
	                          * 1 = readahead off.                         */
	uint32_t writeback_batch;/* dirty pages written per eviction batch;
	                          * 0 = 32.                                    */
	int      engine;         /* CIO_ENGINE_*. With CIO_ENGINE_AUTO the
	                          * environment variable COHERIO_ENGINE
	                          * ("uring", "threads", "sync") chooses; else
	                          * io_uring, falling back to the thread pool
	                          * when the kernel refuses a ring (EPERM,
	                          * ENOSYS, ...). cio_cache_stats().engine
	                          * names the engine chosen.                   */
	uint32_t queue_depth;    /* engine queue depth; 0 = 128                */
	uint32_t engine_threads; /* thread-pool workers; 0 = 4                 */
	int      fault_inject;   /* non-zero: wrap the engine in the fault-
	                          * injecting engine (see cio_fault_add()).    */
};

/**
 * cio_cache_create() - make a page cache.
 * @out:  receives the cache.
 * @opts: options, or NULL for all defaults.
 *
 * All page memory is allocated here, aligned for direct I/O; the cache never
 * grows past opts->memory_bytes afterwards.
 * Return: 0, or -EINVAL (page size not a power of two in range, budget too
 * small to hold 16 pages, unknown engine), -ENOMEM.
 */
CIO_API int cio_cache_create(cio_cache **out, const struct cio_cache_opts *opts);

/**
 * cio_cache_destroy() - free a cache whose files are all closed.
 * Return: 0; -EBUSY if a file is still open (nothing is freed); -EIO or the
 * write-back error if dirty data left by a failed last close still cannot be
 * written (the cache is freed anyway and that data is lost, which this return
 * value reports). Context: may block on I/O.
 */
CIO_API int cio_cache_destroy(cio_cache *c);

struct cio_cache_stats {
	uint64_t page_size;        /* bytes per page                          */
	uint64_t pages_total;      /* frames the budget holds                 */
	uint64_t pages_used;       /* frames holding a file page now          */
	uint64_t pages_dirty;      /* cached pages not yet on the device      */
	uint64_t memory_bytes;     /* memory taken from the budget            */
	uint64_t hits;             /* page look-ups served from the cache     */
	uint64_t misses;           /* page look-ups that had to read           */
	uint64_t readahead_pages;  /* pages read ahead of a detected stream   */
	uint64_t evictions;        /* pages dropped to make room               */
	uint64_t writeback_pages;  /* pages written back (eviction and fsync) */
	uint64_t writeback_errors; /* failed page write-backs (pages kept)    */
	uint64_t direct_reads;     /* direct-path read calls                  */
	uint64_t direct_writes;    /* direct-path write calls                 */
	uint64_t coherence_updates;/* cached pages updated after direct writes*/
	uint64_t ghost_hits;       /* misses that found the page in the ghost */
	const char *engine;        /* name of the I/O engine in use           */
};

/** cio_cache_stats() - a snapshot of the cache's counters. Return: 0, -EINVAL. */
CIO_API int cio_cache_stats(cio_cache *c, struct cio_cache_stats *st);

/* ------------------------------------------------------------------------ */
/* Files                                                                     */
/* ------------------------------------------------------------------------ */

/**
 * cio_open() - open a regular file or block device through the cache.
 * @c:     the cache.
 * @path:  file name.
 * @flags: O_RDONLY, O_WRONLY or O_RDWR, optionally O_CREAT, O_EXCL, O_TRUNC.
 *         Other open(2) flags are rejected with -EINVAL (O_DIRECT is not
 *         needed: choose the path per call with CIO_RW_DIRECT).
 * @mode:  permissions for O_CREAT.
 * @out:   receives the handle.
 *
 * Underneath, coherio opens the file with O_DIRECT so the kernel keeps no
 * second copy; if the file system refuses O_DIRECT it falls back to buffered
 * descriptors and says so in cio_file_stats().direct_io. Several opens of one
 * file in one cache share its pages; each handle sees write-back errors once
 * (errseq semantics, see cio_fsync()).
 * Return: 0, or -EINVAL (bad flags, the page size is smaller than the file's
 * logical block size), -EFAULT (NULL path or out), -ENOMEM, or the -errno of
 * open(2)/statx(2).
 */
CIO_API int cio_open(cio_cache *c, const char *path, int flags, mode_t mode,
                     cio_file **out);

/**
 * cio_close() - close a handle.
 * The last close of a file writes its dirty pages back (it does not fsync the
 * device; call cio_fsync() for durability) and drops its pages. If that
 * write-back fails the pages stay cached and dirty (they are never dropped)
 * and are retried by a later open's fsync or by cio_cache_destroy().
 * Return: 0, -EBADF (not an open handle), or the write-back error; the handle
 * is closed in every case but -EBADF. Context: may block on I/O.
 */
CIO_API int cio_close(cio_file *f);

/* Flags for cio_read()/cio_write() and friends. */
#define CIO_RW_DIRECT (1u << 0) /* bypass the cache (aligned I/O only)       */
#define CIO_RW_DSYNC  (1u << 1) /* write: data durable before return         */
#define CIO_RW_NOWAIT (1u << 2) /* direct write: -EAGAIN rather than wait for
                                 * a pin on a cached page of the range       */

/**
 * cio_read() - read up to @len bytes at @off.
 * Cached path (flags without CIO_RW_DIRECT): copies from cached pages,
 * reading missing ones (and a readahead window when a sequential stream is
 * detected) from the device. Any @buf alignment, any length.
 * Direct path (CIO_RW_DIRECT): @off, @len and @buf must be multiples of the
 * file's logical block size (cio_file_stats().logical_block_size); dirty
 * cached pages overlapping the range are written back first (they stay
 * cached, clean), then the data moves between the device and @buf.
 * Return: bytes read (0 at or past end of file; fewer than @len when the end
 * of file is inside the range), or -EINVAL (negative @off, misaligned direct
 * I/O, unknown flags), -EFAULT (NULL @buf with @len > 0), -EBADF (closed
 * handle, or not open for reading), -EFBIG (@off + @len past
 * CIO_MAX_FILE_SIZE or overflowing), -EIO and other device errors. On an
 * error after some bytes were copied, the byte count is returned.
 */
CIO_API ssize_t cio_read(cio_file *f, void *buf, size_t len, int64_t off,
                         unsigned flags);

/**
 * cio_write() - write @len bytes at @off.
 * Cached path: copies into cached pages and marks them dirty; an extending
 * write grows the size at once. Data reaches the device on eviction, on
 * cio_fsync(), or before return with CIO_RW_DSYNC.
 * Direct path (CIO_RW_DIRECT, alignment as for cio_read()): waits for pins on
 * cached pages of the range (or -EAGAIN with CIO_RW_NOWAIT), writes @buf to
 * the device, and only then updates every cached copy of the range in place,
 * so every later read on any path sees the new data (G1). A cached page that
 * was dirty stays dirty (its other bytes are still newer than the device)
 * and now holds the new data for the range, so no later write-back can put
 * stale bytes over it (G3). An extending direct write moves the size only
 * once its data is on the device and in every cached copy (G5).
 * Return: bytes written, or the errors of cio_read() plus -EBADF (not open
 * for writing), -ENOSPC, -EAGAIN (CIO_RW_NOWAIT).
 */
CIO_API ssize_t cio_write(cio_file *f, const void *buf, size_t len,
                          int64_t off, unsigned flags);

/** cio_readv() - cio_read() into @iovcnt buffers (1..IOV_MAX). For the direct
 * path each iov_base and iov_len must be aligned. Return: as cio_read(). */
CIO_API ssize_t cio_readv(cio_file *f, const struct iovec *iov, int iovcnt,
                          int64_t off, unsigned flags);

/** cio_writev() - cio_write() from @iovcnt buffers. Return: as cio_write(). */
CIO_API ssize_t cio_writev(cio_file *f, const struct iovec *iov, int iovcnt,
                           int64_t off, unsigned flags);

/**
 * cio_fsync() - write back the file's dirty pages and flush the device.
 * Pages whose write-back fails stay dirty and are retried by the next call;
 * they are never dropped (G6). Write-back errors are reported with errseq
 * semantics: each handle sees an error once; a handle opened after the error
 * was seen by someone does not see it; one opened before anyone saw it does.
 * Return: 0, -EBADF, or the write-back error (-EIO, -ENOSPC, ...).
 * Context: may block; waits for write pins on the file's dirty pages.
 */
CIO_API int cio_fsync(cio_file *f);

/** cio_fdatasync() - as cio_fsync() but flushes only what is needed to read
 * the data back (fdatasync(2) underneath). */
CIO_API int cio_fdatasync(cio_file *f);

#define CIO_TRUNC_NOWAIT (1u << 0) /* -EAGAIN rather than wait for pins */

/**
 * cio_truncate() - set the file's size.
 * Down: waits for direct writes in flight over the cut range and for pins on
 * its pages (or -EAGAIN with CIO_TRUNC_NOWAIT), drops the cached pages past
 * the new end (this is the documented discard of dirty data), zeroes the tail
 * of the last page. Up: the new range reads as zeros.
 * Cached writes and write pins are atomic with respect to a truncate: each
 * lands wholly before or wholly after it; one that would touch the page of
 * the lower of the old and new ends or beyond waits until the truncate is
 * done (-EAGAIN for a write pin with CIO_PIN_NOWAIT). So a thread that holds
 * a pin the truncate waits for must not write past the cut meanwhile: it
 * would wait for the truncate, and the truncate for its pin.
 * Return: 0, -EINVAL (negative), -EFBIG, -EBADF, -EAGAIN, or ftruncate's error.
 * Context: may block; waits for write-backs of the pages at the end.
 */
CIO_API int cio_truncate(cio_file *f, int64_t size, unsigned flags);

/* cio_fallocate() flag outside Linux's FALLOC_FL_* bits (those come from
 * <fcntl.h> with _GNU_SOURCE, or <linux/falloc.h>). */
#define CIO_FALLOC_POSIX (1u << 30) /* posix_fallocate(3): where the file
                                     * system cannot reserve blocks, the
                                     * size still grows (glibc's emulation) */

/**
 * cio_fallocate() - fallocate(2) through the cache, with Linux's rules.
 * @mode is 0 or FALLOC_FL_KEEP_SIZE (reserve blocks for [@off, @off + @len);
 * without KEEP_SIZE the size grows to @off + @len if it is smaller),
 * FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE (the range reads as zeros and its
 * blocks are freed), FALLOC_FL_ZERO_RANGE (the range reads as zeros; the size
 * grows unless FALLOC_FL_KEEP_SIZE), FALLOC_FL_COLLAPSE_RANGE (the range is
 * removed and the data after it moves down; the size shrinks by @len) or
 * FALLOC_FL_INSERT_RANGE (a hole of @len bytes is inserted at @off; the size
 * grows by @len); CIO_FALLOC_POSIX may be or-ed into mode 0.
 * Every mode first waits for the async writes accepted before it (as Linux
 * waits for direct I/O in flight) and is ordered against direct writes,
 * truncates and other size changes: the size never moves backwards because
 * of a growing fallocate, whatever raced it (an extending direct write that
 * completes first keeps its larger size). Cached pages of a punched or zeroed
 * range are zeroed in place (a dirty page keeps its other bytes, G3); for
 * collapse and insert every cached page from @off's page on is written back
 * and dropped first, and the device file is then shifted by the kernel.
 * Collapse and insert need @off and @len aligned to the file system's block
 * size, and, as Linux, @off + @len < size (collapse) or @off < size (insert).
 * Block devices take PUNCH_HOLE and ZERO_RANGE with KEEP_SIZE only.
 * Return: 0; -EINVAL (negative @off, @len <= 0, a mode Linux refuses, collapse
 * or insert outside the file), -EFBIG (past CIO_MAX_FILE_SIZE), -EBADF
 * (read-only handle), -EOPNOTSUPP (PUNCH_HOLE without KEEP_SIZE, a mode the
 * file system or device lacks), -ENOSPC and other errors of the file system,
 * or a write-back error of a page collapse/insert had to write (nothing
 * moved then). On an error nothing has moved and no data is lost.
 * Context: may block; waits for pins on pages of the range.
 */
CIO_API int cio_fallocate(cio_file *f, int mode, int64_t off, int64_t len);

/** cio_size() - coherio's view of the file's size: it includes cached writes
 * not yet written back and excludes direct writes still in flight.
 * Return: the size, or -EBADF. */
CIO_API int64_t cio_size(cio_file *f);

#define CIO_INVAL_WAIT    (1u << 0) /* wait for pins instead of skipping   */
#define CIO_INVAL_DISCARD (1u << 1) /* drop dirty pages without writing
                                     * them (explicit, documented discard) */

struct cio_inval_result {
	uint64_t dropped;     /* pages dropped                                 */
	uint64_t laundered;   /* dirty pages written back before being dropped */
	uint64_t kept;        /* pages that could not be dropped               */
	int64_t  first_kept;  /* file offset of the first kept page, or -1     */
	int      first_error; /* why that page was kept: -EBUSY (pinned or in
	                       * use), -EIO or another write-back error        */
};

/**
 * cio_invalidate() - drop the cached pages of [@off, @off + @len).
 * Goes over the whole range and never stops at the first failure: clean
 * unpinned pages are dropped, dirty ones are written back ("laundered") and
 * then dropped, pinned pages are skipped (or waited for with CIO_INVAL_WAIT),
 * and pages whose write-back fails stay cached and dirty. @len 0 means to the
 * end of the file. @res (may be NULL) says what happened.
 * Return: 0 if every page of the range is gone, -EBUSY if a page was kept
 * because it was pinned, or the write-back error of the first page kept for
 * that reason; -EINVAL / -EBADF for bad arguments.
 */
CIO_API int cio_invalidate(cio_file *f, int64_t off, int64_t len,
                           unsigned flags, struct cio_inval_result *res);

struct cio_file_stats {
	int64_t  size;               /* = cio_size()                          */
	uint32_t logical_block_size; /* direct-I/O alignment (offset, length)  */
	uint32_t memory_alignment;   /* direct-I/O buffer alignment            */
	uint32_t page_size;          /* the cache's page size                  */
	int      direct_io;          /* 1: backed by an O_DIRECT descriptor;
	                              * 0: the file system refused O_DIRECT and
	                              * coherio fell back to buffered I/O      */
	int      is_block_device;
	uint64_t cached_pages;       /* pages of this file in the cache        */
	uint64_t dirty_pages;        /* of which dirty                         */
	uint64_t writeback_errors;   /* failed write-backs of this file        */
};

/** cio_file_stats() - a snapshot of one file's state. Return: 0, -EBADF,
 * -EFAULT (@st is NULL). */
CIO_API int cio_file_stats(cio_file *f, struct cio_file_stats *st);

/* ------------------------------------------------------------------------ */
/* Pins: pointers into cached pages                                          */
/* ------------------------------------------------------------------------ */

#define CIO_PIN_WRITE  (1u << 0) /* exclusive; pages are marked dirty      */
#define CIO_PIN_NOWAIT (1u << 1) /* -EAGAIN rather than wait for a latch   */

#define CIO_PIN_INLINE 4 /* pages a pin holds without allocating */

/* Caller-provided storage for a pin. Read seg[0..nseg) after cio_pin_range();
 * the fields after them are private. */
typedef struct cio_pin {
	struct iovec *seg;   /* one segment per pinned page, in file order     */
	int           nseg;  /* number of segments                             */
	int64_t       off;   /* file offset of the first pinned byte           */
	size_t        len;   /* bytes pinned                                   */
	/* private: */
	cio_file     *pn_file;
	unsigned      pn_flags;
	void        **pn_pages;
	void         *pn_inline_pages[CIO_PIN_INLINE];
	struct iovec  pn_inline_seg[CIO_PIN_INLINE];
} cio_pin;

/**
 * cio_pin_range() - pin [@off, @off + @len) and get pointers to its bytes.
 * A pin is a latch on each page it covers: a read pin is shared (cached
 * writers, direct writes, invalidation with CIO_INVAL_WAIT and truncate over
 * the page wait for it); a write pin (CIO_PIN_WRITE) is exclusive (readers
 * wait too) and marks the pages dirty, so stores through the pointers are
 * written back. Pages are latched in file order; holding two pins on
 * overlapping ranges from one thread deadlocks (use CIO_PIN_NOWAIT to probe).
 * A write pin may extend the file: the size grows to @off + @len at once and
 * the new bytes read as zeros. A read pin must lie within the file.
 * Return: the number of segments (>= 1), or -EINVAL (negative @off, @len 0,
 * unknown flags), -EFAULT (NULL @pin), -ENXIO (read pin past end of file),
 * -EAGAIN (CIO_PIN_NOWAIT and a page is latched), -EBADF, -EFBIG, -ENOMEM,
 * -EIO. On error nothing stays pinned.
 */
CIO_API int cio_pin_range(cio_file *f, int64_t off, size_t len, unsigned flags,
                          cio_pin *pin);

/** cio_unpin() - release a pin. Return: 0, -EINVAL (not a live pin). */
CIO_API int cio_unpin(cio_pin *pin);

/* ------------------------------------------------------------------------ */
/* Async: batched submission, completion events                              */
/* ------------------------------------------------------------------------ */

typedef struct cio_ctx cio_ctx; /* an async context: queue of operations */

/* Operation codes for struct cio_op. */
#define CIO_OP_READ       0 /* buf/len or iov/iovcnt at off; flags CIO_RW_*  */
#define CIO_OP_WRITE      1 /* as READ                                       */
#define CIO_OP_FSYNC      2 /* cio_fsync(file)                                */
#define CIO_OP_FDATASYNC  3 /* cio_fdatasync(file)                            */
#define CIO_OP_TRUNCATE   4 /* cio_truncate(file, off, flags)                 */
#define CIO_OP_INVALIDATE 5 /* cio_invalidate(file, off, len, flags, NULL)    */

struct cio_op {
	uint32_t opcode;            /* CIO_OP_*                                */
	uint32_t flags;             /* per opcode: CIO_RW_*, CIO_TRUNC_*, ...  */
	cio_file *file;
	void *buf;                  /* READ/WRITE: one buffer, or NULL and ... */
	const struct iovec *iov;    /* ... a vector (must stay valid until the
	                             * event); READ/WRITE only                */
	int iovcnt;
	size_t len;                 /* bytes for buf; INVALIDATE: length        */
	int64_t off;                /* offset; TRUNCATE: the new size           */
	uint64_t user_data;         /* returned in the event; the cancel key    */
};

struct cio_event {
	uint64_t user_data;         /* as submitted                            */
	int64_t  res;               /* bytes transferred (READ/WRITE), 0, or
	                             * -errno when nothing was done            */
	int32_t  res2;              /* -errno that cut a partial transfer
	                             * short (res > 0), else 0 (G4)            */
	uint32_t opcode;
};

/**
 * cio_ctx_create() - an async context holding up to @queue_depth operations
 * in flight (accepted and not yet reaped), 1..65536.
 * Return: 0, -EINVAL, -ENOMEM, -EAGAIN (no thread could be started).
 */
CIO_API int cio_ctx_create(cio_cache *c, unsigned queue_depth, cio_ctx **out);

/**
 * cio_ctx_destroy() - free a context. Operations not started are cancelled,
 * those running are waited for; their events are discarded. No buffer is
 * touched after this returns. Return: 0, -EINVAL.
 */
CIO_API int cio_ctx_destroy(cio_ctx *ctx);

/**
 * cio_ctx_submit() - accept up to @nr operations. Each accepted operation
 * yields exactly one event, posted only after all of its work is done: every
 * device transfer, the cache made coherent after a direct write (G1), the
 * size moved for an extending write (G5), the DSYNC flush. The caller's
 * buffers belong to coherio until the event is reaped (they are never
 * touched after the event is posted).
 * Arguments are checked at submission (as for the synchronous calls); the
 * first bad operation stops the batch.
 * Return: the number accepted (>= 1); or, when the first operation is not
 * accepted: -EAGAIN (the context is full), -EINVAL / -EBADF / -EFAULT /
 * -EFBIG (its arguments). Thread rules: any number of threads may submit
 * to and reap from one context.
 */
CIO_API int cio_ctx_submit(cio_ctx *ctx, const struct cio_op *ops, int nr);

/**
 * cio_ctx_getevents() - reap between @min_nr and @max_nr events into @ev,
 * waiting up to @timeout (NULL: forever; {0,0}: do not wait) for @min_nr.
 * Return: the number reaped (may be fewer than @min_nr on timeout), or
 * -EINVAL (min_nr > max_nr, max_nr < 1, NULL ev).
 */
CIO_API int cio_ctx_getevents(cio_ctx *ctx, int min_nr, int max_nr,
                              struct cio_event *ev, const struct timespec *timeout);

/**
 * cio_ctx_cancel() - cancel the operation submitted with @user_data (the
 * oldest one if several share it). An operation not started yet is
 * cancelled: it has had no effect and its event carries -ECANCELED.
 * Return: 0 (cancelled), -EALREADY (already started: it will complete with
 * its real result), -ENOENT (no such operation in flight).
 */
CIO_API int cio_ctx_cancel(cio_ctx *ctx, uint64_t user_data);

/* ------------------------------------------------------------------------ */
/* Fault injection (caches created with opts.fault_inject)                    */
/* ------------------------------------------------------------------------ */

#define CIO_FAULT_READ  (1u << 0)
#define CIO_FAULT_WRITE (1u << 1)
#define CIO_FAULT_FSYNC (1u << 2)

struct cio_fault_rule {
	unsigned  ops;        /* CIO_FAULT_* the rule applies to               */
	cio_file *file;       /* only I/O on this handle's file; NULL = any    */
	int64_t   start, end; /* byte range an I/O must overlap; end 0 = any   */
	int       error;      /* positive errno to fail with (EIO, ENOSPC);
	                       * 0 = no error (a short or delayed transfer)    */
	uint32_t  short_bytes;/* >0: transfer only this many bytes (rounded
	                       * down to the logical block size), then stop  */
	uint32_t  delay_us;   /* delay each matching I/O's completion by this
	                       * much (the submitter does not wait)          */
	uint32_t  jitter_us;  /* plus a random 0..jitter_us: completions of
	                       * I/Os submitted together come back reordered */
	uint32_t  skip;       /* let this many matching I/Os through first     */
	int32_t   count;      /* fire this many times; -1 = until cleared      */
	uint32_t  per_million;/* 0 = always; else fire with this probability   */
	uint64_t  seed;       /* random seed for per_million                   */
};

/** cio_fault_add() - add a rule. Return: a rule id >= 0, -EINVAL (bad rule),
 * -ENOTSUP (cache made without fault_inject), -ENOSPC (too many rules). */
CIO_API int cio_fault_add(cio_cache *c, const struct cio_fault_rule *rule);

/** cio_fault_clear() - remove rule @id, or every rule when @id is -1.
 * Return: 0, -ENOENT, -ENOTSUP. */
CIO_API int cio_fault_clear(cio_cache *c, int id);

/** cio_fault_fired() - times rule @id has fired (all rules when -1).
 * Return: the count, -ENOENT, -ENOTSUP. */
CIO_API int64_t cio_fault_fired(cio_cache *c, int id);

#ifdef __cplusplus
}
#endif
#endif /* COHERIO_H */
