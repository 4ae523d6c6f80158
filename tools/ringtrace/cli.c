/* Helpers shared by ringtrace subcommands: --names/--fields lists, time
 * range parsing, opening the reader, the progress line. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "ctl.h"

static int each_item(const char *list, int (*fn)(const char *item, void *ctx), void *ctx)
{
	char *dup = strdup(list), *save = NULL, *it;
	int ret = 0;

	if (!dup)
		return -1;
	for (it = strtok_r(dup, ",", &save); it && !ret; it = strtok_r(NULL, ",", &save))
		ret = fn(it, ctx);
	free(dup);
	return ret;
}

struct sel {
	unsigned bits;
	bool all, none, specific;
};

static int name_item(const char *s, void *ctx)
{
	struct sel *x = ctx;

	if (!strcmp(s, "payload") || !strcmp(s, "args") || !strcmp(s, "arg"))
		x->bits |= RTR_TEXT_NAME_PAYLOAD, x->specific = true;
	else if (!strcmp(s, "context") || !strcmp(s, "ctx"))
		x->bits |= RTR_TEXT_NAME_CONTEXT, x->specific = true;
	else if (!strcmp(s, "scope"))
		x->bits |= RTR_TEXT_NAME_SCOPE, x->specific = true;
	else if (!strcmp(s, "header"))
		x->bits |= RTR_TEXT_NAME_HEADER, x->specific = true;
	else if (!strcmp(s, "all"))
		x->all = true;
	else if (!strcmp(s, "none"))
		x->none = true;
	else {
		fprintf(stderr, "ringtrace: unknown --names item '%s'\n", s);
		return -1;
	}
	return 0;
}

int rtr_cli_names(const char *list, unsigned *names)
{
	struct sel x = {0};

	if (each_item(list, name_item, &x))
		return -1;
	if (x.all)
		*names = RTR_TEXT_NAME_PAYLOAD | RTR_TEXT_NAME_CONTEXT | RTR_TEXT_NAME_SCOPE |
			 RTR_TEXT_NAME_HEADER;
	else if (x.none)
		*names = 0;
	else
		*names = x.bits;
	return 0;
}

static int field_item(const char *s, void *ctx)
{
	struct sel *x = ctx;
	static const struct {
		const char *n;
		unsigned b;
	} tab[] = {
	    {"trace", RTR_TEXT_FIELD_TRACE},
	    {"trace:hostname", RTR_TEXT_FIELD_HOSTNAME},
	    {"trace:domain", RTR_TEXT_FIELD_DOMAIN},
	    {"trace:procname", RTR_TEXT_FIELD_PROCNAME},
	    {"trace:vpid", RTR_TEXT_FIELD_VPID},
	    {"loglevel", RTR_TEXT_FIELD_LOGLEVEL},
	    {"emf", RTR_TEXT_FIELD_EMF},
	    {"callsite", RTR_TEXT_FIELD_CALLSITE},
	};

	if (!strcmp(s, "all")) {
		x->all = true;
		return 0;
	}
	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (!strcmp(s, tab[i].n)) {
			x->bits |= tab[i].b;
			return 0;
		}
	fprintf(stderr, "ringtrace: unknown --fields item '%s'\n", s);
	return -1;
}

int rtr_cli_fields(const char *list, unsigned *fields)
{
	struct sel x = {0};

	if (each_item(list, field_item, &x))
		return -1;
	*fields = x.all ? 0xff : x.bits;
	return 0;
}
const char rtr_cli_loglevel_names[] =
    "TRACE_EMERG, TRACE_ALERT, TRACE_CRIT, TRACE_ERR, TRACE_WARNING, TRACE_NOTICE, "
    "TRACE_INFO, TRACE_DEBUG_SYSTEM, TRACE_DEBUG_PROGRAM, TRACE_DEBUG_PROCESS, "
    "TRACE_DEBUG_MODULE, TRACE_DEBUG_UNIT, TRACE_DEBUG_FUNCTION, TRACE_DEBUG_LINE, "
    "TRACE_DEBUG (or 0..14)";

int rtr_cli_loglevel(const char *s, int *level)
{
	int l = rtr_loglevel_parse(s);

	if (l < 0)
		return -1;
	*level = l;
	return 0;
}

/* ".NNN...": *pp at the dot; returns nanoseconds (digits past the ninth
 * are ignored) and leaves *pp after the digits. */
