/* Unit tests of event filters (lib/proto filter.c, fexpr.c), the control
 * protocol (ctl.c) and the armed-sessions file (armed.c):
 *   - expressions evaluate as the language says, on values they did not
 *     produce (integers of both signs, unsigned beyond INT64_MAX, doubles,
 *     NaN, strings, globs with escapes, contexts, && || ! and parentheses);
 *   - an expression naming a missing field or comparing a string with a
 *     number does not apply to the event (the rule does not enable it);
 *   - a `field OP constant` filter's inline form (the probe's, ctf.h)
 *     answers as the interpreter does, for every operator and numeric
 *     type, on extremes, infinities and NaN;
 *   - the verifier refuses each kind of bad program;
 *   - control messages and armed files decode what was encoded, refuse
 *     truncations and bad values.
 *
 *   filter_test [--seeds DIR...]      also replay the fuzz seeds
 *   filter_test --write-seeds DIR     (re)generate the fuzz seed corpora
 * Design: docs/design/daemon.md §4, §6. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "armed.h"
#include "state.h"
#include "ctl.h"
#include "daemon_fuzz_one.h"
#include "fexpr.h"
#include "filter.h"
#include <ringtrace/ctf.h>
#include "rtr_test.h"

static int inline_used;

/* The probe's inline filter falls back to this (in libringtrace.so) only
 * without an inline form, which the tests below never build. */
int rtr_probe__filter(const struct rtr_binding_extra *x, const union rtr_probe_arg *args)
{
	(void)x;
	(void)args;
	fprintf(stderr, "rtr_probe__filter reached without an inline form\n");
	abort();
}

/* The inline form of f, when it has one, must answer as the interpreter */
static void check_inline(const struct rtr_filter *f, const union rtr_probe_arg *a, int want,
			 const char *expr)
{
	struct rtr_binding_extra x;
	uint64_t k;

	memset(&x, 0, sizeof(x));
	if (!rtr_filter_inline(f, &x.f_kind, &x.f_field, &k, &x.f_accept))
		return;
	x.f_const.u = k;
	x.ctx_mask = RTR_CTF_X_INLINE_FILTER;
	x.filter = f;
	inline_used++;
	if (rtr_probe__filter_pass(&x, a) != want) {
		fprintf(stderr, "inline form of '%s' answers %d, the interpreter %d (val %lld seq %llu dval %g)\n",
			expr, !want, want, (long long)a[0].s, (unsigned long long)a[1].u, a[2].d);
		CHECK(0);
	}
}

static struct rtr_event_state st;
static const struct rtr_field_desc fields[] = {
    {.name = "val", .kind = RTR_FIELD_INTEGER, .integer = {64, 1, 10, 0, 0, {0}}},
    {.name = "seq", .kind = RTR_FIELD_INTEGER, .integer = {64, 0, 10, 0, 0, {0}}},
    {.name = "dval", .kind = RTR_FIELD_FLOAT, .float_bits = 64},
    {.name = "name", .kind = RTR_FIELD_STRING},
    {.name = "arr", .kind = RTR_FIELD_ARRAY, .array_length = 4, .integer = {8, 0, 10, 0, 0, {0}}},
};
static const struct rtr_event_desc ev = {
    .provider = "t", .name = "ev", .fields = fields, .nr_fields = 5, .loglevel = 6, .state = &st};

struct vals {
	int64_t val;
	uint64_t seq;
	double dval;
	const char *name;
};

