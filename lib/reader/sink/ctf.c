/* CTF to CTF: re-encodes the events of each stream with their own field
 * classes (the metadata is kept as it is), dropping filtered events and
 * rewriting the packet context roles. See docs/design/reader.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iter/iter.h"

struct patch {
	uint64_t pos;
	const struct rtr__op *op;
	bool set;
};

struct wr {
	struct rtr__stream *s;
	int fd;
	const char *path;
	uint8_t *buf;
	uint64_t cap_bits; /* packet capacity */
	size_t buf_bytes;  /* allocated */
	uint64_t pos;	   /* bits */
	bool open;
	bool fixed;	  /* stream has packet_size: packets can be split */
	bool has_content; /* stream has content_size: events can be dropped */
	uint64_t clock;	  /* reader-side clock simulation */
	uint64_t last_clock;
	uint64_t carry;	  /* the reader's clock when the next packet starts */
	uint64_t begin;	  /* timestamp_begin written in the open packet */
	bool any;
	uint64_t seq;
	bool seq_init;
	uint64_t gap;
	struct patch p_content, p_psize, p_begin, p_end, p_seq;
	uint64_t src_end;
	bool split; /* current packet was cut before the source end */
	uint64_t packets, events;
	struct rtr_error *err; /* the caller's */
};

/* Static functions here return 0 or a negative errno, the error recorded
 * in w->err: werr() records one, FAILED(w) is the code of the one
 * recorded. */
#define werr(w, code, ...) rtr__error((w)->err, code, __VA_ARGS__)
#define FAILED(w)	   ((w)->err->code ? (w)->err->code : -EINVAL)

static int ensure(struct wr *w, uint64_t bits)
{
	size_t need = (size_t)((bits + 7) / 8) + 16;

	if (need <= w->buf_bytes)
		return 0;
	{
		size_t nc = w->buf_bytes ? w->buf_bytes : 65536;
		uint8_t *nb;

		while (nc < need)
			nc *= 2;
		nb = realloc(w->buf, nc);
		if (!nb)
			return werr(w, -ENOMEM, "out of memory");
		memset(nb + w->buf_bytes, 0, nc - w->buf_bytes);
		w->buf = nb;
		w->buf_bytes = nc;
	}
	return 0;
}

static void wr_bits(uint8_t *b, uint64_t pos, unsigned n, int bo, uint64_t v)
{
	if (n < 64)
		v &= ((uint64_t)1 << n) - 1;
	if (bo == RTR__BO_LE) {
		for (unsigned i = 0; i < n;) {
			uint64_t p = pos + i;
			unsigned o = (unsigned)(p & 7), k = 8 - o;
			uint8_t m;

			if (k > n - i)
				k = n - i;
			m = (uint8_t)(((1u << k) - 1) << o);
			b[p >> 3] = (uint8_t)((b[p >> 3] & ~m) | (((v >> i) << o) & m));
			i += k;
		}
	} else {
		for (unsigned i = 0; i < n;) {
			uint64_t p = pos + i;
			unsigned o = (unsigned)(p & 7), k = 8 - o, sh;
			uint8_t m, bits;

			if (k > n - i)
				k = n - i;
			/* the k most significant bits still to write */
			sh = n - i - k;
			bits = (uint8_t)((v >> sh) & ((1u << k) - 1));
			m = (uint8_t)(((1u << k) - 1) << (8 - o - k));
			b[p >> 3] = (uint8_t)((b[p >> 3] & ~m) | ((bits << (8 - o - k)) & m));
			i += k;
		}
	}
}

static inline void walign(struct wr *w, uint32_t a)
{
	if (a > 1)
		w->pos = (w->pos + a - 1) & ~(uint64_t)(a - 1);
}

