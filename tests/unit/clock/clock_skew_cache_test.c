/* Unit test of the per-boot skew bound cache (lib/clock/skew_cache.c): a
 * stored measurement comes back field for field; a file of another boot,
 * clock source or CPU set, an old one, one that is not ours or is writable
 * by others, or garbage, is measured over instead. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ringtrace/clock.h"
#include "rtr_test.h"

/* A measurement on a busy machine may also run out of its time budget
 * (-ETIMEDOUT): still a measurement, never a file read. */
#define MEASURED(r) ((r) == 0 || (r) == -ETIMEDOUT)

static char dir[] = "/tmp/rtr-skew-cache-XXXXXX";
static char path[256];

static char *slurp(void)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return NULL;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	return buf;
}

static void spit(const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
	chmod(path, mode);
}

/* the text of the file with its n-th space-separated word replaced */
static char *with_word(const char *text, int n, const char *word)
{
	static char out[8192];
	const char *p = text;
	size_t o = 0;

	for (int i = 0; i < n; i++)
		p = strchr(p, ' ') + 1;
	o = (size_t)(p - text);
	memcpy(out, text, o);
	snprintf(out + o, sizeof(out) - o, "%s%s", word, strchr(p, ' '));
	return out;
}

int main(void)
{
	struct rtr_clock_skew a, b;
	bool cached = true;
	char *text, saved[8192];
	int r = -1;

	rtr_clock_init(NULL);
	REQUIRE(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/clock-skew", dir);
	/* a busy machine may disturb a measurement, which is then not kept:
	 * try a few times */
	for (int i = 0; i < 5 && !slurp(); i++) {
		r = rtr_clock_measure_skew_cached(path, 3600, NULL, &a, &cached);
		CHECK(MEASURED(r));
		CHECK(!cached);
	}
	if (!slurp()) {
		printf("skew_cache: 5 measurements all disturbed or incomplete (busy machine?)\n");
		CHECK(r != 0 || a.disturbed || !a.complete);
		return rtr_test_done("clock_skew_cache_test");
	}
	text = slurp();
	strcpy(saved, text);
	/* the file holds the last stored measurement: read it back */
	r = rtr_clock_measure_skew_cached(path, 3600, NULL, &b, &cached);
	CHECK_EQ_I64(r, 0);
	CHECK(cached);
	CHECK(b.complete && !b.disturbed);
	CHECK(b.cpus_usable >= 2);
	CHECK(b.bound_ns > 0);
	CHECK(b.bound >= b.ordered_bound && b.bound >= b.read_bound);
	/* field for field against the text written */
	{
		char expect[64];

		snprintf(expect, sizeof(expect), " %llu ", (unsigned long long)b.bound_ns);
		CHECK(strstr(saved, expect) != NULL);
	}
	/* what invalidates the file: each is measured over (and rewritten) */
	{
		static const struct {
			int word;
			const char *value;
		} bad[] = {
		    {1, "2"},			     /* another format version */
		    {2, "not-this-boot/1/0-1/0,1,"}, /* another boot or CPU set */
		    {3, "99999999999999999999"},      /* measured in the future */
		    {4, "-5"},			     /* a negative bound */
		};

		for (size_t i = 0; i < RTR_ARRAY_SIZE(bad); i++) {
			spit(with_word(saved, bad[i].word, bad[i].value), 0600);
			r = rtr_clock_measure_skew_cached(path, 3600, NULL, &b, &cached);
			CHECK(MEASURED(r));
			CHECK(!cached);
		}
	}
	spit(saved, 0600); /* older than max_age_s (0 s) */
	r = rtr_clock_measure_skew_cached(path, 0, NULL, &b, &cached);
	CHECK(MEASURED(r));
	CHECK(!cached);
	spit("garbage\n", 0600);
	r = rtr_clock_measure_skew_cached(path, 3600, NULL, &b, &cached);
	CHECK(MEASURED(r));
	CHECK(!cached);
	spit(saved, 0622); /* writable by others: not trusted */
	r = rtr_clock_measure_skew_cached(path, 3600, NULL, &b, &cached);
	CHECK(MEASURED(r));
	CHECK(!cached);
	/* no path: always measured */
	r = rtr_clock_measure_skew_cached(NULL, 3600, NULL, &b, &cached);
	CHECK(MEASURED(r));
	CHECK(!cached);
	unlink(path);
	rmdir(dir);
	return rtr_test_done("clock_skew_cache_test");
}
