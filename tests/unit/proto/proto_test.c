/* Unit tests of the control protocol (lib/proto): every message type round
 * trips, every header and payload check rejects what it must, event
 * descriptions of every field kind survive encode/decode, truncations and
 * byte flips of valid messages never crash the decoder, fds travel over a
 * real SOCK_SEQPACKET socket and are closed when a datagram is truncated.
 *
 *   proto_test                      run the tests
 *   proto_test --seeds DIR          also replay every fuzz seed in DIR
 *   proto_test --write-seeds DIR    (re)generate the fuzz seed corpus
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "proto_fuzz_one.h"
#include "rtr_test.h"

static struct rtr_proto_out out, out2;
static char err[512];

/* ------------------------------------------------------------------------
 * A provider with every field kind
 * ------------------------------------------------------------------------ */

static const struct rtr_enum_entry color_entries[] = {
    {"RED", 0, 0}, {"GREEN", 1, 1}, {"MANY", 2, 100}};
static const struct rtr_enum_desc color_enum = {"tprov", "color", color_entries, 3};
static const struct rtr_enum_entry temp_entries[] = {{"COLD", (uint64_t)-40, (uint64_t)-1},
						     {"WARM", 0, 30}};
static const struct rtr_enum_desc temp_enum = {"tprov", "temp", temp_entries, 2};

#define INT(bits, sgn, base)                                                                       \
	{                                                                                          \
		bits, sgn, base, 0, 0,                                                             \
		{                                                                                  \
			0, 0, 0                                                                    \
		}                                                                                  \
	}
#define TEXT8                                                                                      \
	{                                                                                          \
		8, 0, RTR_BASE_DEC, 0, 1,                                                          \
		{                                                                                  \
			0, 0, 0                                                                    \
		}                                                                                  \
	}

static const struct rtr_field_desc all_fields[] = {
    {.name = "u8", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 10)},
    {.name = "s16", .kind = RTR_FIELD_INTEGER, .integer = INT(16, 1, 10)},
    {.name = "x32", .kind = RTR_FIELD_INTEGER, .integer = INT(32, 0, 16)},
    {.name = "o64", .kind = RTR_FIELD_INTEGER, .integer = INT(64, 0, 8)},
    {.name = "color", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10), .enumeration = &color_enum},
    {.name = "temp", .kind = RTR_FIELD_ENUM, .integer = INT(16, 1, 10), .enumeration = &temp_enum},
    {.name = "f", .kind = RTR_FIELD_FLOAT, .float_bits = 32},
    {.name = "d", .kind = RTR_FIELD_FLOAT, .float_bits = 64},
    {.name = "s", .kind = RTR_FIELD_STRING},
    {.name = "arr", .kind = RTR_FIELD_ARRAY, .array_length = 4, .integer = INT(32, 1, 10)},
    {.name = "txt", .kind = RTR_FIELD_ARRAY, .array_length = 8, .integer = TEXT8},
    {.name = "seq",
     .kind = RTR_FIELD_SEQUENCE,
     .integer = INT(64, 0, 16),
     .length_type = INT(32, 0, 10)},
    {.name = "tseq", .kind = RTR_FIELD_SEQUENCE, .integer = TEXT8, .length_type = INT(16, 0, 10)},
};

static struct rtr_event_state st_all = {.reg_index = 5};
static const struct rtr_event_desc ev_all = {.provider = "tprov",
					     .name = "all",
					     .fields = all_fields,
					     .nr_fields = RTR_ARRAY_SIZE(all_fields),
					     .loglevel = RTR_LOGLEVEL_DEBUG,
					     .state = &st_all,
					     .model_emf_uri = "http://example.com/model"};
static struct rtr_event_state st_empty = {.reg_index = 6};
static const struct rtr_event_desc ev_empty = {
    .provider = "tprov", .name = "empty", .loglevel = RTR_LOGLEVEL_NONE, .state = &st_empty};

static int same_int(const struct rtr_integer_type *a, const struct rtr_integer_type *b)
{
	return a->size_bits == b->size_bits && a->is_signed == b->is_signed && a->base == b->base &&
	       a->byte_order == b->byte_order && a->text == b->text;
}

static void check_same_event(const struct rtr_event_desc *want, const struct rtr_event_desc *got)
{
	CHECK_STR_EQ(got->provider, want->provider);
	CHECK_STR_EQ(got->name, want->name);
	CHECK_EQ_I64(got->loglevel, want->loglevel);
	CHECK_EQ_U64(got->state->reg_index, want->state->reg_index);
	CHECK(!!got->model_emf_uri == !!want->model_emf_uri);
	if (got->model_emf_uri && want->model_emf_uri)
		CHECK_STR_EQ(got->model_emf_uri, want->model_emf_uri);
	REQUIRE(got->nr_fields == want->nr_fields);
	for (uint32_t i = 0; i < want->nr_fields; i++) {
		const struct rtr_field_desc *w = &want->fields[i], *g = &got->fields[i];

		CHECK_STR_EQ(g->name, w->name);
		CHECK_EQ_U64(g->kind, w->kind);
		CHECK_EQ_U64(g->float_bits, w->float_bits);
		CHECK_EQ_U64(g->array_length, w->array_length);
		CHECK(same_int(&g->integer, &w->integer));
		CHECK(same_int(&g->length_type, &w->length_type));
		CHECK(!!g->enumeration == !!w->enumeration);
		if (w->enumeration && g->enumeration) {
			CHECK_STR_EQ(g->enumeration->name, w->enumeration->name);
			REQUIRE(g->enumeration->nr_entries == w->enumeration->nr_entries);
			for (uint32_t k = 0; k < w->enumeration->nr_entries; k++) {
				CHECK_STR_EQ(g->enumeration->entries[k].label,
					     w->enumeration->entries[k].label);
				CHECK_EQ_U64(g->enumeration->entries[k].start,
					     w->enumeration->entries[k].start);
				CHECK_EQ_U64(g->enumeration->entries[k].end,
					     w->enumeration->entries[k].end);
			}
		}
	}
}

