/* Idle-priority drain thread. See drainer.h and docs/design/host.md §4.1.
 *
 * A slot's state word is (generation << 2) | phase. The host's thread (H)
 * moves FREE -> QUEUED (submit: new generation), DONE -> FREE (poll), and
 * QUEUED/RUNNING -> FREE with a new generation (take back). The drain
 * thread (D) moves QUEUED -> RUNNING -> DONE with compare-and-swap on the
 * exact word, so a packet taken back is never marked done.
 *
 * D copies a packet in chunks: pread() from the memfd into its own bounce
 * buffer, then checks that the word is still its RUNNING word, then
 * pwrite()s the chunk. Once H has taken the packet back it may give the
 * sub-buffer to the writers, whose new records D's pread could then mix
 * into the chunk; the check after the copy rejects such a chunk (H's
 * take-back is ordered before the sub-buffer's release, D's copy before
 * its check: the seqlock argument). A chunk that passed the check holds
 * the packet's true bytes, so writing it after H has written the packet
 * itself changes nothing. H never waits for D.
 *
 * The first chunk's first hdr_len bytes are replaced by the header H handed
 * over with the job (the packet header it encoded in its own memory: the
 * memfd's copy is the traced program's to rewrite). D reads those words
 * (relaxed atomics) between its pread and its check of the word, so they
 * are covered by the same argument: H writes a new job's header only after
 * its take-back or DONE -> FREE, and publishes it with the release store
 * of QUEUED (paired with D's acquire load in run_slot); header words of a
 * later job seen by D mean the word changed, and the chunk is dropped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ctf-writer.h"
#include "drainer.h"

#define CHUNK (256u << 10)

enum { PH_FREE = 0, PH_QUEUED = 1, PH_RUNNING = 2, PH_DONE = 3 };

struct rtr_drain_slot {
	struct rtr_drainer *d;
	_Atomic uint64_t word;
	_Atomic uint32_t refs;	 /* H's + one while linked in the queue or in D's hands */
	_Atomic uint32_t linked; /* in the queue (D has not taken it off yet) */
	struct rtr_drain_slot *next;
	int src_fd, dst_fd;
	/* the job, written by H before it publishes QUEUED; D reads the header
	 * words like the memfd's bytes: checked by the word afterwards */
	_Atomic uint64_t src_off, dst_off, len;
	_Atomic uint64_t hdr[RTR_DRAIN_MAX_HDR / 8];
	_Atomic uint32_t hdr_len;
	_Atomic int err; /* D's result, published with DONE */
};

struct rtr_drainer {
	pthread_t thread;
	int kick_fd;				/* H -> D: work queued or stop */
	int notify_fd;				/* D -> H: a packet is done */
	_Atomic(struct rtr_drain_slot *) queue; /* pushed by H, taken whole by D */
	_Atomic bool stop;
	_Atomic uint64_t done;
	uint64_t taken; /* H only */
	_Atomic int priority_err;
	char *bounce;
};

static void slot_unref(struct rtr_drain_slot *s)
{
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	close(s->src_fd);
	close(s->dst_fd);
	free(s);
}

static void kick(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR) {
	}
}

/* Reads the state word after the bytes pread() copied (the seqlock
 * reader's fence). ThreadSanitizer does not model fences, nor sees what
 * pread() reads: a plain acquire load for it. */
static inline uint64_t load_after_copy(_Atomic uint64_t *w)
{
#if defined(__SANITIZE_THREAD__)
	return atomic_load_explicit(w, memory_order_acquire);
#else
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(w, memory_order_relaxed);
#endif
}

/* All n bytes at file offset off: pread (write false) or pwrite (true).
 * Returns 0 or a negative errno (-EIO for an early end). */
/* Copies the RUNNING packet `run` of s. Returns false when it was taken
 * back (nothing more may be written), true when finished (*err set). */
