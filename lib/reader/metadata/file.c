/* Metadata stream reading: plain TSDL text or packetized (CTF 1.8 §7.1)
 * decoded into one text. See docs/design/reader.md. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metadata/metadata.h"

#define MD_MAGIC 0x75D11D57u
#define MD_HDR	 37

static uint32_t rd32(const uint8_t *p, bool be)
{
	if (be)
		return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* Returns the byte order of packetized metadata (RTR__BO_*), or -1 for
 * plain text. */
static int packetized_bo(const uint8_t *buf, size_t n)
{
	if (n < 4)
		return -1;
	if (rd32(buf, false) == MD_MAGIC)
		return RTR__BO_LE;
	if (rd32(buf, true) == MD_MAGIC)
		return RTR__BO_BE;
	return -1;
}

int rtr__metadata_decode(const uint8_t *buf, size_t n, const char *path, char **text, size_t *len,
			 int *pkt_bo, struct rtr_error *e)
{
	int bo = packetized_bo(buf, n);
	char *out;
	size_t o = 0, off = 0;
	uint8_t uuid0[16];

	*pkt_bo = bo;
	if (bo < 0) {
		out = malloc(n + 1);
		if (!out)
			return rtr__error(e, -ENOMEM, "%s: out of memory", path);
		memcpy(out, buf, n);
		out[n] = 0;
		*text = out;
		*len = n;
		return 0;
	}
	out = malloc(n + 1);
	if (!out)
		return rtr__error(e, -ENOMEM, "%s: out of memory", path);
	while (off < n) {
		const uint8_t *h = buf + off;
		uint32_t content, psize;
		bool be = bo == RTR__BO_BE;

		if (n - off < MD_HDR) {
			rtr__error(e, -EINVAL,
				    "%s: offset %zu: truncated metadata packet header (%zu bytes "
				    "left, expecting %d)",
				    path, off, n - off, MD_HDR);
			goto fail;
		}
		if (rd32(h, be) != MD_MAGIC) {
			rtr__error(
			    e, -EINVAL,
			    "%s: offset %zu: bad metadata packet magic 0x%08x: expecting 0x%08x",
			    path, off, rd32(h, be), MD_MAGIC);
			goto fail;
		}
		if (off == 0)
			memcpy(uuid0, h + 4, 16);
		else if (memcmp(uuid0, h + 4, 16)) {
			rtr__error(
			    e, -EINVAL,
			    "%s: offset %zu: metadata packet UUID differs from the first packet's",
			    path, off);
			goto fail;
		}
		content = rd32(h + 24, be);
		psize = rd32(h + 28, be);
		if (h[32] || h[33] || h[34]) {
			rtr__error(
			    e, -EINVAL,
			    "%s: offset %zu: unsupported metadata packet "
			    "compression/encryption/checksum scheme (%u/%u/%u): expecting 0",
			    path, off, h[32], h[33], h[34]);
			goto fail;
		}
		if (h[35] != 1 || h[36] != 8) {
			rtr__error(e, -EINVAL,
				    "%s: offset %zu: metadata packet version %u.%u: expecting 1.8",
				    path, off, h[35], h[36]);
			goto fail;
		}
		if (content % 8 || psize % 8 || content < MD_HDR * 8 || psize < content) {
			rtr__error(e, -EINVAL,
				    "%s: offset %zu: invalid metadata packet sizes (content %u "
				    "bits, packet %u bits)",
				    path, off, content, psize);
			goto fail;
		}
		if (psize / 8 > n - off) {
			rtr__error(e, -EINVAL,
				    "%s: offset %zu: metadata packet of %u bytes goes past the end "
				    "of the file (%zu bytes left)",
				    path, off, psize / 8, n - off);
			goto fail;
		}
		memcpy(out + o, h + MD_HDR, content / 8 - MD_HDR);
		o += content / 8 - MD_HDR;
		off += psize / 8;
	}
	out[o] = 0;
	*text = out;
	*len = o;
	*pkt_bo = bo;
	return 0;
fail:
	free(out);
	return -EINVAL;
}

int rtr__metadata_read(const char *path, char **text, size_t *len, int *pkt_bo,
		       struct rtr_error *e)
{
	/* O_NONBLOCK: a FIFO named metadata must not hang the reader */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	uint8_t *buf;
	size_t n = 0;
	int ret;

	if (fd < 0)
		return rtr__error(e, -errno, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return rtr__error(e, -EINVAL, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > RTR__MAX_METADATA) {
		close(fd);
		return rtr__error(e, -EFBIG,
				  "%s: metadata file of %" PRIu64
				  " bytes is larger than the %u-byte limit",
				  path, (uint64_t)st.st_size, RTR__MAX_METADATA);
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		close(fd);
		return rtr__error(e, -ENOMEM, "%s: out of memory", path);
	}
	while (n < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)st.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	ret = rtr__metadata_decode(buf, n, path, text, len, pkt_bo, e);
	free(buf);
	return ret;
}
