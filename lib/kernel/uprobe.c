/* Uprobes: a function of any ELF file resolved to a file offset and
 * registered in tracefs's uprobe_events under our group. Design:
 * docs/design/kernel.md §6. */
#define _GNU_SOURCE
#include <ctype.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel-internal.h"
#include "uprobe.h"

#define MAX_PROBES 256

struct rtr__kprobes {
	char tracefs[512];
	char group[96];
	size_t n;
	char events[MAX_PROBES][128];
};

#define fail rtr__kfail

int rtr__find_binary(const char *name, char *buf, size_t cap)
{
	static const char *const libdirs[] = {"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
					      "/lib64", "/usr/lib64", "/lib", "/usr/lib",
					      "/usr/local/lib"};
	const char *path;

	if (strchr(name, '/')) {
		if (!realpath(name, buf))
			return -errno;
		return 0;
	}
	path = getenv("PATH");
	if (path) {
		char *copy = strdup(path), *save = NULL;

		for (char *d = copy ? strtok_r(copy, ":", &save) : NULL; d;
		     d = strtok_r(NULL, ":", &save)) {
			char p[PATH_MAX];

			snprintf(p, sizeof(p), "%s/%s", d, name);
			if (access(p, X_OK) == 0 && realpath(p, buf)) {
				free(copy);
				return 0;
			}
		}
		free(copy);
	}
	for (size_t i = 0; i < sizeof(libdirs) / sizeof(libdirs[0]); i++) {
		char p[PATH_MAX];

		snprintf(p, sizeof(p), "%s/%s", libdirs[i], name);
		if (access(p, R_OK) == 0 && realpath(p, buf))
			return 0;
	}
	(void)cap;
	return -ENOENT;
}

/* ------------------------------------------------------------------------
 * Symbols
 * ------------------------------------------------------------------------ */

struct found {
	bool ok, ifunc;
	uint64_t vaddr, size;
};

/* .symtab, else .dynsym, of the file itself. */
static void elf_symbols(Elf *e, const char *func, struct found *f)
{
	for (int pass = 0; pass < 2 && !f->ok; pass++) {
		Elf_Scn *scn = NULL;
		GElf_Shdr sh;

		while ((scn = elf_nextscn(e, scn))) {
			Elf_Data *d;
			size_t n;

			if (!gelf_getshdr(scn, &sh) ||
			    sh.sh_type != (pass == 0 ? SHT_SYMTAB : SHT_DYNSYM) || !sh.sh_entsize)
				continue;
			d = elf_getdata(scn, NULL);
			n = sh.sh_size / sh.sh_entsize;
			for (size_t i = 0; d && i < n; i++) {
				GElf_Sym s;
				const char *nm;

				if (!gelf_getsym(d, (int)i, &s) || s.st_shndx == SHN_UNDEF)
					continue;
				nm = elf_strptr(e, sh.sh_link, s.st_name);
				if (!nm || strcmp(nm, func))
					continue;
				if (GELF_ST_TYPE(s.st_info) == STT_GNU_IFUNC) {
					f->ifunc = true;
					continue;
				}
				if (GELF_ST_TYPE(s.st_info) != STT_FUNC)
					continue;
				f->ok = true;
				f->vaddr = s.st_value;
				f->size = s.st_size;
				return;
			}
		}
	}
}

static Dwfl *dwfl_open(const char *path, Dwfl_Module **mod)
{
	static char *debuginfo_path;
	static const Dwfl_Callbacks cb = {
	    .find_elf = dwfl_build_id_find_elf,
	    .find_debuginfo = dwfl_standard_find_debuginfo,
	    .section_address = dwfl_offline_section_address,
	    .debuginfo_path = &debuginfo_path,
	};
	Dwfl *d = dwfl_begin(&cb);

	if (!d)
		return NULL;
	*mod = dwfl_report_offline(d, "", path, -1);
	dwfl_report_end(d, NULL, NULL);
	if (!*mod) {
		dwfl_end(d);
		return NULL;
	}
	return d;
}

struct funcs_arg {
	const char *name;
	Dwarf_Die die;
	bool found;
};

static int funcs_cb(Dwarf_Die *die, void *arg)
{
	struct funcs_arg *a = arg;
	const char *n = dwarf_diename(die);
	Dwarf_Addr lo;

	if (n && !strcmp(n, a->name) && dwarf_lowpc(die, &lo) == 0) {
		a->die = *die;
		a->found = true;
		return DWARF_CB_ABORT;
	}
	return DWARF_CB_OK;
}

