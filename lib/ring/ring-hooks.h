/* ringtrace ring buffer: test-only interleaving points. The library is
 * built twice: rtr_ring, where every point compiles to nothing, and
 * rtr_ring_hooked (tests only, -DRTR_RING_TEST_HOOKS), where each point
 * calls rtr_ring__hook so that a unit test can stop a writer exactly
 * there, or stand in for what the hardware may do (a store still in
 * another CPU's store buffer). See docs/design/ring-buffer.md §11. */
#ifndef RTR_RING_HOOKS_H
#define RTR_RING_HOOKS_H

#include <stdint.h>

#include <ringtrace/ring.h>

enum rtr_ring_hook_point {
	/* rtr_ring__reserve_slow read the position (its view may go stale) */
	RTR_RING_HOOK_SLOW_LOADED = 1,
	/* make_room (overwrite) found the previous lap complete; retag next */
	RTR_RING_HOOK_ROOM_CHECKED,
	/* rtr_ring__commit_remote read cc_local: *value may be replaced by an
	 * older count (a local commit not yet visible to this CPU) */
	RTR_RING_HOOK_REMOTE_SAW_LOCAL,
	/* rtr_ring__refuse_full entered with the fast path's view of the
	 * position (a discard-mode record that does not fit) */
	RTR_RING_HOOK_FULL_LOADED,
};

/* Called at each point with the buffer and, where the point says so, a
 * value the hook may change. NULL: no hook. */
extern void (*rtr_ring__hook)(enum rtr_ring_hook_point point, struct rtr_ring_buf *buf,
			      uint64_t *value);

#ifdef RTR_RING_TEST_HOOKS
#define RTR_RING_HOOK(point, buf, value)                                                   \
	do {                                                                               \
		if (rtr_ring__hook)                                                        \
			rtr_ring__hook(point, buf, value);                                 \
	} while (0)
#else
#define RTR_RING_HOOK(point, buf, value) ((void)0)
#endif

#endif /* RTR_RING_HOOKS_H */
