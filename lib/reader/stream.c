/* Packet and event decoding of one data stream: mapping windows, plan
 * execution, roles, clock reconstruction, discarded items.
 * See docs/design/reader.md ("Decode plan", "Streams, merge, memory"). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream.h"

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
 * trace was opened. */
static int file_reopen(struct rtr__stream *s, struct rtr__file *f)
{
	struct stat st;

	f->fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (f->fd < 0) {
		rtr__seterr(s->err, "%s: cannot open: %s", f->path, strerror(errno));
		return -1;
	}
	if (fstat(f->fd, &st) || (uint64_t)st.st_dev != f->dev || (uint64_t)st.st_ino != f->ino) {
		rtr__seterr(s->err, "%s: the file was replaced while the trace was read", f->path);
		close(f->fd);
		f->fd = -1;
		return -1;
	}
	return 0;
}

/* Makes [off, off + want) of the current file readable, as much as the
 * file allows. Sets s->pkt and s->avail_bits. */
static int map_at(struct rtr__stream *s, uint64_t off, uint64_t want)
{
	struct rtr__file *f = s->f;
	uint64_t start, len;

	if (want < WINDOW)
		want = WINDOW;
	if (off > f->size)
		off = f->size;
	if (f->mem) {
		s->map = (uint8_t *)f->mem;
		s->map_off = 0;
		s->map_len = (size_t)f->size;
		s->released = 0;
		s->pkt = f->size ? s->map + off : NULL;
		s->avail_bits = (f->size - off) * 8;
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
	if (len > SIZE_MAX) {
		rtr__seterr(s->err, "%s: offset %" PRIu64 ": packet too large to map", f->path,
			    off);
		return -1;
	}
	if (f->fd < 0 && file_reopen(s, f))
		return -1;
	s->map = mmap(NULL, (size_t)len, PROT_READ, MAP_PRIVATE, f->fd, (off_t)start);
	if (f->ino) { /* opened lazily: the mapping outlives the descriptor */
		close(f->fd);
		f->fd = -1;
	}
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		rtr__seterr(s->err, "%s: offset %" PRIu64 ": cannot map %" PRIu64 " bytes: %s",
			    f->path, off, len, strerror(errno));
		return -1;
	}
	madvise(s->map, (size_t)len, MADV_SEQUENTIAL);
	s->map_off = start;
	s->map_len = (size_t)len;
	s->released = start;
ok:
	if (!s->map) {
		s->pkt = NULL;
		s->avail_bits = 0;
		return 0;
	}
	s->pkt = s->map + (off - s->map_off);
	s->avail_bits = (s->map_off + s->map_len - off) * 8;
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
/* errors                                                              */

static int derr(struct rtr__stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int derr(struct rtr__stream *s, const char *fmt, ...)
{
	char m[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	rtr__seterr(s->err, "%s: packet at offset %" PRIu64 ", byte %" PRIu64 ": %s",
		    s->f ? s->f->path : "?", s->pkt_off, s->pkt_off + s->pos / 8, m);
	return -1;
}

/* ------------------------------------------------------------------ */
/* plan execution                                                      */

static inline uint64_t rd_bits(const uint8_t *base, uint64_t pos, unsigned n, int bo)
{
	const uint8_t *p = base + (pos >> 3);
	unsigned o = (unsigned)(pos & 7);
	unsigned nb = (o + n + 7) >> 3;
	unsigned __int128 acc = 0;
	uint64_t v;

	if (bo == RTR__BO_LE) {
		for (unsigned i = nb; i-- > 0;)
			acc = (acc << 8) | p[i];
		acc >>= o;
	} else {
		for (unsigned i = 0; i < nb; i++)
			acc = (acc << 8) | p[i];
		acc >>= (nb * 8 - o - n);
	}
	v = (uint64_t)acc;
	if (n < 64)
		v &= ((uint64_t)1 << n) - 1;
	return v;
}

static inline uint64_t rd_bytes(const uint8_t *p, unsigned n, int bo)
{
	switch (n) {
	case 8:
		return p[0];
	case 16: {
		uint16_t x;

		memcpy(&x, p, 2);
		if (bo == RTR__BO_BE)
			x = __builtin_bswap16(x);
		return x;
	}
	case 32: {
		uint32_t x;

		memcpy(&x, p, 4);
		if (bo == RTR__BO_BE)
			x = __builtin_bswap32(x);
		return x;
	}
	default: {
		uint64_t x;

		memcpy(&x, p, 8);
		if (bo == RTR__BO_BE)
			x = __builtin_bswap64(x);
		return x;
	}
	}
}

static inline uint64_t sext(uint64_t v, unsigned n)
{
	if (n < 64 && (v >> (n - 1)) & 1)
		v |= ~(uint64_t)0 << n;
	return v;
}

static inline __attribute__((always_inline)) void clock_update(struct rtr__stream *s, uint64_t v,
							       unsigned n)
{
	uint64_t mask, low;

	if (n >= 64) {
		s->clock = v;
		return;
	}
	mask = ((uint64_t)1 << n) - 1;
	low = s->clock & mask;
	if (v < low)
		s->clock += mask + 1;
	s->clock = (s->clock & ~mask) | v;
}

static RTR_NOINLINE int grow_vals(struct rtr__stream *s)
{
	size_t nc = s->cap_vals ? s->cap_vals * 2 : 256;
	struct rtr_value *nv;

	if (nc > ((size_t)64 << 20))
		return derr(s, "event has too many fields");
	nv = realloc(s->vals, nc * sizeof(*nv));
	if (!nv)
		return derr(s, "out of memory");
	s->vals = nv;
	s->cap_vals = nc;
	return 0;
}

static inline __attribute__((always_inline)) int
push_val(struct rtr__stream *s, const struct rtr__op *op, uint32_t kind, uint64_t u, uint64_t len)
{
	struct rtr_value *v;

	if (rtr_unlikely(s->nvals == s->cap_vals) && grow_vals(s))
		return -1;
	v = &s->vals[s->nvals++];
	v->cls = op;
	v->v.u = u;
	v->len = len;
	v->kind = kind;
	v->scope = (uint32_t)s->emit_scope;
	return 0;
}

#define ALIGN_POS(s, a)                                                                            \
	do {                                                                                       \
		if ((a) > 1)                                                                       \
			(s)->pos = ((s)->pos + (a)-1) & ~(uint64_t)((a)-1);                        \
	} while (0)

static inline __attribute__((always_inline)) int role_int(struct rtr__stream *s,
							  const struct rtr__op *op, uint64_t v)
{
	s->r_seen |= 1u << op->role;
	switch (op->role) {
	case ROLE_MAGIC:
		s->r_magic = v;
		break;
	case ROLE_STREAM_ID:
		s->r_stream_id = v;
		break;
	case ROLE_STREAM_INSTANCE_ID:
		s->r_instance_id = v;
		break;
	case ROLE_EVENT_ID:
		s->r_event_id = v;
		break;
	case ROLE_TS_BEGIN:
		s->r_ts_begin = v;
		break;
	case ROLE_TS_END:
		s->r_ts_end = v;
		break;
	case ROLE_CONTENT_SIZE:
		s->r_content = v;
		break;
	case ROLE_PACKET_SIZE:
		s->r_psize = v;
		break;
	case ROLE_DISCARDED:
		s->r_disc = v;
		break;
	case ROLE_SEQ_NUM:
		s->r_seq = v;
		break;
	default:
		break;
	}
	return 0;
}

static inline int need(struct rtr__stream *s, uint64_t bits, const char *what,
		       const struct rtr__op *op)
{
	if (rtr_unlikely(s->pos > s->end || bits > s->end - s->pos))
		return derr(
		    s,
		    "%s '%s' (%" PRIu64 " bits) goes past the end of the packet content (%" PRIu64
		    " bits left)",
		    what, op->name ? op->name : "", bits, s->pos > s->end ? 0 : s->end - s->pos);
	return 0;
}

static inline __attribute__((always_inline)) int exec_int(struct rtr__stream *s,
							  const struct rtr__op *op)
{
	uint64_t v;

	ALIGN_POS(s, op->align);
	if (rtr_unlikely(s->pos > s->end || op->size > s->end - s->pos))
		return need(s, op->size, "integer", op);
	if (rtr_likely((s->pos & 7) + op->size <= 64 &&
		       (s->pos >> 3) + 8 <= (s->avail_bits >> 3))) {
		/* one unaligned 64-bit load, no branch on the size */
		uint64_t w;
		unsigned o = (unsigned)(s->pos & 7);

		memcpy(&w, s->pkt + (s->pos >> 3), 8);
		if (op->bo == RTR__BO_LE)
			v = (w >> o) & (~(uint64_t)0 >> (64 - op->size));
		else
			v = (__builtin_bswap64(w) << o) >> (64 - op->size);
	} else if (op->code == OP_INT_BYTE) {
		v = rd_bytes(s->pkt + (s->pos >> 3), op->size, op->bo);
	} else {
		v = rd_bits(s->pkt, s->pos, op->size, op->bo);
	}
	s->pos += op->size;
	if (op->sign)
		v = sext(v, op->size);
	if (rtr_unlikely(op->slow)) {
		if (op->save >= 0)
			s->slots[op->save] = v;
		if (op->role)
			role_int(s, op,
				 op->sign ? v & (op->size < 64 ? (((uint64_t)1 << op->size) - 1)
							       : ~(uint64_t)0)
					  : v);
		if (op->clock >= 0 && op->role != ROLE_TS_END)
			clock_update(s, op->size < 64 ? v & (((uint64_t)1 << op->size) - 1) : v,
				     op->size);
	}
	if (s->emit && (op->shown | s->all))
		return push_val(s, op, op->sign ? RTR_VAL_SINT : RTR_VAL_UINT, v, 0);
	return 0;
}

/* The bits of a 32-bit float field, widened to the bits of a double (the
 * value every RTR_VAL_FLOAT carries). */
static inline uint64_t f32_as_f64_bits(uint64_t raw)
{
	uint32_t x = (uint32_t)raw;
	float fl;
	double d;
	uint64_t out;

	memcpy(&fl, &x, 4);
	d = fl;
	memcpy(&out, &d, 8);
	return out;
}

static int exec_float(struct rtr__stream *s, const struct rtr__op *op)
{
	uint64_t v;

	ALIGN_POS(s, op->align);
	if (need(s, op->size, "floating point number", op))
		return -1;
	if (!(s->pos & 7))
		v = rd_bytes(s->pkt + (s->pos >> 3), op->size, op->bo);
	else
		v = rd_bits(s->pkt, s->pos, op->size, op->bo);
	s->pos += op->size;
	if (op->size == 32)
		v = f32_as_f64_bits(v);
	if (s->emit && (op->shown | s->all))
		return push_val(s, op, RTR_VAL_FLOAT, v, 0);
	return 0;
}

static int exec_string(struct rtr__stream *s, const struct rtr__op *op)
{
	const uint8_t *b, *z;
	uint64_t avail;

	ALIGN_POS(s, 8);
	if (s->pos >= s->end)
		return need(s, 8, "string", op);
	b = s->pkt + (s->pos >> 3);
	avail = (s->end - s->pos) >> 3;
	z = memchr(b, 0, avail);
	if (!z)
		return derr(s, "string '%s' is not terminated before the end of the packet content",
			    op->name ? op->name : "");
	s->pos += (uint64_t)(z - b + 1) * 8;
	if (s->emit && (op->shown | s->all)) {
		uint64_t u = 0;
		const char *p = (const char *)b;

		memcpy(&u, &p, sizeof(p));
		return push_val(s, op, RTR_VAL_STRING, u, (uint64_t)(z - b));
	}
	return 0;
}

static int get_len(struct rtr__stream *s, const struct rtr__op *op, uint64_t *n)
{
	if (op->code == OP_ARRAY || (op->code == OP_TEXT_ARRAY && op->src < 0)) {
		*n = op->count;
		return 0;
	}
	*n = s->slots[op->src];
	return 0;
}

static int exec_text(struct rtr__stream *s, const struct rtr__op *op)
{
	uint64_t n;
	const uint8_t *b, *z;

	get_len(s, op, &n);
	ALIGN_POS(s, op->align);
	if (n > (UINT64_MAX >> 4) || need(s, n * 8, "text array", op))
		return n > (UINT64_MAX >> 4) ? derr(s, "text array length %" PRIu64 " too large", n)
					     : -1;
	b = s->pkt + (s->pos >> 3);
	s->pos += n * 8;
	if (s->emit && (op->shown | s->all)) {
		uint64_t u = 0;
		const char *p = (const char *)b;

		z = s->all ? NULL : memchr(b, 0, n);
		memcpy(&u, &p, sizeof(p));
		/* re-encoding needs every byte, printing stops at the NUL */
		return push_val(s, op, RTR_VAL_STRING, u, z ? (uint64_t)(z - b) : n);
	}
	return 0;
}

/* The option of variant `var` that `tag` selects (an index into
 * var->opts), or UINT32_MAX: the direct table for small unsigned tags,
 * else a scan of the option ranges (e.g. LTTng's 16-bit event ids),
 * compared as signed when the tag is. */
static inline __attribute__((always_inline)) uint32_t variant_option(const struct rtr__op *var,
								     uint64_t tag)
{
	if (rtr_likely(var->direct && tag < 256))
		return var->direct[tag] ? var->direct[tag] - 1u : UINT32_MAX;
	for (uint32_t k = 0; k < var->n_opts; k++) {
		const struct rtr__var_opt *c = &var->opts[k];

		if (var->sign ? (int64_t)tag >= (int64_t)c->lo && (int64_t)tag <= (int64_t)c->hi
			      : tag >= c->lo && tag <= c->hi)
			return k;
	}
	return UINT32_MAX;
}

static inline __attribute__((always_inline)) int exec_tagged(struct rtr__stream *s,
							     const struct rtr__op *ops, uint32_t i)
{
	/* hidden {tag; variant<tag> {flat structs}} */
	const struct rtr__op *tg = &ops[i + 1], *var = &ops[i + 2];
	uint64_t tag;
	uint32_t oi;
	bool save = s->emit;

	s->emit = false;
	if (rtr_unlikely(exec_int(s, tg)))
		return -1;
	tag = s->slots[var->src];
	oi = variant_option(var, tag);
	if (oi != UINT32_MAX)
		oi = var->opts[oi].op;
	if (oi == UINT32_MAX) {
		s->emit = save;
		return derr(s, "variant '%s': tag value %" PRIu64 " selects no option",
			    var->name ? var->name : "", tag);
	}
	ALIGN_POS(s, ops[oi].align);
	for (uint32_t k = oi + 1; k < ops[oi].end; k++) {
		const struct rtr__op *m = &ops[k];
		int rc;

		if (rtr_likely(m->code == OP_INT_BYTE || m->code == OP_INT_BITS))
			rc = exec_int(s, m);
		else if (m->code == OP_STRING)
			rc = exec_string(s, m);
		else
			rc = exec_float(s, m);
		if (rtr_unlikely(rc)) {
			s->emit = save;
			return -1;
		}
	}
	s->emit = save;
	return 0;
}

static inline __attribute__((always_inline)) int exec_fixed(struct rtr__stream *s,
							    const struct rtr__op *ops, uint32_t i)
{
	const struct rtr__op *op = &ops[i];

	/* static layout: one bounds check */
	bool emit = s->emit && (op->shown | s->all);
	const uint8_t *base;
	bool safe;

	if (rtr_unlikely(s->pos > s->end || op->fixed_bits > s->end - s->pos))
		return derr(s, "structure '%s' (%u bits) goes past the end of the packet content",
			    op->name ? op->name : "", op->fixed_bits);
	base = s->pkt + (s->pos >> 3);
	safe = (s->pos >> 3) + (op->fixed_bits >> 3) + 8 <= (s->avail_bits >> 3);
	if (emit && push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0))
		return -1;
	for (uint32_t k = i + 1; k < op->end; k++) {
		const struct rtr__op *m = &ops[k];
		uint64_t v;

		if (rtr_likely(safe)) {
			uint64_t w;

			memcpy(&w, base + (m->off >> 3), 8);
			v = m->bo == RTR__BO_LE ? w & (~(uint64_t)0 >> (64 - m->size))
						: __builtin_bswap64(w) >> (64 - m->size);
		} else {
			v = rd_bytes(base + (m->off >> 3), m->size, m->bo);
		}

		if (m->code == OP_FLOAT) {
			if (m->size == 32)
				v = f32_as_f64_bits(v);
			if (emit && (m->shown | s->all) && push_val(s, m, RTR_VAL_FLOAT, v, 0))
				return -1;
			continue;
		}
		if (m->sign)
			v = sext(v, m->size);
		if (rtr_unlikely(m->slow)) {
			uint64_t raw = m->size < 64 ? v & (((uint64_t)1 << m->size) - 1) : v;

			if (m->save >= 0)
				s->slots[m->save] = v;
			if (m->role)
				role_int(s, m, raw);
			if (m->clock >= 0 && m->role != ROLE_TS_END)
				clock_update(s, raw, m->size);
		}
		if (emit && (m->shown | s->all) &&
		    push_val(s, m, m->sign ? RTR_VAL_SINT : RTR_VAL_UINT, v, 0))
			return -1;
	}
	s->pos += op->fixed_bits;
	if (emit && push_val(s, op, RTR_VAL_STRUCT_END, 0, 0))
		return -1;
	return 0;
}

static inline __attribute__((always_inline)) int exec_flat(struct rtr__stream *s,
							   const struct rtr__op *ops, uint32_t i)
{
	const struct rtr__op *op = &ops[i];

	/* leaves only: no frame */
	bool emit = s->emit && (op->shown | s->all);
	bool save = s->emit;

	if (emit && push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0))
		return -1;
	s->emit = emit;
	for (uint32_t k = i + 1; k < op->end; k++) {
		const struct rtr__op *m = &ops[k];
		int rc;

		if (rtr_likely(m->code == OP_INT_BYTE || m->code == OP_INT_BITS))
			rc = exec_int(s, m);
		else if (m->code == OP_STRING)
			rc = exec_string(s, m);
		else
			rc = exec_float(s, m);
		if (rtr_unlikely(rc))
			return -1;
	}
	s->emit = save;
	if (emit && push_val(s, op, RTR_VAL_STRUCT_END, 0, 0))
		return -1;
	return 0;
}

/* Non-recursive plan interpreter: compounds push a frame; a frame ends
 * when the op index reaches its end. */
struct frame {
	uint32_t end;	 /* index ending this frame */
	uint32_t start;	 /* array: first op of the element body */
	uint32_t ret;	 /* variant: index to continue at */
	uint8_t kind;	 /* OP_STRUCT, OP_VARIANT, OP_ARRAY */
	uint8_t emitted; /* BEGIN record pushed */
	uint8_t saved_emit;
	const struct rtr__op *op;
	uint64_t left; /* array: elements left */
};

/* Runs ops[i0, n): a whole plan (0, pl->n) or one op's subtree. */
static int exec_plan_ops(struct rtr__stream *s, const struct rtr__op *ops, uint32_t i0, uint32_t n)
{
	struct frame st[RTR__MAX_DEPTH * 2 + 4];
	int sp = 0;
	uint32_t i = i0;

	while (1) {
		const struct rtr__op *op;

		while (sp > 0 && i == st[sp - 1].end) {
			struct frame *f = &st[sp - 1];

			if (f->kind == OP_ARRAY && --f->left > 0) {
				i = f->start;
				break;
			}
			if (f->emitted && push_val(s, f->op,
						   f->kind == OP_STRUCT	   ? RTR_VAL_STRUCT_END
						   : f->kind == OP_VARIANT ? RTR_VAL_VARIANT_END
									   : RTR_VAL_ARRAY_END,
						   0, 0))
				return -1;
			s->emit = f->saved_emit;
			if (f->kind == OP_VARIANT)
				i = f->ret;
			sp--;
		}
		if (i >= n)
			return 0;
		op = &ops[i];
		switch (op->code) {
		case OP_INT_BYTE:
		case OP_INT_BITS:
			if (rtr_unlikely(exec_int(s, op)))
				return -1;
			i++;
			break;
		case OP_FLOAT:
			if (exec_float(s, op))
				return -1;
			i++;
			break;
		case OP_STRING:
			if (exec_string(s, op))
				return -1;
			i++;
			break;
		case OP_TEXT_ARRAY:
			if (op->role == ROLE_UUID)
				s->uuid_pos = (int64_t)((s->pos + op->align - 1) &
							~(uint64_t)(op->align - 1));
			if (exec_text(s, op))
				return -1;
			i = op->end;
			break;
		case OP_STRUCT: {
			struct frame *f;

			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return derr(s,
					    "structure '%s' aligned on %u bits starts past the end "
					    "of the packet content",
					    op->name ? op->name : "", op->align);
			if (op->tagged && !(s->emit && (op->shown | s->all))) {
				if (exec_tagged(s, ops, i))
					return -1;
				i = op->end;
				break;
			}
			if (op->fixed) {
				if (exec_fixed(s, ops, i))
					return -1;
				i = op->end;
				break;
			}
			if (op->flat) {
				if (exec_flat(s, ops, i))
					return -1;
				i = op->end;
				break;
			}
			if (i + 1 == op->end) { /* empty */
				if (s->emit && (op->shown | s->all) &&
				    (push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0) ||
				     push_val(s, op, RTR_VAL_STRUCT_END, 0, 0)))
					return -1;
				i++;
				break;
			}
			if (sp >= (int)RTR_ARRAY_SIZE(st))
				return derr(s, "types nested too deeply");
			f = &st[sp++];
			f->kind = OP_STRUCT;
			f->end = op->end;
			f->op = op;
			f->saved_emit = s->emit;
			f->emitted = s->emit && (op->shown | s->all);
			if (f->emitted && push_val(s, op, RTR_VAL_STRUCT_BEGIN, 0, 0))
				return -1;
			if (!(op->shown | s->all))
				s->emit = false;
			i++;
			break;
		}
		case OP_VARIANT: {
			uint64_t tag = s->slots[op->src];
			uint32_t k = variant_option(op, tag);
			const struct rtr__var_opt *o = k == UINT32_MAX ? NULL : &op->opts[k];
			struct frame *f;

			if (!o) {
				if (op->sign)
					return derr(s,
						    "variant '%s': tag value %" PRId64
						    " selects no option",
						    op->name ? op->name : "", (int64_t)tag);
				return derr(s,
					    "variant '%s': tag value %" PRIu64 " selects no option",
					    op->name ? op->name : "", tag);
			}
			if (sp >= (int)RTR_ARRAY_SIZE(st))
				return derr(s, "types nested too deeply");
			f = &st[sp++];
			f->kind = OP_VARIANT;
			f->end = ops[o->op].end;
			f->ret = op->end;
			f->op = op;
			f->saved_emit = s->emit;
			f->emitted = s->emit && (op->shown | s->all);
			if (f->emitted && push_val(s, op, RTR_VAL_VARIANT_BEGIN, 0, o->op))
				return -1;
			if (!(op->shown | s->all))
				s->emit = false;
			i = o->op;
			break;
		}
		case OP_ARRAY:
		case OP_SEQ: {
			uint64_t cnt = op->code == OP_ARRAY ? op->count : s->slots[op->src];
			bool emit = s->emit && (op->shown | s->all);
			struct frame *f;

			if (op->role == ROLE_UUID)
				s->uuid_pos = (int64_t)((s->pos + op->align - 1) &
							~(uint64_t)(op->align - 1));
			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return derr(s,
					    "array '%s' aligned on %u bits starts past the end of "
					    "the packet content",
					    op->name ? op->name : "", op->align);
			if (op->elem_min_bits_zero) {
				if (cnt > s->budget)
					return derr(s,
						    "array '%s' of %" PRIu64
						    " zero-size elements exceeds the work bound",
						    op->name ? op->name : "", cnt);
				s->budget -= cnt;
			} else if (cnt > s->end - s->pos) {
				return derr(s,
					    "%s '%s' of %" PRIu64
					    " elements goes past the end of the packet content",
					    op->code == OP_SEQ ? "sequence" : "array",
					    op->name ? op->name : "", cnt);
			}
			if (!emit && op->end == i + 2 && ops[i + 1].code == OP_INT_BYTE &&
			    ops[i + 1].size == 8 && !ops[i + 1].slow) {
				/* bytes nobody records: checked, then skipped */
				if (cnt > (s->end - s->pos) / 8)
					return derr(
					    s,
					    "%s '%s' of %" PRIu64
					    " bytes goes past the end of the packet content",
					    op->code == OP_SEQ ? "sequence" : "array",
					    op->name ? op->name : "", cnt);
				s->pos += cnt * 8;
				i = op->end;
				break;
			}
			if (emit && push_val(s, op, RTR_VAL_ARRAY_BEGIN, 0, cnt))
				return -1;
			if (cnt == 0) {
				if (emit && push_val(s, op, RTR_VAL_ARRAY_END, 0, 0))
					return -1;
				i = op->end;
				break;
			}
			if (sp >= (int)RTR_ARRAY_SIZE(st))
				return derr(s, "types nested too deeply");
			f = &st[sp++];
			f->kind = OP_ARRAY;
			f->end = op->end;
			f->start = i + 1;
			f->left = cnt;
			f->op = op;
			f->saved_emit = s->emit;
			f->emitted = emit;
			if (!(op->shown | s->all))
				s->emit = false;
			i++;
			break;
		}
		default:
			return derr(s, "internal error: bad op %d", op->code);
		}
	}
}

