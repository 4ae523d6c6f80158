/* Unit tests of the reader's packet index reading (lib/reader/iter/index.c)
 * on index files encoded by the CTF writer's codec (lib/ctf/index.c): the
 * entries read back, and the indexes babeltrace2 ignores (out of order,
 * past the end of the stream file, bad header) ignored. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctf-index.h"
#include "iter/iter.h"
#include "rtr_test.h"

static char dir[64];

/* Writes dir/index/s.idx: the header (or a damaged one) and n entries. */
static void write_index(const struct rtr_ctf_index_entry *e, size_t n, int damage)
{
	char path[128];
	uint8_t h[RTR_CTF_INDEX_HEADER_SIZE], b[RTR_CTF_INDEX_ENTRY_SIZE];
	FILE *f;

	snprintf(path, sizeof(path), "%s/index/s.idx", dir);
	f = fopen(path, "w");
	REQUIRE(f);
	rtr_ctf_index_header_encode(h);
	if (damage == 1)
		h[0] ^= 0xff; /* magic */
	if (damage == 2)
		h[7] = 2; /* major 2 */
	REQUIRE(fwrite(h, 1, sizeof(h), f) == sizeof(h));
	for (size_t i = 0; i < n; i++) {
		rtr_ctf_index_entry_encode(b, &e[i]);
		REQUIRE(fwrite(b, 1, sizeof(b), f) == sizeof(b));
	}
	REQUIRE(fclose(f) == 0);
}

static size_t read_back(struct rtr__file *f, uint64_t size)
{
	free(f->idx_off);
	free(f->idx_end);
	memset(f, 0, sizeof(*f));
	f->size = size;
	rtr__index_read(f, dir, "s");
	return f->idx_n;
}

int main(void)
{
	struct rtr_ctf_index_entry e[3];
	struct rtr__file f;
	char sub[96];

	snprintf(dir, sizeof(dir), "/tmp/rtr-test-index.XXXXXX");
	REQUIRE(mkdtemp(dir));
	snprintf(sub, sizeof(sub), "%s/index", dir);
	REQUIRE(mkdir(sub, 0755) == 0);
	memset(&f, 0, sizeof(f));
	memset(e, 0, sizeof(e));
	for (int i = 0; i < 3; i++) {
		e[i].offset = (uint64_t)i * 4096;
		e[i].packet_size = 4096 * 8;
		e[i].content_size = 4000 * 8;
		e[i].timestamp_begin = 1000 + 100 * (uint64_t)i;
		e[i].timestamp_end = 1099 + 100 * (uint64_t)i;
		e[i].packet_seq_num = (uint64_t)i;
	}

	/* no index file */
	CHECK_EQ_U64(read_back(&f, 3 * 4096), 0);

	/* what the writer's codec wrote, the reader reads */
	write_index(e, 3, 0);
	REQUIRE(read_back(&f, 3 * 4096) == 3);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_U64(f.idx_off[i], e[i].offset);
		CHECK_EQ_U64(f.idx_end[i], e[i].timestamp_end);
	}

	/* the last packet goes past the end of the stream file: ignored */
	CHECK_EQ_U64(read_back(&f, 3 * 4096 - 1), 0);

	/* out of order: ignored */
	e[2].offset = 4096;
	write_index(e, 3, 0);
	CHECK_EQ_U64(read_back(&f, 3 * 4096), 0);
	e[2].offset = 2 * 4096;

	/* not an LTTng index 1.x: ignored */
	write_index(e, 3, 1);
	CHECK_EQ_U64(read_back(&f, 3 * 4096), 0);
	write_index(e, 3, 2);
	CHECK_EQ_U64(read_back(&f, 3 * 4096), 0);

	free(f.idx_off);
	free(f.idx_end);
	snprintf(sub, sizeof(sub), "%s/index/s.idx", dir);
	unlink(sub);
	snprintf(sub, sizeof(sub), "%s/index", dir);
	rmdir(sub);
	rmdir(dir);
	return rtr_test_done("test_index");
}
