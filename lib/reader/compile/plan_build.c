/* Compiles TSDL types into flat decode plans: field instances, roles, clock
 * maps, resolved length/tag slots, babeltrace2's shown/hidden rules.
 * See docs/design/reader.md ("Decode plan"). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile/compile.h"

struct comp {
	struct rtr__trace_class *tc;
	struct rtr__trace_code *code;
	const struct rtr__event_class *ec;
	struct rtr_error *e;
	const char *origin;
	struct rtr__op *ops;
	uint32_t n, cap;
	int scope;
	struct rtr__plan *roots[RTR_SCOPE_COUNT];
	uint32_t frames[RTR__MAX_DEPTH + 2];
	int nf;
	uint32_t *nslots;
	/* members of compiled structs by name: ns = plan serial << 32 | the
	 * struct's op; variant options by name: ns = 1 << 63 | a fresh id
	 * << 1 | (0: written name, 1: name) */
	struct rtr__strmap names;
	uint32_t serial; /* of the plan being compiled */
	uint64_t next_ns;
};

/* Dependency records (target op in some plan), resolved to pointers when
 * all plans of a stream class exist. Stored temporarily in op->src as
 * slot; the target pointer is found again through the slot table. */

static int cerr_code(struct comp *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *scope_name(int s)
{
	static const char *n[] = {"trace.packet.header", "stream.packet.context",
				  "stream.event.header", "stream.event.context",
				  "event.context",	 "event.fields"};
	return s >= 0 && s < RTR_SCOPE_COUNT ? n[s] : "?";
}

static int cerr_code(struct comp *c, int code, const char *fmt, ...)
{
	char m[600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (c->ec)
		return rtr__error(c->e, code, "%s: metadata error in event '%s' (%s): %s",
				  c->origin, c->ec->name ? c->ec->name : "?", scope_name(c->scope),
				  m);
	return rtr__error(c->e, code, "%s: metadata error in %s: %s", c->origin,
			  scope_name(c->scope), m);
}

/* Static functions here return 0 or a negative errno, the error recorded
 * in c->e: cerr() records one (-EINVAL, or -ENOMEM for cerr_oom()),
 * FAILED(c) is the code of the one recorded. */
#define cerr(c, ...)  cerr_code(c, -EINVAL, __VA_ARGS__)
#define cerr_oom(c)   cerr_code(c, -ENOMEM, "out of memory")
#define FAILED(c)     ((c)->e->code ? (c)->e->code : -EINVAL)

static int new_op(struct comp *c, uint32_t *idx)
{
	struct rtr__arena *a = &c->tc->arena;

	if (c->code->total_ops >= RTR__MAX_PLAN_OPS)
		return cerr(c, "types expand to more than %u fields", RTR__MAX_PLAN_OPS);
	/* plans count against the model's memory limit */
	if (a->total + (size_t)(c->code->total_ops + 1) * sizeof(struct rtr__op) >
	    (a->limit ? a->limit : RTR__MAX_ARENA)) {
		a->over = true;
		return cerr(c, "decoding this metadata takes more than %zu MiB (%d times its "
			       "size): refused",
			    (a->limit ? a->limit : RTR__MAX_ARENA) >> 20, RTR__MODEL_FACTOR);
	}
	if (c->n == c->cap) {
		uint32_t nc = c->cap ? c->cap * 2 : 32;
		struct rtr__op *no = realloc(c->ops, nc * sizeof(*no));

		if (!no)
			return cerr_oom(c);
		c->ops = no;
		c->cap = nc;
	}
	*idx = c->n++;
	c->code->total_ops++;
	memset(&c->ops[*idx], 0, sizeof(c->ops[*idx]));
	c->ops[*idx].save = -1;
	c->ops[*idx].clock = -1;
	c->ops[*idx].src = -1;
	c->ops[*idx].scope = (uint32_t)c->scope;
	return 0;
}

/* babeltrace2 (ctf-meta-update-text-array-sequence.c) makes an array or
 * sequence text only when its element is an 8-bit integer with an encoding
 * and an alignment of exactly 8 bits; any other alignment keeps it an
 * array of integers, each element aligned on its own. */
static bool is_text_elem(const struct rtr__type *e)
{
	return e->kind == TK_INT && e->size == 8 && e->encoding != RTR__ENC_NONE &&
	       e->align == 8;
}

/* Target of a path. */
struct tgt {
	struct rtr__op *ops; /* plan holding it */
	uint32_t idx;
};

/* Member 'name' (as written) of the struct at ops[parent] (plan
 * 'serial'), compiled before op 'limit': small structs are scanned,
 * larger ones looked up in c->names. */
static int find_child(const struct comp *c, const struct rtr__op *ops, uint32_t serial,
		      uint32_t parent, uint32_t limit, const char *name, uint32_t *out)
{
	const uint64_t *v;

	if (ops[parent].t->n <= RTR__SMALL_STRUCT) {
		for (uint32_t j = parent + 1; j < limit && ops[j].end; j = ops[j].end) {
			if (ops[j].orig && !strcmp(ops[j].orig, name)) {
				*out = j;
				return 0;
			}
		}
	} else {
		v = rtr__strmap_get(&c->names, (uint64_t)serial << 32 | parent, name);
		if (v && *v < limit) {
			*out = (uint32_t)*v;
			return 0;
		}
	}
	/* The member may be a struct still being compiled (its end not yet
	 * known, not yet in c->names): an absolute path through the struct
	 * being defined, `event.fields.s.len` used inside `s` (CTF 1.8 §7.3.2;
	 * babeltrace2 accepts it). Such a member is the frame after 'parent'
	 * on the stack of open structs of the plan being compiled. */
	if (ops != c->ops)
		return -ENOENT;
	for (int f = 0; f + 1 < c->nf; f++) {
		uint32_t j = c->frames[f + 1];

		if (c->frames[f] == parent && ops[j].depth == ops[parent].depth + 1 &&
		    ops[j].orig && !strcmp(ops[j].orig, name)) {
			*out = j;
			return 0;
		}
	}
	return -ENOENT;
}

static int walk_path(const struct comp *c, const struct rtr__plan *pl, uint32_t start,
		     uint32_t limit, char **tok, int ntok, uint32_t *out)
{
	const struct rtr__op *ops = pl ? pl->ops : c->ops;
	uint32_t serial = pl ? pl->serial : c->serial;
	uint32_t cur = start;

	for (int k = 0; k < ntok; k++) {
		uint32_t nx;

		if (ops[cur].code != OP_STRUCT)
			return -ENOENT;
		if (find_child(c, ops, serial, cur, limit, tok[k], &nx))
			return -ENOENT;
		cur = nx;
	}
	*out = cur;
	return 0;
}

static bool target_ok(const struct rtr__op *op, bool want_enum)
{
	if (!op->t)
		return false;
	if (want_enum)
		return op->t->kind == TK_ENUM;
	return (op->t->kind == TK_INT || op->t->kind == TK_ENUM) && !op->t->sign;
}

static int resolve(struct comp *c, const char *path, bool want_enum, struct tgt *out)
{
	static const struct {
		const char *pfx;
		int scope;
	} abs[] = {
	    {"trace.packet.header.", RTR_SCOPE_PACKET_HEADER},
	    {"stream.packet.context.", RTR_SCOPE_PACKET_CONTEXT},
	    {"stream.event.header.", RTR_SCOPE_EVENT_HEADER},
	    {"stream.event.context.", RTR_SCOPE_EVENT_COMMON_CONTEXT},
	    {"event.context.", RTR_SCOPE_EVENT_CONTEXT},
	    {"event.fields.", RTR_SCOPE_EVENT_PAYLOAD},
	};
	char buf[1024], *tok[RTR__MAX_DEPTH];
	int ntok = 0, scope = -1;
	const char *rel = path;

	for (size_t i = 0; i < RTR_ARRAY_SIZE(abs); i++) {
		size_t l = strlen(abs[i].pfx);

		if (!strncmp(path, abs[i].pfx, l)) {
			scope = abs[i].scope;
			rel = path + l;
			break;
		}
	}
	if (!strncmp(path, "env.", 4))
		return cerr(c, "path '%s': environment lookups are not supported", path);
	if (strlen(rel) >= sizeof(buf))
		return cerr(c, "path '%s' too long", path);
	strcpy(buf, rel);
	for (char *s = buf; *s && ntok < RTR__MAX_DEPTH;) {
		tok[ntok++] = s;
		s = strchr(s, '.');
		if (!s)
			break;
		*s++ = 0;
	}
	if (ntok == 0 || !tok[0][0])
		return cerr(c, "empty path '%s'", path);
	if (scope >= 0 && scope != c->scope) {
		struct rtr__plan *pl;
		uint32_t idx = 0;

		if (scope > c->scope)
			return cerr(c, "path '%s' refers to a later scope", path);
		pl = c->roots[scope];
		if (!pl || !pl->n)
			return cerr(c, "path '%s': scope %s is empty", path, scope_name(scope));
		if (walk_path(c, pl, 0, pl->n, tok, ntok, &idx) ||
		    !target_ok(&pl->ops[idx], want_enum))
			return cerr(c, "path '%s' does not name an earlier %s field", path,
				    want_enum ? "enumeration" : "unsigned integer");
		out->ops = pl->ops;
		out->idx = idx;
		return 0;
	}
	if (scope >= 0) { /* absolute, current scope: from the root */
		uint32_t idx = 0;

		if (walk_path(c, NULL, 0, c->n, tok, ntok, &idx) ||
		    !target_ok(&c->ops[idx], want_enum))
			return cerr(c, "path '%s' does not name an earlier %s field", path,
				    want_enum ? "enumeration" : "unsigned integer");
		out->ops = NULL;
		out->idx = idx;
		return 0;
	}
	/* relative: innermost enclosing struct outwards */
	for (int f = c->nf - 1; f >= 0; f--) {
		uint32_t idx = 0;

		if (walk_path(c, NULL, c->frames[f], c->n, tok, ntok, &idx))
			continue;
		if (!target_ok(&c->ops[idx], want_enum))
			continue;
		out->ops = NULL;
		out->idx = idx;
		return 0;
	}
	/* then earlier scopes of this event, innermost first (CTF 1.8
	 * §7.3.2: lookups continue in the enclosing dynamic scopes) */
	for (int s = c->scope - 1; s >= 0; s--) {
		struct rtr__plan *pl = c->roots[s];
		uint32_t idx = 0;

		if (!pl || !pl->n)
			continue;
		if (walk_path(c, pl, 0, pl->n, tok, ntok, &idx) ||
		    !target_ok(&pl->ops[idx], want_enum))
			continue;
		out->ops = pl->ops;
		out->idx = idx;
		return 0;
	}
	return cerr(c, "cannot resolve %s path '%s': no earlier %s field of that name",
		    want_enum ? "variant tag" : "sequence length", path,
		    want_enum ? "enumeration" : "unsigned integer");
}

static int32_t slot_of(struct comp *c, struct tgt *t)
{
	struct rtr__op *op = t->ops ? &t->ops[t->idx] : &c->ops[t->idx];

	if (op->save < 0)
		op->save = (int32_t)(*c->nslots)++;
	return op->save;
}

static int compile(struct comp *c, const struct rtr__type *t, const char *name, int depth,
		   uint32_t *out);

/* Option of variant t selected by enum label l: the option whose written
 * name is the label, else the first whose name is the label or the label
 * without its leading underscore; -1 if none. ns: t's options, indexed by
 * index_options(). */
static int option_for_label(const struct comp *c, uint64_t ns, const char *l)
{
	const uint64_t *a = rtr__strmap_get(&c->names, ns, l), *b, *u;

	if (a)
		return (int)*a;
	b = rtr__strmap_get(&c->names, ns | 1, l);
	u = rtr__strmap_get(&c->names, ns | 1, l[0] == '_' ? l + 1 : l);
	if (b && u)
		return (int)(*b < *u ? *b : *u);
	return b ? (int)*b : u ? (int)*u : -1;
}

static int index_options(struct comp *c, const struct rtr__type *t, uint64_t *ns)
{
	*ns = (uint64_t)1 << 63 | ++c->next_ns << 1;
	for (uint32_t i = 0; i < t->n; i++) /* first one wins */
		if (rtr__strmap_put(&c->names, *ns, t->m[i].orig, i) < 0 ||
		    rtr__strmap_put(&c->names, *ns | 1, t->m[i].name, i) < 0)
			return cerr_oom(c);
	return 0;
}

static int compile_variant(struct comp *c, const struct rtr__type *t, uint32_t idx, int depth)
{
	struct tgt tg;
	const struct rtr__type *tag;
	uint32_t *optop;
	int *labopt;
	uint64_t ns;
	size_t nsel = 0;

	if (!t->path)
		return cerr(c, "variant '%s' has no tag",
			    c->ops[idx].name ? c->ops[idx].name : "?");
	if (resolve(c, t->path, true, &tg))
		return FAILED(c);
	c->ops[idx].src = slot_of(c, &tg);
	tag = tg.ops ? tg.ops[tg.idx].t : c->ops[tg.idx].t;
	if (index_options(c, t, &ns))
		return FAILED(c);
	labopt = malloc((tag->n ? tag->n : 1) * sizeof(*labopt));
	optop = calloc(t->n ? t->n : 1, sizeof(*optop));
	if (!labopt || !optop) {
		free(labopt);
		free(optop);
		return cerr_oom(c);
	}
	/* every option must be selectable by a label of the tag (optop
	 * marks them first, then holds their ops) */
	for (uint32_t k = 0; k < tag->n; k++) {
		labopt[k] = option_for_label(c, ns, tag->r[k].label);
		if (labopt[k] >= 0)
			optop[labopt[k]] = 1;
	}
	for (uint32_t i = 0; i < t->n; i++) {
		if (!optop[i]) {
			free(labopt);
			free(optop);
			return cerr(c,
				    "variant option '%s' matches no label of its tag enumeration",
				    t->m[i].orig);
		}
	}
	for (uint32_t i = 0; i < t->n; i++) {
		if (compile(c, t->m[i].t, t->m[i].orig, depth + 1, &optop[i])) {
			free(labopt);
			free(optop);
			return FAILED(c);
		}
	}
	/* selection table: tag ranges in label order, first option wins */
	{
		struct rtr__var_opt *sel = calloc(tag->n ? tag->n : 1, sizeof(*sel));

		if (!sel) {
			free(labopt);
			free(optop);
			return cerr_oom(c);
		}
		for (uint32_t k = 0; k < tag->n; k++) {
			int i = labopt[k];

			if (i >= 0) {
				sel[nsel].lo = tag->r[k].lo;
				sel[nsel].hi = tag->r[k].hi;
				sel[nsel].op = optop[i];
				nsel++;
			}
		}
		c->ops[idx].opts = sel;
		c->ops[idx].n_opts = (uint32_t)nsel;
		c->ops[idx].sign = tag->sign;
	}
	free(labopt);
	free(optop);
	return 0;
}

static int compile(struct comp *c, const struct rtr__type *t, const char *name, int depth,
		   uint32_t *out)
{
	uint32_t idx = 0;

	if (depth > RTR__MAX_DEPTH)
		return cerr(c, "types nested deeper than %d levels", RTR__MAX_DEPTH);
	if (new_op(c, &idx))
		return FAILED(c);
	*out = idx;
	c->ops[idx].t = t;
	c->ops[idx].orig = name;
	c->ops[idx].name = name ? (name[0] == '_' ? name + 1 : name) : NULL;
	c->ops[idx].align = t->align ? t->align : 1;
	c->ops[idx].depth = (uint32_t)depth;
	switch (t->kind) {
	case TK_INT:
	case TK_ENUM:
		c->ops[idx].size = t->size;
		c->ops[idx].sign = t->sign;
		c->ops[idx].bo = t->bo;
		c->ops[idx].clock = t->clock;
		c->ops[idx].code =
		    ((t->size == 8 || t->size == 16 || t->size == 32 || t->size == 64) &&
		     t->align % 8 == 0)
			? OP_INT_BYTE
			: OP_INT_BITS;
		break;
	case TK_FLOAT:
		c->ops[idx].size = t->size;
		c->ops[idx].bo = t->bo;
		c->ops[idx].code = OP_FLOAT;
		break;
	case TK_STRING:
		c->ops[idx].code = OP_STRING;
		c->ops[idx].align = 8;
		break;
	case TK_STRUCT:
		c->ops[idx].code = OP_STRUCT;
		if (c->nf >= (int)RTR_ARRAY_SIZE(c->frames))
			return cerr(c, "types nested too deeply");
		c->frames[c->nf++] = idx;
		for (uint32_t i = 0; i < t->n; i++) {
			uint32_t ci;

			if (compile(c, t->m[i].t, t->m[i].orig, depth + 1, &ci)) {
				c->nf--;
				return FAILED(c);
			}
			if (t->n > RTR__SMALL_STRUCT &&
			    rtr__strmap_put(&c->names, (uint64_t)c->serial << 32 | idx,
					    t->m[i].orig, ci) < 0) {
				c->nf--;
				return cerr_oom(c);
			}
		}
		c->nf--;
		break;
	case TK_VARIANT:
		c->ops[idx].code = OP_VARIANT;
		c->ops[idx].align = 1;
		if (compile_variant(c, t, idx, depth))
			return FAILED(c);
		break;
	case TK_ARRAY:
	case TK_SEQ: {
		bool text = is_text_elem(t->elem);

		if (t->kind == TK_SEQ) {
			struct tgt tg;

			if (resolve(c, t->path, false, &tg))
				return FAILED(c);
			c->ops[idx].src = slot_of(c, &tg);
		} else {
			c->ops[idx].count = t->len;
		}
		c->ops[idx].code = text ? OP_TEXT_ARRAY : (t->kind == TK_SEQ ? OP_SEQ : OP_ARRAY);
		c->ops[idx].align = t->elem->kind == TK_VARIANT ? 1 : t->elem->align;
		if (!text) {
			uint32_t ci;

			if (compile(c, t->elem, NULL, depth + 1, &ci))
				return FAILED(c);
		}
		break;
	}
	default:
		return cerr(c, "unknown type kind %d", t->kind);
	}
	c->ops[idx].end = c->n;
	return 0;
}

/* ---- roles and clock auto-mapping ---- */

static void set_role(struct rtr__op *ops, uint32_t n, const char *fname, int kind_int, int role)
{
	for (uint32_t i = 0; i < n; i++) {
		struct rtr__op *op = &ops[i];

		if (!op->orig || strcmp(op->orig, fname))
			continue;
		if (kind_int && op->t && (op->t->kind == TK_INT || op->t->kind == TK_ENUM))
			op->role = (uint8_t)role;
		else if (!kind_int && op->code == OP_ARRAY)
			op->role = (uint8_t)role;
	}
}

static int auto_map(struct comp *c, struct rtr__op *ops, uint32_t n, const char *fname)
{
	for (uint32_t i = 0; i < n; i++) {
		struct rtr__op *op = &ops[i];
		const char *nm;

		if (!op->name || !op->t || op->t->kind != TK_INT || op->clock >= 0)
			continue;
		nm = op->name;
		if (strcmp(nm, fname))
			continue;
		if (c->tc->n_clocks == 0) {
			struct rtr__clock dc;

			memset(&dc, 0, sizeof(dc));
			dc.name = "default";
			dc.freq = 1000000000;
			if (rtr__grow((void **)&c->tc->clocks, &c->tc->cap_clocks, 1, sizeof(dc)))
				return cerr_oom(c);
			c->tc->clocks[c->tc->n_clocks++] = dc;
		} else if (c->tc->n_clocks > 1) {
			return cerr(
			    c, "cannot map field '%s' to a clock: the trace has several clocks",
			    op->name);
		}
		op->clock = 0;
	}
	return 0;
}

static int finish_plan(struct comp *c, struct rtr__plan *pl)
{
	/* plans live as long as the trace: no spare capacity (a 5-field
	 * event kept 32 ops) */
	if (c->n && c->n < c->cap) {
		struct rtr__op *fit = realloc(c->ops, c->n * sizeof(*fit));

		if (fit)
			c->ops = fit;
	}
	pl->ops = c->ops;
	pl->n = c->n;
	pl->serial = c->serial;
	c->ops = NULL;
	c->n = c->cap = 0;
	return 0;
}

static int build_scope(struct comp *c, int scope, const struct rtr__type *t, struct rtr__plan *pl)
{
	uint32_t root;

	memset(pl, 0, sizeof(*pl));
	c->scope = scope;
	c->nf = 0;
	c->serial++;
	if (!t)
		return 0;
	if (compile(c, t, NULL, 0, &root))
		return FAILED(c);
	switch (scope) {
	case RTR_SCOPE_PACKET_HEADER:
		set_role(c->ops, c->n, "magic", 1, ROLE_MAGIC);
		set_role(c->ops, c->n, "stream_id", 1, ROLE_STREAM_ID);
		set_role(c->ops, c->n, "stream_instance_id", 1, ROLE_STREAM_INSTANCE_ID);
		set_role(c->ops, c->n, "uuid", 0, ROLE_UUID);
		break;
	case RTR_SCOPE_PACKET_CONTEXT:
		if (auto_map(c, c->ops, c->n, "timestamp_begin") ||
		    auto_map(c, c->ops, c->n, "timestamp_end"))
			return FAILED(c);
		set_role(c->ops, c->n, "timestamp_begin", 1, ROLE_TS_BEGIN);
		set_role(c->ops, c->n, "timestamp_end", 1, ROLE_TS_END);
		set_role(c->ops, c->n, "content_size", 1, ROLE_CONTENT_SIZE);
		set_role(c->ops, c->n, "packet_size", 1, ROLE_PACKET_SIZE);
		set_role(c->ops, c->n, "events_discarded", 1, ROLE_DISCARDED);
		set_role(c->ops, c->n, "packet_seq_num", 1, ROLE_SEQ_NUM);
		break;
	case RTR_SCOPE_EVENT_HEADER:
		if (auto_map(c, c->ops, c->n, "timestamp"))
			return FAILED(c);
		set_role(c->ops, c->n, "id", 1, ROLE_EVENT_ID);
		break;
	default:
		break;
	}
	return finish_plan(c, pl);
}

/* ---- babeltrace2's "in IR" rules (shown fields) ---- */

struct depctx {
	/* slot -> op, for marking dependency targets */
	struct rtr__op **slot_op;
	uint32_t nslots;
};

static void mark_dep(struct depctx *d, int32_t slot)
{
	if (slot >= 0 && (uint32_t)slot < d->nslots && d->slot_op[slot])
		d->slot_op[slot]->dep = 1;
}

/* Returns whether ops[i] is shown; processes its subtree. */
static bool upd(struct depctx *d, struct rtr__op *ops, uint32_t i)
{
	struct rtr__op *op = &ops[i];

	switch (op->code) {
	case OP_INT_BYTE:
	case OP_INT_BITS:
		op->shown = (op->clock < 0 && op->role == ROLE_NONE) || op->dep;
		return op->shown;
	case OP_STRUCT: {
		uint32_t nk = 0, *kp;
		bool any = false;

		for (uint32_t j = i + 1; j < op->end; j = ops[j].end)
			nk++;
		if (nk == 0) {
			op->shown = 1; /* originally empty */
			return true;
		}
		kp = malloc(sizeof(*kp) * nk);
		if (!kp) { /* cannot happen in practice: show everything */
			op->shown = 1;
			return true;
		}
		nk = 0;
		for (uint32_t j = i + 1; j < op->end; j = ops[j].end)
			kp[nk++] = j;
		for (uint32_t k = nk; k-- > 0;)
			if (upd(d, ops, kp[k]))
				any = true;
		free(kp);
		op->shown = any;
		return any;
	}
	case OP_VARIANT: {
		bool any = false;

		for (uint32_t k = op->n_opts; k-- > 0;) {
			/* options may repeat in the table (several labels) */
			if (upd(d, ops, op->opts[k].op))
				any = true;
		}
		if (any) {
			for (uint32_t k = 0; k < op->n_opts; k++)
				ops[op->opts[k].op].shown = 1;
			mark_dep(d, op->src);
		}
		op->shown = any;
		return any;
	}
	case OP_ARRAY:
	case OP_SEQ:
		op->shown = upd(d, ops, i + 1);
		if (op->code == OP_SEQ && op->shown)
			mark_dep(d, op->src);
		return op->shown;
	case OP_TEXT_ARRAY:
		op->shown = 1;
		if (op->src >= 0)
			mark_dep(d, op->src);
		return true;
	default: /* float, string */
		op->shown = 1;
		return true;
	}
}

static void force_hidden(struct rtr__plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++)
		pl->ops[i].shown = 0;
	pl->shown = false;
}

static void index_slots(struct depctx *d, struct rtr__plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++) {
		int32_t s = pl->ops[i].save;

		if (s >= 0 && (uint32_t)s < d->nslots)
			d->slot_op[s] = &pl->ops[i];
	}
}

