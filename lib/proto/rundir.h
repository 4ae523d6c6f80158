/* ringtrace: where a session daemon listens. One daemon per user, its
 * directory found by every program of that user with no configuration;
 * root's daemon serves the system. Design: docs/design/daemon.md §1.
 *
 *   RINGTRACE_RUNDIR set (tests, containers): that directory, for everyone
 *   uid 0:             /run/ringtrace
 *   other users:       $XDG_RUNTIME_DIR/ringtrace, else /run/user/UID/ringtrace
 *                      when /run/user/UID exists, else /tmp/ringtrace-UID
 *
 * In it: app.sock (traced programs), ctl.sock (control commands),
 * daemon.lock (one daemon at a time), daemon.log, state/ (sessions a
 * restarted daemon takes over).
 */
#ifndef RTR_RUNDIR_H
#define RTR_RUNDIR_H

#include <stddef.h>

#define RTR_RUNDIR_ENV	  "RINGTRACE_RUNDIR"
#define RTR_RUNDIR_SYSTEM "/run/ringtrace"
#define RTR_APP_SOCK	  "app.sock"
#define RTR_CTL_SOCK	  "ctl.sock"
#define RTR_DAEMON_LOCK	  "daemon.lock"
#define RTR_DAEMON_LOG	  "daemon.log"
#define RTR_STATE_DIR	  "state"

/* The calling user's daemon directory. Returns 0 or -ENAMETOOLONG. Uses
 * only getenv/access: callable from a constructor. */
int rtr_rundir_user(char *out, size_t cap);

/* The system daemon's directory when it is not the user's own (a non-root
 * user without RINGTRACE_RUNDIR): 0 and RTR_RUNDIR_SYSTEM, else -ENOENT. */
int rtr_rundir_system(char *out, size_t cap);

#endif /* RTR_RUNDIR_H */