/* Encodes value records [from, to) at w->pos. */
static int encode(struct wr *w, const struct rtr_value *v, size_t from, size_t to, bool packet)
{
	for (size_t i = from; i < to; i++) {
		const struct rtr__op *op = v[i].cls;

		switch (v[i].kind) {
		case RTR_VAL_UINT:
		case RTR_VAL_SINT:
			walign(w, op->align);
			if (ensure(w, w->pos + op->size))
				return FAILED(w);
			if (packet) {
				struct patch *p = NULL;

				switch (op->role) {
				case ROLE_CONTENT_SIZE:
					p = &w->p_content;
					break;
				case ROLE_PACKET_SIZE:
					p = &w->p_psize;
					break;
				case ROLE_TS_BEGIN:
					p = &w->p_begin;
					break;
				case ROLE_TS_END:
					p = &w->p_end;
					break;
				case ROLE_SEQ_NUM:
					p = &w->p_seq;
					break;
				default:
					break;
				}
				if (p) {
					p->pos = w->pos;
					p->op = op;
					p->set = true;
				}
			}
			wr_bits(w->buf, w->pos, op->size, op->bo, v[i].v.u);
			w->pos += op->size;
			break;
		case RTR_VAL_FLOAT: {
			uint64_t u;

			walign(w, op->align);
			if (ensure(w, w->pos + op->size))
				return FAILED(w);
			if (op->size == 32) {
				float f = (float)v[i].v.d;
				uint32_t x;

				memcpy(&x, &f, 4);
				u = x;
			} else {
				memcpy(&u, &v[i].v.d, 8);
			}
			wr_bits(w->buf, w->pos, op->size, op->bo, u);
			w->pos += op->size;
			break;
		}
		case RTR_VAL_STRING: {
			uint64_t n = v[i].len;

			walign(w, op->code == OP_STRING ? 8 : op->align);
			walign(w, 8);
			if (ensure(w, w->pos + (n + 1) * 8))
				return FAILED(w);
			memcpy(w->buf + w->pos / 8, v[i].v.s, (size_t)n);
			w->pos += n * 8;
			if (op->code == OP_STRING) {
				w->buf[w->pos / 8] = 0;
				w->pos += 8;
			}
			break;
		}
		case RTR_VAL_STRUCT_BEGIN:
		case RTR_VAL_ARRAY_BEGIN:
			walign(w, op->align);
			break;
		default:
			break;
		}
	}
	return ensure(w, w->pos);
}

static void patch(struct wr *w, struct patch *p, uint64_t v)
{
	if (p->set)
		wr_bits(w->buf, p->pos, p->op->size, p->op->bo, v);
}

static int flush_packet(struct wr *w)
{
	uint64_t bits = w->pos, psize, bytes;

	if (!w->open)
		return 0;
	psize = w->fixed ? w->cap_bits : ((bits + 7) & ~(uint64_t)7);
	if (psize < bits)
		psize = (bits + 7) & ~(uint64_t)7;
	bytes = psize / 8;
	if (ensure(w, psize))
		return FAILED(w);
	patch(w, &w->p_content, bits);
	patch(w, &w->p_psize, psize);
	patch(w, &w->p_end, w->split ? w->last_clock : w->src_end);
	/* the reader carries its clock into the next packet from the
	 * timestamp_end written here (iter/stream.c, with babeltrace2's
	 * LTTng fix-ups), else from the last event */
	w->carry = w->clock;
	if (w->p_end.set) {
		uint64_t e = w->split ? w->last_clock : w->src_end;

		if (!(w->s->q_lttng_crash && w->p_begin.set && w->begin != 0 && e == 0) &&
		    !(w->s->q_event_after_packet && e < w->clock))
			w->carry = e;
	}
	{
		size_t off = 0;

		while (off < bytes) {
			ssize_t r = write(w->fd, w->buf + off, (size_t)(bytes - off));

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return werr(w, -errno, "%s: write: %s", w->path, strerror(errno));
			off += (size_t)r;
		}
	}
	w->open = false;
	w->packets++;
	return 0;
}

/* Starts an output packet from the current source packet's header and
 * context values, with timestamp_begin = begin. */
static int open_packet(struct wr *w, uint64_t begin)
{
	struct rtr__stream *s = w->s;

	if (w->buf)
		memset(w->buf, 0, w->buf_bytes);
	w->pos = 0;
	memset(&w->p_content, 0, sizeof(w->p_content));
	memset(&w->p_psize, 0, sizeof(w->p_psize));
	memset(&w->p_begin, 0, sizeof(w->p_begin));
	memset(&w->p_end, 0, sizeof(w->p_end));
	memset(&w->p_seq, 0, sizeof(w->p_seq));
	if (encode(w, s->cur.vals, 0, s->cur.npvals, true))
		return FAILED(w);
	if (!w->seq_init) {
		w->seq = s->cur.r_seq;
		w->seq_init = true;
	} else {
		w->seq += 1 + w->gap;
	}
	w->gap = 0;
	patch(w, &w->p_begin, begin);
	patch(w, &w->p_seq, w->seq);
	w->begin = begin;
	/* without timestamp_begin the reader starts from its carried clock */
	w->clock = w->p_begin.set ? begin : w->carry;
	w->open = true;
	w->split = false;
	return 0;
}

