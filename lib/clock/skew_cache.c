/* ringtrace clock — the cross-CPU skew bound kept for the rest of the boot:
 * measuring it takes ~50 ms on every `record`, and it does not change while
 * the machine runs on the same CPUs. Design: docs/design/clock.md
 * ("Skew bound", "A bound measured once per boot"). */
#define _GNU_SOURCE /* CPU_* macros */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock_internal.h"

#define CACHE_VERSION 1
#define CACHE_MAX     4096

/* What the bound depends on: the boot, the clock source, the CPUs online
 * and the ones we may run on. Written as text into sig. */
static int signature(int source, char *sig, size_t cap)
{
	char boot[64] = "", online[256] = "";
	cpu_set_t mask;
	size_t n;
	int fd, len;

	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = (size_t)(read(fd, boot, sizeof(boot) - 1) > 0 ? strcspn(boot, "\n") : 0);
	close(fd);
	boot[n] = 0;
	fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t r = read(fd, online, sizeof(online) - 1);

		online[r > 0 ? strcspn(online, "\n") : 0] = 0;
		close(fd);
	}
	if (!n || sched_getaffinity(0, sizeof(mask), &mask))
		return -1;
	len = snprintf(sig, cap, "%s/%d/%s/", boot, source, online);
	for (int c = 0; c < CPU_SETSIZE && len > 0 && (size_t)len < cap - 1; c++)
		if (CPU_ISSET(c, &mask))
			len += snprintf(sig + len, cap - (size_t)len, "%d,", c);
	return len > 0 && (size_t)len < cap - 1 ? 0 : -1;
}

static uint64_t boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The fields of struct rtr_clock_skew that the file carries, in order. */
#define FIELDS(X)                                                                                  \
	X(bound) X(bound_ns) X(read_bound) X(read_bound_ns) X(ordered_bound)                      \
	    X(ordered_bound_ns) X(freq) X(rtt_min) X(rtt_min_ns) X(elapsed_ns)

static int load(const char *path, const char *sig, unsigned max_age_s,
		struct rtr_clock_skew *out)
{
	char buf[CACHE_MAX + 1], fsig[512];
	struct stat st;
	long long v[16];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int version, n, cpu_a, cpu_b, complete;
	unsigned usable, skipped, pairs_total, pairs_measured, rounds;
	long long off_lo, off_hi;
	uint64_t at;
	ssize_t r;

	if (fd < 0)
		return -1;
	/* ours, a plain file, not writable by others */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
	    (st.st_mode & 022) || st.st_size > CACHE_MAX) {
		close(fd);
		return -1;
	}
	r = read(fd, buf, CACHE_MAX);
	close(fd);
	if (r <= 0)
		return -1;
	buf[r] = 0;
	n = sscanf(buf,
		   "ringtrace-skew %d %511s %" SCNu64
		   " %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld"
		   " %d %d %lld %lld %u %u %u %u %u %d",
		   &version, fsig, &at, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7],
		   &v[8], &v[9], &cpu_a, &cpu_b, &off_lo, &off_hi, &usable, &skipped, &pairs_total,
		   &pairs_measured, &rounds, &complete);
	if (n != 23 || version != CACHE_VERSION || strcmp(fsig, sig))
		return -1;
	if (at > boottime_ns() || boottime_ns() - at > (uint64_t)max_age_s * 1000000000u)
		return -1;
	for (int i = 0; i < 10; i++)
		if (v[i] < 0)
			return -1;
	memset(out, 0, sizeof(*out));
	{
		int i = 0;
#define GET(f) out->f = (uint64_t)v[i++];
		FIELDS(GET)
#undef GET
	}
	out->cpu_a = cpu_a;
	out->cpu_b = cpu_b;
	out->offset_lo = off_lo;
	out->offset_hi = off_hi;
	out->cpus_usable = usable;
	out->cpus_skipped = skipped;
	out->pairs_total = pairs_total;
	out->pairs_measured = pairs_measured;
	out->rounds_done = rounds;
	out->complete = complete != 0;
	return 0;
}

static void store(const char *path, const char *sig, const struct rtr_clock_skew *s)
{
	char tmp[4200], buf[CACHE_MAX];
	int fd, len;

	if (strlen(path) + 16 > sizeof(tmp))
		return;
	len = snprintf(buf, sizeof(buf),
		       "ringtrace-skew %d %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		       " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
		       " %" PRIu64 " %d %d %lld %lld %u %u %u %u %u %d\n",
		       CACHE_VERSION, sig, boottime_ns(), s->bound, s->bound_ns, s->read_bound,
		       s->read_bound_ns, s->ordered_bound, s->ordered_bound_ns, s->freq, s->rtt_min,
		       s->rtt_min_ns, s->elapsed_ns, s->cpu_a, s->cpu_b, (long long)s->offset_lo,
		       (long long)s->offset_hi, s->cpus_usable, s->cpus_skipped, s->pairs_total,
		       s->pairs_measured, s->rounds_done, s->complete ? 1 : 0);
	if (len <= 0 || (size_t)len >= sizeof(buf))
		return;
	snprintf(tmp, sizeof(tmp), "%s.%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, buf, (size_t)len) != len || close(fd) || rename(tmp, path))
		unlink(tmp);
}

int rtr_clock_measure_skew_cached(const char *path, unsigned int max_age_s,
				  const struct rtr_clock_skew_opts *opts,
				  struct rtr_clock_skew *out, bool *from_cache)
{
	char sig[512];
	int source = rtr_clock_get_source(), r;
	bool have_sig;

	if (from_cache)
		*from_cache = false;
	if (!out)
		return -EINVAL;
	have_sig = path && signature(source, sig, sizeof(sig)) == 0;
	if (have_sig && load(path, sig, max_age_s, out) == 0) {
		out->source = source;
		out->ordered = opts && opts->ordered;
		if (from_cache)
			*from_cache = true;
		return 0;
	}
	r = rtr_clock_measure_skew(opts, out);
	/* a disturbed or partial measurement is not kept: the next run tries
	 * again */
	if (r == 0 && have_sig && out->complete && !out->disturbed && !(opts && opts->ordered))
		store(path, sig, out);
	return r;
}
