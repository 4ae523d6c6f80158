/* The session daemon's state files (state.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

#define MAGIC "ringtrace-session 1"

int rtr_state_file_name(const char *name, char *out, size_t cap)
{
	size_t n = strlen(name), k = 2;

	if (cap < 3 + 2 * n)
		return -ENAMETOOLONG;
	memcpy(out, "s-", 2);
	for (size_t i = 0; i < n; i++, k += 2)
		snprintf(out + k, 3, "%02x", (unsigned char)name[i]);
	out[k] = 0;
	return 0;
}

static int put(char *buf, size_t cap, size_t *k, const char *key, const char *v)
{
	int n = snprintf(buf + *k, cap - *k, "%s ", key);

	if (n < 0 || (size_t)n >= cap - *k)
		return -E2BIG;
	*k += (size_t)n;
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (*k + 4 >= cap)
			return -E2BIG;
		if (c < 0x20 || c == 0x7f || c == '%')
			*k += (size_t)snprintf(buf + *k, 4, "%%%02X", c);
		else
			buf[(*k)++] = (char)c;
	}
	if (*k + 2 >= cap)
		return -E2BIG;
	buf[(*k)++] = '\n';
	buf[*k] = 0;
	return 0;
}

int rtr_state_encode(const struct rtr_state_session *s, char *buf, size_t cap)
{
	char num[32];
	size_t k = 0;
	int r;

	if (cap < sizeof(MAGIC) + 1)
		return -E2BIG;
	k = (size_t)snprintf(buf, cap, "%s\n", MAGIC);
	r = put(buf, cap, &k, "name", s->name);
	r = r ? r : put(buf, cap, &k, "output", s->output);
	r = r ? r : put(buf, cap, &k, "snapshot", s->snapshot ? "1" : "0");
	r = r ? r : put(buf, cap, &k, "active", s->active ? "1" : "0");
	snprintf(num, sizeof(num), "%d", (int)s->daemon_pid);
	r = r ? r : put(buf, cap, &k, "daemon", num);
	snprintf(num, sizeof(num), "%llu", (unsigned long long)s->id);
	r = r ? r : put(buf, cap, &k, "id", num);
	return r ? r : (int)k;
}

/* Unescapes [v, e) into out (cap bytes). Returns 0 or -1. */
static int unescape(const char *v, const char *e, char *out, size_t cap)
{
	size_t k = 0;

	memset(out, 0, cap); /* (a key given twice: the last value, nothing of the first) */
	for (; v < e; v++) {
		char c = *v;

		if (c == '%') {
			int a, b;

			if (e - v < 3 || (a = rtr_hexval(v[1])) < 0 || (b = rtr_hexval(v[2])) < 0)
				return -1;
			c = (char)(a * 16 + b);
			v += 2;
		}
		if (!c || k + 1 >= cap)
			return -1;
		out[k++] = c;
	}
	out[k] = 0;
	return 0;
}

static int fail(char *err, size_t errlen, const char *what)
{
	if (errlen)
		snprintf(err, errlen, "%s", what);
	return -EINVAL;
}

int rtr_state_parse(const char *buf, size_t n, struct rtr_state_session *s, char *err,
		    size_t errlen)
{
	const char *p = buf, *end = buf + n;
	bool has_name = false, has_out = false;

	memset(s, 0, sizeof(*s));
	s->daemon_pid = -1;
	if (n > RTR_STATE_MAX_FILE)
		return fail(err, errlen, "too large for a state file");
	if (n < sizeof(MAGIC) || memcmp(buf, MAGIC "\n", sizeof(MAGIC)))
		return fail(err, errlen, "not a ringtrace session state file");
	p += sizeof(MAGIC);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *sp;
		char tmp[32];

		if (!nl)
			return fail(err, errlen, "last line not terminated");
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (!sp)
			return fail(err, errlen, "a line without a value");
#define KEY(k) ((size_t)(sp - p) == sizeof(k) - 1 && !memcmp(p, k, sizeof(k) - 1))
		if (KEY("name")) {
			if (unescape(sp + 1, nl, s->name, sizeof(s->name)) || !s->name[0])
				return fail(err, errlen, "bad session name");
			has_name = true;
		} else if (KEY("output")) {
			if (unescape(sp + 1, nl, s->output, sizeof(s->output)) ||
			    s->output[0] != '/')
				return fail(err, errlen, "bad output directory");
			has_out = true;
		} else if (KEY("id")) {
			char *q;

			if (unescape(sp + 1, nl, tmp, sizeof(tmp)) || tmp[0] < '0' || tmp[0] > '9')
				return fail(err, errlen, "bad session id");
			errno = 0;
			s->id = strtoull(tmp, &q, 10);
			if (*q || errno)
				return fail(err, errlen, "bad session id");
		} else if (KEY("snapshot") || KEY("active") || KEY("daemon")) {
			char *q;
			long v;

			if (unescape(sp + 1, nl, tmp, sizeof(tmp)) || !tmp[0])
				return fail(err, errlen, "bad number");
			v = strtol(tmp, &q, 10);
			if (*q || v < -1 || v > 0x7fffffff)
				return fail(err, errlen, "bad number");
			if (KEY("daemon"))
				s->daemon_pid = (int32_t)v;
			else if (v != 0 && v != 1)
				return fail(err, errlen, "bad flag");
			else if (KEY("snapshot"))
				s->snapshot = v;
			else
				s->active = v;
		}
#undef KEY
		p = nl + 1;
	}
	if (!has_name || !has_out)
		return fail(err, errlen, "name or output missing");
	return 0;
}