/* 1 passes, 0 rejected, -1 the expression does not apply to the event. */
static int eval(const char *expr, struct vals v)
{
	struct rtr_fexpr *e;
	struct rtr_filter *f;
	uint8_t code[RTR_FILTER_MAX_CODE];
	union rtr_probe_arg a[5];
	struct rtr_filter_ctxvals cv = {.vpid = 1234, .vtid = 1235, .pthread_id = 99,
					.procname = "worker", .procname_len = 6};
	const struct rtr_fexpr *es[1];
	char err[200];
	int n, r;

	if (rtr_fexpr_parse(expr, &e, err, sizeof(err))) {
		fprintf(stderr, "parse %s: %s\n", expr, err);
		return -2;
	}
	es[0] = e;
	n = rtr_fexpr_compile(es, 1, &ev, code, sizeof(code), err, sizeof(err));
	rtr_fexpr_free(e);
	if (n == 0)
		return -1;
	REQUIRE(n > 0);
	if (rtr_filter_verify(code, (size_t)n, &ev, &f, err, sizeof(err))) {
		fprintf(stderr, "verify %s: %s\n", expr, err);
		return -3;
	}
	a[0].s = v.val;
	a[1].u = v.seq;
	a[2].d = v.dval;
	a[3].str.p = v.name;
	a[3].str.len = strlen(v.name);
	a[4].u = 0;
	r = rtr_filter_run(f, a, &cv);
	check_inline(f, a, r, expr);
	rtr_filter_free(f);
	return r;
}

/* Every operator, on each numeric field, against constants and values
 * around them (extremes, infinities, NaN): the inline form agrees with
 * the interpreter, and exists for each of these. */
static void test_inline(void)
{
	static const char *const ops[] = {"==", "!=", "<", ">", "<=", ">="};
	static const char *const iconst[] = {"0", "-1", "51", "9223372036854775807", "-9223372036854775808"};
	static const char *const uconst[] = {"0", "7", "9223372036854775808", "18446744073709551615"};
	static const char *const dconst[] = {"0.0", "-2.5", "2.5", "1e300", "-1e-300"};
	static const int64_t ivals[] = {0, -1, 1, 51, 50, 52, INT64_MAX, INT64_MIN};
	static const uint64_t uvals[] = {0, 7, 8, UINT64_MAX, (uint64_t)INT64_MAX + 1, (uint64_t)INT64_MAX};
	const double dvals[] = {0.0, -0.0, 2.5, -2.5, 2.4999, 1e300, INFINITY, -INFINITY, NAN};
	char expr[128];
	int before = inline_used, n = 0;

	for (size_t o = 0; o < 6; o++) {
		for (size_t c = 0; c < sizeof(iconst) / sizeof(*iconst); c++)
			for (size_t v = 0; v < sizeof(ivals) / sizeof(*ivals); v++) {
				struct vals x = {.val = ivals[v], .seq = 1, .dval = 0, .name = "n"};

				snprintf(expr, sizeof(expr), "val %s %s", ops[o], iconst[c]);
				CHECK(eval(expr, x) >= 0);
				n++;
			}
		for (size_t c = 0; c < sizeof(uconst) / sizeof(*uconst); c++)
			for (size_t v = 0; v < sizeof(uvals) / sizeof(*uvals); v++) {
				struct vals x = {.val = 1, .seq = uvals[v], .dval = 0, .name = "n"};

				snprintf(expr, sizeof(expr), "seq %s %s", ops[o], uconst[c]);
				CHECK(eval(expr, x) >= 0);
				n++;
			}
		for (size_t c = 0; c < sizeof(dconst) / sizeof(*dconst); c++)
			for (size_t v = 0; v < sizeof(dvals) / sizeof(*dvals); v++) {
				struct vals x = {.val = 1, .seq = 1, .dval = dvals[v], .name = "n"};

				snprintf(expr, sizeof(expr), "dval %s %s", ops[o], dconst[c]);
				CHECK(eval(expr, x) >= 0);
				n++;
			}
	}
	/* each of them is `field OP constant` of one type: all inline */
	CHECK_EQ_I64(inline_used - before, n);
	/* a context or two comparisons: no inline form */
	before = inline_used;
	eval("$ctx.vpid == 1234", (struct vals){.val = 1, .name = "n"});
	eval("val > 1 && val < 9", (struct vals){.val = 1, .name = "n"});
	CHECK_EQ_I64(inline_used - before, 0);
}

