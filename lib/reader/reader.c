/* Reader front end: trace discovery, stream grouping, N-way heap merge in
 * babeltrace2's order, public accessors. See docs/design/reader.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "stream.h"

/* ------------------------------------------------------------------ */
/* clock conversion (babeltrace2's arithmetic, including its use of a
 * double for non-GHz clocks)                                          */

static uint64_t ns_from_value(uint64_t freq, uint64_t v)
{
	double d;

	if (freq == 1000000000u)
		return v;
	d = (1e9 * (double)v) / (double)freq;
	if (d >= (double)UINT64_MAX)
		return UINT64_MAX;
	return (uint64_t)d;
}

int64_t rtr__clock_ns(const struct rtr__clock *c, uint64_t cycles, int *ovf)
{
	int64_t ns, add;
	uint64_t u;

	*ovf = 0;
	if (__builtin_mul_overflow(c->offset_s, (int64_t)1000000000, &ns))
		goto bad;
	u = ns_from_value(c->freq, c->offset);
	if (u > INT64_MAX || __builtin_add_overflow(ns, (int64_t)u, &ns))
		goto bad;
	u = ns_from_value(c->freq, cycles);
	if (u >= (uint64_t)INT64_MAX)
		goto bad;
	add = (int64_t)u;
	if (__builtin_add_overflow(ns, add, &ns))
		goto bad;
	return ns;
bad:
	*ovf = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* paths                                                               */

static char *xstrdup(const char *s)
{
	char *d = strdup(s);

	return d;
}

static char *join(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	char *r = malloc(la + lb + 2);

	if (!r)
		return NULL;
	memcpy(r, a, la);
	if (la && a[la - 1] != '/')
		r[la++] = '/';
	memcpy(r + la, b, lb + 1);
	return r;
}

/* The current directory as babeltrace2 (GLib's g_get_current_dir) names
 * it: $PWD when it is absolute and is the current directory (so a path
 * reached through a symbolic link keeps its name), else getcwd(). */
static bool current_dir(char *buf, size_t cap)
{
	const char *pwd = getenv("PWD");
	struct stat a, b;

	if (pwd && pwd[0] == '/' && strlen(pwd) < cap && stat(pwd, &a) == 0 && stat(".", &b) == 0 &&
	    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		memcpy(buf, pwd, strlen(pwd) + 1);
		return true;
	}
	return getcwd(buf, cap) != NULL;
}

/* Absolute, with "." and ".." resolved lexically (no symlinks). */
static char *normalize(const char *p)
{
	char cwd[PATH_MAX];
	char *full, *out, *seg, *save = NULL;
	size_t n = 0;

	if (p[0] == '/') {
		full = xstrdup(p);
	} else {
		if (!current_dir(cwd, sizeof(cwd)))
			return xstrdup(p);
		full = join(cwd, p);
	}
	if (!full)
		return NULL;
	out = malloc(strlen(full) + 2);
	if (!out) {
		free(full);
		return NULL;
	}
	for (seg = strtok_r(full, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
		if (!strcmp(seg, "."))
			continue;
		if (!strcmp(seg, "..")) {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			continue;
		}
		out[n++] = '/';
		memcpy(out + n, seg, strlen(seg));
		n += strlen(seg);
	}
	if (!n)
		out[n++] = '/';
	out[n] = 0;
	free(full);
	return out;
}

/* ------------------------------------------------------------------ */
/* discovery                                                           */

static int cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int list_dir(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (rtr__grow((void **)names, &cap, *n + 1, sizeof(char *)) ||
		    !((*names)[*n] = xstrdup(de->d_name))) {
			closedir(d);
			return -ENOMEM;
		}
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof(char *), cmpstr);
	return 0;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

static int add_trace(struct rtr_reader *r, const char *dir, const char *input);
static int finish_open(struct rtr_reader *r);

static int discover(struct rtr_reader *r, const char *path, const char *input, int depth)
{
	struct stat st;
	char *md;
	char **names;
	size_t n;
	int ret = 0;

	if (depth > 32)
		return 0;
	md = join(path, "metadata");
	if (!md)
		return -ENOMEM;
	if (stat(md, &st) == 0 && S_ISREG(st.st_mode)) {
		free(md);
		return add_trace(r, path, input);
	}
	free(md);
	if (list_dir(path, &names, &n))
		return 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		char *sub = join(path, names[i]);

		if (!sub) {
			ret = -ENOMEM;
			break;
		}
		if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode))
			ret = discover(r, sub, input, depth + 1);
		free(sub);
	}
	free_names(names, n);
	return ret;
}

