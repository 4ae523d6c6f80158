/* Arena (one free for a whole trace class or its compiled code, with a
 * size limit) and the growable-array helper. See docs/design/reader.md
 * ("Layout"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"

struct rtr__arena_chunk {
	struct rtr__arena_chunk *next;
	size_t size;
	max_align_t data[];
};

size_t rtr__model_limit(size_t metadata_len)
{
	size_t l = metadata_len > RTR__MAX_ARENA / RTR__MODEL_FACTOR
		       ? RTR__MAX_ARENA
		       : metadata_len * RTR__MODEL_FACTOR;

	return l < RTR__MODEL_MIN ? RTR__MODEL_MIN : l;
}

void *rtr__arena_alloc(struct rtr__arena *a, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (!a->head || a->used + n > a->cap) {
		size_t sz = n > 65536 ? n : 65536;
		struct rtr__arena_chunk *c;

		if (a->total + sz > (a->limit ? a->limit : RTR__MAX_ARENA)) {
			a->over = true;
			return NULL;
		}
		c = malloc(sizeof(*c) + sz);
		if (!c)
			return NULL;
		c->next = a->head;
		c->size = sz;
		a->head = c;
		a->used = 0;
		a->cap = sz;
		a->total += sz;
	}
	p = (char *)a->head->data + a->used;
	a->used += n;
	memset(p, 0, n);
	return p;
}

char *rtr__arena_strndup(struct rtr__arena *a, const char *s, size_t n)
{
	char *p = rtr__arena_alloc(a, n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

void rtr__arena_free(struct rtr__arena *a)
{
	struct rtr__arena_chunk *c = a->head, *n;

	while (c) {
		n = c->next;
		free(c);
		c = n;
	}
	memset(a, 0, sizeof(*a));
}

int rtr__grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t nc;
	void *np;

	if (need <= *cap)
		return 0;
	nc = *cap ? *cap : 8;
	while (nc < need) {
		if (nc > SIZE_MAX / 2 / elem)
			return -ENOMEM;
		nc *= 2;
	}
	np = realloc(*p, nc * elem);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = nc;
	return 0;
}
