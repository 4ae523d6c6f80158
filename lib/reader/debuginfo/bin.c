/* Binaries and their files for the debug-info stage: ELF symbols and DWARF
 * through libelf/libdw, each file opened once, each address resolved once
 * per file. The rules are babeltrace2 2.0's (bin-info.c, dwarf.c), which
 * docs/design/debuginfo.md spells out. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "debuginfo/debuginfo.h"

#define DEFAULT_DEBUG_DIR "/usr/lib/debug"

/* ELF function symbols of one SHT_SYMTAB section, sorted by value; for one
 * value the first symbol of the table (babeltrace2 keeps the first of
 * equal values). */
struct symtab {
	bool bad; /* babeltrace2's scan fails on this table */
	size_t link;
	size_t n;
	uint64_t *value;
	size_t *name; /* st_name */
};

/* What one address of one file resolves to. */
struct look {
	uint8_t dfunc_done, dsrc_done, efunc_done, has_src;
	char *dfunc, *efunc, *src;
	int64_t line;
};

struct rtr__di_file {
	struct rtr__di_file *next;
	char *path;
	int elf_state; /* 0 not tried, 1 open, -1 failed */
	int fd;
	Elf *elf;
	int dw_state; /* 0 not tried, 1 DWARF with a CU, -1 none */
	int dw_fd;
	Dwarf *dw;
	int crc_state; /* 0 not computed, 1 crc, -1 unreadable */
	uint32_t crc;
	int sym_state; /* 0 not read, 1 read */
	size_t nscn;   /* sections scanned before the first table (or all) */
	struct symtab *tabs;
	size_t ntabs;
	bool sym_err;		  /* babeltrace2's scan fails before any table */
	struct rtr__di_map looks; /* address -> struct look */
	int dx_state;		  /* 0 not built */
	struct rtr__di_dindex *dx;
};

struct rtr__di_dindex;
static void dindex_free(struct rtr__di_dindex *x);

struct rtr__di_files {
	struct rtr__di_file *head;
};

struct rtr__di_files *rtr__di_files_new(void)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	return calloc(1, sizeof(struct rtr__di_files));
}

static void look_free(void *p)
{
	struct look *l = p;

	free(l->dfunc);
	free(l->efunc);
	free(l->src);
	free(l);
}

void rtr__di_files_free(struct rtr__di_files *fs)
{
	if (!fs)
		return;
	for (struct rtr__di_file *f = fs->head, *nx; f; f = nx) {
		nx = f->next;
		dindex_free(f->dx);
		if (f->dw)
			dwarf_end(f->dw);
		if (f->dw_fd >= 0)
			close(f->dw_fd);
		if (f->elf)
			elf_end(f->elf);
		if (f->fd >= 0)
			close(f->fd);
		for (size_t i = 0; i < f->ntabs; i++) {
			free(f->tabs[i].value);
			free(f->tabs[i].name);
		}
		free(f->tabs);
		rtr__di_map_clear(&f->looks, look_free);
		free(f->path);
		free(f);
	}
	free(fs);
}

static struct rtr__di_file *file_of(struct rtr__di_files *fs, const char *path)
{
	struct rtr__di_file *f;

	for (f = fs->head; f; f = f->next)
		if (!strcmp(f->path, path))
			return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->path = strdup(path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	f->fd = f->dw_fd = -1;
	f->next = fs->head;
	fs->head = f;
	return f;
}

static struct look *look_of(struct rtr__di_file *f, uint64_t addr)
{
	struct look *l = rtr__di_map_get(&f->looks, addr);