/* Would the reader rebuild this event's timestamp from w->clock? */
static bool clock_ok(struct wr *w)
{
	struct rtr__stream *s = w->s;
	uint64_t c = w->clock;

	for (size_t i = s->cur.npvals; i < s->cur.nvals; i++) {
		const struct rtr__op *op = s->cur.vals[i].cls;
		uint64_t v, mask;

		if (op->clock < 0 ||
		    (s->cur.vals[i].kind != RTR_VAL_UINT && s->cur.vals[i].kind != RTR_VAL_SINT))
			continue;
		v = s->cur.vals[i].v.u;
		if (op->size >= 64) {
			c = v;
			continue;
		}
		mask = ((uint64_t)1 << op->size) - 1;
		v &= mask;
		if (v < (c & mask))
			c += mask + 1;
		c = (c & ~mask) | v;
	}
	return c == s->cur.ev_clock;
}

static bool keep_event(const struct rtr_reader *r, struct rtr__stream *s)
{
	if (!rtr__class_selected(r, s->cur.ec->cls))
		return false;
	if ((r->opt.has_begin || r->opt.has_end) && s->sc->clock >= 0) {
		int ovf;
		int64_t ns = rtr__clock_ns(&s->tc->clocks[s->sc->clock], s->cur.ev_clock, &ovf);

		if (r->opt.has_begin && ns < r->opt.begin_ns)
			return false;
		if (r->opt.has_end && ns > r->opt.end_ns)
			return false;
	}
	return true;
}

static int write_stream(struct rtr_reader *r, struct rtr__stream *s, struct wr *w)
{
	uint64_t gen = 0;
	bool src_first = false;
	int rc;

	s->cur.all = 1;
	s->cur.no_emit = false;
	rtr__stream_start(s);
	while ((rc = rtr__stream_next(s)) == RTR_NEXT_OK) {
		uint64_t save;

		if (s->item == IT_DISC_PACKETS) {
			w->gap += s->cur_pend.count;
			continue;
		}
		if (s->item != IT_EVENT)
			continue;
		if (s->pkt_gen != gen) {
			if (flush_packet(w))
				return FAILED(w);
			gen = s->pkt_gen;
			w->fixed = s->cur.r_seen & (1u << ROLE_PACKET_SIZE);
			w->has_content = s->cur.r_seen & (1u << ROLE_CONTENT_SIZE);
			w->cap_bits = s->pkt_bits;
			w->src_end = s->cur.r_ts_end;
			src_first = true;
		}
		if (!keep_event(r, s)) {
			if (!w->has_content && w->fixed)
				return werr(w, -EINVAL,
					    "%s: cannot drop events of a stream whose packets have "
					    "no content_size",
					    s->info.path);
			continue;
		}
		if (!w->open) {
			if (open_packet(w, src_first && (s->cur.r_seen & (1u << ROLE_TS_BEGIN))
					       ? s->cur.r_ts_begin
					       : s->cur.ev_clock))
				return FAILED(w);
			src_first = false;
		}
		if (!clock_ok(w)) {
			if (!w->fixed || !(s->cur.r_seen & (1u << ROLE_TS_BEGIN)))
				return werr(w, -EINVAL,
					    "%s: cannot keep the timestamp of an event without "
					    "starting a new packet, and this stream has no "
					    "packet_size/timestamp_begin",
					    s->info.path);
			w->split = true;
			if (flush_packet(w) || open_packet(w, s->cur.ev_clock))
				return FAILED(w);
		}
		save = w->pos;
		if (encode(w, s->cur.vals, s->cur.npvals, s->cur.nvals, false))
			return FAILED(w);
		if (w->fixed && w->pos > w->cap_bits) {
			/* does not fit: close this packet, start another */
			w->pos = save;
			memset(w->buf + (save + 7) / 8, 0, w->buf_bytes - (size_t)((save + 7) / 8));
			w->split = true;
			if (flush_packet(w) || open_packet(w, s->cur.ev_clock) ||
			    encode(w, s->cur.vals, s->cur.npvals, s->cur.nvals, false))
				return FAILED(w);
			if (w->pos > w->cap_bits)
				return werr(w, -EINVAL, "%s: event too large for its packet",
					    s->info.path);
		}
		w->clock = s->cur.ev_clock;
		w->last_clock = s->cur.ev_clock;
		w->any = true;
		w->events++;
	}
	if (rc == RTR_NEXT_ERROR)
		return werr(w, r->err.code, "%s", r->err.msg);
	return flush_packet(w);
}

