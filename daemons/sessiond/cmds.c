/* ringtraced: control commands — each a few host calls and the lines the
 * user reads. Names as LTTng's (create, enable-channel, enable-event,
 * disable-event, add-context, start, stop, snapshot record, rotate,
 * destroy, list, status). Design: docs/design/daemon.md §6. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "sessiond.h"

void sd_reply_begin(struct sd *d, struct sd_client *c, int status, const char *session)
{
	char who[200];

	rtr_ctl_begin(&d->out, RTR_CTL_REPLY, c->seq);
	rtr_ctl_put_u64(&d->out, RTR_CTA_STATUS, (uint64_t)(int64_t)status);
	snprintf(who, sizeof(who), "ringtraced pid %d, %s", (int)getpid(), d->rundir);
	rtr_ctl_put_str(&d->out, RTR_CTA_DAEMON, who);
	if (session)
		rtr_ctl_put_str(&d->out, RTR_CTA_NAME, session);
}

static void text(struct sd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text(struct sd *d, const char *fmt, ...)
{
	char line[1500];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rtr_ctl_put_str(&d->out, RTR_CTA_TEXT, line);
}

void sd_reply_send(struct sd *d, struct sd_client *c)
{
	/* (uses its own buffer: d->out holds the answer) */
	sd_write_armed(d);
	sd_state_sync(d); /* before the answer: a kill after it finds the state */
	if (rtr_ctl_finish(&d->out)) {
		/* too long: say so instead */
		uint32_t seq = c->seq;

		rtr_ctl_begin(&d->out, RTR_CTL_REPLY, seq);
		rtr_ctl_put_u64(&d->out, RTR_CTA_STATUS, (uint64_t)(int64_t)-EMSGSIZE);
		rtr_ctl_put_str(&d->out, RTR_CTA_ERROR, "the answer does not fit a message");
		rtr_ctl_finish(&d->out);
	}
	if (c->fd >= 0 && rtr_proto_send(c->fd, &d->out, NULL, 0, MSG_DONTWAIT))
		sd_client_free(d, c);
	else if (c->fd >= 0)
		c->deadline = rtr_proto_now_ns() + 5000ull * 1000000u; /* a next request */
}

