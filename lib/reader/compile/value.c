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

bool rtr_msg_context_int(const struct rtr_msg *m, const char *a, const char *b, int64_t *out)
{
	for (size_t i = 0; i < m->n_values; i++) {
		const struct rtr_value *v = &m->values[i];
		const char *n;

		if (v->scope == RTR_SCOPE_EVENT_PAYLOAD)
			break;
		if (v->kind != RTR_VAL_UINT && v->kind != RTR_VAL_SINT)
			continue;
		n = rtr_value_name(v);
		if (n && (!strcmp(n, a) || (b && !strcmp(n, b)))) {
			*out = v->v.i;
			return true;
		}
	}
	return false;
}

const struct rtr_value *rtr_msg_context_str(const struct rtr_msg *m, const char *a)
{
	for (size_t i = 0; i < m->n_values; i++) {
		const struct rtr_value *v = &m->values[i];
		const char *n;

		if (v->scope == RTR_SCOPE_EVENT_PAYLOAD)
			break;
		if (v->kind != RTR_VAL_STRING)
			continue;
		n = rtr_value_name(v);
		if (n && !strcmp(n, a))
			return v;
	}
	return NULL;
}
