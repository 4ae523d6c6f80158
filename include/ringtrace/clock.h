/* ringtrace — the trace clock: the per-event read, source selection,
 * sync points, conversion to CLOCK_MONOTONIC/REALTIME, cross-CPU skew bound
 * and the CTF clock description. Design: docs/design/clock.md.
 *
 * Two halves:
 *
 *   Write side (traced processes, any context): rtr_clock_read() and its
 *   variants. Inline, lock-free, no syscall (vDSO at most), no floating point,
 *   async-signal-safe, valid before any initialisation. Timestamps are RAW
 *   clock units: TSC cycles for RTR_CLOCK_TSC, CLOCK_MONOTONIC nanoseconds for
 *   RTR_CLOCK_MONOTONIC. Writers never convert.
 *
 *   Host side (the session host / consumer; never called by writers): source
 *   probing, sync points, frequency/offset fit, piecewise mapping, the sync
 *   list codec, skew measurement, and the clock description for the CTF
 *   metadata. These may allocate, sleep briefly and create threads where
 *   documented; none of them is async-signal-safe unless stated.
 *
 * Concurrency contract: every rtr_clock_read*() may run concurrently with
 * anything, including rtr_clock_set_source() (a reader sees either the old or
 * the new source, never a torn value) and itself from a signal handler.
 * rtr_clock_init() and rtr_clock_set_source() are thread-safe. The host-side
 * functions are reentrant: they touch only their arguments (plus the cached
 * boot id and the process-wide source, both read-only to them) unless stated.
 *
 * Needs a 64-bit target with __int128 (every Linux target we build for).
 * Uses clock_gettime(): programs compiled in a strict ISO mode (-std=c11
 * rather than gnu11) must define _POSIX_C_SOURCE=200809L (or _GNU_SOURCE).
 */
#ifndef RINGTRACE_CLOCK_H
#define RINGTRACE_CLOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <ringtrace/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Sources                                                                   */
/* ------------------------------------------------------------------------ */

/*
 * Clock source ids. STABLE: they travel over the control protocol from the
 * session host to traced processes. Never renumber; add at the end.
 */
enum rtr_clock_source_id {
	/* vDSO clock_gettime(CLOCK_MONOTONIC); units: ns; freq 1e9. The
	 * default before any init, valid on every platform. */
	RTR_CLOCK_MONOTONIC = 0,
	/* x86-64 time-stamp counter, plain rdtsc; units: TSC cycles; freq:
	 * measured (sync points). Only where the TSC is invariant and the
	 * kernel's clocksource is "tsc" (or forced by RINGTRACE_CLOCK=tsc). */
	RTR_CLOCK_TSC = 1,
	/* 2 is reserved for the aarch64 virtual counter (CNTVCT_EL0). */
};
#define RTR_CLOCK_SOURCE_COUNT 2

/* 1 when this build can read the TSC (x86-64), else 0. Defining
 * RTR_CLOCK_NO_TSC builds the non-x86 path on x86 (tests of the fallback). */
#if defined(__x86_64__) && !defined(RTR_CLOCK_NO_TSC)
#define RTR_CLOCK_HAVE_TSC 1
#else
#define RTR_CLOCK_HAVE_TSC 0
#endif

/*
 * Process-wide state read by rtr_clock_read(). Alone on its cache line so the
 * per-event load never misses because of a neighbour's writes. Do not write
 * it directly: use rtr_clock_init() / rtr_clock_set_source().
 */
struct rtr_clock_global {
	int source; /* enum rtr_clock_source_id; accessed with __atomic */
	char pad_[64 - sizeof(int)];
} __attribute__((aligned(64)));

extern RTR_EXPORT struct rtr_clock_global rtr_clock_global;

/* ------------------------------------------------------------------------ */
/* Write side: inline reads                                                  */
/* ------------------------------------------------------------------------ */

/*
 * rtr_clock_read_monotonic - CLOCK_MONOTONIC in ns through the vDSO.
 * Async-signal-safe (clock_gettime is on the POSIX list); does not touch
 * errno (CLOCK_MONOTONIC cannot fail). Costs a vDSO call (~24 ns here), or a
 * real syscall when the kernel's clocksource has no vDSO support.
 */
