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
	return rtr_value_is_enum(v) ? rtr__enum_ix_labels(v->cls->t, v->v.u, labels, max) : 0;
}
