/* ringtrace clock — unit test: frequency fit, piecewise mapping to
 * CLOCK_MONOTONIC/REALTIME, the CTF clock description and env values, and
 * real sync points. */
#include <errno.h>
#include <stdlib.h>

#include <ringtrace/clock.h>

#include "rtr_test.h"

#define C0 1000000000000ull
#define M0 400000000000ull
#define R0 1700000000123456789ll

/* 2.5 GHz for the first second, then 100 ns (250 cycles) fast. */
static const struct rtr_clock_sync pts[3] = {
    {C0, M0, R0, 50},
    {C0 + 2500000000ull, M0 + 1000000000ull, R0 + 1000000000ll, 60},
    {C0 + 5000000250ull, M0 + 2000000000ull, R0 + 2000000000ll, 40},
};

static void test_fit_and_map(void)
{
	struct rtr_clock_map map;
	struct rtr_clock_fit fit;
	char err[128];

	REQUIRE(rtr_clock_map_init(&map, pts, 3, 0) == 0);
	CHECK_EQ_U64(map.fit.freq, 2500000125ull);
	CHECK(map.fit.from_points);
	CHECK_EQ_U64(map.fit.window_max, 60);
	CHECK_EQ_U64(map.fit.residual_ns, 50);

	/* At the points: exact. Inside segments: on the segment's line. */
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_I64(rtr_clock_map_mono(&map, pts[i].clock), (int64_t)pts[i].mono_ns);
		CHECK_EQ_I64(rtr_clock_map_real(&map, pts[i].clock), pts[i].real_ns);
	}
	CHECK_EQ_I64(rtr_clock_map_mono(&map, C0 + 1250000000ull), (int64_t)(M0 + 500000000ull));
	CHECK_EQ_I64(rtr_clock_map_mono(&map, C0 + 1), (int64_t)M0);	 /* 0.4 ns rounds down */
	CHECK_EQ_I64(rtr_clock_map_mono(&map, C0 + 2), (int64_t)M0 + 1); /* 0.8 ns rounds up */
	CHECK_EQ_I64(rtr_clock_map_mono(&map, C0 + 2500000000ull + 1250000125ull),
		     (int64_t)(M0 + 1500000000ull));
	CHECK_EQ_I64(rtr_clock_map_real(&map, C0 + 2500000000ull + 1250000125ull),
		     R0 + 1500000000ll);
	/* Outside: the fitted slope from the nearest end. */
	CHECK_EQ_I64(rtr_clock_map_mono(&map, C0 - 2500000000ull), (int64_t)(M0 - 999999950ull));
	CHECK_EQ_I64(rtr_clock_map_mono(&map, pts[2].clock + 2500000125ull),
		     (int64_t)(M0 + 3000000000ull));
	CHECK_EQ_I64(rtr_clock_map_real(&map, pts[2].clock + 2500000125ull), R0 + 3000000000ll);
	CHECK_EQ_I64(rtr_clock_map_mono(&map, 0), (int64_t)M0 - 399999980000ll);
	/* The single line babeltrace applies misses the middle point by 50 ns. */
	CHECK_EQ_I64(rtr_clock_map_linear_real(&map, pts[1].clock), R0 + 999999950ll);

	/* Fewer than 2 points or < 1 ms span: the nominal frequency. */
	CHECK_EQ_I64(rtr_clock_fit_sync(pts, 1, 0, &fit), -ERANGE);
	REQUIRE(rtr_clock_fit_sync(pts, 1, 2400000000ull, &fit) == 0);
	CHECK_EQ_U64(fit.freq, 2400000000ull);
	CHECK(!fit.from_points);
	{
		struct rtr_clock_sync close[2] = {pts[0], pts[0]};

		close[1].clock += 2500000;
		close[1].mono_ns += 999999;
		REQUIRE(rtr_clock_fit_sync(close, 2, 2500000000ull, &fit) == 0);
		CHECK_EQ_U64(fit.freq, 2500000000ull);
		CHECK(!fit.from_points);
	}

	/* Validation names the bad point. */
	{
		struct rtr_clock_sync bad[3] = {pts[0], pts[2], pts[1]};

		CHECK_EQ_I64(rtr_clock_sync_check(bad, 3, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "sync point 2") != NULL);
		CHECK_EQ_I64(rtr_clock_map_init(&map, bad, 3, 0), -EINVAL);
		bad[1] = pts[1];
		bad[2] = pts[2];
		bad[2].mono_ns = M0 + 5;
		CHECK_EQ_I64(rtr_clock_sync_check(bad, 3, err, sizeof(err)), -EINVAL);
		CHECK(strstr(err, "mono_ns") != NULL);
		CHECK_EQ_I64(rtr_clock_sync_check(bad, 0, err, sizeof(err)), -EINVAL);
	}
}

