/* Inputs that are trace-cmd files (trace.dat): converted to a CTF kernel
 * trace in a temporary directory (lib/kernel, the mapping of `record
 * --kernel`) that view, convert and stats then read like any trace. The
 * directories go away at exit, and on SIGINT/SIGTERM/SIGHUP/SIGPIPE. Design:
 * docs/design/kernel.md §10. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "kernel.h"

#define MAX_TMP	  64
#define MAX_FILES 1024

/* What to remove, as plain paths (the signal handler may only unlink). */
static char *tmp_files[MAX_FILES];
static volatile sig_atomic_t n_tmp_files;
static char *tmp_dirs[MAX_TMP * 3];
static volatile sig_atomic_t n_tmp_dirs;
static bool handlers;

static void remove_all(void)
{
	for (sig_atomic_t i = 0; i < n_tmp_files; i++)
		unlink(tmp_files[i]);
	/* deepest first: they were listed parents first */
	for (sig_atomic_t i = n_tmp_dirs; i-- > 0;)
		rmdir(tmp_dirs[i]);
}

static void on_exit_remove(void)
{
	remove_all();
}

static void on_signal(int sig)
{
	remove_all();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int note(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_D) {
		if (n_tmp_dirs < (sig_atomic_t)(sizeof(tmp_dirs) / sizeof(tmp_dirs[0])))
			tmp_dirs[n_tmp_dirs++] = strdup(p);
	} else if (n_tmp_files < MAX_FILES) {
		tmp_files[n_tmp_files++] = strdup(p);
	}
	return 0;
}

static bool is_tracedat(const char *path)
{
	static const char magic[] = {0x17, 0x08, 0x44, 't', 'r', 'a', 'c', 'i', 'n', 'g'};
	char buf[sizeof(magic)];
	struct stat st;
	int fd;
	bool yes;

	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	yes = read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf) && !memcmp(buf, magic, sizeof(buf));
	close(fd);
	return yes;
}

int rtr_cli_tracedat_inputs(const char *cmd, struct rtr_cli_read *c)
{
	const char **paths = NULL;

	for (int i = 0; i < c->npaths; i++) {
		const char *tmpbase = getenv("TMPDIR");
		char dir[4096], out[4200], err[1024], copy[4096];
		struct rtr_kernel_totals t;
		int r;

		if (!is_tracedat(c->paths[i]))
			continue;
		if (!paths) {
			paths = calloc((size_t)c->npaths + 1, sizeof(*paths));
			if (!paths)
				return -1;
			memcpy(paths, c->paths, (size_t)c->npaths * sizeof(*paths));
		}
		if (!handlers) {
			atexit(on_exit_remove);
			signal(SIGINT, on_signal);
			signal(SIGTERM, on_signal);
			signal(SIGHUP, on_signal);
			signal(SIGPIPE, on_signal);
			handlers = true;
		}
		snprintf(dir, sizeof(dir), "%s/ringtrace-tracedat-XXXXXX",
			 tmpbase && *tmpbase ? tmpbase : "/tmp");
		if (!mkdtemp(dir)) {
			fprintf(stderr, "ringtrace %s: error: cannot make a temporary directory: %s\n",
				cmd, strerror(errno));
			return -1;
		}
		if (n_tmp_dirs < MAX_TMP)
			tmp_dirs[n_tmp_dirs++] = strdup(dir);
		snprintf(copy, sizeof(copy), "%s", c->paths[i]);
		snprintf(out, sizeof(out), "%s/%s", dir, basename(copy));
		/* the converted trace is named after the file, without ".dat" */
		if (strlen(out) > 4 && !strcmp(out + strlen(out) - 4, ".dat"))
			out[strlen(out) - 4] = 0;
		r = rtr_kernel_convert_tracedat(c->paths[i], out, NULL, &t, err, sizeof(err));
		if (r) {
			fprintf(stderr, "ringtrace %s: error: %s\n", cmd, err);
			return -1;
		}
		nftw(out, note, 16, FTW_PHYS);
		paths[i] = strdup(out);
	}
	if (paths)
		c->paths = paths;
	return 0;
}
