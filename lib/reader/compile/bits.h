/* Inline pieces of both runners of compile/ (plan_run.c, prog_run.c): bit
 * and byte loads, sign extension, the clock wrap rule, value records,
 * variant option lookup. See docs/design/reader.md ("Decode plan"). */
#ifndef RTR_READER_COMPILE_BITS_H
#define RTR_READER_COMPILE_BITS_H

#include <string.h>

#include "compile/compile.h"

/* The code of the error recorded in cursor s (failure paths). */
#define FAILED(s) ((s)->err && (s)->err->code ? (s)->err->code : -EINVAL)

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

static inline __attribute__((always_inline)) void clock_update(struct rtr__cursor *s, uint64_t v,
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

static inline __attribute__((always_inline)) int
push_val(struct rtr__cursor *s, const struct rtr__op *op, uint32_t kind, uint64_t u, uint64_t len)
{
	struct rtr_value *v;

	if (rtr_unlikely(s->nvals == s->cap_vals) && rtr__cursor_grow(s))
		return FAILED(s);
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


#endif /* RTR_READER_COMPILE_BITS_H */
