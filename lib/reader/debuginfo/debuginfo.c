/* The debug-info stage: follows LTTng-UST's statedump and library events
 * per trace and process, and adds babeltrace2's `debug_info` field to the
 * events it applies to. See docs/design/debuginfo.md. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile/plan.h"
#include "debuginfo/debuginfo.h"
#include "base/base.h"
#include "iter/iter.h"

/* ------------------------------------------------------------------ */
/* u64 map                                                             */

static size_t slot_of(uint64_t k, size_t cap)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	return (size_t)k & (cap - 1);
}

void *rtr__di_map_get(const struct rtr__di_map *m, uint64_t k)
{
	if (!m->cap)
		return NULL;
	for (size_t i = slot_of(k, m->cap);; i = (i + 1) & (m->cap - 1)) {
		if (!m->vals[i])
			return NULL;
		if (m->keys[i] == k)
			return m->vals[i];
	}
}

int rtr__di_map_put(struct rtr__di_map *m, uint64_t k, void *v)
{
	size_t i;

	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 16;
		uint64_t *nk = calloc(nc, sizeof(*nk));
		void **nv = calloc(nc, sizeof(*nv));

		if (!nk || !nv) {
			free(nk);
			free(nv);
			return -ENOMEM;
		}
		for (size_t j = 0; j < m->cap; j++) {
			if (!m->vals[j])
				continue;
			for (i = slot_of(m->keys[j], nc); nv[i]; i = (i + 1) & (nc - 1))
				;
			nk[i] = m->keys[j];
			nv[i] = m->vals[j];
		}
		free(m->keys);
		free(m->vals);
		m->keys = nk;
		m->vals = nv;
		m->cap = nc;
	}
	for (i = slot_of(k, m->cap); m->vals[i]; i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == k) {
			m->vals[i] = v;
			return 0;
		}
	m->keys[i] = k;
	m->vals[i] = v;
	m->n++;
	return 0;
}

void rtr__di_map_clear(struct rtr__di_map *m, void (*fn)(void *))
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->vals[i] && fn)
			fn(m->vals[i]);
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

/* ------------------------------------------------------------------ */
/* state                                                               */

/* The three strings of one (process, ip), as printed. */
struct out {
	uint32_t lbin, lfunc, lsrc;
	char *bin, *func, *src; /* into data */
	char data[];
};

/* One process of one trace (babeltrace2's proc_debug_info_sources). */
struct proc {
	struct rtr__di_bin **bins; /* in the order they were added */
	size_t nbins, cap;
	struct rtr__di_map ips; /* ip -> struct out (never dropped on unload,
				 * as babeltrace2's cache) */
};

struct stream_state {
	uint8_t compat; /* 0 not seen yet, 1 gets debug_info, 2 not */
	const struct rtr__op *vpid, *ip;
	/* where the last event had its context root, vpid, ip and context
	 * end: checked, then used, for the next one (same layout unless a
	 * field of variable size comes before) */
	size_t root, ivpid, iip, end;
};

/* The statedump event an event class is (on_statedump). */
enum { SD_UNKNOWN, SD_NONE, SD_START, SD_BIN, SD_LOAD, SD_LINK, SD_BUILD_ID, SD_UNLOAD };

struct rtr__di {
	struct rtr__di_files *fs;
	char *dir, *prefix;
	bool full;
	struct rtr__di_map *procs; /* per trace: vpid -> struct proc */
	size_t ntr;
	struct stream_state *st;
	size_t nst;
	uint8_t *sd; /* per event class (rtr_msg.class_index): SD_* */
	size_t ncls;
	struct rtr_value *buf;
	size_t cap;
};

static void proc_clear(struct proc *p)
{
	for (size_t i = 0; i < p->nbins; i++)
		rtr__di_bin_free(p->bins[i]);
	p->nbins = 0;
	rtr__di_map_clear(&p->ips, free);
}

static void proc_free(void *v)
{
	struct proc *p = v;

	proc_clear(p);
	free(p->bins);
	free(p);
}

