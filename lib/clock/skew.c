/* ringtrace clock — cross-CPU timestamp skew bound by cache-line ping-pong
 * between two pinned threads. Design: docs/design/clock.md ("Skew bound"). */
#define _GNU_SOURCE /* CPU_* macros, pthread_setaffinity_np, sched_getcpu */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "clock_internal.h"

#define DEFAULT_ROUNDS	  2048u
#define DEFAULT_BUDGET_MS 50u	   /* plus PAIR_BUDGET_MS per pair */
#define PAIR_BUDGET_MS	  2u	   /* >= 8 bursts of 250 us: 1024 rounds per read */
#define ALL_PAIRS_MAX	  8u	   /* usable CPUs up to which every pair is measured */
#define MIN_FREQ_SPAN_NS  5000000u /* sync points this far apart give freq for bound_ns */
#define BURST_ROUNDS	  256u	   /* round trips per burst */
#define BURST_GAP_NS	  200000u  /* both workers sleep until now + this */
#define DISTURBED_RTT_NS  50000u   /* best round trip above this: not co-running */
#define YIELD_AFTER_NS	  2000000u /* a barrier spins this long before yielding */

/* Kinds of read measured: the tracer's (rtr_clock_read) and the ordered one. */
enum { K_READ, K_ORDERED, K_COUNT };

/* One line per writer; 128-byte spacing keeps the adjacent-line prefetcher
 * from coupling them. */
struct line {
	uint64_t seq; /* written by the owner only (release); W1/W2 below */
	uint64_t t;   /* the owner's t2 as responder (relaxed, before seq) */
} __attribute__((aligned(128)));

/* What one worker learnt about one pair with one kind of read. */
struct acc {
	int64_t lo, hi;	     /* bracket of d = clock_b - clock_a */
	uint64_t rtt_min;    /* best t3 - t1 seen as initiator */
	unsigned int rounds; /* completed round trips this worker initiated */
} __attribute__((aligned(64)));

struct pair {
	int a, b;
};

struct ctx {
	struct line line[2];
	struct line arrive[2]; /* barrier phase of each worker (seq field) */
	struct line okay[2];   /* pin result of each worker for the pair */
	/* Written by worker 0 before a barrier, read by worker 1 after it. */
	uint64_t pair_deadline; /* CLOCK_MONOTONIC ns */
	uint64_t wake_at;	/* next burst start */
	int go;			/* 1: run a burst, 0: pair done */
	int kind;		/* kind of read of the next burst */
	/* Read-only after the threads start. */
	uint64_t deadline;
	unsigned int rounds; /* per kind and pair */
	bool ordered_only;
	size_t npairs;
	const struct pair *pairs;
	struct acc *acc; /* [npairs][2 workers][K_COUNT] */
	/* Flags, relaxed. */
	int stop_pair; /* k + 1 once pair k must stop */
	int abort;     /* give up everything */
};

struct worker {
	struct ctx *x;
	int w;
};

static struct acc *acc_of(struct ctx *x, size_t k, int w, int kind)
{
	return &x->acc[(2 * k + (size_t)w) * K_COUNT + (size_t)kind];
}

/* In spin loops: lets an SMT sibling run and, in a VM, lets the hypervisor
 * see the spin (pause-loop exiting) and run the vCPU we wait for. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

static bool should_stop(struct ctx *x, size_t k)
{
	uint64_t now;

	if (__atomic_load_n(&x->abort, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&x->stop_pair, __ATOMIC_RELAXED) == (int)(k + 1))
		return true;
	now = clock_ns(CLOCK_MONOTONIC);
	if (now > __atomic_load_n(&x->pair_deadline, __ATOMIC_RELAXED)) {
		__atomic_store_n(&x->stop_pair, (int)(k + 1), __ATOMIC_RELAXED);
		return true;
	}
	return false;
}

/* Two-thread barrier on phase p; false if the global deadline passed. Spins
 * (the partner is normally microseconds away: it wakes from the same timer)
 * and yields only after YIELD_AFTER_NS, since a yield hands the CPU to
 * whatever else is runnable for a whole time slice. */