static void mark_tagged(struct rtr__plan *pl);

/* Final touches: unescaped names, element flags. */
static void finalize(struct rtr__plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++) {
		struct rtr__op *op = &pl->ops[i];

		op->slow = op->save >= 0 || op->role || op->clock >= 0;
		if (op->code == OP_STRUCT && op->end > i + 1) {
			bool flat = true;

			for (uint32_t j = i + 1; j < op->end; j++) {
				uint8_t cd = pl->ops[j].code;

				if (cd != OP_INT_BYTE && cd != OP_INT_BITS && cd != OP_FLOAT &&
				    cd != OP_STRING)
					flat = false;
			}
			op->flat = flat;
			if (flat) {
				/* static member offsets when every member is a
				 * byte-aligned number whose alignment divides the
				 * struct's */
				uint64_t o = 0;
				bool fx = true;

				for (uint32_t j = i + 1; j < op->end && fx; j++) {
					struct rtr__op *m = &pl->ops[j];

					if ((m->code != OP_INT_BYTE && m->code != OP_FLOAT) ||
					    m->align % 8 || m->size % 8 || m->align > op->align) {
						fx = false;
						break;
					}
					o = (o + m->align - 1) & ~(uint64_t)(m->align - 1);
					m->off = (uint32_t)o;
					o += m->size;
				}
				op->fixed = fx && o < (1u << 30);
				op->fixed_bits = (uint32_t)o;
			}
		}
		if (op->code == OP_VARIANT && !op->sign && op->n_opts < 255) {
			/* direct selection table for small tags (entry + 1) */
			op->direct = calloc(256, 1);
			if (op->direct) {
				for (uint32_t v = 0; v < 256; v++)
					for (uint32_t k = 0; k < op->n_opts; k++)
						if (v >= op->opts[k].lo && v <= op->opts[k].hi) {
							op->direct[v] = (uint8_t)(k + 1);
							break;
						}
			}
		}
		op->name_len = op->name ? (uint32_t)strlen(op->name) : 0;
		if (op->code == OP_ARRAY || op->code == OP_SEQ) {
			/* can an element be zero bits long? */
			bool zero = true;

			/* only fields always present count: those inside a
			 * nested array, sequence or variant may be absent
			 * (`int f[1][0]` is an array of one empty array) */
			for (uint32_t j = i + 1; j < op->end; j++) {
				uint8_t cd = pl->ops[j].code;

				if (cd == OP_ARRAY || cd == OP_SEQ || cd == OP_VARIANT) {
					j = pl->ops[j].end - 1;
					continue;
				}
				if (cd == OP_INT_BYTE || cd == OP_INT_BITS || cd == OP_FLOAT ||
				    cd == OP_STRING || cd == OP_TEXT_ARRAY) {
					/* text arrays/strings may be 0/8 bits;
					 * be conservative only for text */
					if (cd != OP_TEXT_ARRAY) {
						zero = false;
						break;
					}
				}
			}
			op->elem_min_bits_zero = zero;
		}
	}
	mark_tagged(pl);
}