static int64_t parse_frac_ns(const char **pp)
{
	const char *p = *pp + 1;
	int64_t frac = 0;
	int digits = 0;

	for (; *p >= '0' && *p <= '9'; p++)
		if (digits < 9) {
			frac = frac * 10 + (*p - '0');
			digits++;
		}
	while (digits++ < 9)
		frac *= 10;
	*pp = p;
	return frac;
}


/* Parses a time; *needs_date is set for HH:MM:SS[.ns] (date of day0). */
static int parse_time(const char *s, bool gmt, bool have_day, int64_t day0_ns, int64_t *out,
		      bool *needs_date)
{
	struct tm tm;
	const char *p;
	char *q;
	int64_t ns = 0;
	int y, mo, d, h, mi, se, n = 0;

	*needs_date = false;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%d-%d-%d %d:%d:%d%n", &y, &mo, &d, &h, &mi, &se, &n) == 6) {
		time_t t;

		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = d;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = se;
		tm.tm_isdst = -1;
		t = gmt ? timegm(&tm) : mktime(&tm);
		p = s + n;
		ns = (int64_t)t * 1000000000;
	} else if (sscanf(s, "%d:%d:%d%n", &h, &mi, &se, &n) == 3 && s[2] == ':') {
		time_t t;

		*needs_date = true;
		if (!have_day)
			return 0;
		t = (time_t)(day0_ns / 1000000000);
		if (gmt)
			gmtime_r(&t, &tm);
		else
			localtime_r(&t, &tm);
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = se;
		tm.tm_isdst = -1;
		t = gmt ? timegm(&tm) : mktime(&tm);
		p = s + n;
		ns = (int64_t)t * 1000000000;
	} else {
		bool neg = s[0] == '-';
		long long sec;

		errno = 0;
		sec = strtoll(s + neg, &q, 10);
		if (errno || q == s + neg)
			return -1;
		ns = (int64_t)sec * 1000000000;
		if (neg)
			ns = -ns;
		p = q;
		if (*p == '.')
			ns += neg ? -parse_frac_ns(&p) : parse_frac_ns(&p);
		if (*p)
			return -1;
		*out = ns;
		return 0;
	}
	if (*p == '.')
		ns += parse_frac_ns(&p);
	if (*p)
		return -1;
	*out = ns;
	return 0;
}

static void cli_warn(void *arg, const char *msg)
{
	fprintf(stderr, "ringtrace %s: warning: %s\n", (const char *)arg, msg);
}

struct rtr_reader *rtr_cli_open(const char *cmd, struct rtr_cli_read *c, bool skip_values)
{
	struct rtr_reader_options o;
	struct rtr_reader *r = NULL;
	struct rtr_error err = {0};
	bool nd_b = false, nd_e = false, have_day = false;
	int64_t day0 = 0;

