/* Unit tests of the TSDL parser and plan compiler (lib/reader/metadata/,
 * compile/plan_build.c): attributes, aliases, scopes, enums, errors with
 * line numbers. */
#include <stdlib.h>
#include <string.h>

#include "compile/compile.h"
#include "rtr_test.h"

static struct rtr__trace_class tc;
static struct rtr__trace_code code;
static struct rtr_error err;

static int parse(const char *text)
{
	rtr__code_free(&code);
	rtr__trace_class_free(&tc);
	memset(&tc, 0, sizeof(tc));
	memset(&err, 0, sizeof(err));
	if (rtr__tsdl_parse(&tc, text, strlen(text), "m", &err))
		return -1;
	return rtr__code_build(&code, &tc, &err);
}

#define HDR                                                                                        \
	"/* CTF 1.8 */\n"                                                                          \
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"                 \
	"typealias integer { size = 32; align = 32; signed = false; } := uint32_t;\n"

static const struct rtr__type *field(const struct rtr__type *st, const char *n)
{
	for (uint32_t i = 0; st && i < st->n; i++)
		if (!strcmp(st->m[i].orig, n))
			return st->m[i].t;
	return NULL;
}

static void test_integers(void)
{
	const struct rtr__type *f, *t;

	REQUIRE(parse(HDR "trace { major = 1; minor = 8; byte_order = be; };\n"
			  "event { name = e; fields := struct {\n"
			  "  integer { size = 3; signed = true; base = x; } a;\n"
			  "  integer { size = 12; align = 16; byte_order = le; base = 8; encoding "
			  "= UTF8; } b;\n"
			  "  integer { size = 64; byte_order = native; base = binary; } c;\n"
			  "  uint32_t d[4];\n"
			  "}; };\n") == 0);
	CHECK_EQ_U64(tc.n_scs, 1);
	f = tc.scs[0]->ecs[0]->fields;
	t = field(f, "a");
	REQUIRE(t);
	CHECK_EQ_U64(t->size, 3);
	CHECK_EQ_U64(t->align, 1); /* not a multiple of 8: bit-packed */
	CHECK(t->sign);
	CHECK_EQ_U64(t->base, 16);
	CHECK_EQ_U64(t->bo, RTR__BO_BE); /* trace byte order */
	t = field(f, "b");
	CHECK_EQ_U64(t->align, 16);
	CHECK_EQ_U64(t->bo, RTR__BO_LE);
	CHECK_EQ_U64(t->base, 8);
	CHECK_EQ_U64(t->encoding, RTR__ENC_UTF8);
	t = field(f, "c");
	CHECK_EQ_U64(t->align, 8);
	CHECK_EQ_U64(t->bo, RTR__BO_BE);
	CHECK_EQ_U64(t->base, 2);
	t = field(f, "d");
	CHECK_EQ_U64(t->kind, TK_ARRAY);
	CHECK_EQ_U64(t->len, 4);
	CHECK_EQ_U64(t->align, 32);
}

static void test_enum_values(void)
{
	const struct rtr__type *t;

	REQUIRE(parse(HDR "typealias integer { size = 16; signed = true; } := int;\n"
			  "trace { major = 1; minor = 8; byte_order = le; };\n"
			  "event { name = e; fields := struct {\n"
			  "  enum { A, B = 5, C = 10 ... 20, D, \"E F\" = -3, G } x;\n"
			  "}; };\n") == 0);
	t = field(tc.scs[0]->ecs[0]->fields, "x");
	REQUIRE(t && t->kind == TK_ENUM);
	CHECK_EQ_U64(t->size, 16); /* untyped enum: the "int" alias */
	REQUIRE(t->n == 6);
	CHECK_EQ_I64((int64_t)t->r[0].lo, 0);
	CHECK_EQ_I64((int64_t)t->r[1].lo, 5);
	CHECK_EQ_I64((int64_t)t->r[2].lo, 10);
	CHECK_EQ_I64((int64_t)t->r[2].hi, 20);
	CHECK_EQ_I64((int64_t)t->r[3].lo, 21); /* previous end + 1 */
	CHECK_STR_EQ(t->r[4].label, "E F");
	CHECK_EQ_I64((int64_t)t->r[4].lo, -3);
	CHECK_EQ_I64((int64_t)t->r[5].lo, -2);
}