	if (l)
		return l;
	l = calloc(1, sizeof(*l));
	if (l && rtr__di_map_put(&f->looks, addr, l)) {
		free(l);
		return NULL;
	}
	return l;
}

/* ------------------------------------------------------------------ */
/* paths                                                               */

char *rtr__di_path_join(const char *a, const char *b, const char *c)
{
	/* g_build_filename(): empty elements ignored; the leading '/'s of the
	 * first non-empty element and the trailing ones of the last kept;
	 * between elements exactly one '/'; an element of '/'s only adds
	 * nothing between (and alone is the result). */
	const char *el[3] = {a, b, c};
	size_t cap = 2, len = 0;
	const char *single = NULL, *last_trailing = NULL, *last_end = NULL;
	bool have_leading = false, first = true;
	char *out;

	for (int i = 0; i < 3; i++)
		if (el[i])
			cap += strlen(el[i]) + 1;
	out = malloc(cap + 1);
	if (!out)
		return NULL;
	for (int i = 0; i < 3; i++) {
		const char *e = el[i], *s, *end, *lt;

		if (!e || !*e)
			continue;
		s = e;
		while (*s == '/')
			s++;
		end = s + strlen(s);
		while (end > s && end[-1] == '/')
			end--;
		lt = end;
		while (lt > e && lt[-1] == '/')
			lt--;
		last_trailing = lt;
		last_end = e + strlen(e);
		if (!have_leading) {
			if (lt <= s)
				single = e;
			memcpy(out + len, e, (size_t)(s - e));
			len += (size_t)(s - e);
			have_leading = true;
		} else {
			single = NULL;
		}
		if (end == s)
			continue;
		if (!first)
			out[len++] = '/';
		memcpy(out + len, s, (size_t)(end - s));
		len += (size_t)(end - s);
		first = false;
	}
	if (single) {
		free(out);
		return strdup(single);
	}
	if (last_trailing) {
		/* GLib appends from last_trailing: the trailing '/'s of the
		 * last element (its leading ones when it has nothing else) */
		size_t n = (size_t)(last_end - last_trailing);
		const char *t = last_trailing;

		while (n && *t != '/') { /* only separators follow lt */
			t++;
			n--;
		}
		memcpy(out + len, t, n);
		len += n;
	}
	out[len] = 0;
	return out;
}

const char *rtr__di_basename(const char *path)
{
	size_t i = strlen(path);

	if (!i || path[i - 1] == '/')
		return path;
	while (i-- > 0)
		if (path[i] == '/')
			return path + i + 1;
	return path;
}

/* g_path_get_dirname() */
static char *dirname_of(const char *p)
{
	const char *b = strrchr(p, '/');
	size_t n;
	char *d;

	if (!b)
		return strdup(".");
	while (b > p && *b == '/')
		b--;
	n = (size_t)(b - p) + 1;
	d = malloc(n + 1);
	if (d) {
		memcpy(d, p, n);
		d[n] = 0;
	}
	return d;
}

/* ------------------------------------------------------------------ */
/* files                                                               */

/* Opens a regular file only: a trace naming a FIFO, a device or a
 * directory (babeltrace2 would block or read forever on some) finds
 * nothing there. */
static int open_reg(const char *path)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
	return fd;
}

static bool elf_open(struct rtr__di_file *f)
{
	if (f->elf_state)
		return f->elf_state > 0;
	f->elf_state = -1;
	f->fd = open_reg(f->path);
	if (f->fd < 0)
		return false;
	f->elf = elf_begin(f->fd, ELF_C_READ_MMAP, NULL);
	if (!f->elf || elf_kind(f->elf) != ELF_K_ELF)
		return false;
	f->elf_state = 1;
	return true;
}

/* The file has DWARF with at least one compile unit. */
static bool dwarf_open(struct rtr__di_file *f)
{
	Dwarf_Off next;
	size_t hsize;

	if (f->dw_state)
		return f->dw_state > 0;
	f->dw_state = -1;
	f->dw_fd = open_reg(f->path);
	if (f->dw_fd < 0)
		return false;
	f->dw = dwarf_begin(f->dw_fd, DWARF_C_READ);
	if (!f->dw || dwarf_nextcu(f->dw, 0, &next, &hsize, NULL, NULL, NULL) != 0)
		return false;
	f->dw_state = 1;
	return true;
}

static uint32_t crc_table[256];

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* The file's CRC-32 (the one .gnu_debuglink records). */
static bool file_crc(struct rtr__di_file *f, uint32_t *out)
{
	static bool init;
	uint8_t buf[65536];
	uint32_t c = 0xFFFFFFFFu;
	ssize_t n;
	int fd;

	if (f->crc_state) {
		*out = f->crc;
		return f->crc_state > 0;
	}
	if (!init) {
		crc_init();
		init = true;
	}
	f->crc_state = -1;
	fd = open_reg(f->path);
	if (fd < 0)
		return false;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < n; i++)
			c = crc_table[(c ^ buf[i]) & 0xFF] ^ (c >> 8);
	close(fd);
	if (n < 0)
		return false;
	f->crc = c ^ 0xFFFFFFFFu;
	f->crc_state = 1;
	*out = f->crc;
	return true;
}

