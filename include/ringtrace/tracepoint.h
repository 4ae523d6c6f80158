/* ringtrace — the instrumentation API: declare events in a provider header,
 * define their probes in one .c file, call them anywhere.
 * Design, generated code and costs: docs/design/tracepoints.md.
 *
 *   // myapp_tp.h — the provider header (may have its own include guard)
 *   #include <ringtrace/tracepoint.h>
 *   RTR_ENUM(myapp, color, RTR_ENUM_VALUES(rtr_enum_value("RED", 0),
 *                                          rtr_enum_range("OTHER", 1, 9)))
 *   RTR_EVENT(myapp, tick,
 *       RTR_ARGS(uint64_t, value, const char *, who),
 *       RTR_FIELDS(
 *           rtr_integer(uint64_t, value, value),   <- fields separated by commas
 *           rtr_string(who, who)))
 *   RTR_LOGLEVEL(myapp, tick, RTR_LOGLEVEL_WARNING)
 *
 *   // exactly one .c file of the executable or shared library:
 *   #define RTR_DEFINE_PROBES
 *   #include "myapp_tp.h"
 *
 *   // anywhere in that same executable or shared library:
 *   rtr_tracepoint(myapp, tick, v, "me");
 *
 * Fields (`field` is the name in the trace, `expr` may use the arguments):
 *   rtr_integer(type, field, expr)         8/16/32/64-bit, signed or not, decimal
 *   rtr_integer_hex / rtr_integer_oct      same, shown in hex / octal
 *   rtr_integer_network(type, field, expr) written big-endian (and _hex)
 *   rtr_enum(provider, enum, type, field, expr)   labels from RTR_ENUM
 *   rtr_float(float|double, field, expr)
 *   rtr_string(field, expr)                NUL-terminated; NULL writes "(null)"
 *   rtr_array(type, field, ptr, N)         N (constant) integers (and _hex)
 *   rtr_array_text(char, field, ptr, N)    shown as a string
 *   rtr_sequence(type, field, ptr, ltype, len)   ltype (unsigned) length, then
 *                                          len integers (and _hex, _text)
 *   rtr_blob(field, ptr, len)              bytes, shown in hex (uint32_t length)
 * Bounds: RTR_TP_MAX_FIELDS fields and RTR_TP_MAX_ARGS arguments per event.
 * Provider, event and field names must be C identifiers that are not macros.
 *
 * Rules:
 *   - RTR_DEFINE_PROBES must be defined before the provider header is first
 *     included in that .c file; it applies to every provider header that
 *     file includes afterwards (#undef it to only declare the next ones).
 *   - All events of one provider are defined in one .c file (two files
 *     defining the same provider fail to link: rtr__provider_<p> twice).
 *   - The probes and event states have hidden visibility: rtr_tracepoint()
 *     must be called from the executable or shared library that defines the
 *     probes. Another module declaring the same provider defines its own.
 *   - RTR_ENUM comes before the events that use it; RTR_LOGLEVEL before or
 *     after its event.
 *   - Link the program with libringtrace (pkg-config ringtrace): the
 *     constructor of each provider registers it there; it stays dormant (one
 *     predicted-not-taken branch per rtr_tracepoint) until a session enables
 *     its events.
 */
#ifndef RINGTRACE_TRACEPOINT_H
#define RINGTRACE_TRACEPOINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <ringtrace/common.h>
#include <ringtrace/event.h>
#ifndef __cplusplus
#include <ringtrace/ctf.h> /* what the probes use; they are C only */
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define RTR_TP_MAX_FIELDS 32
#define RTR_TP_MAX_ARGS	  10
/* A string, array, sequence or blob never counts more than this many bytes
 * (longer ones are cut here); a record larger than a sub-buffer is dropped
 * and counted as lost by the ring buffer. */
#define RTR_TP_MAX_VAR_BYTES (1u << 30)

#define RTR__TP_HIDDEN __attribute__((visibility("hidden")))
/* The probes and event states are C symbols, also when a C++ file calls
 * them (RTR_EVENT expands outside this header's extern "C" block). */
#ifdef __cplusplus
#define RTR__EXTERN_C   extern "C"
#define RTR__EXTERN_VAR extern "C" /* a declaration, as `extern` in C */
#else
#define RTR__EXTERN_C
#define RTR__EXTERN_VAR extern
#endif

/* The macro tables below are aligned by hand. */
/* clang-format off */

/* ------------------------------------------------------------------------
 * Call sites
 * ------------------------------------------------------------------------ */

/* Disabled: one load and one predicted-not-taken branch; the arguments are
 * evaluated only when the event is enabled. */
#define rtr_tracepoint(...) RTR__CAT(RTR__TP_ARGS, RTR__NOARGS(__VA_ARGS__))(__VA_ARGS__)
/* rtr_tracepoint(p, e) of an event without arguments: dispatched on the
 * argument count, since ISO C before C2x and C++ before C++20 want at
 * least one argument for a macro's "..." */