static void test_scopes_and_aliases(void)
{
	const struct rtr__type *f;

	/* a typedef inside a struct is local to it; struct align() */
	REQUIRE(
	    parse(HDR
		  "trace { major = 1; minor = 8; byte_order = le; };\n"
		  "struct s { typedef uint8_t loc; loc a; } align(64);\n"
		  "typedef struct s S2[2];\n"
		  "event { name = e; fields := struct { S2 v; uint8_t __x; string _; }; };\n") ==
	    0);
	f = tc.scs[0]->ecs[0]->fields;
	CHECK_EQ_U64(field(f, "v")->kind, TK_ARRAY);
	CHECK_EQ_U64(field(f, "v")->elem->align, 64);
	CHECK_STR_EQ(f->m[1].name, "_x"); /* one underscore removed */
	CHECK_STR_EQ(f->m[2].name, "");
	CHECK(parse(HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
			"struct s { typedef uint8_t loc; loc a; };\n"
			"event { name = e; fields := struct { loc b; }; };\n") != 0);
	CHECK(strstr(err.msg, "m:6:") != NULL); /* the event line */
}

static void test_errors(void)
{
	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
	    {HDR "trace { major = 2; minor = 8; byte_order = le; };", "expecting 1"},
	    {HDR "typealias integer { size = 0; } := x;", "size"},
	    {HDR "typealias integer { size = 8; align = 3; } := x;", "power of two"},
	    {HDR "typealias uint8_t := uint32_t;", "duplicate type"},
	    {HDR "struct a { uint8_t x; uint8_t x; };", "duplicate struct member"},
	    {HDR "struct a { uint8_t callsite; };", "reserved keyword"},
	    {HDR "typealias integer { size = 8; } := t; struct a { t x", "end of metadata"},
	    {HDR "trace { uuid = \"1234\"; };", "UUID"},
	    {"/* CTF 1.9 */ trace { major = 1; };", "CTF 1.8"},
	    {HDR "typealias floating_point { exp_dig = 5; mant_dig = 10; } := half;",
	     "floating point"},
	    {HDR
	     "struct a { enum : uint8_t { X, Y } t; variant <t> { uint8_t X; uint8_t Z; } v; };",
	     "matches no label"},
	    {HDR "struct a { string t; variant <t> { uint8_t X; } v; };", "not an enumeration"},
	    {HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
		 "event { name = e; fields := struct { uint32_t n; uint8_t s[m]; }; };",
	     "cannot resolve"},
	    {HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
		 "event { name = a; id = 1; }; event { name = b; id = 1; };",
	     "duplicate event id"},
	};

	for (size_t i = 0; i < RTR_ARRAY_SIZE(bad); i++) {
		int r = parse(bad[i].text);

		CHECK(r != 0);
		if (r == 0 || !strstr(err.msg, bad[i].want))
			fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, err.msg,
				bad[i].want);
		CHECK(strstr(err.msg, bad[i].want) != NULL);
	}
}

static void test_roles_and_shown(void)
{
	const struct rtr__stream_code *sc;

	REQUIRE(
	    parse(
		HDR
		"typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } "
		":= ts_t;\n"
		"clock { name = c; freq = 1000; };\n"
		"trace { major = 1; minor = 8; byte_order = le;\n"
		"  packet.header := struct { uint32_t magic; uint32_t stream_id; }; };\n"
		"stream { packet.context := struct { ts_t timestamp_begin; uint32_t content_size;\n"
		"    uint32_t packet_size; uint8_t cpu_id; uint8_t n; };\n"
		"  event.header := struct { uint8_t id; ts_t timestamp; }; };\n"
		"event { name = e; fields := struct { uint8_t a[stream.packet.context.n]; }; "
		"};\n") == 0);
	sc = &code.scs[0];
	CHECK_EQ_I64(sc->clock, 0);
	CHECK(sc->has_ts_begin);
	CHECK(!sc->has_ts_end);
	/* packet context: roles hidden, cpu_id shown, n shown because a
	 * shown sequence depends on it */
	for (uint32_t i = 0; i < sc->p_packet_context.n; i++) {
		const struct rtr__op *op = &sc->p_packet_context.ops[i];

		if (!op->name)
			continue;
		if (!strcmp(op->name, "cpu_id") || !strcmp(op->name, "n"))
			CHECK(op->shown);
		else
			CHECK(!op->shown);
	}
	CHECK(sc->p_packet_context.shown);
	CHECK(!sc->p_event_header.shown);
	CHECK(!code.p_packet_header.shown);
}

