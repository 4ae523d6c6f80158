/* The public accessors of a decoded value (struct rtr_value): its op gives
 * the field's name and type. See docs/design/reader.md ("Decode plan"). */
#include <string.h>

#include "compile/compile.h"

const char *rtr_value_name(const struct rtr_value *v)
{
	return v->cls ? v->cls->name : NULL;
}

int rtr_value_base(const struct rtr_value *v)
{
	return v->cls && v->cls->t ? v->cls->t->base : 10;
}

unsigned rtr_value_bits(const struct rtr_value *v)
{
	return v->cls && (v->cls->code == OP_INT_BYTE || v->cls->code == OP_INT_BITS) ? v->cls->size
										      : 0;
}

bool rtr_value_is_enum(const struct rtr_value *v)
{
	return v->cls && v->cls->t && v->cls->t->kind == TK_ENUM;
}

size_t rtr_value_enum_labels(const struct rtr_value *v, const char **labels, size_t max)
{
	const struct rtr__type *t;
	size_t n = 0;

	if (!rtr_value_is_enum(v))
		return 0;
	t = v->cls->t;
	/* unique labels in first-appearance order, as babeltrace2 groups
	 * ranges by label */
	for (uint32_t k = 0; k < t->n; k++) {
		bool dup = false, hit = false;

		for (uint32_t j = 0; j < k && !dup; j++)
			if (!strcmp(t->r[j].label, t->r[k].label))
				dup = true;
		if (dup)
			continue;
		for (uint32_t j = k; j < t->n && !hit; j++) {
			if (strcmp(t->r[j].label, t->r[k].label))
				continue;
			if (t->sign)
				hit = (int64_t)v->v.u >= (int64_t)t->r[j].lo &&
				      (int64_t)v->v.u <= (int64_t)t->r[j].hi;
			else
				hit = v->v.u >= t->r[j].lo && v->v.u <= t->r[j].hi;
		}
		if (hit) {
			if (n < max)
				labels[n] = t->r[k].label;
			n++;
		}
	}
	return n;
}