static bool barrier(struct ctx *x, int w, uint64_t p)
{
	uint64_t t0 = 0;

	/* B1: pairs with B2 of the other worker; publishes everything before. */
	__atomic_store_n(&x->arrive[w].seq, p, __ATOMIC_RELEASE);
	for (unsigned int spins = 0;; spins++) {
		/* B2: pairs with B1. */
		if (__atomic_load_n(&x->arrive[1 - w].seq, __ATOMIC_ACQUIRE) >= p)
			return true;
		if ((spins & 255) == 255) {
			uint64_t now = clock_ns(CLOCK_MONOTONIC);

			if (!t0)
				t0 = now;
			/* Grace beyond the budget so a slow partner can still arrive. */
			if (__atomic_load_n(&x->abort, __ATOMIC_RELAXED) ||
			    now > x->deadline + 100000000u) {
				__atomic_store_n(&x->abort, 1, __ATOMIC_RELAXED);
				return false;
			}
			if (now - t0 > YIELD_AFTER_NS)
				sched_yield();
		}
		cpu_relax();
	}
}

static __attribute__((always_inline)) inline uint64_t rd(bool ordered)
{
	return ordered ? rtr_clock_read_ordered() : rtr_clock_read();
}

/*
 * Round r: the initiator I = r & 1 reads t1 and publishes seq (W1); the
 * responder polls I's line, reading the clock in the same iteration as the
 * load that sees seq (so a read executed early, before the load completed,
 * shows up as it would in the tracer), then publishes t2 and seq (W2); I
 * polls likewise and reads t3. Causality: t1 <= t2 - d_RI <= t3 in I's
 * clock, so d_RI in [t2 - t3, t2 - t1].
 * Polls match seq or later: the responder turns initiator for the next round
 * at once and may publish seq + 1 before we see seq; its t (written only as
 * responder) is still this round's, and a later t3 only widens the bracket.
 */
static __attribute__((always_inline)) inline void
run_burst(struct ctx *x, int w, size_t k, unsigned int burst, unsigned int n, bool ordered)
{
	struct line *mine = &x->line[w], *other = &x->line[1 - w];
	struct acc *acc = acc_of(x, k, w, ordered ? K_ORDERED : K_READ);
	/* Unique and increasing over (pair, burst, round). */
	uint64_t base = ((uint64_t)(k + 1) << 40) | ((uint64_t)burst << 20);

	for (unsigned int r = 0; r < n; r++) {
		uint64_t seq = base + r + 1, s, t1, t2, t3;
		int64_t lo, hi;

		/* Fast round trips never spin long: check the budget here too,
		 * outside the timed part of the round. */
		if ((r & 63u) == 63u && should_stop(x, k))
			return;
		if ((r & 1u) == (unsigned int)w) {
			t1 = rd(ordered);
			/* W1: pairs with R2 (responder's poll). */
			__atomic_store_n(&mine->seq, seq, __ATOMIC_RELEASE);
			for (unsigned int spins = 0;; spins++) {
				/* R1: pairs with W2; makes other->t visible. */
				s = __atomic_load_n(&other->seq, __ATOMIC_ACQUIRE);
				t3 = rd(ordered);
				if (s >= seq)
					break;
				if ((spins & 1023) == 1023 && should_stop(x, k))
					return;
				cpu_relax();
			}
			t2 = __atomic_load_n(&other->t, __ATOMIC_RELAXED);
			lo = (int64_t)(t2 - t3);
			hi = (int64_t)(t2 - t1);
			if (w == 1) { /* we hold clock b: the constraint is on -d */
				int64_t tmp = -lo;

				lo = -hi;
				hi = tmp;
			}
			if (t3 - t1 < acc->rtt_min)
				acc->rtt_min = t3 - t1;
			if (lo > acc->lo)
				acc->lo = lo;
			if (hi < acc->hi)
				acc->hi = hi;
			acc->rounds++;
		} else {
			for (unsigned int spins = 0;; spins++) {
				/* R2: pairs with W1. */
				s = __atomic_load_n(&other->seq, __ATOMIC_ACQUIRE);
				t2 = rd(ordered);
				if (s >= seq)
					break;
				if ((spins & 1023) == 1023 && should_stop(x, k))
					return;
				cpu_relax();
			}
			__atomic_store_n(&mine->t, t2, __ATOMIC_RELAXED);
			/* W2: pairs with R1. */
			__atomic_store_n(&mine->seq, seq, __ATOMIC_RELEASE);
		}
	}
}