static void fail(struct sd *d, struct sd_client *c, int status, const char *session,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct sd *d, struct sd_client *c, int status, const char *session,
		 const char *fmt, ...)
{
	char e[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(e, sizeof(e), fmt, ap);
	va_end(ap);
	sd_reply_begin(d, c, status ? status : -EINVAL, session);
	rtr_ctl_put_str(&d->out, RTR_CTA_ERROR, e);
	sd_reply_send(d, c);
}

/* The session a command names, or the most recently created one. */
static uint64_t pick_session(struct sd *d, const struct rtr_ctl_msg *m, char *name, size_t cap,
			     char *err, size_t errlen)
{
	const char *n = rtr_ctl_str(m, RTR_CTA_SESSION);
	uint64_t ids[256];
	size_t k = 0;
	uint64_t id;

	if (n) {
		id = rtr_host_session_lookup(d->h, n);
		if (!id)
			snprintf(err, errlen, "no session %s", n);
		snprintf(name, cap, "%s", n);
		return id;
	}
	rtr_host_sessions(d->h, ids, 256, &k);
	if (!k) {
		snprintf(err, errlen, "no session; create one first (ringtrace create NAME)");
		return 0;
	}
	{
		struct rtr_host_session_stats st;

		rtr_host_session_stats(d->h, ids[k - 1], &st);
		snprintf(name, cap, "%s", st.name);
	}
	return ids[k - 1];
}

static const char *human(uint64_t b, char *buf, size_t cap)
{
	if (b >= (1ull << 30) && !(b & ((1ull << 30) - 1)))
		snprintf(buf, cap, "%lluG", (unsigned long long)(b >> 30));
	else if (b >= (1ull << 20) && !(b & ((1ull << 20) - 1)))
		snprintf(buf, cap, "%lluM", (unsigned long long)(b >> 20));
	else if (b >= 1024 && !(b & 1023))
		snprintf(buf, cap, "%lluK", (unsigned long long)(b >> 10));
	else
		snprintf(buf, cap, "%llu", (unsigned long long)b);
	return buf;
}

/* Per channel: what was recorded and lost; when something was lost, the
 * buffer size that would have held it (at the same rate of draining). */
static void stats_lines(struct sd *d, const struct rtr_host_session_stats *st)
{
	for (unsigned ci = 0; ci < st->nchans; ci++) {
		const struct rtr_host_chan_stats *c = &st->chans[ci];
		uint64_t lost = c->t.lost + c->t.dropped + c->t.unwritten;
		uint64_t rec = c->t.events > c->t.dropped + c->t.unwritten
				   ? c->t.events - c->t.dropped - c->t.unwritten
				   : 0;

		text(d, "  channel %s: %llu events recorded, %llu lost%s", c->name,
		     (unsigned long long)rec, (unsigned long long)lost,
		     c->overwrite && c->t.overwritten ? " (overwrite mode: oldest dropped)" : "");
		if (c->t.salvaged || c->t.torn_bytes)
			text(d,
			     "  %llu packets closed after a writer died (%llu bytes of records cut "
			     "after the last one committed)",
			     (unsigned long long)c->t.salvaged, (unsigned long long)c->t.torn_bytes);
		if (lost && !c->overwrite) {
			/* room for (recorded + lost) at the same pace: the
			 * ratio, rounded up to a power of two */
			uint64_t ratio = rec ? (rec + lost + rec - 1) / rec : 8;
			uint64_t want = c->subbuf_size;
			char b1[32], b2[32];

			while (ratio > 1 && want < (1ull << 30)) {
				want <<= 1;
				ratio = (ratio + 1) / 2;
			}
			if (want == c->subbuf_size)
				want <<= 1;
			text(d,
			     "  to lose fewer events, use bigger buffers: enable-channel "
			     "--subbuf-size %s --num-subbuf %u (now %s x %u per CPU)",
			     human(want, b1, sizeof(b1)), c->num_subbuf,
			     human(c->subbuf_size, b2, sizeof(b2)), c->num_subbuf);
		}
	}
}

static void answer_lines(struct sd *d, const struct rtr_host_op_result *res)
{
	if (!res->procs)
		return;
	if (res->answered == res->procs) {
		text(d, "  %u process%s answered in %.1f ms", res->procs,
		     res->procs == 1 ? "" : "es", (double)res->elapsed_ns / 1e6);
		return;
	}
	{
		char b[1200];
		int k = snprintf(b, sizeof(b), "  %u of %u processes did not answer in time:",
				 res->procs - res->answered, res->procs);

		for (unsigned i = 0; i < res->nlaggards && k > 0 && (size_t)k < sizeof(b); i++)
			k += snprintf(b + k, sizeof(b) - (size_t)k, " %d (%s)",
				      (int)res->laggards[i].pid, res->laggards[i].procname);
		text(d, "%s", b);
	}
}

/* ------------------------------------------------------------------------
 * Asynchronous commands: the answer when the processes answered
 * ------------------------------------------------------------------------ */

struct pending {
	struct sd *d;
	struct sd_client *c;
	unsigned type;
	char session[64];
	char output[512];
};

static void op_done(void *arg, const struct rtr_host_op_result *res)
{
	struct pending *pd = arg;
	struct sd *d = pd->d;
	struct sd_client *c = pd->c;

	c->busy = false;
	if (c->gone) {
		sd_client_free(d, c);
		free(pd);
		return;
	}
	sd_reply_begin(d, c, res->status, pd->session);
	switch (pd->type) {
	case RTR_CTL_START:
		text(d, "Session %s started (ringtraced pid %d).", pd->session, (int)getpid());
		answer_lines(d, res);
		break;
	case RTR_CTL_STOP:
		text(d, "Session %s stopped (ringtraced pid %d).", pd->session, (int)getpid());
		answer_lines(d, res);
		stats_lines(d, &res->stats);
		text(d, "  traces: %s", pd->output);
		break;
	default:
		text(d, "Session %s destroyed (ringtraced pid %d).", pd->session, (int)getpid());
		answer_lines(d, res);
		stats_lines(d, &res->stats);
		text(d, "  traces: %s", pd->output);
		break;
	}
	sd_reply_send(d, c);
	free(pd);
}

static void cmd_op(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	struct pending *pd = calloc(1, sizeof(*pd));
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err));
	const char *out;
	int r;

	if (!pd) {
		fail(d, c, -ENOMEM, NULL, "out of memory");
		return;
	}
	if (!sid) {
		free(pd);
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	pd->d = d;
	pd->c = c;
	pd->type = m->type;
	snprintf(pd->session, sizeof(pd->session), "%s", name);
	out = rtr_host_session_output(d->h, sid);
	snprintf(pd->output, sizeof(pd->output), "%s", out ? out : "?");
	c->busy = true;
	if (m->type == RTR_CTL_START)
		r = rtr_host_session_start(d->h, sid, op_done, pd, err, sizeof(err));
	else if (m->type == RTR_CTL_STOP)
		r = rtr_host_session_stop(d->h, sid, op_done, pd, err, sizeof(err));
	else
		r = rtr_host_session_destroy(d->h, sid, op_done, pd, err, sizeof(err));
	if (r) {
		c->busy = false;
		free(pd);
		fail(d, c, r, name, "%s", err);
	}
	/* else op_done answers (maybe already did) */
}

