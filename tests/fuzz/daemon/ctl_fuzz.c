/* libFuzzer harness: control protocol decoder (lib/proto ctl.c) and the
 * armed-sessions file decoder (armed.c). Seeds: corpus_ctl/. */
#include "daemon_fuzz_one.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return rtr_ctl_fuzz_one(data, size);
}
