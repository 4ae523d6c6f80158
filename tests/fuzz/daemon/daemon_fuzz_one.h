/* One fuzz input through the session daemon's parsers (shared by the
 * libFuzzer harnesses and by tests/unit/filter, which replays the seeds). */
#ifndef DAEMON_FUZZ_ONE_H
#define DAEMON_FUZZ_ONE_H
#include <stddef.h>
#include <stdint.h>

/* Filters: byte 0 chooses the path (even: the bytes are bytecode for the
 * fixed test event, verified and, when accepted, run; odd: the bytes are an
 * expression, parsed, compiled for the event — the compiler's output must
 * always verify — and run). */
int rtr_filter_fuzz_one(const uint8_t *data, size_t size);
/* Control messages and the armed-sessions file: parsed; what parses
 * re-encodes to something that parses to the same. */
int rtr_ctl_fuzz_one(const uint8_t *data, size_t size);

#endif
