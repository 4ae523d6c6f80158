/* One fuzz input through the control protocol's decoders (shared by the
 * libFuzzer harness and by tests/unit/proto, which replays the seeds).
 * Input: byte 0 = number of descriptors that "arrived" (mod 65), the rest =
 * one datagram. Properties checked: no crash, no read outside the input,
 * and every message that parses re-encodes to bytes that parse to the same
 * values (events: decode -> encode -> decode gives the same descriptions). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "proto_fuzz_one.h"

static int fail(const char *what)
{
	fprintf(stderr, "proto fuzz: property violated: %s\n", what);
	abort();
}

static int same_str(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_int(const struct rtr_integer_type *a, const struct rtr_integer_type *b)
{
	return a->size_bits == b->size_bits && a->is_signed == b->is_signed && a->base == b->base &&
	       a->byte_order == b->byte_order && a->text == b->text;
}

static int same_event(const struct rtr_event_desc *a, const struct rtr_event_desc *b)
{
	if (!same_str(a->provider, b->provider) || !same_str(a->name, b->name) ||
	    !same_str(a->model_emf_uri, b->model_emf_uri) || a->loglevel != b->loglevel ||
	    a->nr_fields != b->nr_fields || a->state->reg_index != b->state->reg_index)
		return 0;
	for (uint32_t i = 0; i < a->nr_fields; i++) {
		const struct rtr_field_desc *x = &a->fields[i], *y = &b->fields[i];

		if (!same_str(x->name, y->name) || x->kind != y->kind ||
		    x->float_bits != y->float_bits || x->array_length != y->array_length ||
		    !same_int(&x->integer, &y->integer) ||
		    !same_int(&x->length_type, &y->length_type) ||
		    !x->enumeration != !y->enumeration)
			return 0;
		if (x->enumeration) {
			const struct rtr_enum_desc *e = x->enumeration, *f = y->enumeration;

			if (!same_str(e->provider, f->provider) || !same_str(e->name, f->name) ||
			    e->nr_entries != f->nr_entries)
				return 0;
			for (uint32_t k = 0; k < e->nr_entries; k++)
				if (!same_str(e->entries[k].label, f->entries[k].label) ||
				    e->entries[k].start != f->entries[k].start ||
				    e->entries[k].end != f->entries[k].end)
					return 0;
		}
	}
	return 1;
}

static void check_events(const struct rtr_proto_msg *m)
{
	struct rtr_proto_arena a, b;
	const struct rtr_event_desc **evs, **evs2;
	struct rtr_proto_out *o;
	struct rtr_proto_msg m2;
	char err[256];
	uint32_t done = 0;

	rtr_proto_arena_init(&a, 8u << 20, 4096);
	if (rtr_proto_events_decode(&m->u.events, &a, &evs, err, sizeof(err)) != 0) {
		rtr_proto_arena_free(&a);
		return;
	}
	/* Round trip: what the host decoded, a runtime would encode the same. */
	o = malloc(sizeof(*o));
	if (!o)
		abort();
	if (rtr_proto_enc_events(o, 7, (const struct rtr_event_desc *const *)evs, m->u.events.count,
				 &done) != 0 ||
	    done != m->u.events.count)
		fail("decoded events do not re-encode into one message");
	if (rtr_proto_parse(o->data, o->len, 0, &m2, err, sizeof(err)) != 0)
		fail("re-encoded REGISTER_EVENTS does not parse");
	rtr_proto_arena_init(&b, 8u << 20, 4096);
	if (rtr_proto_events_decode(&m2.u.events, &b, &evs2, err, sizeof(err)) != 0)
		fail("re-encoded events do not decode");
	for (uint32_t i = 0; i < done; i++)
		if (!same_event(evs[i], evs2[i]))
			fail("events differ after a round trip");
	rtr_proto_arena_free(&b);
	rtr_proto_arena_free(&a);
	free(o);
}

