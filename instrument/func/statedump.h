/* statedump.c: the mapped objects at the first function event of a
 * session, and objects loaded or unloaded later. */
#ifndef RTR_FUNC_STATEDUMP_H
#define RTR_FUNC_STATEDUMP_H

/* 0: dump needed; 1: done; 2: dlopen/dlclose since (rescan); 3: a thread
 * is dumping. Relaxed: it only decides when to look again. */
extern int rtr_func_dump_state;
void rtr_func_statedump(void);
void rtr_func_statedump_atfork_child(void);

/* In a hook whose event records: dump once per process and session,
 * rescan after dlopen/dlclose. */
#define RTR_FUNC_STATEDUMP_ONCE()                                                                  \
	do {                                                                                       \
		if (rtr_unlikely(__atomic_load_n(&rtr_func_dump_state, __ATOMIC_RELAXED) != 1))    \
			rtr_func_statedump();                                                      \
	} while (0)

#endif /* RTR_FUNC_STATEDUMP_H */
