/* Instrumented program of the `ringtrace record` integration tests; the
 * mode (argv[1]) chooses what it does. Linked with libringtrace like any
 * user program. See rec_driver.c for what each test checks.
 *
 *   threads T K     T threads, each emits rec:tick(thread, 0..K-1), plus
 *                   rec:ignored events
 *   busy T K S      T threads emit rec:tick(thread, 0..K-1) in bursts of 2048
 *                   with 200 us pauses while S more threads spin on every CPU
 *                   until they are done (a machine with no idle time)
 *   burst N         one thread pinned to CPU 0 emits rec:tick(0, 0..N-1)
 *   kill SIDE [K]   emits rec:tick(0, i) forever, pausing 50 us every K
 *                   events (256); after each commit stores i + 1 in SIDE
 *                   (word 1; word 0 = pid): killed by the test
 *   forkmt N        two threads trace while the main thread forks N children
 *                   one after the other, each emitting 1000 rec:tick(child#)
 *   fork SELF       parent, fork child and the child's exec'd image
 *                   (SELF exec) each emit rec:proc and 100 rec:tick
 *   closeall        traces, closes every descriptor >= 3 like a daemon, reopens
 *                   /dev/null up to 1100 times (reusing the runtime's numbers),
 *                   traces on; fails (5) if any of its own descriptors was
 *                   closed or written to behind its back
 *   exec            (used by fork)
 *   outlive SIDE    forks a child that traces for 1.5 s more, then writes
 *                   "done <n>" to SIDE; the parent exits at once
 *   hostile         emits, corrupts its own buffers and talks garbage to the
 *                   session host, emits more
 *   exit CODE       emits one event, exits with CODE
 *   raise SIG       emits one event, kills itself with SIG
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RTR_DEFINE_PROBES
#include "rec_tp.h"

#include "proto.h"

static uint64_t per_thread;

static void *thread_main(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;

	for (uint64_t i = 0; i < per_thread; i++) {
		rtr_tracepoint(rec, tick, t, i);
		if ((i & 1023) == 0) {
			rtr_tracepoint(rec, ignored, i);
			sched_yield(); /* let threads interleave and migrate */
		}
	}
	return NULL;
}

static int mode_threads(uint32_t n, uint64_t k)
{
	pthread_t *t = calloc(n, sizeof(*t));

	per_thread = k;
	for (uint32_t i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)i))
			return 1;
	for (uint32_t i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
	return 0;
}

static atomic_int writers_left;

static void *busy_writer(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;
	struct timespec pause = {0, 200000};

	for (uint64_t i = 0; i < per_thread; i++) {
		rtr_tracepoint(rec, tick, t, i);
		if ((i & 2047) == 2047)
			nanosleep(&pause, NULL);
	}
	atomic_fetch_sub(&writers_left, 1);
	return NULL;
}

static void *spinner(void *arg)
{
	volatile uint64_t x = 0;

	(void)arg;
	while (atomic_load_explicit(&writers_left, memory_order_relaxed) > 0)
		x++;
	return NULL;
}

static int mode_busy(uint32_t n, uint64_t k, uint32_t spin)
{
	pthread_t *t = calloc(n + spin, sizeof(*t));

	per_thread = k;
	atomic_store(&writers_left, (int)n);
	for (uint32_t i = 0; i < spin; i++)
		if (pthread_create(&t[n + i], NULL, spinner, NULL))
			return 1;
	for (uint32_t i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, busy_writer, (void *)(uintptr_t)i))
			return 1;
	for (uint32_t i = 0; i < n + spin; i++)
		pthread_join(t[i], NULL);
	free(t);
	return 0;
}

/* The k-th CPU this process may run on, or -1. */
static int allowed_cpu(int k)
{
	cpu_set_t s;

	if (sched_getaffinity(0, sizeof(s), &s) != 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &s) && k-- == 0)
			return c;
	return -1;
}

static bool pin(int cpu)
{
	cpu_set_t s;

	if (cpu < 0)
		return false;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return sched_setaffinity(0, sizeof(s), &s) == 0;
}

static int mode_burst(uint64_t n)
{
	pin(allowed_cpu(0));
	for (uint64_t i = 0; i < n; i++)
		rtr_tracepoint(rec, tick, 0, i);
	return 0;
}