static struct rtr__trace_class *file_tc(struct rtr__file *f)
{
	return &f->tr->tc;
}

static void free_file(struct rtr__file *f)
{
	if (!f)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->path);
	free(f->abspath);
	free(f->idx_off);
	free(f->idx_end);
	free(f);
}

/* Parses metadata text into a new trace of r. */
static int trace_from_text(struct rtr_reader *r, struct rtr__trace *t, const char *mdpath, int pk)
{
	if (rtr__tsdl_parse(&t->tc, t->text, t->text_len, mdpath, &r->err))
		return -EINVAL;
	if (pk > 0 && pk - 1 != t->tc.bo) {
		rtr__seterr(&r->err,
			    "%s: packetized metadata byte order (%s) differs from the trace byte "
			    "order (%s)",
			    mdpath, pk - 1 ? "big-endian" : "little-endian",
			    t->tc.bo ? "big-endian" : "little-endian");
		return -EINVAL;
	}
	if (rtr__plans_build(&t->tc, &r->err))
		return -EINVAL;
	if (t->tc.has_uuid)
		t->uuid = t->tc.uuid;
	return 0;
}

static int add_trace(struct rtr_reader *r, const char *dir, const char *input)
{
	struct rtr__trace *t = calloc(1, sizeof(*t));
	char *mdpath = join(dir, "metadata");
	int pk;

	if (!t || !mdpath) {
		free(t);
		free(mdpath);
		return -ENOMEM;
	}
	t->dir = xstrdup(dir);
	{
		size_t li = strlen(input);

		while (li > 1 && input[li - 1] == '/')
			li--;
		if (!strncmp(dir, input, li) && dir[li] == '/' && dir[li + 1])
			t->suffix = xstrdup(dir + li + 1);
	}
	if (rtr__grow((void **)&r->traces, &r->cap_tr, r->ntr + 1, sizeof(*r->traces))) {
		free(t);
		free(mdpath);
		return -ENOMEM;
	}
	t->index = (uint32_t)r->ntr;
	r->traces[r->ntr++] = t;
	pk = rtr__metadata_read(mdpath, &t->text, &t->text_len, &r->err);
	if (pk < 0) {
		free(mdpath);
		return -EINVAL;
	}
	pk = trace_from_text(r, t, mdpath, pk);
	free(mdpath);
	return pk < 0 ? pk : 0;
}

static int cmp_file_ts(const void *a, const void *b)
{
	const struct rtr__file *x = *(struct rtr__file *const *)a;
	const struct rtr__file *y = *(struct rtr__file *const *)b;

	if (x->ts_begin != y->ts_begin)
		return x->ts_begin < y->ts_begin ? -1 : 1;
	return strcmp(x->abspath, y->abspath);
}

static int cmp_stream_path(const void *a, const void *b)
{
	const struct rtr__stream *x = *(struct rtr__stream *const *)a;
	const struct rtr__stream *y = *(struct rtr__stream *const *)b;
	int c = (int)x->tr->group->index - (int)y->tr->group->index;

	if (c)
		return c;
	return strcmp(x->files[0]->abspath, y->files[0]->abspath);
}

static void read_index(struct rtr__trace *t, struct rtr__file *f, const char *name)
{
	char *idxdir = join(t->dir, "index");
	char *fname = NULL, *p = NULL;
	int fd = -1;
	uint8_t hdr[16];
	uint32_t elen;
	struct stat st;

	if (!idxdir)
		return;
	fname = malloc(strlen(name) + 5);
	if (!fname)
		goto out;
	sprintf(fname, "%s.idx", name);
	p = join(idxdir, fname);
	if (!p)
		goto out;
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
	free(fname);
	free(idxdir);
}

/* Opens the data files of trace t, probes them and groups them into
 * streams. */
