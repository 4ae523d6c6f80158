/* Unit tests of the probes RTR_DEFINE_PROBES generates (docs/design/
 * tracepoints.md): registration by constructors, arguments not evaluated
 * while disabled and once when enabled, the exact bytes of each field kind
 * through every CTF ring client (inline and out-of-line), 96 bits for one
 * uint64_t field, NULL/empty strings, clamped sequence lengths, records
 * larger than a sub-buffer dropped and counted. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysinfo.h>

#define RTR_DEFINE_PROBES
#include "ut_tp.h"
#undef RTR_DEFINE_PROBES

#include "ctf-writer.h"
#include "registry.h"
#include "rtr_test.h"

static uint32_t ncpus;
static int calls;

static bool rseq_ok(void)
{
#if RTR_HAVE_RSEQ
	return rtr_rseq_registered();
#else
	return false;
#endif
}

static uint64_t next_value(void)
{
	return (uint64_t)++calls;
}

static const struct rtr_event_desc *find(const char *name)
{
	const struct rtr_event_desc *found = NULL;

	rtr__registry_lock();
	for (struct rtr_provider *p = rtr__registry_first_locked(); p; p = p->next)
		for (uint32_t i = 0; i < p->nr_events; i++)
			if (!strcmp(p->events[i]->provider, "ut") &&
			    !strcmp(p->events[i]->name, name))
				found = p->events[i];
	rtr__registry_unlock();
	return found;
}

struct chan {
	uint32_t client;
	const struct rtr_ring_config *cfg;
	struct rtr_ring_chan *chan;
	struct rtr_ctf_stream_priv priv;
};

static void chan_open(struct chan *c, uint32_t client, uint64_t subbuf)
{
	struct rtr_ring_geometry geo = {.subbuf_size = subbuf, .num_subbuf = 4};
	uint32_t n;

	c->client = client;
	c->cfg = rtr_ctf_host_config(client);
	REQUIRE(c->cfg != NULL);
	n = c->cfg->alloc == RTR_RING_ALLOC_GLOBAL ? 1 : ncpus;
	c->chan = rtr_ring_chan_alloc(n);
	REQUIRE(c->chan != NULL);
	memset(&c->priv, 0, sizeof(c->priv));
	c->priv.stream_class_id = client;
	for (uint32_t i = 0; i < n; i++) {
		REQUIRE(rtr_ring_buf_create(c->cfg, &geo, i, "ut", &c->chan->bufs[i]) == 0);
		c->chan->bufs[i]->client_priv = &c->priv;
	}
}

static void chan_close(struct chan *c)
{
	for (uint32_t i = 0; i < c->chan->nr_bufs; i++)
		rtr_ring_buf_destroy(c->chan->bufs[i]);
	rtr_ring_chan_free(c->chan);
}

static void bind(const char *name, struct chan *c, uint32_t id)
{
	const struct rtr_event_desc *ev = find(name);
	struct rtr_event_binding b = {.chan = c->chan, .event_id = id, .client = c->client};

	REQUIRE(ev != NULL);
	rtr__registry_lock();
	CHECK_EQ_I64(rtr__registry_bind_locked(ev->state->reg_index, &b), 0);
	rtr__registry_unlock();
}

static void unbind_all(void)
{
	rtr__registry_lock();
	rtr__registry_unbind_all_locked();
	rtr__registry_unlock();
}

/* Everything the channel holds, flushed, as one byte string of records
 * (packet headers checked and stripped). Pinned threads write one buffer. */
static size_t collect(struct chan *c, unsigned char *out, size_t cap, uint64_t *packets)
{
	size_t n = 0;

	*packets = 0;
	for (uint32_t i = 0; i < c->chan->nr_bufs; i++) {
		struct rtr_ring_subbuf sb;

		CHECK_EQ_I64(rtr_ring_flush(c->cfg, c->chan->bufs[i], RTR_RING_FLUSH_ACTIVE, true),
			     0);
		while (rtr_ring_get_subbuf(c->cfg, c->chan->bufs[i], &sb) == 0) {
			uint32_t magic, sid;
			uint64_t content;

			memcpy(&magic, sb.data, 4);
			memcpy(&sid, sb.data + 20, 4);
			memcpy(&content, sb.data + 48, 8);
			CHECK_EQ_U64(magic, RTR_CTF_PACKET_MAGIC);
			CHECK_EQ_U64(sid, c->client);
			CHECK_EQ_U64(content, sb.len * 8);
			REQUIRE(n + sb.len - RTR_CTF_PACKET_HEADER_SIZE <= cap);
			memcpy(out + n, sb.data + RTR_CTF_PACKET_HEADER_SIZE,
			       sb.len - RTR_CTF_PACKET_HEADER_SIZE);
			n += sb.len - RTR_CTF_PACKET_HEADER_SIZE;
			(*packets)++;
			rtr_ring_put_subbuf(c->cfg, c->chan->bufs[i]);
		}
	}
	return n;
}

