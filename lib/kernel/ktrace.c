/* The CTF kernel trace: one stream file per CPU (channel0_<cpu>, LTTng's
 * names) of packets filled in memory and written whole, their index, and
 * the metadata in LTTng's kernel dialect. Design: docs/design/kernel.md §4. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ringtrace/ctf.h>

#include "ctf-writer.h"
#include "kernel-internal.h"

#define CHANNEL	     "channel0"
#define TS_COMPACT   (1ull << RTR_CTF_TS_BITS)
#define CTX_TID_SIZE 4u

void rtr__klog(const struct rtr_kernel_log *log, enum rtr_kernel_log_level level, const char *fmt,
	       ...)
{
	char msg[1024];
	va_list ap;

	if (level == RTR_KERNEL_LOG_INFO && !(log && log->verbose))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log && log->fn)
		log->fn(log->arg, level, msg);
	else
		fprintf(stderr, "ringtrace: %s\n", msg);
}

void rtr__kfail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int rtr__ktrace_create(struct rtr__ktrace *t, int parent_dirfd, const char *parent_name,
		       const char *name, uint32_t ncpu, size_t packet_size, mode_t file_mode,
		       struct rtr__kmap *map, const struct rtr_kernel_log *log)
{
	int r;

	memset(t, 0, sizeof(*t));
	t->file_mode = file_mode ? file_mode & 0666 : 0600;
	t->dir_mode = t->file_mode | ((t->file_mode & 0444) >> 2);
	t->dirfd = -1;
	t->map = map;
	t->packet_size = packet_size;
	if (log)
		t->log = *log;
	snprintf(t->dir, sizeof(t->dir), "%s/%s", parent_name ? parent_name : ".", name);
	if (getrandom(t->uuid, sizeof(t->uuid), 0) != (ssize_t)sizeof(t->uuid))
		for (size_t i = 0; i < sizeof(t->uuid); i++)
			t->uuid[i] = (uint8_t)(rand() >> 7);
	t->uuid[6] = (uint8_t)((t->uuid[6] & 0x0f) | 0x40);
	t->uuid[8] = (uint8_t)((t->uuid[8] & 0x3f) | 0x80);
	if (mkdirat(parent_dirfd, name, t->dir_mode) < 0)
		return -errno;
	t->dirfd = openat(parent_dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (t->dirfd < 0)
		return -errno;
	t->streams = calloc(ncpu ? ncpu : 1, sizeof(*t->streams));
	if (!t->streams)
		return -ENOMEM;
	t->nr_streams = ncpu;
	for (uint32_t i = 0; i < ncpu; i++) {
		struct rtr__kstream *s = &t->streams[i];

		s->t = t;
		s->cpu = i;
		s->fd = s->idx_fd = -1;
		s->cap = packet_size;
		s->len = RTR__KPACKET_HEADER;
		s->buf = malloc(packet_size);
		if (!s->buf) {
			r = -ENOMEM;
			return r;
		}
	}
	return 0;
}

static int open_files(struct rtr__kstream *s)
{
	char name[64], idx[80];
	uint8_t hdr[RTR_CTF_INDEX_HEADER_SIZE];
	int r;

	snprintf(name, sizeof(name), CHANNEL "_%u", s->cpu);
	snprintf(idx, sizeof(idx), "index/%s.idx", name);
	if (mkdirat(s->t->dirfd, "index", s->t->dir_mode) < 0 && errno != EEXIST)
		return -errno;
	s->fd = openat(s->t->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		       s->t->file_mode);
	if (s->fd < 0)
		return -errno;
	s->idx_fd = openat(s->t->dirfd, idx, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
			   s->t->file_mode);
	if (s->idx_fd < 0)
		return -errno;
	rtr_ctf_index_header_encode(hdr);
	r = rtr_ctf_write_all(s->idx_fd, hdr, sizeof(hdr));
	return r;
}

/* Writes the packet being filled (even an empty one) and starts the next. */
static int close_packet(struct rtr__kstream *s, uint64_t end_ts)
{
	struct rtr_ctf_stream_priv priv = {.stream_class_id = 0,
					   .cpu_id = s->cpu,
					   .stream_instance_id = s->cpu};
	struct rtr_ring_packet_info info = {.seq = s->seq,
					    .begin_ts = s->begin_ts,
					    .end_ts = end_ts,
					    .data_size = s->len,
					    .lost = s->discarded,
					    .cpu = s->cpu};
	struct rtr_ctf_index_entry e = {.offset = s->file_off,
					.packet_size = s->len * 8,
					.content_size = s->len * 8,
					.timestamp_begin = s->begin_ts,
					.timestamp_end = end_ts,
					.events_discarded = s->discarded,
					.stream_id = 0,
					.stream_instance_id = s->cpu,
					.packet_seq_num = s->seq};
	uint8_t ie[RTR_CTF_INDEX_ENTRY_SIZE];
	int r;

	if (s->err)
		return s->err;
	if (s->fd < 0 && (r = open_files(s)) < 0)
		goto fail;
	memcpy(priv.trace_uuid, s->t->uuid, 16);
	rtr_ctf_packet_header_encode(s->buf, &priv, &info);
	r = rtr_ctf_write_all(s->fd, s->buf, s->len);
	if (r)
		goto fail;
	rtr_ctf_index_entry_encode(ie, &e);
	r = rtr_ctf_write_all(s->idx_fd, ie, sizeof(ie));
	if (r)
		goto fail;
	s->file_off += s->len;
	s->seq++;
	s->packets++;
	s->discarded_written = s->discarded;
	s->len = RTR__KPACKET_HEADER;
	return 0;
fail:
	s->err = r;
	rtr__klog(&s->t->log, RTR_KERNEL_LOG_ERROR, "kernel trace %s: cannot write CPU %u's stream: %s",
		  s->t->dir, s->cpu, strerror(-r));
	return r;
}

