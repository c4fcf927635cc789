/*
 * loopdev_faults.c - real faults from a real file system (issue 13, point 2).
 *
 * Run by loopdev.sh as `loopdev_faults MOUNTDIR FSTYPE PHASE`, each phase on
 * a fresh small ext4 or XFS that the script made on a loop device and removes
 * afterwards. Nothing here is injected by coherio's fault engine: the errors
 * come from the file system or the device. Phases: live (hole race, reflink,
 * ENOSPC), thin, shutdown, erofs.
 *
 *  hole race (both)  a cached read of a hole racing an aligned direct write
 *                    into that hole sees, byte for byte, zeros or the new
 *                    data (XFS fills with unwritten extents, ext4 too, but
 *                    converts differently); afterwards the cache and the
 *                    kernel's view equal the write.
 *  reflink (xfs)     dirty pages written through coherio, cio_fsync, then the
 *                    kernel's FICLONE: the clone has the data; a later
 *                    cached + direct overwrite of the source (copy on write
 *                    under O_DIRECT) leaves the clone alone.
 *  ENOSPC (both)     the file system is filled (fallocate of a filler file,
 *                    then a probe write that must fail); write-back of new
 *                    pages fails with -ENOSPC, the pages stay dirty, every
 *                    handle's fsync reports it and a retry reports it again
 *                    (a new failure); a direct write that needs blocks fails
 *                    and leaves the dirty page it overlaps and the size
 *                    alone; a cache full of unwritable dirty pages
 *                    refuses the next cached write with an error; the last
 *                    close fails and keeps the pages; after the filler is
 *                    deleted, a new handle's fsync succeeds (after at most
 *                    one report of the error it had not seen) and the kernel's
 *                    view equals every accepted byte.
 *  thin (xfs)        the image lies on a small tmpfs that is then filled:
 *                    the loop device fails writes to the image's holes
 *                    (a thin-provisioned device out of space) while the
 *                    file system is healthy; write-back fails, pages stay
 *                    dirty, both handles hear of it, and once the tmpfs has
 *                    space the retry succeeds and the disk equals the writes.
 *  shutdown (both)   the file system is shut down (FS_IOC_SHUTDOWN without
 *                    log flush: what a dying disk does to ext4 and XFS);
 *                    write-back fails with -EIO, the pages stay dirty with
 *                    their data, every handle's fsync reports it, a retry
 *                    still fails (never a false success), the last close and
 *                    cio_cache_destroy() return the error. Its own phase:
 *                    the file system stays shut down until it is unmounted.
 *  erofs (ext4)      the same after an ext4 error (sysfs trigger_fs_error)
 *                    with errors=remount-ro: every write-back and fsync
 *                    fails with -EROFS.
 *
 * Single-threaded but for the hole race (one reader thread, joined).
 */
#include "helpers.h"

#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statvfs.h>

/* The shutdown ioctl: EXT4_IOC_SHUTDOWN == XFS_IOC_GOINGDOWN ==
 * FS_IOC_SHUTDOWN (not in Debian 12's linux/fs.h); NOLOGFLUSH = 2. */
#ifndef FS_IOC_SHUTDOWN
#define FS_IOC_SHUTDOWN _IOR('X', 125, uint32_t)
#endif
#define T_SHUTDOWN_NOLOGFLUSH 2u

static const char *mnt;

static char *mpath(const char *name, uint32_t ps)
{
	char *p = NULL;
	CHECK(asprintf(&p, "%s/%s-%u", mnt, name, ps) > 0);
	return p;
}

/* ---- hole race --------------------------------------------------------- */

#define HR_REGION (64u * 1024)
#define HR_ROUNDS 48

struct hr_shared {
	cio_file *f;
	atomic_int go;   /* round number the reader may start */
	atomic_int done; /* rounds the reader finished */
	uint8_t *rbuf;
	int saw_zero, saw_new;
};

