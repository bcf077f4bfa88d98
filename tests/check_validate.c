/*
 * check_validate.c — the input rules every request handler relies on:
 * user names, and the table's own limits on the fields users fill in.
 */
#include <check.h>
#include <string.h>
#include "h_check.h"
#include "server.h"
#include "wire.h"

START_TEST(test_username_rules)
{
	static const char *good[] = { "a", "Alice", "bob.smith", "x_y-z",
	    "0123456789", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef" /* 32 */ };
	static const char *bad[] = { "", "with space", "slash/", "tab\t",
	    "ümlaut", "semi;colon", "star*", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg",
	    "new\nline", "quote'" };
	size_t i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(username_valid(good[i]), "'%s' rejected", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!username_valid(bad[i]), "'%s' accepted", bad[i]);
}
END_TEST

/* The documented limits are the table's limits. */
static const struct wire_field *
field(uint16_t op, const char *name)
{
	const struct wire_opdesc *d = wire_op(op);
	unsigned i;

	for (i = 0; i < d->body.nfields; i++)
		if (strcmp(d->body.fields[i].name, name) == 0)
			return &d->body.fields[i];
	return NULL;
}

START_TEST(test_limits_match_the_table)
{
	ck_assert_uint_eq(field(WIRE_OP_REGISTER, "username")->max,
	    CHAT_MAX_USERNAME);
	ck_assert_uint_eq(CHAT_MAX_USERNAME, 32);
	ck_assert_uint_eq(field(WIRE_OP_REGISTER, "fullname")->max, 50);
	ck_assert_uint_eq(field(WIRE_OP_REGISTER, "password")->min, 1);
	ck_assert_uint_eq(field(WIRE_OP_SEND, "body")->max, 4096);
	ck_assert_uint_eq(field(WIRE_OP_SEND, "body")->min, 1);
	ck_assert_uint_eq(field(WIRE_OP_READ, "max")->max, CHAT_MAX_PAGE);
	ck_assert_uint_eq(field(WIRE_OP_RESUME, "token")->min, CHAT_TOKEN_BYTES);
	ck_assert_uint_eq(field(WIRE_OP_RESUME, "token")->max, CHAT_TOKEN_BYTES);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_username_rules,
		test_limits_match_the_table,
		NULL
	};

	return h_run_tests("validate", "rules", 0, tests);
}