RTR_EXPORT uint64_t rtr_clock__monotonic_ns(void);

static inline uint64_t rtr_clock_read_monotonic(void)
{
	/* Out of line so that this header needs no POSIX feature macro in
	 * the including file (a provider built with -std=c11 lacks
	 * clock_gettime); one call next to the vDSO's own. */
	return rtr_clock__monotonic_ns();
}

#if RTR_CLOCK_HAVE_TSC
/*
 * rtr_clock_read_tsc - plain rdtsc. NOT ordered against earlier loads: the
 * CPU may execute it before an earlier load completes (see
 * docs/design/clock.md, "Serialisation"). The "memory" clobber stops the
 * compiler from moving memory accesses across it, so only the CPU's
 * out-of-order window remains, and the skew bound measures that window.
 */
static inline uint64_t rtr_clock_read_tsc(void)
{
	uint32_t lo, hi;

	__asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi) : : "memory");
	return RTR_CAST(uint64_t, hi) << 32 | lo;
}

/*
 * rtr_clock_read_tsc_ordered - rdtscp: waits until every earlier instruction
 * has executed and earlier loads are globally visible before reading the
 * counter. About 2x the cost of rdtsc on this machine.
 */
static inline uint64_t rtr_clock_read_tsc_ordered(void)
{
	uint32_t lo, hi, aux;

	__asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi), "=c"(aux) : : "memory");
	(void)aux;
	return RTR_CAST(uint64_t, hi) << 32 | lo;
}
#endif

/* rtr_clock_get_source - the process's current source id. Async-signal-safe. */
static inline int rtr_clock_get_source(void)
{
	return __atomic_load_n(&rtr_clock_global.source, __ATOMIC_RELAXED);
}

/*
 * rtr_clock_read - THE per-event timestamp, in raw units of the current
 * source (TSC cycles or CLOCK_MONOTONIC ns).
 *
 * Contract: async-signal-safe, lock-free, no syscall on the TSC path (vDSO on
 * the monotonic path), no floating point, no errno change, valid before any
 * init (default source: RTR_CLOCK_MONOTONIC). Non-decreasing across
 * successive calls of one thread on one CPU; across CPUs (and hence across a
 * migration) values may differ by up to the measured skew bound
 * (rtr_clock_measure_skew). Not ordered against earlier loads on the TSC path:
 * callers that need "everything before happened before the timestamp" use
 * rtr_clock_read_ordered(). Cost on this machine: ~9.6 ns (TSC), ~24 ns
 * (monotonic).
 */
static inline uint64_t rtr_clock_read(void)
{
#if RTR_CLOCK_HAVE_TSC
	if (rtr_likely(rtr_clock_get_source() == RTR_CLOCK_TSC))
		return rtr_clock_read_tsc();
#endif
	return rtr_clock_read_monotonic();
}

/*
 * rtr_clock_read_ordered - like rtr_clock_read(), but the read happens after
 * every earlier instruction has completed (rdtscp on the TSC path; the vDSO
 * already orders its own counter read). Same units and safety as
 * rtr_clock_read(). Used for sync points and by callers that need the
 * timestamp not to be taken before a preceding load.
 */
static inline uint64_t rtr_clock_read_ordered(void)
{
#if RTR_CLOCK_HAVE_TSC
	if (rtr_likely(rtr_clock_get_source() == RTR_CLOCK_TSC))
		return rtr_clock_read_tsc_ordered();
#endif
	return rtr_clock_read_monotonic();
}

/* ------------------------------------------------------------------------ */
/* Source selection                                                          */
/* ------------------------------------------------------------------------ */

/* Name of the environment variable overriding the choice: "tsc"|"monotonic". */
#define RTR_CLOCK_ENV_VAR "RINGTRACE_CLOCK"

/*
 * rtr_clock_source_name - "monotonic", "tsc", or NULL for an unknown id.
 * Async-signal-safe (returns a string literal).
 */
