/* Unit tests of the TSDL metadata generator (docs/design/ctf-writer.md §4):
 * the declaration each field kind becomes, escaping of hostile names and
 * strings, validation of event descriptions, env/clock blocks, errors, and
 * a tokenizer pass over the whole text (balanced, terminated, only TSDL
 * tokens). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-writer.h"
#include "rtr_test.h"

/* ------------------------------------------------------------------------
 * A small TSDL tokenizer: fails on unterminated strings or comments,
 * unexpected characters and unbalanced brackets.
 * ------------------------------------------------------------------------ */

static int tokenize_check(const char *s, char *why, size_t whylen)
{
	char stack[64];
	int depth = 0;

	for (const char *p = s; *p;) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			p++;
		} else if (p[0] == '/' && p[1] == '*') {
			const char *e = strstr(p + 2, "*/");

			if (!e)
				return snprintf(why, whylen, "unterminated comment"), -1;
			p = e + 2;
		} else if (*p == '"') {
			for (p++; *p && *p != '"'; p++) {
				if ((unsigned char)*p < 0x20)
					return snprintf(why, whylen, "raw control byte in string"),
					       -1;
				if (*p == '\\' && p[1])
					p++;
			}
			if (*p != '"')
				return snprintf(why, whylen, "unterminated string"), -1;
			p++;
		} else if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
			   (*p >= '0' && *p <= '9') || *p == '-') {
			p++;
			while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
			       (*p >= '0' && *p <= '9'))
				p++;
		} else if (strchr("{[(<", *p)) {
			if (depth == (int)sizeof(stack))
				return snprintf(why, whylen, "too deep"), -1;
			stack[depth++] = *p++;
		} else if (strchr("}])>", *p)) {
			char open = *p == '}' ? '{' : *p == ']' ? '[' : *p == ')' ? '(' : '<';

			if (depth == 0 || stack[--depth] != open)
				return snprintf(why, whylen, "unbalanced '%c' at %ld", *p,
						(long)(p - s)),
				       -1;
			p++;
		} else if (strchr(";:=,.", *p)) {
			p++;
		} else {
			return snprintf(why, whylen, "unexpected byte 0x%02x at %ld",
					(unsigned char)*p, (long)(p - s)),
			       -1;
		}
	}
	if (depth)
		return snprintf(why, whylen, "unclosed '%c'", stack[depth - 1]), -1;
	return 0;
}

/* Collapses runs of blanks into one space (and drops leading ones) so
 * expected text can be written on one line. */
static void squeeze(char *s)
{
	char *d = s;
	bool space = false;

	for (const char *p = s; *p; p++) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			space = true;
			continue;
		}
		if (space && d != s)
			*d++ = ' ';
		space = false;
		*d++ = *p;
	}
	*d = '\0';
}

/* The text of the event block whose name line is `name_line`, squeezed. */
static char *event_block(const char *meta, const char *name_line)
{
	const char *start = strstr(meta, name_line), *end;
	char *out;

	if (!start)
		return NULL;
	while (start > meta && strncmp(start, "event {", 7) != 0)
		start--;
	end = strstr(start, "\n};\n");
	if (!end)
		return NULL;
	out = strndup(start, (size_t)(end - start) + 3);
	squeeze(out);
	return out;
}

static char *render(struct rtr_ctf_meta *m)
{
	char *text = NULL;
	size_t len = 0;
	char why[128];
	int r = rtr_ctf_meta_render(m, &text, &len);

	CHECK_EQ_I64(r, 0);
	REQUIRE(text != NULL);
	CHECK_EQ_U64(strlen(text), len);
	CHECK(strncmp(text, "/* CTF 1.8 */\n", 14) == 0);
	if (tokenize_check(text, why, sizeof(why))) {
		fprintf(stderr, "tokenizer: %s\n", why);
		CHECK(0);
	}
	return text;
}

/* ------------------------------------------------------------------------
 * Descriptions, built by hand as a host deserialising them would
 * ------------------------------------------------------------------------ */