static void reencode(const struct rtr_proto_msg *m, struct rtr_proto_out *o)
{
	const struct rtr_proto_hdr *h = &m->hdr;
	int r = 0;

	switch (h->type) {
	case RTR_MSG_HELLO:
		r = rtr_proto_enc_hello(o, h->seq, &m->u.hello);
		break;
	case RTR_MSG_SESSION:
		r = rtr_proto_enc_session(o, h->seq, &m->u.session);
		break;
	case RTR_MSG_CHANNEL:
		r = rtr_proto_enc_channel(o, h->seq, &m->u.channel);
		break;
	case RTR_MSG_CHANNEL_BUFFERS:
		r = rtr_proto_enc_channel_buffers(o, h->seq, &m->u.buffers);
		break;
	case RTR_MSG_START:
	case RTR_MSG_STOP:
	case RTR_MSG_CLOSE_SESSION:
		r = rtr_proto_enc_ref(o, h->type, h->seq, m->u.ref.session_id);
		break;
	case RTR_MSG_CLOSE_CHANNEL:
		r = rtr_proto_enc_close_channel(o, h->seq, m->u.close_channel.chan_handle);
		break;
	case RTR_MSG_READY:
		r = rtr_proto_enc_ready(o, h->seq, m->u.ready.flags);
		break;
	case RTR_MSG_REPLY:
		r = rtr_proto_enc_reply(o, h->seq, m->u.reply.req_type, m->u.reply.status,
					m->u.reply.text);
		break;
	case RTR_MSG_ENABLE:
	case RTR_MSG_REGISTER_REPLY: {
		const struct rtr_proto_enables *e =
		    h->type == RTR_MSG_ENABLE ? &m->u.enable : &m->u.register_reply.enables;
		struct rtr_proto_enable_entry *v = calloc(e->count ? e->count : 1, sizeof(*v));

		if (!v)
			abort();
		for (uint32_t i = 0; i < e->count; i++)
			rtr_proto_enable_get(e, i, &v[i]);
		if (e->count > RTR_PROTO_MAX_ENABLES_PER_MSG)
			fail("more enable entries than a message can hold");
		r = h->type == RTR_MSG_ENABLE
			? rtr_proto_enc_enable(o, h->seq, v, e->count)
			: rtr_proto_enc_register_reply(o, h->seq, m->u.register_reply.status, v,
						       e->count);
		free(v);
		break;
	}
	default:
		o->len = 0;
		return;
	}
	if (r)
		fail("a parsed message does not re-encode");
}

static void same_msg(const struct rtr_proto_msg *a, const struct rtr_proto_msg *b)
{
	int ok = a->hdr.type == b->hdr.type && a->hdr.seq == b->hdr.seq &&
		 a->hdr.nfds == b->hdr.nfds && a->hdr.flags == b->hdr.flags;

	switch (a->hdr.type) {
	case RTR_MSG_HELLO:
		ok = ok && a->u.hello.pid == b->u.hello.pid && a->u.hello.caps == b->u.hello.caps &&
		     a->u.hello.nr_cpus == b->u.hello.nr_cpus &&
		     same_str(a->u.hello.procname, b->u.hello.procname) &&
		     same_str(a->u.hello.runtime_version, b->u.hello.runtime_version);
		break;
	case RTR_MSG_SESSION:
		ok = ok && a->u.session.session_id == b->u.session.session_id &&
		     a->u.session.clock_source == b->u.session.clock_source &&
		     same_str(a->u.session.name, b->u.session.name);
		break;
	case RTR_MSG_CHANNEL:
		ok = ok && a->u.channel.chan_handle == b->u.channel.chan_handle &&
		     a->u.channel.nr_bufs == b->u.channel.nr_bufs &&
		     a->u.channel.subbuf_size == b->u.channel.subbuf_size &&
		     same_str(a->u.channel.name, b->u.channel.name);
		break;
	case RTR_MSG_CHANNEL_BUFFERS:
		ok = ok && a->u.buffers.first == b->u.buffers.first &&
		     a->u.buffers.count == b->u.buffers.count;
		break;
	case RTR_MSG_REPLY:
		ok = ok && a->u.reply.status == b->u.reply.status &&
		     same_str(a->u.reply.text, b->u.reply.text);
		break;
	case RTR_MSG_ENABLE:
		ok = ok && a->u.enable.count == b->u.enable.count;
		for (uint32_t i = 0; ok && i < a->u.enable.count; i++) {
			struct rtr_proto_enable_entry x, y;

			rtr_proto_enable_get(&a->u.enable, i, &x);
			rtr_proto_enable_get(&b->u.enable, i, &y);
			ok = x.reg_index == y.reg_index && x.chan_handle == y.chan_handle &&
			     x.event_id == y.event_id;
		}
		break;
	default:
		break;
	}
	if (!ok)
		fail("message differs after a round trip");
}

int rtr_proto_fuzz_one(const uint8_t *data, size_t size)
{
	struct rtr_proto_msg m, m2;
	struct rtr_proto_out *o;
	char err[256];
	unsigned nfds;

	if (size < 1)
		return 0;
	nfds = data[0] % 65;
	if (rtr_proto_parse(data + 1, size - 1, nfds, &m, err, sizeof(err)) != 0) {
		if (!memchr(err, 0, sizeof(err)))
			fail("error message not terminated");
		return 0;
	}
	if (m.hdr.type == RTR_MSG_REGISTER_EVENTS) {
		check_events(&m);
		return 0;
	}
	o = malloc(sizeof(*o));
	if (!o)
		abort();
	reencode(&m, o);
	if (o->len) {
		if (rtr_proto_parse(o->data, o->len, m.hdr.nfds, &m2, err, sizeof(err)) != 0)
			fail("re-encoded message does not parse");
		same_msg(&m, &m2);
	}
	free(o);
	return 0;
}
