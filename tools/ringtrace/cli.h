/* Helpers shared by ringtrace subcommands (option parsing, time ranges,
 * progress line). */
#ifndef RTR_CLI_H
#define RTR_CLI_H

#include <getopt.h>
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
	int loglevel_sel; /* RTR_LOGLEVEL_SEL_* (--loglevel, --loglevel-only) */
	int loglevel;
};

/* A log level by LTTng's name (TRACE_EMERG .. TRACE_DEBUG, the TRACE_
 * prefix optional, any case) or number (0..14). Returns 0 or -1. */
int rtr_cli_loglevel(const char *s, int *level);
/* The names of the levels, for messages: "TRACE_EMERG, ..., TRACE_DEBUG" */
extern const char rtr_cli_loglevel_names[];

/* Parses --names / --fields lists as babeltrace2 does. Returns 0 or -1. */
int rtr_cli_names(const char *list, unsigned *names);
int rtr_cli_fields(const char *list, unsigned *fields);

/* Options of the babeltrace2 text format and of the event selection,
 * shared by view and convert. Put RTR_CLI_TEXT_LONGOPTS in the getopt_long
 * table and "n:f:e:" in the short options, and read the options with
 * rtr_cli_getopt(). */
enum {
	RTR_CLI_CLOCK_SECONDS = 1,
	RTR_CLI_CLOCK_DATE,
	RTR_CLI_CLOCK_GMT,
	RTR_CLI_CLOCK_CYCLES,
	RTR_CLI_NO_DELTA,
	RTR_CLI_BEGIN,
	RTR_CLI_END,
	RTR_CLI_LOGLEVEL,
	RTR_CLI_LOGLEVEL_ONLY,
	RTR_CLI_FIRST_FREE /* first value a command may use for its own */
};
#define RTR_CLI_TEXT_LONGOPTS                                                \
	{"clock-seconds", no_argument, NULL, RTR_CLI_CLOCK_SECONDS},          \
	    {"clock-date", no_argument, NULL, RTR_CLI_CLOCK_DATE},            \
	    {"clock-gmt", no_argument, NULL, RTR_CLI_CLOCK_GMT},              \
	    {"clock-cycles", no_argument, NULL, RTR_CLI_CLOCK_CYCLES},        \
	    {"no-delta", no_argument, NULL, RTR_CLI_NO_DELTA},                \
	    {"names", required_argument, NULL, 'n'},                          \
	    {"fields", required_argument, NULL, 'f'},                         \
	    {"event", required_argument, NULL, 'e'},                          \
	    {"begin", required_argument, NULL, RTR_CLI_BEGIN},                \
	    {"end", required_argument, NULL, RTR_CLI_END},                    \
	    {"loglevel", required_argument, NULL, RTR_CLI_LOGLEVEL},          \
	    {"loglevel-only", required_argument, NULL, RTR_CLI_LOGLEVEL_ONLY}
#define RTR_CLI_BAD_ARG (-2)
/* getopt_long() that applies the text and selection options to *to and
 * *rd itself and returns only the command's own options: the next one,
 * -1 at the end, or RTR_CLI_BAD_ARG for a bad argument of a shared option
 * (already reported). */
int rtr_cli_getopt(int argc, char **argv, const char *shortopts, const struct option *longopts,
		   struct rtr_text_options *to, struct rtr_cli_read *rd);
/* babeltrace2's defaults in *to, an empty selection with room for argc
 * patterns in *rd (free rd->patterns). Returns 0 or -1 (no memory). */
int rtr_cli_text_init(struct rtr_text_options *to, struct rtr_cli_read *rd, int argc);

/* Opens the reader with the time range and name filters of c. On error
 * prints "ringtrace <cmd>: error: ..." and returns NULL. */
struct rtr_reader *rtr_cli_open(const char *cmd, struct rtr_cli_read *c, bool skip_values);

/* Replaces the inputs of c that are trace-cmd files (trace.dat) with their
 * conversion to a CTF kernel trace in a temporary directory, removed at
 * exit (tracedat_input.c). Returns 0 or -1 (said why). */
int rtr_cli_tracedat_inputs(const char *cmd, struct rtr_cli_read *c);

/* Refuses (message on stderr, -1) an output path that is, is inside, or
 * contains one of the input paths: writing it would destroy what is being
 * read. "-" (standard output) is always fine. */
int rtr_cli_output_apart(const char *cmd, const char *out, const char *const *in, int nin);

/* Progress line on stderr when it is a terminal (every ~0.25 s). */
void rtr_cli_progress(struct rtr_reader *r, uint64_t events, bool final);

/* Subcommands (see main.c). */
int rtr_cmd_view(int argc, char **argv);
int rtr_cmd_convert(int argc, char **argv);
int rtr_cmd_stats(int argc, char **argv);
int rtr_cmd_recover(int argc, char **argv);

#endif
