/* ring_bench: ns per reserve + write + commit of an 8-byte payload with a
 * 4-byte record header, per-CPU discard mode, a reader draining meanwhile
 * (woken by the writers through an eventfd when a sub-buffer fills).
 * Compares rseq and atomic synchronisation, a constant clock and the real
 * trace clock (rtr_clock_read: the TSC here),
 * one writer and two. Prints medians of several alternated runs as
 * `BENCH <name> <value> <unit>` lines: wall time per event, and the
 * writers' CPU time per event (cpu_ns_per_event: on a machine busy with
 * other work, what a before/after comparison should use).
 * Usage: ring_bench [events] [runs] */
#define _GNU_SOURCE
#include <poll.h>
#include <sys/eventfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/clock.h>
#include <ringtrace/ring.h>
#if defined(__x86_64__)
#include <x86intrin.h>
#endif

static inline uint64_t clock_const(void)
{
	return 1000;
}

/* The real trace clock (lib/clock): the TSC where it is invariant and the
 * kernel trusts it, else vDSO CLOCK_MONOTONIC. */
static inline uint64_t clock_tsc(void)
{
	return rtr_clock_read();
}

/* A CTF-like header: 4 bytes compact (5-bit id + 27-bit time), 13 when
 * extended. */
static inline size_t hdr_size(const struct rtr_ring_config *cfg, const struct rtr_ring_ctx *ctx)
{
	(void)cfg;
	return ctx->full_ts ? 13 : 4;
}

#define BENCH_CFG(name_, sync_, clock_)                                                  \
	static const struct rtr_ring_config name_ = {                                    \
		.alloc = RTR_RING_ALLOC_PER_CPU,                                         \
		.mode = RTR_RING_MODE_DISCARD,                                           \
		.sync = sync_,                                                           \
		.wakeup = RTR_RING_WAKEUP_WRITER,                                        \
		.ts_bits = 27,                                                           \
		.record_align = 1,                                                       \
		.subbuf_header_size = 64,                                                \
		.client_id = 0xbe7c,                                                     \
		.cb = {.clock_read = clock_, .record_header_size = hdr_size},            \
	}

BENCH_CFG(cfg_rseq_const, RTR_RING_SYNC_RSEQ, clock_const);
BENCH_CFG(cfg_rseq_tsc, RTR_RING_SYNC_RSEQ, clock_tsc);
BENCH_CFG(cfg_atomic_const, RTR_RING_SYNC_ATOMIC, clock_const);
BENCH_CFG(cfg_atomic_tsc, RTR_RING_SYNC_ATOMIC, clock_tsc);

/* One write: the inline fast path specialised for cfg. */
#define WRITE_ONE(cfg, chan, v)                                                          \
	do {                                                                             \
		struct rtr_ring_ctx ctx_ = {.payload_size = 8, .client_id = 1};         \
		if (rtr_likely(rtr_ring_reserve(cfg, chan, &ctx_) == 0)) {              \
			uint32_t h_ = (uint32_t)(ctx_.ts & 0x7ffffff) << 5 | 1u;        \
			uint64_t v_ = (v);                                              \
			if (rtr_unlikely(ctx_.full_ts)) {                               \
				memcpy(ctx_.wp, "\x1f", 1);                             \
				memcpy(ctx_.wp + 1, &h_, 4);                            \
				memcpy(ctx_.wp + 5, &ctx_.ts, 8);                       \
				memcpy(ctx_.wp + 13, &v_, 8);                           \
			} else {                                                        \
				memcpy(ctx_.wp, &h_, 4);                                \
				memcpy(ctx_.wp + 4, &v_, 8);                            \
			}                                                               \
			rtr_ring_commit(cfg, &ctx_);                                    \
		}                                                                       \
	} while (0)

/* The loops are separate functions so each is compiled with its config
 * folded in, as a client would be. */
