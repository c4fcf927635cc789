/*
 * internal.h - coherio's internal structures, shared by every file in src/.
 *
 * Memory layout of a cache (see docs/design.md for the whole story):
 *
 *   c_frames : nframes * page_size bytes, one mmap, page-aligned (so every
 *              frame is aligned for O_DIRECT transfers)
 *   c_pages  : nframes * struct cio_page (48 bytes), frame i <-> c_pages[i]
 *   c_ghost  : nframes * uint64_t, the S3-FIFO ghost (hash-indexed)
 *   index    : per inode, CIO_NSHARDS hash tables of uint32 frame ids,
 *              charged against the budget (c_index_bytes)
 *
 * Lock order (outer first; every edge names a path that takes it):
 *
 *   c_inode_lock                 cio_open / cio_close (inode table)
 *     i_lock                     range registry, size updates (range.c)
 *       sh_lock                  page index of one shard (page.c)
 *         c_lru_lock             S3-FIFO queues and free list (replace.c)
 *
 *   The evictor holds c_lru_lock and only *try*-locks sh_lock, so it never
 *   waits against the order. Page latches are never waited for while one of
 *   the mutexes above is held (the wait releases sh_lock in the condvar).
 *   A thread holding page latches never waits for a range (range.c): ranges
 *   are taken before latches. Several latches of one inode are taken in
 *   ascending page index; latches of two inodes are never held together
 *   except by the evictor's try-lock.
 *
 * Page states (pg_flags; the latch is separate):
 *
 *   FREE --alloc--> NEW (EXCL latch held by the filler, in the index)
 *   NEW --fill ok--> UPTODATE          NEW --fill failed--> REMOVED
 *   UPTODATE --write/write pin--> UPTODATE|DIRTY
 *   DIRTY --writeback starts--> WRITEBACK   (DIRTY cleared, shared latch held)
 *   WRITEBACK --ok--> UPTODATE   --error--> UPTODATE|DIRTY|ERROR (kept!)
 *   any --truncate/invalidate/close (EXCL latch) or evict (refs 0, latch 0,
 *         clean)--> REMOVED (out of the index) --last ref--> FREE
 */
#ifndef CIO_INTERNAL_H
#define CIO_INTERNAL_H

#include "coherio.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CIO_NSHARDS 16
#define CIO_NIL UINT32_MAX
#define CIO_FILE_MAGIC 0xC10F11E5u
#define CIO_FILE_DEAD 0xDEADF11Eu
#define CIO_MAX_RA 1024

#define CIO_LIKELY(x) __builtin_expect(!!(x), 1)
#define CIO_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define CIO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CIO_MAX(a, b) ((a) > (b) ? (a) : (b))

struct cio_engine;

/* ---- pages ------------------------------------------------------------- */

/* pg_flags bits */
#define PG_UPTODATE  (1u << 0) /* frame holds the page's data               */
#define PG_DIRTY     (1u << 1) /* frame newer than the device               */
#define PG_WRITEBACK (1u << 2) /* a write-back of the frame is in flight    */
#define PG_ERROR     (1u << 3) /* the last write-back failed                */
#define PG_REMOVED   (1u << 4) /* out of the index; freed at the last put   */
#define PG_WAITERS   (1u << 5) /* someone sleeps on sh_cond for this page   */

/* pg_latch: shared count in the low bits, or LATCH_EXCL */
#define LATCH_EXCL  (1u << 31)
#define LATCH_XWAIT (1u << 30) /* an exclusive waiter: new sharers wait     */
#define LATCH_COUNT (LATCH_XWAIT - 1)

/* Queue ids for pg_queue */
enum { Q_NONE = 0, Q_FREE, Q_SMALL, Q_MAIN };

struct cio_page {
	_Atomic uint32_t pg_latch;   /* content latch, see page.c              */
	_Atomic uint32_t pg_flags;   /* PG_*; set/cleared with atomic RMW      */
	_Atomic uint32_t pg_refs;    /* holders; +1 only under sh_lock          */
	_Atomic uint8_t  pg_freq;    /* S3-FIFO frequency 0..3 (relaxed)        */
	uint8_t          pg_queue;   /* Q_*, under c_lru_lock                   */
	uint16_t         pg_pad;
	uint32_t         pg_hnext;   /* index chain, under sh_lock              */
	uint32_t         pg_qprev;   /* queue links, under c_lru_lock           */
	uint32_t         pg_qnext;
	struct cio_inode *pg_inode;  /* owner; written while the frame is
	                              * private (fresh from the free list)     */
	uint64_t         pg_index;   /* page index in the file; as pg_inode    */
};

