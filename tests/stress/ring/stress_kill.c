/* SIGKILL salvage loop (issue 11, "tests that would have caught these"): a
 * child process maps the buffers from their descriptors and writes with
 * several threads (forced migrations between reserve and commit, a signal
 * handler that writes too, so reservations nest), while the parent reads
 * (discard) or takes snapshots (overwrite); the parent SIGKILLs the child
 * at a random moment, salvages, reads everything, and checks every
 * salvaged record: intact (checksum), from a live writer and sequence it
 * really committed (the child logs each commit in shared memory), in its
 * buffer and packet's time range, in order, never twice. The books:
 *   read + overwritten_records <= committed (ring's count)
 *                              <= read + overwritten_records + cut,
 * where cut <= dropped bytes / smallest slot (records after a torn one in
 * its sub-buffer) + one per writer killed inside a commit (counted, bytes
 * not committed); a round with one writer and no handler loses nothing it
 * committed: committed <= read + overwritten_records + 1 (+1: the commit
 * the kill interrupted).
 *
 * usage: stress_kill discard|overwrite   (RTR_STRESS_SECONDS, default 3;
 * rounds alternate rseq and atomic sync and vary the geometry) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "rtr_test.h"
#include "stress_records.h"

TC_CONFIG(cfg_d_rseq, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_d_atomic, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_o_rseq, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ, 27);
TC_CONFIG(cfg_o_atomic, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC, 27);

#define MAX_THREADS 4
#define NIDS        (2 * MAX_THREADS) /* thread w writes as w, its handler as 4 + w */
#define MAX_SEQ     (1u << 20)
#define MIN_SLOT    (4u + SR_MIN_LEN)
#define MAX_BUFS    64u

/* Shared with the child (MAP_SHARED, inherited by fork). */
struct progress {
	_Atomic uint64_t committed[NIDS]; /* seq + 1 of the last record committed */
	_Atomic uint64_t attempted[NIDS]; /* seq + 1 of the last record tried */
	_Atomic int ready;
	_Atomic uint8_t refused[NIDS][MAX_SEQ / 8];
};

static const struct rtr_ring_config *cfg;
static struct rtr_ring_chan *chan;
static uint32_t nbufs;
static int cpus[2], ncpus;
static struct progress *prog;

/* ------------------------------------------------------------------------
 * Child
 * ------------------------------------------------------------------------ */

static __thread int my_id = -1;
static __thread uint64_t handler_seq;
static pthread_t child_threads[MAX_THREADS];
static int child_nthreads;

static int write_one(int id, uint64_t seq, uint64_t *rng, bool may_migrate)
{
	struct rtr_ring_ctx ctx = {.payload_size = SR_MIN_LEN + (uint32_t)(sr_rand(rng) % 300)};
	int r;

	if (sr_rand(rng) % 500 == 0)
		ctx.payload_size = 1500 + (uint32_t)(sr_rand(rng) % 2400);
	atomic_store_explicit(&prog->attempted[id], seq + 1, memory_order_release);
	r = rtr_ring_reserve(cfg, chan, &ctx);
	if (r) {
		atomic_fetch_or(&prog->refused[id][seq / 8], (uint8_t)(1u << (seq % 8)));
		return r;
	}
	sr_fill(&ctx, (uint32_t)id, seq);
	if (may_migrate && ncpus == 2 && sr_rand(rng) % 16 == 0) {
		int there = sched_getcpu() == cpus[0] ? cpus[1] : cpus[0];

		sr_allow(&there, 1);
	}
	rtr_ring_commit(cfg, &ctx);
	atomic_store_explicit(&prog->committed[id], seq + 1, memory_order_release);
	return 0;
}

static void on_usr1(int sig)
{
	uint64_t rng = 0x1234567ull + handler_seq * 31;

	(void)sig;
	if (my_id < 0 || handler_seq >= MAX_SEQ)
		return;
	write_one(MAX_THREADS + my_id, handler_seq++, &rng, false);
}

static void *child_writer(void *arg)
{
	int w = (int)(intptr_t)arg;
	uint64_t rng = 0x51ed270b7f4a7c15ull * (uint64_t)(w + 7) ^ (uint64_t)getpid();
	sigset_t none;

	sigemptyset(&none);
	pthread_sigmask(SIG_SETMASK, &none, NULL);
	my_id = w;
	for (uint64_t seq = 0; seq < MAX_SEQ; seq++) {
		write_one(w, seq, &rng, true);
		if (seq % 64 == 0)
			sr_allow(cpus, ncpus);
	}
	for (;;)
		pause();
	return NULL;
}