static bool pin_self(int cpu)
{
	size_t sz = CPU_ALLOC_SIZE((size_t)cpu + 1);
	cpu_set_t *set = CPU_ALLOC((size_t)cpu + 1);
	bool ok;

	if (!set)
		return false;
	CPU_ZERO_S(sz, set);
	CPU_SET_S((size_t)cpu, sz, set);
	/* Returns once we run on cpu; check anyway (hotplug races). */
	ok = pthread_setaffinity_np(pthread_self(), sz, set) == 0 && sched_getcpu() == cpu;
	CPU_FREE(set);
	return ok;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = {(time_t)(t / RTR_NSEC_PER_SEC), (long)(t % RTR_NSEC_PER_SEC)};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/*
 * Both workers follow the same sequence of barriers; worker 0 alone takes
 * every decision (pair deadline, whether to run another burst, with which
 * read, when) and publishes it before a barrier, so the two never disagree.
 * Each burst starts with both asleep until the same instant: a waking thread
 * preempts a CPU hog, so the burst runs with both workers on their CPUs even
 * on a saturated machine (spinning instead locks the pair in anti-phase with
 * the hogs: round trips of a whole time slice).
 */
static void *worker_main(void *arg)
{
	struct worker *me = arg;
	struct ctx *x = me->x;
	int w = me->w;
	uint64_t phase = 0;
	unsigned int per_kind = (x->rounds + BURST_ROUNDS - 1) / BURST_ROUNDS;
	unsigned int nbursts = per_kind * (x->ordered_only ? 1 : K_COUNT);

	/* Wake at the requested instant, not up to 50 us later: both workers
	 * must come back together. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	for (size_t k = 0; k < x->npairs; k++) {
		int cpu = w == 0 ? x->pairs[k].a : x->pairs[k].b;
		bool both;

		__atomic_store_n(&x->okay[w].seq, pin_self(cpu) ? k + 1 : 0, __ATOMIC_RELAXED);
		if (w == 0) {
			uint64_t now = clock_ns(CLOCK_MONOTONIC);
			uint64_t left = x->deadline > now ? x->deadline - now : 0;

			__atomic_store_n(&x->pair_deadline, now + left / (x->npairs - k),
					 __ATOMIC_RELAXED);
		}
		if (!barrier(x, w, ++phase))
			return NULL;
		both = __atomic_load_n(&x->okay[0].seq, __ATOMIC_RELAXED) == k + 1 &&
		       __atomic_load_n(&x->okay[1].seq, __ATOMIC_RELAXED) == k + 1;
		for (unsigned int b = 0;; b++) {
			unsigned int n = BURST_ROUNDS;

			if (w == 0) {
				uint64_t now = clock_ns(CLOCK_MONOTONIC);
				bool go = both && b < nbursts &&
					  now + BURST_GAP_NS < x->pair_deadline &&
					  __atomic_load_n(&x->stop_pair, __ATOMIC_RELAXED) !=
					      (int)(k + 1);

				__atomic_store_n(&x->go, go, __ATOMIC_RELAXED);
				__atomic_store_n(&x->wake_at, now + BURST_GAP_NS, __ATOMIC_RELAXED);
				/* Alternate kinds so both see the same conditions. */
				__atomic_store_n(&x->kind,
						 x->ordered_only ? K_ORDERED : (int)(b & 1),
						 __ATOMIC_RELAXED);
			}
			if (!barrier(x, w, ++phase))
				return NULL;
			if (!__atomic_load_n(&x->go, __ATOMIC_RELAXED))
				break;
			sleep_until(__atomic_load_n(&x->wake_at, __ATOMIC_RELAXED));
			if (!barrier(x, w, ++phase))
				return NULL;
			if ((b / (x->ordered_only ? 1 : K_COUNT) + 1) * BURST_ROUNDS > x->rounds)
				n = x->rounds -
				    (b / (x->ordered_only ? 1 : K_COUNT)) * BURST_ROUNDS;
			if (__atomic_load_n(&x->kind, __ATOMIC_RELAXED) == K_ORDERED)
				run_burst(x, w, k, b, n, true);
			else
				run_burst(x, w, k, b, n, false);
		}
	}
	return NULL;
}

