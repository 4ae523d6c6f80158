/* ringtrace control protocol: event descriptions (REGISTER_EVENTS) encoded
 * by the runtime and decoded, validated and copied by the host.
 * Layout: docs/design/protocol.md §5. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_internal.h"

/* ------------------------------------------------------------------------
 * Encoding (traced process)
 * ------------------------------------------------------------------------ */

static void put_int_type(struct rtr_proto_out *o, const struct rtr_integer_type *t)
{
	rtr_proto_put_u8(o, t->size_bits);
	rtr_proto_put_u8(o, t->is_signed);
	rtr_proto_put_u8(o, t->base);
	rtr_proto_put_u8(o, t->byte_order);
	rtr_proto_put_u8(o, t->text);
	rtr_proto_put_u8(o, 0);
	rtr_proto_put_u8(o, 0);
	rtr_proto_put_u8(o, 0);
}

static void put_field(struct rtr_proto_out *o, const struct rtr_field_desc *f)
{
	size_t at = o->len;

	rtr_proto_put_u32(o, 0); /* block length, patched below */
	rtr_proto_put_str(o, f->name);
	rtr_proto_put_u8(o, f->kind);
	rtr_proto_put_u8(o, f->float_bits);
	rtr_proto_put_u32(o, f->array_length);
	put_int_type(o, &f->integer);
	put_int_type(o, &f->length_type);
	if (f->kind == RTR_FIELD_ENUM && f->enumeration) {
		const struct rtr_enum_desc *e = f->enumeration;

		rtr_proto_put_u8(o, 1);
		rtr_proto_put_str(o, e->provider);
		rtr_proto_put_str(o, e->name);
		rtr_proto_put_u32(o, e->nr_entries);
		for (uint32_t i = 0; i < e->nr_entries && !o->overflow; i++) {
			rtr_proto_put_str(o, e->entries[i].label);
			rtr_proto_put_u64(o, e->entries[i].start);
			rtr_proto_put_u64(o, e->entries[i].end);
		}
	} else {
		rtr_proto_put_u8(o, 0);
	}
	rtr__proto_patch_u32(o, at, (uint32_t)(o->len - at - 4));
}

static void put_event(struct rtr_proto_out *o, const struct rtr_event_desc *ev)
{
	size_t at = o->len;

	rtr_proto_put_u32(o, 0);
	rtr_proto_put_u32(o, ev->state ? ev->state->reg_index : 0);
	rtr_proto_put_u32(o, (uint32_t)ev->loglevel);
	rtr_proto_put_str(o, ev->provider);
	rtr_proto_put_str(o, ev->name);
	rtr_proto_put_str(o, ev->model_emf_uri ? ev->model_emf_uri : "");
	rtr_proto_put_u32(o, ev->nr_fields);
	for (uint32_t i = 0; i < ev->nr_fields && !o->overflow; i++)
		put_field(o, &ev->fields[i]);
	rtr__proto_patch_u32(o, at, (uint32_t)(o->len - at - 4));
}

int rtr_proto_enc_events(struct rtr_proto_out *o, uint32_t seq,
			 const struct rtr_event_desc *const *evs, uint32_t n, uint32_t *done)
{
	uint32_t k = 0;

	*done = 0;
	if (!evs || n == 0)
		return -EINVAL;
	rtr_proto_begin(o, RTR_MSG_REGISTER_EVENTS, seq, 0);
	rtr_proto_put_u32(o, 0);
	for (; k < n; k++) {
		size_t before = o->len;

		put_event(o, evs[k]);
		if (o->overflow) {
			/* Roll back the event that did not fit. */
			o->overflow = false;
			o->len = before;
			break;
		}
	}
	if (k == 0)
		return -E2BIG;
	rtr__proto_patch_u32(o, RTR_PROTO_HDR_SIZE, k);
	*done = k;
	return rtr_proto_finish(o, 0);
}

/* ------------------------------------------------------------------------
 * Arena (host)
 * ------------------------------------------------------------------------ */

