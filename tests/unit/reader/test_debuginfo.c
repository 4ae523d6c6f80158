/* Unit tests of the debug-info stage (lib/reader/debuginfo,
 * docs/design/debuginfo.md) on in-memory traces: a statedump naming this
 * test's own executable resolves a function of it (the name and offset
 * that dladdr() and the symbol give, not the stage), babeltrace2's rules
 * for the per-process cache (kept across unload, dropped by a statedump
 * start), a build id that does not match, streams without the contexts;
 * then hostile traces: the statedump events with fields missing or of
 * other types, and random payloads naming devices, FIFOs, directories and
 * huge build ids, which must give the field (maybe empty) and never crash
 * or block. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "iter/iter.h"
#include "rtr_test.h"

#define TYPES                                                                                      \
	"/* CTF 1.8 */\n"                                                                          \
	"typealias integer { size = 8; align = 8; signed = false; } := uint8_t;\n"                 \
	"typealias integer { size = 32; align = 8; signed = false; } := uint32_t;\n"               \
	"typealias integer { size = 32; align = 8; signed = true; } := int32_t;\n"                 \
	"typealias integer { size = 64; align = 8; signed = true; } := int64_t;\n"                 \
	"typealias integer { size = 64; align = 8; signed = false; base = 16; } := uint64_t;\n"    \
	"typealias integer { size = 64; align = 8; signed = false; map = clock.c.value; } := "     \
	"ts64;\n"                                                                                  \
	"clock { name = c; freq = 1000000000; };\n"                                                \
	"trace { major = 1; minor = 8; byte_order = le; };\n"

/* event ids of meta_good */
enum { E_START, E_BIN, E_BUILD_ID, E_LINK, E_LOAD, E_UNLOAD, E_EV };

#define GOOD_EVENTS                                                                                \
	"event { id = 0; name = \"lttng_ust_statedump:start\"; fields := struct { uint8_t x; }; "  \
	"};\n"                                                                                     \
	"event { id = 1; name = \"lttng_ust_statedump:bin_info\"; fields := struct { uint64_t "    \
	"_baddr; uint64_t _memsz; string _path; uint8_t _is_pic; }; };\n"                          \
	"event { id = 2; name = \"lttng_ust_statedump:build_id\"; fields := struct { uint64_t "    \
	"_baddr; uint64_t _build_id_length; uint8_t _build_id[_build_id_length]; }; };\n"          \
	"event { id = 3; name = \"lttng_ust_statedump:debug_link\"; fields := struct { uint64_t "  \
	"_baddr; uint32_t _crc; string _filename; }; };\n"                                         \
	"event { id = 4; name = \"lttng_ust_lib:load\"; fields := struct { uint64_t _baddr; "      \
	"uint64_t _memsz; string _path; }; };\n"                                                   \
	"event { id = 5; name = \"lttng_ust_lib:unload\"; fields := struct { uint64_t _baddr; }; " \
	"};\n"                                                                                     \
	"event { id = 6; name = \"p:ev\"; fields := struct { uint8_t x; }; };\n"

#define HEADER "event.header := struct { uint8_t id; ts64 timestamp; };\n"

static const char meta_good[] = TYPES
    "stream { " HEADER "event.context := struct { int32_t _vpid; uint64_t _ip; }; };\n" GOOD_EVENTS;
/* vpid of 64 bits: babeltrace2 adds nothing */
static const char meta_vpid64[] = TYPES
    "stream { " HEADER "event.context := struct { int64_t _vpid; uint64_t _ip; }; };\n" GOOD_EVENTS;