/* Labels of a value by the definition: every range holding it, each
 * label once, in first-appearance order (the oracle of the index). */
static size_t naive_labels(const struct rtr__type *t, uint64_t v, const char **out, size_t max)
{
	size_t n = 0;

	for (uint32_t k = 0; k < t->n; k++) {
		bool dup = false, hit = false;

		for (uint32_t j = 0; j < k && !dup; j++)
			dup = !strcmp(t->r[j].label, t->r[k].label);
		for (uint32_t j = k; j < t->n && !dup && !hit; j++)
			if (!strcmp(t->r[j].label, t->r[k].label))
				hit = t->sign ? (int64_t)v >= (int64_t)t->r[j].lo &&
						    (int64_t)v <= (int64_t)t->r[j].hi
					      : v >= t->r[j].lo && v <= t->r[j].hi;
		if (hit) {
			if (n < max)
				out[n] = t->r[k].label;
			n++;
		}
	}
	return n;
}

/* The interval index against the definition, on random enums with
 * overlapping ranges, repeated labels, both signs. */
static void test_enum_index(void)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	char *text = malloc(1 << 16);

	REQUIRE(text);
	for (int round = 0; round < 200; round++) {
		int nr = 1 + (int)(rtr_test_xorshift(&seed) % 40), len;
		bool sign = rtr_test_xorshift(&seed) & 1;
		const struct rtr__type *t;

		len = snprintf(text, 1 << 16,
			       HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
				   "event { name = e; fields := struct { enum : integer { size = "
				   "16; signed = %s; } { ",
			       sign ? "true" : "false");
		for (int i = 0; i < nr; i++) {
			int lo = (int)(rtr_test_xorshift(&seed) % 64) - (sign ? 32 : 0);
			int w = (int)(rtr_test_xorshift(&seed) % 8);

			len += snprintf(text + len, (size_t)((1 << 16) - len), "%s\"L%u\" = %d ... %d",
					i ? ", " : "", (unsigned)(rtr_test_xorshift(&seed) % 12), lo,
					lo + w);
		}
		snprintf(text + len, (size_t)((1 << 16) - len), " } x; }; };\n");
		REQUIRE(parse(text) == 0);
		t = field(tc.scs[0]->ecs[0]->fields, "x");
		REQUIRE(t && t->kind == TK_ENUM && t->ix);
		for (int v = -40; v < 80; v++) {
			const char *a[64], *b[64];
			size_t na = rtr__enum_ix_labels(t, (uint64_t)(int64_t)v, a, 64);
			size_t nb = naive_labels(t, (uint64_t)(int64_t)v, b, 64);

			CHECK_EQ_U64(na, nb);
			for (size_t i = 0; i < na && i < nb; i++)
				CHECK(a[i] == b[i]);
		}
	}
	free(text);
}

/* Typealiases of two copies of the previous one, 40 deep: 2 KB of
 * metadata for 2^40 fields. Refused at parse time, before any walk of
 * the expanded tree (which took hours). */
