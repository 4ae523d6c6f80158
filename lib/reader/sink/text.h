/* The babeltrace2 text sink's state and output buffer, shared by the
 * layout (text.c), the timestamps (time.c) and the parallel printer
 * (parallel.c). See docs/design/reader.md ("Speed"). */
#ifndef RTR_READER_SINK_TEXT_H
#define RTR_READER_SINK_TEXT_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringtrace/reader.h"
#include "sink/number.h"

#define OUTBUF (1u << 20)

/* What a line's timestamp and delta depend on from the lines before. */
struct rtr__hstate {
	uint64_t last_real; /* -1: none */
	uint64_t delta_real;
	uint64_t last_cycles, delta_cycles;
	bool neg_warned;
};

struct par;
struct trace_hdr; /* text.c */
struct tpl;	  /* text.c */

struct rtr_text {
	struct rtr_reader *r;
	int fd;
	FILE *err;
	struct rtr_text_options o;
	char *buf;
	size_t len, cap;
	int werr;
	/* timestamps */
	struct rtr__hstate hs;
	time_t tm_sec_cached;
	bool tm_valid;
	struct tm tm_cached;
	char tm_str[48];     /* "[YYYY-MM-DD ]HH:MM:SS." of tm_sec_cached */
	bool fast_head;	     /* options that head_fast() prints */
	int64_t sec_base_ns; /* tm_sec_cached in ns (fast path), or INT64_MAX */
	size_t tm_len;
	struct trace_hdr *th;
	size_t nth;
	bool start_line;
	struct tpl *tpls;
	size_t ntpl;
	uint64_t flushes;
	bool capturing, capture_bad;
	/* parallel printing: output of batch 'seq' may only be written when
	 * the batches before it are */
	struct par *par;
	uint64_t seq;
	bool has_turn;
	uint32_t *cap_s, *cap_e, *cap_v;
	uint8_t *cap_f;
	size_t ncap, cap_cap;
};

/* text.c: a printer (as rtr_text_create()) */
struct rtr_text *rtr__text_new(struct rtr_reader *r, int out_fd, FILE *err,
			       const struct rtr_text_options *o);
/* text.c: writes the buffer to the output (in its turn when printing in
 * parallel); a write error is kept in t->werr. */
void rtr__text_flush(struct rtr_text *t);
/* text.c: grows the buffer of a printer writing to memory (fd < 0). */
char *rtr__text_grow(struct rtr_text *t, size_t n);
/* time.c: prints a time (or "Error"), updating the delta state. */
void rtr__put_wall(struct rtr_text *t, int64_t ts_nsec, int ns_error, bool update_last);
/* time.c: the changes printing m makes to h, without printing. */
void rtr__hstep(const struct rtr_text_options *o, struct rtr__hstate *h, const struct rtr_msg *m);
/* parallel.c: waits until the batches before t's are written. */
void rtr__text_wait_turn(struct rtr_text *t);
/* parallel.c: prints every message of r with a helper thread when worth
 * it (*used then true), returning as rtr_text_drain(); else returns 0 with
 * *used false and nothing read. */
int rtr__par_drain(struct rtr_text *t, struct rtr_reader *r,
		   void (*progress)(struct rtr_reader *r, uint64_t n), struct rtr_error *err,
		   bool *used);

/* ---- output buffer ---- */

static inline char *room(struct rtr_text *t, size_t n)
{
	if (rtr_unlikely(t->len + n > t->cap)) {
		if (t->fd < 0) /* memory mode: the buffer grows */
			return rtr__text_grow(t, n);
		rtr__text_flush(t);
		if (n > t->cap) {
			char *nb = realloc(t->buf, n);

			if (!nb)
				return NULL;
			t->buf = nb;
			t->cap = n;
		}
	}
	return t->buf + t->len;
}

static inline void put(struct rtr_text *t, const char *s, size_t n)
{
	char *p = room(t, n);

	if (!p)
		return;
	if (n > 16 && n <= 32) {
		/* overlapping 16-byte copies */
		memcpy(p, s, 16);
		memcpy(p + n - 16, s + n - 16, 16);
	} else if (n > 32 && n <= 64) {
		memcpy(p, s, 32);
		memcpy(p + n - 32, s + n - 32, 32);
	} else if (n <= 16) {
		/* short copies dominate: avoid a libc call */
		if (n >= 8) {
			uint64_t a, b;

			memcpy(&a, s, 8);
			memcpy(&b, s + n - 8, 8);
			memcpy(p, &a, 8);
			memcpy(p + n - 8, &b, 8);
		} else if (n >= 4) {
			uint32_t a, b;

			memcpy(&a, s, 4);
			memcpy(&b, s + n - 4, 4);
			memcpy(p, &a, 4);
			memcpy(p + n - 4, &b, 4);
		} else {
			for (size_t i = 0; i < n; i++)
				p[i] = s[i];
		}
	} else {
		memcpy(p, s, n);
	}
	t->len += n;
}

#define PUTS(t, lit) put(t, lit, sizeof(lit) - 1)

static inline void putc1(struct rtr_text *t, char c)
{
	char *p = room(t, 1);

	if (p) {
		*p = c;
		t->len++;
	}
}

static inline void putstr(struct rtr_text *t, const char *s)
{
	put(t, s, strlen(s));
}

static inline void put_u64(struct rtr_text *t, uint64_t v)
{
	char *d = room(t, 24);
	unsigned n;

	if (!d)
		return;
	if (v < 100000000) {
		char b[8];

		n = ndigits(v);
		w8(b, (uint32_t)v);
		for (unsigned i = 0; i < n; i++)
			d[i] = b[8 - n + i];
	} else if (v < 10000000000000000ull) {
		uint32_t hi = (uint32_t)(v / 100000000);
		char b[8];
		unsigned nh = ndigits(hi);

		w8(b, hi);
		for (unsigned i = 0; i < nh; i++)
			d[i] = b[8 - nh + i];
		w8(d + nh, (uint32_t)(v % 100000000));
		n = nh + 8;
	} else {
		n = ndigits(v);
		rtr__fmt_u64(d + n, v);
	}
	t->len += n;
}

static inline void put_i64(struct rtr_text *t, int64_t v)
{
	if (v < 0) {
		putc1(t, '-');
		put_u64(t, (uint64_t)0 - (uint64_t)v);
	} else {
		put_u64(t, (uint64_t)v);
	}
}

/* zero-padded to width digits */
static inline void put_u64w(struct rtr_text *t, uint64_t v, int width)
{
	unsigned n = ndigits(v);
	char *d = room(t, 32), *s;

	if (!d)
		return;
	if (width == 9 && v < 1000000000) {
		d[0] = (char)('0' + v / 100000000);
		w8(d + 1, (uint32_t)(v % 100000000));
		t->len += 9;
		return;
	}
	if (n < (unsigned)width)
		n = (unsigned)width;
	s = rtr__fmt_u64(d + n, v);
	while (s > d)
		*--s = '0';
	t->len += n;
}

/* ---- unchecked writers: the caller made room (ensure()); they may
 * write up to 8 bytes past what they return --------------------------- */

/* Makes n bytes writable at the cursor p: returns the cursor (moved if
 * the buffer was flushed or grown), NULL on allocation failure. */
static inline char *ensure(struct rtr_text *t, char *p, size_t n)
{
	if (rtr_likely((size_t)(t->buf + t->cap - p) >= n))
		return p;
	t->len = (size_t)(p - t->buf);
	if (!room(t, n))
		return NULL;
	return t->buf + t->len;
}

#endif /* RTR_READER_SINK_TEXT_H */
