/* The hostile-program suite (issue 11; docs/design/host.md §3-§7): each
 * scenario runs the real `ringtrace record` over a hostile program
 * (hostile_evil: the protocol spoken raw, lies of every kind; or
 * hostile_toctou / hostile_disk) beside a well-behaved one (hostile_good),
 * and checks that
 *   - record ends in bounded time with the expected status;
 *   - the well-behaved program's trace is complete: exactly hg:tick(0..N-1),
 *     read with our reader (`ringtrace view`) and with babeltrace2;
 *   - nothing outside the trace directory changed (a decoy directory and
 *     file beside it are compared byte for byte, before and after);
 *   - what the host created is private (no group/other permission bits);
 * plus what each attack is about. Full-disk scenarios (disk_*) run in a
 * private mount namespace on a 2 MB tmpfs (root only; skipped otherwise):
 * the mount goes away with the test whatever happens.
 *
 *   hostile_driver scribble | chaos | rehello | silent | fatreg | plant |
 *                  garbage | lies | flood | noanswer | truncate | toctou |
 *                  outdir | disk_end | disk_early | disk_mid
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rtr_test.h"

#define GOOD_N 20000u

static char work[] = "/tmp/rtr-hostile.XXXXXX";
static char trace[600], victim[600];
static pid_t running = -1; /* process group of the record being run */

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	REQUIRE(buf);
	if (!f) {
		buf[0] = 0;
		if (len)
			*len = 0;
		return buf;
	}
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
	if (len)
		*len = n;
	return buf;
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void kill_running(void)
{
	if (running > 0) {
		kill(-running, SIGKILL);
		waitpid(running, NULL, 0);
		running = -1;
	}
}

static void on_signal(int sig)
{
	kill_running();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Runs argv (NULL-terminated) in a process group of its own, stdout and
 * stderr to work/NAME.out and work/NAME.err; kills the group after `secs`
 * (a failure). Returns the shell-style status (128 + signal). */
static int run(const char *name, const char *const *argv, double secs)
{
	double end = now_s() + secs;
	int st;
	pid_t pid = fork();

	REQUIRE(pid >= 0);
	if (pid == 0) {
		char path[700];
		int fd;

		setpgid(0, 0);
		snprintf(path, sizeof(path), "%s/%s.err", work, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 2);
		snprintf(path, sizeof(path), "%s/%s.out", work, name);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0)
			dup2(fd, 1);
		execvp(argv[0], (char *const *)argv);
		_exit(126);
	}
	setpgid(pid, pid);
	running = pid;
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (now_s() > end) {
			RTR_TEST_FAIL_("%s did not finish in %.0f s", argv[0], secs);
			kill(-pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(20000);
	}
	/* whatever the traced programs left behind goes too */
	kill(-pid, SIGKILL);
	running = -1;
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

static char *out_of(const char *name, const char *ext)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s.%s", work, name, ext);
	return slurp(path, NULL);
}

/* `ringtrace record [opts] -o TRACE -- /bin/sh -c SCRIPT`; its stderr in
 * work/record.err. */
static int record(const char *const *opts, const char *script, double secs)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = HOSTILE_RINGTRACE;
	argv[n++] = "record";
	for (; opts && *opts && n < 24; opts++)
		argv[n++] = *opts;
	argv[n++] = "-o";
	argv[n++] = trace;
	argv[n++] = "--";
	argv[n++] = "/bin/sh";
	argv[n++] = "-c";
	argv[n++] = script;
	argv[n] = NULL;
	return run("record", argv, secs);
}

