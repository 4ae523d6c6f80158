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
#include "iter/iter.h"

/* ---- values ---- */
/* rtr_value is public (reader.h); the op pointer gives type and name. */

/* ---- utilities ---- */
/* printf("%g") for doubles in [1e-5, 1e15); 0 outside (use printf). */
int rtr__fmt_g(double d, char *out);
int64_t rtr__clock_ns(const struct rtr__clock *c, uint64_t cycles, int *ovf);

#endif /* RTR_READER_INTERNAL_H */