struct rtr_proto_chunk {
	struct rtr_proto_chunk *next;
	size_t size, used;
	alignas(16) unsigned char data[];
};

#define CHUNK_DEFAULT (64u * 1024u)

void rtr_proto_arena_init(struct rtr_proto_arena *a, size_t max_bytes, uint32_t max_events)
{
	memset(a, 0, sizeof(*a));
	a->max_bytes = max_bytes ? max_bytes : 64u * 1024u * 1024u;
	a->max_events = max_events ? max_events : 65536u;
}

void rtr_proto_arena_free(struct rtr_proto_arena *a)
{
	struct rtr_proto_chunk *c = a->chunks, *n;

	for (; c; c = n) {
		n = c->next;
		free(c);
	}
	a->chunks = NULL;
	a->bytes = 0;
	a->nr_events = 0;
}

/* 0 on bound reached (*err_out = -ENOSPC) or allocation failure (-ENOMEM). */
static void *arena_alloc(struct rtr_proto_arena *a, size_t n, int *err_out)
{
	struct rtr_proto_chunk *c = a->chunks;
	size_t sz;
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	if (c && c->size - c->used >= n) {
		p = c->data + c->used;
		c->used += n;
		return p;
	}
	sz = n > CHUNK_DEFAULT ? n : CHUNK_DEFAULT;
	if (a->bytes + sz > a->max_bytes) {
		*err_out = -ENOSPC;
		return NULL;
	}
	c = malloc(sizeof(*c) + sz);
	if (!c) {
		*err_out = -ENOMEM;
		return NULL;
	}
	c->size = sz;
	c->used = n;
	c->next = a->chunks;
	a->chunks = c;
	a->bytes += sz;
	return c->data;
}

static char *arena_str(struct rtr_proto_arena *a, const char *s, int *err)
{
	size_t n = strlen(s) + 1;
	char *d = arena_alloc(a, n, err);

	if (d)
		memcpy(d, s, n);
	return d;
}

/* ------------------------------------------------------------------------
 * Decoding and validation (host)
 * ------------------------------------------------------------------------ */

static void get_int_type(struct rtr__proto_rd *r, struct rtr_integer_type *t, const char *what)
{
	t->size_bits = rtr__proto_u8(r, what);
	t->is_signed = rtr__proto_u8(r, what);
	t->base = rtr__proto_u8(r, what);
	t->byte_order = rtr__proto_u8(r, what);
	t->text = rtr__proto_u8(r, what);
	(void)rtr__proto_u8(r, what);
	(void)rtr__proto_u8(r, what);
	(void)rtr__proto_u8(r, what);
	memset(t->pad, 0, sizeof(t->pad));
}

static bool check_int_type(struct rtr__proto_rd *r, const struct rtr_integer_type *t,
			   const char *what)
{
	if (t->size_bits != 8 && t->size_bits != 16 && t->size_bits != 32 && t->size_bits != 64)
		rtr__proto_fail(r, "%s: expected size 8, 16, 32 or 64 bits, got %u", what,
				t->size_bits);
	else if (t->is_signed > 1)
		rtr__proto_fail(r, "%s: expected signedness 0 or 1, got %u", what, t->is_signed);
	else if (t->base != RTR_BASE_DEC && t->base != RTR_BASE_HEX && t->base != RTR_BASE_OCT &&
		 t->base != RTR_BASE_BIN)
		rtr__proto_fail(r, "%s: expected base 2, 8, 10 or 16, got %u", what, t->base);
	else if (t->byte_order > RTR_BYTE_ORDER_BE)
		rtr__proto_fail(r, "%s: expected byte order 0 or 1, got %u", what, t->byte_order);
	else if (t->text > 1 || (t->text && t->size_bits != 8))
		rtr__proto_fail(r, "%s: text encoding only on 8-bit integers", what);
	return !r->bad;
}

/* Is v representable in the container t? */
static bool fits(const struct rtr_integer_type *t, uint64_t v)
{
	unsigned b = t->size_bits;

	if (b >= 64)
		return true;
	if (t->is_signed) {
		int64_t s = (int64_t)v, lo = -((int64_t)1 << (b - 1)),
			hi = ((int64_t)1 << (b - 1)) - 1;

		return s >= lo && s <= hi;
	}
	return v <= ((uint64_t)1 << b) - 1;
}