static void child_main(int *fds, int nthreads, bool signals)
{
	struct rtr_ring_chan *mine = rtr_ring_chan_alloc(nbufs);
	struct sigaction sa = {.sa_handler = on_usr1};
	sigset_t block;
	uint64_t rng = 99;

	if (!mine)
		_exit(3);
	for (uint32_t b = 0; b < nbufs; b++)
		if (rtr_ring_buf_map(cfg, fds[b], &mine->bufs[b]) != 0)
			_exit(3);
	chan = mine;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL); /* only the writers take it */
	child_nthreads = nthreads;
	for (int w = 0; w < nthreads; w++)
		if (pthread_create(&child_threads[w], NULL, child_writer, (void *)(intptr_t)w) != 0)
			_exit(3);
	atomic_store(&prog->ready, 1);
	for (;;) {
		if (signals)
			pthread_kill(child_threads[sr_rand(&rng) % (uint64_t)child_nthreads], SIGUSR1);
		usleep(50);
	}
}

/* ------------------------------------------------------------------------
 * Parent: read, kill, salvage, verify
 * ------------------------------------------------------------------------ */

static uint8_t *seen[NIDS];
static uint64_t last_seq[NIDS][MAX_BUFS], last_ts[MAX_BUFS], next_pkt[MAX_BUFS];
static uint64_t bad, dups, misplaced, disorder, phantoms, records_read, truncated;
/* Diagnostics: per buffer and sub-buffer, the last packet read (seq, records). */
#define DIAG_SB 8u
static uint64_t diag_seq[MAX_BUFS][DIAG_SB], diag_n[MAX_BUFS][DIAG_SB];
static uint32_t diag_flags[MAX_BUFS][DIAG_SB];

static void on_rec(void *arg, const struct rtr_ring_subbuf *sb, const struct sr_rec *r)
{
	uint32_t b = sb->info.cpu;

	(void)arg;
	if (r->h.writer >= NIDS || r->h.seq >= MAX_SEQ || b >= MAX_BUFS) {
		phantoms++;
		return;
	}
	if (seen[r->h.writer][r->h.seq]++)
		dups++;
	if (r->h.buf != b || r->h.ts < sb->info.begin_ts || r->h.ts > sb->info.end_ts)
		misplaced++;
	if (r->h.ts < last_ts[b] || r->h.seq + 1 <= last_seq[r->h.writer][b])
		disorder++;
	last_ts[b] = r->h.ts;
	last_seq[r->h.writer][b] = r->h.seq + 1;
	records_read++;
}

static void take_all(uint32_t b)
{
	struct rtr_ring_subbuf sb;

	while (rtr_ring_get_subbuf(cfg, chan->bufs[b], &sb) == 0) {
		const char *why = "";
		uint32_t idx = rtr_ring_sb_index(chan->bufs[b], sb.pos);
		long n;

		if ((n = sr_walk(&sb, on_rec, NULL, &why)) >= 0 && b < MAX_BUFS && idx < DIAG_SB) {
			diag_seq[b][idx] = sb.info.seq + 1;
			diag_n[b][idx] = (uint64_t)n;
			diag_flags[b][idx] = sb.info.flags;
		}
		if (n < 0) {
			fprintf(stderr, "buffer %u packet %llu (flags %#x): %s\n", b,
				(unsigned long long)sb.info.seq, sb.info.flags, why);
			bad++;
		}
		if (sb.info.flags & RTR_RING_PACKET_TRUNCATED)
			truncated++;
		if (sb.info.seq < next_pkt[b] ||
		    (cfg->mode == RTR_RING_MODE_DISCARD && sb.info.seq != next_pkt[b]))
			disorder++;
		next_pkt[b] = sb.info.seq + 1;
		CHECK(rtr_ring_put_subbuf(cfg, chan->bufs[b]) == 0);
	}
}

static void read_now(bool overwrite)
{
	for (uint32_t b = 0; b < nbufs; b++) {
		if (overwrite && rtr_ring_snapshot_start(cfg, chan->bufs[b]) != 0)
			continue;
		take_all(b);
	}
}

/* Where the books do not close: each sub-buffer's current lap, what its
 * counters say and what the reader got from it. */