#define INT(bits, sgn, base_, bo)                                                                  \
	{                                                                                          \
		.size_bits = bits, .is_signed = sgn, .base = base_, .byte_order = bo               \
	}
#define TEXT8                                                                                      \
	{                                                                                          \
		.size_bits = 8, .is_signed = 1, .base = 10, .text = 1                              \
	}

static const struct rtr_enum_entry color_entries[] = {
    {"RED", 0, 0}, {"GREEN", 1, 1}, {"BLUE \"b\"", 2, 9}};
static const struct rtr_enum_desc color = {"p", "color", color_entries, 3};
static const struct rtr_enum_entry temp_entries[] = {{"COLD", (uint64_t)-100, (uint64_t)-1},
						     {"HOT", 1, 1000}};
static const struct rtr_enum_desc temp = {"p", "temp", temp_entries, 2};

static const struct rtr_field_desc all_fields[] = {
    {.name = "u8", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)},
    {.name = "s16", .kind = RTR_FIELD_INTEGER, .integer = INT(16, 1, 10, 0)},
    {.name = "x32", .kind = RTR_FIELD_INTEGER, .integer = INT(32, 0, 16, 0)},
    {.name = "o64", .kind = RTR_FIELD_INTEGER, .integer = INT(64, 1, 8, 0)},
    {.name = "b8", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 2, 0)},
    {.name = "net", .kind = RTR_FIELD_INTEGER, .integer = INT(32, 0, 10, 1)},
    {.name = "col", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10, 0), .enumeration = &color},
    {.name = "tmp", .kind = RTR_FIELD_ENUM, .integer = INT(16, 1, 10, 0), .enumeration = &temp},
    {.name = "f", .kind = RTR_FIELD_FLOAT, .float_bits = 32},
    {.name = "d", .kind = RTR_FIELD_FLOAT, .float_bits = 64},
    {.name = "s", .kind = RTR_FIELD_STRING},
    {.name = "arr", .kind = RTR_FIELD_ARRAY, .array_length = 4, .integer = INT(32, 1, 10, 0)},
    {.name = "arrx", .kind = RTR_FIELD_ARRAY, .array_length = 2, .integer = INT(16, 0, 16, 0)},
    {.name = "txt", .kind = RTR_FIELD_ARRAY, .array_length = 8, .integer = TEXT8},
    {.name = "sq",
     .kind = RTR_FIELD_SEQUENCE,
     .integer = INT(64, 0, 10, 0),
     .length_type = INT(8, 0, 10, 0)},
    {.name = "stxt",
     .kind = RTR_FIELD_SEQUENCE,
     .integer = TEXT8,
     .length_type = INT(32, 0, 10, 0)},
    {.name = "blob",
     .kind = RTR_FIELD_SEQUENCE,
     .integer = INT(8, 0, 16, 0),
     .length_type = INT(32, 0, 10, 0)},
    {.name = "struct", .kind = RTR_FIELD_INTEGER, .integer = INT(32, 1, 10, 0)},
    {.name = "a-b c", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)},
};

