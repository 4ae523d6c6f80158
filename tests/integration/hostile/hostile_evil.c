/* The hostile program of the hostile-program suite (hostile_driver.c):
 * speaks the session host's protocol raw, through lib/proto, and lies in
 * every way a traced program can. One attack per run:
 *
 *   scribble V        registers, then garbage in its buffers' shared
 *                     control areas (V: 0 all bytes, 1 impossible counters
 *                     on sub-buffers claimed complete, 2 positions far
 *                     ahead, 3 a packet of 2^64-1 bytes, 4 torn commits)
 *   chaos S           rewrites control fields at random for S seconds
 *   rehello N         registers N times under its one pid, each time with
 *                     one complete packet
 *   silent N S        N connections that never say HELLO, held S seconds
 *   fatreg S [MARK]   registers bulky event descriptions until refused,
 *                     creates MARK/<pid> (if given), stays S seconds
 *   plant DIR VICTIM  symlinks to VICTIM at every directory name the host
 *                     may pick for it in trace directory DIR; once
 *                     registered, a FIFO and symlinks at its stream and
 *                     index names; then packets to write
 *   garbage           connections sending random bytes, wrong types,
 *                     HELLOs with bad fields, bad descriptors, a wrong pid
 *   lies              registers, then replies to nothing it was asked,
 *                     garbage on the notify socket
 *   flood N           registers N events in as few messages as it can
 *   noanswer S        HELLO, then never reads its socket for S seconds
 *   truncate          tries to shrink and grow its (sealed) buffers
 *
 * Written for this suite; the reproducers in the shared repro folder were
 * the model for what to try. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <ringtrace/event.h>
#include <ringtrace/ring.h>

#include "proto.h"

#define MAX_BUFS 256

struct conn {
	int cmd, notify;
	int mem[MAX_BUFS];
	struct rtr_ring_ctl *ctl[MAX_BUFS];
	size_t size[MAX_BUFS];
	unsigned nmem;
	uint32_t seq;
};

static struct rtr_proto_out out;
static uint8_t in[RTR_PROTO_MAX_MSG];

static uint64_t rng = 0x243f6a8885a308d3ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int dial(void)
{
	const char *path = getenv(RTR_HOST_SOCKET_ENV);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (!path || strlen(path) >= sizeof(sa.sun_path) || s < 0)
		return -1;
	strcpy(sa.sun_path, path);
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int send_hello(int cmd, const int *fds, unsigned nfds, uint32_t pid, const char *name)
{
	struct rtr_proto_hello h = {
	    .event_abi_major = RTR_EVENT_ABI_MAJOR,
	    .ring_abi_major = RTR_RING_ABI_MAJOR,
	    .pid = pid,
	    .ppid = (uint32_t)getppid(),
	    .uid = (uint32_t)getuid(),
	    .gid = (uint32_t)getgid(),
	    .caps = RTR_PROTO_CAP_WAKEUP,
	    .nr_cpus = 4000, /* a claim the host must ignore */
	    .word_bits = (uint8_t)(sizeof(long) * 8),
	    .byte_order = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__ ? RTR_PROTO_BYTE_ORDER_BE
								 : RTR_PROTO_BYTE_ORDER_LE,
	    .procname = name,
	    .runtime_version = "hostile",
	};

	if (rtr_proto_enc_hello(&out, 1, &h))
		return -1;
	return rtr_proto_send(cmd, &out, fds, nfds, 0);
}

/* Answers the host's commands until READY, keeping the memfds it hands
 * out (mapped). Returns 0, or -1 (refused, closed, 3 s of silence). */