static int open_streams(struct rtr_reader *r, struct rtr__trace *t)
{
	char **names;
	size_t n;
	int ret = 0;
	char gkey[64];

	if (list_dir(t->dir, &names, &n))
		return 0;
	for (size_t i = 0; i < n && !ret; i++) {
		struct stat st;
		struct rtr__file *f;
		struct rtr__stream *s = NULL;
		int pr;

		if (!strcmp(names[i], "metadata"))
			continue;
		f = calloc(1, sizeof(*f));
		if (!f) {
			ret = -ENOMEM;
			break;
		}
		f->fd = -1;
		f->path = join(t->dir, names[i]);
		if (!f->path) {
			free_file(f);
			ret = -ENOMEM;
			break;
		}
		/* O_NONBLOCK: a FIFO among the stream files must not hang
		 * the open (it is skipped, as babeltrace2 skips it); a file
		 * that cannot be opened is an error, never a silent loss */
		f->fd = open(f->path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (f->fd < 0) {
			rtr__seterr(&r->err, "%s: cannot open: %s", f->path, strerror(errno));
			ret = -errno;
			free_file(f);
			break;
		}
		if (fstat(f->fd, &st) || !S_ISREG(st.st_mode)) {
			free_file(f);
			continue;
		}
		f->size = (uint64_t)st.st_size;
		f->dev = (uint64_t)st.st_dev;
		f->ino = (uint64_t)st.st_ino;
		f->tr = t;
		f->tc = file_tc(f);
		f->abspath = normalize(f->path);
		if (!f->abspath) {
			free_file(f);
			ret = -ENOMEM;
			break;
		}
		read_index(t, f, names[i]);
		pr = rtr__file_probe(f, &t->tc, &r->err, f->idx_n == 0);
		if (pr < 0) {
			free_file(f);
			ret = -EINVAL;
			break;
		}
		if (pr == 1) { /* empty file */
			free_file(f);
			continue;
		}
		/* reopened when a window is mapped: thousands of streams
		 * need no more descriptors than one */
		close(f->fd);
		f->fd = -1;
		r->total_bytes += f->size;
		/* group with an existing stream of the same trace group,
		 * stream class and instance id */
		if (f->has_instance_id) {
			const uint64_t *k;

			snprintf(gkey, sizeof(gkey), "%p/%" PRIu64, (void *)t->group, f->sc->id);
			k = rtr__strmap_get(&r->groups, f->instance_id, gkey);
			if (k)
				s = r->streams[*k];
		}
		if (!s) {
			s = calloc(1, sizeof(*s));
			if (!s || rtr__grow((void **)&r->streams, &r->cap_st, r->nst + 1,
					    sizeof(*r->streams))) {
				free(s);
				free_file(f);
				ret = -ENOMEM;
				break;
			}
			s->tr = t;
			s->err = &r->err;
			s->warn = r->opt.warn;
			s->warn_arg = r->opt.warn_arg;
			s->no_emit = r->opt.skip_values;
			s->all = r->opt.all_values;
			if (f->has_instance_id &&
			    (!(s->group_key = strdup(gkey)) ||
			     rtr__strmap_put(&r->groups, f->instance_id, s->group_key, r->nst) < 0)) {
				free(s->group_key);
				free(s);
				free_file(f);
				ret = -ENOMEM;
				break;
			}
			r->streams[r->nst++] = s;
		}
		if (rtr__grow((void **)&s->files, &s->cap_files, s->nfiles + 1,
			      sizeof(*s->files))) {
			free_file(f);
			ret = -ENOMEM;
			break;
		}
		s->files[s->nfiles++] = f;
	}
	free_names(names, n);
	return ret;
}

static char *trace_name(struct rtr__trace *t)
{
	const struct rtr__env *h = rtr__env_find(&t->tc, "hostname");
	const char *suffix = t->merged ? NULL : t->suffix;
	size_t l = 0;
	char *s;

	if (h && !h->is_int)
		l += strlen(h->s) + 1;
	if (suffix)
		l += strlen(suffix);
	s = malloc(l + 1);
	if (!s)
		return NULL;
	s[0] = 0;
	if (h && !h->is_int) {
		strcat(s, h->s);
		if (suffix)
			strcat(s, "/");
	}
	if (suffix)
		strcat(s, suffix);
	return s;
}

int rtr_reader_open(const char *const *paths, size_t n, const struct rtr_reader_options *opts,
		    struct rtr_reader **out, char *err, size_t errlen)
{
	struct rtr_reader *r = calloc(1, sizeof(*r));
	int ret = 0;

	*out = NULL;
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (opts)
		r->opt = *opts;
	if (r->opt.guard_sigbus)
		rtr__sigbus_guard();
	for (size_t i = 0; i < n && !ret; i++) {
		struct stat st;
		size_t before = r->ntr;

		if (stat(paths[i], &st)) {
			rtr__seterr(&r->err, "%s: %s", paths[i], strerror(errno));
			ret = -errno;
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			rtr__seterr(&r->err,
				    "%s: not a directory (expecting a CTF trace directory)",
				    paths[i]);
			ret = -ENOTDIR;
			break;
		}
		ret = discover(r, paths[i], paths[i], 0);
		if (!ret && r->ntr == before) {
			rtr__seterr(&r->err,
				    "%s: no CTF trace found (no 'metadata' file in this directory "
				    "or below)",
				    paths[i]);
			ret = -ENOENT;
		}
	}
	/* group traces with the same UUID */
	for (size_t i = 0; i < r->ntr && !ret; i++) {
		struct rtr__trace *t = r->traces[i];

		t->group = t;
		for (size_t k = 0; k < i; k++) {
			struct rtr__trace *o = r->traces[k];

			if (t->uuid && o->uuid && o->group == o && !memcmp(t->uuid, o->uuid, 16)) {
				t->group = o;
				o->merged = t->merged = true;
				break;
			}
		}
	}
	for (size_t i = 0; i < r->ntr && !ret; i++)
		ret = open_streams(r, r->traces[i]);
	if (!ret)
		ret = finish_open(r);
	if (ret) {
		snprintf(err, errlen, "%s", r->err.set ? r->err.msg : strerror(-ret));
		rtr_reader_close(r);
		return ret;
	}
	*out = r;
	return 0;
}

static int finish_open(struct rtr_reader *r)
{
	int ret = 0;

	for (size_t i = 0; i < r->ntr && !ret; i++) {
		r->traces[i]->name = trace_name(r->traces[i]);
		if (!r->traces[i]->name)
			ret = -ENOMEM;
	}
	if (!ret) {
		/* deterministic order, auto stream ids as babeltrace2 */
		uint64_t *next_id = calloc(r->ntr + 1, sizeof(*next_id));

		if (r->nst)
			qsort(r->streams, r->nst, sizeof(*r->streams), cmp_stream_path);
		for (size_t i = 0; i < r->nst && next_id; i++) {
			struct rtr__stream *s = r->streams[i];
			struct rtr__file *f0;
			struct rtr__trace *g = s->tr->group;

			qsort(s->files, s->nfiles, sizeof(*s->files), cmp_file_ts);
			f0 = s->files[0];
			s->info.trace_name = g->name;
			s->info.path = f0->abspath;
			s->info.uuid = g->uuid;
			s->info.stream_class_id = f0->sc->id;
			s->info.stream_id =
			    f0->has_instance_id ? f0->instance_id : next_id[g->index]++;
			s->info.cpu_id = -1;
			s->info.index = (uint32_t)i;
			s->info.trace_index = g->index;
			s->sc = f0->sc;
			s->tc = f0->tc;
			s->heap_pos = UINT32_MAX;
		}
		if (!next_id)
			ret = -ENOMEM;
		free(next_id);
	}
	if (!ret) {
		size_t nc = 0, k = 0;

		for (size_t i = 0; i < r->ntr; i++)
			for (size_t s = 0; s < r->traces[i]->tc.n_scs; s++)
				nc += r->traces[i]->tc.scs[s]->n_ecs;
		r->classes = calloc(nc + 1, sizeof(*r->classes));
		if (!r->classes)
			ret = -ENOMEM;
		for (size_t i = 0; i < r->ntr && !ret; i++)
			for (size_t s = 0; s < r->traces[i]->tc.n_scs; s++) {
				struct rtr__stream_class *sc = r->traces[i]->tc.scs[s];

				for (size_t e = 0; e < sc->n_ecs; e++) {
					sc->ecs[e]->gindex = (uint32_t)k;
					r->classes[k++] = sc->ecs[e];
				}
			}
		r->nclasses = k;
	}
	return ret;
}

int rtr__reader_open_mem(const uint8_t *metadata, size_t mlen, const uint8_t *data, size_t n,
			 const struct rtr_reader_options *opts, struct rtr_reader **out, char *err,
			 size_t errlen)
{
	struct rtr_reader *r = calloc(1, sizeof(*r));
	struct rtr__trace *t = NULL;
	struct rtr__file *f = NULL;
	struct rtr__stream *s = NULL;
	int pk, ret = -ENOMEM;

	*out = NULL;
	if (!r)
		goto fail;
	if (opts)
		r->opt = *opts;
	t = calloc(1, sizeof(*t));
	if (!t || rtr__grow((void **)&r->traces, &r->cap_tr, 1, sizeof(*r->traces))) {
		free(t);
		goto fail;
	}
	r->traces[r->ntr++] = t;
	t->dir = xstrdup("(memory)");
	t->group = t;
	pk = rtr__metadata_decode(metadata, mlen, "(memory)/metadata", &t->text, &t->text_len,
				  &r->err);
	if (pk < 0 || (ret = trace_from_text(r, t, "(memory)/metadata", pk))) {
		ret = -EINVAL;
		goto fail;
	}
	ret = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto fail;
	f->fd = -1;
	f->mem = data;
	f->size = n;
	f->tr = t;
	f->tc = &t->tc;
	f->path = xstrdup("(memory)/stream");
	f->abspath = xstrdup("(memory)/stream");
	if (!f->path || !f->abspath) {
		free_file(f);
		goto fail;
	}
	if (n) {
		ret = rtr__file_probe(f, &t->tc, &r->err, true);
		if (ret < 0) {
			free_file(f);
			ret = -EINVAL;
			goto fail;
		}
		ret = -ENOMEM;
		s = calloc(1, sizeof(*s));
		if (!s || rtr__grow((void **)&r->streams, &r->cap_st, 1, sizeof(*r->streams)) ||
		    rtr__grow((void **)&s->files, &s->cap_files, 1, sizeof(*s->files))) {
			free(s);
			free_file(f);
			goto fail;
		}
		s->files[s->nfiles++] = f;
		s->tr = t;
		s->err = &r->err;
		s->no_emit = r->opt.skip_values;
		r->streams[r->nst++] = s;
		r->total_bytes = n;
	} else {
		free_file(f);
	}
	ret = finish_open(r);
	if (ret)
		goto fail;
	*out = r;
	return 0;
fail:
	snprintf(err, errlen, "%s", r && r->err.set ? r->err.msg : strerror(-ret));
	rtr_reader_close(r);
	return ret;
}

void rtr_reader_close(struct rtr_reader *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nst; i++) {
		struct rtr__stream *s = r->streams[i];

		rtr__stream_fini(s);
		for (size_t k = 0; k < s->nfiles; k++)
			free_file(s->files[k]);
		free(s->files);
		free(s->group_key);
		free(s);
	}
	free(r->streams);
	rtr__strmap_free(&r->groups);
	for (size_t i = 0; i < r->ntr; i++) {
		struct rtr__trace *t = r->traces[i];

		rtr__trace_class_free(&t->tc);
		free(t->dir);
		free(t->suffix);
		free(t->name);
		free(t->text);
		free(t);
	}
	free(r->traces);
	free(r->heap);
	free(r->classes);
	free(r);
}

