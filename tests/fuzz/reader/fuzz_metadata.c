/* libFuzzer harness: metadata decoding (plain and packetized), TSDL
 * parsing and decode-plan compilation on arbitrary bytes.
 * See docs/design/reader.md. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "compile/compile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtr__trace_class tc;
	struct rtr__trace_code code;
	struct rtr_error e = {0};
	char *text = NULL;
	size_t len = 0;
	int pkt_bo;

	if (rtr__metadata_decode(data, size, "fuzz", &text, &len, &pkt_bo, &e))
		return 0;
	memset(&tc, 0, sizeof(tc));
	memset(&code, 0, sizeof(code));
	if (rtr__tsdl_parse(&tc, text, len, "fuzz", &e) == 0)
		(void)rtr__code_build(&code, &tc, &e);
	rtr__code_free(&code);
	rtr__trace_class_free(&tc);
	free(text);
	return 0;
}