static void test_units(void)
{
	CHECK_EQ_U64(rtr_clock_cycles_to_ns(0, 2500000000ull), 0);
	CHECK_EQ_U64(rtr_clock_cycles_to_ns(1, 1000000000ull), 1);
	CHECK_EQ_U64(rtr_clock_cycles_to_ns(3, 2000000000ull), 2);
	CHECK_EQ_U64(rtr_clock_cycles_to_ns(5, 2500000000ull), 2);
	CHECK_EQ_U64(rtr_clock_cycles_to_ns(1, 0), UINT64_MAX);
	CHECK_EQ_U64(rtr_clock_cycles_to_ns(UINT64_MAX, 1), UINT64_MAX);
	CHECK_EQ_U64(rtr_clock_ns_to_cycles(1, 2500000000ull), 3);
	CHECK_EQ_U64(rtr_clock_ns_to_cycles(2, 2500000000ull), 5);
	CHECK_EQ_U64(rtr_clock_ns_to_cycles(UINT64_MAX, 4000000000ull), UINT64_MAX);
}

/* babeltrace: ns from the epoch = offset_s * 1e9 + (offset + ts) * 1e9 / freq */
static __int128 bt_ns(const struct rtr_clock_desc *d, uint64_t ts)
{
	return (__int128)d->offset_s * 1000000000 +
	       ((__int128)d->offset + ts) * 1000000000 / (__int128)d->freq;
}

static int64_t abs64(__int128 v)
{
	return (int64_t)(v < 0 ? -v : v);
}

