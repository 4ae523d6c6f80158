/* Stress tests of the ring buffer: many writer threads (more than CPUs) and
 * a concurrent reader verify every record; signal-handler nesting under
 * load; a writer process SIGKILLed at random points; a hostile process
 * scribbling over the shared control area. Usage: stress_ring <scenario>. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtr_test.h"
#include "ring_test_client.h"

TC_CONFIG(cfg_rseq, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_atomic, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_global, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_ow_rseq, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_ow_atomic, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC, 27);

#define MAX_WRITERS 64
#define MAX_SEQ     (1u << 22)

static const struct rtr_ring_config *cfg;
static struct rtr_ring_chan *chan;
static uint32_t nbufs;
static _Atomic int stop_writers;
static double run_seconds = 3.0;

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void setup_chan(const struct rtr_ring_config *c, uint64_t sb_size, uint32_t nsb)
{
	struct rtr_ring_geometry geo = {.subbuf_size = sb_size, .num_subbuf = nsb};

	cfg = c;
	nbufs = c->alloc == RTR_RING_ALLOC_GLOBAL ? 1 : (uint32_t)sysconf(_SC_NPROCESSORS_CONF);
	chan = rtr_ring_chan_alloc(nbufs);
	REQUIRE(chan);
	for (uint32_t i = 0; i < nbufs; i++)
		REQUIRE(rtr_ring_buf_create(c, &geo, i, "stress", &chan->bufs[i]) == 0);
}

static void teardown_chan(void)
{
	for (uint32_t i = 0; i < nbufs; i++)
		rtr_ring_buf_destroy(chan->bufs[i]);
	rtr_ring_chan_free(chan);
}

/* ------------------------------------------------------------------------
 * Verification state: what each writer produced, what the reader got.
 * ------------------------------------------------------------------------ */

struct writer_log {
	uint64_t produced;       /* attempts (each has a seq) */
	uint64_t lost;           /* attempts the ring refused */
	uint8_t *ok;             /* 1 = committed, by seq */
	uint8_t *seen;           /* times the reader saw it */
	uint64_t last_seq[1024]; /* per buffer: last seq seen + 1 */
};

static struct writer_log wlog[MAX_WRITERS];
static uint64_t bad_records, order_errors, dup_records, packets_read, records_read;

static void log_init(int n)
{
	for (int w = 0; w < n; w++) {
		wlog[w].ok = calloc(MAX_SEQ, 1);
		wlog[w].seen = calloc(MAX_SEQ, 1);
		REQUIRE(wlog[w].ok && wlog[w].seen);
	}
}

static void log_free(int n)
{
	for (int w = 0; w < n; w++) {
		free(wlog[w].ok);
		free(wlog[w].seen);
		memset(&wlog[w], 0, sizeof(wlog[w]));
	}
	bad_records = order_errors = dup_records = packets_read = records_read = 0;
}

struct walk_ctx {
	uint32_t buf;
	int nwriters;
};

static void on_record(void *arg, const struct tc_record *r)
{
	struct walk_ctx *wc = arg;
	struct writer_log *l;

	if (r->writer >= (uint32_t)wc->nwriters || r->seq >= MAX_SEQ) {
		bad_records++;
		return;
	}
	l = &wlog[r->writer];
	if (l->seen[r->seq]++)
		dup_records++;
	/* Per (writer, buffer), sequence numbers strictly increase. */
	if (r->seq + 1 <= l->last_seq[wc->buf])
		order_errors++;
	l->last_seq[wc->buf] = r->seq + 1;
	records_read++;
}