static inline __attribute__((always_inline)) int
exec_plan(struct rtr__stream *s, const struct rtr__plan *pl, int scope, bool emit)
{
	if (!pl->n)
		return 0;
	s->emit_scope = scope;
	s->emit = (emit || s->all) && (pl->shown || s->all) && !s->no_emit;
	/* common roots without the interpreter loop */
	if (pl->ops[0].code == OP_STRUCT && !s->all) {
		const struct rtr__op *op = &pl->ops[0];

		if (op->tagged && !s->emit) {
			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return derr(s,
					    "structure aligned on %u bits starts past the end of "
					    "the packet content",
					    op->align);
			return exec_tagged(s, pl->ops, 0);
		}
		if (op->fixed) {
			ALIGN_POS(s, op->align);
			return exec_fixed(s, pl->ops, 0);
		}
		if (op->flat) {
			ALIGN_POS(s, op->align);
			if (rtr_unlikely(s->pos > s->end))
				return derr(s,
					    "structure aligned on %u bits starts past the end of "
					    "the packet content",
					    op->align);
			return exec_flat(s, pl->ops, 0);
		}
	}
	return exec_plan_ops(s, pl->ops, 0, pl->n);
}

/* ------------------------------------------------------------------ */
/* packets                                                             */

static struct rtr__stream_class *find_sc_by_id(struct rtr__trace_class *tc, uint64_t id)
{
	for (size_t i = 0; i < tc->n_scs; i++)
		if (tc->scs[i]->id == id)
			return tc->scs[i];
	return NULL;
}

