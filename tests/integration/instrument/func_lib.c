/* The shared library func_prog dlopens (-finstrument-functions too). */
__attribute__((visibility("default"))) int lib_work(int n);
__attribute__((noinline)) static int leaf(int i)
{
	__asm__ volatile("" ::: "memory");
	return i * 2;
}

int lib_work(int n)
{
	int s = 0;

	for (int i = 0; i < n; i++)
		s += leaf(i);
	return s;
}
