/*
 * check_client.c — unit tests for the pure parts of ./chat: the command
 * parser and validators (commands.c), the output formats scripts rely on
 * (output.c), the line editor (ledit.c) and the shown-message dedup
 * (shown.c). The network side is exercised against real replicas by
 * tests/cluster/.
 *
 * Times are formatted in local time; the tests run with TZ=UTC.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../src/client/client.h"
#include "h_check.h"

/* 2026-11-21 10:00:01 UTC */
#define T0 1795255201000ull

/* ---- parsing ------------------------------------------------------------ */

static struct cli_args A;
static char err[512];

static int
parse(const char *line)
{
	err[0] = '\0';
	return cli_parse(line, &A, err, sizeof err);
}

static void
expect_cmd(const char *line, const char *name, int argc)
{
	int rc = parse(line);

	ck_assert_msg(rc == CLI_PARSE_OK, "'%s': %s", line, err);
	ck_assert_str_eq(A.cmd->name, name);
	ck_assert_int_eq(A.argc, argc);
}

static void
expect_error(const char *line, const char *want)
{
	ck_assert_int_eq(parse(line), CLI_PARSE_ERROR);
	ck_assert_str_eq(err, want);
}

START_TEST(parse_every_command)
{
	expect_cmd("/register alice", "register", 1);
	expect_cmd("/register alice pw", "register", 2);
	expect_cmd("/register alice pw Alice  Liddell", "register", 3);
	ck_assert_str_eq(A.argv[2], "Alice  Liddell");
	expect_cmd("/login alice", "login", 1);
	expect_cmd("/login alice secret", "login", 2);
	ck_assert_str_eq(A.argv[1], "secret");
	expect_cmd("/logout", "logout", 0);
	expect_cmd("/users", "users", 0);
	expect_cmd("/users a*", "users", 1);
	expect_cmd("/users a* 2", "users", 2);
	expect_cmd("/msg bob hi", "msg", 2);
	expect_cmd("/inbox", "inbox", 0);
	expect_cmd("/read", "read", 0);
	expect_cmd("/read 5", "read", 1);
	expect_cmd("/history bob", "history", 1);
	expect_cmd("/history bob 50", "history", 2);
	expect_cmd("/replay bob", "replay", 1);
	expect_cmd("/replay bob 2.5", "replay", 2);
	expect_cmd("/delete 1", "delete", 1);
	expect_cmd("/delete 1 2 #3", "delete", 3);
	ck_assert_str_eq(A.argv[2], "#3");
	expect_cmd("/draft bob later", "draft", 2);
	expect_cmd("/drafts", "drafts", 0);
	expect_cmd("/send-draft 4", "send-draft", 1);
	expect_cmd("/send-draft all", "send-draft", 1);
	expect_cmd("/drop-draft 4", "drop-draft", 1);
	expect_cmd("/delete-account", "delete-account", 0);
	expect_cmd("/delete-account pw", "delete-account", 1);
	expect_cmd("/status", "status", 0);
	expect_cmd("/help", "help", 0);
	expect_cmd("/help msg", "help", 1);
	expect_cmd("/quit", "quit", 0);
}
END_TEST

START_TEST(parse_text_verbatim)
{
	/* The text is the rest of the line after the user name: inner and
	 * trailing blanks stay, the separating blanks go. */
	expect_cmd("/msg bob   hello   there  ", "msg", 2);
	ck_assert_str_eq(A.argv[0], "bob");
	ck_assert_str_eq(A.argv[1], "hello   there  ");
	expect_cmd("/msg\tbob\tx\ty", "msg", 2);
	ck_assert_str_eq(A.argv[1], "x\ty");
	expect_cmd("/draft bob /msg is not a command here", "draft", 2);
	ck_assert_str_eq(A.argv[1], "/msg is not a command here");
	expect_cmd("  /msg bob héllo ✓", "msg", 2);
	ck_assert_str_eq(A.argv[1], "héllo ✓");
}
END_TEST

START_TEST(parse_arg_counts)
{
	expect_error("/msg bob", "usage: /msg USER TEXT...");
	expect_error("/msg bob    ", "usage: /msg USER TEXT...");
	expect_error("/msg", "usage: /msg USER TEXT...");
	expect_error("/login", "usage: /login USER [PASSWORD]");
	expect_error("/login a b c", "usage: /login USER [PASSWORD]");
	expect_error("/logout now", "usage: /logout");
	expect_error("/users a 1 x", "usage: /users [PATTERN] [PAGE]");
	expect_error("/read 1 2", "usage: /read [N]");
	expect_error("/history", "usage: /history USER [N]");
	expect_error("/replay a 1 2", "usage: /replay USER [SPEED]");
	expect_error("/delete", "usage: /delete ID...");
	expect_error("/draft bob", "usage: /draft USER TEXT...");
	expect_error("/send-draft", "usage: /send-draft ID|all");
	expect_error("/drop-draft 1 2", "usage: /drop-draft ID");
	expect_error("/delete-account a b", "usage: /delete-account [PASSWORD]");
	expect_error("/status x", "usage: /status");
	expect_error("/quit now", "usage: /quit");
	expect_error("/register", "usage: /register USER [PASSWORD [FULL NAME...]]");
}
END_TEST

