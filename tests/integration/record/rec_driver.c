/* Integration tests of `ringtrace record` (issue 4): real instrumented
 * programs (rec_app, rec_fields) run under the real record command over real
 * sockets; the traces are read back with babeltrace2 and compared with what
 * the programs logged or are known to emit. One test per invocation:
 *
 *   rec_driver fields | threads | busy | loss | overwrite | kill | fork | hostile |
 *              status | dormant
 *
 * Paths of the binaries come from the build (REC_* definitions).
 * Design: docs/design/runtime.md. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtr_test.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char work[] = "/tmp/rtr-record-it.XXXXXX";
static char trace[512];

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (!f)
		return strdup("");
	buf = malloc(cap);
	REQUIRE(buf);
	for (;;) {
		size_t r;

		if (cap - n < 65536) {
			cap *= 2;
			buf = realloc(buf, cap);
			REQUIRE(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		if (r == 0)
			break;
		n += r;
	}
	fclose(f);
	buf[n] = 0;
	return buf;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Starts `ringtrace record -o TRACE <opts...> -- <prog...>` with stderr to
 * work/record.err; returns its pid. `args` is NULL-terminated: record
 * options, then "--", then the program and its arguments. */
static pid_t start_record(const char *const *args)
{
	const char *argv[64];
	int n = 0;
	pid_t pid;

	argv[n++] = REC_RINGTRACE;
	argv[n++] = "record";
	argv[n++] = "-o";
	argv[n++] = trace;
	for (; *args && n < 62; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		char path[600];
		int fd;

		snprintf(path, sizeof(path), "%s/record.err", work);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 2);
		snprintf(path, sizeof(path), "%s/record.out", work);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0)
			dup2(fd, 1);
		execv(argv[0], (char *const *)argv);
		_exit(126);
	}
	return pid;
}

/* Waits for pid at most `secs`; kills it (and fails the test) after. */
static int wait_for(pid_t pid, double secs)
{
	double end = now_s() + secs;
	int st;

	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			return st;
		if (now_s() > end) {
			RTR_TEST_FAIL_("process %d did not finish in %.0f s", (int)pid, secs);
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -1;
		}
		usleep(10000);
	}
}

/* Exit code the way a shell reports it. */
static int code_of(int st)
{
	if (st < 0)
		return -1;
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

static int record(const char *const *args, double secs)
{
	return code_of(wait_for(start_record(args), secs));
}

static char *record_err(void)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/record.err", work);
	return slurp(path);
}

/* "N events recorded, M lost" from record's summary. */
static bool summary(uint64_t *events, uint64_t *lost)
{
	char *e = record_err(), *p = strstr(e, " recorded, ");
	bool ok = false;
	unsigned long long a, b;

	if (p) {
		while (p > e && p[-1] != '\n')
			p--;
		ok = sscanf(p, "ringtrace record: %llu %*s recorded, %llu lost", &a, &b) == 2;
	}
	if (ok) {
		*events = a;
		*lost = b;
	}
	free(e);
	return ok;
}

/* One event of babeltrace2's output. */
struct ev {
	int64_t ts;
	int pid;
	char proc[32];
	char name[64];
	const char *payload; /* "{ ... }" */
};

struct evs {
	struct ev *v;
	size_t n, cap;
	char *text;
	char *err;
	int status;
};

/* "[S.N] (+D) host:proc:(pid) NAME: { cpu_id = C }, PAYLOAD" */
static bool parse_line(char *line, struct ev *e)
{
	long long s, ns;
	char *p, *name, *colon, *q;

	if (sscanf(line, "[%lld.%9lld]", &s, &ns) != 2)
		return false;
	e->ts = s * 1000000000LL + ns;
	p = strstr(line, ") ");
	if (!p)
		return false;
	p += 2;
	q = strstr(p, ":(");
	if (!q)
		return false;
	e->pid = atoi(q + 2);
	*q = 0;
	{
		char *c = strrchr(p, ':');

		snprintf(e->proc, sizeof(e->proc), "%s", c ? c + 1 : p);
	}
	p = strchr(q + 2, ' ');
	if (!p)
		return false;
	name = p + 1;
	colon = strstr(name, ": { cpu_id = ");
	if (!colon)
		return false;
	*colon = 0;
	snprintf(e->name, sizeof(e->name), "%s", name);
	p = strstr(colon + 1, " }, ");
	if (!p)
		return false;
	e->payload = p + 4;
	return true;
}

