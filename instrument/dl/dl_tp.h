/* dlopen and dlclose calls: LTTng-UST's liblttng-ust-dl events, provider,
 * event and field names, types and order as its ust_dl.h (2.13): dlopen
 * {baddr (hex), memsz, flags (int, hex), path, has_build_id,
 * has_debug_link}, build_id {baddr, build_id (sequence, size_t length)},
 * debug_link {baddr, crc, filename}, dlclose {baddr}. */
#ifndef RTR_DL_TP_H
#define RTR_DL_TP_H
#include <ringtrace/tracepoint.h>

RTR_EVENT(lttng_ust_dl, dlopen,
	  RTR_ARGS(uint64_t, baddr, uint64_t, memsz, int, flags, const char *, path, uint8_t,
		   has_build_id, uint8_t, has_debug_link),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr), rtr_integer(uint64_t, memsz, memsz),
		     rtr_integer_hex(int, flags, flags), rtr_string(path, path),
		     rtr_integer(uint8_t, has_build_id, has_build_id),
		     rtr_integer(uint8_t, has_debug_link, has_debug_link)))
RTR_EVENT(lttng_ust_dl, build_id, RTR_ARGS(uint64_t, baddr, const uint8_t *, id, uint64_t, len),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr),
		     rtr_sequence_hex(uint8_t, build_id, id, uint64_t, len)))
RTR_EVENT(lttng_ust_dl, debug_link,
	  RTR_ARGS(uint64_t, baddr, const char *, filename, uint32_t, crc),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr), rtr_integer(uint32_t, crc, crc),
		     rtr_string(filename, filename)))
RTR_EVENT(lttng_ust_dl, dlclose, RTR_ARGS(uint64_t, baddr),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr)))
#endif
