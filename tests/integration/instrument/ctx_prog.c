/* Program of the context test (context.sh): events whose context values it
 * knows and prints, one line each, "who seq pid tid pthread_self name fn":
 *   who 0: the main thread (named by the test's argv[1]) emits 2 marks from
 *          ctx_main_site();
 *   who 1: a thread it names "ctx-worker" emits 2 marks from
 *          ctx_thread_site();
 *   who 2: a fork child emits 1 mark from ctx_main_site() (new pid and tid,
 *          the caches of the parent must not leak into it).
 * fn is the address of the function the tracepoint is in, for the ip
 * check (with its size from nm). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "ctx_tp.h"

static void say(int who, int seq, const void *fn)
{
	char name[17] = {0};

	prctl(PR_GET_NAME, name);
	printf("%d %d %d %d %lu %s %p\n", who, seq, (int)getpid(), (int)syscall(SYS_gettid),
	       (unsigned long)pthread_self(), name, fn);
	fflush(stdout);
}

__attribute__((noinline)) void ctx_main_site(int who, int seq);
__attribute__((noinline)) void ctx_main_site(int who, int seq)
{
	rtr_tracepoint(ctxt, mark, who, seq);
	say(who, seq, (const void *)ctx_main_site);
}

__attribute__((noinline)) void ctx_thread_site(int seq);
__attribute__((noinline)) void ctx_thread_site(int seq)
{
	rtr_tracepoint(ctxt, mark, 1, seq);
	say(1, seq, (const void *)ctx_thread_site);
}

static void *worker(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "ctx-worker");
	ctx_thread_site(0);
	ctx_thread_site(1);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t;
	pid_t c;
	int st;

	if (argc > 1)
		prctl(PR_SET_NAME, argv[1]);
	ctx_main_site(0, 0);
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		return 1;
	pthread_join(t, NULL);
	ctx_main_site(0, 1);
	c = fork();
	if (c == 0) {
		ctx_main_site(2, 0);
		_exit(0);
	}
	if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st))
		return 1;
	return 0;
}
