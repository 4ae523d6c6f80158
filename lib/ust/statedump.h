/* The base-address statedump of the runtime (statedump.c) and what the
 * libraries of instrument/ call: LTTng-UST's lttng_ust_statedump events
 * when a session that records them starts, lttng_ust_lib:load/unload after
 * dlopen/dlclose. Design: docs/design/instrument.md §5. */
#ifndef RTR_UST_STATEDUMP_H
#define RTR_UST_STATEDUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringtrace/common.h>

/* An object as dl_iterate_phdr shows it: baddr = address of its first
 * PT_LOAD, memsz = span of its PT_LOADs, the NT_GNU_BUILD_ID note (in the
 * object's memory), its .gnu_debuglink (read from the file). */
struct rtr_sd_obj {
	uint64_t baddr, memsz;
	uint8_t is_pic;
	const uint8_t *bid;
	uint32_t bid_len;
	uint32_t crc;
	char link[256]; /* "" without a debug link */
};

/* Runtime side (lib/ust): a session became active (owes a dump); look
 * whether a dump is owed and the statedump events record, and dump. Never
 * with the registry lock or rt_lock held. wait false (the thread serving
 * commands, which a thread holding the registry lock may be waiting for):
 * give up if a lock is busy; what is owed stays owed for the next poll. */
void rtr__statedump_session_started(void);
void rtr__statedump_poll(bool wait);
void rtr__statedump_atfork_child(void);

/* 1 while a dlopen/dlclose happened whose objects are not listed yet
 * (instrument/dl sets it when it cannot look after the call itself).
 * Relaxed: it only says when to look again. */
RTR_EXPORT extern int rtr__statedump_pending;
/* Set (once, relaxed) by a library whose events carry code addresses
 * (instrument/func, instrument/dl): dump also for sessions without the ip
 * context. */
RTR_EXPORT extern int rtr__statedump_wanted;

/* lttng_ust_lib:load (+ build_id, debug_link) for objects mapped since the
 * last look, lttng_ust_lib:unload for those gone; nothing before the first
 * dump. try_only: give up if another thread is looking (hooks, signal
 * handlers). */
RTR_EXPORT void rtr__statedump_update(int try_only);

/* The mapped object whose dlpi_addr is load_bias (dlinfo's l_addr):
 * 0 and *o filled, or -1. */
RTR_EXPORT int rtr__statedump_object(uint64_t load_bias, const char *path, struct rtr_sd_obj *o);

#endif /* RTR_UST_STATEDUMP_H */
