/* CTF ring buffer clients: host configurations with the packet hook, the
 * packet header encoder, and the out-of-line writer probes call for every
 * client but the inlined one. See docs/design/ctf-writer.md §2-3. */
#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>

#include "ctf-writer.h"

/* Host (reader) side configurations: the writer's plus the packet hook. */
static const struct rtr_ring_config host_cfg[RTR_CTF_CLIENT_MAX + 1] = {
    [RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ] =
	RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ,
				 RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ, rtr_ctf_packet_hook),
    [RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ] = RTR_CTF_RING_CONFIG_INIT(
	RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ,
	RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ, rtr_ctf_packet_hook),
    [RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC] = RTR_CTF_RING_CONFIG_INIT(
	RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC,
	RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC, rtr_ctf_packet_hook),
    [RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC] = RTR_CTF_RING_CONFIG_INIT(
	RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC,
	RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC, rtr_ctf_packet_hook),
    [RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC] =
	RTR_CTF_RING_CONFIG_INIT(RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC,
				 RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, rtr_ctf_packet_hook),
    [RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC] = RTR_CTF_RING_CONFIG_INIT(
	RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC,
	RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC, rtr_ctf_packet_hook),
};

const struct rtr_ring_config *rtr_ctf_host_config(uint32_t client)
{
	if (client == RTR_CTF_CLIENT_NONE || client > RTR_CTF_CLIENT_MAX)
		return NULL;
	return &host_cfg[client];
}

int rtr_ctf_client_select(enum rtr_ring_alloc alloc, enum rtr_ring_mode mode,
			  enum rtr_ring_sync sync)
{
	for (uint32_t c = 1; c <= RTR_CTF_CLIENT_MAX; c++) {
		const struct rtr_ring_config *cfg = &host_cfg[c];

		if (cfg->alloc != alloc || cfg->mode != mode || cfg->sync != sync)
			continue;
		if (sync == RTR_RING_SYNC_RSEQ && !RTR_HAVE_RSEQ)
			return -ENOTSUP;
		return (int)c;
	}
	return -EINVAL;
}

/* ------------------------------------------------------------------------
 * Packet header + context (84 bytes, byte-packed, host byte order)
 * ------------------------------------------------------------------------ */

static char *put32(char *p, uint32_t v)
{
	memcpy(p, &v, 4);
	return p + 4;
}

static char *put64(char *p, uint64_t v)
{
	memcpy(p, &v, 8);
	return p + 8;
}

void rtr_ctf_packet_header_encode(void *dst, const struct rtr_ctf_stream_priv *s,
				  const struct rtr_ring_packet_info *info)
{
	static const uint8_t zero_uuid[16];
	char *p = dst;
	/* The consumer writes exactly data_size bytes: the packet ends where
	 * its content does (both in bits). */
	uint64_t bits = info->data_size * 8;

	p = put32(p, RTR_CTF_PACKET_MAGIC);
	memcpy(p, s ? s->trace_uuid : zero_uuid, 16);
	p += 16;
	p = put32(p, s ? s->stream_class_id : 0);
	p = put64(p, s ? s->stream_instance_id : info->cpu);
	/* packet context */
	p = put64(p, info->begin_ts);
	p = put64(p, info->end_ts);
	p = put64(p, bits); /* content_size */
	p = put64(p, bits); /* packet_size */
	p = put64(p, info->seq);
	p = put64(p, info->lost);
	p = put32(p, s ? s->cpu_id : info->cpu);
}

_Static_assert(4 + 16 + 4 + 8 + 6 * 8 + 4 == RTR_CTF_PACKET_HEADER_SIZE,
	       "packet header layout and RTR_CTF_PACKET_HEADER_SIZE disagree");

void rtr_ctf_packet_hook(const struct rtr_ring_config *cfg, const struct rtr_ring_buf *buf,
			 void *subbuf, const struct rtr_ring_packet_info *info)
{
	(void)cfg;
	rtr_ctf_packet_header_encode(subbuf, buf->client_priv, info);
}

/* ------------------------------------------------------------------------
 * Out-of-line writer: the clients the probes do not inline
 * ------------------------------------------------------------------------ */

static RTR_ALWAYS_INLINE char *reserve_with(const struct rtr_ring_config *cfg,
					    const struct rtr_event_binding *b, size_t payload_size,
					    struct rtr_ring_ctx *ctx)
{
	return rtr_ctf_reserve_with(cfg, b->chan, b->event_id, payload_size, ctx);
}

static char *reserve_client(const struct rtr_event_binding *b, uint32_t client,
			    size_t payload_size, struct rtr_ring_ctx *ctx);

/* A binding with a counter context: the values are read before the
 * record is reserved (a system call inside an open reservation would
 * keep it open that much longer), then copied after the header. */
static char *reserve_ctx(const struct rtr_event_binding *b, size_t payload_size,
			 struct rtr_ring_ctx *ctx)
{
	const struct rtr_ctf_ctx_src *src = b->client_priv;
	uint8_t vals[RTR_CTF_CTX_MAX];
	char *p;

	if (!src || src->size > RTR_CTF_CTX_MAX)
		return NULL;
	src->read(src, vals);
	p = reserve_client(b, b->client & RTR_CTF_CLIENT_MASK, payload_size + src->size, ctx);
	if (!p)
		return NULL;
	memcpy(p, vals, src->size);
	return p + src->size;
}