RTR_EXPORT const char *rtr_clock_source_name(int id);

/*
 * rtr_clock_source_from_name - inverse of rtr_clock_source_name(); exact,
 * case-sensitive match. Returns the id (>= 0) or -EINVAL.
 */
RTR_EXPORT int rtr_clock_source_from_name(const char *name);

/* What selection looked at and why it chose what it chose. */
struct rtr_clock_selection {
	int source;	      /* chosen enum rtr_clock_source_id */
	bool arch_tsc;	      /* the build/CPU can read a TSC at all (x86-64) */
	bool constant_tsc;    /* cpuinfo flag on every CPU listed */
	bool nonstop_tsc;     /* cpuinfo flag on every CPU listed */
	bool tsc_known_freq;  /* cpuinfo flag on every CPU listed (informative) */
	bool tsc_reliable;    /* cpuinfo flag on every CPU listed (informative) */
	bool rdtscp;	      /* cpuinfo flag on every CPU listed */
	bool tsc_invariant;   /* constant_tsc && nonstop_tsc */
	bool clocksource_tsc; /* kernel clocksource is exactly "tsc" */
	bool tsc_trusted;     /* arch_tsc && tsc_invariant && clocksource_tsc && rdtscp */
	bool forced;	      /* RINGTRACE_CLOCK decided the source */
	bool env_invalid;     /* RINGTRACE_CLOCK was set to something unknown (ignored) */
	/* The trace clock is not the fast TSC because the machine does not trust
	 * it, or the TSC was forced although it is not trusted. Goes into the
	 * trace env (clock_degraded). */
	bool degraded;
	unsigned int ncpus_flags;    /* "flags" lines seen in cpuinfo */
	char kernel_clocksource[32]; /* trimmed; "" when unknown */
	char reason[192];	     /* one human-readable sentence */
};

/* Inputs of the pure selection function; NULL means "not available". */
struct rtr_clock_probe_input {
	const char *cpuinfo; /* contents of /proc/cpuinfo */
	size_t cpuinfo_len;
	const char *clocksource; /* contents of .../clocksource0/current_clocksource */
	const char *env;	 /* value of RINGTRACE_CLOCK, NULL when unset */
	bool arch_tsc;		 /* pass RTR_CLOCK_HAVE_TSC for the real machine */
};

/*
 * rtr_clock_select - pure: decide the source from the given file contents.
 * TSC iff arch_tsc, every cpuinfo "flags" line has constant_tsc, nonstop_tsc
 * and rdtscp, and the clocksource is "tsc"; otherwise monotonic. A valid
 * env value overrides that (tsc on a non-TSC build stays monotonic, with
 * env_invalid=false, forced=false and a reason saying so); an invalid one is
 * ignored and flagged. No I/O, no allocation, reentrant.
 * Returns the chosen id (>= 0), or -EINVAL if in or out is NULL.
 */
int rtr_clock_select(const struct rtr_clock_probe_input *in, struct rtr_clock_selection *out);

/*
 * rtr_clock_probe - the real probe: reads /proc/cpuinfo (up to 16 MiB),
 * /sys/devices/system/clocksource/clocksource0/current_clocksource and
 * RINGTRACE_CLOCK, then calls rtr_clock_select(). Does not change the
 * process's source. Unreadable files count as "not available" (→ monotonic).
 * Returns the chosen id (>= 0), or -EINVAL (out NULL), -ENOMEM.
 * Thread-safe; not async-signal-safe.
 */
int rtr_clock_probe(struct rtr_clock_selection *out);

/*
 * rtr_clock_kernel_clocksource - read and trim the kernel's current
 * clocksource into buf (e.g. "tsc"). The host polls it from its sync timer:
 * a change during a session (the kernel's watchdog demoting the TSC) means
 * the TSC may no longer be trusted; report it. Host side, thread-safe.
 * Returns the length, -EINVAL (buf NULL or len 0), or a negative errno from
 * reading sysfs (buf is then "").
 */
int rtr_clock_kernel_clocksource(char *buf, size_t len);