static void test_describe(void)
{
	struct rtr_clock_selection sel = {.tsc_invariant = true, .degraded = false};
	struct rtr_clock_skew skew = {
	    .source = RTR_CLOCK_TSC, .bound = 260, .cpus_usable = 4, .cpus_skipped = 1};
	struct rtr_clock_describe_in in = {RTR_CLOCK_TSC, &sel, pts, 3, 0, &skew};
	struct rtr_clock_env_entry env[RTR_CLOCK_ENV_MAX + 2];
	struct rtr_clock_meta m;
	struct rtr_clock_map map;

	snprintf(sel.kernel_clocksource, sizeof(sel.kernel_clocksource), "tsc\"x");
	REQUIRE(rtr_clock_describe(&in, &m) == 0);
	CHECK_STR_EQ(m.desc.name, "tsc");
	CHECK_EQ_U64(m.desc.freq, 2500000125ull);
	CHECK(m.desc.offset < m.desc.freq);
	CHECK(m.desc.absolute);
	CHECK_STR_EQ(m.desc.uuid, rtr_clock_boot_id());
	/* precision = skew 260 + window 60/2 + residual 50 ns (126 cycles) */
	CHECK_EQ_U64(m.desc.precision, 416);
	/* What babeltrace computes lines up with the points within 1 ns at the
	 * anchor and with our linear model everywhere. */
	REQUIRE(rtr_clock_map_init(&map, pts, 3, 0) == 0);
	CHECK(abs64(bt_ns(&m.desc, pts[0].clock) - R0) <= 1);
	CHECK(abs64(bt_ns(&m.desc, pts[2].clock) - rtr_clock_map_linear_real(&map, pts[2].clock)) <=
	      1);
	CHECK(abs64(bt_ns(&m.desc, 0) - rtr_clock_map_linear_real(&map, 0)) <= 1);

	CHECK_STR_EQ(m.env.source, "tsc");
	CHECK_EQ_I64(m.env.tsc_invariant, 1);
	CHECK_EQ_I64(m.env.degraded, 0);
	CHECK_STR_EQ(m.env.kernel_clocksource, "tsc_x"); /* made TSDL-safe */
	CHECK_EQ_I64(m.env.skew_bound_ns, 104);
	CHECK_EQ_I64(m.env.skew_cpus, 4);
	CHECK_EQ_I64(m.env.skew_cpus_skipped, 1);
	CHECK_EQ_I64(m.env.sync_window_max_ns, 24);
	CHECK_EQ_I64(m.env.fit_residual_ns, 50);
	CHECK_EQ_I64(m.env.precision_ns, 167);
	CHECK_EQ_I64(m.env.sync_points, 3);

	CHECK_EQ_U64(rtr_clock_env_entries(&m, env, RTR_CLOCK_ENV_MAX + 2), RTR_CLOCK_ENV_MAX);
	CHECK_STR_EQ(env[0].key, "clock_source");
	CHECK_STR_EQ(env[0].str, "tsc");
	CHECK_STR_EQ(env[4].key, "clock_skew_bound_ns");
	CHECK(env[4].str == NULL);
	CHECK_EQ_I64(env[4].num, 104);
	CHECK_STR_EQ(env[RTR_CLOCK_ENV_MAX - 1].key, "clock_sync_points");
	for (size_t i = 0; i < RTR_CLOCK_ENV_MAX; i++)
		for (size_t j = i + 1; j < RTR_CLOCK_ENV_MAX; j++)
			CHECK(strcmp(env[i].key, env[j].key) != 0);
	CHECK_EQ_U64(rtr_clock_env_entries(&m, env, 2), RTR_CLOCK_ENV_MAX);

	/* Skew measured on another source, or bad ids: refused. */
	skew.source = RTR_CLOCK_MONOTONIC;
	CHECK_EQ_I64(rtr_clock_describe(&in, &m), -EINVAL);
	in.source = 7;
	CHECK_EQ_I64(rtr_clock_describe(&in, &m), -EINVAL);

	/* Monotonic source: ns, freq 1e9, offset = realtime - monotonic. */
	{
		struct rtr_clock_sync mp[2] = {
		    {M0, M0, R0, 0},
		    {M0 + 3000000000ull, M0 + 3000000000ull, R0 + 3000000000ll, 0}};
		struct rtr_clock_describe_in mi = {RTR_CLOCK_MONOTONIC, NULL, mp, 2, 0, &skew};

		skew.bound = 70;
		REQUIRE(rtr_clock_describe(&mi, &m) == 0);
		CHECK_STR_EQ(m.desc.name, "monotonic");
		CHECK_EQ_U64(m.desc.freq, 1000000000ull);
		CHECK_EQ_I64(m.desc.offset_s * 1000000000ll + (int64_t)m.desc.offset,
			     R0 - (int64_t)M0);
		CHECK_EQ_U64(m.desc.precision, 70);
		CHECK_EQ_I64(m.env.skew_bound_ns, 70);
		CHECK_EQ_I64(m.env.tsc_invariant, 0);
		CHECK_STR_EQ(m.env.kernel_clocksource, "");
		/* No skew measurement: -1 in env, precision from the fit only. */
		mi.skew = NULL;
		mi.n = 1;
		REQUIRE(rtr_clock_describe(&mi, &m) == 0);
		CHECK_EQ_I64(m.env.skew_bound_ns, -1);
		CHECK_EQ_U64(m.desc.precision, 0);
	}
	/* Realtime before the epoch: offset_s negative, offset still in [0, freq). */
	{
		struct rtr_clock_sync np[1] = {{5000000000ull, 1000000000ull, -1500000000ll, 0}};
		struct rtr_clock_describe_in ni = {RTR_CLOCK_TSC, NULL, np, 1, 2000000000ull, NULL};

		REQUIRE(rtr_clock_describe(&ni, &m) == 0);
		CHECK(m.desc.offset_s < 0 && m.desc.offset < m.desc.freq);
		CHECK(abs64(bt_ns(&m.desc, np[0].clock) - np[0].real_ns) <= 1);
	}
}