/* Reads every available sub-buffer of every buffer. Returns packets read. */
static long read_all(int nwriters, uint64_t *next_pkt_seq)
{
	long n = 0;

	for (uint32_t b = 0; b < nbufs; b++) {
		struct rtr_ring_subbuf sb;
		struct walk_ctx wc = {.buf = b, .nwriters = nwriters};

		while (rtr_ring_get_subbuf(cfg, chan->bufs[b], &sb) == 0) {
			const char *why = "";

			if (tc_walk(&sb, on_record, &wc, &why) < 0) {
				fprintf(stderr, "buffer %u packet %llu: %s\n", b,
					(unsigned long long)sb.info.seq, why);
				bad_records++;
			}
			if (next_pkt_seq && cfg->mode == RTR_RING_MODE_DISCARD) {
				if (sb.info.seq != next_pkt_seq[b])
					order_errors++;
				next_pkt_seq[b] = sb.info.seq + 1;
			}
			rtr_ring_put_subbuf(cfg, chan->bufs[b]);
			n++;
			packets_read++;
		}
	}
	return n;
}

/* Checks the books: every committed record seen exactly once, every refused
 * one never, produced == seen + lost, ring counters agree. */
static void check_books(int nwriters, const char *what)
{
	uint64_t total_lost = 0, total_ok = 0, ring_lost = 0, ring_records = 0;

	for (int w = 0; w < nwriters; w++) {
		struct writer_log *l = &wlog[w];
		uint64_t seen = 0, missing = 0, phantom = 0;

		for (uint64_t s = 0; s < l->produced; s++) {
			if (l->ok[s] && l->seen[s])
				seen++;
			else if (l->ok[s])
				missing++;
			else if (l->seen[s])
				phantom++;
		}
		if (missing || phantom || seen + l->lost != l->produced)
			RTR_TEST_FAIL_("%s writer %d: produced %llu seen %llu lost %llu missing %llu phantom %llu",
				       what, w, (unsigned long long)l->produced,
				       (unsigned long long)seen, (unsigned long long)l->lost,
				       (unsigned long long)missing, (unsigned long long)phantom);
		total_lost += l->lost;
		total_ok += l->produced - l->lost;
	}
	for (uint32_t b = 0; b < nbufs; b++) {
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(chan->bufs[b], &st);
		ring_lost += st.lost_full + st.lost_wrap + st.lost_big + st.refused_nest + st.lost_nobuf;
		ring_records += st.records;
	}
	ring_lost += atomic_load(&chan->lost_nobuf);
	CHECK_EQ_U64(ring_lost, total_lost);
	CHECK_EQ_U64(ring_records, total_ok);
	CHECK_EQ_U64(bad_records, 0);
	CHECK_EQ_U64(order_errors, 0);
	CHECK_EQ_U64(dup_records, 0);
	printf("%s: %d writers, %llu records read in %llu packets, %llu lost (counted)\n", what,
	       nwriters, (unsigned long long)records_read, (unsigned long long)packets_read,
	       (unsigned long long)total_lost);
}

/* ------------------------------------------------------------------------
 * Discard mode: N writers, concurrent reader with periodic flushes.
 * ------------------------------------------------------------------------ */

static void *writer_main(void *arg)
{
	int w = (int)(intptr_t)arg;
	struct writer_log *l = &wlog[w];
	uint64_t rng = 0x9e3779b97f4a7c15ull * (uint64_t)(w + 1);

	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed) && l->produced < MAX_SEQ) {
		uint32_t len = 24 + (uint32_t)(rng_next(&rng) % 200);
		uint64_t seq = l->produced++;

		if (tc_write(cfg, chan, (uint32_t)w, seq, len) == 0)
			l->ok[seq] = 1;
		else
			l->lost++;
		if ((seq & 255) == 0)
			sched_yield(); /* more migrations and interleavings */
	}
	return NULL;
}

static void run_discard(const struct rtr_ring_config *c, const char *name, int nwriters,
			uint64_t sb_size, uint32_t nsb)
{
	pthread_t th[MAX_WRITERS];
	uint64_t *pkt_seq;
	double t0;

	setup_chan(c, sb_size, nsb);
	log_init(nwriters);
	pkt_seq = calloc(nbufs, sizeof(*pkt_seq));
	atomic_store(&stop_writers, 0);
	for (int w = 0; w < nwriters; w++)
		REQUIRE(pthread_create(&th[w], NULL, writer_main, (void *)(intptr_t)w) == 0);
	t0 = now_s();
	while (now_s() - t0 < run_seconds) {
		read_all(nwriters, pkt_seq);
		for (uint32_t b = 0; b < nbufs; b++)
			rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, false);
		usleep(500);
	}
	atomic_store(&stop_writers, 1);
	for (int w = 0; w < nwriters; w++)
		pthread_join(th[w], NULL);
	for (uint32_t b = 0; b < nbufs; b++)
		CHECK(rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, true) == 0);
	read_all(nwriters, pkt_seq);
	check_books(nwriters, name);
	free(pkt_seq);
	log_free(nwriters);
	teardown_chan();
}