/*
 * rtr_clock_init - select the process's source once: probe (with the
 * RINGTRACE_CLOCK override) and publish it, unless rtr_clock_set_source()
 * already chose one, in which case that choice stands. Idempotent and
 * thread-safe (later and concurrent calls wait for the first and return its
 * result). Not async-signal-safe. If sel is non-NULL it receives the probe's
 * details (zeroed with source filled in when set_source decided).
 * Returns the current source id (>= 0); never fails (falls back to monotonic).
 */
RTR_EXPORT int rtr_clock_init(struct rtr_clock_selection *sel);

/*
 * rtr_clock_set_source - publish a source chosen elsewhere (traced processes
 * get it from the session host). Takes effect for every thread's next
 * rtr_clock_read() (one relaxed atomic store the reads pick up). Thread-safe
 * (serialised with rtr_clock_init by a mutex); not async-signal-safe.
 * Switching while writers run mixes units inside a buffer: the host picks
 * once per session, before tracing starts.
 * Returns 0, -EINVAL (unknown id), -ENOTSUP (TSC on a build without one, or
 * a CPU without rdtscp, which the ordered read needs).
 */
RTR_EXPORT int rtr_clock_set_source(int id);

/* ------------------------------------------------------------------------ */
/* Host side: sync points                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A sync point: one instant seen by the trace clock and by the kernel's
 * clocks. `clock` is the midpoint of the narrowest ordered-read window
 * [c0, c1] found around a clock_gettime(CLOCK_MONOTONIC); the true instant of
 * the kernel read lies within clock ± window/2.
 */
struct rtr_clock_sync {
	uint64_t clock;	  /* raw clock units (midpoint of the read window) */
	uint64_t mono_ns; /* CLOCK_MONOTONIC at that instant */
	int64_t real_ns;  /* CLOCK_REALTIME at that instant (ns since the epoch) */
	uint64_t window;  /* width of the read window, clock units */
};

/*
 * rtr_clock_sync_take - take one sync point with the min-window method
 * (16 attempts of ordered-read / clock_gettime / ordered-read, narrowest
 * kept; the realtime-minus-monotonic offset is measured the same way).
 * Uses the process's current source. Consumer side only (a host timer);
 * takes ~2 µs; no allocation, no lock; async-signal-safe in practice (only
 * clock_gettime) though writers have no reason to call it.
 * Returns 0, or -EINVAL if out is NULL.
 */
int rtr_clock_sync_take(struct rtr_clock_sync *out);

/*
 * rtr_clock_sync_check - validate a sync list: n >= 1, clock strictly
 * increasing, mono_ns non-decreasing. On failure writes a message naming the
 * index and the expectation to err (if errlen > 0).
 * Returns 0 or -EINVAL.
 */
int rtr_clock_sync_check(const struct rtr_clock_sync *pts, size_t n, char *err, size_t errlen);

/*
 * Bounded log of sync points for a recording: append from the host's timer;
 * when full, the log decimates itself to half its capacity (keeping the
 * points that matter most for piecewise accuracy, first and last always
 * kept), so memory stays bounded however long the recording.
 */
struct rtr_clock_sync_log {
	struct rtr_clock_sync *pts; /* caller-owned array of cap entries */
	size_t n;
	size_t cap;	  /* >= 4 */
	uint64_t dropped; /* points removed by decimation so far */
};

/*
 * rtr_clock_sync_log_add - append pt. A point whose clock is not above the
 * last one's is ignored (returns 0; it adds nothing). Not thread-safe (one
 * host thread owns the log); may allocate temporary memory while decimating.
 * Returns 0, -EINVAL (bad log or pt), -ENOMEM (decimation scratch).
 */
int rtr_clock_sync_log_add(struct rtr_clock_sync_log *log, const struct rtr_clock_sync *pt);

/*
 * rtr_clock_sync_decimate - reduce pts[0..n) in place to at most max_points
 * (>= 2) points, keeping the first and last and repeatedly dropping the
 * interior point whose removal changes the piecewise mono/real mapping the
 * least (its deviation from the line between its neighbours).
 * Returns the new count (> 0), or -EINVAL (invalid list or max_points < 2),
 * -ENOMEM. O(n log n) time, O(n) scratch.
 */