/* ---- striped statistics counters ---------------------------------------- */

#define CIO_STRIPES 16
struct cio_counter {
	struct { _Atomic uint64_t v; char pad[56]; } s[CIO_STRIPES];
};
void cio_counter_add(struct cio_counter *c, uint64_t n);
uint64_t cio_counter_sum(const struct cio_counter *c);

/* ---- the cache --------------------------------------------------------- */

struct cio_queue {
	uint32_t head, tail; /* frame ids, CIO_NIL when empty */
	uint32_t count;
};

struct cio_cache {
	/* immutable after cio_cache_create() */
	uint32_t c_page_size;
	uint32_t c_page_shift;
	uint32_t c_nframes;
	uint32_t c_ra_max;
	uint32_t c_wb_batch;
	uint64_t c_budget;
	uint8_t *c_frames;
	size_t   c_frames_len;
	struct cio_page *c_pages;
	struct cio_engine *c_engine;
	int      c_fault;            /* c_engine is the fault engine           */

	/* c_lru_lock: S3-FIFO state and the free list (replace.c) */
	pthread_mutex_t c_lru_lock;
	struct cio_queue c_free, c_small, c_main;
	uint32_t c_small_target;
	uint64_t *c_ghost;           /* hash-indexed ghost keys               */

	/* c_inode_lock: the table of files (inode.c) */
	pthread_mutex_t c_inode_lock;
	struct cio_inode *c_inodes;  /* list of live inodes                   */
	struct cio_file *c_dead;     /* closed handles kept for checks        */
	int      c_nhandles;

	_Atomic uint64_t c_index_bytes;  /* index memory in use               */
	uint64_t c_index_budget;         /* immutable                         */
	_Atomic uint64_t c_ndirty;
	_Atomic uint32_t c_nused;
	_Atomic uint64_t c_inode_ids;

	struct cio_counter st_hits, st_misses;
	_Atomic uint64_t st_readahead, st_evictions, st_wb_pages, st_wb_errors,
	        st_dio_reads, st_dio_writes, st_coherence, st_ghost_hits;
};

/* ---- the index shard --------------------------------------------------- */

struct cio_shard {
	pthread_mutex_t sh_lock;   /* protects the table and index chains    */
	pthread_cond_t  sh_cond;   /* page waiters (latch, refs, writeback)  */
	uint32_t *sh_buckets;      /* frame ids, CIO_NIL terminated chains   */
	uint32_t  sh_nbuckets;     /* power of two                            */
	uint32_t  sh_count;        /* pages in this shard                     */
};

/* A registered byte range: direct write, truncate or invalidate in
 * progress (range.c). Lives on the stack of the call that owns it. */
struct cio_range {
	uint64_t start, end;       /* [start, end)                           */
	struct cio_range *next;    /* i_ranges list, under i_lock             */
};

/* ---- files ------------------------------------------------------------- */

/* errseq: low 12 bits errno, bit 12 SEEN, the rest a counter (as Linux). */
#define ERRSEQ_SHIFT 13
#define ERRSEQ_SEEN (1u << 12)
#define ERRSEQ_MASK ((1u << 12) - 1)

struct cio_inode {
	/* immutable after creation */
	struct cio_cache *i_cache;
	dev_t    i_dev;
	ino_t    i_ino;
	uint64_t i_id;                 /* unique per cache (ghost keys)        */
	int      i_fd;                 /* O_DIRECT (or fallback) descriptor    */
	int      i_writable;           /* i_fd is open for writing             */
	int      i_direct;             /* i_fd has O_DIRECT                    */
	int      i_blockdev;
	uint32_t i_lbs;                /* logical block size                   */
	uint32_t i_mem_align;          /* buffer alignment for direct I/O      */

