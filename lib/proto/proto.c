/* ringtrace control protocol: message encoders and validating decoders.
 * Wire format and rules: docs/design/protocol.md. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto.h"
#include "proto_internal.h"

/* ------------------------------------------------------------------------
 * Little-endian helpers
 * ------------------------------------------------------------------------ */

static void le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

uint16_t rtr__proto_ld16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

uint32_t rtr__proto_ld32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

int rtr__proto_say(int code, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

uint64_t rtr__proto_ld64(const uint8_t *p)
{
	return (uint64_t)rtr__proto_ld32(p) | ((uint64_t)rtr__proto_ld32(p + 4) << 32);
}

/* ------------------------------------------------------------------------
 * Reader cursor
 * ------------------------------------------------------------------------ */

void rtr__proto_fail(struct rtr__proto_rd *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (r->bad)
		return;
	r->bad = true;
	if (!r->err || r->errlen == 0)
		return;
	n = snprintf(r->err, r->errlen, "%s: offset %zu: ", r->what ? r->what : "message",
		     r->base + r->off);
	if (n < 0 || (size_t)n >= r->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err + n, r->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static bool need(struct rtr__proto_rd *r, size_t n, const char *what)
{
	if (r->bad)
		return false;
	if (r->len - r->off < n) {
		rtr__proto_fail(r, "expected %zu more bytes for %s, %zu left", n, what,
				r->len - r->off);
		return false;
	}
	return true;
}

uint8_t rtr__proto_u8(struct rtr__proto_rd *r, const char *what)
{
	uint8_t v;

	if (!need(r, 1, what))
		return 0;
	v = r->p[r->off];
	r->off += 1;
	return v;
}

uint16_t rtr__proto_u16(struct rtr__proto_rd *r, const char *what)
{
	uint16_t v;

	if (!need(r, 2, what))
		return 0;
	v = rtr__proto_ld16(r->p + r->off);
	r->off += 2;
	return v;
}

uint32_t rtr__proto_u32(struct rtr__proto_rd *r, const char *what)
{
	uint32_t v;

	if (!need(r, 4, what))
		return 0;
	v = rtr__proto_ld32(r->p + r->off);
	r->off += 4;
	return v;
}

uint64_t rtr__proto_u64(struct rtr__proto_rd *r, const char *what)
{
	uint64_t v;

	if (!need(r, 8, what))
		return 0;
	v = rtr__proto_ld64(r->p + r->off);
	r->off += 8;
	return v;
}

const char *rtr__proto_str(struct rtr__proto_rd *r, size_t max, const char *what)
{
	uint16_t n = rtr__proto_u16(r, what);
	const char *s;

	if (r->bad)
		return NULL;
	if (n == 0 || n > max) {
		r->off -= 2;
		rtr__proto_fail(r, "expected %s length 1..%zu (NUL included), got %u", what, max,
				n);
		return NULL;
	}
	if (!need(r, n, what))
		return NULL;
	s = (const char *)r->p + r->off;
	if (memchr(s, 0, n) != s + n - 1) {
		rtr__proto_fail(r, "expected %s of %u bytes ending with its only NUL", what, n);
		return NULL;
	}
	r->off += n;
	return s;
}

/* ------------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------------ */

const char *rtr_proto_type_name(unsigned type)
{
	switch (type) {
	case RTR_MSG_HELLO:
		return "HELLO";
	case RTR_MSG_REGISTER_EVENTS:
		return "REGISTER_EVENTS";
	case RTR_MSG_SESSION:
		return "SESSION";
	case RTR_MSG_CHANNEL:
		return "CHANNEL";
	case RTR_MSG_CHANNEL_BUFFERS:
		return "CHANNEL_BUFFERS";
	case RTR_MSG_ENABLE:
		return "ENABLE";
	case RTR_MSG_START:
		return "START";
	case RTR_MSG_STOP:
		return "STOP";
	case RTR_MSG_CLOSE_CHANNEL:
		return "CLOSE_CHANNEL";
	case RTR_MSG_CLOSE_SESSION:
		return "CLOSE_SESSION";
	case RTR_MSG_READY:
		return "READY";
	case RTR_MSG_DISABLE:
		return "DISABLE";
	case RTR_MSG_REPLY:
		return "REPLY";
	case RTR_MSG_REGISTER_REPLY:
		return "REGISTER_REPLY";
	default:
		return "unknown";
	}
}

static bool is_reply_type(unsigned type)
{
	return type == RTR_MSG_REPLY || type == RTR_MSG_REGISTER_REPLY;
}

/* [A-Za-z_][A-Za-z0-9_]* : safe as a TSDL identifier and in file names. */
bool rtr__proto_identifier(const char *s)
{
	if (!s || !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
		return false;
	for (s++; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return false;
	return true;
}

/* Printable ASCII or UTF-8 bytes, no '"', no '\\', no control character:
 * safe inside a TSDL string literal and on a terminal. */
bool rtr__proto_printable(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			return false;
	}
	return true;
}

static void parse_enables(struct rtr__proto_rd *r, struct rtr_proto_enables *e)
{
	e->count = rtr__proto_u32(r, "entry count");
	e->entry_size = rtr__proto_u16(r, "entry size");
	if (r->bad)
		return;
	if (e->entry_size < RTR_PROTO_ENABLE_ENTRY_SIZE) {
		rtr__proto_fail(r, "expected entry size >= %u, got %u", RTR_PROTO_ENABLE_ENTRY_SIZE,
				e->entry_size);
		return;
	}
	/* count * entry_size cannot overflow: both are below 2^32 and 2^16. */
	if ((uint64_t)e->count * e->entry_size > r->len - r->off) {
		rtr__proto_fail(r, "expected %u entries of %u bytes, only %zu bytes left", e->count,
				e->entry_size, r->len - r->off);
		return;
	}
	e->entries = r->p + r->off;
	r->off += (size_t)e->count * e->entry_size;
	/* 1.1: filters. Framing checked here, bytecode by its receiver. */
	if (r->len - r->off < 4)
		return;
	e->nfilters = rtr__proto_u32(r, "filter count");
	if (r->bad)
		return;
	if (e->nfilters > e->count) {
		rtr__proto_fail(r, "expected at most %u filters, got %u", e->count, e->nfilters);
		return;
	}
	e->filters = r->p + r->off;
	{
		size_t start = r->off;
		int64_t prev = -1;

		for (uint32_t i = 0; i < e->nfilters && !r->bad; i++) {
			uint32_t idx = rtr__proto_u32(r, "filter entry");
			uint16_t n = rtr__proto_u16(r, "filter length");

			if (r->bad)
				return;
			if ((int64_t)idx <= prev || idx >= e->count) {
				rtr__proto_fail(r, "filter for entry %u: expected increasing indexes "
						   "below %u",
						idx, e->count);
				return;
			}
			if (n == 0 || n > RTR_PROTO_MAX_FILTER || n > r->len - r->off) {
				rtr__proto_fail(r, "filter of %u bytes (1..%u, %zu left)", n,
						RTR_PROTO_MAX_FILTER, r->len - r->off);
				return;
			}
			prev = idx;
			r->off += n;
		}
		e->filters_len = r->off - start;
	}
}

bool rtr_proto_filters_next(const struct rtr_proto_enables *e, struct rtr_proto_filter_it *it,
			    uint32_t *entry, const uint8_t **code, uint16_t *len)
{
	const uint8_t *p;

	if (it->left == 0 || !e->filters)
		return false;
	p = e->filters + it->off;
	*entry = rtr__proto_ld32(p);
	*len = rtr__proto_ld16(p + 4);
	*code = p + 6;
	it->off += 6u + *len;
	it->left--;
	return true;
}

void rtr_proto_enable_get(const struct rtr_proto_enables *e, uint32_t i,
			  struct rtr_proto_enable_entry *out)
{
	const uint8_t *p = e->entries + (size_t)i * e->entry_size;

	out->reg_index = rtr__proto_ld32(p);
	out->chan_handle = rtr__proto_ld32(p + 4);
	out->event_id = rtr__proto_ld32(p + 8);
}

static void parse_hello(struct rtr__proto_rd *r, struct rtr_proto_hello *h)
{
	h->minor = rtr__proto_u16(r, "minor version");
	h->event_abi_major = rtr__proto_u16(r, "event ABI major");
	h->event_abi_minor = rtr__proto_u16(r, "event ABI minor");
	h->ring_abi_major = rtr__proto_u16(r, "ring ABI major");
	h->ring_abi_minor = rtr__proto_u16(r, "ring ABI minor");
	h->pid = rtr__proto_u32(r, "pid");
	h->ppid = rtr__proto_u32(r, "ppid");
	h->uid = rtr__proto_u32(r, "uid");
	h->gid = rtr__proto_u32(r, "gid");
	h->caps = rtr__proto_u32(r, "capabilities") & RTR_PROTO_CAP_KNOWN;
	h->flags = rtr__proto_u32(r, "flags");
	h->nr_cpus = rtr__proto_u16(r, "CPU count");
	h->word_bits = rtr__proto_u8(r, "word size");
	h->byte_order = rtr__proto_u8(r, "byte order");
	h->procname = rtr__proto_str(r, 16, "process name");
	h->runtime_version = rtr__proto_str(r, 64, "runtime version");
	if (r->bad)
		return;
	if (r->len - r->off >= 4) {
		h->narmed = rtr__proto_u32(r, "armed sessions");
		if (!r->bad && h->narmed > RTR_PROTO_MAX_ARMED) {
			rtr__proto_fail(r, "expected at most %u armed sessions, got %u",
					RTR_PROTO_MAX_ARMED, h->narmed);
			return;
		}
		for (uint32_t i = 0; i < h->narmed && !r->bad; i++)
			h->armed[i] = rtr__proto_u64(r, "armed session");
		if (r->bad)
			return;
	}
	if (h->pid == 0 || h->pid > 0x7fffffffu)
		rtr__proto_fail(r, "expected a pid in 1..2^31-1, got %u", h->pid);
	else if (h->flags & ~RTR_PROTO_HELLO_KNOWN)
		rtr__proto_fail(r, "unknown flags 0x%x", h->flags & ~RTR_PROTO_HELLO_KNOWN);
	else if (h->nr_cpus == 0 || h->nr_cpus > RTR_PROTO_MAX_CPUS)
		rtr__proto_fail(r, "expected CPU count 1..%u, got %u", RTR_PROTO_MAX_CPUS,
				h->nr_cpus);
	else if (h->word_bits != 32 && h->word_bits != 64)
		rtr__proto_fail(r, "expected word size 32 or 64, got %u", h->word_bits);
	else if (h->byte_order != RTR_PROTO_BYTE_ORDER_LE &&
		 h->byte_order != RTR_PROTO_BYTE_ORDER_BE)
		rtr__proto_fail(r, "expected byte order 1 or 2, got %u", h->byte_order);
	else if (!rtr__proto_printable(h->procname) || !rtr__proto_printable(h->runtime_version))
		rtr__proto_fail(r, "expected printable process name and version");
}

static void parse_session(struct rtr__proto_rd *r, struct rtr_proto_session *s)
{
	s->session_id = rtr__proto_u64(r, "session id");
	s->clock_source = rtr__proto_u32(r, "clock source");
	s->flags = rtr__proto_u32(r, "flags");
	s->name = rtr__proto_str(r, RTR_PROTO_MAX_NAME, "session name");
	if (r->bad)
		return;
	if (s->clock_source > 255)
		rtr__proto_fail(r, "expected a clock source id < 256, got %u", s->clock_source);
	else if (s->flags & ~RTR_PROTO_SESSION_KNOWN)
		rtr__proto_fail(r, "unknown flags 0x%x", s->flags);
	else if (!rtr__proto_printable(s->name))
		rtr__proto_fail(r, "expected a printable session name");
}

static void parse_channel(struct rtr__proto_rd *r, struct rtr_proto_channel *c)
{
	c->session_id = rtr__proto_u64(r, "session id");
	c->chan_handle = rtr__proto_u32(r, "channel handle");
	c->client_id = rtr__proto_u32(r, "client id");
	c->nr_bufs = rtr__proto_u32(r, "buffer count");
	c->flags = rtr__proto_u32(r, "flags");
	c->num_subbuf = rtr__proto_u32(r, "sub-buffer count");
	c->subbuf_size = rtr__proto_u64(r, "sub-buffer size");
	c->name = rtr__proto_str(r, RTR_PROTO_MAX_NAME, "channel name");
	if (r->bad)
		return;
	if (r->len - r->off >= 4) {
		c->ctx_mask = rtr__proto_u32(r, "contexts");
		if (!r->bad && (c->ctx_mask & ~RTR_PROTO_CTX_KNOWN)) {
			rtr__proto_fail(r, "unknown contexts 0x%x", c->ctx_mask);
			return;
		}
	}
	if (c->nr_bufs == 0 || c->nr_bufs > RTR_PROTO_MAX_CPUS)
		rtr__proto_fail(r, "expected buffer count 1..%u, got %u", RTR_PROTO_MAX_CPUS,
				c->nr_bufs);
	else if (c->flags & ~RTR_PROTO_CHANNEL_KNOWN)
		rtr__proto_fail(r, "unknown flags 0x%x", c->flags);
	else if (!rtr__proto_identifier(c->name))
		rtr__proto_fail(r, "expected an identifier as channel name");
}

static void parse_buffers(struct rtr__proto_rd *r, struct rtr_proto_channel_buffers *b)
{
	b->chan_handle = rtr__proto_u32(r, "channel handle");
	b->first = rtr__proto_u32(r, "first buffer");
	b->count = rtr__proto_u32(r, "buffer count");
	if (r->bad)
		return;
	if (b->count == 0 || b->count > RTR_PROTO_MAX_BUFS_PER_MSG)
		rtr__proto_fail(r, "expected 1..%u buffers, got %u", RTR_PROTO_MAX_BUFS_PER_MSG,
				b->count);
	else if (b->first >= RTR_PROTO_MAX_CPUS || b->count > RTR_PROTO_MAX_CPUS - b->first)
		rtr__proto_fail(r, "buffers %u..%u beyond %u CPUs", b->first,
				b->first + b->count - 1, RTR_PROTO_MAX_CPUS);
}

static void parse_reply(struct rtr__proto_rd *r, struct rtr_proto_reply *p)
{
	p->status = (int32_t)rtr__proto_u32(r, "status");
	p->req_type = rtr__proto_u16(r, "request type");
	p->text = rtr__proto_str(r, RTR_PROTO_MAX_TEXT, "text");
	if (r->bad)
		return;
	if (r->len - r->off >= 6) {
		p->peer_minor = rtr__proto_u16(r, "host minor");
		p->xflags = rtr__proto_u32(r, "reply flags");
		p->ext = !r->bad;
	}
	if (p->status > 0 || p->status < -4095)
		rtr__proto_fail(r, "expected status 0 or -1..-4095, got %d", p->status);
	else if (!rtr__proto_printable(p->text))
		rtr__proto_fail(r, "expected printable text");
}

static void parse_register_events(struct rtr__proto_rd *r, struct rtr_proto_register_events *e)
{
	e->data = r->p;
	e->len = r->len;
	e->count = rtr__proto_u32(r, "event count");
	if (r->bad)
		return;
	if (e->count == 0) {
		rtr__proto_fail(r, "expected at least one event");
		return;
	}
	/* Framing only: every block inside the payload. Contents are checked
	 * by rtr_proto_events_decode(). */
	for (uint32_t i = 0; i < e->count && !r->bad; i++) {
		uint32_t n = rtr__proto_u32(r, "event block length");

		if (!r->bad && n > r->len - r->off)
			rtr__proto_fail(r, "event %u: block of %u bytes, only %zu left", i, n,
					r->len - r->off);
		else
			r->off += n;
	}
	/* 1.1: ids the process chose for channels it armed itself */
	if (!r->bad && r->len - r->off >= 4) {
		e->pre.count = rtr__proto_u32(r, "preassigned count");
		e->pre.entry_size = RTR_PROTO_ENABLE_ENTRY_SIZE;
		if (!r->bad && (uint64_t)e->pre.count * RTR_PROTO_ENABLE_ENTRY_SIZE >
				   r->len - r->off) {
			rtr__proto_fail(r, "expected %u preassigned ids, only %zu bytes left",
					e->pre.count, r->len - r->off);
			return;
		}
		e->pre.entries = r->p + r->off;
		r->off += (size_t)e->pre.count * RTR_PROTO_ENABLE_ENTRY_SIZE;
	}
}

/* Descriptors a message of this type must carry. */
static int expected_fds(const struct rtr_proto_msg *m)
{
	switch (m->hdr.type) {
	case RTR_MSG_HELLO:
		return 1;
	case RTR_MSG_CHANNEL:
		return (m->u.channel.flags & RTR_PROTO_CHANNEL_WAKEUP) ? 1 : 0;
	case RTR_MSG_CHANNEL_BUFFERS:
		return (int)m->u.buffers.count;
	default:
		return 0;
	}
}

int rtr_proto_parse(const void *data, size_t len, unsigned nfds, struct rtr_proto_msg *out,
		    char *err, size_t errlen)
{
	const uint8_t *p = data;
	struct rtr__proto_rd r = {.err = err, .errlen = errlen, .what = "header"};
	struct rtr_proto_hdr *h;

	if (!out || (!data && len))
		return -EINVAL;
	if (err && errlen)
		err[0] = 0;
	memset(out, 0, sizeof(*out));
	h = &out->hdr;
	r.p = p;
	r.len = len;
	if (len < RTR_PROTO_HDR_SIZE) {
		rtr__proto_fail(&r, "expected a %u-byte header, got %zu bytes", RTR_PROTO_HDR_SIZE,
				len);
		return -EPROTO;
	}
	h->magic = rtr__proto_ld32(p);
	h->version = rtr__proto_ld16(p + 4);
	h->type = rtr__proto_ld16(p + 6);
	h->flags = rtr__proto_ld32(p + 8);
	h->length = rtr__proto_ld32(p + 12);
	h->seq = rtr__proto_ld32(p + 16);
	h->nfds = rtr__proto_ld32(p + 20);
	if (h->magic != RTR_PROTO_MAGIC) {
		rtr__proto_fail(&r, "expected magic 0x%08x, got 0x%08x", RTR_PROTO_MAGIC, h->magic);
		return -EPROTO;
	}
	if (h->version != RTR_PROTO_VERSION_MAJOR) {
		r.off = 4;
		rtr__proto_fail(&r, "protocol version %u, this side speaks %u", h->version,
				RTR_PROTO_VERSION_MAJOR);
		return -EPROTONOSUPPORT;
	}
	r.what = rtr_proto_type_name(h->type);
	if (!strcmp(r.what, "unknown")) {
		r.off = 6;
		r.what = "header";
		rtr__proto_fail(&r, "unknown message type %u", h->type);
		return -EPROTO;
	}
	if (h->flags & ~RTR_PROTO_F_KNOWN) {
		r.off = 8;
		rtr__proto_fail(&r, "unknown flags 0x%x", h->flags);
		return -EPROTO;
	}
	if (!!(h->flags & RTR_PROTO_F_REPLY) != is_reply_type(h->type)) {
		r.off = 8;
		rtr__proto_fail(&r, "reply flag %s for this type",
				(h->flags & RTR_PROTO_F_REPLY) ? "set" : "missing");
		return -EPROTO;
	}
	if (h->length > RTR_PROTO_MAX_PAYLOAD || h->length != len - RTR_PROTO_HDR_SIZE) {
		r.off = 12;
		rtr__proto_fail(&r, "payload length %u, datagram carries %zu (max %u)", h->length,
				len - RTR_PROTO_HDR_SIZE, RTR_PROTO_MAX_PAYLOAD);
		return -EPROTO;
	}
	if (h->nfds != nfds || nfds > RTR_PROTO_MAX_FDS) {
		r.off = 20;
		rtr__proto_fail(&r, "header announces %u descriptors, %u arrived", h->nfds, nfds);
		return -EPROTO;
	}

	/* Payload: offsets in messages count from the payload's start. */
	r.p = p + RTR_PROTO_HDR_SIZE;
	r.len = h->length;
	r.off = 0;
	r.base = RTR_PROTO_HDR_SIZE;
	switch (h->type) {
	case RTR_MSG_HELLO:
		parse_hello(&r, &out->u.hello);
		break;
	case RTR_MSG_REGISTER_EVENTS:
		parse_register_events(&r, &out->u.events);
		break;
	case RTR_MSG_SESSION:
		parse_session(&r, &out->u.session);
		break;
	case RTR_MSG_CHANNEL:
		parse_channel(&r, &out->u.channel);
		break;
	case RTR_MSG_CHANNEL_BUFFERS:
		parse_buffers(&r, &out->u.buffers);
		break;
	case RTR_MSG_ENABLE:
	case RTR_MSG_DISABLE:
		parse_enables(&r, &out->u.enable);
		break;
	case RTR_MSG_START:
	case RTR_MSG_STOP:
	case RTR_MSG_CLOSE_SESSION:
		out->u.ref.session_id = rtr__proto_u64(&r, "session id");
		break;
	case RTR_MSG_CLOSE_CHANNEL:
		out->u.close_channel.chan_handle = rtr__proto_u32(&r, "channel handle");
		break;
	case RTR_MSG_READY:
		out->u.ready.flags = rtr__proto_u32(&r, "flags");
		if (!r.bad && (out->u.ready.flags & ~RTR_PROTO_READY_KNOWN))
			rtr__proto_fail(&r, "unknown flags 0x%x", out->u.ready.flags);
		break;
	case RTR_MSG_REPLY:
		parse_reply(&r, &out->u.reply);
		break;
	case RTR_MSG_REGISTER_REPLY:
		out->u.register_reply.status = (int32_t)rtr__proto_u32(&r, "status");
		if (!r.bad &&
		    (out->u.register_reply.status > 0 || out->u.register_reply.status < -4095))
			rtr__proto_fail(&r, "expected status 0 or -1..-4095, got %d",
					out->u.register_reply.status);
		parse_enables(&r, &out->u.register_reply.enables);
		break;
	}
	if (r.bad)
		return -EPROTO;
	if ((unsigned)expected_fds(out) != nfds) {
		r.off = 0;
		r.base = 20;
		rtr__proto_fail(&r, "expected %d descriptors, %u arrived", expected_fds(out), nfds);
		return -EPROTO;
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

static uint8_t *reserve(struct rtr_proto_out *o, size_t n)
{
	uint8_t *p;

	if (o->overflow || RTR_PROTO_MAX_MSG - o->len < n) {
		o->overflow = true;
		return NULL;
	}
	p = o->data + o->len;
	o->len += n;
	return p;
}

void rtr_proto_begin(struct rtr_proto_out *o, unsigned type, uint32_t seq, uint32_t flags)
{
	memset(o->data, 0, RTR_PROTO_HDR_SIZE);
	le32(o->data, RTR_PROTO_MAGIC);
	le16(o->data + 4, RTR_PROTO_VERSION_MAJOR);
	le16(o->data + 6, (uint16_t)type);
	le32(o->data + 8, flags);
	le32(o->data + 16, seq);
	o->len = RTR_PROTO_HDR_SIZE;
	o->overflow = false;
}

int rtr_proto_finish(struct rtr_proto_out *o, unsigned nfds)
{
	if (o->overflow || o->len < RTR_PROTO_HDR_SIZE ||
	    o->len - RTR_PROTO_HDR_SIZE > RTR_PROTO_MAX_PAYLOAD)
		return -EMSGSIZE;
	le32(o->data + 12, (uint32_t)(o->len - RTR_PROTO_HDR_SIZE));
	le32(o->data + 20, nfds);
	return 0;
}

size_t rtr_proto_room(const struct rtr_proto_out *o)
{
	return o->overflow ? 0 : RTR_PROTO_MAX_MSG - o->len;
}

void rtr_proto_put_u8(struct rtr_proto_out *o, uint8_t v)
{
	uint8_t *p = reserve(o, 1);

	if (p)
		*p = v;
}

void rtr_proto_put_u16(struct rtr_proto_out *o, uint16_t v)
{
	uint8_t *p = reserve(o, 2);

	if (p)
		le16(p, v);
}

void rtr_proto_put_u32(struct rtr_proto_out *o, uint32_t v)
{
	uint8_t *p = reserve(o, 4);

	if (p)
		le32(p, v);
}

void rtr_proto_put_u64(struct rtr_proto_out *o, uint64_t v)
{
	uint8_t *p = reserve(o, 8);

	if (p)
		le64(p, v);
}

void rtr_proto_put_str(struct rtr_proto_out *o, const char *s)
{
	size_t n = s ? strlen(s) + 1 : 1;
	uint8_t *p;

	if (n > 0xffff) {
		o->overflow = true;
		return;
	}
	rtr_proto_put_u16(o, (uint16_t)n);
	p = reserve(o, n);
	if (!p)
		return;
	if (s)
		memcpy(p, s, n);
	else
		*p = 0;
}

/* Overwrites a u32 written earlier at byte offset `at` of the message. */
void rtr__proto_patch_u32(struct rtr_proto_out *o, size_t at, uint32_t v)
{
	if (!o->overflow && at + 4 <= o->len)
		le32(o->data + at, v);
}

int rtr_proto_enc_hello(struct rtr_proto_out *o, uint32_t seq, const struct rtr_proto_hello *h)
{
	rtr_proto_begin(o, RTR_MSG_HELLO, seq, 0);
	rtr_proto_put_u16(o, h->minor);
	rtr_proto_put_u16(o, h->event_abi_major);
	rtr_proto_put_u16(o, h->event_abi_minor);
	rtr_proto_put_u16(o, h->ring_abi_major);
	rtr_proto_put_u16(o, h->ring_abi_minor);
	rtr_proto_put_u32(o, h->pid);
	rtr_proto_put_u32(o, h->ppid);
	rtr_proto_put_u32(o, h->uid);
	rtr_proto_put_u32(o, h->gid);
	rtr_proto_put_u32(o, h->caps);
	rtr_proto_put_u32(o, h->flags);
	rtr_proto_put_u16(o, h->nr_cpus);
	rtr_proto_put_u8(o, h->word_bits);
	rtr_proto_put_u8(o, h->byte_order);
	rtr_proto_put_str(o, h->procname);
	rtr_proto_put_str(o, h->runtime_version);
	if (h->narmed) {
		if (h->narmed > RTR_PROTO_MAX_ARMED)
			return -EINVAL;
		rtr_proto_put_u32(o, h->narmed);
		for (uint32_t i = 0; i < h->narmed; i++)
			rtr_proto_put_u64(o, h->armed[i]);
	}
	return rtr_proto_finish(o, 1);
}

int rtr_proto_enc_session(struct rtr_proto_out *o, uint32_t seq, const struct rtr_proto_session *s)
{
	rtr_proto_begin(o, RTR_MSG_SESSION, seq, 0);
	rtr_proto_put_u64(o, s->session_id);
	rtr_proto_put_u32(o, s->clock_source);
	rtr_proto_put_u32(o, s->flags);
	rtr_proto_put_str(o, s->name);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_channel(struct rtr_proto_out *o, uint32_t seq, const struct rtr_proto_channel *c)
{
	rtr_proto_begin(o, RTR_MSG_CHANNEL, seq, 0);
	rtr_proto_put_u64(o, c->session_id);
	rtr_proto_put_u32(o, c->chan_handle);
	rtr_proto_put_u32(o, c->client_id);
	rtr_proto_put_u32(o, c->nr_bufs);
	rtr_proto_put_u32(o, c->flags);
	rtr_proto_put_u32(o, c->num_subbuf);
	rtr_proto_put_u64(o, c->subbuf_size);
	rtr_proto_put_str(o, c->name);
	if (c->ctx_mask)
		rtr_proto_put_u32(o, c->ctx_mask);
	return rtr_proto_finish(o, (c->flags & RTR_PROTO_CHANNEL_WAKEUP) ? 1 : 0);
}

int rtr_proto_enc_channel_buffers(struct rtr_proto_out *o, uint32_t seq,
				  const struct rtr_proto_channel_buffers *b)
{
	if (b->count == 0 || b->count > RTR_PROTO_MAX_BUFS_PER_MSG)
		return -EINVAL;
	rtr_proto_begin(o, RTR_MSG_CHANNEL_BUFFERS, seq, 0);
	rtr_proto_put_u32(o, b->chan_handle);
	rtr_proto_put_u32(o, b->first);
	rtr_proto_put_u32(o, b->count);
	return rtr_proto_finish(o, b->count);
}

int rtr_proto_enc_ref(struct rtr_proto_out *o, unsigned type, uint32_t seq, uint64_t session_id)
{
	if (type != RTR_MSG_START && type != RTR_MSG_STOP && type != RTR_MSG_CLOSE_SESSION)
		return -EINVAL;
	rtr_proto_begin(o, type, seq, 0);
	rtr_proto_put_u64(o, session_id);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_close_channel(struct rtr_proto_out *o, uint32_t seq, uint32_t chan_handle)
{
	rtr_proto_begin(o, RTR_MSG_CLOSE_CHANNEL, seq, 0);
	rtr_proto_put_u32(o, chan_handle);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_ready(struct rtr_proto_out *o, uint32_t seq, uint32_t flags)
{
	rtr_proto_begin(o, RTR_MSG_READY, seq, 0);
	rtr_proto_put_u32(o, flags);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_reply_ext(struct rtr_proto_out *o, uint32_t seq, unsigned req_type,
			    int32_t status, const char *text, uint16_t minor, uint32_t xflags)
{
	int r = rtr_proto_enc_reply(o, seq, req_type, status, text);

	if (r)
		return r;
	rtr_proto_put_u16(o, minor);
	rtr_proto_put_u32(o, xflags);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_reply(struct rtr_proto_out *o, uint32_t seq, unsigned req_type, int32_t status,
			const char *text)
{
	char clean[RTR_PROTO_MAX_TEXT];
	size_t n = 0;

	/* Keep the text decodable whatever the caller passed. */
	for (const char *s = text ? text : ""; *s && n + 1 < sizeof(clean); s++) {
		unsigned char c = (unsigned char)*s;

		clean[n++] = (c < 0x20 || c == 0x7f || c == '"' || c == '\\') ? '?' : (char)c;
	}
	clean[n] = 0;
	if (status > 0 || status < -4095)
		status = -EPROTO;
	rtr_proto_begin(o, RTR_MSG_REPLY, seq, RTR_PROTO_F_REPLY);
	rtr_proto_put_u32(o, (uint32_t)status);
	rtr_proto_put_u16(o, (uint16_t)req_type);
	rtr_proto_put_str(o, clean);
	return rtr_proto_finish(o, 0);
}

static void put_enables(struct rtr_proto_out *o, const struct rtr_proto_enable_entry *e, uint32_t n)
{
	rtr_proto_put_u32(o, n);
	rtr_proto_put_u16(o, RTR_PROTO_ENABLE_ENTRY_SIZE);
	for (uint32_t i = 0; i < n; i++) {
		rtr_proto_put_u32(o, e[i].reg_index);
		rtr_proto_put_u32(o, e[i].chan_handle);
		rtr_proto_put_u32(o, e[i].event_id);
	}
}

int rtr_proto_enc_enable(struct rtr_proto_out *o, uint32_t seq,
			 const struct rtr_proto_enable_entry *e, uint32_t n)
{
	if (n > RTR_PROTO_MAX_ENABLES_PER_MSG)
		return -EMSGSIZE;
	rtr_proto_begin(o, RTR_MSG_ENABLE, seq, 0);
	put_enables(o, e, n);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_register_reply(struct rtr_proto_out *o, uint32_t seq, int32_t status,
				 const struct rtr_proto_enable_entry *e, uint32_t n)
{
	if (n > RTR_PROTO_MAX_ENABLES_PER_MSG)
		return -EMSGSIZE;
	if (status > 0 || status < -4095)
		status = -EPROTO;
	rtr_proto_begin(o, RTR_MSG_REGISTER_REPLY, seq, RTR_PROTO_F_REPLY);
	rtr_proto_put_u32(o, (uint32_t)status);
	put_enables(o, e, n);
	return rtr_proto_finish(o, 0);
}

int rtr_proto_enc_enable_ext(struct rtr_proto_out *o, unsigned type, uint32_t seq, int32_t status,
			     const struct rtr_proto_enable_entry *e, const uint8_t *const *filt,
			     const uint16_t *flen, uint32_t n)
{
	uint32_t nf = 0;

	if (n > RTR_PROTO_MAX_ENABLES_PER_MSG)
		return -EMSGSIZE;
	if (type == RTR_MSG_REGISTER_REPLY) {
		if (status > 0 || status < -4095)
			status = -EPROTO;
		rtr_proto_begin(o, type, seq, RTR_PROTO_F_REPLY);
		rtr_proto_put_u32(o, (uint32_t)status);
	} else if (type == RTR_MSG_ENABLE || type == RTR_MSG_DISABLE) {
		rtr_proto_begin(o, type, seq, 0);
	} else {
		return -EINVAL;
	}
	put_enables(o, e, n);
	for (uint32_t i = 0; flen && i < n; i++)
		if (flen[i]) {
			if (flen[i] > RTR_PROTO_MAX_FILTER || !filt || !filt[i])
				return -EINVAL;
			nf++;
		}
	if (nf) {
		rtr_proto_put_u32(o, nf);
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *p;

			if (!flen[i])
				continue;
			rtr_proto_put_u32(o, i);
			rtr_proto_put_u16(o, flen[i]);
			p = rtr_proto_room(o) >= flen[i] ? o->data + o->len : NULL;
			if (!p) {
				o->overflow = true;
				break;
			}
			memcpy(p, filt[i], flen[i]);
			o->len += flen[i];
		}
	}
	return rtr_proto_finish(o, 0);
}

int rtr_proto_events_append_pre(struct rtr_proto_out *o, const struct rtr_proto_enable_entry *e,
				uint32_t n)
{
	rtr_proto_put_u32(o, n);
	for (uint32_t i = 0; i < n; i++) {
		rtr_proto_put_u32(o, e[i].reg_index);
		rtr_proto_put_u32(o, e[i].chan_handle);
		rtr_proto_put_u32(o, e[i].event_id);
	}
	return rtr_proto_finish(o, 0);
}