/* ------------------------------------------------------------------------
 * Synchronous commands
 * ------------------------------------------------------------------------ */

static void cmd_create(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m, int fd)
{
	struct rtr_host_session_cfg cfg = {0};
	const char *name = rtr_ctl_str(m, RTR_CTA_SESSION);
	const char *out = rtr_ctl_str(m, RTR_CTA_OUTPUT);
	char autoname[64], err[300], canon[4096];
	uid_t uids[64];
	size_t nuids = 0;
	uint64_t v, id;
	uint32_t it = 0;
	int r;

	if (fd < 0) {
		fail(d, c, -EINVAL, name, "create: no output directory came with the request");
		return;
	}
	if (!name) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(autoname, sizeof(autoname), "auto-%Y%m%d-%H%M%S", &tm);
		name = autoname;
	}
	while (nuids < 64 && rtr_ctl_next_u64(m, RTR_CTA_UID, &it, &v))
		uids[nuids++] = (uid_t)v;
	/* A session records its creator's programs; other users' only when
	 * root's daemon is asked to by root. */
	if (nuids || (rtr_ctl_u64(m, RTR_CTA_ALL_UIDS, &v) && v)) {
		if (c->uid != 0) {
			close(fd);
			fail(d, c, -EPERM, name,
			     "only root may record the programs of other users");
			return;
		}
		cfg.all_uids = rtr_ctl_u64(m, RTR_CTA_ALL_UIDS, &v) && v;
	} else if (c->uid != geteuid()) {
		uids[nuids++] = c->uid;
	}
	cfg.name = name;
	cfg.out_dirfd = fd;
	cfg.out_path = out ? out : "?";
	{
		/* the directory as the kernel names it (what the client gave
		 * may hold .. or symlinks): state/ and recover use it */
		char proc[64];
		ssize_t n;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		n = readlink(proc, canon, sizeof(canon) - 1);
		if (n > 0 && canon[0] == '/') {
			canon[n] = 0;
			cfg.out_path = canon;
		}
	}
	cfg.snapshot = rtr_ctl_u64(m, RTR_CTA_SNAPSHOT, &v) && v;
	cfg.uids = uids;
	cfg.nuids = nuids;
	r = rtr_host_session_create(d->h, &cfg, &id, err, sizeof(err));
	close(fd);
	if (r) {
		fail(d, c, r, name, "%s", err);
		return;
	}
	sd_log("session %s created by uid %u (pid %d): %s%s", name, (unsigned)c->uid, (int)c->pid,
	       cfg.out_path, cfg.snapshot ? " (snapshot)" : "");
	sd_reply_begin(d, c, 0, name);
	text(d, "Session %s created (ringtraced pid %d, %s).", name, (int)getpid(), d->rundir);
	if (cfg.snapshot)
		text(d, "  snapshot session: `ringtrace snapshot record` writes into %s",
		     cfg.out_path);
	else
		text(d, "  traces will be written to %s", cfg.out_path);
	sd_reply_send(d, c);
}

