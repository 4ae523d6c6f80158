/* Private data structures of the CTF reader: trace class model, decode
 * plans, stream iterators. See docs/design/reader.md. */
#ifndef RTR_READER_INTERNAL_H
#define RTR_READER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringtrace/reader.h"

#include "base/base.h"
#include "metadata/metadata.h"
#include "compile/compile.h"

/* ---- values ---- */
/* rtr_value is public (reader.h); the op pointer gives type and name. */

/* ---- in-memory traces (unit tests, fuzzing) ---- */
/* Opens a reader on one trace made of the given metadata (plain or
 * packetized) and one stream held in memory (not copied: must outlive the
 * reader). Returns 0 or a negative errno with a message in err. */
int rtr__reader_open_mem(const uint8_t *metadata, size_t mlen, const uint8_t *data, size_t n,
			 const struct rtr_reader_options *opts, struct rtr_reader **out, char *err,
			 size_t errlen);

/* ---- utilities ---- */
/* printf("%g") for doubles in [1e-5, 1e15); 0 outside (use printf). */
int rtr__fmt_g(double d, char *out);
int64_t rtr__clock_ns(const struct rtr__clock *c, uint64_t cycles, int *ovf);

#endif /* RTR_READER_INTERNAL_H */
