/* lib/host: per-process trace output (rtr__ptrace) — the directory, its
 * stream files (written by lib/ctf's stream writer), the metadata. Design:
 * docs/design/host.md §5. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host-internal.h"

static void sanitize_name(char *dst, size_t cap, const char *src)
{
	size_t n = 0;

	for (; *src && n + 1 < cap; src++) {
		char c = *src;

		dst[n++] = ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.')
			       ? c
			       : '_';
	}
	if (n == 0 || dst[0] == '.')
		dst[n == 0 ? n++ : 0] = '_';
	dst[n] = 0;
}

mode_t rtr__dir_mode(mode_t file_mode)
{
	return file_mode | ((file_mode & 0444) >> 2);
}

/* Creates directory `name` in the trace directory and opens it; -EEXIST
 * when the name is taken or what we created was swapped for something
 * else before we opened it. */
int rtr__mkdir_open(struct rtr_host *h, int parent, const char *name)
{
	int fd;

	if (mkdirat(parent, name, rtr__dir_mode(h->file_mode)) < 0)
		return -errno;
	fd = rtr_ctf_dir_open(parent, name);
	if (fd == -ELOOP || fd == -ENOTDIR || fd == -ENOENT)
		return -EEXIST; /* swapped: not ours any more */
	if (fd < 0)		/* e.g. out of descriptors: leave nothing behind */
		unlinkat(parent, name, AT_REMOVEDIR);
	return fd;
}

/* Trace directory <procname>-<pid>, else <procname>-<pid>-<N> with N from
 * a counter of the host, else with a random N: always a directory created
 * now, never one that existed (a process can predict the names and plant
 * anything there; mkdir never follows a symlink and fails on any existing
 * name). */
static int make_proc_dir(struct rtr__ptrace *t, int parent)
{
	struct rtr__proc *p = t->p;
	struct rtr_host *h = p->h;
	char base[32];
	int fd = -EEXIST;

	sanitize_name(base, sizeof(base), p->procname);
	if (p->user) /* per-user buffers: uid-UID (daemon.md §9) */
		snprintf(t->dirname, sizeof(t->dirname), "%s", base);
	else
		snprintf(t->dirname, sizeof(t->dirname), "%s-%d", base, (int)p->pid);
	fd = rtr__mkdir_open(h, parent, t->dirname);
	for (int i = 0; i < 64 && fd == -EEXIST; i++) {
		snprintf(t->dirname, sizeof(t->dirname), "%s-%d-%u", base, (int)p->pid,
			 ++h->dir_seq);
		fd = rtr__mkdir_open(h, parent, t->dirname);
	}
	for (int i = 0; i < 8 && fd == -EEXIST; i++) {
		uint64_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			break;
		snprintf(t->dirname, sizeof(t->dirname), "%s-%d-%016llx", base, (int)p->pid,
			 (unsigned long long)rnd);
		fd = rtr__mkdir_open(h, parent, t->dirname);
	}
	if (fd < 0) {
		t->dirname[0] = 0;
		return fd;
	}
	t->dirfd = fd;
	return 0;
}

int rtr__output_open_in(struct rtr__ptrace *t, int parent)
{
	int r = make_proc_dir(t, parent);

	if (r)
		return r;
	if (getrandom(t->uuid, sizeof(t->uuid), 0) != sizeof(t->uuid)) {
		for (size_t i = 0; i < sizeof(t->uuid); i++)
			t->uuid[i] = (uint8_t)(rand() ^ (t->p->pid >> (i % 4)));
	}
	t->uuid[6] = (uint8_t)((t->uuid[6] & 0x0f) | 0x40); /* version 4 */
	t->uuid[8] = (uint8_t)((t->uuid[8] & 0x3f) | 0x80);
	t->meta_gen_disk = 0;
	t->meta_gen++;
	return 0;
}

int rtr__output_open(struct rtr__ptrace *t)
{
	return rtr__output_open_in(t, t->s->chunk_dirfd);
}

