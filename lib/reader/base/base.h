/* Base of the CTF reader, usable by every stage: limits on untrusted input,
 * the error record, the arena and the growable-array helper.
 * See docs/design/reader.md ("Layout", "Errors"). */
#ifndef RTR_READER_BASE_H
#define RTR_READER_BASE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrace/common.h"

/* ---- limits (untrusted input) ---- */
#define RTR__MAX_DEPTH	  64	       /* type nesting in metadata and plans */
#define RTR__MAX_METADATA (256u << 20) /* metadata text bytes */
#define RTR__MAX_ARENA	  (512u << 20) /* bytes of one arena */
#define RTR__MAX_PLAN_OPS (1u << 22)   /* ops over all plans of a trace */
#define RTR__MAX_STREAMS  100000

/* ---- errors (error.c) ---- */
struct rtr__err {
	char msg[1024];
	int set;
};
void rtr__seterr(struct rtr__err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- arena (arena.c): zeroed allocations freed all at once ---- */
struct rtr__arena_chunk;
struct rtr__arena {
	struct rtr__arena_chunk *head;
	size_t used, cap, total;
};
/* n zeroed bytes, 16-byte aligned; NULL when out of memory or past
 * RTR__MAX_ARENA bytes in total. */
void *rtr__arena_alloc(struct rtr__arena *a, size_t n);
char *rtr__arena_strndup(struct rtr__arena *a, const char *s, size_t n);
void rtr__arena_free(struct rtr__arena *a);

/* ---- growable arrays (arena.c) ---- */
/* Makes *p (of *cap elements of elem bytes) hold at least need elements,
 * doubling its capacity. Returns 0 or -ENOMEM (*p unchanged). */
int rtr__grow(void **p, size_t *cap, size_t need, size_t elem);

#endif /* RTR_READER_BASE_H */
