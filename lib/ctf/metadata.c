/* TSDL (CTF 1.8) metadata generation from event descriptions, the clock
 * description and env entries. See docs/design/ctf-writer.md §4. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-writer.h"

#ifndef RTR_VERSION_MAJOR
#define RTR_VERSION_MAJOR 0
#define RTR_VERSION_MINOR 0
#define RTR_VERSION_PATCH 0
#endif

#define ENV_VALUE_MAX	 RTR_CLOCK_SYNC_STR_MAX
#define MAX_ARRAY_LENGTH (1u << 30)

/* ------------------------------------------------------------------------
 * Growable text
 * ------------------------------------------------------------------------ */

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void text_reserve(struct text *t, size_t more)
{
	size_t cap;
	char *n;

	if (t->oom || t->len + more + 1 <= t->cap)
		return;
	cap = t->cap ? t->cap : 256;
	while (cap < t->len + more + 1)
		cap *= 2;
	n = realloc(t->p, cap);
	if (!n) {
		t->oom = true;
		return;
	}
	t->p = n;
	t->cap = cap;
}

static void text_add(struct text *t, const char *s, size_t n)
{
	text_reserve(t, n);
	if (t->oom)
		return;
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_puts(struct text *t, const char *s)
{
	text_add(t, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		t->oom = true;
		return;
	}
	text_reserve(t, (size_t)n);
	if (t->oom)
		return;
	va_start(ap, fmt);
	vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

/* A TSDL string literal: quotes and backslashes escaped, control bytes as
 * octal escapes, everything else (UTF-8 included) as is. */
static void text_quoted(struct text *t, const char *s, size_t max)
{
	size_t n = strnlen(s, max);

	text_add(t, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[8];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			text_add(t, esc, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\%03o", c);
			text_add(t, esc, 4);
		} else {
			text_add(t, (const char *)&s[i], 1);
		}
	}
	text_add(t, "\"", 1);
}

/* A field name: '_' + the name with every byte outside [A-Za-z0-9_]
 * replaced by '_' (babeltrace drops the one leading underscore). */
static void sanitize_name(char *dst, const char *prefix, const char *name, const char *suffix)
{
	const char *parts[3] = {prefix, name, suffix};
	size_t k = 0;

	for (int p = 0; p < 3; p++)
		for (const char *c = parts[p]; *c && k < RTR_CTF_MAX_NAME + 16; c++) {
			unsigned char ch = (unsigned char)*c;
			bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
				  (ch >= '0' && ch <= '9') || ch == '_';

			dst[k++] = ok ? (char)ch : '_';
		}
	dst[k] = '\0';
}

#define FIELD_NAME_BUF (RTR_CTF_MAX_NAME + 24)

static bool is_ident(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';

		if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
			return false;
	}
	return true;
}

static const char *const tsdl_keywords[] = {
    "align",   "callsite", "const",	     "char",   "clock",	  "double",   "enum",
    "env",     "event",	   "floating_point", "float",  "integer", "int",      "long",
    "short",   "signed",   "stream",	     "string", "struct",  "trace",    "typealias",
    "typedef", "unsigned", "variant",	     "void",   "_Bool",	  "_Complex", "_Imaginary",
    "TRUE",    "FALSE",	   "true",	     "false",
};

static bool is_keyword(const char *s)
{
	for (size_t i = 0; i < RTR_ARRAY_SIZE(tsdl_keywords); i++)
		if (strcmp(s, tsdl_keywords[i]) == 0)
			return true;
	return false;
}

/* ------------------------------------------------------------------------
 * Event description checks
 * ------------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
						      ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool int_type_ok(const struct rtr_integer_type *t)
{
	return (t->size_bits == 8 || t->size_bits == 16 || t->size_bits == 32 ||
		t->size_bits == 64) &&
	       t->is_signed <= 1 &&
	       (t->base == RTR_BASE_DEC || t->base == RTR_BASE_HEX || t->base == RTR_BASE_OCT ||
		t->base == RTR_BASE_BIN) &&
	       t->byte_order <= RTR_BYTE_ORDER_BE && (!t->text || t->size_bits == 8);
}

/* Does v (two's complement when signed) fit the container? */
static bool enum_value_fits(const struct rtr_integer_type *t, uint64_t v)
{
	if (t->size_bits == 64)
		return true;
	if (t->is_signed) {
		int64_t s = (int64_t)v, lim = (int64_t)1 << (t->size_bits - 1);

		return s >= -lim && s < lim;
	}
	return v < ((uint64_t)1 << t->size_bits);
}

static bool enum_range_ok(const struct rtr_integer_type *t, uint64_t a, uint64_t b)
{
	if (!enum_value_fits(t, a) || !enum_value_fits(t, b))
		return false;
	return t->is_signed ? (int64_t)a <= (int64_t)b : a <= b;
}

static int cmp_strp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int rtr_ctf_event_check(const struct rtr_event_desc *ev, char *err, size_t errlen)
{
	char(*names)[FIELD_NAME_BUF] = NULL;
	char **sorted = NULL;
	size_t nn = 0;
	int r = 0;

	if (!ev || !ev->provider || !ev->name)
		return fail(err, errlen, "event: expected a description with provider and name");
	if (!*ev->provider || strnlen(ev->provider, RTR_CTF_MAX_NAME + 1) > RTR_CTF_MAX_NAME ||
	    !*ev->name || strnlen(ev->name, RTR_CTF_MAX_NAME + 1) > RTR_CTF_MAX_NAME)
		return fail(err, errlen, "event: expected provider and event names of 1..%u bytes",
			    RTR_CTF_MAX_NAME);
#define EV_FAIL(...)                                                                               \
	do {                                                                                       \
		char msg_[160];                                                                    \
		snprintf(msg_, sizeof(msg_), __VA_ARGS__);                                         \
		r = fail(err, errlen, "event %s:%s: %s", ev->provider, ev->name, msg_);            \
		goto out;                                                                          \
	} while (0)
	if (ev->nr_fields > RTR_CTF_MAX_FIELDS)
		EV_FAIL("expected at most %u fields, got %" PRIu32, RTR_CTF_MAX_FIELDS,
			ev->nr_fields);
	if (ev->nr_fields && !ev->fields)
		EV_FAIL("expected a field array");
	if (ev->loglevel < RTR_LOGLEVEL_NONE || ev->loglevel > RTR_LOGLEVEL_DEBUG)
		EV_FAIL("expected a loglevel of -1..14, got %" PRId32, ev->loglevel);
	if (ev->model_emf_uri &&
	    strnlen(ev->model_emf_uri, RTR_CTF_MAX_STRING + 1) > RTR_CTF_MAX_STRING)
		EV_FAIL("expected an EMF URI of at most %u bytes", RTR_CTF_MAX_STRING);
	names = malloc(sizeof(*names) * (2 * (size_t)ev->nr_fields + 1));
	sorted = malloc(sizeof(*sorted) * (2 * (size_t)ev->nr_fields + 1));
	if (!names || !sorted) {
		r = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < ev->nr_fields; i++) {
		const struct rtr_field_desc *f = &ev->fields[i];

		if (!f->name || !*f->name ||
		    strnlen(f->name, RTR_CTF_MAX_NAME + 1) > RTR_CTF_MAX_NAME)
			EV_FAIL("field %" PRIu32 ": expected a name of 1..%u bytes", i,
				RTR_CTF_MAX_NAME);
		switch (f->kind) {
		case RTR_FIELD_INTEGER:
			if (!int_type_ok(&f->integer))
				EV_FAIL("field %" PRIu32
					": expected an integer of 8/16/32/64 bits, "
					"base 2/8/10/16 (text: 8 bits)",
					i);
			break;
		case RTR_FIELD_ENUM: {
			const struct rtr_enum_desc *e = f->enumeration;

			if (!int_type_ok(&f->integer) || f->integer.text)
				EV_FAIL("field %" PRIu32 ": expected an integer enum container", i);
			if (!e || !e->entries || e->nr_entries == 0 ||
			    e->nr_entries > RTR_CTF_MAX_ENUM_ENTRIES)
				EV_FAIL("field %" PRIu32 ": expected 1..%u enum entries", i,
					RTR_CTF_MAX_ENUM_ENTRIES);
			for (uint32_t k = 0; k < e->nr_entries; k++) {
				const struct rtr_enum_entry *en = &e->entries[k];

				if (!en->label ||
				    strnlen(en->label, RTR_CTF_MAX_STRING + 1) > RTR_CTF_MAX_STRING)
					EV_FAIL("field %" PRIu32 " enum entry %" PRIu32
						": expected a label of at most %u bytes",
						i, k, RTR_CTF_MAX_STRING);
				if (!enum_range_ok(&f->integer, en->start, en->end))
					EV_FAIL("field %" PRIu32 " enum entry %" PRIu32
						": expected start <= end within the container",
						i, k);
			}
			break;
		}
		case RTR_FIELD_FLOAT:
			if (f->float_bits != 32 && f->float_bits != 64)
				EV_FAIL("field %" PRIu32 ": expected a float of 32 or 64 bits", i);
			break;
		case RTR_FIELD_STRING:
			break;
		case RTR_FIELD_ARRAY:
			if (!int_type_ok(&f->integer))
				EV_FAIL("field %" PRIu32 ": expected an integer array element", i);
			if (f->array_length > MAX_ARRAY_LENGTH)
				EV_FAIL("field %" PRIu32 ": expected an array length <= %u", i,
					MAX_ARRAY_LENGTH);
			break;
		case RTR_FIELD_SEQUENCE:
			if (!int_type_ok(&f->integer))
				EV_FAIL("field %" PRIu32 ": expected an integer sequence element",
					i);
			if (!int_type_ok(&f->length_type) || f->length_type.is_signed ||
			    f->length_type.text)
				EV_FAIL("field %" PRIu32 ": expected an unsigned length type", i);
			sanitize_name(names[nn++], "_", f->name, "_length");
			break;
		default:
			EV_FAIL("field %" PRIu32 ": unknown kind %u", i, f->kind);
		}
		sanitize_name(names[nn++], "", f->name, "");
	}
	for (size_t i = 0; i < nn; i++)
		sorted[i] = names[i];
	qsort(sorted, nn, sizeof(*sorted), cmp_strp);
	for (size_t i = 1; i < nn; i++)
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
			EV_FAIL("two fields are both named \"%s\" in the trace (sequence lengths "
				"are named _<name>_length; names keep only [A-Za-z0-9_])",
				sorted[i]);
#undef EV_FAIL
out:
	free(names);
	free(sorted);
	return r;
}

/* ------------------------------------------------------------------------
 * Builder
 * ------------------------------------------------------------------------ */

struct env_entry {
	char *key;
	char *str; /* NULL: integer */
	int64_t num;
};

struct stream_class {
	uint32_t id;
	uint32_t ctx_mask; /* RTR_CTF_CTX_*: the stream event context */
	char name[65];
	char *context; /* rendered event.context struct body, or NULL */
};

struct event_class {
	uint32_t stream_id;
	uint32_t id;
	char *text; /* the rendered event { } block */
};

struct rtr_ctf_meta {
	uint8_t uuid[16];
	enum rtr_ctf_byte_order bo;
	bool has_clock;
	struct rtr_clock_desc clock;
	struct env_entry *env;
	size_t nr_env, cap_env;
	struct stream_class *streams;
	size_t nr_streams, cap_streams;
	struct event_class *events;
	size_t nr_events, cap_events;
	/* open-addressing set of (stream_id, id) -> events index + 1 */
	uint32_t *slots;
	size_t nr_slots;
	bool bare_names; /* event names without "provider:" (kernel traces) */
	char error[256];
};

__attribute__((format(printf, 3, 4))) static int meta_fail(struct rtr_ctf_meta *m, int err,
							   const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->error, sizeof(m->error), fmt, ap);
	va_end(ap);
	return err;
}