static uint64_t absu(int64_t v)
{
	return v < 0 ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
}

/* Largest |d| over one kind's brackets, and where it came from. */
struct kind_result {
	uint64_t bound;
	int a, b;
	int64_t lo, hi;
	uint64_t rtt_min; /* worst pair's best round trip */
	unsigned int measured;
};

static void consider(struct kind_result *kr, int a, int b, int64_t lo, int64_t hi)
{
	uint64_t bnd = absu(lo) > absu(hi) ? absu(lo) : absu(hi);

	if (bnd > kr->bound || kr->a < 0) {
		kr->bound = bnd;
		kr->a = a;
		kr->b = b;
		kr->lo = lo;
		kr->hi = hi;
	}
}

/*
 * All pairs: the bound is the worst pair's. First-vs-each: offsets d_c of
 * each CPU against the first (d_first = 0), and the bound covers every pair
 * of CPUs through d_j - d_i in [lo_j - hi_i, hi_j - lo_i].
 */
static int combine(struct ctx *x, const struct pair *pairs, size_t np, int first_cpu,
		   bool all_pairs, int kind, struct kind_result *kr, unsigned int *rounds)
{
	int64_t *lo = NULL, *hi = NULL;
	int *cpu = NULL;
	size_t m = 1;

	memset(kr, 0, sizeof(*kr));
	kr->a = kr->b = -1;
	if (!all_pairs) {
		lo = calloc(np + 1, sizeof(*lo));
		hi = calloc(np + 1, sizeof(*hi));
		cpu = calloc(np + 1, sizeof(*cpu));
		if (!lo || !hi || !cpu) {
			free(lo);
			free(hi);
			free(cpu);
			return -ENOMEM;
		}
		cpu[0] = first_cpu;
	}
	for (size_t k = 0; k < np; k++) {
		struct acc *a0 = acc_of(x, k, 0, kind), *a1 = acc_of(x, k, 1, kind);
		int64_t l = a0->lo > a1->lo ? a0->lo : a1->lo;
		int64_t h = a0->hi < a1->hi ? a0->hi : a1->hi;
		uint64_t rtt = a0->rtt_min < a1->rtt_min ? a0->rtt_min : a1->rtt_min;

		*rounds += a0->rounds + a1->rounds;
		if (!a0->rounds || !a1->rounds)
			continue;
		kr->measured++;
		if (rtt > kr->rtt_min)
			kr->rtt_min = rtt;
		if (all_pairs) {
			consider(kr, pairs[k].a, pairs[k].b, l, h);
		} else {
			lo[m] = l;
			hi[m] = h;
			cpu[m++] = pairs[k].b;
		}
	}
	if (!all_pairs) {
		struct rtr__clock_star st;

		rtr__clock_skew_star(lo, hi, m, &st);
		if (st.i >= 0)
			consider(kr, cpu[st.i], cpu[st.j], st.lo, st.hi);
		free(lo);
		free(hi);
		free(cpu);
	}
	return 0;
}

