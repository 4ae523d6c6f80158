/* Opening a reader: trace discovery as babeltrace2 does it, metadata to
 * code, stream files probed and grouped into streams, and the accessors of
 * what was opened. See docs/design/reader.md ("Streams, merge, memory",
 * "babeltrace2 2.0.4 behaviours reproduced"). */
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

#include "iter/iter.h"

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
	/* kept in readdir() order, babeltrace2's (g_dir_read_name): it
	 * decides between packets of one stream that begin at the same
	 * time in two files (rtr__stream_plan); streams themselves are
	 * sorted by path later */
	closedir(d);
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
static int trace_from_text(struct rtr_reader *r, struct rtr__trace *t, const char *mdpath,
			   int pkt_bo)
{
	int ret;

	if ((ret = rtr__tsdl_parse(&t->tc, t->text, t->text_len, mdpath, &r->err)))
		return ret;
	if (pkt_bo >= 0 && pkt_bo != t->tc.bo)
		return rtr__error(&r->err, -EINVAL,
				  "%s: packetized metadata byte order (%s) differs from the trace "
				  "byte order (%s)",
				  mdpath, pkt_bo ? "big-endian" : "little-endian",
				  t->tc.bo ? "big-endian" : "little-endian");
	if ((ret = rtr__code_build(&t->code, &t->tc, &r->err)))
		return ret;
	if (t->tc.has_uuid)
		t->uuid = t->tc.uuid;
	return 0;
}

static int add_trace(struct rtr_reader *r, const char *dir, const char *input)
{
	struct rtr__trace *t = calloc(1, sizeof(*t));
	char *mdpath = join(dir, "metadata");
	int pkt_bo, ret;

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
	ret = rtr__metadata_read(mdpath, &t->text, &t->text_len, &pkt_bo, &r->err);
	if (!ret)
		ret = trace_from_text(r, t, mdpath, pkt_bo);
	free(mdpath);
	return ret;
}