/* ------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------ */

static int parse_out(struct rtr_proto_out *o, unsigned nfds, struct rtr_proto_msg *m)
{
	return rtr_proto_parse(o->data, o->len, nfds, m, err, sizeof(err));
}

static void test_roundtrip(void)
{
	struct rtr_proto_msg m;
	struct rtr_proto_hello h = {.minor = 0,
				    .event_abi_major = 1,
				    .ring_abi_major = 1,
				    .pid = 1234,
				    .ppid = 1,
				    .uid = 1000,
				    .gid = 100,
				    .caps = RTR_PROTO_CAP_RSEQ | RTR_PROTO_CAP_TSC | 0x80000000u,
				    .flags = RTR_PROTO_HELLO_FORKED,
				    .nr_cpus = 8,
				    .word_bits = 64,
				    .byte_order = RTR_PROTO_BYTE_ORDER_LE,
				    .procname = "myapp",
				    .runtime_version = "0.1.0"};
	struct rtr_proto_session s = {
	    .session_id = 0x1122334455667788ull, .clock_source = 1, .name = "record"};
	struct rtr_proto_channel c = {.session_id = 9,
				      .chan_handle = 3,
				      .client_id = 1,
				      .nr_bufs = 2,
				      .flags = RTR_PROTO_CHANNEL_WAKEUP,
				      .num_subbuf = 4,
				      .subbuf_size = 262144,
				      .name = "channel0"};
	struct rtr_proto_channel_buffers b = {.chan_handle = 3, .first = 0, .count = 2};
	struct rtr_proto_enable_entry en[3] = {{1, 3, 0}, {2, 3, 1}, {7, 4, 40}};

	REQUIRE(rtr_proto_enc_hello(&out, 1, &h) == 0);
	REQUIRE(parse_out(&out, 1, &m) == 0);
	CHECK_EQ_U64(m.hdr.type, RTR_MSG_HELLO);
	CHECK_EQ_U64(m.hdr.seq, 1);
	CHECK_EQ_U64(m.u.hello.pid, 1234);
	CHECK_EQ_U64(m.u.hello.ppid, 1);
	CHECK_EQ_U64(m.u.hello.uid, 1000);
	CHECK_EQ_U64(m.u.hello.gid, 100);
	CHECK_EQ_U64(m.u.hello.caps,
		     RTR_PROTO_CAP_RSEQ | RTR_PROTO_CAP_TSC); /* unknown cap masked */
	CHECK_EQ_U64(m.u.hello.flags, RTR_PROTO_HELLO_FORKED);
	CHECK_EQ_U64(m.u.hello.nr_cpus, 8);
	CHECK_EQ_U64(m.u.hello.word_bits, 64);
	CHECK_STR_EQ(m.u.hello.procname, "myapp");
	CHECK_STR_EQ(m.u.hello.runtime_version, "0.1.0");
	CHECK(parse_out(&out, 0, &m) == -EPROTO); /* HELLO needs its notify fd */

	REQUIRE(rtr_proto_enc_session(&out, 2, &s) == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	CHECK_EQ_U64(m.u.session.session_id, 0x1122334455667788ull);
	CHECK_EQ_U64(m.u.session.clock_source, 1);
	CHECK_STR_EQ(m.u.session.name, "record");

	REQUIRE(rtr_proto_enc_channel(&out, 3, &c) == 0);
	REQUIRE(parse_out(&out, 1, &m) == 0);
	CHECK_EQ_U64(m.u.channel.session_id, 9);
	CHECK_EQ_U64(m.u.channel.chan_handle, 3);
	CHECK_EQ_U64(m.u.channel.client_id, 1);
	CHECK_EQ_U64(m.u.channel.nr_bufs, 2);
	CHECK_EQ_U64(m.u.channel.num_subbuf, 4);
	CHECK_EQ_U64(m.u.channel.subbuf_size, 262144);
	CHECK_STR_EQ(m.u.channel.name, "channel0");
	CHECK(parse_out(&out, 0, &m) == -EPROTO); /* wakeup flag: one fd expected */
	c.flags = 0;
	REQUIRE(rtr_proto_enc_channel(&out, 3, &c) == 0);
	CHECK(parse_out(&out, 0, &m) == 0);
	c.name = "bad name";
	REQUIRE(rtr_proto_enc_channel(&out, 3, &c) == 0);
	CHECK(parse_out(&out, 0, &m) == -EPROTO);
	c.name = "channel0";
	c.nr_bufs = RTR_PROTO_MAX_CPUS + 1;
	REQUIRE(rtr_proto_enc_channel(&out, 3, &c) == 0);
	CHECK(parse_out(&out, 0, &m) == -EPROTO);

	REQUIRE(rtr_proto_enc_channel_buffers(&out, 4, &b) == 0);
	REQUIRE(parse_out(&out, 2, &m) == 0);
	CHECK_EQ_U64(m.u.buffers.chan_handle, 3);
	CHECK_EQ_U64(m.u.buffers.count, 2);
	CHECK(parse_out(&out, 1, &m) == -EPROTO);
	b.count = 0;
	CHECK(rtr_proto_enc_channel_buffers(&out, 4, &b) == -EINVAL);

	REQUIRE(rtr_proto_enc_enable(&out, 5, en, 3) == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	REQUIRE(m.u.enable.count == 3);
	for (uint32_t i = 0; i < 3; i++) {
		struct rtr_proto_enable_entry e;

		rtr_proto_enable_get(&m.u.enable, i, &e);
		CHECK_EQ_U64(e.reg_index, en[i].reg_index);
		CHECK_EQ_U64(e.chan_handle, en[i].chan_handle);
		CHECK_EQ_U64(e.event_id, en[i].event_id);
	}
	REQUIRE(rtr_proto_enc_register_reply(&out, 6, -ENOENT, en, 2) == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	CHECK_EQ_U64(m.hdr.flags, RTR_PROTO_F_REPLY);
	CHECK_EQ_I64(m.u.register_reply.status, -ENOENT);
	CHECK_EQ_U64(m.u.register_reply.enables.count, 2);

	for (unsigned t = RTR_MSG_START; t <= RTR_MSG_STOP; t++) {
		REQUIRE(rtr_proto_enc_ref(&out, t, 7, 42) == 0);
		REQUIRE(parse_out(&out, 0, &m) == 0);
		CHECK_EQ_U64(m.hdr.type, t);
		CHECK_EQ_U64(m.u.ref.session_id, 42);
	}
	CHECK(rtr_proto_enc_ref(&out, RTR_MSG_HELLO, 7, 42) == -EINVAL);
	REQUIRE(rtr_proto_enc_close_channel(&out, 8, 77) == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	CHECK_EQ_U64(m.u.close_channel.chan_handle, 77);
	REQUIRE(rtr_proto_enc_ready(&out, 9, 0) == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	CHECK_EQ_U64(m.hdr.type, RTR_MSG_READY);

	/* Replies: text is sanitised by the encoder, status clamped. */
	REQUIRE(rtr_proto_enc_reply(&out, 10, RTR_MSG_CHANNEL, -EPROTO, "bad \"x\"\n") == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	CHECK_EQ_I64(m.u.reply.status, -EPROTO);
	CHECK_EQ_U64(m.u.reply.req_type, RTR_MSG_CHANNEL);
	CHECK_STR_EQ(m.u.reply.text, "bad ?x??");
	REQUIRE(rtr_proto_enc_reply(&out, 10, RTR_MSG_CHANNEL, 5, NULL) == 0);
	REQUIRE(parse_out(&out, 0, &m) == 0);
	CHECK_EQ_I64(m.u.reply.status, -EPROTO);
	CHECK_STR_EQ(m.u.reply.text, "");
}

/* ------------------------------------------------------------------------
 * Header checks
 * ------------------------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void test_header(void)
{
	struct rtr_proto_msg m;
	uint8_t raw[RTR_PROTO_MAX_MSG + 16];

	REQUIRE(rtr_proto_enc_ref(&out, RTR_MSG_START, 1, 5) == 0);
	memcpy(raw, out.data, out.len);
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == 0);
	for (size_t n = 0; n < RTR_PROTO_HDR_SIZE; n++)
		CHECK(rtr_proto_parse(raw, n, 0, &m, err, sizeof(err)) == -EPROTO);
	CHECK(strstr(err, "header") != NULL);
	/* Payload shorter than the fixed fields. */
	for (size_t n = RTR_PROTO_HDR_SIZE; n < out.len; n++) {
		put32(raw + 12, (uint32_t)(n - RTR_PROTO_HDR_SIZE));
		CHECK(rtr_proto_parse(raw, n, 0, &m, err, sizeof(err)) == -EPROTO);
	}
	memcpy(raw, out.data, out.len);
	/* Length field disagreeing with the datagram. */
	put32(raw + 12, 9);
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == -EPROTO);
	CHECK(strstr(err, "payload length") != NULL);
	memcpy(raw, out.data, out.len);
	raw[0] ^= 1;
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == -EPROTO);
	CHECK(strstr(err, "magic") != NULL);
	memcpy(raw, out.data, out.len);
	raw[4] = 2;
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == -EPROTONOSUPPORT);
	memcpy(raw, out.data, out.len);
	raw[6] = 99;
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == -EPROTO);
	CHECK(strstr(err, "unknown message type") != NULL);
	memcpy(raw, out.data, out.len);
	raw[8] = 0x2;
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == -EPROTO);
	memcpy(raw, out.data, out.len);
	raw[8] = RTR_PROTO_F_REPLY; /* a request flagged as a reply */
	CHECK(rtr_proto_parse(raw, out.len, 0, &m, err, sizeof(err)) == -EPROTO);
	memcpy(raw, out.data, out.len);
	CHECK(rtr_proto_parse(raw, out.len, 1, &m, err, sizeof(err)) == -EPROTO);
	CHECK(strstr(err, "descriptors") != NULL);
	put32(raw + 20, 1);
	CHECK(rtr_proto_parse(raw, out.len, 1, &m, err, sizeof(err)) == -EPROTO);
	/* Trailing bytes (a newer minor's extension) are accepted. */
	memcpy(raw, out.data, out.len);
	memset(raw + out.len, 0xee, 8);
	put32(raw + 12, (uint32_t)(out.len + 8 - RTR_PROTO_HDR_SIZE));
	CHECK(rtr_proto_parse(raw, out.len + 8, 0, &m, err, sizeof(err)) == 0);
	CHECK_EQ_U64(m.u.ref.session_id, 5);
	/* Oversized payload. */
	memset(raw + RTR_PROTO_HDR_SIZE, 0, RTR_PROTO_MAX_PAYLOAD + 8);
	put32(raw + 12, RTR_PROTO_MAX_PAYLOAD + 8);
	CHECK(rtr_proto_parse(raw, RTR_PROTO_HDR_SIZE + RTR_PROTO_MAX_PAYLOAD + 8, 0, &m, err,
			      sizeof(err)) == -EPROTO);
	CHECK(rtr_proto_parse(NULL, 5, 0, &m, err, sizeof(err)) == -EINVAL);
}

