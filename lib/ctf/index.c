/* LTTng-style packet index files (index/<stream>.idx, version 1.1):
 * big-endian header and 72-byte entries, written by the CTF writer and
 * read by the reader. See docs/design/ctf-writer.md §5. */
#include <errno.h>
#include <string.h>

#include "ctf-index.h"

static void be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
	be32(p, (uint32_t)(v >> 32));
	be32(p + 4, (uint32_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

void rtr_ctf_index_header_encode(uint8_t dst[RTR_CTF_INDEX_HEADER_SIZE])
{
	be32(dst, RTR_CTF_INDEX_MAGIC);
	be32(dst + 4, RTR_CTF_INDEX_MAJOR);
	be32(dst + 8, RTR_CTF_INDEX_MINOR);
	be32(dst + 12, RTR_CTF_INDEX_ENTRY_SIZE);
}

void rtr_ctf_index_entry_encode(uint8_t dst[RTR_CTF_INDEX_ENTRY_SIZE],
				const struct rtr_ctf_index_entry *e)
{
	be64(dst + 0, e->offset);
	be64(dst + 8, e->packet_size);
	be64(dst + 16, e->content_size);
	be64(dst + 24, e->timestamp_begin);
	be64(dst + 32, e->timestamp_end);
	be64(dst + 40, e->events_discarded);
	be64(dst + 48, e->stream_id);
	be64(dst + 56, e->stream_instance_id);
	be64(dst + 64, e->packet_seq_num);
}

/* Index 1.0 entries stop after stream_id. */
#define INDEX_1_0_ENTRY_SIZE 56u

int rtr_ctf_index_header_decode(const uint8_t *src, size_t len)
{
	uint32_t entry;

	if (len < RTR_CTF_INDEX_HEADER_SIZE || get_be32(src) != RTR_CTF_INDEX_MAGIC ||
	    get_be32(src + 4) != RTR_CTF_INDEX_MAJOR)
		return -EINVAL;
	entry = get_be32(src + 12);
	if (entry < INDEX_1_0_ENTRY_SIZE || entry > (1u << 20))
		return -EINVAL;
	return (int)entry;
}

int rtr_ctf_index_entry_decode(const uint8_t *src, size_t len, size_t entry_size,
			       struct rtr_ctf_index_entry *e)
{
	if (entry_size < INDEX_1_0_ENTRY_SIZE || len < entry_size)
		return -EINVAL;
	e->offset = get_be64(src + 0);
	e->packet_size = get_be64(src + 8);
	e->content_size = get_be64(src + 16);
	e->timestamp_begin = get_be64(src + 24);
	e->timestamp_end = get_be64(src + 32);
	e->events_discarded = get_be64(src + 40);
	e->stream_id = get_be64(src + 48);
	e->stream_instance_id = entry_size >= 64 ? get_be64(src + 56) : UINT64_MAX;
	e->packet_seq_num = entry_size >= 72 ? get_be64(src + 64) : UINT64_MAX;
	return 0;
}