/* "N events recorded, M lost" of record's summary. */
static bool summary(uint64_t *events, uint64_t *lost)
{
	char *e = out_of("record", "err"), *p = strstr(e, " recorded, ");
	unsigned long long a, b;
	bool ok = false;

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

static bool err_has(const char *what)
{
	char *e = out_of("record", "err");
	bool has = strstr(e, what) != NULL;

	free(e);
	return has;
}

static unsigned err_lines(void)
{
	char *e = out_of("record", "err");
	unsigned n = 0;

	for (char *p = e; *p; p++)
		n += *p == '\n';
	free(e);
	return n;
}

/* Directories in the trace whose name starts with prefix. */
static unsigned count_dirs(const char *prefix, char *first, size_t cap)
{
	DIR *d = opendir(trace);
	struct dirent *e;
	unsigned n = 0;

	while (d && (e = readdir(d))) {
		char path[1200];
		struct stat st;

		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", trace, e->d_name);
		if (lstat(path, &st) || !S_ISDIR(st.st_mode))
			continue;
		if (!n && first)
			snprintf(first, cap, "%s", path);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Reads `dir` with `reader` (our view or babeltrace2); fills the seq values
 * of hg:tick events (sorted), returns how many, *status, stderr. */
static size_t read_ticks(const char *reader, const char *dir, uint64_t **seqs, int *status,
			 char **err)
{
	const char *argv[] = {reader, "view", dir, NULL};
	const char *bt[] = {reader, dir, NULL};
	size_t n = 0, cap = 65536;
	char *text, *line, *save = NULL;
	uint64_t *v = malloc(cap * sizeof(*v));

	REQUIRE(v);
	*status = run("reader", strstr(reader, "babeltrace2") ? bt : argv, 120);
	text = out_of("reader", "out");
	*err = out_of("reader", "err");
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		const char *p = strstr(line, " hg:tick: ");
		const char *q = p ? strstr(p, "seq = ") : NULL;

		if (!q)
			continue;
		if (n == cap) {
			cap *= 2;
			v = realloc(v, cap * sizeof(*v));
			REQUIRE(v);
		}
		v[n++] = strtoull(q + 6, NULL, 10);
	}
	free(text);
	qsort(v, n, sizeof(*v), cmp_u64);
	*seqs = v;
	return n;
}

/* stderr of babeltrace2 without its discarded-events warnings; sums them. */
static bool bt_clean(const char *err, uint64_t *discarded)
{
	char *copy = strdup(err), *line, *save = NULL;
	bool clean = true;

	*discarded = 0;
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "WARNING: Tracer discarded ", 26)) {
			*discarded += strtoull(line + 26, NULL, 10);
			continue;
		}
		fprintf(stderr, "reader: %s\n", line);
		clean = false;
	}
	free(copy);
	return clean;
}

/* The trace in `dir` holds exactly hg:tick(0..n-1), for both readers, with
 * no error and no loss. */
static void check_complete(const char *dir, uint64_t n)
{
	const char *readers[] = {HOSTILE_RINGTRACE, "babeltrace2"};

	for (int r = 0; r < 2; r++) {
		uint64_t *seqs, bad = 0, discarded;
		int status;
		char *err;
		size_t got = read_ticks(readers[r], dir, &seqs, &status, &err);

		CHECK_EQ_I64(status, 0);
		CHECK(bt_clean(err, &discarded));
		CHECK_EQ_U64(discarded, 0);
		CHECK_EQ_U64(got, n);
		for (size_t i = 0; i < got; i++)
			if (seqs[i] != i)
				bad++;
		CHECK_EQ_U64(bad, 0);
		if (got != n || bad)
			fprintf(stderr, "%s: %zu events, %" PRIu64 " out of place\n", readers[r],
				got, bad);
		free(seqs);
		free(err);
	}
}

/* The well-behaved program's trace: one directory, complete. */
static void check_good(void)
{
	char dir[1200];

	CHECK_EQ_U64(count_dirs("hostile_good-", dir, sizeof(dir)), 1);
	if (dir[0])
		check_complete(dir, GOOD_N);
}

/* Everything in the work directory but the trace and our own outputs,
 * with its type, mode, size and bytes: what must not change. */
static char *snapshot_buf;
static size_t snapshot_len, snapshot_cap;

