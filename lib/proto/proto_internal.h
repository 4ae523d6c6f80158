/* ringtrace control protocol: internals shared by the codec files. */
#ifndef RTR_PROTO_INTERNAL_H
#define RTR_PROTO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* Bounds-checked little-endian reader. Once `bad` is set every get returns
 * 0/NULL and the first error message stays. */
struct rtr__proto_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
	size_t base; /* added to off in messages (offset of p in the datagram) */
	bool bad;
	const char *what; /* message type name for errors */
	char *err;
	size_t errlen;
};

void rtr__proto_fail(struct rtr__proto_rd *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes the message into err (if any room) and returns code. */
int rtr__proto_say(int code, char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
uint8_t rtr__proto_u8(struct rtr__proto_rd *r, const char *what);
uint16_t rtr__proto_u16(struct rtr__proto_rd *r, const char *what);
uint32_t rtr__proto_u32(struct rtr__proto_rd *r, const char *what);
uint64_t rtr__proto_u64(struct rtr__proto_rd *r, const char *what);
/* A string: u16 length (NUL included, 1..max), bytes, the only NUL last. */
const char *rtr__proto_str(struct rtr__proto_rd *r, size_t max, const char *what);

uint16_t rtr__proto_ld16(const uint8_t *p);
uint32_t rtr__proto_ld32(const uint8_t *p);
uint64_t rtr__proto_ld64(const uint8_t *p);

bool rtr__proto_identifier(const char *s);
bool rtr__proto_printable(const char *s);

void rtr__proto_patch_u32(struct rtr_proto_out *o, size_t at, uint32_t v);

#endif /* RTR_PROTO_INTERNAL_H */
