/* ringtrace in-process runtime: what its other files and its tests need.
 * Design: docs/design/runtime.md. */
#ifndef RTR_UST_RUNTIME_H
#define RTR_UST_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

/* True while the process is connected to a session host. */
bool rtr__runtime_connected(void);

#endif /* RTR_UST_RUNTIME_H */