/* mkdir -p: 0 or a negative errno */
static int mkdirs(const char *path)
{
	char tmp[4096];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == 0) {
			char c = tmp[i];

			tmp[i] = 0;
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -errno;
			tmp[i] = c;
		}
	}
	return 0;
}

static char *trace_out_dir(const char *outdir, const struct rtr__trace *t)
{
	size_t n = strlen(outdir) + (t->suffix ? strlen(t->suffix) : 0) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s%s%s", outdir, t->suffix ? "/" : "", t->suffix ? t->suffix : "");
	return p;
}

int rtr_reader_write_ctf(struct rtr_reader *r, const char *outdir, struct rtr_error *err)
{
	struct wr w;
	int ret;

	if (r->started)
		return rtr__error(err, -EINVAL, "reader already iterated");
	if ((ret = mkdirs(outdir)))
		return rtr__error(err, ret, "%s: cannot create: %s", outdir, strerror(-ret));
	/* metadata of every trace, as it is (plain text) */
	for (size_t i = 0; i < r->ntr; i++) {
		struct rtr__trace *t = r->traces[i];
		char *d = trace_out_dir(outdir, t), *p;
		FILE *f;
		bool sig = t->text_len >= 7 && !memcmp(t->text, "/* CTF ", 7);

		ret = d ? mkdirs(d) : -ENOMEM;
		if (ret) {
			rtr__error(err, ret, "%s: cannot create: %s", d ? d : outdir,
				   strerror(-ret));
			free(d);
			return ret;
		}
		p = malloc(strlen(d) + 16);
		if (!p) {
			free(d);
			return rtr__error(err, -ENOMEM, "out of memory");
		}
		sprintf(p, "%s/metadata", d);
		/* never over an existing file: an output that overlaps an
		 * input would destroy it while it is read */
		{
			int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

			f = fd >= 0 ? fdopen(fd, "w") : NULL;
			if (fd >= 0 && !f)
				close(fd);
		}
		if (!f && errno == EEXIST) {
			ret = rtr__error(err, -EEXIST,
					 "%s exists: give a new or empty output directory", p);
			free(p);
			free(d);
			return ret;
		}
		if (!f || (!sig && fputs("/* CTF 1.8 */\n", f) < 0) ||
		    fwrite(t->text, 1, t->text_len, f) != t->text_len || fclose(f)) {
			ret = rtr__error(err, -errno, "%s: cannot write: %s", p, strerror(errno));
			free(p);
			free(d);
			return ret;
		}
		free(p);
		free(d);
	}
	for (size_t i = 0; i < r->nst; i++) {
		struct rtr__stream *s = r->streams[i];
		const char *base = strrchr(s->files[0]->path, '/');
		char *d = trace_out_dir(outdir, s->files[0]->tr), *p;

		base = base ? base + 1 : s->files[0]->path;
		p = d ? malloc(strlen(d) + strlen(base) + 2) : NULL;
		if (!p) {
			free(d);
			return rtr__error(err, -ENOMEM, "out of memory");
		}
		sprintf(p, "%s/%s", d, base);
		free(d);
		memset(&w, 0, sizeof(w));
		w.s = s;
		w.path = p;
		w.err = err;
		w.fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (w.fd < 0) {
			ret = errno == EEXIST ? rtr__error(err, -EEXIST,
							   "%s exists: give a new or empty output "
							   "directory",
							   p)
					      : rtr__error(err, -errno, "%s: cannot create: %s", p,
							   strerror(errno));
			free(p);
			return ret;
		}
		ret = write_stream(r, s, &w);
		if (close(w.fd) && !ret)
			ret = werr(&w, -errno, "%s: %s", p, strerror(errno));
		if (!ret && w.packets == 0)
			unlink(p); /* nothing kept: no stream file */
		free(w.buf);
		free(p);
		if (ret)
			return ret;
	}
	r->started = true;
	return 0;
}
