/* ringtrace view: babeltrace2's text output, byte for byte, with its
 * options plus -e (event name filters) and --begin/--end. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "order.h"

static void view_usage(FILE *f)
{
	fprintf(f, "Usage: ringtrace view [OPTIONS] TRACE...\n"
		   "\n"
		   "Print the events of one or more CTF traces in time order, in the text\n"
		   "format of babeltrace2 2.0 (same bytes). TRACE is a trace directory or a\n"
		   "directory searched recursively for traces (a 'metadata' file).\n"
		   "\n"
		   "Options:\n"
		   "      --clock-seconds     print timestamps as SECONDS.NS since the epoch\n"
		   "      --clock-date        print the date before the time of day\n"
		   "      --clock-gmt         print times in UTC instead of local time\n"
		   "      --clock-cycles      print raw clock values (cycles)\n"
		   "      --no-delta          do not print the time since the previous event\n"
		   "  -n, --names=LIST        field names to print: payload (args), context\n"
		   "                          (ctx), scope, header, all, none\n"
		   "                          (default: payload,context)\n"
		   "  -f, --fields=LIST       extra fields: trace, trace:hostname,\n"
		   "                          trace:domain, trace:procname, trace:vpid,\n"
		   "                          loglevel, emf, callsite, all\n"
		   "                          (default: trace:hostname,trace:procname,trace:vpid)\n"
		   "  -e, --event=PATTERN     only events whose name matches PATTERN (glob:\n"
		   "                          '*' and '?'); repeat for several patterns\n"
		   "      --begin=TIME        first time to show; TIME is SEC[.NS] since the\n"
		   "                          epoch, 'YYYY-MM-DD HH:MM:SS[.NS]' or\n"
		   "                          'HH:MM:SS[.NS]' (date of the first event);\n"
		   "                          packet indexes are used to seek\n"
		   "      --end=TIME          last time to show\n"
		   "      --loglevel=LEVEL    only events of log level LEVEL or more severe\n"
		   "                          (LTTng's TRACE_EMERG .. TRACE_DEBUG; events\n"
		   "                          declaring no level count as TRACE_DEBUG_LINE)\n"
		   "      --loglevel-only=LEVEL  only events of exactly log level LEVEL\n"
		   "      --uncertain         mark the events closer than the clock's skew\n"
		   "                          bound to the event before them when that one is\n"
		   "                          on another CPU: their order is not known\n"
		   "                          (text added at the end of the line)\n"
		   "      --debug-info        add babeltrace2's debug_info field (binary,\n"
		   "                          function, source line of the ip context) to\n"
		   "                          events with vpid and ip contexts, from the\n"
		   "                          LTTng-UST statedump and library events\n"
		   "      --debug-info-dir=DIR  separate debug info under DIR (default\n"
		   "                          /usr/lib/debug); implies --debug-info\n"
		   "      --debug-info-target-prefix=DIR  find the traced binaries under\n"
		   "                          DIR; implies --debug-info\n"
		   "      --debug-info-full-path  whole paths in bin and src; implies\n"
		   "                          --debug-info\n"
		   "      --color=never       accepted for compatibility (no colors)\n"
		   "  -h, --help              this help\n"
		   "\n"
		   "Discarded events and lost packets are reported on stderr as babeltrace2\n"
		   "does. Exit status: 0 on success, 1 if a trace is invalid (the message\n"
		   "names the file, the offset and what was expected).\n");
}

static void progress(struct rtr_reader *r, uint64_t n)
{
	rtr_cli_progress(r, n, false);
}

int rtr_cmd_view(int argc, char **argv)
{
	static const struct option lo[] = {
	    RTR_CLI_TEXT_LONGOPTS,
	    {"color", required_argument, NULL, RTR_CLI_FIRST_FREE},
	    {"uncertain", no_argument, NULL, RTR_CLI_FIRST_FREE + 1},
	    {"debug-info", no_argument, NULL, RTR_CLI_FIRST_FREE + 2},
	    {"debug-info-dir", required_argument, NULL, RTR_CLI_FIRST_FREE + 3},
	    {"debug-info-target-prefix", required_argument, NULL, RTR_CLI_FIRST_FREE + 4},
	    {"debug-info-full-path", no_argument, NULL, RTR_CLI_FIRST_FREE + 5},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtr_text_options to;
	struct rtr_cli_read rd;
	struct rtr_reader *r;
	struct rtr_text *t;
	struct rtr_error err = {0};
	int c, rc, drc, ret = 0;
	bool uncertain = false, debug_info = false;
	struct rtr_debuginfo_options dio = {0};

	if (rtr_cli_text_init(&to, &rd, argc))
		return 1;
	optind = 1;
	while ((c = rtr_cli_getopt(argc, argv, "n:f:e:h", lo, &to, &rd)) != -1) {
		switch (c) {
		case RTR_CLI_BAD_ARG:
			free(rd.patterns);
			return 2;
		case RTR_CLI_FIRST_FREE: /* --color: accepted, no colours */
			break;
		case RTR_CLI_FIRST_FREE + 1:
			uncertain = true;
			break;
		case RTR_CLI_FIRST_FREE + 2: /* as babeltrace2: each of these */
			debug_info = true;   /* options adds the filter */
			break;
		case RTR_CLI_FIRST_FREE + 3:
			debug_info = true;
			dio.dir = optarg;
			break;
		case RTR_CLI_FIRST_FREE + 4:
			debug_info = true;
			dio.target_prefix = optarg;
			break;
		case RTR_CLI_FIRST_FREE + 5:
			debug_info = true;
			dio.full_path = true;
			break;
		case 'h':
			view_usage(stdout);
			free(rd.patterns);
			return 0;
		default:
			view_usage(stderr);
			free(rd.patterns);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ringtrace view: error: no trace given\n\n");
		view_usage(stderr);
		free(rd.patterns);
		return 2;
	}
	rd.paths = (const char **)(argv + optind);
	rd.npaths = argc - optind;
	r = rtr_cli_open("view", &rd, false);
	if (!r) {
		free(rd.patterns);
		return 1;
	}
	if (debug_info && rtr_reader_debuginfo(r, &dio, &err)) {
		fprintf(stderr, "ringtrace view: error: %s\n", err.msg);
		rtr_reader_close(r);
		free(rd.patterns);
		return 1;
	}
	if ((rc = rtr_text_create(r, STDOUT_FILENO, stderr, &to, &t))) {
		fprintf(stderr, "ringtrace view: error: %s\n", strerror(-rc));
		rtr_reader_close(r);
		free(rd.patterns);
		return 1;
	}
	rc = uncertain ? rtr_order_view(r, t, progress, &err) /* order.c */
		       : rtr_text_drain(t, r, progress, &err);
	rtr_cli_progress(r, 0, true);
	drc = rtr_text_destroy(t); /* the rest of the output first */
	if (rc) {
		fprintf(stderr, "ringtrace view: error: %s\n", err.msg);
		ret = 1;
	} else if (drc) {
		fprintf(stderr, "ringtrace view: error: write: %s\n", strerror(-drc));
		ret = 1;
	}
	rtr_reader_close(r);
	free(rd.patterns);
	return ret;
}