ssize_t rtr_clock_sync_decimate(struct rtr_clock_sync *pts, size_t n, size_t max_points);

/* ------------------------------------------------------------------------ */
/* Host side: fit and conversion                                             */
/* ------------------------------------------------------------------------ */

/* The single linear model CTF 1.8 can express (what babeltrace2 applies). */
struct rtr_clock_fit {
	uint64_t freq;	     /* clock units per CLOCK_MONOTONIC second, rounded */
	uint64_t base_clock; /* anchor: the first sync point */
	uint64_t base_mono_ns;
	int64_t base_real_ns;
	uint64_t window_max;  /* widest sync window, clock units */
	uint64_t residual_ns; /* max |mono_i - linear(clock_i)| over the points */
	bool from_points;     /* freq fitted from the points (else nominal) */
};

/*
 * rtr_clock_fit_sync - fit freq from the first and last sync point (slope
 * against CLOCK_MONOTONIC), anchored at the first. When there is one point,
 * or the two span less than 1 ms of CLOCK_MONOTONIC, nominal_freq is used
 * (pass 1000000000 for the monotonic source, a rtr_clock_calibrate() result
 * for the TSC). Returns 0, -EINVAL (invalid list, out NULL), -ERANGE (no
 * usable slope and nominal_freq == 0, or a fitted freq of 0).
 */
int rtr_clock_fit_sync(const struct rtr_clock_sync *pts, size_t n, uint64_t nominal_freq,
		       struct rtr_clock_fit *out);

/*
 * Piecewise-linear map from timestamps to kernel clocks. Between two sync
 * points: straight line through both (follows NTP slewing); outside the
 * list: the fit's slope from the nearest end point. Does NOT own pts: the
 * array must outlive the map and stay unchanged.
 */
struct rtr_clock_map {
	const struct rtr_clock_sync *pts;
	size_t n;
	struct rtr_clock_fit fit;
};

/*
 * rtr_clock_map_init - validate pts and fit (see rtr_clock_fit_sync for
 * nominal_freq). Returns 0, -EINVAL, -ERANGE as rtr_clock_fit_sync().
 */
int rtr_clock_map_init(struct rtr_clock_map *map, const struct rtr_clock_sync *pts, size_t n,
		       uint64_t nominal_freq);

/*
 * rtr_clock_map_mono / rtr_clock_map_real - timestamp (raw units) to
 * CLOCK_MONOTONIC / CLOCK_REALTIME ns, rounded to nearest, saturating at the
 * int64 range. O(log n); reentrant; no allocation.
 */
int64_t rtr_clock_map_mono(const struct rtr_clock_map *map, uint64_t ts);
int64_t rtr_clock_map_real(const struct rtr_clock_map *map, uint64_t ts);

/*
 * rtr_clock_map_linear_real - what babeltrace2 computes from the clock
 * description alone (single line, anchored at the first point), for
 * comparison and for readers that ignore the sync list.
 */
int64_t rtr_clock_map_linear_real(const struct rtr_clock_map *map, uint64_t ts);

/*
 * rtr_clock_cycles_to_ns - delta (clock units) to ns at freq, rounded up
 * (bounds stay bounds). Returns UINT64_MAX on overflow or freq == 0.
 */
uint64_t rtr_clock_cycles_to_ns(uint64_t delta, uint64_t freq);

/* rtr_clock_ns_to_cycles - ns to clock units at freq, rounded up; saturates. */
uint64_t rtr_clock_ns_to_cycles(uint64_t ns, uint64_t freq);

/* A frequency measurement against CLOCK_MONOTONIC_RAW (not NTP-slewed). */
struct rtr_clock_calibration {
	uint64_t freq;	    /* clock units per CLOCK_MONOTONIC_RAW second */
	uint64_t freq_mono; /* same interval measured against CLOCK_MONOTONIC */
	uint64_t error_ppb; /* bound from the two read windows */
	uint64_t duration_ns;
};

