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
	X(stats, "event counts per class and stream, time span, losses")

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

static void usage(FILE *f)
{
	fprintf(f, "Usage: ringtrace <command> [OPTIONS] [ARGS]\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
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
	fprintf(stderr, "ringtrace: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return 2;
}
