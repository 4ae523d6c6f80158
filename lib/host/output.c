/* lib/host: per-process trace output — the directory, its stream files
 * (written by lib/ctf's stream writer), the metadata. Design:
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
static int try_dir(struct rtr__proc *p, const char *name)
{
	struct rtr_host *h = p->h;
	int fd;

	if (mkdirat(h->cfg.trace_dirfd, name, rtr__dir_mode(h->file_mode)) < 0)
		return -errno;
	fd = rtr_ctf_dir_open(h->cfg.trace_dirfd, name);
	if (fd == -ELOOP || fd == -ENOTDIR || fd == -ENOENT)
		return -EEXIST; /* swapped: not ours any more */
	if (fd < 0)		/* e.g. out of descriptors: leave nothing behind */
		unlinkat(h->cfg.trace_dirfd, name, AT_REMOVEDIR);
	return fd;
}

/* Trace directory <procname>-<pid>, else <procname>-<pid>-<N> with N from
 * a counter of the host, else with a random N: always a directory created
 * now, never one that existed (a process can predict the names and plant
 * anything there; mkdir never follows a symlink and fails on any existing
 * name). */
static int make_proc_dir(struct rtr__proc *p)
{
	struct rtr_host *h = p->h;
	char base[32];
	int fd = -EEXIST;

	sanitize_name(base, sizeof(base), p->procname);
	snprintf(p->dirname, sizeof(p->dirname), "%s-%d", base, (int)p->pid);
	fd = try_dir(p, p->dirname);
	for (int i = 0; i < 64 && fd == -EEXIST; i++) {
		snprintf(p->dirname, sizeof(p->dirname), "%s-%d-%u", base, (int)p->pid,
			 ++h->dir_seq);
		fd = try_dir(p, p->dirname);
	}
	for (int i = 0; i < 8 && fd == -EEXIST; i++) {
		uint64_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			break;
		snprintf(p->dirname, sizeof(p->dirname), "%s-%d-%016llx", base, (int)p->pid,
			 (unsigned long long)rnd);
		fd = try_dir(p, p->dirname);
	}
	if (fd < 0) {
		p->dirname[0] = 0;
		return fd;
	}
	p->dirfd = fd;
	return 0;
}

int rtr__output_open(struct rtr__proc *p)
{
	int r = make_proc_dir(p);

	if (r)
		return r;
	if (getrandom(p->uuid, sizeof(p->uuid), 0) != sizeof(p->uuid)) {
		for (size_t i = 0; i < sizeof(p->uuid); i++)
			p->uuid[i] = (uint8_t)(rand() ^ (p->pid >> (i % 4)));
	}
	p->uuid[6] = (uint8_t)((p->uuid[6] & 0x0f) | 0x40); /* version 4 */
	p->uuid[8] = (uint8_t)((p->uuid[8] & 0x3f) | 0x80);
	return 0;
}

int rtr__output_stream(struct rtr__proc *p, uint32_t cpu, struct rtr_ring_buf *buf)
{
	struct rtr_ctf_stream_priv priv = {
	    .stream_class_id = RTR_HOST_STREAM_CLASS_ID, .cpu_id = cpu, .stream_instance_id = cpu};
	char sname[64];

	memcpy(priv.trace_uuid, p->uuid, 16);
	snprintf(sname, sizeof(sname), "%s_%u", RTR_HOST_CHAN_NAME, cpu);
	p->streams[cpu] = rtr_ctf_stream_create(p->dirfd, sname, p->cfg, buf, &priv);
	if (!p->streams[cpu])
		return -errno;
	rtr_ctf_stream_set_mode(p->streams[cpu], p->h->file_mode);
	return 0;
}