static struct proc *proc_of(struct rtr__di *d, uint32_t trace, int64_t vpid)
{
	struct rtr__di_map *m = &d->procs[trace];
	struct proc *p = rtr__di_map_get(m, (uint64_t)vpid);

	if (p)
		return p;
	p = calloc(1, sizeof(*p));
	if (p && rtr__di_map_put(m, (uint64_t)vpid, p)) {
		free(p);
		return NULL;
	}
	return p;
}

static struct rtr__di_bin *bin_at(struct proc *p, uint64_t baddr, size_t *idx)
{
	for (size_t i = 0; i < p->nbins; i++)
		if (p->bins[i]->lo == baddr) {
			if (idx)
				*idx = i;
			return p->bins[i];
		}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the fields of an event                                              */

/* The members of the scope whose root is vals[root] (a struct): index of
 * each direct member in mem[] (up to max), and of the root's end. */
static size_t members(const struct rtr_value *vals, size_t n, size_t root, size_t *mem, size_t max,
		      size_t *nmem)
{
	size_t depth = 0, i;

	*nmem = 0;
	for (i = root; i < n; i++) {
		uint32_t k = vals[i].kind;

		if (depth == 1 && k != RTR_VAL_STRUCT_END && k != RTR_VAL_ARRAY_END &&
		    k != RTR_VAL_VARIANT_END && *nmem < max)
			mem[(*nmem)++] = i;
		if (k == RTR_VAL_STRUCT_BEGIN || k == RTR_VAL_ARRAY_BEGIN ||
		    k == RTR_VAL_VARIANT_BEGIN) {
			depth++;
		} else if (k == RTR_VAL_STRUCT_END || k == RTR_VAL_ARRAY_END ||
			   k == RTR_VAL_VARIANT_END) {
			if (--depth == 0)
				return i;
		}
	}
	return n; /* not closed: not a scope we can extend */
}

static size_t scope_root(const struct rtr_value *vals, size_t n, size_t from, uint32_t scope)
{
	for (size_t i = from; i < n; i++)
		if (vals[i].scope == scope && vals[i].kind == RTR_VAL_STRUCT_BEGIN)
			return i;
		else if (vals[i].scope > scope)
			break;
	return n;
}

static bool named(const struct rtr_value *v, const char *name)
{
	const char *n = rtr_value_name(v);

	return n && !strcmp(n, name);
}

/* babeltrace2's test of a stream's event common context: members `ip`
 * (unsigned integer) and `vpid` (signed 32-bit integer), no `debug_info`
 * already. Enumerations are not integers there. */
static void classify(struct stream_state *st, const struct rtr_msg *m)
{
	size_t mem[64], nmem,
	    root = scope_root(m->values, m->n_values, 0, RTR_SCOPE_EVENT_COMMON_CONTEXT);

	st->compat = 2;
	if (root == m->n_values ||
	    members(m->values, m->n_values, root, mem, 64, &nmem) == m->n_values)
		return;
	for (size_t i = 0; i < nmem; i++) {
		const struct rtr_value *v = &m->values[mem[i]];

		if (named(v, "debug_info"))
			return;
		if (named(v, "ip")) {
			if (v->kind != RTR_VAL_UINT || rtr_value_is_enum(v))
				return;
			st->ip = v->cls;
		} else if (named(v, "vpid")) {
			if (v->kind != RTR_VAL_SINT || rtr_value_is_enum(v) ||
			    rtr_value_bits(v) != 32)
				return;
			st->vpid = v->cls;
		}
	}
	if (st->ip && st->vpid && nmem < 64)
		st->compat = 1;
}

/* The payload's fields that the statedump events carry. */
struct payload {
	const struct rtr_value *baddr, *memsz, *path, *is_pic, *build_id, *crc, *filename;
	const struct rtr_value *vals;
	size_t n;
	size_t build_id_at;
};

static void read_payload(const struct rtr_msg *m, size_t from, struct payload *p)
{
	size_t mem[64], nmem,
	    root = scope_root(m->values, m->n_values, from, RTR_SCOPE_EVENT_PAYLOAD);

	memset(p, 0, sizeof(*p));
	p->vals = m->values;
	p->n = m->n_values;
	if (root == m->n_values)
		return;
	members(m->values, m->n_values, root, mem, 64, &nmem);
	for (size_t i = 0; i < nmem; i++) {
		const struct rtr_value *v = &m->values[mem[i]];
		const char *n = rtr_value_name(v);

		if (!n)
			continue;
		if (!strcmp(n, "baddr"))
			p->baddr = v;
		else if (!strcmp(n, "memsz"))
			p->memsz = v;
		else if (!strcmp(n, "path"))
			p->path = v;
		else if (!strcmp(n, "is_pic"))
			p->is_pic = v;
		else if (!strcmp(n, "build_id")) {
			p->build_id = v;
			p->build_id_at = mem[i];
		} else if (!strcmp(n, "crc"))
			p->crc = v;
		else if (!strcmp(n, "filename"))
			p->filename = v;
	}
}

/* An integer field (babeltrace2 reads its bits as unsigned). */
static bool int_of(const struct rtr_value *v, uint64_t *out)
{
	if (!v || (v->kind != RTR_VAL_UINT && v->kind != RTR_VAL_SINT))
		return false;
	*out = v->v.u;
	return true;
}

/* A string field as C sees it (up to a NUL). */
static bool str_of(const struct rtr_value *v, const char **s, size_t *len)
{
	if (!v || v->kind != RTR_VAL_STRING)
		return false;
	*s = v->v.s;
	*len = strnlen(v->v.s, (size_t)v->len);
	return true;
}

/* ------------------------------------------------------------------ */
/* statedump and library events                                        */

/* bin_info (with is_pic) and lttng_ust_dl:dlopen / lttng_ust_lib:load
 * (always PIC). A malformed event (a field missing or of another type:
 * babeltrace2 would crash) changes nothing. */
static void on_bin(struct rtr__di *d, struct proc *p, const struct payload *pl, bool has_pic)
{
	uint64_t memsz, baddr, pic = 1;
	const char *path;
	size_t len;
	struct rtr__di_bin *b, **nb;

	if (!int_of(pl->memsz, &memsz))
		return;
	if (!memsz)
		return; /* the vDSO */
	if (!int_of(pl->baddr, &baddr))
		return;
	if (!pl->path)
		return; /* lttng-ust before 2.9 */
	if (!str_of(pl->path, &path, &len))
		return;
	if (has_pic && !int_of(pl->is_pic, &pic))
		return;
	if (!p || bin_at(p, baddr, NULL))
		return;
	b = rtr__di_bin_new(path, len, baddr, memsz, has_pic ? pic == 1 : true, d->dir, d->prefix);
	if (!b)
		return;
	if (p->nbins == p->cap) {
		size_t nc = p->cap ? p->cap * 2 : 16;

		nb = realloc(p->bins, nc * sizeof(*nb));
		if (!nb) {
			rtr__di_bin_free(b);
			return;
		}
		p->bins = nb;
		p->cap = nc;
	}
	p->bins[p->nbins++] = b;
}

static void on_build_id(struct rtr__di *d, struct proc *p, const struct payload *pl)
{
	uint64_t baddr;
	struct rtr__di_bin *b;
	uint8_t id[256], *big = NULL, *ids = id;
	size_t n;

	if (!int_of(pl->baddr, &baddr) || !p || !(b = bin_at(p, baddr, NULL)) || !pl->build_id)
		return;
	if (pl->build_id->kind == RTR_VAL_STRING) { /* a text array */
		ids = (uint8_t *)(uintptr_t)pl->build_id->v.s;
		n = (size_t)pl->build_id->len;
	} else if (pl->build_id->kind == RTR_VAL_ARRAY_BEGIN) {
		size_t at = pl->build_id_at;

		n = (size_t)pl->build_id->len;
		if (n > pl->n - at - 1)
			return;
		if (n > sizeof(id)) {
			big = malloc(n);
			if (!big)
				return;
			ids = big;
		}
		for (size_t i = 0; i < n; i++) {
			const struct rtr_value *e = &pl->vals[at + 1 + i];

			if (e->kind != RTR_VAL_UINT) { /* not babeltrace2's type */
				free(big);
				return;
			}
			ids[i] = (uint8_t)e->v.u;
		}
	} else {
		return;
	}
	rtr__di_bin_set_build_id(d->fs, b, ids, n);
	free(big);
}

static void on_debug_link(struct proc *p, const struct payload *pl)
{
	uint64_t baddr, crc;
	const char *name;
	size_t len;
	struct rtr__di_bin *b;

	if (!int_of(pl->baddr, &baddr) || !int_of(pl->crc, &crc) ||
	    !str_of(pl->filename, &name, &len))
		return;
	if (p && (b = bin_at(p, baddr, NULL)))
		rtr__di_bin_set_debug_link(b, name, len, (uint32_t)crc);
}

static void on_unload(struct proc *p, const struct payload *pl)
{
	uint64_t baddr;
	size_t i;
	struct rtr__di_bin *b;

	if (!int_of(pl->baddr, &baddr) || !p || !(b = bin_at(p, baddr, &i)))
		return;
	rtr__di_bin_free(b);
	memmove(&p->bins[i], &p->bins[i + 1], (p->nbins - i - 1) * sizeof(*p->bins));
	p->nbins--;
}

/* babeltrace2 looks at events named lttng_ust* only, and at these. */
static uint8_t sd_kind(const char *n)
{
	if (!n || strncmp(n, "lttng_ust", 9))
		return SD_NONE;
	if (!strcmp(n, "lttng_ust_statedump:start"))
		return SD_START;
	if (!strcmp(n, "lttng_ust_statedump:bin_info"))
		return SD_BIN;
	if (!strcmp(n, "lttng_ust_dl:dlopen") || !strcmp(n, "lttng_ust_lib:load"))
		return SD_LOAD;
	if (!strcmp(n, "lttng_ust_statedump:debug_link"))
		return SD_LINK;
	if (!strcmp(n, "lttng_ust_statedump:build_id"))
		return SD_BUILD_ID;
	if (!strcmp(n, "lttng_ust_lib:unload"))
		return SD_UNLOAD;
	return SD_NONE;
}

static void on_statedump(struct rtr__di *d, const struct rtr_msg *m, int64_t vpid, size_t from)
{
	uint8_t k = m->class_index < d->ncls ? d->sd[m->class_index] : SD_UNKNOWN;
	struct payload pl;
	struct proc *p;

	if (rtr_unlikely(k == SD_UNKNOWN)) {
		k = sd_kind(m->name);
		if (m->class_index < d->ncls)
			d->sd[m->class_index] = k;
	}
	if (rtr_likely(k == SD_NONE))
		return;
	p = proc_of(d, m->stream->trace_index, vpid);
	if (k == SD_START) {
		if (p)
			proc_clear(p);
		return;
	}
	read_payload(m, from, &pl);
	switch (k) {
	case SD_BIN:
		on_bin(d, p, &pl, true);
		break;
	case SD_LOAD:
		on_bin(d, p, &pl, false);
		break;
	case SD_LINK:
		on_debug_link(p, &pl);
		break;
	case SD_BUILD_ID:
		on_build_id(d, p, &pl);
		break;
	default:
		on_unload(p, &pl);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* resolution                                                          */

static struct out *render(struct rtr__di *d, const struct rtr__di_bin *b, uint64_t ip,
			  const struct rtr__di_src *s)
{
	const char *bp = d->full ? b->elf_path : b->short_path;
	const char *sp = s->src ? (d->full ? s->src : rtr__di_basename(s->src)) : NULL;
	size_t lb = strlen(bp), lf = s->func ? strlen(s->func) : 0, ls = sp ? strlen(sp) : 0;
	struct out *o = malloc(sizeof(*o) + lb + 24 + lf + 1 + ls + 24);
	char *q;
	int k;

	if (!o)
		return NULL;
	q = o->data;
	o->bin = q;
	memcpy(q, bp, lb);
	if (b->pic)
		k = ip - b->lo ? sprintf(q + lb, "+0x%" PRIx64, ip - b->lo) : sprintf(q + lb, "+0");
	else
		k = ip ? sprintf(q + lb, "@0x%" PRIx64, ip) : sprintf(q + lb, "@0");
	o->lbin = (uint32_t)(lb + (size_t)k);
	q += o->lbin + 1;
	o->func = q;
	if (lf)
		memcpy(q, s->func, lf);
	o->lfunc = (uint32_t)lf;
	q += lf + 1;
	o->src = q;
	o->lsrc = 0;
	if (sp) {
		memcpy(q, sp, ls);
		k = sprintf(q + ls, ":%" PRId64, s->line);
		o->lsrc = (uint32_t)(ls + (size_t)k);
	}
	return o;
}

static const struct out *query(struct rtr__di *d, uint32_t trace, int64_t vpid, uint64_t ip)
{
	struct proc *p = proc_of(d, trace, vpid);
	struct out *o;

	if (!p)
		return NULL;
	o = rtr__di_map_get(&p->ips, ip);
	if (o)
		return o;
	for (size_t i = 0; i < p->nbins; i++) {
		struct rtr__di_bin *b = p->bins[i];
		struct rtr__di_src s;

		if (ip < b->lo || ip >= b->hi)
			continue;
		if (rtr__di_bin_resolve(d->fs, b, ip, &s))
			return NULL; /* no source: not kept, as babeltrace2 */
		o = render(d, b, ip, &s);
		if (o && rtr__di_map_put(&p->ips, ip, o)) {
			free(o);
			o = NULL;
		}
		return o;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* the hook                                                            */

static const struct rtr__type t_struct = {.kind = TK_STRUCT, .base = 10, .clock = -1};
static const struct rtr__type t_string = {.kind = TK_STRING, .base = 10, .clock = -1};
#define SYN_OP(c, t_, n)                                                                           \
	{                                                                                          \
		.code = (c), .shown = 1, .save = -1, .clock = -1, .src = -1, .t = (t_),            \
		.name = (n), .orig = (n), .name_len = sizeof(n) - 1,                               \
		.scope = RTR_SCOPE_EVENT_COMMON_CONTEXT                                            \
	}
static const struct rtr__op op_di = SYN_OP(OP_STRUCT, &t_struct, "debug_info");
static const struct rtr__op op_bin = SYN_OP(OP_STRING, &t_string, "bin");
static const struct rtr__op op_func = SYN_OP(OP_STRING, &t_string, "func");
static const struct rtr__op op_src = SYN_OP(OP_STRING, &t_string, "src");

static void set_val(struct rtr_value *v, const struct rtr__op *op, uint32_t kind, const char *s,
		    uint32_t len)
{
	v->cls = op;
	v->v.s = s;
	v->len = len;
	v->kind = kind;
	v->scope = RTR_SCOPE_EVENT_COMMON_CONTEXT;
}

static bool di_hook(void *arg, struct rtr_msg *m)
{
	struct rtr__di *d = arg;
	struct stream_state *st;
	const struct rtr_value *vals = m->values, *vpid = NULL, *ip = NULL;
	size_t n = m->n_values, root, end, mem[64], nmem;
	const struct out *o = NULL;
	struct rtr_value *w;

	if (m->kind != RTR_MSG_EVENT || m->stream->index >= d->nst)
		return true;
	st = &d->st[m->stream->index];
	if (rtr_unlikely(!st->compat))
		classify(st, m);
	if (st->compat != 1)
		return true;
	root = st->root;
	end = st->end;
	if (rtr_likely(end < n && vals[root].kind == RTR_VAL_STRUCT_BEGIN &&
		       vals[root].scope == RTR_SCOPE_EVENT_COMMON_CONTEXT &&
		       (!root || vals[root - 1].scope < RTR_SCOPE_EVENT_COMMON_CONTEXT) &&
		       vals[st->ivpid].cls == st->vpid && vals[st->iip].cls == st->ip &&
		       vals[end].kind == RTR_VAL_STRUCT_END &&
		       vals[end].scope == RTR_SCOPE_EVENT_COMMON_CONTEXT &&
		       (end + 1 == n || vals[end + 1].scope > RTR_SCOPE_EVENT_COMMON_CONTEXT))) {
		/* the layout of the last event: the root is the first record
		 * of the scope, the end its last; an op is one top-level
		 * member of it */
		vpid = &vals[st->ivpid];
		ip = &vals[st->iip];
	} else {
		root = scope_root(vals, n, 0, RTR_SCOPE_EVENT_COMMON_CONTEXT);
		if (root == n || (end = members(vals, n, root, mem, 64, &nmem)) == n)
			return true;
		for (size_t i = 0; i < nmem; i++) {
			if (vals[mem[i]].cls == st->vpid)
				vpid = &vals[mem[i]];
			else if (vals[mem[i]].cls == st->ip)
				ip = &vals[mem[i]];
		}
		if (!vpid || !ip)
			return true;
		st->root = root;
		st->end = end;
		st->ivpid = (size_t)(vpid - vals);
		st->iip = (size_t)(ip - vals);
	}
	on_statedump(d, m, vpid->v.i, end);
	o = query(d, m->stream->trace_index, vpid->v.i, ip->v.u);
	if (n + 5 > d->cap) {
		size_t nc = (n + 5) * 2;
		struct rtr_value *nb = realloc(d->buf, nc * sizeof(*nb));

		if (!nb)
			return true; /* printed without the field */
		d->buf = nb;
		d->cap = nc;
	}
	w = d->buf;
	memcpy(w, vals, end * sizeof(*w));
	set_val(&w[end], &op_di, RTR_VAL_STRUCT_BEGIN, NULL, 0);
	set_val(&w[end + 1], &op_bin, RTR_VAL_STRING, o ? o->bin : "", o ? o->lbin : 0);
	set_val(&w[end + 2], &op_func, RTR_VAL_STRING, o ? o->func : "", o ? o->lfunc : 0);
	set_val(&w[end + 3], &op_src, RTR_VAL_STRING, o ? o->src : "", o ? o->lsrc : 0);
	set_val(&w[end + 4], &op_di, RTR_VAL_STRUCT_END, NULL, 0);
	memcpy(w + end + 5, vals + end, (n - end) * sizeof(*w));
	m->values = w;
	m->n_values = n + 5;
	return true;
}

static void di_free(void *arg)
{
	struct rtr__di *d = arg;

	if (!d)
		return;
	for (size_t i = 0; i < d->ntr; i++)
		rtr__di_map_clear(&d->procs[i], proc_free);
	free(d->procs);
	free(d->st);
	free(d->sd);
	free(d->buf);
	free(d->dir);
	free(d->prefix);
	rtr__di_files_free(d->fs);
	free(d);
}

int rtr_reader_debuginfo(struct rtr_reader *r, const struct rtr_debuginfo_options *o,
			 struct rtr_error *err)
{
	struct rtr__di *d = calloc(1, sizeof(*d));

	if (!d)
		goto nomem;
	d->fs = rtr__di_files_new();
	d->ntr = rtr_reader_trace_count(r);
	d->nst = rtr_reader_stream_count(r);
	d->procs = calloc(d->ntr ? d->ntr : 1, sizeof(*d->procs));
	d->st = calloc(d->nst ? d->nst : 1, sizeof(*d->st));
	d->ncls = rtr_reader_class_count(r);
	d->sd = calloc(d->ncls ? d->ncls : 1, 1);
	d->full = o && o->full_path;
	if (o && o->dir)
		d->dir = strdup(o->dir);
	if (o && o->target_prefix)
		d->prefix = strdup(o->target_prefix);
	if (!d->fs || !d->procs || !d->st || !d->sd || (o && o->dir && !d->dir) ||
	    (o && o->target_prefix && !d->prefix))
		goto nomem;
	rtr__reader_set_hook(r, di_hook, di_free, d);
	return 0;
nomem:
	di_free(d);
	return rtr__error(err, -ENOMEM, "debug info: out of memory");
}
