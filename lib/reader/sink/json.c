/* Chrome Trace Event JSON (the Perfetto UI and chrome://tracing open it):
 * one instant event per event with its fields as args, one track per
 * thread (vtid/tid context field) or else per CPU, discarded events as
 * global instants. See docs/design/reader.md ("Outputs"). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringtrace/reader.h"

struct rtr_json {
	struct rtr_reader *r;
	FILE *f;
	int64_t origin;
	bool has_origin;
	/* tracks already named */
	struct track {
		int64_t pid, tid;
	} * tracks;
	size_t ntracks, cap;
};

/* Length of the well-formed UTF-8 sequence at s[0..n) (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len;

	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0; /* overlong */
	else if (c == 0xed)
		hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		lo = 0x90; /* overlong */
	else if (c == 0xf4)
		hi = 0x8f; /* above U+10FFFF */
	if (len > n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if ((s[k] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A JSON string body (RFC 8259): quotes, backslashes and control
 * characters escaped, valid UTF-8 passed through, each byte of invalid
 * UTF-8 replaced by U+FFFD so that the document always parses. */
static void json_body(FILE *f, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc(c, f);
		} else if (c == '\n') {
			fputs("\\n", f);
		} else if (c == '\t') {
			fputs("\\t", f);
		} else if (c == '\r') {
			fputs("\\r", f);
		} else if (c == '\b') {
			fputs("\\b", f);
		} else if (c == '\f') {
			fputs("\\f", f);
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c);
		} else if (c < 0x80) {
			fputc(c, f);
		} else {
			size_t len = utf8_len((const unsigned char *)s + i, n - i);

			if (len) {
				fwrite(s + i, 1, len, f);
				i += len - 1;
			} else {
				fputs("\\ufffd", f);
			}
		}
	}
}

static void json_str(FILE *f, const char *s, size_t n)
{
	fputc('"', f);
	json_body(f, s, n);
	fputc('"', f);
}

static void json_int(FILE *f, const struct rtr_value *v)
{
	int base = rtr_value_base(v);

	if (rtr_value_is_enum(v)) {
		const char *lab[8];
		size_t n = rtr_value_enum_labels(v, lab, 8);
		char b[64];

		fputc('"', f);
		for (size_t i = 0; i < n && i < 8; i++) {
			if (i)
				fputc('|', f);
			json_body(f, lab[i], strlen(lab[i]));
		}
		if (v->kind == RTR_VAL_SINT)
			snprintf(b, sizeof(b), "%s(%" PRId64 ")\"", n ? " " : "", v->v.i);
		else
			snprintf(b, sizeof(b), "%s(%" PRIu64 ")\"", n ? " " : "", v->v.u);
		fputs(b, f);
		return;
	}
	if (base == 16) {
		fprintf(f, "\"0x%" PRIx64 "\"", v->v.u);
	} else if (v->kind == RTR_VAL_SINT) {
		if (v->v.i > (1LL << 53) || v->v.i < -(1LL << 53))
			fprintf(f, "\"%" PRId64 "\"", v->v.i);
		else
			fprintf(f, "%" PRId64, v->v.i);
	} else if (v->v.u > (1ULL << 53)) {
		fprintf(f, "\"%" PRIu64 "\"", v->v.u);
	} else {
		fprintf(f, "%" PRIu64, v->v.u);
	}
}

