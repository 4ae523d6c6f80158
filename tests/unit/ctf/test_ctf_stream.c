/* Unit tests of the stream writer (docs/design/ctf-writer.md §6): a ring
 * buffer drained to a stream file and its index; the index must address
 * every packet of the file exactly (what babeltrace2 checks), carry each
 * packet's header values, and count lost packets in overwrite mode. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-writer.h"
#include "rtr_test.h"

static char dir[] = "/tmp/rtr-ctf-stream.XXXXXX";

static unsigned char *slurp(const char *name, size_t *len)
{
	char path[512];
	unsigned char *buf;
	struct stat sb;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (stat(path, &sb) != 0)
		return NULL;
	buf = malloc((size_t)sb.st_size + 1);
	f = fopen(path, "rb");
	REQUIRE(buf && f);
	*len = fread(buf, 1, (size_t)sb.st_size, f);
	fclose(f);
	return buf;
}

/* Writes n records of `payload` bytes through the out-of-line writer. */
static unsigned write_records(struct rtr_event_binding *b, unsigned n, size_t payload)
{
	unsigned ok = 0;

	for (unsigned i = 0; i < n; i++) {
		struct rtr_ring_ctx ctx;
		char *wp = rtr_ctf__reserve(b, payload, &ctx);

		if (!wp)
			continue;
		memset(wp, (int)(i & 0xff), payload);
		rtr_ctf__commit(b, &ctx);
		ok++;
	}
	return ok;
}

/* Checks the stream file against its index; returns the number of entries. */
static size_t check_index(const char *name, const struct rtr_ctf_stream_priv *priv,
			  uint64_t *seq_gaps, uint64_t *first_seq)
{
	char idx[300];
	size_t dlen = 0, ilen = 0, n;
	unsigned char *data = slurp(name, &dlen), *index;
	uint64_t off = 0, prev_seq = 0, prev_end = 0;

	snprintf(idx, sizeof(idx), "index/%s.idx", name);
	index = slurp(idx, &ilen);
	REQUIRE(data != NULL && index != NULL);
	CHECK_EQ_I64(rtr_ctf_index_header_decode(index, ilen), 72);
	CHECK_EQ_U64((ilen - 16) % 72, 0);
	n = (ilen - 16) / 72;
	*seq_gaps = 0;
	for (size_t i = 0; i < n; i++) {
		struct rtr_ctf_index_entry e;
		uint64_t v;
		uint32_t magic, sid;

		CHECK(rtr_ctf_index_entry_decode(index + 16 + i * 72, 72, 72, &e) == 0);
		CHECK_EQ_U64(e.offset, off); /* contiguous */
		CHECK_EQ_U64(e.packet_size % 8, 0);
		CHECK_EQ_U64(e.packet_size, e.content_size);
		REQUIRE(off + e.packet_size / 8 <= dlen);
		/* the packet at that offset says the same */
		memcpy(&magic, data + off, 4);
		CHECK_EQ_U64(magic, RTR_CTF_PACKET_MAGIC);
		CHECK(memcmp(data + off + 4, priv->trace_uuid, 16) == 0);
		memcpy(&sid, data + off + 20, 4);
		CHECK_EQ_U64(sid, priv->stream_class_id);
		memcpy(&v, data + off + 24, 8);
		CHECK_EQ_U64(v, priv->stream_instance_id);
		CHECK_EQ_U64(e.stream_instance_id, priv->stream_instance_id);
		CHECK_EQ_U64(e.stream_id, priv->stream_class_id);
		memcpy(&v, data + off + 32, 8);
		CHECK_EQ_U64(v, e.timestamp_begin);
		memcpy(&v, data + off + 40, 8);
		CHECK_EQ_U64(v, e.timestamp_end);
		memcpy(&v, data + off + 48, 8);
		CHECK_EQ_U64(v, e.content_size);
		memcpy(&v, data + off + 56, 8);
		CHECK_EQ_U64(v, e.packet_size);
		memcpy(&v, data + off + 64, 8);
		CHECK_EQ_U64(v, e.packet_seq_num);
		memcpy(&v, data + off + 72, 8);
		CHECK_EQ_U64(v, e.events_discarded);
		CHECK(e.timestamp_begin <= e.timestamp_end);
		if (i == 0)
			*first_seq = e.packet_seq_num;
		if (i) {
			CHECK(e.packet_seq_num > prev_seq);
			CHECK(e.timestamp_begin >= prev_end);
			*seq_gaps += e.packet_seq_num - prev_seq - 1;
		}
		prev_seq = e.packet_seq_num;
		prev_end = e.timestamp_end;
		off += e.packet_size / 8;
	}
	CHECK_EQ_U64(off, dlen); /* the index addresses the whole file */
	free(data);
	free(index);
	return n;
}