static int setup(struct conn *c, const char *name)
{
	int sp[2];

	memset(c, 0, sizeof(*c));
	c->cmd = dial();
	if (c->cmd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
		return -1;
	if (send_hello(c->cmd, &sp[1], 1, (uint32_t)getpid(), name))
		return -1;
	close(sp[1]);
	c->notify = sp[0];
	for (;;) {
		struct pollfd pf = {.fd = c->cmd, .events = POLLIN};
		struct rtr_proto_msg m;
		int fds[RTR_PROTO_MAX_FDS];
		unsigned nfds;
		char err[256];
		ssize_t n;

		if (poll(&pf, 1, 3000) <= 0)
			return -1;
		n = rtr_proto_recv(c->cmd, in, sizeof(in), fds, &nfds, 0);
		if (n <= 0 || rtr_proto_parse(in, (size_t)n, nfds, &m, err, sizeof(err)))
			return -1;
		for (unsigned i = 0; i < nfds; i++) {
			struct stat st;

			if (m.hdr.type != RTR_MSG_CHANNEL_BUFFERS || c->nmem == MAX_BUFS ||
			    fstat(fds[i], &st) < 0) {
				close(fds[i]);
				continue;
			}
			c->ctl[c->nmem] = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
					       MAP_SHARED, fds[i], 0);
			if (c->ctl[c->nmem] == MAP_FAILED) {
				close(fds[i]);
				continue;
			}
			c->size[c->nmem] = (size_t)st.st_size;
			c->mem[c->nmem++] = fds[i];
		}
		if (m.hdr.type == RTR_MSG_REPLY) {
			if (m.u.reply.status)
				return -1;
			continue;
		}
		rtr_proto_enc_reply(&out, m.hdr.seq, m.hdr.type, 0, "");
		rtr_proto_send(c->cmd, &out, NULL, 0, 0);
		if (m.hdr.type == RTR_MSG_READY)
			return 0;
	}
}

/* Registers events with `nfields` string fields whose names are `wide`
 * bytes long, `per_msg` per message, until `n` are registered or one is
 * refused. Returns how many were accepted. */
static uint32_t register_events(struct conn *c, uint32_t first, uint32_t n, uint32_t nfields,
				size_t wide)
{
	static struct rtr_field_desc fields[250];
	static char fname[250][256];
	struct rtr_event_state *st = calloc(n, sizeof(*st));
	struct rtr_event_desc *ev = calloc(n, sizeof(*ev));
	const struct rtr_event_desc **evp = calloc(n, sizeof(*evp));
	char(*name)[16] = calloc(n, sizeof(*name));
	uint32_t done = 0;

	if (!st || !ev || !evp || !name || nfields > 250 || wide >= 256)
		goto out;
	for (uint32_t i = 0; i < nfields; i++) {
		memset(fname[i], 'w', wide);
		snprintf(fname[i] + wide - 8, 9, "%08u", i);
		fields[i] = (struct rtr_field_desc){.name = fname[i], .kind = RTR_FIELD_STRING};
	}
	for (uint32_t i = 0; i < n; i++) {
		snprintf(name[i], sizeof(name[i]), "e%u", first + i);
		st[i].reg_index = first + i;
		ev[i] = (struct rtr_event_desc){.provider = "evil",
						.name = name[i],
						.fields = nfields ? fields : NULL,
						.nr_fields = nfields,
						.loglevel = -1,
						.state = &st[i]};
		evp[i] = &ev[i];
	}
	while (done < n) {
		struct pollfd pf = {.fd = c->notify, .events = POLLIN};
		struct rtr_proto_msg m;
		int fds[RTR_PROTO_MAX_FDS];
		unsigned nfds;
		uint32_t k = 0;
		char err[256];
		ssize_t r;

		if (rtr_proto_enc_events(&out, ++c->seq, evp + done, n - done, &k) ||
		    rtr_proto_send(c->notify, &out, NULL, 0, 0) || poll(&pf, 1, 30000) <= 0)
			break;
		r = rtr_proto_recv(c->notify, in, sizeof(in), fds, &nfds, 0);
		if (r <= 0 || rtr_proto_parse(in, (size_t)r, nfds, &m, err, sizeof(err)) ||
		    m.hdr.type != RTR_MSG_REGISTER_REPLY || m.u.register_reply.status)
			break;
		done += k;
	}
out:
	free(st);
	free(ev);
	free(evp);
	free(name);
	return done;
}

/* Makes sub-buffer 0 of buffer i a complete packet of `records` 4-byte
 * records of event id 0 (a compact header with timestamp 0, no payload),
 * as a writer would have left it. */
static void fake_packet(struct conn *c, unsigned i, uint64_t records)
{
	struct rtr_ring_ctl *ctl = c->ctl[i];
	uint64_t sbs = ctl->hdr.subbuf_size;
	char *data = (char *)ctl + ctl->hdr.data_offset;
	uint64_t size = ctl->hdr.subbuf_header_size + 4 * records;

	if (size > sbs)
		return;
	memset(data + ctl->hdr.subbuf_header_size, 0, 4 * records);
	ctl->sb[0].begin_pos = 0;
	ctl->sb[0].begin_ts = 0;
	ctl->sb[0].end_pos = 0;
	ctl->sb[0].end_ts = 0;
	ctl->sb[0].data_size = size;
	ctl->sb[0].lost = 0;
	ctl->sb[0].records_local = records;
	ctl->sb[0].cc_local = sbs;
	ctl->pos.offset = sbs;
}

