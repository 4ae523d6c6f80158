/* Test program of debuginfo.sh: built there with -g -finstrument-functions
 * (as a PIE), linked with libdi_dep.so (stripped, with a .gnu_debuglink),
 * and dlopening libdi_lib.so twice (a load, an unload, a load again). */
#include <dlfcn.h>
#include <stdio.h>

int dep_twice(int x);

static inline __attribute__((always_inline)) int twice(int x)
{
	return 2 * x;
}

static int fib(int n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static int use_lib(const char *path, int arg)
{
	void *h = dlopen(path, RTLD_NOW);
	int (*work)(int);
	int r;

	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return -1;
	}
	work = (int (*)(int))dlsym(h, "lib_work");
	r = work ? work(arg) : -1;
	dlclose(h);
	return r;
}

int main(int argc, char **argv)
{
	int a, b, c;

	if (argc < 2)
		return 2;
	a = fib(6);
	b = use_lib(argv[1], 3);
	c = use_lib(argv[1], 4);
	printf("result %d %d %d %d\n", twice(a), b, c, dep_twice(5));
	return 0;
}
