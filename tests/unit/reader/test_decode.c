/* Unit tests of the packet/event decoder (lib/reader/compile/, iter/): bit-level
 * integers in both byte orders, timestamp wrap reconstruction, sequences,
 * variants, text arrays, discarded items, malformed-input errors. */
#include <stdlib.h>
#include <string.h>

#include "iter/iter.h"
#include "rtr_test.h"

static struct rtr_reader *r;
static struct rtr_error err;

static int open_mem(const char *meta, const uint8_t *d, size_t n)
{
	rtr_reader_close(r);
	r = NULL;
	memset(&err, 0, sizeof(err));
	return rtr__reader_open_mem((const uint8_t *)meta, strlen(meta), d, n, NULL, &r, &err);
}

static const struct rtr_value *val(const struct rtr_msg *m, const char *name)
{
	for (size_t i = 0; i < m->n_values; i++) {
		const char *n = rtr_value_name(&m->values[i]);

		if (n && !strcmp(n, name))
			return &m->values[i];
	}
	return NULL;
}

#define HDR                                                                                        \
	"/* CTF 1.8 */\n"                                                                          \
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"                 \
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"               \
	"typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"

static void test_bitfields(void)
{
	struct rtr_msg m;
	/* LE: a = 5 (3 bits), b = -3 (5 bits signed) -> byte 0b11101101;
	 * c: 12-bit big-endian 0xABC in the next 12 bits (MSB first),
	 * then 4 bits of padding to d, a byte */
	uint8_t d[] = {0xED, 0xAB, 0xC0, 0x7F};
	const struct rtr_value *v;

	REQUIRE(open_mem(HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
			     "event { name = e; fields := struct {\n"
			     "  integer { size = 3; } a; integer { size = 5; signed = true; } b;\n"
			     "  integer { size = 12; byte_order = be; base = 16; } c;\n"
			     "  uint8_t d; }; };\n",
			 d, sizeof(d)) == 0);
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK_STR_EQ(m.name, "e");
	CHECK(!m.has_clock);
	v = val(&m, "a");
	REQUIRE(v);
	CHECK_EQ_U64(v->v.u, 5);
	v = val(&m, "b");
	REQUIRE(v);
	CHECK_EQ_U64(v->kind, RTR_VAL_SINT);
	CHECK_EQ_I64(v->v.i, -3);
	v = val(&m, "c");
	REQUIRE(v);
	CHECK_EQ_U64(v->v.u, 0xABC);
	CHECK_EQ_U64(rtr_value_base(v), 16);
	CHECK_EQ_U64(val(&m, "d")->v.u, 0x7F);
	CHECK(rtr_reader_next(r, &m) == RTR_NEXT_END);
}

#define TSMETA                                                                                     \
	HDR "typealias integer { size = 27; align = 1; signed = false; map = clock.c.value; } := " \
	    "ts27;\n"                                                                              \
	    "typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := " \
	    "ts64;\n"                                                                              \
	    "clock { name = c; freq = 1000000000; offset_s = 10; };\n"                             \
	    "trace { major = 1; minor = 8; byte_order = le; };\n"                                  \
	    "stream { packet.context := struct { ts64 timestamp_begin; ts64 timestamp_end;\n"      \
	    "  uint64_t content_size; uint64_t packet_size; uint64_t events_discarded; uint64_t "  \
	    "packet_seq_num; };\n"                                                                 \
	    "  event.header := struct { integer { size = 5; align = 8; } id; ts27 timestamp; }; "  \
	    "};\n"                                                                                 \
	    "event { name = t; id = 0; fields := struct { uint8_t x; }; };\n"

static size_t put_packet(uint8_t *p, uint64_t begin, uint64_t end, uint64_t disc, uint64_t seq,
			 const uint32_t *lows, int n)
{
	size_t len = 48 + (size_t)n * 5;
	uint64_t bits = len * 8;

	memcpy(p, &begin, 8);
	memcpy(p + 8, &end, 8);
	memcpy(p + 16, &bits, 8);
	memcpy(p + 24, &bits, 8);
	memcpy(p + 32, &disc, 8);
	memcpy(p + 40, &seq, 8);
	for (int i = 0; i < n; i++) {
		uint32_t h = lows[i] << 5; /* id 0 */

		memcpy(p + 48 + i * 5, &h, 4);
		p[48 + i * 5 + 4] = (uint8_t)i;
	}
	return len;
}

static void test_timestamps_and_losses(void)
{
	uint8_t d[512];
	size_t n = 0;
	struct rtr_msg m;
	const uint32_t l1[] = {0x7FFFFF8, 0x10, 0x20};
	const uint32_t l2[] = {0x1000005}; /* low 27 bits of 0x9000005 */
	uint64_t base = 0x7FFFFF0;

	n += put_packet(d + n, base, base + 0x40, 0, 7, l1, 3);
	n += put_packet(d + n, 0x9000000, 0x9000010, 5, 10, l2, 1);
	REQUIRE(open_mem(TSMETA, d, n) == 0);
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK(m.has_clock);
	CHECK_EQ_U64(m.cycles, 0x7FFFFF8);
	CHECK_EQ_I64(m.ns, 10 * 1000000000LL + 0x7FFFFF8);
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK_EQ_U64(m.cycles, 0x8000010); /* one wrap of 27 bits */
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK_EQ_U64(m.cycles, 0x8000020);
	/* second packet: 5 discarded events since the previous packet's end,
	 * packets 8 and 9 lost */
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK_EQ_U64(m.kind, RTR_MSG_DISCARDED_EVENTS);
	CHECK_EQ_U64(m.count, 5);
	CHECK(m.has_range);
	CHECK_EQ_U64(m.begin_cycles, base + 0x40);
	CHECK_EQ_U64(m.end_cycles, 0x9000010);
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK_EQ_U64(m.kind, RTR_MSG_DISCARDED_PACKETS);
	CHECK_EQ_U64(m.count, 2);
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	CHECK_EQ_U64(m.kind, RTR_MSG_EVENT);
	CHECK_EQ_U64(m.cycles, 0x9000005); /* re-seeded by timestamp_begin */
	CHECK(rtr_reader_next(r, &m) == RTR_NEXT_END);
}