static int snap_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[1600], target[600] = "";
	unsigned long sum = 0;

	(void)flag;
	if (!strncmp(path, trace, strlen(trace)) || ftw->level == 0 ||
	    !strncmp(path + strlen(work), "/marks", 6))
		return 0;
	if (ftw->level == 1 && (strstr(path, ".out") || strstr(path, ".err")))
		return 0;
	if (S_ISLNK(st->st_mode)) {
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		target[n > 0 ? n : 0] = 0;
	} else if (S_ISREG(st->st_mode)) {
		size_t len;
		char *d = slurp(path, &len);

		for (size_t i = 0; i < len; i++)
			sum = sum * 31 + (unsigned char)d[i];
		free(d);
	}
	snprintf(line, sizeof(line), "%s %o %lld %lu %s\n", path + strlen(work),
		 (unsigned)st->st_mode, (long long)st->st_size, sum, target);
	if (snapshot_len + strlen(line) + 1 > snapshot_cap) {
		snapshot_cap = snapshot_cap ? snapshot_cap * 2 : 65536;
		snapshot_buf = realloc(snapshot_buf, snapshot_cap);
		REQUIRE(snapshot_buf);
	}
	memcpy(snapshot_buf + snapshot_len, line, strlen(line) + 1);
	snapshot_len += strlen(line);
	return 0;
}

static char *snapshot(void)
{
	snapshot_buf = NULL;
	snapshot_len = snapshot_cap = 0;
	nftw(work, snap_entry, 32, FTW_PHYS);
	return snapshot_buf ? snapshot_buf : strdup("");
}

/* Nothing the host created is readable by group or others; nothing is
 * a FIFO or symlink it made (those are the hostile program's). */
static unsigned open_modes;

static int mode_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)flag;
	(void)ftw;
	if ((S_ISREG(st->st_mode) || S_ISDIR(st->st_mode)) && (st->st_mode & 077)) {
		fprintf(stderr, "%s: mode %o\n", path, (unsigned)st->st_mode & 0777);
		open_modes++;
	}
	return 0;
}

