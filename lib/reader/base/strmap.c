/* Hash map from (namespace, name) to a number: the parser's and the plan
 * compiler's name lookups in O(1), so that metadata is read in time
 * linear in its size. See docs/design/reader.md. */
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

static uint64_t hash(uint64_t ns, const char *k)
{
	uint64_t h = 1469598103934665603u ^ (ns * 0x9e3779b97f4a7c15u);

	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211u;
	return h ^ (h >> 29);
}

static struct rtr__strmap_slot *find(const struct rtr__strmap *m, uint64_t h, uint64_t ns,
				     const char *k)
{
	size_t i = (size_t)h & (m->cap - 1);

	while (m->s[i].k) {
		if (m->s[i].h == h && m->s[i].ns == ns && !strcmp(m->s[i].k, k))
			return &m->s[i];
		i = (i + 1) & (m->cap - 1);
	}
	return &m->s[i];
}

uint64_t *rtr__strmap_get(const struct rtr__strmap *m, uint64_t ns, const char *k)
{
	struct rtr__strmap_slot *s;

	if (!m->cap)
		return NULL;
	s = find(m, hash(ns, k), ns, k);
	return s->k ? &s->v : NULL;
}

int rtr__strmap_put(struct rtr__strmap *m, uint64_t ns, const char *k, uint64_t v)
{
	uint64_t h = hash(ns, k);
	struct rtr__strmap_slot *s;

	if (2 * (m->n + 1) > m->cap) {
		size_t nc = m->cap ? 2 * m->cap : 64;
		struct rtr__strmap_slot *ns_ = calloc(nc, sizeof(*ns_));
		struct rtr__strmap old = *m;

		if (!ns_)
			return -1;
		m->s = ns_;
		m->cap = nc;
		for (size_t i = 0; i < old.cap; i++)
			if (old.s[i].k)
				*find(m, old.s[i].h, old.s[i].ns, old.s[i].k) = old.s[i];
		free(old.s);
	}
	s = find(m, h, ns, k);
	if (s->k)
		return 1;
	s->h = h;
	s->ns = ns;
	s->k = k;
	s->v = v;
	m->n++;
	return 0;
}

void rtr__strmap_free(struct rtr__strmap *m)
{
	free(m->s);
	memset(m, 0, sizeof(*m));
}
