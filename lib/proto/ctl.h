/* ringtrace control protocol between the CLI (`ringtrace create`, `start`,
 * ...) and the session daemon (`ringtraced`), on the daemon's ctl.sock
 * (rundir.h). Design: docs/design/daemon.md §6.
 *
 * Transport: AF_UNIX SOCK_SEQPACKET, one request and one reply per
 * datagram (rtr_proto_send/recv carry them, with at most one descriptor:
 * the output directory the client opened). Every datagram:
 *
 *   header (16 bytes, little-endian): magic u32 "RTD1", version u16 (1),
 *   type u16, length u32 (payload bytes, <= 64 KiB), seq u32
 *   payload: attributes, each u16 tag, u16 length, value
 *
 * Values: u64 (8 bytes) or str (1..4096 bytes, NUL-terminated, its only
 * NUL last, no control character but tab). Tags a receiver does not know
 * are skipped (a later version may add some); a known tag with a bad
 * length or value, a repeated tag that may not repeat, more than
 * RTR_CTL_MAX_ATTRS attributes: the message is refused. Fuzzed:
 * tests/fuzz/proto (ctl_fuzz).
 */
#ifndef RTR_CTL_H
#define RTR_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

#define RTR_CTL_MAGIC	    0x31445452u /* bytes "RTD1" */
#define RTR_CTL_VERSION	    1
#define RTR_CTL_HDR_SIZE    16u
#define RTR_CTL_MAX_PAYLOAD 65536u
#define RTR_CTL_MAX_ATTRS   256u
#define RTR_CTL_MAX_STR	    4096u

enum rtr_ctl_type {
	RTR_CTL_PING = 1,
	RTR_CTL_CREATE = 2, /* 1 fd: the output directory */
	RTR_CTL_ENABLE_CHANNEL = 3,
	RTR_CTL_ENABLE_EVENT = 4,
	RTR_CTL_DISABLE_EVENT = 5,
	RTR_CTL_ADD_CONTEXT = 6,
	RTR_CTL_START = 7,
	RTR_CTL_STOP = 8,
	RTR_CTL_SNAPSHOT = 9,
	RTR_CTL_ROTATE = 10,
	RTR_CTL_DESTROY = 11,
	RTR_CTL_LIST = 12,
	RTR_CTL_STATUS = 13,
	RTR_CTL_REPLY = 64,
};

enum rtr_ctl_tag {
	/* requests */
	RTR_CTA_SESSION = 1,	    /* str: session name */
	RTR_CTA_OUTPUT = 2,	    /* str: the output directory's path (for messages) */
	RTR_CTA_SNAPSHOT = 3,	    /* u64 0/1 */
	RTR_CTA_CHANNEL = 4,	    /* str */
	RTR_CTA_SUBBUF_SIZE = 5,    /* u64 */
	RTR_CTA_NUM_SUBBUF = 6,	    /* u64 */
	RTR_CTA_OVERWRITE = 7,	    /* u64 0/1 */
	RTR_CTA_PER_UID = 8,	    /* u64 0/1 */
	RTR_CTA_SWITCH_TIMER = 9,   /* u64 us */
	RTR_CTA_TRACEFILE_SIZE = 10,  /* u64 bytes */
	RTR_CTA_TRACEFILE_COUNT = 11, /* u64 */
	RTR_CTA_PATTERN = 12,	      /* str */
	RTR_CTA_EXCLUDE = 13,	      /* str, repeatable */
	RTR_CTA_LOGLEVEL_TYPE = 14,   /* u64: rtr_host_loglevel_type */
	RTR_CTA_LOGLEVEL = 15,	      /* u64 */
	RTR_CTA_FILTER = 16,	      /* str */
	RTR_CTA_CONTEXT = 17,	      /* u64 mask */
	RTR_CTA_MAX_SIZE = 18,	      /* u64 bytes */
	RTR_CTA_UID = 19,	      /* u64, repeatable */
	RTR_CTA_ALL_UIDS = 20,	      /* u64 0/1 */
	/* replies */
	RTR_CTA_STATUS = 32, /* u64: 0 or -errno as two's complement */
	RTR_CTA_TEXT = 33,   /* str, repeatable: a line of output */
	RTR_CTA_DAEMON = 34, /* str: which daemon answered */
	RTR_CTA_NAME = 35,   /* str: the session the command applied to */
	RTR_CTA_ERROR = 36,  /* str: why it failed */
	RTR_CTA_MAX_TAG = 36
};

struct rtr_ctl_attr {
	uint16_t tag;
	uint16_t len;
	const uint8_t *val;
};

struct rtr_ctl_msg {
	uint16_t type;
	uint32_t seq;
	uint32_t nattrs;
	struct rtr_ctl_attr attrs[RTR_CTL_MAX_ATTRS];
};

/*
 * rtr_ctl_parse - validates one received datagram (`nfds` descriptors came
 * with it) and decodes it into *m (attribute values point into data).
 * Returns 0, -EPROTO (malformed; why in err), -EPROTONOSUPPORT (another
 * version). The caller owns the descriptors either way.
 */
int rtr_ctl_parse(const void *data, size_t len, unsigned nfds, struct rtr_ctl_msg *m, char *err,
		  size_t errlen);

/* The first value of tag: a string (NULL if absent), a u64 (false if
 * absent). */
const char *rtr_ctl_str(const struct rtr_ctl_msg *m, uint16_t tag);
bool rtr_ctl_u64(const struct rtr_ctl_msg *m, uint16_t tag, uint64_t *v);
/* Iterates the values of a repeatable string tag: *i starts at 0. */
const char *rtr_ctl_next_str(const struct rtr_ctl_msg *m, uint16_t tag, uint32_t *i);
bool rtr_ctl_next_u64(const struct rtr_ctl_msg *m, uint16_t tag, uint32_t *i, uint64_t *v);

/* Encoding into a struct rtr_proto_out (the same buffer type). */
void rtr_ctl_begin(struct rtr_proto_out *o, unsigned type, uint32_t seq);
void rtr_ctl_put_u64(struct rtr_proto_out *o, uint16_t tag, uint64_t v);
/* Control characters other than tab are replaced with '?'; longer than
 * RTR_CTL_MAX_STR - 1 bytes: cut. */
void rtr_ctl_put_str(struct rtr_proto_out *o, uint16_t tag, const char *s);
/* Returns 0 or -EMSGSIZE (did not fit). */
int rtr_ctl_finish(struct rtr_proto_out *o);

const char *rtr_ctl_type_name(unsigned type);

/* A size of the command lines: "4096", "64k", "1M", "2G" (also "KiB",
 * "kB", "Ki"). Returns 0 with *out, or -EINVAL. */
int rtr_size_parse(const char *s, uint64_t *out);

/* LTTng's log level names without "TRACE_" (level 0 "EMERG" .. 14
 * "DEBUG"); "?" out of range. */
const char *rtr_loglevel_name(int level);
/* A level from a name (case ignored, "TRACE_" optional, also WARN and
 * ERROR) or a number 0..14. Returns it, or -1. */
int rtr_loglevel_parse(const char *s);

#endif /* RTR_CTL_H */
