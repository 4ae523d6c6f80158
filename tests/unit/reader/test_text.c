/* Unit tests of the babeltrace2 text printer (lib/reader/sink/): number
 * bases and masks, enums, escapes, floats, timestamps and deltas, name
 * options. Expected strings follow babeltrace2 2.0.4's pretty sink. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iter/iter.h"
#include "sink/number.h"
#include "rtr_test.h"

#define HDR                                                                                        \
	"/* CTF 1.8 */\n"                                                                          \
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"                 \
	"typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := "     \
	"ts64;\n"                                                                                  \
	"clock { name = c; freq = 1000000000; offset_s = 3600; };\n"                               \
	"trace { major = 1; minor = 8; byte_order = le; };\n"                                      \
	"env { hostname = \"h\"; vpid = 42; procname = \"p\"; };\n"                                \
	"stream { event.header := struct { ts64 timestamp; }; };\n"

/* Prints every event of an in-memory trace; returns malloc'd text. */
static char *render(const char *meta, const uint8_t *d, size_t n, const struct rtr_text_options *o)
{
	struct rtr_reader *r;
	struct rtr_text *t;
	struct rtr_msg m;
	struct rtr_error err = {0};
	int fd[2];
	char *buf = calloc(1, 65536);
	ssize_t got, tot = 0;

	REQUIRE(buf);
	if (rtr__reader_open_mem((const uint8_t *)meta, strlen(meta), d, n, NULL, &r, &err)) {
		fprintf(stderr, "open: %s\n", err.msg);
		REQUIRE(0);
	}
	REQUIRE(pipe(fd) == 0);
	REQUIRE(rtr_text_create(r, fd[1], stderr, o, &t) == 0);
	REQUIRE(t);
	while (rtr_reader_next(r, &m) == RTR_NEXT_OK)
		rtr_text_print(t, &m);
	REQUIRE(rtr_text_destroy(t) == 0);
	close(fd[1]);
	while ((got = read(fd[0], buf + tot, 65535 - (size_t)tot)) > 0)
		tot += got;
	close(fd[0]);
	rtr_reader_close(r);
	return buf;
}

static struct rtr_text_options defaults(void)
{
	struct rtr_text_options o;

