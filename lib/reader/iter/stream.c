/* One data stream (a chain of stream files): mapping windows, packet
 * headers and contexts, discarded items, its next event through compile/.
 * See docs/design/reader.md ("Streams, merge, memory"). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iter/iter.h"

/* Errors of the packet at s->cur.pkt_off (-EINVAL: malformed) */
#define derr(s, ...) rtr__cursor_error(&(s)->cur, -EINVAL, __VA_ARGS__)

#define WINDOW	     (16u << 20)  /* readable from a packet start (or to the end) */
#define MAP_LEN	     (2 * WINDOW) /* mapped at a time: a new mapping every WINDOW */
#define RELEASE_STEP (4u << 20)

static size_t page_size(void)
{
	static size_t ps;

	if (!ps) {
		long v = sysconf(_SC_PAGESIZE);

		ps = v > 0 ? (size_t)v : 4096;
	}
	return ps;
}

/* ------------------------------------------------------------------ */
/* mapping                                                             */

static void unmap(struct rtr__stream *s)
{
	if (s->map && !(s->f && s->f->mem))
		munmap(s->map, s->map_len);
	s->map = NULL;
	s->map_len = 0;
}

/* Opens f again for a mapping: it must still be the file found when the
 * trace was opened. Returns 0 or a negative errno, the error recorded. */
static int file_reopen(struct rtr__stream *s, struct rtr__file *f)
{
	struct stat st;

	f->fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (f->fd < 0)
		return rtr__error(s->cur.err, -errno, "%s: cannot open: %s", f->path,
				  strerror(errno));
	if (fstat(f->fd, &st) || (uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino) {
		close(f->fd);
		f->fd = -1;
		return rtr__error(s->cur.err, -ESTALE,
				  "%s: the file was replaced while the trace was read", f->path);
	}
	return 0;
}

/* Makes [off, off + want) of the current file readable, as much as the
 * file allows. Sets s->cur.pkt and s->cur.avail_bits. */
static int map_at(struct rtr__stream *s, uint64_t off, uint64_t want)
{
	struct rtr__file *f = s->f;
	uint64_t start, len;
	int r;

	if (want < WINDOW)
		want = WINDOW;
	if (off > f->size)
		off = f->size;
	if (f->mem) {
		s->map = (uint8_t *)f->mem;
		s->map_off = 0;
		s->map_len = (size_t)f->size;
		s->released = 0;
		s->cur.pkt = f->size ? s->map + off : NULL;
		s->cur.avail_bits = (f->size - off) * 8;
		return 0;
	}
	if (s->map && off >= s->map_off &&
	    (off + want <= s->map_off + s->map_len ||
	     (s->map_off + s->map_len == f->size && off <= f->size))) {
		goto ok;
	}
	unmap(s);
	start = off & ~(uint64_t)(page_size() - 1);
	len = off - start + (want > MAP_LEN ? want : MAP_LEN);
	if (start + len > f->size)
		len = f->size - start;
	if (len == 0)
		goto ok;
	if (len > SIZE_MAX)
		return rtr__error(s->cur.err, -EFBIG,
				  "%s: offset %" PRIu64 ": packet too large to map", f->path, off);
	if (f->fd < 0 && (r = file_reopen(s, f)))
		return r;
	s->map = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, f->fd, (off_t)start);
	if (f->ino) { /* opened lazily: the mapping outlives the descriptor */
		int e = errno;

		close(f->fd);
		f->fd = -1;
		errno = e;
	}
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return rtr__error(s->cur.err, -errno,
				  "%s: offset %" PRIu64 ": cannot map %" PRIu64 " bytes: %s",
				  f->path, off, len, strerror(errno));
	}
	madvise(s->map, (size_t)len, MADV_SEQUENTIAL);
	s->map_off = start;
	s->map_len = (size_t)len;
	s->released = start;
