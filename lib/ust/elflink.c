/* .gnu_debuglink of an ELF file: elflink.h. Section headers are read 32 at
 * a time; section names are compared by one 15-byte pread each, only for
 * PROGBITS sections. Every offset and size comes from the file, so each is
 * checked before it is used; a read that comes back short ends the look. */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elflink.h"

int rtr__elf_debuglink(const char *path, char *link, size_t cap, uint32_t *crc)
{
	static const char want[] = ".gnu_debuglink";
	ElfW(Ehdr) eh;
	ElfW(Shdr) ss, sh[32];
	struct stat st;
	int r = -1, fd;

	if (!cap)
		return -1;
	link[0] = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode) ||
	    pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_shentsize != sizeof(ElfW(Shdr)) ||
	    !eh.e_shnum || eh.e_shstrndx >= eh.e_shnum || eh.e_shoff > (uint64_t)st.st_size ||
	    pread(fd, &ss, sizeof(ss), (off_t)(eh.e_shoff + eh.e_shstrndx * sizeof(ss))) !=
		(ssize_t)sizeof(ss) ||
	    ss.sh_offset > (uint64_t)st.st_size || ss.sh_size > (uint64_t)st.st_size)
		goto out;
	for (unsigned i = 0; i < eh.e_shnum; i += 32) {
		unsigned n = eh.e_shnum - i < 32 ? eh.e_shnum - i : 32;

		if (pread(fd, sh, n * sizeof(sh[0]), (off_t)(eh.e_shoff + i * sizeof(sh[0]))) !=
		    (ssize_t)(n * sizeof(sh[0])))
			goto out;
		for (unsigned k = 0; k < n; k++) {
			char name[sizeof(want)];
			uint64_t sz = sh[k].sh_size, off = sh[k].sh_offset;
			size_t len;

			if (sh[k].sh_type != SHT_PROGBITS ||
			    (uint64_t)sh[k].sh_name + sizeof(want) > ss.sh_size ||
			    pread(fd, name, sizeof(want), (off_t)(ss.sh_offset + sh[k].sh_name)) !=
				(ssize_t)sizeof(want) ||
			    memcmp(name, want, sizeof(want)))
				continue;
			/* the name, its NUL, padding to 4 bytes, the CRC-32 in
			 * the file's byte order (native: it is mapped here) */
			if (sz < 8 || sz - 4 > cap || off > (uint64_t)st.st_size ||
			    sz > (uint64_t)st.st_size - off ||
			    pread(fd, link, sz - 4, (off_t)off) != (ssize_t)(sz - 4) ||
			    pread(fd, crc, 4, (off_t)(off + sz - 4)) != 4) {
				link[0] = 0;
				goto out;
			}
			len = strnlen(link, sz - 4);
			if (len == 0 || len == sz - 4 || ((len + 4) & ~(size_t)3) != sz - 4) {
				link[0] = 0; /* not NUL-terminated, or another layout */
				goto out;
			}
			r = 0;
			goto out;
		}
	}
out:
	close(fd);
	return r;
}
