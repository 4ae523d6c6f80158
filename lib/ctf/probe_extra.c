/* ringtrace CTF clients: what probes call for bindings with extras
 * (include/ringtrace/ctf.h struct rtr_binding_extra) — the filter, run
 * before anything is reserved, and the context fields written after the
 * event header. Design: docs/design/daemon.md §4 (filters), §3.2
 * (contexts). Everything here may run in any thread and in signal
 * handlers: no lock, no allocation; the caches are per thread or set
 * before any probe can run. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ringtrace/ctf.h>

#include "ctf-writer.h"
#include "filter.h"

/* The process id, set by the runtime at start and in a fork child. */
static pid_t vpid_cache;

static __thread pid_t tid_cache __attribute__((tls_model("initial-exec")));
static __thread char comm_cache[16] __attribute__((tls_model("initial-exec")));
static __thread unsigned char comm_len __attribute__((tls_model("initial-exec")));
static __thread unsigned char comm_ok __attribute__((tls_model("initial-exec")));

void rtr__extra_fork_child(void)
{
	vpid_cache = getpid();
	/* the thread that forked is the child's only one: its caches are
	 * the parent's thread's */
	tid_cache = 0;
	comm_ok = 0;
}

void rtr__extra_init(void)
{
	vpid_cache = getpid();
}

static pid_t my_tid(void)
{
	if (__builtin_expect(!tid_cache, 0))
		tid_cache = (pid_t)syscall(SYS_gettid);
	return tid_cache;
}

/* The thread's name, read once per thread (a rename later is not seen). */
static const char *my_comm(size_t *len)
{
	if (__builtin_expect(!comm_ok, 0)) {
		char b[17] = "";

		prctl(PR_GET_NAME, b, 0, 0, 0);
		b[16] = 0;
		memcpy(comm_cache, b, 16);
		comm_len = (unsigned char)strnlen(b, 16);
		comm_ok = 1;
	}
	*len = comm_len;
	return comm_cache;
}

/* A filter on context fields: their values first (out of line, so that a
 * payload-only filter is one tail call with no stack frame). */
static __attribute__((noinline)) int filter_with_ctx(const struct rtr_filter *f,
						     const union rtr_probe_arg *args)
{
	struct rtr_filter_ctxvals cv;

	cv.vpid = vpid_cache ? vpid_cache : getpid();
	cv.vtid = my_tid();
	cv.pthread_id = (uint64_t)pthread_self();
	cv.procname = my_comm(&cv.procname_len);
	return rtr_filter_run(f, args, &cv);
}

int rtr_probe__filter(const struct rtr_binding_extra *x, const union rtr_probe_arg *args)
{
	const struct rtr_filter *f = x->filter;

	if (__builtin_expect(f->ctx_needed != 0, 0))
		return filter_with_ctx(f, args);
	return rtr_filter_run(f, args, NULL);
}

char *rtr_probe__reserve(const struct rtr_event_binding *b, const struct rtr_binding_extra *x,
			 size_t payload_size, struct rtr_ring_ctx *ctx, const void *ip)
{
	const struct rtr_ctf_ctx_src *src = x->ctx_src;
	uint8_t vals[RTR_CTF_CTX_MAX];
	char *wp;
	uint32_t m = x->ctx_mask & RTR_CTF_CTX_ALL;

	/* counters are read before the record is reserved: a system call
	 * inside an open reservation would keep it open that much longer */
	if (src) {
		if (src->size > RTR_CTF_CTX_MAX)
			return NULL;
		src->read(src, vals);
	}
	wp = rtr_ctf__reserve(b, payload_size + x->ctx_size, ctx);
	if (!wp || (!m && !src))
		return wp;
	if (m & RTR_CTF_CTX_VPID) {
		int32_t v = (int32_t)(vpid_cache ? vpid_cache : getpid());

		memcpy(wp, &v, 4);
		wp += 4;
	}
	if (m & RTR_CTF_CTX_VTID) {
		int32_t v = (int32_t)my_tid();

		memcpy(wp, &v, 4);
		wp += 4;
	}
	if (m & RTR_CTF_CTX_PROCNAME) {
		size_t n;
		const char *c = my_comm(&n);

		memcpy(wp, c, 16);
		wp += 16;
	}
	if (m & RTR_CTF_CTX_PTHREAD_ID) {
		uint64_t v = (uint64_t)pthread_self();

		memcpy(wp, &v, 8);
		wp += 8;
	}
	if (m & RTR_CTF_CTX_IP) {
		uint64_t v = (uint64_t)(uintptr_t)ip;

		memcpy(wp, &v, 8);
		wp += 8;
	}
	if (src) {
		memcpy(wp, vals, src->size);
		wp += src->size;
	}
	return wp;
}

uint32_t rtr__ctx_size(uint32_t m)
{
	return ((m & RTR_CTF_CTX_VPID) ? 4u : 0u) + ((m & RTR_CTF_CTX_VTID) ? 4u : 0u) +
	       ((m & RTR_CTF_CTX_PROCNAME) ? 16u : 0u) + ((m & RTR_CTF_CTX_PTHREAD_ID) ? 8u : 0u) +
	       ((m & RTR_CTF_CTX_IP) ? 8u : 0u);
}