/* ------------------------------------------------------------------------
 * Overwrite mode: writers never stop; snapshots taken meanwhile must hold
 * only intact records with per-writer sequences increasing in each buffer.
 * ------------------------------------------------------------------------ */

static void *ow_writer_main(void *arg)
{
	int w = (int)(intptr_t)arg;
	uint64_t rng = 0x2545f4914f6cdd1dull * (uint64_t)(w + 1), seq = 0;

	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed)) {
		uint32_t len = 24 + (uint32_t)(rng_next(&rng) % 300);

		if (tc_write(cfg, chan, (uint32_t)w, seq, len) == 0)
			seq++;
		if ((seq & 1023) == 0)
			sched_yield();
	}
	return NULL;
}

struct snapctx {
	uint64_t *last;
	long n;
	long bad;
};

static void on_snap(void *a, const struct tc_record *r)
{
	struct snapctx *sc = a;

	if (r->writer >= MAX_WRITERS) {
		sc->bad++;
		return;
	}
	if (sc->last[r->writer] && r->seq + 1 <= sc->last[r->writer])
		sc->bad++;
	sc->last[r->writer] = r->seq + 1;
	sc->n++;
}

static void run_overwrite(const struct rtr_ring_config *c, const char *name, int nwriters)
{
	pthread_t th[MAX_WRITERS];
	long snapshots = 0, packets = 0, records = 0;
	double t0;

	setup_chan(c, 8192, 8);
	atomic_store(&stop_writers, 0);
	for (int w = 0; w < nwriters; w++)
		REQUIRE(pthread_create(&th[w], NULL, ow_writer_main, (void *)(intptr_t)w) == 0);
	t0 = now_s();
	while (now_s() - t0 < run_seconds) {
		for (uint32_t b = 0; b < nbufs; b++) {
			struct rtr_ring_buf *buf = chan->bufs[b];
			struct rtr_ring_subbuf sb;
			uint64_t last[MAX_WRITERS] = {0}, prev_pkt = 0;
			bool first = true;

			rtr_ring_flush(cfg, buf, RTR_RING_FLUSH_ACTIVE, false);
			if (rtr_ring_snapshot_start(cfg, buf) != 0) {
				RTR_TEST_FAIL_("%s: snapshot of buffer %u refused: %s", name, b,
					       rtr_ring_buf_error(buf));
				continue;
			}
			while (rtr_ring_get_subbuf(cfg, buf, &sb) == 0) {
				struct snapctx sc = {last, 0, 0};
				const char *why = "";

				if (!first && sb.info.seq <= prev_pkt)
					RTR_TEST_FAIL_("%s: packet seq %llu after %llu", name,
						       (unsigned long long)sb.info.seq,
						       (unsigned long long)prev_pkt);
				first = false;
				prev_pkt = sb.info.seq;
				if (tc_walk(&sb, on_snap, &sc, &why) < 0)
					RTR_TEST_FAIL_("%s: snapshot of buffer %u: %s", name, b, why);
				if (sc.bad)
					RTR_TEST_FAIL_("%s: per-writer order broken in buffer %u", name, b);
				records += sc.n;
				packets++;
				rtr_ring_put_subbuf(cfg, buf);
			}
		}
		snapshots++;
		usleep(2000);
	}
	atomic_store(&stop_writers, 1);
	for (int w = 0; w < nwriters; w++)
		pthread_join(th[w], NULL);
	CHECK(snapshots > 5 && packets > 10);
	{
		uint64_t ow = 0;

		for (uint32_t b = 0; b < nbufs; b++)
		{
			struct rtr_ring_stats st;

			rtr_ring_buf_stats(chan->bufs[b], &st);
			ow += st.overwritten;
		}
		CHECK(ow > 0);
		printf("%s: %d writers, %ld snapshots, %ld packets, %ld records verified, %llu sub-buffers overwritten\n",
		       name, nwriters, snapshots, packets, records, (unsigned long long)ow);
	}
	teardown_chan();
}