static void cmd_enable_channel(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	struct rtr_host_channel_cfg cc = {0};
	char name[64], err[300], b1[32];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err)), v;
	struct rtr_host_session_stats st;
	int r;

	if (!sid) {
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	cc.name = rtr_ctl_str(m, RTR_CTA_CHANNEL);
	if (rtr_ctl_u64(m, RTR_CTA_SUBBUF_SIZE, &v))
		cc.subbuf_size = v;
	if (rtr_ctl_u64(m, RTR_CTA_NUM_SUBBUF, &v))
		cc.num_subbuf = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	cc.overwrite = rtr_ctl_u64(m, RTR_CTA_OVERWRITE, &v) && v;
	cc.per_uid = rtr_ctl_u64(m, RTR_CTA_PER_UID, &v) && v;
	if (rtr_ctl_u64(m, RTR_CTA_SWITCH_TIMER, &v))
		cc.switch_timer_us = v;
	if (rtr_ctl_u64(m, RTR_CTA_TRACEFILE_SIZE, &v))
		cc.tracefile_size = v;
	if (rtr_ctl_u64(m, RTR_CTA_TRACEFILE_COUNT, &v))
		cc.tracefile_count = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	if (rtr_ctl_u64(m, RTR_CTA_CONTEXT, &v))
		cc.ctx_mask = (uint32_t)v;
	r = rtr_host_channel_enable(d->h, sid, &cc, err, sizeof(err));
	if (r) {
		fail(d, c, r, name, "%s", err);
		return;
	}
	rtr_host_session_stats(d->h, sid, &st);
	sd_reply_begin(d, c, 0, name);
	for (unsigned ci = 0; ci < st.nchans; ci++)
		if (!strcmp(st.chans[ci].name, cc.name))
			text(d,
			     "Channel %s enabled in session %s (ringtraced pid %d): %u x %s per CPU "
			     "and %s, %s.",
			     cc.name, name, (int)getpid(), st.chans[ci].num_subbuf,
			     human(st.chans[ci].subbuf_size, b1, sizeof(b1)),
			     cc.per_uid ? "user (shared by the user's programs)" : "process",
			     st.chans[ci].overwrite ? "overwrite" : "discard");
	sd_reply_send(d, c);
}

static void cmd_enable_event(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	struct rtr_host_rule ru = {0};
	const char *ex[64];
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err)), v;
	uint32_t it = 0;
	bool created = false;
	int r;

	if (!sid) {
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	ru.channel = rtr_ctl_str(m, RTR_CTA_CHANNEL);
	ru.pattern = rtr_ctl_str(m, RTR_CTA_PATTERN);
	ru.filter = rtr_ctl_str(m, RTR_CTA_FILTER);
	while (ru.nexcludes < 64 && (ex[ru.nexcludes] = rtr_ctl_next_str(m, RTR_CTA_EXCLUDE, &it)))
		ru.nexcludes++;
	ru.excludes = ex;
	if (rtr_ctl_u64(m, RTR_CTA_LOGLEVEL_TYPE, &v))
		ru.loglevel_type = v > 2 ? -1 : (int)v;
	if (rtr_ctl_u64(m, RTR_CTA_LOGLEVEL, &v))
		ru.loglevel = v > 14 ? -1 : (int)v;
	r = rtr_host_rule_add(d->h, sid, &ru, &created, err, sizeof(err));
	if (r) {
		fail(d, c, r, name, "%s", err);
		return;
	}
	sd_reply_begin(d, c, 0, name);
	if (created) {
		struct rtr_host_session_stats st;
		bool snap = rtr_host_session_stats(d->h, sid, &st) == 0 && st.snapshot;

		text(d,
		     "Channel channel0 created in session %s with the defaults (4 x 256K per CPU "
		     "and process, %s).",
		     name, snap ? "overwrite" : "discard");
	}
	{
		char b[1400];
		int k = snprintf(b, sizeof(b), "Event rule '%s' enabled in channel %s of session %s",
				 ru.pattern, ru.channel ? ru.channel : "channel0", name);

		for (size_t i = 0; i < ru.nexcludes && k > 0 && (size_t)k < sizeof(b); i++)
			k += snprintf(b + k, sizeof(b) - (size_t)k, "%s%s", i ? ", " : ", excluding ",
				      ex[i]);
		if (ru.loglevel_type && k > 0 && (size_t)k < sizeof(b))
			k += snprintf(b + k, sizeof(b) - (size_t)k, ", log level %s%s",
				      ru.loglevel_type == 2 ? "" : "<= ", rtr_loglevel_name(ru.loglevel));
		if (ru.filter && k > 0 && (size_t)k < sizeof(b))
			k += snprintf(b + k, sizeof(b) - (size_t)k, ", filter '%s'", ru.filter);
		if (k > 0 && (size_t)k < sizeof(b))
			snprintf(b + k, sizeof(b) - (size_t)k, " (ringtraced pid %d).",
				 (int)getpid());
		text(d, "%s", b);
	}
	sd_reply_send(d, c);
}