static void test_semantics(void)
{
	struct vals v = {.val = 51, .seq = 7, .dval = 2.5, .name = "n1"};
	struct vals neg = {.val = -5, .seq = UINT64_MAX, .dval = NAN, .name = "abc*def"};

	CHECK_EQ_I64(eval("val > 50", v), 1);
	CHECK_EQ_I64(eval("val > 51", v), 0);
	CHECK_EQ_I64(eval("val >= 51 && val <= 51", v), 1);
	CHECK_EQ_I64(eval("50 < val", v), 1); /* constant first: mirrored */
	CHECK_EQ_I64(eval("val == 0x33", v), 1);
	CHECK_EQ_I64(eval("val == 063", v), 1);
	CHECK_EQ_I64(eval("val != 51", v), 0);
	CHECK_EQ_I64(eval("val < -4", neg), 1);
	CHECK_EQ_I64(eval("val < -5", neg), 0);
	/* unsigned beyond INT64_MAX, mixed signs */
	CHECK_EQ_I64(eval("seq == 18446744073709551615", neg), 1);
	CHECK_EQ_I64(eval("seq > 9223372036854775807", neg), 1);
	CHECK_EQ_I64(eval("seq > -1", v), 1);
	CHECK_EQ_I64(eval("val < seq", neg), 1);
	CHECK_EQ_I64(eval("seq > val", neg), 1);
	/* doubles; integers against doubles; NaN compares false but != */
	CHECK_EQ_I64(eval("dval == 2.5", v), 1);
	CHECK_EQ_I64(eval("dval > 2", v), 1);
	CHECK_EQ_I64(eval("dval < val", v), 1);
	CHECK_EQ_I64(eval("seq > dval", v), 1);
	CHECK_EQ_I64(eval("dval >= 1e1", v), 0);
	CHECK_EQ_I64(eval("dval == dval", neg), 0);
	CHECK_EQ_I64(eval("dval != 1.0", neg), 1);
	CHECK_EQ_I64(eval("dval", v), 1);
	/* strings and globs */
	CHECK_EQ_I64(eval("name == \"n1\"", v), 1);
	CHECK_EQ_I64(eval("name != \"n1\"", v), 0);
	CHECK_EQ_I64(eval("name == \"n*\"", v), 1);
	CHECK_EQ_I64(eval("name == \"*1\"", v), 1);
	CHECK_EQ_I64(eval("\"x*\" == name", v), 0);
	CHECK_EQ_I64(eval("name == \"abc\\*def\"", neg), 1); /* escaped star: literal */
	CHECK_EQ_I64(eval("name == \"abc\\*\"", neg), 0);
	CHECK_EQ_I64(eval("name == \"a*d*f\"", neg), 1);
	CHECK_EQ_I64(eval("name == \"*\"", neg), 1);
	CHECK_EQ_I64(eval("name < \"n2\"", v), 1);
	/* logic */
	CHECK_EQ_I64(eval("!(val > 50)", v), 0);
	CHECK_EQ_I64(eval("val > 100 || name == \"n1\"", v), 1);
	CHECK_EQ_I64(eval("val > 100 || name == \"n2\" || dval < 0", v), 0);
	CHECK_EQ_I64(eval("(val > 100 || seq == 7) && !(dval > 3)", v), 1);
	CHECK_EQ_I64(eval("val", v), 1);
	CHECK_EQ_I64(eval("!seq", v), 0);
	/* contexts */
	CHECK_EQ_I64(eval("$ctx.vpid == 1234", v), 1);
	CHECK_EQ_I64(eval("$ctx.vtid > 1234 && $ctx.procname == \"work*\"", v), 1);
	CHECK_EQ_I64(eval("$ctx.pthread_id == 98", v), 0);
	/* does not apply */
	CHECK_EQ_I64(eval("nosuch == 1", v), -1);
	CHECK_EQ_I64(eval("name > 3", v), -1);
	CHECK_EQ_I64(eval("arr == 1", v), -1);
	CHECK_EQ_I64(eval("name", v), -1);
}

static void test_parse_errors(void)
{
	static const char *bad[] = {"",	       "val >",	     "val > > 1", "(val > 1",
				    "val > 1)", "val = 1",    "\"open",	  "$ctx.nope == 1",
				    "$foo",     "1.2.3 > x",  "val > 99999999999999999999",
				    "name == \"\\q\"", "val > 1 &&", "&& val"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct rtr_fexpr *e = NULL;
		char err[200] = "";

		CHECK(rtr_fexpr_parse(bad[i], &e, err, sizeof(err)) == -EINVAL);
		CHECK(e == NULL);
		CHECK(strncmp(err, "filter", 6) == 0);
	}
	{
		char deep[300];
		struct rtr_fexpr *e = NULL;
		char err[200];

		memset(deep, '(', 150);
		strcpy(deep + 150, "val > 1");
		memset(deep + 157, ')', 140);
		deep[297] = 0;
		CHECK(rtr_fexpr_parse(deep, &e, err, sizeof(err)) == -EINVAL); /* too deep */
	}
}

