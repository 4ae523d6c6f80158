/* Compiled (never run) by test_ring_headers.sh as C99..C2x and C++11..20
 * under a program's strictest warning flags: a ring buffer client that
 * instantiates every inline path of <ringtrace/ring.h> (reserve, write,
 * commit; RSEQ and ATOMIC sync; discard and overwrite), so that warnings
 * only emitted where the code is used show up too. */
#include <ringtrace/ring.h>

static uint64_t hc_clock(void)
{
	return 42;
}

static size_t hc_header_size(const struct rtr_ring_config *cfg, const struct rtr_ring_ctx *ctx)
{
	(void)cfg;
	return ctx->full_ts ? 12u : 4u;
}

#define HC_CONFIG(name, alloc, mode, sync)                                                 \
	static const struct rtr_ring_config name = {                                       \
		alloc, mode, sync, RTR_RING_WAKEUP_TIMER, 27, 8, 48, 0x7e57,                \
		{hc_clock, hc_header_size, 0}}

HC_CONFIG(hc_rseq, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ);
HC_CONFIG(hc_rseq_ow, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_RSEQ);
HC_CONFIG(hc_atomic, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC);
HC_CONFIG(hc_atomic_ow, RTR_RING_ALLOC_PER_CPU, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC);

static int hc_write(const struct rtr_ring_config *cfg, struct rtr_ring_chan *chan, uint64_t v)
{
	struct rtr_ring_ctx ctx;
	uint32_t h = 8;
	int r;

	ctx.payload_size = sizeof(v);
	ctx.client_id = 1;
	r = rtr_ring_reserve(cfg, chan, &ctx);
	if (r)
		return r;
	rtr_ring_write(&ctx, &h, sizeof(h));
	if (ctx.full_ts)
		rtr_ring_write(&ctx, &ctx.ts, sizeof(ctx.ts));
	rtr_ring_write(&ctx, &v, sizeof(v));
	rtr_ring_commit(cfg, &ctx);
	return 0;
}

int rtr_header_client(struct rtr_ring_chan *chan, uint64_t v);

int rtr_header_client(struct rtr_ring_chan *chan, uint64_t v)
{
	int r = hc_write(&hc_atomic, chan, v) + hc_write(&hc_atomic_ow, chan, v);

#if RTR_HAVE_RSEQ
	r += hc_write(&hc_rseq, chan, v) + hc_write(&hc_rseq_ow, chan, v);
#else
	(void)hc_rseq;
	(void)hc_rseq_ow;
#endif
	return r;
}