/*
 * Like rtr_ctf_stream_drain(s, max) through the split API, as record's drain
 * thread uses it: the packet's bytes are copied here from job.src_fd to
 * job.dst_fd at the offsets the job gives (the header from job.hdr); every
 * `fail_every`-th packet (0: none) fails after half of it was written with
 * fail_err, and must leave no trace in the file: -EIO gives it up (its
 * records then count as discarded in the next packets), -ENOSPC keeps it
 * held until it is written again (the disk has room again at once here).
 * Returns packets written or a negative errno.
 */
static unsigned split_failures;
static bool fail_next; /* the next packet fails (then cleared) */
static int fail_err = -EIO;

static int drain_split(struct rtr_ctf_stream *s, uint32_t max, unsigned fail_every)
{
	static unsigned seen;
	int n = 0;

	while (max == 0 || (uint32_t)n < max) {
		struct rtr_ctf_packet_job job;
		char *buf;
		int r = rtr_ctf_stream_begin(s, &job);

		if (r <= 0)
			return r < 0 ? r : n;
		CHECK(rtr_ctf_stream_holding(s));
		CHECK_EQ_I64(rtr_ctf_stream_drain(s, 0), -EBUSY);
		CHECK_EQ_I64(rtr_ctf_stream_begin(s, &job) == -EBUSY, 1);
		REQUIRE(job.src_fd >= 0 && job.dst_fd >= 0 && job.len > 0);
		buf = malloc(job.len);
		REQUIRE(buf);
		REQUIRE(pread(job.src_fd, buf, job.len, (off_t)job.src_off) == (ssize_t)job.len);
		REQUIRE(job.hdr && job.hdr_len == RTR_CTF_PACKET_HEADER_SIZE);
		memcpy(buf, job.hdr, job.hdr_len);
		if ((fail_every && ++seen % fail_every == 0) || fail_next) {
			struct rtr_ctf_stream_stats st;
			struct stat fst;

			fail_next = false;
			REQUIRE(pwrite(job.dst_fd, buf, job.len / 2, (off_t)job.dst_off) ==
				(ssize_t)(job.len / 2));
			CHECK_EQ_I64(rtr_ctf_stream_end(s, fail_err), fail_err);
			split_failures++;
			rtr_ctf_stream_stats(s, &st);
			REQUIRE(fstat(job.dst_fd, &fst) == 0);
			CHECK_EQ_U64((uint64_t)fst.st_size, st.bytes); /* cut back */
			CHECK_EQ_I64(st.write_err, fail_err);
			if (fail_err == -ENOSPC) {
				/* held until there is room: then written */
				CHECK(rtr_ctf_stream_holding(s) && rtr_ctf_stream_stalled(s));
				CHECK_EQ_I64(rtr_ctf_stream_begin(s, &job), -EBUSY);
				CHECK_EQ_I64(rtr_ctf_stream_end(s, 0), -EINVAL);
				CHECK_EQ_I64(rtr_ctf_stream_write_held(s), 0);
				n++;
			}
		} else {
			REQUIRE(pwrite(job.dst_fd, buf, job.len, (off_t)job.dst_off) ==
				(ssize_t)job.len);
			CHECK_EQ_I64(rtr_ctf_stream_end(s, 0), 0);
			n++;
		}
		free(buf);
		CHECK(!rtr_ctf_stream_holding(s));
	}
	return n;
}

static void run_split(uint32_t client, const char *name, bool drain_often, unsigned records,
		      unsigned fail_every);