static void *hr_reader(void *arg)
{
	struct hr_shared *s = arg;
	for (int r = 0; r < HR_ROUNDS; r++) {
		while (atomic_load(&s->go) <= r)
			;
		int64_t off = (int64_t)r * HR_REGION;
		t_ctx("hole race round %d reader", r);
		t_read_all(s->f, s->rbuf, HR_REGION, off, 0);
		for (size_t i = 0; i < HR_REGION; i++) {
			uint8_t want = t_stamp_byte(100 + (uint64_t)r,
			                            (uint64_t)off + i);
			uint8_t got = s->rbuf[i];
			CHECKF(got == 0 || got == want,
			       "offset %lld: 0x%02x, neither 0 nor the write's 0x%02x",
			       (long long)off + (long long)i, got, want);
		}
		if (t_find_nonzero(s->rbuf, HR_REGION) < 0)
			s->saw_zero++;
		else
			s->saw_new++;
		atomic_store(&s->done, r + 1);
	}
	return NULL;
}

static void hole_race(void)
{
	const uint32_t ps = 4096;
	char *path = mpath("holerace", ps);
	size_t flen = (size_t)HR_ROUNDS * HR_REGION;
	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	CHECK_EQ(cio_truncate(f, (int64_t)flen, 0), 0); /* one hole */
	CHECK_EQ(t_fstats(f).direct_io, 1);
	uint8_t *model = t_alloc(flen);
	for (int r = 0; r < HR_ROUNDS; r++)
		t_stamp_fill(model + (size_t)r * HR_REGION, HR_REGION,
		             (uint64_t)r * HR_REGION, 100 + (uint64_t)r);

	struct hr_shared s = { .f = f, .rbuf = t_alloc(HR_REGION) };
	pthread_t th;
	CHECK_EQ(pthread_create(&th, NULL, hr_reader, &s), 0);
	for (int r = 0; r < HR_ROUNDS; r++) {
		int64_t off = (int64_t)r * HR_REGION;
		t_ctx("hole race round %d writer", r);
		atomic_store(&s.go, r + 1);
		t_write_all(f, model + off, HR_REGION, off, CIO_RW_DIRECT);
		while (atomic_load(&s.done) <= r)
			sched_yield();
		/* G1: after the direct write and the racing read, the cache
		 * holds the write. */
		uint8_t *buf = t_alloc(HR_REGION);
		t_read_all(f, buf, HR_REGION, off, 0);
		CHECK_MEM(buf, model + off, HR_REGION, off);
		free(buf);
	}
	CHECK_EQ(pthread_join(th, NULL), 0);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_KERNEL(path, model, flen, 0);
	t_log("hole race: %d rounds, the racing read saw zeros %d times, "
	      "the write %d times (a mix of both counts as the write)",
	      HR_ROUNDS, s.saw_zero, s.saw_new);
	t_close(f);
	t_destroy(c);
	CHECK_EQ(unlink(path), 0);
	free(s.rbuf);
	free(model);
	free(path);
}

/* ---- reflink (XFS) ----------------------------------------------------- */

static void reflink(void)
{
	const uint32_t ps = 4096;
	const size_t len = 16 * ps;
	char *src = mpath("reflink-src", ps), *dst = mpath("reflink-dst", ps);
	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *f = t_open(c, src, O_RDWR | O_CREAT | O_EXCL);
	uint8_t *model = t_alloc(len), *old = t_alloc(len);
	t_ctx("reflink");

	/* Dirty pages through coherio; the kernel sees them after fsync. */
	t_stamp_fill(model, len, 0, 31);
	t_write_all(f, model, len, 0, 0);
	CHECK_EQ(t_fstats(f).dirty_pages, len / ps);
	CHECK_EQ(cio_fsync(f), 0);

	int sfd = open(src, O_RDONLY);
	int dfd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(sfd >= 0 && dfd >= 0);
	int rc = ioctl(dfd, FICLONE, sfd);
	CHECKF(rc == 0, "FICLONE: %s", strerror(errno));
	CHECK_EQ(close(dfd), 0);
	CHECK_EQ(close(sfd), 0);
	CHECK_KERNEL(dst, model, len, 0);
	memcpy(old, model, len);

	/* Overwrite the now shared extents: a cached page and a direct
	 * page. XFS copies on write; the clone keeps the old data. */
	t_stamp_fill(model + ps, ps, ps, 32);
	t_write_all(f, model + ps, ps, ps, 0);
	t_stamp_fill(model + 3 * ps, ps, 3 * ps, 33);
	t_write_all(f, model + 3 * ps, ps, 3 * ps, CIO_RW_DIRECT);
	CHECK_EQ(cio_fsync(f), 0);
	CHECK_KERNEL(src, model, len, 0);
	CHECK_KERNEL(dst, old, len, 0);
	/* And coherio reads the clone as the kernel does. */
	cio_file *g = t_open(c, dst, O_RDONLY);
	uint8_t *buf = t_alloc(len);
	t_read_all(g, buf, len, 0, 0);
	CHECK_MEM(buf, old, len, 0);
	t_log("reflink: the clone of an fsynced coherio file has its data; "
	      "cached and direct overwrites of the source leave it alone");
	t_close(g);
	t_close(f);
	t_destroy(c);
	CHECK_EQ(unlink(src), 0);
	CHECK_EQ(unlink(dst), 0);
	free(buf);
	free(old);
	free(model);
	free(src);
	free(dst);
}

