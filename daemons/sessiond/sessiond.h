/* ringtraced: the session daemon — one per user (root's serves the system).
 * A thin user of lib/host: it owns the run directory, the control socket
 * and its clients, and turns control commands into host calls. Design:
 * docs/design/daemon.md.
 *
 *   main.c   run directory, lock, daemonizing, the event loop, clients
 *   cmds.c   control commands (create, enable-event, start, ...)
 *   state.c  what a restarted daemon takes over (sessions)
 *
 * One thread (plus the host's drain thread).
 */
#ifndef RTR_SESSIOND_H
#define RTR_SESSIOND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ctl.h"
#include "host.h"

struct sd_client {
	struct sd_client *next;
	int fd;
	uid_t uid;
	pid_t pid;
	bool busy;	 /* a command waits for the processes' answers */
	bool gone;	 /* closed while busy: the answer goes nowhere */
	uint64_t deadline; /* for its request */
	uint32_t seq;	 /* of the request being answered */
	unsigned type;
	char session[64];
};

/* A session whose state file was written (state.c). */
#define SD_STATE_MAX 256
struct sd_state_ent {
	uint64_t id;
	char name[64];
	bool active;
	bool written;
};

struct sd {
	struct rtr_host *h;
	char rundir[108];
	char sock_app[128], sock_ctl[128];
	int ctl_fd;
	int epfd;
	int sig_fd;
	int lock_fd;
	int log_fd;
	bool root;
	gid_t tracing_gid; /* (gid_t)-1: no tracing group */
	bool verbose;
	bool stop;
	uint64_t armed_gen; /* of the armed file written last */
	struct rtr_proto_out armed_out;
	bool armed_written;
	int state_fd; /* RUNDIR/state, -1: none */
	struct sd_state_ent state[SD_STATE_MAX];
	unsigned nstate;
	struct sd_client *clients;
	unsigned nclients;
	struct rtr_proto_out out;
	uint8_t in[RTR_PROTO_MAX_MSG];
};

/* cmds.c: handles one request of client c; replies now or (start, stop,
 * destroy) when the processes answered. fd: the descriptor that came with
 * it, or -1 (owned by the callee). */
void sd_command(struct sd *d, struct sd_client *c, const struct rtr_ctl_msg *m, int fd);
/* Sends a reply built in d->out to c (and frees c if it went away). */
void sd_reply_send(struct sd *d, struct sd_client *c);
/* Starts a reply with the daemon's identity and status. */
void sd_reply_begin(struct sd *d, struct sd_client *c, int status, const char *session);
void sd_client_free(struct sd *d, struct sd_client *c);

/* main.c: rewrites the armed-sessions file if sessions changed (before
 * any answer: a program started after it must find what it says). */
void sd_write_armed(struct sd *d);
/* state.c: the state directory (lib/proto state.h). init creates and
 * opens it (0 or a negative errno); sync writes the files of sessions
 * created or changed and removes those of sessions gone; clear removes
 * every file of this daemon (its sessions were finished). */
int sd_state_init(struct sd *d);
void sd_state_sync(struct sd *d);
void sd_state_clear(struct sd *d);
/* state.c: a copy of the armed-sessions file (NULL: none records) */
void sd_state_armed(struct sd *d, const void *data, size_t len);
/* state.c: at start, before programs can connect: the sessions a dead
 * daemon of this directory was recording are completed on disk (ringtrace
 * recover) and created again with their ids, channels and rules, started,
 * so that their programs hand back the buffers they kept. */
void sd_state_reload(struct sd *d);

/* main.c: a line in the daemon's log */
void sd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* RTR_SESSIOND_H */