/* Room for `need` more bytes in the packet (closing it if needed); the
 * timestamp of the event about to be written is ts. */
static int room(struct rtr__kstream *s, size_t need, uint64_t ts)
{
	if (s->len + need > s->cap && s->len > RTR__KPACKET_HEADER) {
		int r = close_packet(s, s->last_ts);

		if (r)
			return r;
	}
	if (s->len + need > s->cap)
		return -E2BIG;
	if (s->len == RTR__KPACKET_HEADER) {
		s->begin_ts = ts;
		s->last_ts = ts;
	}
	return 0;
}

static uint8_t *event_header(struct rtr__kstream *s, uint32_t id, uint64_t ts, int32_t tid)
{
	uint8_t *wp = s->buf + s->len;
	bool full = ts - s->last_ts >= TS_COMPACT;

	wp = (uint8_t *)rtr_ctf_event_header_write((char *)wp, id, ts, full);
	memcpy(wp, &tid, CTX_TID_SIZE);
	return wp + CTX_TID_SIZE;
}

static uint64_t clamp(struct rtr__kstream *s, uint64_t ts)
{
	if (s->has_prev && ts < s->prev_ts) {
		s->clamped++;
		return s->prev_ts;
	}
	return ts;
}

int rtr__kstream_record(struct rtr__kstream *s, uint64_t ts, const uint8_t *rec, size_t len)
{
	const struct rtr__kplan *p;
	uint16_t type;
	int32_t tid;
	uint8_t *wp;
	int r;

	if (s->err)
		return s->err;
	if (len < 8) {
		atomic_fetch_add_explicit(&s->t->map->malformed, 1, memory_order_relaxed);
		return 0;
	}
	memcpy(&type, rec, 2);
	memcpy(&tid, rec + 4, 4);
	p = rtr__kmap_plan(s->t->map, type);
	if (p->ctf_id == UINT32_MAX) {
		atomic_fetch_add_explicit(&s->t->map->unknown, 1, memory_order_relaxed);
		return 0;
	}
	if (p->kind == KKIND_NEWTASK) {
		rtr__kplan_note(s->t->map, p, rec, len, &s->ctx);
		if (p->hidden)
			return 0;
	}
	ts = clamp(s, ts);
	r = room(s, RTR_CTF_HEADER_EXTENDED + CTX_TID_SIZE + rtr__kplan_bound(p, len), ts);
	if (r)
		return r;
	wp = event_header(s, p->ctf_id, ts, tid);
	wp += rtr__kplan_encode(s->t->map, p, rec, len, wp, &s->ctx);
	s->len = (size_t)(wp - s->buf);
	s->last_ts = s->prev_ts = ts;
	s->has_prev = true;
	s->events++;
	return 0;
}

int rtr__kstream_raw(struct rtr__kstream *s, const struct rtr__kplan *p, uint64_t ts, int32_t tid,
		     const void *payload, size_t len)
{
	uint8_t *wp;
	int r;

	if (s->err)
		return s->err;
	ts = clamp(s, ts);
	r = room(s, RTR_CTF_HEADER_EXTENDED + CTX_TID_SIZE + len, ts);
	if (r)
		return r;
	wp = event_header(s, p->ctf_id, ts, tid);
	memcpy(wp, payload, len);
	s->len = (size_t)(wp + len - s->buf);
	s->last_ts = s->prev_ts = ts;
	s->has_prev = true;
	s->events++;
	return 0;
}

int rtr__kstream_lost(struct rtr__kstream *s, uint64_t total)
{
	int r = 0;

	if (total <= s->discarded)
		return 0;
	if (s->len > RTR__KPACKET_HEADER)
		r = close_packet(s, s->last_ts);
	s->discarded = total;
	return r;
}

int rtr__kstream_finish(struct rtr__kstream *s, uint64_t end_ts)
{
	int r = 0;

	if (s->len > RTR__KPACKET_HEADER) {
		r = close_packet(s, s->last_ts);
	}
	if (!r && s->discarded > s->discarded_written) {
		/* An empty packet carrying the final loss total (otherwise no
		 * packet would say that the events after the last one were
		 * dropped). */
		uint64_t ts = end_ts;

		if (s->has_prev && ts < s->prev_ts)
			ts = s->prev_ts;
		s->begin_ts = s->last_ts = ts;
		r = close_packet(s, ts);
	}
	if (s->fd >= 0)
		close(s->fd);
	if (s->idx_fd >= 0)
		close(s->idx_fd);
	s->fd = s->idx_fd = -1;
	return r;
}