static const char *const all_expected =
    "event { name = \"p:all\"; id = 33; stream_id = 2; loglevel = 4; "
    "model.emf.uri = \"http://x/\\\"y\\\"\"; fields := struct { "
    "integer { size = 8; align = 8; signed = 0; encoding = none; base = 10; } _u8; "
    "integer { size = 16; align = 8; signed = 1; encoding = none; base = 10; } _s16; "
    "integer { size = 32; align = 8; signed = 0; encoding = none; base = 16; } _x32; "
    "integer { size = 64; align = 8; signed = 1; encoding = none; base = 8; } _o64; "
    "integer { size = 8; align = 8; signed = 0; encoding = none; base = 2; } _b8; "
    "integer { size = 32; align = 8; signed = 0; encoding = none; base = 10; byte_order = be; } "
    "_net; "
    "enum : integer { size = 8; align = 8; signed = 0; encoding = none; base = 10; } { "
    "\"RED\" = 0, \"GREEN\" = 1, \"BLUE \\\"b\\\"\" = 2 ... 9 } _col; "
    "enum : integer { size = 16; align = 8; signed = 1; encoding = none; base = 10; } { "
    "\"COLD\" = -100 ... -1, \"HOT\" = 1 ... 1000 } _tmp; "
    "floating_point { exp_dig = 8; mant_dig = 24; align = 8; } _f; "
    "floating_point { exp_dig = 11; mant_dig = 53; align = 8; } _d; "
    "string { encoding = UTF8; } _s; "
    "integer { size = 32; align = 8; signed = 1; encoding = none; base = 10; } _arr[4]; "
    "integer { size = 16; align = 8; signed = 0; encoding = none; base = 16; } _arrx[2]; "
    "integer { size = 8; align = 8; signed = 1; encoding = UTF8; base = 10; } _txt[8]; "
    "integer { size = 8; align = 8; signed = 0; encoding = none; base = 10; } __sq_length; "
    "integer { size = 64; align = 8; signed = 0; encoding = none; base = 10; } _sq[ __sq_length ]; "
    "integer { size = 32; align = 8; signed = 0; encoding = none; base = 10; } __stxt_length; "
    "integer { size = 8; align = 8; signed = 1; encoding = UTF8; base = 10; } _stxt[ __stxt_length "
    "]; "
    "integer { size = 32; align = 8; signed = 0; encoding = none; base = 10; } __blob_length; "
    "integer { size = 8; align = 8; signed = 0; encoding = none; base = 16; } _blob[ __blob_length "
    "]; "
    "integer { size = 32; align = 8; signed = 1; encoding = none; base = 10; } _struct; "
    "integer { size = 8; align = 8; signed = 0; encoding = none; base = 10; } _a_b_c; "
    "}; };";

static struct rtr_event_state st;

static struct rtr_ctf_meta *new_meta(void)
{
	static const uint8_t uuid[16] = {0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0,
					 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
	struct rtr_clock_desc clk = {
	    .name = "monotonic",
	    .description = "a \"quoted\" clock",
	    .freq = 1000000000,
	    .offset_s = 1700000000,
	    .offset = 5,
	    .precision = 10,
	    .uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
	    .absolute = true,
	};
	struct rtr_ctf_meta *m = rtr_ctf_meta_create(uuid, RTR_CTF_BYTE_ORDER_LE);

	REQUIRE(m != NULL);
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), 0);
	return m;
}

static void test_every_kind(void)
{
	struct rtr_event_desc ev = {
	    .provider = "p",
	    .name = "all",
	    .fields = all_fields,
	    .nr_fields = RTR_ARRAY_SIZE(all_fields),
	    .loglevel = RTR_LOGLEVEL_WARNING,
	    .state = &st,
	    .model_emf_uri = "http://x/\"y\"",
	};
	struct rtr_ctf_meta *m = new_meta();
	char *text, *block;

	CHECK_EQ_I64(rtr_ctf_meta_add_stream(m, 2, "chan */ evil"), 0);
	CHECK_EQ_I64(rtr_ctf_meta_add_event(m, 33, 2, &ev), 0);
	text = render(m);
	block = event_block(text, "name = \"p:all\";");
	REQUIRE(block != NULL);
	if (strcmp(block, all_expected) != 0) {
		fprintf(stderr, "want: %s\ngot:  %s\n", all_expected, block);
		CHECK(0);
	}
	/* trace, clock and stream blocks */
	CHECK(strstr(text, "uuid = \"12345678-9abc-def0-0123-456789abcdef\";") != NULL);
	CHECK(strstr(text, "byte_order = le;") != NULL);
	CHECK(strstr(text, "\tname = \"monotonic\";\n") != NULL);
	CHECK(strstr(text, "description = \"a \\\"quoted\\\" clock\";") != NULL);
	CHECK(strstr(text, "freq = 1000000000;") != NULL);
	CHECK(strstr(text, "offset_s = 1700000000;") != NULL);
	CHECK(strstr(text, "\toffset = 5;") != NULL);
	CHECK(strstr(text, "precision = 10;") != NULL);
	CHECK(strstr(text, "absolute = TRUE;") != NULL);
	CHECK(strstr(text, "uuid = \"0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0\";") != NULL);
	CHECK(strstr(text, "map = clock.monotonic.value;") != NULL);
	CHECK(strstr(text, "/* channel chan____evil */\nstream {\n\tid = 2;") != NULL);
	CHECK(strstr(text, "enum : uint5_t { compact = 0 ... 30, extended = 31 } id;") != NULL);
	free(block);
	free(text);
	rtr_ctf_meta_destroy(m);
}