	memset(&o, 0, sizeof(o));
	o.names = RTR_TEXT_NAMES_DEFAULT;
	o.fields = RTR_TEXT_FIELDS_DEFAULT;
	return o;
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static void test_fields(void)
{
	static const char meta[] =
	    HDR "event { name = \"ev:x\"; fields := struct {\n"
		"  integer { size = 8; signed = true; base = 16; } h;\n"
		"  integer { size = 8; signed = true; base = 8; } o;\n"
		"  integer { size = 3; base = 2; } b; integer { size = 5; } pad;\n"
		"  enum : uint8_t { A = 1 ... 3, B = 2, \"C\" = 2 } e;\n"
		"  enum : uint8_t { X } u;\n"
		"  string s;\n"
		"  floating_point { exp_dig = 11; mant_dig = 53; align = 8; } f;\n"
		"  uint8_t a[2];\n"
		"  struct { } empty;\n"
		"}; };\n";
	uint8_t d[64];
	size_t n = 0;
	double f = 0.1;
	char *out;
	struct rtr_text_options o = defaults();

	put64(d, 1000000001); /* 3600 s offset + 1.000000001 s */
	n = 8;
	d[n++] = 0xFF; /* h = -1 -> 0xFF */
	d[n++] = 0xFF; /* o = -1 -> 0777 (9 bits) */
	d[n++] = 5;    /* b = 0b101, pad = 0 */
	d[n++] = 2;    /* e: A and B and C */
	d[n++] = 9;    /* u: unknown */
	memcpy(d + n, "q\"\\\n\x01\xc3\xa9", 8);
	n += 8;
	memcpy(d + n, &f, 8);
	n += 8;
	d[n++] = 7;
	d[n++] = 8;
	setenv("TZ", "UTC", 1);
	out = render(meta, d, n, &o);
	CHECK_STR_EQ(
	    out, "[01:00:01.000000001] (+?.\?\?\?\?\?\?\?\?\?) h:p:(42) ev:x: { h = 0xFF, o = "
		 "0777, b = 0b101, pad = 0, "
		 "e = ( \"A\", \"B\", \"C\" : container = 2 ), u = ( <unknown> : container = 9 ), "
		 "s = \"q\\\"\\\\\\n\\x01\xc3\xa9\", f = 0.1, a = [ [0] = 7, [1] = 8 ], empty = { "
		 "} }\n");
	free(out);
	o.names = 0;
	o.no_delta = true;
	o.clock_seconds = true;
	o.fields = 0;
	out = render(meta, d, n, &o);
	CHECK(strncmp(out, "[3601.000000001] ev:x: { 0xFF, 0777,", 35) == 0);
	CHECK(strstr(out, "[ 7, 8 ]") != NULL);
	free(out);
}

static void test_timestamps(void)
{
	static const char meta[] = HDR "event { name = e; fields := struct { uint8_t x; }; };\n";
	uint8_t d[27];
	char *out;
	struct rtr_text_options o = defaults();

	put64(d, 5);
	d[8] = 1;
	put64(d + 9, 1000000007);
	d[17] = 2;
	put64(d + 18, 1000000007);
	d[26] = 3;
	setenv("TZ", "UTC", 1);
	out = render(meta, d, sizeof(d), &o);
	CHECK_STR_EQ(out, "[01:00:00.000000005] (+?.\?\?\?\?\?\?\?\?\?) h:p:(42) e: { x = 1 }\n"
			  "[01:00:01.000000007] (+1.000000002) h:p:(42) e: { x = 2 }\n"
			  "[01:00:01.000000007] (+0.000000000) h:p:(42) e: { x = 3 }\n");
	free(out);
	o.clock_cycles = true;
	o.fields = 0;
	out = render(meta, d, sizeof(d), &o);
	CHECK(strncmp(out, "[00000000000000000005] (+\?\?\?\?\?\?\?\?\?\?\?\?) e: { x = 1 }\n",
		      52) == 0);
	CHECK(strstr(out, "[00000000001000000007] (+001000000002) e: { x = 2 }\n") != NULL);
	free(out);
	o = defaults();
	o.names = RTR_TEXT_NAME_HEADER | RTR_TEXT_NAME_SCOPE | RTR_TEXT_NAME_PAYLOAD;
	o.fields = RTR_TEXT_FIELD_TRACE | RTR_TEXT_FIELD_HOSTNAME;
	o.clock_date = true;
	out = render(meta, d, 9, &o);
	CHECK_STR_EQ(out, "timestamp = 1970-01-01 01:00:00.000000005, delta = "
			  "+?.\?\?\?\?\?\?\?\?\?, trace = h, , "
			  "trace:hostname = h, name = e, event.fields = { x = 1 }\n");
	free(out);
}

/* The hand-written %g must match glibc's for any double it accepts. */
static void test_fmt_g(void)
{
	uint64_t x = 0x9E3779B97F4A7C15ull;
	int bad = 0, fast = 0;
	static const double fixed[] = {0.1,	      0.5,	   1.5,	     2.5,
				       1e-5,	      99999.95,	   999999.5, 999999.4999,
				       123456.5,      1234567.5,   0.000125, 3.14159265358979,
				       1e14,	      9.999995e14, 100000.0, -2.5e-3,
				       0.00001234565, 5e-5,	   65536.0,  1.0};

	for (int i = 0; i < 2000000 + (int)RTR_ARRAY_SIZE(fixed); i++) {
		double d;
		char a[64], b[64];
		int n;

		if (i < (int)RTR_ARRAY_SIZE(fixed)) {
			d = fixed[i];
		} else {
			uint64_t bits;

			rtr_test_xorshift(&x);
			/* exponents spread over the fast range and around it */
			bits =
			    (x & 0x800fffffffffffffull) | ((uint64_t)(1000 + (x >> 40) % 90) << 52);
			if (i % 4 == 0) /* short decimals: many exact ties */
				d = (double)(int64_t)(x % 2000001) / (double)(1 + (x >> 50) % 1000);
			else
				memcpy(&d, &bits, 8);
		}
		n = rtr__fmt_g(d, a);
		if (!n)
			continue;
		fast++;
		a[n] = 0;
		snprintf(b, sizeof(b), "%g", d);
		if (strcmp(a, b)) {
			if (bad++ < 5)
				fprintf(stderr, "%%g of %.17g: got %s, want %s\n", d, a, b);
		}
	}
	CHECK(bad == 0);
	CHECK(fast > 1000000);
}

int main(void)
{
	test_fmt_g();
	test_fields();
	test_timestamps();
	return rtr_test_done("test_text");
}
