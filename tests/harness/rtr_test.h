/* Minimal assertion harness for ringtrace tests: one test program per
 * process, non-zero exit on any failed check. See STYLE.md §11-13. */
#ifndef RTR_TEST_H
#define RTR_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int rtr_test_failures;

#define RTR_TEST_FAIL_(...)                                                  \
	do {                                                                 \
		fprintf(stderr, "%s:%d: FAIL: ", __FILE__, __LINE__);        \
		fprintf(stderr, __VA_ARGS__);                                \
		fputc('\n', stderr);                                         \
		rtr_test_failures++;                                         \
	} while (0)

/* CHECK records a failure and goes on; REQUIRE stops the test. */
#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond))                                                 \
			RTR_TEST_FAIL_("%s", #cond);                         \
	} while (0)

#define REQUIRE(cond)                                                        \
	do {                                                                 \
		if (!(cond)) {                                               \
			RTR_TEST_FAIL_("%s", #cond);                         \
			exit(1);                                             \
		}                                                            \
	} while (0)

#define CHECK_EQ_U64(a, b)                                                   \
	do {                                                                 \
		uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);             \
		if (a_ != b_)                                                \
			RTR_TEST_FAIL_("%s == %s (%" PRIu64 " != %" PRIu64 ")", \
				       #a, #b, a_, b_);                      \
	} while (0)

#define CHECK_EQ_I64(a, b)                                                   \
	do {                                                                 \
		int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                \
		if (a_ != b_)                                                \
			RTR_TEST_FAIL_("%s == %s (%" PRId64 " != %" PRId64 ")", \
				       #a, #b, a_, b_);                      \
	} while (0)

#define CHECK_STR_EQ(a, b)                                                   \
	do {                                                                 \
		const char *a_ = (a), *b_ = (b);                             \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                       \
			RTR_TEST_FAIL_("%s == %s (\"%s\" != \"%s\")", #a, #b,  \
				       a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
	} while (0)

/* xorshift64: a cheap, repeatable pseudo-random sequence (state != 0). */
static inline uint64_t rtr_test_xorshift(uint64_t *state)
{
	*state ^= *state << 13;
	*state ^= *state >> 7;
	*state ^= *state << 17;
	return *state;
}

/* End of main(): prints a one-line verdict and returns the exit code. */
static inline int rtr_test_done(const char *name)
{
	if (rtr_test_failures) {
		fprintf(stderr, "%s: %d check(s) failed\n", name, rtr_test_failures);
		return 1;
	}
	printf("%s: ok\n", name);
	return 0;
}

#endif /* RTR_TEST_H */
