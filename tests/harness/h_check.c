/*
 * h_check.c — see h_check.h.
 */
#include <stdlib.h>
#include "h_check.h"

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
