/* The parallel text printer: the calling thread reads and merges messages
 * into batches, a helper thread and the caller format them, batches are
 * written in order. See docs/design/reader.md ("Speed"). */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>

#include "iter/iter.h"
#include "sink/text.h"

/* parallel printing: the calling thread reads and merges messages into
 * batches (values and strings copied, so the reader may move on), a
 * helper thread and the caller format batches, and batches are written
 * in order. The timestamp state each batch starts from is computed by
 * the reading thread (hstep), so the text is the sequential one.      */

#define PB_EVENTS     4096	 /* messages per batch */
#define PB_BYTES      (2u << 20) /* value and string bytes per batch */
#define PB_VALS	      (PB_BYTES / sizeof(struct rtr_value))
#define PB_STRS	      (PB_BYTES / 4)
#define PB_N	      6		 /* batches in flight */
#define PAR_MIN_BYTES (8u << 20) /* smaller traces print sequentially */

enum { PB_FREE, PB_READY, PB_BUSY };

struct pbatch {
	int state;
	uint64_t seq;
	struct rtr__hstate hs; /* printer state before the first message */
	struct rtr_msg *m;
	size_t n;
	struct rtr_value *v; /* values of all messages */
	size_t nv, capv;
	char *str; /* copied strings */
	size_t nstr, capstr;
};

struct par {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	struct pbatch b[PB_N];
	uint64_t written; /* batches written */
	bool done;	  /* no more batches */
	int werr;	  /* write error of a formatter */
	struct rtr_text *helper;
};

void rtr__text_wait_turn(struct rtr_text *t)
{
	struct par *p = t->par;

	pthread_mutex_lock(&p->lock);
	while (p->written != t->seq)
		pthread_cond_wait(&p->cv, &p->lock);
	pthread_mutex_unlock(&p->lock);
	t->has_turn = true;
}

/* Formats batch b with t and writes it in its turn. Lock not held. */
static void par_format(struct par *p, struct rtr_text *t, struct pbatch *b)
{
	t->hs = b->hs;
	t->seq = b->seq;
	t->has_turn = false;
	for (size_t i = 0; i < b->n && !t->werr; i++)
		rtr_text_print(t, &b->m[i]);
	rtr__text_flush(t); /* waits for the turn */
	pthread_mutex_lock(&p->lock);
	if (t->werr && !p->werr)
		p->werr = t->werr;
	p->written = b->seq + 1;
	b->state = PB_FREE;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	t->has_turn = false;
}

/* Gives b its default buffers (again, after a big message). Returns 0 or
 * -ENOMEM. */
static int pb_shrink(struct pbatch *b)
{
	if (!b->v || b->capv > PB_VALS) {
		free(b->v);
		b->capv = PB_VALS;
		b->v = malloc(b->capv * sizeof(*b->v));
	}
	if (!b->str || b->capstr > PB_STRS) {
		free(b->str);
		b->capstr = PB_STRS;
		b->str = malloc(b->capstr);
	}
	return b->v && b->str ? 0 : -ENOMEM;
}

/* The ready batch of lowest sequence number, or NULL. Lock held. */
static struct pbatch *par_next_ready(struct par *p)
{
	struct pbatch *best = NULL;

	for (int k = 0; k < PB_N; k++)
		if (p->b[k].state == PB_READY && (!best || p->b[k].seq < best->seq))
			best = &p->b[k];
	return best;
}

/* Formats the oldest ready batch with t (the lock is dropped meanwhile),
 * or, when none is ready, waits for a change (unless `done`). Returns
 * false when there was nothing to do. Lock held. */
static bool par_format_or_wait(struct par *p, struct rtr_text *t, bool done)
{
	struct pbatch *b = par_next_ready(p);

	if (!b) {
		if (!done)
			pthread_cond_wait(&p->cv, &p->lock);
		return false;
	}
	b->state = PB_BUSY;
	pthread_mutex_unlock(&p->lock);
	par_format(p, t, b);
	pthread_mutex_lock(&p->lock);
	return true;
}

