/* ringtrace: "a session daemon started" — how programs that found no
 * daemon learn that one now runs, with no periodic wake-up and no cost at
 * exit. Design: docs/design/daemon.md §1.2.
 *
 * One small file per user, /dev/shm/ringtrace-wait-UID (mode 0600, owned
 * by UID), holding a 32-bit generation word; with $RINGTRACE_RUNDIR set,
 * ringtrace-wait-UID-HASH, one per run directory (the programs look for
 * that directory's daemon only). A program's control thread
 * with no daemon connected maps it read-only, reads the word, looks for
 * the daemons' sockets, and if none answers sleeps in FUTEX_WAIT on the
 * word it read (no timeout). A daemon that starts listening adds one to
 * the word and wakes every waiter (FUTEX_WAKE on the shared mapping);
 * root's daemon does so for every user's file. A wake-up that comes
 * between the program's read and its sleep changes the word, and the
 * sleep returns at once (the futex compares first): none is lost.
 *
 * (An inotify watch on the run directory did the same with no file, but
 * a process holding one waits for an SRCU grace period in the kernel when
 * it exits: 10-20 ms for every linked program. A thread asleep on a futex
 * is killed at exit like any other.)
 *
 * The file is checked like any input shared with other processes: a
 * regular file, not a link, owned by the user (or by root), at least a
 * page; anything else and the program falls back to looking once a
 * second. Its word is only ever a hint: a program that wakes looks for the
 * sockets and goes back to sleep if none answers.
 */
#ifndef RTR_DWAKE_H
#define RTR_DWAKE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define RTR_DWAKE_DIR	 "/dev/shm"
#define RTR_DWAKE_PREFIX "ringtrace-wait-"

/* Maps uid's wait file read-only, creating it (0600) when it does not
 * exist and uid is the caller's. Returns the word or NULL (errno set). */
const _Atomic uint32_t *rtr_dwake_map(uid_t uid);

/* Sleeps until the word differs from `seen` (or a spurious wake-up):
 * returns at once if it already does. */
void rtr_dwake_sleep(const _Atomic uint32_t *word, uint32_t seen);

/* A daemon now listens: wakes the programs waiting on uid's file (and,
 * when the caller is root and all_users, on every user's). Returns the
 * number of files signalled. */
int rtr_dwake_signal(uid_t uid, int all_users);

#endif /* RTR_DWAKE_H */
