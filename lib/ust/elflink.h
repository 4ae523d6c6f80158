/* The .gnu_debuglink of an ELF file (statedump.c's debug_link events). */
#ifndef RTR_UST_ELFLINK_H
#define RTR_UST_ELFLINK_H

#include <stddef.h>
#include <stdint.h>

/* Reads the .gnu_debuglink section of the regular file at path: the file
 * name (NUL-terminated, at most cap - 1 bytes) into link and the CRC-32
 * that follows it into *crc. Returns 0, or -1 when the file is not a
 * regular file, not a native ELF, has no such section or one of another
 * layout (link is then ""). Reads with pread only, never past what the
 * headers say, never waits (O_NONBLOCK: a FIFO is refused). */
int rtr__elf_debuglink(const char *path, char *link, size_t cap, uint32_t *crc);

#endif /* RTR_UST_ELFLINK_H */