/* the statedump events with fields of other types or missing */
static const char meta_bad[] =
    TYPES "stream { " HEADER "event.context := struct { int32_t _vpid; uint64_t _ip; }; };\n"
	  "event { id = 0; name = \"lttng_ust_statedump:bin_info\"; fields := struct { string "
	  "_baddr; uint64_t _memsz; string _path; uint8_t _is_pic; }; };\n"
	  "event { id = 1; name = \"lttng_ust_statedump:bin_info\"; fields := struct { uint64_t "
	  "_baddr; string _path; }; };\n"
	  "event { id = 2; name = \"lttng_ust_statedump:bin_info\"; fields := struct { uint64_t "
	  "_baddr; uint64_t _memsz; uint64_t _path; string _is_pic; }; };\n"
	  "event { id = 3; name = \"lttng_ust_statedump:build_id\"; fields := struct { uint64_t "
	  "_baddr; string _build_id; }; };\n"
	  "event { id = 4; name = \"lttng_ust_statedump:build_id\"; fields := struct { uint64_t "
	  "_baddr; uint64_t _n; string _build_id[_n]; }; };\n"
	  "event { id = 5; name = \"lttng_ust_statedump:debug_link\"; fields := struct { uint64_t "
	  "_baddr; string _crc; uint64_t _filename; }; };\n"
	  "event { id = 6; name = \"lttng_ust_lib:unload\"; fields := struct { string _baddr; }; "
	  "};\n"
	  "event { id = 7; name = \"lttng_ust_statedump:bin_info\"; fields := struct { uint64_t "
	  "_baddr; uint64_t _memsz; string _path; uint8_t _is_pic; }; };\n"
	  "event { id = 8; name = \"lttng_ust_statedump:build_id\"; fields := struct { uint64_t "
	  "_baddr; uint64_t _build_id_length; uint8_t _build_id[_build_id_length]; }; };\n"
	  "event { id = 9; name = \"lttng_ust_statedump:debug_link\"; fields := struct { uint64_t "
	  "_baddr; uint32_t _crc; string _filename; }; };\n"
	  "event { id = 10; name = \"lttng_ust_statedump:start\"; fields := struct { uint8_t x; }; "
	  "};\n"
	  "event { id = 11; name = \"lttng_ust_lib:load\"; fields := struct { uint64_t _baddr; "
	  "uint64_t _memsz; string _path; }; };\n";

/* ---- building a stream ---- */

struct buf {
	uint8_t *d;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 4096;
		b->d = realloc(b->d, b->cap);
		REQUIRE(b->d);
	}
	memcpy(b->d + b->n, p, n);
	b->n += n;
}
static void u8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}
static void u32(struct buf *b, uint32_t v)
{
	put(b, &v, 4);
}
static void u64(struct buf *b, uint64_t v)
{
	put(b, &v, 8);
}
static void str(struct buf *b, const char *s)
{
	put(b, s, strlen(s) + 1);
}
static bool wide_vpid; /* meta_vpid64 */

/* the header and contexts of an event */
static void head(struct buf *b, uint8_t id, int32_t vpid, uint64_t ip)
{
	static uint64_t ts = 1000;

	u8(b, id);
	u64(b, ts += 10);
	if (wide_vpid)
		u64(b, (uint64_t)(int64_t)vpid);
	else
		u32(b, (uint32_t)vpid);
	u64(b, ip);
}

/* ---- reading it back ---- */

struct di {
	char bin[512], func[512], src[512];
	bool has;
};