/* Strings: length 0, no NUL, interior NUL, too long. */
static void test_strings(void)
{
	struct rtr_proto_msg m;
	size_t at;

	REQUIRE(rtr_proto_enc_reply(&out, 1, RTR_MSG_START, 0, "hello") == 0);
	at = RTR_PROTO_HDR_SIZE + 6; /* the text's u16 length */
	REQUIRE(parse_out(&out, 0, &m) == 0);
	memcpy(&out2, &out, sizeof(out));
	out2.data[at] = 0;
	CHECK(parse_out(&out2, 0, &m) == -EPROTO);
	memcpy(&out2, &out, sizeof(out));
	out2.data[at + 2 + 5] = 'x'; /* NUL replaced */
	CHECK(parse_out(&out2, 0, &m) == -EPROTO);
	CHECK(strstr(err, "NUL") != NULL);
	memcpy(&out2, &out, sizeof(out));
	out2.data[at + 2 + 2] = 0; /* interior NUL */
	CHECK(parse_out(&out2, 0, &m) == -EPROTO);
	memcpy(&out2, &out, sizeof(out));
	out2.data[at] = 7; /* longer than the payload */
	CHECK(parse_out(&out2, 0, &m) == -EPROTO);
	memcpy(&out2, &out, sizeof(out));
	out2.data[at + 2 + 1] = '\n'; /* control character */
	CHECK(parse_out(&out2, 0, &m) == -EPROTO);
	{
		struct rtr_proto_hello h = {.pid = 1,
					    .nr_cpus = 1,
					    .word_bits = 64,
					    .byte_order = 1,
					    .procname = "a-name-longer-than-15",
					    .runtime_version = "v"};

		REQUIRE(rtr_proto_enc_hello(&out, 1, &h) == 0);
		CHECK(parse_out(&out, 1, &m) == -EPROTO);
		CHECK(strstr(err, "process name") != NULL);
	}
}