/* ---- ENOSPC ------------------------------------------------------------ */

/* Fill the file system that holds @dir: fallocate a filler in halving
 * chunks down to one block, then write a probe block (O_DIRECT where the file
 * system takes it) until that fails with ENOSPC. Returns the filler's path
 * (the probe file is removed with it). */
static char *fill_dir(const char *dir, uint32_t ps, char **probe_out)
{
	char *filler = NULL, *probe = NULL;
	CHECK(asprintf(&filler, "%s/filler-%u", dir, ps) > 0);
	CHECK(asprintf(&probe, "%s/probe-%u", dir, ps) > 0);
	int fd = open(filler, O_RDWR | O_CREAT | O_EXCL, 0644);
	/* Made first: a full XFS cannot allocate an inode. */
	int pfd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT, 0644);
	if (pfd < 0 && errno == EINVAL) /* tmpfs before Linux 6.6 */
		pfd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0 && pfd >= 0);
	struct statvfs sv;
	CHECK_EQ(fstatvfs(fd, &sv), 0);
	int64_t chunk = (int64_t)sv.f_bavail * (int64_t)sv.f_bsize, off = 0;
	while (chunk >= 4096) {
		if (fallocate(fd, 0, off, chunk) == 0)
			off += chunk;
		else if (errno == ENOSPC)
			chunk /= 2;
		else
			t_fail("fallocate(filler, %lld, %lld): %s",
			       (long long)off, (long long)chunk, strerror(errno));
	}
	CHECK_EQ(fsync(fd), 0);
	CHECK_EQ(close(fd), 0);

	void *blk = t_alloc(4096);
	int full = 0;
	for (int i = 0; i < 4096 && !full; i++) {
		ssize_t w = pwrite(pfd, blk, 4096, (off_t)i * 4096);
		if (w < 0 && errno == ENOSPC)
			full = 1;
		else
			CHECKF(w == 4096, "probe write %d: %zd (%s)", i, w,
			       strerror(errno));
	}
	CHECKF(full, "the file system still takes writes after the filler");
	CHECK_EQ(close(pfd), 0);
	free(blk);
	t_log("ENOSPC: filler %lld bytes, %s's file system is full",
	      (long long)off, dir);
	*probe_out = probe;
	return filler;
}