/* Writes values [i, end of the compound) as JSON; returns the next index. */
static size_t json_value(FILE *f, const struct rtr_value *v, size_t i, size_t n)
{
	switch (v[i].kind) {
	case RTR_VAL_UINT:
	case RTR_VAL_SINT:
		json_int(f, &v[i]);
		return i + 1;
	case RTR_VAL_FLOAT:
		if (isfinite(v[i].v.d))
			fprintf(f, "%.17g", v[i].v.d);
		else
			fprintf(f, "\"%g\"", v[i].v.d);
		return i + 1;
	case RTR_VAL_STRING:
		json_str(f, v[i].v.s, (size_t)v[i].len);
		return i + 1;
	case RTR_VAL_STRUCT_BEGIN: {
		bool first = true;

		fputc('{', f);
		i++;
		while (i < n && v[i].kind != RTR_VAL_STRUCT_END) {
			const char *nm = rtr_value_name(&v[i]);

			if (!first)
				fputc(',', f);
			first = false;
			json_str(f, nm ? nm : "", nm ? strlen(nm) : 0);
			fputc(':', f);
			i = json_value(f, v, i, n);
		}
		fputc('}', f);
		return i + 1;
	}
	case RTR_VAL_ARRAY_BEGIN: {
		bool first = true;

		fputc('[', f);
		i++;
		while (i < n && v[i].kind != RTR_VAL_ARRAY_END) {
			if (!first)
				fputc(',', f);
			first = false;
			i = json_value(f, v, i, n);
		}
		fputc(']', f);
		return i + 1;
	}
	case RTR_VAL_VARIANT_BEGIN:
		i = json_value(f, v, i + 1, n);
		return i + 1; /* skip VARIANT_END */
	default:
		fputs("null", f);
		return i + 1;
	}
}

static bool find_int(const struct rtr_msg *m, const char *a, const char *b, int64_t *out)
{
	for (size_t i = 0; i < m->n_values; i++) {
		const struct rtr_value *v = &m->values[i];
		const char *n;

		if (v->scope == RTR_SCOPE_EVENT_PAYLOAD)
			break;
		if (v->kind != RTR_VAL_UINT && v->kind != RTR_VAL_SINT)
			continue;
		n = rtr_value_name(v);
		if (n && (!strcmp(n, a) || (b && !strcmp(n, b)))) {
			*out = v->v.i;
			return true;
		}
	}
	return false;
}

static void json_ts(struct rtr_json *j, int64_t ns)
{
	int64_t rel = ns - j->origin;
	bool neg = rel < 0;
	uint64_t a = neg ? (uint64_t)0 - (uint64_t)rel : (uint64_t)rel;

	fprintf(j->f, "\"ts\":%s%" PRIu64 ".%03u", neg ? "-" : "", a / 1000, (unsigned)(a % 1000));
}

static void json_track(struct rtr_json *j, const struct rtr_msg *m, int64_t pid, int64_t tid,
		       bool cpu)
{
	for (size_t i = 0; i < j->ntracks; i++)
		if (j->tracks[i].pid == pid && j->tracks[i].tid == tid)
			return;
	if (j->ntracks == j->cap) {
		size_t nc = j->cap ? j->cap * 2 : 64;
		struct track *nt = realloc(j->tracks, nc * sizeof(*nt));

		if (!nt)
			return;
		j->tracks = nt;
		j->cap = nc;
	}
	j->tracks[j->ntracks].pid = pid;
	j->tracks[j->ntracks++].tid = tid;
	if (cpu) {
		fprintf(j->f,
			",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%" PRId64
			",\"tid\":%" PRId64 ",\"args\":{\"name\":\"CPUs\"}}",
			pid, tid);
		fprintf(j->f,
			",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRId64
			",\"tid\":%" PRId64 ",\"args\":{\"name\":\"CPU %" PRId64 "\"}}",
			pid, tid, tid);
	} else {
		const char *proc = NULL;
		struct rtr_env_value v;

		if (!rtr_reader_trace_env(j->r, m->stream->trace_index, "procname", &v) &&
		    !v.is_int)
			proc = v.s;
		fprintf(j->f,
			",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%" PRId64
			",\"tid\":%" PRId64 ",\"args\":{\"name\":\"tid %" PRId64 "\"}}",
			pid, tid, tid);
		if (proc) {
			fprintf(j->f,
				",\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%" PRId64
				",\"tid\":%" PRId64 ",\"args\":{\"name\":",
				pid, tid);
			json_str(j->f, proc, strlen(proc));
			fputs("}}", j->f);
		}
	}
}