static void test_enables_bounds(void)
{
	struct rtr_proto_msg m;
	struct rtr_proto_enable_entry e[2] = {{1, 2, 3}, {4, 5, 6}};

	REQUIRE(rtr_proto_enc_enable(&out, 1, e, 2) == 0);
	/* count claims more entries than bytes follow (counts x sizes). */
	put32(out.data + RTR_PROTO_HDR_SIZE, 3);
	CHECK(parse_out(&out, 0, &m) == -EPROTO);
	put32(out.data + RTR_PROTO_HDR_SIZE, 0xffffffffu);
	CHECK(parse_out(&out, 0, &m) == -EPROTO);
	put32(out.data + RTR_PROTO_HDR_SIZE, 2);
	out.data[RTR_PROTO_HDR_SIZE + 4] = 8; /* entry size below 12 */
	CHECK(parse_out(&out, 0, &m) == -EPROTO);
	/* One entry of 24 bytes (a newer minor's bigger entries): the known
	 * 12 bytes are read, the rest skipped. */
	put32(out.data + RTR_PROTO_HDR_SIZE, 1);
	out.data[RTR_PROTO_HDR_SIZE + 4] = 24;
	REQUIRE(parse_out(&out, 0, &m) == 0);
	{
		struct rtr_proto_enable_entry x;

		rtr_proto_enable_get(&m.u.enable, 0, &x);
		CHECK_EQ_U64(x.reg_index, 1);
		CHECK_EQ_U64(x.event_id, 3);
	}
	CHECK(rtr_proto_enc_enable(&out, 1, e, RTR_PROTO_MAX_ENABLES_PER_MSG + 1) == -EMSGSIZE);
}

