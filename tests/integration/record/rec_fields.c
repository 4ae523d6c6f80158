/* Every field kind, from the program and from a library it loads with
 * dlopen (the providers of tests/integration/ctf: itmain, itmany, itlib),
 * recorded by `ringtrace record`. Writes what babeltrace2 must print for
 * each event to the side file argv[1]; argv[2] is the library. More than 31
 * events are enabled, so some use the extended event header. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#define RTR_DEFINE_PROBES
#include "it_main_tp.h"
#undef RTR_DEFINE_PROBES

#define IT_PROV	   itmain
#define IT_EMIT_FN it_main_emit
#include "it_emit.h"

#define ROUNDS 6

static void emit_many(FILE *side, uint64_t *seq)
{
#define IT_MANY_CALL(n)                                                                            \
	do {                                                                                       \
		struct it_line l_;                                                                 \
		uint64_t s_ = (*seq)++;                                                            \
		rtr_tracepoint(itmany, e##n, s_);                                                  \
		it_begin(&l_, side, "itmany", "e" #n);                                             \
		it_u(&l_, "seq", s_);                                                              \
		it_end(&l_);                                                                       \
	} while (0)
	IT_MANY_CALL(0);
	IT_MANY_CALL(1);
	IT_MANY_CALL(2);
	IT_MANY_CALL(3);
	IT_MANY_CALL(4);
	IT_MANY_CALL(5);
	IT_MANY_CALL(6);
	IT_MANY_CALL(7);
	IT_MANY_CALL(8);
	IT_MANY_CALL(9);
	IT_MANY_CALL(10);
	IT_MANY_CALL(11);
#undef IT_MANY_CALL
}

int main(int argc, char **argv)
{
	void (*lib_emit)(FILE *, uint64_t *, int);
	uint64_t seq = 0;
	FILE *side;
	void *lib;

	if (argc < 3) {
		fprintf(stderr, "usage: %s SIDE LIBRARY\n", argv[0]);
		return 2;
	}
	side = fopen(argv[1], "w");
	if (!side)
		return 2;
	/* Events of the program are enabled from the start... */
	if (!rtr_tracepoint_enabled(itmain, ints))
		fprintf(stderr, "rec_fields: itmain:ints not enabled at main()\n");
	/* ...and a library's are enabled before dlopen returns. */
	lib = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 3;
	}
	*(void **)&lib_emit = dlsym(lib, "it_lib_emit");
	if (!lib_emit)
		return 4;
	for (int round = 0; round < ROUNDS; round++) {
		it_main_emit(side, &seq, round);
		lib_emit(side, &seq, round);
		emit_many(side, &seq);
	}
	fclose(side);
	dlclose(lib);
	return 0;
}