void rtr__clock_skew_star(const int64_t *lo, const int64_t *hi, size_t m,
			  struct rtr__clock_star *out)
{
	out->i = out->j = -1;
	out->lo = out->hi = 0;
	out->bound = 0;
	for (size_t i = 0; i < m; i++)
		for (size_t j = i + 1; j < m; j++) {
			/* d_j - d_i in [lo_j - hi_i, hi_j - lo_i] */
			int64_t l = lo[j] - hi[i], h = hi[j] - lo[i];
			uint64_t bnd = absu(l) > absu(h) ? absu(l) : absu(h);

			if (bnd > out->bound || out->i < 0) {
				out->i = (int)i;
				out->j = (int)j;
				out->lo = l;
				out->hi = h;
				out->bound = bnd;
			}
		}
}

static void sleep_ns(uint64_t ns)
{
	struct timespec req = {(time_t)(ns / RTR_NSEC_PER_SEC), (long)(ns % RTR_NSEC_PER_SEC)};

	while (nanosleep(&req, &req) != 0 && errno == EINTR)
		;
}

/* CPUs we may run on, in order. Returns the count, or a negative errno. */
static long usable_cpus(int **out, unsigned int *skipped)
{
	long nconf = sysconf(_SC_NPROCESSORS_CONF), online = sysconf(_SC_NPROCESSORS_ONLN), n = 0;
	cpu_set_t *mask;
	size_t setsize;
	int *cpus;

	if (nconf < CPU_SETSIZE)
		nconf = CPU_SETSIZE; /* the kernel's mask may be wider than CONF */
	mask = CPU_ALLOC((size_t)nconf);
	cpus = calloc((size_t)nconf, sizeof(*cpus));
	if (!mask || !cpus) {
		if (mask)
			CPU_FREE(mask);
		free(cpus);
		return -ENOMEM;
	}
	setsize = CPU_ALLOC_SIZE((size_t)nconf);
	CPU_ZERO_S(setsize, mask);
	if (sched_getaffinity(0, setsize, mask) != 0) {
		long e = -errno;

		CPU_FREE(mask);
		free(cpus);
		return e;
	}
	for (long c = 0; c < nconf; c++)
		if (CPU_ISSET_S((size_t)c, setsize, mask))
			cpus[n++] = (int)c;
	CPU_FREE(mask);
	*skipped = online > n ? (unsigned int)(online - n) : 0;
	*out = cpus;
	return n;
}