static int cmp_file_ts(const void *a, const void *b)
{
	const struct rtr__file *x = *(struct rtr__file *const *)a;
	const struct rtr__file *y = *(struct rtr__file *const *)b;

	/* babeltrace2 (fs.c, ds_file_group_insert_ds_file_info_sorted)
	 * orders a stream's files by their first packet's beginning in
	 * nanoseconds from origin (two files may round to one value when
	 * the clock is not 1 GHz), equal ones in the order it found them */
	if (x->ts_begin_ns != y->ts_begin_ns)
		return x->ts_begin_ns < y->ts_begin_ns ? -1 : 1;
	return x->dir_seq < y->dir_seq ? -1 : x->dir_seq > y->dir_seq;
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
		f->dir_seq = (uint32_t)i;
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
			ret = rtr__error(&r->err, -errno, "%s: cannot open: %s", f->path,
					 strerror(errno));
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
		f->tc = &t->tc;
		f->code = &t->code;
		f->abspath = normalize(f->path);
		if (!f->abspath) {
			free_file(f);
			ret = -ENOMEM;
			break;
		}
		rtr__index_read(f, t->dir, names[i]);
		if (f->size == 0) { /* empty file: ignored */
			free_file(f);
			continue;
		}
		pr = rtr__file_probe(f, &r->err, f->idx_n == 0);
		if (pr < 0) {
			free_file(f);
			ret = pr;
			break;
		}
		/* reopened when a window is mapped: thousands of streams
		 * need no more descriptors than one */
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		r->total_bytes += f->size;
		/* group with an existing stream of the same trace group,
		 * stream class and instance id */
		if (f->has_instance_id) {
			const uint64_t *k;

			snprintf(gkey, sizeof(gkey), "%p/%" PRIu64, (void *)t->group,
				 f->sc->cls->id);
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
			s->cur.err = &r->err;
			s->warn = r->opt.warn;
			s->warn_arg = r->opt.warn_arg;
			s->cur.no_emit = r->opt.skip_values;
			s->cur.all = r->opt.all_values;
			if (f->has_instance_id && (!(s->group_key = strdup(gkey)) ||
						   rtr__strmap_put(&r->groups, f->instance_id,
								   s->group_key, r->nst) < 0)) {
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
		    struct rtr_reader **out, struct rtr_error *err)
{
	struct rtr_reader *r = calloc(1, sizeof(*r));
	int ret = 0;

	*out = NULL;
	if (!r)
		return rtr__error(err, -ENOMEM, "out of memory");
	if (opts)
		r->opt = *opts;
	if (r->opt.guard_sigbus)
		rtr__sigbus_guard();
	for (size_t i = 0; i < n && !ret; i++) {
		struct stat st;
		size_t before = r->ntr;

		if (stat(paths[i], &st)) {
			ret = rtr__error(&r->err, -errno, "%s: %s", paths[i], strerror(errno));
			break;
		}
		if (!S_ISDIR(st.st_mode)) {
			ret = rtr__error(&r->err, -ENOTDIR,
					 "%s: not a directory (expecting a CTF trace directory)",
					 paths[i]);
			break;
		}
		ret = discover(r, paths[i], paths[i], 0);
		if (!ret && r->ntr == before)
			ret = rtr__error(&r->err, -ENOENT,
					 "%s: no CTF trace found (no 'metadata' file in this "
					 "directory or below)",
					 paths[i]);
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
		rtr__error(&r->err, ret, "%s", strerror(-ret)); /* if none said more */
		if (err)
			*err = r->err;
		ret = r->err.code;
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
			s->info.stream_class_id = f0->sc->cls->id;
			s->info.stream_id =
			    f0->has_instance_id ? f0->instance_id : next_id[g->index]++;
			s->info.cpu_id = -1;
			s->info.index = (uint32_t)i;
			s->info.trace_index = g->index;
			s->sc = f0->sc;
			s->tc = f0->tc;
			s->code = f0->code;
			s->heap_pos = UINT32_MAX;
			if (s->nfiles > 1 && !ret)
				ret = rtr__stream_plan(s, &r->err);
		}
		if (!next_id)
			ret = -ENOMEM;
		free(next_id);
	}
	if (!ret) {
		size_t nc = 0, k = 0;

		for (size_t i = 0; i < r->ntr; i++)
			for (size_t s = 0; s < r->traces[i]->code.n_scs; s++)
				nc += r->traces[i]->code.scs[s].n_ecs;
		r->classes = calloc(nc + 1, sizeof(*r->classes));
		if (!r->classes)
			ret = -ENOMEM;
		for (size_t i = 0; i < r->ntr && !ret; i++)
			for (size_t s = 0; s < r->traces[i]->code.n_scs; s++) {
				struct rtr__stream_code *sc = &r->traces[i]->code.scs[s];

				for (size_t e = 0; e < sc->n_ecs; e++) {
					sc->ecs[e].gindex = (uint32_t)k;
					r->classes[k++] = &sc->ecs[e];
				}
			}
		r->nclasses = k;
	}
	return ret;
}

int rtr__reader_open_mem(const uint8_t *metadata, size_t mlen, const uint8_t *data, size_t n,
			 const struct rtr_reader_options *opts, struct rtr_reader **out,
			 struct rtr_error *err)
{
	struct rtr_reader *r = calloc(1, sizeof(*r));
	struct rtr__trace *t = NULL;
	struct rtr__file *f = NULL;
	struct rtr__stream *s = NULL;
	int pkt_bo, ret = -ENOMEM;

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
	ret = rtr__metadata_decode(metadata, mlen, "(memory)/metadata", &t->text, &t->text_len,
				   &pkt_bo, &r->err);
	if (ret || (ret = trace_from_text(r, t, "(memory)/metadata", pkt_bo)))
		goto fail;
	ret = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto fail;
	f->fd = -1;
	f->mem = data;
	f->size = n;
	f->tr = t;
	f->tc = &t->tc;
	f->code = &t->code;
	f->path = xstrdup("(memory)/stream");
	f->abspath = xstrdup("(memory)/stream");
	if (!f->path || !f->abspath) {
		free_file(f);
		goto fail;
	}
	if (n) {
		ret = rtr__file_probe(f, &r->err, true);
		if (ret < 0) {
			free_file(f);
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
		s->cur.err = &r->err;
		s->cur.no_emit = r->opt.skip_values;
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
	if (!r)
		return rtr__error(err, ret, "%s", strerror(-ret));
	rtr__error(&r->err, ret, "%s", strerror(-ret)); /* if none said more */
	if (err)
		*err = r->err;
	ret = r->err.code;
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

		rtr__code_free(&t->code);
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
	if (r->hook_free)
		r->hook_free(r->hook_arg);
	free(r);
}

const struct rtr_error *rtr_reader_error(const struct rtr_reader *r)
{
	return &r->err;
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

int rtr_reader_trace_env(const struct rtr_reader *r, size_t trace, const char *key,
			 struct rtr_env_value *v)
{
	const struct rtr__env *e;

	if (trace >= r->ntr)
		return -ENOENT;
	e = rtr__env_find(&r->traces[trace]->tc, key);
	if (!e)
		return -ENOENT;
	v->is_int = e->is_int;
	v->i = e->i;
	v->s = e->s;
	return 0;
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


size_t rtr_reader_class_count(const struct rtr_reader *r)
{
	return r->nclasses;
}

const char *rtr_reader_class_name(const struct rtr_reader *r, size_t k)
{
	return k < r->nclasses ? r->classes[k]->cls->name : NULL;
}

