/* ringtrace control protocol (CLI <-> session daemon): encoder and
 * validating decoder. Format: ctl.h; design: docs/design/daemon.md §6. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ctl.h"
#include "proto_internal.h"

enum vtype { V_NONE = 0, V_U64, V_STR };

/* Type of each known tag, and whether it may repeat. */
static const struct {
	uint8_t type;
	bool repeat;
} tags[RTR_CTA_MAX_TAG + 1] = {
    [RTR_CTA_SESSION] = {V_STR, false},	      [RTR_CTA_OUTPUT] = {V_STR, false},
    [RTR_CTA_SNAPSHOT] = {V_U64, false},      [RTR_CTA_CHANNEL] = {V_STR, false},
    [RTR_CTA_SUBBUF_SIZE] = {V_U64, false},   [RTR_CTA_NUM_SUBBUF] = {V_U64, false},
    [RTR_CTA_OVERWRITE] = {V_U64, false},     [RTR_CTA_PER_UID] = {V_U64, false},
    [RTR_CTA_SWITCH_TIMER] = {V_U64, false},  [RTR_CTA_TRACEFILE_SIZE] = {V_U64, false},
    [RTR_CTA_TRACEFILE_COUNT] = {V_U64, false}, [RTR_CTA_PATTERN] = {V_STR, false},
    [RTR_CTA_EXCLUDE] = {V_STR, true},	      [RTR_CTA_LOGLEVEL_TYPE] = {V_U64, false},
    [RTR_CTA_LOGLEVEL] = {V_U64, false},      [RTR_CTA_FILTER] = {V_STR, false},
    [RTR_CTA_CONTEXT] = {V_U64, false},	      [RTR_CTA_MAX_SIZE] = {V_U64, false},
    [RTR_CTA_UID] = {V_U64, true},	      [RTR_CTA_ALL_UIDS] = {V_U64, false},
    [RTR_CTA_STATUS] = {V_U64, false},	      [RTR_CTA_TEXT] = {V_STR, true},
    [RTR_CTA_DAEMON] = {V_STR, false},	      [RTR_CTA_NAME] = {V_STR, false},
    [RTR_CTA_ERROR] = {V_STR, false},
};

const char *rtr_ctl_type_name(unsigned type)
{
	static const char *const names[] = {
	    [RTR_CTL_PING] = "ping",
	    [RTR_CTL_CREATE] = "create",
	    [RTR_CTL_ENABLE_CHANNEL] = "enable-channel",
	    [RTR_CTL_ENABLE_EVENT] = "enable-event",
	    [RTR_CTL_DISABLE_EVENT] = "disable-event",
	    [RTR_CTL_ADD_CONTEXT] = "add-context",
	    [RTR_CTL_START] = "start",
	    [RTR_CTL_STOP] = "stop",
	    [RTR_CTL_SNAPSHOT] = "snapshot",
	    [RTR_CTL_ROTATE] = "rotate",
	    [RTR_CTL_DESTROY] = "destroy",
	    [RTR_CTL_LIST] = "list",
	    [RTR_CTL_STATUS] = "status",
	};

	if (type == RTR_CTL_REPLY)
		return "reply";
	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return NULL;
}

#define fail(err, errlen, ...) rtr__proto_say(-EPROTO, err, errlen, __VA_ARGS__)

