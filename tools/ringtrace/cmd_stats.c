/* ringtrace stats: decodes every event of every stream (streams in
 * parallel threads) and prints counts per event class and per stream, the
 * time span, rates, discarded events and lost packets. */
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "order.h"
#include "who.h"

static void who_each(void *arg, struct rtr_reader *r, const struct rtr_msg *m)
{
	rtr_who_feed(arg, r, m);
}

static void who_report(void *arg, FILE *f)
{
	rtr_who_report(arg, f);
}

struct job {
	struct rtr_reader *r;
	size_t nstreams, nclasses;
	struct rtr_stream_stats *st;
	atomic_size_t next;
	atomic_int failed;
	atomic_size_t finished;
	char err[1200];
	pthread_mutex_t lock;
};

static void *worker(void *arg)
{
	struct job *j = arg;
	struct rtr_error err = {0};

	while (!atomic_load_explicit(&j->failed, memory_order_relaxed)) {
		size_t i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);

		if (i >= j->nstreams)
			break;
		if (rtr_reader_scan_stream(j->r, i, &j->st[i], &err)) {
			pthread_mutex_lock(&j->lock);
			if (!atomic_load(&j->failed))
				snprintf(j->err, sizeof(j->err), "%s", err.msg);
			atomic_store(&j->failed, 1);
			pthread_mutex_unlock(&j->lock);
		}
	}
	atomic_fetch_add(&j->finished, 1);
	return NULL;
}

static void stats_usage(FILE *f)
{
	fprintf(f, "Usage: ringtrace stats [OPTIONS] TRACE...\n"
		   "\n"
		   "Decode every event of the traces and print, as tables: events per event\n"
		   "class and per stream, the time span, event rates, discarded events and\n"
		   "lost packets; per process and per thread when the traces say which\n"
		   "(vpid/vtid/procname contexts, or one trace per process as 'record'\n"
		   "writes): a process's discarded events are known when it has traces of\n"
		   "its own ('-' otherwise). Streams are decoded in parallel.\n"
		   "\n"
		   "Options:\n"
		   "  -j, --threads=N   decoding threads (default: number of CPUs)\n"
		   "      --clock-gmt   print times in UTC (default: local time)\n"
		   "  -h, --help        this help\n");
}

static void put_time(int64_t ns, bool gmt)
{
	time_t s = (time_t)(ns / 1000000000);
	long frac = (long)(ns % 1000000000);
	struct tm tm;
	char b[64];

	if (frac < 0) {
		frac += 1000000000;
		s--;
	}
	if (gmt)
		gmtime_r(&s, &tm);
	else
		localtime_r(&s, &tm);
	strftime(b, sizeof(b), "%Y-%m-%d %H:%M:%S", &tm);
	printf("%s.%09ld", b, frac);
}

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct cls {
	const char *name;
	uint64_t n;
};