/*
 * rtr_clock_calibrate - measure the current source's frequency over
 * duration_ms (>= 1; sleeps that long) with min-window reads at both ends.
 * For the monotonic source freq_mono comes out ~1e9 and freq shows the
 * rate of CLOCK_MONOTONIC against MONOTONIC_RAW (NTP's correction). Host side.
 * Returns 0, -EINVAL (out NULL or duration_ms 0), -ERANGE (no clock progress).
 */
int rtr_clock_calibrate(unsigned int duration_ms, struct rtr_clock_calibration *out);

/* ------------------------------------------------------------------------ */
/* Host side: cross-CPU skew bound                                           */
/* ------------------------------------------------------------------------ */

/*
 * Rounds for a thorough measurement (~230 ms here). The tracer read's
 * inversions have a rare tail (up to ~350 cycles seen at 100 k round trips,
 * while 2048 see ~25): the host should run one of these in a background
 * thread during a recording, besides the quick start-up one, and put the
 * largest bound seen into the metadata (written at the end anyway).
 */
#define RTR_CLOCK_SKEW_ROUNDS_THOROUGH 102400u

struct rtr_clock_skew_opts {
	unsigned int rounds;	/* round trips per pair and kind of read (half each
				 * way), in bursts of 256 each preceded by a 200 us
				 * sleep; 0: 2048 */
	unsigned int budget_ms; /* wall-time budget for the whole run; 0: 50 ms +
				 * 2 ms per pair (52 ms for 2 CPUs, 106 ms for 8,
				 * 304 ms for 128 CPUs measured first-vs-each) */
	/* which pairs: 0 auto (all pairs up to 8 usable CPUs, else CPU-first vs
	 * each), 1 all pairs, 2 first usable CPU vs each */
	int pairs;
	/* The tracer reads with rtr_clock_read_ordered(): measure only that.
	 * Default (false): the tracer's rtr_clock_read() AND the ordered read,
	 * in alternating bursts. */
	bool ordered;
	uint64_t freq; /* clock units per s for the ns figures; 0: measured */
};

struct rtr_clock_skew {
	int source;   /* source measured (the process's current one) */
	bool ordered; /* opts.ordered */
	/*
	 * THE bound: two events on different CPUs whose timestamps differ by
	 * less than this have an unknown order. max(read_bound, ordered_bound):
	 * the ordered bracket bounds the true offset between the CPUs' clocks
	 * (limited by the cache-line transfer time), the tracer-read bracket
	 * adds what reads executed ahead of an earlier load do (inversions).
	 */
	uint64_t bound; /* clock units */
	uint64_t bound_ns;
	uint64_t read_bound; /* from rtr_clock_read() alone (see above) */
	uint64_t read_bound_ns;
	uint64_t ordered_bound; /* from rtr_clock_read_ordered() alone */
	uint64_t ordered_bound_ns;
	uint64_t freq;		   /* the frequency used for the ns figures */
	int cpu_a, cpu_b;	   /* pair that set the bound (-1 when none) */
	int64_t offset_lo;	   /* that pair and read: clock_b - clock_a in [lo, hi]; */
	int64_t offset_hi;	   /* lo > hi means reads ran ahead of the handoff */
	unsigned int cpus_usable;  /* CPUs in our affinity mask */
	unsigned int cpus_skipped; /* online CPUs outside it (not measured) */
	unsigned int pairs_total;
	unsigned int pairs_measured; /* pairs with round trips, both kinds of read */
	unsigned int rounds_done;    /* completed round trips, all pairs and kinds */
	bool complete;		     /* every pair measured (and >= 2 usable CPUs) */
	/* Quality: the best ordered round trip of the worst pair. Normally a
	 * few hundred ns; above 50 us the two threads were hardly ever on their
	 * CPUs at the same time and the bound is loose: `disturbed` is set,
	 * measure again later. */
	uint64_t rtt_min; /* clock units */
	uint64_t rtt_min_ns;
	bool disturbed;
	uint64_t elapsed_ns;
};