#define RTR__TP_ARGS0(p, e, ...) RTR__TRACEPOINT(p, e, (__VA_ARGS__))
#define RTR__TP_ARGS1(p, e)      RTR__TRACEPOINT(p, e, ())
#define RTR__NOARGS(...)         RTR__SECOND(RTR__CAT(RTR__IS2_, RTR__NARGS(__VA_ARGS__)), 0, ~)
#define RTR__IS2_2               ~, 1
#define RTR__SECOND(...)         RTR__SECOND_(__VA_ARGS__)
#define RTR__SECOND_(a, b, ...)  b
#define RTR__TRACEPOINT(p, e, args)                                                      \
	do {                                                                             \
		if (rtr_unlikely(__atomic_load_n(&RTR__STATE(p, e).enabled,                 \
						 __ATOMIC_RELAXED)))                      \
			RTR__PROBE(p, e) args;                                           \
	} while (0)

/* For code that prepares arguments only when the event is enabled:
 *   if (rtr_tracepoint_enabled(p, e)) { ...; rtr_do_tracepoint(p, e, ...); } */
#define rtr_tracepoint_enabled(provider, event) RTR__TRACEPOINT_ENABLED(provider, event)
#define RTR__TRACEPOINT_ENABLED(p, e)                                                    \
	rtr_unlikely(__atomic_load_n(&RTR__STATE(p, e).enabled, __ATOMIC_RELAXED))
#define rtr_do_tracepoint(...) RTR__CAT(RTR__DO_ARGS, RTR__NOARGS(__VA_ARGS__))(__VA_ARGS__)
#define RTR__DO_ARGS0(p, e, ...) RTR__DO_TRACEPOINT(p, e, (__VA_ARGS__))
#define RTR__DO_ARGS1(p, e)      RTR__DO_TRACEPOINT(p, e, ())
#define RTR__DO_TRACEPOINT(p, e, args) RTR__PROBE(p, e) args

/* The state and probe of event p:e. Their names read as the fix when a
 * program links without them: "undefined reference to
 * rtr__probe_myapp__tick__define_RTR_DEFINE_PROBES_in_one_C_file". */
#define RTR__STATE(p, e) rtr__state_##p##__##e##__define_RTR_DEFINE_PROBES_in_one_C_file
#define RTR__PROBE(p, e) rtr__probe_##p##__##e##__define_RTR_DEFINE_PROBES_in_one_C_file

/* ------------------------------------------------------------------------
 * Declarations
 * ------------------------------------------------------------------------ */

#define RTR_ARGS(...)   (__VA_ARGS__)
#define RTR_FIELDS(...) (__VA_ARGS__)

/* An event and its log level (enum rtr_loglevel) in one go. */
#define RTR_EVENT_LOGLEVEL(provider, event, level, args, fields)                         \
	RTR_EVENT(provider, event, args, fields)                                         \
	RTR_LOGLEVEL(provider, event, level)

#define rtr_integer(type, field, expr)                                                   \
	(rtr__int, type, field, expr, RTR_BASE_DEC, RTR_BYTE_ORDER_NATIVE)
#define rtr_integer_hex(type, field, expr)                                               \
	(rtr__int, type, field, expr, RTR_BASE_HEX, RTR_BYTE_ORDER_NATIVE)
#define rtr_integer_oct(type, field, expr)                                               \
	(rtr__int, type, field, expr, RTR_BASE_OCT, RTR_BYTE_ORDER_NATIVE)
#define rtr_integer_network(type, field, expr)                                           \
	(rtr__int, type, field, expr, RTR_BASE_DEC, RTR_BYTE_ORDER_BE)
#define rtr_integer_network_hex(type, field, expr)                                       \
	(rtr__int, type, field, expr, RTR_BASE_HEX, RTR_BYTE_ORDER_BE)
#define rtr_enum(provider, enum_name, type, field, expr)                                 \
	(rtr__enum, provider, enum_name, type, field, expr)
#define rtr_float(type, field, expr) (rtr__float, type, field, expr)
#define rtr_string(field, expr)      (rtr__string, field, expr)
#define rtr_array(type, field, ptr, n) (rtr__array, type, field, ptr, n, RTR_BASE_DEC, 0)
#define rtr_array_hex(type, field, ptr, n) (rtr__array, type, field, ptr, n, RTR_BASE_HEX, 0)
#define rtr_array_text(type, field, ptr, n) (rtr__array, type, field, ptr, n, RTR_BASE_DEC, 1)
#define rtr_sequence(type, field, ptr, length_type, length)                              \
	(rtr__seq, type, field, ptr, length_type, length, RTR_BASE_DEC, 0)
#define rtr_sequence_hex(type, field, ptr, length_type, length)                          \
	(rtr__seq, type, field, ptr, length_type, length, RTR_BASE_HEX, 0)
#define rtr_sequence_text(type, field, ptr, length_type, length)                         \
	(rtr__seq, type, field, ptr, length_type, length, RTR_BASE_DEC, 1)
#define rtr_blob(field, ptr, length)                                                     \
	(rtr__seq, uint8_t, field, ptr, uint32_t, length, RTR_BASE_HEX, 0)

/* Enumerations: RTR_ENUM(provider, name, RTR_ENUM_VALUES(entries...)). */
#define RTR_ENUM_VALUES(...)               __VA_ARGS__
#define rtr_enum_value(label, value)       {(label), (uint64_t)(value), (uint64_t)(value)}
#define rtr_enum_range(label, first, last) {(label), (uint64_t)(first), (uint64_t)(last)}

/* ------------------------------------------------------------------------
 * Preprocessor toolkit (internal)
 * ------------------------------------------------------------------------ */

#define RTR__CAT(a, b)   RTR__CAT_(a, b)
#define RTR__CAT_(a, b)  a##b
#define RTR__UNWRAP(...) __VA_ARGS__