static void test_escaping(void)
{
	static const struct rtr_field_desc f[] = {
	    {.name = "x", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)}};
	struct rtr_event_desc ev = {
	    .provider = "we\"ird\\",
	    .name = "new\nline\x01",
	    .fields = f,
	    .nr_fields = 1,
	    .loglevel = RTR_LOGLEVEL_NONE,
	    .state = &st,
	};
	struct rtr_ctf_meta *m = new_meta();
	char *text;

	CHECK_EQ_I64(rtr_ctf_meta_add_stream(m, 0, NULL), 0);
	CHECK_EQ_I64(rtr_ctf_meta_add_event(m, 0, 0, &ev), 0);
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "procname", "a\"b\\c\td"), 0);
	CHECK_EQ_I64(rtr_ctf_meta_env_int(m, "vpid", -42), 0);
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "procname", "second"), 0); /* replaces */
	text = render(m);
	CHECK(strstr(text, "name = \"we\\\"ird\\\\:new\\012line\\001\";") != NULL);
	CHECK(strstr(text, "\tprocname = \"second\";\n") != NULL);
	CHECK(strstr(text, "a\"b") == NULL);
	CHECK(strstr(text, "\tvpid = -42;\n") != NULL);
	CHECK(strstr(text, "loglevel") == NULL); /* RTR_LOGLEVEL_NONE: omitted */
	free(text);

	/* bad env keys and values */
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "struct", "x"), -EINVAL); /* keyword */
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "a b", "x"), -EINVAL);
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "9a", "x"), -EINVAL);
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "", "x"), -EINVAL);
	CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "k", NULL), -EINVAL);
	{
		char *big = malloc(RTR_CLOCK_SYNC_STR_MAX + 2);

		memset(big, 'a', RTR_CLOCK_SYNC_STR_MAX + 1);
		big[RTR_CLOCK_SYNC_STR_MAX + 1] = '\0';
		CHECK_EQ_I64(rtr_ctf_meta_env_string(m, "big", big), -EINVAL);
		free(big);
	}
	CHECK(strlen(rtr_ctf_meta_error(m)) > 0);
	rtr_ctf_meta_destroy(m);
}

static int check_one(const struct rtr_field_desc *f, uint32_t n, int32_t loglevel)
{
	struct rtr_event_desc ev = {
	    .provider = "p",
	    .name = "e",
	    .fields = f,
	    .nr_fields = n,
	    .loglevel = loglevel,
	    .state = &st,
	};
	char err[256] = "";
	int r = rtr_ctf_event_check(&ev, err, sizeof(err));

	if (r)
		CHECK(strstr(err, "p:e") != NULL); /* the message names the event */
	return r;
}

