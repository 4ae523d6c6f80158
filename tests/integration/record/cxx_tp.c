/* The probes of cxx_tp.h, compiled as C. */
#define RTR_DEFINE_PROBES
#include "cxx_tp.h"
