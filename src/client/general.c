/*
 * general.c — /status, /help and /quit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- /status, /help, /quit ---------------------------------------------- */

static void
on_status(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_STATUS_INFO *s = msg;
	uint32_t isr[WIRE_MAX_REPLICAS];
	struct wire_list_iter it;
	struct wire_item_MEMBER mem;
	char line[CLI_LINE_MAX];
	unsigned n = 0;

	(void)r;
	if (op != WIRE_OP_STATUS_INFO) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_list_begin(&it, op, &s->isr);
	while (n < WIRE_MAX_REPLICAS && wire_list_next(&it, &mem))
		isr[n++] = mem.id;
	cli_fmt_status(line, sizeof line, s, isr, n);
	cli_term_print(line);
	cli_job_done(cl, 1);
}

void
cli_run_status(struct client *cl, const struct cli_args *a)
{
	struct wire_STATUS m;

	(void)a;
	memset(&m, 0, sizeof m);
	cli_submit(cl, WIRE_OP_STATUS, &m, on_status);
}

void
cli_run_help(struct client *cl, const struct cli_args *a)
{
	const struct cli_cmd *c;
	unsigned i;

	if (a->argc == 0) {
		for (i = 0; i < cli_ncmds; i++)
			cli_print("%-42s %s", cli_cmds[i].usage, cli_cmds[i].help);
		cli_job_done(cl, 1);
		return;
	}
	c = cli_cmd_find(a->argv[0]);
	if (c == NULL) {
		cli_job_fail(cl, "unknown command '%s' (try /help)",
		    cli_esc(a->argv[0]));
		return;
	}
	cli_print("%s", c->usage);
	cli_print("  %s", c->help);
	if (c->flags & CLI_CMD_LOGIN)
		cli_print("  needs a login");
	cli_job_done(cl, 1);
}

void
cli_run_quit(struct client *cl, const struct cli_args *a)
{
	(void)a;
	cl->quitting = 1;
	cli_job_done(cl, 1);
}