static void test_checks(void)
{
	static const struct rtr_enum_desc empty_enum = {"p", "e", color_entries, 0};
	static const struct rtr_enum_entry bad_range[] = {{"A", 5, 4}};
	static const struct rtr_enum_desc bad_range_enum = {"p", "e", bad_range, 1};
	static const struct rtr_enum_entry too_big[] = {{"A", 256, 256}};
	static const struct rtr_enum_desc too_big_enum = {"p", "e", too_big, 1};
	static const struct rtr_enum_entry null_label[] = {{NULL, 0, 0}};
	static const struct rtr_enum_desc null_label_enum = {"p", "e", null_label, 1};
	struct rtr_field_desc f[2];
	char err[256];
	char longname[300];

	memset(f, 0, sizeof(f));
	f[0] = (struct rtr_field_desc){
	    .name = "a", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)};
	CHECK_EQ_I64(check_one(f, 1, -1), 0);
	CHECK_EQ_I64(check_one(f, 0, 14), 0);
	CHECK_EQ_I64(check_one(f, 1, 15), -EINVAL);
	CHECK_EQ_I64(check_one(f, 1, -2), -EINVAL);
	CHECK_EQ_I64(check_one(NULL, 1, -1), -EINVAL);
	CHECK_EQ_I64(check_one(f, RTR_CTF_MAX_FIELDS + 1, -1), -EINVAL);

	f[0].integer.size_bits = 12;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].integer = (struct rtr_integer_type)INT(32, 0, 7, 0);
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].integer = (struct rtr_integer_type)INT(32, 2, 10, 0);
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].integer = (struct rtr_integer_type)INT(32, 0, 10, 2);
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].integer = (struct rtr_integer_type){.size_bits = 16, .base = 10, .text = 1};
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL); /* text needs 8-bit elements */
	f[0].integer = (struct rtr_integer_type)INT(32, 0, 10, 0);
	f[0].kind = 99;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].kind = RTR_FIELD_FLOAT;
	f[0].float_bits = 16;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].float_bits = 64;
	CHECK_EQ_I64(check_one(f, 1, -1), 0);

	f[0].kind = RTR_FIELD_ENUM;
	f[0].integer = (struct rtr_integer_type)INT(8, 0, 10, 0);
	f[0].enumeration = NULL;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].enumeration = &empty_enum;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].enumeration = &bad_range_enum;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].enumeration = &too_big_enum; /* 256 does not fit 8 bits */
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].integer.size_bits = 16;
	CHECK_EQ_I64(check_one(f, 1, -1), 0);
	f[0].enumeration = &null_label_enum;
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);
	f[0].enumeration = &temp; /* -100..-1 in a signed 16-bit container */
	f[0].integer.is_signed = 1;
	CHECK_EQ_I64(check_one(f, 1, -1), 0);
	f[0].integer.is_signed = 0; /* unsigned: 2^64-100 > 2^16 */
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);

	f[0] = (struct rtr_field_desc){.name = "q",
				       .kind = RTR_FIELD_SEQUENCE,
				       .integer = INT(8, 0, 10, 0),
				       .length_type = INT(8, 1, 10, 0)};
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL); /* signed length */
	f[0].length_type.is_signed = 0;
	CHECK_EQ_I64(check_one(f, 1, -1), 0);
	/* "_q_length" is taken by the sequence's length field */
	f[1] = (struct rtr_field_desc){
	    .name = "_q_length", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)};
	CHECK_EQ_I64(check_one(f, 2, -1), -EINVAL);
	/* names equal once sanitised */
	f[0] = (struct rtr_field_desc){
	    .name = "a-b", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)};
	f[1] = (struct rtr_field_desc){
	    .name = "a.b", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10, 0)};
	CHECK_EQ_I64(check_one(f, 2, -1), -EINVAL);
	f[1].name = "a_c";
	CHECK_EQ_I64(check_one(f, 2, -1), 0);
	f[1].name = "";
	CHECK_EQ_I64(check_one(f, 2, -1), -EINVAL);
	f[1].name = NULL;
	CHECK_EQ_I64(check_one(f, 2, -1), -EINVAL);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	f[1].name = longname;
	CHECK_EQ_I64(check_one(f, 2, -1), -EINVAL);
	f[0] = (struct rtr_field_desc){.name = "arr",
				       .kind = RTR_FIELD_ARRAY,
				       .array_length = (1u << 30) + 1,
				       .integer = INT(8, 0, 10, 0)};
	CHECK_EQ_I64(check_one(f, 1, -1), -EINVAL);

	{
		struct rtr_event_desc ev = {.provider = "", .name = "e", .state = &st};

		CHECK_EQ_I64(rtr_ctf_event_check(&ev, err, sizeof(err)), -EINVAL);
		ev.provider = longname;
		CHECK_EQ_I64(rtr_ctf_event_check(&ev, err, sizeof(err)), -EINVAL);
		ev.provider = NULL;
		CHECK_EQ_I64(rtr_ctf_event_check(&ev, err, sizeof(err)), -EINVAL);
		CHECK_EQ_I64(rtr_ctf_event_check(NULL, err, sizeof(err)), -EINVAL);
		CHECK_EQ_I64(rtr_ctf_event_check(NULL, NULL, 0), -EINVAL);
	}
}