static void *par_helper(void *arg)
{
	struct par *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		if (par_format_or_wait(p, p->helper, p->done))
			continue;
		if (p->done && !par_next_ready(p))
			break;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

/* Copies the values and strings of message b->m[b->n] into b (they
 * point into the reader's buffers and mappings) and counts it in. The
 * buffers only grow while the batch is empty (and may_grow), so pointers
 * into them stay valid. */
enum par_add { ADD_OK, ADD_FULL, ADD_TOO_BIG, ADD_NOMEM };
static enum par_add par_add(const struct rtr_reader *r, struct pbatch *b, bool may_grow)
{
	struct rtr_msg *d = &b->m[b->n];
	const struct rtr_value *src = d->values;
	size_t n = d->n_values, nstr = b->nstr;
	struct rtr_value *v;

	if (d->kind != RTR_MSG_EVENT || !n)
		goto done;
	if (b->nv + n > b->capv) {
		if (b->n)
			return ADD_FULL; /* batch full */
		if (!may_grow)
			return ADD_TOO_BIG; /* alone, needs more than may_grow allows */
		if (rtr__grow((void **)&b->v, &b->capv, n, sizeof(*b->v)))
			return ADD_NOMEM;
	}
	v = b->v + b->nv;
	memcpy(v, src, n * sizeof(*v));
	if (d->class_index < r->nclasses && !r->classes[d->class_index]->text_vals)
		goto count;
	for (size_t k = 0; k < n; k++) {
		if (v[k].kind != RTR_VAL_STRING || !v[k].len)
			continue;
		if (nstr + v[k].len > b->capstr) {
			if (b->n)
				return ADD_FULL; /* batch full */
			if (!may_grow)
				return ADD_TOO_BIG; /* alone, needs more than may_grow allows */
			/* alone in the batch: grow, then copy its strings again */
			if (rtr__grow((void **)&b->str, &b->capstr, nstr + v[k].len, 1))
				return ADD_NOMEM;
			memcpy(v, src, n * sizeof(*v));
			nstr = b->nstr;
			k = (size_t)-1;
			continue;
		}
		memcpy(b->str + nstr, v[k].v.s, (size_t)v[k].len);
		v[k].v.s = b->str + nstr;
		nstr += (size_t)v[k].len;
	}
	b->nstr = nstr;
count:
	d->values = v;
	b->nv += n;
done:
	b->n++;
	return ADD_OK;
}

/* Waits until the first upto batches are written, formatting ready
 * ones meanwhile. Lock not held. */
static void par_wait_written(struct par *p, struct rtr_text *t, uint64_t upto)
{
	pthread_mutex_lock(&p->lock);
	while (p->written < upto && !p->werr)
		par_format_or_wait(p, t, false);
	pthread_mutex_unlock(&p->lock);
}

static bool par_wanted(const struct rtr_text *t, const struct rtr_reader *r)
{
	const char *env = getenv("RTR_PARALLEL");

	if (t->fd < 0 || r->opt.all_values || r->opt.skip_values)
		return false;
	if (env && !strcmp(env, "0"))
		return false;
	if (env && !strcmp(env, "1"))
		return true; /* tests: any trace */
	if (r->total_bytes < PAR_MIN_BYTES)
		return false;
	/* CPUs this process may run on (taskset, cgroup cpusets) */
	{
		cpu_set_t cs;

		if (!sched_getaffinity(0, sizeof(cs), &cs))
			return CPU_COUNT(&cs) >= 2;
	}
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

int rtr__par_drain(struct rtr_text *t, struct rtr_reader *r,
		   void (*progress)(struct rtr_reader *r, uint64_t n), struct rtr_error *err,
		   bool *used)
{
	struct par *p;
	struct rtr__hstate hs;
	struct rtr_msg held;
	bool carry = false;
	pthread_t th;
	uint64_t seq = 0, count = 0;
	enum rtr_next rc = RTR_NEXT_OK;
	int ret;

	*used = false;
	if (!par_wanted(t, r))
		return 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return 0;
	for (int k = 0; k < PB_N; k++) {
		struct pbatch *b = &p->b[k];

		b->m = malloc(PB_EVENTS * sizeof(*b->m));
		if (!b->m || pb_shrink(b))
			goto nothread;
	}
	p->helper = rtr__text_new(r, t->fd, t->err, &t->o);
	if (!p->helper)
		goto nothread;
	rtr__text_flush(t); /* what was printed before, in order */
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cv, NULL);
	p->helper->par = p;
	if (pthread_create(&th, NULL, par_helper, p)) {
		pthread_mutex_destroy(&p->lock);
		pthread_cond_destroy(&p->cv);
		goto nothread;
	}
	t->par = p;
	hs = t->hs;
	*used = true;
	while (rc == RTR_NEXT_OK || carry) {
		struct pbatch *b = NULL;

		/* a free batch to fill; format ready ones while none is */
		pthread_mutex_lock(&p->lock);
		while (!p->werr) {
			for (int k = 0; k < PB_N && !b; k++)
				if (p->b[k].state == PB_FREE)
					b = &p->b[k];
			if (b)
				break;
			par_format_or_wait(p, t, false);
		}
		pthread_mutex_unlock(&p->lock);
		if (!b)
			break; /* write error */
		if (pb_shrink(b)) {
			rtr__error(&r->err, -ENOMEM, "out of memory");
			rc = RTR_NEXT_ERROR;
			break;
		}
		b->n = b->nv = b->nstr = 0;
		b->hs = hs;
		if (carry) { /* the message that did not fit in the last batch */
			b->m[0] = held;
			carry = false;
			goto add;
		}
		while (b->n < PB_EVENTS) {
			enum par_add a;

			rc = rtr_reader_next(r, &b->m[b->n]);
			if (rc != RTR_NEXT_OK)
				break;
		add:
			a = par_add(r, b, false);
			if (a == ADD_TOO_BIG) {
				/* one big message: alone in memory with its
				 * copy, after the batches before it */
				par_wait_written(p, t, seq);
				for (int k = 0; k < PB_N; k++)
					if (&p->b[k] != b && p->b[k].state == PB_FREE)
						pb_shrink(&p->b[k]);
				a = par_add(r, b, true);
			}
			if (a == ADD_FULL || a == ADD_TOO_BIG) {
				held = b->m[b->n];
				carry = true;
				break;
			}
			if (a == ADD_NOMEM) {
				rtr__error(&r->err, -ENOMEM, "out of memory");
				rc = RTR_NEXT_ERROR;
				break;
			}
			rtr__hstep(&t->o, &hs, &b->m[b->n - 1]);
			if (progress && !(++count & 0xffff))
				progress(r, count);
		}
		if (!b->n)
			continue;
		pthread_mutex_lock(&p->lock);
		b->seq = seq++;
		b->state = PB_READY;
		pthread_cond_broadcast(&p->cv);
		pthread_mutex_unlock(&p->lock);
	}
	/* the rest: format what is left, wait for the helper */
	pthread_mutex_lock(&p->lock);
	p->done = true;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->lock);
	par_wait_written(p, t, seq);
	pthread_join(th, NULL);
	if (p->werr) {
		t->werr = p->werr;
		ret = rtr__error(err, -p->werr, "write: %s", strerror(p->werr));
	} else if (rc == RTR_NEXT_ERROR) {
		ret = rtr__error(err, r->err.code, "%s", r->err.msg);
	} else {
		ret = 0;
	}
	t->par = NULL;
	t->has_turn = false;
	t->hs = hs;
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cv);
	goto out;
nothread:
	ret = 0; /* not used: the caller prints sequentially */
out:
	if (p->helper)
		p->helper->par = NULL;
	rtr_text_destroy(p->helper);
	for (int k = 0; k < PB_N; k++) {
		free(p->b[k].m);
		free(p->b[k].v);
		free(p->b[k].str);
	}
	free(p);
	return ret;
}

