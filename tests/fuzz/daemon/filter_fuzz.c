/* libFuzzer harness: filter bytecode verifier/interpreter and expression
 * compiler (lib/proto filter.c, fexpr.c). Seeds: corpus_filter/. */
#include "daemon_fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return rtr_filter_fuzz_one(data, size);
}
