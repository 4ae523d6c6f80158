/* ringtrace: the armed-sessions file (armed.h): encoder and validating
 * decoder. Fuzzed with the control protocol (tests/fuzz/proto). */
#include <errno.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "armed.h"
#include "ringtrace/event.h"
#include "ctl.h"
#include "proto_internal.h"

enum {
	A_GEN = 1,	    /* u64 */
	A_DAEMON_UID = 2,   /* u64 */
	A_SESSION = 3,	    /* u64 id: opens a session */
	A_NAME = 4,	    /* str */
	A_CLOCK = 5,	    /* u64 */
	A_UID = 6,	    /* u64, repeats */
	A_ALL_UIDS = 7,	    /* u64 */
	A_CHANNEL = 8,	    /* str: opens a channel */
	A_CHAN_INDEX = 9,   /* u64 */
	A_SUBBUF_SIZE = 10, /* u64 */
	A_NUM_SUBBUF = 11,  /* u64 */
	A_OVERWRITE = 12,   /* u64 */
	A_CONTEXT = 13,	    /* u64 */
	A_PATTERN = 14,	    /* str: opens a rule */
	A_RULE_CHAN = 15,   /* u64 */
	A_EXCLUDE = 16,	    /* str, repeats */
	A_LLTYPE = 17,	    /* u64 */
	A_LL = 18,	    /* u64 */
	A_FILTER = 19,	    /* str */
	A_PER_UID = 20,	    /* u64 (channel) */
};

static int fail(char *err, size_t errlen, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, size_t off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (err && errlen) {
		n = snprintf(err, errlen, "armed sessions, offset %zu: ", off);
		if (n >= 0 && (size_t)n < errlen) {
			va_start(ap, fmt);
			vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
			va_end(ap);
		}
	}
	return -EPROTO;
}

static bool is_str_tag(uint16_t t)
{
	return t == A_NAME || t == A_CHANNEL || t == A_PATTERN || t == A_EXCLUDE || t == A_FILTER;
}

