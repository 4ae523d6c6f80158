/* record --func / --preload: LD_PRELOAD set up for the program (preload.h).
 * The libraries are found next to ringtrace: BINDIR/../LIBDIR (the build
 * tree's bin/ and lib/, or the installed prefix), or in the directory
 * RINGTRACE_LIBDIR names. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload.h"

#ifndef RTR_BIN_TO_LIBDIR
#define RTR_BIN_TO_LIBDIR "../lib"
#endif

static void say(const char *a, const char *what)
{
	fprintf(stderr, "ringtrace record: %s%s\n", a, what);
}

int rtr_record_preload_option(struct rtr_record_preload *p, int c, const char *arg)
{
	if (c == RTR_RP_OPT_PRELOAD) {
		char *copy = strdup(arg), *save = NULL;
		int r = 1;

		if (!copy)
			return -1;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			if (!strcmp(t, "libc")) {
				p->libc = true;
			} else if (!strcmp(t, "pthread")) {
				p->pthread = true;
			} else if (!strcmp(t, "dl")) {
				p->dl = true;
			} else {
				say(t, ": --preload: unknown; known: libc, pthread, dl");
				r = -1;
				break;
			}
		}
		free(copy);
		return r;
	}
	if (c != RTR_RP_OPT_FUNC)
		return 0;
	if (!arg || !strcmp(arg, "full")) {
		p->func = 1;
	} else if (!strcmp(arg, "fast")) {
		p->func = 2;
	} else {
		say(arg, ": --func: expected --func, --func=full or --func=fast");
		return -1;
	}
	return 1;
}

void rtr_record_preload_patterns(const struct rtr_record_preload *p, bool ip_ctx,
				 const char **patterns, size_t *n)
{
	if (p->func)
		patterns[(*n)++] =
		    p->func == 2 ? "lttng_ust_cyg_profile_fast:*" : "lttng_ust_cyg_profile:*";
	if (p->func || p->dl)
		patterns[(*n)++] = "lttng_ust_dl:*";
	if (p->func || p->dl || ip_ctx) {
		patterns[(*n)++] = "lttng_ust_statedump:*";
		patterns[(*n)++] = "lttng_ust_lib:*";
	}
	if (p->libc)
		patterns[(*n)++] = "lttng_ust_libc:*";
	if (p->pthread)
		patterns[(*n)++] = "lttng_ust_pthread:*";
}

bool rtr_record_preload_wanted(const struct rtr_record_preload *p)
{
	return p->func || p->libc || p->pthread || p->dl;
}

/* path of library `name` next to ringtrace into out; 0 or -1 */
static int find_lib(const char *name, char *out, size_t len)
{
	const char *dir = getenv("RINGTRACE_LIBDIR");
	char exe[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir && *dir) {
		if ((size_t)snprintf(out, len, "%s/%s", dir, name) < len && !access(out, R_OK))
			return 0;
		return -1;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return -1;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return -1;
	*slash = 0;
	if ((size_t)snprintf(out, len, "%s/%s/%s", exe, RTR_BIN_TO_LIBDIR, name) < len &&
	    !access(out, R_OK))
		return 0;
	if ((size_t)snprintf(out, len, "%s/../lib/%s", exe, name) < len && !access(out, R_OK))
		return 0;
	return -1;
}

static int add_preload(const char *name)
{
	char path[PATH_MAX];
	const char *old = getenv("LD_PRELOAD");
	char *v;
	int r;

	if (find_lib(name, path, sizeof(path))) {
		say(name, " not found next to ringtrace (set RINGTRACE_LIBDIR to its directory)");
		return -1;
	}
	if (strchr(path, ' ') || strchr(path, ':')) {
		say(path, ": LD_PRELOAD cannot hold a path with spaces or colons");
		return -1;
	}
	if (old && *old)
		r = asprintf(&v, "%s:%s", path, old);
	else
		r = asprintf(&v, "%s", path);
	if (r < 0)
		return -1;
	r = setenv("LD_PRELOAD", v, 1);
	free(v);
	return r ? -1 : 0;
}

int rtr_record_preload_apply(const struct rtr_record_preload *p)
{
	if (p->func) {
		if (setenv("RINGTRACE_FUNC", p->func == 2 ? "fast" : "full", 1) ||
		    add_preload("libringtrace-func.so.0"))
			return -1;
	}
	if ((p->func || p->dl) && add_preload("libringtrace-dl.so.0"))
		return -1;
	if (p->pthread && add_preload("libringtrace-pthread.so.0"))
		return -1;
	if (p->libc && add_preload("libringtrace-libc.so.0"))
		return -1;
	return 0;
}

void rtr_record_preload_usage(FILE *f)
{
	fprintf(f, "\nInstrumentation without tracepoints (docs/design/instrument.md):\n"
		   "      --func[=full|fast] function entry and exit of a PROGRAM built with\n"
		   "                         -finstrument-functions (libringtrace-func.so\n"
		   "                         preloaded): LTTng-UST's events\n"
		   "                         lttng_ust_cyg_profile:func_entry/func_exit (addr,\n"
		   "                         call_site), or with fast\n"
		   "                         lttng_ust_cyg_profile_fast:func_entry (addr) and\n"
		   "                         func_exit (nothing); add --context vpid,vtid,ip\n"
		   "                         for babeltrace2 --debug-info (implies\n"
		   "                         --preload dl)\n"
		   "      --preload LIST     wrap libc functions of PROGRAM by LD_PRELOAD:\n"
		   "                         libc (malloc, calloc, realloc, free, memalign,\n"
		   "                         posix_memalign, aligned_alloc, reallocarray,\n"
		   "                         valloc, pvalloc: events lttng_ust_libc:*),\n"
		   "                         pthread (mutex lock/trylock/unlock, condition\n"
		   "                         wait/timedwait/signal/broadcast:\n"
		   "                         lttng_ust_pthread:*), dl (dlopen, dlclose:\n"
		   "                         lttng_ust_dl:*, and lttng_ust_lib:load/unload\n"
		   "                         after them)\n"
		   "The base-address statedump (lttng_ust_statedump:*) is written when a\n"
		   "session that records it starts; -e with --context ip enables it.\n");
}