/* ------------------------------------------------------------------------
 * Event descriptions
 * ------------------------------------------------------------------------ */

static int decode_evs(struct rtr_proto_out *o, struct rtr_proto_arena *a,
		      const struct rtr_event_desc ***evs)
{
	struct rtr_proto_msg m;
	int r = parse_out(o, 0, &m);

	if (r)
		return r;
	return rtr_proto_events_decode(&m.u.events, a, evs, err, sizeof(err));
}

static void test_events(void)
{
	const struct rtr_event_desc *in[2] = {&ev_all, &ev_empty};
	const struct rtr_event_desc **evs;
	struct rtr_proto_arena a;
	uint32_t done;

	REQUIRE(rtr_proto_enc_events(&out, 3, in, 2, &done) == 0);
	CHECK_EQ_U64(done, 2);
	rtr_proto_arena_init(&a, 0, 0);
	REQUIRE(decode_evs(&out, &a, &evs) == 0);
	check_same_event(&ev_all, evs[0]);
	check_same_event(&ev_empty, evs[1]);
	CHECK_EQ_U64(evs[0]->state->enabled, 0);
	CHECK(evs[0]->state->bindings == NULL);
	CHECK_EQ_U64(a.nr_events, 2);
	rtr_proto_arena_free(&a);

	/* Every truncation fails cleanly (and never reads past the end: ASan). */
	for (size_t n = RTR_PROTO_HDR_SIZE; n < out.len; n++) {
		uint8_t *cut = malloc(n);
		struct rtr_proto_msg m;
		int r;

		REQUIRE(cut);
		memcpy(cut, out.data, n);
		put32(cut + 12, (uint32_t)(n - RTR_PROTO_HDR_SIZE));
		r = rtr_proto_parse(cut, n, 0, &m, err, sizeof(err));
		if (r == 0) {
			rtr_proto_arena_init(&a, 0, 0);
			r = rtr_proto_events_decode(&m.u.events, &a, &evs, err, sizeof(err));
			rtr_proto_arena_free(&a);
		}
		CHECK(r == -EPROTO);
		free(cut);
	}
	/* Every single-byte corruption: no crash, and if it decodes the
	 * result is still valid (names are identifiers, sizes known). */
	for (size_t i = RTR_PROTO_HDR_SIZE; i < out.len; i++) {
		for (int v = 0; v < 3; v++) {
			static const uint8_t vals[3] = {0x00, 0xff, 0x41};

			memcpy(&out2, &out, sizeof(out));
			if (out2.data[i] == vals[v])
				continue;
			out2.data[i] = vals[v];
			rtr_proto_arena_init(&a, 0, 0);
			if (decode_evs(&out2, &a, &evs) == 0) {
				for (uint32_t k = 0; k < 2; k++)
					for (uint32_t f = 0; f < evs[k]->nr_fields; f++) {
						const struct rtr_field_desc *fd =
						    &evs[k]->fields[f];

						CHECK(fd->kind >= RTR_FIELD_INTEGER &&
						      fd->kind <= RTR_FIELD_SEQUENCE);
						CHECK(fd->name && fd->name[0]);
					}
			}
			rtr_proto_arena_free(&a);
		}
	}

	/* Splitting: many events over several messages, none lost. */
	{
		enum { N = 600 };
		static struct rtr_event_state sts[N];
		static struct rtr_event_desc evd[N];
		static const struct rtr_event_desc *ptrs[N];
		uint32_t sent = 0, msgs = 0;

		for (uint32_t i = 0; i < N; i++) {
			evd[i] = ev_all;
			sts[i].reg_index = 100 + i;
			evd[i].state = &sts[i];
			ptrs[i] = &evd[i];
		}
		rtr_proto_arena_init(&a, 0, 0);
		while (sent < N) {
			REQUIRE(rtr_proto_enc_events(&out, 1, ptrs + sent, N - sent, &done) == 0);
			REQUIRE(done > 0);
			REQUIRE(decode_evs(&out, &a, &evs) == 0);
			for (uint32_t i = 0; i < done; i++)
				CHECK_EQ_U64(evs[i]->state->reg_index, 100 + sent + i);
			sent += done;
			msgs++;
		}
		CHECK(msgs > 1);
		CHECK_EQ_U64(a.nr_events, N);
		rtr_proto_arena_free(&a);
		/* Arena bounds: event count. */
		rtr_proto_arena_init(&a, 0, 10);
		REQUIRE(rtr_proto_enc_events(&out, 1, ptrs, 11, &done) == 0);
		CHECK(decode_evs(&out, &a, &evs) == -ENOSPC);
		rtr_proto_arena_free(&a);
		/* Arena bounds: bytes. */
		rtr_proto_arena_init(&a, 100000, 0);
		sent = 0;
		{
			int r = 0;

			while (sent < N && r == 0) {
				REQUIRE(rtr_proto_enc_events(&out, 1, ptrs + sent, N - sent,
							     &done) == 0);
				r = decode_evs(&out, &a, &evs);
				sent += done;
			}
			CHECK(r == -ENOSPC);
			CHECK(a.bytes <= 100000);
		}
		rtr_proto_arena_free(&a);
	}
}

