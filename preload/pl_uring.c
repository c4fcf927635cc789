/*
 * pl_uring.c - a program's own io_uring rings, refused while files are
 * served (COHERIO_URING=refuse, the default; =allow turns it off, unsafe).
 *
 * A ring reads and writes the kernel's file directly, behind the cache, and
 * the preload library cannot see into it. So io_uring_setup fails with
 * ENOSYS, what a kernel without io_uring answers: liburing's
 * io_uring_queue_init returns -ENOSYS, and programs that fall back when
 * io_uring is missing do so (fio's ioengine=io_uring does not fall back: its
 * job fails with the error, before any I/O). ENOSYS rather than EPERM: EPERM
 * says "forbidden to you" (io_uring_disabled, a container's profile) and
 * some programs report it as a permission problem instead of falling back.
 *
 * Two ways in, both closed:
 *   - syscall(SYS_io_uring_setup, ...) through libc: pl_syscall.c asks
 *     pl_uring_refused();
 *   - the system call made inline (liburing does, not through libc): a
 *     seccomp filter, installed at start-up (pl_boot, before main) when
 *     something is served, returns ENOSYS for io_uring_setup. It is
 *     inherited by children and survives exec, as wanted for everything
 *     `coherio run` runs; a process that finds it in force (its parent's)
 *     does not stack another copy.
 * coherio's own ring: the cache asks for exactly PL_RING_ENTRIES entries
 * (pl_core.c, the cache options), and the filter lets io_uring_setup
 * through for that count only, so every process keeps its io_uring engine.
 * A program asking for exactly that many entries inline gets a ring: the
 * filter is a guard against incoherence, not a security boundary.
 *
 * The filter needs no_new_privs (PR_SET_NO_NEW_PRIVS, also inherited):
 * set-user-ID programs run under `coherio run` do not gain privileges.
 * Filters stack with the program's own (the most restrictive answer wins);
 * SECCOMP_RET_ERRNO needs no signal handler, so the program's handlers are
 * untouched. If the kernel refuses the filter, inline rings are not caught
 * (docs/syscalls.md).
 *
 * State: g_refuse, written once by pl_uring_boot() during start-up
 * (pl_boot_slow, before pl_booted is published), read after.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "preload.h"

#include <endian.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425
#endif
#define PL_X32_BIT 0x40000000u

static bool g_refuse;

bool pl_uring_refused(void)
{
	pl_boot();
	return g_refuse;
}

/* Is io_uring_setup already refused here (a filter in force, ours from a
 * parent, or no io_uring at all)? A probe that no kernel accepts. */
static bool already_refused(void)
{
	long r = pl_real.syscall(__NR_io_uring_setup, 0L, 0L);
	return r < 0 && errno == ENOSYS;
}

static int install_filter(void)
{
	const unsigned entries_lo = offsetof(struct seccomp_data, args[0]) +
	                            (__BYTE_ORDER == __BIG_ENDIAN ? 4 : 0);
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		/* x32's numbers are the native ones with a bit set */
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, ~PL_X32_BIT),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, entries_lo),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, PL_RING_ENTRIES, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* coherio's own */
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
	};
	struct sock_fprog prog = { (unsigned short)(sizeof(f) / sizeof(f[0])), f };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0)
		return -errno;
	return 0;
}

void pl_uring_boot(bool serving)
{
	int e = errno; /* start-up runs inside the program's first call */
	const char *v = getenv("COHERIO_URING");
	/* anything but "allow" refuses: the safe reading of a typo */
	g_refuse = serving && !(v && !strcmp(v, "allow"));
	if (g_refuse && !already_refused())
		(void)install_filter(); /* refused by the kernel: see above */
	errno = e;
}
