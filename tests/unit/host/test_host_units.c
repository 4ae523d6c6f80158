/* Unit tests of lib/host internals (docs/design/host.md): messages of a
 * class are rate-limited and what was not shown is counted; counters a
 * traced process scribbled in its buffer's shared control area stay out
 * of the totals while honest ones go in; process directories are always
 * created fresh, never through a planted symlink, never reused. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host-internal.h"
#include "rtr_test.h"

static char dir[] = "/tmp/rtr-host-units.XXXXXX";
static unsigned nlogs;
static char lastlog[1024];

static void sink(void *arg, enum rtr_host_log_level lvl, const char *msg)
{
	(void)arg;
	(void)lvl;
	nlogs++;
	snprintf(lastlog, sizeof(lastlog), "%s", msg);
}

static void test_rate_limit(struct rtr_host *h)
{
	nlogs = 0;
	for (int i = 0; i < 100; i++)
		hwarn_c(h, RTR__LOG_CONN, "connection %d", i);
	CHECK_EQ_U64(nlogs, 5); /* a burst of five */
	for (int i = 0; i < 3; i++)
		herr(h, "never limited %d", i);
	CHECK_EQ_U64(nlogs, 8);
	hwarn_c(h, RTR__LOG_DISK, "another class");
	CHECK_EQ_U64(nlogs, 9);
	rtr__log_tick(h, true);
	CHECK_EQ_U64(nlogs, 10);
	CHECK_STR_EQ(lastlog, "(95 more messages about connections not shown)");
	rtr__log_tick(h, true);
	CHECK_EQ_U64(nlogs, 10); /* said once */
}

/* A process with one real ring buffer whose shared counters are set. */
static uint64_t totals_with(struct rtr_host *h, bool scribble, uint64_t *lost)
{
	const struct rtr_ring_config *cfg =
	    rtr_ctf_host_config(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC);
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 4};
	struct rtr__proc p = {.h = h, .pid = 42, .procname = "unit"};
	struct rtr__ptrace t = {.p = &p, .dirfd = -1, .meta_fd = -1};
	struct rtr__pchan c = {.t = &t, .nr_bufs = 1};
	struct rtr_ring_buf *bufs[1];
	bool damaged[1] = {false};
	struct rtr_ctf_stream *streams[1] = {NULL};

	REQUIRE(rtr_ring_buf_create(cfg, &geo, 0, "unit", &bufs[0]) == 0);
	c.bufs = bufs;
	c.damaged = damaged;
	c.streams = streams;
	p.registered_ns = rtr__now_ns();
	if (scribble) {
		bufs[0]->ctl->sb[0].records_local = ~0ull / 3; /* no writer gets there */
		bufs[0]->ctl->lost_full = ~0ull - 7;
	} else {
		bufs[0]->ctl->sb[0].records_local = 300; /* 300 x 12 bytes: fits */
		bufs[0]->ctl->lost_full = 5;
	}
	rtr__totals_add_channel(&c, 0);
	rtr_ring_buf_destroy(bufs[0]);
	*lost = c.tot.lost;
	return c.tot.events;
}

static void test_counters(struct rtr_host *h)
{
	uint64_t lost;

	h->host_cpus = 2;
	nlogs = 0;
	CHECK_EQ_U64(totals_with(h, false, &lost), 300);
	CHECK_EQ_U64(lost, 5);
	CHECK_EQ_U64(h->t.bad_counters, 0);
	CHECK_EQ_U64(totals_with(h, true, &lost), 0);
	CHECK_EQ_U64(lost, 0);
	CHECK_EQ_U64(h->t.bad_counters, 1);
	CHECK(strstr(lastlog, "impossible") != NULL);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Names planted as symlinks to a decoy directory and as a FIFO: the host
 * makes a fresh directory each time, never one of those. */
static void test_dirs(struct rtr_host *h)
{
	char path[600], decoy[600];
	struct stat st;
	int tfd;

	snprintf(decoy, sizeof(decoy), "%s/decoy", dir);
	REQUIRE(mkdir(decoy, 0700) == 0);
	snprintf(path, sizeof(path), "%s/trace", dir);
	REQUIRE(mkdir(path, 0700) == 0);
	tfd = open(path, O_DIRECTORY | O_RDONLY);
	REQUIRE(tfd >= 0);
	h->file_mode = 0600;
	snprintf(path, sizeof(path), "%s/trace/unit-42", dir);
	REQUIRE(symlink(decoy, path) == 0);
	for (int i = 1; i <= 70; i++) {
		snprintf(path, sizeof(path), "%s/trace/unit-42-%d", dir, i);
		REQUIRE(i % 2 ? symlink(decoy, path) == 0 : mkfifo(path, 0600) == 0);
	}
	for (int k = 0; k < 5; k++) {
		struct rtr__proc p = {.h = h, .pid = 42, .procname = "unit"};
		struct rtr__ptrace t = {.p = &p, .dirfd = -1, .meta_fd = -1};

		REQUIRE(rtr__output_open_in(&t, tfd) == 0);
		CHECK(t.dirfd >= 0);
		CHECK(strncmp(t.dirname, "unit-42-", 8) == 0);
		snprintf(path, sizeof(path), "%s/trace/%s", dir, t.dirname);
		CHECK(lstat(path, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
		rtr__output_close(&t);
	}
	/* five fresh directories, nothing in the decoy */
	{
		int n = 0;
		FILE *ls;
		char line[256], cmdline[700];

		snprintf(cmdline, sizeof(cmdline), "find '%s/trace' -mindepth 1 -type d | wc -l",
			 dir);
		ls = popen(cmdline, "r");
		REQUIRE(ls && fgets(line, sizeof(line), ls));
		n = atoi(line);
		pclose(ls);
		CHECK_EQ_I64(n, 5);
		snprintf(cmdline, sizeof(cmdline), "find '%s' -mindepth 1 | wc -l", decoy);
		ls = popen(cmdline, "r");
		REQUIRE(ls && fgets(line, sizeof(line), ls));
		CHECK_EQ_I64(atoi(line), 0);
		pclose(ls);
	}
	close(tfd);
}

int main(void)
{
	struct rtr_host *h = calloc(1, sizeof(*h));

	REQUIRE(h && mkdtemp(dir));
	h->cfg.log.fn = sink;
	test_rate_limit(h);
	test_counters(h);
	test_dirs(h);
	free(h);
	if (rtr_test_failures == 0)
		nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return rtr_test_done("test_host_units");
}
