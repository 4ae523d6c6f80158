/* ringtrace recover DIR... | --all: turns what a dead recording left — a
 * session daemon or a `ringtrace record` killed with SIGKILL — into traces
 * every reader opens. Per trace directory (one holding ringtrace's
 * `metadata`):
 *
 *   - each stream file is walked packet by packet from its headers (the
 *     84 bytes the host writes from validated facts, ctf-writer.md §3):
 *     every complete packet is kept as it is; a last packet cut short is
 *     decoded against the metadata (lib/reader rtr_reader_salvage_packet)
 *     and cut after its last whole record, its header saying so; a packet
 *     with no whole record, or a header that is not ringtrace's, is cut
 *     (bytes after a damaged header are kept aside in a hidden file);
 *   - the packet index is rebuilt from the packets kept;
 *   - the metadata loses the padding a live trace keeps (host.md §5.1);
 *   - temporary files of an interrupted metadata write are removed;
 *   - the trace is then read through (every event decoded) to prove it.
 *
 * Nothing is invented: every record kept is one that was in the file and
 * decodes. Running it again changes nothing. --all takes the sessions the
 * daemon's state directory (lib/proto state.h) lists and whose daemon is
 * gone. Design: docs/design/daemon.md §8. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "ctf-index.h"
#include "ctf-writer.h"
#include "rundir.h"
#include "state.h"

#define HDR_SIZE	  84u /* packet header + context (ctf-writer.md §3) */
#define PKT_MAGIC	  0xC1FC1FC1u
#define MAX_META	  (512u << 20)
#define MAX_PACKET	  (1ull << 32) /* bytes: larger than any sub-buffer */
#define MAX_DEPTH	  8
#define MAX_STREAM_NAME	  200
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define RTR_HOST_BO_NAME "be"
#else
#define RTR_HOST_BO_NAME "le"
#endif

struct rec_opts {
	bool dry_run;
	bool quiet;
	/* (the session daemon, before it re-adopts a session: daemon.md §8.2)
	 * a trace whose process still runs gets its records of a partial
	 * last packet from the program's buffers again: cut them here */
	bool readopt;
};

struct rec_totals {
	unsigned traces, changed, failed;
	uint64_t events, cut_bytes, salvaged_records;
};