char *rtr_ctf__reserve(const struct rtr_event_binding *b, size_t payload_size,
		       struct rtr_ring_ctx *ctx)
{
	if (b->client & RTR_CTF_CLIENT_CTX)
		return reserve_ctx(b, payload_size, ctx);
	return reserve_client(b, b->client, payload_size, ctx);
}

static char *reserve_client(const struct rtr_event_binding *b, uint32_t client,
			    size_t payload_size, struct rtr_ring_ctx *ctx)
{
	switch (client) {
#if RTR_HAVE_RSEQ
	case RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ:
		return reserve_with(&host_cfg[RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ], b, payload_size,
				    ctx);
	case RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ:
		return reserve_with(&host_cfg[RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ], b,
				    payload_size, ctx);
#endif
	case RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC:
		return reserve_with(&host_cfg[RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC], b,
				    payload_size, ctx);
	case RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC:
		return reserve_with(&host_cfg[RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC], b,
				    payload_size, ctx);
	case RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC:
		return reserve_with(&host_cfg[RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC], b,
				    payload_size, ctx);
	case RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC:
		return reserve_with(&host_cfg[RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC], b,
				    payload_size, ctx);
	default:
		/* unknown client: the binding is wrong; drop, and count the
		 * loss where the reader sees it */
		if (b->chan)
			rtr_ring_chan_count_lost(b->chan);
		return NULL;
	}
}

void rtr_ctf__commit(const struct rtr_event_binding *b, struct rtr_ring_ctx *ctx)
{
	switch (b->client & ~RTR_CTF_CLIENT_CTX) {
#if RTR_HAVE_RSEQ
	case RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ:
		rtr_ring_commit(&host_cfg[RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ], ctx);
		break;
	case RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ:
		rtr_ring_commit(&host_cfg[RTR_CTF_CLIENT_PERCPU_OVERWRITE_RSEQ], ctx);
		break;
#endif
	case RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC:
		rtr_ring_commit(&host_cfg[RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC], ctx);
		break;
	case RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC:
		rtr_ring_commit(&host_cfg[RTR_CTF_CLIENT_PERCPU_OVERWRITE_ATOMIC], ctx);
		break;
	case RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC:
		rtr_ring_commit(&host_cfg[RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC], ctx);
		break;
	case RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC:
		rtr_ring_commit(&host_cfg[RTR_CTF_CLIENT_GLOBAL_OVERWRITE_ATOMIC], ctx);
		break;
	default:
		break; /* unreachable: reserve returned NULL */
	}
}

/* ------------------------------------------------------------------------
 * Counters
 * ------------------------------------------------------------------------ */

static const struct rtr_ctf_counter_info counters[RTR_CTF_COUNTER_COUNT] = {
    [RTR_CTF_COUNTER_PAGE_FAULTS] = {"page-faults", "perf_thread_page_fault",
				     PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS},
    [RTR_CTF_COUNTER_CONTEXT_SWITCHES] = {"context-switches", "perf_thread_context_switches",
					  PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CONTEXT_SWITCHES},
    [RTR_CTF_COUNTER_CPU_CLOCK] = {"cpu-clock", "perf_thread_cpu_clock", PERF_TYPE_SOFTWARE,
				   PERF_COUNT_SW_CPU_CLOCK},
    [RTR_CTF_COUNTER_TASK_CLOCK] = {"task-clock", "perf_thread_task_clock", PERF_TYPE_SOFTWARE,
				    PERF_COUNT_SW_TASK_CLOCK},
    [RTR_CTF_COUNTER_MINOR_FAULTS] = {"minor-faults", "perf_thread_minor_faults",
				      PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MIN},
    [RTR_CTF_COUNTER_MAJOR_FAULTS] = {"major-faults", "perf_thread_major_faults",
				      PERF_TYPE_SOFTWARE, PERF_COUNT_SW_PAGE_FAULTS_MAJ},
    [RTR_CTF_COUNTER_CPU_MIGRATIONS] = {"cpu-migrations", "perf_thread_cpu_migrations",
					PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_MIGRATIONS},
    [RTR_CTF_COUNTER_CYCLES] = {"cycles", "perf_thread_cpu_cycles", PERF_TYPE_HARDWARE,
				PERF_COUNT_HW_CPU_CYCLES},
    [RTR_CTF_COUNTER_INSTRUCTIONS] = {"instructions", "perf_thread_instructions",
				      PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
    [RTR_CTF_COUNTER_CACHE_MISSES] = {"cache-misses", "perf_thread_cache_misses",
				      PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
    [RTR_CTF_COUNTER_BRANCH_MISSES] = {"branch-misses", "perf_thread_branch_misses",
				       PERF_TYPE_HARDWARE, PERF_COUNT_HW_BRANCH_MISSES},
};

const struct rtr_ctf_counter_info *rtr_ctf_counter(unsigned n)
{
	return n < RTR_CTF_COUNTER_COUNT ? &counters[n] : NULL;
}

uint32_t rtr_ctf_counter_fields(uint32_t mask, struct rtr_field_desc *out)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < RTR_CTF_COUNTER_COUNT; i++) {
		if (!(mask & (1u << i)))
			continue;
		memset(&out[n], 0, sizeof(out[n]));
		out[n].name = counters[i].field;
		out[n].kind = RTR_FIELD_INTEGER;
		out[n].integer.size_bits = 64;
		out[n].integer.base = RTR_BASE_DEC;
		n++;
	}
	return n;
}
