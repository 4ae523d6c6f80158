/* libFuzzer harness for the ring buffer's trust boundary (lib/ring): the
 * shared control area is written by processes the reader does not trust.
 * An input is a program: a configuration byte, then operations (valid
 * writes, stores of arbitrary values into any word of the control area
 * after its header, reader calls: get/put, flush, salvage, snapshot,
 * stats, mapping a second handle). Whatever the control area holds, the
 * reader and the writer must stay inside the mapping, return documented
 * values and terminate; ASan/UBSan check the rest. Seeds: corpus/. */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ring_test_client.h"

TC_CONFIG(cfg_d, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_ATOMIC, 27);
TC_CONFIG(cfg_o, RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_OVERWRITE, RTR_RING_SYNC_ATOMIC, 27);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_subbuf(const struct rtr_ring_buf *b, const struct rtr_ring_subbuf *sb)
{
	const char *lo = b->data, *hi = b->data + ((uint64_t)b->nr_phys << b->sb_order);

	if (sb->data < lo || sb->data + b->sb_size > hi || sb->len > b->sb_size ||
	    sb->len < TC_PKT_HDR)
		abort(); /* handed out something outside its sub-buffer */
	(void)tc_walk(sb, NULL, NULL, &(const char *){""}); /* garbage is fine */
}

static void reader_op(const struct rtr_ring_config *cfg, struct rtr_ring_buf *b, uint8_t op)
{
	struct rtr_ring_subbuf sb;
	struct rtr_ring_stats st;
	int r;

	switch (op % 6) {
	case 0:
		for (int i = 0; i < 8 && (r = rtr_ring_get_subbuf(cfg, b, &sb)) == 0; i++) {
			check_subbuf(b, &sb);
			if (rtr_ring_put_subbuf(cfg, b) != 0)
				abort();
		}
		break;
	case 1:
		r = rtr_ring_flush(cfg, b, (op & 8) ? RTR_RING_FLUSH_EMPTY : RTR_RING_FLUSH_ACTIVE,
				   true);
		if (r != 0 && r != -EAGAIN && r != -ENOBUFS && r != -EIO)
			abort();
		break;
	case 2:
		if (rtr_ring_salvage(cfg, b) != 0 && !b->rd.failed)
			abort();
		break;
	case 3:
		r = rtr_ring_snapshot_start(cfg, b);
		if (r != 0 && r != -EIO)
			abort();
		break;
	case 4:
		rtr_ring_buf_stats(b, &st);
		(void)rtr_ring_buf_lost(b);
		(void)rtr_ring_buf_error(b);
		break;
	default:
		if (rtr_ring_get_subbuf(cfg, b, &sb) == 0) {
			check_subbuf(b, &sb);
			if (rtr_ring_put_subbuf(cfg, b) != 0)
				abort();
		}
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtr_ring_geometry geo = {.subbuf_size = 4096, .num_subbuf = 2};
	const struct rtr_ring_config *cfg;
	struct rtr_ring_chan *chan;
	struct rtr_ring_buf *b, *b2 = NULL;
	size_t words, i = 1;
	uint64_t seq = 0, now = 1000;

	if (size < 1)
		return 0;
	cfg = (data[0] & 1) ? &cfg_o : &cfg_d;
	geo.num_subbuf = 2u << ((data[0] >> 1) & 1);
	atomic_store(&tc_fake_clock, 1);
	chan = rtr_ring_chan_alloc(1);
	if (!chan || rtr_ring_buf_create(cfg, &geo, 0, "fuzz", &chan->bufs[0]) != 0)
		abort();
	b = chan->bufs[0];
	words = (sizeof(struct rtr_ring_ctl) - sizeof(struct rtr_ring_shm_header) +
		 geo.num_subbuf * sizeof(struct rtr_ring_sb)) / 8;
	while (i < size) {
		uint8_t op = data[i++];

		switch (op >> 6) {
		case 0: /* n valid records of a size */
			for (int k = 0; k <= (op & 15); k++) {
				now += (uint64_t)(op & 0x30) << 20; /* sometimes full timestamps */
				atomic_store(&tc_fake_now, now);
				(void)tc_write(cfg, chan, 0, seq++, 24 + (uint32_t)(op & 15) * 97);
			}
			break;
		case 1: { /* store a value into a control word (after the header) */
			uint64_t v = 0;
			size_t w;

			if (i + 2 > size)
				goto out;
			w = ((size_t)data[i] | (size_t)data[i + 1] << 8) % words;
			i += 2;
			for (int k = 0; k < (op & 7) + 1 && i < size; k++)
				v |= (uint64_t)data[i++] << (8 * k);
			if (op & 8)
				v = ~v;
			((volatile uint64_t *)(void *)&b->ctl->pos)[w] = v;
			break;
		}
		case 2:
			reader_op(cfg, b, op);
			if (b2)
				reader_op(cfg, b2, (uint8_t)(op >> 3));
			break;
		default: /* a second reader handle, as another process maps it */
			if (!b2) {
				int fd = dup(b->fd);

				if (fd >= 0 && rtr_ring_buf_map(cfg, fd, &b2) != 0) {
					close(fd);
					b2 = NULL;
				}
			}
			break;
		}
	}
out:
	rtr_ring_nesting = 0;
	rtr_ring_buf_destroy(b2);
	rtr_ring_buf_destroy(b);
	rtr_ring_chan_free(chan);
	return 0;
}