/*
 * rtr_clock_measure_skew - bound the timestamp offset between CPUs with a
 * ping-pong on one cache line between two threads pinned to each pair of
 * usable CPUs (or the first usable CPU vs each), using the tracer's read
 * (rtr_clock_read) and the ordered one. For each pair and read, the offset
 * d = clock_b - clock_a is bracketed by causality: d in [max(t2 - t3),
 * min(t2 - t1)] (docs/design/clock.md); a pair's bound is the largest |d|
 * its brackets allow. CPUs outside the affinity mask are skipped and
 * counted. Creates two threads; never changes the caller's affinity; sleeps
 * ~5 ms in all to fit the frequency for the ns figures (TSC source). Bounded
 * by opts->budget_ms (+ thread start/join, + 100 ms grace if a worker
 * cannot be scheduled). opts may be NULL (defaults). Host side; thread-safe
 * (concurrent calls measure each other's noise, though).
 * With fewer than 2 usable CPUs: bound 0, complete false, returns 0.
 * Returns 0, -EINVAL (out NULL), -ETIMEDOUT (pairs existed but none could be
 * measured in the budget), -ENOMEM, or a negative errno from
 * sched_getaffinity/pthread_create.
 */
int rtr_clock_measure_skew(const struct rtr_clock_skew_opts *opts, struct rtr_clock_skew *out);

/*
 * rtr_clock_measure_skew_cached - the same bound, kept in file `path` for
 * the rest of the boot: reused when the file holds a measurement of this
 * boot, clock source, online CPU list and affinity mask, at most
 * max_age_s seconds old; else measured (rtr_clock_measure_skew) and, when
 * complete and undisturbed, written there (0600, via a temporary file and
 * rename; a file that is not ours, not regular or writable by others is
 * ignored). path NULL: always measure. *from_cache (may be NULL) says which.
 * Returns what rtr_clock_measure_skew returns (0 from the file).
 */
int rtr_clock_measure_skew_cached(const char *path, unsigned int max_age_s,
				  const struct rtr_clock_skew_opts *opts,
				  struct rtr_clock_skew *out, bool *from_cache);

/* ------------------------------------------------------------------------ */
/* Host side: what the trace carries                                         */
/* ------------------------------------------------------------------------ */

/*
 * A CTF 1.8 `clock { }` block. For babeltrace2, timestamp 0 maps to
 * offset_s + offset/freq seconds after the Unix epoch (CLOCK_REALTIME).
 */
struct rtr_clock_desc {
	char name[32];	      /* "monotonic" or "tsc" (TSDL identifier) */
	char description[64]; /* human-readable; plain ASCII, no quotes */
	uint64_t freq;	      /* Hz, integer */
	int64_t offset_s;     /* seconds; may be negative */
	uint64_t offset;      /* clock units, 0 <= offset < freq */
	uint64_t precision;   /* clock units: skew bound + window/2 + fit residual */
	char uuid[37];	      /* boot_id ("" when unknown: omit the uuid line) */
	bool absolute;	      /* TRUE: offset is tied to CLOCK_REALTIME */
};

/* Values for the trace `env { }` (keys listed by rtr_clock_env_entries). */
struct rtr_clock_env {
	const char *source;	     /* clock_source: "tsc" | "monotonic" */
	int64_t tsc_invariant;	     /* clock_tsc_invariant: 0/1 */
	int64_t degraded;	     /* clock_degraded: 0/1 */
	char kernel_clocksource[32]; /* clock_kernel_clocksource */
	int64_t skew_bound_ns;	     /* clock_skew_bound_ns (-1: not measured) */
	int64_t skew_cpus;	     /* clock_skew_cpus: CPUs measured */
	int64_t skew_cpus_skipped;   /* clock_skew_cpus_skipped */
	int64_t sync_window_max_ns;  /* clock_sync_window_max_ns */
	int64_t fit_residual_ns;     /* clock_fit_residual_ns */
	int64_t precision_ns;	     /* clock_precision_ns */
	int64_t sync_points;	     /* clock_sync_points: points in the list */
};