/* Decodes the packet header and context at s->pkt_off of the current file.
 * Returns 0, 1 at end of file, -1 on error. */
static int read_packet(struct rtr__stream *s, bool probe)
{
	struct rtr__file *f = s->f;
	struct rtr__trace_class *tc = s->tc;
	struct rtr__stream_class *sc;
	uint64_t rest;

	if (s->pkt_off >= f->size)
		return 1;
	if (map_at(s, s->pkt_off, WINDOW))
		return -1;
	rest = (f->size - s->pkt_off) * 8;
	s->pos = 0;
	s->end = s->avail_bits < rest ? s->avail_bits : rest;
	s->r_seen = 0;
	s->uuid_pos = -1;
	s->budget = s->end + 65536;
	if (!s->slots || s->nslots < tc->max_slots) {
		uint64_t *ns = realloc(s->slots, (tc->max_slots + 1) * sizeof(*ns));

		if (!ns)
			return derr(s, "out of memory");
		memset(ns, 0, (tc->max_slots + 1) * sizeof(*ns));
		s->slots = ns;
		s->nslots = tc->max_slots;
	}
	/* packet header */
	s->nvals = 0;
	if (exec_plan(s, &tc->p_packet_header, RTR_SCOPE_PACKET_HEADER, false))
		return -1;
	if ((s->r_seen & (1u << ROLE_MAGIC)) && s->r_magic != 0xC1FC1FC1u) {
		s->pos = 0;
		return derr(s, "bad packet magic 0x%08" PRIx64 ": expecting 0xc1fc1fc1",
			    s->r_magic);
	}
	if (s->uuid_pos >= 0 && tc->has_uuid && memcmp(s->pkt + s->uuid_pos / 8, tc->uuid, 16) &&
	    s->warn && !s->f->uuid_warned) {
		/* CTF 1.8 says they match, but babeltrace2 never checks it and
		 * reads such packets as the trace's: so do we, saying so once
		 * per file */
		char m[600];
		const uint8_t *u = s->pkt + s->uuid_pos / 8;

		s->f->uuid_warned = true;
		snprintf(m, sizeof(m),
			 "%s: packet at offset %" PRIu64 ": packet UUID "
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x "
			 "differs from the trace's UUID in the metadata; its packets are read as "
			 "the trace's",
			 s->f->path, s->pkt_off, u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7],
			 u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
		s->warn(s->warn_arg, m);
	}
	if (s->r_seen & (1u << ROLE_STREAM_ID)) {
		sc = find_sc_by_id(tc, s->r_stream_id);
		if (!sc)
			return derr(s, "no stream class with id %" PRIu64, s->r_stream_id);
	} else {
		if (tc->n_scs == 0)
			return derr(s, "metadata declares no stream class");
		if (tc->n_scs > 1)
			return derr(s, "packet header has no stream_id and the trace has several "
				       "stream classes");
		sc = tc->scs[0];
	}
	if (s->sc && sc->id != s->sc->id && !probe)
		return derr(s, "packet of stream class %" PRIu64 " in a stream of class %" PRIu64,
			    sc->id, s->sc->id);
	/* the header ran with the shared plan: its saves are in slots */
	s->sc = sc;
	/* packet context */
	if (!s->all)
		s->nvals = 0;
	if (exec_plan(s, &sc->p_packet_context, RTR_SCOPE_PACKET_CONTEXT, !probe))
		return -1;
	/* sizes */
	if (s->r_seen & (1u << ROLE_PACKET_SIZE)) {
		s->pkt_bits = s->r_psize;
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
		s->pkt_bits = (s->r_seen & (1u << ROLE_CONTENT_SIZE))
				  ? ((s->r_content + 7) & ~(uint64_t)7)
				  : rest;
		if (s->pkt_bits > rest)
			return derr(s,
				    "content size %" PRIu64
				    " bits goes past the end of the file (%" PRIu64 " bits left)",
				    s->r_content, rest);
	}
	s->content_bits = (s->r_seen & (1u << ROLE_CONTENT_SIZE)) ? s->r_content : s->pkt_bits;
	if (s->content_bits > s->pkt_bits)
		return derr(s,
			    "content size %" PRIu64 " bits is larger than the packet size %" PRIu64
			    " bits",
			    s->content_bits, s->pkt_bits);
	if (s->pos > s->content_bits)
		return derr(s,
			    "packet header and context (%" PRIu64
			    " bits) are larger than the packet content (%" PRIu64 " bits)",
			    s->pos, s->content_bits);
	if (s->pkt_bits / 8 > s->avail_bits / 8) {
		uint64_t pos = s->pos;

		if (map_at(s, s->pkt_off, s->pkt_bits / 8))
			return -1;
		s->pos = pos;
		if (s->avail_bits < s->pkt_bits)
			return derr(s, "cannot map the whole packet");
	}
	s->end = s->content_bits;
	return 0;
}