/* The debug_info of every event, in order; n returned. */
static size_t run(const char *meta, const struct buf *b, struct di *out, size_t max,
		  const struct rtr_debuginfo_options *o)
{
	struct rtr_reader *r;
	struct rtr_error err = {0};
	struct rtr_msg m;
	size_t n = 0;
	enum rtr_next rc;

	if (rtr__reader_open_mem((const uint8_t *)meta, strlen(meta), b->d, b->n, NULL, &r, &err)) {
		fprintf(stderr, "open: %s\n", err.msg);
		REQUIRE(0);
	}
	REQUIRE(rtr_reader_debuginfo(r, o, &err) == 0);
	while ((rc = rtr_reader_next(r, &m)) == RTR_NEXT_OK) {
		struct di *d = n < max ? &out[n] : NULL;

		n++;
		if (!d)
			continue;
		memset(d, 0, sizeof(*d));
		for (size_t i = 0; i + 4 < m.n_values; i++) {
			const struct rtr_value *v = &m.values[i];
			const char *nm = rtr_value_name(v);

			if (!nm || strcmp(nm, "debug_info") || v->kind != RTR_VAL_STRUCT_BEGIN)
				continue;
			CHECK(v->scope == RTR_SCOPE_EVENT_COMMON_CONTEXT);
			CHECK(!strcmp(rtr_value_name(&v[1]), "bin"));
			CHECK(!strcmp(rtr_value_name(&v[2]), "func"));
			CHECK(!strcmp(rtr_value_name(&v[3]), "src"));
			CHECK(v[4].kind == RTR_VAL_STRUCT_END);
			/* the last member of the context */
			CHECK(i + 5 < m.n_values && v[5].kind == RTR_VAL_STRUCT_END &&
			      v[5].scope == RTR_SCOPE_EVENT_COMMON_CONTEXT);
			snprintf(d->bin, sizeof(d->bin), "%.*s", (int)v[1].len, v[1].v.s);
			snprintf(d->func, sizeof(d->func), "%.*s", (int)v[2].len, v[2].v.s);
			snprintf(d->src, sizeof(d->src), "%.*s", (int)v[3].len, v[3].v.s);
			d->has = true;
		}
	}
	if (rc != RTR_NEXT_END)
		fprintf(stderr, "read: %s\n", rtr_reader_error(r)->msg);
	CHECK(rc == RTR_NEXT_END);
	rtr_reader_close(r);
	return n;
}

/* ---- the test's own code as the traced binary ---- */

__attribute__((noinline, used)) int marker_fn(int x);
__attribute__((noinline, used)) int marker_fn(int x)
{
	return x * 7 + 1;
}

struct self {
	uint64_t baddr, memsz, fn;
	bool pic;
	char path[4096];
	const char *sym; /* dladdr's name of marker_fn */
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct self *s = arg;
	uint64_t lo = UINT64_MAX, hi = 0;

	(void)size;
	if (info->dlpi_name && info->dlpi_name[0])
		return 0; /* the executable comes first, with an empty name */
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];

		if (p->p_type != PT_LOAD)
			continue;
		if (p->p_vaddr < lo)
			lo = p->p_vaddr;
		if (p->p_vaddr + p->p_memsz > hi)
			hi = p->p_vaddr + p->p_memsz;
	}
	s->baddr = info->dlpi_addr + lo;
	s->memsz = hi - lo;
	s->pic = info->dlpi_addr != 0;
	return 1;
}

static void self_of(struct self *s)
{
	Dl_info di;
	ssize_t n;

	memset(s, 0, sizeof(*s));
	dl_iterate_phdr(phdr_cb, s);
	REQUIRE(s->memsz);
	n = readlink("/proc/self/exe", s->path, sizeof(s->path) - 1);
	REQUIRE(n > 0);
	s->path[n] = 0;
	s->fn = (uint64_t)(uintptr_t)&marker_fn;
	REQUIRE(dladdr((void *)&marker_fn, &di));
	s->sym = di.dli_sname ? di.dli_sname : "marker_fn";
	REQUIRE(marker_fn(1) == 8);
}

static const char *base_of(const char *p)
{
	const char *s = strrchr(p, '/');

	return s ? s + 1 : p;
}