/* One bad description per case: each must be rejected with -EPROTO. */
static void expect_bad_field(const struct rtr_field_desc *f, const char *what)
{
	struct rtr_event_state st = {.reg_index = 1};
	struct rtr_event_desc ev = {
	    .provider = "p", .name = "e", .fields = f, .nr_fields = 1, .loglevel = 3, .state = &st};
	const struct rtr_event_desc *in = &ev, **evs;
	struct rtr_proto_arena a;
	uint32_t done;
	int r;

	REQUIRE(rtr_proto_enc_events(&out, 1, &in, 1, &done) == 0);
	rtr_proto_arena_init(&a, 0, 0);
	r = decode_evs(&out, &a, &evs);
	if (r != -EPROTO)
		fprintf(stderr, "case '%s' not rejected (%d)\n", what, r);
	CHECK(r == -EPROTO);
	rtr_proto_arena_free(&a);
}

static void test_bad_events(void)
{
	static const struct rtr_enum_entry bad_range[] = {{"A", 5, 3}};
	static const struct rtr_enum_desc bad_range_enum = {"p", "e", bad_range, 1};
	static const struct rtr_enum_entry too_big[] = {{"A", 0, 300}};
	static const struct rtr_enum_desc too_big_enum = {"p", "e", too_big, 1};
	static const struct rtr_enum_entry neg_unsigned[] = {{"A", (uint64_t)-1, (uint64_t)-1}};
	static const struct rtr_enum_desc neg_enum = {"p", "e", neg_unsigned, 1};
	static const struct rtr_enum_entry quote[] = {{"A\"B", 0, 1}};
	static const struct rtr_enum_desc quote_enum = {"p", "e", quote, 1};
	static const struct rtr_enum_desc empty_enum = {"p", "e", NULL, 0};
	struct rtr_field_desc f;

#define BAD(...)                                                                                   \
	do {                                                                                       \
		f = (struct rtr_field_desc){__VA_ARGS__};                                          \
		expect_bad_field(&f, #__VA_ARGS__);                                                \
	} while (0)
	BAD(.name = "x", .kind = RTR_FIELD_INTEGER, .integer = INT(12, 0, 10));
	BAD(.name = "x", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 2, 10));
	BAD(.name = "x", .kind = RTR_FIELD_INTEGER, .integer = INT(8, 0, 7));
	BAD(.name = "x", .kind = RTR_FIELD_INTEGER, .integer = TEXT8);
	BAD(.name = "x", .kind = RTR_FIELD_ARRAY, .array_length = 2,
	    .integer = {16, 0, 10, 0, 1, {0, 0, 0}});
	BAD(.name = "x", .kind = RTR_FIELD_FLOAT, .float_bits = 16);
	BAD(.name = "x", .kind = 9);
	BAD(.name = "x", .kind = 0);
	BAD(.name = "1x", .kind = RTR_FIELD_STRING);
	BAD(.name = "a b", .kind = RTR_FIELD_STRING);
	BAD(.name = "x;}", .kind = RTR_FIELD_STRING);
	BAD(.name = "", .kind = RTR_FIELD_STRING);
	BAD(.name = "x", .kind = RTR_FIELD_SEQUENCE, .integer = INT(8, 0, 10),
	    .length_type = INT(32, 1, 10));
	BAD(.name = "x", .kind = RTR_FIELD_SEQUENCE, .integer = INT(8, 0, 10),
	    .length_type = INT(24, 0, 10));
	BAD(.name = "x", .kind = RTR_FIELD_ARRAY, .array_length = RTR_PROTO_MAX_ARRAY_LEN + 1,
	    .integer = INT(8, 0, 10));
	BAD(.name = "x", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10),
	    .enumeration = &bad_range_enum);
	BAD(.name = "x", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10),
	    .enumeration = &too_big_enum);
	BAD(.name = "x", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10),
	    .enumeration = &neg_enum);
	BAD(.name = "x", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10),
	    .enumeration = &quote_enum);
	BAD(.name = "x", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10),
	    .enumeration = &empty_enum);
	BAD(.name = "x", .kind = RTR_FIELD_ENUM, .integer = INT(8, 0, 10), .enumeration = NULL);