static void say(const struct rec_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const struct rec_opts *o, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void err(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "ringtrace recover: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

/* The whole of a regular file `name` of dirfd (not through a symlink), at
 * most max bytes: 0 with *buf (NUL-terminated) and *n, or a negative errno
 * (-EFBIG: larger). */
static int slurp(int dirfd, const char *name, size_t max, char **buf, size_t *n)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int r = 0;

	*buf = NULL;
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		r = fd < 0 ? -errno : -EINVAL;
	else if ((uint64_t)st.st_size > max)
		r = -EFBIG;
	else if (!(*buf = malloc((size_t)st.st_size + 1)))
		r = -ENOMEM;
	else if (!(r = rtr_ctf_pread_all(fd, *buf, (size_t)st.st_size, 0))) {
		(*buf)[st.st_size] = 0;
		*n = (size_t)st.st_size;
	}
	close(fd);
	if (r) {
		free(*buf);
		*buf = NULL;
	}
	return r;
}

/* ------------------------------------------------------------------------
 * Metadata: is it ringtrace's, its uuid and byte order
 * ------------------------------------------------------------------------ */

struct meta {
	char *text;
	size_t len;
	size_t final_len; /* without the padding of a live trace */
	uint8_t uuid[16];
};

/* Checks the metadata is a ringtrace user-space trace this host can
 * complete. Returns 0, or -EINVAL with why. */
static int meta_check(struct meta *m, char *why, size_t wl)
{
	const char *p, *trace;
	size_t k = 0;

	if (m->len >= 4 && (!memcmp(m->text, "\x57\x1d\xd1\x75", 4) ||
			    !memcmp(m->text, "\x75\xd1\x1d\x57", 4))) {
		snprintf(why, wl, "packetized metadata (LTTng's): not a trace ringtrace wrote");
		return -EINVAL;
	}
	if (m->len < 13 || memcmp(m->text, "/* CTF 1.8 */", 13)) {
		snprintf(why, wl, "metadata does not begin with \"/* CTF 1.8 */\"");
		return -EINVAL;
	}
	if (strlen(m->text) != m->len) {
		snprintf(why, wl, "metadata holds NUL bytes (damaged)");
		return -EINVAL;
	}
	if (!strstr(m->text, "tracer_name = \"ringtrace\";")) {
		snprintf(why, wl, "metadata of another tracer (its env has no tracer_name "
				  "\"ringtrace\")");
		return -EINVAL;
	}
	trace = strstr(m->text, "\ntrace {");
	p = trace ? strstr(trace, "uuid = \"") : NULL;
	if (!p) {
		snprintf(why, wl, "metadata has no trace uuid");
		return -EINVAL;
	}
	p += 8;
	for (int i = 0; i < 36 && k < 16; i++) {
		int a, b;

		if (p[i] == '-')
			continue;
		a = rtr_hexval(p[i]);
		b = a < 0 ? -1 : rtr_hexval(p[i + 1]);
		if (b < 0) {
			snprintf(why, wl, "metadata has a malformed trace uuid");
			return -EINVAL;
		}
		m->uuid[k++] = (uint8_t)(a * 16 + b);
		i++;
	}
	if (k != 16) {
		snprintf(why, wl, "metadata has a malformed trace uuid");
		return -EINVAL;
	}
	p = strstr(trace, "byte_order = ");
	if (!p || strncmp(p + 13, RTR_HOST_BO_NAME, 2)) {
		snprintf(why, wl, "a trace of the other byte order: recover it on a %s machine",
			 strncmp(RTR_HOST_BO_NAME, "le", 2) ? "little-endian" : "big-endian");
		return -EINVAL;
	}
	m->final_len = m->len;
	while (m->final_len > 1 && (m->text[m->final_len - 1] == ' ' ||
				    m->text[m->final_len - 1] == '\n'))
		m->final_len--;
	if (m->final_len < m->len)
		m->final_len++; /* one newline last */
	return 0;
}

/* ------------------------------------------------------------------------
 * Streams
 * ------------------------------------------------------------------------ */

struct hdr {
	uint32_t magic, stream_id, cpu_id;
	uint8_t uuid[16];
	uint64_t instance, ts_begin, ts_end, content_bits, packet_bits, seq, disc;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static void hdr_decode(const uint8_t *b, struct hdr *h)
{
	h->magic = rd32(b);
	memcpy(h->uuid, b + 4, 16);
	h->stream_id = rd32(b + 20);
	h->instance = rd64(b + 24);
	h->ts_begin = rd64(b + 32);
	h->ts_end = rd64(b + 40);
	h->content_bits = rd64(b + 48);
	h->packet_bits = rd64(b + 56);
	h->seq = rd64(b + 64);
	h->disc = rd64(b + 72);
	h->cpu_id = rd32(b + 80);
}

/* NULL: a header ringtrace's host could have written for this trace;
 * else what is wrong with it. */
static const char *hdr_bad(const struct hdr *h, const struct meta *m)
{
	if (h->magic != PKT_MAGIC)
		return "no packet magic";
	if (memcmp(h->uuid, m->uuid, 16))
		return "a packet of another trace (uuid)";
	if (h->content_bits != h->packet_bits || h->content_bits % 8 ||
	    h->content_bits < HDR_SIZE * 8u || h->content_bits / 8 > MAX_PACKET)
		return "impossible packet size";
	if (h->ts_end < h->ts_begin)
		return "packet ends before it begins";
	return NULL;
}

/* A stream file's name as the host makes them: <channel>_<cpu>[.N]. */
static bool stream_name(const char *n)
{
	const char *us = strrchr(n, '_'), *p;

	if (!us || us == n || strlen(n) > MAX_STREAM_NAME)
		return false;
	for (p = n; p < us; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	p = us + 1;
	if (*p < '0' || *p > '9')
		return false;
	while (*p >= '0' && *p <= '9')
		p++;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return *p == 0;
}

struct idx_buf {
	uint8_t *b;
	size_t n, cap;
};

static int idx_add(struct idx_buf *x, uint64_t off, const struct hdr *h)
{
	struct rtr_ctf_index_entry e = {
	    .offset = off,
	    .packet_size = h->packet_bits,
	    .content_size = h->content_bits,
	    .timestamp_begin = h->ts_begin,
	    .timestamp_end = h->ts_end,
	    .events_discarded = h->disc,
	    .stream_id = h->stream_id,
	    .stream_instance_id = h->instance,
	    .packet_seq_num = h->seq,
	};

	if (x->n + RTR_CTF_INDEX_ENTRY_SIZE > x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 4096;
		uint8_t *b = realloc(x->b, cap);

		if (!b)
			return -ENOMEM;
		x->b = b;
		x->cap = cap;
	}
	if (!x->n) {
		rtr_ctf_index_header_encode(x->b);
		x->n = RTR_CTF_INDEX_HEADER_SIZE;
	}
	rtr_ctf_index_entry_encode(x->b + x->n, &e);
	x->n += RTR_CTF_INDEX_ENTRY_SIZE;
	return 0;
}

/* (readopt) A stream whose buffer a live program will hand to the
 * restarted daemon: the daemon reads it from packet `seq` on (the
 * sub-buffer the dead daemon had taken and not given back, its header
 * naming this trace), so those packets must not stay here too. */
struct held {
	uint32_t stream_id;
	uint64_t instance;
	uint64_t seq;
};

struct trace_ctx {
	const struct rec_opts *o;
	const char *path; /* for messages */
	int dirfd, idxfd; /* idxfd -1: no index directory of ours */
	struct meta m;
	unsigned changes;
	uint64_t cut_bytes, salvaged;
	bool failed;
	bool live; /* its process runs (readopt) */
	long pid;
	struct held held[256];
	unsigned nheld;
};

/* Bytes [off, end) of a stream that cannot be read are kept aside in a
 * hidden file (readers skip names starting with '.'), then cut. */
static int keep_aside(struct trace_ctx *t, int fd, const char *name, uint64_t off, uint64_t end)
{
	char aside[300], buf[65536];
	int out;

	snprintf(aside, sizeof(aside), ".%s.cut-at-%" PRIu64, name, off);
	out = openat(t->dirfd, aside, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (out < 0)
		return -errno;
	for (uint64_t p = off; p < end;) {
		size_t n = end - p < sizeof(buf) ? (size_t)(end - p) : sizeof(buf);
		int r = rtr_ctf_pread_all(fd, buf, n, p);

		r = r ? r : rtr_ctf_pwrite_all(out, buf, n, p - off);
		if (r) {
			close(out);
			unlinkat(t->dirfd, aside, 0);
			return r;
		}
		p += n;
	}
	if (fsync(out) < 0 || close(out) < 0)
		return -errno;
	say(t->o, "  %s: the %" PRIu64 " bytes from offset %" PRIu64 " kept aside in %s", name,
	    end - off, off, aside);
	return 0;
}

/* (readopt) The buffers of live process t->pid (its memfds named
 * "ringtrace:PID:...", opened through /proc) whose next sub-buffer to read
 * carries a header of this trace written by the dead daemon: t->held. The
 * buffers are only read (mapped, validated as any buffer, unmapped). */
static void find_held(struct trace_ctx *t)
{
	char dir[64], prefix[64];
	int dfd;
	DIR *d;
	struct dirent *de;

	snprintf(dir, sizeof(dir), "/proc/%ld/fd", t->pid);
	snprintf(prefix, sizeof(prefix), "/memfd:ringtrace:%ld:", t->pid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd >= 0 ? fdopendir(dfd) : NULL;
	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) && t->nheld < sizeof(t->held) / sizeof(t->held[0])) {
		char link[256], path[600];
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = 0;
		if (strncmp(link, prefix, strlen(prefix)))
			continue;
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		for (uint32_t client = 1; client <= 6; client++) {
			const struct rtr_ring_config *cfg = rtr_ctf_host_config(client);
			struct rtr_ring_buf *b = NULL;
			int dup_fd;
			uint8_t hb[HDR_SIZE];
			struct hdr h;

			if (!cfg || (dup_fd = dup(fd)) < 0)
				continue;
			if (rtr_ring_buf_map(cfg, dup_fd, &b)) {
				close(dup_fd);
				continue;
			}
			memcpy(hb, rtr_ring_addr(cfg, b, b->rd.consumed), HDR_SIZE);
			hdr_decode(hb, &h);
			if (!hdr_bad(&h, &t->m) && h.seq == b->rd.consumed >> b->sb_order)
				t->held[t->nheld++] = (struct held){h.stream_id, h.instance, h.seq};
			rtr_ring_buf_destroy(b);
			break;
		}
		close(fd);
	}
	closedir(d);
}

static const struct held *held_of(const struct trace_ctx *t, const struct hdr *h)
{
	for (unsigned i = 0; i < t->nheld; i++)
		if (t->held[i].stream_id == h->stream_id && t->held[i].instance == h->instance)
			return &t->held[i];
	return NULL;
}

/* A packet at off of which only avail bytes are in the file: keeps its
 * whole records. Returns the bytes of the packet kept (0: none), or a
 * negative errno. *h is updated to the packet kept. */
static int64_t salvage(struct trace_ctx *t, int fd, const char *name, uint64_t off,
		       uint64_t avail, struct hdr *h)
{
	struct rtr_packet_salvage sv;
	struct rtr_error e = {0};
	uint64_t n = avail, bits;
	uint8_t *pkt;
	int r;

	if (t->live) {
		say(t->o,
		    "  %s: last packet (offset %" PRIu64 ") cut short: cut (its process runs and "
		    "hands its buffers to the restarted daemon, which reads it again)",
		    name, off);
		return 0;
	}
	pkt = malloc(n);
	if (!pkt)
		return -ENOMEM;
	r = rtr_ctf_pread_all(fd, pkt, n, off);
	if (r) {
		free(pkt);
		return r;
	}
	bits = n * 8;
	memcpy(pkt + 48, &bits, 8);
	memcpy(pkt + 56, &bits, 8);
	r = rtr_reader_salvage_packet(t->m.text, t->m.final_len, pkt, n, &sv, &e);
	free(pkt);
	if (r) {
		say(t->o, "  %s: the last packet (offset %" PRIu64 ") does not decode: %s", name,
		    off, e.msg);
		return 0;
	}
	if (!sv.events)
		return 0;
	say(t->o,
	    "  %s: last packet (offset %" PRIu64 ", %" PRIu64 " of its %" PRIu64
	    " bytes written) cut after its last whole record: %" PRIu64 " record%s kept (%" PRIu64
	    " bytes)",
	    name, off, avail, h->packet_bits / 8, sv.events, sv.events == 1 ? "" : "s",
	    sv.end_bytes);
	h->content_bits = h->packet_bits = sv.end_bytes * 8;
	t->salvaged += sv.events;
	return (int64_t)sv.end_bytes;
}

/* One stream file. */
static void recover_stream(struct trace_ctx *t, const char *name)
{
	int fd = openat(t->dirfd, name,
			(t->o->dry_run ? O_RDONLY : O_RDWR) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct idx_buf idx = {0};
	struct stat st;
	uint64_t off = 0, size, packets = 0;
	const char *cut_why = NULL;
	bool aside = false;
	char iname[MAX_STREAM_NAME + 8];

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		say(t->o, "  %s: not a regular file we can open (%s): left alone", name,
		    strerror(fd < 0 ? errno : EINVAL));
		if (fd >= 0)
			close(fd);
		t->failed = true;
		return;
	}
	size = (uint64_t)st.st_size;
	while (off < size) {
		uint8_t b[HDR_SIZE];
		struct hdr h;
		const char *bad;

		if (size - off < HDR_SIZE) {
			cut_why = "a packet header cut short";
			break;
		}
		if (rtr_ctf_pread_all(fd, b, HDR_SIZE, off)) {
			cut_why = "unreadable";
			break;
		}
		hdr_decode(b, &h);
		bad = hdr_bad(&h, &t->m);
		if (bad) {
			if (off == 0 && h.magic != PKT_MAGIC) {
				say(t->o, "  %s: not a ringtrace stream file (%s): left alone", name,
				    bad);
				close(fd);
				return;
			}
			cut_why = bad;
			aside = true;
			break;
		}
		{
			const struct held *hd = held_of(t, &h);

			if (hd && h.seq >= hd->seq) {
				say(t->o,
				    "  %s: packets from seq %" PRIu64 " on (offset %" PRIu64
				    "): its program hands the buffer to the restarted daemon, "
				    "which reads them again",
				    name, hd->seq, off);
				cut_why = "read again by the restarted daemon";
				break;
			}
		}
		if (h.packet_bits / 8 > size - off) {
			int64_t kept = salvage(t, fd, name, off, size - off, &h);

			if (kept < 0) {
				cut_why = "unreadable";
				break;
			}
			if (kept > 0) {
				if (!t->o->dry_run) {
					uint8_t sz[16];

					memcpy(sz, &h.content_bits, 8);
					memcpy(sz + 8, &h.packet_bits, 8);
					if (rtr_ctf_pwrite_all(fd, sz, 16, off + 48)) {
						err("%s/%s: cannot write: %s", t->path, name,
						    strerror(errno));
						t->failed = true;
						break;
					}
				}
				if (idx_add(&idx, off, &h)) {
					t->failed = true;
					break;
				}
				packets++;
				off += (uint64_t)kept;
			}
			cut_why = kept > 0  ? ""
				  : t->live ? "a last packet cut short, read again by the restarted "
					      "daemon"
					    : "a last packet cut short, with no whole record";
			break;
		}
		if (idx_add(&idx, off, &h)) {
			t->failed = true;
			break;
		}
		packets++;
		off += h.packet_bits / 8;
	}
	if (off < size) {
		if (cut_why && *cut_why)
			say(t->o, "  %s: %" PRIu64 " bytes cut at offset %" PRIu64 " (%s)", name,
			    size - off, off, cut_why);
		else
			say(t->o, "  %s: %" PRIu64 " bytes of a partial record cut", name,
			    size - off);
		t->cut_bytes += size - off;
		t->changes++;
		if (!t->o->dry_run) {
			if (aside && keep_aside(t, fd, name, off, size))
				err("%s/%s: cannot keep the cut bytes aside: %s", t->path, name,
				    strerror(errno));
			if (ftruncate(fd, (off_t)off) < 0) {
				err("%s/%s: cannot cut: %s", t->path, name, strerror(errno));
				t->failed = true;
			}
		}
	}
	close(fd);
	snprintf(iname, sizeof(iname), "%s.idx", name);
	if (!packets) {
		/* nothing readable: readers refuse an empty stream file */
		say(t->o, "  %s: no whole packet: removed", name);
		t->changes++;
		if (!t->o->dry_run) {
			unlinkat(t->dirfd, name, 0);
			if (t->idxfd >= 0)
				unlinkat(t->idxfd, iname, 0);
		}
		free(idx.b);
		return;
	}
	if (t->idxfd >= 0) {
		char *old = NULL;
		size_t on = 0;
		int r = slurp(t->idxfd, iname, 1u << 30, &old, &on);

		if (r || on != idx.n || memcmp(old, idx.b, idx.n)) {
			uint64_t had = !r && on >= RTR_CTF_INDEX_HEADER_SIZE
					   ? (on - RTR_CTF_INDEX_HEADER_SIZE) /
						 RTR_CTF_INDEX_ENTRY_SIZE
					   : 0;

			say(t->o, "  %s: index rebuilt: %" PRIu64 " packet%s (it had %s%" PRIu64 ")",
			    name, packets, packets == 1 ? "" : "s",
			    r ? "none: " : (on - (on >= 16 ? 16 : on)) % RTR_CTF_INDEX_ENTRY_SIZE
					       ? "a partial entry and "
					       : "",
			    had);
			t->changes++;
			if (!t->o->dry_run && (r = rtr_ctf_file_replace(t->idxfd, iname, idx.b, idx.n,
								 st.st_mode & 0666))) {
				err("%s/index/%s: cannot write: %s", t->path, iname, strerror(-r));
				t->failed = true;
			}
		}
		free(old);
	}
	free(idx.b);
}

static int cmpname(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names in dirfd (not "." or ".."), sorted. */
static char **list(int dirfd, size_t *n)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **v = NULL;
	size_t cap = 0;
	struct dirent *de;

	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			char **nv = realloc(v, (cap = cap ? cap * 2 : 32) * sizeof(*v));

			if (!nv)
				break;
			v = nv;
		}
		if (!(v[*n] = strdup(de->d_name)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(v, *n, sizeof(*v), cmpname);
	return v;
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Reads the whole trace (every event decoded): the proof. */
static int verify(const char *path, uint64_t *events, struct rtr_error *e)
{
	struct rtr_reader_options ro = {.skip_values = true};
	const char *paths[] = {path};
	struct rtr_reader *r;
	int ret = rtr_reader_open(paths, 1, &ro, &r, e);

	*events = 0;
	if (ret)
		return ret;
	for (size_t i = 0; i < rtr_reader_stream_count(r) && !ret; i++) {
		struct rtr_stream_stats st = {0};

		ret = rtr_reader_scan_stream(r, i, &st, e);
		*events += st.events;
	}
	rtr_reader_close(r);
	return ret;
}

static bool temp_name(const char *n)
{
	size_t l = strlen(n);

	return n[0] == '.' && l > 4 && !strcmp(n + l - 4, ".tmp") &&
	       (!strncmp(n, ".metadata.", 10) || strstr(n, ".recover."));
}

/* One trace directory (holds `metadata`). */
static void recover_trace(const struct rec_opts *o, struct rec_totals *tot, int dirfd,
			  const char *path)
{
	struct trace_ctx t = {.o = o, .path = path, .dirfd = dirfd, .idxfd = -1};
	char why[300], **names;
	size_t n = 0;
	uint64_t events = 0;
	struct rtr_error e = {0};
	struct stat st;
	int r;

	tot->traces++;
	r = slurp(dirfd, "metadata", MAX_META, &t.m.text, &t.m.len);
	if (r) {
		err("%s: cannot read its metadata: %s", path, strerror(-r));
		tot->failed++;
		return;
	}
	if (meta_check(&t.m, why, sizeof(why))) {
		err("%s: not a ringtrace trace: %s", path, why);
		tot->failed++;
		free(t.m.text);
		return;
	}
	say(o, "%s:", path);
	if (o->readopt) {
		/* env vpid and procname: that process, still running? */
		const char *v = strstr(t.m.text, "\n\tvpid = ");
		const char *pn = strstr(t.m.text, "\n\tprocname = \"");
		long pid = v ? strtol(v + 9, NULL, 10) : 0;

		if (pid > 0 && pn) {
			char comm_path[64], comm[64] = "";
			const char *q = pn + 14, *qe = strchr(q, '"');
			FILE *f;

			snprintf(comm_path, sizeof(comm_path), "/proc/%ld/comm", pid);
			f = fopen(comm_path, "re");
			if (f) {
				if (fgets(comm, sizeof(comm), f))
					comm[strcspn(comm, "\n")] = 0;
				fclose(f);
			}
			t.live = qe && comm[0] && (size_t)(qe - q) == strlen(comm) &&
				 !strncmp(q, comm, (size_t)(qe - q));
			t.pid = pid;
			if (t.live)
				find_held(&t);
		}
	}
	t.idxfd = openat(dirfd, "index", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t.idxfd < 0 && errno == ENOENT && !o->dry_run &&
	    mkdirat(dirfd, "index", 0700) == 0)
		t.idxfd = openat(dirfd, "index", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (t.idxfd >= 0 && (fstat(t.idxfd, &st) < 0 || st.st_uid != geteuid())) {
		close(t.idxfd);
		t.idxfd = -1;
	}
	names = list(dirfd, &n);
	for (size_t i = 0; i < n; i++) {
		const char *nm = names[i];

		if (temp_name(nm)) {
			say(o, "  %s: temporary file of an interrupted write: removed", nm);
			t.changes++;
			if (!o->dry_run)
				unlinkat(dirfd, nm, 0);
			continue;
		}
		if (nm[0] == '.' || !strcmp(nm, "metadata") || !strcmp(nm, "index"))
			continue;
		if (fstatat(dirfd, nm, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (!stream_name(nm)) {
			say(o, "  %s: not a stream file of ringtrace's: left alone", nm);
			continue;
		}
		recover_stream(&t, nm);
	}
	free_list(names, n);
	if (t.idxfd >= 0) {
		names = list(t.idxfd, &n);
		for (size_t i = 0; i < n; i++)
			if (temp_name(names[i]) && !o->dry_run)
				unlinkat(t.idxfd, names[i], 0);
		free_list(names, n);
	}
	if (t.m.final_len != t.m.len) {
		say(o, "  metadata: final (%zu bytes of a live trace's padding removed)",
		    t.m.len - t.m.final_len);
		t.changes++;
		if (!o->dry_run) {
			mode_t mode = 0600;

			if (fstatat(dirfd, "metadata", &st, AT_SYMLINK_NOFOLLOW) == 0)
				mode = st.st_mode & 0666;
			r = rtr_ctf_file_replace(dirfd, "metadata", t.m.text, t.m.final_len, mode);
			if (r) {
				err("%s/metadata: cannot write: %s", path, strerror(-r));
				t.failed = true;
			}
		}
	}
	if (!o->dry_run || !t.changes) {
		r = verify(path, &events, &e);
		if (r) {
			err("%s: still not readable: %s", path, e.msg);
			t.failed = true;
		}
	}
	if (t.failed)
		tot->failed++;
	if (t.changes)
		tot->changed++;
	tot->events += events;
	tot->cut_bytes += t.cut_bytes;
	tot->salvaged_records += t.salvaged;
	if (!t.failed) {
		if (o->dry_run && t.changes)
			say(o, "  would be recovered (--dry-run: nothing changed)");
		else if (t.changes)
			say(o, "  recovered: %" PRIu64 " events readable", events);
		else
			say(o, "  complete already: %" PRIu64 " events, nothing to do", events);
	}
	if (t.idxfd >= 0)
		close(t.idxfd);
	free(t.m.text);
}

/* Every trace under dirfd (path for messages). */
static void walk(const struct rec_opts *o, struct rec_totals *tot, int dirfd, const char *path,
		 int depth)
{
	struct stat st;
	char **names;
	size_t n = 0;

	if (fstatat(dirfd, "metadata", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
		recover_trace(o, tot, dirfd, path);
	if (depth >= MAX_DEPTH)
		return;
	names = list(dirfd, &n);
	for (size_t i = 0; i < n; i++) {
		char sub[PATH_MAX + 300];
		int fd;

		if (names[i][0] == '.' || !strcmp(names[i], "index"))
			continue;
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, names[i]) >= sizeof(sub))
			continue;
		fd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		walk(o, tot, fd, sub, depth + 1);
		close(fd);
	}
	free_list(names, n);
}

/* ------------------------------------------------------------------------
 * The daemon's state directory
 * ------------------------------------------------------------------------ */

/* The pid of the daemon running in rundir, or 0 (none: its lock is free). */
static pid_t live_daemon(const char *rundir)
{
	char path[PATH_MAX + 64], buf[32];
	int fd;
	ssize_t n;
	pid_t pid = 0;

	snprintf(path, sizeof(path), "%s/%s", rundir, RTR_DAEMON_LOCK);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = 0;
		pid = (pid_t)atoi(buf);
		if (pid <= 0)
			pid = -1; /* one runs; pid unknown */
	}
	close(fd);
	return pid;
}

struct state_list {
	struct rtr_state_session *s;
	char (*file)[200];
	size_t n;
};

/* The sessions of rundir's state directory. Returns 0, or -errno. */
static int state_read(const char *rundir, struct state_list *l)
{
	char path[PATH_MAX + 64], **names;
	size_t n = 0;
	struct stat st;
	int dfd;

	l->s = NULL;
	l->file = NULL;
	l->n = 0;
	snprintf(path, sizeof(path), "%s/%s", rundir, RTR_STATE_DIR);
	dfd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fstat(dfd, &st) < 0 || (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & 022)) {
		close(dfd);
		return -EPERM;
	}
	names = list(dfd, &n);
	l->s = calloc(n ? n : 1, sizeof(*l->s));
	l->file = calloc(n ? n : 1, sizeof(*l->file));
	for (size_t i = 0; l->s && l->file && i < n; i++) {
		char *buf = NULL, e[200];
		size_t len = 0;
		int fd;

		if (strncmp(names[i], "s-", 2))
			continue;
		fd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
		    (st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & 022)) {
			if (fd >= 0)
				close(fd);
			err("%s/%s: not a state file of this user: ignored", path, names[i]);
			continue;
		}
		close(fd);
		if (slurp(dfd, names[i], RTR_STATE_MAX_FILE, &buf, &len) ||
		    rtr_state_parse(buf, len, &l->s[l->n], e, sizeof(e))) {
			err("%s/%s: %s: ignored", path, names[i], buf ? e : "cannot read it");
			free(buf);
			continue;
		}
		free(buf);
		snprintf(l->file[l->n], sizeof(l->file[0]), "%s", names[i]);
		l->n++;
	}
	free_list(names, n);
	close(dfd);
	return 0;
}

static void state_remove(const char *rundir, const char *file)
{
	char path[PATH_MAX + 300];

	snprintf(path, sizeof(path), "%s/%s/%s", rundir, RTR_STATE_DIR, file);
	unlink(path);
}

/* Is `path` (canonical) inside `dir` (canonical), or equal? */
static bool within(const char *path, const char *dir)
{
	size_t l = strlen(dir);

	return !strncmp(path, dir, l) && (path[l] == 0 || path[l] == '/' || (l == 1));
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: ringtrace recover [--dry-run] [-q] DIR...\n"
		"       ringtrace recover --all [--dry-run] [-q] [--rundir DIR]\n"
		"\n"
		"Turns what a dead recording left (a session daemon or `ringtrace record`\n"
		"killed with SIGKILL) into traces every reader opens: the last packet of\n"
		"each stream cut after its last whole record, the packet index rebuilt,\n"
		"the metadata made final. Nothing is invented; running it again changes\n"
		"nothing. Do not run it on a trace that is still being recorded.\n"
		"\n"
		"  --all          the sessions the session daemon's state directory lists\n"
		"                 whose daemon is gone (their state files are removed once\n"
		"                 their traces are recovered)\n"
		"  --rundir DIR   the daemon's run directory (default: the user's daemon's)\n"
		"  -n, --dry-run  say what would be done, change nothing\n"
		"  -q, --quiet    errors only\n"
		"  --readopt      (the session daemon, before it takes a session over)\n"
		"                 a partial last packet of a trace whose process runs is\n"
		"                 cut whole: the program hands it over again\n");
}

int rtr_cmd_recover(int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'},
					     {"rundir", required_argument, NULL, 'r'},
					     {"dry-run", no_argument, NULL, 'n'},
					     {"quiet", no_argument, NULL, 'q'},
					     {"readopt", no_argument, NULL, 'R'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	struct rec_opts o = {0};
	struct rec_totals tot = {0};
	struct state_list sl = {0};
	char rundir[PATH_MAX] = "";
	bool all = false;
	pid_t live;
	int c, rc = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "nqh", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			all = true;
			break;
		case 'r':
			snprintf(rundir, sizeof(rundir), "%s", optarg);
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'R':
			o.readopt = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (all == (optind < argc)) {
		usage(stderr);
		return 2;
	}
	if (!rundir[0] && rtr_rundir_user(rundir, sizeof(rundir))) {
		err("run directory path too long");
		return 2;
	}
	live = live_daemon(rundir);
	if (state_read(rundir, &sl) && all) {
		err("no state directory in %s: no session daemon kept its sessions there", rundir);
		return 2;
	}
	if (all) {
		unsigned todo = 0;

		for (size_t i = 0; i < sl.n; i++) {
			const struct rtr_state_session *s = &sl.s[i];
			int fd;

			if (live && (live < 0 || s->daemon_pid == live)) {
				say(&o, "session %s: its daemon (pid %d) runs: left to it", s->name,
				    (int)s->daemon_pid);
				continue;
			}
			todo++;
			say(&o, "session %s (%s, daemon pid %d gone): %s", s->name,
			    s->active ? "was recording" : "was not recording", (int)s->daemon_pid,
			    s->output);
			fd = open(s->output, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0) {
				err("session %s: cannot open %s: %s", s->name, s->output,
				    strerror(errno));
				rc = 1;
				continue;
			}
			{
				unsigned before = tot.failed;

				walk(&o, &tot, fd, s->output, 0);
				if (tot.failed == before && !o.dry_run) {
					state_remove(rundir, sl.file[i]);
					say(&o, "session %s: done; its state file removed", s->name);
				}
			}
			close(fd);
		}
		if (!todo)
			say(&o, "no session of a dead daemon to recover in %s", rundir);
		if (!live && !o.dry_run) {
			/* no session left to reload: the dead daemon's copy of its
			 * armed-sessions file goes too */
			struct state_list left;

			if (state_read(rundir, &left) == 0 && !left.n) {
				char path[PATH_MAX + 64];

				snprintf(path, sizeof(path), "%s/%s/armed", rundir, RTR_STATE_DIR);
				unlink(path);
			}
			free(left.s);
			free(left.file);
		}
	} else {
		for (int i = optind; i < argc; i++) {
			char canon[PATH_MAX];
			unsigned before = tot.traces;
			bool busy = false;
			int fd;

			if (!realpath(argv[i], canon)) {
				err("%s: %s", argv[i], strerror(errno));
				rc = 2;
				continue;
			}
			for (size_t k = 0; live && k < sl.n; k++)
				if ((live < 0 || sl.s[k].daemon_pid == live) &&
				    (within(canon, sl.s[k].output) || within(sl.s[k].output, canon))) {
					err("%s: session %s of the running session daemon (pid %d) "
					    "writes there; stop or destroy it first",
					    argv[i], sl.s[k].name, (int)live);
					busy = true;
				}
			if (busy) {
				rc = 2;
				continue;
			}
			fd = open(canon, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (fd < 0) {
				err("%s: %s", argv[i], strerror(errno));
				rc = 2;
				continue;
			}
			walk(&o, &tot, fd, argv[i], 0);
			close(fd);
			if (tot.traces == before) {
				err("%s: not a ringtrace trace (no trace directory with a `metadata` "
				    "file under it)",
				    argv[i]);
				rc = 2;
			}
		}
	}
	free(sl.s);
	free(sl.file);
	if (tot.traces)
		say(&o,
		    "%u trace%s: %u %s, %u complete already, %u failed; %" PRIu64
		    " events readable, %" PRIu64 " records kept from partial packets, %" PRIu64
		    " bytes cut",
		    tot.traces, tot.traces == 1 ? "" : "s", tot.changed,
		    o.dry_run ? "to recover" : "recovered", tot.traces - tot.changed - tot.failed,
		    tot.failed, tot.events, tot.salvaged_records, tot.cut_bytes);
	if (tot.failed && !rc)
		rc = 1;
	fflush(stdout);
	return rc;
}
