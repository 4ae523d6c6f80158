/* libFuzzer harness for the control protocol's message and event
 * description decoders (lib/proto). Seeds: tests/fuzz/proto/corpus/. */
#include <stddef.h>
#include <stdint.h>

#include "proto_fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return rtr_proto_fuzz_one(data, size);
}
