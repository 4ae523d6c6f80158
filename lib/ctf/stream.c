/* Stream writer: drains a ring buffer's ready sub-buffers to one CTF stream
 * file (zero copy) and its packet index. See docs/design/ctf-writer.md §6. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-writer.h"

#define STREAM_NAME_MAX 200

struct rtr_ctf_stream {
	struct rtr_ctf_stream_priv priv; /* buf->client_priv points here */
	const struct rtr_ring_config *cfg;
	struct rtr_ring_buf *buf;
	int dirfd;
	int data_fd; /* -1 until the first packet */
	int index_fd;
	bool failed; /* the buffer was found corrupt: never read again */
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
	snprintf(s->name, sizeof(s->name), "%s", name);
	buf->client_priv = &s->priv;
	return s;
}

static void close_files(struct rtr_ctf_stream *s)
{
	if (s->data_fd >= 0)
		close(s->data_fd);
	if (s->index_fd >= 0)
		close(s->index_fd);
	s->data_fd = s->index_fd = -1;
}

static int write_all(int fd, const void *p, size_t n);

/* Creates the stream file and index/<name>.idx (with its header); on
 * failure neither stays open (the next packet tries again). */
static int open_files(struct rtr_ctf_stream *s)
{
	uint8_t hdr[RTR_CTF_INDEX_HEADER_SIZE];
	char path[STREAM_NAME_MAX + 16];
	int r;

	s->data_fd = openat(s->dirfd, s->name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s->data_fd < 0) {
		r = set_error(s, -errno, "cannot create the stream file");
		goto fail;
	}
	if (mkdirat(s->dirfd, "index", 0755) < 0 && errno != EEXIST) {
		r = set_error(s, -errno, "cannot create the index directory");
		goto fail;
	}
	snprintf(path, sizeof(path), "index/%s.idx", s->name);
	s->index_fd = openat(s->dirfd, path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s->index_fd < 0) {
		r = set_error(s, -errno, "cannot create the index file");
		goto fail;
	}
	rtr_ctf_index_header_encode(hdr);
	r = write_all(s->index_fd, hdr, sizeof(hdr));
	if (r) {
		set_error(s, r, "cannot write the index header");
		goto fail;
	}
	return 0;
fail:
	close_files(s);
	return r;
}

/* Writes all of p, retrying on EINTR. Returns 0 or a negative errno. */
static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes one held sub-buffer and its index entry. On failure the stream
 * file is cut back to its previous size so file and index stay in step. */
static int write_packet(struct rtr_ctf_stream *s, const struct rtr_ring_subbuf *sb)
{
	struct rtr_ctf_index_entry e;
	uint8_t ent[RTR_CTF_INDEX_ENTRY_SIZE];
	ssize_t w;
	int r;

	if (s->data_fd < 0) {
		r = open_files(s);
		if (r)
			return r; /* nothing written */
	}
	w = rtr_ring_subbuf_write(s->buf, sb, s->data_fd);
	if (w != (ssize_t)sb->len) {
		r = set_error(s, w < 0 ? (int)w : -EIO, "cannot write a packet");
		goto undo;
	}
	e.offset = s->st.bytes;
	e.packet_size = sb->len * 8;
	e.content_size = sb->len * 8;
	e.timestamp_begin = sb->info.begin_ts;
	e.timestamp_end = sb->info.end_ts;
	e.events_discarded = sb->info.lost;
	e.stream_id = s->priv.stream_class_id;
	e.stream_instance_id = s->priv.stream_instance_id;
	e.packet_seq_num = sb->info.seq;
	rtr_ctf_index_entry_encode(ent, &e);
	r = write_all(s->index_fd, ent, sizeof(ent));
	if (r) {
		set_error(s, r, "cannot write an index entry");
		goto undo;
	}
	s->st.bytes += sb->len;
	s->st.packets++;
	s->st.events_lost = sb->info.lost;
	if (sb->info.flags & (RTR_RING_PACKET_SALVAGED | RTR_RING_PACKET_TRUNCATED))
		s->st.salvaged++;
	if (s->have_seq && sb->info.seq > s->last_seq + 1)
		s->st.packets_lost += sb->info.seq - s->last_seq - 1;
	s->have_seq = true;
	s->last_seq = sb->info.seq;
	return 0;
undo:
	if (ftruncate(s->data_fd, (off_t)s->st.bytes) == 0)
		lseek(s->data_fd, (off_t)s->st.bytes, SEEK_SET);
	return r;
}

int rtr_ctf_stream_drain(struct rtr_ctf_stream *s, uint32_t max_packets)
{
	uint32_t n = 0;

	if (s->failed)
		return -EIO;
	while (max_packets == 0 || n < max_packets) {
		struct rtr_ring_subbuf sb;
		int r = rtr_ring_get_subbuf(s->cfg, s->buf, &sb);

		if (r == -EAGAIN)
			break;
		if (r == -EIO) {
			s->failed = true;
			snprintf(s->error, sizeof(s->error), "stream %s: ring buffer corrupt: %s",
				 s->name, rtr_ring_buf_error(s->buf));
			return -EIO;
		}
		if (r)
			return set_error(s, r, "cannot get a sub-buffer");
		r = write_packet(s, &sb);
		rtr_ring_put_subbuf(s->cfg, s->buf);
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