static void enospc(uint32_t ps)
{
	char *path = mpath("enospc", ps);
	const uint64_t budget = 32ull * ps;
	cio_cache *c = t_cache(ps, budget, 0);
	struct cio_cache_stats cs = t_cstats(c);
	uint64_t max_pages = 4 * cs.pages_total + 8;
	size_t mlen = (size_t)max_pages * ps;
	uint8_t *model = t_alloc(mlen);
	t_ctx("ps=%u ENOSPC (pages_total %llu)", ps,
	      (unsigned long long)cs.pages_total);

	/* Pages 0 and 1 are on disk (allocated) before the disk fills. */
	cio_file *h1 = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	cio_file *h2 = t_open(c, path, O_RDWR);
	t_stamp_fill(model, 2 * ps, 0, 41);
	t_write_all(h1, model, 2 * ps, 0, 0);
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(cio_fsync(h2), 0);
	char *probe, *filler = fill_dir(mnt, ps, &probe);

	/* Page 0 rewritten (in place: fits), pages 2..5 new (need blocks). */
	t_stamp_fill(model, ps, 0, 42);
	t_write_all(h1, model, ps, 0, 0);
	t_stamp_fill(model + 2 * ps, 4 * ps, 2 * ps, 43);
	t_write_all(h2, model + 2 * ps, 4 * ps, 2 * ps, 0);
	CHECK_EQ(t_fstats(h1).dirty_pages, 5);

	int r1 = cio_fsync(h1);
	t_log("ps=%u: fsync(h1) on a full file system = %d (%s)", ps, r1,
	      t_errname(r1));
	CHECK_EQ(r1, -ENOSPC);
	struct cio_file_stats fs = t_fstats(h1);
	CHECK_EQ(fs.dirty_pages, 4); /* page 0 written, 2..5 kept */
	CHECK_GE(fs.writeback_errors, 1);
	CHECK_EQ(cio_fsync(h2), -ENOSPC);  /* h2 had not seen it */
	CHECK_EQ(cio_fsync(h1), -ENOSPC);  /* retried, failed again */
	CHECK_EQ(t_fstats(h1).dirty_pages, 4);
	uint8_t *buf = t_alloc(mlen);
	t_read_all(h1, buf, 6 * ps, 0, 0);
	CHECK_MEM(buf, model, 6 * ps, 0);

	/* A direct write that needs blocks fails and changes nothing: not the
	 * dirty cached page it overlaps (G3), not the size (G5). */
	uint8_t *dbuf = t_alloc(ps);
	t_stamp_fill(dbuf, ps, 3 * ps, 45);
	ssize_t dw = cio_write(h2, dbuf, ps, 3 * ps, CIO_RW_DIRECT);
	t_log("ps=%u: direct write over a dirty page = %zd (%s)", ps, dw,
	      t_errname(dw));
	CHECK_EQ(dw, -ENOSPC);
	t_stamp_fill(dbuf, ps, 6 * ps, 46);
	dw = cio_write(h2, dbuf, ps, 6 * ps, CIO_RW_DIRECT);
	CHECK_EQ(dw, -ENOSPC);
	CHECK_EQ(cio_size(h1), 6 * (int64_t)ps);
	t_read_all(h1, buf, 6 * ps, 0, 0);
	CHECK_MEM(buf, model, 6 * ps, 0);
	free(dbuf);

	/* Fill the cache with unwritable dirty pages: a cached write of a
	 * new page must fail with an error once nothing can be evicted. */
	uint64_t accepted = 6; /* pages [0, accepted) hold model */
	ssize_t wr = 0;
	for (uint64_t p = 6; p < max_pages; p++) {
		int64_t off = (int64_t)(p * ps);
		t_stamp_fill(model + off, ps, (uint64_t)off, 44);
		wr = cio_write(h2, model + off, ps, off, 0);
		if (wr < 0)
			break;
		CHECK_EQ(wr, ps);
		accepted = p + 1;
	}
	t_log("ps=%u: cached write of page %llu refused with %zd (%s) after "
	      "%llu pages, %llu frames", ps, (unsigned long long)accepted, wr,
	      t_errname(wr), (unsigned long long)accepted,
	      (unsigned long long)cs.pages_total);
	CHECKF(wr < 0, "%llu pages accepted into %llu frames with no space",
	       (unsigned long long)accepted, (unsigned long long)cs.pages_total);
	CHECK_EQ(wr, -ENOSPC);
	CHECK_ULE(accepted, cs.pages_total + 2); /* 2 pages were on disk */
	size_t alen = (size_t)accepted * ps;
	memset(model + alen, 0, mlen - alen);
	CHECK_EQ(cio_size(h1), (int64_t)alen);
	/* Every dirty page is cached and reads back; the clean pages 0 and 1
	 * were evicted to make room, and a cached read of them now needs a
	 * frame that nothing can free: it fails with the error (G6) or, if a
	 * frame is still free, returns the data. A direct read needs no
	 * frame and returns the data. */
	t_read_all(h1, buf + 2 * ps, alen - 2 * ps, 2 * ps, 0);
	CHECK_MEM(buf + 2 * ps, model + 2 * ps, alen - 2 * ps, 2 * ps);
	ssize_t rr = cio_read(h1, buf, 2 * ps, 0, 0);
	t_log("ps=%u: cached read of the evicted clean pages = %zd (%s)", ps,
	      rr, t_errname(rr));
	CHECKF(rr == -ENOSPC || rr == (ssize_t)(2 * ps), "rr = %zd", rr);
	if (rr > 0)
		CHECK_MEM(buf, model, 2 * ps, 0);
	t_read_all(h1, buf, 2 * ps, 0, CIO_RW_DIRECT);
	CHECK_MEM(buf, model, 2 * ps, 0);

	/* The last close cannot write them back: it says so, keeps them. */
	CHECK_EQ(cio_close(h2), 0);
	int rc = cio_close(h1);
	t_log("ps=%u: last close with no space = %d (%s)", ps, rc,
	      t_errname(rc));
	CHECK_EQ(rc, -ENOSPC);
	CHECK_EQ(t_cstats(c).pages_dirty, accepted - 2);

	/* Space again: one fsync of a new handle writes everything (it may
	 * first report the error nobody saw since the close). */
	CHECK_EQ(unlink(filler), 0);
	CHECK_EQ(unlink(probe), 0);
	cio_file *h3 = t_open(c, path, O_RDWR);
	rc = cio_fsync(h3);
	t_log("ps=%u: first fsync after space was freed = %d (%s)", ps, rc,
	      t_errname(rc));
	if (rc != 0) {
		CHECK_EQ(rc, -ENOSPC);
		CHECK_EQ(t_fstats(h3).dirty_pages, 0);
		rc = cio_fsync(h3);
	}
	CHECK_EQ(rc, 0);
	CHECK_EQ(cio_fsync(h3), 0);
	CHECK_EQ(t_fstats(h3).dirty_pages, 0);
	CHECK_EQ(t_cstats(c).pages_dirty, 0);
	CHECK_EQ(t_kernel_size(path), (int64_t)alen);
	CHECK_KERNEL(path, model, alen, 0);
	t_close(h3);
	t_destroy(c);
	CHECK_EQ(unlink(path), 0);
	free(buf);
	free(model);
	free(filler);
	free(probe);
	free(path);
}