static int mode_kill(const char *side, uint64_t every)
{
	int fd = open(side, O_RDWR | O_CREAT | O_TRUNC, 0644);
	volatile uint64_t *w;
	struct timespec pause = {0, 50000};

	if (fd < 0 || ftruncate(fd, 4096) < 0)
		return 1;
	w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w == MAP_FAILED)
		return 1;
	w[0] = (uint64_t)getpid();
	for (uint64_t i = 0; i < 100000000; i++) {
		rtr_tracepoint(rec, tick, 0, i);
		/* The event is committed: say so (a store into the page cache
		 * survives SIGKILL). */
		__atomic_store_n(&w[1], i + 1, __ATOMIC_RELEASE);
		if (i % every == every - 1)
			nanosleep(&pause, NULL);
	}
	return 0;
}

static void ticks(uint32_t t, int n)
{
	for (int i = 0; i < n; i++)
		rtr_tracepoint(rec, tick, t, (uint64_t)i);
}

static int mode_fork(const char *self)
{
	pid_t c;
	int st = 0;

	rtr_tracepoint(rec, proc, "parent", getpid(), getppid());
	ticks(0, 100);
	c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		rtr_tracepoint(rec, proc, "child", getpid(), getppid());
		ticks(1, 100);
		execl(self, self, "exec", (char *)NULL);
		_exit(126);
	}
	if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		return 2;
	ticks(3, 100);
	return 0;
}

static void *forkmt_thread(void *arg)
{
	uint32_t t = (uint32_t)(uintptr_t)arg;

	for (uint64_t i = 0; i < 50000; i++) {
		rtr_tracepoint(rec, tick, t, i);
		if ((i & 255) == 0)
			sched_yield();
	}
	return NULL;
}

static int mode_forkmt(int n)
{
	pthread_t t[2];
	int bad = 0;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, forkmt_thread, (void *)(uintptr_t)(100 + i));
	for (int c = 0; c < n; c++) {
		pid_t pid = fork();
		int st;

		if (pid < 0)
			return 1;
		if (pid == 0) {
			ticks((uint32_t)c, 1000);
			_exit(0);
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return bad ? 2 : 0;
}

static int mode_outlive(const char *side)
{
	int p[2];
	char c1;
	pid_t c;

	ticks(0, 10);
	if (pipe(p) < 0)
		return 1;
	c = fork();
	if (c < 0)
		return 1;
	if (c == 0) {
		struct timespec pause = {0, 100000};
		time_t end = time(NULL) + 2;
		uint64_t i = 0;
		FILE *f;

		/* Keeps writing while the host stops it and goes away: the
		 * runtime must take its buffers away under running probes. */
		while (time(NULL) < end) {
			rtr_tracepoint(rec, tick, 7, i);
			i++;
			if (i == 1000) {
				/* Registered and recorded: the parent may go. */
				if (write(p[1], "x", 1) < 0)
					_exit(3);
				close(p[1]);
			}
			if ((i & 63) == 0)
				nanosleep(&pause, NULL);
		}
		f = fopen(side, "w");
		if (f) {
			fprintf(f, "done %llu\n", (unsigned long long)i);
			fclose(f);
		}
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &c1, 1) != 1)
		return 4;
	return 0;
}

static int mode_closeall(void)
{
	struct timespec d = {1, 500000000};
	static int fds[1100];
	int n = 0, bad = 0;

	ticks(0, 1000);
	for (int fd = 3; fd < 4096; fd++)
		close(fd);
	for (n = 0; n < 1100; n++) {
		fds[n] = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fds[n] < 0)
			break;
	}
	ticks(1, 1000); /* possibly before the runtime noticed */
	nanosleep(&d, NULL);
	ticks(2, 1000); /* after */
	for (int i = 0; i < n; i++) {
		struct stat st;

		if (fstat(fds[i], &st) != 0 || !S_ISCHR(st.st_mode))
			bad++;
	}
	return bad ? 5 : 0;
}

static int mode_exec(void)
{
	rtr_tracepoint(rec, proc, "exec", getpid(), getppid());
	ticks(2, 100);
	return 0;
}

/* Our buffers as /proc/self/maps shows them: memfd:ringtrace:<pid>:<chan>:<cpu>. */
static void *find_buffer(unsigned cpu, size_t *len)
{
	char line[512], want[64];
	FILE *f = fopen("/proc/self/maps", "r");
	void *found = NULL;

	snprintf(want, sizeof(want), "ringtrace:%d:channel0:%u ", (int)getpid(), cpu);
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char *p = strstr(line, "memfd:");

		if (!p || sscanf(line, "%lx-%lx", &a, &b) != 2)
			continue;
		if (!strstr(p, want))
			continue;
		found = (void *)a;
		*len = b - a;
		break;
	}
	fclose(f);
	return found;
}

