/*
 * engine_fault.c - the fault-injecting engine: wraps another engine and,
 * for requests matching a rule, fails them with an errno, cuts the transfer
 * short, or delays their completion (delay_us plus a random 0..jitter_us,
 * so requests submitted together complete out of order). The submitter
 * never waits for a delay.
 *
 * State and locks (struct fault_engine):
 *
 *   fe_lock  - the rules (fe_rules: counters and random states included).
 *   fe_tlock - the parked completions (fe_parked, fe_parked_tail) and
 *              fe_tstop; fe_tcond (CLOCK_MONOTONIC) wakes the timer thread.
 *   Both are leaves, never held together, never held across a submit to the
 *   inner engine or a done call. fe_timer: immutable after create.
 *
 * Lifetime of a request @io that a rule touches (one that none touches goes
 * straight to the inner engine):
 *  (a) error, no delay: io->res = -error, io->done inline in submit().
 *  (b) error with delay: a ticket (struct fault_ticket) is parked until
 *      now + delay; the inner engine never sees the request.
 *  (c) otherwise the inner engine runs a copy (ft_sub) of the request, cut
 *      to the short length if asked; its done (ticket_done, on the inner
 *      engine's thread) records the result and either delivers at once (no
 *      delay) or parks the ticket until completion time + delay.
 *  Parked tickets are kept sorted by due time (ties in arrival order); the
 *  timer thread delivers each when due: io->res = result, free the ticket,
 *  io->done(io) on the timer thread. Each ticket is delivered once.
 *
 * destroy(): the inner engine is destroyed first (every request in it
 * completes, parking or delivering its ticket), then the timer thread is
 * told to stop: it delivers everything still parked at once and leaves.
 */
#include "internal.h"
#include "engine.h"

#include <signal.h>
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
	uint64_t rng;         /* per_million draws                    */
	uint64_t jrng;        /* jitter draws                         */
};

struct fault_ticket {
	struct cio_io        ft_sub;       /* what the inner engine runs       */
	struct iovec         ft_part[64];  /* ft_sub's iovecs when cut short   */
	struct cio_io       *ft_orig;      /* the submitter's request          */
	struct fault_engine *ft_fe;
	uint64_t             ft_delay_ns;  /* 0 = deliver on completion        */
	uint64_t             ft_due_ns;    /* CLOCK_MONOTONIC, once parked     */
	ssize_t              ft_res;       /* result to deliver                */
	struct fault_ticket *ft_next;      /* fe_parked list, under fe_tlock   */
};

struct fault_engine {
	pthread_mutex_t fe_lock;
	struct fault_rule fe_rules[MAX_RULES];     /* under fe_lock             */
	pthread_mutex_t fe_tlock;
	pthread_cond_t  fe_tcond;                  /* parked list changed/stop */
	struct fault_ticket *fe_parked;            /* by due time, fe_tlock     */
	struct fault_ticket *fe_parked_tail;       /* fe_tlock                  */
	int             fe_tstop;                  /* fe_tlock                  */
	pthread_t       fe_timer;
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
 * decides the error or short length; the longest delay (delay_us plus a
 * draw of 0..jitter_us) of the rules that fire applies. */
static void fault_decide(struct fault_engine *fe, const struct cio_io *io,
                         int *err, uint32_t *short_bytes, uint64_t *delay)
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
		uint64_t d = fr->r.delay_us;
		if (fr->r.jitter_us)
			d += xorshift(&fr->jrng) % ((uint64_t)fr->r.jitter_us + 1);
		if (d > *delay)
			*delay = d;
		if (!*err && !*short_bytes) {
			if (fr->r.error)
				*err = fr->r.error;
			else if (fr->r.short_bytes)
				*short_bytes = fr->r.short_bytes;
		}
	}
	pthread_mutex_unlock(&fe->fe_lock);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Hand the result to the submitter; the ticket is gone afterwards. */
static void ticket_deliver(struct fault_ticket *t)
{
	struct cio_io *io = t->ft_orig;
	ssize_t res = t->ft_res;
	free(t);
	io->res = res;
	io->done(io);
}

/* Park @t until @due (keeps fe_parked sorted; equal times stay FIFO). */
static void ticket_park(struct fault_engine *fe, struct fault_ticket *t,
                        uint64_t due)
{
	struct fault_ticket **pp;

	t->ft_due_ns = due;
	t->ft_next = NULL;
	pthread_mutex_lock(&fe->fe_tlock);
	if (!fe->fe_parked_tail || fe->fe_parked_tail->ft_due_ns <= due) {
		pp = fe->fe_parked_tail ? &fe->fe_parked_tail->ft_next : &fe->fe_parked;
		fe->fe_parked_tail = t;
	} else {
		pp = &fe->fe_parked;
		while ((*pp)->ft_due_ns <= due)
			pp = &(*pp)->ft_next;
		t->ft_next = *pp;
	}
	*pp = t;
	if (fe->fe_parked == t)
		pthread_cond_signal(&fe->fe_tcond); /* a new earliest due time */
	pthread_mutex_unlock(&fe->fe_tlock);
}

/* The inner engine's done for ft_sub (on the inner engine's thread). */
static void ticket_done(struct cio_io *sub)
{
	struct fault_ticket *t = sub->priv;
	t->ft_res = sub->res;
	if (t->ft_delay_ns)
		ticket_park(t->ft_fe, t, mono_ns() + t->ft_delay_ns);
	else
		ticket_deliver(t);
}