START_TEST(parse_unknown)
{
	expect_error("/foo", "unknown command '/foo' (try /help)");
	expect_error("hello there", "unknown command 'hello' (try /help)");
	expect_error("/", "unknown command '/' (try /help)");
	expect_error("msg bob hi", "unknown command 'msg' (try /help)");
	expect_error("/MSG bob hi", "unknown command '/MSG' (try /help)");
	expect_error("x\x01y", "unknown command 'x\\x01y' (try /help)");
	ck_assert_int_eq(parse(""), CLI_PARSE_EMPTY);
	ck_assert_int_eq(parse("   \t "), CLI_PARSE_EMPTY);
}
END_TEST

START_TEST(parse_long_line)
{
	char *line = malloc(CLI_INPUT_MAX + 10);

	memset(line, 'a', CLI_INPUT_MAX + 9);
	memcpy(line, "/msg bob ", 9);
	line[CLI_INPUT_MAX + 9] = '\0';
	ck_assert_int_eq(parse(line), CLI_PARSE_ERROR);
	ck_assert_ptr_nonnull(strstr(err, "line too long"));
	free(line);
}
END_TEST

START_TEST(parse_delete_max_ids)
{
	char line[2048];
	size_t n = 0;
	int i;

	n += (size_t)snprintf(line + n, sizeof line - n, "/delete");
	for (i = 1; i <= CHAT_MAX_IDS; i++)
		n += (size_t)snprintf(line + n, sizeof line - n, " %d", i);
	expect_cmd(line, "delete", CHAT_MAX_IDS);
	snprintf(line + n, sizeof line - n, " 101");
	expect_error(line, "usage: /delete ID...");
}
END_TEST

START_TEST(command_table)
{
	unsigned i;
	char slash[64];

	for (i = 0; i < cli_ncmds; i++) {
		const struct cli_cmd *c = &cli_cmds[i];
		snprintf(slash, sizeof slash, "/%s", c->name);
		ck_assert_ptr_eq(cli_cmd_find(c->name), c);
		ck_assert_ptr_eq(cli_cmd_find(slash), c);
		ck_assert_msg(strncmp(c->usage, slash, strlen(slash)) == 0,
		    "usage of %s", c->name);
		ck_assert_msg(c->help[0] != '\0', "help of %s", c->name);
		ck_assert_ptr_nonnull(c->run);
		ck_assert_int_le(c->min, c->max);
	}
	ck_assert_ptr_null(cli_cmd_find("nope"));
	/* What chat(1) says: all but these need a login. */
	for (i = 0; i < cli_ncmds; i++) {
		const char *n = cli_cmds[i].name;
		unsigned want = strcmp(n, "register") == 0 ||
		    strcmp(n, "login") == 0 || strcmp(n, "status") == 0 ||
		    strcmp(n, "help") == 0 || strcmp(n, "quit") == 0 ?
		    0 : CLI_CMD_LOGIN;
		ck_assert_msg((cli_cmds[i].flags & CLI_CMD_LOGIN) == want,
		    "login flag of /%s", n);
	}
}
END_TEST

/* ---- validation --------------------------------------------------------- */

