/* Stream writer: drains a ring buffer's ready sub-buffers to one CTF stream
 * file (zero copy) and its packet index. See docs/design/ctf-writer.md §6. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctf-writer.h"

#define STREAM_NAME_MAX 200
#define NAME_ATTEMPTS	64 /* <name>, <name>.1, ... before giving up */
#define DEFAULT_MODE	0600

/* ------------------------------------------------------------------------
 * Creating files in a trace directory (ctf-writer.md §7): exclusively,
 * never through a symlink, never by opening something that exists (an
 * open of a FIFO would block until another process opens its other end).
 * ------------------------------------------------------------------------ */

static int openat2_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
			       .mode = (flags & O_CREAT) ? mode : 0,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
	long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));

	if (fd < 0 && errno == ENOSYS) /* before Linux 5.6: no '/' in names here */
		fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, mode);
	return fd < 0 ? -errno : (int)fd;
}

int rtr_ctf_file_create(int dirfd, const char *name, mode_t mode)
{
	if (!name || !*name || strchr(name, '/'))
		return -EINVAL;
	return openat2_beneath(dirfd, name, O_WRONLY | O_CREAT | O_EXCL, mode);
}

int rtr_ctf_dir_open(int dirfd, const char *name)
{
	int fd;
	struct stat st;

	if (!name || !*name || strchr(name, '/'))
		return -EINVAL;
	fd = openat2_beneath(dirfd, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))) {
		close(fd);
		return -ENOTDIR;
	}
	return fd;
}

struct rtr_ctf_stream {
	struct rtr_ctf_stream_priv priv; /* buf->client_priv points here */
	const struct rtr_ring_config *cfg;
	struct rtr_ring_buf *buf;
	int dirfd;
	int data_fd;		   /* -1 until the first packet */
	int index_fd;		   /* -1: none (could not be created: the trace has no index) */
	mode_t mode;		   /* of the files; directories get x where r is set */
	bool failed;		   /* the buffer was found corrupt: never read again */
	bool held;		   /* a sub-buffer is held (rtr_ctf_stream_begin) */
	struct rtr_ring_subbuf sb; /* the held one */
	/* Its packet header and context as written to the file: encoded here,
	 * in host memory, from what the ring buffer validated; the copy the
	 * packet hook left in shared memory is never written (the traced
	 * program could rewrite it at any time). */
	uint8_t hdr[RTR_CTF_PACKET_HEADER_SIZE];
	uint32_t hdr_len;
	uint64_t lost;	     /* its events_discarded: the ring's count + dropped */
	uint64_t events;     /* records in it (bounded count, see count_records) */
	bool stalled;	     /* held after a full disk: write_held retries it */
	uint64_t dropped;    /* records of packets given up (in later packets' counts) */
	uint64_t *slot_seen; /* per sub-buffer: the writers' record count at its last
			      * packet */
	uint64_t fd_pos;     /* data_fd's file position (sendfile writes there) */
	/* Trace file limits (0: none): a new file <base>_<seq> before a packet
	 * that would take the current one past file_max bytes; at most
	 * file_count files kept (the oldest deleted). */
	uint64_t file_max;
	uint32_t file_count, file_seq, file_gen;
	uint64_t file_bytes;   /* bytes in the current file (its next packet's offset) */
	uint64_t file_packets; /* packets in the current file (index entries) */
	char base[STREAM_NAME_MAX + 1];
	bool have_seq;
	uint64_t last_seq;
	struct rtr_ctf_stream_stats st;
	char name[STREAM_NAME_MAX + 1];
	char error[256];
};

static int set_error(struct rtr_ctf_stream *s, int err, const char *what)
{
	snprintf(s->error, sizeof(s->error), "stream %s: %s: %s", s->name, what,
		 strerror(err < 0 ? -err : err));
	return err;
}

static bool valid_name(const char *name)
{
	size_t n;

	if (!name || name[0] == '\0' || name[0] == '.')
		return false;
	n = strnlen(name, STREAM_NAME_MAX + 1);
	if (n > STREAM_NAME_MAX || strchr(name, '/') || strcmp(name, "metadata") == 0 ||
	    strcmp(name, "index") == 0)
		return false;
	return true;
}

