/*
 * h_check.c — see h_check.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "h_check.h"

static void (*on_fail)(void);

int
h_run_srunner(SRunner *sr)
{
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
h_run_suite(Suite *s)
{
	return h_run_srunner(srunner_create(s));
}

int
h_run_tests(const char *suite, const char *tcase, int timeout_s,
	    const TTest *const tests[])
{
	Suite *s = suite_create(suite);
	TCase *tc = h_tcase(s, tcase, timeout_s);

	while (*tests != NULL)
		tcase_add_test(tc, *tests++);
	return h_run_suite(s);
}

TCase *
h_tcase(Suite *s, const char *name, int timeout_s)
{
	TCase *tc = tcase_create(name);

	if (timeout_s > 0)
		tcase_set_timeout(tc, timeout_s);
	suite_add_tcase(s, tc);
	return tc;
}

void
h_add_case(Suite *s, const char *name, int timeout_s, const TTest *t,
	   int loop_to)
{
	TCase *tc = h_tcase(s, name, timeout_s);

	if (loop_to > 0)
		tcase_add_loop_test(tc, t, 0, loop_to);
	else
		tcase_add_test(tc, t);
}

void
h_on_fail(void (*fn)(void))
{
	on_fail = fn;
}

const char *
h_failed(const char *file, int line, const char *expr, const char *fmt, ...)
{
	static char msg[1024];
	static int in_hook;
	va_list ap;

	/* Formatted first: the hook may free what the arguments show. */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (on_fail != NULL && !in_hook) {	/* not for a CHECK in it */
		in_hook = 1;
		fprintf(stderr, "\n%s:%d: FAILED (%s): %s\n", file, line, expr,
		    msg);
		on_fail();
		in_hook = 0;
	}
	return msg;
}

uint64_t
h_xorshift64(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}