static int decode_enum(struct rtr__proto_rd *r, struct rtr_proto_arena *a, struct rtr_field_desc *f)
{
	const char *prov = rtr__proto_str(r, RTR_PROTO_MAX_NAME, "enum provider");
	const char *name = rtr__proto_str(r, RTR_PROTO_MAX_NAME, "enum name");
	uint32_t n = rtr__proto_u32(r, "enum entry count");
	struct rtr_enum_desc *ed;
	struct rtr_enum_entry *ents;
	int err = 0;

	if (r->bad)
		return -EPROTO;
	if (!rtr__proto_identifier(prov) || !rtr__proto_identifier(name)) {
		rtr__proto_fail(r, "expected identifiers as enum provider and name");
		return -EPROTO;
	}
	if (n == 0 || n > RTR_PROTO_MAX_ENUM_ENTRIES) {
		rtr__proto_fail(r, "expected 1..%u enum entries, got %u",
				RTR_PROTO_MAX_ENUM_ENTRIES, n);
		return -EPROTO;
	}
	/* Each entry takes at least 19 bytes: check before allocating. */
	if ((uint64_t)n * 19 > r->len - r->off) {
		rtr__proto_fail(r, "%u enum entries cannot fit in %zu bytes", n, r->len - r->off);
		return -EPROTO;
	}
	ed = arena_alloc(a, sizeof(*ed), &err);
	ents = ed ? arena_alloc(a, (size_t)n * sizeof(*ents), &err) : NULL;
	if (!ents)
		return err;
	ed->provider = arena_str(a, prov, &err);
	ed->name = arena_str(a, name, &err);
	if (!ed->provider || !ed->name)
		return err;
	for (uint32_t i = 0; i < n; i++) {
		const char *label = rtr__proto_str(r, RTR_PROTO_MAX_TEXT, "enum label");
		uint64_t start = rtr__proto_u64(r, "enum range start");
		uint64_t end = rtr__proto_u64(r, "enum range end");

		if (r->bad)
			return -EPROTO;
		if (label[0] == 0 || !rtr__proto_printable(label)) {
			rtr__proto_fail(r,
					"enum entry %u: expected a non-empty printable label "
					"without quotes or backslashes",
					i);
			return -EPROTO;
		}
		if (!fits(&f->integer, start) || !fits(&f->integer, end) ||
		    (f->integer.is_signed ? (int64_t)start > (int64_t)end : start > end)) {
			rtr__proto_fail(r,
					"enum entry %u (%s): range outside its %u-bit %s "
					"container or start > end",
					i, label, f->integer.size_bits,
					f->integer.is_signed ? "signed" : "unsigned");
			return -EPROTO;
		}
		ents[i].label = arena_str(a, label, &err);
		if (!ents[i].label)
			return err;
		ents[i].start = start;
		ents[i].end = end;
	}
	ed->entries = ents;
	ed->nr_entries = n;
	f->enumeration = ed;
	return 0;
}

static int decode_field(struct rtr__proto_rd *r, struct rtr_proto_arena *a,
			struct rtr_field_desc *f)
{
	uint32_t blen = rtr__proto_u32(r, "field block length");
	struct rtr__proto_rd sub;
	const char *name;
	uint8_t has_enum;
	int err = 0;

	if (r->bad)
		return -EPROTO;
	if (blen > r->len - r->off) {
		rtr__proto_fail(r, "field block of %u bytes, only %zu left", blen, r->len - r->off);
		return -EPROTO;
	}
	sub = *r;
	sub.len = r->off + blen;
	r->off += blen;