const char *rtr_reader_error(const struct rtr_reader *r)
{
	return r->err.set ? r->err.msg : "unknown error";
}

/* ------------------------------------------------------------------ */
/* merge                                                               */

static int type_weight(int item)
{
	switch (item) {
	case IT_EVENT:
		return 2;
	case IT_DISC_EVENTS:
		return 3;
	case IT_DISC_PACKETS:
		return 6;
	default:
		return 9;
	}
}

static void set_key(struct rtr__stream *s)
{
	const struct rtr__clock *c = s->sc->clock >= 0 ? &s->tc->clocks[s->sc->clock] : NULL;
	int ovf = 0;

	if (rtr_likely(s->item == IT_EVENT && s->ns_fast && s->ev_clock <= s->ns_max)) {
		s->key_type = 2;
		s->key_ns = s->ns_base + (int64_t)s->ev_clock;
		return;
	}
	s->key_type = type_weight(s->item);
	if (!c) {
		s->key_ns = INT64_MIN;
		return;
	}
	if (s->item == IT_EVENT)
		s->key_ns = rtr__clock_ns(c, s->ev_clock, &ovf);
	else if (s->cur_pend.has_range)
		s->key_ns = rtr__clock_ns(c, s->cur_pend.begin, &ovf);
	else
		s->key_ns = INT64_MIN;
	if (ovf)
		s->key_ns = INT64_MAX;
}

