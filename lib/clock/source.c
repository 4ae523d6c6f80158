/* ringtrace clock — source ids, selection (pure + real probe), the
 * process-wide source and the boot id. Design: docs/design/clock.md. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock_internal.h"

#if RTR_CLOCK_HAVE_TSC
#include <cpuid.h>
#endif

/* The per-event read loads .source; monotonic (0) until someone chooses. */
RTR_EXPORT struct rtr_clock_global rtr_clock_global = {.source = RTR_CLOCK_MONOTONIC};

static const char *const source_names[RTR_CLOCK_SOURCE_COUNT] = {
    [RTR_CLOCK_MONOTONIC] = "monotonic",
    [RTR_CLOCK_TSC] = "tsc",
};

RTR_EXPORT const char *rtr_clock_source_name(int id)
{
	if (id < 0 || id >= RTR_CLOCK_SOURCE_COUNT)
		return NULL;
	return source_names[id];
}

RTR_EXPORT int rtr_clock_source_from_name(const char *name)
{
	if (!name)
		return -EINVAL;
	for (int i = 0; i < RTR_CLOCK_SOURCE_COUNT; i++)
		if (strcmp(name, source_names[i]) == 0)
			return i;
	return -EINVAL;
}

/* ---- pure selection ------------------------------------------------------ */

enum { F_CONSTANT, F_NONSTOP, F_KNOWN_FREQ, F_RELIABLE, F_RDTSCP, F_COUNT };
static const char *const flag_names[F_COUNT] = {
    "constant_tsc", "nonstop_tsc", "tsc_known_freq", "tsc_reliable", "rdtscp",
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Does [p, end) start a "flags<blank>*:" line? Returns the value start or NULL. */
static const char *flags_value(const char *p, const char *end)
{
	static const char key[] = "flags";
	size_t k = sizeof(key) - 1;

	if ((size_t)(end - p) < k || memcmp(p, key, k) != 0)
		return NULL;
	p += k;
	while (p < end && is_blank(*p))
		p++;
	if (p >= end || *p != ':')
		return NULL;
	return p + 1;
}

/* Scan every "flags" line; each flag counts only if present on all lines. */
static unsigned int scan_cpuinfo(const char *buf, size_t len, bool have[F_COUNT])
{
	const char *p = buf, *end = buf + len;
	unsigned int lines = 0;
	bool all[F_COUNT];

	for (int f = 0; f < F_COUNT; f++)
		all[f] = true;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *v;

		if (!eol)
			eol = end;
		v = flags_value(p, eol);
		if (v) {
			bool seen[F_COUNT] = {false};

			lines++;
			while (v < eol) {
				const char *w;

				while (v < eol && (is_blank(*v) || *v == '\r'))
					v++;
				w = v;
				while (v < eol && !is_blank(*v) && *v != '\r')
					v++;
				for (int f = 0; f < F_COUNT; f++)
					if ((size_t)(v - w) == strlen(flag_names[f]) &&
					    memcmp(w, flag_names[f], (size_t)(v - w)) == 0)
						seen[f] = true;
			}
			for (int f = 0; f < F_COUNT; f++)
				all[f] = all[f] && seen[f];
		}
		p = eol + 1;
	}
	for (int f = 0; f < F_COUNT; f++)
		have[f] = lines > 0 && all[f];
	return lines;
}

