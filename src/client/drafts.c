/*
 * drafts.c — /draft, /drafts, /send-draft, /drop-draft.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

/* ---- drafts ------------------------------------------------------------- */

static void
on_draft_saved(struct client *cl, struct cli_req *r, uint16_t op,
	       const void *msg)
{
	const struct wire_OK *m = msg;

	(void)r;
	if (op != WIRE_OP_OK) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_print("draft #%llu saved", (unsigned long long)m->value);
	cli_job_done(cl, 1);
}

void
cli_run_draft(struct client *cl, const struct cli_args *a)
{
	struct wire_DRAFT_SAVE m;

	if (!cli_check(cl, cli_check_username, a->argv[0]) ||
	    !cli_check(cl, cli_check_body, a->argv[1]))
		return;
	memset(&m, 0, sizeof m);
	m.draft_id = 0;
	cli_copy(m.to, sizeof m.to, a->argv[0]);
	cli_copy(m.body, sizeof m.body, a->argv[1]);
	cli_submit(cl, WIRE_OP_DRAFT_SAVE, &m, on_draft_saved);
}

static void
on_drafts(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_DRAFT_LIST *m = msg;
	struct wire_list_iter it;
	struct wire_item_DRAFT d;
	char line[CLI_LINE_MAX];

	(void)r;
	if (op != WIRE_OP_DRAFT_LIST) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	if (m->drafts.count == 0)
		cli_print("no drafts");
	cli_list_begin(&it, op, &m->drafts);
	while (wire_list_next(&it, &d)) {
		cli_fmt_draft(line, sizeof line, &d);
		cli_term_print(line);
	}
	cli_job_done(cl, 1);
}

void
cli_run_drafts(struct client *cl, const struct cli_args *a)
{
	struct wire_DRAFTS m;

	(void)a;
	memset(&m, 0, sizeof m);
	cli_submit(cl, WIRE_OP_DRAFTS, &m, on_drafts);
}

static void
on_drafts_sent(struct client *cl, struct cli_req *r, uint16_t op,
	       const void *msg)
{
	unsigned n;

	(void)r;
	if (op != WIRE_OP_MESSAGES) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	n = cli_show_page(cl, msg, 0);
	if (n == 0)
		cli_print("no drafts to send");
	else
		cli_print("sent %u draft%s", n, n == 1 ? "" : "s");
	cli_job_done(cl, 1);
}

void
cli_run_send_draft(struct client *cl, const struct cli_args *a)
{
	struct wire_DRAFT_SEND m;
	uint64_t id = 0;

	if (strcmp(a->argv[0], "all") != 0 && cli_parse_id(a->argv[0], &id) < 0) {
		cli_job_fail(cl, "bad draft id '%s' (a number, or all)",
		    cli_esc(a->argv[0]));
		return;
	}
	memset(&m, 0, sizeof m);
	m.draft_id = id;
	cli_submit(cl, WIRE_OP_DRAFT_SEND, &m, on_drafts_sent);
}

static void
on_draft_dropped(struct client *cl, struct cli_req *r, uint16_t op,
		 const void *msg)
{
	(void)r;
	if (op != WIRE_OP_OK) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_print("draft #%llu dropped", (unsigned long long)cl->job.id);
	cli_job_done(cl, 1);
}

void
cli_run_drop_draft(struct client *cl, const struct cli_args *a)
{
	struct wire_DRAFT_DROP m;

	if (cli_parse_id(a->argv[0], &cl->job.id) < 0) {
		cli_job_fail(cl, "bad draft id '%s'", cli_esc(a->argv[0]));
		return;
	}
	memset(&m, 0, sizeof m);
	m.draft_id = cl->job.id;
	cli_submit(cl, WIRE_OP_DRAFT_DROP, &m, on_draft_dropped);
}

