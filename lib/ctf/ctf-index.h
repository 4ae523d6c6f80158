/* LTTng's packet index format (index/<stream>.idx, version 1.1,
 * big-endian): the one codec that the CTF writer (lib/ctf/stream.c) writes
 * and the reader (lib/reader/iter/index.c) reads. Depends on libc only.
 * Design: docs/design/ctf-writer.md §5. */
#ifndef RTR_CTF_INDEX_H
#define RTR_CTF_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define RTR_CTF_INDEX_MAGIC	  0xC1F1DCC1u
#define RTR_CTF_INDEX_MAJOR	  1u
#define RTR_CTF_INDEX_MINOR	  1u
#define RTR_CTF_INDEX_HEADER_SIZE 16u /* magic, major, minor, entry size: u32 each */
#define RTR_CTF_INDEX_ENTRY_SIZE  72u /* the nine u64 below */

struct rtr_ctf_index_entry {
	uint64_t offset;       /* bytes from the start of the stream file */
	uint64_t packet_size;  /* bits */
	uint64_t content_size; /* bits */
	uint64_t timestamp_begin;
	uint64_t timestamp_end;
	uint64_t events_discarded;
	uint64_t stream_id;
	uint64_t stream_instance_id; /* 1.1 */
	uint64_t packet_seq_num;     /* 1.1 */
};

/* The 16-byte file header. */
void rtr_ctf_index_header_encode(uint8_t dst[RTR_CTF_INDEX_HEADER_SIZE]);
/* One 72-byte entry, big-endian. */
void rtr_ctf_index_entry_encode(uint8_t dst[RTR_CTF_INDEX_ENTRY_SIZE],
				const struct rtr_ctf_index_entry *e);
/* Checks a file header: returns the entry size (>= 56, the 1.0 size), or
 * -EINVAL (bad magic or major). */
int rtr_ctf_index_header_decode(const uint8_t *src, size_t len);
/* Decodes one entry (entry_size from the header; 1.0 entries leave the
 * 1.1 fields at UINT64_MAX). Returns 0 or -EINVAL (len too short). */
int rtr_ctf_index_entry_decode(const uint8_t *src, size_t len, size_t entry_size,
			       struct rtr_ctf_index_entry *e);

#endif /* RTR_CTF_INDEX_H */
