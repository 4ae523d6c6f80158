/* libFuzzer harness: packet and event decoding, merge and the babeltrace2
 * text printer (sequential or parallel) with the debug-info stage on every
 * other input (docs/design/debuginfo.md), the Chrome JSON writer (tracks,
 * begin/end pairing), and the stats scan. Input: u32
 * (LE) metadata length, metadata, stream bytes. See docs/design/reader.md. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "iter/iter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int devnull = -1;
static FILE *errnull;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtr_reader *r;
	struct rtr_text *t;
	struct rtr_text_options o;
	struct rtr_msg m;
	struct rtr_error err = {0};
	uint32_t mlen;
	int n = 0;

	if (size < 4)
		return 0;
	mlen = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
	       (uint32_t)data[3] << 24;
	data += 4;
	size -= 4;
	if (mlen > size)
		return 0;
	if (devnull < 0) {
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
		errnull = fopen("/dev/null", "w");
		setenv("RTR_PARALLEL", "1", 1); /* rtr_text_drain() below */
	}
	if (rtr__reader_open_mem(data, mlen, data + mlen, size - mlen, NULL, &r, &err))
		return 0;
	if (size & 2) {
		/* statedump events name files: the stage opens only regular
		 * ones; a trace cannot make it block or read a device */
		struct rtr_debuginfo_options dio = {.full_path = (size & 4) != 0};

		rtr_reader_debuginfo(r, &dio, &err);
	}
	memset(&o, 0, sizeof(o));
	o.names = RTR_TEXT_NAME_PAYLOAD | RTR_TEXT_NAME_CONTEXT | RTR_TEXT_NAME_SCOPE;
	o.fields = 0xff;
	o.clock_gmt = true;
	rtr_text_create(r, devnull, errnull ? errnull : stderr, &o, &t);
	if (t && (size & 1)) {
		/* the parallel printer (helper thread, batches) */
		rtr_text_drain(t, r, NULL, &err);
	} else {
		/* bounded: at most 100000 messages per input */
		while (t && n++ < 100000 && rtr_reader_next(r, &m) == RTR_NEXT_OK)
			rtr_text_print(t, &m);
	}
	rtr_text_destroy(t);
	rtr_reader_close(r);
	/* the stats scan: decoding without values, whole packets at once */
	{
		struct rtr_reader_options so;

		memset(&so, 0, sizeof(so));
		so.skip_values = true;
		if (rtr__reader_open_mem(data, mlen, data + mlen, size - mlen, &so, &r, &err))
			return 0;
		for (size_t i = 0; i < rtr_reader_stream_count(r); i++) {
			struct rtr_stream_stats st;
			uint64_t cls[64];

			memset(&st, 0, sizeof(st));
			if (rtr_reader_class_count(r) <= 64)
				st.class_events = cls;
			memset(cls, 0, sizeof(cls));
			rtr_reader_scan_stream(r, i, &st, &err);
		}
		rtr_reader_close(r);
	}
	/* the salvage of a packet cut short (ringtrace recover): bounded by
	 * the bytes given, whatever their header claims */
	{
		struct rtr_packet_salvage sv;

		if (rtr_reader_salvage_packet((const char *)data, mlen, data + mlen, size - mlen, &sv,
					      &err) == 0 &&
		    sv.end_bytes > size - mlen)
			abort();
	}
	/* the JSON writer: processes, threads, slices of whatever the trace
	 * holds (bounded as above) */
	if (errnull && !rtr__reader_open_mem(data, mlen, data + mlen, size - mlen, NULL, &r, &err)) {
		struct rtr_json *j = NULL;

		n = 0;
		if (!rtr_json_create(r, errnull, &j))
			while (n++ < 100000 && rtr_reader_next(r, &m) == RTR_NEXT_OK &&
			       !rtr_json_print(j, &m))
				;
		rtr_json_destroy(j);
		rtr_reader_close(r);
	}
	return 0;
}