/* ------------------------------------------------------------------------
 * Signal nesting: a thread keeps signalling the writers; the handlers
 * (two levels, SIGUSR2 may interrupt SIGUSR1's) write records too.
 * Writer ids: thread w -> w, its SIGUSR1 handler -> 16+w, SIGUSR2 -> 32+w.
 * ------------------------------------------------------------------------ */

static __thread int my_writer = -1;
static pthread_t sig_targets[16];
static int nsig_targets;

static void write_from_handler(int id)
{
	struct writer_log *l = &wlog[id];
	uint64_t seq = l->produced++;

	if (tc_write(cfg, chan, (uint32_t)id, seq, 24 + (uint32_t)(seq % 64)) == 0)
		l->ok[seq] = 1;
	else
		l->lost++;
}

static void on_usr1(int sig)
{
	(void)sig;
	if (my_writer >= 0)
		write_from_handler(16 + my_writer);
}

static void on_usr2(int sig)
{
	(void)sig;
	if (my_writer >= 0)
		write_from_handler(32 + my_writer);
}

static void *sig_writer_main(void *arg)
{
	int w = (int)(intptr_t)arg;
	struct writer_log *l = &wlog[w];
	sigset_t none;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	my_writer = w;
	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed) && l->produced < MAX_SEQ) {
		/* Block the handlers while updating our own books, not while
		 * writing: the record write itself is what gets interrupted. */
		uint64_t seq = l->produced;
		int r = tc_write(cfg, chan, (uint32_t)w, seq, 24 + (uint32_t)(seq % 128));

		l->produced++;
		if (r == 0)
			l->ok[seq] = 1;
		else
			l->lost++;
	}
	return NULL;
}

static void *signaller_main(void *arg)
{
	uint64_t rng = 12345, sent = 0;

	(void)arg;
	while (!atomic_load_explicit(&stop_writers, memory_order_relaxed)) {
		int t = (int)(rng_next(&rng) % (uint64_t)nsig_targets);

		pthread_kill(sig_targets[t], (rng_next(&rng) & 1) ? SIGUSR1 : SIGUSR2);
		if ((++sent & 15) == 0)
			sched_yield();
	}
	return NULL;
}

static void run_signals(const struct rtr_ring_config *c, const char *name)
{
	struct sigaction sa1 = {.sa_handler = on_usr1}, sa2 = {.sa_handler = on_usr2};
	pthread_t sigth;
	sigset_t block;
	int nw = 4;
	uint64_t *pkt_seq;
	double t0;

	sigemptyset(&sa1.sa_mask);
	sigemptyset(&sa2.sa_mask);
	sa1.sa_flags = SA_RESTART;
	sa2.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa1, NULL);
	sigaction(SIGUSR2, &sa2, NULL);
	/* Only the writers take the signals. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &block, NULL);

	setup_chan(c, 16384, 8);
	log_init(48);
	pkt_seq = calloc(nbufs, sizeof(*pkt_seq));
	atomic_store(&stop_writers, 0);
	nsig_targets = nw;
	for (int w = 0; w < nw; w++)
		REQUIRE(pthread_create(&sig_targets[w], NULL, sig_writer_main, (void *)(intptr_t)w) == 0);
	REQUIRE(pthread_create(&sigth, NULL, signaller_main, NULL) == 0);
	t0 = now_s();
	while (now_s() - t0 < run_seconds) {
		read_all(48, pkt_seq);
		for (uint32_t b = 0; b < nbufs; b++)
			rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, false);
		usleep(500);
	}
	atomic_store(&stop_writers, 1);
	pthread_join(sigth, NULL);
	for (int w = 0; w < nw; w++)
		pthread_join(sig_targets[w], NULL);
	for (uint32_t b = 0; b < nbufs; b++)
		rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, true);
	read_all(48, pkt_seq);
	{
		uint64_t from_handlers = 0;

		for (int w = 16; w < 48; w++)
			from_handlers += wlog[w].produced;
		CHECK(from_handlers > 100); /* the handlers did run and write */
		printf("%s: %llu records written from signal handlers\n", name,
		       (unsigned long long)from_handlers);
	}
	check_books(48, name);
	free(pkt_seq);
	log_free(48);
	teardown_chan();
	pthread_sigmask(SIG_UNBLOCK, &block, NULL);
}