static void test_self(void)
{
	struct self s;
	struct buf b = {0};
	struct di d[16];
	char exp[8192];
	size_t n;

	self_of(&s);
	head(&b, E_EV, 7, s.fn);
	u8(&b, 0); /* 0: before any statedump */
	head(&b, E_START, 7, 0);
	u8(&b, 0);
	head(&b, E_BIN, 7, s.fn); /* 2: resolves itself */
	u64(&b, s.baddr);
	u64(&b, s.memsz);
	str(&b, s.path);
	u8(&b, s.pic);
	head(&b, E_EV, 7, s.fn + 4);
	u8(&b, 0); /* 3 */
	head(&b, E_EV, 8, s.fn);
	u8(&b, 0);		  /* 4: another process */
	head(&b, E_UNLOAD, 7, 0); /* 5 */
	u64(&b, s.baddr);
	head(&b, E_EV, 7, s.fn);
	u8(&b, 0); /* 6: cached before the unload: kept */
	head(&b, E_EV, 7, s.fn + 2);
	u8(&b, 0);		/* 7: not cached: nothing */
	head(&b, E_LOAD, 7, 0); /* 8: loaded again (PIC) */
	u64(&b, s.baddr);
	u64(&b, s.memsz);
	str(&b, s.path);
	head(&b, E_START, 7, 0); /* 9: drops the cache */
	u8(&b, 0);
	head(&b, E_EV, 7, s.fn);
	u8(&b, 0); /* 10: nothing */
	n = run(meta_good, &b, d, 16, NULL);
	CHECK_EQ_U64(n, 11);
	for (size_t i = 0; i < n; i++)
		CHECK(d[i].has);
	CHECK(!d[0].bin[0] && !d[0].func[0] && !d[0].src[0]);
	CHECK(!d[1].bin[0]);
	snprintf(exp, sizeof(exp), "%s+0", s.sym);
	CHECK(!strcmp(d[2].func, exp));
	if (s.pic)
		snprintf(exp, sizeof(exp), "%s+0x%" PRIx64, base_of(s.path), s.fn - s.baddr);
	else
		snprintf(exp, sizeof(exp), "%s@0x%" PRIx64, base_of(s.path), s.fn);
	CHECK(!strcmp(d[2].bin, exp));
	if (strcmp(d[2].bin, exp))
		fprintf(stderr, "bin '%s', expected '%s'\n", d[2].bin, exp);
	/* built with -g: the source file of marker_fn */
	CHECK(!strncmp(d[2].src, "test_debuginfo.c:", 17));
	snprintf(exp, sizeof(exp), "%s+0x4", s.sym);
	CHECK(!strcmp(d[3].func, exp));
	CHECK(!d[4].bin[0] && !d[4].func[0]);
	CHECK(!strcmp(d[6].func, d[2].func) && !strcmp(d[6].bin, d[2].bin));
	CHECK(!d[7].bin[0] && !d[7].func[0]);
	CHECK(!d[10].bin[0] && !d[10].func[0] && !d[10].src[0]);

	/* full paths; and a target prefix (the path joined as GLib does,
	 * the file absent there) */
	{
		struct rtr_debuginfo_options o = {.full_path = true};

		n = run(meta_good, &b, d, 16, &o);
		CHECK(!strncmp(d[2].bin, s.path, strlen(s.path)));
		CHECK(d[2].src[0] == '/');
		o.target_prefix = "/nonexistent//";
		n = run(meta_good, &b, d, 16, &o);
		snprintf(exp, sizeof(exp), "/nonexistent%s", s.path);
		CHECK(!strncmp(d[2].bin, exp, strlen(exp)));
		CHECK(!d[2].func[0] && !d[2].src[0]);
	}

	/* a build id the file does not have: nothing at all */
	b.n = 0;
	head(&b, E_BIN, 9, 0);
	u64(&b, s.baddr);
	u64(&b, s.memsz);
	str(&b, s.path);
	u8(&b, s.pic);
	head(&b, E_BUILD_ID, 9, 0);
	u64(&b, s.baddr);
	u64(&b, 3);
	u8(&b, 0xde);
	u8(&b, 0xad);
	u8(&b, 0xbe);
	head(&b, E_EV, 9, s.fn);
	u8(&b, 0);
	n = run(meta_good, &b, d, 16, NULL);
	CHECK_EQ_U64(n, 3);
	CHECK(d[2].has && !d[2].bin[0] && !d[2].func[0] && !d[2].src[0]);

	/* a 64-bit vpid: no field at all */
	b.n = 0;
	wide_vpid = true;
	head(&b, E_BIN, 9, 0);
	u64(&b, s.baddr);
	u64(&b, s.memsz);
	str(&b, s.path);
	u8(&b, s.pic);
	head(&b, E_EV, 9, s.fn);
	u8(&b, 0);
	head(&b, E_EV, 9, s.fn);
	u8(&b, 0);
	wide_vpid = false;
	n = run(meta_vpid64, &b, d, 16, NULL);
	CHECK_EQ_U64(n, 3);
	CHECK(!d[0].has && !d[2].has);
	free(b.d);
}

