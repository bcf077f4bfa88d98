/*
 * h_check.h — what every Check test binary (tests/check_NAME.c and
 * tests/cluster/check_NAME.c) needs around its tests: main()'s run of the
 * suite, test cases with their timeout, a check that costs nothing while
 * it holds, and the fixed-seed generator the randomised tests draw from.
 *
 * Test names and cases stay what the binaries give Check, so
 * CK_RUN_SUITE and CK_RUN_CASE pick tests as before.
 */
#ifndef CHATD_H_CHECK_H
#define CHATD_H_CHECK_H

#include <check.h>
#include <stdint.h>

/* Run every test of s (as CK_RUN_SUITE / CK_RUN_CASE select), free the
 * runner, and return main()'s status: EXIT_SUCCESS when none failed,
 * else EXIT_FAILURE. */
int    h_run_suite(Suite *s);
/* The same for a runner already made (to ask srunner_fork_status()). */
int    h_run_srunner(SRunner *sr);
/* h_run_suite of the suite named suite with one case, tcase (timeout_s
 * as for h_tcase), holding tests (NULL-terminated), in that order. */
int    h_run_tests(const char *suite, const char *tcase, int timeout_s,
		   const TTest *const tests[]);

/* A new test case named name in s, timeout_s seconds per test (0:
 * Check's default). Tests are added to it with tcase_add_test(). */
TCase *h_tcase(Suite *s, const char *name, int timeout_s);
/* A case of its own for one test, so CK_RUN_CASE can pick it; with
 * loop_to > 0 the test runs for _i from 0 to loop_to - 1. */
void   h_add_case(Suite *s, const char *name, int timeout_s, const TTest *t,
		  int loop_to);

/*
 * CHECK(cond, fmt, ...): fail the test with the message unless cond
 * holds. Unlike ck_assert_*, which records its location on every call (a
 * write to Check's pipe), it calls Check only when cond fails. Check
 * reports the line of the CHECK. A binary that set h_on_fail() gets a
 * "FILE:LINE: FAILED (cond): message" line on stderr and then its
 * function run (to show and clean up what the test left, e.g. a
 * cluster's logs) before the test ends.
 */
#define CHECK(cond, ...) do {						\
	if (!(cond))							\
		ck_abort_msg("%s", h_failed(__FILE__, __LINE__, #cond,	\
		    __VA_ARGS__));					\
} while (0)

void        h_on_fail(void (*fn)(void));
/* For CHECK: the formatted message (a static buffer), after the hook. */
const char *h_failed(const char *file, int line, const char *expr,
		     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* xorshift64 (13, 7, 17): the next number of the sequence in *s (never
 * 0 unless *s is). Fixed seeds make every run test the same values. */
uint64_t    h_xorshift64(uint64_t *s);

#endif