	/* i_lock: ranges, size changes; c_inode_lock: i_next, i_nhandles */
	pthread_mutex_t i_lock;
	pthread_cond_t  i_cond;        /* range waiters                        */
	struct cio_range *i_ranges;
	_Atomic uint32_t i_nranges;    /* length of i_ranges (lock-free peek)  */
	_Atomic int64_t i_size;        /* coherio's view; store under i_lock,
	                                * load anywhere (acquire)              */
	_Atomic uint64_t i_trunc_page; /* a truncate in progress: first page it
	                                * may cut or expose (UINT64_MAX: none);
	                                * store under i_lock (truncate.c)      */
	_Atomic uint64_t i_trunc_gen;  /* bumped after each cut of the size    */
	_Atomic uint32_t i_writers;    /* cached writes and write-pin set-ups
	                                * inside; the truncate fence waits for
	                                * 0 on i_cond                          */
	struct cio_inode *i_next;
	int      i_nhandles;

	_Atomic uint32_t i_wb_err;     /* errseq of write-back errors          */
	_Atomic uint64_t i_npages;     /* pages in the index                   */
	_Atomic uint64_t i_ndirty;     /* of which dirty or under write-back   */
	_Atomic uint64_t i_wb_errors;  /* failed write-backs                   */
	_Atomic int      i_wrote;      /* coherio wrote to i_fd (fixup may trim) */
	_Atomic uint32_t i_async_writes; /* accepted async writes not finished;
	                                * 0-transitions broadcast i_cond       */
	_Atomic uint32_t i_io_refs;    /* holders of page references that no
	                                * handle covers (readahead requests,
	                                * the evictor's victims): the inode is
	                                * freed only at 0; the put takes i_lock
	                                * and broadcasts i_cond (inode.c)      */

	struct cio_shard i_shards[CIO_NSHARDS];
};

struct cio_file {
	uint32_t h_magic;              /* CIO_FILE_MAGIC while open            */
	int      h_flags;              /* open flags (O_ACCMODE part)          */
	int      h_fd;                 /* the handle's own kernel descriptor   */
	uint32_t h_wb_since;           /* errseq cursor, under h_err_lock      */
	pthread_mutex_t h_err_lock;
	struct cio_inode *h_inode;     /* immutable while open                 */
	struct cio_cache *h_cache;
	struct cio_file *h_next;       /* c_dead list                          */
	_Atomic uint64_t h_ra_next;    /* readahead: expected next miss        */
	_Atomic uint32_t h_ra_window;  /* readahead: current window (pages)    */
	_Atomic uint64_t h_ra_trigger; /* readahead: a hit here starts the next
	                                * window (UINT64_MAX: none)            */
};

/* ---- handles and validation (rw.c / inode.c) ---------------------------- */

static inline int cio_file_check(const cio_file *f)
{
	if (CIO_UNLIKELY(!f || f->h_magic != CIO_FILE_MAGIC))
		return -EBADF;
	return 0;
}

/* ---- page.c: latch, refs, index ----------------------------------------- */

static inline uint8_t *cio_page_data(struct cio_cache *c, struct cio_page *pg)
{
	return c->c_frames + ((size_t)(pg - c->c_pages) << c->c_page_shift);
}
static inline uint32_t cio_page_id(struct cio_cache *c, struct cio_page *pg)
{
	return (uint32_t)(pg - c->c_pages);
}
static inline struct cio_shard *cio_shard_of(struct cio_inode *ino, uint64_t idx)
{
	return &ino->i_shards[idx & (CIO_NSHARDS - 1)];
}

#define LATCH_SHARED 0
#define LATCH_EXCLUSIVE 1
int  cio_latch(struct cio_inode *ino, struct cio_page *pg, int mode, bool nowait);
void cio_unlatch(struct cio_inode *ino, struct cio_page *pg, int mode);
void cio_latch_downgrade(struct cio_inode *ino, struct cio_page *pg);
void cio_page_wake(struct cio_inode *ino, struct cio_page *pg);
void cio_page_wait_writeback(struct cio_inode *ino, struct cio_page *pg);
void cio_page_put(struct cio_inode *ino, struct cio_page *pg);
void cio_page_set_dirty(struct cio_inode *ino, struct cio_page *pg);
void cio_page_clear_dirty_count(struct cio_inode *ino);

int  cio_shard_init(struct cio_cache *c, struct cio_shard *sh);
void cio_shard_fini(struct cio_cache *c, struct cio_shard *sh);
struct cio_page *__cio_index_find(struct cio_inode *ino, struct cio_shard *sh, uint64_t idx);
void __cio_index_insert(struct cio_inode *ino, struct cio_shard *sh, struct cio_page *pg);
void __cio_index_remove(struct cio_inode *ino, struct cio_shard *sh, struct cio_page *pg);
struct cio_page *cio_page_lookup(struct cio_inode *ino, uint64_t idx);
void __cio_page_remove(struct cio_inode *ino, struct cio_shard *sh, struct cio_page *pg);
int  cio_page_collect(struct cio_inode *ino, uint64_t first, uint64_t last,
                      bool dirty_only, struct cio_page ***out, size_t *n);
