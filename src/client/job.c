/*
 * job.c — the one command in progress (cl->job), and the helpers the
 * command handlers (account.c, messages.c, drafts.c, general.c) share.
 *
 * A handler checks its arguments, asks for what is missing (password,
 * full name), sends its requests, and turns their answers into output.
 * It ends with cli_job_done() or cli_job_fail(); only then is the next
 * input line taken (input.c). That keeps scripts deterministic: "/login"
 * has finished before "/msg" starts. Every failure prints exactly one
 * "error: ..." line, and makes the exit status 1.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"
#include "log.h"

/* ---- the job ------------------------------------------------------------ */

static void
job_release(struct client *cl)
{
	struct cli_job *j = &cl->job;

	if (j->timer)
		timer_cancel(cl->loop, j->timer);
	free(j->msgs);
	explicit_bzero(j, sizeof *j);
}

void
cli_job_abort(struct client *cl)
{
	job_release(cl);
	cli_term_echo(1);
	cli_update_prompt(cl);
}

void
cli_job_done(struct client *cl, int ok)
{
	if (!ok)
		cl->failed = 1;
	cl->auto_login = 0;
	job_release(cl);
	cli_term_echo(1);
	cli_update_prompt(cl);
	cli_progress(cl);
	cli_pump(cl);
}

void
cli_job_fail(struct client *cl, const char *fmt, ...)
{
	char text[CLI_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	cli_print("error: %s", text);
	cli_job_done(cl, 0);
}

void
cli_job_fail_reply(struct client *cl, uint16_t op, const void *msg)
{
	char text[CHAT_MAX_ERRTEXT * 4 + 1];
	const struct wire_ERROR *e = msg;

	if (op != WIRE_OP_ERROR) {
		cli_job_fail(cl, "unexpected answer %s", wire_op_name(op));
		return;
	}
	cli_fmt_error(text, sizeof text, e->code, e->text);
	/* The server says we have no session: believe it. */
	if ((e->code == WIRE_E_NOT_LOGGED_IN || e->code == WIRE_E_BAD_TOKEN) &&
	    cl->logged_in)
		cli_session_clear(cl);
	cli_job_fail(cl, "%s", text);
}

/* Commands marked CLI_CMD_LOGIN in the table are refused here. */
static int
need_login(struct client *cl)
{
	if (cl->logged_in)
		return 1;
	cli_job_fail(cl, "not logged in (use /login USER)");
	return 0;
}

void
cli_job_exec(struct client *cl, const char *line)
{
	static struct cli_args a;	/* large; one command at a time */
	char err[256];
	int rc = cli_parse(line, &a, err, sizeof err);

	if (rc == CLI_PARSE_EMPTY)
		return;
	job_release(cl);
	if (rc == CLI_PARSE_ERROR) {
		cli_print("error: %s", err);
		cl->failed = 1;
		return;
	}
	cl->job.cmd = a.cmd;
	log_debug("command /%s", a.cmd->name);
	if ((a.cmd->flags & CLI_CMD_LOGIN) && !need_login(cl))
		return;
	a.cmd->run(cl, &a);
}

void
cli_ask(struct client *cl, const char *prompt, int secret, cli_input_fn *fn)
{
	cl->job.want_input = fn;
	cl->job.ask = prompt;
	cl->job.secret = secret;
	if (secret)
		cli_term_echo(0);
	cli_update_prompt(cl);
}

void
cli_job_input(struct client *cl, const char *line)
{
	cli_input_fn *fn = cl->job.want_input;

	cl->job.want_input = NULL;
	if (cl->job.secret)
		cli_term_echo(1);
	cl->job.secret = 0;
	cli_update_prompt(cl);
	if (fn)
		fn(cl, line);
}

void
cli_submit(struct client *cl, uint16_t op, void *msg, cli_reply_fn *fn)
{
	cli_req_submit(cl, cli_req_new(cl, op, msg, CLI_REQ_USER, fn));
}

int
cli_check(struct client *cl, int (*fn)(const char *, char *, size_t),
      const char *s)
{
	char err[256];

	if (fn(s, err, sizeof err) == 0)
		return 1;
	cli_job_fail(cl, "%s", err);
	return 0;
}

const char *
cli_esc(const char *s)
{
	static char out[4][64];
	static unsigned k;
	char *o = out[k++ % 4];
	size_t n = cli_escape(o, sizeof out[0] - 3, s, strnlen(s, 40), 0);

	if (strlen(s) > 40)
		memcpy(o + n, "...", 4);
	return o;
}

void
cli_copy(char *dst, size_t n, const char *src)
{
	size_t len = strnlen(src, n - 1);

	memcpy(dst, src, len);
	dst[len] = '\0';
}