static void json_event(struct rtr_json *j, const struct rtr_msg *m)
{
	const char *name = m->name ? m->name : "<unknown>";
	const char *colon = strchr(name, ':');
	int64_t pid = 0, tid = 0;
	bool cpu = false;
	bool first = true;

	if (!j->has_origin && m->has_clock) {
		j->origin = m->ns;
		j->has_origin = true;
	}
	if (find_int(m, "vtid", "tid", &tid)) {
		if (!find_int(m, "vpid", "pid", &pid)) {
			struct rtr_env_value v;

			if (!rtr_reader_trace_env(j->r, m->stream->trace_index, "vpid", &v) &&
			    v.is_int)
				pid = v.i;
			else
				pid = tid;
		}
	} else {
		int64_t c;

		cpu = true;
		pid = 1000000000 + (int64_t)m->stream->trace_index;
		tid = find_int(m, "cpu_id", NULL, &c) ? c : (int64_t)m->stream->index;
	}
	json_track(j, m, pid, tid, cpu);
	fputs(",\n{\"name\":", j->f);
	json_str(j->f, name, strlen(name));
	fputs(",\"cat\":", j->f);
	json_str(j->f, name, colon ? (size_t)(colon - name) : strlen(name));
	fputs(",\"ph\":\"i\",\"s\":\"t\",", j->f);
	if (m->has_clock)
		json_ts(j, m->ns);
	else
		fputs("\"ts\":0", j->f);
	fprintf(j->f, ",\"pid\":%" PRId64 ",\"tid\":%" PRId64 ",\"args\":{", pid, tid);
	/* every scope's top-level fields as args */
	for (size_t i = 0; i < m->n_values;) {
		const struct rtr_value *v = &m->values[i];

		if (v->kind == RTR_VAL_STRUCT_BEGIN && !rtr_value_name(v)) {
			/* scope root: descend */
			i++;
			continue;
		}
		if (v->kind == RTR_VAL_STRUCT_END && !rtr_value_name(v)) {
			i++;
			continue;
		}
		if (!first)
			fputc(',', j->f);
		first = false;
		{
			const char *nm = rtr_value_name(v);

			json_str(j->f, nm ? nm : "", nm ? strlen(nm) : 0);
		}
		fputc(':', j->f);
		i = json_value(j->f, m->values, i, m->n_values);
	}
	fputs("}}", j->f);
}

static void json_discarded(struct rtr_json *j, const struct rtr_msg *m)
{
	fprintf(j->f, ",\n{\"name\":\"%s\",\"cat\":\"ringtrace\",\"ph\":\"i\",\"s\":\"g\",",
		m->kind == RTR_MSG_DISCARDED_EVENTS ? "discarded events" : "lost packets");
	if (m->has_range && j->has_origin)
		json_ts(j, m->end_ns);
	else
		fputs("\"ts\":0", j->f);
	fputs(",\"pid\":0,\"tid\":0,\"args\":{\"count\":", j->f);
	if (m->count == UINT64_MAX)
		fputs("\"unknown\"", j->f);
	else
		fprintf(j->f, "%" PRIu64, m->count);
	fputs(",\"stream\":", j->f);
	json_str(j->f, m->stream->path, strlen(m->stream->path));
	fputs("}}", j->f);
}

int rtr_json_create(struct rtr_reader *r, FILE *out_file, struct rtr_json **out)
{
	struct rtr_json *j = calloc(1, sizeof(*j));

	*out = j;
	if (!j)
		return -ENOMEM;
	j->r = r;
	j->f = out_file;
	fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n"
	      "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":0,\"tid\":0,\"args\":{"
	      "\"name\":\"ringtrace\"}}",
	      j->f);
	return 0;
}

/* the error of a FILE that failed: errno from the failed write when set */
static int file_error(void)
{
	return errno ? -errno : -EIO;
}

int rtr_json_print(struct rtr_json *j, const struct rtr_msg *m)
{
	if (m->kind == RTR_MSG_EVENT)
		json_event(j, m);
	else
		json_discarded(j, m);
	return ferror(j->f) ? file_error() : 0;
}

int rtr_json_destroy(struct rtr_json *j)
{
	int ret;

	if (!j)
		return 0;
	fprintf(j->f,
		"\n],\"otherData\":{\"generator\":\"ringtrace convert\",\"origin_ns\":%" PRId64
		"}}\n",
		j->origin);
	ret = fflush(j->f) || ferror(j->f) ? file_error() : 0;
	free(j->tracks);
	free(j);
	return ret;
}