static int scmp(const struct rtr__stream *a, const struct rtr__stream *b)
{
	int c;

	if (a->key_ns != b->key_ns)
		return a->key_ns < b->key_ns ? -1 : 1;
	if (a->info.uuid && !b->info.uuid)
		return -1;
	if (!a->info.uuid && b->info.uuid)
		return 1;
	if (a->info.uuid && (c = memcmp(a->info.uuid, b->info.uuid, 16)))
		return c;
	if ((c = strcmp(a->info.trace_name, b->info.trace_name)))
		return c;
	if (a->info.stream_class_id != b->info.stream_class_id)
		return a->info.stream_class_id < b->info.stream_class_id ? -1 : 1;
	if (a->info.stream_id != b->info.stream_id)
		return a->info.stream_id < b->info.stream_id ? -1 : 1;
	if (a->key_type != b->key_type)
		return a->key_type < b->key_type ? -1 : 1;
	if (a->item == IT_EVENT && b->item == IT_EVENT && a->ec && b->ec && a->ec->id != b->ec->id)
		return a->ec->id < b->ec->id ? -1 : 1;
	return a->info.index < b->info.index ? -1 : a->info.index > b->info.index;
}

static void heap_up(struct rtr_reader *r, size_t i)
{
	struct rtr__stream *x = r->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (scmp(r->heap[p], x) <= 0)
			break;
		r->heap[i] = r->heap[p];
		i = p;
	}
	r->heap[i] = x;
}

