/* Unit tests of the uprobe symbol resolution (lib/kernel/uprobe.c): a
 * function's file offset is right when the bytes there are the bytes the
 * running process executes; IFUNCs, unknown names, offsets beyond a
 * function and files that are not ELF are refused; parameters are located
 * from DWARF (this file is built with -g). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel-internal.h"
#include "rtr_test.h"
#include "uprobe.h"

long ut_probe_target(int a, long b, const char *s, double d, unsigned short c, char *p);

__attribute__((noinline)) long ut_probe_target(int a, long b, const char *s, double d,
					       unsigned short c, char *p)
{
	__asm__ volatile("" ::: "memory");
	return a + b + (long)strlen(s) + (long)d + c + (p != NULL);
}

/* The file bytes at off equal the code at addr. */
static bool same_bytes(const char *path, uint64_t off, const void *addr)
{
	uint8_t buf[32];
	int fd = open(path, O_RDONLY);
	ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf), (off_t)off) : -1;

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)sizeof(buf) && !memcmp(buf, addr, sizeof(buf));
}

int main(void)
{
	char self[4096], err[512], fa[256];
	uint64_t off = 0;
	Dl_info info;
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	REQUIRE(n > 0);
	self[n] = 0;

	/* our own function (.symtab) */
	CHECK(rtr__elf_resolve(self, "ut_probe_target", 0, &off, err, sizeof(err)) == 0);
	CHECK(same_bytes(self, off, (const void *)ut_probe_target));
	CHECK(rtr__elf_resolve(self, "ut_probe_target", 4, &off, err, sizeof(err)) == 0);
	CHECK(same_bytes(self, off, (const uint8_t *)(uintptr_t)ut_probe_target + 4));
	CHECK(rtr__elf_resolve(self, "ut_probe_target", 1u << 20, &off, err, sizeof(err)) ==
	      -ERANGE);
	CHECK(strstr(err, "beyond") != NULL);

	/* libc's exported atoi (.dynsym of a stripped Debian library) */
	{
		/* libc's own atoi, not a sanitizer's interceptor of the same
		 * name (RTLD_DEFAULT finds that one first under ASan) */
		void *libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
		void *atoi_addr = libc ? dlsym(libc, "atoi") : NULL;

		REQUIRE(atoi_addr && dladdr(atoi_addr, &info));
		REQUIRE(strstr(info.dli_fname, "libc.so") != NULL);
		CHECK(rtr__elf_resolve(info.dli_fname, "atoi", 0, &off, err, sizeof(err)) == 0);
		CHECK(same_bytes(info.dli_fname, off, atoi_addr));
		CHECK(rtr__elf_resolve(info.dli_fname, "strlen", 0, &off, err, sizeof(err)) ==
		      -EINVAL);
		CHECK(strstr(err, "IFUNC") != NULL);
		CHECK(rtr__elf_resolve(info.dli_fname, "no_such_function_here", 0, &off, err,
				       sizeof(err)) == -ENOENT);
		CHECK(strstr(err, "no function no_such_function_here") != NULL);
		dlclose(libc);
	}
	CHECK(rtr__elf_resolve("/proc/self/status", "x", 0, &off, err, sizeof(err)) == -ENOEXEC);
	CHECK(rtr__elf_resolve("/no/such/file", "x", 0, &off, err, sizeof(err)) == -ENOENT);

	/* DWARF parameters: integer/pointer registers in order, the double
	 * in an xmm register does not take one */
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "a", fa, sizeof(fa), err,
					sizeof(err)) == 0);
	CHECK_STR_EQ(fa, "a=%di:s32");
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "b", fa, sizeof(fa), err,
					sizeof(err)) == 0);
	CHECK_STR_EQ(fa, "b=%si:s64");
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "s", fa, sizeof(fa), err,
					sizeof(err)) == 0);
	CHECK_STR_EQ(fa, "s=%dx:x64");
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "c", fa, sizeof(fa), err,
					sizeof(err)) == 0);
	CHECK_STR_EQ(fa, "c=%cx:u16");
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "p", fa, sizeof(fa), err,
					sizeof(err)) == 0);
	CHECK_STR_EQ(fa, "p=%r8:x64");
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "d", fa, sizeof(fa), err,
					sizeof(err)) == -EINVAL);
	CHECK(rtr__dwarf_param_fetcharg(self, "ut_probe_target", "zz", fa, sizeof(fa), err,
					sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "no parameter named zz") != NULL);

	{
		char p[4096];

		CHECK(rtr__find_binary("sh", p, sizeof(p)) == 0 && p[0] == '/');
		CHECK(rtr__find_binary("libc.so.6", p, sizeof(p)) == 0 && strstr(p, "libc"));
		CHECK(rtr__find_binary("no-such-binary-xyz", p, sizeof(p)) == -ENOENT);
	}
	printf("sum %ld\n", ut_probe_target(1, 2, "x", 1.0, 3, NULL));
	return rtr_test_done("test_kernel_elf");
}