static void run(uint32_t client, const char *name, bool drain_often, unsigned records)
{
	run_split(client, name, drain_often, records, UINT32_MAX);
}

/* fail_every UINT32_MAX: rtr_ctf_stream_drain; else drain_split. */
static void run_split(uint32_t client, const char *name, bool drain_often, unsigned records,
		      unsigned fail_every)
{
	const struct rtr_ring_config *cfg = rtr_ctf_host_config(client);
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 4};
	struct rtr_ctf_stream_priv priv = {
	    .stream_class_id = 3, .cpu_id = 0, .stream_instance_id = 0};
	struct rtr_ctf_stream_stats st;
	struct rtr_ring_chan *chan = rtr_ring_chan_alloc(1);
	struct rtr_event_binding b = {.chan = chan, .event_id = 5, .client = client};
	struct rtr_ctf_stream *s;
	uint64_t gaps, first_seq = UINT64_MAX, total = 0;
	unsigned written = 0;
	int dfd = open(dir, O_DIRECTORY | O_RDONLY), r;

	REQUIRE(cfg && chan && dfd >= 0);
	for (int i = 0; i < 16; i++)
		priv.trace_uuid[i] = (uint8_t)(i * 17 + client);
	REQUIRE(rtr_ring_buf_create(cfg, &geo, 0, name, &chan->bufs[0]) == 0);
	s = rtr_ctf_stream_create(dfd, name, cfg, chan->bufs[0], &priv);
	REQUIRE(s != NULL);
	CHECK(chan->bufs[0]->client_priv != NULL);

	/* nothing produced yet: no file */
	CHECK_EQ_I64(rtr_ctf_stream_drain(s, 0), 0);
	{
		size_t l;

		CHECK(slurp(name, &l) == NULL);
	}
	for (unsigned round = 0; round < records / 50; round++) {
		written += write_records(&b, 50, 100 + round % 7);
		if (drain_often) {
			/* at most two packets per call */
			r = fail_every == UINT32_MAX ? rtr_ctf_stream_drain(s, 2)
						     : drain_split(s, 2, fail_every);
			CHECK(r >= 0 && r <= 2);
			total += (uint64_t)(r > 0 ? r : 0);
		}
	}
	/* End of a recording: drain what is complete (making room), then close
	 * the open sub-buffer even if empty, so that the last packet carries the
	 * final loss count, and drain again. */
	r = rtr_ctf_stream_drain(s, 0);
	CHECK(r >= 0);
	total += (uint64_t)(r > 0 ? r : 0);
	CHECK_EQ_I64(rtr_ring_flush(cfg, chan->bufs[0], RTR_RING_FLUSH_EMPTY, true), 0);
	if (fail_every == UINT32_MAX || fail_every == 0) {
		r = rtr_ctf_stream_drain(s, 0);
		CHECK(r > 0);
	} else {
		/* The last packet fails: nothing of it may stay in the file
		 * (or, the disk full, it is written when there is room). */
		fail_next = true;
		r = drain_split(s, 0, fail_every);
		CHECK_EQ_I64(r, fail_err == -ENOSPC ? 1 : 0);
		CHECK(!fail_next);
		if (r == 0) {
			/* as the host does: one more (empty) packet carries the
			 * records of the one given up */
			total += (uint64_t)drain_split(s, 0, 0);
			CHECK_EQ_I64(rtr_ring_flush(cfg, chan->bufs[0], RTR_RING_FLUSH_EMPTY, true),
				     0);
			CHECK_EQ_I64(drain_split(s, 0, 0), 1);
			total++;
		}
	}
	total += (uint64_t)(r > 0 ? r : 0);
	rtr_ctf_stream_stats(s, &st);
	CHECK_EQ_U64(st.packets, total);
	CHECK(!rtr_ctf_stream_holding(s));
	CHECK_EQ_U64(st.events_unwritten, 0);
	CHECK_EQ_I64(rtr_ctf_stream_destroy(s, true), 0);
	CHECK(chan->bufs[0]->client_priv == NULL);

	CHECK_EQ_U64(check_index(name, &priv, &gaps, &first_seq), st.packets);
	CHECK_EQ_U64(gaps, st.packets_lost);
	{
		struct rtr_ring_stats rs;

		rtr_ring_buf_stats(chan->bufs[0], &rs);
		/* packets given up count as discarded in the ones after */
		CHECK_EQ_U64(st.events_lost, rtr_ring_buf_lost(chan->bufs[0]) + st.events_dropped);
		if (fail_err != -EIO || fail_every == 0 || fail_every == UINT32_MAX)
			CHECK_EQ_U64(st.events_dropped, 0);
		/* every committed record is in a packet written or given up */
		if (cfg->mode == RTR_RING_MODE_DISCARD)
			CHECK_EQ_U64(st.events_written + st.events_dropped, written);
		/* (no loss unless packets were made to fail) */
		if (cfg->mode == RTR_RING_MODE_DISCARD && drain_often &&
		    (fail_every == 0 || fail_every == UINT32_MAX)) {
			CHECK_EQ_U64(written, records);
			CHECK_EQ_U64(st.events_lost, 0);
			CHECK_EQ_U64(st.packets_lost, 0);
		}
		if (cfg->mode == RTR_RING_MODE_OVERWRITE && !drain_often) {
			/* only the newest sub-buffers survive: the first one read is
			 * not packet 0 (babeltrace2, like us, reports no packet loss
			 * before the first packet of a stream) */
			CHECK(st.packets <= geo.num_subbuf + 1);
			CHECK(first_seq > 0 && first_seq != UINT64_MAX);
			CHECK(rs.overwritten > 0);
		}
		if (cfg->mode == RTR_RING_MODE_DISCARD && !drain_often) {
			CHECK(written < records);
			CHECK_EQ_U64(st.events_lost, records - written);
		}
	}
	{
		size_t l;
		unsigned char *d = slurp(name, &l);

		CHECK_EQ_U64(l, st.bytes);
		free(d);
	}
	rtr_ring_buf_destroy(chan->bufs[0]);
	rtr_ring_chan_free(chan);
	close(dfd);
}

