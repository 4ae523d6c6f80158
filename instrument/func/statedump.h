/* statedump.c: the mapped objects at the first function event of a
 * session, and dlopen/dlclose events. */
#ifndef RTR_FUNC_STATEDUMP_H
#define RTR_FUNC_STATEDUMP_H

extern int rtr_func_dumped;
void rtr_func_statedump(void);
void rtr_func_statedump_atfork_child(void);

/* In a hook whose event records: dump once per process and session. */
#define RTR_FUNC_STATEDUMP_ONCE()                                                                  \
	do {                                                                                       \
		if (rtr_unlikely(!__atomic_load_n(&rtr_func_dumped, __ATOMIC_RELAXED)))            \
			rtr_func_statedump();                                                      \
	} while (0)

#endif /* RTR_FUNC_STATEDUMP_H */
