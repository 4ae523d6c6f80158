/* The trace class model: lookups, clock arithmetic, freeing.
 * See docs/design/reader.md ("Type model"). */
#include <stdlib.h>
#include <string.h>

#include "metadata/metadata.h"

/* ------------------------------------------------------------------ */
/* clock conversion (babeltrace2's arithmetic, including its use of a
 * double for non-GHz clocks)                                          */

static uint64_t ns_from_value(uint64_t freq, uint64_t v)
{
	double d;

	if (freq == 1000000000u)
		return v;
	d = (1e9 * (double)v) / (double)freq;
	if (d >= (double)UINT64_MAX)
		return UINT64_MAX;
	return (uint64_t)d;
}

int64_t rtr__clock_ns(const struct rtr__clock *c, uint64_t cycles, int *ovf)
{
	int64_t ns, add;
	uint64_t u;

	*ovf = 0;
	if (__builtin_mul_overflow(c->offset_s, (int64_t)1000000000, &ns))
		goto bad;
	u = ns_from_value(c->freq, c->offset);
	if (u > INT64_MAX || __builtin_add_overflow(ns, (int64_t)u, &ns))
		goto bad;
	u = ns_from_value(c->freq, cycles);
	if (u >= (uint64_t)INT64_MAX)
		goto bad;
	add = (int64_t)u;
	if (__builtin_add_overflow(ns, add, &ns))
		goto bad;
	return ns;
bad:
	*ovf = 1;
	return 0;
}

const struct rtr__env *rtr__env_find(const struct rtr__trace_class *tc, const char *key)
{
	for (size_t i = 0; i < tc->n_env; i++)
		if (!strcmp(tc->env[i].key, key))
			return &tc->env[i];
	return NULL;
}

void rtr__trace_class_free(struct rtr__trace_class *tc)
{
	if (!tc)
		return;
	for (size_t i = 0; i < tc->n_scs; i++)
		free(tc->scs[i]->ecs);
	free(tc->scs);
	free(tc->env);
	free(tc->clocks);
	rtr__arena_free(&tc->arena);
	memset(tc, 0, sizeof(*tc));
}