static void heap_down(struct rtr_reader *r, size_t i)
{
	struct rtr__stream *x = r->heap[i];
	size_t n = r->nheap;

	while (1) {
		size_t c = 2 * i + 1;

		if (c >= n)
			break;
		if (c + 1 < n && scmp(r->heap[c + 1], r->heap[c]) < 0)
			c++;
		if (scmp(x, r->heap[c]) <= 0)
			break;
		r->heap[i] = r->heap[c];
		i = c;
	}
	r->heap[i] = x;
}

static void heap_push(struct rtr_reader *r, struct rtr__stream *s)
{
	r->heap[r->nheap++] = s;
	heap_up(r, r->nheap - 1);
}

static bool name_ok(const struct rtr_reader *r, const char *name)
{
	if (!r->opt.n_patterns)
		return true;
	for (size_t i = 0; i < r->opt.n_patterns; i++)
		if (!fnmatch(r->opt.patterns[i], name ? name : "", 0))
			return true;
	return false;
}

static void seek_begin(struct rtr_reader *r, struct rtr__stream *s)
{
	/* with an index, skip packets ending before the begin time */
	struct rtr__file *f = s->files[0];
	const struct rtr__clock *c;
	size_t k = 0;

	if (!r->opt.has_begin || s->sc->clock < 0 || !f->idx_n || s->nfiles != 1)
		return;
	c = &s->tc->clocks[s->sc->clock];
	while (k < f->idx_n) {
		int ovf;
		int64_t ns = rtr__clock_ns(c, f->idx_end[k], &ovf);

		if (ovf || ns >= r->opt.begin_ns)
			break;
		k++;
	}
	/* keep the previous packet so discarded counts stay relative */
	if (k >= 2 && k < f->idx_n && f->idx_off[k - 1] < f->size)
		s->seek_begin_cycles = f->idx_off[k - 1];
}

/* Starts every stream (no item decoded yet). */
static void reader_start(struct rtr_reader *r)
{
	r->started = true;
	for (size_t i = 0; i < r->nst; i++) {
		struct rtr__stream *s = r->streams[i];

		rtr__stream_start(s);
		if (s->sc->clock >= 0) {
			const struct rtr__clock *c = &s->tc->clocks[s->sc->clock];
			int ovf;
			int64_t base = rtr__clock_ns(c, 0, &ovf);

			if (!ovf && c->freq == 1000000000u) {
				s->ns_fast = true;
				s->ns_base = base;
				s->ns_max = base >= 0 ? (uint64_t)(INT64_MAX - 1 - base)
						      : (uint64_t)INT64_MAX - 1;
			}
		}
		seek_begin(r, s);
		if (s->seek_begin_cycles) {
			s->pkt_off = s->seek_begin_cycles;
			s->bytes_done = s->pkt_off;
		}
	}
}

/* Next item of stream s within the filters: 1, 0 at the end, -1 error. */
static inline __attribute__((always_inline)) int stream_advance(struct rtr_reader *r,
								struct rtr__stream *s)
{
	while (1) {
		int rc = rtr__stream_next(s);

		if (rc <= 0)
			return rc;
		set_key(s);
		if (r->opt.has_end && s->key_ns != INT64_MIN && s->key_ns > r->opt.end_ns)
			return 0; /* streams are ordered: nothing more here */
		if (r->opt.has_begin && s->key_ns != INT64_MIN && s->key_ns < r->opt.begin_ns)
			continue;
		if (s->item == IT_EVENT && !name_ok(r, s->ec->name))
			continue;
		return 1;
	}
}