static void dump(const struct rtr_ring_geometry *geo)
{
	for (uint32_t b = 0; b < nbufs; b++) {
		struct rtr_ring_ctl *ctl = chan->bufs[b]->ctl;
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(chan->bufs[b], &st);
		fprintf(stderr, "buffer %u: pos %llu records %llu ow %llu (%llu sb) dropped %llu wrap %llu\n",
			b, (unsigned long long)st.produced, (unsigned long long)st.records,
			(unsigned long long)st.overwritten_records,
			(unsigned long long)st.overwritten,
			(unsigned long long)st.salvage_dropped_bytes,
			(unsigned long long)st.lost_wrap);
		for (uint32_t i = 0; i < geo->num_subbuf && i < DIAG_SB; i++) {
			struct rtr_ring_sb *sb = &ctl->sb[i];
			uint64_t recs = atomic_load(&sb->records_local) + atomic_load(&sb->records_remote);
			uint64_t base = atomic_load(&sb->lap_records);
			uint64_t id = atomic_load(&sb->wsb_id);

			fprintf(stderr,
				"  sb %u: tag %llu phys %u cc %llu records %llu base %llu%s -> lap %llu; "
				"last read packet %lld (%llu records, flags %#x) end_pos %llu ds %llu mark %llu\n",
				i, (unsigned long long)(id >> 32), (uint32_t)id,
				(unsigned long long)(atomic_load(&sb->cc_local) + atomic_load(&sb->cc_remote)),
				(unsigned long long)recs,
				(unsigned long long)(base & ~RTR_RING_LAP_READ),
				(base & RTR_RING_LAP_READ) ? " READ" : "",
				(unsigned long long)(recs - (base & ~RTR_RING_LAP_READ)),
				(long long)diag_seq[b][i] - 1, (unsigned long long)diag_n[b][i],
				diag_flags[b][i], (unsigned long long)atomic_load(&sb->end_pos),
				(unsigned long long)atomic_load(&sb->data_size),
				(unsigned long long)atomic_load(&sb->commit_mark));
		}
	}
}

struct totals {
	uint64_t rounds, single_rounds, committed, read, overwritten, dropped_bytes, cut_max;
	uint64_t truncated;
};

static void run_round(const struct rtr_ring_config *c, uint64_t *rng, struct totals *t)
{
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 2u << (sr_rand(rng) % 3)};
	bool overwrite = c->mode == RTR_RING_MODE_OVERWRITE;
	bool single = t->rounds % 4 == 0;
	int nthreads = single ? 1 : MAX_THREADS, fds[MAX_BUFS];
	uint64_t committed = 0, ow = 0, dropped = 0, missing = 0, budget;
	double life = 0.005 + (double)(sr_rand(rng) % 150) / 1000.0, t0;
	pid_t pid;

	cfg = c;
	nbufs = rtr_ring_possible_cpus();
	if (nbufs > MAX_BUFS)
		nbufs = MAX_BUFS;
	chan = rtr_ring_chan_alloc(nbufs);
	REQUIRE(chan);
	for (uint32_t b = 0; b < nbufs; b++) {
		REQUIRE(rtr_ring_buf_create(c, &geo, b, "stress-kill", &chan->bufs[b]) == 0);
		fds[b] = chan->bufs[b]->fd;
	}
	memset(prog, 0, sizeof(*prog));
	for (int i = 0; i < NIDS; i++)
		memset(seen[i], 0, MAX_SEQ);
	memset(last_seq, 0, sizeof(last_seq));
	memset(last_ts, 0, sizeof(last_ts));
	memset(next_pkt, 0, sizeof(next_pkt));
	memset(diag_seq, 0, sizeof(diag_seq));
	memset(diag_n, 0, sizeof(diag_n));
	memset(diag_flags, 0, sizeof(diag_flags));
	bad = dups = misplaced = disorder = phantoms = records_read = truncated = 0;

	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		/* Never outlive the test (killed on a timeout, say). */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
			_exit(3);
		for (uint32_t b = 0; b < nbufs; b++)
			fds[b] = dup(fds[b]);
		child_main(fds, nthreads, !single);
	}
	while (!atomic_load(&prog->ready))
		usleep(100);
	t0 = sr_now();
	while (sr_now() - t0 < life) {
		if (!overwrite || sr_rand(rng) % 8 == 0)
			read_now(overwrite);
		usleep((useconds_t)(sr_rand(rng) % 500));
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);

	for (uint32_t b = 0; b < nbufs; b++) {
		struct rtr_ring_stats st;

		CHECK(rtr_ring_salvage(c, chan->bufs[b]) == 0);
		if (overwrite)
			CHECK(rtr_ring_snapshot_start(c, chan->bufs[b]) == 0);
		take_all(b);
		if (chan->bufs[b]->rd.failed)
			RTR_TEST_FAIL_("buffer %u called corrupt after salvage: %s", b,
				       rtr_ring_buf_error(chan->bufs[b]));
		rtr_ring_buf_stats(chan->bufs[b], &st);
		committed += st.records;
		ow += st.overwritten_records;
		dropped += st.salvage_dropped_bytes;
	}
	/* Every record read was tried, per the child's own log: it logs each
	 * attempt before its reserve and each commit after it, so a record
	 * committed and killed before its log (possibly after refusals that
	 * logged nothing) is at most the last one tried. */
	for (int id = 0; id < NIDS; id++) {
		uint64_t upto = atomic_load(&prog->committed[id]);
		uint64_t tried = atomic_load(&prog->attempted[id]);

		for (uint64_t s = tried; s < MAX_SEQ && s < tried + 4096; s++)
			if (seen[id][s])
				phantoms++;
		for (uint64_t s = 0; s < upto; s++)
			if (!seen[id][s] && !(atomic_load(&prog->refused[id][s / 8]) & (1u << (s % 8))))
				missing++;
	}
	/* Records salvage may cut: those inside the dropped bytes, plus one per
	 * writer context (thread, its handler) killed between the two adds of
	 * a commit (records, then bytes): the ring counts such a record, its
	 * bytes are not committed, and when its sub-buffer lost its end facts
	 * too the dropped count (committed bytes after the cut) misses it. */
	budget = dropped / MIN_SLOT + (uint64_t)(single ? 1 : 2 * nthreads);
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(dups, 0);
	CHECK_EQ_U64(misplaced, 0);
	CHECK_EQ_U64(disorder, 0);
	CHECK_EQ_U64(phantoms, 0);
	if (records_read + ow > committed || committed > records_read + ow + budget)
		dump(&geo);
	if (records_read + ow > committed || committed > records_read + ow + budget)
		RTR_TEST_FAIL_("round %llu: books: %llu read + %llu overwritten vs %llu committed, "
			       "%llu bytes dropped",
			       (unsigned long long)t->rounds, (unsigned long long)records_read,
			       (unsigned long long)ow, (unsigned long long)committed,
			       (unsigned long long)dropped);
	if (!overwrite && missing > budget)
		RTR_TEST_FAIL_("round %llu: %llu committed records missing, at most %llu cut",
			       (unsigned long long)t->rounds, (unsigned long long)missing,
			       (unsigned long long)budget);
	if (single && !overwrite && missing)
		RTR_TEST_FAIL_("round %llu: a single writer's log has %llu committed records "
			       "that are not in the trace",
			       (unsigned long long)t->rounds, (unsigned long long)missing);
	if (single && committed > records_read + ow + 1)
		RTR_TEST_FAIL_("round %llu: a single writer lost %llu committed records",
			       (unsigned long long)t->rounds,
			       (unsigned long long)(committed - records_read - ow));
	t->rounds++;
	t->single_rounds += single;
	t->committed += committed;
	t->read += records_read;
	t->overwritten += ow;
	t->dropped_bytes += dropped;
	t->truncated += truncated;
	if (committed - records_read - ow > t->cut_max)
		t->cut_max = committed - records_read - ow;
	for (uint32_t b = 0; b < nbufs; b++)
		rtr_ring_buf_destroy(chan->bufs[b]);
	rtr_ring_chan_free(chan);
}

