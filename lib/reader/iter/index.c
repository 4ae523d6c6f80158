/* The packet index of a stream file (LTTng's index/<file>.idx): packet
 * offsets and end times, for seeking to --begin and to skip checking
 * every packet up front. See docs/design/reader.md ("Streams, merge,
 * memory"). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iter/iter.h"

void rtr__index_read(struct rtr__file *f, const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 12);
	int fd = -1;
	uint8_t hdr[16];
	uint32_t elen;
	struct stat st;

	if (!p)
		return;
	sprintf(p, "%s/index/%s.idx", dir, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_size < 16)
		goto out;
	if (pread(fd, hdr, 16, 0) != 16)
		goto out;
	if (((uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3]) !=
	    0xC1F1DCC1u)
		goto out;
	elen = (uint32_t)hdr[12] << 24 | (uint32_t)hdr[13] << 16 | (uint32_t)hdr[14] << 8 | hdr[15];
	if (elen < 56 || elen > 4096)
		goto out;
	{
		size_t n = (size_t)((st.st_size - 16) / elen);
		uint8_t *e = malloc(elen);

		if (n > (1u << 26) || !e) {
			free(e);
			goto out;
		}
		f->idx_off = malloc(n * sizeof(uint64_t) + 1);
		f->idx_end = malloc(n * sizeof(uint64_t) + 1);
		if (!f->idx_off || !f->idx_end) {
			free(e);
			goto out;
		}
		for (size_t i = 0; i < n; i++) {
			uint64_t off = 0, te = 0;

			if (pread(fd, e, elen, (off_t)(16 + i * elen)) != (ssize_t)elen)
				break;
			for (int k = 0; k < 8; k++) {
				off = off << 8 | e[k];
				te = te << 8 | e[32 + k];
			}
			f->idx_off[f->idx_n] = off;
			f->idx_end[f->idx_n] = te;
			f->idx_n++;
			{
				uint64_t psz = 0;

				for (int k = 0; k < 8; k++)
					psz = psz << 8 | e[8 + k];
				/* an entry past the end of the data file or out
				 * of order: babeltrace2 ignores such an index */
				if (psz % 8 || off > f->size || psz / 8 > f->size - off ||
				    (f->idx_n > 1 && off <= f->idx_off[f->idx_n - 2])) {
					f->idx_n = 0;
					break;
				}
			}
		}
		free(e);
	}
out:
	if (fd >= 0)
		close(fd);
	free(p);
}

