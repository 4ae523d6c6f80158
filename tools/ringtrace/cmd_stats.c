/* ringtrace stats: placeholder replaced below. */
#include "cli.h"
int rtr_cmd_stats(int argc, char **argv) { (void)argc; (void)argv; return 1; }