uint64_t rtr__output_packets(const struct rtr__proc *p)
{
	uint64_t packets = 0;

	for (uint32_t cpu = 0; p->streams && cpu < p->nr_bufs; cpu++)
		if (p->streams[cpu]) {
			struct rtr_ctf_stream_stats ss;

			rtr_ctf_stream_stats(p->streams[cpu], &ss);
			packets += ss.packets;
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
 * exclusively under a random name, fsync'ed, renamed over `metadata`. A
 * file that is not final keeps META_RESERVE bytes of padding, so that when
 * the disk is full the next version can still be written into the same
 * file, in place (the final one then cut to its length): a trace whose
 * data reached the disk never loses its metadata to a full disk.
 */
static int write_metadata_text(struct rtr__proc *p, const char *text, size_t len, bool final)
{
	size_t size = final ? len : (len + META_RESERVE + META_ROUND - 1) / META_ROUND * META_ROUND;
	char tmp[64];
	int fd = -EEXIST, r;

	for (int k = 0; k < 8 && fd == -EEXIST; k++) {
		uint64_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t)k << 32 ^ p->h->dir_seq++;
		snprintf(tmp, sizeof(tmp), ".metadata.%016llx.tmp", (unsigned long long)rnd);
		fd = rtr_ctf_file_create(p->dirfd, tmp, p->h->file_mode);
	}
	r = fd < 0 ? fd : write_padded(fd, text, len, size);
	if (!r && fsync(fd) < 0)
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

static int write_metadata_file(struct rtr__proc *p, const struct rtr_ctf_meta *m, bool final)
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

static int output_metadata(struct rtr__proc *p, const struct rtr_clock_meta *clock,
			   const struct rtr_clock_sync *pts, size_t npts, bool final)
{
	struct rtr_host *h = p->h;
	struct rtr_ctf_std_env env = {.procname = p->procname,
				      .vpid = p->pid,
				      .creation_time = p->created,
				      .trace_name = p->dirname};
	struct rtr_ctf_meta *m = rtr_ctf_meta_create(p->uuid, RTR_CTF_BYTE_ORDER_HOST);
	uint32_t gen = p->meta_gen;
	int r;

	if (!m)
		return -ENOMEM;
	r = rtr_ctf_meta_set_clock(m, &clock->desc);
	if (!r)
		r = rtr_ctf_meta_env_std(m, &env);
	if (!r)
		r = rtr_ctf_meta_env_clock(m, clock);
	if (!r && npts)
		r = rtr_ctf_meta_env_sync_list(m, pts, npts);
	if (!r)
		r = rtr_ctf_meta_add_stream(m, RTR_HOST_STREAM_CLASS_ID, RTR_HOST_CHAN_NAME);
	if (!r && h->cfg.counters) {
		/* record --context: the counters every event carries */
		struct rtr_field_desc f[RTR_CTF_CTX_COUNT];
		uint32_t n = rtr_ctf_ctx_fields(h->cfg.counters, f);

		r = rtr_ctf_meta_set_event_context(m, RTR_HOST_STREAM_CLASS_ID, f, n);
	}
	for (uint32_t i = 0; !r && i < p->nr_evs; i++) {
		if (p->evs[i].id < 0)
			continue;
		if (rtr_ctf_meta_add_event(m, (uint32_t)p->evs[i].id, RTR_HOST_STREAM_CLASS_ID,
					   p->evs[i].desc))
			hwarn_c(h, RTR__LOG_PROC,
				"process %d (%s): event %s:%s left out of the metadata: %s",
				(int)p->pid, p->procname, p->evs[i].desc->provider,
				p->evs[i].desc->name, rtr_ctf_meta_error(m));
	}
	if (!r)
		r = write_metadata_file(p, m, final);
	if (!r) {
		p->meta_gen_disk = gen;
		p->meta_err = 0;
	} else {
		const char *why = rtr_ctf_meta_error(m);

		if (!p->meta_err)
			rtr__write_error(h, r); /* once until it works again */
		p->meta_err = r;
		herr_c(h, RTR__LOG_DISK, "cannot write the metadata of %s/%s: %s%s%s%s",
		       h->cfg.trace_dir, p->dirname, strerror(-r), why[0] ? " (" : "", why,
		       why[0] ? ")" : "");
	}
	rtr_ctf_meta_destroy(m);
	return r;
}

int rtr__output_metadata(struct rtr__proc *p, const struct rtr_clock_meta *clock,
			 const struct rtr_clock_sync *pts, size_t npts)
{
	return output_metadata(p, clock, pts, npts, false);
}

bool rtr__output_meta_ready(struct rtr__proc *p)
{
	struct rtr_clock_meta cmeta;

	if (p->meta_gen_disk == p->meta_gen)
		return true;
	if (p->dirfd < 0 || rtr__hclock_describe(p->h, false, &cmeta))
		return false;
	return output_metadata(p, &cmeta, p->h->clock.log.pts, p->h->clock.log.n, false) == 0;
}

void rtr__output_discard(struct rtr__proc *p)
{
	if (p->dirfd < 0)
		return;
	unlinkat(p->dirfd, "index", AT_REMOVEDIR);
	unlinkat(p->dirfd, "metadata", 0);
	rtr__output_close(p);
	/* Only if empty: whatever else is there is not ours to remove. */
	unlinkat(p->h->cfg.trace_dirfd, p->dirname, AT_REMOVEDIR);
}

/* Removes a process's directory when it holds no stream (no event was
 * ever recorded): an empty CTF trace only makes readers complain. */
bool rtr__output_remove_if_empty(struct rtr__proc *p)
{
	if (p->t.packets || rtr__output_packets(p))
		return false;
	rtr__output_discard(p);
	return true;
}

int rtr__output_final(struct rtr__proc *p)
{
	struct rtr_clock_meta cmeta;
	int r = rtr__hclock_describe(p->h, true, &cmeta);

	if (!r)
		r = output_metadata(p, &cmeta, p->h->clock.log.pts, p->h->clock.log.n, true);
	rtr__output_close(p);
	return r;
}

void rtr__output_close(struct rtr__proc *p)
{
	if (p->meta_fd >= 0)
		close(p->meta_fd);
	p->meta_fd = -1;
	if (p->dirfd >= 0)
		close(p->dirfd);
	p->dirfd = -1;
}