/* Reads one event header at *p; returns the id, advances *p. */
static uint32_t take_header(const unsigned char **p, bool *extended)
{
	uint32_t w, id;

	memcpy(&w, *p, 4);
	if ((w & 31) != 31) {
		*extended = false;
		*p += 4;
		return w & 31;
	}
	*extended = true;
	memcpy(&id, *p + 1, 4);
	*p += 13;
	return id;
}

static void expect(const unsigned char **p, const unsigned char *end, uint32_t id,
		   const void *payload, size_t len, const char *what)
{
	bool ext;
	uint32_t got;

	if (*p + 4 > end) {
		fprintf(stderr, "%s: record missing\n", what);
		CHECK(0);
		return;
	}
	got = take_header(p, &ext);
	if (got != id || ext != (id > 30) || *p + len > end || memcmp(*p, payload, len) != 0) {
		fprintf(stderr, "%s: id %u (want %u), extended %d, payload mismatch %d\n", what,
			got, id, ext, *p + len > end || memcmp(*p, payload, len) != 0);
		CHECK(0);
	}
	*p += len;
}

static const char *const names[] = {"one", "str", "seq8", "arr", "net", "mixed", "noargs"};

static void test_client(uint32_t client, uint32_t id_base)
{
	static unsigned char buf[1 << 16], want[2048];
	struct chan c;
	const unsigned char *p, *end;
	uint32_t p32[300];
	int16_t a3[3] = {1, -2, 3};
	uint8_t blob[3] = {1, 2, 3};
	uint64_t packets, v64 = 0x1122334455667788ull;
	size_t n, w;

	for (int i = 0; i < 300; i++)
		p32[i] = 0x01000000u + (uint32_t)i;
	chan_open(&c, client, 8192);
	for (uint32_t i = 0; i < RTR_ARRAY_SIZE(names); i++)
		bind(names[i], &c, id_base + i);

	rtr_tracepoint(ut, one, v64);
	rtr_tracepoint(ut, str, NULL);
	rtr_tracepoint(ut, str, "");
	rtr_tracepoint(ut, str, "hello");
	rtr_tracepoint(ut, seq8, p32, 300); /* uint8_t length: 255 elements */
	rtr_tracepoint(ut, seq8, NULL, 5);  /* NULL: empty */
	rtr_tracepoint(ut, arr, NULL);	    /* NULL: zeros */
	rtr_tracepoint(ut, arr, a3);
	rtr_tracepoint(ut, net, 0x01020304u);
	rtr_tracepoint(ut, mixed, 7, 2.5, "abcdef", blob, 3);
	rtr_tracepoint(ut, noargs);
	unbind_all();
	rtr_tracepoint(ut, one, 99); /* disabled again: not recorded */

	n = collect(&c, buf, sizeof(buf), &packets);
	CHECK_EQ_U64(packets, 1);
	p = buf;
	end = buf + n;
	expect(&p, end, id_base + 0, &v64, 8, "one");
	expect(&p, end, id_base + 1, "(null)", 7, "str NULL");
	expect(&p, end, id_base + 1, "", 1, "str empty");
	expect(&p, end, id_base + 1, "hello", 6, "str");
	want[0] = 255;
	memcpy(want + 1, p32, 255 * 4);
	expect(&p, end, id_base + 2, want, 1 + 255 * 4, "seq8 clamped");
	want[0] = 0;
	expect(&p, end, id_base + 2, want, 1, "seq8 NULL");
	memset(want, 0, 6);
	expect(&p, end, id_base + 3, want, 6, "arr NULL");
	expect(&p, end, id_base + 3, a3, 6, "arr");
	{
		static const unsigned char be[6] = {1, 2, 3, 4, 3, 4};

		expect(&p, end, id_base + 4, be, 6, "net");
	}
	{
		double d = 2.5;
		float f = 2.5f;
		uint32_t bl = 3;

		w = 0;
		want[w++] = 7;
		memcpy(want + w, &d, 8), w += 8;
		memcpy(want + w, &f, 4), w += 4;
		memcpy(want + w, "abcdef", 7), w += 7;
		memcpy(want + w, &bl, 4), w += 4;
		memcpy(want + w, blob, 3), w += 3;
		memcpy(want + w, "abcd", 4), w += 4;
		expect(&p, end, id_base + 5, want, w, "mixed");
	}
	expect(&p, end, id_base + 6, want, 0, "noargs");
	CHECK(p == end);
	chan_close(&c);
}

/* One uint64_t field, compact header: the packet grows by 96 bits. */
static void test_96_bits(void)
{
	struct chan c;
	unsigned char buf[256];
	uint64_t packets;

	chan_open(&c, RTR_CTF_CLIENT_INLINE, 4096);
	bind("one", &c, 0);
	rtr_tracepoint(ut, one, 42);
	unbind_all();
	CHECK_EQ_U64(collect(&c, buf, sizeof(buf), &packets) * 8, 96);
	CHECK_EQ_U64(packets, 1);
	chan_close(&c);
}