/* ---- hostile ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;
static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *hostile_path(void)
{
	static const char *p[] = {
	    "/dev/zero",
	    "/dev/null",
	    "/",
	    "",
	    "/proc/self/exe",
	    "/proc/self/maps",
	    "/etc",
	    "x",
	    "//",
	    "fifo",
	    "/proc/self/fd/0",
	    "../../../../etc/passwd",
	    "/dev/urandom",
	    "/proc/self/exe/",
	    "a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/y/z",
	};
	return p[rnd() % (sizeof(p) / sizeof(p[0]))];
}

static void test_hostile(void)
{
	char dir[] = "/tmp/rtr_di_XXXXXX", fifo[64];
	struct self s;
	struct buf b = {0};
	struct di d[4];
	size_t n;

	self_of(&s);
	REQUIRE(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	REQUIRE(mkfifo(fifo, 0600) == 0);
	for (int round = 0; round < 300; round++) {
		size_t nev = 1 + rnd() % 40;
		struct rtr_debuginfo_options o = {0};

		b.n = 0;
		for (size_t e = 0; e < nev; e++) {
			uint8_t id = (uint8_t)(rnd() % 12);
			uint64_t base = rnd() % 4 ? s.baddr : rnd();
			uint64_t ip = rnd() % 3 ? s.fn + rnd() % 64 : rnd();
			const char *path = rnd() % 3 ? hostile_path() : (rnd() % 2 ? s.path : fifo);

			head(&b, id, (int32_t)(rnd() % 3), ip);
			switch (id) {
			case 0: /* baddr as a string */
				str(&b, path);
				u64(&b, rnd() % 2 ? s.memsz : rnd());
				str(&b, path);
				u8(&b, (uint8_t)rnd());
				break;
			case 1: /* no memsz */
				u64(&b, base);
				str(&b, path);
				break;
			case 2: /* path an integer, is_pic a string */
				u64(&b, base);
				u64(&b, s.memsz);
				u64(&b, rnd());
				str(&b, "1");
				break;
			case 3: /* build id a string */
				u64(&b, base);
				str(&b, path);
				break;
			case 4: { /* a sequence of strings */
				uint64_t k = rnd() % 4;

				u64(&b, base);
				u64(&b, k);
				for (uint64_t i = 0; i < k; i++)
					str(&b, "ab");
				break;
			}
			case 5: /* crc a string, filename an integer */
				u64(&b, base);
				str(&b, "crc");
				u64(&b, rnd());
				break;
			case 6:
				str(&b, "unload");
				break;
			case 7: /* well formed, hostile values */
				u64(&b, base);
				u64(&b, rnd() % 2 ? s.memsz : rnd());
				str(&b, path);
				u8(&b, (uint8_t)(rnd() % 3));
				break;
			case 8: { /* build ids of any length, sometimes the file's */
				uint64_t k = rnd() % 5 ? rnd() % 40 : 300 + rnd() % 3000;

				u64(&b, base);
				u64(&b, k);
				for (uint64_t i = 0; i < k; i++)
					u8(&b, (uint8_t)rnd());
				break;
			}
			case 9: /* debug links to devices, FIFOs, ourselves */
				u64(&b, base);
				u32(&b, (uint32_t)rnd());
				str(&b,
				    rnd() % 2 ? "zero" : (rnd() % 2 ? "fifo" : base_of(s.path)));
				break;
			case 10:
				u8(&b, 0);
				break;
			default:
				u64(&b, base);
				u64(&b, rnd() % 2 ? s.memsz : 0);
				str(&b, path);
				break;
			}
		}
		if (rnd() % 2)
			o.dir = rnd() % 2 ? dir : "/dev";
		if (rnd() % 3 == 0)
			o.target_prefix = rnd() % 2 ? "/dev" : dir;
		o.full_path = rnd() % 2;
		n = run(meta_bad, &b, d, 4, &o);
		CHECK_EQ_U64(n, nev);
		CHECK(d[0].has);
	}
	unlink(fifo);
	rmdir(dir);
	free(b.d);
}

int main(void)
{
	test_self();
	test_hostile();
	return rtr_test_failures ? 1 : 0;
}