int main(int argc, char **argv)
{
	const char *s = argc > 1 ? argv[1] : "";
	bool rseq = RTR_HAVE_RSEQ && rtr_rseq_registered();
	double seconds = getenv("RTR_STRESS_SECONDS") ? atof(getenv("RTR_STRESS_SECONDS")) : 3.0;
	const struct rtr_ring_config *seq[2];
	struct totals t = {0};
	uint64_t rng = 0xc0ffee ^ (uint64_t)getpid();
	double t0 = sr_now();

	if (!strcmp(s, "discard")) {
		seq[0] = rseq ? &cfg_d_rseq : &cfg_d_atomic;
		seq[1] = &cfg_d_atomic;
	} else if (!strcmp(s, "overwrite")) {
		seq[0] = rseq ? &cfg_o_rseq : &cfg_o_atomic;
		seq[1] = &cfg_o_atomic;
	} else {
		fprintf(stderr, "usage: stress_kill discard|overwrite\n");
		return 2;
	}
	ncpus = sr_two_cpus(cpus);
	REQUIRE(ncpus >= 1);
	prog = mmap(NULL, sizeof(*prog), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(prog != MAP_FAILED);
	for (int i = 0; i < NIDS; i++)
		REQUIRE((seen[i] = malloc(MAX_SEQ)) != NULL);
	printf("%s: seed %#llx\n", s, (unsigned long long)rng);
	while ((sr_now() - t0 < seconds || t.rounds < 4) && !rtr_test_failures)
		run_round(seq[(t.rounds / 2) % 2], &rng, &t);
	printf("%s: %llu kill rounds (%llu single-writer), %llu records committed, %llu salvaged and "
	       "verified, %llu overwritten (counted), %llu truncated packets, %llu bytes dropped "
	       "(at most %llu records cut in a round); anomalies %d\n",
	       s, (unsigned long long)t.rounds, (unsigned long long)t.single_rounds,
	       (unsigned long long)t.committed, (unsigned long long)t.read,
	       (unsigned long long)t.overwritten, (unsigned long long)t.truncated,
	       (unsigned long long)t.dropped_bytes, (unsigned long long)t.cut_max, rtr_test_failures);
	for (int i = 0; i < NIDS; i++)
		free(seen[i]);
	munmap(prog, sizeof(*prog));
	return rtr_test_done(s);
}
