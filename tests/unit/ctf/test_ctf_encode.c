/* Unit tests of the CTF byte encodings (docs/design/ctf-writer.md): event
 * header (compact and extended), packet header + context, packet index
 * entries (checked against hand-written bytes and LTTng index files from
 * the corpus). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctf-writer.h"
#include "rtr_test.h"

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void test_event_header(void)
{
	unsigned char b[32];
	char *end;
	struct rtr_ring_ctx ctx = {0};

	/* compact: id in bits 0..4, timestamp low 27 bits in bits 5..31 (LE) */
	memset(b, 0xaa, sizeof(b));
	end = rtr_ctf_event_header_write((char *)b, 7, 0x123456789abcdefull, false);
	CHECK_EQ_U64(end - (char *)b, 4);
	CHECK_EQ_U64(le32(b) & 0x1f, 7);
	CHECK_EQ_U64(le32(b) >> 5, 0x123456789abcdefull & 0x7ffffff);
	CHECK_EQ_U64(b[4], 0xaa); /* nothing written past the header */

	/* id 30 is the last compact one */
	end = rtr_ctf_event_header_write((char *)b, 30, 5, false);
	CHECK_EQ_U64(end - (char *)b, 4);
	CHECK_EQ_U64(le32(b), 30u | (5u << 5));

	/* extended because of the id: 5-bit 31 in the first byte (3 bits of
	 * padding), u32 id, u64 full timestamp: 13 bytes */
	memset(b, 0xaa, sizeof(b));
	end = rtr_ctf_event_header_write((char *)b, 31, 0x1122334455667788ull, false);
	CHECK_EQ_U64(end - (char *)b, 13);
	CHECK_EQ_U64(b[0], 31);
	CHECK_EQ_U64(le32(b + 1), 31);
	CHECK_EQ_U64(le64(b + 5), 0x1122334455667788ull);
	CHECK_EQ_U64(b[13], 0xaa);

	/* extended because the ring buffer says the delta does not fit */
	end = rtr_ctf_event_header_write((char *)b, 3, 0xffffffffffull, true);
	CHECK_EQ_U64(end - (char *)b, 13);
	CHECK_EQ_U64(b[0], 31);
	CHECK_EQ_U64(le32(b + 1), 3);
	CHECK_EQ_U64(le64(b + 5), 0xffffffffffull);

	/* the size callback agrees */
	ctx.client_id = 30;
	CHECK_EQ_U64(rtr_ctf_record_header_size(NULL, &ctx), 4);
	ctx.client_id = 31;
	CHECK_EQ_U64(rtr_ctf_record_header_size(NULL, &ctx), 13);
	ctx.client_id = 0;
	ctx.full_ts = true;
	CHECK_EQ_U64(rtr_ctf_record_header_size(NULL, &ctx), 13);

	/* an event with one uint64_t field: 96 bits with a compact header */
	ctx.full_ts = false;
	CHECK_EQ_U64((rtr_ctf_record_header_size(NULL, &ctx) + sizeof(uint64_t)) * 8, 96);
}