int rtr__output_stream(struct rtr__pchan *c, uint32_t cpu, struct rtr_ring_buf *buf, int dirfd)
{
	struct rtr__ptrace *t = c->t;
	struct rtr_ctf_stream_priv priv = {
	    .stream_class_id = c->ci, .cpu_id = cpu, .stream_instance_id = cpu};
	char sname[96];

	memcpy(priv.trace_uuid, t->uuid, 16);
	snprintf(sname, sizeof(sname), "%.63s_%u", t->s->chans[c->ci].name, cpu);
	c->streams[cpu] = rtr_ctf_stream_create(dirfd, sname, c->cfg, buf, &priv);
	if (!c->streams[cpu])
		return -errno;
	rtr_ctf_stream_set_mode(c->streams[cpu], t->p->h->file_mode);
	if (!t->s->snapshot && t->s->chans[c->ci].c.tracefile_size)
		rtr_ctf_stream_set_file_limits(c->streams[cpu], t->s->chans[c->ci].c.tracefile_size,
					       t->s->chans[c->ci].c.tracefile_count);
	return 0;
}

uint64_t rtr__output_packets(const struct rtr__ptrace *t)
{
	uint64_t packets = 0;

	for (unsigned ci = 0; ci < RTR_HOST_MAX_CHANS; ci++) {
		const struct rtr__pchan *c = t->ch[ci];

		if (!c)
			continue;
		packets += c->tot.packets;
		for (uint32_t cpu = 0; c->streams && cpu < c->nr_bufs; cpu++)
			if (c->streams[cpu]) {
				struct rtr_ctf_stream_stats ss;

				rtr_ctf_stream_stats(c->streams[cpu], &ss);
				packets += ss.packets;
			}
	}
	return packets;
}

/* Room kept in a metadata file that is not final yet: the final one grows
 * by at most the sync list and a few numbers (the events it describes are
 * already there: new ones are written before any data that uses them). */
#define META_RESERVE ((size_t)RTR_CLOCK_SYNC_STR_MAX + 4096u)
#define META_ROUND   4096u

