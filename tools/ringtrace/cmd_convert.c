/* ringtrace convert: CTF to CTF (filter and trim), to Chrome Trace Event
 * JSON (Perfetto UI, chrome://tracing) or to babeltrace2 text; the
 * formats are the reader's sinks (lib/reader/sink/). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void convert_usage(FILE *f)
{
	fprintf(f, "Usage: ringtrace convert [OPTIONS] TRACE... -o OUT --format ctf|json|text\n"
		   "\n"
		   "Convert CTF traces.\n"
		   "  ctf    OUT is a directory; each trace is written below it with its\n"
		   "         metadata unchanged and its streams re-encoded, keeping the events\n"
		   "         selected by -e/--begin/--end (readable by babeltrace2 and ringtrace)\n"
		   "  json   OUT is a file (- for stdout) in the Chrome Trace Event format that\n"
		   "         the Perfetto UI and chrome://tracing open: a process per traced\n"
		   "         process (pid, name), a thread per thread (vtid context; without it\n"
		   "         a track per CPU); X_entry/X_exit, X_begin/X_end, X_start/X_end,\n"
		   "         syscall_entry_X/syscall_exit_X and func_entry/func_exit pairs as\n"
		   "         nested slices named X; other events as instants with their fields\n"
		   "  text   OUT is a file (- for stdout): the output of 'ringtrace view'\n"
		   "\n"
		   "Options:\n"
		   "  -o, --output=OUT        output directory (ctf) or file (json, text)\n"
		   "  -F, --format=FORMAT     ctf, json or text (default: ctf)\n"
		   "  -e, --event=PATTERN     keep events whose name matches (glob); repeatable\n"
		   "      --begin=TIME        keep events at or after TIME (see 'view --help')\n"
		   "      --end=TIME          keep events at or before TIME\n"
		   "      --loglevel=LEVEL    keep events of log level LEVEL or more severe\n"
		   "      --loglevel-only=LEVEL  keep events of exactly log level LEVEL\n"
		   "                          (see 'view --help')\n"
		   "      --clock-gmt         times given and printed in UTC\n"
		   "  text format only: --clock-seconds --clock-date --clock-cycles --no-delta\n"
		   "                    --names=LIST --fields=LIST (as 'view')\n"
		   "  -h, --help              this help\n");
}

int rtr_cmd_convert(int argc, char **argv)
{
	static const struct option lo[] = {
	    RTR_CLI_TEXT_LONGOPTS,
	    {"output", required_argument, NULL, 'o'},
	    {"format", required_argument, NULL, 'F'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtr_cli_read rd;
	struct rtr_text_options to;
	const char *out = NULL, *format = "ctf";
	struct rtr_reader *r;
	struct rtr_msg m;
	struct rtr_error err = {0};
	enum rtr_next rc = RTR_NEXT_END;
	uint64_t nev = 0;
	int c, wrc = 0, drc, ret = 0;

	if (rtr_cli_text_init(&to, &rd, argc))
		return 1;
	optind = 1;
	while ((c = rtr_cli_getopt(argc, argv, "o:F:e:n:f:h", lo, &to, &rd)) != -1) {
		switch (c) {
		case RTR_CLI_BAD_ARG:
			free(rd.patterns);
			return 2;
		case 'o':
			out = optarg;
			break;
		case 'F':
			format = optarg;
			break;
		case 'h':
			convert_usage(stdout);
			free(rd.patterns);
			return 0;
		default:
			convert_usage(stderr);
			free(rd.patterns);
			return 2;
		}
	}
	if (optind >= argc || !out) {
		fprintf(stderr, "ringtrace convert: error: %s\n\n",
			optind >= argc ? "no trace given" : "no output given (-o)");
		convert_usage(stderr);
		free(rd.patterns);
		return 2;
	}
	if (strcmp(format, "ctf") && strcmp(format, "json") && strcmp(format, "text")) {
		fprintf(stderr,
			"ringtrace convert: error: unknown format '%s' (ctf, json or text)\n",
			format);
		free(rd.patterns);
		return 2;
	}
	rd.paths = (const char **)(argv + optind);
	rd.npaths = argc - optind;
	if (rtr_cli_output_apart("convert", out, rd.paths, rd.npaths)) {
		free(rd.patterns);
		return 1;
	}
	if (!strcmp(format, "ctf")) {
		/* every field is recorded for re-encoding; the writer applies
		 * the name and time filters itself */
		rd.all_values = true;
		r = rtr_cli_open("convert", &rd, false);
		if (!r) {
			free(rd.patterns);
			return 1;
		}
		if (rtr_reader_write_ctf(r, out, &err)) {
			fprintf(stderr, "ringtrace convert: error: %s\n", err.msg);
			ret = 1;
		}
		rtr_reader_close(r);
		free(rd.patterns);
		return ret;
	}
	r = rtr_cli_open("convert", &rd, false);
	if (!r) {
		free(rd.patterns);
		return 1;
	}
	if (!strcmp(format, "text")) {
		int fd = strcmp(out, "-")
			     ? open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)
			     : STDOUT_FILENO;
		struct rtr_text *t;

		if (fd < 0) {
			fprintf(stderr, "ringtrace convert: error: %s: %s\n", out, strerror(errno));
			rtr_reader_close(r);
			free(rd.patterns);
			return 1;
		}
		wrc = rtr_text_create(r, fd, stderr, &to, &t);
		while (!wrc && (rc = rtr_reader_next(r, &m)) == RTR_NEXT_OK) {
			if ((wrc = rtr_text_print(t, &m)))
				break;
			if (!(++nev & 0xffff))
				rtr_cli_progress(r, nev, false);
		}
		drc = rtr_text_destroy(t);
		if (!wrc)
			wrc = drc;
		if (fd != STDOUT_FILENO && close(fd) && !wrc)
			wrc = -errno;
	} else {
		static char vbuf[1 << 22];
		FILE *f = strcmp(out, "-") ? fopen(out, "w") : stdout;
		struct rtr_json *j;

		if (!f) {
			fprintf(stderr, "ringtrace convert: error: %s: %s\n", out, strerror(errno));
			rtr_reader_close(r);
			free(rd.patterns);
			return 1;
		}
		setvbuf(f, vbuf, _IOFBF, sizeof(vbuf));
		wrc = rtr_json_create(r, f, &j);
		while (!wrc && (rc = rtr_reader_next(r, &m)) == RTR_NEXT_OK) {
			if ((wrc = rtr_json_print(j, &m)))
				break;
			if (!(++nev & 0xffff))
				rtr_cli_progress(r, nev, false);
		}
		drc = rtr_json_destroy(j);
		if (!wrc)
			wrc = drc;
		if (f != stdout && fclose(f) && !wrc)
			wrc = -errno;
	}
	rtr_cli_progress(r, nev, true);
	if (wrc) {
		fprintf(stderr, "ringtrace convert: error: writing %s: %s\n", out, strerror(-wrc));
		ret = 1;
	}
	if (rc == RTR_NEXT_ERROR) {
		fprintf(stderr, "ringtrace convert: error: %s\n", rtr_reader_error(r)->msg);
		ret = 1;
	}
	rtr_reader_close(r);
	free(rd.patterns);
	return ret;
}
