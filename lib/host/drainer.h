/* Idle-priority drain thread of the session host: copies packets from a
 * buffer's memfd to their stream file while the CPUs have nothing better to
 * do, so that tracing a busy program does not take CPU time from it. The
 * host's own thread keeps every decision (which sub-buffer, index entries,
 * giving sub-buffers back) and can take any packet back at once, without
 * waiting for this thread, when a buffer fills up. Design:
 * docs/design/host.md §4.1.
 *
 * Threads: everything here is called by the host's thread except what the
 * drain thread does internally. A slot belongs to one stream; it carries at
 * most one packet at a time.
 */
#ifndef RTR_HOST_DRAINER_H
#define RTR_HOST_DRAINER_H

#include <stdbool.h>
#include <stdint.h>

struct rtr_drainer;
struct rtr_drain_slot;

struct rtr_drainer_stats {
	uint64_t done;	  /* packets the drain thread wrote */
	uint64_t taken;	  /* packets taken back before it finished them */
	int priority_err; /* 0, or the errno of SCHED_IDLE (then nice 19 was used) */
};

/*
 * Starts the drain thread (SCHED_IDLE; nice 19 where that is refused).
 * *notify_fd: an eventfd that becomes readable when a packet is done (the
 * host polls it and calls rtr_drain_poll on its slots; read it to rearm).
 * Returns NULL with errno set when the thread cannot be created (the host
 * then writes every packet itself).
 */
struct rtr_drainer *rtr_drainer_start(int *notify_fd);

/* Stops and joins the thread, frees what it still holds. Slots must have
 * been released (rtr_drain_slot_release) first. NULL is ignored. */
void rtr_drainer_stop(struct rtr_drainer *d);

void rtr_drainer_stats(const struct rtr_drainer *d, struct rtr_drainer_stats *st);

/* A slot for one stream: src_fd (the buffer's memfd) and dst_fd (the
 * stream file) are duplicated, so the caller may close its own. NULL with
 * errno on failure. */
struct rtr_drain_slot *rtr_drain_slot_new(struct rtr_drainer *d, int src_fd, int dst_fd);

/* The caller is done with the slot (no packet may be pending: settle it
 * first); it is freed once the drain thread lets go of it too. */
void rtr_drain_slot_release(struct rtr_drain_slot *s);

/* The most header bytes a packet may carry from host memory. */
#define RTR_DRAIN_MAX_HDR 128u

/* Hands the packet at src_off (len bytes) to the thread, to be written at
 * dst_off; its first hdr_len bytes (<= RTR_DRAIN_MAX_HDR, <= len) are
 * written from a copy of hdr taken now instead of from src_fd (the packet
 * header the host encoded: the source is shared with the traced program).
 * The slot must be free (nothing pending). */
void rtr_drain_submit(struct rtr_drain_slot *s, uint64_t src_off, uint64_t dst_off, uint64_t len,
		      const void *hdr, uint32_t hdr_len);

enum rtr_drain_state {
	RTR_DRAIN_FREE,	   /* nothing pending */
	RTR_DRAIN_PENDING, /* queued or being copied */
	RTR_DRAIN_DONE,	   /* written (*err 0) or failed (*err < 0); slot free again */
};

/* Where the pending packet is; DONE frees the slot. */
enum rtr_drain_state rtr_drain_poll(struct rtr_drain_slot *s, int *err);

/*
 * Takes the pending packet back without waiting: returns true when the
 * caller must now write it itself (the thread had not finished it; it will
 * not write any byte the caller could not have written), false when it was
 * done meanwhile (*err as rtr_drain_poll). Either way the slot is free.
 */
bool rtr_drain_take_back(struct rtr_drain_slot *s, int *err);

#endif /* RTR_HOST_DRAINER_H */