static void test_real_sync(int source)
{
	struct rtr_clock_sync s[5];
	struct timespec d = {0, 2000000};

	if (rtr_clock_set_source(source) < 0)
		return;
	for (int i = 0; i < 5; i++) {
		struct timespec a, r;

		REQUIRE(rtr_clock_sync_take(&s[i]) == 0);
		clock_gettime(CLOCK_MONOTONIC, &a);
		clock_gettime(CLOCK_REALTIME, &r);
		/* realtime - monotonic agrees with a direct read within 1 ms */
		{
			int64_t direct = ((int64_t)r.tv_sec - (int64_t)a.tv_sec) * 1000000000ll +
					 (r.tv_nsec - a.tv_nsec);
			int64_t got = s[i].real_ns - (int64_t)s[i].mono_ns;

			CHECK(got - direct < 1000000 && direct - got < 1000000);
		}
		nanosleep(&d, NULL);
	}
	CHECK(rtr_clock_sync_check(s, 5, NULL, 0) == 0);
	for (int i = 0; i < 5; i++)
		CHECK(source == RTR_CLOCK_TSC ? s[i].window > 0 && s[i].window < 10000000
					      : s[i].window == 0 && s[i].clock == s[i].mono_ns);
	printf("%s sync windows: %" PRIu64 " %" PRIu64 " %" PRIu64 " (clock units)\n",
	       rtr_clock_source_name(source), s[0].window, s[1].window, s[2].window);
	/* Calibration: plausible and self-consistent. */
	{
		struct rtr_clock_calibration cal;
		struct rtr_clock_map map;

		REQUIRE(rtr_clock_calibrate(20, &cal) == 0);
		REQUIRE(rtr_clock_map_init(&map, s, 5, 0) == 0);
		printf("%s calibrated %" PRIu64 " Hz (raw), %" PRIu64 " Hz (mono), error %" PRIu64
		       " ppb; sync fit %" PRIu64 " Hz\n",
		       rtr_clock_source_name(source), cal.freq, cal.freq_mono, cal.error_ppb,
		       map.fit.freq);
		/* The two independent estimates agree within 0.1 % (NTP slews
		 * at most 500 ppm). */
		CHECK(cal.freq_mono / 1000 > (cal.freq_mono > map.fit.freq
						  ? cal.freq_mono - map.fit.freq
						  : map.fit.freq - cal.freq_mono));
		CHECK(cal.freq / 1000 > (cal.freq > cal.freq_mono ? cal.freq - cal.freq_mono
								  : cal.freq_mono - cal.freq));
		if (source == RTR_CLOCK_MONOTONIC)
			CHECK(cal.freq_mono > 999000000ull && cal.freq_mono < 1001000000ull);
		CHECK_EQ_I64(rtr_clock_calibrate(0, &cal), -EINVAL);
	}
}

int main(void)
{
	test_fit_and_map();
	test_units();
	test_describe();
	test_real_sync(RTR_CLOCK_MONOTONIC);
	test_real_sync(RTR_CLOCK_TSC);
	return rtr_test_done("clock_map_test");
}
