/* rtr__elf_debuglink (lib/ust/elflink.c): ELF files written here with a
 * .gnu_debuglink of every name length 1-40 give that name and CRC; then
 * a buffer just large enough or too small (heap: ASan sees an overflow);
 * hostile files (truncated at every length, sizes and offsets past the
 * end, no NUL, another layout, a section header table that claims 65535
 * entries, 3000 random mutations) give -1 or a NUL-terminated name within
 * the buffer, never a crash or a read past the buffer (ASan in make
 * check); a FIFO, a directory, /dev/zero and a missing path give -1
 * without waiting. */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elflink.h"

static int fails;
#define CHECK(c, ...)                                                                              \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fails++;                                                                   \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

static char dir[] = "/tmp/test_elflink.XXXXXX";
static char path[256];

/* An ELF64 file: header, .shstrtab, .gnu_debuglink (name, NUL, padding,
 * crc), three section headers. Returns its size in buf. */
static size_t make_elf(unsigned char *buf, const char *name, uint32_t crc)
{
	static const char strtab[] = "\0.shstrtab\0.gnu_debuglink";
	Elf64_Ehdr eh = {0};
	Elf64_Shdr sh[3] = {{0}};
	size_t off = sizeof(eh), nlen = strlen(name), dlen = (nlen + 4) & ~(size_t)3;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_machine = EM_X86_64;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 3;
	eh.e_shstrndx = 1;
	memcpy(buf + off, strtab, sizeof(strtab));
	sh[1].sh_name = 1;
	sh[1].sh_type = SHT_STRTAB;
	sh[1].sh_offset = off;
	sh[1].sh_size = sizeof(strtab);
	off += sizeof(strtab);
	off = (off + 3) & ~(size_t)3;
	memset(buf + off, 0, dlen + 4);
	memcpy(buf + off, name, nlen);
	memcpy(buf + off + dlen, &crc, 4);
	sh[2].sh_name = 11;
	sh[2].sh_type = SHT_PROGBITS;
	sh[2].sh_offset = off;
	sh[2].sh_size = dlen + 4;
	off += dlen + 4;
	off = (off + 7) & ~(size_t)7;
	eh.e_shoff = off;
	memcpy(buf + off, sh, sizeof(sh));
	off += sizeof(sh);
	memcpy(buf, &eh, sizeof(eh));
	return off;
}

static void put(const unsigned char *buf, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* -1, or a NUL-terminated name within the buffer */
static void sane(const char *what)
{
	char link[64];
	uint32_t crc;
	int r;

	memset(link, 'x', sizeof(link));
	r = rtr__elf_debuglink(path, link, sizeof(link), &crc);
	CHECK(r == -1 || (r == 0 && memchr(link, 0, sizeof(link)) && link[0]), "%s: r %d", what, r);
	CHECK(r == 0 || link[0] == 0, "%s: -1 but a name", what);
}

int main(void)
{
	unsigned char buf[4096], good[4096];
	char name[64], link[64];
	uint32_t crc;
	size_t len;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/f", dir);

	/* every name length */
	for (int n = 1; n <= 40; n++) {
		for (int i = 0; i < n; i++)
			name[i] = (char)('a' + i % 26);
		name[n] = 0;
		put(buf, make_elf(buf, name, 0x9E3779B9u + (uint32_t)n));
		crc = 0;
		CHECK(rtr__elf_debuglink(path, link, sizeof(link), &crc) == 0 &&
			  !strcmp(link, name) && crc == 0x9E3779B9u + (uint32_t)n,
		      "length %d: '%s' %#x", n, link, crc);
	}
	/* a 16-byte buffer of its own (ASan sees a byte past it): names of up
	 * to 15 bytes (with NUL and padding, 16) fit, longer ones are refused */
	for (int n = 1; n <= 40; n++) {
		char *small = malloc(16);

		for (int i = 0; i < n; i++)
			name[i] = (char)('a' + i % 26);
		name[n] = 0;
		put(buf, make_elf(buf, name, 7));
		if (!small)
			return 1;
		if (n <= 15)
			CHECK(rtr__elf_debuglink(path, small, 16, &crc) == 0 &&
				  !strcmp(small, name),
			      "16-byte buffer, length %d", n);
		else
			CHECK(rtr__elf_debuglink(path, small, 16, &crc) == -1 && small[0] == 0,
			      "16-byte buffer, length %d accepted", n);
		free(small);
	}

	len = make_elf(good, "prog.debug", 0x01020304u);
	/* truncated at every length */
	for (size_t l = 0; l < len; l++) {
		put(good, l);
		sane("truncated");
	}
	/* hostile fields */
	{
		Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
		Elf64_Shdr *sh;

		memcpy(buf, good, len);
		sh = (Elf64_Shdr *)(buf + eh->e_shoff);
		sh[2].sh_size = 1u << 30;
		put(buf, len);
		sane("huge size");
		sh[2].sh_size = 7;
		put(buf, len);
		sane("size 7");
		sh[2].sh_size = 16;
		sh[2].sh_offset = ~0ull - 8;
		put(buf, len);
		sane("offset at the end of the address space");
		memcpy(buf, good, len);
		memset(buf + sh[2].sh_offset, 'A', sh[2].sh_size);
		put(buf, len);
		sane("no NUL");
		CHECK(rtr__elf_debuglink(path, link, sizeof(link), &crc) == -1, "no NUL accepted");
		memcpy(buf, good, len);
		sh[1].sh_offset = ~0ull - 2;
		put(buf, len);
		sane("string table past the end");
		memcpy(buf, good, len);
		sh[2].sh_name = 0xFFFFFFF8u;
		put(buf, len);
		sane("name offset wraps");
		memcpy(buf, good, len);
		eh->e_shnum = 0xFFFF;
		put(buf, len);
		sane("65535 section headers");
		memcpy(buf, good, len);
		eh->e_shstrndx = 7;
		put(buf, len);
		sane("string table index");
		memcpy(buf, good, len);
		eh->e_shoff = ~0ull - 100;
		put(buf, len);
		sane("header table past the end");
		memcpy(buf, good, len);
		eh->e_shentsize = 40;
		put(buf, len);
		sane("header size");
		memcpy(buf, good, len);
		buf[sh[2].sh_offset + 11] = 'z'; /* a byte in the padding: other layout */
		buf[sh[2].sh_offset + 10] = 'z';
		put(buf, len);
		sane("padding");
	}
	/* random mutations */
	srand(15);
	for (int i = 0; i < 3000; i++) {
		memcpy(buf, good, len);
		for (int k = 1 + rand() % 8; k > 0; k--)
			buf[rand() % (int)len] = (unsigned char)rand();
		put(buf, len);
		sane("mutation");
	}
	/* not regular files: refused at once */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK(mkfifo(path, 0600) == 0, "mkfifo");
	CHECK(rtr__elf_debuglink(path, link, sizeof(link), &crc) == -1, "FIFO");
	unlink(path);
	CHECK(rtr__elf_debuglink(dir, link, sizeof(link), &crc) == -1, "directory");
	CHECK(rtr__elf_debuglink("/dev/zero", link, sizeof(link), &crc) == -1, "/dev/zero");
	CHECK(rtr__elf_debuglink("/nonexistent/x", link, sizeof(link), &crc) == -1, "missing");
	snprintf(path, sizeof(path), "%s/f", dir);
	unlink(path);
	rmdir(dir);
	if (fails)
		return 1;
	printf("elflink: 40 name lengths, %zu truncations, hostile fields, 3000 mutations, "
	       "FIFO, directory, device: as expected\n",
	       len);
	return 0;
}