struct rtr_ctf_stream *rtr_ctf_stream_create(int dirfd, const char *name,
					     const struct rtr_ring_config *cfg,
					     struct rtr_ring_buf *buf,
					     const struct rtr_ctf_stream_priv *priv)
{
	struct rtr_ctf_stream *s;

	if (!valid_name(name) || !cfg || !buf || !priv || (dirfd < 0 && dirfd != AT_FDCWD)) {
		errno = EINVAL;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->priv = *priv;
	s->cfg = cfg;
	s->buf = buf;
	s->dirfd = dirfd;
	s->data_fd = -1;
	s->index_fd = -1;
	s->mode = DEFAULT_MODE;
	snprintf(s->name, sizeof(s->name), "%s", name);
	buf->client_priv = &s->priv;
	return s;
}

void rtr_ctf_stream_set_mode(struct rtr_ctf_stream *s, mode_t mode)
{
	s->mode = mode & 0777;
}

int rtr_ctf_stream_set_file_limits(struct rtr_ctf_stream *s, uint64_t max_bytes, uint32_t max_files)
{
	if (s->data_fd >= 0 || s->st.packets)
		return -EBUSY;
	s->file_max = max_bytes;
	s->file_count = max_bytes ? max_files : 0;
	if (max_bytes) {
		snprintf(s->base, sizeof(s->base), "%s", s->name);
		if (snprintf(s->name, sizeof(s->name), "%.*s_0", STREAM_NAME_MAX - 12, s->base) < 0)
			return -EINVAL;
	}
	return 0;
}

uint32_t rtr_ctf_stream_file_gen(const struct rtr_ctf_stream *s)
{
	return s->file_gen;
}

const char *rtr_ctf_stream_name(const struct rtr_ctf_stream *s)
{
	return s->name;
}

static void close_files(struct rtr_ctf_stream *s)
{
	if (s->data_fd >= 0)
		close(s->data_fd);
	if (s->index_fd >= 0)
		close(s->index_fd);
	s->data_fd = s->index_fd = -1;
}

static int set_error(struct rtr_ctf_stream *s, int err, const char *what);

/* Creates index/<name>.idx (with its header). Returns the descriptor or
 * a negative errno; -EEXIST when that name is taken. */
static int open_index(struct rtr_ctf_stream *s, int idx_dirfd)
{
	uint8_t hdr[RTR_CTF_INDEX_HEADER_SIZE];
	char path[STREAM_NAME_MAX + 16];
	int fd, r;

	snprintf(path, sizeof(path), "%s.idx", s->name);
	fd = rtr_ctf_file_create(idx_dirfd, path, s->mode);
	if (fd < 0)
		return fd;
	rtr_ctf_index_header_encode(hdr);
	r = rtr_ctf_write_all(fd, hdr, sizeof(hdr));
	if (r) {
		close(fd);
		unlinkat(idx_dirfd, path, 0);
		return r;
	}
	return fd;
}

/* Creates the stream file and index/<name>.idx, exclusively: when a name
 * is taken (by anything: a file, a FIFO, a symlink), the next of <name>.1,
 * <name>.2, ... that is free for both. A trace directory whose `index`
 * cannot be ours (a symlink, a file) gets no index; the stream is written
 * all the same. On failure nothing stays open (the next packet tries
 * again). */
static int open_files(struct rtr_ctf_stream *s)
{
	char base[STREAM_NAME_MAX + 1];
	mode_t dmode = s->mode | ((s->mode & 0444) >> 2);
	int idx_dirfd, r = -EEXIST;

	if (mkdirat(s->dirfd, "index", dmode) < 0 && errno != EEXIST)
		idx_dirfd = -errno;
	else
		idx_dirfd = rtr_ctf_dir_open(s->dirfd, "index");
	snprintf(base, sizeof(base), "%s", s->name);
	for (unsigned k = 0; k < NAME_ATTEMPTS && r == -EEXIST; k++) {
		if (k && snprintf(s->name, sizeof(s->name), "%.*s.%u", STREAM_NAME_MAX - 12, base,
				  k) < 0)
			break;
		r = s->data_fd = rtr_ctf_file_create(s->dirfd, s->name, s->mode);
		if (r < 0)
			continue;
		r = 0;
		if (idx_dirfd >= 0) {
			s->index_fd = open_index(s, idx_dirfd);
			if (s->index_fd == -EEXIST) {
				close(s->data_fd);
				unlinkat(s->dirfd, s->name, 0);
				s->data_fd = -1;
				r = -EEXIST;
			} else if (s->index_fd < 0) {
				r = set_error(s, s->index_fd, "cannot create the index file");
				close(s->data_fd);
				unlinkat(s->dirfd, s->name, 0);
				s->data_fd = -1;
			}
		}
	}
	if (idx_dirfd >= 0)
		close(idx_dirfd);
	if (r == 0) {
		s->file_bytes = s->file_packets = 0;
		s->file_gen++;
	}
	if (r == -EEXIST)
		r = set_error(s, r, "no free name for the stream file");
	else if (r < 0 && !s->error[0])
		r = set_error(s, r, "cannot create the stream file");
	if (r < 0) {
		snprintf(s->name, sizeof(s->name), "%s", base);
		close_files(s);
	}
	return r;
}

/* Writes all of p, retrying on EINTR. Returns 0 or a negative errno. */
/* Writes the held packet's bytes at their place in the stream file: the
 * header from host memory, the records with sendfile from the memfd.
 * Returns 0 or a negative errno. */
static int write_data(struct rtr_ctf_stream *s)
{
	struct rtr_ring_subbuf tail = s->sb;
	ssize_t w;
	int r;

	if (s->fd_pos != s->file_bytes) {
		if (lseek(s->data_fd, (off_t)s->file_bytes, SEEK_SET) < 0)
			return -errno;
		s->fd_pos = s->file_bytes;
	}
	r = rtr_ctf_write_all(s->data_fd, s->hdr, s->hdr_len);
	if (r) {
		s->fd_pos = UINT64_MAX;
		return r;
	}
	s->fd_pos += s->hdr_len;
	tail.data += s->hdr_len;
	tail.len -= s->hdr_len;
	if (!tail.len)
		return 0;
	w = rtr_ring_subbuf_write(s->buf, &tail, s->data_fd);
	if (w > 0)
		s->fd_pos += (uint64_t)w;
	if (w != (ssize_t)tail.len)
		return w < 0 ? (int)w : -EIO;
	return 0;
}

/* A full disk (or quota): the packet stays held and is written when there
 * is room again; nothing else loses a packet that way. */
static bool retryable(int err)
{
	return err == -ENOSPC || err == -EDQUOT;
}

/* Cuts the stream file and the index back to what the packets before
 * the held one hold (a failed write may have left part of it). */
static void cut_back(struct rtr_ctf_stream *s)
{
	if (s->data_fd >= 0 && ftruncate(s->data_fd, (off_t)s->file_bytes) < 0) {
		/* the next packet overwrites the tail anyway */
	}
	if (s->index_fd >= 0 &&
	    ftruncate(s->index_fd, (off_t)(RTR_CTF_INDEX_HEADER_SIZE +
					   s->file_packets * RTR_CTF_INDEX_ENTRY_SIZE)) == 0)
		lseek(s->index_fd, 0, SEEK_END);
	s->fd_pos = UINT64_MAX; /* unknown after a failed write: seek first */
}

/* Gives the held sub-buffer back; its packet was written (err == 0) or is
 * given up: its records are then counted in the events_discarded of the
 * packets that follow, and in the stream's statistics. */
static void release(struct rtr_ctf_stream *s, int err)
{
	if (err) {
		s->dropped += s->events;
		s->st.events_dropped += s->events;
		s->st.packets_dropped++;
	}
	s->held = false;
	s->stalled = false;
	rtr_ring_put_subbuf(s->cfg, s->buf);
}

/* After a failed write of the held packet: keeps it (a full disk) or gives
 * it up. Returns err. */
static int failed_write(struct rtr_ctf_stream *s, int err, const char *what)
{
	set_error(s, err, what);
	s->st.write_err = err;
	cut_back(s);
	if (retryable(err)) {
		s->stalled = true;
		return err;
	}
	release(s, err);
	return err;
}

/* The held packet's bytes are in the stream file (write_err == 0): appends
 * its index entry and accounts for it, gives the sub-buffer back. On
 * failure (write_err < 0 or the index write fails) the files are cut back
 * so file and index stay in step (failed_write). */
static int finish_packet(struct rtr_ctf_stream *s, int write_err)
{
	const struct rtr_ring_subbuf *sb = &s->sb;
	struct rtr_ctf_index_entry e;
	uint8_t ent[RTR_CTF_INDEX_ENTRY_SIZE];
	int r = write_err;

	if (r)
		return failed_write(s, r, "cannot write a packet");
	e.offset = s->file_bytes;
	e.packet_size = sb->len * 8;
	e.content_size = sb->len * 8;
	e.timestamp_begin = sb->info.begin_ts;
	e.timestamp_end = sb->info.end_ts;
	e.events_discarded = s->lost;
	e.stream_id = s->priv.stream_class_id;
	e.stream_instance_id = s->priv.stream_instance_id;
	e.packet_seq_num = sb->info.seq;
	rtr_ctf_index_entry_encode(ent, &e);
	r = s->index_fd >= 0 ? rtr_ctf_write_all(s->index_fd, ent, sizeof(ent)) : 0;
	if (r)
		return failed_write(s, r, "cannot write an index entry");
	s->st.bytes += sb->len;
	s->st.packets++;
	s->file_bytes += sb->len;
	s->file_packets++;
	s->st.events_lost = s->lost;
	s->st.events_written += s->events;
	if (sb->info.flags & (RTR_RING_PACKET_SALVAGED | RTR_RING_PACKET_TRUNCATED))
		s->st.salvaged++;
	if (s->have_seq && sb->info.seq > s->last_seq + 1)
		s->st.packets_lost += sb->info.seq - s->last_seq - 1;
	s->have_seq = true;
	s->last_seq = sb->info.seq;
	release(s, 0);
	return 0;
}

/*
 * Records in the packet just taken: the writers count commits per
 * sub-buffer (records_local + records_remote, cumulative), so the count
 * since that sub-buffer's previous packet is this packet's (exact in
 * discard mode; in overwrite mode it includes laps the reader never saw).
 * The counters are in shared memory: the result is bounded by what the
 * packet can hold (4-byte records), never negative.
 */
static uint64_t count_records(struct rtr_ctf_stream *s)
{
	const struct rtr_ring_buf *b = s->buf;
	uint32_t idx = rtr_ring_sb_index(b, s->sb.pos);
	uint64_t cur, n, most = (s->sb.len - s->hdr_len) / 4;

	if (!s->slot_seen) {
		s->slot_seen = calloc(b->num_subbuf, sizeof(*s->slot_seen));
		if (!s->slot_seen)
			return 0;
	}
	if (idx >= b->num_subbuf)
		return 0;
	cur = atomic_load_explicit(&b->ctl->sb[idx].records_local, memory_order_relaxed) +
	      atomic_load_explicit(&b->ctl->sb[idx].records_remote, memory_order_relaxed);
	n = cur >= s->slot_seen[idx] ? cur - s->slot_seen[idx] : 0;
	s->slot_seen[idx] = cur;
	return n < most ? n : most;
}

/* Before writing the held packet: with a file size limit, a file that
 * holds packets and would go past it with this one is closed, the next
 * file will be <base>_<seq+1>, and with a file count limit the file that
 * falls out of it (and its index) is deleted. Packets are never split; a
 * packet larger than the limit gets a file of its own. */
static void maybe_rotate(struct rtr_ctf_stream *s)
{
	char old[STREAM_NAME_MAX + 16];

	if (!s->file_max || s->data_fd < 0 || !s->file_packets ||
	    s->file_bytes + s->sb.len <= s->file_max)
		return;
	close_files(s);
	s->file_seq++;
	snprintf(s->name, sizeof(s->name), "%.*s_%u", STREAM_NAME_MAX - 12, s->base, s->file_seq);
	if (s->file_count && s->file_seq >= s->file_count) {
		int idx = rtr_ctf_dir_open(s->dirfd, "index");

		snprintf(old, sizeof(old), "%.*s_%u", STREAM_NAME_MAX - 12, s->base,
			 s->file_seq - s->file_count);
		unlinkat(s->dirfd, old, 0);
		if (idx >= 0) {
			strncat(old, ".idx", sizeof(old) - strlen(old) - 1);
			unlinkat(idx, old, 0);
			close(idx);
		}
		s->st.files_deleted++;
	}
}

int rtr_ctf_stream_begin(struct rtr_ctf_stream *s, struct rtr_ctf_packet_job *job)
{
	struct rtr_ring_packet_info info;
	int r;

	if (s->failed)
		return -EIO;
	if (s->held)
		return -EBUSY;
	r = rtr_ring_get_subbuf(s->cfg, s->buf, &s->sb);
	if (r == -EAGAIN)
		return 0;
	if (r == -EIO) {
		s->failed = true;
		snprintf(s->error, sizeof(s->error), "stream %s: ring buffer corrupt: %s", s->name,
			 rtr_ring_buf_error(s->buf));
		return -EIO;
	}
	if (r)
		return set_error(s, r, "cannot get a sub-buffer");
	s->held = true;
	s->stalled = false;
	s->hdr_len = s->cfg->subbuf_header_size;
	if (s->hdr_len > sizeof(s->hdr) || s->hdr_len > s->sb.len)
		s->hdr_len = 0; /* not this writer's layout: written as is */
	s->events = count_records(s);
	info = s->sb.info;
	info.lost += s->dropped;
	s->lost = info.lost;
	if (s->hdr_len)
		rtr_ctf_packet_header_encode(s->hdr, &s->priv, &info);
	maybe_rotate(s);
	if (s->data_fd < 0) {
		r = open_files(s);
		if (r)
			return failed_write(s, r, "cannot create the stream files");
		s->fd_pos = 0;
	}
	if (job) {
		job->src_fd = s->buf->fd;
		job->src_off = (uint64_t)(s->sb.data - (const char *)s->buf->ctl);
		job->dst_fd = s->data_fd;
		job->dst_off = s->file_bytes;
		job->dst_gen = s->file_gen;
		job->len = s->sb.len;
		job->hdr = s->hdr;
		job->hdr_len = s->hdr_len;
	}
	return 1;
}

int rtr_ctf_stream_end(struct rtr_ctf_stream *s, int write_err)
{
	if (!s->held || s->stalled)
		return -EINVAL;
	return finish_packet(s, write_err);
}

int rtr_ctf_stream_write_held(struct rtr_ctf_stream *s)
{
	int r;

	if (!s->held)
		return -EINVAL;
	if (s->data_fd < 0) {
		r = open_files(s);
		if (r)
			return failed_write(s, r, "cannot create the stream files");
		s->fd_pos = 0;
	}
	s->stalled = false;
	return finish_packet(s, write_data(s));
}

bool rtr_ctf_stream_holding(const struct rtr_ctf_stream *s)
{
	return s->held;
}

bool rtr_ctf_stream_corrupt(const struct rtr_ctf_stream *s)
{
	return s->failed;
}

bool rtr_ctf_stream_stalled(const struct rtr_ctf_stream *s)
{
	return s->held && s->stalled;
}

void rtr_ctf_stream_give_up(struct rtr_ctf_stream *s)
{
	if (!s->held || !s->stalled)
		return;
	s->st.events_unwritten += s->events;
	s->st.packets_unwritten++;
	s->held = false;
	s->stalled = false;
	rtr_ring_put_subbuf(s->cfg, s->buf);
}

int rtr_ctf_stream_drain(struct rtr_ctf_stream *s, uint32_t max_packets)
{
	uint32_t n = 0;

	if (s->held && !s->stalled)
		return -EBUSY;
	if (s->held) { /* after a full disk: that packet first */
		int r = rtr_ctf_stream_write_held(s);

		if (r)
			return r;
		n++;
	}
	while (max_packets == 0 || n < max_packets) {
		int r = rtr_ctf_stream_begin(s, NULL);

		if (r <= 0)
			return r < 0 ? r : (int)n;
		r = rtr_ctf_stream_write_held(s);
		if (r)
			return r;
		n++;
	}
	return (int)n;
}

void rtr_ctf_stream_stats(const struct rtr_ctf_stream *s, struct rtr_ctf_stream_stats *st)
{
	*st = s->st;
}

const char *rtr_ctf_stream_error(const struct rtr_ctf_stream *s)
{
	return s->error;
}

int rtr_ctf_stream_destroy(struct rtr_ctf_stream *s, bool sync)
{
	int ret = 0;

	if (!s)
		return 0;
	rtr_ctf_stream_give_up(s);
	if (s->held) {
		s->held = false;
		rtr_ring_put_subbuf(s->cfg, s->buf);
	}
	free(s->slot_seen);
	for (int i = 0; i < 2; i++) {
		int fd = i ? s->index_fd : s->data_fd;

		if (fd < 0)
			continue;
		if (sync && fsync(fd) < 0 && !ret)
			ret = -errno;
		if (close(fd) < 0 && !ret)
			ret = -errno;
	}
	if (s->buf->client_priv == &s->priv)
		s->buf->client_priv = NULL;
	free(s);
	return ret;
}