static void queue_pending(struct rtr__stream *s)
{
	struct rtr__stream_class *sc = s->sc;
	bool has_disc = s->r_seen & (1u << ROLE_DISCARDED);
	bool has_seq = s->r_seen & (1u << ROLE_SEQ_NUM);
	bool has_end = s->r_seen & (1u << ROLE_TS_END);
	bool has_beg = s->r_seen & (1u << ROLE_TS_BEGIN);
	bool clk = sc->clock >= 0;

	s->npend = s->ipend = 0;
	/* discarded events */
	if (has_disc) {
		bool emit = false;
		struct rtr__pending *p = &s->pend[s->npend];

		if (!s->prev_valid || !s->prev_has_disc) {
			if (s->r_disc != 0) {
				emit = true;
				p->count = UINT64_MAX;
				p->has_range = clk && has_beg && has_end;
				p->begin = s->r_ts_begin;
				p->end = s->r_ts_end;
			}
		} else if (s->r_disc != s->prev_disc) {
			emit = true;
			p->count = s->r_disc - s->prev_disc;
			p->has_range = clk && s->prev_has_ts_end && has_end;
			p->begin = s->prev_ts_end;
			p->end = s->r_ts_end;
		}
		if (emit) {
			p->kind = IT_DISC_EVENTS;
			s->npend++;
		}
	}
	/* discarded packets */
	if (has_seq && s->prev_valid && s->prev_has_seq && s->r_seq != s->prev_seq + 1 &&
	    s->r_seq > s->prev_seq) {
		struct rtr__pending *p = &s->pend[s->npend++];

		p->kind = IT_DISC_PACKETS;
		p->count = s->r_seq - s->prev_seq - 1;
		p->has_range = clk && s->prev_has_ts_end && has_beg;
		p->begin = s->prev_ts_end;
		p->end = s->r_ts_begin;
	}
	s->prev_valid = true;
	s->prev_has_disc = has_disc;
	s->prev_disc = s->r_disc;
	s->prev_has_ts_end = has_end;
	s->prev_ts_end = s->r_ts_end;
	s->prev_has_seq = has_seq;
	s->prev_seq = s->r_seq;
}