static bool copy_packet(struct rtr_drainer *d, struct rtr_drain_slot *s, uint64_t run, int *err)
{
	uint64_t src = atomic_load_explicit(&s->src_off, memory_order_relaxed);
	uint64_t dst = atomic_load_explicit(&s->dst_off, memory_order_relaxed);
	uint64_t len = atomic_load_explicit(&s->len, memory_order_relaxed);
	uint32_t hdr_len = atomic_load_explicit(&s->hdr_len, memory_order_relaxed);

	*err = 0;
	for (uint64_t done = 0; done < len;) {
		size_t want = len - done < CHUNK ? (size_t)(len - done) : CHUNK;

		*err = rtr_ctf_pread_all(s->src_fd, d->bounce, want, src + done);
		if (*err)
			return true;
		if (done == 0 && hdr_len) {
			uint64_t words[RTR_DRAIN_MAX_HDR / 8];

			for (unsigned i = 0; i < (hdr_len + 7) / 8; i++)
				words[i] = atomic_load_explicit(&s->hdr[i], memory_order_relaxed);
			memcpy(d->bounce, words, hdr_len < want ? hdr_len : want);
		}
		/* The copy above happened before this check. */
		if (load_after_copy(&s->word) != run ||
		    atomic_load_explicit(&d->stop, memory_order_relaxed))
			return false;
		*err = rtr_ctf_pwrite_all(s->dst_fd, d->bounce, want, dst + done);
		if (*err)
			return true;
		done += want;
	}
	return true;
}

static void run_slot(struct rtr_drainer *d, struct rtr_drain_slot *s)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
	uint64_t run, fin;
	int err;

	if ((w & 3) != PH_QUEUED || atomic_load_explicit(&d->stop, memory_order_relaxed))
		return;
	run = (w & ~(uint64_t)3) | PH_RUNNING;
	if (!atomic_compare_exchange_strong_explicit(&s->word, &w, run, memory_order_acq_rel,
						     memory_order_relaxed))
		return;
	if (!copy_packet(d, s, run, &err))
		return;
	atomic_store_explicit(&s->err, err, memory_order_relaxed);
	fin = (run & ~(uint64_t)3) | PH_DONE;
	if (atomic_compare_exchange_strong_explicit(&s->word, &run, fin, memory_order_release,
						    memory_order_relaxed)) {
		atomic_fetch_add_explicit(&d->done, 1, memory_order_relaxed);
		kick(d->notify_fd);
	}
}

static void *drain_main(void *arg)
{
	struct rtr_drainer *d = arg;
	struct sched_param sp = {0};

	/* Only what no other thread wants: SCHED_IDLE, else nice 19. */
	if (sched_setscheduler(0, SCHED_IDLE, &sp) < 0) {
		atomic_store_explicit(&d->priority_err, errno, memory_order_relaxed);
		if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) < 0) {
			/* runs at the host's priority: still correct */
		}
	}
	while (!atomic_load_explicit(&d->stop, memory_order_acquire)) {
		struct rtr_drain_slot *list, *rev = NULL;
		uint64_t v;

		list = atomic_exchange_explicit(&d->queue, NULL, memory_order_acquire);
		if (!list) {
			if (read(d->kick_fd, &v, sizeof(v)) < 0 && errno != EINTR &&
			    errno != EAGAIN)
				break;
			continue;
		}
		while (list) { /* oldest first */
			struct rtr_drain_slot *n = list->next;

			list->next = rev;
			rev = list;
			list = n;
		}
		while (rev) {
			struct rtr_drain_slot *s = rev;

			rev = s->next;
			atomic_store_explicit(&s->linked, 0, memory_order_release);
			run_slot(d, s);
			slot_unref(s);
		}
	}
	return NULL;
}

struct rtr_drainer *rtr_drainer_start(int *notify_fd)
{
	struct rtr_drainer *d = calloc(1, sizeof(*d));
	sigset_t all, old;
	int e;

