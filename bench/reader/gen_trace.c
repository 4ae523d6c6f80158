/* Benchmark trace generator: writes a CTF 1.8 trace in LTTng's layout
 * (compact 5/27-bit event header, byte-packed fields, packet context with
 * cpu_id) with mixed events across N per-CPU streams.
 * Usage: rtr_bench_gen_trace OUTDIR EVENTS [STREAMS] */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PKT_SIZE  (1u << 20)
#define HDR_BYTES 84 /* header 40 + context 44 (see metadata) */

static const char metadata[] =
    "/* CTF 1.8 */\n"
    "typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"
    "typealias integer { size = 16; align = 8; signed = false; } := uint16_t;\n"
    "typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"
    "typealias integer { size = 64; align = 8; signed = false; } := uint64_t;\n"
    "typealias integer { size = 64; align = 8; signed = false; base = 16; } := uint64_hex_t;\n"
    "typealias integer { size = 5; align = 1; signed = false; } := uint5_t;\n"
    "typealias integer { size = 27; align = 1; signed = false; map = clock.monotonic.value; } := "
    "uint27_clock_monotonic_t;\n"
    "typealias integer { size = 64; align = 8; signed = false; map = clock.monotonic.value; } := "
    "uint64_clock_monotonic_t;\n"
    "trace {\n"
    "	major = 1;\n"
    "	minor = 8;\n"
    "	uuid = \"5a1e5bbb-6f2a-4c1e-9a57-2f4e0b1d7c11\";\n"
    "	byte_order = le;\n"
    "	packet.header := struct {\n"
    "		uint32_t magic;\n"
    "		uint8_t  uuid[16];\n"
    "		uint32_t stream_id;\n"
    "		uint64_t stream_instance_id;\n"
    "	};\n"
    "};\n"
    "env {\n"
    "	hostname = \"benchhost\";\n"
    "	domain = \"ust\";\n"
    "	tracer_name = \"ringtrace-bench\";\n"
    "	tracer_major = 0;\n"
    "	tracer_minor = 1;\n"
    "};\n"
    "clock {\n"
    "	name = \"monotonic\";\n"
    "	uuid = \"0d0b4c2a-5f5e-4d7b-8a64-2b9f0c8e7a11\";\n"
    "	description = \"Monotonic Clock\";\n"
    "	freq = 1000000000;\n"
    "	offset = 1764000000000000000;\n"
    "};\n"
    "struct packet_context {\n"
    "	uint64_clock_monotonic_t timestamp_begin;\n"
    "	uint64_clock_monotonic_t timestamp_end;\n"
    "	uint64_t content_size;\n"
    "	uint64_t packet_size;\n"
    "	uint64_t packet_seq_num;\n"
    "	uint64_t events_discarded;\n"
    "	uint32_t cpu_id;\n"
    "};\n"
    "struct event_header_compact {\n"
    "	enum : uint5_t { compact = 0 ... 30, extended = 31 } id;\n"
    "	variant <id> {\n"
    "		struct { uint27_clock_monotonic_t timestamp; } compact;\n"
    "		struct { uint32_t id; uint64_clock_monotonic_t timestamp; } extended;\n"
    "	} v;\n"
    "} align(8);\n"
    "stream {\n"
    "	id = 0;\n"
    "	event.header := struct event_header_compact;\n"
    "	packet.context := struct packet_context;\n"
    "};\n"
    "event { name = \"bench:tick\"; id = 0; stream_id = 0; loglevel = 13;\n"
    "	fields := struct { uint64_t _seq; }; };\n"
    "event { name = \"bench:pair\"; id = 1; stream_id = 0; loglevel = 13;\n"
    "	fields := struct { integer { size = 32; align = 8; signed = true; } _a; uint32_t _b; }; "
    "};\n"
    "event { name = \"bench:msg\"; id = 2; stream_id = 0; loglevel = 13;\n"
    "	fields := struct { string _msg; uint16_t _len; }; };\n"
    "event { name = \"bench:blob\"; id = 3; stream_id = 0; loglevel = 13;\n"
    "	fields := struct { uint8_t __data_length; integer { size = 8; align = 8; signed = false; "
    "base = 16; } _data[ __data_length ]; }; };\n"
    "event { name = \"bench:sample\"; id = 4; stream_id = 0; loglevel = 13;\n"
    "	fields := struct { floating_point { exp_dig = 11; mant_dig = 53; align = 8; } _value; "
    "uint64_hex_t _addr; }; };\n";

static const uint8_t uuid[16] = {0x5a, 0x1e, 0x5b, 0xbb, 0x6f, 0x2a, 0x4c, 0x1e,
				 0x9a, 0x57, 0x2f, 0x4e, 0x0b, 0x1d, 0x7c, 0x11};

struct out {
	FILE *f;
	uint8_t *pkt;
	size_t len;
	uint64_t seq, ts, ts_begin, last_full_ts;
	uint32_t cpu;
	uint64_t events;
};

static void put(uint8_t *p, const void *v, size_t n)
{
	memcpy(p, v, n);
}