/* A program built by hand. */
static int verify_prog(const struct rtr_filter_insn *insn, unsigned n, const uint64_t *consts,
		       unsigned nc)
{
	struct rtr_filter_builder b;
	uint8_t code[RTR_FILTER_MAX_CODE];
	struct rtr_filter *f;
	char err[200];
	int len, r;

	rtr_filter_build_init(&b);
	for (unsigned i = 0; i < nc; i++)
		b.consts[b.nconst++] = consts[i];
	for (unsigned i = 0; i < n; i++)
		rtr_filter_emit(&b, insn[i].op, insn[i].a, insn[i].b);
	len = rtr_filter_build_finish(&b, code, sizeof(code));
	REQUIRE(len > 0);
	r = rtr_filter_verify(code, (size_t)len, &ev, &f, err, sizeof(err));
	if (!r)
		rtr_filter_free(f);
	return r;
}

static void test_verifier(void)
{
	const uint64_t k[] = {5};
#define P(...) ((const struct rtr_filter_insn[]){__VA_ARGS__})
#define N(...) (sizeof((const struct rtr_filter_insn[]){__VA_ARGS__}) / 4)
	/* good */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_LOAD_S64, 0, 0}, {RTR_FOP_CONST_S64, 0, 0},
				   {RTR_FOP_CMP, RTR_FCMP_GT, 0}, {RTR_FOP_RET, 0, 0}),
				 4, k, 1),
		     0);
	/* wrong load type for the field (val is signed) */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_LOAD_U64, 0, 0}, {RTR_FOP_CONST_U64, 0, 0},
				   {RTR_FOP_CMP, (1 << 4) | RTR_FCMP_GT, 0}, {RTR_FOP_RET, 0, 0}),
				 4, k, 1),
		     -EINVAL);
	/* field out of range; the array */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_LOAD_S64, 0, 9}, {RTR_FOP_INT_NZ, 0, 0},
				   {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_LOAD_U64, 0, 4}, {RTR_FOP_INT_NZ, 0, 0},
				   {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	/* class of the comparison does not match the operands */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_LOAD_S64, 0, 0}, {RTR_FOP_CONST_S64, 0, 0},
				   {RTR_FOP_CMP, (4 << 4) | RTR_FCMP_GT, 0}, {RTR_FOP_RET, 0, 0}),
				 4, k, 1),
		     -EINVAL);
	/* underflow */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_CONST_S64, 0, 0}, {RTR_FOP_CMP, RTR_FCMP_EQ, 0},
				   {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	/* RET with two values; RET of a non-boolean */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_TRUE, 0, 0}, {RTR_FOP_TRUE, 0, 0}, {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_CONST_S64, 0, 0}, {RTR_FOP_RET, 0, 0}), 2, k, 1),
		     -EINVAL);
	/* backward jump, jump past the end */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_TRUE, 0, 0}, {RTR_FOP_AND, 0, 0}, {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_TRUE, 0, 0}, {RTR_FOP_AND, 0, 9}, {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	/* falls off the end */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_TRUE, 0, 0}), 1, k, 1), -EINVAL);
	/* constant out of range; unknown op; conversion flag wrong */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_CONST_S64, 0, 3}, {RTR_FOP_INT_NZ, 0, 0},
				   {RTR_FOP_RET, 0, 0}),
				 3, k, 1),
		     -EINVAL);
	CHECK_EQ_I64(verify_prog(P({99, 0, 0}, {RTR_FOP_RET, 0, 0}), 2, k, 1), -EINVAL);
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_LOAD_S64, 0, 0}, {RTR_FOP_TO_DBL, 0, 1},
				   {RTR_FOP_LOAD_DBL, 0, 2}, {RTR_FOP_CMP, (4 << 4), 0},
				   {RTR_FOP_RET, 0, 0}),
				 5, k, 1),
		     -EINVAL);
	/* paths disagree at a join: AND jumps with [bool], falls with [] +
	 * pushes an integer */
	CHECK_EQ_I64(verify_prog(P({RTR_FOP_TRUE, 0, 0}, {RTR_FOP_AND, 0, 3},
				   {RTR_FOP_CONST_S64, 0, 0}, {RTR_FOP_RET, 0, 0}),
				 4, k, 1),
		     -EINVAL);
	/* stack deeper than allowed */
	{
		struct rtr_filter_insn deep[20];

		for (int i = 0; i < 19; i++)
			deep[i] = (struct rtr_filter_insn){RTR_FOP_TRUE, 0, 0};
		deep[19] = (struct rtr_filter_insn){RTR_FOP_RET, 0, 0};
		CHECK_EQ_I64(verify_prog(deep, 20, k, 1), -EINVAL);
	}
	/* truncated and padded programs */
	{
		struct rtr_filter_builder b;
		uint8_t code[RTR_FILTER_MAX_CODE];
		struct rtr_filter *f;
		char err[200];
		int len;

		rtr_filter_build_init(&b);
		rtr_filter_emit(&b, RTR_FOP_TRUE, 0, 0);
		rtr_filter_emit(&b, RTR_FOP_RET, 0, 0);
		len = rtr_filter_build_finish(&b, code, sizeof(code));
		CHECK(rtr_filter_verify(code, (size_t)len, &ev, &f, err, sizeof(err)) == 0);
		rtr_filter_free(f);
		CHECK(rtr_filter_verify(code, (size_t)len - 1, &ev, &f, err, sizeof(err)) == -EINVAL);
		CHECK(rtr_filter_verify(code, (size_t)len + 1, &ev, &f, err, sizeof(err)) == -EINVAL);
		CHECK(rtr_filter_verify(code, 7, &ev, &f, err, sizeof(err)) == -EINVAL);
		code[0] = 2;
		CHECK(rtr_filter_verify(code, (size_t)len, &ev, &f, err, sizeof(err)) == -EINVAL);
	}