static void babeltrace(struct evs *out)
{
	char cmd[1400], path[600];
	char *line, *save = NULL;

	memset(out, 0, sizeof(*out));
	snprintf(cmd, sizeof(cmd),
		 "babeltrace2 --clock-seconds --color=never '%s' >'%s/bt.out' 2>'%s/bt.err'", trace,
		 work, work);
	out->status = system(cmd);
	snprintf(path, sizeof(path), "%s/bt.out", work);
	out->text = slurp(path);
	snprintf(path, sizeof(path), "%s/bt.err", work);
	out->err = slurp(path);
	for (line = strtok_r(out->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		struct ev e;

		if (!parse_line(line, &e)) {
			RTR_TEST_FAIL_("unparsable babeltrace2 line: %.200s", line);
			continue;
		}
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 4096;
			out->v = realloc(out->v, out->cap * sizeof(*out->v));
			REQUIRE(out->v);
		}
		out->v[out->n++] = e;
	}
}

static void evs_free(struct evs *e)
{
	free(e->v);
	free(e->text);
	free(e->err);
}

/* Sum of N in babeltrace2's "Tracer discarded N events" warnings. */
static uint64_t bt_discarded(const char *err)
{
	uint64_t sum = 0;

	for (const char *p = err; (p = strstr(p, "Tracer discarded ")); p++)
		sum += strtoull(p + 17, NULL, 10);
	return sum;
}

/* stderr of babeltrace2 without the discarded-events warnings. */
static bool bt_err_clean(const char *err)
{
	char *copy = strdup(err), *line, *save = NULL;
	bool clean = true;

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "WARNING: Tracer discarded ", 26) != 0) {
			fprintf(stderr, "babeltrace2: %s\n", line);
			clean = false;
		}
	free(copy);
	return clean;
}

/* Reads the trace with babeltrace2, which must succeed, report exactly
 * `lost` discarded events and print nothing else on stderr. */
static void babeltrace_with_loss(struct evs *bt, uint64_t lost)
{
	babeltrace(bt);
	CHECK_EQ_I64(bt->status, 0);
	CHECK_EQ_U64(bt_discarded(bt->err), lost);
	CHECK(bt_err_clean(bt->err));
}