/* ------------------------------------------------------------------------
 * Cross-process: a child maps the buffers from their fds and writes; the
 * parent reads concurrently, SIGKILLs the child at a random moment, then
 * salvages. Every record the child committed must be there (up to records
 * cut with a torn one, counted as dropped bytes), none torn.
 * ------------------------------------------------------------------------ */

struct shared_progress {
	_Atomic uint64_t committed[MAX_WRITERS]; /* seq+1 of the last committed record */
	_Atomic int ready;
	_Atomic uint8_t lost[][MAX_SEQ / 8];      /* per writer: bit set = refused */
};

static struct shared_progress *prog;
static size_t prog_size;

static void *crash_writer(void *arg)
{
	int w = (int)(intptr_t)arg;
	uint64_t rng = 0x51ed270b7f4a7c15ull * (uint64_t)(w + 7), seq = 0;

	for (;;) {
		uint32_t len = 24 + (uint32_t)(rng_next(&rng) % 160);

		if (tc_write(cfg, chan, (uint32_t)w, seq, len) == 0)
			atomic_store_explicit(&prog->committed[w], seq + 1, memory_order_release);
		else
			atomic_fetch_or(&prog->lost[w][seq / 8], (uint8_t)(1u << (seq % 8)));
		seq++;
		if (seq >= MAX_SEQ)
			pause();
	}
	return NULL;
}

static void child_writer(int nthreads, int *fds)
{
	struct rtr_ring_chan *mine = rtr_ring_chan_alloc(nbufs);
	pthread_t th[MAX_WRITERS];

	for (uint32_t b = 0; b < nbufs; b++)
		if (rtr_ring_buf_map(cfg, fds[b], &mine->bufs[b]) != 0)
			_exit(3);
	chan = mine;
	for (int w = 0; w < nthreads; w++)
		pthread_create(&th[w], NULL, crash_writer, (void *)(intptr_t)w);
	atomic_store(&prog->ready, 1);
	for (;;)
		pause();
}

