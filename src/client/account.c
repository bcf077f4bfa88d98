/*
 * account.c — /register, /login, /logout and /delete-account.
 *
 * Passwords not given on the command line are asked for (echo off on a
 * terminal; the next input line in a script). Buffers that held one are
 * wiped when the command ends (job.c) or the request is freed (conn.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- /register ---------------------------------------------------------- */

static void
on_register(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	(void)r;
	if (op != WIRE_OP_OK) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_print("registered %s", cl->job.user);
	cli_job_done(cl, 1);
}

static void
register_send(struct client *cl)
{
	struct wire_REGISTER m;

	memset(&m, 0, sizeof m);
	cli_copy(m.username, sizeof m.username, cl->job.user);
	cli_copy(m.fullname, sizeof m.fullname, cl->job.fullname);
	cli_copy(m.password, sizeof m.password, cl->job.password);
	cli_submit(cl, WIRE_OP_REGISTER, &m, on_register);
	explicit_bzero(&m, sizeof m);
}

static void
register_password2(struct client *cl, const char *line)
{
	if (strcmp(line, cl->job.password) != 0) {
		cli_job_fail(cl, "passwords do not match");
		return;
	}
	register_send(cl);
}

static void
register_password(struct client *cl, const char *line)
{
	if (!cli_check(cl, cli_check_password, line))
		return;
	cli_copy(cl->job.password, sizeof cl->job.password, line);
	if (cli_term_is_tty())
		cli_ask(cl, "repeat password: ", 1, register_password2);
	else
		register_send(cl);
}

/* Full names must be plain text (PROTOCOL.md §7). */
static int
check_fullname(struct client *cl, const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f) {
			cli_job_fail(cl, "full name has a control character");
			return 0;
		}
	return cli_check(cl, cli_check_fullname, s);
}