START_TEST(validate_username)
{
	char name[40];

	ck_assert_int_eq(cli_check_username("alice", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_username("A.b_c-9", err, sizeof err), 0);
	memset(name, 'x', 32);
	name[32] = '\0';
	ck_assert_int_eq(cli_check_username(name, err, sizeof err), 0);
	name[32] = 'x';
	name[33] = '\0';
	ck_assert_int_eq(cli_check_username(name, err, sizeof err), -1);
	ck_assert_int_eq(cli_check_username("", err, sizeof err), -1);
	ck_assert_int_eq(cli_check_username("bad!name", err, sizeof err), -1);
	ck_assert_str_eq(err,
	    "bad user name 'bad!name' (1-32 of A-Z a-z 0-9 . _ -)");
	ck_assert_int_eq(cli_check_username("é", err, sizeof err), -1);
	ck_assert_int_eq(cli_check_username("a b", err, sizeof err), -1);
}
END_TEST

START_TEST(validate_body)
{
	char *body = malloc(CHAT_MAX_BODY + 2);

	ck_assert_int_eq(cli_check_body("hi", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_body("héllo ✓ 😀", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_body("", err, sizeof err), -1);
	ck_assert_str_eq(err, "empty message");
	memset(body, 'b', CHAT_MAX_BODY);
	body[CHAT_MAX_BODY] = '\0';
	ck_assert_int_eq(cli_check_body(body, err, sizeof err), 0);
	body[CHAT_MAX_BODY] = 'b';
	body[CHAT_MAX_BODY + 1] = '\0';
	ck_assert_int_eq(cli_check_body(body, err, sizeof err), -1);
	ck_assert_str_eq(err, "message too long (4097 bytes, max 4096)");
	ck_assert_int_eq(cli_check_body("bad \xff byte", err, sizeof err), -1);
	ck_assert_str_eq(err, "message is not valid UTF-8");
	ck_assert_int_eq(cli_check_body("\xc3", err, sizeof err), -1);
	free(body);
}
END_TEST

START_TEST(validate_other_fields)
{
	char pw[140];

	ck_assert_int_eq(cli_check_password("x", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_password("", err, sizeof err), -1);
	memset(pw, 'p', 128);
	pw[128] = '\0';
	ck_assert_int_eq(cli_check_password(pw, err, sizeof err), 0);
	pw[128] = 'p';
	pw[129] = '\0';
	ck_assert_int_eq(cli_check_password(pw, err, sizeof err), -1);
	ck_assert_int_eq(cli_check_fullname("", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_fullname("Alice Liddell", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_fullname(
	    "123456789012345678901234567890123456789012345678901", err,
	    sizeof err), -1);
	ck_assert_int_eq(cli_check_pattern("", err, sizeof err), 0);
	ck_assert_int_eq(cli_check_pattern("a*b?", err, sizeof err), 0);
}
END_TEST

START_TEST(numbers)
{
	uint64_t v;
	double d;

	ck_assert_int_eq(cli_parse_uint("42", 1, 100, &v), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_int_eq(cli_parse_uint("0", 1, 100, &v), -1);
	ck_assert_int_eq(cli_parse_uint("101", 1, 100, &v), -1);
	ck_assert_int_eq(cli_parse_uint("", 0, 100, &v), -1);
	ck_assert_int_eq(cli_parse_uint("-1", 0, 100, &v), -1);
	ck_assert_int_eq(cli_parse_uint("1x", 0, 100, &v), -1);
	ck_assert_int_eq(cli_parse_uint("18446744073709551615", 0, UINT64_MAX,
	    &v), 0);
	ck_assert_uint_eq(v, UINT64_MAX);
	ck_assert_int_eq(cli_parse_uint("18446744073709551616", 0, UINT64_MAX,
	    &v), -1);
	ck_assert_int_eq(cli_parse_id("#7", &v), 0);
	ck_assert_uint_eq(v, 7);
	ck_assert_int_eq(cli_parse_id("7", &v), 0);
	ck_assert_int_eq(cli_parse_id("#0", &v), -1);
	ck_assert_int_eq(cli_parse_id("#", &v), -1);
	ck_assert_int_eq(cli_parse_speed("10", &d), 0);
	ck_assert(d == 10.0);
	ck_assert_int_eq(cli_parse_speed("0.5", &d), 0);
	ck_assert_int_eq(cli_parse_speed("0", &d), -1);
	ck_assert_int_eq(cli_parse_speed("-2", &d), -1);
	ck_assert_int_eq(cli_parse_speed("inf", &d), -1);
	ck_assert_int_eq(cli_parse_speed("nan", &d), -1);
	ck_assert_int_eq(cli_parse_speed("2x", &d), -1);
}
END_TEST

/* ---- output formats ----------------------------------------------------- */

static void
make_msg(struct wire_item_MSG *m, uint64_t id, const char *from,
	 const char *to, const char *body)
{
	memset(m, 0, sizeof *m);
	m->id = id;
	snprintf(m->from, sizeof m->from, "%s", from);
	snprintf(m->to, sizeof m->to, "%s", to);
	snprintf(m->body, sizeof m->body, "%s", body);
	m->sent_at = T0;
}

START_TEST(format_message)
{
	struct wire_item_MSG m;
	char line[CLI_LINE_MAX];

	make_msg(&m, 42, "alice", "bob", "hello there");
	cli_fmt_msg(line, sizeof line, &m, "bob", 0);
	ck_assert_str_eq(line,
	    "#42 2026-11-21 10:00:01 alice -> bob: hello there");

	/* UTF-8 verbatim, backslashes and quotes verbatim too. */
	make_msg(&m, 7, "bob", "alice", "héllo ✓ \"q\" a\\b");
	cli_fmt_msg(line, sizeof line, &m, "bob", 0);
	ck_assert_str_eq(line,
	    "#7 2026-11-21 10:00:01 bob -> alice: héllo ✓ \"q\" a\\b");
}
END_TEST

START_TEST(format_message_escapes)
{
	struct wire_item_MSG m;
	char line[CLI_LINE_MAX];

	make_msg(&m, 1, "a", "b", "two\nlines\tand\r\x01\x1b[2J\x7f end");
	cli_fmt_msg(line, sizeof line, &m, NULL, 0);
	ck_assert_str_eq(line, "#1 2026-11-21 10:00:01 a -> b: "
	    "two\\nlines\\tand\\r\\x01\\x1b[2J\\x7f end");
	ck_assert_ptr_null(strchr(line, '\n'));
}
END_TEST

START_TEST(format_message_read_mark)
{
	struct wire_item_MSG m;
	char line[CLI_LINE_MAX];

	make_msg(&m, 3, "alice", "bob", "x");
	m.read_at = T0 + 1000;
	cli_fmt_msg(line, sizeof line, &m, "alice", 1);
	ck_assert_str_eq(line, "#3 2026-11-21 10:00:01 alice -> bob: x (read)");
	cli_fmt_msg(line, sizeof line, &m, "ALICE", 1);	/* names ignore case */
	ck_assert_ptr_nonnull(strstr(line, "(read)"));
	cli_fmt_msg(line, sizeof line, &m, "bob", 1);	/* not mine */
	ck_assert_ptr_null(strstr(line, "(read)"));
	cli_fmt_msg(line, sizeof line, &m, "alice", 0);	/* not history */
	ck_assert_ptr_null(strstr(line, "(read)"));
	m.read_at = 0;
	cli_fmt_msg(line, sizeof line, &m, "alice", 1);	/* unread */
	ck_assert_ptr_null(strstr(line, "(read)"));
}
END_TEST

START_TEST(format_message_longest)
{
	struct wire_item_MSG m;
	char line[CLI_LINE_MAX];
	size_t n;

	/* 4096 control bytes: every one escaped, nothing cut. */
	memset(&m, 0, sizeof m);
	m.id = UINT64_MAX;
	memset(m.from, 'f', CHAT_MAX_USERNAME);
	memset(m.to, 't', CHAT_MAX_USERNAME);
	memset(m.body, 0x01, CHAT_MAX_BODY);
	m.sent_at = T0;
	n = cli_fmt_msg(line, sizeof line, &m, NULL, 1);
	ck_assert_uint_eq(n, strlen(line));
	ck_assert(n > 4 * CHAT_MAX_BODY);
	ck_assert_str_eq(line + n - 4, "\\x01");

	/* A small buffer truncates cleanly, never in an escape. */
	n = cli_fmt_msg(line, 50, &m, NULL, 0);
	ck_assert_uint_eq(n, strlen(line));
	ck_assert_uint_lt(n, 50);
}
END_TEST

START_TEST(format_escape)
{
	char out[64];

	ck_assert_uint_eq(cli_escape(out, sizeof out, "a\"b\\c", 5, 1), 7);
	ck_assert_str_eq(out, "a\\\"b\\\\c");
	cli_escape(out, sizeof out, "a\"b\\c", 5, 0);
	ck_assert_str_eq(out, "a\"b\\c");
	cli_escape(out, 4, "\x01\x01", 2, 0);	/* room for no whole escape */
	ck_assert_str_eq(out, "");
	cli_escape(out, sizeof out, "\x00z", 2, 0);
	ck_assert_str_eq(out, "\\x00z");
}
END_TEST

START_TEST(format_receipt_user_draft)
{
	struct wire_item_USER u;
	struct wire_item_DRAFT d;
	char line[CLI_LINE_MAX];

	cli_fmt_receipt(line, sizeof line, 42, "bob", T0 + 61000);
	ck_assert_str_eq(line, "#42 read by bob at 10:01:02");

	memset(&u, 0, sizeof u);
	snprintf(u.username, sizeof u.username, "alice");
	snprintf(u.fullname, sizeof u.fullname, "Alice Liddell");
	u.online = 1;
	cli_fmt_user(line, sizeof line, &u);
	ck_assert_str_eq(line, "alice (Alice Liddell) online");
	u.fullname[0] = '\0';
	u.online = 0;
	cli_fmt_user(line, sizeof line, &u);
	ck_assert_str_eq(line, "alice offline");

	memset(&d, 0, sizeof d);
	d.id = 3;
	snprintf(d.to, sizeof d.to, "bob");
	snprintf(d.body, sizeof d.body, "later\n");
	d.updated_at = T0;
	cli_fmt_draft(line, sizeof line, &d);
	ck_assert_str_eq(line, "draft #3 to bob (2026-11-21 10:00:01): later\\n");
}
END_TEST

/* Times are local: TZ decides, also for a zone with a half-hour offset
 * and no tzdata needed (POSIX "IST-5:30" is UTC+5:30). */
START_TEST(format_time_local)
{
	struct wire_item_MSG m;
	char line[CLI_LINE_MAX];

	setenv("TZ", "IST-5:30", 1);
	tzset();
	cli_fmt_time(line, sizeof line, T0, 1);
	ck_assert_str_eq(line, "2026-11-21 15:30:01");
	cli_fmt_time(line, sizeof line, T0 + 999, 0);
	ck_assert_str_eq(line, "15:30:01");		/* not rounded up */
	memset(&m, 0, sizeof m);
	m.id = 7;
	m.sent_at = T0 + 14 * 3600 * 1000ull;	/* past midnight there */
	snprintf(m.from, sizeof m.from, "alice");
	snprintf(m.to, sizeof m.to, "bob");
	snprintf(m.body, sizeof m.body, "late");
	cli_fmt_msg(line, sizeof line, &m, "bob", 0);
	ck_assert_str_eq(line, "#7 2026-11-22 05:30:01 alice -> bob: late");
	setenv("TZ", "UTC", 1);
	tzset();
}
END_TEST

START_TEST(format_status)
{
	struct wire_STATUS_INFO s;
	uint32_t isr[3] = { 1, 2, 3 };
	char line[CLI_LINE_MAX];

	memset(&s, 0, sizeof s);
	s.replica_id = 1;
	s.role = CLI_ROLE_PRIMARY;
	s.epoch = 3;
	s.primary_id = 1;
	s.last_epoch = 3;
	s.last_lsn = 120;
	s.commit_lsn = 119;
	s.clients = 2;
	s.uptime_ms = 5000;
	snprintf(s.note, sizeof s.note, "all \"good\"\n");
	cli_fmt_status(line, sizeof line, &s, isr, 3);
	ck_assert_str_eq(line, "replica=1 role=primary primary=1 epoch=3 "
	    "lsn=120 commit=119 clients=2 last_epoch=3 isr=1,2,3 "
	    "uptime_ms=5000 note=\"all \\\"good\\\"\\n\"");
	ck_assert_ptr_null(strstr(line, "waiting_for"));

	s.replica_id = 2;
	s.role = CLI_ROLE_WAITING;
	s.primary_id = 0;
	s.waiting_for = 3;
	s.note[0] = '\0';
	cli_fmt_status(line, sizeof line, &s, NULL, 0);
	ck_assert_str_eq(line, "replica=2 role=waiting primary=0 epoch=3 "
	    "lsn=120 commit=119 clients=2 waiting_for=3 last_epoch=3 isr= "
	    "uptime_ms=5000 note=\"\"");
}
END_TEST

START_TEST(format_roles_errors)
{
	char text[256];

	ck_assert_str_eq(cli_role_name(0), "starting");
	ck_assert_str_eq(cli_role_name(1), "primary");
	ck_assert_str_eq(cli_role_name(2), "backup");
	ck_assert_str_eq(cli_role_name(3), "electing");
	ck_assert_str_eq(cli_role_name(4), "waiting");
	ck_assert_str_eq(cli_role_name(9), "unknown");
	cli_fmt_error(text, sizeof text, WIRE_E_NO_SUCH_USER, "no user 'x'");
	ck_assert_str_eq(text, "no user 'x'");
	cli_fmt_error(text, sizeof text, WIRE_E_NO_SUCH_USER, "");
	ck_assert_str_eq(text, "no user by that name");
	cli_fmt_error(text, sizeof text, 999, "");
	ck_assert_str_eq(text, "error 999");
	cli_fmt_error(text, sizeof text, 1, "bad\nthing");
	ck_assert_str_eq(text, "bad\\nthing");
}
END_TEST

/* ---- line editor -------------------------------------------------------- */

/* Feed s; return the last event; the completed line lands in out. */
static int
feed(struct cli_ledit *e, const char *s, char *out, size_t outsz)
{
	int ev = CLI_LE_NONE;

	for (; *s; s++)
		ev = cli_ledit_feed(e, (unsigned char)*s, out, outsz);
	return ev;
}

START_TEST(ledit_typing)
{
	struct cli_ledit e;
	char out[CLI_EDIT_MAX + 1];

	cli_ledit_reset(&e);
	ck_assert_int_eq(feed(&e, "/msg bob hi", out, sizeof out),
	    CLI_LE_CHANGED);
	ck_assert_str_eq(e.buf, "/msg bob hi");
	ck_assert_int_eq(feed(&e, "\r", out, sizeof out), CLI_LE_LINE);
	ck_assert_str_eq(out, "/msg bob hi");
	ck_assert_uint_eq(e.len, 0);
	ck_assert_int_eq(feed(&e, "x\n", out, sizeof out), CLI_LE_LINE);
	ck_assert_str_eq(out, "x");
	ck_assert_int_eq(feed(&e, "\r", out, sizeof out), CLI_LE_LINE);
	ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(ledit_backspace_utf8)
{
	struct cli_ledit e;
	char out[64];

	cli_ledit_reset(&e);
	feed(&e, "aé✓😀", out, sizeof out);
	ck_assert_uint_eq(e.len, 1 + 2 + 3 + 4);
	ck_assert_uint_eq(cli_utf8_cols(e.buf, e.len), 4);
	ck_assert_int_eq(feed(&e, "\x7f", out, sizeof out), CLI_LE_CHANGED);
	ck_assert_str_eq(e.buf, "aé✓");
	feed(&e, "\x7f", out, sizeof out);
	ck_assert_str_eq(e.buf, "aé");
	feed(&e, "\b", out, sizeof out);	/* Ctrl-H too */
	ck_assert_str_eq(e.buf, "a");
	feed(&e, "\x7f", out, sizeof out);
	ck_assert_str_eq(e.buf, "");
	ck_assert_int_eq(feed(&e, "\x7f", out, sizeof out), CLI_LE_BELL);
}
END_TEST

START_TEST(ledit_kill_keys)
{
	struct cli_ledit e;
	char out[64];

	cli_ledit_reset(&e);
	feed(&e, "/msg bob hello", out, sizeof out);
	ck_assert_int_eq(feed(&e, "\x17", out, sizeof out), CLI_LE_CHANGED);
	ck_assert_str_eq(e.buf, "/msg bob ");
	feed(&e, "\x17", out, sizeof out);
	ck_assert_str_eq(e.buf, "/msg ");
	ck_assert_int_eq(feed(&e, "\x15", out, sizeof out), CLI_LE_CHANGED);
	ck_assert_str_eq(e.buf, "");
	ck_assert_int_eq(feed(&e, "\x15", out, sizeof out), CLI_LE_NONE);
}
END_TEST

START_TEST(ledit_control_keys)
{
	struct cli_ledit e;
	char out[64];

	cli_ledit_reset(&e);
	ck_assert_int_eq(feed(&e, "\x04", out, sizeof out), CLI_LE_EOF);
	feed(&e, "ab", out, sizeof out);
	ck_assert_int_eq(feed(&e, "\x04", out, sizeof out), CLI_LE_BELL);
	ck_assert_str_eq(e.buf, "ab");
	ck_assert_int_eq(feed(&e, "\x03", out, sizeof out), CLI_LE_INTR);
	/* Arrow keys and other sequences vanish; a tab is a space; other
	 * control bytes are dropped. */
	cli_ledit_reset(&e);
	feed(&e, "a\x1b[Ab\x1bOPc\x1b[1;5Dd\x1bxe\tf\x01\x02g", out, sizeof out);
	ck_assert_str_eq(e.buf, "abcde fg");
}
END_TEST

START_TEST(ledit_full)
{
	struct cli_ledit e;
	char out[16];
	int i, ev = 0;

	cli_ledit_reset(&e);
	for (i = 0; i < CLI_EDIT_MAX; i++)
		ev = cli_ledit_feed(&e, 'x', out, sizeof out);
	ck_assert_int_eq(ev, CLI_LE_CHANGED);
	ck_assert_int_eq(cli_ledit_feed(&e, 'y', out, sizeof out), CLI_LE_BELL);
	ck_assert_uint_eq(e.len, CLI_EDIT_MAX);
	/* A short output buffer gets a truncated copy. */
	ck_assert_int_eq(cli_ledit_feed(&e, '\r', out, sizeof out), CLI_LE_LINE);
	ck_assert_uint_eq(strlen(out), sizeof out - 1);
}
END_TEST

/* ---- shown-id dedup ----------------------------------------------------- */

START_TEST(shown_basics)
{
	struct cli_shown s;

	cli_shown_reset(&s, 10);
	ck_assert(cli_shown_seen(&s, 5));
	ck_assert(cli_shown_seen(&s, 10));
	ck_assert(!cli_shown_seen(&s, 11));
	cli_shown_add(&s, 15);
	ck_assert(cli_shown_seen(&s, 15));
	ck_assert(!cli_shown_seen(&s, 12));
	ck_assert_uint_eq(s.max, 15);
	cli_shown_add(&s, 15);		/* twice: no duplicate */
	ck_assert_uint_eq(s.n, 1);
	cli_shown_add(&s, 3);		/* below the floor: nothing kept */
	ck_assert_uint_eq(s.n, 1);
	cli_shown_settle(&s, 15);
	ck_assert_uint_eq(s.floor, 15);
	ck_assert_uint_eq(s.n, 0);
	ck_assert(cli_shown_seen(&s, 12));
	cli_shown_settle(&s, 4);	/* never goes down */
	ck_assert_uint_eq(s.floor, 15);
}
END_TEST

START_TEST(shown_catch_up)
{
	struct cli_shown s;
	uint64_t id, shown = 0;

	/* Pushes up to 45, then the connection drops. Meanwhile 46..70 are
	 * committed; on the new connection push 71 arrives before the
	 * catch-up FETCH (after the floor, 45) answers with 46..71. */
	cli_shown_reset(&s, 40);
	for (id = 41; id <= 45; id++) {
		ck_assert(!cli_shown_seen(&s, id));
		cli_shown_add(&s, id);
		cli_shown_settle(&s, id);
	}
	ck_assert_uint_eq(s.floor, 45);
	cli_shown_add(&s, 71);		/* the early push */
	for (id = s.floor + 1; id <= 71; id++)
		if (!cli_shown_seen(&s, id)) {
			cli_shown_add(&s, id);
			shown++;
		}
	ck_assert_uint_eq(shown, 25);	/* 46..70, not 71 again */
	cli_shown_settle(&s, s.max);
	ck_assert_uint_eq(s.floor, 71);
	ck_assert_uint_eq(s.n, 0);
}
END_TEST

START_TEST(shown_out_of_band_ids)
{
	struct cli_shown s;

	/* SENT #50 arrives before the push of #49 (from someone else): 49
	 * must still show, and a later push of 50 must not. */
	cli_shown_reset(&s, 48);
	cli_shown_add(&s, 50);
	ck_assert(!cli_shown_seen(&s, 49));
	cli_shown_add(&s, 49);
	cli_shown_settle(&s, 49);
	ck_assert(cli_shown_seen(&s, 50));
	ck_assert_uint_eq(s.n, 1);
	cli_shown_settle(&s, 50);
	ck_assert_uint_eq(s.n, 0);
}
END_TEST

START_TEST(shown_full)
{
	struct cli_shown s;
	uint64_t id;

	cli_shown_reset(&s, 0);
	for (id = 2; id <= 2 * CLI_SHOWN_MAX + 2; id += 2)
		cli_shown_add(&s, id);
	ck_assert_uint_eq(s.n, CLI_SHOWN_MAX);
	/* The oldest ones were given up: the floor passed them. */
	ck_assert(cli_shown_seen(&s, 1));
	ck_assert(cli_shown_seen(&s, 2 * CLI_SHOWN_MAX + 2));
	ck_assert(!cli_shown_seen(&s, 2 * CLI_SHOWN_MAX + 1));
	for (id = 1; id < CLI_SHOWN_MAX; id++)
		ck_assert(s.ids[id - 1] < s.ids[id]);
	cli_shown_settle(&s, UINT64_MAX);
	ck_assert_uint_eq(s.n, 0);
}
END_TEST

/* ---- options.c ---------------------------------------------------------- */

START_TEST(color_choice)
{
	ck_assert_int_eq(cli_color_parse("auto"), CLI_COLOR_AUTO);
	ck_assert_int_eq(cli_color_parse("always"), CLI_COLOR_ALWAYS);
	ck_assert_int_eq(cli_color_parse("never"), CLI_COLOR_NEVER);
	ck_assert_int_eq(cli_color_parse("yes"), -1);
	ck_assert_int_eq(cli_color_parse(""), -1);
	/* auto: a terminal, and NO_COLOR absent or empty (no-color.org). */
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_AUTO, NULL, 1), 1);
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_AUTO, "", 1), 1);
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_AUTO, "1", 1), 0);
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_AUTO, "0", 1), 0);
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_AUTO, NULL, 0), 0);
	/* An explicit choice wins over NO_COLOR and over the terminal. */
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_ALWAYS, "1", 0), 1);
	ck_assert_int_eq(cli_color_wanted(CLI_COLOR_NEVER, NULL, 1), 0);
}
END_TEST

