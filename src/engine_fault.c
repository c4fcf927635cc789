/*
 * engine_fault.c - the fault-injecting engine: wraps another engine and,
 * for requests matching a rule, delays them, fails them with an errno, or
 * cuts the transfer short. Rules live in fe_rules under fe_lock; the lock is
 * never held across a submit to the inner engine or a delay.
 */
#include "internal.h"
#include "engine.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 64

struct fault_rule {
	int      used;
	struct cio_fault_rule r;
	uint64_t ino_id;      /* 0 = any file                         */
	uint32_t seen;        /* matching requests so far             */
	int64_t  fired;
	uint64_t rng;
};

struct fault_engine {
	pthread_mutex_t fe_lock;
	struct fault_rule fe_rules[MAX_RULES];
};

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static unsigned op_bit(int op)
{
	switch (op) {
	case CIO_OP_READ: return CIO_FAULT_READ;
	case CIO_OP_WRITE: return CIO_FAULT_WRITE;
	default: return CIO_FAULT_FSYNC;
	}
}

static size_t io_len(const struct cio_io *io)
{
	size_t n = 0;
	for (int i = 0; i < io->iovcnt; i++)
		n += io->iov[i].iov_len;
	return n;
}

/* Decide under fe_lock what happens to @io: the first rule that fires
 * wins; a delay from any matching rule that fires is applied. */
static void fault_decide(struct fault_engine *fe, const struct cio_io *io,
                         int *err, uint32_t *short_bytes, uint32_t *delay)
{
	size_t len = io_len(io);
	*err = 0;
	*short_bytes = 0;
	*delay = 0;
	pthread_mutex_lock(&fe->fe_lock);
	for (int i = 0; i < MAX_RULES; i++) {
		struct fault_rule *fr = &fe->fe_rules[i];
		if (!fr->used || !(fr->r.ops & op_bit(io->op)))
			continue;
		if (fr->ino_id && (!io->ino || io->ino->i_id != fr->ino_id))
			continue;
		if (fr->r.end && io->op <= CIO_OP_WRITE &&
		    !((int64_t)io->off < fr->r.end && (int64_t)(io->off + len) > fr->r.start))
			continue;
		if (fr->r.count >= 0 && fr->fired >= fr->r.count)
			continue;
		if (fr->seen++ < fr->r.skip)
			continue;
		if (fr->r.per_million &&
		    xorshift(&fr->rng) % 1000000u >= fr->r.per_million)
			continue;
		fr->fired++;
		if (fr->r.delay_us > *delay)
			*delay = fr->r.delay_us;
		if (!*err && !*short_bytes) {
			if (fr->r.error)
				*err = fr->r.error;
			else if (fr->r.short_bytes)
				*short_bytes = fr->r.short_bytes;
		}
	}
	pthread_mutex_unlock(&fe->fe_lock);
}