int rtr_armed_parse(const void *data, size_t len, struct rtr_armed *a, char *err, size_t errlen)
{
	const uint8_t *p = data;
	struct rtr_armed_session *s = NULL;
	struct rtr_armed_chan *c = NULL;
	struct rtr_armed_rule *r = NULL;
	size_t off;

	memset(a, 0, sizeof(*a));
	if (err && errlen)
		err[0] = 0;
	if (!data || len < RTR_CTL_HDR_SIZE || rtr__proto_ld32(p) != RTR_CTL_MAGIC ||
	    rtr__proto_ld16(p + 4) != RTR_CTL_VERSION || rtr__proto_ld16(p + 6) != RTR_ARMED_TYPE ||
	    rtr__proto_ld32(p + 8) != len - RTR_CTL_HDR_SIZE)
		return fail(err, errlen, 0, "not an armed-sessions file of this version");
	for (off = RTR_CTL_HDR_SIZE; off < len;) {
		uint16_t tag, n;
		const uint8_t *v;
		uint64_t u = 0;
		const char *str = NULL;

		if (len - off < 4)
			return fail(err, errlen, off, "attribute header cut");
		tag = rtr__proto_ld16(p + off);
		n = rtr__proto_ld16(p + off + 2);
		v = p + off + 4;
		if ((size_t)n > len - off - 4)
			return fail(err, errlen, off, "attribute of %u bytes, %zu left", n,
				    len - off - 4);
		if (tag == 0 || tag > A_PER_UID) {
			off += 4u + n;
			continue; /* a later version's */
		}
		if (is_str_tag(tag)) {
			if (n == 0 || n > RTR_CTL_MAX_STR || memchr(v, 0, n) != v + n - 1)
				return fail(err, errlen, off, "bad string");
			for (uint16_t i = 0; i + 1 < n; i++)
				if (v[i] < 0x20 || v[i] == 0x7f)
					return fail(err, errlen, off, "control character in a string");
			str = (const char *)v;
		} else {
			if (n != 8)
				return fail(err, errlen, off, "tag %u: 8 bytes expected", tag);
			u = rtr__proto_ld64(v);
		}
		switch (tag) {
		case A_GEN:
			a->gen = u;
			break;
		case A_DAEMON_UID:
			a->daemon_uid = (uint32_t)u;
			break;
		case A_SESSION:
			if (a->nsessions >= RTR_ARMED_SESSIONS)
				return fail(err, errlen, off, "more than %u sessions",
					    RTR_ARMED_SESSIONS);
			s = &a->s[a->nsessions++];
			s->id = u;
			c = NULL;
			r = NULL;
			break;
		case A_CHANNEL:
			if (!s || s->nchans >= RTR_ARMED_CHANS)
				return fail(err, errlen, off, "channel outside a session, or too many");
			c = &s->chans[s->nchans++];
			c->name = str;
			c->index = s->nchans - 1;
			break;
		case A_PATTERN:
			if (!s || s->nrules >= RTR_ARMED_RULES)
				return fail(err, errlen, off, "rule outside a session, or too many");
			r = &s->rules[s->nrules++];
			r->pattern = str;
			r->chan = UINT32_MAX;
			break;
		default:
			if (!s)
				return fail(err, errlen, off, "tag %u outside a session", tag);
			switch (tag) {
			case A_NAME:
				s->name = str;
				break;
			case A_CLOCK:
				s->clock = u > 255 ? 255 : (uint32_t)u;
				break;
			case A_UID:
				if (s->nuids >= RTR_ARMED_UIDS)
					return fail(err, errlen, off, "too many uids");
				s->uids[s->nuids++] = (uint32_t)u;
				break;
			case A_ALL_UIDS:
				s->all_uids = u != 0;
				break;
			case A_CHAN_INDEX:
			case A_SUBBUF_SIZE:
			case A_NUM_SUBBUF:
			case A_OVERWRITE:
			case A_CONTEXT:
			case A_PER_UID:
				if (!c)
					return fail(err, errlen, off, "tag %u outside a channel", tag);
				if (tag == A_CHAN_INDEX)
					c->index = u > 1024 ? 1024 : (uint32_t)u;
				else if (tag == A_SUBBUF_SIZE)
					c->subbuf_size = u;
				else if (tag == A_NUM_SUBBUF)
					c->num_subbuf = u > UINT32_MAX ? UINT32_MAX : (uint32_t)u;
				else if (tag == A_OVERWRITE)
					c->overwrite = u != 0;
				else if (tag == A_PER_UID)
					c->per_uid = u != 0;
				else
					c->ctx_mask = (uint32_t)u;
				break;
			default: /* rule tags */
				if (!r)
					return fail(err, errlen, off, "tag %u outside a rule", tag);
				if (tag == A_RULE_CHAN) {
					r->chan = (uint32_t)(u > UINT32_MAX ? UINT32_MAX : u);
				} else if (tag == A_EXCLUDE) {
					if (r->nexcludes >= RTR_ARMED_EXCLUDES)
						return fail(err, errlen, off, "too many exclusions");
					r->excludes[r->nexcludes++] = str;
				} else if (tag == A_LLTYPE) {
					r->lltype = u > 2 ? 3 : (uint32_t)u;
				} else if (tag == A_LL) {
					r->ll = u > 14 ? 15 : (uint32_t)u;
				} else {
					r->filter = str;
				}
				break;
			}
			break;
		}
		off += 4u + n;
	}
	/* every session named, every channel and rule complete and in range */
	for (uint32_t i = 0; i < a->nsessions; i++) {
		s = &a->s[i];
		if (!s->name)
			return fail(err, errlen, len, "session %u without a name", i);
		for (uint32_t k = 0; k < s->nchans; k++) {
			c = &s->chans[k];
			if (c->subbuf_size < 4096 || c->subbuf_size > (1ull << 30) ||
			    (c->subbuf_size & (c->subbuf_size - 1)) || c->num_subbuf < 2 ||
			    c->num_subbuf > 65536 || (c->num_subbuf & (c->num_subbuf - 1)) ||
			    (c->ctx_mask & ~RTR_PROTO_CTX_KNOWN))
				return fail(err, errlen, len, "session %s, channel %s: bad geometry",
					    s->name, c->name);
		}
		for (uint32_t k = 0; k < s->nrules; k++)
			if (s->rules[k].chan >= s->nchans || s->rules[k].lltype > 2 ||
			    s->rules[k].ll > 14)
				return fail(err, errlen, len, "session %s: bad rule %s", s->name,
					    s->rules[k].pattern);
	}
	return 0;
}