static bool tick(const struct ev *e, unsigned *thread, uint64_t *seq)
{
	unsigned long long s;

	if (strcmp(e->name, "rec:tick"))
		return false;
	if (sscanf(e->payload, "{ thread = %u, seq = %llu }", thread, &s) != 2)
		return false;
	*seq = s;
	return true;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int ncpus(void)
{
	return get_nprocs();
}

static int allowed_cpus(void)
{
	cpu_set_t s;

	return sched_getaffinity(0, sizeof(s), &s) == 0 ? CPU_COUNT(&s) : 1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/* Every field kind, in the program and in a dlopen'ed library: babeltrace2
 * prints exactly what the program logged, and nothing on stderr. */
static void test_fields(void)
{
	char side[600];
	const char *args[] = {"--", REC_FIELDS, side, REC_FIELDS_LIB, NULL};
	struct evs bt;
	char *want, **wl = NULL, **gl = NULL, *line, *save = NULL;
	size_t nw = 0, ng = 0;
	uint64_t events, lost;

	snprintf(side, sizeof(side), "%s/expected.txt", work);
	CHECK_EQ_I64(record(args, 60), 0);
	REQUIRE(summary(&events, &lost));
	CHECK_EQ_U64(lost, 0);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK_STR_EQ(bt.err, "");
	want = slurp(side);
	for (line = strtok_r(want, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		wl = realloc(wl, (nw + 1) * sizeof(*wl));
		wl[nw++] = line;
	}
	for (size_t i = 0; i < bt.n; i++) {
		char *s;

		if (asprintf(&s, "%s: %s", bt.v[i].name, bt.v[i].payload) < 0)
			abort();
		gl = realloc(gl, (ng + 1) * sizeof(*gl));
		gl[ng++] = s;
	}
	REQUIRE(nw > 0);
	CHECK_EQ_U64(ng, nw);
	CHECK_EQ_U64(events, nw);
	qsort(wl, nw, sizeof(*wl), cmp_str);
	qsort(gl, ng, sizeof(*gl), cmp_str);
	for (size_t i = 0, bad = 0; i < nw && i < ng && bad < 5; i++)
		if (strcmp(wl[i], gl[i])) {
			RTR_TEST_FAIL_("event differs:\n  expected %s\n  got      %s", wl[i],
				       gl[i]);
			bad++;
		}
	/* Both placements are there. */
	{
		int main_n = 0, lib_n = 0, many_n = 0;

		for (size_t i = 0; i < ng; i++) {
			main_n += !strncmp(gl[i], "itmain:", 7);
			lib_n += !strncmp(gl[i], "itlib:", 6);
			many_n += !strncmp(gl[i], "itmany:", 7);
		}
		CHECK(main_n > 0 && lib_n > 0 && many_n > 0);
		CHECK_EQ_I64(main_n, lib_n);
	}
	for (size_t i = 0; i < ng; i++)
		free(gl[i]);
	free(gl);
	free(wl);
	free(want);
	evs_free(&bt);
}

/* More threads than CPUs, buffers big enough: every event, per-thread
 * order, exact counts; -e keeps the other event out. */
static void test_threads(void)
{
	int nthreads = 2 * ncpus() + 1 < 5 ? 5 : 2 * ncpus() + 1;
	const uint64_t k = 20000;
	char nt[16], nk[32];
	const char *args[] = {"-e", "rec:t*", "--subbuf-size", "1M",	  "--num-subbuf",
			      "8",  "--",     REC_APP,	       "threads", nt,
			      nk,   NULL};
	uint64_t *next = calloc((size_t)nthreads, sizeof(*next));
	uint64_t events, lost, others = 0, disorder = 0;
	struct evs bt;

	REQUIRE(next);
	snprintf(nt, sizeof(nt), "%d", nthreads);
	snprintf(nk, sizeof(nk), "%" PRIu64, k);
	CHECK_EQ_I64(record(args, 120), 0);
	REQUIRE(summary(&events, &lost));
	CHECK_EQ_U64(lost, 0);
	CHECK_EQ_U64(events, (uint64_t)nthreads * k);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK_STR_EQ(bt.err, "");
	CHECK_EQ_U64(bt.n, (uint64_t)nthreads * k);
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s) || t >= (unsigned)nthreads) {
			others++;
			continue;
		}
		/* babeltrace2 orders by time: a thread's events come in the
		 * order the thread emitted them. */
		if (s != next[t])
			disorder++;
		next[t] = s + 1;
	}
	CHECK_EQ_U64(others, 0);
	CHECK_EQ_U64(disorder, 0);
	for (int t = 0; t < nthreads; t++)
		CHECK_EQ_U64(next[t], k);
	free(next);
	evs_free(&bt);
}

/* No idle CPU time (spinning threads on every CPU): the idle-priority drain
 * thread is starved, the host writes packets itself when a buffer gets
 * short of room and takes back those the drain thread had not finished.
 * The trace is whole either way: recorded + lost = emitted, babeltrace2
 * reads it without a warning and reports the same loss, every thread's
 * events are in order with no gap but counted losses. Then the same with
 * --eager-drain. */
static void busy_case(bool eager)
{
	int nw = ncpus() < 2 ? 2 : ncpus();
	const uint64_t k = 200000;
	char nt[16], nk[32], ns[16];
	const char *drain = eager ? "--eager-drain" : "-v";
	const char *args[] = {"-v", "--subbuf-size", "64k", "--num-subbuf", "16", drain,
			      "--", REC_APP,	    "busy", nt,		   nk, ns,
			      NULL};
	uint64_t *next = calloc((size_t)nw, sizeof(*next));
	uint64_t events, lost, disorder = 0, seen = 0;
	unsigned long long pk = 0, bg = 0, taken = 0;
	char *err, *line;
	struct evs bt;

	REQUIRE(next);
	snprintf(nt, sizeof(nt), "%d", nw);
	snprintf(nk, sizeof(nk), "%" PRIu64, k);
	snprintf(ns, sizeof(ns), "%d", 2 * ncpus());
	nftw(trace, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	CHECK_EQ_I64(record(args, 150), 0);
	REQUIRE(summary(&events, &lost));
	CHECK_EQ_U64(events + lost, (uint64_t)nw * k);
	err = record_err();
	line = strstr(err, " by the idle-priority drain thread");
	while (line && line > err && line[-1] != '\n')
		line--;
	CHECK(line && sscanf(line,
			     "ringtrace record: %llu packets (%*s MB) written, %llu of them by "
			     "the idle-priority drain thread (%llu taken back",
			     &pk, &bg, &taken) == 3);
	CHECK(pk > 0 && bg <= pk);
	if (eager)
		CHECK_EQ_U64(bg + taken, 0);
	printf("%s: %llu packets, %llu by the drain thread, %llu taken back, %" PRIu64 " lost\n",
	       eager ? "eager" : "idle", pk, bg, taken, lost);
	free(err);
	babeltrace_with_loss(&bt, lost);
	CHECK_EQ_U64(bt.n, events);
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t sq;

		if (!tick(&bt.v[i], &t, &sq) || t >= (unsigned)nw) {
			disorder++;
			continue;
		}
		if (sq < next[t])
			disorder++;
		next[t] = sq + 1;
		seen++;
	}
	CHECK_EQ_U64(disorder, 0);
	CHECK_EQ_U64(seen, events);
	/* Without losses every sequence is complete. */
	if (lost == 0)
		for (int t = 0; t < nw; t++)
			CHECK_EQ_U64(next[t], k);
	free(next);
	evs_free(&bt);
}

