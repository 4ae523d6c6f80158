/* LD_PRELOAD shim for running Debian's trace-cmd in sandboxes that forbid
 * the function tracer (the project's test machines: writing
 * /proc/sys/kernel/ftrace_enabled and opening set_ftrace_* fail with EPERM
 * even for root, and trace-cmd 3.1 gives up or crashes). It makes those
 * opens go to /dev/null; everything else trace-cmd does is untouched. Used
 * by the trace-cmd comparison test and bench/kernel.sh, never by
 * ringtrace. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>

int open(const char *p, int flags, ...);
int open64(const char *p, int flags, ...);

static int redirected(const char *p, int flags)
{
	static const char *const files[] = {"/proc/sys/kernel/ftrace_enabled", "/set_ftrace_filter",
					    "/set_ftrace_notrace", "/set_graph_function",
					    "/set_graph_notrace", "/set_ftrace_pid"};

	if (!p)
		return 0;
	if ((flags & O_ACCMODE) == O_RDONLY && !strcmp(p, files[0]))
		return 0;
	for (unsigned i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t a = strlen(p), b = strlen(files[i]);

		if (a >= b && !strcmp(p + a - b, files[i]))
			return 1;
	}
	return 0;
}

#define WRAP(name)                                                                                 \
	__attribute__((visibility("default"))) int name(const char *p, int flags, ...)          \
	{                                                                                          \
		static int (*real)(const char *, int, ...);                                        \
		va_list ap;                                                                        \
		int mode;                                                                          \
                                                                                                   \
		va_start(ap, flags);                                                               \
		mode = va_arg(ap, int);                                                            \
		va_end(ap);                                                                        \
		if (!real)                                                                         \
			real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name);           \
		if (redirected(p, flags))                                                          \
			return real("/dev/null", flags & O_ACCMODE);                               \
		return real(p, flags, mode);                                                       \
	}

WRAP(open)
WRAP(open64)