static void *fault_timer(void *arg)
{
	struct fault_engine *fe = arg;

	pthread_mutex_lock(&fe->fe_tlock);
	for (;;) {
		struct fault_ticket *t = fe->fe_parked;
		if (!t) {
			if (fe->fe_tstop)
				break;
			pthread_cond_wait(&fe->fe_tcond, &fe->fe_tlock);
			continue;
		}
		if (!fe->fe_tstop && t->ft_due_ns > mono_ns()) {
			struct timespec ts = {
				(time_t)(t->ft_due_ns / 1000000000ull),
				(long)(t->ft_due_ns % 1000000000ull),
			};
			pthread_cond_timedwait(&fe->fe_tcond, &fe->fe_tlock, &ts);
			continue;
		}
		fe->fe_parked = t->ft_next;
		if (!fe->fe_parked)
			fe->fe_parked_tail = NULL;
		pthread_mutex_unlock(&fe->fe_tlock);
		ticket_deliver(t);
		pthread_mutex_lock(&fe->fe_tlock);
	}
	pthread_mutex_unlock(&fe->fe_tlock);
	return NULL;
}

static int fault_submit(struct cio_engine *e, struct cio_io *io)
{
	struct fault_engine *fe = e->priv;
	struct fault_ticket *t;
	int err, r;
	uint32_t short_bytes;
	uint64_t delay_us;
	size_t want = 0;

	fault_decide(fe, io, &err, &short_bytes, &delay_us);
	if (short_bytes && io->op <= CIO_OP_WRITE && !err) {
		/* Cut the transfer to short_bytes, rounded down to the logical
		 * block size but at least one block: a 0-byte read would look
		 * like end of file. */
		size_t len = io_len(io), lbs = io->lbs ? io->lbs : 512;
		want = (short_bytes / lbs) * lbs;
		if (want == 0)
			want = lbs;
		if (want >= len)
			want = 0; /* nothing to cut */
	}
	if (!delay_us && !want) {
		if (err) {
			io->res = -err;
			io->done(io);
			return 0;
		}
		return e->inner->ops->submit(e->inner, io);
	}

	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ft_orig = io;
	t->ft_fe = fe;
	t->ft_delay_ns = delay_us * 1000u;
	if (err) {
		t->ft_res = -err;
		ticket_park(fe, t, mono_ns() + t->ft_delay_ns);
		return 0;
	}
	t->ft_sub = *io;
	t->ft_sub.done = ticket_done;
	t->ft_sub.priv = t;
	if (want) {
		t->ft_sub.iov = t->ft_part;
		t->ft_sub.iovcnt = cio_iov_slice(io->iov, io->iovcnt, 0, want,
		                                 t->ft_part, 64);
	}
	r = e->inner->ops->submit(e->inner, &t->ft_sub);
	if (r < 0)
		free(t); /* not accepted: ticket_done will not run */
	return r;
}

static int fault_register_buffers(struct cio_engine *e, void *base, size_t len)
{
	return cio_engine_register_buffers(e->inner, base, len);
}

static void fault_destroy(struct cio_engine *e)
{
	struct fault_engine *fe = e->priv;

	e->inner->ops->destroy(e->inner);
	pthread_mutex_lock(&fe->fe_tlock);
	fe->fe_tstop = 1;
	pthread_cond_signal(&fe->fe_tcond);
	pthread_mutex_unlock(&fe->fe_tlock);
	pthread_join(fe->fe_timer, NULL);
	pthread_cond_destroy(&fe->fe_tcond);
	pthread_mutex_destroy(&fe->fe_tlock);
	pthread_mutex_destroy(&fe->fe_lock);
	free(fe);
	free(e);
}

/* Reaping goes to the inner engine (delayed completions come from the
 * fault timer thread, which posts like any other thread). */
static int fault_poll(struct cio_engine *e, const struct timespec *timeout)
{
	return e->inner->ops->poll(e->inner, timeout);
}

static void fault_kick(struct cio_engine *e)
{
	e->inner->ops->kick(e->inner);
}

static const struct cio_engine_ops fault_ops = {
	.name = "fault",
	.submit = fault_submit,
	.destroy = fault_destroy,
	.register_buffers = fault_register_buffers,
};

static void fault_plug(struct cio_engine *e, bool on)
{
	if (e->inner->ops->plug)
		e->inner->ops->plug(e->inner, on);
}

static const struct cio_engine_ops fault_ops_poll = {
	.name = "fault",
	.submit = fault_submit,
	.destroy = fault_destroy,
	.register_buffers = fault_register_buffers,
	.poll = fault_poll,
	.kick = fault_kick,
	.plug = fault_plug,
};

int cio_engine_fault_create(struct cio_engine *inner, struct cio_engine **out)
{
	struct cio_engine *e = calloc(1, sizeof(*e));
	struct fault_engine *fe = calloc(1, sizeof(*fe));
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (!e || !fe) {
		free(e);
		free(fe);
		return -ENOMEM;
	}
	pthread_mutex_init(&fe->fe_lock, NULL);
	pthread_mutex_init(&fe->fe_tlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fe->fe_tcond, &ca);
	pthread_condattr_destroy(&ca);

	/* The timer thread blocks every signal (see engine_threads.c). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&fe->fe_timer, NULL, fault_timer, fe);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&fe->fe_tcond);
		pthread_mutex_destroy(&fe->fe_tlock);
		pthread_mutex_destroy(&fe->fe_lock);
		free(fe);
		free(e);
		return r;
	}
	e->ops = inner->ops->poll ? &fault_ops_poll : &fault_ops;
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
		/* An independent stream, so jitter does not shift which
		 * requests per_million picks. */
		fr->jrng = (fr->rng ^ 0xD1B54A32D192ED03ull) * 0x9E3779B97F4A7C15ull;
		if (!fr->jrng)
			fr->jrng = 1;
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
