/* Base of the CTF reader, usable by every stage: limits on untrusted input,
 * the error record, the arena and the growable-array helper.
 * See docs/design/reader.md ("Layout", "Errors"). */
#ifndef RTR_READER_BASE_H
#define RTR_READER_BASE_H

#include <errno.h> /* the reader returns negative errnos */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrace/common.h"
#include "ringtrace/reader.h" /* struct rtr_error */

/* ---- limits (untrusted input) ---- */
#define RTR__MAX_DEPTH	  64	       /* type nesting in metadata and plans */
#define RTR__MAX_METADATA (256u << 20) /* metadata text bytes */
#define RTR__MAX_ARENA	  ((size_t)1 << 30) /* bytes of one arena, any metadata size */
#define RTR__MAX_PLAN_OPS (1u << 22)	    /* ops over all plans of a trace */
#define RTR__MAX_STREAMS  100000
/* structs of up to this many members are searched by name directly, larger
 * ones through a hash map (most structs are small; the map would be most
 * of the parser's memory) */
#define RTR__SMALL_STRUCT 16
/* The memory a trace's model and plans may take: RTR__MODEL_FACTOR times
 * its metadata, at least RTR__MODEL_MIN, at most RTR__MAX_ARENA. */
#define RTR__MODEL_FACTOR 16
#define RTR__MODEL_MIN	  (64u << 20)
size_t rtr__model_limit(size_t metadata_len);

/* ---- errors (error.c) ----
 * Every fallible function of the reader returns 0 or a negative errno and,
 * where a message helps, records it in a struct rtr_error (reader.h): the
 * first error of an operation wins. Iterators return enum rtr_next. */
/* Records code (a negative errno) and the message in e unless e (may be
 * NULL) already holds an error; returns code. */
int rtr__error(struct rtr_error *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- arena (arena.c): zeroed allocations freed all at once ---- */
struct rtr__arena_chunk;
struct rtr__arena {
	struct rtr__arena_chunk *head;
	size_t used, cap, total;
	size_t limit; /* bytes (0: RTR__MAX_ARENA) */
	bool over;    /* an allocation was refused for the limit */
};
/* n zeroed bytes, 16-byte aligned; NULL when out of memory or past the
 * arena's limit in total (then a->over is set). */
void *rtr__arena_alloc(struct rtr__arena *a, size_t n);
char *rtr__arena_strndup(struct rtr__arena *a, const char *s, size_t n);
void rtr__arena_free(struct rtr__arena *a);

/* ---- growable arrays (arena.c) ---- */
/* Makes *p (of *cap elements of elem bytes) hold at least need elements,
 * doubling its capacity. Returns 0 or -ENOMEM (*p unchanged). */
int rtr__grow(void **p, size_t *cap, size_t need, size_t elem);

/* ---- name maps (strmap.c) ---- */
/* (namespace, NUL-terminated name) -> number; names are not copied and
 * must outlive the map. */
struct rtr__strmap_slot {
	uint64_t h, ns;
	const char *k;
	uint64_t v;
};
struct rtr__strmap {
	struct rtr__strmap_slot *s;
	size_t n, cap;
};
/* The value of (ns, k), or NULL. */
uint64_t *rtr__strmap_get(const struct rtr__strmap *m, uint64_t ns, const char *k);
/* Adds (ns, k) -> v. Returns 0, 1 if (ns, k) was there (left as it was),
 * -1 out of memory. */
int rtr__strmap_put(struct rtr__strmap *m, uint64_t ns, const char *k, uint64_t v);
void rtr__strmap_free(struct rtr__strmap *m);

#endif /* RTR_READER_BASE_H */