void cio_page_put_all(struct cio_inode *ino, struct cio_page **v, size_t n);

/* ---- replace.c: frames, S3-FIFO --------------------------------------- */
int  cio_replace_init(struct cio_cache *c);
void cio_replace_fini(struct cio_cache *c);
struct cio_page *cio_frame_alloc(struct cio_cache *c, bool may_block, int *err);
void cio_frame_release(struct cio_cache *c, struct cio_page *pg);
void __cio_queue_insert(struct cio_cache *c, struct cio_page *pg);
void __cio_queue_remove(struct cio_cache *c, struct cio_page *pg);
static inline void cio_page_touch(struct cio_page *pg)
{
	uint8_t f = atomic_load_explicit(&pg->pg_freq, memory_order_relaxed);
	if (f < 3)
		atomic_store_explicit(&pg->pg_freq, f + 1, memory_order_relaxed);
}

/* ---- range.c ---------------------------------------------------------- */
int  cio_range_lock(struct cio_inode *ino, struct cio_range *r, uint64_t start,
                    uint64_t end, bool nowait);
void cio_range_unlock(struct cio_inode *ino, struct cio_range *r);
bool __cio_range_busy(struct cio_inode *ino, uint64_t start, uint64_t end,
                      const struct cio_range *own);
void cio_range_wait_clear(struct cio_inode *ino, uint64_t start, uint64_t end);
bool cio_range_overlaps(struct cio_inode *ino, uint64_t start, uint64_t end);
void cio_size_extend(struct cio_inode *ino, int64_t end);

/* ---- fill.c: getting a page with its data -------------------------------- */
#define GET_NOFILL   (1u << 0) /* whole page will be overwritten: no read    */
#define GET_NOWAIT   (1u << 1)
#define GET_CACHED   (1u << 2) /* only if cached; NULL + 0 when absent        */
struct cio_page *cio_page_get(cio_file *f, uint64_t idx, int mode,
                              unsigned gflags, int *err);

/* ---- writeback.c -------------------------------------------------------- */
int  cio_writeback_pages(struct cio_inode *ino, struct cio_page **v, size_t n,
                         bool wait, const struct cio_range *own, size_t *written);
int  cio_write_page_locked(struct cio_inode *ino, struct cio_page *pg);
int  cio_writeback_inode(struct cio_inode *ino, uint64_t first, uint64_t last);
int  cio_backing_fixup(struct cio_inode *ino);
void cio_errseq_set(struct cio_inode *ino, int err);
uint32_t cio_errseq_sample(struct cio_inode *ino);
int  cio_errseq_check_and_advance(cio_file *f);

/* ---- inode.c ------------------------------------------------------------ */
void cio_inode_drop_all_pages(struct cio_inode *ino);
/* A background holder (no handle of its own) takes this before its first
 * page reference, while the inode is known alive (a call on a handle, or a
 * page of it found in its index under the shard lock), and puts it after
 * its last page put: __cio_inode_release() waits for them. */
static inline void cio_inode_io_get(struct cio_inode *ino)
{
	atomic_fetch_add(&ino->i_io_refs, 1);
}
void cio_inode_io_put(struct cio_inode *ino);
int  __cio_inode_release(struct cio_cache *c, struct cio_inode *ino, bool force);

/* ---- io helpers (engine.c) ---------------------------------------------- */
ssize_t cio_dev_rw(struct cio_inode *ino, int op, const struct iovec *iov,
                   int iovcnt, uint64_t off);
ssize_t cio_dev_read_full(struct cio_inode *ino, const struct iovec *iov,
                          int iovcnt, uint64_t off, size_t total, int *cut);
ssize_t cio_dev_write_full(struct cio_inode *ino, const struct iovec *iov,
                           int iovcnt, uint64_t off, size_t total, int *cut);
int     cio_dev_sync(struct cio_inode *ino, bool datasync);