int rtr_ctl_parse(const void *data, size_t len, unsigned nfds, struct rtr_ctl_msg *m, char *err,
		  size_t errlen)
{
	const uint8_t *p = data;
	uint32_t plen, seen = 0;
	uint16_t version, type;
	size_t off;
	bool seen_tag[RTR_CTA_MAX_TAG + 1] = {false};

	if (err && errlen)
		err[0] = 0;
	m->nattrs = 0;
	if (!data || len < RTR_CTL_HDR_SIZE)
		return fail(err, errlen, "control message: %zu bytes, expected a %u-byte header",
			    len, RTR_CTL_HDR_SIZE);
	if (rtr__proto_ld32(p) != RTR_CTL_MAGIC)
		return fail(err, errlen, "control message: bad magic 0x%08x",
			    rtr__proto_ld32(p));
	version = rtr__proto_ld16(p + 4);
	type = rtr__proto_ld16(p + 6);
	plen = rtr__proto_ld32(p + 8);
	m->seq = rtr__proto_ld32(p + 12);
	m->type = type;
	if (version != RTR_CTL_VERSION) {
		fail(err, errlen, "control message: version %u, this side speaks %u", version,
		     RTR_CTL_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (!rtr_ctl_type_name(type))
		return fail(err, errlen, "control message: unknown type %u", type);
	if (plen > RTR_CTL_MAX_PAYLOAD || plen != len - RTR_CTL_HDR_SIZE)
		return fail(err, errlen, "control message: payload of %u bytes, datagram has %zu",
			    plen, len - RTR_CTL_HDR_SIZE);
	if (nfds > (type == RTR_CTL_CREATE || type == RTR_CTL_SNAPSHOT ? 1u : 0u))
		return fail(err, errlen, "control message %s: %u descriptors",
			    rtr_ctl_type_name(type), nfds);
	for (off = RTR_CTL_HDR_SIZE; off < len;) {
		uint16_t tag, n;
		const uint8_t *v;

		if (len - off < 4)
			return fail(err, errlen, "offset %zu: attribute header cut", off);
		tag = rtr__proto_ld16(p + off);
		n = rtr__proto_ld16(p + off + 2);
		v = p + off + 4;
		if ((size_t)n > len - off - 4)
			return fail(err, errlen, "offset %zu: attribute %u of %u bytes, %zu left",
				    off, tag, n, len - off - 4);
		off += 4u + n;
		if (tag > RTR_CTA_MAX_TAG || tags[tag].type == V_NONE)
			continue; /* unknown: a later version's */
		if (seen_tag[tag] && !tags[tag].repeat)
			return fail(err, errlen, "offset %zu: attribute %u repeated", off - n - 4,
				    tag);
		seen_tag[tag] = true;
		if (tags[tag].type == V_U64 && n != 8)
			return fail(err, errlen, "offset %zu: attribute %u: 8 bytes expected, got %u",
				    off - n - 4, tag, n);
		if (tags[tag].type == V_STR) {
			if (n == 0 || n > RTR_CTL_MAX_STR || v[n - 1] != 0 ||
			    memchr(v, 0, n) != v + n - 1)
				return fail(err, errlen,
					    "offset %zu: attribute %u: expected a string of 1..%u "
					    "bytes ending with its only NUL",
					    off - n - 4, tag, RTR_CTL_MAX_STR);
			for (uint16_t i = 0; i + 1 < n; i++)
				if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
					return fail(err, errlen,
						    "offset %zu: attribute %u: control character",
						    off - n - 4, tag);
		}
		if (seen >= RTR_CTL_MAX_ATTRS)
			return fail(err, errlen, "more than %u attributes", RTR_CTL_MAX_ATTRS);
		m->attrs[seen++] = (struct rtr_ctl_attr){tag, n, v};
	}
	m->nattrs = seen;
	return 0;
}

const char *rtr_ctl_next_str(const struct rtr_ctl_msg *m, uint16_t tag, uint32_t *i)
{
	for (; *i < m->nattrs; (*i)++)
		if (m->attrs[*i].tag == tag && tag <= RTR_CTA_MAX_TAG &&
		    tags[tag].type == V_STR)
			return (const char *)m->attrs[(*i)++].val;
	return NULL;
}

bool rtr_ctl_next_u64(const struct rtr_ctl_msg *m, uint16_t tag, uint32_t *i, uint64_t *v)
{
	for (; *i < m->nattrs; (*i)++)
		if (m->attrs[*i].tag == tag && tag <= RTR_CTA_MAX_TAG &&
		    tags[tag].type == V_U64) {
			*v = rtr__proto_ld64(m->attrs[(*i)++].val);
			return true;
		}
	return false;
}

const char *rtr_ctl_str(const struct rtr_ctl_msg *m, uint16_t tag)
{
	uint32_t i = 0;

	return rtr_ctl_next_str(m, tag, &i);
}

bool rtr_ctl_u64(const struct rtr_ctl_msg *m, uint16_t tag, uint64_t *v)
{
	uint32_t i = 0;

	return rtr_ctl_next_u64(m, tag, &i, v);
}

/* ------------------------------------------------------------------------
 * Encoding
 * ------------------------------------------------------------------------ */

void rtr_ctl_begin(struct rtr_proto_out *o, unsigned type, uint32_t seq)
{
	memset(o->data, 0, RTR_CTL_HDR_SIZE);
	o->data[0] = (uint8_t)RTR_CTL_MAGIC;
	o->data[1] = (uint8_t)(RTR_CTL_MAGIC >> 8);
	o->data[2] = (uint8_t)(RTR_CTL_MAGIC >> 16);
	o->data[3] = (uint8_t)(RTR_CTL_MAGIC >> 24);
	o->data[4] = RTR_CTL_VERSION;
	o->data[6] = (uint8_t)type;
	o->data[7] = (uint8_t)(type >> 8);
	for (int i = 0; i < 4; i++)
		o->data[12 + i] = (uint8_t)(seq >> (8 * i));
	o->len = RTR_CTL_HDR_SIZE;
	o->overflow = false;
}

void rtr_ctl_put_u64(struct rtr_proto_out *o, uint16_t tag, uint64_t v)
{
	rtr_proto_put_u16(o, tag);
	rtr_proto_put_u16(o, 8);
	rtr_proto_put_u64(o, v);
}

void rtr_ctl_put_str(struct rtr_proto_out *o, uint16_t tag, const char *s)
{
	size_t n = s ? strnlen(s, RTR_CTL_MAX_STR - 1) : 0;

	if (rtr_proto_room(o) < n + 5) {
		o->overflow = true;
		return;
	}
	rtr_proto_put_u16(o, tag);
	rtr_proto_put_u16(o, (uint16_t)(n + 1));
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		rtr_proto_put_u8(o, (c < 0x20 && c != '\t') || c == 0x7f ? '?' : c);
	}
	rtr_proto_put_u8(o, 0);
}

int rtr_ctl_finish(struct rtr_proto_out *o)
{
	uint32_t plen;

	if (o->overflow || o->len < RTR_CTL_HDR_SIZE || o->len - RTR_CTL_HDR_SIZE > RTR_CTL_MAX_PAYLOAD)
		return -EMSGSIZE;
	plen = (uint32_t)(o->len - RTR_CTL_HDR_SIZE);
	for (int i = 0; i < 4; i++)
		o->data[8 + i] = (uint8_t)(plen >> (8 * i));
	return 0;
}

static const char *const loglevel_names[] = {
    "EMERG",	     "ALERT",	      "CRIT",	       "ERR",	       "WARNING",
    "NOTICE",	     "INFO",	      "DEBUG_SYSTEM",  "DEBUG_PROGRAM", "DEBUG_PROCESS",
    "DEBUG_MODULE", "DEBUG_UNIT",   "DEBUG_FUNCTION", "DEBUG_LINE",	"DEBUG",
};

const char *rtr_loglevel_name(int level)
{
	return level >= 0 && level < 15 ? loglevel_names[level] : "?";
}

int rtr_loglevel_parse(const char *s)
{
	char *end;
	long v;

	if (s[0] >= '0' && s[0] <= '9') {
		v = strtol(s, &end, 10);
		return *end || v > 14 ? -1 : (int)v;
	}
	if (!strncasecmp(s, "TRACE_", 6))
		s += 6;
	for (int i = 0; i < 15; i++)
		if (!strcasecmp(s, loglevel_names[i]))
			return i;
	if (!strcasecmp(s, "WARN"))
		return 4;
	if (!strcasecmp(s, "ERROR"))
		return 3;
	return -1;
}

int rtr_size_parse(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || s[0] == '-')
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' || *end == 'B')
		end += (*end == 'i' && end[1] == 'B') ? 2 : 1;
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}