static void test_busy(void)
{
	busy_case(false);
	busy_case(true);
}

/* Tiny buffers: events are lost, record counts them, babeltrace2 reports
 * the same total, and recorded + lost = emitted. */
static void test_loss(void)
{
	const char *args[] = {"--subbuf-size", "4k",	"--num-subbuf", "2", "--",
			      REC_APP,	       "burst", "300000",	NULL};
	uint64_t events, lost, prev = 0, order_bad = 0;
	struct evs bt;

	CHECK_EQ_I64(record(args, 60), 0);
	REQUIRE(summary(&events, &lost));
	CHECK(lost > 0);
	CHECK_EQ_U64(events + lost, 300000);
	babeltrace_with_loss(&bt, lost);
	CHECK_EQ_U64(bt.n, events);
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (tick(&bt.v[i], &t, &s)) {
			if (i && s <= prev)
				order_bad++;
			prev = s;
		}
	}
	CHECK_EQ_U64(order_bad, 0);
	evs_free(&bt);
}

/* Overwrite mode keeps the newest events: the trace ends with the last
 * event emitted and holds a gap-free run of the newest ones. */
static void test_overwrite(void)
{
	const uint64_t n = 200000;
	const char *args[] = {"--overwrite", "--subbuf-size", "4k",    "--num-subbuf", "4",
			      "--",	     REC_APP,	      "burst", "200000",       NULL};
	uint64_t events, lost, first = 0, last = 0, gaps = 0;
	struct evs bt;
	char *err;

	CHECK_EQ_I64(record(args, 60), 0);
	REQUIRE(summary(&events, &lost));
	err = record_err();
	CHECK(strstr(err, "overwritten") != NULL);
	free(err);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK(bt_err_clean(bt.err));
	REQUIRE(bt.n > 0);
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		REQUIRE(tick(&bt.v[i], &t, &s));
		if (i == 0)
			first = s;
		else if (s != last + 1)
			gaps++;
		last = s;
	}
	CHECK_EQ_U64(last, n - 1);
	CHECK(first > 0);    /* the oldest were overwritten */
	CHECK(bt.n < n / 2); /* a few sub-buffers' worth, not everything */
	CHECK(bt.n > 200);   /* but several of them */
	CHECK_EQ_U64(gaps, 0);
	evs_free(&bt);
}

/* The counter page rec_app's kill mode shares through SIDE (word 0 = its
 * pid, word 1 = events committed), mapped once it exists and is a page
 * long; NULL until then. *fd: -1 at first, kept open between calls. */
static volatile uint64_t *counter_map(const char *side, int *fd)
{
	struct stat sb;
	void *w;

	if (*fd < 0)
		*fd = open(side, O_RDONLY);
	if (*fd < 0 || fstat(*fd, &sb) != 0 || sb.st_size < 4096)
		return NULL;
	w = mmap(NULL, 4096, PROT_READ, MAP_SHARED, *fd, 0);
	return w == MAP_FAILED ? NULL : w;
}

/* SIGKILL mid-run: the trace holds a gap-free prefix of the counter that
 * reaches at least what the program logged as committed. */
