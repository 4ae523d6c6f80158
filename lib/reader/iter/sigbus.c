/* Stream files that shrink while they are mapped: the SIGBUS of a read past
 * the new end is turned into zero pages and counted; the stream decoder
 * sees the count change, finds its file shorter and stops with an error.
 * See docs/design/reader.md ("Streams, merge, memory"). */
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "iter/iter.h"

/* F1: relaxed; the data it vouches for is re-checked with stat() */
atomic_uint_fast64_t rtr__sigbus_fault_count;
static uintptr_t page_mask;
static atomic_flag installed = ATOMIC_FLAG_INIT;

/* Only faults of the BUS_ADRERR kind (a page past the end of a mapped
 * file) are absorbed; anything else gets the default action again and
 * re-faults into it. Async-signal-safe: mmap and an atomic add. */
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (si->si_code == BUS_ADRERR) {
		void *page = (void *)((uintptr_t)si->si_addr & page_mask);

		if (mmap(page, (size_t)(~page_mask + 1), PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED) {
			atomic_fetch_add_explicit(&rtr__sigbus_fault_count, 1,
						  memory_order_relaxed); /* F1 */
			return;
		}
	}
	signal(sig, SIG_DFL);
}

void rtr__sigbus_guard(void)
{
	struct sigaction sa, old;
	long ps;

	if (atomic_flag_test_and_set(&installed))
		return;
	ps = sysconf(_SC_PAGESIZE);
	page_mask = ~(uintptr_t)((ps > 0 ? ps : 4096) - 1);
	/* a handler the program set is left alone */
	if (sigaction(SIGBUS, NULL, &old) || old.sa_handler != SIG_DFL ||
	    (old.sa_flags & SA_SIGINFO))
		return;
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}