static void test_packet_header(void)
{
	unsigned char b[RTR_CTF_PACKET_HEADER_SIZE + 4];
	struct rtr_ctf_stream_priv s = {
	    .stream_class_id = 0x0102,
	    .cpu_id = 7,
	    .stream_instance_id = 0x0a0b0c0d0e0f1011ull,
	};
	struct rtr_ring_packet_info info = {
	    .seq = 42,
	    .begin_ts = 1000,
	    .end_ts = 2000,
	    .data_size = 4000,
	    .lost = 3,
	    .cpu = 5,
	};

	for (int i = 0; i < 16; i++)
		s.trace_uuid[i] = (uint8_t)(0xf0 + i);
	memset(b, 0xaa, sizeof(b));
	rtr_ctf_packet_header_encode(b, &s, &info);
	CHECK_EQ_U64(le32(b + 0), 0xC1FC1FC1u);
	CHECK(b[0] == 0xC1 && b[1] == 0x1F && b[2] == 0xFC && b[3] == 0xC1);
	CHECK(memcmp(b + 4, s.trace_uuid, 16) == 0);
	CHECK_EQ_U64(le32(b + 20), 0x0102);		   /* stream_id */
	CHECK_EQ_U64(le64(b + 24), 0x0a0b0c0d0e0f1011ull); /* stream_instance_id */
	CHECK_EQ_U64(le64(b + 32), 1000);		   /* timestamp_begin */
	CHECK_EQ_U64(le64(b + 40), 2000);		   /* timestamp_end */
	CHECK_EQ_U64(le64(b + 48), 32000);		   /* content_size, bits */
	CHECK_EQ_U64(le64(b + 56), 32000);		   /* packet_size, bits */
	CHECK_EQ_U64(le64(b + 64), 42);			   /* packet_seq_num */
	CHECK_EQ_U64(le64(b + 72), 3);			   /* events_discarded */
	CHECK_EQ_U64(le32(b + 80), 7);			   /* cpu_id */
	CHECK_EQ_U64(b[84], 0xaa);			   /* exactly 84 bytes */

	/* no stream identity: zero uuid, stream 0, the buffer's CPU */
	rtr_ctf_packet_header_encode(b, NULL, &info);
	for (int i = 4; i < 20; i++)
		CHECK_EQ_U64(b[i], 0);
	CHECK_EQ_U64(le32(b + 20), 0);
	CHECK_EQ_U64(le64(b + 24), 5);
	CHECK_EQ_U64(le32(b + 80), 5);

	/* packet header overhead for 64 KiB sub-buffers: under 1% */
	CHECK(RTR_CTF_PACKET_HEADER_SIZE * 100 < 65536);
}

static void test_clients(void)
{
	for (uint32_t c = 1; c <= RTR_CTF_CLIENT_MAX; c++) {
		const struct rtr_ring_config *cfg = rtr_ctf_host_config(c);

		REQUIRE(cfg != NULL);
		CHECK_EQ_U64(cfg->client_id, RTR_CTF_RING_CLIENT_ID(c));
		CHECK_EQ_U64(cfg->ts_bits, 27);
		CHECK_EQ_U64(cfg->record_align, 1);
		CHECK_EQ_U64(cfg->subbuf_header_size, RTR_CTF_PACKET_HEADER_SIZE);
		CHECK(cfg->cb.packet_hook == rtr_ctf_packet_hook);
		CHECK_EQ_I64(rtr_ctf_client_select(cfg->alloc, cfg->mode, cfg->sync),
			     RTR_HAVE_RSEQ || cfg->sync != RTR_RING_SYNC_RSEQ ? (int)c : -ENOTSUP);
	}
	CHECK(rtr_ctf_host_config(0) == NULL);
	CHECK(rtr_ctf_host_config(RTR_CTF_CLIENT_MAX + 1) == NULL);
	CHECK_EQ_I64(
	    rtr_ctf_client_select(RTR_RING_ALLOC_GLOBAL, RTR_RING_MODE_DISCARD, RTR_RING_SYNC_RSEQ),
	    -EINVAL);
	/* the writer's inline configurations match the host's but for the hook */
	{
		const struct rtr_ring_config *h = rtr_ctf_host_config(RTR_CTF_CLIENT_INLINE);
		const struct rtr_ring_config *ho = rtr_ctf_host_config(RTR_CTF_CLIENT_INLINE_OW);

		CHECK(h->alloc == rtr_ctf_cfg_inline.alloc && h->mode == rtr_ctf_cfg_inline.mode &&
		      h->sync == rtr_ctf_cfg_inline.sync &&
		      h->client_id == rtr_ctf_cfg_inline.client_id);
		CHECK(rtr_ctf_cfg_inline.cb.packet_hook == NULL);
		CHECK(ho->alloc == rtr_ctf_cfg_inline_ow.alloc &&
		      ho->mode == rtr_ctf_cfg_inline_ow.mode &&
		      ho->sync == rtr_ctf_cfg_inline_ow.sync &&
		      ho->client_id == rtr_ctf_cfg_inline_ow.client_id);
		CHECK(ho->mode == RTR_RING_MODE_OVERWRITE && h->mode == RTR_RING_MODE_DISCARD);
		CHECK(rtr_ctf_cfg_inline_ow.cb.packet_hook == NULL);
	}
}