static int cmp_cls(const void *a, const void *b)
{
	const struct cls *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

int rtr_cmd_stats(int argc, char **argv)
{
	static const struct option lo[] = {
	    {"threads", required_argument, NULL, 'j'},
	    {"clock-gmt", no_argument, NULL, 1},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct rtr_cli_read rd;
	struct job j;
	struct rtr_reader *r;
	struct rtr_stream_stats tot;
	long nth = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *th;
	struct cls *cl;
	size_t ncl = 0;
	double t0, dt;
	int c, ret = 0;
	bool gmt = false;

	memset(&rd, 0, sizeof(rd));
	optind = 1;
	while ((c = getopt_long(argc, argv, "j:h", lo, NULL)) != -1) {
		switch (c) {
		case 'j':
			nth = atol(optarg);
			break;
		case 1:
			gmt = true;
			break;
		case 'h':
			stats_usage(stdout);
			return 0;
		default:
			stats_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "ringtrace stats: error: no trace given\n\n");
		stats_usage(stderr);
		return 2;
	}
	if (nth < 1)
		nth = 1;
	rd.paths = (const char **)(argv + optind);
	rd.npaths = argc - optind;
	r = rtr_cli_open("stats", &rd, true);
	if (!r)
		return 1;
	memset(&j, 0, sizeof(j));
	j.r = r;
	j.nstreams = rtr_reader_stream_count(r);
	j.nclasses = rtr_reader_class_count(r);
	j.st = calloc(j.nstreams + 1, sizeof(*j.st));
	th = calloc((size_t)nth, sizeof(*th));
	cl = calloc(j.nclasses + 1, sizeof(*cl));
	if (!j.st || !th || !cl) {
		fprintf(stderr, "ringtrace stats: error: out of memory\n");
		return 1;
	}
	for (size_t i = 0; i < j.nstreams; i++) {
		j.st[i].class_events = calloc(j.nclasses + 1, sizeof(uint64_t));
		if (!j.st[i].class_events) {
			fprintf(stderr, "ringtrace stats: error: out of memory\n");
			return 1;
		}
	}
	pthread_mutex_init(&j.lock, NULL);
	if ((size_t)nth > j.nstreams)
		nth = j.nstreams ? (long)j.nstreams : 1;
	t0 = now_s();
	for (long k = 0; k < nth; k++)
		if (pthread_create(&th[k], NULL, worker, &j)) {
			fprintf(stderr, "ringtrace stats: error: cannot start a thread\n");
			return 1;
		}
	/* progress line while the workers run */
	while (atomic_load(&j.finished) < (size_t)nth) {
		struct timespec ts = {0, 10000000}; /* progress is rate-limited */

		nanosleep(&ts, NULL);
		rtr_cli_progress(r, 0, false);
	}
	rtr_cli_progress(r, 0, true);
	for (long k = 0; k < nth; k++)
		pthread_join(th[k], NULL);
	dt = now_s() - t0;
	if (atomic_load(&j.failed)) {
		fprintf(stderr, "ringtrace stats: error: %s\n", j.err);
		ret = 1;
		goto out;
	}
	memset(&tot, 0, sizeof(tot));
	for (size_t i = 0; i < j.nstreams; i++) {
		struct rtr_stream_stats *s = &j.st[i];

		tot.events += s->events;
		tot.packets += s->packets;
		tot.bytes += s->bytes;
		tot.discarded_events += s->discarded_events;
		tot.discarded_unknown += s->discarded_unknown;
		tot.lost_packets += s->lost_packets;
		if (s->has_time) {
			if (!tot.has_time || s->first_ns < tot.first_ns)
				tot.first_ns = s->first_ns;
			if (!tot.has_time || s->last_ns > tot.last_ns)
				tot.last_ns = s->last_ns;
			tot.has_time = true;
		}
	}
	/* classes with the same name (merged traces) are counted together */
	for (size_t k = 0; k < j.nclasses; k++) {
		const char *n = rtr_reader_class_name(r, k);
		uint64_t cnt = 0;
		size_t x;

		if (!n)
			n = "<unknown>";
		for (size_t i = 0; i < j.nstreams; i++)
			cnt += j.st[i].class_events[k];
		for (x = 0; x < ncl; x++)
			if (!strcmp(cl[x].name, n))
				break;
		if (x == ncl) {
			cl[ncl].name = n;
			cl[ncl++].n = 0;
		}
		cl[x].n += cnt;
	}
	qsort(cl, ncl, sizeof(*cl), cmp_cls);

	printf("Traces       %zu\n", rtr_reader_trace_count(r));
	printf("Streams      %zu (%" PRIu64 " packets, %.1f MB)\n", j.nstreams, tot.packets,
	       (double)tot.bytes / 1e6);
	printf("Events       %" PRIu64 "\n", tot.events);
	if (tot.has_time) {
		double span = (double)(tot.last_ns - tot.first_ns) / 1e9;

		printf("First event  ");
		put_time(tot.first_ns, gmt);
		printf("\nLast event   ");
		put_time(tot.last_ns, gmt);
		printf("\nTime span    %.9f s\n", span);
		if (span > 0)
			printf("Event rate   %.1f events/s\n", (double)tot.events / span);
	} else {
		printf("Time span    (no clock)\n");
	}
	printf("Discarded    %" PRIu64 " events%s, %" PRIu64 " lost packets\n",
	       tot.discarded_events, tot.discarded_unknown ? " (and an unknown number)" : "",
	       tot.lost_packets);
	fprintf(
	    stderr, "decoded %" PRIu64 " events, %.1f MB in %.3f s (%.1f M events/s, %.0f MB/s)\n",
	    tot.events, (double)tot.bytes / 1e6, dt, dt > 0 ? (double)tot.events / dt / 1e6 : 0.0,
	    dt > 0 ? (double)tot.bytes / dt / 1e6 : 0.0);

	printf("\nEvents per class\n");
	printf("%14s %8s %14s  %s\n", "EVENTS", "%", "PER SECOND", "NAME");
	for (size_t x = 0; x < ncl; x++) {
		double span = tot.has_time ? (double)(tot.last_ns - tot.first_ns) / 1e9 : 0;

		if (!cl[x].n)
			continue;
		printf("%14" PRIu64 " %8.2f %14.1f  %s\n", cl[x].n,
		       tot.events ? 100.0 * (double)cl[x].n / (double)tot.events : 0.0,
		       span > 0 ? (double)cl[x].n / span : 0.0, cl[x].name);
	}
	printf("\nEvents per stream\n");
	printf("%14s %9s %10s %6s %6s  %s\n", "EVENTS", "PACKETS", "DISCARDED", "LOST", "ID",
	       "STREAM");
	for (size_t i = 0; i < j.nstreams; i++) {
		const struct rtr_stream_info *si = rtr_reader_stream(r, i);
		struct rtr_stream_stats *s = &j.st[i];

		printf("%14" PRIu64 " %9" PRIu64 " %10" PRIu64 " %6" PRIu64 " %6" PRIu64 "  %s\n",
		       s->events, s->packets, s->discarded_events, s->lost_packets, si->stream_id,
		       si->path);
	}
	fflush(stdout);
	{
		/* per process and thread (who.c), in order.c's merged pass */
		size_t nt = rtr_reader_trace_count(r);
		struct rtr_who_lost *lost = calloc(nt + 1, sizeof(*lost));
		struct rtr_who *w = NULL;
		struct rtr_order_hook hook;

		if (lost) {
			for (size_t i = 0; i < j.nstreams; i++) {
				const struct rtr_stream_info *si = rtr_reader_stream(r, i);

				if (si->trace_index >= nt)
					continue;
				lost[si->trace_index].discarded += j.st[i].discarded_events;
				lost[si->trace_index].lost_packets += j.st[i].lost_packets;
				if (j.st[i].discarded_unknown)
					lost[si->trace_index].unknown = true;
			}
			w = rtr_who_create(lost, nt);
		}
		free(lost);
		hook = (struct rtr_order_hook){who_each, who_report, w};
		if (rtr_order_stats("stats", &rd, stdout, w ? &hook : NULL)) /* order.c */
			ret = 1;
		rtr_who_destroy(w);
	}
out:
	for (size_t i = 0; i < j.nstreams; i++)
		free(j.st[i].class_events);
	free(j.st);
	free(th);
	free(cl);
	rtr_reader_close(r);
	return ret;
}