/* The DWARF subprogram `name` (with code) of the module. */
static bool dwarf_func(Dwfl_Module *mod, const char *name, Dwarf_Die *out)
{
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	Dwarf_Off off = 0, next;
	size_t hsize;
	struct funcs_arg a = {.name = name};

	if (!dw)
		return false;
	while (!a.found && dwarf_nextcu(dw, off, &next, &hsize, NULL, NULL, NULL) == 0) {
		Dwarf_Die cu;

		if (dwarf_offdie(dw, off + hsize, &cu))
			dwarf_getfuncs(&cu, funcs_cb, &a, 0);
		off = next;
	}
	if (a.found)
		*out = a.die;
	return a.found;
}

/* Separate debug info (symbols, then DWARF). */
static void debug_symbols(const char *path, const char *func, struct found *f)
{
	Dwfl_Module *mod;
	Dwfl *d = dwfl_open(path, &mod);
	int n;
	Dwarf_Die die;

	if (!d)
		return;
	n = dwfl_module_getsymtab(mod);
	for (int i = 0; i < n && !f->ok; i++) {
		GElf_Sym s;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *nm = dwfl_module_getsym_info(mod, i, &s, &addr, &shndx, NULL, NULL);

		if (!nm || strcmp(nm, func) || s.st_shndx == SHN_UNDEF)
			continue;
		if (GELF_ST_TYPE(s.st_info) == STT_GNU_IFUNC) {
			f->ifunc = true;
			continue;
		}
		if (GELF_ST_TYPE(s.st_info) != STT_FUNC)
			continue;
		f->ok = true;
		f->vaddr = s.st_value;
		f->size = s.st_size;
	}
	if (!f->ok && dwarf_func(mod, func, &die)) {
		Dwarf_Addr lo, hi;

		if (dwarf_lowpc(&die, &lo) == 0) {
			f->ok = true;
			f->vaddr = lo;
			f->size = dwarf_highpc(&die, &hi) == 0 && hi > lo ? hi - lo : 0;
		}
	}
	dwfl_end(d);
}

int rtr__elf_resolve(const char *path, const char *func, uint64_t add, uint64_t *file_off,
		     char *err, size_t errlen)
{
	struct found f = {0};
	size_t nph;
	int fd, r = -ENOENT;
	Elf *e;

	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		fail(err, errlen, "%s: %s", path, strerror(errno));
		return r;
	}
	e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e || elf_kind(e) != ELF_K_ELF) {
		fail(err, errlen, "%s is not an ELF file", path);
		r = -ENOEXEC;
		goto out;
	}
	elf_symbols(e, func, &f);
	if (!f.ok)
		debug_symbols(path, func, &f);
	if (!f.ok) {
		if (f.ifunc)
			fail(err, errlen,
			     "%s: %s is an IFUNC (a resolver that picks the implementation at run "
			     "time); probe the implementation instead",
			     path, func);
		else
			fail(err, errlen,
			     "%s: no function %s in its symbol tables or debug info", path, func);
		r = f.ifunc ? -EINVAL : -ENOENT;
		goto out;
	}
	if (f.size && add >= f.size) {
		fail(err, errlen, "%s: offset +%" PRIu64 " is beyond %s (%" PRIu64 " bytes)", path,
		     add, func, f.size);
		r = -ERANGE;
		goto out;
	}
	if (elf_getphdrnum(e, &nph) == 0) {
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD ||
			    !(ph.p_flags & PF_X))
				continue;
			if (f.vaddr + add >= ph.p_vaddr && f.vaddr + add < ph.p_vaddr + ph.p_memsz) {
				*file_off = f.vaddr + add - ph.p_vaddr + ph.p_offset;
				r = 0;
				goto out;
			}
		}
	}
	fail(err, errlen, "%s: %s is not in an executable segment", path, func);
	r = -ENOEXEC;
out:
	if (e)
		elf_end(e);
	close(fd);
	return r;
}

/* ------------------------------------------------------------------------
 * DWARF parameters
 * ------------------------------------------------------------------------ */

static const char *const argreg[] = {"%di", "%si", "%dx", "%cx", "%r8", "%r9"};