static void test_index_bytes(void)
{
	static const uint8_t want_hdr[16] = {0xC1, 0xF1, 0xDC, 0xC1, 0, 0, 0, 1,
					     0,	   0,	 0,    1,    0, 0, 0, 72};
	struct rtr_ctf_index_entry e =
				       {
					   .offset = 0x0102030405060708ull,
					   .packet_size = 0x8000,
					   .content_size = 0x7fc0,
					   .timestamp_begin = 0x363e2ba3ed31cull,
					   .timestamp_end = 0x363e4b041750bull,
					   .events_discarded = 9,
					   .stream_id = 1,
					   .stream_instance_id = 3,
					   .packet_seq_num = 0xfedcba9876543210ull,
				       },
				   d;
	uint8_t hdr[16], ent[72];

	rtr_ctf_index_header_encode(hdr);
	CHECK(memcmp(hdr, want_hdr, 16) == 0);
	CHECK_EQ_I64(rtr_ctf_index_header_decode(hdr, 16), 72);
	CHECK_EQ_I64(rtr_ctf_index_header_decode(hdr, 15), -EINVAL);
	hdr[0] ^= 1;
	CHECK_EQ_I64(rtr_ctf_index_header_decode(hdr, 16), -EINVAL);

	rtr_ctf_index_entry_encode(ent, &e);
	/* big-endian, in LTTng's field order */
	CHECK(ent[0] == 0x01 && ent[7] == 0x08);
	CHECK(ent[8 + 6] == 0x80 && ent[8 + 7] == 0x00);
	CHECK(ent[16 + 6] == 0x7f && ent[16 + 7] == 0xc0);
	CHECK(ent[24] == 0x00 && ent[24 + 1] == 0x03 && ent[24 + 2] == 0x63 && ent[24 + 7] == 0x1c);
	CHECK(ent[40 + 7] == 9 && ent[48 + 7] == 1 && ent[56 + 7] == 3);
	CHECK(ent[64] == 0xfe && ent[71] == 0x10);
	CHECK(rtr_ctf_index_entry_decode(ent, 72, 72, &d) == 0);
	CHECK(memcmp(&d, &e, sizeof(d)) == 0);
	/* a 1.0 entry (56 bytes) has no instance id nor sequence number */
	CHECK(rtr_ctf_index_entry_decode(ent, 56, 56, &d) == 0);
	CHECK_EQ_U64(d.stream_id, 1);
	CHECK_EQ_U64(d.stream_instance_id, UINT64_MAX);
	CHECK_EQ_U64(d.packet_seq_num, UINT64_MAX);
	CHECK_EQ_I64(rtr_ctf_index_entry_decode(ent, 40, 72, &d), -EINVAL);
}

/* An index written by LTTng: our decoder reads it, and re-encoding every
 * entry gives back the same bytes (same layout). */
static void test_index_corpus(const char *dir)
{
	char path[512];
	uint8_t buf[4096], again[72];
	size_t n;
	FILE *f;
	int esz;

	snprintf(path, sizeof(path), "%s/bt-succeed-trace-with-index/trace/index/ust_channel_0.idx",
		 dir);
	f = fopen(path, "rb");
	if (!f) {
		printf("corpus index %s not found: skipped\n", path);
		return;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	esz = rtr_ctf_index_header_decode(buf, n);
	CHECK_EQ_I64(esz, 72);
	CHECK_EQ_U64((n - 16) % 72, 0);
	CHECK_EQ_U64((n - 16) / 72, 5);
	for (size_t off = 16, i = 0; off + 72 <= n; off += 72, i++) {
		struct rtr_ctf_index_entry e;

		CHECK(rtr_ctf_index_entry_decode(buf + off, n - off, 72, &e) == 0);
		CHECK_EQ_U64(e.offset, i * 0x1000);
		CHECK_EQ_U64(e.packet_size, 0x8000);
		CHECK_EQ_U64(e.packet_seq_num, i);
		CHECK(e.timestamp_begin <= e.timestamp_end);
		rtr_ctf_index_entry_encode(again, &e);
		CHECK(memcmp(again, buf + off, 72) == 0);
	}
	/* the file header we write is byte-identical to LTTng's */
	rtr_ctf_index_header_encode(again);
	CHECK(memcmp(again, buf, 16) == 0);
}

int main(int argc, char **argv)
{
	test_event_header();
	test_packet_header();
	test_clients();
	test_index_bytes();
	if (argc > 1)
		test_index_corpus(argv[1]);
	return rtr_test_done("test_ctf_encode");
}