static char pwdir[] = "/tmp/check_client-XXXXXX";

/* Write a file with mode; returns its path (static). */
static const char *
pwfile(const char *name, const void *data, size_t n, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof path, "%s/%s", pwdir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, n), (ssize_t)n);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static int
read_pw(const char *path, char *pw)
{
	err[0] = '\0';
	return cli_read_password_file(path, pw, CHAT_MAX_PASSWORD + 1, err,
	    sizeof err);
}

START_TEST(password_file)
{
	char pw[CHAT_MAX_PASSWORD + 1], big[CHAT_MAX_PASSWORD + 2];
	const char *p;

	ck_assert_ptr_nonnull(mkdtemp(pwdir));
	/* The first line, its LF or CRLF stripped; the rest ignored. */
	ck_assert_int_eq(read_pw(pwfile("a", "s3cret\nmore\n", 12, 0600), pw),
	    0);
	ck_assert_str_eq(pw, "s3cret");
	ck_assert_int_eq(read_pw(pwfile("b", "two words\r\n", 11, 0400), pw),
	    0);
	ck_assert_str_eq(pw, "two words");
	ck_assert_int_eq(read_pw(pwfile("c", "no newline", 10, 0600), pw), 0);
	ck_assert_str_eq(pw, "no newline");
	/* Longest accepted, and one byte more. */
	memset(big, 'x', sizeof big);
	ck_assert_int_eq(read_pw(pwfile("d", big, CHAT_MAX_PASSWORD, 0600), pw),
	    0);
	ck_assert_uint_eq(strlen(pw), CHAT_MAX_PASSWORD);
	ck_assert_int_eq(read_pw(pwfile("e", big, sizeof big, 0600), pw), -1);
	ck_assert_ptr_nonnull(strstr(err, "longer than 128 bytes"));
	/* Refused: readable (or writable) by group or others. */
	p = pwfile("f", "s3cret\n", 7, 0640);
	ck_assert_int_eq(read_pw(p, pw), -1);
	ck_assert_ptr_nonnull(strstr(err, "mode 0640"));
	ck_assert_ptr_nonnull(strstr(err, "chmod 600"));
	ck_assert_str_eq(pw, "");
	ck_assert_int_eq(read_pw(pwfile("g", "s3cret\n", 7, 0602), pw), -1);
	/* Empty, NUL inside, bad UTF-8, missing, a directory. */
	ck_assert_int_eq(read_pw(pwfile("h", "\nsecond\n", 8, 0600), pw), -1);
	ck_assert_ptr_nonnull(strstr(err, "empty password"));
	ck_assert_int_eq(read_pw(pwfile("i", "a\0b\n", 4, 0600), pw), -1);
	ck_assert_int_eq(read_pw(pwfile("j", "\xff\xfe\n", 3, 0600), pw), -1);
	ck_assert_ptr_nonnull(strstr(err, "UTF-8"));
	snprintf(big, sizeof big, "%s/missing", pwdir);
	ck_assert_int_eq(read_pw(big, pw), -1);
	ck_assert_ptr_nonnull(strstr(err, "No such file"));
	ck_assert_int_eq(read_pw(pwdir, pw), -1);
	ck_assert_ptr_nonnull(strstr(err, "not a regular file"));
	for (p = "abcdefghij"; *p; p++) {
		char path[300];
		snprintf(path, sizeof path, "%s/%c", pwdir, *p);
		unlink(path);
	}
	rmdir(pwdir);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite *s = suite_create("client");
	TCase *t;

	t = h_tcase(s, "parse", 0);
	tcase_add_test(t, parse_every_command);
	tcase_add_test(t, parse_text_verbatim);
	tcase_add_test(t, parse_arg_counts);
	tcase_add_test(t, parse_unknown);
	tcase_add_test(t, parse_long_line);
	tcase_add_test(t, parse_delete_max_ids);
	tcase_add_test(t, command_table);

	t = h_tcase(s, "validate", 0);
	tcase_add_test(t, validate_username);
	tcase_add_test(t, validate_body);
	tcase_add_test(t, validate_other_fields);
	tcase_add_test(t, numbers);

	t = h_tcase(s, "format", 0);
	tcase_add_test(t, format_message);
	tcase_add_test(t, format_message_escapes);
	tcase_add_test(t, format_message_read_mark);
	tcase_add_test(t, format_message_longest);
	tcase_add_test(t, format_escape);
	tcase_add_test(t, format_receipt_user_draft);
	tcase_add_test(t, format_time_local);
	tcase_add_test(t, format_status);
	tcase_add_test(t, format_roles_errors);

	t = h_tcase(s, "options", 0);
	tcase_add_test(t, color_choice);
	tcase_add_test(t, password_file);

	t = h_tcase(s, "ledit", 0);
	tcase_add_test(t, ledit_typing);
	tcase_add_test(t, ledit_backspace_utf8);
	tcase_add_test(t, ledit_kill_keys);
	tcase_add_test(t, ledit_control_keys);
	tcase_add_test(t, ledit_full);

	t = h_tcase(s, "shown", 0);
	tcase_add_test(t, shown_basics);
	tcase_add_test(t, shown_catch_up);
	tcase_add_test(t, shown_out_of_band_ids);
	tcase_add_test(t, shown_full);
	return s;
}

int
main(void)
{
	setenv("TZ", "UTC", 1);
	tzset();
	return h_run_suite(client_suite());
}
