/* ringtrace — the description of instrumented events, shared by the
 * tracepoint macros (which emit it), the in-process runtime (which registers
 * it and binds events to sessions), the control protocol (which carries it
 * to the session host) and the CTF writer (which turns it into metadata).
 * Design: docs/design/tracepoints.md.
 *
 * Everything here except struct rtr_event_state and the binding sets is
 * constant data emitted by the compiler into the instrumented module.
 */
#ifndef RINGTRACE_EVENT_H
#define RINGTRACE_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include <ringtrace/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of the structures below as compiled into an instrumented module;
 * the runtime refuses providers with another major. */
#define RTR_EVENT_ABI_MAJOR 1
/* 1: probes honour struct rtr_binding_extra (filters, contexts; ctf.h).
 * 2: probes evaluate its inline filter form (RTR_CTF_X_INLINE_FILTER). */
#define RTR_EVENT_ABI_MINOR 2

/* LTTng's log levels (same numbers, so filters and viewers agree). */
enum rtr_loglevel {
	RTR_LOGLEVEL_EMERG = 0,
	RTR_LOGLEVEL_ALERT = 1,
	RTR_LOGLEVEL_CRIT = 2,
	RTR_LOGLEVEL_ERR = 3,
	RTR_LOGLEVEL_WARNING = 4,
	RTR_LOGLEVEL_NOTICE = 5,
	RTR_LOGLEVEL_INFO = 6,
	RTR_LOGLEVEL_DEBUG_SYSTEM = 7,
	RTR_LOGLEVEL_DEBUG_PROGRAM = 8,
	RTR_LOGLEVEL_DEBUG_PROCESS = 9,
	RTR_LOGLEVEL_DEBUG_MODULE = 10,
	RTR_LOGLEVEL_DEBUG_UNIT = 11,
	RTR_LOGLEVEL_DEBUG_FUNCTION = 12,
	RTR_LOGLEVEL_DEBUG_LINE = 13,
	RTR_LOGLEVEL_DEBUG = 14,
	RTR_LOGLEVEL_NONE = -1, /* the event declares no level */
};

enum rtr_field_kind {
	RTR_FIELD_INTEGER = 1,  /* .integer */
	RTR_FIELD_ENUM = 2,     /* .integer is the container, .enumeration the labels */
	RTR_FIELD_FLOAT = 3,    /* .float_bits 32 or 64, IEEE 754 */
	RTR_FIELD_STRING = 4,   /* NUL-terminated UTF-8 */
	RTR_FIELD_ARRAY = 5,    /* .array_length elements of .integer (text: shown as a string) */
	RTR_FIELD_SEQUENCE = 6, /* a .length_type integer, then that many .integer elements */
};

enum rtr_int_base {
	RTR_BASE_DEC = 10,
	RTR_BASE_HEX = 16,
	RTR_BASE_OCT = 8,
	RTR_BASE_BIN = 2,
};

enum rtr_byte_order {
	RTR_BYTE_ORDER_NATIVE = 0, /* the trace's byte order (the writer's) */
	RTR_BYTE_ORDER_BE = 1,     /* network byte order */
};

struct rtr_integer_type {
	uint8_t size_bits;  /* 8, 16, 32 or 64 */
	uint8_t is_signed;  /* 0 or 1 */
	uint8_t base;       /* enum rtr_int_base */
	uint8_t byte_order; /* enum rtr_byte_order */
	uint8_t text;       /* 8-bit elements shown as a UTF-8 string (arrays, sequences) */
	uint8_t pad[3];
};

struct rtr_enum_entry {
	const char *label;
	/* Inclusive range [start, end]; a single value has start == end.
	 * Signed containers store two's-complement values in these. */
	uint64_t start;
	uint64_t end;
};

struct rtr_enum_desc {
	const char *provider;
	const char *name;
	const struct rtr_enum_entry *entries;
	uint32_t nr_entries;
};

struct rtr_field_desc {
	const char *name;
	uint8_t kind;       /* enum rtr_field_kind */
	uint8_t float_bits; /* RTR_FIELD_FLOAT: 32 or 64 */
	uint8_t pad[2];
	uint32_t array_length;              /* RTR_FIELD_ARRAY */
	struct rtr_integer_type integer;    /* INTEGER, ENUM container, ARRAY/SEQUENCE element */
	struct rtr_integer_type length_type; /* SEQUENCE: the length field written before it */
	const struct rtr_enum_desc *enumeration; /* RTR_FIELD_ENUM */
};

struct rtr_event_state;

struct rtr_event_desc {
	const char *provider;
	const char *name;
	const struct rtr_field_desc *fields;
	uint32_t nr_fields;
	int32_t loglevel;  /* enum rtr_loglevel */
	struct rtr_event_state *state;
	const char *model_emf_uri; /* NULL or an URI */
};

/* One place an enabled event writes to: a channel of one session, with the
 * event's id in that channel's stream class. Immutable once published. */
struct rtr_event_binding {
	struct rtr_ring_chan *chan;
	uint32_t event_id;
	uint32_t client;    /* which ring client the channel uses (lib/ctf) */
	/* NULL, or (event ABI minor >= 1) a struct rtr_binding_extra: the
	 * binding's filter and the contexts its records carry (ctf.h). */
	void *client_priv;
};

/* The value of one field as a probe hands it to a filter, in field order:
 * integers and enums widened to 64 bits (s if the type is signed, else
 * u), floats as double, strings with their length; arrays and sequences
 * are not passed (0). */
union rtr_probe_arg {
	int64_t s;
	uint64_t u;
	double d;
	struct {
		const char *p;
		size_t len;
	} str;
};

/* A published set is never empty (nr >= 1: the runtime publishes NULL
 * instead), so probes may read b[0] before looking at nr. */
struct rtr_binding_set {
	uint32_t nr;
#ifndef __cplusplus /* only the C runtime and probes read the bindings */
	struct rtr_event_binding b[];
#endif
};

/* Mutable per-event state, in the instrumented module's data. `enabled` is
 * what rtr_tracepoint() tests; the runtime sets it non-zero exactly when
 * `bindings` holds at least one binding. Binding sets are replaced, never
 * modified in place, and never freed while the process may still run a
 * probe that loaded them. */
struct rtr_event_state {
	int enabled;
	uint32_t reg_index; /* runtime's index of this event (for the host) */
	RTR_ATOMIC(struct rtr_binding_set *) bindings;
};

struct rtr_provider {
	uint32_t abi_major;
	uint32_t abi_minor;
	const char *name;
	const struct rtr_event_desc *const *events;
	uint32_t nr_events;
	/* Runtime bookkeeping; zero-initialised by the provider. */
	struct rtr_provider *next;
	int registered;
};

/* Registration, called from the constructor/destructor that
 * RTR_DEFINE_PROBES emits (libringtrace.so). Safe to call before the
 * runtime is initialised and from dlopen/dlclose. Registering makes the
 * events known to every session host the process talks to; unregistering
 * disables them and drops every reference to the provider's memory before
 * returning. */
RTR_EXPORT void rtr_provider_register(struct rtr_provider *p);
RTR_EXPORT void rtr_provider_unregister(struct rtr_provider *p);

#ifdef __cplusplus
}
#endif

#endif /* RINGTRACE_EVENT_H */