static void test_compound(void)
{
	/* n = 3, seq of 3 bytes, tag = 1 selects "b" (string), text[4] */
	uint8_t d[] = {3, 1, 2, 3, 1, 'h', 'i', 0, 'a', 'b', 0, 'z'};
	struct rtr_msg m;
	const struct rtr_value *v;
	size_t i;

	REQUIRE(open_mem(HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
			     "event { name = e; fields := struct {\n"
			     "  uint8_t n; uint8_t s[n];\n"
			     "  enum : uint8_t { A, B } tag;\n"
			     "  variant <tag> { uint32_t A; string B; } v;\n"
			     "  integer { size = 8; align = 8; encoding = UTF8; } t[4];\n"
			     "}; };\n",
			 d, sizeof(d)) == 0);
	REQUIRE(rtr_reader_next(r, &m) == RTR_NEXT_OK);
	v = val(&m, "s");
	REQUIRE(v);
	CHECK_EQ_U64(v->kind, RTR_VAL_ARRAY_BEGIN);
	CHECK_EQ_U64(v->len, 3);
	CHECK_EQ_U64(v[3].v.u, 3);
	v = val(&m, "tag");
	REQUIRE(v);
	{
		const char *lab[2];

		CHECK(rtr_value_is_enum(v));
		CHECK_EQ_U64(rtr_value_enum_labels(v, lab, 2), 1);
		CHECK_STR_EQ(lab[0], "B");
	}
	v = val(&m, "v");
	REQUIRE(v);
	CHECK_EQ_U64(v->kind, RTR_VAL_VARIANT_BEGIN);
	CHECK_EQ_U64(v[1].kind, RTR_VAL_STRING);
	CHECK(v[1].len == 2 && !memcmp(v[1].v.s, "hi", 2));
	v = val(&m, "t");
	REQUIRE(v);
	CHECK_EQ_U64(v->kind, RTR_VAL_STRING); /* text array: up to the NUL */
	CHECK(v->len == 2 && !memcmp(v->v.s, "ab", 2));
	for (i = 0; i < m.n_values; i++)
		if (m.values[i].kind == RTR_VAL_STRUCT_BEGIN)
			break;
	CHECK(i < m.n_values);
	CHECK(rtr_reader_next(r, &m) == RTR_NEXT_END);
}

static void test_errors(void)
{
	struct rtr_msg m;
	uint8_t seq[] = {200, 1, 2};
	uint8_t var[] = {7, 0};
	uint8_t one[] = {0};

	/* sequence longer than the packet */
	REQUIRE(open_mem(HDR
			 "trace { major = 1; minor = 8; byte_order = le; };\n"
			 "event { name = e; fields := struct { uint8_t n; uint8_t s[n]; }; };\n",
			 seq, sizeof(seq)) == 0);
	CHECK(rtr_reader_next(r, &m) == RTR_NEXT_ERROR);
	CHECK(strstr(rtr_reader_error(r)->msg, "(memory)/stream") != NULL);
	CHECK(strstr(rtr_reader_error(r)->msg, "goes past the end") != NULL);
	/* variant tag selecting no option */
	REQUIRE(open_mem(HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
			     "event { name = e; fields := struct { enum : uint8_t { A, B } t;\n"
			     "  variant <t> { uint8_t A; uint8_t B; } v; }; };\n",
			 var, sizeof(var)) == 0);
	CHECK(rtr_reader_next(r, &m) == RTR_NEXT_ERROR);
	CHECK(strstr(rtr_reader_error(r)->msg, "selects no option") != NULL);
	/* an event of zero bits must not loop forever */
	REQUIRE(open_mem(HDR "trace { major = 1; minor = 8; byte_order = le; };\n"
			     "event { name = e; fields := struct { }; };\n",
			 one, sizeof(one)) == 0);
	CHECK(rtr_reader_next(r, &m) == RTR_NEXT_ERROR);
	CHECK(strstr(rtr_reader_error(r)->msg, "zero bits") != NULL);
	/* bad magic */
	{
		uint8_t pk[] = {1, 2, 3, 4, 0};

		CHECK(open_mem(HDR "trace { major = 1; minor = 8; byte_order = le;\n"
				   "  packet.header := struct { uint32_t magic; }; };\n"
				   "event { name = e; fields := struct { uint8_t x; }; };\n",
			       pk, sizeof(pk)) != 0);
		CHECK(strstr(err.msg, "magic") != NULL);
	}
}

int main(void)
{
	test_bitfields();
	test_timestamps_and_losses();
	test_compound();
	test_errors();
	rtr_reader_close(r);
	return rtr_test_done("test_decode");
}