#undef P
#undef N
}

static void test_ctl(void)
{
	static struct rtr_proto_out o;
	static struct rtr_ctl_msg m;
	char err[200];
	uint64_t v = 0;
	uint32_t it = 0;

	rtr_ctl_begin(&o, RTR_CTL_ENABLE_EVENT, 77);
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, "s1");
	rtr_ctl_put_str(&o, RTR_CTA_PATTERN, "dmn:*");
	rtr_ctl_put_str(&o, RTR_CTA_EXCLUDE, "dmn:a");
	rtr_ctl_put_str(&o, RTR_CTA_EXCLUDE, "dmn:b");
	rtr_ctl_put_str(&o, RTR_CTA_FILTER, "name == \"x\\*\"\tand\x01");
	rtr_ctl_put_u64(&o, RTR_CTA_LOGLEVEL, 4);
	REQUIRE(rtr_ctl_finish(&o) == 0);
	REQUIRE(rtr_ctl_parse(o.data, o.len, 0, &m, err, sizeof(err)) == 0);
	CHECK_EQ_U64(m.type, RTR_CTL_ENABLE_EVENT);
	CHECK_EQ_U64(m.seq, 77);
	CHECK_STR_EQ(rtr_ctl_str(&m, RTR_CTA_SESSION), "s1");
	CHECK_STR_EQ(rtr_ctl_next_str(&m, RTR_CTA_EXCLUDE, &it), "dmn:a");
	CHECK_STR_EQ(rtr_ctl_next_str(&m, RTR_CTA_EXCLUDE, &it), "dmn:b");
	CHECK(rtr_ctl_next_str(&m, RTR_CTA_EXCLUDE, &it) == NULL);
	CHECK_STR_EQ(rtr_ctl_str(&m, RTR_CTA_FILTER), "name == \"x\\*\"\tand?");
	CHECK(rtr_ctl_u64(&m, RTR_CTA_LOGLEVEL, &v) && v == 4);
	CHECK(!rtr_ctl_u64(&m, RTR_CTA_CONTEXT, &v));
	/* every truncation refused; a descriptor with a type that has none */
	for (size_t n = 0; n < o.len; n++)
		CHECK(rtr_ctl_parse(o.data, n, 0, &m, err, sizeof(err)) != 0);
	CHECK(rtr_ctl_parse(o.data, o.len, 1, &m, err, sizeof(err)) == -EPROTO);
	/* a repeated tag that may not repeat */
	rtr_ctl_begin(&o, RTR_CTL_START, 1);
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, "a");
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, "b");
	REQUIRE(rtr_ctl_finish(&o) == 0);
	CHECK(rtr_ctl_parse(o.data, o.len, 0, &m, err, sizeof(err)) == -EPROTO);
	/* an unknown tag is skipped; a wrong length of a known one refused */
	rtr_ctl_begin(&o, RTR_CTL_START, 1);
	rtr_proto_put_u16(&o, 200);
	rtr_proto_put_u16(&o, 3);
	rtr_proto_put_u8(&o, 1);
	rtr_proto_put_u8(&o, 2);
	rtr_proto_put_u8(&o, 3);
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, "a");
	REQUIRE(rtr_ctl_finish(&o) == 0);
	CHECK(rtr_ctl_parse(o.data, o.len, 0, &m, err, sizeof(err)) == 0);
	CHECK_STR_EQ(rtr_ctl_str(&m, RTR_CTA_SESSION), "a");
	rtr_ctl_begin(&o, RTR_CTL_STOP, 1);
	rtr_proto_put_u16(&o, RTR_CTA_MAX_SIZE);
	rtr_proto_put_u16(&o, 4);
	rtr_proto_put_u32(&o, 1);
	REQUIRE(rtr_ctl_finish(&o) == 0);
	CHECK(rtr_ctl_parse(o.data, o.len, 0, &m, err, sizeof(err)) == -EPROTO);
}