static void scribble(struct conn *c, int v)
{
	for (unsigned i = 0; i < c->nmem; i++) {
		struct rtr_ring_ctl *ctl = c->ctl[i];
		uint64_t sbs = ctl->hdr.subbuf_size;
		uint32_t n = ctl->hdr.num_subbuf;

		switch (v) {
		case 0:
			memset(ctl, 0xff, c->size[i]);
			break;
		case 1: /* complete, with counters no writer could reach */
			ctl->pos.offset = sbs * n;
			for (uint32_t k = 0; k < n; k++) {
				ctl->sb[k].cc_local = sbs;
				ctl->sb[k].cc_remote = 0;
				ctl->sb[k].begin_pos = ctl->sb[k].end_pos = k * sbs;
				ctl->sb[k].data_size = sbs;
				ctl->sb[k].begin_ts = 0;
				ctl->sb[k].end_ts = ~0ull;
				ctl->sb[k].lost = ~0ull;
				ctl->sb[k].records_local = ~0ull / 3;
			}
			ctl->lost_full = ctl->lost_wrap = ~0ull - 7;
			ctl->lost_big = 1ull << 62;
			break;
		case 2:
			ctl->pos.offset = 1ull << 63;
			ctl->consumed = 5;
			for (uint32_t k = 0; k < n; k++)
				ctl->sb[k].cc_local = ctl->sb[k].commit_mark = ~0ull;
			break;
		case 3:
			ctl->pos.offset = sbs;
			ctl->sb[0].cc_local = sbs;
			ctl->sb[0].end_pos = 0;
			ctl->sb[0].data_size = ~0ull;
			break;
		default: /* the last one open, the others torn */
			ctl->pos.offset = sbs * n - 1;
			for (uint32_t k = 0; k + 1 < n; k++) {
				ctl->sb[k].cc_local = 7;
				ctl->sb[k].end_pos = k * sbs;
				ctl->sb[k].data_size = 100;
				ctl->sb[k].commit_mark = (uint64_t)-12345;
			}
			break;
		}
	}
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void chaos(struct conn *c, double secs)
{
	double end = now_s() + secs;

	while (now_s() < end && c->nmem) {
		struct rtr_ring_ctl *ctl = c->ctl[rnd() % c->nmem];
		uint64_t sbs = ctl->hdr.subbuf_size;
		uint32_t n = ctl->hdr.num_subbuf, k = (uint32_t)(rnd() % n);
		const uint64_t vals[] = {
		    0,	   1,	       sbs - 1, sbs, sbs + 1, 2 * sbs,		 n * sbs,
		    ~0ull, 1ull << 63, rnd(),	84,  4096,    (rnd() % 64) * sbs};
		uint64_t v = vals[rnd() % (sizeof(vals) / sizeof(vals[0]))];

		switch (rnd() % 12) {
		case 0:
			ctl->pos.offset = v;
			break;
		case 1:
			ctl->sb[k].cc_local = v;
			break;
		case 2:
			ctl->sb[k].cc_remote = v;
			break;
		case 3:
			ctl->sb[k].end_pos = v;
			break;
		case 4:
			ctl->sb[k].begin_pos = v;
			break;
		case 5:
			ctl->sb[k].data_size = v;
			break;
		case 6:
			ctl->sb[k].commit_mark = v;
			break;
		case 7:
			ctl->sb[k].records_remote = v;
			break;
		case 8:
			ctl->consumed = v;
			break;
		case 9:
			ctl->lost_full = v;
			break;
		case 10:
			ctl->sb[k].end_ts = v;
			ctl->sb[k].begin_ts = ~v;
			break;
		default:
			memset((char *)ctl + ctl->hdr.data_offset + (uint64_t)k * sbs,
			       (int)(rnd() & 0xff), 256);
			break;
		}
		if ((rnd() & 1023) == 0)
			usleep(100);
	}
}

/* Directory names the host may choose for this process: <name>-<pid> and
 * <name>-<pid>-N. */
static void plant_dirs(const char *dir, const char *name, const char *victim)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s-%d", dir, name, (int)getpid());
	if (symlink(victim, path))
		perror(path);
	for (int i = 1; i <= 80; i++) {
		snprintf(path, sizeof(path), "%s/%s-%d-%d", dir, name, (int)getpid(), i);
		if (symlink(victim, path))
			perror(path);
	}
}

