/* Per-thread perf counters as the stream event context of a channel
 * (`record --context perf:page-faults,...`): each thread opens its own
 * group of counters at its first event (perf_event_open on itself, no
 * inheritance) and reads them all with one read() per event. Software
 * counters cannot be read with rdpmc, so that system call is the cost
 * (measured in docs/design/kernel.md §12). Design: kernel.md §13.
 *
 * Signal safety: the read runs inside tracepoints, which may run in
 * signal handlers. The per-thread state is initial-exec TLS; opening is
 * guarded by a state word, so a handler that interrupts it writes zeros
 * instead of opening twice. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "counters.h"
#include "ctf-writer.h"

#define MAX_SRC 8

enum { ST_NONE = 0, ST_OPENING, ST_OPEN, ST_FAILED };

struct src {
	struct rtr_ctf_ctx_src s;
	uint32_t mask;
};

static struct src srcs[MAX_SRC];
static unsigned nsrcs;
static pthread_mutex_t srcs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

struct tls {
	int state;
	uint32_t mask;
	int n;
	int fd[RTR_CTF_COUNTER_COUNT];
};

static __thread struct tls tls __attribute__((tls_model("initial-exec")));

static void close_all(struct tls *t)
{
	for (int i = 0; i < t->n; i++)
		if (t->fd[i] >= 0)
			close(t->fd[i]);
	t->n = 0;
	t->state = ST_NONE;
}

/* Thread exit: its counters go (the key's value is only a marker). */
static void on_thread_exit(void *v)
{
	(void)v;
	close_all(&tls);
}

static void make_key(void)
{
	if (pthread_key_create(&key, on_thread_exit) != 0)
		key = (pthread_key_t)-1;
}

static int open_one(const struct rtr_ctf_counter_info *c, int group, bool exclude_kernel)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.type = c->type;
	a.config = c->config;
	a.read_format = PERF_FORMAT_GROUP;
	/* The leader starts disabled and the group is enabled at once
	 * below: members added to a running group are not started until the
	 * thread is next scheduled in (cpu-clock read 0 until then). */
	a.disabled = group < 0;
	a.exclude_kernel = exclude_kernel;
	a.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, group, PERF_FLAG_FD_CLOEXEC);
}

static void open_group(struct tls *t, uint32_t mask)
{
	t->mask = mask;
	t->n = 0;
	for (unsigned i = 0; i < RTR_CTF_COUNTER_COUNT; i++) {
		const struct rtr_ctf_counter_info *c = rtr_ctf_counter(i);
		int fd;

		if (!(mask & (1u << i)))
			continue;
		fd = open_one(c, t->n ? t->fd[0] : -1, false);
		if (fd < 0 && (errno == EACCES || errno == EPERM))
			fd = open_one(c, t->n ? t->fd[0] : -1, true); /* unprivileged */
		t->fd[t->n++] = fd;
		if (fd < 0 && t->n == 1)
			break; /* no leader: nothing can be read */
	}
	if (t->n && t->fd[0] >= 0)
		ioctl(t->fd[0], PERF_EVENT_IOC_ENABLE, PERF_IOC_FLAG_GROUP);
}

static void read_counters(const struct rtr_ctf_ctx_src *s, uint8_t *dst)
{
	const struct src *me = (const struct src *)s;
	struct tls *t = &tls;
	uint64_t buf[1 + RTR_CTF_COUNTER_COUNT];
	uint32_t n = s->size / 8;

	memset(dst, 0, s->size);
	if (t->state == ST_OPEN && t->mask != me->mask)
		close_all(t);
	if (t->state == ST_NONE) {
		t->state = ST_OPENING;
		open_group(t, me->mask);
		t->state = t->n && t->fd[0] >= 0 ? ST_OPEN : ST_FAILED;
		if (key != (pthread_key_t)-1)
			pthread_setspecific(key, t); /* the thread's exit closes them */
	}
	if (t->state != ST_OPEN)
		return;
	{
		ssize_t r = read(t->fd[0], buf, sizeof(buf));
		uint64_t got = r >= 8 ? buf[0] : 0;

		/* values of the group, in the order opened (bit order); a
		 * member that could not be opened reads as 0 */
		for (uint32_t i = 0, k = 0; i < n && i < (uint32_t)t->n; i++) {
			uint64_t v = 0;

			if (t->fd[i] >= 0) {
				if (k < got && (size_t)r >= 8 * (k + 2))
					v = buf[1 + k];
				k++;
			}
			memcpy(dst + 8 * i, &v, 8);
		}
	}
}

const struct rtr_ctf_ctx_src *rtr__counters_src(uint32_t mask)
{
	const struct rtr_ctf_ctx_src *r = NULL;
	uint32_t n = 0;

	mask &= (1u << RTR_CTF_COUNTER_COUNT) - 1;
	if (!mask)
		return NULL;
	for (unsigned i = 0; i < RTR_CTF_COUNTER_COUNT; i++)
		n += !!(mask & (1u << i));
	pthread_once(&key_once, make_key);
	pthread_mutex_lock(&srcs_lock);
	for (unsigned i = 0; i < nsrcs && !r; i++)
		if (srcs[i].mask == mask)
			r = &srcs[i].s;
	if (!r && nsrcs < MAX_SRC) {
		srcs[nsrcs] = (struct src){.s = {.size = 8 * n, .read = read_counters}, .mask = mask};
		r = &srcs[nsrcs++].s;
	}
	pthread_mutex_unlock(&srcs_lock);
	return r;
}

void rtr__counters_atfork_child(void)
{
	/* the parent's counters count the parent's thread */
	close_all(&tls);
}