/* ---- a thin device runs out: the device fails, the file system lives ---- */

/*
 * The image lies on a small tmpfs (@backing, made by loopdev.sh): once the
 * tmpfs is full, the loop device fails writes into the image's holes
 * (BLK_STS_NOSPC: "critical space allocation error"), as a thin-provisioned
 * device does, while the file system still has free blocks and stays
 * healthy (its metadata and journal were written by mkfs). Write-back of new
 * pages fails, the pages stay dirty, both handles hear of it; after space is
 * freed on the tmpfs the retry succeeds and the disk equals the writes.
 * XFS only: mkfs.ext4 leaves its journal's blocks holes in the image, so the
 * first commit into the full tmpfs aborts the journal (EIO, then a dead file
 * system: the erofs phase covers that), and without a journal ext4's data
 * writes landed while a lost bitmap write went unreported by fsync - the
 * kernel's own loss, nothing coherio could see.
 */
static void thin(const char *backing)
{
	const uint32_t ps = 4096;
	const size_t len = 16 * ps;
	char *path = mpath("thin", ps);
	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *h1 = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	cio_file *h2 = t_open(c, path, O_RDWR);
	uint8_t *model = t_alloc(len), *buf = t_alloc(len);
	t_ctx("thin device");
	t_stamp_fill(model, 8 * ps, 0, 61);
	t_write_all(h1, model, 8 * ps, 0, 0);
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(cio_fsync(h2), 0);
	CHECK_KERNEL(path, model, 8 * ps, 0);

	char *probe, *filler = fill_dir(backing, ps, &probe);
	t_stamp_fill(model + 8 * ps, 8 * ps, 8 * ps, 62);
	t_write_all(h2, model + 8 * ps, 8 * ps, 8 * ps, 0);
	int r1 = cio_fsync(h1), r2 = cio_fsync(h2);
	struct cio_file_stats fs = t_fstats(h1);
	t_log("thin device full: fsync(h1) = %d (%s), fsync(h2) = %d (%s), "
	      "%llu pages still dirty", r1, t_errname(r1), r2, t_errname(r2),
	      (unsigned long long)fs.dirty_pages);
	CHECKF(r1 == -ENOSPC || r1 == -EIO, "fsync(h1) = %d", r1);
	CHECK_EQ(r2, r1);
	CHECK_GE(fs.dirty_pages, 1);
	CHECK_ULE(fs.dirty_pages, 8);
	t_read_all(h1, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);

	CHECK_EQ(unlink(filler), 0);
	CHECK_EQ(unlink(probe), 0);
	int r3 = cio_fsync(h1);
	uint64_t d3 = t_fstats(h1).dirty_pages;
	int r4 = cio_fsync(h1), r5 = cio_fsync(h2), r6 = cio_fsync(h2);
	t_log("thin device with space again: fsync(h1) = %d (%s) leaving %llu "
	      "dirty, then fsync(h1) = %d (%s), fsync(h2) = %d (%s), then %d",
	      r3, t_errname(r3), (unsigned long long)d3, r4, t_errname(r4),
	      r5, t_errname(r5), r6);
	/* h1 may hear once of the failure h2's retry met after h1 had looked
	 * (errseq: a new failure), but the retry itself wrote everything. */
	CHECKF(r3 == 0 || r3 == r1, "fsync(h1) = %d", r3);
	CHECK_EQ(d3, 0);
	CHECK_EQ(r4, 0);
	CHECK_EQ(r5, 0); /* h2 saw its failure; nothing failed since */
	CHECK_EQ(r6, 0);
	CHECK_EQ(t_fstats(h1).dirty_pages, 0);
	CHECK_KERNEL(path, model, len, 0);
	t_close(h2);
	t_close(h1);
	t_destroy(c);
	free(buf);
	free(model);
	free(filler);
	free(probe);
	free(path);
}

