/* ringtrace clock — unit test: sync list encoding/decoding (round trip and
 * malformed input), decimation accuracy and the bounded sync log. */
#include <errno.h>
#include <stdlib.h>

#include <ringtrace/clock.h>

#include "rtr_test.h"

static uint64_t rng = 88172645463325252ull;

static uint64_t xorshift(void)
{
	return rtr_test_xorshift(&rng);
}

/* A synthetic recording: TSC at `freq`, a sync point every `step_ns`, the
 * rate changing by `ppm` at two knees (NTP slewing) and a realtime step. */
static void make_points(struct rtr_clock_sync *p, size_t n, uint64_t step_ns, bool noise)
{
	uint64_t clk = 123456789012345ull, mono = 5000000000000ull;
	int64_t off = 1764000000000000000ll; /* realtime - monotonic */

	for (size_t i = 0; i < n; i++) {
		uint64_t dmono = step_ns;
		/* cycles per ns: 2.6 GHz, slewed +40 ppm in [n/3, 2n/3) */
		uint64_t dclk = dmono * 26 / 10;

		if (i >= n / 3 && i < 2 * n / 3)
			dclk -= dclk * 40 / 1000000;
		if (i == n / 2)
			off -= 1500000; /* settimeofday step back 1.5 ms */
		if (i) {
			clk += dclk;
			mono += dmono;
		}
		p[i].clock = clk + (noise ? xorshift() % 40 : 0);
		p[i].mono_ns = mono;
		p[i].real_ns = (int64_t)mono + off;
		p[i].window = 60 + (xorshift() % 30);
	}
}

static bool same(const struct rtr_clock_sync *a, const struct rtr_clock_sync *b)
{
	return a->clock == b->clock && a->mono_ns == b->mono_ns && a->real_ns == b->real_ns &&
	       a->window == b->window;
}

static void test_roundtrip(void)
{
	static struct rtr_clock_sync p[300], q[300];
	static char buf[RTR_CLOCK_SYNC_STR_MAX];
	char err[128];
	size_t kept = 0;
	ssize_t len, n;

	make_points(p, 300, 1000000000u, true);
	len = rtr_clock_sync_encode(p, 300, buf, sizeof(buf), &kept);
	REQUIRE(len > 0);
	CHECK_EQ_U64(kept, 300);
	CHECK_EQ_U64(strlen(buf), (size_t)len);
	CHECK(strncmp(buf, "v1:300:", 7) == 0);
	CHECK(strspn(buf, "0123456789v:,;-") == (size_t)len);
	printf("300 points at 1 s: %zd bytes (%.1f per point)\n", len, (double)len / 300);
	n = rtr_clock_sync_decode(buf, (size_t)len, q, 300, err, sizeof(err));
	REQUIRE(n == 300);
	for (size_t i = 0; i < 300; i++)
		CHECK(same(&p[i], &q[i]));

	/* Single point, negative realtime offset (clock set before 1970). */
	p[0].real_ns = -5;
	len = rtr_clock_sync_encode(p, 1, buf, sizeof(buf), NULL);
	REQUIRE(len > 0);
	n = rtr_clock_sync_decode(buf, (size_t)len + 10, q, 1, err, sizeof(err));
	CHECK_EQ_I64(n, 1);
	CHECK(same(&p[0], &q[0]));

	/* An offset change that does not fit a signed 64-bit delta is refused;
	 * extreme but valid values survive. */
	p[0] = (struct rtr_clock_sync){1, 0, INT64_MIN, UINT64_MAX};
	p[1] = (struct rtr_clock_sync){UINT64_MAX, (uint64_t)INT64_MAX, INT64_MAX, 0};
	CHECK_EQ_I64(rtr_clock_sync_encode(p, 2, buf, sizeof(buf), NULL), -EINVAL);
	p[0].real_ns = INT64_MIN + 1;
	len = rtr_clock_sync_encode(p, 2, buf, sizeof(buf), NULL);
	REQUIRE(len > 0);
	n = rtr_clock_sync_decode(buf, (size_t)len, q, 2, err, sizeof(err));
	CHECK_EQ_I64(n, 2);
	CHECK(same(&p[0], &q[0]) && same(&p[1], &q[1]));

	/* Invalid lists are refused by the encoder. */
	p[1].clock = p[0].clock;
	CHECK_EQ_I64(rtr_clock_sync_encode(p, 2, buf, sizeof(buf), NULL), -EINVAL);
	CHECK_EQ_I64(rtr_clock_sync_encode(p, 0, buf, sizeof(buf), NULL), -EINVAL);
}

