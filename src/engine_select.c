/*
 * engine_select.c - choosing the I/O engine for a cache: by option, by the
 * COHERIO_ENGINE environment variable, with fallback when the kernel
 * refuses io_uring. No state, no locks. (cache.c wraps the chosen engine in
 * the fault engine afterwards when asked to.)
 *
 *   opts->engine SYNC / THREADS / URING: exactly that engine, or its error.
 *   opts->engine AUTO:
 *     COHERIO_ENGINE="uring" | "threads" | "sync": exactly that engine, or
 *       its error (an explicit request is not silently replaced);
 *     COHERIO_ENGINE unset or empty: io_uring; if the ring cannot be set
 *       up for any reason (EPERM under seccomp or io_uring_disabled, ENOSYS
 *       on old kernels, ENOMEM under RLIMIT_MEMLOCK, ...), the thread pool;
 *     any other value: -EINVAL.
 */
#include "internal.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>

static int engine_create(int which, const struct cio_cache_opts *o,
                         struct cio_engine **out)
{
	switch (which) {
	case CIO_ENGINE_SYNC:
		return cio_engine_sync_create(out);
	case CIO_ENGINE_THREADS:
		return cio_engine_threads_create(o->engine_threads, o->queue_depth, out);
	case CIO_ENGINE_URING:
		return cio_engine_uring_create(o->queue_depth, out);
	default:
		return -EINVAL;
	}
}

int cio_engine_select(const struct cio_cache_opts *o, struct cio_engine **out)
{
	const char *env;
	int r;

	if (o->engine != CIO_ENGINE_AUTO)
		return engine_create(o->engine, o, out);
	env = getenv("COHERIO_ENGINE");
	if (env && *env) {
		if (!strcmp(env, "uring"))
			return engine_create(CIO_ENGINE_URING, o, out);
		if (!strcmp(env, "threads"))
			return engine_create(CIO_ENGINE_THREADS, o, out);
		if (!strcmp(env, "sync"))
			return engine_create(CIO_ENGINE_SYNC, o, out);
		return -EINVAL;
	}
	r = engine_create(CIO_ENGINE_URING, o, out);
	if (r == 0)
		return 0;
	return engine_create(CIO_ENGINE_THREADS, o, out);
}