static void cmd_disable_event(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err));
	const char *pat = rtr_ctl_str(m, RTR_CTA_PATTERN);
	int r;

	if (!sid) {
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	if (!pat) {
		fail(d, c, -EINVAL, name, "disable-event: which event rule?");
		return;
	}
	r = rtr_host_rule_remove(d->h, sid, rtr_ctl_str(m, RTR_CTA_CHANNEL), pat, err, sizeof(err));
	if (r < 0) {
		fail(d, c, r, name, "%s", err);
		return;
	}
	sd_reply_begin(d, c, 0, name);
	text(d, "Event rule '%s' disabled in session %s (ringtraced pid %d).", pat, name,
	     (int)getpid());
	sd_reply_send(d, c);
}

static void cmd_add_context(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err)), mask = 0;
	const char *ch = rtr_ctl_str(m, RTR_CTA_CHANNEL);
	int r;

	if (!sid) {
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	rtr_ctl_u64(m, RTR_CTA_CONTEXT, &mask);
	r = rtr_host_context_add(d->h, sid, ch, (uint32_t)mask, err, sizeof(err));
	if (r) {
		fail(d, c, r, name, "%s", err);
		return;
	}
	sd_reply_begin(d, c, 0, name);
	text(d,
	     "Contexts added to %s%s of session %s (ringtraced pid %d); processes attached "
	     "from now on carry them.",
	     ch ? "channel " : "every channel", ch ? ch : "", name, (int)getpid());
	sd_reply_send(d, c);
}

static void cmd_snapshot(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m, int fd)
{
	struct rtr_host_op_result *res = calloc(1, sizeof(*res));
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err)), max = 0;
	const char *out;

	if (fd >= 0)
		close(fd);
	if (!res) {
		fail(d, c, -ENOMEM, NULL, "out of memory");
		return;
	}
	if (!sid) {
		free(res);
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	rtr_ctl_u64(m, RTR_CTA_MAX_SIZE, &max);
	if (rtr_host_session_snapshot(d->h, sid, max, res)) {
		fail(d, c, res->status, name, "%s", res->err);
		free(res);
		return;
	}
	out = rtr_host_session_output(d->h, sid);
	sd_reply_begin(d, c, 0, name);
	text(d, "Snapshot of session %s written to %s/%s (ringtraced pid %d).", name,
	     out ? out : "?", res->snap_dir, (int)getpid());
	text(d, "  %u stream%s, %llu bytes, cut at one time point: %u of them reach it", res->streams,
	     res->streams == 1 ? "" : "s", (unsigned long long)res->snap_bytes, res->streams_cut);
	answer_lines(d, res);
	sd_reply_send(d, c);
	free(res);
}