int rtr__dwarf_param_fetcharg(const char *path, const char *func, const char *param, char *buf,
			      size_t cap, char *err, size_t errlen)
{
	Dwfl_Module *mod;
	Dwfl *d = dwfl_open(path, &mod);
	Dwarf_Die die, child;
	int idx = 0, r = -ENOENT;

	if (!d) {
		fail(err, errlen, "%s: cannot read it with libdw", path);
		return -ENOEXEC;
	}
	if (!dwarf_func(mod, func, &die)) {
		fail(err, errlen,
		     "%s: no debug info (DWARF) for %s: give the argument as NAME=FETCHARG "
		     "(e.g. %s=%%di:s64)",
		     path, func, param);
		goto out;
	}
	if (dwarf_child(&die, &child) != 0) {
		fail(err, errlen, "%s: %s has no parameters in its debug info", path, func);
		goto out;
	}
	do {
		Dwarf_Attribute ta;
		Dwarf_Die type, peeled;
		const char *n;
		int size, tag;
		Dwarf_Word enc = DW_ATE_unsigned;
		bool is_int;

		if (dwarf_tag(&child) != DW_TAG_formal_parameter)
			continue;
		n = dwarf_diename(&child);
		if (!dwarf_attr_integrate(&child, DW_AT_type, &ta) || !dwarf_formref_die(&ta, &type) ||
		    dwarf_peel_type(&type, &peeled) != 0) {
			fail(err, errlen, "%s: %s: parameter %s has no type", path, func,
			     n ? n : "?");
			r = -EINVAL;
			goto out;
		}
		tag = dwarf_tag(&peeled);
		size = dwarf_bytesize(&peeled);
		if (tag == DW_TAG_pointer_type)
			size = 8;
		if (tag == DW_TAG_base_type) {
			Dwarf_Attribute ea;

			if (dwarf_attr(&peeled, DW_AT_encoding, &ea))
				dwarf_formudata(&ea, &enc);
		}
		is_int = tag == DW_TAG_pointer_type || tag == DW_TAG_enumeration_type ||
			 (tag == DW_TAG_base_type && enc != DW_ATE_float && size > 0 && size <= 8);
		if (n && !strcmp(n, param)) {
			if (!is_int) {
				fail(err, errlen,
				     "%s: %s: parameter %s is not an integer or pointer (give it "
				     "as NAME=FETCHARG)",
				     path, func, param);
				r = -EINVAL;
				goto out;
			}
			if (idx >= 6) {
				fail(err, errlen,
				     "%s: %s: parameter %s is passed on the stack (give it as "
				     "NAME=FETCHARG)",
				     path, func, param);
				r = -EINVAL;
				goto out;
			}
			{
				bool sgn = tag == DW_TAG_base_type &&
					   (enc == DW_ATE_signed || enc == DW_ATE_signed_char);
				const char *t = tag == DW_TAG_pointer_type ? "x64" : NULL;
				char tb[8];

				if (!t) {
					snprintf(tb, sizeof(tb), "%c%d", sgn ? 's' : 'u',
						 size == 1 ? 8 : size == 2 ? 16 : size == 4 ? 32 : 64);
					t = tb;
				}
				snprintf(buf, cap, "%s=%s:%s", param, argreg[idx], t);
			}
			r = 0;
			goto out;
		}
		if (!is_int) {
			/* a float or aggregate moves the rest out of the
			 * simple register sequence */
			if (tag != DW_TAG_base_type || enc != DW_ATE_float) {
				idx = 99;
				continue;
			}
			continue;
		}
		idx++;
	} while (dwarf_siblingof(&child, &child) == 0);
	fail(err, errlen, "%s: %s has no parameter named %s", path, func, param);
out:
	dwfl_end(d);
	return r;
}

/* ------------------------------------------------------------------------
 * Registration
 * ------------------------------------------------------------------------ */

static int uprobe_write(const char *tracefs, const char *line)
{
	char path[600];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/uprobe_events", tracefs);
	fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, line, strlen(line));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* The last line of tracefs's error_log, if any. */
static void kernel_error(const char *tracefs, char *buf, size_t cap)
{
	char path[600], text[8192];
	ssize_t n;
	int fd;
	char *last, *line;

	buf[0] = 0;
	snprintf(path, sizeof(path), "%s/error_log", tracefs);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return;
	text[n] = 0;
	last = NULL;
	for (line = strstr(text, "error: "); line; line = strstr(line + 1, "error: "))
		last = line;
	if (last) {
		last += 7;
		last[strcspn(last, "\n")] = 0;
		snprintf(buf, cap, " (the kernel says: %s)", last);
	}
}

static void sanitize(char *s)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '_')
			*s = '_';
}