	if (rtr_cli_tracedat_inputs(cmd, c)) /* trace.dat: converted first */
		return NULL;
	memset(&o, 0, sizeof(o));
	o.skip_values = skip_values;
	o.all_values = c->all_values;
	o.patterns = c->patterns;
	o.n_patterns = (size_t)c->npatterns;
	o.loglevel_sel = c->loglevel_sel;
	o.loglevel = c->loglevel;
	o.guard_sigbus = true; /* a file truncated under us is an error, not a crash */
	o.warn = cli_warn;
	o.warn_arg = (void *)(uintptr_t)cmd;
	for (int pass = 0; pass < 2; pass++) {
		if (c->begin) {
			if (parse_time(c->begin, c->gmt, have_day, day0, &o.begin_ns, &nd_b)) {
				fprintf(stderr, "ringtrace %s: error: invalid --begin time '%s'\n",
					cmd, c->begin);
				return NULL;
			}
			o.has_begin = !nd_b || have_day;
		}
		if (c->end) {
			if (parse_time(c->end, c->gmt, have_day, day0, &o.end_ns, &nd_e)) {
				fprintf(stderr, "ringtrace %s: error: invalid --end time '%s'\n",
					cmd, c->end);
				return NULL;
			}
			o.has_end = !nd_e || have_day;
		}
		if ((nd_b || nd_e) && !have_day) {
			/* HH:MM:SS: take the date of the first event */
			struct rtr_reader_options o0;
			struct rtr_msg m;

			memset(&o0, 0, sizeof(o0));
			o0.skip_values = true;
			o0.guard_sigbus = true;
			if (rtr_reader_open(c->paths, (size_t)c->npaths, &o0, &r, &err)) {
				fprintf(stderr, "ringtrace %s: error: %s\n", cmd, err.msg);
				return NULL;
			}
			while (rtr_reader_next(r, &m) == RTR_NEXT_OK) {
				if (m.kind == RTR_MSG_EVENT && m.has_clock) {
					day0 = m.ns;
					break;
				}
			}
			rtr_reader_close(r);
			r = NULL;
			have_day = true;
			continue;
		}
		break;
	}
	if (rtr_reader_open(c->paths, (size_t)c->npaths, &o, &r, &err)) {
		fprintf(stderr, "ringtrace %s: error: %s\n", cmd, err.msg);
		return NULL;
	}
	return r;
}

void rtr_cli_progress(struct rtr_reader *r, uint64_t events, bool final)
{
	static int tty = -1;
	static struct timespec last;
	struct timespec now;
	uint64_t done, total;

	/* only when stderr is a terminal and stdout is not (the line would
	 * mix with events printed to the terminal) */
	if (tty < 0)
		tty = isatty(2) && !isatty(1);
	if (!tty)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (!final &&
	    (now.tv_sec - last.tv_sec) * 1000000000L + (now.tv_nsec - last.tv_nsec) < 250000000L)
		return;
	last = now;
	rtr_reader_progress(r, &done, &total);
	if (final) {
		fprintf(stderr, "\r\033[K");
		return;
	}
	if (events)
		fprintf(stderr, "\r\033[K%" PRIu64 " events, ", events);
	else
		fprintf(stderr, "\r\033[K");
	fprintf(stderr, "%.1f / %.1f MB (%.0f%%)", done / 1e6, total / 1e6,
		total ? 100.0 * (double)done / (double)total : 100.0);
}

/* 1 = c was a text or selection option (applied), 0 = not one, -1 = bad
 * argument (reported). */
static int text_opt(int c, const char *arg, struct rtr_text_options *to, struct rtr_cli_read *rd)
{
	switch (c) {
	case RTR_CLI_CLOCK_SECONDS:
		to->clock_seconds = true;
		return 1;
	case RTR_CLI_CLOCK_DATE:
		to->clock_date = true;
		return 1;
	case RTR_CLI_CLOCK_GMT:
		to->clock_gmt = true;
		rd->gmt = true;
		return 1;
	case RTR_CLI_CLOCK_CYCLES:
		to->clock_cycles = true;
		return 1;
	case RTR_CLI_NO_DELTA:
		to->no_delta = true;
		return 1;
	case 'n':
		return rtr_cli_names(arg, &to->names) ? -1 : 1;
	case 'f':
		return rtr_cli_fields(arg, &to->fields) ? -1 : 1;
	case 'e':
		rd->patterns[rd->npatterns++] = arg;
		return 1;
	case RTR_CLI_BEGIN:
		rd->begin = arg;
		return 1;
	case RTR_CLI_END:
		rd->end = arg;
		return 1;
	case RTR_CLI_LOGLEVEL:
	case RTR_CLI_LOGLEVEL_ONLY:
		if (rtr_cli_loglevel(arg, &rd->loglevel)) {
			fprintf(stderr,
				"ringtrace: --%s: unknown log level '%s'; the levels, most "
				"severe first: %s\n",
				c == RTR_CLI_LOGLEVEL ? "loglevel" : "loglevel-only", arg,
				rtr_cli_loglevel_names);
			return -1;
		}
		rd->loglevel_sel =
		    c == RTR_CLI_LOGLEVEL ? RTR_LOGLEVEL_SEL_UPTO : RTR_LOGLEVEL_SEL_ONLY;
		return 1;
	default:
		return 0;
	}
}

