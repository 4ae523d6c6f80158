/* ringtrace control protocol: sending and receiving messages with file
 * descriptors over SOCK_SEQPACKET sockets. See docs/design/protocol.md §2. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

uint64_t rtr_proto_now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

int rtr_proto_send(int sock, const struct rtr_proto_out *o, const int *fds, unsigned nfds,
		   int flags)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * RTR_PROTO_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)o->data, .iov_len = o->len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (o->overflow || o->len == 0 || nfds > RTR_PROTO_MAX_FDS)
		return -EMSGSIZE;
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | flags);

		if (n >= 0)
			return (size_t)n == o->len ? 0 : -EMSGSIZE;
		if (errno != EINTR)
			return -errno;
	}
}

void rtr_proto_close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

ssize_t rtr_proto_recv(int sock, void *buf, size_t cap, int *fds, unsigned *nfds, int flags)
{
	union {
		/* Room for more than we accept, so that an oversized list is
		 * seen (and its fds closed) rather than silently cut. */
		char buf[CMSG_SPACE(sizeof(int) * 253) + CMSG_SPACE(64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = buf, .iov_len = cap};
	struct msghdr mh;
	struct cmsghdr *c;
	unsigned got = 0;
	bool too_many = false;
	ssize_t n;

	*nfds = 0;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | flags);
		if (n >= 0)
			break;
		if (errno != EINTR)
			return -errno;
	}
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (got < RTR_PROTO_MAX_FDS) {
				fds[got++] = fd;
			} else {
				too_many = true;
				close(fd);
			}
		}
	}
	if (too_many || (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
		rtr_proto_close_fds(fds, got);
		return -EMSGSIZE;
	}
	*nfds = got;
	return n;
}

int rtr_proto_wait(int fd, short events, uint64_t deadline_ns)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		uint64_t now = rtr_proto_now_ns();
		int ms, r;

		if (now >= deadline_ns)
			return 0;
		ms = (int)((deadline_ns - now + 999999) / 1000000);
		r = poll(&p, 1, ms);
		if (r > 0)
			return r;
		if (r == 0)
			continue; /* re-check the deadline (poll may round) */
		if (errno != EINTR)
			return -errno;
	}
}
