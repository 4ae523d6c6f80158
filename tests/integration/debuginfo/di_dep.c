/* Library di_prog is linked with; debuginfo.sh strips its DWARF into a
 * separate file named by .gnu_debuglink. */
static int dep_leaf(int x)
{
	return x * 2;
}

int dep_twice(int x)
{
	return dep_leaf(x);
}
