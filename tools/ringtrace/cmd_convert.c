/* ringtrace convert: placeholder replaced below. */
#include "cli.h"
int rtr_cmd_convert(int argc, char **argv) { (void)argc; (void)argv; return 1; }
