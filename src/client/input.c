/*
 * input.c — input lines, one command at a time, and when to exit.
 *
 * Lines are queued as they arrive and taken one by one: the next command
 * starts only when the previous one has finished, or a running command
 * takes the next line as the answer to its question (a password). In a
 * script that makes "/login alice\nsecret\n" work as well.
 *
 * Exit: at end of input or /quit the client stops taking commands and
 * exits once no command runs and no request is unanswered: status 0 if
 * every command succeeded, else 1. It waits at most QUIT_WAIT_MS without
 * progress (a command finishing, a replayed message), so a script never
 * hangs forever on a cluster that is gone; that ends with status 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

#define QUIT_WAIT_MS 30000u

void
cli_update_prompt(struct client *cl)
{
	char prompt[CHAT_MAX_USERNAME + 8];

	if (cl->job.want_input) {
		cli_term_prompt(cl->job.ask, cl->job.secret);
		return;
	}
	snprintf(prompt, sizeof prompt, "%s> ",
	    cl->logged_in ? cl->user : "chat");
	cli_term_prompt(prompt, 0);
}

static void
quit_fire(void *ud)
{
	struct client *cl = ud;
	unsigned n = cli_pending_user(cl);

	cl->quit_timer = NULL;
	if (cl->job.cmd == NULL && n == 0) {
		cli_check_exit(cl);
		return;
	}
	cli_print("error: gave up after %u s without an answer (%u request%s "
	    "unanswered)", QUIT_WAIT_MS / 1000, n, n == 1 ? "" : "s");
	cl->failed = 1;
	cl->exit_code = 1;
	cl->done = 1;
}

/* (Re)start the bound on waiting, once input has ended. */
static void
arm_quit_timer(struct client *cl)
{
	if (cl->quit_timer)
		timer_cancel(cl->loop, cl->quit_timer);
	cl->quit_timer = timer_add(cl->loop, QUIT_WAIT_MS, quit_fire, cl);
}

void
cli_progress(struct client *cl)
{
	if (cl->quit_timer)
		arm_quit_timer(cl);
}

void
cli_check_exit(struct client *cl)
{
	if (!cl->quitting || cl->done || cl->job.cmd != NULL ||
	    cli_pending_user(cl) > 0)
		return;
	cl->exit_code = cl->failed ? 1 : 0;
	cl->done = 1;
}

static void
begin_quit(struct client *cl)
{
	if (!cl->quitting || !cl->quit_timer)
		arm_quit_timer(cl);
	cl->quitting = 1;
}

static void
free_queue(struct client *cl)
{
	struct cli_line *l;

	while ((l = cl->inq) != NULL) {
		cl->inq = l->next;
		explicit_bzero(l->text, strlen(l->text));	/* passwords */
		free(l);
	}
	cl->inq_tail = NULL;
}

void
cli_input_line(struct client *cl, const char *line)
{
	size_t n = strlen(line);
	struct cli_line *l;

	if (cl->quitting || cl->eof)
		return;		/* typed after Ctrl-D or /quit */
	l = malloc(sizeof *l + n + 1);
	if (l == NULL)
		abort();
	l->next = NULL;
	memcpy(l->text, line, n + 1);
	if (cl->inq_tail)
		cl->inq_tail->next = l;
	else
		cl->inq = l;
	cl->inq_tail = l;
	cli_pump(cl);
}

/* Run (or answer a question with) the first queued line. */
static void
take_line(struct client *cl)
{
	struct cli_line *l = cl->inq;

	cl->inq = l->next;
	if (cl->inq == NULL)
		cl->inq_tail = NULL;
	if (cl->job.cmd != NULL && cl->job.want_input)
		cli_job_input(cl, l->text);
	else
		cli_job_exec(cl, l->text);
	explicit_bzero(l->text, strlen(l->text));
	free(l);
}

void
cli_pump(struct client *cl)
{
	/* Commands that finish at once call back into here; the loop below
	 * takes the next line, so no recursion builds up over a script. */
	if (cl->pumping)
		return;
	cl->pumping = 1;
	while (!cl->done) {
		if (cl->job.cmd != NULL && !cl->job.want_input)
			break;			/* busy */
		if (cl->quitting) {
			free_queue(cl);		/* nothing after /quit runs */
			if (cl->job.cmd != NULL)
				cli_job_fail(cl, "quit before the command "
				    "got its input");
			break;
		}
		if (cl->inq != NULL) {
			take_line(cl);
			continue;
		}
		if (!cl->eof)
			break;
		if (cl->job.cmd != NULL) {
			cli_job_fail(cl, "end of input while waiting for %s",
			    cl->job.secret ? "a password" : "an answer");
			continue;
		}
		begin_quit(cl);
	}
	if (cl->quitting)
		begin_quit(cl);
	cl->pumping = 0;
	cli_check_exit(cl);
}

void
cli_input_eof(struct client *cl)
{
	if (cl->eof)
		return;
	cl->eof = 1;
	arm_quit_timer(cl);	/* bounds the wait for the last commands */
	cli_pump(cl);
}

void
cli_interrupt(struct client *cl)
{
	if (cl->quitting) {
		/* Second time: do not wait any longer. */
		cl->exit_code = 1;
		cl->done = 1;
		return;
	}
	/* A question or a replay in progress is simply abandoned. */
	if (cl->job.cmd != NULL && (cl->job.want_input || cl->job.timer))
		cli_job_abort(cl);
	cl->quitting = 1;
	cli_pump(cl);
}

void
cli_input_free(struct client *cl)
{
	free_queue(cl);
	if (cl->quit_timer)
		timer_cancel(cl->loop, cl->quit_timer);
	cl->quit_timer = NULL;
}