int rtr__kprobes_create(struct rtr__kprobes **out, const char *tracefs, const char *group,
			const struct rtr_kernel_probe *probes, size_t n,
			const struct rtr_kernel_log *log, char *err, size_t errlen)
{
	struct rtr__kprobes *p;

	*out = NULL;
	if (n > MAX_PROBES) {
		fail(err, errlen, "at most %d probes", MAX_PROBES);
		return -E2BIG;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	snprintf(p->tracefs, sizeof(p->tracefs), "%s", tracefs);
	snprintf(p->group, sizeof(p->group), "%s", group);
	*out = p;
	for (size_t i = 0; i < n; i++) {
		const struct rtr_kernel_probe *pr = &probes[i];
		char spec[PATH_MAX + 256], bin[PATH_MAX], func[256], ev[128], line[8192], why[512];
		char *colon, *plus;
		uint64_t add = 0, off;
		size_t len;
		int r;

		snprintf(spec, sizeof(spec), "%s", pr->spec ? pr->spec : "");
		colon = strrchr(spec, ':');
		if (!colon || colon == spec || !colon[1]) {
			fail(err, errlen, "%s '%s': expected BINARY:FUNCTION[+OFFSET]",
			     pr->ret ? "--probe-ret" : "--probe", spec);
			return -EINVAL;
		}
		*colon = 0;
		snprintf(func, sizeof(func), "%s", colon + 1);
		plus = strchr(func, '+');
		if (plus) {
			char *end;

			*plus = 0;
			errno = 0;
			add = strtoull(plus + 1, &end, 0);
			if (errno || end == plus + 1 || *end || pr->ret) {
				fail(err, errlen,
				     pr->ret ? "--probe-ret %s:%s+%s: a return probe takes no offset"
					     : "--probe %s:%s: bad offset '%s'",
				     spec, func, plus + 1);
				return -EINVAL;
			}
		}
		for (const char *c = func; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '@') {
				fail(err, errlen, "--probe %s:%s: bad function name", spec, func);
				return -EINVAL;
			}
		if (rtr__find_binary(spec, bin, sizeof(bin))) {
			fail(err, errlen, "--probe: no such program or library: %s", spec);
			return -ENOENT;
		}
		r = rtr__elf_resolve(bin, func, add, &off, why, sizeof(why));
		if (r) {
			fail(err, errlen, "%s %s:%s: %s", pr->ret ? "--probe-ret" : "--probe", spec,
			     func, why);
			return r;
		}
		snprintf(ev, sizeof(ev), "%s_%.40s", pr->ret ? "uretprobe" : "uprobe", func);
		sanitize(ev);
		if (plus)
			snprintf(ev + strlen(ev), sizeof(ev) - strlen(ev), "_%" PRIu64, add);
		for (size_t k = 0, dup = 1; k < p->n; k++)
			if (!strcmp(p->events[k], ev)) {
				snprintf(ev + strlen(ev), sizeof(ev) - strlen(ev), "_%zu", ++dup);
				k = (size_t)-1;
			}
		len = (size_t)snprintf(line, sizeof(line), "%c:%s/%s %s:0x%" PRIx64,
				       pr->ret ? 'r' : 'p', group, ev, bin, off);
		for (size_t a = 0; a < pr->nargs && len < sizeof(line); a++) {
			const char *arg = pr->args[a];
			char fa[512];

			if (!strchr(arg, '=')) {
				/* a parameter name: its location from DWARF */
				if (pr->ret) {
					fail(err, errlen,
					     "--probe-arg %s: a return probe sees no parameters "
					     "(use NAME=$retval)",
					     arg);
					return -EINVAL;
				}
				r = rtr__dwarf_param_fetcharg(bin, func, arg, fa, sizeof(fa), why,
							      sizeof(why));
				if (r) {
					fail(err, errlen, "--probe-arg %s: %s", arg, why);
					return r;
				}
				arg = fa;
			}
			if (strpbrk(arg, "\n")) {
				fail(err, errlen, "--probe-arg: bad argument");
				return -EINVAL;
			}
			len += (size_t)snprintf(line + len, sizeof(line) - len, " %s", arg);
		}
		if (pr->ret && !pr->nargs)
			len += (size_t)snprintf(line + len, sizeof(line) - len, " ret=$retval:s64");
		if (len >= sizeof(line)) {
			fail(err, errlen, "probe definition too long");
			return -E2BIG;
		}
		r = uprobe_write(tracefs, line);
		if (r) {
			kernel_error(tracefs, why, sizeof(why));
			fail(err, errlen, "the kernel refused the probe '%s': %s%s", line,
			     strerror(-r), why);
			return r;
		}
		snprintf(p->events[p->n++], sizeof(p->events[0]), "%s", ev);
		rtr__klog(log, RTR_KERNEL_LOG_INFO, "uprobe: %s", line);
	}
	return 0;
}

size_t rtr__kprobes_count(const struct rtr__kprobes *p)
{
	return p ? p->n : 0;
}

const char *rtr__kprobes_event(const struct rtr__kprobes *p, size_t i)
{
	return p->events[i];
}

void rtr__kprobes_destroy(struct rtr__kprobes *p, const struct rtr_kernel_log *log)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++) {
		char line[300];
		int r;

		snprintf(line, sizeof(line), "-:%s/%s", p->group, p->events[i]);
		r = uprobe_write(p->tracefs, line);
		if (r)
			rtr__klog(log, RTR_KERNEL_LOG_WARN,
				  "cannot remove the uprobe %s/%s: %s (it is removed at the next "
				  "start)",
				  p->group, p->events[i], strerror(-r));
	}
	free(p);
}