int rtr_armed_encode(const struct rtr_armed *a, struct rtr_proto_out *o)
{
	rtr_ctl_begin(o, RTR_ARMED_TYPE, 0);
	rtr_ctl_put_u64(o, A_GEN, a->gen);
	rtr_ctl_put_u64(o, A_DAEMON_UID, a->daemon_uid);
	for (uint32_t i = 0; i < a->nsessions; i++) {
		const struct rtr_armed_session *s = &a->s[i];

		rtr_ctl_put_u64(o, A_SESSION, s->id);
		rtr_ctl_put_str(o, A_NAME, s->name);
		rtr_ctl_put_u64(o, A_CLOCK, s->clock);
		for (uint32_t k = 0; k < s->nuids; k++)
			rtr_ctl_put_u64(o, A_UID, s->uids[k]);
		if (s->all_uids)
			rtr_ctl_put_u64(o, A_ALL_UIDS, 1);
		for (uint32_t k = 0; k < s->nchans; k++) {
			const struct rtr_armed_chan *c = &s->chans[k];

			rtr_ctl_put_str(o, A_CHANNEL, c->name);
			rtr_ctl_put_u64(o, A_CHAN_INDEX, c->index);
			rtr_ctl_put_u64(o, A_SUBBUF_SIZE, c->subbuf_size);
			rtr_ctl_put_u64(o, A_NUM_SUBBUF, c->num_subbuf);
			rtr_ctl_put_u64(o, A_OVERWRITE, c->overwrite);
			rtr_ctl_put_u64(o, A_CONTEXT, c->ctx_mask);
			if (c->per_uid)
				rtr_ctl_put_u64(o, A_PER_UID, 1);
		}
		for (uint32_t k = 0; k < s->nrules; k++) {
			const struct rtr_armed_rule *r = &s->rules[k];

			rtr_ctl_put_str(o, A_PATTERN, r->pattern);
			rtr_ctl_put_u64(o, A_RULE_CHAN, r->chan);
			for (uint32_t x = 0; x < r->nexcludes; x++)
				rtr_ctl_put_str(o, A_EXCLUDE, r->excludes[x]);
			rtr_ctl_put_u64(o, A_LLTYPE, r->lltype);
			rtr_ctl_put_u64(o, A_LL, r->ll);
			if (r->filter)
				rtr_ctl_put_str(o, A_FILTER, r->filter);
		}
	}
	return rtr_ctl_finish(o);
}

bool rtr_armed_rule_selects(const char *pattern, char *const *excludes, size_t nexcludes,
			    uint32_t lltype, int ll, int loglevel, const char *full)
{
	int l = loglevel < 0 ? RTR_LOGLEVEL_DEBUG_LINE : loglevel;

	if (fnmatch(pattern, full, 0) != 0)
		return false;
	for (size_t i = 0; i < nexcludes; i++)
		if (fnmatch(excludes[i], full, 0) == 0)
			return false;
	if (lltype == 1)
		return l <= ll;
	if (lltype == 2)
		return l == ll;
	return true;
}