ok:
	if (!s->map) {
		s->cur.pkt = NULL;
		s->cur.avail_bits = 0;
		return 0;
	}
	s->cur.pkt = s->map + (off - s->map_off);
	s->cur.avail_bits = (s->map_off + s->map_len - off) * 8;
	/* drop pages already read */
	if (off >= s->released + RELEASE_STEP) {
		uint64_t to = off & ~(uint64_t)(page_size() - 1);

		madvise(s->map + (s->released - s->map_off), (size_t)(to - s->released),
			MADV_DONTNEED);
		s->released = to;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* packets                                                             */

static const struct rtr__stream_code *find_sc_by_id(const struct rtr__trace_code *code,
						     uint64_t id)
{
	for (size_t i = 0; i < code->n_scs; i++)
		if (code->scs[i].cls->id == id)
			return &code->scs[i];
	return NULL;
}

/* Decodes the packet header and context at s->cur.pkt_off (before the end)
 * of the current file. Returns 0 or a negative errno, the error recorded. */
static int read_packet(struct rtr__stream *s, bool probe)
{
	struct rtr__file *f = s->f;
	const struct rtr__trace_class *tc = s->tc;
	const struct rtr__trace_code *code = s->code;
	const struct rtr__stream_code *sc;
	uint64_t rest;
	int r;

	if ((r = map_at(s, s->cur.pkt_off, WINDOW)))
		return r;
	rest = (f->size - s->cur.pkt_off) * 8;
	s->cur.pos = 0;
	s->cur.end = s->cur.avail_bits < rest ? s->cur.avail_bits : rest;
	s->cur.r_seen = 0;
	s->cur.uuid_pos = -1;
	s->cur.budget = s->cur.end + 65536;
	if (!s->cur.slots || s->cur.nslots < code->max_slots) {
		uint64_t *ns = realloc(s->cur.slots, (code->max_slots + 1) * sizeof(*ns));

		if (!ns)
			return rtr__cursor_error(&s->cur, -ENOMEM, "out of memory");
		memset(ns, 0, (code->max_slots + 1) * sizeof(*ns));
		s->cur.slots = ns;
		s->cur.nslots = code->max_slots;
	}
	/* packet header */
	s->cur.nvals = 0;
	if ((r = rtr__plan_scope(&s->cur, &code->p_packet_header, RTR_SCOPE_PACKET_HEADER, false)))
		return r;
	if ((s->cur.r_seen & (1u << ROLE_MAGIC)) && s->cur.r_magic != 0xC1FC1FC1u) {
		s->cur.pos = 0;
		return derr(s, "bad packet magic 0x%08" PRIx64 ": expecting 0xc1fc1fc1",
			    s->cur.r_magic);
	}
	if (s->cur.uuid_pos >= 0 && tc->has_uuid &&
	    memcmp(s->cur.pkt + s->cur.uuid_pos / 8, tc->uuid, 16) && s->warn &&
	    !s->f->uuid_warned) {
		/* CTF 1.8 says they match, but babeltrace2 never checks it and
		 * reads such packets as the trace's: so do we, saying so once
		 * per file */
		char m[600];
		const uint8_t *u = s->cur.pkt + s->cur.uuid_pos / 8;

		s->f->uuid_warned = true;
		snprintf(m, sizeof(m),
			 "%s: packet at offset %" PRIu64 ": packet UUID "
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x "
			 "differs from the trace's UUID in the metadata; its packets are read as "
			 "the trace's",
			 s->f->path, s->cur.pkt_off, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
			 u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		s->warn(s->warn_arg, m);
	}
	if (s->cur.r_seen & (1u << ROLE_STREAM_ID)) {
		sc = find_sc_by_id(code, s->cur.r_stream_id);
		if (!sc)
			return derr(s, "no stream class with id %" PRIu64, s->cur.r_stream_id);
	} else {
		if (code->n_scs == 0)
			return derr(s, "metadata declares no stream class");
		if (code->n_scs > 1)
			return derr(s, "packet header has no stream_id and the trace has several "
				       "stream classes");
		sc = &code->scs[0];
	}
	if (s->sc && sc->cls->id != s->sc->cls->id && !probe)
		return derr(s, "packet of stream class %" PRIu64 " in a stream of class %" PRIu64,
			    sc->cls->id, s->sc->cls->id);
	/* the header ran with the shared plan: its saves are in slots */
	s->sc = sc;
	/* packet context */
	if (!s->cur.all)
		s->cur.nvals = 0;
	if ((r = rtr__plan_scope(&s->cur, &sc->p_packet_context, RTR_SCOPE_PACKET_CONTEXT, !probe)))
		return r;
	/* sizes */
	if (s->cur.r_seen & (1u << ROLE_PACKET_SIZE)) {
		s->pkt_bits = s->cur.r_psize;
		if (s->pkt_bits % 8)
			return derr(s, "packet size %" PRIu64 " bits is not a multiple of 8",
				    s->pkt_bits);
		if (s->pkt_bits == 0)
			return derr(s, "packet size is 0");
		if (s->pkt_bits > rest)
			return derr(s,
				    "packet size %" PRIu64
				    " bits goes past the end of the file (%" PRIu64 " bits left)",
				    s->pkt_bits, rest);
	} else {
		s->pkt_bits = (s->cur.r_seen & (1u << ROLE_CONTENT_SIZE))
				  ? ((s->cur.r_content + 7) & ~(uint64_t)7)
				  : rest;
		if (s->pkt_bits > rest)
			return derr(s,
				    "content size %" PRIu64
				    " bits goes past the end of the file (%" PRIu64 " bits left)",
				    s->cur.r_content, rest);
	}
	s->content_bits =
	    (s->cur.r_seen & (1u << ROLE_CONTENT_SIZE)) ? s->cur.r_content : s->pkt_bits;
	if (s->content_bits > s->pkt_bits)
		return derr(s,
			    "content size %" PRIu64 " bits is larger than the packet size %" PRIu64
			    " bits",
			    s->content_bits, s->pkt_bits);
	if (s->cur.pos > s->content_bits)
		return derr(s,
			    "packet header and context (%" PRIu64
			    " bits) are larger than the packet content (%" PRIu64 " bits)",
			    s->cur.pos, s->content_bits);
	if (s->pkt_bits / 8 > s->cur.avail_bits / 8) {
		uint64_t pos = s->cur.pos;

		if ((r = map_at(s, s->cur.pkt_off, s->pkt_bits / 8)))
			return r;
		s->cur.pos = pos;
		if (s->cur.avail_bits < s->pkt_bits)
			return derr(s, "cannot map the whole packet");
	}
	s->cur.end = s->content_bits;
	return 0;
}

static void queue_pending(struct rtr__stream *s)
{
	const struct rtr__stream_code *sc = s->sc;
	bool has_disc = s->cur.r_seen & (1u << ROLE_DISCARDED);
	bool has_seq = s->cur.r_seen & (1u << ROLE_SEQ_NUM);
	bool has_end = s->cur.r_seen & (1u << ROLE_TS_END);
	bool has_beg = s->cur.r_seen & (1u << ROLE_TS_BEGIN);
	/* babeltrace2 (ctf-meta-update-stream-class-config.c) gives
	 * discarded items a time range only when the packet context has both
	 * timestamp_begin and timestamp_end */
	bool clk = sc->clock >= 0;

	s->npend = s->ipend = 0;
	/* discarded events */
	if (has_disc) {
		bool emit = false;
		struct rtr__pending *p = &s->pend[s->npend];

		if (!s->prev_valid || !s->prev_has_disc) {
			if (s->cur.r_disc != 0) {
				emit = true;
				p->count = UINT64_MAX;
				p->has_range = clk && has_beg && has_end;
				p->begin = s->cur.r_ts_begin;
				p->end = s->cur.r_ts_end;
			}
		} else if (s->cur.r_disc != s->prev_disc) {
			emit = true;
			p->count = s->cur.r_disc - s->prev_disc;
			p->has_range = clk && has_beg && s->prev_has_ts_end && has_end;
			p->begin = s->prev_ts_end;
			p->end = s->cur.r_ts_end;
		}
		if (emit) {
			p->kind = IT_DISC_EVENTS;
			s->npend++;
		}
	}
	/* discarded packets */
	/* babeltrace2 (msg-iter.c check_emit_msg_discarded_packets()):
	 * an unsigned difference above 1, so a sequence number going back
	 * reports a wrapped count too */
	if (has_seq && s->prev_valid && s->prev_has_seq && s->cur.r_seq - s->prev_seq > 1) {
		struct rtr__pending *p = &s->pend[s->npend++];

		p->kind = IT_DISC_PACKETS;
		p->count = s->cur.r_seq - s->prev_seq - 1;
		p->has_range = clk && s->prev_has_ts_end && has_beg && has_end;
		p->begin = s->prev_ts_end;
		p->end = s->cur.r_ts_begin;
	}
	s->prev_valid = true;
	s->prev_has_disc = has_disc;
	s->prev_disc = s->cur.r_disc;
	s->prev_has_ts_end = has_end;
	s->prev_ts_end = s->cur.r_ts_end;
	s->prev_has_seq = has_seq;
	s->prev_seq = s->cur.r_seq;
}

static int open_file(struct rtr__stream *s)
{
	unmap(s);
	s->f = s->files[s->fi];
	s->cur.path = s->f->path;
	s->tc = s->f->tc;
	s->code = s->f->code;
	s->cur.pkt_off = 0;
	return 0;
}

/* babeltrace2's muxer fails on a packet beginning or end whose time does
 * not fit in int64 nanoseconds from origin ("Clock snapshot, once
 * converted to nanoseconds from origin, overflows"): so do we, here when
 * the stream is read alone (stats, convert), else in the merge. */
static bool packet_time_overflows(struct rtr__stream *s, uint64_t cycles, const char *what)
{
	int ovf = 0;

	/* merged: the packet's IT_PKT_BEGIN/END item reports it (merge.c) */
	if (!s->sc || s->sc->clock < 0 || s->mux_items)
		return false;
	rtr__clock_ns(&s->tc->clocks[s->sc->clock], cycles, &ovf);
	if (!ovf)
		return false;
	rtr__error(s->cur.err, -ERANGE,
		   "%s: packet at offset %" PRIu64 ": %s %" PRIu64
		   " cycles, converted to nanoseconds from origin, overflows a signed 64-bit "
		   "integer",
		   s->f->path, s->cur.pkt_off, what, cycles);
	return true;
}

/* babeltrace2 2.0.4 (msg-iter.c) checks a packet's content size only
 * where an event header begins, and its medium hands out bytes up to the
 * end of the file: an event that runs past the content is decoded from
 * the bytes after it (the packet's padding). So:
 *  - the event ends within the packet: babeltrace2 emits it, then fails
 *    at the next event header (its cursor is past the content): so do we;
 *  - the file ends inside the event, and the packet has a size and
 *    ends there: the medium reports the end of the file, the stream ends
 *    with no error (exit status 0) and the partial event is dropped: so
 *    do we, and say so in a warning (with no packet size, or a packet
 *    larger than the file, that end of file is an error);
 *  - the event runs on into the next packet of the file: babeltrace2
 *    decodes it from that packet's bytes; we stop with the error (not
 *    modelled). */
enum rtr_next rtr__stream_overrun(struct rtr__stream *s, uint64_t at, uint64_t clk)
{
	uint64_t content = s->cur.end, to_eof, lim;
	bool reaches_eof;
	char m[1600];

	if (!s->cur.overrun || !s->in_packet || at >= content)
		return RTR_NEXT_ERROR;
	/* its medium's end of file inside an event is a clean end only when
	 * the packet has a size and ends exactly there (request_medium_bytes:
	 * the position is the packet's size); else an error */
	to_eof = (s->f->size - s->cur.pkt_off) * 8;
	reaches_eof = to_eof == s->pkt_bits && (s->cur.r_seen & (1u << ROLE_PACKET_SIZE));
	lim = to_eof < s->pkt_bits ? to_eof : s->pkt_bits;
	if (lim > s->cur.avail_bits)
		lim = s->cur.avail_bits;
	if (lim <= content)
		goto eof_or_error;
	s->cur.err->code = 0;
	s->cur.err->msg[0] = 0;
	s->cur.pos = at;
	s->cur.clock = clk;
	s->cur.end = lim;
	s->cur.overrun = false;
	if (!rtr__plan_event(&s->cur, s->sc)) {
		/* emitted; the next step fails where babeltrace2 does */
		s->cur.end = content;
		s->overran = true;
		s->pkt_end_due = false;
		s->item = IT_EVENT;
		return RTR_NEXT_OK;
	}
	s->cur.end = content;
	if (!s->cur.overrun)
		return RTR_NEXT_ERROR;
eof_or_error:
	if (!reaches_eof)
		return RTR_NEXT_ERROR;
	snprintf(m, sizeof(m),
		 "%s: packet at offset %" PRIu64 ": the event at byte %" PRIu64
		 " runs past the packet content and the end of the file (%s); the stream "
		 "ends before it, as babeltrace2 ends it",
		 s->f->path, s->cur.pkt_off, s->cur.pkt_off + at / 8, s->cur.err->msg);
	s->cur.err->code = 0;
	s->cur.err->msg[0] = 0;
	if (s->warn)
		s->warn(s->warn_arg, m);
	s->eof = true;
	s->in_packet = false;
	s->pkt_end_due = false;
	s->item = IT_NONE;
	unmap(s);
	return RTR_NEXT_END;
}

/* Moves to the next packet with events or pending items. */
static enum rtr_next next_packet(struct rtr__stream *s)
{
	if (s->overran) {
		s->overran = false;
		derr(s, "the event before byte %" PRIu64 " ends past the packet content (%" PRIu64
			" bits)",
		     s->cur.pkt_off + s->cur.pos / 8, s->content_bits);
		return RTR_NEXT_ERROR;
	}
	while (1) {
		if (s->in_packet) {
			s->npackets++;
			/* read by rtr_reader_progress() from another thread */
			__atomic_store_n(&s->bytes_done, s->bytes_done + s->pkt_bits / 8,
					 __ATOMIC_RELAXED);
			s->cur.pkt_off += s->pkt_bits / 8;
			s->in_packet = false;
			/* babeltrace2 (msg-iter.c, packet end) sets the stream
			 * clock to the packet's timestamp_end: the next packet's
			 * narrow timestamps (no timestamp_begin, or a narrow
			 * one) are reconstructed from there, not from the last
			 * event (with its LTTng quirks: rtr__stream_end_clock()) */
			if (s->cur.r_seen & (1u << ROLE_TS_END)) {
				s->cur.clock = rtr__stream_end_clock(s);
				if (packet_time_overflows(s, s->cur.clock, "timestamp_end"))
					return RTR_NEXT_ERROR;
			}
		}
		if (s->plan) {
			const struct rtr__pkt_ref *pr;

			if (s->iplan >= s->nplan)
				return RTR_NEXT_END;
			pr = &s->plan[s->iplan++];
			if (pr->fi != s->fi || !s->f) {
				s->fi = pr->fi;
				open_file(s);
			}
			s->cur.pkt_off = pr->off;
		} else if (s->cur.pkt_off >= s->f->size) {
			if (s->fi + 1 >= s->nfiles)
				return RTR_NEXT_END;
			s->fi++;
			open_file(s);
			continue;
		}
		if (read_packet(s, false))
			return RTR_NEXT_ERROR;
		if ((s->cur.r_seen & (1u << ROLE_TS_BEGIN)) &&
		    packet_time_overflows(s, s->cur.r_ts_begin, "timestamp_begin"))
			return RTR_NEXT_ERROR;
		s->in_packet = true;
		s->pkt_end_due = s->mux_items && s->sc->clock >= 0 &&
				 (s->cur.r_seen & (1u << ROLE_TS_END));
		/* barectf's quirk times the packet beginning at its first
		 * event when earlier: not modelled, no barrier then */
		s->pkt_begin_due = s->mux_items && s->sc->clock >= 0 && !s->q_barectf &&
				   (s->cur.r_seen & (1u << ROLE_TS_BEGIN));
		/* whole-word loads need 8 readable bytes past the last one read */
		s->cur.lim = s->cur.avail_bits >= 64 ? s->cur.avail_bits - 64 : 0;
		if (s->cur.lim > s->cur.end)
			s->cur.lim = s->cur.end;
		s->fast = !s->cur.all && s->sc->fast_header.ok && s->sc->fast_context.ok;
		s->pkt_gen++;
		/* the packet context values stay at the front of vals */
		s->cur.npvals = s->cur.nvals;
		queue_pending(s);
		return RTR_NEXT_OK;
	}
}

enum rtr_next rtr__stream_next_packet(struct rtr__stream *s)
{
	enum rtr_next r = next_packet(s);

	if (r == RTR_NEXT_END) {
		s->eof = true;
		s->item = IT_NONE;
		unmap(s);
	}
	return r;
}

/* A read faulted past the end of a mapped file (sigbus.c): if it is this
 * stream's file that shrank, what was decoded from the zero pages is
 * dropped and the stream ends with an error; else it was another
 * stream's, and this one goes on. */
__attribute__((noinline, cold)) enum rtr_next rtr__stream_shrunk(struct rtr__stream *s,
								 enum rtr_next r)
{
	struct stat st;

	s->faults = rtr__sigbus_faults();
	if (!s->f || s->f->mem || stat(s->f->path, &st) || (uint64_t)st.st_size >= s->f->size)
		return r;
	s->eof = true;
	s->item = IT_NONE;
	s->cur.err->code = 0; /* whatever the zeros made the decoder say, this is why */
	/* the tail of the file's last page reads as zeros without a fault:
	 * events decoded from there before the next page faulted are out */
	rtr__error(s->cur.err, -EIO,
		   "%s: the file shrank from %" PRIu64 " to %" PRIu64
		   " bytes while it was read (truncated by another program?): the events "
		   "past byte %" PRIu64 " are lost%s",
		   s->f->path, s->f->size, (uint64_t)st.st_size, (uint64_t)st.st_size,
		   (uint64_t)st.st_size % page_size()
		       ? ", and those just before this message may have been read past it as "
			 "zeros"
		       : "");
	return RTR_NEXT_ERROR;
}

void rtr__stream_count(struct rtr__stream *s, struct rtr__count *c)
{
	if (!s->fast || !s->cur.no_emit || !s->in_packet || s->ipend < s->npend)
		return;
	rtr__prog_count(&s->cur, s->sc, c);
}

int rtr__stream_start(struct rtr__stream *s)
{
	s->faults = rtr__sigbus_faults();
	s->fi = 0;
	s->iplan = 0;
	open_file(s);
	rtr__stream_quirks(s);
	return 0;
}

void rtr__stream_fini(struct rtr__stream *s)
{
	unmap(s);
	free(s->cur.slots);
	free(s->cur.vals);
	free(s->plan);
	s->cur.slots = NULL;
	s->cur.vals = NULL;
	s->plan = NULL;
	s->nplan = 0;
	s->f = NULL;
}

/* The packet's timestamp_begin and _end, as babeltrace2 indexes them
 * (fs-src/data-stream-file.c, converted to nanoseconds from origin): 0,
 * or -ERANGE with the error set. */
static int index_times_fit(struct rtr__stream *s)
{
	static const struct {
		int role;
		const char *what;
	} t[] = {{ROLE_TS_BEGIN, "timestamp_begin"}, {ROLE_TS_END, "timestamp_end"}};

	if (!s->sc || s->sc->clock < 0)
		return 0;
	for (size_t i = 0; i < 2; i++) {
		uint64_t v = t[i].role == ROLE_TS_BEGIN ? s->cur.r_ts_begin : s->cur.r_ts_end;
		int ovf;

		if (!(s->cur.r_seen & (1u << t[i].role)))
			continue;
		rtr__clock_ns(&s->tc->clocks[s->sc->clock], v, &ovf);
		if (ovf)
			return rtr__error(s->cur.err, -ERANGE,
					  "%s: packet at offset %" PRIu64 ": %s %" PRIu64
					  " cycles, converted to nanoseconds from origin, overflows a "
					  "signed 64-bit integer",
					  s->f->path, s->cur.pkt_off, t[i].what, v);
	}
	return 0;
}

int rtr__file_probe(struct rtr__file *f, struct rtr_error *e, bool full)
{
	struct rtr__stream s;
	int r;

	memset(&s, 0, sizeof(s));
	s.f = f;
	s.tc = f->tc;
	s.code = f->code;
	s.cur.err = e;
	s.cur.path = f->path;
	r = read_packet(&s, true);
	if (r == 0) {
		f->sc = s.sc;
		f->has_ts_begin = s.cur.r_seen & (1u << ROLE_TS_BEGIN);
		/* babeltrace2 (fs.c, add_ds_file_to_ds_file_group) uses the
		 * instance id only when the first packet has a
		 * timestamp_begin to order the file within its stream: else
		 * the file is a stream of its own with an automatic id */
		f->has_instance_id = (s.cur.r_seen & (1u << ROLE_STREAM_INSTANCE_ID)) &&
				     f->has_ts_begin;
		f->instance_id = s.cur.r_instance_id;
		f->ts_begin = s.cur.r_ts_begin;
		f->ts_begin_ns = INT64_MAX;
		if (f->has_ts_begin && s.sc && s.sc->clock >= 0) {
			int ovf;
			int64_t ns = rtr__clock_ns(&s.tc->clocks[s.sc->clock], f->ts_begin, &ovf);

			if (!ovf)
				f->ts_begin_ns = ns;
		}
	}
	/* Without a usable packet index, babeltrace2 reads every packet
	 * header and context before printing anything, so a broken packet
	 * fails the run up front: do the same (headers only, cheap). Its
	 * index holds each packet's beginning and end in nanoseconds from
	 * origin: one that does not fit fails it there too. */
	while (r == 0 && full) {
		if ((r = index_times_fit(&s)))
			break;
		if (!s.pkt_bits)
			break;
		s.cur.pkt_off += s.pkt_bits / 8;
		if (s.cur.pkt_off >= f->size)
			break;
		r = read_packet(&s, true);
	}
	unmap(&s);
	free(s.cur.slots);
	free(s.cur.vals);
	return r;
}


/* ------------------------------------------------------------------ */
/* streams over several files                                          */

struct pkt_ent {
	struct rtr__pkt_ref ref;
	uint64_t bits, beg, end, seq; /* UINT64_MAX: absent */
	int64_t beg_ns;
};

static bool ent_equal(const struct pkt_ent *a, const struct pkt_ent *b)
{
	return a->bits == b->bits && a->beg == b->beg && a->end == b->end && a->seq == b->seq;
}

struct seq_ref {
	uint32_t seq, fi;
};

static int cmp_seq_ref(const void *a, const void *b)
{
	const struct seq_ref *x = a, *y = b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* babeltrace2 2.0.4 (fs.c, merge_ctf_fs_ds_indexes) builds one packet
 * index per stream: the packets of the file it found first (readdir()
 * order) in file order, then each packet of the other files, in the
 * order it found them, inserted before the first entry that begins at
 * the same time or later, unless that entry is equal to it (same size,
 * timestamp_begin, timestamp_end and packet_seq_num): such a packet is
 * dropped as a copy (overlapping LTTng snapshots). Which of two packets
 * that begin at the same nanosecond comes first thus depends on the
 * directory order. CTF 1.8 says nothing of streams split over files; we
 * read them as babeltrace2 does. */
int rtr__stream_plan(struct rtr__stream *s, struct rtr_error *e)
{
	struct pkt_ent *v = NULL;
	size_t n = 0, cap = 0;
	bool in_order = true, sorted = true;
	struct seq_ref *by_seq = malloc(s->nfiles * sizeof(*by_seq));
	int r = 0;

	if (!by_seq)
		return rtr__error(e, -ENOMEM, "out of memory");
	/* s->files is sorted by beginning; visit the files in directory
	 * order */
	for (size_t i = 0; i < s->nfiles; i++) {
		by_seq[i].seq = s->files[i]->dir_seq;
		by_seq[i].fi = (uint32_t)i;
	}
	qsort(by_seq, s->nfiles, sizeof(*by_seq), cmp_seq_ref);
	for (size_t i = 0; i < s->nfiles; i++)
		if (by_seq[i].fi != i)
			in_order = false; /* read as the plan says, not in s->files order */
	for (size_t k = 0; k < s->nfiles && !r; k++) {
		size_t fi = by_seq[k].fi;
		struct rtr__stream t;
		const struct rtr__clock *c;

		memset(&t, 0, sizeof(t));
		t.f = s->files[fi];
		t.tc = t.f->tc;
		t.code = t.f->code;
		t.cur.err = e;
		t.cur.path = t.f->path;
		while (t.cur.pkt_off < t.f->size) {
			struct pkt_ent x;
			size_t i = n;
			int ovf = 0;

			if ((r = read_packet(&t, true)))
				break;
			memset(&x, 0, sizeof(x));
			x.ref.fi = (uint32_t)fi;
			x.ref.off = t.cur.pkt_off;
			x.bits = t.pkt_bits;
			x.beg = (t.cur.r_seen & (1u << ROLE_TS_BEGIN)) ? t.cur.r_ts_begin : UINT64_MAX;
			x.end = (t.cur.r_seen & (1u << ROLE_TS_END)) ? t.cur.r_ts_end : UINT64_MAX;
			x.seq = (t.cur.r_seen & (1u << ROLE_SEQ_NUM)) ? t.cur.r_seq : UINT64_MAX;
			c = t.sc && t.sc->clock >= 0 ? &t.tc->clocks[t.sc->clock] : NULL;
			x.beg_ns = c && x.beg != UINT64_MAX ? rtr__clock_ns(c, x.beg, &ovf) : -1;
			if (k > 0 && sorted) {
				/* the first entry not before x: a binary search
				 * finds babeltrace2's linear scan's answer while
				 * the entries are in order */
				size_t lo = 0, hi = n;

				while (lo < hi) {
					size_t mid = lo + (hi - lo) / 2;

					if (v[mid].beg_ns < x.beg_ns)
						lo = mid + 1;
					else
						hi = mid;
				}
				i = lo;
			} else if (k > 0) {
				for (i = 0; i < n; i++)
					if (x.beg_ns <= v[i].beg_ns)
						break;
			}
			if (i < n && ent_equal(&x, &v[i])) {
				in_order = false; /* dropped */
			} else {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					struct pkt_ent *nv = realloc(v, nc * sizeof(*nv));

					if (!nv) {
						r = rtr__error(e, -ENOMEM, "out of memory");
						break;
					}
					v = nv;
					cap = nc;
				}
				if (i < n) {
					memmove(&v[i + 1], &v[i], (n - i) * sizeof(*v));
					in_order = false;
				}
				v[i] = x;
				n++;
				if ((i > 0 && v[i - 1].beg_ns > x.beg_ns) ||
				    (i + 1 < n && x.beg_ns > v[i + 1].beg_ns))
					sorted = false;
			}
			t.cur.pkt_off += t.pkt_bits / 8;
		}
		unmap(&t);
		free(t.cur.slots);
		free(t.cur.vals);
	}
	if (!r && !in_order) {
		s->plan = malloc((n + 1) * sizeof(*s->plan));
		if (!s->plan) {
			r = rtr__error(e, -ENOMEM, "out of memory");
		} else {
			for (size_t i = 0; i < n; i++)
				s->plan[i] = v[i].ref;
			s->nplan = n;
			s->iplan = 0;
		}
	}
	free(v);
	free(by_seq);
	return r;
}

static int64_t env_int(const struct rtr__trace_class *tc, const char *key, bool *ok)
{
	const struct rtr__env *e = rtr__env_find(tc, key);

	*ok = e && e->is_int;
	return *ok ? e->i : 0;
}

void rtr__stream_quirks(struct rtr__stream *s)
{
	const struct rtr__env *n = rtr__env_find(s->tc, "tracer_name");
	int64_t major, minor = 0, patch = 0;
	bool ok;

	s->q_event_after_packet = s->q_lttng_crash = s->q_barectf = false;
	/* fs.c extract_tracer_info(): a string name and an integer major
	 * at least; minor and patch (or patchlevel) 0 when absent */
	if (!n || n->is_int || !n->s)
		return;
	major = env_int(s->tc, "tracer_major", &ok);
	if (!ok)
		return;
	minor = env_int(s->tc, "tracer_minor", &ok);
	if (ok) {
		const struct rtr__env *p = rtr__env_find(s->tc, "tracer_patch");

		if (!p)
			p = rtr__env_find(s->tc, "tracer_patchlevel");
		patch = p && p->is_int ? p->i : 0;
	}
	if (!strcmp(n->s, "lttng-ust")) {
		s->q_event_after_packet = major < 2 || (major == 2 && minor < 11);
		s->q_lttng_crash = true;
	} else if (!strcmp(n->s, "lttng-modules")) {
		s->q_event_after_packet =
		    major < 2 || (major == 2 && ((minor == 10 && patch < 10) ||
						 (minor == 9 && patch < 13) || minor < 9));
		s->q_lttng_crash = true;
	} else if (!strcmp(n->s, "barectf")) {
		s->q_barectf = major < 2 || (major == 2 && (minor < 3 || (minor == 3 && patch < 1)));
	}
}

/* msg-iter.c create_msg_packet_end(): the clock becomes timestamp_end
 * unless, for LTTng tracers, timestamp_end is 0 with a non-zero
 * timestamp_begin (lttng-crash) or, for affected versions, behind the
 * clock (event after packet). */
uint64_t rtr__stream_end_clock(const struct rtr__stream *s)
{
	uint64_t end = s->cur.r_ts_end;

	if (s->q_lttng_crash && (s->cur.r_seen & (1u << ROLE_TS_BEGIN)) &&
	    s->cur.r_ts_begin != 0 && end == 0)
		return s->cur.clock;
	if (s->q_event_after_packet && end < s->cur.clock)
		return s->cur.clock;
	return end;
}