static void test_kill(void)
{
	char side[600];
	const char *args[] = {"--", REC_APP, "kill", side, NULL};
	volatile uint64_t *w = NULL;
	uint64_t logged, events, lost, expect = 0, held = 0, gaps = 0, disorder = 0;
	double end;
	pid_t rec;
	int fd = -1, st;
	struct evs bt;

	snprintf(side, sizeof(side), "%s/counter", work);
	rec = start_record(args);
	end = now_s() + 20;
	while (now_s() < end) {
		if (!w)
			w = counter_map(side, &fd);
		if (w && __atomic_load_n(&w[1], __ATOMIC_ACQUIRE) >= 200000)
			break;
		usleep(2000);
	}
	REQUIRE(w != NULL);
	REQUIRE(w[0] > 0);
	kill((pid_t)w[0], SIGKILL);
	logged = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE);
	st = wait_for(rec, 30);
	CHECK_EQ_I64(code_of(st), 128 + SIGKILL);
	REQUIRE(summary(&events, &lost));
	babeltrace_with_loss(&bt, lost);
	/* In order, no duplicate; a gap is only acceptable where records were
	 * lost and counted (the buffer filled: a loaded machine). */
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s))
			continue;
		if (s < expect)
			disorder++;
		else
			gaps += s - expect;
		expect = s + 1;
		held++;
	}
	CHECK_EQ_U64(disorder, 0);
	CHECK(gaps <= lost);
	CHECK(held + lost >= logged);
	if (lost == 0)
		CHECK(held >= logged);
	printf("kill: program logged %" PRIu64 " committed, trace holds %" PRIu64
	       " in order (lost %" PRIu64 ", missing in gaps %" PRIu64 ")\n",
	       logged, held, lost, gaps);
	munmap((void *)w, 4096);
	close(fd);
	evs_free(&bt);
}

/* The host itself is SIGKILLed while the program runs: the trace on disk
 * must still be readable (metadata is rewritten every second), holding a
 * gap-free prefix of the program's events. */
static void test_hostkill(void)
{
	char side[600];
	const char *args[] = {"--", REC_APP, "kill", side, "4", NULL};
	volatile uint64_t *w = NULL;
	double start = now_s(), end = start + 20, killed;
	uint64_t expect = 0, dups = 0, seen = 0, floor_count = 0;
	/* (time, events committed) samples, to know what was committed 3 s
	 * before the kill */
	static double st_t[16384];
	static uint64_t st_n[16384];
	size_t ns = 0;
	uint8_t *got = calloc(1u << 24, 1);
	pid_t rec, app = 0;
	int fd = -1;
	struct evs bt;

	snprintf(side, sizeof(side), "%s/counter", work);
	rec = start_record(args);
	while (now_s() < end) {
		if (!w)
			w = counter_map(side, &fd);
		if (w && ns < ARRAY_SIZE(st_t)) {
			st_t[ns] = now_s();
			st_n[ns++] = __atomic_load_n(&w[1], __ATOMIC_ACQUIRE);
		}
		/* Past several metadata checkpoints, with events on disk. */
		if (w && __atomic_load_n(&w[1], __ATOMIC_ACQUIRE) >= 1000 &&
		    now_s() - start > 4.0)
			break;
		usleep(2000);
	}
	REQUIRE(w != NULL);
	app = (pid_t)w[0];
	kill(rec, SIGKILL);
	killed = now_s();
	for (size_t i = 0; i < ns; i++)
		if (st_t[i] <= killed - 3.0)
			floor_count = st_n[i];
	wait_for(rec, 10);
	if (app > 0)
		kill(app, SIGKILL);
	babeltrace(&bt);
	REQUIRE(got);
	CHECK_EQ_I64(bt.status, 0);
	CHECK(bt.n > 0);
	/* Sub-buffers not yet drained when the host died are missing, so the
	 * events read back may have gaps; each must still appear once. */
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s) || s >= (1u << 24))
			continue;
		if (got[s]++)
			dups++;
		seen++;
		if (s == expect)
			expect++;
	}
	CHECK(expect > 0);
	/* The switch timer (1 s) and the drain thread's deadline (1 s) keep
	 * the trace on disk at most ~2.2 s behind the program: everything it
	 * committed 3 s before the kill is there. */
	CHECK(expect >= floor_count);
	CHECK_EQ_U64(dups, 0);
	printf("hostkill: host killed after %.1f s; the trace on disk reads back: %" PRIu64
	       " events, the first %" PRIu64 " without a gap (%" PRIu64
	       " committed 3 s before the kill)\n",
	       killed - start, seen, expect, floor_count);
	free(got);
	munmap((void *)w, 4096);
	close(fd);
	evs_free(&bt);
}