static int fault_submit(struct cio_engine *e, struct cio_io *io)
{
	struct fault_engine *fe = e->priv;
	int err;
	uint32_t short_bytes, delay;

	fault_decide(fe, io, &err, &short_bytes, &delay);
	if (delay) {
		struct timespec ts = { delay / 1000000u, (long)(delay % 1000000u) * 1000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	if (err) {
		io->res = -err;
		io->done(io);
		return 0;
	}
	if (short_bytes && io->op <= CIO_OP_WRITE) {
		/* Cut the transfer to short_bytes, rounded down to the logical
		 * block size but at least one block: a 0-byte read would look
		 * like end of file. */
		size_t len = io_len(io), lbs = io->lbs ? io->lbs : 512;
		size_t want = (short_bytes / lbs) * lbs;
		if (want == 0)
			want = lbs;
		if (want < len) {
			struct iovec part[64];
			int n = cio_iov_slice(io->iov, io->iovcnt, 0, want, part, 64);
			struct cio_io sub = *io;
			sub.iov = part;
			sub.iovcnt = n;
			ssize_t r = cio_engine_do(e->inner, &sub);
			io->res = r;
			io->done(io);
			return 0;
		}
	}
	return e->inner->ops->submit(e->inner, io);
}

static void fault_destroy(struct cio_engine *e)
{
	struct fault_engine *fe = e->priv;
	e->inner->ops->destroy(e->inner);
	pthread_mutex_destroy(&fe->fe_lock);
	free(fe);
	free(e);
}

static const struct cio_engine_ops fault_ops = {
	.name = "fault",
	.submit = fault_submit,
	.destroy = fault_destroy,
};

int cio_engine_fault_create(struct cio_engine *inner, struct cio_engine **out)
{
	struct cio_engine *e = calloc(1, sizeof(*e));
	struct fault_engine *fe = calloc(1, sizeof(*fe));
	if (!e || !fe) {
		free(e);
		free(fe);
		return -ENOMEM;
	}
	pthread_mutex_init(&fe->fe_lock, NULL);
	e->ops = &fault_ops;
	e->inner = inner;
	e->priv = fe;
	*out = e;
	return 0;
}

/* ---- public rule API ---- */

static struct fault_engine *fault_of(cio_cache *c)
{
	if (!c || !c->c_fault)
		return NULL;
	return c->c_engine->priv;
}

int cio_fault_add(cio_cache *c, const struct cio_fault_rule *rule)
{
	struct fault_engine *fe;
	uint64_t ino_id = 0;

	if (!c)
		return -EINVAL;
	fe = fault_of(c);
	if (!fe)
		return -ENOTSUP;
	if (!rule)
		return -EFAULT;
	if (!rule->ops || (rule->ops & ~(CIO_FAULT_READ | CIO_FAULT_WRITE | CIO_FAULT_FSYNC)) ||
	    rule->error < 0 || rule->error > 4095 || rule->start < 0 ||
	    (rule->end && rule->end <= rule->start) || rule->count < -1 ||
	    rule->per_million > 1000000u)
		return -EINVAL;
	if (rule->file) {
		int r = cio_file_check(rule->file);
		if (r < 0)
			return r;
		ino_id = rule->file->h_inode->i_id;
	}
	pthread_mutex_lock(&fe->fe_lock);
	for (int i = 0; i < MAX_RULES; i++) {
		struct fault_rule *fr = &fe->fe_rules[i];
		if (fr->used)
			continue;
		memset(fr, 0, sizeof(*fr));
		fr->used = 1;
		fr->r = *rule;
		fr->ino_id = ino_id;
		fr->rng = rule->seed ? rule->seed : 0x2545F4914F6CDD1Dull + (uint64_t)i;
		pthread_mutex_unlock(&fe->fe_lock);
		return i;
	}
	pthread_mutex_unlock(&fe->fe_lock);
	return -ENOSPC;
}

int cio_fault_clear(cio_cache *c, int id)
{
	struct fault_engine *fe = fault_of(c);
	int ret = 0;
	if (!fe)
		return c ? -ENOTSUP : -EINVAL;
	if (id < -1 || id >= MAX_RULES)
		return -ENOENT;
	pthread_mutex_lock(&fe->fe_lock);
	if (id == -1) {
		for (int i = 0; i < MAX_RULES; i++)
			fe->fe_rules[i].used = 0;
	} else if (!fe->fe_rules[id].used) {
		ret = -ENOENT;
	} else {
		fe->fe_rules[id].used = 0;
	}
	pthread_mutex_unlock(&fe->fe_lock);
	return ret;
}

int64_t cio_fault_fired(cio_cache *c, int id)
{
	struct fault_engine *fe = fault_of(c);
	int64_t n = 0;
	if (!fe)
		return c ? -ENOTSUP : -EINVAL;
	if (id < -1 || id >= MAX_RULES)
		return -ENOENT;
	pthread_mutex_lock(&fe->fe_lock);
	if (id == -1) {
		for (int i = 0; i < MAX_RULES; i++)
			n += fe->fe_rules[i].fired;
	} else if (!fe->fe_rules[id].used) {
		n = -ENOENT;
	} else {
		n = fe->fe_rules[id].fired;
	}
	pthread_mutex_unlock(&fe->fe_lock);
	return n;
}