static int pwrite_all(int fd, const char *p, size_t n, size_t off)
{
	for (size_t done = 0; done < n;) {
		ssize_t w = pwrite(fd, p + done, n - done, (off_t)(off + done));

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

/* text at 0, then spaces up to size (a newline last): TSDL ignores them. */
static int write_padded(int fd, const char *text, size_t len, size_t size)
{
	char pad[4096];
	int r = pwrite_all(fd, text, len, 0);

	memset(pad, ' ', sizeof(pad));
	for (size_t off = len; !r && off < size;) {
		size_t n = size - off < sizeof(pad) ? size - off : sizeof(pad);

		if (off + n == size)
			pad[n - 1] = '\n';
		r = pwrite_all(fd, pad, n, off);
		off += n;
	}
	return r;
}

static bool disk_full(int err)
{
	return err == -ENOSPC || err == -EDQUOT;
}

/*
 * Writes the metadata text. Normally atomically: a temporary file created
 * exclusively under a random name, fsync'ed if final, renamed over
 * `metadata`. A
 * file that is not final keeps META_RESERVE bytes of padding, so that when
 * the disk is full the next version can still be written into the same
 * file, in place (the final one then cut to its length): a trace whose
 * data reached the disk never loses its metadata to a full disk.
 */
static int write_metadata_text(struct rtr__ptrace *p, const char *text, size_t len, bool final)
{
	size_t size = final ? len : (len + META_RESERVE + META_ROUND - 1) / META_ROUND * META_ROUND;
	char tmp[64];
	int fd = -EEXIST, r;

	for (int k = 0; k < 8 && fd == -EEXIST; k++) {
		uint64_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t)k << 32 ^ p->p->h->dir_seq++;
		snprintf(tmp, sizeof(tmp), ".metadata.%016llx.tmp", (unsigned long long)rnd);
		fd = rtr_ctf_file_create(p->dirfd, tmp, p->p->h->file_mode);
	}
	r = fd < 0 ? fd : write_padded(fd, text, len, size);
	/* Only the final version is synced: a provisional one is replaced
	 * within a second or at the process's end, and its fsync (4 ms median
	 * on a loaded disk) was on the way of every short process. */
	if (!r && final && fsync(fd) < 0)
		r = -errno;
	if (!r && renameat(p->dirfd, tmp, p->dirfd, "metadata") < 0)
		r = -errno;
	if (!r) {
		if (p->meta_fd >= 0)
			close(p->meta_fd);
		p->meta_fd = fd;
		p->meta_size = size;
		return 0;
	}
	if (fd >= 0) {
		close(fd);
		unlinkat(p->dirfd, tmp, 0);
	}
	/* No room for a new file: into the one we have, if the text fits. */
	if (!disk_full(r) || p->meta_fd < 0 || len > p->meta_size)
		return r;
	r = write_padded(p->meta_fd, text, len, final ? len : p->meta_size);
	if (!r && final && ftruncate(p->meta_fd, (off_t)len) < 0)
		r = -errno;
	if (!r && fsync(p->meta_fd) < 0)
		r = -errno;
	if (!r && final)
		p->meta_size = len;
	return r;
}

static int write_metadata_file(struct rtr__ptrace *p, const struct rtr_ctf_meta *m, bool final)
{
	char *text;
	size_t len;
	int r = rtr_ctf_meta_render(m, &text, &len);

	if (r)
		return r;
	r = write_metadata_text(p, text, len, final);
	free(text);
	return r;
}

/* The metadata builder of trace t with the clock so far. */
static struct rtr_ctf_meta *build_meta(struct rtr__ptrace *t, const struct rtr_clock_meta *clock,
				       const struct rtr_clock_sync *pts, size_t npts, int *rp)
{
	struct rtr__proc *p = t->p;
	struct rtr_host *h = p->h;
	struct rtr_ctf_std_env env = {.procname = p->user ? NULL : p->procname,
				      .vpid = p->user ? -1 : p->pid,
				      .creation_time = t->created,
				      .trace_name = t->dirname};
	struct rtr_ctf_meta *m = rtr_ctf_meta_create(t->uuid, RTR_CTF_BYTE_ORDER_HOST);
	int r;

	if (!m) {
		*rp = -ENOMEM;
		return NULL;
	}
	r = rtr_ctf_meta_set_clock(m, &clock->desc);
	if (!r)
		r = rtr_ctf_meta_env_std(m, &env);
	if (!r)
		r = rtr_ctf_meta_env_clock(m, clock);
	if (!r && npts)
		r = rtr_ctf_meta_env_sync_list(m, pts, npts);
	if (!r && !t->s->record)
		r = rtr_ctf_meta_env_string(m, "session", t->s->name);
	if (!r && p->user) { /* LTTng's names for the same facts */
		r = rtr_ctf_meta_env_string(m, "tracer_buffering_scheme", "uid");
		if (!r)
			r = rtr_ctf_meta_env_int(m, "tracer_buffering_id", (int64_t)p->uid);
	}
	for (unsigned ci = 0; !r && ci < RTR_HOST_MAX_CHANS; ci++) {
		const struct rtr__pchan *c = t->ch[ci];

		if (!c || c->view)
			continue; /* (a per-user channel's stream is the owner's) */
		r = rtr_ctf_meta_add_stream(m, ci, t->s->chans[ci].name);
		if (!r && c->ctx_mask)
			r = rtr_ctf_meta_stream_context(m, ci, c->ctx_mask);
		if (!r && c->counters) {
			/* the per-thread counters every event carries, after
			 * the ctx_mask fields (lib/ctf probe_extra.c) */
			struct rtr_field_desc f[RTR_CTF_COUNTER_COUNT];
			uint32_t n = rtr_ctf_counter_fields(c->counters, f);

			r = rtr_ctf_meta_set_event_context(m, ci, f, n);
		}
		for (uint32_t i = 0; !r && i < p->nr_evs && i < c->cap_ids; i++) {
			if (c->ids[i] < 0)
				continue;
			if (rtr_ctf_meta_add_event(m, (uint32_t)c->ids[i], ci, p->evs[i].desc))
				hwarn_c(h, RTR__LOG_PROC,
					"process %d (%s): event %s:%s left out of the metadata: %s",
					(int)p->pid, p->procname, p->evs[i].desc->provider,
					p->evs[i].desc->name, rtr_ctf_meta_error(m));
		}
	}
	if (r) {
		*rp = r;
		rtr_ctf_meta_destroy(m);
		return NULL;
	}
	*rp = 0;
	return m;
}

int rtr__output_render(struct rtr__ptrace *t, const struct rtr_clock_meta *clock,
		       const struct rtr_clock_sync *pts, size_t npts, char **text, size_t *len)
{
	int r;
	struct rtr_ctf_meta *m = build_meta(t, clock, pts, npts, &r);

	if (!m)
		return r;
	r = rtr_ctf_meta_render(m, text, len);
	rtr_ctf_meta_destroy(m);
	return r;
}

static int output_metadata(struct rtr__ptrace *t, const struct rtr_clock_meta *clock,
			   const struct rtr_clock_sync *pts, size_t npts, bool final)
{
	struct rtr_host *h = t->p->h;
	uint32_t gen = t->meta_gen;
	int r;
	struct rtr_ctf_meta *m = build_meta(t, clock, pts, npts, &r);

	if (m)
		r = write_metadata_file(t, m, final);
	if (!r) {
		t->meta_gen_disk = gen;
		t->meta_err = 0;
	} else {
		const char *why = m ? rtr_ctf_meta_error(m) : "";

		if (!t->meta_err)
			rtr__write_error(h, r); /* once until it works again */
		t->meta_err = r;
		herr_c(h, RTR__LOG_DISK, "cannot write the metadata of %s/%s: %s%s%s%s",
		       t->s->out_path, t->dirname, strerror(-r), why[0] ? " (" : "", why,
		       why[0] ? ")" : "");
	}
	rtr_ctf_meta_destroy(m);
	return r;
}

int rtr__output_metadata(struct rtr__ptrace *t, const struct rtr_clock_meta *clock,
			 const struct rtr_clock_sync *pts, size_t npts)
{
	return output_metadata(t, clock, pts, npts, false);
}

bool rtr__output_meta_ready(struct rtr__ptrace *t)
{
	struct rtr_host *h = t->p->h;
	struct rtr_clock_meta cmeta;

	if (t->meta_gen_disk == t->meta_gen)
		return true;
	if (t->dirfd < 0 || rtr__hclock_describe(h, false, &cmeta))
		return false;
	return output_metadata(t, &cmeta, h->clock.log.pts, h->clock.log.n, false) == 0;
}

/* The directory the trace's directory is in. */
static int parent_fd(const struct rtr__ptrace *t)
{
	return t->s ? t->s->chunk_dirfd : -1;
}

void rtr__output_discard(struct rtr__ptrace *t)
{
	int parent = parent_fd(t);

	if (t->dirfd < 0)
		return;
	unlinkat(t->dirfd, "index", AT_REMOVEDIR);
	unlinkat(t->dirfd, "metadata", 0);
	rtr__output_close(t);
	/* Only if empty: whatever else is there is not ours to remove. */
	if (parent >= 0)
		unlinkat(parent, t->dirname, AT_REMOVEDIR);
}

/* Removes a trace's directory when it holds no stream (no event was ever
 * recorded): an empty CTF trace only makes readers complain. */
bool rtr__output_remove_if_empty(struct rtr__ptrace *t)
{
	if (rtr__output_packets(t))
		return false;
	rtr__output_discard(t);
	return true;
}

int rtr__output_final(struct rtr__ptrace *t)
{
	struct rtr_host *h = t->p->h;
	struct rtr_clock_meta cmeta;
	int r = rtr__hclock_describe(h, true, &cmeta);

	if (!r)
		r = output_metadata(t, &cmeta, h->clock.log.pts, h->clock.log.n, true);
	rtr__output_close(t);
	return r;
}

void rtr__output_close(struct rtr__ptrace *p)
{
	if (p->meta_fd >= 0)
		close(p->meta_fd);
	p->meta_fd = -1;
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->dirfd = -1;
}