static void begin_packet(struct out *o)
{
	uint32_t magic = 0xC1FC1FC1, sid = 0;
	uint64_t inst = o->cpu;

	memset(o->pkt, 0, PKT_SIZE);
	put(o->pkt, &magic, 4);
	put(o->pkt + 4, uuid, 16);
	put(o->pkt + 20, &sid, 4);
	put(o->pkt + 24, &inst, 8);
	o->len = HDR_BYTES;
	o->ts_begin = o->ts;
	o->last_full_ts = o->ts;
}

static void end_packet(struct out *o)
{
	uint64_t content = o->len * 8, psize = PKT_SIZE * 8ull, zero = 0;

	put(o->pkt + 32, &o->ts_begin, 8);
	put(o->pkt + 40, &o->ts, 8);
	put(o->pkt + 48, &content, 8);
	put(o->pkt + 56, &psize, 8);
	put(o->pkt + 64, &o->seq, 8);
	put(o->pkt + 72, &zero, 8);
	put(o->pkt + 80, &o->cpu, 4);
	if (fwrite(o->pkt, 1, PKT_SIZE, o->f) != PKT_SIZE) {
		perror("write");
		exit(1);
	}
	o->seq++;
}

static uint64_t rng = 88172645463325252ull;

static uint64_t xr(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void event(struct out *o, unsigned id, const uint8_t *payload, size_t n)
{
	uint8_t *p;
	size_t need = 13 + n;

	if (o->len + need > PKT_SIZE) {
		end_packet(o);
		begin_packet(o);
	}
	p = o->pkt + o->len;
	if (o->ts - o->last_full_ts < (1u << 27)) {
		uint32_t h = (uint32_t)(id | ((o->ts & ((1u << 27) - 1)) << 5));

		put(p, &h, 4);
		o->len += 4;
	} else {
		uint32_t eid = id;

		p[0] = 31;
		put(p + 1, &eid, 4);
		put(p + 5, &o->ts, 8);
		o->len += 13;
	}
	o->last_full_ts = o->ts;
	memcpy(o->pkt + o->len, payload, n);
	o->len += n;
	o->events++;
}

int main(int argc, char **argv)
{
	char path[4096];
	uint64_t n, per;
	unsigned nstreams;
	struct out *outs;
	FILE *m;
	static const char *words[] = {"open",  "read /etc/passwd",	"write 4096 bytes",
				      "close", "mmap anonymous region", "poll timeout"};

	if (argc < 3) {
		fprintf(stderr, "usage: %s OUTDIR EVENTS [STREAMS]\n", argv[0]);
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	nstreams = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
	if (!nstreams)
		nstreams = 2;
	if (mkdir(argv[1], 0755) && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/metadata", argv[1]);
	m = fopen(path, "w");
	if (!m || fputs(metadata, m) < 0 || fclose(m)) {
		perror(path);
		return 1;
	}
	outs = calloc(nstreams, sizeof(*outs));
	if (!outs)
		return 1;
	for (unsigned s = 0; s < nstreams; s++) {
		snprintf(path, sizeof(path), "%s/chan_%u", argv[1], s);
		outs[s].f = fopen(path, "w");
		outs[s].pkt = malloc(PKT_SIZE);
		outs[s].cpu = s;
		outs[s].ts = 1000000 + s * 7;
		if (!outs[s].f || !outs[s].pkt) {
			perror(path);
			return 1;
		}
		begin_packet(&outs[s]);
	}
	per = n / nstreams;
	for (uint64_t i = 0; i < per; i++) {
		for (unsigned s = 0; s < nstreams; s++) {
			struct out *o = &outs[s];
			uint8_t pl[300];
			uint64_t r = xr();
			unsigned kind = (unsigned)(r % 16);
			size_t len;

			o->ts += 50 + (r >> 40) % 400;
			if ((r >> 20) % 100000 == 0)
				o->ts += 200000000; /* idle gap: forces extended headers */
			if (kind < 6) {
				put(pl, &i, 8);
				event(o, 0, pl, 8);
			} else if (kind < 10) {
				int32_t a = (int32_t)(r >> 8);
				uint32_t b = (uint32_t)(r >> 32);

				put(pl, &a, 4);
				put(pl, &b, 4);
				event(o, 1, pl, 8);
			} else if (kind < 12) {
				const char *w = words[(r >> 16) % 6];
				uint16_t l;

				len = strlen(w) + 1;
				memcpy(pl, w, len);
				l = (uint16_t)len;
				put(pl + len, &l, 2);
				event(o, 2, pl, len + 2);
			} else if (kind < 14) {
				uint8_t dl = (uint8_t)((r >> 24) % 12);

				pl[0] = dl;
				for (unsigned k = 0; k < dl; k++)
					pl[1 + k] = (uint8_t)(r >> (k * 5));
				event(o, 3, pl, 1 + dl);
			} else {
				double d = (double)(r >> 11) / 9007199254740992.0 * 1000.0;
				uint64_t addr = 0x7f0000000000ull + (r & 0xffffff0);

				put(pl, &d, 8);
				put(pl + 8, &addr, 8);
				event(o, 4, pl, 16);
			}
		}
	}
	for (unsigned s = 0; s < nstreams; s++) {
		end_packet(&outs[s]);
		fclose(outs[s].f);
		free(outs[s].pkt);
	}
	{
		uint64_t tot = 0;

		for (unsigned s = 0; s < nstreams; s++)
			tot += outs[s].events;
		printf("%" PRIu64 "\n", tot);
	}
	free(outs);
	return 0;
}