static void cmd_rotate(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	struct rtr_host_op_result *res = calloc(1, sizeof(*res));
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err));
	const char *out;

	if (!res) {
		fail(d, c, -ENOMEM, NULL, "out of memory");
		return;
	}
	if (!sid) {
		free(res);
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	if (rtr_host_session_rotate(d->h, sid, res)) {
		fail(d, c, res->status, name, "%s", res->err);
		free(res);
		return;
	}
	out = rtr_host_session_output(d->h, sid);
	sd_reply_begin(d, c, 0, name);
	text(d, "Session %s rotated (ringtraced pid %d): the traces so far are complete; new ones go to %s/%s.",
	     name, (int)getpid(), out ? out : "?", res->snap_dir);
	stats_lines(d, &res->stats);
	sd_reply_send(d, c);
	free(res);
}


static void list_line(void *arg, const char *t)
{
	text(arg, "%s", t);
}

static void cmd_list(struct sd *d, struct sd_client *c)
{
	uint64_t ids[256];
	size_t n = 0;

	rtr_host_sessions(d->h, ids, 256, &n);
	sd_reply_begin(d, c, 0, NULL);
	text(d, "Sessions of ringtraced pid %d (%s):", (int)getpid(), d->rundir);
	if (!n)
		text(d, "  none");
	for (size_t i = 0; i < n; i++) {
		struct rtr_host_session_stats st;
		const char *out = rtr_host_session_output(d->h, ids[i]);

		rtr_host_session_stats(d->h, ids[i], &st);
		text(d, "  %s [%s%s] %s (%u process%s)%s", st.name,
		     st.active ? "active" : "inactive", st.snapshot ? ", snapshot" : "",
		     out ? out : "?", st.procs, st.procs == 1 ? "" : "es",
		     i + 1 == n ? " (most recent)" : "");
	}
	text(d, "Traced processes connected:");
	rtr_host_describe_procs(d->h, list_line, d);
	sd_reply_send(d, c);
}

static void cmd_status(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m)
{
	char name[64], err[300];
	uint64_t sid = pick_session(d, m, name, sizeof(name), err, sizeof(err));
	struct rtr_host_session_stats st;

	if (!sid) {
		fail(d, c, -ENOENT, NULL, "%s", err);
		return;
	}
	rtr_host_session_stats(d->h, sid, &st);
	sd_reply_begin(d, c, 0, name);
	text(d, "Session %s [%s%s] (ringtraced pid %d, %s):", name,
	     st.active ? "active" : "inactive", st.snapshot ? ", snapshot" : "", (int)getpid(),
	     d->rundir);
	rtr_host_session_describe(d->h, sid, list_line, d);
	sd_reply_send(d, c);
}

void sd_command(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m, int fd)
{
	if (fd >= 0 && m->type != RTR_CTL_CREATE && m->type != RTR_CTL_SNAPSHOT) {
		close(fd);
		fd = -1;
	}
	switch (m->type) {
	case RTR_CTL_PING:
		sd_reply_begin(d, c, 0, NULL);
		sd_reply_send(d, c);
		break;
	case RTR_CTL_CREATE:
		cmd_create(d, c, m, fd);
		break;
	case RTR_CTL_ENABLE_CHANNEL:
		cmd_enable_channel(d, c, m);
		break;
	case RTR_CTL_ENABLE_EVENT:
		cmd_enable_event(d, c, m);
		break;
	case RTR_CTL_DISABLE_EVENT:
		cmd_disable_event(d, c, m);
		break;
	case RTR_CTL_ADD_CONTEXT:
		cmd_add_context(d, c, m);
		break;
	case RTR_CTL_START:
	case RTR_CTL_STOP:
	case RTR_CTL_DESTROY:
		cmd_op(d, c, m);
		break;
	case RTR_CTL_SNAPSHOT:
		cmd_snapshot(d, c, m, fd);
		break;
	case RTR_CTL_ROTATE:
		cmd_rotate(d, c, m);
		break;
	case RTR_CTL_LIST:
		cmd_list(d, c);
		break;
	case RTR_CTL_STATUS:
		cmd_status(d, c, m);
		break;
	default:
		if (fd >= 0)
			close(fd);
		fail(d, c, -EOPNOTSUPP, NULL, "unknown command");
		break;
	}
}
