/* One fuzz input through the session daemon's parsers: the filter bytecode
 * verifier and interpreter, the filter expression compiler, the control
 * protocol decoder and the armed-sessions file decoder. Properties: no
 * crash, no read outside the input (ASan), a verified program runs to its
 * end on any argument values, the compiler's output always verifies, and
 * every message that parses re-encodes to bytes that parse the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "armed.h"
#include "state.h"
#include "ctl.h"
#include "daemon_fuzz_one.h"
#include "fexpr.h"
#include "filter.h"

static int fail(const char *what)
{
	fprintf(stderr, "daemon fuzz: property violated: %s\n", what);
	abort();
}

/* The event filters are checked against: one field of each filterable
 * kind, and an array (not filterable). */
static struct rtr_event_state st;
static const struct rtr_field_desc fields[] = {
    {.name = "val", .kind = RTR_FIELD_INTEGER, .integer = {64, 1, 10, 0, 0, {0}}},
    {.name = "seq", .kind = RTR_FIELD_INTEGER, .integer = {32, 0, 10, 0, 0, {0}}},
    {.name = "dval", .kind = RTR_FIELD_FLOAT, .float_bits = 64},
    {.name = "name", .kind = RTR_FIELD_STRING},
    {.name = "arr", .kind = RTR_FIELD_ARRAY, .array_length = 4, .integer = {8, 0, 10, 0, 0, {0}}},
};
static const struct rtr_event_desc ev = {
    .provider = "fz", .name = "ev", .fields = fields, .nr_fields = 5, .loglevel = 6, .state = &st};

static void run_all(const struct rtr_filter *f)
{
	static const char *strs[] = {"", "n1", "abc*def", "a\\b"};
	struct rtr_filter_ctxvals cv = {.vpid = 42, .vtid = 43, .pthread_id = 7,
					.procname = "fz", .procname_len = 2};

	for (int i = 0; i < 8; i++) {
		union rtr_probe_arg a[5];

		a[0].s = (int64_t)i * 1000 - 3000;
		a[1].u = (uint64_t)i * 7;
		a[2].d = i == 7 ? 0.0 / 0.0 : i * 0.5 - 1;
		a[3].str.p = strs[i % 4];
		a[3].str.len = strlen(strs[i % 4]);
		a[4].u = 0;
		(void)rtr_filter_run(f, a, i % 2 ? &cv : NULL);
	}
}

int rtr_filter_fuzz_one(const uint8_t *data, size_t size)
{
	struct rtr_filter *f = NULL;
	char err[256];

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		if (rtr_filter_verify(data + 1, size - 1, &ev, &f, err, sizeof(err)) == 0) {
			run_all(f);
			rtr_filter_free(f);
		}
		return 0;
	}
	{
		char *text = malloc(size);
		struct rtr_fexpr *e = NULL;
		uint8_t code[RTR_FILTER_MAX_CODE];
		int n;

		if (!text)
			return 0;
		memcpy(text, data + 1, size - 1);
		text[size - 1] = 0;
		if (rtr_fexpr_parse(text, &e, err, sizeof(err)) == 0) {
			const struct rtr_fexpr *es[2] = {e, e};

			for (size_t k = 1; k <= 2; k++) {
				n = rtr_fexpr_compile(es, k, &ev, code, sizeof(code), err, sizeof(err));
				if (n > 0) {
					if (rtr_filter_verify(code, (size_t)n, &ev, &f, err, sizeof(err)))
						fail(err);
					run_all(f);
					rtr_filter_free(f);
				}
			}
			rtr_fexpr_free(e);
		}
		free(text);
	}
	return 0;
}

static struct rtr_proto_out o1, o2;

int rtr_ctl_fuzz_one(const uint8_t *data, size_t size)
{
	static struct rtr_ctl_msg m, m2;
	static struct rtr_armed a, a2;
	char err[256];

	if (size < 1)
		return 0;
	if (!(data[0] & 1)) {
		if (rtr_ctl_parse(data + 1, size - 1, data[0] >> 7, &m, err, sizeof(err)))
			return 0;
		/* re-encode what was understood: the same again */
		rtr_ctl_begin(&o1, m.type, m.seq);
		for (uint32_t i = 0; i < m.nattrs; i++) {
			rtr_proto_put_u16(&o1, m.attrs[i].tag);
			rtr_proto_put_u16(&o1, m.attrs[i].len);
			for (uint16_t k = 0; k < m.attrs[i].len; k++)
				rtr_proto_put_u8(&o1, m.attrs[i].val[k]);
		}
		if (rtr_ctl_finish(&o1))
			fail("re-encoding a parsed control message overflowed");
		if (rtr_ctl_parse(o1.data, o1.len, data[0] >> 7, &m2, err, sizeof(err)))
			fail(err);
		if (m2.nattrs != m.nattrs || m2.type != m.type || m2.seq != m.seq)
			fail("control message re-parses differently");
		for (uint32_t i = 0; i < m.nattrs; i++)
			if (m.attrs[i].tag != m2.attrs[i].tag || m.attrs[i].len != m2.attrs[i].len ||
			    memcmp(m.attrs[i].val, m2.attrs[i].val, m.attrs[i].len))
				fail("control attribute re-parses differently");
		return 0;
	}
	if ((data[0] & 3) == 3) {
		/* the daemon's state files (state.h): parsed, re-encoded, the same */
		static struct rtr_state_session ss, ss2;
		static char buf[RTR_STATE_MAX_FILE + 64];
		int n;

		if (rtr_state_parse((const char *)data + 1, size - 1, &ss, err, sizeof(err)))
			return 0;
		n = rtr_state_encode(&ss, buf, sizeof(buf));
		if (n < 0)
			fail("a parsed state file does not re-encode");
		if (rtr_state_parse(buf, (size_t)n, &ss2, err, sizeof(err)))
			fail(err);
		if (memcmp(&ss, &ss2, sizeof(ss)))
			fail("state file re-parses differently");
		return 0;
	}
	if (rtr_armed_parse(data + 1, size - 1, &a, err, sizeof(err)))
		return 0;
	if (rtr_armed_encode(&a, &o2))
		return 0; /* (unknown attributes made the input bigger than its content) */
	if (rtr_armed_parse(o2.data, o2.len, &a2, err, sizeof(err)))
		fail(err);
	if (a2.nsessions != a.nsessions || a2.gen != a.gen)
		fail("armed file re-parses differently");
	for (uint32_t i = 0; i < a.nsessions; i++) {
		if (a.s[i].nchans != a2.s[i].nchans || a.s[i].nrules != a2.s[i].nrules ||
		    strcmp(a.s[i].name, a2.s[i].name) || a.s[i].id != a2.s[i].id)
			fail("armed session re-parses differently");
		for (uint32_t k = 0; k < a.s[i].nrules; k++)
			if (strcmp(a.s[i].rules[k].pattern, a2.s[i].rules[k].pattern) ||
			    !a.s[i].rules[k].filter != !a2.s[i].rules[k].filter)
				fail("armed rule re-parses differently");
	}
	return 0;
}