/* ---- the file system dies: shutdown (EIO), errors=remount-ro (EROFS) ---- */

/* Shut the file system down as a dying disk does (no log flush). */
static void kill_shutdown(void)
{
	int dfd = open(mnt, O_RDONLY | O_DIRECTORY);
	CHECK(dfd >= 0);
	uint32_t how = T_SHUTDOWN_NOLOGFLUSH;
	if (ioctl(dfd, FS_IOC_SHUTDOWN, &how) != 0)
		t_fail("FS_IOC_SHUTDOWN: %s", strerror(errno));
	CHECK_EQ(close(dfd), 0);
}

/* An ext4 error (ext4's own sysfs trigger, what a corrupt block does): the
 * journal aborts and errors=remount-ro makes the file system read-only. */
static void kill_ext4_error(void)
{
	struct stat st;
	CHECK_EQ(stat(mnt, &st), 0);
	char link[128], target[256], sysfs[320];
	snprintf(link, sizeof link, "/sys/dev/block/%u:%u", major(st.st_dev),
	         minor(st.st_dev));
	ssize_t n = readlink(link, target, sizeof target - 1);
	CHECKF(n > 0, "readlink(%s): %s", link, strerror(errno));
	target[n] = 0;
	const char *slash = strrchr(target, '/');
	snprintf(sysfs, sizeof sysfs, "/sys/fs/ext4/%s/trigger_fs_error",
	         slash ? slash + 1 : target);
	int fd = open(sysfs, O_WRONLY);
	CHECKF(fd >= 0, "open(%s): %s", sysfs, strerror(errno));
	CHECK_EQ(write(fd, "coherio loopdev test", 20), 20);
	CHECK_EQ(close(fd), 0);
}