void rtr__ktrace_close(struct rtr__ktrace *t)
{
	if (t->streams) {
		for (uint32_t i = 0; i < t->nr_streams; i++) {
			struct rtr__kstream *s = &t->streams[i];

			if (s->fd >= 0)
				close(s->fd);
			if (s->idx_fd >= 0)
				close(s->idx_fd);
			free(s->buf);
		}
		free(t->streams);
	}
	if (t->dirfd >= 0)
		close(t->dirfd);
	memset(t, 0, sizeof(*t));
	t->dirfd = -1;
}

/* ------------------------------------------------------------------------
 * Metadata
 * ------------------------------------------------------------------------ */

int rtr__ktrace_metadata(struct rtr__ktrace *t, const struct rtr_clock_meta *cm,
			 const struct rtr_clock_sync *pts, size_t npts, const struct rtr__kenv *env)
{
	static const struct rtr_field_desc tid_ctx = {
	    .name = "tid",
	    .kind = RTR_FIELD_INTEGER,
	    .integer = {.size_bits = 32, .is_signed = 1, .base = 10},
	};
	struct rtr_ctf_std_env std = {.hostname = env ? env->hostname : NULL, .vpid = -1};
	struct rtr_ctf_meta *m = rtr_ctf_meta_create(t->uuid, RTR_CTF_BYTE_ORDER_HOST);
	struct utsname u;
	int r;

	if (!m)
		return -ENOMEM;
	rtr_ctf_meta_bare_event_names(m, true);
	r = rtr_ctf_meta_set_clock(m, &cm->desc);
	r = r ? r : rtr_ctf_meta_env_std(m, &std);
	/* LTTng's kernel env, so that tools built for LTTng kernel traces
	 * (Trace Compass picks its event layout from tracer_name/major/minor)
	 * read ours; what wrote it is in ringtrace_* (kernel.md §4). */
	r = r ? r : rtr_ctf_meta_env_string(m, "domain", "kernel");
	r = r ? r : rtr_ctf_meta_env_string(m, "tracer_name", "lttng-modules");
	r = r ? r : rtr_ctf_meta_env_int(m, "tracer_major", 2);
	r = r ? r : rtr_ctf_meta_env_int(m, "tracer_minor", 13);
	r = r ? r : rtr_ctf_meta_env_int(m, "tracer_patchlevel", 0);
	if (uname(&u) == 0) {
		r = r ? r : rtr_ctf_meta_env_string(m, "sysname", u.sysname);
		r = r ? r
		      : rtr_ctf_meta_env_string(m, "kernel_release",
						env && env->kernel_release ? env->kernel_release
									   : u.release);
		if (!(env && env->kernel_release))
			r = r ? r : rtr_ctf_meta_env_string(m, "kernel_version", u.version);
	}
	r = r ? r : rtr_ctf_meta_env_string(m, "trace_buffering_scheme", "global");
	r = r ? r : rtr_ctf_meta_env_string(m, "ringtrace_tracer", "ringtrace");
	r = r ? r : rtr_ctf_meta_env_string(m, "ringtrace_source", env && env->source ? env->source : "tracefs");
	if (env && env->trace_clock)
		r = r ? r : rtr_ctf_meta_env_string(m, "ringtrace_kernel_clock", env->trace_clock);
	if (env)
		r = r ? r : rtr_ctf_meta_env_int(m, "kernel_clock_check_ns", env->clock_check_ns);
	if (!(env && env->no_clock_env))
		r = r ? r : rtr_ctf_meta_env_clock(m, cm);
	if (pts && npts)
		r = r ? r : rtr_ctf_meta_env_sync_list(m, pts, npts);
	r = r ? r : rtr_ctf_meta_add_stream(m, 0, CHANNEL);
	r = r ? r : rtr_ctf_meta_set_event_context(m, 0, &tid_ctx, 1);
	if (!r) {
		pthread_mutex_lock(&t->map->lock);
		for (size_t i = 0; i < t->map->nr_plans && !r; i++) {
			const struct rtr__kplan *p = t->map->plans[i];

			if (p->hidden)
				continue;
			r = rtr_ctf_meta_add_event(m, p->ctf_id, 0, &p->desc);
		}
		pthread_mutex_unlock(&t->map->lock);
	}
	if (r) {
		rtr__klog(&t->log, RTR_KERNEL_LOG_ERROR, "kernel trace %s: metadata: %s", t->dir,
			  *rtr_ctf_meta_error(m) ? rtr_ctf_meta_error(m) : strerror(-r));
	} else {
		r = rtr_ctf_meta_write(m, t->dirfd, "metadata");
		if (!r)
			fchmodat(t->dirfd, "metadata", t->file_mode, 0);
		if (r)
			rtr__klog(&t->log, RTR_KERNEL_LOG_ERROR,
				  "kernel trace %s: cannot write the metadata: %s", t->dir,
				  strerror(-r));
	}
	rtr_ctf_meta_destroy(m);
	return r;
}