static void garbage_to_host(void)
{
	const char *path = getenv(RTR_HOST_SOCKET_ENV);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static struct rtr_proto_out o;
	uint8_t junk[300];
	int s[4];

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return;
	strcpy(sa.sun_path, path);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 37 + 11);
	for (int i = 0; i < 4; i++) {
		s[i] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (s[i] < 0 || connect(s[i], (struct sockaddr *)&sa, sizeof(sa)) < 0)
			return;
	}
	/* 0: garbage instead of HELLO. */
	send(s[0], junk, sizeof(junk), MSG_NOSIGNAL);
	/* 1: a HELLO lying about its pid. */
	{
		struct rtr_proto_hello h = {.event_abi_major = RTR_EVENT_ABI_MAJOR,
					    .ring_abi_major = 1,
					    .pid = 1,
					    .nr_cpus = 4,
					    .word_bits = 64,
					    .byte_order = 1,
					    .procname = "liar",
					    .runtime_version = "x"};
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0 &&
		    rtr_proto_enc_hello(&o, 1, &h) == 0)
			rtr_proto_send(s[1], &o, &sv[1], 1, 0);
	}
	/* 2: a header announcing far more than it carries. */
	memcpy(junk, "RTC1\x01\x00\x01\x00\x00\x00\x00\x00\xff\xff\x00\x00", 16);
	send(s[2], junk, 40, MSG_NOSIGNAL);
	/* 3: connects and never says anything (stays open until we exit). */
}

static int mode_hostile(void)
{
	struct timespec d = {0, 300000000};
	int cpu0 = allowed_cpu(0), cpu1 = allowed_cpu(1);
	size_t len0 = 0, len1 = 0;
	void *b0, *b1;

	pin(cpu0);
	ticks(0, 1000);
	nanosleep(&d, NULL); /* the host drains what is complete */
	garbage_to_host();
	nanosleep(&d, NULL); /* the host reads the garbage while we still run */
	b0 = cpu0 >= 0 ? find_buffer((unsigned)cpu0, &len0) : NULL;
	if (!b0) {
		fprintf(stderr, "hostile: no buffer mapping found\n");
		return 3;
	}
	/* The control area: positions, commit counts, packet facts. */
	memset((char *)b0 + 64, 0xa5, 4096 - 64);
	/* And the data of the sub-buffers, for good measure. */
	memset((char *)b0 + 4096, 0x5a, len0 - 4096 > 65536 ? 65536 : len0 - 4096);
	if (cpu1 >= 0 && pin(cpu1)) {
		b1 = find_buffer((unsigned)cpu1, &len1);
		/* The shared header of that buffer: geometry the host copied
		 * once at creation and must never read again. */
		if (b1)
			memset(b1, 0xff, 64);
		ticks(1, 500);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && !strcmp(argv[1], "threads"))
		return mode_threads((uint32_t)atoi(argv[2]), strtoull(argv[3], NULL, 10));
	if (argc >= 5 && !strcmp(argv[1], "busy"))
		return mode_busy((uint32_t)atoi(argv[2]), strtoull(argv[3], NULL, 10),
				 (uint32_t)atoi(argv[4]));
	if (argc >= 3 && !strcmp(argv[1], "burst"))
		return mode_burst(strtoull(argv[2], NULL, 10));
	if (argc >= 3 && !strcmp(argv[1], "kill"))
		return mode_kill(argv[2], argc >= 4 && atoi(argv[3]) > 0 ? (uint64_t)atoi(argv[3])
									  : 256);
	if (argc >= 3 && !strcmp(argv[1], "fork"))
		return mode_fork(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "forkmt"))
		return mode_forkmt(atoi(argv[2]));
	if (argc >= 3 && !strcmp(argv[1], "outlive"))
		return mode_outlive(argv[2]);
	if (argc >= 2 && !strcmp(argv[1], "closeall"))
		return mode_closeall();
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return mode_exec();
	if (argc >= 2 && !strcmp(argv[1], "hostile"))
		return mode_hostile();
	if (argc >= 3 && !strcmp(argv[1], "exit")) {
		rtr_tracepoint(rec, tick, 0, 0);
		return atoi(argv[2]);
	}
	if (argc >= 3 && !strcmp(argv[1], "raise")) {
		rtr_tracepoint(rec, tick, 0, 0);
		raise(atoi(argv[2]));
		return 0;
	}
	fprintf(stderr, "rec_app: unknown mode\n");
	return 2;
}