/* Dirty overwrites of allocated blocks, then @kill: write-back fails with
 * @want on every handle, every time (never a false success), the pages stay
 * dirty with their data (a failing direct write over one leaves it), and the last close and cio_cache_destroy() return
 * the error (the data is lost there, and said so). */
static void dies(const char *what, void (*kill)(void), int want)
{
	const uint32_t ps = 4096;
	const size_t len = 8 * ps;
	char *path = mpath(what, ps);
	cio_cache *c = t_cache(ps, 0, 0);
	cio_file *h1 = t_open(c, path, O_RDWR | O_CREAT | O_EXCL);
	cio_file *h2 = t_open(c, path, O_RDWR);
	uint8_t *model = t_alloc(len), *buf = t_alloc(len);
	t_ctx("%s", what);
	t_stamp_fill(model, len, 0, 51);
	t_write_all(h1, model, len, 0, 0);
	CHECK_EQ(cio_fsync(h1), 0);
	CHECK_EQ(cio_fsync(h2), 0);

	t_stamp_fill(model + ps, 4 * ps, ps, 52);
	t_write_all(h2, model + ps, 4 * ps, ps, 0);
	CHECK_EQ(t_fstats(h1).dirty_pages, 4);
	kill();

	int r1 = cio_fsync(h1), r2 = cio_fsync(h2), r3 = cio_fsync(h1);
	t_log("%s: fsync(h1) = %d (%s), fsync(h2) = %d (%s), "
	      "fsync(h1) again = %d (%s)", what, r1, t_errname(r1), r2,
	      t_errname(r2), r3, t_errname(r3));
	CHECK_EQ(r1, want);
	CHECK_EQ(r2, want);
	CHECK_EQ(r3, want);
	CHECK_EQ(t_fstats(h1).dirty_pages, 4);
	t_read_all(h2, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);
	/* A direct write fails and leaves the dirty page it overlaps alone. */
	t_stamp_fill(buf, ps, 2 * ps, 54);
	CHECK_EQ(cio_write(h1, buf, ps, 2 * ps, CIO_RW_DIRECT), want);
	t_read_all(h2, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);
	/* A cached write still lands in the cache; its write-back fails. */
	t_stamp_fill(model, ps, 0, 53);
	t_write_all(h1, model, ps, 0, 0);
	CHECK_EQ(cio_fsync(h2), want);
	CHECK_EQ(t_fstats(h1).dirty_pages, 5);
	t_read_all(h1, buf, len, 0, 0);
	CHECK_MEM(buf, model, len, 0);

	CHECK_EQ(cio_close(h2), 0);
	int rc = cio_close(h1);
	CHECK_EQ(rc, want);
	rc = cio_cache_destroy(c);
	t_log("%s: last close = %s, cio_cache_destroy = %d (%s)", what,
	      t_errname(want), rc, t_errname(rc));
	CHECK_EQ(rc, want);
	free(buf);
	free(model);
	free(path);
}

int main(int argc, char **argv)
{
	t_init("loopdev_faults", 120);
	if (argc != 4)
		t_fail("usage: loopdev_faults MOUNTDIR ext4|xfs "
		       "live|thin|shutdown|erofs (run by loopdev.sh)");
	mnt = argv[1];
	int is_xfs = strcmp(argv[2], "xfs") == 0;
	const char *phase = argv[3];

	if (strcmp(phase, "live") == 0) {
		hole_race();
		if (is_xfs)
			reflink();
		else
			t_log("reflink: not on ext4 (no FICLONE there)");
		enospc(4096);
		enospc(16384);
	} else if (strcmp(phase, "thin") == 0) {
		const char *backing = getenv("LOOPDEV_BACKING");
		if (!backing)
			t_fail("phase thin needs LOOPDEV_BACKING (loopdev.sh)");
		thin(backing);
	} else if (strcmp(phase, "shutdown") == 0) {
		dies("shutdown", kill_shutdown, -EIO);
	} else if (strcmp(phase, "erofs") == 0 && !is_xfs) {
		dies("ext4 error, remount-ro", kill_ext4_error, -EROFS);
	} else {
		t_fail("unknown phase %s for %s", phase, argv[2]);
	}
	return t_pass();
}