static void test_armed(void)
{
	static struct rtr_proto_out o;
	static struct rtr_armed a, b;
	char err[200];

	memset(&a, 0, sizeof(a));
	a.gen = 9;
	a.daemon_uid = 1000;
	a.nsessions = 2;
	a.s[0] = (struct rtr_armed_session){.id = 3, .name = "s1", .clock = 1, .nchans = 1,
					    .nrules = 1};
	a.s[0].chans[0] = (struct rtr_armed_chan){.name = "channel0", .subbuf_size = 65536,
						  .num_subbuf = 4, .ctx_mask = 5};
	a.s[0].rules[0] = (struct rtr_armed_rule){.chan = 0, .pattern = "dmn:*", .nexcludes = 1,
						  .lltype = 1, .ll = 4, .filter = "val > 1"};
	a.s[0].rules[0].excludes[0] = "dmn:x";
	a.s[1] = (struct rtr_armed_session){.id = 4, .name = "s2", .all_uids = true, .nchans = 2};
	a.s[1].chans[0] = (struct rtr_armed_chan){.name = "a", .subbuf_size = 4096, .num_subbuf = 2,
						  .overwrite = true};
	a.s[1].chans[1] = (struct rtr_armed_chan){.name = "b", .index = 1, .subbuf_size = 8192,
						  .num_subbuf = 8, .per_uid = true};
	REQUIRE(rtr_armed_encode(&a, &o) == 0);
	REQUIRE(rtr_armed_parse(o.data, o.len, &b, err, sizeof(err)) == 0);
	CHECK_EQ_U64(b.gen, 9);
	CHECK_EQ_U64(b.daemon_uid, 1000);
	CHECK_EQ_U64(b.nsessions, 2);
	CHECK_STR_EQ(b.s[0].name, "s1");
	CHECK_EQ_U64(b.s[0].chans[0].subbuf_size, 65536);
	CHECK_EQ_U64(b.s[0].chans[0].ctx_mask, 5);
	CHECK_STR_EQ(b.s[0].rules[0].pattern, "dmn:*");
	CHECK_STR_EQ(b.s[0].rules[0].excludes[0], "dmn:x");
	CHECK_STR_EQ(b.s[0].rules[0].filter, "val > 1");
	CHECK_EQ_U64(b.s[0].rules[0].ll, 4);
	CHECK(b.s[1].all_uids);
	CHECK(b.s[1].chans[0].overwrite);
	CHECK_EQ_U64(b.s[1].chans[1].num_subbuf, 8);
	CHECK(b.s[1].chans[1].per_uid && !b.s[1].chans[0].per_uid && !b.s[0].chans[0].per_uid);
	for (size_t n = RTR_CTL_HDR_SIZE; n < o.len; n++)
		CHECK(rtr_armed_parse(o.data, n, &b, err, sizeof(err)) != 0 ||
		      b.nsessions <= 2); /* cut: refused, or fewer complete parts */
	/* a bad geometry is refused */
	a.s[1].chans[1].subbuf_size = 3000;
	REQUIRE(rtr_armed_encode(&a, &o) == 0);
	CHECK(rtr_armed_parse(o.data, o.len, &b, err, sizeof(err)) == -EPROTO);
}