/* ------------------------------------------------------------------ */
/* bins                                                                */

struct rtr__di_bin *rtr__di_bin_new(const char *path, size_t len, uint64_t baddr, uint64_t memsz,
				    bool pic, const char *dir, const char *prefix)
{
	struct rtr__di_bin *b = calloc(1, sizeof(*b));
	char *p = malloc(len + 1);

	if (!b || !p)
		goto fail;
	memcpy(p, path, len);
	p[len] = 0;
	if (prefix) {
		b->elf_path = rtr__di_path_join(prefix, p, NULL);
		free(p);
	} else {
		b->elf_path = p;
	}
	p = NULL;
	if (!b->elf_path)
		goto fail;
	b->short_path = rtr__di_basename(b->elf_path);
	b->lo = baddr;
	b->hi = baddr + memsz;
	b->pic = pic;
	b->dir = dir;
	b->prefix = prefix;
	return b;
fail:
	free(p);
	free(b);
	return NULL;
}

void rtr__di_bin_free(void *p)
{
	struct rtr__di_bin *b = p;

	if (!b)
		return;
	free(b->elf_path);
	free(b->build_id);
	free(b->dbg_link);
	free(b);
}

/* Does the ELF file's build id equal b's? babeltrace2 looks at the first
 * note of every SHT_NOTE section: a build-id note that differs ends the
 * search with "no", one that matches says "yes" unless a later one
 * differs; a section it cannot read ends the search with the answer so
 * far. */
static bool build_id_matches(struct rtr__di_file *f, const struct rtr__di_bin *b)
{
	Elf_Scn *scn = NULL;
	bool match = false;

	if (!f || !elf_open(f))
		return false;
	while ((scn = elf_nextscn(f->elf, scn))) {
		GElf_Shdr sh;
		GElf_Nhdr nh;
		Elf_Data *d;
		size_t noff, doff;

		if (!gelf_getshdr(scn, &sh))
			return match;
		if (sh.sh_type != SHT_NOTE)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d)
			return match;
		if (!gelf_getnote(d, 0, &nh, &noff, &doff))
			continue; /* no note: babeltrace2 reads garbage here */
		if (nh.n_namesz != 4 || nh.n_type != NT_GNU_BUILD_ID ||
		    memcmp((const char *)d->d_buf + noff, "GNU", 4))
			continue;
		/* babeltrace2 compares the trace's length; a shorter note
		 * than that would make it read past the note */
		if (b->build_id_len > nh.n_descsz || doff + b->build_id_len > d->d_size ||
		    memcmp(b->build_id, (const char *)d->d_buf + doff, b->build_id_len))
			return false;
		match = true;
	}
	return match;
}

void rtr__di_bin_set_build_id(struct rtr__di_files *fs, struct rtr__di_bin *b, const uint8_t *id,
			      size_t n)
{
	uint8_t *c;

	if (!n)
		return; /* babeltrace2 ignores an empty build id */
	c = malloc(n);
	if (!c)
		return;
	memcpy(c, id, n);
	free(b->build_id);
	b->build_id = c;
	b->build_id_len = n;
	b->build_id_match = build_id_matches(file_of(fs, b->elf_path), b);
	if (b->build_id_match)
		b->elf_only = false; /* separate DWARF may be found now */
}

void rtr__di_bin_set_debug_link(struct rtr__di_bin *b, const char *name, size_t len, uint32_t crc)
{
	char *c = malloc(len + 1);

	if (!c)
		return;
	memcpy(c, name, len);
	c[len] = 0;
	free(b->dbg_link); /* babeltrace2 leaks the old one */
	b->dbg_link = c;
	b->dbg_crc = crc;
	b->elf_only = false;
}

/* DWARF of path: bin's source if it has a compile unit. */
static bool try_dwarf(struct rtr__di_files *fs, struct rtr__di_bin *b, const char *path)
{
	struct rtr__di_file *f = path ? file_of(fs, path) : NULL;

	if (!f || !dwarf_open(f))
		return false;
	b->dwf = f;
	return true;
}

