/* ringtrace record: run a program and write its trace (options; the work is
 * in record/). Design: docs/design/runtime.md §8. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "ctl.h"
#include "host.h"
#include "kernel_hook.h"
#include "preload.h"
#include "record.h"

int rtr_cmd_record(int argc, char **argv);

static void usage(FILE *f)
{
	fprintf(f, "Usage: ringtrace record [OPTIONS] [--] PROGRAM [ARGS...]\n"
		   "\n"
		   "Runs PROGRAM (linked with libringtrace) and records its tracepoints, and\n"
		   "those of every process it starts that is linked with libringtrace, into\n"
		   "one CTF trace per process under DIR. Exits with PROGRAM's status, or 1\n"
		   "when PROGRAM succeeded but the trace could not all be written (a full\n"
		   "disk: recording pauses until there is room again; the reason is said).\n"
		   "\n"
		   "Options:\n"
		   "  -o, --output DIR       trace directory (created; must be empty and, if\n"
		   "                         it exists, yours; as root no part of DIR may be\n"
		   "                         a symbolic link)\n"
		   "                         default: ./ringtrace-PROGRAM-YYYYmmdd-HHMMSS\n"
		   "  -e, --event PATTERN    record events whose 'provider:event' name matches\n"
		   "                         PATTERN ('*' wildcards); repeatable; default: all\n"
		   "      --loglevel LEVEL   only events of log level LEVEL or more severe, with\n"
		   "                         LTTng's names: TRACE_EMERG (most severe), ALERT,\n"
		   "                         CRIT, ERR, WARNING, NOTICE, INFO, DEBUG_SYSTEM,\n"
		   "                         DEBUG_PROGRAM, DEBUG_PROCESS, DEBUG_MODULE,\n"
		   "                         DEBUG_UNIT, DEBUG_FUNCTION, DEBUG_LINE, DEBUG;\n"
		   "                         an event declaring no level is DEBUG_LINE\n"
		   "      --loglevel-only LEVEL  only events of exactly log level LEVEL\n"
		   "      --overwrite        flight recorder: keep the newest events, written at\n"
		   "                         the end (default: discard new events when full)\n"
		   "      --subbuf-size N    sub-buffer size, power of two, k/M/G suffixes\n"
		   "                         (default 256k)\n"
		   "      --num-subbuf N     sub-buffers per CPU, power of two >= 2 (default 4)\n"
		   "      --mem-limit N      buffer memory for all processes at once (default 1G)\n"
		   "      --wait-all         when PROGRAM exits, go on recording the traced\n"
		   "                         processes it started until they exit too (a\n"
		   "                         signal to ringtrace ends the wait)\n"
		   "      --eager-drain      write each packet to disk as soon as it is full, at\n"
		   "                         normal priority (default: in CPU time no other\n"
		   "                         thread wants, at once when a buffer gets short of\n"
		   "                         room, a packet waited a second, or the process\n"
		   "                         ends)\n"
		   "      --group-readable   let the group of the trace directory read the\n"
		   "                         traces (default: only the recording user can,\n"
		   "                         files 0600, directories 0700: traces may hold\n"
		   "                         arguments, file names, payloads; to share one\n"
		   "                         afterwards: chmod -R g+rX DIR)\n"
		   "  -v, --verbose          say what happens with each process\n"
		   "  -q, --quiet            no summary\n"
		   "  -h, --help             this text\n");
	rtr_record_kernel_usage(f);
	rtr_record_preload_usage(f);
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

int rtr_cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"event", required_argument, NULL, 'e'},
	    {"loglevel", required_argument, NULL, 'L'},
	    {"loglevel-only", required_argument, NULL, 'l'},
	    {"overwrite", no_argument, NULL, 'W'},
	    {"subbuf-size", required_argument, NULL, 'S'},
	    {"num-subbuf", required_argument, NULL, 'N'},
	    {"mem-limit", required_argument, NULL, 'M'},
	    {"wait-all", no_argument, NULL, 'A'},
	    {"eager-drain", no_argument, NULL, 'D'},
	    {"group-readable", no_argument, NULL, 'G'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"help", no_argument, NULL, 'h'},
	    RTR_RK_LONGOPTS,
	    RTR_RP_LONGOPTS,
	    {NULL, 0, NULL, 0},
	};
	struct rtr_record_opts o = {.subbuf_size = RTR_RECORD_DEFAULT_SUBBUF,
				    .num_subbuf = RTR_RECORD_DEFAULT_NUM_SUBBUF};
	const char **patterns = calloc((size_t)argc + 8, sizeof(*patterns));
	struct rtr_record_kernel ko;
	struct rtr_record_preload po = {0};
	uint64_t v;
	int c, ret;

	if (!patterns || rtr_record_kernel_init(&ko, argc)) {
		free(patterns);
		return 1;
	}
	o.kernel = &ko;
	o.patterns = patterns;
	/* '+': stop at the program's name; its options are its own. */
	while ((c = getopt_long(argc, argv, "+o:e:vqhak:", opts, NULL)) != -1) {
		int kr = rtr_record_kernel_option(&ko, c, optarg);

		if (!kr)
			kr = rtr_record_preload_option(&po, c, optarg);

		if (kr) {
			if (kr > 0)
				continue;
			rtr_record_kernel_free(&ko);
			free(patterns);
			return 2;
		}
		switch (c) {
		case 'o':
			o.output = optarg;
			break;
		case 'e':
			patterns[o.npatterns++] = optarg;
			break;
		case 'L':
		case 'l':
			if (rtr_cli_loglevel(optarg, &o.loglevel)) {
				fprintf(stderr,
					"ringtrace record: --%s: unknown log level '%s'; the "
					"levels, most severe first: %s\n",
					c == 'L' ? "loglevel" : "loglevel-only", optarg,
					rtr_cli_loglevel_names);
				rtr_record_kernel_free(&ko);
				free(patterns);
				return 2;
			}
			o.loglevel_sel = c == 'L' ? RTR_HOST_LL_UPTO : RTR_HOST_LL_ONLY;
			break;
		case 'W':
			o.overwrite = true;
			break;
		case 'S':
			if (rtr_size_parse(optarg, &v) || !pow2(v) || v < 4096 || v > (1ull << 30)) {
				fprintf(stderr,
					"ringtrace record: --subbuf-size: expected a power "
					"of two from 4k to 1G, got '%s'\n",
					optarg);
				rtr_record_kernel_free(&ko);
				free(patterns);
				return 2;
			}
			o.subbuf_size = v;
			break;
		case 'N':
			if (rtr_size_parse(optarg, &v) || !pow2(v) || v < 2 || v > 65536) {
				fprintf(stderr,
					"ringtrace record: --num-subbuf: expected a power "
					"of two from 2 to 65536, got '%s'\n",
					optarg);
				rtr_record_kernel_free(&ko);
				free(patterns);
				return 2;
			}
			o.num_subbuf = (uint32_t)v;
			break;
		case 'M':
			if (rtr_size_parse(optarg, &v) || v < 4096) {
				fprintf(stderr,
					"ringtrace record: --mem-limit: expected a size, "
					"got '%s'\n",
					optarg);
				rtr_record_kernel_free(&ko);
				free(patterns);
				return 2;
			}
			o.mem_budget = v;
			break;
		case 'A':
			o.wait_all = true;
			break;
		case 'D':
			o.eager_drain = true;
			break;
		case 'G':
			o.group_readable = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'q':
			o.quiet = true;
			break;
		case 'h':
			usage(stdout);
			rtr_record_kernel_free(&ko);
			free(patterns);
			return 0;
		default:
			usage(stderr);
			rtr_record_kernel_free(&ko);
			free(patterns);
			return 2;
		}
	}
	if (optind >= argc && !rtr_record_kernel_wanted(&ko)) {
		fprintf(stderr, "ringtrace record: no program to run\n\n");
		usage(stderr);
		rtr_record_kernel_free(&ko);
		free(patterns);
		return 2;
	}
	if (rtr_record_preload_wanted(&po) && optind >= argc) {
		fprintf(stderr, "ringtrace record: --func and --preload need a PROGRAM\n");
		rtr_record_kernel_free(&ko);
		free(patterns);
		return 2;
	}
	if (o.npatterns)
		rtr_record_preload_patterns(&po, (ko.ctx_mask & RTR_HOST_CTX_IP) != 0, patterns,
					    &o.npatterns);
	if (rtr_record_preload_apply(&po)) {
		rtr_record_kernel_free(&ko);
		free(patterns);
		return 1;
	}
	ret = rtr_record_run(&o, optind < argc ? argv + optind : NULL);
	rtr_record_kernel_free(&ko);
	free(patterns);
	return ret;
}