/* ---- iov helpers (iov.c) ------------------------------------------------- */
size_t cio_iov_total(const struct iovec *iov, int n, int *err);
void   cio_iov_copy_out(const struct iovec *iov, int n, size_t pos, const void *src, size_t len);
void   cio_iov_copy_in(const struct iovec *iov, int n, size_t pos, void *dst, size_t len);
int    cio_iov_slice(const struct iovec *iov, int n, size_t pos, size_t len,
                     struct iovec *out, int outmax);

/* ---- async operations (aop.c, async.c) --------------------------------- */

#include "engine.h"

/* Stages of a direct read or write (aop.c). */
enum { ST_PREPARE, ST_PINS, ST_ISSUE, ST_COMPLETE };
/* What an aop is. */
enum { AK_DIRECT_READ, AK_DIRECT_WRITE, AK_OTHER };
/* Its place in a context (under cx_lock). */
enum { AOP_FREE, AOP_PENDING, AOP_RUNNING };

struct cio_ctx;
struct cio_aop {
	struct cio_op op;            /* as submitted (iov replaced below)      */
	struct iovec one;            /* op.buf as an iovec                      */
	const struct iovec *iov;     /* the caller's buffers                   */
	int iovcnt;
	size_t len;                  /* total bytes of iov                     */
	cio_file *file;
	struct cio_ctx *ctx;         /* NULL: a synchronous call's own aop     */
	int kind;                    /* AK_*                                   */
	int stage;                   /* ST_*; owned by whoever advances it     */
	int state;                   /* AOP_*, under cx_lock                   */
	bool have_range;             /* range registered (direct write)        */
	bool coherent;               /* Step 5 done                            */
	bool counted;                /* counted in i_async_writes              */
	struct cio_range range;
	size_t want;                 /* bytes to move                          */
	size_t clip;                 /* direct read: bytes inside the size     */
	uint64_t trunc_gen;          /* direct read: i_trunc_gen at PREPARE    */
	int rereads;                 /* direct read: restarts after a truncate */
	size_t done;                 /* bytes moved                            */
	int err;                     /* the error that stopped the transfer    */
	int64_t res;                 /* result, set by aop_finish              */
	int32_t res2;
	struct cio_io io;            /* the engine request in flight           */
	struct iovec part[64];
	struct cio_aop *next;        /* free / pending / runner queue           */
};

void    cio_aop_init(struct cio_aop *a, cio_file *f, int kind, const struct iovec *iov,
                     int iovcnt, size_t len, int64_t off, unsigned flags);
void    cio_aop_advance(struct cio_aop *a, bool can_block);
void    cio_aop_finish(struct cio_aop *a, int64_t res, int32_t res2);
/* async.c: hand an aop to the context's runner threads */
void    cio_ctx_defer(struct cio_aop *a);
void    cio_ctx_post(struct cio_aop *a);
/* truncate drains async writes accepted before it */
void    cio_async_writes_wait(struct cio_inode *ino);
void    cio_async_writes_put(struct cio_inode *ino);

/* ---- entry points shared between files -------------------------------- */
int     cio_rw_check(cio_file *f, const struct iovec *iov, int n, int64_t off,
                     unsigned flags, bool write, size_t *len);
int     cio_truncate_check(cio_file *f, int64_t size, unsigned flags);
int     cio_size_change(struct cio_inode *ino, int64_t size, bool nowait, bool grow_only);
void    cio_fence_set(struct cio_inode *ino, uint64_t page);
int     cio_dio_wait_pins(struct cio_inode *ino, uint64_t off, size_t len, bool nowait);
void    cio_dio_update_cached(struct cio_inode *ino, const struct iovec *iov, int n,
                              uint64_t off, size_t len);
int     cio_write_enter(struct cio_inode *ino, uint64_t last_page, bool nowait);
void    cio_wait_tail_writeback(struct cio_inode *ino, uint64_t first);
void    cio_kernel_cache_drop(int fd, uint64_t from);
void    cio_kernel_cache_drop_range(int fd, uint64_t from, uint64_t to);
void    cio_write_exit(struct cio_inode *ino);
ssize_t cio_cached_read(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off,
                        int *cut);
ssize_t cio_cached_write(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off,
                         unsigned flags, int *cut);
ssize_t cio_direct_read(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off);
ssize_t cio_direct_write(cio_file *f, const struct iovec *iov, int n, size_t len, uint64_t off, unsigned flags);

#endif /* CIO_INTERNAL_H */