/* struct { integer tag; variant <tag> { flat structs } }: LTTng's compact
 * and large event headers have this shape. */
static void mark_tagged(struct rtr__plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++) {
		struct rtr__op *op = &pl->ops[i], *tag, *var;
		bool ok = true;

		if (op->code != OP_STRUCT || op->end < i + 3)
			continue;
		tag = &pl->ops[i + 1];
		if (tag->code != OP_INT_BYTE && tag->code != OP_INT_BITS)
			continue;
		var = &pl->ops[i + 2];
		if (var->code != OP_VARIANT || var->end != op->end || var->src != tag->save ||
		    tag->save < 0 || var->sign)
			continue;
		for (uint32_t k = 0; k < var->n_opts && ok; k++) {
			const struct rtr__op *o = &pl->ops[var->opts[k].op];

			ok = o->code == OP_STRUCT && (o->flat || o->end == var->opts[k].op + 1);
		}
		op->tagged = ok && var->n_opts > 0;
	}
}

static int cmp_ec(const void *a, const void *b)
{
	const struct rtr__event_code *x = a, *y = b;

	return x->cls->id < y->cls->id ? -1 : x->cls->id > y->cls->id;
}

struct rtr__event_code *rtr__sc_find_ec(const struct rtr__stream_code *sc, uint64_t id)
{
	size_t lo = 0, hi = sc->n_ecs;