	memset(f, 0, sizeof(*f));
	name = rtr__proto_str(&sub, RTR_PROTO_MAX_NAME, "field name");
	f->kind = rtr__proto_u8(&sub, "field kind");
	f->float_bits = rtr__proto_u8(&sub, "float size");
	f->array_length = rtr__proto_u32(&sub, "array length");
	get_int_type(&sub, &f->integer, "integer type");
	get_int_type(&sub, &f->length_type, "length type");
	has_enum = rtr__proto_u8(&sub, "enum flag");
	if (sub.bad)
		goto bad;
	if (!rtr__proto_identifier(name)) {
		rtr__proto_fail(&sub, "expected an identifier as field name");
		goto bad;
	}
	switch (f->kind) {
	case RTR_FIELD_INTEGER:
	case RTR_FIELD_ENUM:
		if (!check_int_type(&sub, &f->integer, "integer"))
			goto bad;
		if (f->integer.text) {
			rtr__proto_fail(&sub, "text encoding only on arrays and sequences");
			goto bad;
		}
		if ((f->kind == RTR_FIELD_ENUM) != (has_enum == 1)) {
			rtr__proto_fail(&sub, "enum labels %s for this kind",
					has_enum ? "present" : "missing");
			goto bad;
		}
		memset(&f->length_type, 0, sizeof(f->length_type));
		f->array_length = 0;
		f->float_bits = 0;
		break;
	case RTR_FIELD_FLOAT:
		if (f->float_bits != 32 && f->float_bits != 64) {
			rtr__proto_fail(&sub, "expected float size 32 or 64, got %u",
					f->float_bits);
			goto bad;
		}
		goto no_int;
	case RTR_FIELD_STRING:
		f->float_bits = 0;
	no_int:
		memset(&f->integer, 0, sizeof(f->integer));
		memset(&f->length_type, 0, sizeof(f->length_type));
		f->array_length = 0;
		if (has_enum) {
			rtr__proto_fail(&sub, "enum labels on a non-enum field");
			goto bad;
		}
		break;
	case RTR_FIELD_ARRAY:
	case RTR_FIELD_SEQUENCE:
		if (!check_int_type(&sub, &f->integer, "element type"))
			goto bad;
		if (has_enum) {
			rtr__proto_fail(&sub, "enum labels on a non-enum field");
			goto bad;
		}
		f->float_bits = 0;
		if (f->kind == RTR_FIELD_ARRAY) {
			if (f->array_length > RTR_PROTO_MAX_ARRAY_LEN) {
				rtr__proto_fail(&sub, "array length %u above %u", f->array_length,
						RTR_PROTO_MAX_ARRAY_LEN);
				goto bad;
			}
			memset(&f->length_type, 0, sizeof(f->length_type));
		} else {
			if (!check_int_type(&sub, &f->length_type, "length type"))
				goto bad;
			if (f->length_type.is_signed || f->length_type.text) {
				rtr__proto_fail(&sub, "expected an unsigned, non-text length type");
				goto bad;
			}
			f->array_length = 0;
		}
		break;
	default:
		rtr__proto_fail(&sub, "unknown field kind %u", f->kind);
		goto bad;
	}
	if (f->kind == RTR_FIELD_ENUM) {
		err = decode_enum(&sub, a, f);
		if (err) {
			if (sub.bad)
				goto bad;
			return err;
		}
	}
	f->name = arena_str(a, name, &err);
	if (!f->name)
		return err;
	return 0;
bad:
	r->bad = true; /* the message is in err already (sub shares it) */
	return -EPROTO;
}