static int grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t n = *cap ? *cap : 8;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

struct rtr_ctf_meta *rtr_ctf_meta_create(const uint8_t uuid[16], enum rtr_ctf_byte_order bo)
{
	struct rtr_ctf_meta *m;

	if (!uuid || (bo != RTR_CTF_BYTE_ORDER_LE && bo != RTR_CTF_BYTE_ORDER_BE)) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(m->uuid, uuid, 16);
	m->bo = bo;
	return m;
}

void rtr_ctf_meta_destroy(struct rtr_ctf_meta *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nr_env; i++) {
		free(m->env[i].key);
		free(m->env[i].str);
	}
	for (size_t i = 0; i < m->nr_events; i++)
		free(m->events[i].text);
	for (size_t i = 0; i < m->nr_streams; i++)
		free(m->streams[i].context);
	free(m->env);
	free(m->streams);
	free(m->events);
	free(m->slots);
	free(m);
}

const char *rtr_ctf_meta_error(const struct rtr_ctf_meta *m)
{
	return m->error;
}

static bool uuid_string_ok(const char *s)
{
	if (strnlen(s, 37) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		char c = s[i];
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? c != '-'
			 : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
			     (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

int rtr_ctf_meta_set_clock(struct rtr_ctf_meta *m, const struct rtr_clock_desc *clk)
{
	if (!clk)
		return meta_fail(m, -EINVAL, "clock: expected a description");
	if (!is_ident(clk->name, sizeof(clk->name) - 1) || is_keyword(clk->name))
		return meta_fail(m, -EINVAL, "clock: expected a TSDL identifier as name");
	if (clk->freq == 0 || clk->offset >= clk->freq)
		return meta_fail(m, -EINVAL, "clock: expected freq > 0 and offset < freq");
	if (memchr(clk->description, '\0', sizeof(clk->description)) == NULL ||
	    memchr(clk->uuid, '\0', sizeof(clk->uuid)) == NULL)
		return meta_fail(m, -EINVAL, "clock: expected NUL-terminated strings");
	if (clk->uuid[0] && !uuid_string_ok(clk->uuid))
		return meta_fail(m, -EINVAL,
				 "clock: expected a uuid of the form "
				 "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or \"\"");
	m->clock = *clk;
	m->has_clock = true;
	return 0;
}

static int env_set(struct rtr_ctf_meta *m, const char *key, const char *str, int64_t num)
{
	struct env_entry *e = NULL;
	char *dup = NULL;

	if (!key || !is_ident(key, RTR_CTF_MAX_NAME) || is_keyword(key))
		return meta_fail(m, -EINVAL, "env: expected a TSDL identifier as key");
	if (str && strnlen(str, ENV_VALUE_MAX + 1) > ENV_VALUE_MAX)
		return meta_fail(m, -EINVAL, "env %s: expected a value of at most %u bytes", key,
				 ENV_VALUE_MAX);
	if (str && !(dup = strdup(str)))
		return -ENOMEM;
	for (size_t i = 0; i < m->nr_env; i++)
		if (strcmp(m->env[i].key, key) == 0)
			e = &m->env[i];
	if (!e) {
		char *k = strdup(key);

		if (!k || grow((void **)&m->env, &m->cap_env, m->nr_env + 1, sizeof(*m->env))) {
			free(k);
			free(dup);
			return -ENOMEM;
		}
		e = &m->env[m->nr_env++];
		e->key = k;
		e->str = NULL;
	}
	free(e->str);
	e->str = dup;
	e->num = num;
	return 0;
}

int rtr_ctf_meta_env_string(struct rtr_ctf_meta *m, const char *key, const char *value)
{
	if (!value)
		return meta_fail(m, -EINVAL, "env %s: expected a string value", key ? key : "?");
	return env_set(m, key, value, 0);
}

int rtr_ctf_meta_env_int(struct rtr_ctf_meta *m, const char *key, int64_t value)
{
	return env_set(m, key, NULL, value);
}

int rtr_ctf_meta_env_clock(struct rtr_ctf_meta *m, const struct rtr_clock_meta *cm)
{
	struct rtr_clock_env_entry e[RTR_CLOCK_ENV_MAX];
	size_t n;

	if (!cm)
		return meta_fail(m, -EINVAL, "env: expected a clock description");
	n = rtr_clock_env_entries(cm, e, RTR_ARRAY_SIZE(e));
	if (n > RTR_ARRAY_SIZE(e))
		n = RTR_ARRAY_SIZE(e);
	for (size_t i = 0; i < n; i++) {
		int r = e[i].str ? rtr_ctf_meta_env_string(m, e[i].key, e[i].str)
				 : rtr_ctf_meta_env_int(m, e[i].key, e[i].num);

		if (r)
			return r;
	}
	return 0;
}

int rtr_ctf_meta_env_sync_list(struct rtr_ctf_meta *m, const struct rtr_clock_sync *pts, size_t n)
{
	char *buf = malloc(RTR_CLOCK_SYNC_STR_MAX);
	ssize_t len;
	int r;

	if (!buf)
		return -ENOMEM;
	len = rtr_clock_sync_encode(pts, n, buf, RTR_CLOCK_SYNC_STR_MAX, NULL);
	if (len < 0) {
		free(buf);
		return meta_fail(m, len == -ENOMEM ? -ENOMEM : -EINVAL,
				 "env %s: cannot encode the sync list (%s)", RTR_CLOCK_ENV_SYNC_KEY,
				 strerror((int)-len));
	}
	r = rtr_ctf_meta_env_string(m, RTR_CLOCK_ENV_SYNC_KEY, buf);
	free(buf);
	return r;
}

int rtr_ctf_meta_env_std(struct rtr_ctf_meta *m, const struct rtr_ctf_std_env *e)
{
	char host[256], when[64];
	time_t t;
	struct tm tm;
	int r = 0;

	if (!e)
		return meta_fail(m, -EINVAL, "env: expected the standard values");
	if (e->hostname) {
		snprintf(host, sizeof(host), "%s", e->hostname);
	} else if (gethostname(host, sizeof(host)) < 0) {
		snprintf(host, sizeof(host), "unknown");
	}
	host[sizeof(host) - 1] = '\0';
	t = e->creation_time ? e->creation_time : time(NULL);
	if (!localtime_r(&t, &tm) || strftime(when, sizeof(when), "%Y%m%dT%H%M%S%z", &tm) == 0)
		snprintf(when, sizeof(when), "19700101T000000+0000");
	r = r ? r : rtr_ctf_meta_env_string(m, "hostname", host);
	r = r ? r : rtr_ctf_meta_env_string(m, "domain", "ust");
	r = r ? r : rtr_ctf_meta_env_string(m, "tracer_name", "ringtrace");
	r = r ? r : rtr_ctf_meta_env_int(m, "tracer_major", RTR_VERSION_MAJOR);
	r = r ? r : rtr_ctf_meta_env_int(m, "tracer_minor", RTR_VERSION_MINOR);
	r = r ? r : rtr_ctf_meta_env_int(m, "tracer_patchlevel", RTR_VERSION_PATCH);
	if (e->trace_name)
		r = r ? r : rtr_ctf_meta_env_string(m, "trace_name", e->trace_name);
	r = r ? r : rtr_ctf_meta_env_string(m, "trace_creation_datetime", when);
	if (e->vpid >= 0)
		r = r ? r : rtr_ctf_meta_env_int(m, "vpid", e->vpid);
	if (e->procname)
		r = r ? r : rtr_ctf_meta_env_string(m, "procname", e->procname);
	r = r ? r : rtr_ctf_meta_env_int(m, "architecture_bit_width", (int64_t)sizeof(long) * 8);
	return r;
}

int rtr_ctf_meta_add_stream(struct rtr_ctf_meta *m, uint32_t id, const char *name)
{
	struct stream_class *s;
	size_t k = 0;

	if (id == UINT32_MAX)
		return meta_fail(m, -EINVAL, "stream %" PRIu32 ": expected an id < 2^32-1", id);
	for (size_t i = 0; i < m->nr_streams; i++)
		if (m->streams[i].id == id)
			return meta_fail(m, -EEXIST, "stream %" PRIu32 ": already added", id);
	if (grow((void **)&m->streams, &m->cap_streams, m->nr_streams + 1, sizeof(*m->streams)))
		return -ENOMEM;
	s = &m->streams[m->nr_streams++];
	s->id = id;
	s->ctx_mask = 0;
	s->context = NULL;
	/* Only a comment: keep it inert. */
	for (const char *c = name ? name : ""; *c && k < sizeof(s->name) - 1; c++) {
		unsigned char ch = (unsigned char)*c;
		bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			  (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.';

		s->name[k++] = ok ? (char)ch : '_';
	}
	s->name[k] = '\0';
	return 0;
}

int rtr_ctf_meta_stream_context(struct rtr_ctf_meta *m, uint32_t id, uint32_t ctx_mask)
{
	if (ctx_mask & ~RTR_CTF_CTX_ALL)
		return meta_fail(m, -EINVAL, "stream %" PRIu32 ": unknown context 0x%x", id,
				 ctx_mask & ~RTR_CTF_CTX_ALL);
	for (size_t i = 0; i < m->nr_streams; i++)
		if (m->streams[i].id == id) {
			m->streams[i].ctx_mask = ctx_mask;
			return 0;
		}
	return meta_fail(m, -ENOENT, "stream %" PRIu32 ": not added", id);
}

static uint64_t slot_hash(uint32_t stream_id, uint32_t id)
{
	uint64_t x = ((uint64_t)stream_id << 32 | id) * 0x9E3779B97F4A7C15ull;

	return x ^ (x >> 29);
}

/* Index of (stream_id, id) in events, or -1. */
static long event_find(const struct rtr_ctf_meta *m, uint32_t stream_id, uint32_t id)
{
	if (!m->nr_slots)
		return -1;
	for (size_t h = slot_hash(stream_id, id) & (m->nr_slots - 1);;
	     h = (h + 1) & (m->nr_slots - 1)) {
		uint32_t v = m->slots[h];

		if (!v)
			return -1;
		if (m->events[v - 1].stream_id == stream_id && m->events[v - 1].id == id)
			return (long)v - 1;
	}
}

static int slots_insert(struct rtr_ctf_meta *m, size_t idx)
{
	if ((m->nr_events + 1) * 2 > m->nr_slots) {
		size_t n = m->nr_slots ? m->nr_slots * 2 : 64;
		uint32_t *s = calloc(n, sizeof(*s));

		if (!s)
			return -ENOMEM;
		free(m->slots);
		m->slots = s;
		m->nr_slots = n;
		for (size_t i = 0; i < m->nr_events; i++)
			if (i != idx)
				slots_insert(m, i);
	}
	for (size_t h = slot_hash(m->events[idx].stream_id, m->events[idx].id) & (m->nr_slots - 1);;
	     h = (h + 1) & (m->nr_slots - 1))
		if (!m->slots[h]) {
			m->slots[h] = (uint32_t)idx + 1;
			return 0;
		}
}

static void render_int(struct text *t, const struct rtr_integer_type *it)
{
	text_printf(t, "integer { size = %u; align = 8; signed = %u; encoding = %s; base = %u;%s }",
		    it->size_bits, it->is_signed, it->text ? "UTF8" : "none", it->base,
		    it->byte_order == RTR_BYTE_ORDER_BE ? " byte_order = be;" : "");
}

static void render_enum_value(struct text *t, const struct rtr_integer_type *it, uint64_t v)
{
	if (it->is_signed)
		text_printf(t, "%" PRId64, (int64_t)v);
	else
		text_printf(t, "%" PRIu64, v);
}

static void render_field(struct text *t, const struct rtr_field_desc *f)
{
	char name[FIELD_NAME_BUF];

	sanitize_name(name, "_", f->name, "");
	text_puts(t, "\t\t");
	switch (f->kind) {
	case RTR_FIELD_INTEGER:
		render_int(t, &f->integer);
		text_printf(t, " %s;\n", name);
		break;
	case RTR_FIELD_ENUM: {
		const struct rtr_enum_desc *e = f->enumeration;

		text_puts(t, "enum : ");
		render_int(t, &f->integer);
		text_puts(t, " {\n");
		for (uint32_t k = 0; k < e->nr_entries; k++) {
			const struct rtr_enum_entry *en = &e->entries[k];

			text_puts(t, "\t\t\t");
			text_quoted(t, en->label, RTR_CTF_MAX_STRING);
			text_puts(t, " = ");
			render_enum_value(t, &f->integer, en->start);
			if (en->end != en->start) {
				text_puts(t, " ... ");
				render_enum_value(t, &f->integer, en->end);
			}
			text_puts(t, k + 1 < e->nr_entries ? ",\n" : "\n");
		}
		text_printf(t, "\t\t} %s;\n", name);
		break;
	}
	case RTR_FIELD_FLOAT:
		text_printf(t, "floating_point { exp_dig = %u; mant_dig = %u; align = 8; } %s;\n",
			    f->float_bits == 32 ? 8 : 11, f->float_bits == 32 ? 24 : 53, name);
		break;
	case RTR_FIELD_STRING:
		text_printf(t, "string { encoding = UTF8; } %s;\n", name);
		break;
	case RTR_FIELD_ARRAY:
		render_int(t, &f->integer);
		text_printf(t, " %s[%" PRIu32 "];\n", name, f->array_length);
		break;
	case RTR_FIELD_SEQUENCE: {
		char len_name[FIELD_NAME_BUF];

		sanitize_name(len_name, "__", f->name, "_length");
		render_int(t, &f->length_type);
		text_printf(t, " %s;\n\t\t", len_name);
		render_int(t, &f->integer);
		text_printf(t, " %s[ %s ];\n", name, len_name);
		break;
	}
	}
}

int rtr_ctf_meta_add_event(struct rtr_ctf_meta *m, uint32_t id, uint32_t stream_id,
			   const struct rtr_event_desc *ev)
{
	struct text t = {0};
	bool stream_found = false;
	int r;

	r = rtr_ctf_event_check(ev, m->error, sizeof(m->error));
	if (r)
		return r;
	for (size_t i = 0; i < m->nr_streams; i++)
		stream_found |= m->streams[i].id == stream_id;
	if (!stream_found)
		return meta_fail(m, -ENOENT, "event %s:%s: no stream class %" PRIu32, ev->provider,
				 ev->name, stream_id);
	if (event_find(m, stream_id, id) >= 0)
		return meta_fail(m, -EEXIST,
				 "event %s:%s: id %" PRIu32 " already used in stream %" PRIu32,
				 ev->provider, ev->name, id, stream_id);
	if (m->nr_events >= RTR_CTF_MAX_EVENTS)
		return meta_fail(m, -E2BIG, "event %s:%s: more than %u events", ev->provider,
				 ev->name, RTR_CTF_MAX_EVENTS);

	text_puts(&t, "event {\n\tname = ");
	{
		char full[2 * RTR_CTF_MAX_NAME + 2];

		if (m->bare_names)
			snprintf(full, sizeof(full), "%s", ev->name);
		else
			snprintf(full, sizeof(full), "%s:%s", ev->provider, ev->name);
		text_quoted(&t, full, sizeof(full));
	}
	text_printf(&t, ";\n\tid = %" PRIu32 ";\n\tstream_id = %" PRIu32 ";\n", id, stream_id);
	if (ev->loglevel != RTR_LOGLEVEL_NONE)
		text_printf(&t, "\tloglevel = %" PRId32 ";\n", ev->loglevel);
	if (ev->model_emf_uri) {
		text_puts(&t, "\tmodel.emf.uri = ");
		text_quoted(&t, ev->model_emf_uri, RTR_CTF_MAX_STRING);
		text_puts(&t, ";\n");
	}
	text_puts(&t, "\tfields := struct {\n");
	for (uint32_t i = 0; i < ev->nr_fields; i++)
		render_field(&t, &ev->fields[i]);
	text_puts(&t, "\t};\n};\n\n");
	if (t.oom ||
	    grow((void **)&m->events, &m->cap_events, m->nr_events + 1, sizeof(*m->events))) {
		free(t.p);
		return -ENOMEM;
	}
	m->events[m->nr_events] =
	    (struct event_class){.stream_id = stream_id, .id = id, .text = t.p};
	r = slots_insert(m, m->nr_events);
	if (r) {
		free(t.p);
		return r;
	}
	m->nr_events++;
	return 0;
}

void rtr_ctf_meta_bare_event_names(struct rtr_ctf_meta *m, bool bare)
{
	m->bare_names = bare;
}

int rtr_ctf_meta_set_event_context(struct rtr_ctf_meta *m, uint32_t stream_id,
				   const struct rtr_field_desc *fields, uint32_t n)
{
	/* Checked as the fields of an event, so the same rules hold. */
	struct rtr_event_desc ev = {.provider = "stream", .name = "event.context",
				    .fields = fields, .nr_fields = n,
				    .loglevel = RTR_LOGLEVEL_NONE};
	struct stream_class *s = NULL;
	struct text t = {0};
	int r;

	for (size_t i = 0; i < m->nr_streams; i++)
		if (m->streams[i].id == stream_id)
			s = &m->streams[i];
	if (!s)
		return meta_fail(m, -ENOENT, "event context: no stream class %" PRIu32,
				 stream_id);
	if (n == 0)
		return meta_fail(m, -EINVAL, "event context: expected at least one field");
	r = rtr_ctf_event_check(&ev, m->error, sizeof(m->error));
	if (r)
		return r;
	for (uint32_t i = 0; i < n; i++)
		render_field(&t, &fields[i]);
	if (t.oom) {
		free(t.p);
		return -ENOMEM;
	}
	free(s->context);
	s->context = t.p;
	return 0;
}

/* ------------------------------------------------------------------------
 * Rendering
 * ------------------------------------------------------------------------ */

static void render_uuid(struct text *t, const uint8_t u[16])
{
	for (int i = 0; i < 16; i++)
		text_printf(t, "%s%02x", (i == 4 || i == 6 || i == 8 || i == 10) ? "-" : "", u[i]);
}

int rtr_ctf_meta_render(const struct rtr_ctf_meta *m, char **text, size_t *len)
{
	struct text t = {0};
	const struct rtr_clock_desc *c = &m->clock;

	if (!m->has_clock)
		return -EINVAL;
	text_puts(&t, "/* CTF 1.8 */\n\n"
		      "/* Written by ringtrace; byte-packed: every field starts where the\n"
		      " * previous one ends (align = 8 bits). */\n\n"
		      "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
		      "typealias integer { size = 16; align = 8; signed = false; } := uint16_t;\n"
		      "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
		      "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
		      "typealias integer { size = 5; align = 1; signed = false; } := uint5_t;\n\n"
		      "trace {\n\tmajor = 1;\n\tminor = 8;\n\tuuid = \"");
	render_uuid(&t, m->uuid);
	text_printf(&t, "\";\n\tbyte_order = %s;\n", m->bo == RTR_CTF_BYTE_ORDER_BE ? "be" : "le");
	text_puts(&t, "\tpacket.header := struct {\n"
		      "\t\tuint32_t magic;\n"
		      "\t\tuint8_t  uuid[16];\n"
		      "\t\tuint32_t stream_id;\n"
		      "\t\tuint64_t stream_instance_id;\n"
		      "\t} align(8);\n};\n\n");

	text_puts(&t, "env {\n");
	for (size_t i = 0; i < m->nr_env; i++) {
		text_printf(&t, "\t%s = ", m->env[i].key);
		if (m->env[i].str)
			text_quoted(&t, m->env[i].str, ENV_VALUE_MAX);
		else
			text_printf(&t, "%" PRId64, m->env[i].num);
		text_puts(&t, ";\n");
	}
	text_puts(&t, "};\n\n");

	text_printf(&t, "clock {\n\tname = \"%s\";\n", c->name);
	if (c->uuid[0])
		text_printf(&t, "\tuuid = \"%s\";\n", c->uuid);
	text_puts(&t, "\tdescription = ");
	text_quoted(&t, c->description, sizeof(c->description));
	text_printf(&t,
		    ";\n\tfreq = %" PRIu64 ";\n\tprecision = %" PRIu64 ";\n\toffset_s = %" PRId64
		    ";\n\toffset = %" PRIu64 ";\n\tabsolute = %s;\n};\n\n",
		    c->freq, c->precision, c->offset_s, c->offset, c->absolute ? "TRUE" : "FALSE");

	text_printf(&t,
		    "typealias integer { size = 27; align = 1; signed = false; map = "
		    "clock.%s.value; } := uint27_clock_t;\n"
		    "typealias integer { size = 64; align = 8; signed = false; map = "
		    "clock.%s.value; } := uint64_clock_t;\n\n",
		    c->name, c->name);
	text_puts(&t, "struct packet_context {\n"
		      "\tuint64_clock_t timestamp_begin;\n"
		      "\tuint64_clock_t timestamp_end;\n"
		      "\tuint64_t content_size;\n"
		      "\tuint64_t packet_size;\n"
		      "\tuint64_t packet_seq_num;\n"
		      "\tuint64_t events_discarded;\n"
		      "\tuint32_t cpu_id;\n"
		      "} align(8);\n\n"
		      "struct event_header_compact {\n"
		      "\tenum : uint5_t { compact = 0 ... 30, extended = 31 } id;\n"
		      "\tvariant <id> {\n"
		      "\t\tstruct {\n"
		      "\t\t\tuint27_clock_t timestamp;\n"
		      "\t\t} compact;\n"
		      "\t\tstruct {\n"
		      "\t\t\tuint32_t id;\n"
		      "\t\t\tuint64_clock_t timestamp;\n"
		      "\t\t} extended;\n"
		      "\t} v;\n"
		      "} align(8);\n\n");
	for (size_t i = 0; i < m->nr_streams; i++) {
		uint32_t cm = m->streams[i].ctx_mask;
		const char *more = m->streams[i].context;

		text_printf(&t,
			    "/* channel %s */\nstream {\n\tid = %" PRIu32 ";\n"
			    "\tevent.header := struct event_header_compact;\n"
			    "\tpacket.context := struct packet_context;\n",
			    m->streams[i].name, m->streams[i].id);
		/* The probe writes these after the event header, in this
		 * order, byte-packed (include/ringtrace/ctf.h), then the
		 * fields set by rtr_ctf_meta_set_event_context (counters). */
		if (cm || more) {
			text_puts(&t, "\tevent.context := struct {\n");
			if (cm & RTR_CTF_CTX_VPID)
				text_puts(&t, "\t\tinteger { size = 32; align = 8; signed = true; } "
					      "_vpid;\n");
			if (cm & RTR_CTF_CTX_VTID)
				text_puts(&t, "\t\tinteger { size = 32; align = 8; signed = true; } "
					      "_vtid;\n");
			if (cm & RTR_CTF_CTX_PROCNAME)
				text_puts(&t, "\t\tinteger { size = 8; align = 8; signed = false; "
					      "encoding = UTF8; } _procname[16];\n");
			if (cm & RTR_CTF_CTX_PTHREAD_ID)
				text_puts(&t, "\t\tinteger { size = 64; align = 8; signed = false; "
					      "base = 16; } _pthread_id;\n");
			if (cm & RTR_CTF_CTX_IP)
				text_puts(&t, "\t\tinteger { size = 64; align = 8; signed = false; "
					      "base = 16; } _ip;\n");
			if (more)
				text_puts(&t, more);
			text_puts(&t, cm ? "\t} align(8);\n" : "\t};\n");
		}
		text_puts(&t, "};\n\n");
	}
	for (size_t i = 0; i < m->nr_events; i++)
		text_puts(&t, m->events[i].text);
	if (t.oom) {
		free(t.p);
		return -ENOMEM;
	}
	*text = t.p;
	if (len)
		*len = t.len;
	return 0;
}

int rtr_ctf_meta_write(const struct rtr_ctf_meta *m, int dirfd, const char *name)
{
	char *text;
	size_t len;
	int r;

	if (!name || !*name || strchr(name, '/') || strlen(name) > 200)
		return -EINVAL;
	r = rtr_ctf_meta_render(m, &text, &len);
	if (r)
		return r;
	r = rtr_ctf_file_replace(dirfd, name, text, len, 0644);
	free(text);
	return r;
}