struct rtr_clock_meta {
	struct rtr_clock_desc desc;
	struct rtr_clock_env env;
};

/* Inputs of rtr_clock_describe(). */
struct rtr_clock_describe_in {
	int source;			       /* the session's source id */
	const struct rtr_clock_selection *sel; /* NULL: flags unknown (0) */
	const struct rtr_clock_sync *pts;      /* the recording's sync points */
	size_t n;			       /* >= 1 */
	uint64_t nominal_freq;		       /* see rtr_clock_fit_sync */
	const struct rtr_clock_skew *skew;     /* NULL: not measured */
};

/*
 * rtr_clock_describe - the clock block and env values for a recording:
 * freq from the first/last sync point, offset through the first point's
 * CLOCK_REALTIME, precision = skew bound + widest window/2 + linear-fit
 * residual (rounded up), uuid = boot id, absolute = TRUE.
 * Returns 0, -EINVAL (bad source, list or arguments), -ERANGE (no freq).
 */
int rtr_clock_describe(const struct rtr_clock_describe_in *in, struct rtr_clock_meta *out);

/* One env key/value: str != NULL for a string value, else num. */
struct rtr_clock_env_entry {
	const char *key;
	const char *str;
	int64_t num;
};
#define RTR_CLOCK_ENV_MAX 11

/*
 * rtr_clock_env_entries - the env keys/values of meta, in a fixed order
 * (strings point into meta: keep it alive). Writes up to cap entries.
 * Returns the number of entries (RTR_CLOCK_ENV_MAX), whatever cap is.
 */
size_t rtr_clock_env_entries(const struct rtr_clock_meta *meta, struct rtr_clock_env_entry *out,
			     size_t cap);

/*
 * rtr_clock_boot_id - /proc/sys/kernel/random/boot_id, read once per process
 * (first call; thread-safe), "" when unreadable or malformed. The string is
 * static and never changes after the first call.
 */
const char *rtr_clock_boot_id(void);

/* ------------------------------------------------------------------------ */
/* Host side: the sync list as an ASCII string                               */
/* ------------------------------------------------------------------------ */

/* Env key under which the trace writer stores the encoded sync list. */
#define RTR_CLOCK_ENV_SYNC_KEY "clock_sync_list"

/* Recommended (and the decoder's default maximum) encoded size, bytes incl. NUL. */
#define RTR_CLOCK_SYNC_STR_MAX 16384

/*
 * rtr_clock_sync_encode - encode pts as
 *   "v1:<n>:<c0>,<m0>,<o0>,<w0>;<dc>,<dm>,<do>,<w>;..."
 * (decimal; o = real_ns - mono_ns; d* = difference to the previous point;
 * characters [0-9v:,;-] only, safe inside a TSDL string). If the result does
 * not fit in bufsize (NUL included), the list is decimated
 * (rtr_clock_sync_decimate on a copy) until it fits; *kept (if non-NULL)
 * receives the number of points encoded.
 * Returns the string length (excluding NUL), -EINVAL (invalid list),
 * -ENOSPC (not even the first and last points fit), -ENOMEM.
 */
ssize_t rtr_clock_sync_encode(const struct rtr_clock_sync *pts, size_t n, char *buf, size_t bufsize,
			      size_t *kept);

/*
 * rtr_clock_sync_decode - parse len bytes of s (a NUL before len ends the
 * input) into pts[0..cap). Strict: version, count, field syntax, 64-bit
 * ranges, count match, ordering (as rtr_clock_sync_check). On error writes
 * "sync list offset N: expected ..." to err (if errlen > 0).
 * Returns the number of points (>= 1), -EINVAL (malformed), -E2BIG (more
 * than cap points, or len > 1 MiB).
 */
ssize_t rtr_clock_sync_decode(const char *s, size_t len, struct rtr_clock_sync *pts, size_t cap,
			      char *err, size_t errlen);

#ifdef __cplusplus
}
#endif

#endif /* RINGTRACE_CLOCK_H */