int rtr_cli_text_init(struct rtr_text_options *to, struct rtr_cli_read *rd, int argc)
{
	memset(to, 0, sizeof(*to));
	memset(rd, 0, sizeof(*rd));
	to->names = RTR_TEXT_NAMES_DEFAULT;
	to->fields = RTR_TEXT_FIELDS_DEFAULT;
	rd->patterns = calloc((size_t)argc + 1, sizeof(char *));
	return rd->patterns ? 0 : -1;
}

int rtr_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
		   struct rtr_text_options *to, struct rtr_cli_read *rd)
{
	int c;

	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		int known = text_opt(c, optarg, to, rd);

		if (known < 0)
			return RTR_CLI_BAD_ARG;
		if (!known)
			return c;
	}
	return -1;
}

/* Absolute, symlink-free form of p, which need not exist: the real path
 * of its deepest existing ancestor, then the rest as written. */
static int canon(const char *p, char *out)
{
	char buf[PATH_MAX], rest[PATH_MAX] = "";
	size_t n = strlen(p);

	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, p, n + 1);
	while (n > 1 && buf[n - 1] == '/')
		buf[--n] = 0;
	while (!realpath(buf, out)) {
		char *slash = strrchr(buf, '/');
		char tmp[PATH_MAX];

		if (errno != ENOENT)
			return -1;
		const char *base = slash ? slash + 1 : buf;
		size_t bl = strlen(base), rl = strlen(rest);

		if (1 + bl + rl >= sizeof(tmp))
			return -1;
		tmp[0] = '/';
		memcpy(tmp + 1, base, bl);
		memcpy(tmp + 1 + bl, rest, rl + 1);
		memcpy(rest, tmp, sizeof(rest));
		if (!slash) {
			if (!getcwd(buf, sizeof(buf)))
				return -1;
		} else if (slash == buf) {
			strcpy(buf, "/");
		} else {
			*slash = 0;
		}
	}
	if (strcmp(out, "/") == 0)
		out[0] = 0;
	if (strlen(out) + strlen(rest) >= PATH_MAX)
		return -1;
	strcat(out, rest);
	if (!out[0])
		strcpy(out, "/");
	return 0;
}

/* a is b or lies under it */
static bool under(const char *a, const char *b)
{
	size_t n = strlen(b);

	if (n == 1 && b[0] == '/')
		return true;
	return !strncmp(a, b, n) && (a[n] == 0 || a[n] == '/');
}

int rtr_cli_output_apart(const char *cmd, const char *out, const char *const *in, int nin)
{
	char co[PATH_MAX], ci[PATH_MAX];

	if (!strcmp(out, "-"))
		return 0;
	if (canon(out, co)) {
		fprintf(stderr, "ringtrace %s: error: %s: %s\n", cmd, out, strerror(errno));
		return -1;
	}
	for (int i = 0; i < nin; i++) {
		if (canon(in[i], ci))
			continue; /* the reader says what is wrong with it */
		if (under(co, ci) || under(ci, co)) {
			fprintf(stderr,
				"ringtrace %s: error: the output %s %s the input %s: writing it "
				"would destroy the trace being read; choose an output outside "
				"the inputs\n",
				cmd, out, under(co, ci) ? (strcmp(co, ci) ? "is inside" : "is")
							 : "contains",
				in[i]);
			return -1;
		}
	}
	return 0;
}