/* Names a traced program planted where the stream files will be: a FIFO
 * (an open would block for ever), a symlink to a file outside (an open
 * would overwrite it), an `index` symlink to a directory outside. The
 * stream takes fresh names, writes nothing through any of them, and goes
 * without index. */
static void planted_names(void)
{
	const struct rtr_ring_config *cfg =
	    rtr_ctf_host_config(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC);
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 4};
	struct rtr_ctf_stream_priv priv = {.stream_class_id = 0};
	static const char *const names[] = {"fifo_0", "link_0"};
	char sub[600], victim[600], other[600], path[700];
	size_t len = 0;
	unsigned char *v;
	int dfd, fd;

	snprintf(sub, sizeof(sub), "%s/planted", dir);
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	REQUIRE(mkdir(sub, 0700) == 0 && mkdir(other, 0700) == 0);
	fd = open(victim, O_WRONLY | O_CREAT | O_EXCL, 0600);
	REQUIRE(fd >= 0 && write(fd, "precious", 8) == 8);
	close(fd);
	snprintf(path, sizeof(path), "%s/fifo_0", sub);
	REQUIRE(mkfifo(path, 0600) == 0);
	snprintf(path, sizeof(path), "%s/link_0", sub);
	REQUIRE(symlink(victim, path) == 0);
	snprintf(path, sizeof(path), "%s/index", sub);
	REQUIRE(symlink(other, path) == 0);
	dfd = open(sub, O_DIRECTORY | O_RDONLY);
	REQUIRE(dfd >= 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		struct rtr_ring_chan *chan = rtr_ring_chan_alloc(1);
		struct rtr_event_binding b = {
		    .chan = chan, .event_id = 5, .client = RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC};
		struct rtr_ctf_stream *s;
		char want[64];

		REQUIRE(chan && rtr_ring_buf_create(cfg, &geo, 0, names[i], &chan->bufs[0]) == 0);
		s = rtr_ctf_stream_create(dfd, names[i], cfg, chan->bufs[0], &priv);
		REQUIRE(s);
		CHECK_EQ_I64(write_records(&b, 20, 16), 20);
		CHECK_EQ_I64(rtr_ring_flush(cfg, chan->bufs[0], RTR_RING_FLUSH_ACTIVE, true), 0);
		CHECK_EQ_I64(rtr_ctf_stream_drain(s, 0), 1);
		snprintf(want, sizeof(want), "%s.1", names[i]);
		CHECK_STR_EQ(rtr_ctf_stream_name(s), want);
		CHECK_EQ_I64(rtr_ctf_stream_destroy(s, false), 0);
		snprintf(path, sizeof(path), "planted/%s", want);
		free(slurp(path, &len));
		CHECK(len > RTR_CTF_PACKET_HEADER_SIZE);
		rtr_ring_buf_destroy(chan->bufs[0]);
		rtr_ring_chan_free(chan);
	}
	close(dfd);
	v = slurp("victim", &len);
	CHECK(v && len == 8 && memcmp(v, "precious", 8) == 0);
	free(v);
	{
		struct stat sb;

		snprintf(path, sizeof(path), "%s/fifo_0", sub);
		CHECK(lstat(path, &sb) == 0 && S_ISFIFO(sb.st_mode));
		snprintf(path, sizeof(path), "%s/fifo_0.1.idx", other);
		CHECK(lstat(path, &sb) < 0); /* nothing written through `index` */
		snprintf(path, sizeof(path), "%s/link_0.1.idx", other);
		CHECK(lstat(path, &sb) < 0);
	}
	/* and the names given are refused for what they are */
	CHECK_EQ_I64(rtr_ctf_file_create(AT_FDCWD, "a/b", 0600), -EINVAL);
	fd = open(sub, O_DIRECTORY | O_RDONLY);
	REQUIRE(fd >= 0);
	CHECK_EQ_I64(rtr_ctf_file_create(fd, "fifo_0", 0600), -EEXIST);
	CHECK_EQ_I64(rtr_ctf_file_create(fd, "link_0", 0600), -EEXIST);
	CHECK(rtr_ctf_dir_open(fd, "index") < 0); /* -ELOOP or -ENOTDIR */
	close(fd);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	struct rtr_ctf_stream_priv priv = {0};
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 4};
	const struct rtr_ring_config *cfg =
	    rtr_ctf_host_config(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC);
	struct rtr_ring_buf *buf;

	REQUIRE(mkdtemp(dir) != NULL);
	run(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, "discard_0", true, 2000);
	run(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, "full_0", false, 2000);
	run(RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC, "overwrite_0", false, 2000);
	run(RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC, "overwrite_drained_0", true, 1000);
	/* The split API: bytes copied by the caller; then with failures. */
	run_split(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, "split_0", true, 2000, 0);
	run_split(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, "split_fail_0", true, 2000, 5);
	CHECK(split_failures > 0);
	fail_err = -ENOSPC;
	split_failures = 0;
	run_split(RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, "split_full_0", true, 2000, 3);
	CHECK(split_failures > 0);
	planted_names();

	/* bad names are refused */
	REQUIRE(rtr_ring_buf_create(cfg, &geo, 0, "x", &buf) == 0);
	CHECK(rtr_ctf_stream_create(AT_FDCWD, "a/b", cfg, buf, &priv) == NULL && errno == EINVAL);
	CHECK(rtr_ctf_stream_create(AT_FDCWD, "metadata", cfg, buf, &priv) == NULL);
	CHECK(rtr_ctf_stream_create(AT_FDCWD, ".hidden", cfg, buf, &priv) == NULL);
	CHECK(rtr_ctf_stream_create(AT_FDCWD, "", cfg, buf, &priv) == NULL);
	CHECK(rtr_ctf_stream_create(AT_FDCWD, "ok", NULL, buf, &priv) == NULL);
	CHECK(buf->client_priv == NULL);
	CHECK_EQ_I64(rtr_ctf_stream_destroy(NULL, false), 0);
	rtr_ring_buf_destroy(buf);

	if (rtr_test_failures == 0)
		nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	else
		fprintf(stderr, "files kept in %s\n", dir);
	return rtr_test_done("test_ctf_stream");
}