static void run_crash(const struct rtr_ring_config *c, const char *name, int nthreads, int rounds)
{
	uint64_t rng = 0xc0ffee;
	uint64_t total_missing = 0, total_read = 0, truncated_packets = 0;

	for (int round = 0; round < rounds; round++) {
		int fds[1024];
		pid_t pid;
		uint64_t *pkt_seq, dropped = 0, budget_records;

		setup_chan(c, 8192, 64);
		log_init(nthreads);
		prog_size = sizeof(*prog) + (size_t)nthreads * (MAX_SEQ / 8);
		prog = mmap(NULL, prog_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		REQUIRE(prog != MAP_FAILED);
		for (uint32_t b = 0; b < nbufs; b++)
			fds[b] = chan->bufs[b]->fd;
		pkt_seq = calloc(nbufs, sizeof(*pkt_seq));
		pid = fork();
		REQUIRE(pid >= 0);
		if (pid == 0) {
			for (uint32_t b = 0; b < nbufs; b++)
				fds[b] = dup(fds[b]);
			child_writer(nthreads, fds);
		}
		while (!atomic_load(&prog->ready))
			usleep(100);
		{
			double t0 = now_s(), life = 0.02 + (double)(rng_next(&rng) % 200) / 1000.0;

			while (now_s() - t0 < life) {
				read_all(nthreads, pkt_seq);
				usleep(300);
			}
		}
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		for (uint32_t b = 0; b < nbufs; b++) {
			struct rtr_ring_stats st;

			CHECK(rtr_ring_salvage(cfg, chan->bufs[b]) == 0);
			rtr_ring_buf_stats(chan->bufs[b], &st);
			dropped += st.salvage_dropped_bytes;
		}
		read_all(nthreads, pkt_seq);
		/* Records cut with a torn one: at most dropped bytes / smallest slot. */
		budget_records = dropped / (4 + 24);
		if (dropped)
			truncated_packets++;
		for (int w = 0; w < nthreads; w++) {
			uint64_t committed = atomic_load(&prog->committed[w]);
			struct writer_log *l = &wlog[w];

			for (uint64_t s = 0; s < committed; s++)
				if (!l->seen[s] && !(atomic_load(&prog->lost[w][s / 8]) & (1u << (s % 8))))
					total_missing++;
			/* Beyond what it logged, at most one record per writer
			 * (committed, killed before logging it). */
			for (uint64_t s = committed + 1; s < MAX_SEQ && s < committed + 64; s++)
				if (l->seen[s])
					RTR_TEST_FAIL_("%s: writer %d record %llu seen beyond %llu", name,
						       w, (unsigned long long)s,
						       (unsigned long long)committed);
		}
		if (nthreads == 1 && total_missing)
			RTR_TEST_FAIL_("%s: single writer lost %llu committed records", name,
				       (unsigned long long)total_missing);
		if (total_missing > budget_records)
			RTR_TEST_FAIL_("%s: %llu committed records missing, only %llu could have been cut",
				       name, (unsigned long long)total_missing,
				       (unsigned long long)budget_records);
		total_read += records_read;
		CHECK_EQ_U64(bad_records, 0);
		CHECK_EQ_U64(order_errors, 0);
		CHECK_EQ_U64(dup_records, 0);
		total_missing = 0;
		munmap(prog, prog_size);
		free(pkt_seq);
		log_free(nthreads);
		teardown_chan();
	}
	printf("%s: %d rounds, %d writer thread(s), %llu records salvaged and verified, %llu rounds with a torn tail\n",
	       name, rounds, nthreads, (unsigned long long)total_read,
	       (unsigned long long)truncated_packets);
}

/* ------------------------------------------------------------------------
 * Hostile writer: a child process writes, then scribbles random values over
 * the shared control area; the reader must report errors and survive.
 * ------------------------------------------------------------------------ */

static void run_hostile(const struct rtr_ring_config *c, const char *name)
{
	int fds[1024];
	pid_t pid;
	long eio = 0, ok = 0;
	double t0;
	uint64_t rng = 0xbadc0de;

	setup_chan(c, 8192, 8);
	for (uint32_t b = 0; b < nbufs; b++)
		fds[b] = chan->bufs[b]->fd;
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		struct rtr_ring_chan *mine = rtr_ring_chan_alloc(nbufs);
		uint64_t seq = 0;
		double start = now_s();

		for (uint32_t b = 0; b < nbufs; b++)
			if (rtr_ring_buf_map(cfg, dup(fds[b]), &mine->bufs[b]) != 0)
				_exit(3);
		chan = mine;
		for (;;) {
			tc_write(cfg, chan, 0, seq, 24 + (uint32_t)(seq % 100));
			seq++;
			if (now_s() - start > 0.3) {
				/* Scribble: a random 8-byte word of a random
				 * buffer's control area. */
				uint32_t b = (uint32_t)(rng_next(&rng) % nbufs);
				uint64_t *words = (uint64_t *)mine->bufs[b]->ctl;
				size_t nw = (sizeof(struct rtr_ring_ctl) +
					     mine->bufs[b]->num_subbuf * sizeof(struct rtr_ring_sb)) / 8;
				size_t i = 8 + rng_next(&rng) % (nw - 8);

				words[i] = rng_next(&rng) >> (rng_next(&rng) % 64);
			}
		}
	}
	alarm(60);
	t0 = now_s();
	while (now_s() - t0 < run_seconds) {
		for (uint32_t b = 0; b < nbufs; b++) {
			struct rtr_ring_subbuf sb;
			int r;

			rtr_ring_flush(cfg, chan->bufs[b], RTR_RING_FLUSH_ACTIVE, false);
			while ((r = rtr_ring_get_subbuf(cfg, chan->bufs[b], &sb)) == 0) {
				const char *why = "";

				tc_walk(&sb, NULL, NULL, &why); /* garbage is fine, crashing is not */
				rtr_ring_put_subbuf(cfg, chan->bufs[b]);
				ok++;
			}
			if (r == -EIO)
				eio++;
			else
				CHECK(r == -EAGAIN);
		}
		usleep(200);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (uint32_t b = 0; b < nbufs; b++) {
		struct rtr_ring_subbuf sb;

		rtr_ring_salvage(cfg, chan->bufs[b]);
		while (rtr_ring_get_subbuf(cfg, chan->bufs[b], &sb) == 0)
			rtr_ring_put_subbuf(cfg, chan->bufs[b]);
		if (chan->bufs[b]->rd.failed)
			CHECK(strlen(rtr_ring_buf_error(chan->bufs[b])) > 0);
	}
	alarm(0);
	CHECK(eio > 0);
	for (uint32_t b = 0; b < nbufs; b++)
		if (chan->bufs[b]->rd.failed)
			printf("%s: reader reported: %s\n", name, rtr_ring_buf_error(chan->bufs[b]));
	printf("%s: %ld packets read before/around the damage, %ld -EIO reports, reader survived\n",
	       name, ok, eio);
	teardown_chan();
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int many = (int)(ncpu * 4 < 16 ? 16 : ncpu * 4);
	bool rseq = RTR_HAVE_RSEQ && rtr_rseq_registered();

	if (many > MAX_WRITERS)
		many = MAX_WRITERS;
	if (getenv("RTR_STRESS_SECONDS"))
		run_seconds = atof(getenv("RTR_STRESS_SECONDS"));
	if ((strstr(s, "rseq") || !strcmp(s, "hostile")) && !rseq) {
		printf("%s: rseq is not available here; running the atomic variant instead\n", s);
	}
	if (!strcmp(s, "discard-rseq"))
		run_discard(rseq ? &cfg_rseq : &cfg_atomic, s, many, 4096, 16);
	else if (!strcmp(s, "discard-rseq-tiny"))
		run_discard(rseq ? &cfg_rseq : &cfg_atomic, s, many, 4096, 2);
	else if (!strcmp(s, "discard-atomic"))
		run_discard(&cfg_atomic, s, many, 4096, 16);
	else if (!strcmp(s, "discard-global"))
		run_discard(&cfg_global, s, many, 8192, 8);
	else if (!strcmp(s, "overwrite-rseq"))
		run_overwrite(rseq ? &cfg_ow_rseq : &cfg_ow_atomic, s, many);
	else if (!strcmp(s, "overwrite-atomic"))
		run_overwrite(&cfg_ow_atomic, s, many);
	else if (!strcmp(s, "signals-rseq"))
		run_signals(rseq ? &cfg_rseq : &cfg_atomic, s);
	else if (!strcmp(s, "signals-atomic"))
		run_signals(&cfg_atomic, s);
	else if (!strcmp(s, "crash-rseq"))
		run_crash(rseq ? &cfg_rseq : &cfg_atomic, s, 4, 12);
	else if (!strcmp(s, "crash-rseq-single"))
		run_crash(rseq ? &cfg_rseq : &cfg_atomic, s, 1, 12);
	else if (!strcmp(s, "crash-atomic"))
		run_crash(&cfg_atomic, s, 4, 12);
	else if (!strcmp(s, "hostile"))
		run_hostile(rseq ? &cfg_rseq : &cfg_atomic, s);
	else {
		fprintf(stderr, "usage: stress_ring <scenario>\n");
		return 2;
	}
	return rtr_test_done(s);
}