int rtr_proto_events_decode(const struct rtr_proto_register_events *msg, struct rtr_proto_arena *a,
			    const struct rtr_event_desc ***out, char *err, size_t errlen)
{
	struct rtr__proto_rd r = {.p = msg->data,
				  .len = msg->len,
				  .base = RTR_PROTO_HDR_SIZE,
				  .what = "REGISTER_EVENTS",
				  .err = err,
				  .errlen = errlen};
	const struct rtr_event_desc **list;
	uint32_t count;
	int e = 0;

	if (err && errlen)
		err[0] = 0;
	*out = NULL;
	count = rtr__proto_u32(&r, "event count");
	if (r.bad)
		return -EPROTO;
	if (count == 0 || count != msg->count) {
		rtr__proto_fail(&r, "expected %u events, header says %u", msg->count, count);
		return -EPROTO;
	}
	if ((uint64_t)count * 4 > r.len - r.off) {
		rtr__proto_fail(&r, "%u events cannot fit in %zu bytes", count, r.len - r.off);
		return -EPROTO;
	}
	if (a->nr_events > a->max_events || count > a->max_events - a->nr_events)
		return -ENOSPC;
	list = arena_alloc(a, count * sizeof(*list), &e);
	if (!list)
		return e;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t blen = rtr__proto_u32(&r, "event block length");
		struct rtr__proto_rd sub;
		struct rtr_event_desc *ev;
		struct rtr_event_state *st;
		struct rtr_field_desc *fields = NULL;
		const char *prov, *name, *uri;
		uint32_t reg_index, nf;
		int32_t loglevel;

		if (r.bad)
			return -EPROTO;
		if (blen > r.len - r.off) {
			rtr__proto_fail(&r, "event %u: block of %u bytes, only %zu left", i, blen,
					r.len - r.off);
			return -EPROTO;
		}
		sub = r;
		sub.len = r.off + blen;
		r.off += blen;

		reg_index = rtr__proto_u32(&sub, "registration index");
		loglevel = (int32_t)rtr__proto_u32(&sub, "log level");
		prov = rtr__proto_str(&sub, RTR_PROTO_MAX_NAME, "provider name");
		name = rtr__proto_str(&sub, RTR_PROTO_MAX_NAME, "event name");
		uri = rtr__proto_str(&sub, RTR_PROTO_MAX_TEXT, "model.emf.uri");
		nf = rtr__proto_u32(&sub, "field count");
		if (sub.bad)
			return -EPROTO;
		if (!rtr__proto_identifier(prov) || !rtr__proto_identifier(name)) {
			rtr__proto_fail(&sub,
					"event %u: expected identifiers as provider and event "
					"names",
					i);
			return -EPROTO;
		}
		if (!rtr__proto_printable(uri)) {
			rtr__proto_fail(&sub, "event %u: expected a printable model.emf.uri", i);
			return -EPROTO;
		}
		if (loglevel < RTR_LOGLEVEL_NONE || loglevel > RTR_LOGLEVEL_DEBUG) {
			rtr__proto_fail(&sub, "event %u: expected log level -1..14, got %d", i,
					loglevel);
			return -EPROTO;
		}
		if (nf > RTR_PROTO_MAX_FIELDS || (uint64_t)nf * 4 > sub.len - sub.off) {
			rtr__proto_fail(&sub, "event %u: %u fields cannot fit (max %u)", i, nf,
					RTR_PROTO_MAX_FIELDS);
			return -EPROTO;
		}
		ev = arena_alloc(a, sizeof(*ev), &e);
		st = ev ? arena_alloc(a, sizeof(*st), &e) : NULL;
		if (!st)
			return e;
		if (nf) {
			fields = arena_alloc(a, nf * sizeof(*fields), &e);
			if (!fields)
				return e;
		}
		for (uint32_t k = 0; k < nf; k++) {
			int fe = decode_field(&sub, a, &fields[k]);

			if (fe)
				return fe;
			for (uint32_t j = 0; j < k; j++)
				if (!strcmp(fields[j].name, fields[k].name)) {
					rtr__proto_fail(&sub, "event %u: field name %s repeated", i,
							fields[k].name);
					return -EPROTO;
				}
		}
		memset(ev, 0, sizeof(*ev));
		memset(st, 0, sizeof(*st));
		st->reg_index = reg_index;
		ev->provider = arena_str(a, prov, &e);
		ev->name = arena_str(a, name, &e);
		ev->model_emf_uri = uri[0] ? arena_str(a, uri, &e) : NULL;
		if (!ev->provider || !ev->name || (uri[0] && !ev->model_emf_uri))
			return e;
		ev->fields = fields;
		ev->nr_fields = nf;
		ev->loglevel = loglevel;
		ev->state = st;
		list[i] = ev;
	}
	a->nr_events += count;
	*out = list;
	return 0;
}