/* Trailing blanks of a free-text argument are not part of a name. */
static void
copy_trimmed(char *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	while (len > 0 && (src[len - 1] == ' ' || src[len - 1] == '\t'))
		len--;
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
register_fullname(struct client *cl, const char *line)
{
	char name[CLI_INPUT_MAX + 1];

	copy_trimmed(name, sizeof name, line);
	if (!check_fullname(cl, name))
		return;
	cli_copy(cl->job.fullname, sizeof cl->job.fullname, name);
	if (cl->job.password[0] != '\0')
		register_send(cl);
	else
		cli_ask(cl, "password: ", 1, register_password);
}

void
cli_run_register(struct client *cl, const struct cli_args *a)
{
	char name[CLI_INPUT_MAX + 1];

	if (!cli_check(cl, cli_check_username, a->argv[0]))
		return;
	cli_copy(cl->job.user, sizeof cl->job.user, a->argv[0]);
	if (a->argc >= 2) {
		if (!cli_check(cl, cli_check_password, a->argv[1]))
			return;
		cli_copy(cl->job.password, sizeof cl->job.password, a->argv[1]);
	}
	if (a->argc >= 3) {
		copy_trimmed(name, sizeof name, a->argv[2]);
		if (!check_fullname(cl, name))
			return;
		cli_copy(cl->job.fullname, sizeof cl->job.fullname, name);
	} else if (cli_term_is_tty()) {
		cli_ask(cl, "full name (may be empty): ", 0, register_fullname);
		return;
	}
	if (a->argc >= 2)
		register_send(cl);
	else
		cli_ask(cl, "password: ", 1, register_password);
}

/* ---- /login, /logout ---------------------------------------------------- */

static void
on_login(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_SESSION *s = msg;

	(void)r;
	if (op != WIRE_OP_SESSION) {
		/* A script started with --user must not run without it. */
		if (cl->auto_login)
			cl->quitting = 1;
		cl->auto_login = 0;
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cl->auto_login = 0;
	cli_session_set(cl, s);
	cli_print("logged in as %s (%u unread)", s->username,
	    (unsigned)s->unread);
	cli_job_done(cl, 1);
}

static void
login_password(struct client *cl, const char *line)
{
	struct wire_LOGIN m;

	if (!cli_check(cl, cli_check_password, line))
		return;
	memset(&m, 0, sizeof m);
	cli_copy(m.username, sizeof m.username, cl->job.user);
	cli_copy(m.password, sizeof m.password, line);
	cli_submit(cl, WIRE_OP_LOGIN, &m, on_login);
	explicit_bzero(&m, sizeof m);
}

void
cli_run_login(struct client *cl, const struct cli_args *a)
{
	if (cl->logged_in) {
		cli_job_fail(cl, "already logged in as %s (use /logout first)",
		    cl->user);
		return;
	}
	if (!cli_check(cl, cli_check_username, a->argv[0]))
		return;
	cli_copy(cl->job.user, sizeof cl->job.user, a->argv[0]);
	if (a->argc >= 2)
		login_password(cl, a->argv[1]);
	else
		cli_ask(cl, "password: ", 1, login_password);
}

void
cli_auto_login(struct client *cl, const char *user, const char *password)
{
	static struct cli_args a;	/* large; like cli_job_exec's */
	size_t ul = strlen(user), pl = password ? strlen(password) : 0;

	memset(&a, 0, sizeof a);
	a.cmd = cli_cmd_find("login");
	if (a.cmd == NULL || ul + pl + 2 > sizeof a.store)
		abort();	/* main.c checked both */
	memcpy(a.store, user, ul + 1);
	a.argv[a.argc++] = a.store;
	if (password != NULL) {
		memcpy(a.store + ul + 1, password, pl + 1);
		a.argv[a.argc++] = a.store + ul + 1;
	}
	cl->job.cmd = a.cmd;
	cl->auto_login = 1;
	cli_run_login(cl, &a);
	explicit_bzero(a.store, sizeof a.store);
}

static void
on_logout(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	(void)r;
	if (op != WIRE_OP_OK) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_session_clear(cl);
	cli_print("logged out");
	cli_job_done(cl, 1);
}

void
cli_run_logout(struct client *cl, const struct cli_args *a)
{
	struct wire_LOGOUT m;

	(void)a;
	memset(&m, 0, sizeof m);
	cl->job.ends_session = 1;
	cli_submit(cl, WIRE_OP_LOGOUT, &m, on_logout);
}

/* ---- /delete-account: unread messages first, then the account ----------- */

static void
on_account_deleted(struct client *cl, struct cli_req *r, uint16_t op,
		   const void *msg)
{
	char user[CHAT_MAX_USERNAME + 1];

	(void)r;
	if (op != WIRE_OP_OK) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_copy(user, sizeof user, cl->user);
	cli_session_clear(cl);
	cli_print("account %s deleted", user);
	cli_job_done(cl, 1);
}

static void
delete_account_send(struct client *cl)
{
	struct wire_DELETE_ACCOUNT m;

	memset(&m, 0, sizeof m);
	cli_copy(m.password, sizeof m.password, cl->job.password);
	cl->job.ends_session = 1;
	cli_submit(cl, WIRE_OP_DELETE_ACCOUNT, &m, on_account_deleted);
	explicit_bzero(&m, sizeof m);
}

static void
on_last_read(struct client *cl, struct cli_req *r, uint16_t op,
	     const void *msg)
{
	const struct wire_MESSAGES *m = msg;
	unsigned n;

	(void)r;
	if (op != WIRE_OP_MESSAGES) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	n = cli_show_page(cl, m, 0);
	cl->job.got += n;
	if (m->more && n > 0 && cl->job.got < cl->job.want) {
		cli_read_next(cl, on_last_read);
		return;
	}
	delete_account_send(cl);
}

static void
on_last_inbox(struct client *cl, struct cli_req *r, uint16_t op,
	      const void *msg)
{
	const struct wire_INBOX_INFO *m = msg;

	(void)r;
	if (op != WIRE_OP_INBOX_INFO) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	if (m->unread == 0) {
		delete_account_send(cl);
		return;
	}
	cli_print("%u unread message%s before the account goes:",
	    (unsigned)m->unread, m->unread == 1 ? "" : "s");
	/* All of them, within reason: they are about to disappear. */
	cl->job.want = 100 * CHAT_MAX_PAGE;
	cli_read_next(cl, on_last_read);
}

static void
delete_account_password(struct client *cl, const char *line)
{
	struct wire_INBOX m;

	if (!cli_check(cl, cli_check_password, line))
		return;
	cli_copy(cl->job.password, sizeof cl->job.password, line);
	memset(&m, 0, sizeof m);
	cli_submit(cl, WIRE_OP_INBOX, &m, on_last_inbox);
}

void
cli_run_delete_account(struct client *cl, const struct cli_args *a)
{
	if (a->argc >= 1)
		delete_account_password(cl, a->argv[0]);
	else
		cli_ask(cl, "password: ", 1, delete_account_password);
}