/* The directory the host made for us: a real directory named <name>-<pid>... */
static int find_own_dir(const char *dir, const char *name, char *own, size_t cap)
{
	char prefix[64], path[4096];
	int found = -1;

	snprintf(prefix, sizeof(prefix), "%s-%d", name, (int)getpid());
	for (int tries = 0; tries < 100 && found < 0; tries++) {
		FILE *ls;
		char line[512];

		snprintf(path, sizeof(path), "ls -1 '%s'", dir);
		ls = popen(path, "r");
		while (found < 0 && ls && fgets(line, sizeof(line), ls)) {
			struct stat st;

			line[strcspn(line, "\n")] = 0;
			if (strncmp(line, prefix, strlen(prefix)))
				continue;
			snprintf(own, cap, "%s/%s", dir, line);
			if (lstat(own, &st) == 0 && S_ISDIR(st.st_mode))
				found = 0;
		}
		if (ls)
			pclose(ls);
		if (found < 0)
			usleep(10000);
	}
	return found;
}

static void plant_files(const char *own, const char *victim)
{
	char path[4200], target[4200];

	snprintf(path, sizeof(path), "%s/channel0_0", own);
	if (mkfifo(path, 0600))
		perror(path);
	snprintf(path, sizeof(path), "%s/channel0_1", own);
	snprintf(target, sizeof(target), "%s/precious", victim);
	if (symlink(target, path))
		perror(path);
	snprintf(path, sizeof(path), "%s/index", own);
	if (symlink(victim, path))
		perror(path);
	snprintf(path, sizeof(path), "%s/channel0_0.1", own);
	if (mkfifo(path, 0600))
		perror(path);
}