/* fork() child and exec'd image are recorded, each as its own trace. */
static void test_fork(void)
{
	const char *args[] = {"--", REC_APP, "fork", REC_APP, NULL};
	int pid_parent = 0, pid_child = 0, pid_exec = 0, ppid_child = 0;
	int count[4] = {0, 0, 0, 0}, wrong_pid = 0;
	struct evs bt;
	char *err;

	CHECK_EQ_I64(record(args, 60), 0);
	err = record_err();
	CHECK(strstr(err, "(3 process traces)") != NULL);
	free(err);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK_STR_EQ(bt.err, "");
	for (size_t i = 0; i < bt.n; i++) {
		const struct ev *e = &bt.v[i];
		char role[16];
		int pid, ppid;

		if (!strcmp(e->name, "rec:proc") &&
		    sscanf(e->payload, "{ role = \"%15[a-z]\", pid = %d, ppid = %d }", role, &pid,
			   &ppid) == 3) {
			CHECK_EQ_I64(pid, e->pid); /* the trace's vpid is the process's */
			if (!strcmp(role, "parent"))
				pid_parent = pid;
			else if (!strcmp(role, "child")) {
				pid_child = pid;
				ppid_child = ppid;
			} else if (!strcmp(role, "exec"))
				pid_exec = pid;
		}
	}
	CHECK(pid_parent > 0 && pid_child > 0 && pid_exec > 0);
	CHECK(pid_child != pid_parent);
	CHECK_EQ_I64(ppid_child, pid_parent);
	CHECK_EQ_I64(pid_exec, pid_child); /* exec keeps the pid */
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s) || t > 3)
			continue;
		count[t]++;
		if ((t == 0 || t == 3) && bt.v[i].pid != pid_parent)
			wrong_pid++;
		if ((t == 1 || t == 2) && bt.v[i].pid != pid_child)
			wrong_pid++;
	}
	for (int t = 0; t < 4; t++)
		CHECK_EQ_I64(count[t], 100);
	CHECK_EQ_I64(wrong_pid, 0);
	evs_free(&bt);
}

/* fork() while other threads trace: the parent's threads lose nothing,
 * every child is recorded as its own process, nothing of the parent's
 * buffers leaks into a child's trace. */
static void test_forkmt(void)
{
	const char *args[] = {
	    "--subbuf-size", "256k", "--num-subbuf", "16", "--", REC_APP, "forkmt", "8", NULL};
	uint64_t next[2] = {0, 0}, events, lost;
	int child_count[8] = {0}, child_pid[8] = {0}, parent_pid = 0, bad = 0;
	struct evs bt;
	char *err;

	CHECK_EQ_I64(record(args, 60), 0);
	REQUIRE(summary(&events, &lost));
	CHECK_EQ_U64(lost, 0);
	err = record_err();
	CHECK(strstr(err, "(9 process traces)") != NULL);
	free(err);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK_STR_EQ(bt.err, "");
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s)) {
			bad++;
			continue;
		}
		if (t == 100 || t == 101) {
			if (!parent_pid)
				parent_pid = bt.v[i].pid;
			if (bt.v[i].pid != parent_pid || s != next[t - 100])
				bad++;
			next[t - 100] = s + 1;
		} else if (t < 8) {
			if (!child_pid[t])
				child_pid[t] = bt.v[i].pid;
			if (bt.v[i].pid != child_pid[t] || bt.v[i].pid == parent_pid ||
			    s != (uint64_t)child_count[t])
				bad++;
			child_count[t]++;
		} else {
			bad++;
		}
	}
	CHECK_EQ_I64(bad, 0);
	CHECK_EQ_U64(next[0], 50000);
	CHECK_EQ_U64(next[1], 50000);
	for (int c = 0; c < 8; c++)
		CHECK_EQ_I64(child_count[c], 1000);
	CHECK_EQ_U64(events, 100000 + 8000);
	evs_free(&bt);
}

/* A child that outlives the program (rec_app outlive). Without
 * --wait-all record stops it and leaves; the child keeps tracing through
 * the teardown of its channel and ends normally; its events up to the stop
 * are in the trace, in order. With --wait-all the child is recorded to its
 * end: when record returns the child has written its count, and the trace
 * holds every one of its events, in order. record exits with the
 * program's 0 either way. */