static void trim_copy(char *dst, size_t dstsz, const char *src)
{
	size_t n;

	dst[0] = '\0';
	if (!src)
		return;
	while (*src && isspace((unsigned char)*src))
		src++;
	n = strlen(src);
	while (n > 0 && isspace((unsigned char)src[n - 1]))
		n--;
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

int rtr_clock_select(const struct rtr_clock_probe_input *in, struct rtr_clock_selection *out)
{
	bool have[F_COUNT] = {false};
	int want = -1;

	if (!in || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->arch_tsc = in->arch_tsc;
	if (in->cpuinfo)
		out->ncpus_flags = scan_cpuinfo(in->cpuinfo, in->cpuinfo_len, have);
	out->constant_tsc = have[F_CONSTANT];
	out->nonstop_tsc = have[F_NONSTOP];
	out->tsc_known_freq = have[F_KNOWN_FREQ];
	out->tsc_reliable = have[F_RELIABLE];
	out->rdtscp = have[F_RDTSCP];
	out->tsc_invariant = out->constant_tsc && out->nonstop_tsc;
	trim_copy(out->kernel_clocksource, sizeof(out->kernel_clocksource), in->clocksource);
	out->clocksource_tsc = strcmp(out->kernel_clocksource, "tsc") == 0;
	out->tsc_trusted =
	    out->arch_tsc && out->tsc_invariant && out->clocksource_tsc && out->rdtscp;

	if (in->env && in->env[0]) {
		want = rtr_clock_source_from_name(in->env);
		if (want < 0)
			out->env_invalid = true;
	}

	if (want == RTR_CLOCK_MONOTONIC) {
		out->source = RTR_CLOCK_MONOTONIC;
		out->forced = true;
		snprintf(out->reason, sizeof(out->reason), "%s=monotonic", RTR_CLOCK_ENV_VAR);
	} else if (want == RTR_CLOCK_TSC && out->arch_tsc && out->rdtscp) {
		out->source = RTR_CLOCK_TSC;
		out->forced = true;
		out->degraded = !out->tsc_trusted;
		snprintf(out->reason, sizeof(out->reason), "%s=tsc%s", RTR_CLOCK_ENV_VAR,
			 out->tsc_trusted ? "" : " although the TSC is not trusted here");
	} else if (want == RTR_CLOCK_TSC) {
		out->source = RTR_CLOCK_MONOTONIC;
		out->degraded = out->arch_tsc;
		snprintf(out->reason, sizeof(out->reason), "%s=tsc refused: %s", RTR_CLOCK_ENV_VAR,
			 out->arch_tsc ? "rdtscp not reported by the CPU"
				       : "no TSC on this architecture");
	} else if (out->tsc_trusted) {
		out->source = RTR_CLOCK_TSC;
		snprintf(out->reason, sizeof(out->reason),
			 "invariant TSC (constant_tsc, nonstop_tsc) and kernel clocksource tsc");
	} else {
		out->source = RTR_CLOCK_MONOTONIC;
		out->degraded = out->arch_tsc;
		if (!out->arch_tsc)
			snprintf(out->reason, sizeof(out->reason), "no TSC on this architecture");
		else if (!out->ncpus_flags)
			snprintf(out->reason, sizeof(out->reason), "no cpuinfo flags available");
		else if (!out->tsc_invariant)
			snprintf(out->reason, sizeof(out->reason),
				 "TSC not invariant (constant_tsc %s, nonstop_tsc %s)",
				 out->constant_tsc ? "yes" : "no", out->nonstop_tsc ? "yes" : "no");
		else if (!out->rdtscp)
			snprintf(out->reason, sizeof(out->reason), "CPU lacks rdtscp");
		else
			snprintf(out->reason, sizeof(out->reason),
				 "kernel clocksource is '%s', not tsc",
				 out->kernel_clocksource[0] ? out->kernel_clocksource : "unknown");
	}
	if (out->env_invalid) {
		size_t l = strlen(out->reason);

		snprintf(out->reason + l, sizeof(out->reason) - l,
			 "; %s='%.24s' not recognised, ignored", RTR_CLOCK_ENV_VAR, in->env);
	}
	return out->source;
}

/* ---- real probe ----------------------------------------------------------- */

ssize_t rtr__clock_read_file(const char *path, size_t max, char **out)
{
	size_t cap = max < 4096 ? max : 4096, len = 0;
	char *buf;
	int fd;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	buf = malloc(cap + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t r;

		if (len == cap) {
			char *nb;

			if (cap >= max) {
				free(buf);
				close(fd);
				return -EFBIG;
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				close(fd);
				return -ENOMEM;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = -errno;

			free(buf);
			close(fd);
			return e;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	return (ssize_t)len;
}

#define CPUINFO_MAX	 (16u << 20)
#define CLOCKSOURCE_PATH "/sys/devices/system/clocksource/clocksource0/current_clocksource"

int rtr_clock_kernel_clocksource(char *buf, size_t len)
{
	char *cs = NULL;
	ssize_t r;

	if (!buf || !len)
		return -EINVAL;
	buf[0] = '\0';
	r = rtr__clock_read_file(CLOCKSOURCE_PATH, 256, &cs);
	if (r < 0)
		return (int)r;
	trim_copy(buf, len, cs);
	free(cs);
	return (int)strlen(buf);
}

int rtr_clock_probe(struct rtr_clock_selection *out)
{
	struct rtr_clock_probe_input in = {.arch_tsc = RTR_CLOCK_HAVE_TSC};
	char *cpuinfo = NULL, *cs = NULL;
	ssize_t n;
	int r;

	if (!out)
		return -EINVAL;
	n = rtr__clock_read_file("/proc/cpuinfo", CPUINFO_MAX, &cpuinfo);
	if (n == -ENOMEM)
		return -ENOMEM;
	if (n >= 0) {
		in.cpuinfo = cpuinfo;
		in.cpuinfo_len = (size_t)n;
	}
	if (rtr__clock_read_file(CLOCKSOURCE_PATH, 256, &cs) >= 0)
		in.clocksource = cs;
	in.env = getenv(RTR_CLOCK_ENV_VAR);
	r = rtr_clock_select(&in, out);
	free(cpuinfo);
	free(cs);
	return r;
}

/* ---- the process-wide source --------------------------------------------- */

static pthread_mutex_t source_lock = PTHREAD_MUTEX_INITIALIZER;
static bool source_decided;		      /* under source_lock */
static struct rtr_clock_selection source_sel; /* under source_lock */

static bool cpu_has_rdtscp(void)
{
#if RTR_CLOCK_HAVE_TSC
	unsigned int a, b, c, d;

	if (!__get_cpuid(0x80000001u, &a, &b, &c, &d))
		return false;
	return (d >> 27) & 1u;
#else
	return false;
#endif
}

RTR_EXPORT int rtr_clock_set_source(int id)
{
	if (id < 0 || id >= RTR_CLOCK_SOURCE_COUNT)
		return -EINVAL;
	/* The ordered read uses rdtscp: never publish a TSC source that would
	 * fault on it. */
	if (id == RTR_CLOCK_TSC && (!RTR_CLOCK_HAVE_TSC || !cpu_has_rdtscp()))
		return -ENOTSUP;
	pthread_mutex_lock(&source_lock);
	memset(&source_sel, 0, sizeof(source_sel));
	source_sel.source = id;
	source_sel.forced = true;
	snprintf(source_sel.reason, sizeof(source_sel.reason), "set by rtr_clock_set_source()");
	source_decided = true;
	__atomic_store_n(&rtr_clock_global.source, id, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&source_lock);
	return 0;
}

RTR_EXPORT int rtr_clock_init(struct rtr_clock_selection *sel)
{
	int id;

	pthread_mutex_lock(&source_lock);
	if (!source_decided) {
		struct rtr_clock_selection s;

		if (rtr_clock_probe(&s) < 0) {
			memset(&s, 0, sizeof(s));
			s.source = RTR_CLOCK_MONOTONIC;
			snprintf(s.reason, sizeof(s.reason), "probe failed (out of memory)");
		}
		if (s.source == RTR_CLOCK_TSC && !cpu_has_rdtscp()) {
			s.source = RTR_CLOCK_MONOTONIC;
			snprintf(s.reason, sizeof(s.reason), "cpuid reports no rdtscp");
		}
		source_sel = s;
		source_decided = true;
		__atomic_store_n(&rtr_clock_global.source, s.source, __ATOMIC_RELAXED);
	}
	if (sel)
		*sel = source_sel;
	id = rtr_clock_get_source();
	pthread_mutex_unlock(&source_lock);
	return id;
}

/* ---- boot id -------------------------------------------------------------- */

static pthread_once_t boot_once = PTHREAD_ONCE_INIT;
static char boot_id[37];

static bool uuid_ok(const char *s, size_t n)
{
	if (n != 36)
		return false;
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return true;
}

static void boot_id_load(void)
{
	char *buf = NULL, tmp[64];

	/* Read once: the kernel generates it lazily, and lttng-ust notes a race
	 * on concurrent first reads. */
	if (rtr__clock_read_file("/proc/sys/kernel/random/boot_id", 64, &buf) >= 0) {
		trim_copy(tmp, sizeof(tmp), buf);
		if (uuid_ok(tmp, strlen(tmp)))
			memcpy(boot_id, tmp, 37);
	}
	free(buf);
}

const char *rtr_clock_boot_id(void)
{
	pthread_once(&boot_once, boot_id_load);
	return boot_id;
}

uint64_t rtr_clock__monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
