/* The objects a process has mapped, for babeltrace2's debug-info filter
 * (and Trace Compass): LTTng-UST's statedump events and its lttng_ust_lib
 * load/unload events (objects that come and go later), same provider,
 * event and field names and types (checked in LTTng-UST 2.13's
 * lttng-ust-statedump-provider.h and ust_lib.h). Written by the runtime
 * (statedump.c); lttng_ust_dl (the dlopen/dlclose calls) is
 * instrument/dl's. */
#ifndef RTR_STATEDUMP_TP_H
#define RTR_STATEDUMP_TP_H
#include <ringtrace/tracepoint.h>

RTR_EVENT(lttng_ust_statedump, start, RTR_ARGS(), RTR_FIELDS())
RTR_EVENT(lttng_ust_statedump, bin_info,
	  RTR_ARGS(uint64_t, baddr, uint64_t, memsz, const char *, path, uint8_t, is_pic, uint8_t,
		   has_build_id, uint8_t, has_debug_link),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr), rtr_integer(uint64_t, memsz, memsz),
		     rtr_string(path, path), rtr_integer(uint8_t, is_pic, is_pic),
		     rtr_integer(uint8_t, has_build_id, has_build_id),
		     rtr_integer(uint8_t, has_debug_link, has_debug_link)))
RTR_EVENT(lttng_ust_statedump, build_id,
	  RTR_ARGS(uint64_t, baddr, const uint8_t *, id, uint64_t, len),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr),
		     rtr_sequence_hex(uint8_t, build_id, id, uint64_t, len)))
RTR_EVENT(lttng_ust_statedump, debug_link,
	  RTR_ARGS(uint64_t, baddr, const char *, filename, uint32_t, crc),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr), rtr_integer(uint32_t, crc, crc),
		     rtr_string(filename, filename)))
RTR_EVENT(lttng_ust_statedump, end, RTR_ARGS(), RTR_FIELDS())

RTR_EVENT(lttng_ust_lib, load,
	  RTR_ARGS(uint64_t, baddr, uint64_t, memsz, const char *, path, uint8_t, has_build_id,
		   uint8_t, has_debug_link),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr), rtr_integer(uint64_t, memsz, memsz),
		     rtr_string(path, path), rtr_integer(uint8_t, has_build_id, has_build_id),
		     rtr_integer(uint8_t, has_debug_link, has_debug_link)))
RTR_EVENT(lttng_ust_lib, build_id, RTR_ARGS(uint64_t, baddr, const uint8_t *, id, uint64_t, len),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr),
		     rtr_sequence_hex(uint8_t, build_id, id, uint64_t, len)))
RTR_EVENT(lttng_ust_lib, debug_link,
	  RTR_ARGS(uint64_t, baddr, const char *, filename, uint32_t, crc),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr), rtr_integer(uint32_t, crc, crc),
		     rtr_string(filename, filename)))
RTR_EVENT(lttng_ust_lib, unload, RTR_ARGS(uint64_t, baddr),
	  RTR_FIELDS(rtr_integer_hex(uint64_t, baddr, baddr)))
#endif