static void expect_bad(const char *s, ssize_t want, const char *msg_part)
{
	struct rtr_clock_sync q[4];
	char err[160];
	ssize_t r = rtr_clock_sync_decode(s, strlen(s), q, 4, err, sizeof(err));

	if (r != want || !strstr(err, msg_part))
		RTR_TEST_FAIL_("decode(\"%s\") = %zd \"%s\"; wanted %zd and \"%s\"", s, r, err,
			       want, msg_part);
}

static void test_malformed(void)
{
	expect_bad("", -EINVAL, "offset 0: expected version prefix");
	expect_bad("v2:1:1,2,3,4", -EINVAL, "version prefix");
	expect_bad("v1:", -EINVAL, "offset 3: expected digits for the point count");
	expect_bad("v1:0:", -EINVAL, "point count >= 1");
	expect_bad("v1:5:1,2,3,4", -E2BIG, "room for 4");
	expect_bad("v1:1;1,2,3,4", -EINVAL, "offset 4: expected ':'");
	expect_bad("v1:1:1,2,3", -EINVAL, "offset 10: expected ','");
	expect_bad("v1:1:1,2,3,", -EINVAL, "digits for the window");
	expect_bad("v1:1:1,2,3,4;", -EINVAL, "offset 12: expected end of list");
	expect_bad("v1:2:1,2,3,4", -EINVAL, "offset 12: expected ';'");
	expect_bad("v1:1:1,2,3,4x", -EINVAL, "end of list");
	expect_bad("v1:1:1,-2,3,4", -EINVAL, "digits for the first monotonic");
	expect_bad("v1:1:18446744073709551616,2,3,4", -EINVAL, "the first clock within 64 bits");
	expect_bad("v1:1:1,2,9223372036854775808,4", -EINVAL, "within signed 64 bits");
	expect_bad("v1:1:1,2,-,4", -EINVAL, "digits for the realtime offset");
	expect_bad("v1:2:1,2,3,4;0,1,0,4", -EINVAL, "clock delta > 0");
	expect_bad("v1:2:18446744073709551615,2,3,4;1,1,0,4", -EINVAL, "point 1 within 64 bits");
	/* realtime = mono + offset must fit too */
	expect_bad("v1:1:1,9223372036854775807,1,0", -EINVAL, "realtime within 64 bits");
	/* A NUL inside len ends the input. */
	{
		struct rtr_clock_sync q[2];
		const char s[] = "v1:1:1,2,3,4\0;garbage";
		char err[64];

		CHECK_EQ_I64(rtr_clock_sync_decode(s, sizeof(s), q, 2, err, sizeof(err)), 1);
		CHECK_EQ_U64(q[0].clock, 1);
		CHECK_EQ_I64(q[0].real_ns, 5);
	}
	/* Oversized input is refused before parsing. */
	{
		size_t big = (1u << 20) + 10;
		char *s = malloc(big + 1);
		struct rtr_clock_sync q[1];

		REQUIRE(s);
		memset(s, '1', big);
		s[big] = '\0';
		CHECK_EQ_I64(rtr_clock_sync_decode(s, big, q, 1, NULL, 0), -E2BIG);
		free(s);
	}
}

/* Interpolated mono/real at each original point, through the kept points. */
static uint64_t max_map_error(const struct rtr_clock_sync *orig, size_t n,
			      const struct rtr_clock_sync *kept, size_t k)
{
	struct rtr_clock_map map;
	uint64_t worst = 0;

	REQUIRE(rtr_clock_map_init(&map, kept, k, 0) == 0);
	for (size_t i = 0; i < n; i++) {
		int64_t em = rtr_clock_map_mono(&map, orig[i].clock) - (int64_t)orig[i].mono_ns;
		int64_t er = rtr_clock_map_real(&map, orig[i].clock) - orig[i].real_ns;
		uint64_t e = (uint64_t)(em < 0 ? -em : em);

		if ((uint64_t)(er < 0 ? -er : er) > e)
			e = (uint64_t)(er < 0 ? -er : er);
		if (e > worst)
			worst = e;
	}
	return worst;
}