#undef BAD
	/* Signed container: -1 fits, and [-40, -1] is ordered. */
	{
		static const struct rtr_enum_entry ok[] = {{"NEG", (uint64_t)-128, (uint64_t)-1}};
		static const struct rtr_enum_desc ok_enum = {"p", "e", ok, 1};
		struct rtr_event_state st = {.reg_index = 1};
		struct rtr_field_desc g = {.name = "x",
					   .kind = RTR_FIELD_ENUM,
					   .integer = INT(8, 1, 10),
					   .enumeration = &ok_enum};
		struct rtr_event_desc ev = {.provider = "p",
					    .name = "e",
					    .fields = &g,
					    .nr_fields = 1,
					    .loglevel = 3,
					    .state = &st};
		const struct rtr_event_desc *in = &ev, **evs;
		struct rtr_proto_arena a;
		uint32_t done;

		REQUIRE(rtr_proto_enc_events(&out, 1, &in, 1, &done) == 0);
		rtr_proto_arena_init(&a, 0, 0);
		CHECK(decode_evs(&out, &a, &evs) == 0);
		rtr_proto_arena_free(&a);
		/* Bad names and levels at event level. */
		ev.name = "bad-name";
		REQUIRE(rtr_proto_enc_events(&out, 1, &in, 1, &done) == 0);
		rtr_proto_arena_init(&a, 0, 0);
		CHECK(decode_evs(&out, &a, &evs) == -EPROTO);
		rtr_proto_arena_free(&a);
		ev.name = "e";
		ev.loglevel = 15;
		REQUIRE(rtr_proto_enc_events(&out, 1, &in, 1, &done) == 0);
		rtr_proto_arena_init(&a, 0, 0);
		CHECK(decode_evs(&out, &a, &evs) == -EPROTO);
		rtr_proto_arena_free(&a);
		/* Duplicate field names. */
		{
			struct rtr_field_desc two[2] = {
			    {.name = "x", .kind = RTR_FIELD_STRING},
			    {.name = "x", .kind = RTR_FIELD_FLOAT, .float_bits = 32}};

			ev.loglevel = 3;
			ev.fields = two;
			ev.nr_fields = 2;
			REQUIRE(rtr_proto_enc_events(&out, 1, &in, 1, &done) == 0);
			rtr_proto_arena_init(&a, 0, 0);
			CHECK(decode_evs(&out, &a, &evs) == -EPROTO);
			CHECK(strstr(err, "repeated") != NULL);
			rtr_proto_arena_free(&a);
		}
	}
	/* One event alone larger than a message is refused at encoding. */
	{
		static struct rtr_enum_entry many[RTR_PROTO_MAX_ENUM_ENTRIES];
		static char labels[RTR_PROTO_MAX_ENUM_ENTRIES][24];
		struct rtr_enum_desc big = {"p", "big", many, RTR_PROTO_MAX_ENUM_ENTRIES};
		struct rtr_field_desc g = {.name = "x",
					   .kind = RTR_FIELD_ENUM,
					   .integer = INT(32, 0, 10),
					   .enumeration = &big};
		struct rtr_event_state st = {.reg_index = 1};
		struct rtr_event_desc ev = {.provider = "p",
					    .name = "e",
					    .fields = &g,
					    .nr_fields = 1,
					    .loglevel = 3,
					    .state = &st};
		const struct rtr_event_desc *in[2] = {&ev, &ev_empty};
		uint32_t done = 99;

		for (uint32_t i = 0; i < RTR_PROTO_MAX_ENUM_ENTRIES; i++) {
			snprintf(labels[i], sizeof(labels[i]), "LABEL_NUMBER_%u", i);
			many[i] = (struct rtr_enum_entry){labels[i], i, i};
		}
		CHECK(rtr_proto_enc_events(&out, 1, in, 2, &done) == -E2BIG);
		CHECK_EQ_U64(done, 0);
	}
}

/* ------------------------------------------------------------------------
 * Sockets
 * ------------------------------------------------------------------------ */

static int fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static void test_socket(void)
{
	int sv[2], fds[RTR_PROTO_MAX_FDS], efd[3];
	static uint8_t buf[RTR_PROTO_MAX_MSG];
	struct rtr_proto_msg m;
	struct rtr_proto_channel_buffers b = {.chan_handle = 1, .first = 0, .count = 3};
	unsigned n;
	ssize_t len;

	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	for (int i = 0; i < 3; i++)
		REQUIRE((efd[i] = eventfd(0, EFD_CLOEXEC)) >= 0);
	REQUIRE(rtr_proto_enc_channel_buffers(&out, 11, &b) == 0);
	REQUIRE(rtr_proto_send(sv[0], &out, efd, 3, 0) == 0);
	len = rtr_proto_recv(sv[1], buf, sizeof(buf), fds, &n, 0);
	REQUIRE(len == (ssize_t)out.len);
	CHECK_EQ_U64(n, 3);
	REQUIRE(rtr_proto_parse(buf, (size_t)len, n, &m, err, sizeof(err)) == 0);
	CHECK_EQ_U64(m.hdr.seq, 11);
	for (unsigned i = 0; i < n; i++)
		CHECK((fcntl(fds[i], F_GETFD) & FD_CLOEXEC) != 0);
	rtr_proto_close_fds(fds, n);

	/* A datagram bigger than the receive buffer: error, fds closed. */
	REQUIRE(rtr_proto_send(sv[0], &out, efd, 3, 0) == 0);
	len = rtr_proto_recv(sv[1], buf, 10, fds, &n, 0);
	CHECK(len == -EMSGSIZE);
	CHECK_EQ_U64(n, 0);
	{
		/* The fds it received were closed: the lowest free fd numbers
		 * are reused right away. */
		int probe = eventfd(0, EFD_CLOEXEC);

		CHECK(probe >= 0 && probe < efd[0] + 8);
		close(probe);
	}

	/* Nothing pending: -EAGAIN with MSG_DONTWAIT. */
	CHECK(rtr_proto_recv(sv[1], buf, sizeof(buf), fds, &n, MSG_DONTWAIT) == -EAGAIN);
	/* Peer gone: 0 (end), and sending never raises SIGPIPE. */
	close(sv[1]);
	CHECK(rtr_proto_send(sv[0], &out, efd, 3, 0) == -EPIPE);
	CHECK(rtr_proto_send(sv[0], &out, efd, RTR_PROTO_MAX_FDS + 1, 0) == -EMSGSIZE);
	close(sv[0]);
	for (int i = 0; i < 3; i++) {
		CHECK(fd_open(efd[i]));
		close(efd[i]);
	}
	/* Waiting with a deadline in the past returns at once. */
	REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(rtr_proto_wait(sv[0], POLLIN, rtr_proto_now_ns() + 20000000u) == 0);
	REQUIRE(rtr_proto_enc_ready(&out, 1, 0) == 0);
	REQUIRE(rtr_proto_send(sv[1], &out, NULL, 0, 0) == 0);
	CHECK(rtr_proto_wait(sv[0], POLLIN, rtr_proto_now_ns() + 1000000000u) > 0);
	close(sv[0]);
	close(sv[1]);
}

