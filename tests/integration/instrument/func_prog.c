/* Program of the function tracing test (func.sh), built with
 * -finstrument-functions and without PIE (its addresses are nm's):
 *   main: dlopen(LIB) (a bare name: found through DT_RUNPATH $ORIGIN); fib(FIB_MAIN); a thread runs worker(): fib(FIB_THREAD);
 *         join; lib_work(3) of LIB (leaf() 3 times); dlclose
 * and prints "libbase ADDR" (where LIB was loaded, for its nm addresses)
 * and "map LINE", LIB's first line of /proc/self/maps (for the dl events).
 * The call tree is what the test expects, from the source's recursion. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define FIB_MAIN   8
#define FIB_THREAD 6

__attribute__((noinline)) int fib(int n);
__attribute__((noinline)) int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

__attribute__((noinline)) static void *worker(void *arg)
{
	*(int *)arg = fib(FIB_THREAD);
	return NULL;
}

int main(int argc, char **argv)
{
	void *h;
	int (*lib_work)(int);
	struct link_map *lm = NULL;
	pthread_t t;
	int a, b = 0, c;

	if (argc != 2 || !(h = dlopen(argv[1], RTLD_NOW)))
		return 2;
	*(void **)&lib_work = dlsym(h, "lib_work");
	if (!lib_work || dlinfo(h, RTLD_DI_LINKMAP, &lm) || !lm)
		return 3;
	a = fib(FIB_MAIN);
	if (pthread_create(&t, NULL, worker, &b))
		return 4;
	pthread_join(t, NULL);
	c = lib_work(3);
	printf("libbase %#lx\nresult %d %d %d\n", (unsigned long)lm->l_addr, a, b, c);
	{
		FILE *f = fopen("/proc/self/maps", "r");
		char line[4096];

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, argv[1])) {
				printf("map %s", line);
				break;
			}
		if (f)
			fclose(f);
	}
	dlclose(h);
	return 0;
}
