/* Library that di_prog dlopens (debuginfo.sh builds it with -g
 * -finstrument-functions). */
static int leaf(int x)
{
	return x + 1;
}

static inline __attribute__((always_inline)) int inl(int x)
{
	return leaf(x) * 3;
}

int lib_work(int n)
{
	int s = 0;

	for (int i = 0; i < n; i++)
		s += inl(i);
	return s;
}