/* ------------------------------------------------------------------------
 * Fuzz seeds
 * ------------------------------------------------------------------------ */

static void write_seed(const char *dir, const char *name, unsigned nfds, struct rtr_proto_out *o)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	REQUIRE(f);
	fputc((int)nfds, f);
	fwrite(o->data, 1, o->len, f);
	fclose(f);
}

static void write_seeds(const char *dir)
{
	struct rtr_proto_hello h = {.event_abi_major = 1,
				    .ring_abi_major = 1,
				    .pid = 77,
				    .ppid = 1,
				    .caps = 7,
				    .nr_cpus = 4,
				    .word_bits = 64,
				    .byte_order = 1,
				    .procname = "app",
				    .runtime_version = "0.1.0"};
	struct rtr_proto_session s = {.session_id = 1, .clock_source = 1, .name = "record"};
	struct rtr_proto_channel c = {.session_id = 1,
				      .chan_handle = 1,
				      .client_id = 1,
				      .nr_bufs = 4,
				      .flags = 1,
				      .num_subbuf = 4,
				      .subbuf_size = 262144,
				      .name = "channel0"};
	struct rtr_proto_channel_buffers b = {.chan_handle = 1, .first = 0, .count = 4};
	struct rtr_proto_enable_entry en[2] = {{0, 1, 0}, {1, 1, 1}};
	const struct rtr_event_desc *evs[2] = {&ev_all, &ev_empty};
	uint32_t done;

	mkdir(dir, 0755);
	REQUIRE(rtr_proto_enc_hello(&out, 1, &h) == 0);
	write_seed(dir, "hello", 1, &out);
	REQUIRE(rtr_proto_enc_session(&out, 2, &s) == 0);
	write_seed(dir, "session", 0, &out);
	REQUIRE(rtr_proto_enc_channel(&out, 3, &c) == 0);
	write_seed(dir, "channel", 1, &out);
	REQUIRE(rtr_proto_enc_channel_buffers(&out, 4, &b) == 0);
	write_seed(dir, "buffers", 4, &out);
	REQUIRE(rtr_proto_enc_enable(&out, 5, en, 2) == 0);
	write_seed(dir, "enable", 0, &out);
	REQUIRE(rtr_proto_enc_ref(&out, RTR_MSG_START, 6, 1) == 0);
	write_seed(dir, "start", 0, &out);
	REQUIRE(rtr_proto_enc_close_channel(&out, 7, 1) == 0);
	write_seed(dir, "close_channel", 0, &out);
	REQUIRE(rtr_proto_enc_ready(&out, 8, 0) == 0);
	write_seed(dir, "ready", 0, &out);
	REQUIRE(rtr_proto_enc_reply(&out, 9, RTR_MSG_CHANNEL, -22, "bad channel") == 0);
	write_seed(dir, "reply", 0, &out);
	REQUIRE(rtr_proto_enc_register_reply(&out, 10, 0, en, 2) == 0);
	write_seed(dir, "register_reply", 0, &out);
	REQUIRE(rtr_proto_enc_events(&out, 11, evs, 2, &done) == 0);
	write_seed(dir, "register_events", 0, &out);
	REQUIRE(rtr_proto_enc_events(&out, 12, evs + 1, 1, &done) == 0);
	write_seed(dir, "register_events_empty", 0, &out);
}

static int replay_seeds(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	REQUIRE(d);
	while ((e = readdir(d))) {
		char path[4096];
		static uint8_t data[RTR_PROTO_MAX_MSG + 64];
		FILE *f;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		len = fread(data, 1, sizeof(data), f);
		fclose(f);
		rtr_proto_fuzz_one(data, len);
		n++;
	}
	closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
		write_seeds(argv[2]);
		return 0;
	}
	test_roundtrip();
	test_header();
	test_strings();
	test_enables_bounds();
	test_events();
	test_bad_events();
	test_socket();
	if (argc == 3 && !strcmp(argv[1], "--seeds")) {
		int n = replay_seeds(argv[2]);

		CHECK(n >= 12);
		printf("replayed %d fuzz seeds\n", n);
	}
	return rtr_test_done("proto_test");
}