static void outlive_case(bool wait_all)
{
	char side[600];
	const char *args[] = {"--", REC_APP, "outlive", side, NULL};
	const char *args_wait[] = {"--wait-all", "--", REC_APP, "outlive", side, NULL};
	uint64_t next = 0, bad = 0, missing = 0;
	unsigned long long done = 0;
	struct evs bt;
	char *text;

	snprintf(side, sizeof(side), "%s/%s", work, wait_all ? "waitall" : "outlive");
	CHECK_EQ_I64(record(wait_all ? args_wait : args, 30), 0);
	if (wait_all) {
		REQUIRE(access(side, F_OK) == 0); /* written by the child before it exits */
	} else {
		double end = now_s() + 10;

		while (now_s() < end && access(side, F_OK) != 0)
			usleep(20000);
		usleep(50000);
	}
	text = slurp(side);
	CHECK(sscanf(text, "done %llu", &done) == 1);
	free(text);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	/* on a busy machine the child can outrun the drain: what it loses
	 * must be exactly what babeltrace2 reports as discarded */
	CHECK(bt_err_clean(bt.err));
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s) || t != 7)
			continue;
		if (s < next)
			bad++; /* duplicated or out of order */
		else
			missing += s - next;
		next = s + 1;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(missing, bt_discarded(bt.err));
	if (wait_all) {
		CHECK(done > 0);
		CHECK_EQ_U64(next, done);
	} else {
		CHECK(next > 0);
		CHECK(next <= done);
	}
	printf("%s: child traced %llu events, %" PRIu64 " recorded%s\n",
	       wait_all ? "waitall" : "outlive", done, next, wait_all ? "" : " before the stop");
	evs_free(&bt);
}

static void test_outlive(void)
{
	outlive_case(false);
}

static void test_waitall(void)
{
	outlive_case(true);
}

/* A process without rseq registration gets the ATOMIC client; nothing
 * else changes. */
static void test_atomic(void)
{
	const char *args[] = {"-v",    "--subbuf-size", "1M", "--num-subbuf", "8", "--",
			      REC_APP, "threads",	"5",  "10000",	      NULL};
	uint64_t events, lost, next[5] = {0}, bad = 0;
	struct evs bt;
	char *err;

	setenv("GLIBC_TUNABLES", "glibc.pthread.rseq=0", 1);
	CHECK_EQ_I64(record(args, 60), 0);
	unsetenv("GLIBC_TUNABLES");
	err = record_err();
	CHECK(strstr(err, "client 3") != NULL); /* RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC */
	free(err);
	REQUIRE(summary(&events, &lost));
	CHECK_EQ_U64(lost, 0);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK_STR_EQ(bt.err, "");
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s))
			continue;
		if (t >= 5 || s != next[t])
			bad++;
		else
			next[t]++;
	}
	CHECK_EQ_U64(bad, 0);
	for (int t = 0; t < 5; t++)
		CHECK_EQ_U64(next[t], 10000);
	evs_free(&bt);
}

/* SIGTERM sent to record reaches the program; record exits with the
 * program's status (128 + 15) after writing the trace. */
static void test_signal(void)
{
	char side[600];
	const char *args[] = {"--", REC_APP, "kill", side, NULL};
	pid_t rec;
	double end;
	struct stat sb;
	struct evs bt;
	char *err;
	int st;

	snprintf(side, sizeof(side), "%s/counter", work);
	rec = start_record(args);
	end = now_s() + 20;
	while (now_s() < end && !(stat(side, &sb) == 0 && sb.st_size >= 4096))
		usleep(10000);
	usleep(100000);
	kill(rec, SIGTERM);
	st = wait_for(rec, 30);
	CHECK_EQ_I64(code_of(st), 128 + SIGTERM);
	err = record_err();
	CHECK(strstr(err, "killed by signal 15") != NULL);
	CHECK(strstr(err, "trace written to") != NULL);
	free(err);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK(bt.n > 0);
	evs_free(&bt);
}

/* A daemon-like close of every descriptor: the runtime notices, stops
 * tracing, never closes or writes the numbers the program reuses; what was
 * traced before is kept. */
static void test_closeall(void)
{
	const char *args[] = {"--", REC_APP, "closeall", NULL};
	uint64_t next = 0, bad = 0;
	struct evs bt;
	char *err;

	CHECK_EQ_I64(record(args, 30), 0);
	err = record_err();
	CHECK(strstr(err, "closed ringtrace's connection") != NULL);
	free(err);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK_STR_EQ(bt.err, "");
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s) || t != 0)
			continue;
		if (s != next)
			bad++;
		next = s + 1;
	}
	CHECK_EQ_U64(bad, 0);
	CHECK_EQ_U64(next, 1000);
	evs_free(&bt);
}

/* A program corrupting its buffers and talking garbage to the host: record
 * finishes in bounded time with the program's status, reports the damage,
 * and the trace keeps what is intact. */
