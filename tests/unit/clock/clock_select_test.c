/* ringtrace clock — unit test: source selection from fake /proc/cpuinfo and
 * clocksource contents, names, and the real probe's consistency. */
#include <errno.h>
#include <stdlib.h>

#include <ringtrace/clock.h>

#include "rtr_test.h"

#define GOOD_FLAGS                                                                                 \
	"fpu vme de pse tsc msr pae mce cx8 apic sep rdtscp lm constant_tsc rep_good nopl "        \
	"xtopology nonstop_tsc cpuid tsc_known_freq pni"

static const char cpuinfo_good[] = "processor\t: 0\n"
				   "vendor_id\t: GenuineIntel\n"
				   "flags\t\t: " GOOD_FLAGS "\n"
				   "bogomips\t: 4200.00\n"
				   "\n"
				   "processor\t: 1\n"
				   "flags\t\t: " GOOD_FLAGS "\n"
				   "\n";

/* CPU 1 lacks nonstop_tsc (heterogeneous, or a broken VM). */
static const char cpuinfo_mixed[] = "processor\t: 0\n"
				    "flags\t\t: " GOOD_FLAGS "\n"
				    "processor\t: 1\n"
				    "flags\t\t: fpu tsc rdtscp constant_tsc\n";

/* Words that merely contain the flag names must not count. */
static const char cpuinfo_lookalike[] =
    "flags\t: fpu tsc rdtscp xconstant_tsc constant_tsc_x nonstop_tscs tsc_reliable\n";

static const char cpuinfo_no_rdtscp[] = "flags\t: fpu tsc constant_tsc nonstop_tsc\n";

/* aarch64 style: no "flags" line at all. */
static const char cpuinfo_arm[] = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\n"
				  "CPU implementer\t: 0x41\n";

/* CRLF line ends and no trailing newline. */
static const char cpuinfo_crlf[] = "flags : rdtscp constant_tsc nonstop_tsc tsc_reliable\r";

static struct rtr_clock_selection sel(const char *cpuinfo, size_t len, const char *cs,
				      const char *env, bool arch)
{
	struct rtr_clock_probe_input in = {cpuinfo, len, cs, env, arch};
	struct rtr_clock_selection s;
	int r = rtr_clock_select(&in, &s);

	REQUIRE(r == s.source);
	REQUIRE(s.reason[0] != '\0');
	return s;
}

#define S(ci, cs, env, arch) sel((ci), sizeof(ci) - 1, (cs), (env), (arch))

