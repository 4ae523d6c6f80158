/* Label lookup of enumeration values: an interval index built once per
 * enum type when the metadata is parsed. See docs/design/reader.md. */
#include <stdlib.h>
#include <string.h>

#include "metadata/metadata.h"

/* Order-preserving key: signed containers compare as unsigned once the
 * sign bit is flipped. */
static uint64_t key(const struct rtr__type *t, uint64_t v)
{
	return t->sign ? v ^ ((uint64_t)1 << 63) : v;
}

struct keyed {
	uint64_t k;
	uint32_t i;
};

static int cmp_keyed(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->k != y->k)
		return x->k < y->k ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* Labels are compared by hashing them into an open-addressing table: the
 * first range of each label, so equal labels cost O(1), not O(n). */
static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603u;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211u;
	return h;
}

int rtr__enum_ix_build(struct rtr__type *t, struct rtr__arena *a)
{
	uint32_t n = t->n, leaves = 1, hcap = 2;
	struct rtr__enum_ix *ix = rtr__arena_alloc(a, sizeof(*ix));
	uint32_t *rng, *first, *h;
	uint64_t *lo, *max;
	struct keyed *srt;

	if (!ix || n == 0)
		return ix ? 0 : -1;
	while (leaves < n)
		leaves <<= 1;
	while (hcap < 2 * n)
		hcap <<= 1;
	rng = rtr__arena_alloc(a, n * sizeof(*rng));
	first = rtr__arena_alloc(a, n * sizeof(*first));
	lo = rtr__arena_alloc(a, n * sizeof(*lo));
	max = rtr__arena_alloc(a, 2 * (size_t)leaves * sizeof(*max));
	h = calloc(hcap, sizeof(*h)); /* range index + 1, 0 = empty */
	srt = malloc(n * sizeof(*srt));
	if (!rng || !first || !lo || !max || !h || !srt) {
		free(h);
		free(srt);
		return -1;
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t s = (uint32_t)hash_str(t->r[i].label) & (hcap - 1);

		while (h[s] && strcmp(t->r[h[s] - 1].label, t->r[i].label))
			s = (s + 1) & (hcap - 1);
		if (!h[s])
			h[s] = i + 1;
		first[i] = h[s] - 1;
		srt[i].k = key(t, t->r[i].lo);
		srt[i].i = i;
	}
	free(h);
	qsort(srt, n, sizeof(*srt), cmp_keyed);
	for (uint32_t i = 0; i < n; i++)
		rng[i] = srt[i].i;
	free(srt);
	/* max[] is zeroed by the arena: empty leaves never match, since a
	 * query only walks the prefix of real ranges */
	for (uint32_t i = 0; i < n; i++) {
		lo[i] = key(t, t->r[rng[i]].lo);
		max[leaves + i] = key(t, t->r[rng[i]].hi);
	}
	for (uint32_t i = leaves - 1; i >= 1; i--)
		max[i] = max[2 * i] > max[2 * i + 1] ? max[2 * i] : max[2 * i + 1];
	ix->n = n;
	ix->leaves = leaves;
	ix->lo = lo;
	ix->max = max;
	ix->rng = rng;
	ix->first = first;
	t->ix = ix;
	return 0;
}

struct hits {
	uint32_t *v;
	size_t n, cap;
	uint32_t local[32];
	bool oom;
};

static void hit(struct hits *hs, uint32_t id)
{
	if (hs->n == hs->cap) {
		size_t nc = hs->cap * 2;
		uint32_t *nv = hs->v == hs->local ? malloc(nc * sizeof(*nv))
						  : realloc(hs->v, nc * sizeof(*nv));

		if (!nv) {
			hs->oom = true;
			return;
		}
		if (hs->v == hs->local)
			memcpy(nv, hs->local, sizeof(hs->local));
		hs->v = nv;
		hs->cap = nc;
	}
	hs->v[hs->n++] = id;
}

/* Ranges at sorted positions < end under node (covering [nlo, nlo+width))
 * whose high key is >= k. */
static void walk(const struct rtr__enum_ix *ix, uint32_t node, uint32_t nlo, uint32_t width,
		 uint32_t end, uint64_t k, struct hits *hs)
{
	if (nlo >= end || ix->max[node] < k)
		return;
	if (width == 1) {
		hit(hs, ix->first[ix->rng[nlo]]);
		return;
	}
	walk(ix, 2 * node, nlo, width / 2, end, k, hs);
	walk(ix, 2 * node + 1, nlo + width / 2, width / 2, end, k, hs);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

size_t rtr__enum_ix_labels(const struct rtr__type *t, uint64_t v, const char **labels, size_t max)
{
	const struct rtr__enum_ix *ix = t->ix;
	struct hits hs = {.v = NULL, .n = 0, .cap = 32};
	uint64_t k;
	uint32_t a = 0, b;
	size_t n = 0;

	if (!ix || !ix->n)
		return 0;
	hs.v = hs.local;
	k = key(t, v);
	/* end = ranges whose low key is <= k */
	b = ix->n;
	while (a < b) {
		uint32_t m = a + (b - a) / 2;

		if (ix->lo[m] <= k)
			a = m + 1;
		else
			b = m;
	}
	walk(ix, 1, 0, ix->leaves, a, k, &hs);
	/* distinct labels in first-appearance order */
	if (hs.n > 1)
		qsort(hs.v, hs.n, sizeof(*hs.v), cmp_u32);
	for (size_t i = 0; i < hs.n; i++) {
		if (i && hs.v[i] == hs.v[i - 1])
			continue;
		if (n < max)
			labels[n] = t->r[hs.v[i]].label;
		n++;
	}
	if (hs.v != hs.local)
		free(hs.v);
	return n;
}