static int open_file(struct rtr__stream *s)
{
	unmap(s);
	s->f = s->files[s->fi];
	s->tc = s->f->tc;
	s->pkt_off = 0;
	return 0;
}

/* Moves to the next packet with events or pending items. Returns 0, 1 at
 * end of stream, -1 on error. */
static int next_packet(struct rtr__stream *s)
{
	while (1) {
		int r;

		if (s->in_packet) {
			s->npackets++;
			/* read by rtr_reader_progress() from another thread */
			__atomic_store_n(&s->bytes_done, s->bytes_done + s->pkt_bits / 8,
					 __ATOMIC_RELAXED);
			s->pkt_off += s->pkt_bits / 8;
			s->in_packet = false;
		}
		r = read_packet(s, false);
		if (r < 0)
			return -1;
		if (r == 1) {
			if (s->fi + 1 >= s->nfiles)
				return 1;
			s->fi++;
			open_file(s);
			continue;
		}
		s->in_packet = true;
		/* whole-word loads need 8 readable bytes past the last one read */
		s->lim = s->avail_bits >= 64 ? s->avail_bits - 64 : 0;
		if (s->lim > s->end)
			s->lim = s->end;
		s->fast = !s->all && s->sc->fast_header.ok && s->sc->fast_context.ok;
		s->pkt_gen++;
		/* the packet context values stay at the front of vals */
		s->npvals = s->nvals;
		queue_pending(s);
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* fast programs (prog.c): the common event shapes without the
 * interpreter. Anything unusual, including every error, makes the event
 * start over in the interpreter, which reports errors precisely.      */

struct fst {
	const uint8_t *pkt;
	uint64_t pos;
	uint64_t end; /* content end (bits) */
	uint64_t lim; /* fixed segments end before: content end, and 8 bytes
		       * readable past it for whole-word loads */
	uint64_t clk;
	uint64_t *slots;
	uint64_t id;
	bool have_id;
};

static inline __attribute__((always_inline)) uint64_t leaf_load(const uint8_t *pkt, uint64_t at,
								const struct rtr__leaf *l)
{
	uint64_t w;
	unsigned o = (unsigned)(at & 7);

	if (rtr_unlikely(l->wide))
		return rd_bits(pkt, at, l->size, l->bo);
	memcpy(&w, pkt + (at >> 3), 8);
	if (l->bo == RTR__BO_LE)
		return (w >> o) & l->mask;
	return (__builtin_bswap64(w) << o) >> (64 - l->size);
}

/* Copies the records of fixed segment g to v, with the values of the
 * segment at bit pos. */
static inline __attribute__((always_inline)) void
put_recs(const struct fst *f, const struct rtr__seg *g, struct rtr_value *v, uint64_t pos)
{
	for (uint32_t k = 0; k < g->nrec; k++)
		v[k] = g->rec[k];
	for (uint32_t k = 0; k < g->nval; k++) {
		const struct rtr__leaf *l = &g->val[k];
		uint64_t u;

		if (rtr_unlikely(l->kind == RTR_VAL_STRING)) {
			/* fixed-length text array: up to its first NUL */
			const uint8_t *b = f->pkt + ((pos + l->off) >> 3);
			const uint8_t *z = memchr(b, 0, l->len);

			v[l->idx].v.s = (const char *)b;
			v[l->idx].len = z ? (uint64_t)(z - b) : l->len;
			continue;
		}
		u = leaf_load(f->pkt, pos + l->off, l);
		if (l->kind == RTR_VAL_FLOAT) {
			if (l->size == 32)
				u = f32_as_f64_bits(u);
		} else if (l->sign) {
			u = sext(u, l->size);
		}
		v[l->idx].v.u = u;
	}
}

static inline __attribute__((always_inline)) int run_fixed(struct rtr__stream *s, struct fst *f,
							   const struct rtr__seg *g, bool keep)
{
	uint64_t pos = f->pos;

	if (g->align > 1)
		pos = (pos + g->align - 1) & ~(uint64_t)(g->align - 1);
	if (rtr_unlikely(pos + g->bits > f->lim))
		return 1;
	for (uint32_t k = 0; k < g->nslow; k++) {
		const struct rtr__leaf *l = &g->slow[k];
		uint64_t raw = leaf_load(f->pkt, pos + l->off, l);

		if (l->save >= 0)
			f->slots[l->save] = l->sign ? sext(raw, l->size) : raw;
		if (l->role == ROLE_EVENT_ID) {
			f->id = raw;
			f->have_id = true;
		}
		if (l->clock >= 0) {
			/* clock_update() on the local copy */
			if (l->size >= 64) {
				f->clk = raw;
			} else {
				uint64_t mask = ((uint64_t)1 << l->size) - 1;

				if (raw < (f->clk & mask))
					f->clk += mask + 1;
				f->clk = (f->clk & ~mask) | raw;
			}
		}
	}
	if (keep && g->nrec) {
		while (rtr_unlikely(s->nvals + g->nrec > s->cap_vals))
			if (grow_vals(s))
				return 1;
		put_recs(f, g, s->vals + s->nvals, pos);
		s->nvals += g->nrec;
	}
	f->pos = pos + g->bits;
	return 0;
}

/* Array or sequence of fixed elements, or text array. */
static int run_array(struct rtr__stream *s, struct fst *f, const struct rtr__seg *g, bool keep)
{
	const struct rtr__op *op = &g->ops[g->opi];
	const struct rtr__seg *e;
	uint64_t cnt = op->src >= 0 ? f->slots[op->src] : op->count;
	uint64_t pos = f->pos, avail;
	struct rtr_value *v;

	if (g->align > 1)
		pos = (pos + g->align - 1) & ~(uint64_t)(g->align - 1);
	if (pos > f->lim)
		return 1;
	avail = f->lim - pos;
	if (op->code == OP_TEXT_ARRAY) {
		if (cnt > avail / 8)
			return 1;
		if (keep && op->shown) {
			const uint8_t *b = f->pkt + (pos >> 3), *z = memchr(b, 0, cnt);
			const char *str = (const char *)b;
			uint64_t u = 0;

			memcpy(&u, &str, sizeof(str));
			s->emit_scope = g->scope;
			if (push_val(s, op, RTR_VAL_STRING, u, z ? (uint64_t)(z - b) : cnt))
				return 1;
		}
		f->pos = pos + cnt * 8;
		return 0;
	}
	e = g->opt[0];
	if (cnt) {
		if (cnt > ((uint64_t)1 << 32) || e->bits > avail ||
		    (cnt - 1) * g->bits > avail - e->bits)
			return 1;
		f->pos = pos + (cnt - 1) * g->bits + e->bits;
	} else {
		f->pos = pos;
	}
	if (!keep || !op->shown)
		return 0;
	while (rtr_unlikely(s->nvals + 2 + cnt * e->nrec > s->cap_vals))
		if (grow_vals(s))
			return 1;
	v = s->vals + s->nvals;
	v->cls = op;
	v->v.u = 0;
	v->len = cnt;
	v->kind = RTR_VAL_ARRAY_BEGIN;
	v->scope = g->scope;
	v++;
	if (e->nrec == 1 && e->nval == 1 && e->rec[0].kind != RTR_VAL_FLOAT &&
	    e->rec[0].kind != RTR_VAL_STRING && !e->val[0].wide && e->val[0].bo == RTR__BO_LE) {
		/* array of little-endian integers: one record each */
		const struct rtr__leaf *l = &e->val[0];
		struct rtr_value r0 = e->rec[0];

		for (uint64_t k = 0; k < cnt; k++, pos += g->bits) {
			uint64_t w;

			memcpy(&w, f->pkt + ((pos + l->off) >> 3), 8);
			r0.v.u = (w >> ((pos + l->off) & 7)) & l->mask;
			if (l->sign)
				r0.v.u = sext(r0.v.u, l->size);
			v[k] = r0;
		}
		v += cnt;
	} else {
		for (uint64_t k = 0; k < cnt; k++, pos += g->bits, v += e->nrec)
			put_recs(f, e, v, pos);
	}
	v->cls = op;
	v->v.u = 0;
	v->len = 0;
	v->kind = RTR_VAL_ARRAY_END;
	v->scope = g->scope;
	s->nvals += 2 + cnt * e->nrec;
	return 0;
}

static inline __attribute__((always_inline)) int run_prog(struct rtr__stream *s, struct fst *f,
							  const struct rtr__prog *p, bool keep)
{
	for (uint32_t k = 0; k < p->n; k++) {
		const struct rtr__seg *g = &p->seg[k];

		switch (g->kind) {
		case SEG_FIXED:
			if (run_fixed(s, f, g, keep))
				return 1;
			break;
		case SEG_STRING: {
			const struct rtr__op *op = &g->ops[g->opi];
			uint64_t pos = (f->pos + 7) & ~(uint64_t)7;
			const uint8_t *b, *z;

			if (rtr_unlikely(pos >= f->end))
				return 1;
			b = f->pkt + (pos >> 3);
			z = memchr(b, 0, (f->end - pos) >> 3);
			if (rtr_unlikely(!z))
				return 1;
			f->pos = pos + (uint64_t)(z - b + 1) * 8;
			if (keep && op->shown) {
				uint64_t u = 0;
				const char *str = (const char *)b;

				s->emit_scope = g->scope;
				memcpy(&u, &str, sizeof(str));
				if (push_val(s, op, RTR_VAL_STRING, u, (uint64_t)(z - b)))
					return 1;
			}
			break;
		}
		case SEG_VARIANT: {
			const struct rtr__op *op = &g->ops[g->opi];
			uint32_t k2 = variant_option(op, f->slots[op->src]);
			if (rtr_unlikely(k2 == UINT32_MAX) || run_fixed(s, f, g->opt[k2], keep))
				return 1;
			break;
		}
		case SEG_ARRAY:
			if (run_array(s, f, g, keep))
				return 1;
			break;
		default: /* SEG_GENERIC */
			s->pos = f->pos;
			s->clock = f->clk;
			s->emit = keep;
			s->emit_scope = g->scope;
			s->r_seen &= ~(1u << ROLE_EVENT_ID);
			if (exec_plan_ops(s, g->ops, g->opi, g->ops[g->opi].end))
				return 1;
			f->pos = s->pos;
			f->clk = s->clock;
			if (s->r_seen & (1u << ROLE_EVENT_ID)) {
				f->id = s->r_event_id;
				f->have_id = true;
				s->r_seen &= ~(1u << ROLE_EVENT_ID);
			}
			break;
		}
	}
	return 0;
}

/* little-endian field at bit at: one 64-bit load */
static inline __attribute__((always_inline)) uint64_t ld_le(const uint8_t *pkt, uint64_t at,
							    uint64_t mask)
{
	uint64_t w;

	memcpy(&w, pkt + (at >> 3), 8);
	return (w >> (at & 7)) & mask;
}

/* A simple header (rtr__hdr.simple) at f->pos: 0, or 1 to use the
 * header's program instead. */
static inline __attribute__((always_inline)) int hdr_simple(struct fst *f, const struct rtr__hdr *h)
{
	uint64_t pos = (f->pos + h->align - 1) & ~(uint64_t)(h->align - 1), tag;
	const struct rtr__hopt *o;
	uint32_t k;

	if (rtr_unlikely(pos + h->max_bits > f->lim))
		return 1;
	tag = ld_le(f->pkt, pos, h->tag_mask);
	k = variant_option(h->var, tag);
	if (rtr_unlikely(k == UINT32_MAX))
		return 1;
	o = &h->opt[k];
	f->slots[h->tag.save] = tag;
	f->id = o->has_id ? ld_le(f->pkt, pos + o->id.off, o->id_mask) : tag;
	f->have_id = true;
	if (o->has_ts) {
		uint64_t ts = ld_le(f->pkt, pos + o->ts.off, o->ts_mask);

		/* clock_update(); a 64-bit mask adds 0 */
		if (ts < (f->clk & o->ts_mask))
			f->clk += o->ts_mask + 1;
		f->clk = (f->clk & ~o->ts_mask) | ts;
	}
	f->pos = pos + o->bits;
	return 0;
}

/* Tagged event header through its option table: 0, or 1 to use the
 * header's program instead. */
static inline __attribute__((always_inline)) int run_hdr(struct fst *f, const struct rtr__hdr *h)
{
	const struct rtr__op *var = h->var;
	const struct rtr__hopt *o;
	uint64_t pos = f->pos, tag;
	uint32_t k;

	if (rtr_likely(h->simple))
		return hdr_simple(f, h);
	if (h->align > 1)
		pos = (pos + h->align - 1) & ~(uint64_t)(h->align - 1);
	if (rtr_unlikely(pos + h->max_bits > f->lim))
		return 1;
	tag = leaf_load(f->pkt, pos, &h->tag);
	f->slots[h->tag.save] = tag;
	k = variant_option(var, tag);
	if (rtr_unlikely(k == UINT32_MAX))
		return 1;
	o = &h->opt[k];
	if (h->tag_is_id) {
		f->id = tag;
		f->have_id = true;
	}
	if (o->has_id) {
		f->id = leaf_load(f->pkt, pos + o->id.off, &o->id);
		f->have_id = true;
	}
	if (o->has_ts) {
		uint64_t raw = leaf_load(f->pkt, pos + o->ts.off, &o->ts);

		if (o->ts.size >= 64) {
			f->clk = raw;
		} else {
			uint64_t mask = ((uint64_t)1 << o->ts.size) - 1;

			if (raw < (f->clk & mask))
				f->clk += mask + 1;
			f->clk = (f->clk & ~mask) | raw;
		}
	}
	f->pos = pos + o->bits;
	return 0;
}

static inline __attribute__((always_inline)) void fst_init(struct fst *f,
							   const struct rtr__stream *s)
{
	f->pkt = s->pkt;
	f->pos = s->pos;
	f->end = s->end;
	f->lim = s->lim;
	f->clk = s->clock;
	f->slots = s->slots;
}

/* Decodes the event at f->pos with the fast programs: its class, with
 * f->pos and f->clk advanced, or NULL if the interpreter must decode it
 * (f->pos and f->clk are then meaningless). */
static inline __attribute__((always_inline)) const struct rtr__event_class *
fast_one(struct rtr__stream *s, struct fst *f, bool keep, uint64_t *ev_clock)
{
	const struct rtr__stream_class *sc = s->sc;
	const struct rtr__event_class *ec;
	uint64_t start = f->pos;

	f->have_id = false;
	f->id = 0;
	s->budget = (f->end - start) + 65536;
	if (keep)
		s->nvals = s->npvals;
	if ((!sc->hdr || run_hdr(f, sc->hdr)) && run_prog(s, f, &sc->fast_header, false))
		return NULL;
	*ev_clock = f->clk;
	if (f->have_id)
		ec = rtr_likely(f->id < sc->ec_by_id_len) ? sc->ec_by_id[f->id]
							  : rtr__sc_find_ec(sc, f->id);
	else
		ec = sc->n_ecs == 1 ? sc->ecs[0] : rtr__sc_find_ec(sc, 0);
	if (rtr_unlikely(!ec || !ec->fast.ok))
		return NULL;
	if (sc->fast_context.n && run_prog(s, f, &sc->fast_context, keep))
		return NULL;
	if (!keep && ec->fast.skip) {
		uint64_t pos = f->pos;

		if (ec->fast.skip_align > 1)
			pos =
			    (pos + ec->fast.skip_align - 1) & ~(uint64_t)(ec->fast.skip_align - 1);
		if (rtr_unlikely(pos + ec->fast.skip_bits > f->end))
			return NULL;
		f->pos = pos + ec->fast.skip_bits;
	} else if (run_prog(s, f, &ec->fast, keep)) {
		return NULL;
	}
	if (rtr_unlikely(f->pos == start))
		return NULL;
	return ec;
}

/* Decodes one event at s->pos with the fast programs. Returns 0, or 1 if
 * the interpreter must decode this event (state is as before the call). */
static inline __attribute__((always_inline)) int fast_event(struct rtr__stream *s, bool keep)
{
	const struct rtr__event_class *ec;
	uint64_t ev_clock = 0, start = s->pos, clk0 = s->clock;
	struct fst f;

	fst_init(&f, s);
	ec = fast_one(s, &f, keep, &ev_clock);
	if (rtr_unlikely(!ec)) {
		/* interpreter segments moved them */
		s->pos = start;
		s->clock = clk0;
		return 1;
	}
	s->pos = f.pos;
	s->clock = f.clk;
	s->ev_clock = ev_clock;
	s->ec = (struct rtr__event_class *)ec;
	return 0;
}

struct tally {
	uint64_t n, lo, hi, *per;
};

static inline __attribute__((always_inline)) void
tally(struct tally *c, const struct rtr__event_class *e, uint64_t t)
{
	c->n++;
	if (c->per)
		c->per[e->gindex]++;
	c->lo = t < c->lo ? t : c->lo;
	c->hi = t > c->hi ? t : c->hi;
}

/* Counts events from f->pos whose header is simple (rtr__hdr.simple);
 * stops at the end of the packet or before an event it does not handle
 * (f->pos and f->clk then at its start). */
static inline __attribute__((always_inline)) void count_simple(struct rtr__stream *s, struct fst *f,
							       struct tally *c)
{
	const struct rtr__stream_class *sc = s->sc;
	const struct rtr__hdr *h = sc->hdr;
	struct rtr__event_class *const *byid = sc->ec_by_id;
	const struct rtr__prog *ctx = &sc->fast_context;
	uint64_t nbyid = sc->ec_by_id_len, end = f->end;

	while (f->pos < end) {
		uint64_t pos = f->pos, clk0 = f->clk, t;
		const struct rtr__event_class *e;

		if (rtr_unlikely(hdr_simple(f, h)))
			break;
		t = f->clk; /* the event's time */
		if (rtr_unlikely(f->id >= nbyid || !(e = byid[f->id]) || !e->fast.ok))
			goto undo;
		if (ctx->n) {
			s->budget = (end - pos) + 65536;
			if (run_prog(s, f, ctx, false))
				goto undo;
		}
		if (rtr_likely(e->fast.skip)) {
			uint64_t a = e->fast.skip_align - 1, p = (f->pos + a) & ~a;

			if (rtr_unlikely(p + e->fast.skip_bits > end))
				goto undo;
			f->pos = p + e->fast.skip_bits;
		} else {
			s->budget = (end - pos) + 65536;
			if (run_prog(s, f, &e->fast, false) || rtr_unlikely(f->pos == pos))
				goto undo;
		}
		tally(c, e, t);
		continue;
	undo:
		f->pos = pos;
		f->clk = clk0;
		break;
	}
}

void rtr__stream_count(struct rtr__stream *s, struct rtr__count *c)
{
	struct tally t = {0, c->cmin, c->cmax, c->per_class};
	const struct rtr__hdr *h = s->sc ? s->sc->hdr : NULL;
	bool simple = h && h->simple;
	struct fst f;

	if (!s->fast || !s->no_emit || !s->in_packet || s->ipend < s->npend)
		return;
	fst_init(&f, s);
	while (f.pos < f.end) {
		uint64_t pos, clk, ev_clock = 0;
		const struct rtr__event_class *e;

		if (simple) {
			count_simple(s, &f, &t);
			if (f.pos >= f.end)
				break;
		}
		/* one event the general way */
		pos = f.pos;
		clk = f.clk;
		e = fast_one(s, &f, false, &ev_clock);
		if (rtr_unlikely(!e)) {
			f.pos = pos;
			f.clk = clk;
			break;
		}
		tally(&t, e, ev_clock);
	}
	s->pos = f.pos;
	s->clock = f.clk;
	c->events += t.n;
	c->cmin = t.lo;
	c->cmax = t.hi;
}

/* Decodes one event at s->pos. */
static inline __attribute__((always_inline)) int read_event(struct rtr__stream *s)
{
	struct rtr__stream_class *sc = s->sc;
	struct rtr__event_class *ec;
	uint64_t start = s->pos;

	s->r_seen &= ~(1u << ROLE_EVENT_ID);
	s->budget = (s->end - s->pos) + 65536;
	s->nvals = s->npvals;
	if (exec_plan(s, &sc->p_event_header, RTR_SCOPE_EVENT_HEADER, false))
		return -1;
	s->ev_clock = s->clock;
	if (s->r_seen & (1u << ROLE_EVENT_ID)) {
		ec = rtr_likely(s->r_event_id < sc->ec_by_id_len)
			 ? sc->ec_by_id[s->r_event_id]
			 : rtr__sc_find_ec(sc, s->r_event_id);
		if (!ec) {
			s->pos = start;
			return derr(s,
				    "no event class with id %" PRIu64 " in stream class %" PRIu64,
				    s->r_event_id, sc->id);
		}
	} else {
		if (sc->n_ecs == 1) {
			ec = sc->ecs[0];
		} else {
			ec = rtr__sc_find_ec(sc, 0);
			if (!ec) {
				s->pos = start;
				return derr(s,
					    "event header has no id and stream class %" PRIu64
					    " has %zu event classes",
					    sc->id, sc->n_ecs);
			}
		}
	}
	if (exec_plan(s, &sc->p_event_context, RTR_SCOPE_EVENT_COMMON_CONTEXT, true) ||
	    exec_plan(s, &ec->p_context, RTR_SCOPE_EVENT_CONTEXT, true) ||
	    exec_plan(s, &ec->p_fields, RTR_SCOPE_EVENT_PAYLOAD, true))
		return -1;
	if (s->pos == start) {
		s->pos = start;
		return derr(s, "event '%s' decodes to zero bits (an event must not be empty)",
			    ec->name ? ec->name : "?");
	}
	s->ec = ec;
	return 0;
}

static inline __attribute__((always_inline)) int stream_next1(struct rtr__stream *s)
{
	while (1) {
		if (s->eof)
			return 0;
		if (s->ipend < s->npend) {
			s->cur_pend = s->pend[s->ipend++];
			s->item = s->cur_pend.kind;
			return 1;
		}
		if (s->in_packet && s->pos < s->end) {
			if (rtr_likely(s->fast)) {
				if (rtr_likely(!(s->no_emit ? fast_event(s, false)
							    : fast_event(s, true)))) {
					s->item = IT_EVENT;
					return 1;
				}
			}
			if (read_event(s))
				return -1;
			s->item = IT_EVENT;
			return 1;
		}
		{
			int r = next_packet(s);

			if (r < 0)
				return -1;
			if (r == 1) {
				s->eof = true;
				s->item = IT_NONE;
				unmap(s);
				return 0;
			}
		}
	}
}

/* A read faulted past the end of a mapped file (sigbus.c): if it is this
 * stream's file that shrank, what was decoded from the zero pages is
 * dropped and the stream ends with an error; else it was another
 * stream's, and this one goes on. */
static __attribute__((noinline, cold)) int shrunk(struct rtr__stream *s, int r)
{
	struct stat st;

	s->faults = rtr__sigbus_faults();
	if (!s->f || s->f->mem || stat(s->f->path, &st) || (uint64_t)st.st_size >= s->f->size)
		return r;
	s->eof = true;
	s->item = IT_NONE;
	s->err->set = 0; /* whatever the zeros made the decoder say, this is why */
	/* the tail of the file's last page reads as zeros without a fault:
	 * events decoded from there before the next page faulted are out */
	rtr__seterr(s->err,
		    "%s: the file shrank from %" PRIu64 " to %" PRIu64
		    " bytes while it was read (truncated by another program?): the events "
		    "past byte %" PRIu64 " are lost%s",
		    s->f->path, s->f->size, (uint64_t)st.st_size, (uint64_t)st.st_size,
		    (uint64_t)st.st_size % page_size()
			? ", and those just before this message may have been read past it as "
			  "zeros"
			: "");
	return -1;
}

int rtr__stream_next(struct rtr__stream *s)
{
	int r = stream_next1(s);

	if (rtr_unlikely(rtr__sigbus_faults() != s->faults))
		return shrunk(s, r);
	return r;
}

int rtr__stream_start(struct rtr__stream *s)
{
	s->faults = rtr__sigbus_faults();
	s->fi = 0;
	open_file(s);
	return 0;
}

void rtr__stream_fini(struct rtr__stream *s)
{
	unmap(s);
	free(s->slots);
	free(s->vals);
	free(s->pvals);
	s->slots = NULL;
	s->vals = s->pvals = NULL;
	s->f = NULL;
}

int rtr__file_probe(struct rtr__file *f, struct rtr__trace_class *tc, struct rtr__err *e, bool full)
{
	struct rtr__stream s;
	int r;

	memset(&s, 0, sizeof(s));
	s.f = f;
	s.tc = tc;
	s.err = e;
	if (f->size == 0)
		return 1;
	r = read_packet(&s, true);
	if (r == 0) {
		f->sc = s.sc;
		f->has_instance_id = s.r_seen & (1u << ROLE_STREAM_INSTANCE_ID);
		f->instance_id = s.r_instance_id;
		f->has_ts_begin = s.r_seen & (1u << ROLE_TS_BEGIN);
		f->ts_begin = s.r_ts_begin;
	}
	/* Without a usable packet index, babeltrace2 reads every packet
	 * header and context before printing anything, so a broken packet
	 * fails the run up front: do the same (headers only, cheap). */
	while (r == 0 && full) {
		if (!s.pkt_bits)
			break;
		s.pkt_off += s.pkt_bits / 8;
		r = read_packet(&s, true);
		if (r == 1) {
			r = 0;
			break;
		}
	}
	unmap(&s);
	free(s.slots);
	free(s.vals);
	return r < 0 ? -1 : 0;
}