static void test_auto(void)
{
	struct rtr_clock_selection s;

	s = S(cpuinfo_good, "tsc\n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);
	CHECK(s.tsc_trusted && s.tsc_invariant && s.constant_tsc && s.nonstop_tsc && s.rdtscp);
	CHECK(s.tsc_known_freq);
	CHECK(!s.tsc_reliable);
	CHECK(!s.degraded && !s.forced && !s.env_invalid);
	CHECK_EQ_U64(s.ncpus_flags, 2);
	CHECK_STR_EQ(s.kernel_clocksource, "tsc");

	/* Trimmed clocksource. */
	s = S(cpuinfo_good, "  tsc \n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);

	/* The kernel distrusts the TSC: monotonic, degraded, says why. */
	s = S(cpuinfo_good, "hpet\n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(s.degraded);
	CHECK(strstr(s.reason, "hpet") != NULL);
	s = S(cpuinfo_good, "tsc-early\n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	s = S(cpuinfo_good, "kvm-clock\n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK_STR_EQ(s.kernel_clocksource, "kvm-clock");
	s = S(cpuinfo_good, NULL, NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(strstr(s.reason, "unknown") != NULL);

	/* One CPU without nonstop_tsc spoils it for all. */
	s = S(cpuinfo_mixed, "tsc\n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(s.constant_tsc && !s.nonstop_tsc && !s.tsc_invariant);
	CHECK(strstr(s.reason, "not invariant") != NULL);

	s = S(cpuinfo_lookalike, "tsc", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(!s.constant_tsc && !s.nonstop_tsc && s.rdtscp && s.tsc_reliable);

	s = S(cpuinfo_no_rdtscp, "tsc", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(s.tsc_invariant && !s.rdtscp);
	CHECK(strstr(s.reason, "rdtscp") != NULL);

	s = S(cpuinfo_crlf, "tsc", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);
	CHECK(s.tsc_reliable);

	/* Length is honoured: cut the good cpuinfo before CPU 1's flags end. */
	{
		const char *cut = strstr(cpuinfo_good + 40, "flags");
		size_t len = (size_t)(cut - cpuinfo_good) + 20;
		struct rtr_clock_selection t = sel(cpuinfo_good, len, "tsc", NULL, true);

		CHECK_EQ_I64(t.source, RTR_CLOCK_MONOTONIC);
		CHECK_EQ_U64(t.ncpus_flags, 2);
	}

	/* No flags lines, or no cpuinfo at all. */
	s = S(cpuinfo_arm, "arch_sys_counter\n", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK_EQ_U64(s.ncpus_flags, 0);
	s = sel(NULL, 0, "tsc", NULL, true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(strstr(s.reason, "cpuinfo") != NULL);

	/* Not x86-64: monotonic, and that is not "degraded". */
	s = S(cpuinfo_good, "tsc", NULL, false);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(!s.degraded && !s.tsc_trusted);
	s = S(cpuinfo_arm, "arch_sys_counter", NULL, false);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(!s.degraded);
}

static void test_env(void)
{
	struct rtr_clock_selection s;

	s = S(cpuinfo_good, "tsc", "monotonic", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(s.forced && !s.degraded);

	s = S(cpuinfo_good, "tsc", "tsc", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);
	CHECK(s.forced && !s.degraded);

	/* Forced onto a TSC the kernel does not trust: allowed, flagged. */
	s = S(cpuinfo_good, "hpet", "tsc", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);
	CHECK(s.forced && s.degraded);
	CHECK(strstr(s.reason, "not trusted") != NULL);

	/* Refused: no rdtscp (the ordered read would fault), or no TSC. */
	s = S(cpuinfo_no_rdtscp, "tsc", "tsc", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(!s.forced);
	CHECK(strstr(s.reason, "refused") != NULL);
	s = S(cpuinfo_good, "tsc", "tsc", false);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(!s.degraded);

	/* Unknown values are ignored and reported; empty means unset. */
	s = S(cpuinfo_good, "tsc", "TSC", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);
	CHECK(s.env_invalid && !s.forced);
	CHECK(strstr(s.reason, "not recognised") != NULL);
	s = S(cpuinfo_good, "hpet", "fast", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_MONOTONIC);
	CHECK(s.env_invalid);
	s = S(cpuinfo_good, "tsc", "", true);
	CHECK_EQ_I64(s.source, RTR_CLOCK_TSC);
	CHECK(!s.env_invalid && !s.forced);
}

static void test_names(void)
{
	CHECK_STR_EQ(rtr_clock_source_name(RTR_CLOCK_MONOTONIC), "monotonic");
	CHECK_STR_EQ(rtr_clock_source_name(RTR_CLOCK_TSC), "tsc");
	CHECK(rtr_clock_source_name(2) == NULL);
	CHECK(rtr_clock_source_name(-1) == NULL);
	CHECK_EQ_I64(rtr_clock_source_from_name("tsc"), RTR_CLOCK_TSC);
	CHECK_EQ_I64(rtr_clock_source_from_name("monotonic"), RTR_CLOCK_MONOTONIC);
	CHECK_EQ_I64(rtr_clock_source_from_name("Monotonic"), -EINVAL);
	CHECK_EQ_I64(rtr_clock_source_from_name(NULL), -EINVAL);
	/* Wire ids are fixed. */
	CHECK_EQ_I64(RTR_CLOCK_MONOTONIC, 0);
	CHECK_EQ_I64(RTR_CLOCK_TSC, 1);
	CHECK(rtr_clock_select(NULL, NULL) == -EINVAL);
}

/* The real probe must agree with the pure function over the same files. */
static void test_real_probe(void)
{
	struct rtr_clock_selection a, b;
	struct rtr_clock_probe_input in = {.arch_tsc = RTR_CLOCK_HAVE_TSC};
	static char cpuinfo[1 << 22], cs[64];
	FILE *f;
	size_t n;

	unsetenv(RTR_CLOCK_ENV_VAR);
	REQUIRE(rtr_clock_probe(&a) >= 0);
	f = fopen("/proc/cpuinfo", "r");
	REQUIRE(f);
	n = fread(cpuinfo, 1, sizeof(cpuinfo) - 1, f);
	fclose(f);
	in.cpuinfo = cpuinfo;
	in.cpuinfo_len = n;
	f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");
	if (f) {
		if (!fgets(cs, sizeof(cs), f))
			cs[0] = '\0';
		fclose(f);
		in.clocksource = cs;
	}
	REQUIRE(rtr_clock_select(&in, &b) >= 0);
	CHECK_EQ_I64(a.source, b.source);
	CHECK_EQ_U64(a.ncpus_flags, b.ncpus_flags);
	CHECK_STR_EQ(a.kernel_clocksource, b.kernel_clocksource);
	printf("real probe: %s (%s), clocksource '%s', %u flags lines\n",
	       rtr_clock_source_name(a.source), a.reason, a.kernel_clocksource, a.ncpus_flags);

	{
		char now[32];
		int k = rtr_clock_kernel_clocksource(now, sizeof(now));

		if (k >= 0)
			CHECK_STR_EQ(now, a.kernel_clocksource);
		CHECK_EQ_I64(rtr_clock_kernel_clocksource(NULL, 4), -EINVAL);
		CHECK_EQ_I64(rtr_clock_kernel_clocksource(now, 0), -EINVAL);
	}

	setenv(RTR_CLOCK_ENV_VAR, "monotonic", 1);
	REQUIRE(rtr_clock_probe(&a) >= 0);
	CHECK_EQ_I64(a.source, RTR_CLOCK_MONOTONIC);
	CHECK(a.forced);
	unsetenv(RTR_CLOCK_ENV_VAR);
}

int main(void)
{
	test_auto();
	test_env();
	test_names();
	test_real_probe();
	return rtr_test_done("clock_select_test");
}