/* Number of arguments, 0..64 (empty counts 0). Empty detection without
 * compiler extensions: the standard "is empty" construction (an argument
 * list is empty iff it has no comma, does not produce one when followed by
 * "()", and RTR__TRIGGER_PAREN followed by it and "()" does). */
#define RTR__ARG65(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, _17, \
		   _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, _31, _32,   \
		   _33, _34, _35, _36, _37, _38, _39, _40, _41, _42, _43, _44, _45, _46, _47,   \
		   _48, _49, _50, _51, _52, _53, _54, _55, _56, _57, _58, _59, _60, _61, _62,   \
		   _63, _64, N, ...)                                                            \
	N
#define RTR__NARGS_RAW(...)                                                              \
	RTR__ARG65(__VA_ARGS__, 64, 63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, \
		   48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30,  \
		   29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11,  \
		   10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define RTR__HAS_COMMA(...)                                                              \
	RTR__ARG65(__VA_ARGS__, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, \
		   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  \
		   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0)
#define RTR__TRIGGER_PAREN(...) ,
#define RTR__PASTE5(a, b, c, d, e) a##b##c##d##e
#define RTR__ISEMPTY_CASE_0001 ,
#define RTR__ISEMPTY_(a, b, c, d) RTR__HAS_COMMA(RTR__PASTE5(RTR__ISEMPTY_CASE_, a, b, c, d))
#define RTR__ISEMPTY(...)                                                                \
	RTR__ISEMPTY_(RTR__HAS_COMMA(__VA_ARGS__), RTR__HAS_COMMA(RTR__TRIGGER_PAREN __VA_ARGS__), \
		      RTR__HAS_COMMA(__VA_ARGS__()),                                     \
		      RTR__HAS_COMMA(RTR__TRIGGER_PAREN __VA_ARGS__()))
#define RTR__NARGS(...)      RTR__CAT(RTR__NARGS_E, RTR__ISEMPTY(__VA_ARGS__))(__VA_ARGS__)
#define RTR__NARGS_E1(...)   0
#define RTR__NARGS_E0(...)   RTR__NARGS_RAW(__VA_ARGS__)

/* RTR__FE(op, a, b, ...) -> op(a) op(b) ... for up to 32 items. */
#define RTR__FE(op, ...) RTR__CAT(RTR__FE_, RTR__NARGS(__VA_ARGS__))(op, __VA_ARGS__)
#define RTR__FE_0(op, ...)
#define RTR__FE_1(op, a)       op(a)
#define RTR__FE_2(op, a, ...)  op(a) RTR__FE_1(op, __VA_ARGS__)
#define RTR__FE_3(op, a, ...)  op(a) RTR__FE_2(op, __VA_ARGS__)
#define RTR__FE_4(op, a, ...)  op(a) RTR__FE_3(op, __VA_ARGS__)
#define RTR__FE_5(op, a, ...)  op(a) RTR__FE_4(op, __VA_ARGS__)
#define RTR__FE_6(op, a, ...)  op(a) RTR__FE_5(op, __VA_ARGS__)
#define RTR__FE_7(op, a, ...)  op(a) RTR__FE_6(op, __VA_ARGS__)
#define RTR__FE_8(op, a, ...)  op(a) RTR__FE_7(op, __VA_ARGS__)
#define RTR__FE_9(op, a, ...)  op(a) RTR__FE_8(op, __VA_ARGS__)
#define RTR__FE_10(op, a, ...) op(a) RTR__FE_9(op, __VA_ARGS__)
#define RTR__FE_11(op, a, ...) op(a) RTR__FE_10(op, __VA_ARGS__)
#define RTR__FE_12(op, a, ...) op(a) RTR__FE_11(op, __VA_ARGS__)
#define RTR__FE_13(op, a, ...) op(a) RTR__FE_12(op, __VA_ARGS__)
#define RTR__FE_14(op, a, ...) op(a) RTR__FE_13(op, __VA_ARGS__)
#define RTR__FE_15(op, a, ...) op(a) RTR__FE_14(op, __VA_ARGS__)
#define RTR__FE_16(op, a, ...) op(a) RTR__FE_15(op, __VA_ARGS__)
#define RTR__FE_17(op, a, ...) op(a) RTR__FE_16(op, __VA_ARGS__)
#define RTR__FE_18(op, a, ...) op(a) RTR__FE_17(op, __VA_ARGS__)
#define RTR__FE_19(op, a, ...) op(a) RTR__FE_18(op, __VA_ARGS__)
#define RTR__FE_20(op, a, ...) op(a) RTR__FE_19(op, __VA_ARGS__)
#define RTR__FE_21(op, a, ...) op(a) RTR__FE_20(op, __VA_ARGS__)
#define RTR__FE_22(op, a, ...) op(a) RTR__FE_21(op, __VA_ARGS__)
#define RTR__FE_23(op, a, ...) op(a) RTR__FE_22(op, __VA_ARGS__)
#define RTR__FE_24(op, a, ...) op(a) RTR__FE_23(op, __VA_ARGS__)
#define RTR__FE_25(op, a, ...) op(a) RTR__FE_24(op, __VA_ARGS__)
#define RTR__FE_26(op, a, ...) op(a) RTR__FE_25(op, __VA_ARGS__)
#define RTR__FE_27(op, a, ...) op(a) RTR__FE_26(op, __VA_ARGS__)
#define RTR__FE_28(op, a, ...) op(a) RTR__FE_27(op, __VA_ARGS__)
#define RTR__FE_29(op, a, ...) op(a) RTR__FE_28(op, __VA_ARGS__)
#define RTR__FE_30(op, a, ...) op(a) RTR__FE_29(op, __VA_ARGS__)
#define RTR__FE_31(op, a, ...) op(a) RTR__FE_30(op, __VA_ARGS__)
#define RTR__FE_32(op, a, ...) op(a) RTR__FE_31(op, __VA_ARGS__)

/* Parameter list and "(void)name;" list from RTR_ARGS pairs (0..10 pairs). */
#define RTR__PARAMS(...) RTR__CAT(RTR__PARAMS_, RTR__NARGS(__VA_ARGS__))(__VA_ARGS__)
#define RTR__PARAMS_0(...) void
#define RTR__PARAMS_2(t, n) t n
#define RTR__PARAMS_4(t, n, ...)  t n, RTR__PARAMS_2(__VA_ARGS__)
#define RTR__PARAMS_6(t, n, ...)  t n, RTR__PARAMS_4(__VA_ARGS__)
#define RTR__PARAMS_8(t, n, ...)  t n, RTR__PARAMS_6(__VA_ARGS__)
#define RTR__PARAMS_10(t, n, ...) t n, RTR__PARAMS_8(__VA_ARGS__)
#define RTR__PARAMS_12(t, n, ...) t n, RTR__PARAMS_10(__VA_ARGS__)
#define RTR__PARAMS_14(t, n, ...) t n, RTR__PARAMS_12(__VA_ARGS__)
#define RTR__PARAMS_16(t, n, ...) t n, RTR__PARAMS_14(__VA_ARGS__)
#define RTR__PARAMS_18(t, n, ...) t n, RTR__PARAMS_16(__VA_ARGS__)
#define RTR__PARAMS_20(t, n, ...) t n, RTR__PARAMS_18(__VA_ARGS__)
#define RTR__VOIDS(...) RTR__CAT(RTR__VOIDS_, RTR__NARGS(__VA_ARGS__))(__VA_ARGS__)
#define RTR__VOIDS_0(...)
#define RTR__VOIDS_2(t, n) (void)n;
#define RTR__VOIDS_4(t, n, ...)  (void)n; RTR__VOIDS_2(__VA_ARGS__)
#define RTR__VOIDS_6(t, n, ...)  (void)n; RTR__VOIDS_4(__VA_ARGS__)
#define RTR__VOIDS_8(t, n, ...)  (void)n; RTR__VOIDS_6(__VA_ARGS__)
#define RTR__VOIDS_10(t, n, ...) (void)n; RTR__VOIDS_8(__VA_ARGS__)
#define RTR__VOIDS_12(t, n, ...) (void)n; RTR__VOIDS_10(__VA_ARGS__)
#define RTR__VOIDS_14(t, n, ...) (void)n; RTR__VOIDS_12(__VA_ARGS__)
#define RTR__VOIDS_16(t, n, ...) (void)n; RTR__VOIDS_14(__VA_ARGS__)
#define RTR__VOIDS_18(t, n, ...) (void)n; RTR__VOIDS_16(__VA_ARGS__)
#define RTR__VOIDS_20(t, n, ...) (void)n; RTR__VOIDS_18(__VA_ARGS__)

/* Applies operation `op` (a macro-name prefix) to one field tuple
 * (kind, args...): op##kind(args...). */
#define RTR__OP(op, f)        RTR__OP_(op, RTR__UNWRAP f)
#define RTR__OP_(op, ...)     RTR__OP__(op, __VA_ARGS__)
#define RTR__OP__(op, k, ...) op##k(__VA_ARGS__)

/* A field is one parenthesised tuple made by an rtr_*() field macro:
 * "RTR__EAT f" leaves nothing. Fields written without commas between them
 * (as in LTTng's TP_FIELDS), or something that is not a field macro, leave
 * something: the check then fails with a message that says so, and the
 * other expansions of that field are left out so that it is the first
 * error. */
#define RTR__EAT(...)
#define RTR__FIELD_OK(f) RTR__ISEMPTY(RTR__EAT f)
#define RTR__OPF(op, f)  RTR__CAT(RTR__OPF_, RTR__FIELD_OK(f))(op, f)
#define RTR__OPF_1(op, f) RTR__OP(op, f)
#define RTR__OPF_0(op, f)

#define RTR__F_CHECK(f) RTR__CAT(RTR__F_CHECK_, RTR__FIELD_OK(f))(f)
#define RTR__F_CHECK_1(f) RTR__OP(RTR__CHECK_, f)
#define RTR__F_CHECK_0(f)                                                                \
	RTR_STATIC_ASSERT(0, "RTR_FIELDS: separate the fields with commas, "              \
			   "RTR_FIELDS(rtr_integer(...), rtr_string(...)) (LTTng's TP_FIELDS "     \
			   "has none), and use only rtr_* field macros: " #f);
#define RTR__F_DESC(f)  RTR__OPF(RTR__DESC_, f)
#define RTR__F_PREP(f)  RTR__OPF(RTR__PREP_, f)
#define RTR__F_SIZE(f)  RTR__OPF(RTR__SIZE_, f)
#define RTR__F_WRITE(f) RTR__OPF(RTR__WRITE_, f)
#define RTR__F_ARG(f)   RTR__OPF(RTR__ARG_, f)
#define RTR__F_ONE(f)   +1

/* Signedness of an integer type, as a constant expression. */
#define RTR__IS_SIGNED(type) ((type)((type)0 - 1) < (type)1)
#define RTR__INTTYPE(type, base_, bo, text_)                                             \
	{                                                                                \
		.size_bits = (uint8_t)(sizeof(type) * 8), .is_signed = RTR__IS_SIGNED(type),  \
		.base = (uint8_t)(base_), .byte_order = (uint8_t)(bo), .text = (text_),      \
	}
#define RTR__INT_SIZE_OK(type)                                                           \
	(sizeof(type) == 1 || sizeof(type) == 2 || sizeof(type) == 4 || sizeof(type) == 8)

/* --- compile-time checks (file scope) --- */
#define RTR__CHECK_rtr__int(type, field, expr, base, bo)                                 \
	RTR_STATIC_ASSERT(RTR__INT_SIZE_OK(type), "integer field " #field " must have 1, 2, 4 or 8 bytes");
#define RTR__CHECK_rtr__enum(prov, ename, type, field, expr)                             \
	RTR_STATIC_ASSERT(RTR__INT_SIZE_OK(type), "enum field " #field " must have 1, 2, 4 or 8 bytes");
#define RTR__CHECK_rtr__float(type, field, expr)                                         \
	RTR_STATIC_ASSERT(sizeof(type) == 4 || sizeof(type) == 8,                           \
		       "float field " #field " must be float or double");
#define RTR__CHECK_rtr__string(field, expr)
#define RTR__CHECK_rtr__array(type, field, ptr, n, base, text)                           \
	RTR_STATIC_ASSERT(RTR__INT_SIZE_OK(type) && (!(text) || sizeof(type) == 1),          \
		       "array field " #field ": elements of 1, 2, 4 or 8 bytes (text: 1)");    \
	RTR_STATIC_ASSERT((uint64_t)(n) * sizeof(type) <= RTR_TP_MAX_VAR_BYTES,               \
		       "array field " #field " is too large");
#define RTR__CHECK_rtr__seq(type, field, ptr, ltype, len, base, text)                    \
	RTR_STATIC_ASSERT(RTR__INT_SIZE_OK(type) && (!(text) || sizeof(type) == 1),          \
		       "sequence field " #field ": elements of 1, 2, 4 or 8 bytes (text: 1)"); \
	RTR_STATIC_ASSERT(RTR__INT_SIZE_OK(ltype) && !RTR__IS_SIGNED(ltype),                 \
		       "sequence field " #field ": the length type must be unsigned");

/* --- descriptors (struct rtr_field_desc initialisers) --- */
#define RTR__DESC_rtr__int(type, field, expr, base, bo)                                  \
	{.name = #field, .kind = RTR_FIELD_INTEGER, .integer = RTR__INTTYPE(type, base, bo, 0)},
#define RTR__DESC_rtr__enum(prov, ename, type, field, expr)                              \
	{.name = #field,                                                                 \
	 .kind = RTR_FIELD_ENUM,                                                         \
	 .integer = RTR__INTTYPE(type, RTR_BASE_DEC, RTR_BYTE_ORDER_NATIVE, 0),           \
	 .enumeration = &rtr__enum_##prov##_##ename},
#define RTR__DESC_rtr__float(type, field, expr)                                          \
	{.name = #field, .kind = RTR_FIELD_FLOAT, .float_bits = (uint8_t)(sizeof(type) * 8)},
#define RTR__DESC_rtr__string(field, expr) {.name = #field, .kind = RTR_FIELD_STRING},
#define RTR__DESC_rtr__array(type, field, ptr, n, base, text)                            \
	{.name = #field,                                                                 \
	 .kind = RTR_FIELD_ARRAY,                                                        \
	 .array_length = (uint32_t)(n),                                                  \
	 .integer = RTR__INTTYPE(type, base, RTR_BYTE_ORDER_NATIVE, text)},
#define RTR__DESC_rtr__seq(type, field, ptr, ltype, len, base, text)                     \
	{.name = #field,                                                                 \
	 .kind = RTR_FIELD_SEQUENCE,                                                     \
	 .integer = RTR__INTTYPE(type, base, RTR_BYTE_ORDER_NATIVE, text),               \
	 .length_type = RTR__INTTYPE(ltype, RTR_BASE_DEC, RTR_BYTE_ORDER_NATIVE, 0)},

/* --- evaluate each argument expression once (declarations only) --- */
#define RTR__PREP_rtr__int(type, field, expr, base, bo) type rtr__v_##field = (type)(expr);
#define RTR__PREP_rtr__enum(prov, ename, type, field, expr) type rtr__v_##field = (type)(expr);
#define RTR__PREP_rtr__float(type, field, expr) type rtr__v_##field = (type)(expr);
#define RTR__PREP_rtr__string(field, expr)                                               \
	const char *rtr__v_##field = (expr);                                             \
	size_t rtr__l_##field = rtr__tp_strlen(&rtr__v_##field);
#define RTR__PREP_rtr__array(type, field, ptr, n, base, text) const void *rtr__v_##field = (ptr);
#define RTR__PREP_rtr__seq(type, field, ptr, ltype, len, base, text)                     \
	const void *rtr__v_##field = (ptr);                                              \
	size_t rtr__l_##field = rtr__tp_count(rtr__v_##field, (uint64_t)(len),              \
					      (uint64_t)(ltype)~(ltype)0, sizeof(type));

/* --- payload size: constants fold at compile time --- */
#define RTR__SIZE_rtr__int(type, ...)            +sizeof(type)
#define RTR__SIZE_rtr__enum(prov, ename, type, ...) +sizeof(type)
#define RTR__SIZE_rtr__float(type, ...)          +sizeof(type)
#define RTR__SIZE_rtr__string(field, expr)       +rtr__l_##field + 1
#define RTR__SIZE_rtr__array(type, field, ptr, n, ...) +sizeof(type) * (size_t)(n)
#define RTR__SIZE_rtr__seq(type, field, ptr, ltype, ...)                                \
	+sizeof(ltype) + rtr__l_##field * sizeof(type)

/* --- field values for filters (union rtr_probe_arg, in field order; only
 * computed when a binding has a filter) --- */
#define RTR__ARG_rtr__int(type, field, expr, base, bo)                                   \
	if (RTR__IS_SIGNED(type))                                                        \
		rtr__ap->s = (int64_t)rtr__v_##field;                                    \
	else                                                                             \
		rtr__ap->u = (uint64_t)rtr__v_##field;                                   \
	rtr__ap++;
#define RTR__ARG_rtr__enum(prov, ename, type, field, expr)                               \
	RTR__ARG_rtr__int(type, field, expr, 0, 0)
#define RTR__ARG_rtr__float(type, field, expr)                                           \
	rtr__ap->d = (double)rtr__v_##field;                                             \
	rtr__ap++;
#define RTR__ARG_rtr__string(field, expr)                                                \
	rtr__ap->str.p = rtr__v_##field;                                                 \
	rtr__ap->str.len = rtr__l_##field;                                               \
	rtr__ap++;
#define RTR__ARG_rtr__array(type, field, ptr, n, base, text) (rtr__ap++)->u = 0;
#define RTR__ARG_rtr__seq(type, field, ptr, ltype, len, base, text) (rtr__ap++)->u = 0;

/* --- serialisation at rtr__wp, byte-packed --- */
#define RTR__WRITE_rtr__int(type, field, expr, base, bo)                                 \
	rtr__wp = rtr__tp_put_int(rtr__wp, &rtr__v_##field, sizeof(type), (bo));
#define RTR__WRITE_rtr__enum(prov, ename, type, field, expr)                             \
	rtr__wp = rtr__tp_put(rtr__wp, &rtr__v_##field, sizeof(type));
#define RTR__WRITE_rtr__float(type, field, expr)                                         \
	rtr__wp = rtr__tp_put(rtr__wp, &rtr__v_##field, sizeof(type));
#define RTR__WRITE_rtr__string(field, expr)                                              \
	rtr__wp = rtr__tp_put_str(rtr__wp, rtr__v_##field, rtr__l_##field);
#define RTR__WRITE_rtr__array(type, field, ptr, n, base, text)                           \
	rtr__wp = rtr__tp_put_mem(rtr__wp, rtr__v_##field, sizeof(type) * (size_t)(n));
#define RTR__WRITE_rtr__seq(type, field, ptr, ltype, len, base, text)                    \
	{                                                                                \
		ltype rtr__len = (ltype)rtr__l_##field;                                  \
		rtr__wp = rtr__tp_put(rtr__wp, &rtr__len, sizeof(ltype));                \
	}                                                                                \
	rtr__wp = rtr__tp_put_mem(rtr__wp, rtr__v_##field, rtr__l_##field * sizeof(type));

/* --- helpers of the generated code (probes are C only) --- */
#ifndef __cplusplus

static RTR_ALWAYS_INLINE size_t rtr__tp_strlen(const char **s)
{
	size_t n;

	if (rtr_unlikely(!*s))
		*s = "(null)";
	n = __builtin_strlen(*s);
	return n < RTR_TP_MAX_VAR_BYTES ? n : RTR_TP_MAX_VAR_BYTES - 1;
}

static RTR_ALWAYS_INLINE size_t rtr__tp_count(const void *p, uint64_t len, uint64_t max_len,
					      size_t elem)
{
	if (rtr_unlikely(!p))
		return 0;
	if (len > max_len)
		len = max_len;
	if (len > RTR_TP_MAX_VAR_BYTES / elem)
		len = RTR_TP_MAX_VAR_BYTES / elem;
	return (size_t)len;
}

static RTR_ALWAYS_INLINE char *rtr__tp_put(char *wp, const void *src, size_t n)
{
	__builtin_memcpy(wp, src, n);
	return wp + n;
}

static RTR_ALWAYS_INLINE char *rtr__tp_put_int(char *wp, const void *src, size_t n, int bo)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (bo == RTR_BYTE_ORDER_BE) {
		const char *s = (const char *)src;

		for (size_t i = 0; i < n; i++)
			wp[i] = s[n - 1 - i];
		return wp + n;
	}
#else
	(void)bo;
#endif
	return rtr__tp_put(wp, src, n);
}

/* Arrays and sequences: a NULL pointer writes zeros (arrays) or nothing
 * (sequences, whose count is then 0). */
static RTR_ALWAYS_INLINE char *rtr__tp_put_mem(char *wp, const void *src, size_t n)
{
	if (rtr_likely(src != NULL))
		__builtin_memcpy(wp, src, n);
	else
		__builtin_memset(wp, 0, n);
	return wp + n;
}

/* Copies exactly len bytes and the NUL. If the string got shorter since its
 * length was taken (another thread wrote it), the rest is filled with '#'
 * so the record keeps the size its header promised. */
static RTR_ALWAYS_INLINE char *rtr__tp_put_str(char *wp, const char *s, size_t len)
{
	char *nul;

	__builtin_memcpy(wp, s, len);
	nul = (char *)memchr(wp, '\0', len);
	if (rtr_unlikely(nul != NULL))
		__builtin_memset(nul, '#', (size_t)(wp + len - nul));
	wp[len] = '\0';
	return wp + len + 1;
}

/* Constructors/destructors of every event of a provider call these; the
 * last constructor registers the provider (every event's log level is set
 * by then), the first destructor unregisters it. */
static inline void rtr__tp_provider_ready(struct rtr_provider *prov, const char *name,
					  struct rtr_event_desc *const *start,
					  struct rtr_event_desc *const *stop, unsigned int *ready)
{
	if (++*ready != (unsigned int)(stop - start))
		return;
	prov->abi_major = RTR_EVENT_ABI_MAJOR;
	prov->abi_minor = RTR_EVENT_ABI_MINOR;
	prov->name = name;
	prov->events = (const struct rtr_event_desc *const *)start;
	prov->nr_events = (uint32_t)(stop - start);
	rtr_provider_register(prov);
}

static inline void rtr__tp_provider_gone(struct rtr_provider *prov, unsigned int *ready)
{
	if (*ready == prov->nr_events && *ready != 0)
		rtr_provider_unregister(prov);
	if (*ready)
		--*ready;
}

#endif /* !__cplusplus */

/* ------------------------------------------------------------------------
 * What RTR_EVENT expands to
 * ------------------------------------------------------------------------ */

#define RTR__EVENT_DECLARE(p, e, targs, tfields)                                           \
	RTR__EXTERN_VAR struct rtr_event_state RTR__STATE(p, e) RTR__TP_HIDDEN;           \
	RTR__EXTERN_C RTR__TP_HIDDEN void RTR__PROBE(p, e)(RTR__PARAMS(RTR__UNWRAP targs));

/* Per provider, repeated by each of its events (declarations and tentative
 * definitions may repeat; -Wredundant-decls is told so). The events' descriptor pointers are collected
 * by the linker in section rtr_ev_<provider>, which it brackets with
 * __start_/__stop_ symbols (the one place we use names starting with "__":
 * the linker chooses them). */
#define RTR__PROVIDER_DECLARE(p)                                                         \
	_Pragma("GCC diagnostic push")                                                   \
	_Pragma("GCC diagnostic ignored \"-Wredundant-decls\"")                          \
	extern struct rtr_event_desc *const __start_rtr_ev_##p[] RTR__TP_HIDDEN;          \
	extern struct rtr_event_desc *const __stop_rtr_ev_##p[] RTR__TP_HIDDEN;           \
	RTR__TP_HIDDEN struct rtr_provider rtr__provider_##p;                            \
	RTR__TP_HIDDEN unsigned int rtr__ready_##p;                                      \
	_Pragma("GCC diagnostic pop")

#define RTR__EVENT_DEFINE(p, e, targs, tfields)                                            \
	/* a provider header expanded twice in one file (no include guard) \
	 * fails here first, with a name that says so */                                 \
	enum { rtr__event_##p##__##e##__defined_twice__give_the_provider_header_an_include_guard = 1 }; \
	RTR__EVENT_DECLARE(p, e, targs, tfields)                                         \
	RTR__PROVIDER_DECLARE(p)                                                         \
	RTR__FE(RTR__F_CHECK, RTR__UNWRAP tfields)                                        \
	static const struct rtr_field_desc rtr__fields_##p##_##e[] = {                   \
		RTR__FE(RTR__F_DESC, RTR__UNWRAP tfields){0}};                            \
	static int rtr__ll_##p##_##e;                                                    \
	struct rtr_event_state RTR__STATE(p, e) = {0};                                   \
	static struct rtr_event_desc rtr__desc_##p##_##e = {                             \
		.provider = #p,                                                          \
		.name = #e,                                                              \
		.fields = rtr__fields_##p##_##e,                                         \
		.nr_fields = (uint32_t)(sizeof(rtr__fields_##p##_##e) /                  \
					sizeof(rtr__fields_##p##_##e[0]) - 1),           \
		.loglevel = RTR_LOGLEVEL_NONE,                                           \
		.state = &RTR__STATE(p, e),                                              \
	};                                                                               \
	static struct rtr_event_desc *const rtr__descp_##p##_##e                         \
		__attribute__((used, section("rtr_ev_" #p), aligned(sizeof(void *)))) =  \
			&rtr__desc_##p##_##e;                                            \
	void RTR__PROBE(p, e)(RTR__PARAMS(RTR__UNWRAP targs))                             \
	{                                                                                \
		RTR__FE(RTR__F_PREP, RTR__UNWRAP tfields)                                 \
		size_t rtr__sz = 0 RTR__FE(RTR__F_SIZE, RTR__UNWRAP tfields);             \
		struct rtr_binding_set *rtr__set;                                        \
		uint32_t rtr__n;                                                         \
		union rtr_probe_arg rtr__fa[1 RTR__FE(RTR__F_ONE, RTR__UNWRAP tfields)];  \
		int rtr__fa_ready = 0;                                                   \
		RTR__VOIDS(RTR__UNWRAP targs)                                             \
		rtr__set = rtr_atomic_load(&RTR__STATE(p, e).bindings,                    \
					   __ATOMIC_ACQUIRE);                            \
		if (rtr_unlikely(!rtr__set))                                             \
			return;                                                          \
		rtr__n = rtr__set->nr;                                                   \
		for (uint32_t rtr__i = 0; rtr__i < rtr__n; rtr__i++) {                   \
			const struct rtr_event_binding *rtr__b = &rtr__set->b[rtr__i];   \
			const struct rtr_binding_extra *rtr__x =                         \
				(const struct rtr_binding_extra *)rtr__b->client_priv;   \
			uint32_t rtr__client = rtr__b->client;                           \
			struct rtr_ring_ctx rtr__c = {0}, rtr__sc;                       \
			char *rtr__wp;                                                   \
			if (rtr_likely(rtr__x == NULL)) {                                \
				rtr__wp = rtr_ctf_event_reserve(rtr__b, rtr__client,     \
								rtr__b->chan,            \
								rtr__b->event_id,        \
								rtr__sz, &rtr__c,        \
								&rtr__sc);               \
			} else {                                                         \
				/* the filter runs before anything is reserved */       \
				if (rtr__x->filter) {                                    \
					if (!rtr__fa_ready) {                            \
						union rtr_probe_arg *rtr__ap = rtr__fa;  \
						RTR__FE(RTR__F_ARG, RTR__UNWRAP tfields)  \
						(void)rtr__ap;                           \
						rtr__fa_ready = 1;                       \
					}                                                \
					if (!rtr_probe__filter_pass(rtr__x, rtr__fa)) {  \
						if (rtr__n == 1)                         \
							return; /* its only binding */   \
						continue;                                \
					}                                                \
				}                                                        \
				rtr__wp = rtr_probe__reserve(rtr__b, rtr__x, rtr__sz,    \
							     &rtr__sc,                   \
							     __builtin_return_address(0)); \
			}                                                                \
			if (rtr_unlikely(!rtr__wp))                                      \
				continue;                                                \
			RTR__FE(RTR__F_WRITE, RTR__UNWRAP tfields)                        \
			if (rtr_likely(rtr__x == NULL))                                  \
				rtr_ctf_event_commit(rtr__b, rtr__client, &rtr__c, &rtr__sc); \
			else                                                             \
				rtr_ctf__commit(rtr__b, &rtr__sc);                       \
		}                                                                        \
	}                                                                                \
	__attribute__((constructor)) static void rtr__ctor_##p##_##e(void)               \
	{                                                                                \
		rtr__desc_##p##_##e.loglevel = rtr__ll_##p##_##e - 1;                    \
		rtr__tp_provider_ready(&rtr__provider_##p, #p, __start_rtr_ev_##p,         \
				       __stop_rtr_ev_##p, &rtr__ready_##p);              \
	}                                                                                \
	__attribute__((destructor)) static void rtr__dtor_##p##_##e(void)                \
	{                                                                                \
		rtr__tp_provider_gone(&rtr__provider_##p, &rtr__ready_##p);               \
	}

#define RTR__ENUM_DEFINE(p, n, ...)                                                      \
	static const struct rtr_enum_entry rtr__enum_entries_##p##_##n[] = {__VA_ARGS__};  \
	static const struct rtr_enum_desc rtr__enum_##p##_##n = {                        \
		#p, #n, rtr__enum_entries_##p##_##n,                                     \
		(uint32_t)(sizeof(rtr__enum_entries_##p##_##n) /                         \
			   sizeof(rtr__enum_entries_##p##_##n[0]))};

/* Stored as level + 1 so that "no RTR_LOGLEVEL" (0) reads as RTR_LOGLEVEL_NONE. */
#define RTR__LOGLEVEL_DEFINE(p, e, level) static int rtr__ll_##p##_##e = (int)(level) + 1;

#ifdef __cplusplus
}
#endif

#endif /* RINGTRACE_TRACEPOINT_H */

/*
 * Outside the include guard: every inclusion re-selects what RTR_EVENT,
 * RTR_ENUM and RTR_LOGLEVEL expand to, from RTR_DEFINE_PROBES as it is now.
 * A provider header is expanded once per .c file, so it may keep its own
 * include guard.
 */
#undef RTR_EVENT
#undef RTR_ENUM
#undef RTR_LOGLEVEL
#if defined(RTR_DEFINE_PROBES) && defined(__cplusplus)
#error "ringtrace: define the probes (RTR_DEFINE_PROBES) in a C file of the program; C++ files include the provider header without it and call rtr_tracepoint() as usual"
#endif
#ifdef RTR_DEFINE_PROBES
#define RTR_EVENT(provider, event, args, fields) RTR__EVENT_DEFINE(provider, event, args, fields)
#define RTR_ENUM(provider, name, ...)            RTR__ENUM_DEFINE(provider, name, __VA_ARGS__)
#define RTR_LOGLEVEL(provider, event, level)     RTR__LOGLEVEL_DEFINE(provider, event, level)
#else
#define RTR_EVENT(provider, event, args, fields) RTR__EVENT_DECLARE(provider, event, args, fields)
#define RTR_ENUM(provider, name, ...)
#define RTR_LOGLEVEL(provider, event, level)
#endif

/* clang-format on */
