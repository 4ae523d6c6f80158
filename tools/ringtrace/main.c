/* ringtrace: the one command-line tool; dispatches to subcommands.
 * Adding a subcommand: cmd_<name>.c with rtr_cmd_<name>(), one X() line
 * below, one line in CMakeLists.txt. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* X(name, one-line summary) */
#define RTR_COMMANDS(X)                                                                            \
	X(view, "print traces as text, byte-identical to babeltrace2")                             \
	X(convert, "convert traces to CTF, Chrome JSON (Perfetto) or text")                        \
	X(record, "run a program and record its tracepoints as a CTF trace")                       \
	X(stats, "event counts per class and stream, time span, losses")                           \
	X(recover, "complete the traces a killed daemon or record left (DIR... | --all)")

#define DECLARE(name, summary) int rtr_cmd_##name(int argc, char **argv);
RTR_COMMANDS(DECLARE)
#undef DECLARE

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
} commands[] = {
#define ENTRY(name, summary) {#name, rtr_cmd_##name, summary},
    RTR_COMMANDS(ENTRY)
#undef ENTRY
};

/* The session daemon's commands (cmd_ctl.c), named as LTTng's. */
int rtr_cmd_ctl(const char *cmd, int argc, char **argv);
static const struct {
	const char *name;
	const char *summary;
} ctl_commands[] = {
    {"create", "create a session of the session daemon (started if none runs)"},
    {"enable-channel", "add a channel to a session (buffers, mode)"},
    {"enable-event", "record events matching a pattern (filters, log levels)"},
    {"disable-event", "stop recording events matching a pattern"},
    {"add-context", "add context fields (vpid, vtid, procname, ...) to records"},
    {"start", "start recording a session"},
    {"stop", "stop recording a session; say what was recorded and lost"},
    {"snapshot", "snapshot record: write what a snapshot session holds"},
    {"rotate", "complete the traces so far; go on in a new directory"},
    {"destroy", "end a session (its traces complete)"},
    {"list", "sessions of the session daemon"},
    {"status", "a session's channels, rules and processes"},
    {"daemon", "run the session daemon (ringtraced)"},
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: ringtrace <command> [OPTIONS] [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSession daemon:\n");
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
		fprintf(f, "  %-14s %s\n", ctl_commands[i].name, ctl_commands[i].summary);
	fprintf(f, "\nRun 'ringtrace <command> --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("ringtrace %s\n", RTR_VERSION_STRING);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	for (size_t i = 0; i < sizeof(ctl_commands) / sizeof(ctl_commands[0]); i++)
		if (!strcmp(argv[1], ctl_commands[i].name))
			return rtr_cmd_ctl(argv[1], argc - 1, argv + 1);
	fprintf(stderr, "ringtrace: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