#define DEFINE_LOOP(fn, cfg)                                                             \
	static __attribute__((noinline)) void fn(struct rtr_ring_chan *chan, uint64_t n) \
	{                                                                                \
		for (uint64_t i = 0; i < n; i++)                                         \
			WRITE_ONE(&cfg, chan, i);                                        \
	}

DEFINE_LOOP(loop_rseq_const, cfg_rseq_const)
DEFINE_LOOP(loop_rseq_tsc, cfg_rseq_tsc)
DEFINE_LOOP(loop_atomic_const, cfg_atomic_const)
DEFINE_LOOP(loop_atomic_tsc, cfg_atomic_tsc)

struct variant {
	const char *name;
	const struct rtr_ring_config *cfg;
	void (*loop)(struct rtr_ring_chan *, uint64_t);
};

static const struct variant variants[] = {
	{"rseq.const_clock", &cfg_rseq_const, loop_rseq_const},
	{"atomic.const_clock", &cfg_atomic_const, loop_atomic_const},
	{"rseq.trace_clock", &cfg_rseq_tsc, loop_rseq_tsc},
	{"atomic.trace_clock", &cfg_atomic_tsc, loop_atomic_tsc},
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct run {
	const struct variant *v;
	struct rtr_ring_chan *chan;
	uint64_t n;
	int cpu;
	pthread_barrier_t *start;
	int wake_fd;
	double t0, t1;
	double c0, c1; /* the writer thread's CPU time */
};

static _Atomic int reader_stop;

/* CPU time of the calling thread: time it ran, not time it waited for a
 * CPU (on a machine shared with other work, wall time mostly measures the
 * others). */
static double thread_cpu(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* The consumer a tracer would run: it sleeps until a writer signals a
 * filled sub-buffer (one eventfd shared by the buffers), then drains. */
static void *reader_main(void *arg)
{
	struct run *r = arg;
	struct rtr_ring_subbuf sb;
	struct pollfd pf = {.fd = r->wake_fd, .events = POLLIN};

	while (!atomic_load(&reader_stop)) {
		uint64_t v;

		if (poll(&pf, 1, 20) > 0 && read(r->wake_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another wakeup took it */
		}
		for (uint32_t b = 0; b < r->chan->nr_bufs; b++)
			while (rtr_ring_get_subbuf(r->v->cfg, r->chan->bufs[b], &sb) == 0)
				rtr_ring_put_subbuf(r->v->cfg, r->chan->bufs[b]);
	}
	return NULL;
}

static void *writer_main(void *arg)
{
	struct run *r = arg;
	cpu_set_t one;

	CPU_ZERO(&one);
	CPU_SET(r->cpu, &one);
	sched_setaffinity(0, sizeof(one), &one);
	r->v->loop(r->chan, 1000); /* warm caches and page tables */
	pthread_barrier_wait(r->start);
	r->t0 = now();
	r->c0 = thread_cpu();
	r->v->loop(r->chan, r->n);
	r->c1 = thread_cpu();
	r->t1 = now();
	return NULL;
}

/* Returns ns per event for one writer, or events/s for `writers` writers. */
static double run_once(const struct variant *v, int writers, uint64_t n, uint64_t *lost,
		       double *cpu_ns)
{
	uint32_t ncpu = (uint32_t)sysconf(_SC_NPROCESSORS_CONF);
	struct rtr_ring_geometry geo = {.subbuf_size = 1 << 20, .num_subbuf = 16};
	struct rtr_ring_chan *chan = rtr_ring_chan_alloc(ncpu);
	pthread_barrier_t start;
	pthread_t th[8], rd;
	struct run runs[8], reader;
	double t0 = 1e300, t1 = 0, result;

	int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

	if (wake_fd < 0) {
		perror("ring_bench: eventfd");
		exit(1);
	}
	for (uint32_t i = 0; i < ncpu; i++) {
		if (rtr_ring_buf_create(v->cfg, &geo, i, "bench", &chan->bufs[i])) {
			fprintf(stderr, "ring_bench: cannot create buffers\n");
			exit(1);
		}
		chan->bufs[i]->wake_fd = dup(wake_fd);
	}
	pthread_barrier_init(&start, NULL, (unsigned)writers);
	reader = (struct run){.v = v, .chan = chan, .wake_fd = wake_fd};
	atomic_store(&reader_stop, 0);
	pthread_create(&rd, NULL, reader_main, &reader);
	for (int w = 0; w < writers; w++) {
		runs[w] = (struct run){.v = v, .chan = chan, .n = n, .cpu = w % (int)ncpu, .start = &start};
		pthread_create(&th[w], NULL, writer_main, &runs[w]);
	}
	for (int w = 0; w < writers; w++) {
		pthread_join(th[w], NULL);
		if (runs[w].t0 < t0)
			t0 = runs[w].t0;
		if (runs[w].t1 > t1)
			t1 = runs[w].t1;
	}
	atomic_store(&reader_stop, 1);
	pthread_join(rd, NULL);
	*lost = 0;
	for (uint32_t i = 0; i < ncpu; i++) {
		*lost += rtr_ring_buf_lost(chan->bufs[i]);
		rtr_ring_buf_destroy(chan->bufs[i]);
	}
	rtr_ring_chan_free(chan);
	close(wake_fd);
	pthread_barrier_destroy(&start);
	*cpu_ns = 0;
	for (int w = 0; w < writers; w++)
		*cpu_ns += (runs[w].c1 - runs[w].c0) * 1e9 / (double)n / writers;
	if (writers == 1)
		result = (runs[0].t1 - runs[0].t0) * 1e9 / (double)n;
	else
		result = (double)n * writers / (t1 - t0);
	return result;
}

/* ns per event of one writer whose buffer is full (discard mode, no
 * reader): every record is refused and counted. What a traced program pays
 * per event while its tracer cannot keep up; set against run_once's ns per
 * recorded event. Exits if any of the n records was not counted lost. */
static double run_full(const struct variant *v, uint64_t n, double *cpu_ns)
{
	uint32_t ncpu = (uint32_t)sysconf(_SC_NPROCESSORS_CONF);
	struct rtr_ring_geometry geo = {.subbuf_size = 1 << 16, .num_subbuf = 4};
	struct rtr_ring_chan *chan = rtr_ring_chan_alloc(ncpu);
	cpu_set_t one;
	uint64_t lost0 = 0, lost1 = 0;
	double t0, t1, c0, c1;

	for (uint32_t i = 0; i < ncpu; i++)
		if (rtr_ring_buf_create(v->cfg, &geo, i, "bench", &chan->bufs[i])) {
			fprintf(stderr, "ring_bench: cannot create buffers\n");
			exit(1);
		}
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	sched_setaffinity(0, sizeof(one), &one);
	/* fill it: 4 x 64 KiB hold fewer than 2^16 12-byte records */
	v->loop(chan, 1u << 16);
	for (uint32_t i = 0; i < ncpu; i++)
		lost0 += rtr_ring_buf_lost(chan->bufs[i]);
	if (lost0 == 0) {
		fprintf(stderr, "ring_bench: the buffer did not fill\n");
		exit(1);
	}
	t0 = now();
	c0 = thread_cpu();
	v->loop(chan, n);
	c1 = thread_cpu();
	t1 = now();
	for (uint32_t i = 0; i < ncpu; i++) {
		lost1 += rtr_ring_buf_lost(chan->bufs[i]);
		rtr_ring_buf_destroy(chan->bufs[i]);
	}
	rtr_ring_chan_free(chan);
	CPU_ZERO(&one);
	for (int i = 0; i < (int)ncpu; i++)
		CPU_SET(i, &one);
	sched_setaffinity(0, sizeof(one), &one);
	if (lost1 - lost0 != n) {
		fprintf(stderr, "ring_bench: %llu of %llu records counted lost in a full buffer\n",
			(unsigned long long)(lost1 - lost0), (unsigned long long)n);
		exit(1);
	}
	*cpu_ns = (c1 - c0) * 1e9 / (double)n;
	return (t1 - t0) * 1e9 / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double rdtsc_cost(uint64_t n)
{
	double t0 = now();
	uint64_t acc = 0;

	for (uint64_t i = 0; i < n; i++)
#if defined(__x86_64__)
		acc += __rdtsc();
#else
		acc += clock_tsc();
#endif
	__asm__ __volatile__("" ::"r"(acc));
	return (now() - t0) * 1e9 / (double)n;
}

int main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000000ull;
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	const int nv = (int)(sizeof(variants) / sizeof(variants[0]));
	double one[8][16], two[8][16], cpu1[8][16], cpu2[8][16], tsc[16];
	double full[8][16], cpuf[8][16];
	uint64_t lost, lost_total = 0;
	int ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);

	if (runs > 16)
		runs = 16;
	rtr_clock_init(NULL);
	printf("# trace clock source: %s\n", rtr_clock_source_name(rtr_clock_get_source()));
	if (!rtr_rseq_registered()) {
		fprintf(stderr, "ring_bench: rseq is not registered by glibc here\n");
		return 1;
	}
	printf("# ring_bench: %llu events per writer, %d runs, median reported, %d CPUs\n",
	       (unsigned long long)n, runs, ncpu);
	for (int r = 0; r < runs; r++) {
		tsc[r] = rdtsc_cost(n);
		for (int i = 0; i < nv; i++) {
			one[i][r] = run_once(&variants[i], 1, n, &lost, &cpu1[i][r]);
			lost_total += lost;
			full[i][r] = run_full(&variants[i], n, &cpuf[i][r]);
			cpu2[i][r] = 0;
			two[i][r] = ncpu >= 2 ? run_once(&variants[i], 2, n, &lost, &cpu2[i][r]) : 0;
			lost_total += lost;
		}
	}
	printf("BENCH ring.rdtsc_alone %.2f ns\n", median(tsc, runs));
	for (int i = 0; i < nv; i++) {
		double m1 = median(one[i], runs), m2 = median(two[i], runs);
		double tput1 = 1e9 / m1;

		printf("BENCH ring.ns_per_event.%s.1w %.2f ns\n", variants[i].name, m1);
		/* the writer's CPU time per event: what to compare on a busy machine */
		printf("BENCH ring.cpu_ns_per_event.%s.1w %.2f ns\n", variants[i].name,
		       median(cpu1[i], runs));
		/* the discard path (buffer full) against the record path */
		printf("BENCH ring.ns_per_discard.%s.1w %.2f ns\n", variants[i].name,
		       median(full[i], runs));
		printf("BENCH ring.cpu_ns_per_discard.%s.1w %.2f ns\n", variants[i].name,
		       median(cpuf[i], runs));
		printf("BENCH ring.ratio.discard_vs_record.%s %.2f ratio\n", variants[i].name,
		       median(cpuf[i], runs) / median(cpu1[i], runs));
		if (ncpu >= 2) {
			printf("BENCH ring.events_per_s.%s.2w %.0f events/s\n", variants[i].name, m2);
			printf("BENCH ring.scaling.%s.2w_vs_1w %.2f ratio\n", variants[i].name,
			       m2 / tput1);
			printf("BENCH ring.cpu_ns_per_event.%s.2w %.2f ns\n", variants[i].name,
			       median(cpu2[i], runs));
		}
	}
	{
		double rc = median(one[0], runs), ac = median(one[1], runs);
		double rt = median(one[2], runs), at = median(one[3], runs);

		printf("BENCH ring.ratio.atomic_vs_rseq.const_clock %.2f ratio\n", ac / rc);
		printf("BENCH ring.ratio.atomic_vs_rseq.trace_clock %.2f ratio\n", at / rt);
		printf("BENCH ring.trace_clock_path_minus_rdtsc %.2f ns\n", rt - median(tsc, runs));
	}
	printf("BENCH ring.records_lost %llu records\n", (unsigned long long)lost_total);
	return 0;
}
