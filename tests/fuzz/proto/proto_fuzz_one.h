/* One fuzz input through the control protocol's decoders; see
 * proto_fuzz_one.c. Aborts when a property is violated. */
#ifndef RTR_PROTO_FUZZ_ONE_H
#define RTR_PROTO_FUZZ_ONE_H

#include <stddef.h>
#include <stdint.h>

int rtr_proto_fuzz_one(const uint8_t *data, size_t size);

#endif
