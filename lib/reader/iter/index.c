/* The packet index of a stream file (LTTng's index/<file>.idx, decoded by
 * lib/ctf's codec): packet offsets and end times, for seeking to --begin
 * and to skip checking every packet up front. See docs/design/reader.md
 * ("Streams, merge, memory"). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-index.h" /* lib/ctf: the codec the CTF writer uses */
#include "iter/iter.h"

void rtr__index_read(struct rtr__file *f, const char *dir, const char *name)
{
	char *p = malloc(strlen(dir) + strlen(name) + 12);
	int fd = -1, elen;
	uint8_t hdr[RTR_CTF_INDEX_HEADER_SIZE];
	struct stat st;

	if (!p)
		return;
	sprintf(p, "%s/index/%s.idx", dir, name);
	fd = open(p, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || st.st_size < (off_t)sizeof(hdr))
		goto out;
	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		goto out;
	elen = rtr_ctf_index_header_decode(hdr, sizeof(hdr));
	if (elen < 0 || elen > 4096) /* not an index (version 1.x) we read */
		goto out;
	{
		size_t n = (size_t)((st.st_size - (off_t)sizeof(hdr)) / elen);
		uint8_t *e = malloc((size_t)elen);

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
			struct rtr_ctf_index_entry ie;
			uint64_t off;

			if (pread(fd, e, (size_t)elen, (off_t)(sizeof(hdr) + i * (size_t)elen)) !=
				(ssize_t)elen ||
			    rtr_ctf_index_entry_decode(e, (size_t)elen, (size_t)elen, &ie))
				break;
			off = ie.offset;
			f->idx_off[f->idx_n] = off;
			f->idx_end[f->idx_n] = ie.timestamp_end;
			f->idx_n++;
			/* an entry past the end of the data file or out of
			 * order: babeltrace2 ignores such an index */
			if (ie.packet_size % 8 || off > f->size ||
			    ie.packet_size / 8 > f->size - off ||
			    (f->idx_n > 1 && off <= f->idx_off[f->idx_n - 2])) {
				f->idx_n = 0;
				break;
			}
		}
		free(e);
	}
out:
	if (fd >= 0)
		close(fd);
	free(p);
}