static void test_hostile(void)
{
	const char *args[] = {"--subbuf-size", "4k", "--num-subbuf", "8", "--", REC_APP,
			      "hostile",       NULL};
	double t0 = now_s();
	int after = 0, before = 0;
	struct evs bt;
	char *err;

	CHECK_EQ_I64(record(args, 60), 0);
	CHECK(now_s() - t0 < 30);
	err = record_err();
	CHECK(strstr(err, "damaged") != NULL);
	CHECK(strstr(err, "refused a connection") != NULL);
	CHECK(strstr(err, "not traced: pid does not match") != NULL);
	CHECK(strstr(err, "trace written to") != NULL);
	fputs(err, stdout);
	free(err);
	babeltrace(&bt);
	CHECK_EQ_I64(bt.status, 0);
	CHECK(bt_err_clean(bt.err));
	for (size_t i = 0; i < bt.n; i++) {
		unsigned t;
		uint64_t s;

		if (!tick(&bt.v[i], &t, &s))
			continue;
		if (t == 1)
			after++;
		else
			before++;
	}
	if (allowed_cpus() >= 2)
		CHECK_EQ_I64(after, 500); /* the second CPU's buffer was intact */
	printf("hostile: %d events before the corruption kept, %d after\n", before, after);
	evs_free(&bt);
}

/* record exits with the program's status; 128 + signal when killed; 127
 * when the program cannot be run. */
static void test_status(void)
{
	const char *a1[] = {"--", REC_APP, "exit", "7", NULL};
	const char *a2[] = {"--", REC_APP, "raise", "15", NULL};
	const char *a3[] = {"--", "/nonexistent/program", NULL};
	char *err;

	CHECK_EQ_I64(record(a1, 30), 7);
	nftw(trace, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	CHECK_EQ_I64(record(a2, 30), 128 + 15);
	err = record_err();
	CHECK(strstr(err, "killed by signal 15") != NULL);
	free(err);
	nftw(trace, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	CHECK_EQ_I64(record(a3, 30), 127);
	err = record_err();
	CHECK(strstr(err, "cannot run") != NULL);
	free(err);
}

/* Without a host: the program runs untouched; with a host socket that does
 * not answer, it runs too (after a bounded wait) and says so. */
static void test_dormant(void)
{
	char cmd[1200], path[600];
	double t0;
	int st;
	char *err;

	snprintf(cmd, sizeof(cmd), "env -u RINGTRACE_HOST_SOCKET '%s' exit 5 2>'%s/e1'", REC_APP,
		 work);
	st = system(cmd);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 5);
	snprintf(path, sizeof(path), "%s/e1", work);
	err = slurp(path);
	CHECK_STR_EQ(err, "");
	free(err);
	t0 = now_s();
	snprintf(cmd, sizeof(cmd),
		 "RINGTRACE_HOST_SOCKET=%s/none.sock RINGTRACE_HOST_TIMEOUT_MS=500 '%s' exit 6 "
		 "2>'%s/e2'",
		 work, REC_APP, work);
	st = system(cmd);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 6);
	CHECK(now_s() - t0 < 5);
	snprintf(path, sizeof(path), "%s/e2", work);
	err = slurp(path);
	CHECK(strstr(err, "not tracing") != NULL);
	free(err);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
	    /* clang-format off */
		{"fields", test_fields},
		{"threads", test_threads},
		{"busy", test_busy},
		{"loss", test_loss},
		{"overwrite", test_overwrite},
		{"kill", test_kill},
		{"hostkill", test_hostkill},
		{"fork", test_fork},
		{"forkmt", test_forkmt},
		{"outlive", test_outlive},
		{"waitall", test_waitall},
		{"atomic", test_atomic},
		{"signal", test_signal},
		{"closeall", test_closeall},
		{"hostile", test_hostile},
		{"status", test_status},
		{"dormant", test_dormant},
	    /* clang-format on */
	};
	int rc = -1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s TEST\n", argv[0]);
		return 2;
	}
	if (system("babeltrace2 --version >/dev/null 2>&1") != 0) {
		printf("babeltrace2 not found: skipped\n");
		return 77;
	}
	REQUIRE(mkdtemp(work) != NULL);
	snprintf(trace, sizeof(trace), "%s/trace", work);
	for (size_t i = 0; i < ARRAY_SIZE(tests); i++)
		if (!strcmp(argv[1], tests[i].name)) {
			tests[i].fn();
			rc = rtr_test_done(argv[1]);
		}
	if (rc < 0) {
		fprintf(stderr, "unknown test %s\n", argv[1]);
		rc = 2;
	}
	if (rc == 0 || getenv("REC_KEEP") == NULL)
		nftw(work, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "kept %s\n", work);
	return rc;
}
