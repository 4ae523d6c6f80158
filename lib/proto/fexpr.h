/* ringtrace filter expressions — parsed once when a rule is added
 * (enable-event --filter; by a traced process for a session it arms
 * itself, daemon.md §1.3), compiled to verified bytecode (lib/proto
 * filter.h) for each event the rule enables, against that event's fields.
 * Language: docs/design/daemon.md §4.
 *
 *   expr    := or
 *   or      := and { "||" and }
 *   and     := unary { "&&" unary }
 *   unary   := "!" unary | "(" expr ")" | cmp
 *   cmp     := operand [ ("=="|"!="|"<"|">"|"<="|">=") operand ]
 *   operand := field | "$ctx." name | integer | float | "string"
 *
 * A bare operand is a test (integer != 0). A string literal compared with
 * == or != is a glob when it holds an unescaped '*' ("\*" is a star).
 * Integers: decimal, 0x hex, 0 octal, with an optional '-'; floats: C
 * syntax. Contexts: vpid, vtid, procname, pthread_id.
 */
#ifndef RTR_PROTO_FEXPR_H
#define RTR_PROTO_FEXPR_H

#include <stddef.h>
#include <stdint.h>

#include <ringtrace/event.h>

struct rtr_fexpr;

/* Parses `text` (at most 4095 bytes). Returns 0 or -EINVAL (err says
 * where), -ENOMEM. */
int rtr_fexpr_parse(const char *text, struct rtr_fexpr **out, char *err, size_t errlen);
void rtr_fexpr_free(struct rtr_fexpr *e);

/*
 * Compiles the OR of exprs[0..n) for event ev into out (cap bytes; the
 * bytecode of lib/proto/filter.h). An expression that names a field the
 * event lacks, or compares values of incompatible types, cannot apply to
 * the event and is left out. Returns the size (> 0), 0 when none of them
 * applies (the event is not enabled by these rules; why in err), -E2BIG.
 */
int rtr_fexpr_compile(const struct rtr_fexpr *const *exprs, size_t n,
		      const struct rtr_event_desc *ev, uint8_t *out, size_t cap, char *err,
		      size_t errlen);

#endif /* RTR_PROTO_FEXPR_H */