static void check_private(void)
{
	open_modes = 0;
	nftw(trace, mode_entry, 32, FTW_PHYS);
	CHECK_EQ_U64(open_modes, 0);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A scenario: record over `script` (a shell command line running the
 * hostile and the good program); status expected; then the common checks. */
static void scenario(const char *const *opts, const char *script, int want_status, bool good)
{
	char *before = snapshot(), *after;
	double t0 = now_s();

	nftw(trace, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	CHECK_EQ_I64(record(opts, script, 120), want_status);
	printf("record took %.1f s\n", now_s() - t0);
	after = snapshot();
	CHECK_STR_EQ(after, before);
	free(before);
	free(after);
	if (good)
		check_good();
	check_private();
	if (rtr_test_failures) {
		char *e = out_of("record", "err");

		fprintf(stderr, "--- record's stderr ---\n%.6000s\n", e);
		free(e);
	}
}

static char *cmd(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *cmd(const char *fmt, ...)
{
	static char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return buf;
}

/* ------------------------------------------------------------------------
 * Scenarios
 * ------------------------------------------------------------------------ */

/* Garbage in every control field: the buffers are damaged or their
 * counters impossible; the totals count only the good program. */
static void test_scribble(void)
{
	for (int v = 0; v <= 4; v++) {
		uint64_t events = 0, lost = 0;

		printf("scribble %d\n", v);
		scenario(NULL,
			 cmd("%s scribble %d & %s %u; wait", HOSTILE_EVIL, v, HOSTILE_GOOD, GOOD_N),
			 0, true);
		CHECK(summary(&events, &lost));
		CHECK_EQ_U64(events, GOOD_N);
		CHECK_EQ_U64(lost, 0);
		if (v == 1)
			CHECK(err_has("impossible"));
	}
}

static void test_chaos(void)
{
	scenario(NULL, cmd("%s chaos 3 & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
		 true);
}

/* 1003 registrations of one pid: 1003 directories, never one reused. */
static void test_rehello(void)
{
	char dir[1200];

	scenario(NULL, cmd("%s rehello 1003 & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
		 true);
	CHECK_EQ_U64(count_dirs("rehello-", dir, sizeof(dir)), 1003);
	CHECK(err_has("(1004 process traces)"));
}

/* 300 connections that never say HELLO: the good program is traced all
 * the same, and the log stays short. */
static void test_silent(void)
{
	scenario(
	    NULL,
	    cmd("%s silent 300 4 & sleep 0.5; %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
	    true);
	CHECK(err_lines() < 40);
}

/* Five processes with bulky event descriptions registered until refused,
 * still running: a program started after them is traced. */
static void test_fatreg(void)
{
	char marks[700];

	snprintf(marks, sizeof(marks), "%s/marks", work);
	REQUIRE(mkdir(marks, 0700) == 0);
	scenario(NULL,
		 cmd("for i in 1 2 3 4 5; do %s fatreg 4 %s & done; "
		     "while [ $(ls %s | wc -l) -lt 5 ]; do sleep 0.1; done; %s %u; wait",
		     HOSTILE_EVIL, marks, marks, HOSTILE_GOOD, GOOD_N),
		 0, true);
	CHECK(err_has("registers too many events"));
}

/* Symlinks at every directory name the host may choose, then a FIFO and
 * symlinks at the stream and index names: nothing outside changes (the
 * snapshot), record never blocks, the hostile program's trace gets fresh
 * names. */
static void test_plant(void)
{
	char dir[1200], path[1400];
	struct stat st;

	scenario(
	    NULL,
	    cmd("%s plant %s %s & %s %u; wait", HOSTILE_EVIL, trace, victim, HOSTILE_GOOD, GOOD_N),
	    0, true);
	CHECK_EQ_U64(count_dirs("plant-", dir, sizeof(dir)), 1);
	snprintf(path, sizeof(path), "%s/channel0_0.2", dir);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
	snprintf(path, sizeof(path), "%s/channel0_1.1", dir);
	CHECK(lstat(path, &st) == 0 && S_ISREG(st.st_mode));
}

static void test_garbage(void)
{
	scenario(NULL, cmd("%s garbage & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
		 true);
	CHECK(err_has("refused a connection"));
	CHECK(err_has("pid does not match"));
	CHECK(err_lines() < 60);
}

static void test_lies(void)
{
	scenario(NULL, cmd("%s lies & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0, true);
}

static void test_flood(void)
{
	scenario(NULL, cmd("%s flood 70000 & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
		 true);
}

static void test_noanswer(void)
{
	scenario(NULL, cmd("%s noanswer 3 & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
		 true);
}

static void test_truncate(void)
{
	scenario(NULL, cmd("%s truncate & %s %u; wait", HOSTILE_EVIL, HOSTILE_GOOD, GOOD_N), 0,
		 true);
	CHECK(!err_has("changed size"));
}

/* Packet headers rewritten in shared memory all the time: the trace is
 * whole (the host writes the headers from its own memory): every packet
 * reads, the events are in order, and what is missing is exactly what the
 * trace and record count as discarded (the rewriting thread competes for
 * the CPUs with the host: on a loaded machine the buffers may fill). */
static void test_toctou(void)
{
	const char *readers[] = {HOSTILE_RINGTRACE, "babeltrace2"};
	const uint64_t n = 200000;
	uint64_t events = 0, lost = 0;
	char dir[1200];

	scenario(NULL, cmd("%s %" PRIu64, HOSTILE_TOCTOU, n), 0, false);
	CHECK(summary(&events, &lost));
	CHECK_EQ_U64(events + lost, n);
	CHECK_EQ_U64(count_dirs("hostile_toctou-", dir, sizeof(dir)), 1);
	for (int r = 0; r < 2 && dir[0]; r++) {
		uint64_t *seqs, discarded, dup = 0;
		int status;
		char *err;
		size_t got = read_ticks(readers[r], dir, &seqs, &status, &err);

		CHECK_EQ_I64(status, 0);
		CHECK(bt_clean(err, &discarded)); /* no bad packet, only losses */
		if (r == 1)
			CHECK_EQ_U64(discarded, lost);
		CHECK_EQ_U64(got, events);
		for (size_t i = 1; i < got; i++)
			dup += seqs[i] <= seqs[i - 1];
		CHECK_EQ_U64(dup, 0);
		free(seqs);
		free(err);
	}
}

/* -o: a directory reached through a symlink (as root), one of another
 * user, one not empty: refused, nothing written there. */
static void test_outdir(void)
{
	char link[700], other[700], full[700], path[800];
	const char *argv[] = {HOSTILE_RINGTRACE, "record", "-q", "-o", "", "--",
			      HOSTILE_GOOD,	 "10",	   NULL};
	char *before, *after;
	struct stat st;

	snprintf(link, sizeof(link), "%s/out/link", work);
	snprintf(other, sizeof(other), "%s/out/other", work);
	snprintf(full, sizeof(full), "%s/out/full", work);
	snprintf(path, sizeof(path), "%s/out", work);
	REQUIRE(mkdir(path, 0700) == 0 && mkdir(other, 0700) == 0 && mkdir(full, 0700) == 0);
	snprintf(path, sizeof(path), "%s/x", full);
	REQUIRE(mkdir(path, 0700) == 0);
	REQUIRE(symlink(victim, link) == 0);
	if (geteuid() == 0)
		REQUIRE(chown(other, 65534, 65534) == 0);
	before = snapshot();
	if (geteuid() == 0) {
		argv[4] = link;
		CHECK_EQ_I64(run("record", argv, 60), 1);
		CHECK(err_has("symbolic link"));
		snprintf(path, sizeof(path), "%s/sub", link);
		argv[4] = path;
		CHECK_EQ_I64(run("record", argv, 60), 1);
		CHECK(err_has("symbolic link"));
		argv[4] = other;
		CHECK_EQ_I64(run("record", argv, 60), 1);
		CHECK(err_has("another user"));
	}
	argv[4] = full;
	CHECK_EQ_I64(run("record", argv, 60), 1);
	/* one line, saying what to do (issue 12) */
	CHECK(err_has("is not empty: give -o a new or empty directory"));
	CHECK_EQ_I64(err_lines(), 1);
	after = snapshot();
	CHECK_STR_EQ(after, before); /* nothing created anywhere */
	free(before);
	free(after);
	/* a new directory: made, private */
	snprintf(path, sizeof(path), "%s/out/new/deep", work);
	argv[4] = path;
	CHECK_EQ_I64(run("record", argv, 60), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0700);
}

/* ------------------------------------------------------------------------
 * Full disk: a 2 MB tmpfs in a mount namespace of our own
 * ------------------------------------------------------------------------ */

static char small[700];

static bool small_disk(void)
{
	if (geteuid() != 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return false;
	snprintf(small, sizeof(small), "%s/small", work);
	if (mkdir(small, 0700) < 0 || mount("tmpfs", small, "tmpfs", 0, "size=2m") < 0)
		return false;
	snprintf(trace, sizeof(trace), "%s/small/t", work);
	return true;
}

static const char *const disk_opts[] = {"--subbuf-size", "16k", "--num-subbuf", "4", NULL};

/* A events on disk, then the disk fills, then the program exits: the
 * final metadata still goes in (into the room kept in the file), the
 * trace is whole, record exits 0. */
static void test_disk_end(void)
{
	char dir[1200];

	if (!small_disk()) {
		printf("needs root and a tmpfs: skipped\n");
		exit(77);
	}
	CHECK_EQ_I64(
	    record(disk_opts, cmd("%s end %s/fill %s 16384 5000", HOSTILE_DISK, small, trace), 120),
	    0);
	CHECK_EQ_U64(count_dirs("hostile_disk-", dir, sizeof(dir)), 1);
	if (dir[0])
		check_complete(dir, 5000);
	CHECK(!err_has("()"));
}

/* The disk fills before anything is written: nothing can be, record says
 * why (errno text) and fails; no empty directory is left. */
static void test_disk_early(void)
{
	uint64_t events = 1, lost = 0;

	if (!small_disk()) {
		printf("needs root and a tmpfs: skipped\n");
		exit(77);
	}
	/* 1000 events: less than a packet, so nothing is written before */
	CHECK_EQ_I64(record(disk_opts,
			    cmd("%s early %s/fill %s 16384 1000", HOSTILE_DISK, small, trace), 120),
		     1);
	CHECK(err_has("No space left on device"));
	CHECK(err_has("1000 events could not be written"));
	CHECK(summary(&events, &lost));
	CHECK_EQ_U64(events, 0);
	CHECK_EQ_U64(lost, 1000);
	CHECK_EQ_U64(count_dirs("hostile_disk-", NULL, 0), 0);
}

/* The disk fills mid-run, then has room again: recording resumes; what
 * was discarded meanwhile is counted in the trace (babeltrace2's
 * discarded-events warnings) and in record's summary, exactly; the events
 * before and after are all there; record fails and says why. */
static void test_disk_mid(void)
{
	const long a = 3000, b = 10000, c = 3000;
	const char *readers[] = {HOSTILE_RINGTRACE, "babeltrace2"};
	uint64_t events = 0, lost = 0;
	char dir[1200];

	if (!small_disk()) {
		printf("needs root and a tmpfs: skipped\n");
		exit(77);
	}
	CHECK_EQ_I64(
	    record(disk_opts,
		   cmd("%s mid %s/fill %s 16384 %ld %ld %ld", HOSTILE_DISK, small, trace, a, b, c),
		   120),
	    1);
	CHECK(err_has("No space left on device"));
	CHECK(err_has("recording resumed"));
	CHECK(summary(&events, &lost));
	CHECK_EQ_U64(events + lost, (uint64_t)(a + b + c));
	CHECK(lost > 0);
	CHECK_EQ_U64(count_dirs("hostile_disk-", dir, sizeof(dir)), 1);
	for (int r = 0; r < 2 && dir[0]; r++) {
		uint64_t *seqs, discarded, missing_a = 0, missing_c = 0, dup = 0;
		size_t k = 0;
		int status;
		char *err;
		size_t got = read_ticks(readers[r], dir, &seqs, &status, &err);

		CHECK_EQ_I64(status, 0);
		if (r == 1) {
			CHECK(bt_clean(err, &discarded));
			CHECK_EQ_U64(discarded, lost); /* the trace says what record says */
		}
		CHECK_EQ_U64(got, events);
		for (size_t i = 1; i < got; i++)
			dup += seqs[i] == seqs[i - 1];
		for (uint64_t s = 0; s < (uint64_t)(a + b + c); s++) {
			while (k < got && seqs[k] < s)
				k++;
			if (k < got && seqs[k] == s)
				continue;
			if (s < (uint64_t)a)
				missing_a++;
			else if (s >= (uint64_t)(a + b))
				missing_c++;
		}
		CHECK_EQ_U64(dup, 0);
		CHECK_EQ_U64(missing_a, 0);
		CHECK_EQ_U64(missing_c, 0);
		free(seqs);
		free(err);
	}
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*fn)(void);
	} tests[] = {
	    {"scribble", test_scribble},     {"chaos", test_chaos},
	    {"rehello", test_rehello},	     {"silent", test_silent},
	    {"fatreg", test_fatreg},	     {"plant", test_plant},
	    {"garbage", test_garbage},	     {"lies", test_lies},
	    {"flood", test_flood},	     {"noanswer", test_noanswer},
	    {"truncate", test_truncate},     {"toctou", test_toctou},
	    {"outdir", test_outdir},	     {"disk_end", test_disk_end},
	    {"disk_early", test_disk_early}, {"disk_mid", test_disk_mid},
	};
	int rc = -1;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SCENARIO\n", argv[0]);
		return 2;
	}
	if (system("babeltrace2 --version >/dev/null 2>&1") != 0) {
		printf("babeltrace2 not found: skipped\n");
		return 77;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	REQUIRE(mkdtemp(work) != NULL);
	snprintf(trace, sizeof(trace), "%s/trace", work);
	snprintf(victim, sizeof(victim), "%s/victim", work);
	REQUIRE(mkdir(victim, 0755) == 0);
	{
		char path[700];
		FILE *f;

		snprintf(path, sizeof(path), "%s/precious", victim);
		f = fopen(path, "w");
		REQUIRE(f);
		fputs("precious: must never change\n", f);
		fclose(f);
	}
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (!strcmp(argv[1], tests[i].name)) {
			tests[i].fn();
			rc = rtr_test_done(argv[1]);
		}
	kill_running();
	if (rc < 0) {
		fprintf(stderr, "unknown scenario %s\n", argv[1]);
		rc = 2;
	}
	if (small[0])
		umount2(small, MNT_DETACH);
	if (rc == 0 || getenv("HOSTILE_KEEP") == NULL)
		nftw(work, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "kept %s\n", work);
	return rc;
}