static void test_builder_errors(void)
{
	static const uint8_t uuid[16];
	struct rtr_event_desc ev = {.provider = "p", .name = "e", .state = &st};
	struct rtr_clock_desc clk = {.name = "monotonic", .freq = 1000000000};
	struct rtr_ctf_meta *m = rtr_ctf_meta_create(uuid, RTR_CTF_BYTE_ORDER_BE);
	char *text = NULL;
	size_t len;

	REQUIRE(m != NULL);
	CHECK(rtr_ctf_meta_create(uuid, 7) == NULL && errno == EINVAL);
	CHECK_EQ_I64(rtr_ctf_meta_render(m, &text, &len), -EINVAL); /* no clock yet */
	CHECK_EQ_I64(rtr_ctf_meta_add_event(m, 0, 0, &ev), -ENOENT);
	CHECK_EQ_I64(rtr_ctf_meta_add_stream(m, 0, "c"), 0);
	CHECK_EQ_I64(rtr_ctf_meta_add_stream(m, 0, "c"), -EEXIST);
	CHECK_EQ_I64(rtr_ctf_meta_add_stream(m, UINT32_MAX, "c"), -EINVAL);
	CHECK_EQ_I64(rtr_ctf_meta_add_event(m, 0, 0, &ev), 0);
	CHECK_EQ_I64(rtr_ctf_meta_add_event(m, 0, 0, &ev), -EEXIST);
	CHECK_EQ_I64(rtr_ctf_meta_add_event(m, 1, 0, &ev), 0); /* same class, another id */
	/* many ids: the id set grows and stays exact */
	for (uint32_t i = 2; i < 3000; i++)
		CHECK_EQ_I64(rtr_ctf_meta_add_event(m, i * 7919u, 0, &ev), 0);
	for (uint32_t i = 2; i < 3000; i += 97)
		CHECK_EQ_I64(rtr_ctf_meta_add_event(m, i * 7919u, 0, &ev), -EEXIST);

	clk.offset = clk.freq;
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), -EINVAL);
	clk.offset = 0;
	strcpy(clk.name, "bad name");
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), -EINVAL);
	strcpy(clk.name, "enum");
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), -EINVAL);
	strcpy(clk.name, "tsc");
	strcpy(clk.uuid, "not-a-uuid");
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), -EINVAL);
	clk.uuid[0] = '\0'; /* unknown boot id: no uuid line */
	clk.freq = 0;
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), -EINVAL);
	clk.freq = 2500000000u;
	CHECK_EQ_I64(rtr_ctf_meta_set_clock(m, &clk), 0);
	text = render(m);
	CHECK(strstr(text, "byte_order = be;") != NULL);
	CHECK(strstr(text, "map = clock.tsc.value;") != NULL);
	CHECK(strstr(text, "clock {\n\tname = \"tsc\";\n\tdescription") != NULL); /* no uuid line */
	CHECK(strstr(text, "absolute = FALSE;") != NULL);
	free(text);
	rtr_ctf_meta_destroy(m);
	rtr_ctf_meta_destroy(NULL);
}