static void test_exponential_types(void)
{
	char text[8192];
	int len = snprintf(text, sizeof(text),
			   HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
			       "typealias struct { uint8_t a; uint8_t b; } := t0;\n");

	for (int i = 1; i <= 40; i++)
		len += snprintf(text + len, sizeof(text) - (size_t)len,
				"typealias struct { t%d a; t%d b; } := t%d;\n", i - 1, i - 1, i);
	snprintf(text + len, sizeof(text) - (size_t)len,
		 "event { name = e; fields := struct { t40 x; }; };\n");
	CHECK(parse(text) != 0);
	CHECK(strstr(err.msg, "expands to more than") != NULL);
	/* 16 levels (2^17 fields) are within every limit and parse; 20
	 * levels (2^21 fields, ~250 MiB of plans for 1 KB of text) are over
	 * the memory the model may take for that text, and say so */
	for (int levels = 16; levels <= 20; levels += 4) {
		len = snprintf(text, sizeof(text),
			       HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
				   "typealias struct { uint8_t a; uint8_t b; } := t0;\n");
		for (int i = 1; i <= levels; i++)
			len += snprintf(text + len, sizeof(text) - (size_t)len,
					"typealias struct { t%d a; t%d b; } := t%d;\n", i - 1, i - 1,
					i);
		snprintf(text + len, sizeof(text) - (size_t)len,
			 "event { name = e; fields := struct { t%d x; }; };\n", levels);
		if (levels == 16) {
			CHECK(parse(text) == 0);
		} else {
			CHECK(parse(text) != 0);
			CHECK(strstr(err.msg, "times its size): refused") != NULL);
		}
	}
}

static const char *env_str(const char *lit)
{
	char text[1024];
	const struct rtr__env *e;

	snprintf(text, sizeof(text),
		 HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
		     "env { v = %s; };\nevent { name = e; fields := struct { uint8_t x; }; };\n",
		 lit);
	if (parse(text))
		return NULL;
	e = rtr__env_find(&tc, "v");
	return e && !e->is_int ? e->s : NULL;
}

/* String literals decode as babeltrace2 2.0.4 decodes them (each value
 * below was printed by it as the trace's hostname). */
static void test_literals(void)
{
	const char *v;

	v = env_str("\"a\\x414b\""); /* three hex digits, cut to a byte */
	REQUIRE(v);
	CHECK_STR_EQ(v, "a\x14" "b");
	v = env_str("\"a\\101\\7777b\""); /* three octal digits */
	REQUIRE(v);
	CHECK_STR_EQ(v, "aA\377" "7b");
	v = env_str("\"a\\xZb\""); /* \x without digit: NUL, ends the text */
	REQUIRE(v);
	CHECK_STR_EQ(v, "a");
	v = env_str("\"\\nabc \\\" hex: \\x41, \\x023, \\0NOT SEEN\""); /* CTF test suite */
	REQUIRE(v);
	CHECK_STR_EQ(v, "\nabc \" hex: A, #, ");
	v = env_str("\"a\\?\\'\\\"\\\\b\"");
	REQUIRE(v);
	CHECK_STR_EQ(v, "a?'\"\\b");
	v = env_str("\"two\nlines\""); /* a raw newline belongs to the literal */
	REQUIRE(v);
	CHECK_STR_EQ(v, "two\nlines");
	CHECK(env_str("\"a\\qb\"") == NULL); /* unknown escapes are errors */
	CHECK(strstr(err.msg, "invalid escape") != NULL);
	CHECK(env_str("\"a\\eb\"") == NULL);
	CHECK(env_str("\"a\\\nb\"") == NULL); /* backslash-newline */
	/* a NUL byte anywhere is invalid metadata, in a comment too */
	{
		static const char nul_str[] = HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
						  "env { v = \"ab\0cd\"; };\n";
		static const char nul_cmt[] = HDR "/* a\0b */\n";

		rtr__trace_class_free(&tc);
		memset(&tc, 0, sizeof(tc));
		memset(&err, 0, sizeof(err));
		CHECK(rtr__tsdl_parse(&tc, nul_str, sizeof(nul_str) - 1, "m", &err) != 0);
		CHECK(strstr(err.msg, "NUL byte") != NULL);
		CHECK(strstr(err.msg, "m:5:") != NULL);
		rtr__trace_class_free(&tc);
		memset(&tc, 0, sizeof(tc));
		memset(&err, 0, sizeof(err));
		CHECK(rtr__tsdl_parse(&tc, nul_cmt, sizeof(nul_cmt) - 1, "m", &err) != 0);
		CHECK(strstr(err.msg, "NUL byte") != NULL);
	}
}

int main(void)
{
	test_literals();
	test_enum_index();
	test_exponential_types();
	test_integers();
	test_enum_values();
	test_scopes_and_aliases();
	test_errors();
	test_roles_and_shown();
	rtr__code_free(&code);
	rtr__trace_class_free(&tc);
	return rtr_test_done("test_tsdl");
}
