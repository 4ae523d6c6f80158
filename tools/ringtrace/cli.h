/* Helpers shared by ringtrace subcommands (option parsing, time ranges,
 * progress line). */
#ifndef RTR_CLI_H
#define RTR_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "ringtrace/reader.h"

#ifndef RTR_VERSION_STRING
#define RTR_VERSION_STRING "0.1.0"
/* Subcommands (see main.c). */
int rtr_cmd_view(int argc, char **argv);
int rtr_cmd_convert(int argc, char **argv);
int rtr_cmd_stats(int argc, char **argv);

#endif

/* Options common to commands reading traces. */
struct rtr_cli_read {
	const char **paths;
	int npaths;
	const char **patterns;
	int npatterns;
	const char *begin, *end;
	bool gmt;
	bool all_values; /* record hidden fields too (CTF re-encoding) */
};

/* Parses --names / --fields lists as babeltrace2 does. Returns 0 or -1. */
int rtr_cli_names(const char *list, unsigned *names);
int rtr_cli_fields(const char *list, unsigned *fields);

/* Opens the reader with the time range and name filters of c. On error
 * prints "ringtrace <cmd>: error: ..." and returns NULL. */
struct rtr_reader *rtr_cli_open(const char *cmd, struct rtr_cli_read *c, bool skip_values);

/* Progress line on stderr when it is a terminal (every ~0.25 s). */
void rtr_cli_progress(struct rtr_reader *r, uint64_t events, bool final);

/* Subcommands (see main.c). */
int rtr_cmd_view(int argc, char **argv);
int rtr_cmd_convert(int argc, char **argv);
int rtr_cmd_stats(int argc, char **argv);

#endif