int rtr_clock_measure_skew(const struct rtr_clock_skew_opts *opts, struct rtr_clock_skew *out)
{
	struct rtr_clock_skew_opts o = {0};
	struct kind_result kr[K_COUNT], *top;
	struct rtr_clock_sync s0;
	struct ctx *x = NULL;
	struct pair *pairs = NULL;
	struct worker wk[2];
	pthread_t th[2];
	int *usable = NULL;
	size_t nusable, np = 0;
	uint64_t start;
	unsigned int pairs_both;
	bool all_pairs;
	long nu;
	int r = 0;

	if (!out)
		return -EINVAL;
	if (opts)
		o = *opts;
	if (!o.rounds)
		o.rounds = DEFAULT_ROUNDS;
	memset(out, 0, sizeof(*out));
	out->source = rtr_clock_get_source();
	out->ordered = o.ordered;
	out->cpu_a = out->cpu_b = -1;
	start = clock_ns(CLOCK_MONOTONIC);
	rtr_clock_sync_take(&s0);

	nu = usable_cpus(&usable, &out->cpus_skipped);
	if (nu < 0) {
		r = (int)nu;
		goto out;
	}
	nusable = (size_t)nu;
	out->cpus_usable = (unsigned int)nusable;
	all_pairs = o.pairs == 1 || (o.pairs == 0 && nusable <= ALL_PAIRS_MAX);
	if (nusable >= 2) {
		pairs =
		    calloc(all_pairs ? nusable * (nusable - 1) / 2 : nusable - 1, sizeof(*pairs));
		if (!pairs) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nusable; i++)
			for (size_t j = i + 1; j < nusable; j++)
				if (all_pairs || i == 0)
					pairs[np++] = (struct pair){usable[i], usable[j]};
	}
	out->pairs_total = (unsigned int)np;
	if (np == 0)
		goto freq;
	if (!o.budget_ms)
		o.budget_ms = DEFAULT_BUDGET_MS + PAIR_BUDGET_MS * (unsigned int)np;

	if (posix_memalign((void **)&x, 128, sizeof(*x)) != 0) {
		x = NULL;
		r = -ENOMEM;
		goto out;
	}
	memset(x, 0, sizeof(*x));
	x->acc = calloc(2 * np * K_COUNT, sizeof(*x->acc));
	if (!x->acc) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < 2 * np * K_COUNT; i++) {
		x->acc[i].lo = INT64_MIN;
		x->acc[i].hi = INT64_MAX;
		x->acc[i].rtt_min = UINT64_MAX;
	}
	x->deadline = start + (uint64_t)o.budget_ms * 1000000u;
	x->rounds = o.rounds;
	x->ordered_only = o.ordered;
	x->npairs = np;
	x->pairs = pairs;
	for (int w = 0; w < 2; w++) {
		wk[w] = (struct worker){x, w};
		r = -pthread_create(&th[w], NULL, worker_main, &wk[w]);
		if (r) {
			if (w == 1) {
				__atomic_store_n(&x->abort, 1, __ATOMIC_RELAXED);
				pthread_join(th[0], NULL);
			}
			goto out;
		}
	}
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);

	for (int kind = 0; kind < K_COUNT; kind++) {
		r = combine(x, pairs, np, usable[0], all_pairs, kind, &kr[kind], &out->rounds_done);
		if (r)
			goto out;
	}
	if (o.ordered) {
		/* The tracer's read is the ordered one: one kind only. */
		kr[K_READ] = kr[K_ORDERED];
		pairs_both = kr[K_ORDERED].measured;
	} else {
		pairs_both = kr[K_READ].measured < kr[K_ORDERED].measured ? kr[K_READ].measured
									  : kr[K_ORDERED].measured;
	}
	out->read_bound = kr[K_READ].bound;
	out->ordered_bound = kr[K_ORDERED].bound;
	top = kr[K_READ].bound > kr[K_ORDERED].bound ? &kr[K_READ] : &kr[K_ORDERED];
	out->bound = top->bound;
	out->cpu_a = top->a;
	out->cpu_b = top->b;
	out->offset_lo = top->lo;
	out->offset_hi = top->hi;
	/* Round trips with unordered reads look short (reads run early), so
	 * judge co-running on the ordered ones. */
	out->rtt_min = kr[K_ORDERED].rtt_min;
	out->pairs_measured = pairs_both;
	out->complete = pairs_both == np;
	if (pairs_both == 0)
		r = -ETIMEDOUT;

freq:
	if (o.freq) {
		out->freq = o.freq;
	} else if (out->source == RTR_CLOCK_MONOTONIC) {
		out->freq = RTR_NSEC_PER_SEC;
	} else {
		uint64_t el = clock_ns(CLOCK_MONOTONIC) - start;
		struct rtr_clock_sync pts[2];
		struct rtr_clock_fit fit;

		if (el < MIN_FREQ_SPAN_NS)
			sleep_ns(MIN_FREQ_SPAN_NS - el);
		rtr_clock_sync_take(&pts[1]);
		pts[0] = s0;
		out->freq = rtr_clock_fit_sync(pts, 2, 0, &fit) == 0 ? fit.freq : 0;
	}
	out->bound_ns = out->bound ? rtr_clock_cycles_to_ns(out->bound, out->freq) : 0;
	out->read_bound_ns = rtr_clock_cycles_to_ns(out->read_bound, out->freq);
	out->ordered_bound_ns = rtr_clock_cycles_to_ns(out->ordered_bound, out->freq);
	out->rtt_min_ns = out->rtt_min ? rtr_clock_cycles_to_ns(out->rtt_min, out->freq) : 0;
	out->disturbed = out->pairs_measured && out->rtt_min_ns > DISTURBED_RTT_NS;
out:
	if (x)
		free(x->acc);
	free(x);
	free(pairs);
	free(usable);
	out->elapsed_ns = clock_ns(CLOCK_MONOTONIC) - start;
	return r;
}