/* Message of the current item of s. */
static void fill_msg(struct rtr__stream *s, struct rtr_msg *m)
{
	m->stream = &s->info;
	if (s->item == IT_EVENT) {
		const struct rtr__event_class *ec = s->ec;

		m->kind = RTR_MSG_EVENT;
		m->ns = 0;
		m->ns_error = 0;
		m->name = ec->name;
		m->event_class_id = ec->id;
		m->class_index = ec->gindex;
		m->has_clock = s->sc->clock >= 0;
		m->cycles = s->ev_clock;
		if (m->has_clock) {
			if (s->key_ns != INT64_MIN && s->key_ns != INT64_MAX)
				m->ns = s->key_ns; /* computed by set_key */
			else
				m->ns = rtr__clock_ns(&s->tc->clocks[s->sc->clock], s->ev_clock,
						      &m->ns_error);
		}
		m->values = s->vals;
		m->n_values = s->nvals;
		m->loglevel = ec->has_loglevel ? ec->loglevel : -1;
		m->emf_uri = ec->emf_uri;
	} else {
		const struct rtr__pending *p = &s->cur_pend;

		memset(m, 0, sizeof(*m));
		m->stream = &s->info;
		m->kind = s->item == IT_DISC_EVENTS ? RTR_MSG_DISCARDED_EVENTS
						    : RTR_MSG_DISCARDED_PACKETS;
		m->count = p->count;
		m->has_range = p->has_range;
		if (p->has_range) {
			const struct rtr__clock *c = &s->tc->clocks[s->sc->clock];

			m->begin_cycles = p->begin;
			m->end_cycles = p->end;
			m->begin_ns = rtr__clock_ns(c, p->begin, &m->begin_ns_error);
			m->end_ns = rtr__clock_ns(c, p->end, &m->end_ns_error);
		}
	}
}

int rtr_reader_next(struct rtr_reader *r, struct rtr_msg *m)
{
	struct rtr__stream *s;

	if (!r->started) {
		r->heap = calloc(r->nst + 1, sizeof(*r->heap));
		if (!r->heap) {
			rtr__seterr(&r->err, "out of memory");
			return -1;
		}
		reader_start(r);
		for (size_t i = 0; i < r->nst; i++) {
			int rc = stream_advance(r, r->streams[i]);

			if (rc < 0)
				return -1;
			if (rc)
				heap_push(r, r->streams[i]);
		}
	} else if (r->last) {
		int rc = stream_advance(r, r->last);

		if (rc < 0)
			return -1;
		s = r->last;
		r->last = NULL;
		if (rc) {
			/* the stream just read is next unless the heap's top
			 * comes first: then they swap places */
			if (r->nheap &&
			    (r->heap[0]->key_ns < s->key_ns ||
			     (r->heap[0]->key_ns == s->key_ns && scmp(r->heap[0], s) < 0))) {
				struct rtr__stream *top = r->heap[0];

				r->heap[0] = s;
				heap_down(r, 0);
				s = top;
			}
			goto out;
		}
	}
	if (!r->nheap)
		return 0;
	s = r->heap[0];
	r->heap[0] = r->heap[--r->nheap];
	if (r->nheap)
		heap_down(r, 0);
out:
	r->last = s;
	fill_msg(s, m);
	return 1;
}

size_t rtr_reader_stream_count(const struct rtr_reader *r)
{
	return r->nst;
}

const struct rtr_stream_info *rtr_reader_stream(const struct rtr_reader *r, size_t i)
{
	return i < r->nst ? &r->streams[i]->info : NULL;
}

size_t rtr_reader_trace_count(const struct rtr_reader *r)
{
	return r->ntr;
}

int rtr_reader_trace_env(const struct rtr_reader *r, size_t trace, const char *key, int64_t *i,
			 const char **s)
{
	const struct rtr__env *e;

	if (trace >= r->ntr)
		return 0;
	e = rtr__env_find(&r->traces[trace]->tc, key);
	if (!e)
		return 0;
	if (e->is_int) {
		if (i)
			*i = e->i;
		return 1;
	}
	if (s)
		*s = e->s;
	return 2;
}

void rtr_reader_progress(const struct rtr_reader *r, uint64_t *done, uint64_t *total)
{
	uint64_t d = 0;

	for (size_t i = 0; i < r->nst; i++) {
		struct rtr__stream *s = r->streams[i];

		d += __atomic_load_n(&s->bytes_done, __ATOMIC_RELAXED);
	}
	*done = d;
	*total = r->total_bytes;
}

const char *rtr_reader_trace_metadata(const struct rtr_reader *r, size_t trace, size_t *len)
{
	if (trace >= r->ntr)
		return NULL;
	if (len)
		*len = r->traces[trace]->text_len;
	return r->traces[trace]->text;
}

const char *rtr_reader_trace_dir(const struct rtr_reader *r, size_t trace)
{
	return trace < r->ntr ? r->traces[trace]->dir : NULL;
}