static void test_decimate(void)
{
	enum { N = 6000 };
	static struct rtr_clock_sync p[N], d[N];
	static char buf[2048];
	ssize_t k;
	size_t kept;
	uint64_t e;

	/* Exactly piecewise-linear data with 2 rate knees and a realtime step:
	 * a handful of points describe it without error. */
	make_points(p, N, 1000000000u, false);
	memcpy(d, p, sizeof(p));
	k = rtr_clock_sync_decimate(d, N, 12);
	REQUIRE(k >= 2 && k <= 12);
	CHECK(same(&d[0], &p[0]));
	CHECK(same(&d[k - 1], &p[N - 1]));
	e = max_map_error(p, N, d, (size_t)k);
	printf("decimate %d -> %zd, exact data: max error %" PRIu64 " ns\n", N, k, e);
	CHECK(e <= 2);

	/* Noisy data (±20 cycles ≈ 8 ns): error stays at the noise level. */
	make_points(p, N, 1000000000u, true);
	memcpy(d, p, sizeof(p));
	k = rtr_clock_sync_decimate(d, N, 64);
	REQUIRE(k >= 2 && k <= 64);
	e = max_map_error(p, N, d, (size_t)k);
	printf("decimate %d -> %zd, noisy data: max error %" PRIu64 " ns\n", N, k, e);
	CHECK(e <= 40);

	/* Uniform decimation for comparison must do worse on the step: the
	 * greedy choice keeps the points around the realtime step. */
	{
		static struct rtr_clock_sync u[64];
		size_t m = 0;

		for (size_t i = 0; i < N; i += N / 63)
			u[m++] = p[i];
		if (u[m - 1].clock != p[N - 1].clock && m < 64)
			u[m++] = p[N - 1];
		printf("uniform %d -> %zu: max error %" PRIu64 " ns\n", N, m,
		       max_map_error(p, N, u, m));
		CHECK(max_map_error(p, N, u, m) > e);
	}

	/* No-op and errors. */
	CHECK_EQ_I64(rtr_clock_sync_decimate(d, 5, 10), 5);
	CHECK_EQ_I64(rtr_clock_sync_decimate(d, 5, 1), -EINVAL);

	/* Encoding into a small buffer decimates to fit. */
	k = rtr_clock_sync_encode(p, N, buf, sizeof(buf), &kept);
	REQUIRE(k > 0);
	CHECK((size_t)k < sizeof(buf));
	CHECK(kept < N && kept >= 2);
	{
		ssize_t n = rtr_clock_sync_decode(buf, (size_t)k, d, N, NULL, 0);

		CHECK_EQ_I64(n, (ssize_t)kept);
		CHECK(same(&d[0], &p[0]));
		CHECK(same(&d[n - 1], &p[N - 1]));
		e = max_map_error(p, N, d, (size_t)n);
		printf("encode %d points into %zu bytes: %zu kept, %zd bytes, max error %" PRIu64
		       " ns\n",
		       N, sizeof(buf), kept, k, e);
		CHECK(e <= 60);
	}
	/* Too small for even two points. */
	CHECK_EQ_I64(rtr_clock_sync_encode(p, N, buf, 20, NULL), -ENOSPC);
}

static void test_log(void)
{
	enum { N = 1000, CAP = 32 };
	static struct rtr_clock_sync p[N], store[CAP];
	struct rtr_clock_sync_log log = {store, 0, CAP, 0};

	make_points(p, N, 100000000u, false);
	for (size_t i = 0; i < N; i++) {
		REQUIRE(rtr_clock_sync_log_add(&log, &p[i]) == 0);
		CHECK(log.n <= CAP);
	}
	CHECK(same(&log.pts[0], &p[0]));
	CHECK(same(&log.pts[log.n - 1], &p[N - 1]));
	CHECK_EQ_U64(log.dropped + log.n, N);
	CHECK(rtr_clock_sync_check(log.pts, log.n, NULL, 0) == 0);
	printf("log: %d points through a %d-entry log: %zu kept, max error %" PRIu64 " ns\n", N,
	       CAP, log.n, max_map_error(p, N, log.pts, log.n));
	CHECK(max_map_error(p, N, log.pts, log.n) <= 2);

	/* A point not after the last is ignored; one going back in mono is refused. */
	{
		struct rtr_clock_sync again = p[N - 1], back = p[N - 1];
		size_t n = log.n;

		CHECK_EQ_I64(rtr_clock_sync_log_add(&log, &again), 0);
		CHECK_EQ_U64(log.n, n);
		back.clock += 10;
		back.mono_ns -= 1;
		CHECK_EQ_I64(rtr_clock_sync_log_add(&log, &back), -EINVAL);
		CHECK_EQ_U64(log.n, n);
	}
}

int main(void)
{
	test_roundtrip();
	test_malformed();
	test_decimate();
	test_log();
	return rtr_test_done("clock_codec_test");
}