	if (id < sc->ec_by_id_len)
		return sc->ec_by_id[id];
	if (sc->ec_by_id_len)
		return NULL;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (sc->ecs[mid].cls->id == id)
			return &sc->ecs[mid];
		if (sc->ecs[mid].cls->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static int find_clock_in(const struct rtr__plan *pl, int32_t *clk, struct rtr_error *e,
			 const char *origin)
{
	for (uint32_t i = 0; i < pl->n; i++) {
		int32_t k = pl->ops[i].clock;

		if (k < 0 || (pl->ops[i].code != OP_INT_BYTE && pl->ops[i].code != OP_INT_BITS))
			continue;
		if (*clk >= 0 && *clk != k) {
			return rtr__error(e, -EINVAL,
					  "%s: metadata error: a stream class maps fields to two "
					  "different clocks",
					  origin);
		}
		*clk = k;
	}
	return 0;
}

int rtr__code_build(struct rtr__trace_code *code, struct rtr__trace_class *tc,
		    struct rtr_error *e)
{
	struct comp c;
	uint32_t dummy_slots = 0;
	int ret = -EINVAL;

	memset(&c, 0, sizeof(c));
	c.tc = tc;
	c.code = code;
	c.e = e;
	c.origin = "metadata";
	c.nslots = &dummy_slots;
	/* the code's memory comes out of what the model may take */
	code->arena.limit = tc->arena.total < (tc->arena.limit ? tc->arena.limit : RTR__MAX_ARENA)
				? (tc->arena.limit ? tc->arena.limit : RTR__MAX_ARENA) -
				      tc->arena.total
				: 1;
	code->scs = calloc(tc->n_scs ? tc->n_scs : 1, sizeof(*code->scs));
	if (!code->scs)
		return rtr__error(e, -ENOMEM, "out of memory");
	code->n_scs = tc->n_scs;
	for (size_t s = 0; s < tc->n_scs; s++) {
		const struct rtr__stream_class *cls = tc->scs[s];
		struct rtr__stream_code *sc = &code->scs[s];

		sc->cls = cls;
		sc->clock = -1;
		sc->ecs = calloc(cls->n_ecs ? cls->n_ecs : 1, sizeof(*sc->ecs));
		if (!sc->ecs)
			return rtr__error(e, -ENOMEM, "out of memory");
		sc->n_ecs = cls->n_ecs;
		for (size_t k = 0; k < cls->n_ecs; k++)
			sc->ecs[k].cls = cls->ecs[k];
	}
	/* The packet header plan is shared by all stream classes: its
	 * integers get the first slots of every stream class's table. */
	if (build_scope(&c, RTR_SCOPE_PACKET_HEADER, tc->packet_header, &code->p_packet_header))
		goto out;
	for (uint32_t i = 0; i < code->p_packet_header.n; i++) {
		struct rtr__op *op = &code->p_packet_header.ops[i];

		if ((op->code == OP_INT_BYTE || op->code == OP_INT_BITS) && op->save < 0)
			op->save = (int32_t)dummy_slots++;
	}
	force_hidden(&code->p_packet_header);
	finalize(&code->p_packet_header);
	code->max_slots = dummy_slots;
	for (size_t s = 0; s < code->n_scs; s++) {
		struct rtr__stream_code *sc = &code->scs[s];
		const struct rtr__stream_class *cls = sc->cls;
		struct depctx d;

		sc->nslots = dummy_slots;
		c.ec = NULL;
		c.nslots = &sc->nslots;
		memset(c.roots, 0, sizeof(c.roots));
		c.roots[RTR_SCOPE_PACKET_HEADER] = &code->p_packet_header;
		if (build_scope(&c, RTR_SCOPE_PACKET_CONTEXT, cls->packet_context,
				&sc->p_packet_context))
			goto out;
		c.roots[RTR_SCOPE_PACKET_CONTEXT] = &sc->p_packet_context;
		if (build_scope(&c, RTR_SCOPE_EVENT_HEADER, cls->event_header,
				&sc->p_event_header))
			goto out;
		c.roots[RTR_SCOPE_EVENT_HEADER] = &sc->p_event_header;
		if (build_scope(&c, RTR_SCOPE_EVENT_COMMON_CONTEXT, cls->event_context,
				&sc->p_event_context))
			goto out;
		c.roots[RTR_SCOPE_EVENT_COMMON_CONTEXT] = &sc->p_event_context;
		for (size_t k = 0; k < sc->n_ecs; k++) {
			struct rtr__event_code *ec = &sc->ecs[k];

			c.ec = ec->cls;
			if (build_scope(&c, RTR_SCOPE_EVENT_CONTEXT, ec->cls->context,
					&ec->p_context))
				goto out;
			c.roots[RTR_SCOPE_EVENT_CONTEXT] = &ec->p_context;
			if (build_scope(&c, RTR_SCOPE_EVENT_PAYLOAD, ec->cls->fields,
					&ec->p_fields))
				goto out;
			c.roots[RTR_SCOPE_EVENT_CONTEXT] = NULL;
		}
		c.ec = NULL;
		/* shown rules */
		memset(&d, 0, sizeof(d));
		d.nslots = sc->nslots;
		d.slot_op = calloc(sc->nslots ? sc->nslots : 1, sizeof(*d.slot_op));
		if (!d.slot_op) {
			rtr__error(e, -ENOMEM, "out of memory");
			goto out;
		}
		index_slots(&d, &code->p_packet_header);
		index_slots(&d, &sc->p_packet_context);
		index_slots(&d, &sc->p_event_header);
		index_slots(&d, &sc->p_event_context);
		for (size_t k = 0; k < sc->n_ecs; k++) {
			struct rtr__event_code *ec = &sc->ecs[k];

			/* event-level slots overlap between event classes:
			 * index per event class */
			index_slots(&d, &ec->p_context);
			index_slots(&d, &ec->p_fields);
			if (ec->p_fields.n)
				ec->p_fields.shown = upd(&d, ec->p_fields.ops, 0);
			if (ec->p_context.n)
				ec->p_context.shown = upd(&d, ec->p_context.ops, 0);
		}
		if (sc->p_event_context.n)
			sc->p_event_context.shown = upd(&d, sc->p_event_context.ops, 0);
		force_hidden(&sc->p_event_header);
		if (sc->p_packet_context.n)
			sc->p_packet_context.shown = upd(&d, sc->p_packet_context.ops, 0);
		free(d.slot_op);
		finalize(&sc->p_packet_context);
		finalize(&sc->p_event_header);
		finalize(&sc->p_event_context);
		for (size_t k = 0; k < sc->n_ecs; k++) {
			finalize(&sc->ecs[k].p_context);
			finalize(&sc->ecs[k].p_fields);
		}
		/* default clock */
		sc->clock = -1;
		if (find_clock_in(&sc->p_packet_context, &sc->clock, e, c.origin) ||
		    find_clock_in(&sc->p_event_header, &sc->clock, e, c.origin) ||
		    find_clock_in(&sc->p_event_context, &sc->clock, e, c.origin))
			goto out;
		for (size_t k = 0; k < sc->n_ecs; k++)
			if (find_clock_in(&sc->ecs[k].p_context, &sc->clock, e, c.origin) ||
			    find_clock_in(&sc->ecs[k].p_fields, &sc->clock, e, c.origin))
				goto out;
		for (uint32_t i = 0; i < sc->p_packet_context.n; i++) {
			switch (sc->p_packet_context.ops[i].role) {
			case ROLE_DISCARDED:
				sc->has_discarded_ctr = true;
				break;
			case ROLE_SEQ_NUM:
				sc->has_seq_num = true;
				break;
			case ROLE_TS_BEGIN:
				sc->has_ts_begin = true;
				break;
			case ROLE_TS_END:
				sc->has_ts_end = true;
				break;
			default:
				break;
			}
		}
		if (sc->nslots > code->max_slots)
			code->max_slots = sc->nslots;
		/* event class lookup (ids are unique within a stream class) */
		if (sc->n_ecs)
			qsort(sc->ecs, sc->n_ecs, sizeof(*sc->ecs), cmp_ec);
		/* dense only when ids are dense enough: 65536 stream classes
		 * of one event with id 65535 must not take 32 GiB */
		if (sc->n_ecs && sc->ecs[sc->n_ecs - 1].cls->id < 65536 &&
		    sc->ecs[sc->n_ecs - 1].cls->id < 8 * sc->n_ecs + 256) {
			sc->ec_by_id_len = sc->ecs[sc->n_ecs - 1].cls->id + 1;
			sc->ec_by_id = calloc(sc->ec_by_id_len, sizeof(*sc->ec_by_id));
			if (!sc->ec_by_id) {
				rtr__error(e, -ENOMEM, "out of memory");
				goto out;
			}
			for (size_t k = 0; k < sc->n_ecs; k++)
				sc->ec_by_id[sc->ecs[k].cls->id] = &sc->ecs[k];
		}
	}
	rtr__progs_build(code);
	ret = 0;
out:
	if (ret)
		ret = FAILED(&c);
	rtr__strmap_free(&c.names);
	/* a plan left half-built by an error */
	for (uint32_t i = 0; i < c.n; i++)
		free(c.ops[i].opts);
	free(c.ops);
	return ret;
}

static void free_plan(struct rtr__plan *pl)
{
	for (uint32_t i = 0; i < pl->n; i++)
		free(pl->ops[i].opts);
	for (uint32_t i = 0; i < pl->n; i++)
		free(pl->ops[i].direct);
	free(pl->ops);
	memset(pl, 0, sizeof(*pl));
}

void rtr__code_free(struct rtr__trace_code *code)
{
	if (!code)
		return;
	free_plan(&code->p_packet_header);
	for (size_t s = 0; s < code->n_scs && code->scs; s++) {
		struct rtr__stream_code *sc = &code->scs[s];

		free_plan(&sc->p_packet_context);
		free_plan(&sc->p_event_header);
		free_plan(&sc->p_event_context);
		for (size_t k = 0; k < sc->n_ecs && sc->ecs; k++) {
			free_plan(&sc->ecs[k].p_context);
			free_plan(&sc->ecs[k].p_fields);
		}
		free(sc->ecs);
		free(sc->ec_by_id);
	}
	free(code->scs);
	rtr__arena_free(&code->arena);
	memset(code, 0, sizeof(*code));
}