/* ------------------------------------------------------------------------
 * Fuzz seeds
 * ------------------------------------------------------------------------ */

static void write_seed(const char *dir, const char *name, uint8_t first, const void *p,
		       size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	REQUIRE(f);
	fputc(first, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static void write_seeds(const char *fdir, const char *cdir)
{
	static const char *exprs[] = {"val > 50",
				      "name == \"n*\" && dval >= 5",
				      "!(seq < 3) || $ctx.procname == \"w\\*\"",
				      "val < seq && dval != 0.5",
				      "$ctx.vpid == 1 || $ctx.pthread_id > 2"};
	static struct rtr_proto_out o;
	static struct rtr_armed a;
	char name[64];

	mkdir(fdir, 0755);
	mkdir(cdir, 0755);
	for (size_t i = 0; i < sizeof(exprs) / sizeof(exprs[0]); i++) {
		struct rtr_fexpr *e;
		const struct rtr_fexpr *es[1];
		uint8_t code[RTR_FILTER_MAX_CODE];
		char err[200];
		int n;

		snprintf(name, sizeof(name), "expr%zu", i);
		write_seed(fdir, name, 1, exprs[i], strlen(exprs[i]));
		REQUIRE(rtr_fexpr_parse(exprs[i], &e, err, sizeof(err)) == 0);
		es[0] = e;
		n = rtr_fexpr_compile(es, 1, &ev, code, sizeof(code), err, sizeof(err));
		REQUIRE(n > 0);
		rtr_fexpr_free(e);
		snprintf(name, sizeof(name), "code%zu", i);
		write_seed(fdir, name, 0, code, (size_t)n);
	}
	rtr_ctl_begin(&o, RTR_CTL_ENABLE_EVENT, 1);
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, "s1");
	rtr_ctl_put_str(&o, RTR_CTA_PATTERN, "dmn:*");
	rtr_ctl_put_str(&o, RTR_CTA_EXCLUDE, "dmn:a");
	rtr_ctl_put_str(&o, RTR_CTA_FILTER, "val > 1");
	rtr_ctl_put_u64(&o, RTR_CTA_LOGLEVEL_TYPE, 1);
	rtr_ctl_put_u64(&o, RTR_CTA_LOGLEVEL, 4);
	REQUIRE(rtr_ctl_finish(&o) == 0);
	write_seed(cdir, "enable_event", 0, o.data, o.len);
	rtr_ctl_begin(&o, RTR_CTL_REPLY, 1);
	rtr_ctl_put_u64(&o, RTR_CTA_STATUS, 0);
	rtr_ctl_put_str(&o, RTR_CTA_TEXT, "Session s1 started.");
	rtr_ctl_put_str(&o, RTR_CTA_TEXT, "  2 processes answered");
	REQUIRE(rtr_ctl_finish(&o) == 0);
	write_seed(cdir, "reply", 0, o.data, o.len);
	rtr_ctl_begin(&o, RTR_CTL_CREATE, 1);
	rtr_ctl_put_str(&o, RTR_CTA_SESSION, "s1");
	rtr_ctl_put_str(&o, RTR_CTA_OUTPUT, "/tmp/x");
	rtr_ctl_put_u64(&o, RTR_CTA_UID, 1000);
	REQUIRE(rtr_ctl_finish(&o) == 0);
	write_seed(cdir, "create", 0x80, o.data, o.len);
	memset(&a, 0, sizeof(a));
	a.nsessions = 1;
	a.s[0] = (struct rtr_armed_session){.id = 3, .name = "s1", .nchans = 1, .nrules = 1};
	a.s[0].chans[0] = (struct rtr_armed_chan){.name = "c", .subbuf_size = 4096, .num_subbuf = 2};
	a.s[0].rules[0] = (struct rtr_armed_rule){.pattern = "p:*", .filter = "x > 1"};
	REQUIRE(rtr_armed_encode(&a, &o) == 0);
	write_seed(cdir, "armed", 1, o.data, o.len);
}

static void replay(const char *dir, int (*one)(const uint8_t *, size_t))
{
	DIR *d = opendir(dir);
	struct dirent *e;
	unsigned n = 0;

	REQUIRE(d);
	while ((e = readdir(d))) {
		char path[600];
		uint8_t buf[70000];
		size_t len;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		REQUIRE(f);
		len = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		one(buf, len);
		n++;
	}
	closedir(d);
	CHECK(n > 0);
}

/* The daemon's state files (lib/proto state.h): what recover --all trusts
 * only after parsing. */
static void test_state(void)
{
	struct rtr_state_session s = {.snapshot = true, .active = true, .daemon_pid = 4242}, t;
	char buf[RTR_STATE_MAX_FILE], err[200], fname[200];
	int n;

	snprintf(s.name, sizeof(s.name), "a%%b\nc");
	s.name[3] = '\n';
	snprintf(s.output, sizeof(s.output), "/tmp/with space/and\ttab");
	n = rtr_state_encode(&s, buf, sizeof(buf));
	REQUIRE(n > 0);
	CHECK(memchr(buf, '\t', (size_t)n) == NULL); /* escaped */
	CHECK_EQ_I64(rtr_state_parse(buf, (size_t)n, &t, err, sizeof(err)), 0);
	CHECK(!strcmp(t.name, s.name) && !strcmp(t.output, s.output));
	CHECK(t.snapshot && t.active && t.daemon_pid == 4242);
	CHECK_EQ_I64(rtr_state_file_name("s1", fname, sizeof(fname)), 0);
	CHECK(!strcmp(fname, "s-7331"));
	CHECK_EQ_I64(rtr_state_file_name("s1", fname, 5), -ENAMETOOLONG);
	/* refusals */
	{
		static const char *bad[] = {
		    "",
		    "ringtrace-session 2\nname a\noutput /x\n",
		    "ringtrace-session 1\nname a\n",			 /* no output */
		    "ringtrace-session 1\nname a\noutput x\n",		 /* relative */
		    "ringtrace-session 1\nname a\noutput /x",		 /* no newline */
		    "ringtrace-session 1\nname a%00b\noutput /x\n",	 /* NUL */
		    "ringtrace-session 1\nname a%zz\noutput /x\n",	 /* bad escape */
		    "ringtrace-session 1\nname a\noutput /x\nactive 2\n", /* flag */
		    "ringtrace-session 1\nname a\noutput /x\ndaemon 9x\n",
		    "ringtrace-session 1\nname\noutput /x\n", /* no value */
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			CHECK_EQ_I64(rtr_state_parse(bad[i], strlen(bad[i]), &t, err, sizeof(err)),
				     -EINVAL);
	}
	{
		static char big[RTR_STATE_MAX_FILE * 2];

		memset(big, 'x', sizeof(big));
		CHECK_EQ_I64(rtr_state_parse(big, sizeof(big), &t, err, sizeof(err)), -EINVAL);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "--write-seeds")) {
		write_seeds(argv[2], argv[3]);
		return 0;
	}
	test_semantics();
	test_inline();
	test_parse_errors();
	test_verifier();
	test_ctl();
	test_armed();
	test_state();
	if (argc == 4 && !strcmp(argv[1], "--seeds")) {
		replay(argv[2], rtr_filter_fuzz_one);
		replay(argv[3], rtr_ctl_fuzz_one);
	}
	return rtr_test_done("filter_test");
}