/* Arguments are evaluated only when enabled, and once however many
 * channels the event is bound to. */
static void test_evaluation(void)
{
	struct chan a, b;
	unsigned char buf[256];
	uint64_t packets, v;

	calls = 0;
	rtr_tracepoint(ut, one, next_value());
	CHECK_EQ_I64(calls, 0);
	CHECK(!rtr_tracepoint_enabled(ut, one));

	chan_open(&a, RTR_CTF_CLIENT_INLINE, 4096);
	chan_open(&b, RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC, 4096);
	bind("one", &a, 1);
	bind("one", &b, 2);
	CHECK(rtr_tracepoint_enabled(ut, one));
	rtr_tracepoint(ut, one, next_value());
	CHECK_EQ_I64(calls, 1);
	unbind_all();
	CHECK(!rtr_tracepoint_enabled(ut, one));
	CHECK_EQ_U64(collect(&a, buf, sizeof(buf), &packets), 12);
	memcpy(&v, buf + 4, 8);
	CHECK_EQ_U64(v, 1);
	CHECK_EQ_U64(collect(&b, buf, sizeof(buf), &packets), 12);
	memcpy(&v, buf + 4, 8);
	CHECK_EQ_U64(v, 1);
	chan_close(&a);
	chan_close(&b);
}

/* A record larger than a sub-buffer is dropped and counted, never written. */
static void test_too_big(void)
{
	struct chan c;
	unsigned char buf[8192];
	uint64_t packets, lost = 0;
	char *big = malloc(10000);

	REQUIRE(big != NULL);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	chan_open(&c, RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC, 4096);
	bind("str", &c, 1);
	rtr_tracepoint(ut, str, big);
	rtr_tracepoint(ut, str, "ok");
	unbind_all();
	for (uint32_t i = 0; i < c.chan->nr_bufs; i++) {
		struct rtr_ring_stats st;

		rtr_ring_buf_stats(c.chan->bufs[i], &st);
		lost += st.lost_big;
	}
	CHECK_EQ_U64(lost, 1);
	CHECK_EQ_U64(collect(&c, buf, sizeof(buf), &packets), 4 + 3); /* only "ok" */
	CHECK(memcmp(buf + 4, "ok", 3) == 0);
	chan_close(&c);
	free(big);
}

/* The string copy keeps the record's size if the string got shorter
 * since its length was taken (another thread wrote it). */
static void test_put_str(void)
{
	char src[8] = "abc\0ef", dst[16];
	char *end;

	memset(dst, 0x55, sizeof(dst));
	end = rtr__tp_put_str(dst, src, 6);
	CHECK(end == dst + 7);
	CHECK(memcmp(dst, "abc###", 7) == 0);
	CHECK_EQ_U64((unsigned char)dst[7], 0x55);
}

int main(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	ncpus = (uint32_t)get_nprocs_conf();
	/* Pinned: the records of one pass land in one per-CPU buffer, in order. */
	CPU_ZERO(&set);
	CPU_SET(cpu < 0 ? 0 : cpu, &set);
	CHECK(sched_setaffinity(0, sizeof(set), &set) == 0);

	/* The constructors registered provider "ut" with its 7 events. */
	{
		const struct rtr_event_desc *one = find("one");

		REQUIRE(one != NULL);
		CHECK_EQ_U64(one->nr_fields, 1);
		CHECK_EQ_I64(one->loglevel, RTR_LOGLEVEL_NONE);
		CHECK_STR_EQ(one->fields[0].name, "v");
		CHECK_EQ_U64(one->fields[0].integer.size_bits, 64);
		CHECK(find("noargs") != NULL && find("noargs")->nr_fields == 0);
		CHECK_EQ_U64(find("mixed")->nr_fields, 6);
		CHECK_EQ_U64(find("net")->fields[0].integer.byte_order, RTR_BYTE_ORDER_BE);
		CHECK_EQ_U64(find("net")->fields[1].integer.is_signed, 1);
		CHECK_EQ_U64(find("seq8")->fields[0].length_type.size_bits, 8);
	}

	test_put_str();
	test_evaluation();
	test_96_bits();
	test_too_big();
	for (uint32_t client = 1; client <= RTR_CTF_CLIENT_MAX; client++) {
		const struct rtr_ring_config *cfg = rtr_ctf_host_config(client);

		if (cfg->sync == RTR_RING_SYNC_RSEQ && !rseq_ok()) {
			printf("client %u: no rseq here, skipped\n", client);
			continue;
		}
		test_client(client, 3);	 /* compact headers */
		test_client(client, 40); /* extended headers (ids > 30) */
	}
	return rtr_test_done("test_ctf_probe");
}