/* ------------------------------------------------------------------ */
/* value accessors                                                     */

const char *rtr_value_name(const struct rtr_value *v)
{
	return v->cls ? v->cls->name : NULL;
}

int rtr_value_base(const struct rtr_value *v)
{
	return v->cls && v->cls->t ? v->cls->t->base : 10;
}

unsigned rtr_value_bits(const struct rtr_value *v)
{
	return v->cls && (v->cls->code == OP_INT_BYTE || v->cls->code == OP_INT_BITS) ? v->cls->size
										      : 0;
}

bool rtr_value_is_enum(const struct rtr_value *v)
{
	return v->cls && v->cls->t && v->cls->t->kind == TK_ENUM;
}

size_t rtr_value_enum_labels(const struct rtr_value *v, const char **labels, size_t max)
{
	return rtr_value_is_enum(v) ? rtr__enum_ix_labels(v->cls->t, v->v.u, labels, max) : 0;
}

/* ------------------------------------------------------------------ */
/* scans                                                               */

size_t rtr_reader_class_count(const struct rtr_reader *r)
{
	return r->nclasses;
}

const char *rtr_reader_class_name(const struct rtr_reader *r, size_t k)
{
	return k < r->nclasses ? r->classes[k]->name : NULL;
}

int rtr_reader_scan_stream(struct rtr_reader *r, size_t i, struct rtr_stream_stats *st, char *err,
			   size_t errlen)
{
	struct rtr__stream *s;
	struct rtr__err e = {.set = 0};
	const struct rtr__clock *c;
	uint64_t cmin = UINT64_MAX, cmax = 0;
	int rc;

	if (i >= r->nst) {
		snprintf(err, errlen, "no stream %zu", i);
		return -1;
	}
	s = r->streams[i];
	s->err = &e;
	s->no_emit = true;
	rtr__stream_start(s);
	c = s->sc->clock >= 0 ? &s->tc->clocks[s->sc->clock] : NULL;
	/* Count in private memory: the callers' result structures of
	 * different streams sit side by side, and per-event writes to them
	 * from several threads would bounce their cache lines. */
	uint64_t events = 0, disc_events = 0, disc_unknown = 0, lost_packets = 0;
	uint64_t *per_class =
	    st->class_events ? calloc(r->nclasses ? r->nclasses : 1, sizeof(*per_class)) : NULL;

	if (st->class_events && !per_class) {
		snprintf(err, errlen, "out of memory");
		s->err = &r->err;
		return -1;
	}
	struct rtr__count cnt = {.per_class = per_class, .cmin = UINT64_MAX, .cmax = 0};

	while (1) {
		/* whole runs of events of the current packet */
		rtr__stream_count(s, &cnt);
		if ((rc = rtr__stream_next(s)) != 1)
			break;
		if (rtr_likely(s->item == IT_EVENT)) {
			events++;
			if (per_class)
				per_class[s->ec->gindex]++;
			/* cycles to ns is monotonic: convert the extremes */
			if (s->ev_clock < cmin)
				cmin = s->ev_clock;
			if (s->ev_clock > cmax)
				cmax = s->ev_clock;
		} else if (s->item == IT_DISC_EVENTS) {
			if (s->cur_pend.count == UINT64_MAX)
				disc_unknown++;
			else
				disc_events += s->cur_pend.count;
		} else if (s->item == IT_DISC_PACKETS) {
			lost_packets += s->cur_pend.count;
		}
	}
	events += cnt.events;
	cmin = cnt.cmin < cmin ? cnt.cmin : cmin;
	cmax = cnt.cmax > cmax ? cnt.cmax : cmax;
	st->events += events;
	st->discarded_events += disc_events;
	st->discarded_unknown += disc_unknown;
	st->lost_packets += lost_packets;
	if (per_class) {
		for (size_t k = 0; k < r->nclasses; k++)
			st->class_events[k] += per_class[k];
		free(per_class);
	}
	if (c && st->events) {
		int o1, o2;
		int64_t a = rtr__clock_ns(c, cmin, &o1), b = rtr__clock_ns(c, cmax, &o2);

		if (!o1 && !o2) {
			st->has_time = true;
			st->first_ns = a;
			st->last_ns = b;
		}
	}
	st->packets = s->npackets;
	st->bytes = s->bytes_done;
	s->err = &r->err;
	if (rc < 0) {
		snprintf(err, errlen, "%s", e.msg);
		return -1;
	}
	return 0;
}
