/*
 * util.c - version, build flags, error strings, striped counters.
 * Counters: each thread adds to one of CIO_STRIPES cache-line-sized slots
 * (chosen once per thread), so the hit path never bounces a shared line.
 */
#include "internal.h"

#include <limits.h>
#include <string.h>

const char *cio_version(void)
{
#define S2(x) #x
#define S(x) S2(x)
	return S(COHERIO_VERSION_MAJOR) "." S(COHERIO_VERSION_MINOR) "." S(COHERIO_VERSION_PATCH);
}

unsigned cio_build_flags(void)
{
	unsigned f = 0;
#ifdef CIO_HANDLE_CHECKS
	f |= CIO_BUILD_HANDLE_CHECKS;
#endif
#ifndef NDEBUG
	f |= CIO_BUILD_ASSERTS;
#endif
	return f;
}

const char *cio_strerror(int err)
{
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case EINVAL: return "invalid argument (misaligned direct I/O, negative offset, bad flags or options)";
	case EFBIG: return "offset or length past the largest file size coherio accepts";
	case EBADF: return "not an open coherio handle, or not open for this access";
	case EFAULT: return "a required pointer is NULL";
	case EAGAIN: return "would wait for a pin or another operation (no-wait flag given)";
	case EBUSY: return "in use: pinned pages or open files prevent it";
	case EIO: return "I/O error on the device";
	case ENOSPC: return "no space left on the device";
	case ENOMEM: return "out of memory, or every cache page is pinned";
	case ENXIO: return "range is past the end of the file";
	case ENOTSUP: return "not supported by this cache (fault injection not enabled?)";
	case ENOENT: return "no such file or directory (or no such rule or operation)";
	case EACCES: return "permission denied";
	case EISDIR: return "is a directory";
	default: return strerror(err);
	}
}

static _Thread_local int counter_slot = -1;
static _Atomic int next_slot;

void cio_counter_add(struct cio_counter *c, uint64_t n)
{
	if (CIO_UNLIKELY(counter_slot < 0))
		counter_slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) % CIO_STRIPES;
	atomic_fetch_add_explicit(&c->s[counter_slot].v, n, memory_order_relaxed);
}

uint64_t cio_counter_sum(const struct cio_counter *c)
{
	uint64_t t = 0;
	for (int i = 0; i < CIO_STRIPES; i++)
		t += atomic_load_explicit(&c->s[i].v, memory_order_relaxed);
	return t;
}
