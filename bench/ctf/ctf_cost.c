/* Cost of rtr_tracepoint() with one uint64_t field (a benchmark, not a
 * test; built with RTR_BUILD_BENCH, belongs in bench/ctf once that folder
 * exists): instructions per event with perf_event_open where the machine
 * has counters, ns/event and bytes/event on disk for the inline client and
 * two out-of-line ones. `ctf_cost N` runs only client N (0: the disabled
 * loop) for `valgrind --tool=callgrind`. See docs/design/tracepoints.md §5. */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#define RTR_DEFINE_PROBES
#include "ctf_cost_tp.h"
#undef RTR_DEFINE_PROBES
#include "ctf-writer.h"
#include "registry.h"

#define N 1000000

static char tmpdir[] = "/tmp/rtr-ctf-cost.XXXXXX";
static int dirfd = -1;

static int perf_fd(void)
{
	struct perf_event_attr a;

	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_HARDWARE;
	a.size = sizeof(a);
	a.config = PERF_COUNT_HW_INSTRUCTIONS;
	a.disabled = 1;
	a.exclude_kernel = 1;
	a.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, 0);
}

static long long count(int fd, void (*fn)(void))
{
	long long v = 0;

	ioctl(fd, PERF_EVENT_IOC_RESET, 0);
	ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
	fn();
	ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -1;
	return v;
}

static volatile uint64_t sink;

__attribute__((noinline)) static void loop_empty(void)
{
	for (uint64_t i = 0; i < N; i++)
		sink = i;
}

__attribute__((noinline)) static void loop_tp(void)
{
	for (uint64_t i = 0; i < N; i++) {
		sink = i;
		rtr_tracepoint(cost, tick, i);
	}
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void run(const char *what, uint32_t client)
{
	struct rtr_ring_geometry geo = {.subbuf_size = 1 << 16, .num_subbuf = 256};
	const struct rtr_ring_config *cfg = rtr_ctf_host_config(client);
	uint32_t ncpus = (uint32_t)get_nprocs_conf(),
		 nb = cfg->alloc == RTR_RING_ALLOC_GLOBAL ? 1 : ncpus;
	struct rtr_ring_chan *chan = rtr_ring_chan_alloc(nb);
	struct rtr_event_binding b = {.chan = chan, .event_id = 0, .client = client};
	int fd = perf_fd();
	long long e, t;
	double t0, t1;

	for (uint32_t i = 0; i < nb; i++)
		if (rtr_ring_buf_create(cfg, &geo, i, "cost", &chan->bufs[i]))
			exit(1);
	rtr__registry_lock();
	rtr__registry_bind_locked(RTR__STATE(cost, tick).reg_index, &b);
	rtr__registry_unlock();
	e = count(fd, loop_empty);
	t0 = now();
	t = count(fd, loop_tp);
	t1 = now();
	if (fd >= 0)
		printf("BENCH ctf.instructions_per_event.%s %.1f instructions\n", what,
		       (double)(t - e) / N);
	printf("BENCH ctf.ns_per_event.%s %.1f ns\n", what, (t1 - t0) * 1e9 / N);
	rtr__registry_lock();
	rtr__registry_unbind_all_locked();
	rtr__registry_unlock();
	{
		uint64_t bytes = 0, packets = 0;
		struct rtr_ctf_stream_priv priv = {0};

		for (uint32_t i = 0; i < nb; i++) {
			char name[64];
			struct rtr_ctf_stream *s;
			struct rtr_ctf_stream_stats sst;

			snprintf(name, sizeof(name), "s%u_%u", client, i);
			s = rtr_ctf_stream_create(dirfd, name, cfg, chan->bufs[i], &priv);
			rtr_ring_flush(cfg, chan->bufs[i], RTR_RING_FLUSH_ACTIVE, true);
			rtr_ctf_stream_drain(s, 0);
			rtr_ctf_stream_stats(s, &sst);
			bytes += sst.bytes;
			packets += sst.packets;
			rtr_ctf_stream_destroy(s, false);
			unlinkat(dirfd, name, 0);
			snprintf(name, sizeof(name), "index/s%u_%u.idx", client, i);
			unlinkat(dirfd, name, 0);
		}
		printf("BENCH ctf.bytes_per_event.%s %.3f bytes (%llu packets of 64 KiB)\n", what,
		       (double)bytes / N, (unsigned long long)packets);
	}
	for (uint32_t i = 0; i < nb; i++) {
		struct rtr_ring_stats st;
		rtr_ring_buf_stats(chan->bufs[i], &st);
		if (st.lost_full + st.lost_wrap + st.lost_big)
			printf("BENCH ctf.lost.%s %llu records\n", what,
			       (unsigned long long)(st.lost_full + st.lost_wrap + st.lost_big));
		rtr_ring_buf_destroy(chan->bufs[i]);
	}
	close(fd);
}

int main(int argc, char **argv)
{
	int only = argc > 1 ? atoi(argv[1]) : -1;

	if (!mkdtemp(tmpdir) || (dirfd = open(tmpdir, O_DIRECTORY | O_RDONLY)) < 0) {
		perror(tmpdir);
		return 1;
	}
	int fd = perf_fd();
	long long e, t;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(sched_getcpu(), &set);
	sched_setaffinity(0, sizeof(set), &set);
	if (fd < 0)
		printf(
		    "# no hardware instruction counter here: count with valgrind --tool=callgrind "
		    "ctf_cost 0|3|5\n");
	rtr_clock_init(NULL);
	printf("# ctf_cost: %d events, clock %s\n", N,
	       rtr_clock_source_name(rtr_clock_get_source()));
	if (only >= 0) {
		if (only == 0) {
			loop_empty();
			loop_tp();
		} else {
			run("only", (uint32_t)only);
		}
		goto out;
	}
	e = count(fd, loop_empty);
	t = count(fd, loop_tp);
	if (fd >= 0)
		printf("BENCH ctf.instructions_per_event.disabled %.1f instructions\n",
		       (double)(t - e) / N);
	run("inline_pcpu_rseq", RTR_CTF_CLIENT_PERCPU_DISCARD_RSEQ);
	run("outofline_pcpu_atomic", RTR_CTF_CLIENT_PERCPU_DISCARD_ATOMIC);
	run("outofline_global_atomic", RTR_CTF_CLIENT_GLOBAL_DISCARD_ATOMIC);
out:
	unlinkat(dirfd, "index", AT_REMOVEDIR);
	close(dirfd);
	rmdir(tmpdir);
	return 0;
}