/* Connections that lie from the first message. */
static void garbage(void)
{
	int sp[2], s, fds[3];

	/* random bytes */
	for (int i = 0; i < 20; i++) {
		uint8_t junk[512];

		s = dial();
		for (size_t k = 0; k < sizeof(junk); k++)
			junk[k] = (uint8_t)rnd();
		if (s >= 0 && send(s, junk, 1 + rnd() % sizeof(junk), MSG_NOSIGNAL) < 0)
			perror("send");
		if (s >= 0)
			close(s);
	}
	/* a valid header of the wrong type */
	s = dial();
	rtr_proto_enc_ready(&out, 1, 0);
	rtr_proto_send(s, &out, NULL, 0, 0);
	close(s);
	/* HELLO with fields out of range: every byte of it flipped once */
	for (size_t bit = 0; bit < 120; bit++) {
		s = dial();
		if (s < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			continue;
		{
			struct rtr_proto_hello h = {.event_abi_major = RTR_EVENT_ABI_MAJOR,
						    .ring_abi_major = RTR_RING_ABI_MAJOR,
						    .pid = (uint32_t)getpid(),
						    .word_bits = 64,
						    .byte_order = RTR_PROTO_BYTE_ORDER_LE,
						    .procname = "garbage",
						    .runtime_version = "x"};

			rtr_proto_enc_hello(&out, 1, &h);
		}
		if (bit / 8 < out.len)
			out.data[RTR_PROTO_HDR_SIZE + bit / 8 % (out.len - RTR_PROTO_HDR_SIZE)] ^=
			    (uint8_t)(1u << (bit % 8));
		rtr_proto_send(s, &out, &sp[1], 1, 0);
		close(sp[0]);
		close(sp[1]);
		close(s);
	}
	/* bad descriptors as the notify socket: none, three, a file, an
	 * eventfd, a stream socket, an unconnected socket */
	fds[0] = open("/dev/null", O_RDONLY);
	fds[1] = eventfd(0, 0);
	fds[2] = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	for (int k = 0; k < 5; k++) {
		int one;

		s = dial();
		if (s < 0)
			continue;
		switch (k) {
		case 0:
			send_hello(s, NULL, 0, (uint32_t)getpid(), "nofd");
			break;
		case 1:
			send_hello(s, fds, 3, (uint32_t)getpid(), "threefds");
			break;
		default:
			one = fds[k - 2];
			send_hello(s, &one, 1, (uint32_t)getpid(), "badfd");
			break;
		}
		close(s);
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) == 0) {
		s = dial();
		send_hello(s, &sp[1], 1, (uint32_t)getpid(), "stream");
		close(s);
	}
	/* someone else's pid: pid 1, and the parent's */
	for (int k = 0; k < 2; k++) {
		s = dial();
		if (s < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			continue;
		send_hello(s, &sp[1], 1, k ? (uint32_t)getppid() : 1u, "wrongpid");
		usleep(100000);
		close(s);
	}
	usleep(500000);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long a = argc > 2 ? atol(argv[2]) : 0;
	struct conn c;

	rng ^= (uint64_t)getpid() << 16;
	if (!strcmp(mode, "scribble") || !strcmp(mode, "chaos") || !strcmp(mode, "truncate") ||
	    !strcmp(mode, "lies")) {
		if (setup(&c, "evil")) {
			fprintf(stderr, "hostile_evil: not registered\n");
			return 1;
		}
		register_events(&c, 0, 1, 0, 0);
		if (!strcmp(mode, "scribble")) {
			scribble(&c, (int)a);
		} else if (!strcmp(mode, "chaos")) {
			chaos(&c, (double)a);
		} else if (!strcmp(mode, "truncate")) {
			for (unsigned i = 0; i < c.nmem; i++) {
				if (ftruncate(c.mem[i], 0) == 0 ||
				    ftruncate(c.mem[i], (off_t)c.size[i] * 4) == 0)
					fprintf(stderr, "hostile_evil: a buffer changed size\n");
				fallocate(c.mem[i], FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
					  (off_t)c.size[i]);
			}
		} else {
			for (int i = 0; i < 1000; i++) {
				rtr_proto_enc_reply(&out, 77777u + (uint32_t)i, RTR_MSG_CHANNEL,
						    -(int)(rnd() % 200), "lies");
				rtr_proto_send(c.cmd, &out, NULL, 0, MSG_DONTWAIT);
			}
			send(c.notify, "GARBAGE GARBAGE GARBAGE", 23, MSG_NOSIGNAL);
			usleep(300000);
		}
		return 0;
	}
	if (!strcmp(mode, "rehello")) {
		for (long i = 0; i < a; i++) {
			if (setup(&c, "rehello")) {
				fprintf(stderr, "hostile_evil: registration %ld refused\n", i);
				return 1;
			}
			register_events(&c, 0, 1, 0, 0);
			if (c.nmem)
				fake_packet(&c, 0, 10);
			/* the old connection stays open: a new image took over */
			for (unsigned k = 0; k < c.nmem; k++) {
				munmap(c.ctl[k], c.size[k]);
				close(c.mem[k]);
			}
		}
		return 0;
	}
	if (!strcmp(mode, "silent")) {
		for (long i = 0; i < a; i++)
			if (dial() < 0)
				break;
		sleep(argc > 3 ? (unsigned)atoi(argv[3]) : 5);
		return 0;
	}
	if (!strcmp(mode, "fatreg")) {
		uint32_t n;

		if (setup(&c, "fatreg"))
			return 1;
		n = register_events(&c, 0, 100000, 250, 200);
		fprintf(stderr, "hostile_evil: %u bulky events accepted\n", n);
		if (argc > 3) {
			char mark[4096];
			int fd;

			snprintf(mark, sizeof(mark), "%s/%d", argv[3], (int)getpid());
			fd = open(mark, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd >= 0)
				close(fd);
		}
		sleep((unsigned)a);
		return 0;
	}
	if (!strcmp(mode, "flood")) {
		if (setup(&c, "flood"))
			return 1;
		fprintf(stderr, "hostile_evil: %u events accepted\n",
			register_events(&c, 0, (uint32_t)a, 0, 0));
		return 0;
	}
	if (!strcmp(mode, "plant") && argc > 3) {
		char own[4096];

		plant_dirs(argv[2], "plant", argv[3]);
		if (setup(&c, "plant") || !c.nmem)
			return 1;
		register_events(&c, 0, 1, 0, 0);
		if (find_own_dir(argv[2], "plant", own, sizeof(own)) == 0)
			plant_files(own, argv[3]);
		for (unsigned i = 0; i < c.nmem && i < 2; i++)
			fake_packet(&c, i, 100);
		sleep(1);
		return 0;
	}
	if (!strcmp(mode, "garbage")) {
		garbage();
		return 0;
	}
	if (!strcmp(mode, "noanswer")) {
		int sp[2];

		c.cmd = dial();
		if (c.cmd < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
			return 1;
		send_hello(c.cmd, &sp[1], 1, (uint32_t)getpid(), "noanswer");
		sleep((unsigned)a);
		return 0;
	}
	fprintf(stderr, "hostile_evil: unknown mode '%s'\n", mode);
	return 2;
}