	if (!d)
		return NULL;
	d->kick_fd = d->notify_fd = -1;
	d->kick_fd = eventfd(0, EFD_CLOEXEC);
	d->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	d->bounce = malloc(CHUNK);
	if (d->kick_fd < 0 || d->notify_fd < 0 || !d->bounce) {
		e = errno ? errno : ENOMEM;
		goto fail;
	}
	/* The thread takes no signal (record reads them from a signalfd). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&d->thread, NULL, drain_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e)
		goto fail;
	*notify_fd = d->notify_fd;
	return d;
fail:
	if (d->kick_fd >= 0)
		close(d->kick_fd);
	if (d->notify_fd >= 0)
		close(d->notify_fd);
	free(d->bounce);
	free(d);
	errno = e;
	return NULL;
}

void rtr_drainer_stop(struct rtr_drainer *d)
{
	struct rtr_drain_slot *s;

	if (!d)
		return;
	atomic_store_explicit(&d->stop, true, memory_order_release);
	kick(d->kick_fd);
	pthread_join(d->thread, NULL);
	s = atomic_exchange_explicit(&d->queue, NULL, memory_order_acquire);
	while (s) {
		struct rtr_drain_slot *n = s->next;

		slot_unref(s);
		s = n;
	}
	close(d->kick_fd);
	close(d->notify_fd);
	free(d->bounce);
	free(d);
}

void rtr_drainer_stats(const struct rtr_drainer *d, struct rtr_drainer_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!d)
		return;
	st->done = atomic_load_explicit(&d->done, memory_order_relaxed);
	st->taken = d->taken;
	st->priority_err = atomic_load_explicit(&d->priority_err, memory_order_relaxed);
}

struct rtr_drain_slot *rtr_drain_slot_new(struct rtr_drainer *d, int src_fd, int dst_fd)
{
	struct rtr_drain_slot *s = calloc(1, sizeof(*s));
	int e;

	if (!s)
		return NULL;
	s->d = d;
	s->src_fd = fcntl(src_fd, F_DUPFD_CLOEXEC, 3);
	s->dst_fd = s->src_fd < 0 ? -1 : fcntl(dst_fd, F_DUPFD_CLOEXEC, 3);
	if (s->dst_fd < 0) {
		e = errno;
		if (s->src_fd >= 0)
			close(s->src_fd);
		free(s);
		errno = e;
		return NULL;
	}
	atomic_init(&s->refs, 1);
	return s;
}

void rtr_drain_slot_release(struct rtr_drain_slot *s)
{
	if (s)
		slot_unref(s);
}

void rtr_drain_submit(struct rtr_drain_slot *s, uint64_t src_off, uint64_t dst_off, uint64_t len,
		      const void *hdr, uint32_t hdr_len)
{
	struct rtr_drainer *d = s->d;
	uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
	uint64_t words[RTR_DRAIN_MAX_HDR / 8] = {0};

	if (!hdr || hdr_len > RTR_DRAIN_MAX_HDR || hdr_len > len)
		hdr_len = 0;
	if (hdr_len)
		memcpy(words, hdr, hdr_len);
	for (unsigned i = 0; i < (hdr_len + 7) / 8; i++)
		atomic_store_explicit(&s->hdr[i], words[i], memory_order_relaxed);
	atomic_store_explicit(&s->hdr_len, hdr_len, memory_order_relaxed);
	atomic_store_explicit(&s->src_off, src_off, memory_order_relaxed);
	atomic_store_explicit(&s->dst_off, dst_off, memory_order_relaxed);
	atomic_store_explicit(&s->len, len, memory_order_relaxed);
	atomic_store_explicit(&s->word, ((w >> 2) + 1) << 2 | PH_QUEUED, memory_order_release);
	/* Not in the queue yet (D clears `linked` before it looks at the
	 * word, so a slot it is about to run needs no second entry). */
	if (!atomic_exchange_explicit(&s->linked, 1, memory_order_acq_rel)) {
		struct rtr_drain_slot *head = atomic_load_explicit(&d->queue, memory_order_relaxed);

		atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
		do
			s->next = head;
		while (!atomic_compare_exchange_weak_explicit(
		    &d->queue, &head, s, memory_order_release, memory_order_relaxed));
	}
	kick(d->kick_fd);
}

enum rtr_drain_state rtr_drain_poll(struct rtr_drain_slot *s, int *err)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);

	switch (w & 3) {
	case PH_FREE:
		return RTR_DRAIN_FREE;
	case PH_DONE:
		*err = atomic_load_explicit(&s->err, memory_order_relaxed);
		atomic_store_explicit(&s->word, w & ~(uint64_t)3, memory_order_relaxed);
		return RTR_DRAIN_DONE;
	default:
		return RTR_DRAIN_PENDING;
	}
}

bool rtr_drain_take_back(struct rtr_drain_slot *s, int *err)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);

	*err = 0;
	for (;;) {
		if ((w & 3) == PH_FREE)
			return false;
		if ((w & 3) == PH_DONE) {
			*err = atomic_load_explicit(&s->err, memory_order_relaxed);
			atomic_store_explicit(&s->word, w & ~(uint64_t)3, memory_order_relaxed);
			return false;
		}
		/* seq_cst: ordered before the caller gives the sub-buffer back. */
		if (atomic_compare_exchange_strong(&s->word, &w, ((w >> 2) + 1) << 2 | PH_FREE)) {
			s->d->taken++;
			return true;
		}
	}
}