static bool debug_file_valid(struct rtr__di_files *fs, const char *path, uint32_t crc)
{
	struct rtr__di_file *f = path ? file_of(fs, path) : NULL;
	uint32_t c;

	return f && file_crc(f, &c) && c == crc;
}

/* babeltrace2's order: the binary itself, then
 * DIR/.build-id/xx/rest.debug, then the debug link next to the binary, in
 * its .debug/ and under DIR/<binary's directory>/. */
static bool set_dwarf(struct rtr__di_files *fs, struct rtr__di_bin *b)
{
	const char *dir = b->dir ? b->dir : DEFAULT_DEBUG_DIR;

	if (try_dwarf(fs, b, b->elf_path))
		return true;
	if (b->build_id) {
		char pre[3], *file = malloc(2 * b->build_id_len + 8), *sub, *path;
		bool ok;

		if (!file)
			return false;
		snprintf(pre, sizeof(pre), "%02x", b->build_id[0]);
		for (size_t i = 1; i < b->build_id_len; i++)
			snprintf(file + 2 * (i - 1), 3, "%02x", b->build_id[i]);
		strcpy(file + 2 * (b->build_id_len - 1), ".debug");
		sub = rtr__di_path_join(dir, ".build-id", pre);
		path = sub ? rtr__di_path_join(sub, file, NULL) : NULL;
		ok = try_dwarf(fs, b, path);
		free(sub);
		free(path);
		free(file);
		if (ok)
			return true;
	}
	if (b->dbg_link) {
		char *bdir = dirname_of(b->elf_path), *path = NULL, *sub = NULL;
		bool ok = false;

		if (!bdir)
			return false;
		path = rtr__di_path_join(bdir, b->dbg_link, NULL);
		if (debug_file_valid(fs, path, b->dbg_crc))
			goto found;
		free(path);
		path = rtr__di_path_join(bdir, ".debug", b->dbg_link);
		if (debug_file_valid(fs, path, b->dbg_crc))
			goto found;
		free(path);
		path = rtr__di_path_join(dir, bdir, b->dbg_link);
		if (debug_file_valid(fs, path, b->dbg_crc))
			goto found;
		goto out;
	found:
		ok = try_dwarf(fs, b, path);
	out:
		free(sub);
		free(path);
		free(bdir);
		return ok;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* lookups                                                             */

static char *with_offset(const char *name, uint64_t off)
{
	size_t n = strlen(name);
	char *s = malloc(n + 24);

	if (!s)
		return NULL;
	memcpy(s, name, n);
	if (off)
		snprintf(s + n, 24, "+0x%" PRIx64, off);
	else
		strcpy(s + n, "+0");
	return s;
}

static int cmp_sym(const void *a, const void *b)
{
	const uint64_t *x = a, *y = b;

	return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : x[1] < y[1] ? -1 : x[1] > y[1];
}

/* Reads the function symbols of the sections babeltrace2 would scan. */
static void read_symtabs(struct rtr__di_file *f)
{
	Elf_Scn *scn = NULL;

	f->sym_state = 1;
	scn = elf_nextscn(f->elf, NULL);
	if (!scn) {
		f->sym_err = true;
		return;
	}
	for (; scn; scn = elf_nextscn(f->elf, scn)) {
		GElf_Shdr sh;
		Elf_Data *d;
		struct symtab *t, *nt;
		uint64_t *tri;
		size_t cnt, k = 0;

		if (!gelf_getshdr(scn, &sh)) {
			/* an error here ends every scan that gets here */
			nt = realloc(f->tabs, (f->ntabs + 1) * sizeof(*nt));
			if (!nt)
				return;
			f->tabs = nt;
			memset(&f->tabs[f->ntabs++], 0, sizeof(*nt));
			f->tabs[f->ntabs - 1].bad = true;
			return;
		}
		if (sh.sh_type != SHT_SYMTAB)
			continue;
		nt = realloc(f->tabs, (f->ntabs + 1) * sizeof(*nt));
		if (!nt)
			return;
		f->tabs = nt;
		t = &f->tabs[f->ntabs++];
		memset(t, 0, sizeof(*t));
		t->link = sh.sh_link;
		d = elf_getdata(scn, NULL);
		if (!d || !sh.sh_entsize) {
			t->bad = true;
			return;
		}
		cnt = sh.sh_size / sh.sh_entsize;
		/* (value, index in the table, st_name), sorted by value then
		 * index: of equal values the first in the table is kept */
		tri = malloc((cnt ? cnt : 1) * 3 * sizeof(uint64_t));
		if (!tri) {
			t->bad = true;
			return;
		}
		for (size_t i = 0; i < cnt; i++) {
			GElf_Sym s;

			if (!gelf_getsym(d, (int)i, &s)) {
				t->bad = true;
				free(tri);
				return;
			}
			if (GELF_ST_TYPE(s.st_info) != STT_FUNC)
				continue;
			tri[3 * k] = s.st_value;
			tri[3 * k + 1] = i;
			tri[3 * k + 2] = s.st_name;
			k++;
		}
		qsort(tri, k, 3 * sizeof(uint64_t), cmp_sym);
		t->value = malloc((k ? k : 1) * sizeof(uint64_t));
		t->name = malloc((k ? k : 1) * sizeof(size_t));
		if (!t->value || !t->name) {
			free(tri);
			t->bad = true;
			return;
		}
		for (size_t i = 0; i < k; i++) {
			if (t->n && t->value[t->n - 1] == tri[3 * i])
				continue;
			t->value[t->n] = tri[3 * i];
			t->name[t->n++] = (size_t)tri[3 * i + 2];
		}
		free(tri);
	}
}

/* babeltrace2's ELF lookup: the nearest function symbol at or below addr
 * in the first symbol table that has one (no size check). */
static char *elf_func(struct rtr__di_file *f, uint64_t addr)
{
	if (!elf_open(f))
		return NULL;
	if (!f->sym_state)
		read_symtabs(f);
	if (f->sym_err)
		return NULL;
	for (size_t i = 0; i < f->ntabs; i++) {
		const struct symtab *t = &f->tabs[i];
		size_t lo = 0, hi = t->n;
		const char *name;

		if (t->bad)
			return NULL;
		while (lo < hi) { /* first value > addr */
			size_t mid = lo + (hi - lo) / 2;

			if (t->value[mid] <= addr)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (!lo)
			continue;
		name = elf_strptr(f->elf, t->link, t->name[lo - 1]);
		return name ? with_offset(name, addr - t->value[lo - 1]) : NULL;
	}
	return NULL;
}

/* The compile units babeltrace2 walks and their top-level DIEs, read once
 * per file: its lookups walk them for every address (a subprogram whose
 * ranges hold it), calling dwarf_tag() and dwarf_haspc() on each; here the
 * walk is over this index, which answers as those calls would. */
struct dent {
	Dwarf_Die die;
	uint8_t kind; /* 0 another tag, 1 subprogram, 2 dwarf_tag() failed */
	int8_t rstat; /* subprogram: what dwarf_haspc() returns after its
		       * ranges, 0 or -1 (an unreadable range) */
	uint32_t nr;
	uint64_t *r; /* [begin, end) pairs, in dwarf_ranges() order */
};

struct dcu {
	Dwarf_Die cu;
	bool bad; /* dwarf_offdie() failed: lookups reaching it fail */
	struct dent *e;
	size_t n;
};

struct rtr__di_dindex {
	struct dcu *cus;
	size_t n;
};

static void dindex_free(struct rtr__di_dindex *x)
{
	if (!x)
		return;
	for (size_t i = 0; i < x->n; i++) {
		for (size_t k = 0; k < x->cus[i].n; k++)
			free(x->cus[i].e[k].r);
		free(x->cus[i].e);
	}
	free(x->cus);
	free(x);
}

static bool push_range(struct dent *e, size_t *cap, uint64_t b, uint64_t en)
{
	if (e->nr == *cap) {
		size_t nc = *cap ? *cap * 2 : 2;
		uint64_t *nr = realloc(e->r, nc * 2 * sizeof(*nr));

		if (!nr)
			return false;
		e->r = nr;
		*cap = nc;
	}
	e->r[2 * e->nr] = b;
	e->r[2 * e->nr + 1] = en;
	e->nr++;
	return true;
}

/* NULL on no memory (the lookups then give nothing). */
static struct rtr__di_dindex *dindex_build(Dwarf *dw)
{
	struct rtr__di_dindex *x = calloc(1, sizeof(*x));
	Dwarf_Off off = 0, next;
	size_t hsize, cap = 0;

	if (!x)
		return NULL;
	while (dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		struct dcu *c;
		Dwarf_Die die, nx;
		size_t ecap = 0;

		if (x->n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct dcu *n2 = realloc(x->cus, nc * sizeof(*n2));

			if (!n2)
				goto fail;
			x->cus = n2;
			cap = nc;
		}
		c = &x->cus[x->n++];
		memset(c, 0, sizeof(*c));
		if (!dwarf_offdie(dw, off + hsize, &c->cu)) {
			c->bad = true;
			break; /* no lookup goes past it */
		}
		off = next;
		if (dwarf_child(&c->cu, &die) != 0)
			continue;
		for (;;) {
			struct dent *e;
			int tag = dwarf_tag(&die);

			if (c->n == ecap) {
				size_t nc = ecap ? ecap * 2 : 16;
				struct dent *ne = realloc(c->e, nc * sizeof(*ne));

				if (!ne)
					goto fail;
				c->e = ne;
				ecap = nc;
			}
			e = &c->e[c->n++];
			memset(e, 0, sizeof(*e));
			e->die = die;
			if (tag == DW_TAG_invalid) {
				e->kind = 2;
				break; /* no lookup goes past it */
			}
			if (tag == DW_TAG_subprogram) {
				Dwarf_Addr base, b, en;
				ptrdiff_t o = 0;
				size_t rcap = 0;

				e->kind = 1;
				while ((o = dwarf_ranges(&die, o, &base, &b, &en)) > 0)
					if (!push_range(e, &rcap, b, en))
						goto fail;
				e->rstat = o < 0 ? -1 : 0;
			}
			if (dwarf_siblingof(&die, &nx) != 0)
				break;
			die = nx;
		}
	}
	return x;
fail:
	dindex_free(x);
	return NULL;
}

/* dwarf_haspc() of an indexed subprogram */
static int dent_haspc(const struct dent *e, uint64_t pc)
{
	for (uint32_t i = 0; i < e->nr; i++)
		if (pc >= e->r[2 * i] && pc < e->r[2 * i + 1])
			return 1;
	return e->rstat;
}

/* In compile unit c, babeltrace2's first top-level subprogram holding
 * addr: 1 (*out), 0 none, -1 an error on the way. */
static int dcu_subprogram(const struct dcu *c, uint64_t addr, const struct dent **out)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct dent *e = &c->e[i];
		int h;

		if (e->kind == 2)
			return -1;
		if (e->kind != 1)
			continue;
		h = dent_haspc(e, addr);
		if (h)
			*out = e;
		if (h)
			return h;
	}
	return 0;
}

static struct rtr__di_dindex *dindex_of(struct rtr__di_file *f)
{
	if (!f->dx_state) {
		f->dx = dindex_build(f->dw);
		f->dx_state = 1;
	}
	return f->dx;
}

/* babeltrace2's DWARF function name: the first top-level subprogram of the
 * first compile unit whose ranges hold addr, "name+offset" from its
 * low_pc; any libdw error gives no name. */
static char *dwarf_func(struct rtr__di_file *f, uint64_t addr)
{
	struct rtr__di_dindex *x = dindex_of(f);

	if (!x)
		return NULL;
	for (size_t i = 0; i < x->n; i++) {
		const struct dent *e = NULL;
		const char *name;
		Dwarf_Addr low;
		Dwarf_Die die;
		int r;

		if (x->cus[i].bad)
			return NULL;
		r = dcu_subprogram(&x->cus[i], addr, &e);
		if (r < 0)
			return NULL;
		if (!r)
			continue;
		die = e->die;
		name = dwarf_diename(&die);
		if (!name || dwarf_lowpc(&die, &low))
			return NULL;
		return with_offset(name, addr - low);
	}
	return NULL;
}

/* babeltrace2's search of an inlined subroutine holding addr below the
 * subprogram sub: 1 found (*out), 0 not, -1 error. Its walk goes down
 * into a DIE holding addr and then on to that DIE's children from the
 * second one (the first is stepped over), and "found" is whether the last
 * DIE looked at holds addr. */
static int inlined_at(Dwarf_Die *sub, uint64_t addr, Dwarf_Die *out)
{
	Dwarf_Die cur, nx;
	bool contains = false;

	if (dwarf_child(sub, &cur) != 0)
		return -1;
	for (;;) {
		int r = dwarf_haspc(&cur, addr);

		if (r == -1)
			return -1;
		contains = r == 1;
		if (contains) {
			int tag = dwarf_tag(&cur);

			if (tag == DW_TAG_invalid)
				return -1;
			if (tag == DW_TAG_inlined_subroutine)
				break;
			if (dwarf_haschildren(&cur)) {
				if (dwarf_child(&cur, &nx) != 0)
					return -1;
				cur = nx;
			}
		}
		if (dwarf_siblingof(&cur, &nx) != 0)
			break;
		cur = nx;
	}
	*out = cur;
	return contains;
}

/* babeltrace2's source location: per compile unit in order, the call site
 * of an inlined subroutine holding addr in the first top-level subprogram
 * holding it, else the line table row at exactly addr. 1 found, 0 not,
 * -1 error (no location). */
static int dwarf_src(struct rtr__di_file *f, uint64_t addr, char **file, int64_t *line)
{
	struct rtr__di_dindex *x = dindex_of(f);

	if (!x)
		return -1;
	for (size_t i = 0; i < x->n; i++) {
		struct dcu *c = &x->cus[i];
		const struct dent *e = NULL;
		Dwarf_Die sub, in;
		int found = 0, r;
		Dwarf_Line *l;
		Dwarf_Addr la;
		const char *name;
		int ln;

		if (c->bad)
			return -1;
		r = dcu_subprogram(c, addr, &e);
		if (r < 0)
			return -1;
		if (r) {
			sub = e->die;
			found = inlined_at(&sub, addr, &in);
			if (found < 0)
				return -1;
		}
		if (found) {
			Dwarf_Attribute am;
			Dwarf_Sword fno;
			Dwarf_Word lno;
			Dwarf_Files *files;
			const char *fn;

			if (!dwarf_attr(&in, DW_AT_call_file, &am) || dwarf_formsdata(&am, &fno) ||
			    dwarf_getsrcfiles(&c->cu, &files, NULL))
				return -1;
			fn = dwarf_filesrc(files, (size_t)fno, NULL, NULL);
			if (!fn || !dwarf_attr(&in, DW_AT_call_line, &am) ||
			    dwarf_formudata(&am, &lno))
				return -1;
			*file = strdup(fn);
			*line = (int64_t)lno;
			return *file ? 1 : -1;
		}
		l = dwarf_getsrc_die(&c->cu, addr);
		if (!l)
			continue;
		if (dwarf_lineaddr(l, &la))
			return -1;
		name = dwarf_linesrc(l, NULL, NULL);
		if (!name)
			return -1;
		if (la != addr)
			continue;
		if (dwarf_lineno(l, &ln))
			return -1;
		*file = strdup(name);
		*line = ln;
		return *file ? 1 : -1;
	}
	return 0;
}

int rtr__di_bin_resolve(struct rtr__di_files *fs, struct rtr__di_bin *b, uint64_t ip,
			struct rtr__di_src *out)
{
	uint64_t a = b->pic ? ip - b->lo : ip;
	struct look *l;

	out->func = NULL;
	out->src = NULL;
	out->line = 0;
	if (b->build_id && !b->build_id_match)
		return -1;
	if (!b->dwf && !b->elf_only && !set_dwarf(fs, b))
		b->elf_only = true;
	if (b->elf_only) {
		struct rtr__di_file *f = file_of(fs, b->elf_path);

		l = f ? look_of(f, a) : NULL;
		if (!l)
			return 0;
		if (!l->efunc_done) {
			l->efunc = elf_func(f, a);
			l->efunc_done = 1;
		}
		out->func = l->efunc;
		/* babeltrace2 then looks for a source line only to find that
		 * it has no DWARF: nothing */
		return 0;
	}
	l = look_of(b->dwf, a);
	if (!l)
		return 0;
	if (!l->dfunc_done) {
		l->dfunc = dwarf_func(b->dwf, a);
		l->dfunc_done = 1;
	}
	if (!l->dsrc_done) {
		l->has_src = dwarf_src(b->dwf, a, &l->src, &l->line) == 1;
		l->dsrc_done = 1;
	}
	out->func = l->dfunc;
	if (l->has_src) {
		out->src = l->src;
		out->line = l->line;
	}
	return 0;
}