static void test_env(void)
{
	struct rtr_ctf_meta *m = new_meta();
	struct rtr_ctf_std_env e = {
	    .hostname = "host-1",
	    .procname = "app",
	    .vpid = 1234,
	    .creation_time = 86400 * 365,
	    .trace_name = "t\"n",
	};
	struct rtr_clock_sync pts[3] = {
	    {.clock = 1000, .mono_ns = 1000, .real_ns = 1700000000000001000, .window = 10},
	    {.clock = 2001000, .mono_ns = 2001000, .real_ns = 1700000000002001000, .window = 12},
	    {.clock = 4001000, .mono_ns = 4001000, .real_ns = 1700000000004001000, .window = 9},
	};
	struct rtr_clock_meta cm = {0};
	char *text;

	CHECK_EQ_I64(rtr_ctf_meta_env_std(m, &e), 0);
	CHECK_EQ_I64(rtr_ctf_meta_env_sync_list(m, pts, 3), 0);
	cm.env.source = "monotonic";
	cm.env.skew_bound_ns = -1;
	snprintf(cm.env.kernel_clocksource, sizeof(cm.env.kernel_clocksource), "tsc");
	CHECK_EQ_I64(rtr_ctf_meta_env_clock(m, &cm), 0);
	text = render(m);
	CHECK(strstr(text, "\thostname = \"host-1\";\n") != NULL);
	CHECK(strstr(text, "\tdomain = \"ust\";\n") != NULL);
	CHECK(strstr(text, "\ttracer_name = \"ringtrace\";\n") != NULL);
	CHECK(strstr(text, "\ttracer_major = ") != NULL);
	CHECK(strstr(text, "\ttracer_minor = ") != NULL);
	CHECK(strstr(text, "\ttracer_patchlevel = ") != NULL);
	CHECK(strstr(text, "\tvpid = 1234;\n") != NULL);
	CHECK(strstr(text, "\tprocname = \"app\";\n") != NULL);
	CHECK(strstr(text, "\ttrace_name = \"t\\\"n\";\n") != NULL);
	CHECK(strstr(text, "\ttrace_creation_datetime = \"1971") != NULL);
	CHECK(strstr(text, "\tclock_sync_list = \"v1:3:") != NULL);
	CHECK(strstr(text, "\tclock_source = \"monotonic\";\n") != NULL);
	CHECK(strstr(text, "\tclock_kernel_clocksource = \"tsc\";\n") != NULL);
	CHECK(strstr(text, "\tclock_skew_bound_ns = -1;\n") != NULL);
	free(text);
	{
		struct rtr_clock_sync bad[2] = {pts[1], pts[0]}; /* not increasing */

		CHECK_EQ_I64(rtr_ctf_meta_env_sync_list(m, bad, 2), -EINVAL);
	}
	rtr_ctf_meta_destroy(m);
}

static void test_write(void)
{
	char dir[] = "/tmp/rtr-ctf-meta.XXXXXX", path[300], *text, *back;
	struct rtr_ctf_meta *m = new_meta();
	struct stat sb;
	size_t len;
	FILE *f;
	int dfd;

	REQUIRE(mkdtemp(dir) != NULL);
	dfd = open(dir, O_DIRECTORY | O_RDONLY);
	REQUIRE(dfd >= 0);
	CHECK_EQ_I64(rtr_ctf_meta_add_stream(m, 0, "c"), 0);
	CHECK_EQ_I64(rtr_ctf_meta_write(m, dfd, "metadata"), 0);
	CHECK_EQ_I64(rtr_ctf_meta_write(m, dfd, "a/b"), -EINVAL);
	CHECK_EQ_I64(rtr_ctf_meta_render(m, &text, &len), 0);
	snprintf(path, sizeof(path), "%s/metadata", dir);
	REQUIRE(stat(path, &sb) == 0);
	CHECK_EQ_U64((uint64_t)sb.st_size, len);
	back = calloc(1, len + 1);
	f = fopen(path, "r");
	REQUIRE(f && back);
	CHECK_EQ_U64(fread(back, 1, len, f), len);
	fclose(f);
	CHECK(memcmp(back, text, len) == 0);
	snprintf(path, sizeof(path), "%s/.metadata.tmp", dir);
	CHECK(access(path, F_OK) != 0); /* renamed away */
	snprintf(path, sizeof(path), "%s/metadata", dir);
	unlink(path);
	rmdir(dir);
	close(dfd);
	free(text);
	free(back);
	rtr_ctf_meta_destroy(m);
}

int main(void)
{
	test_every_kind();
	test_escaping();
	test_checks();
	test_builder_errors();
	test_env();
	test_write();
	return rtr_test_done("test_ctf_meta");
}
