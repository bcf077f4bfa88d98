/*
 * messages.c — /users, /msg, /inbox, /read, /history, /replay, /delete.
 *
 * Messages a command shows go through cli_show_msg (session.c), so a push
 * or catch-up of the same id later does not show it a second time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

#define READ_DEFAULT     10
#define HISTORY_DEFAULT  20
#define LIST_MAX         1000	/* messages one /read, /history, /replay takes */
#define REPLAY_SPEED     10.0
#define REPLAY_PAUSE_MAX 5000	/* ms, after scaling */

/* ---- /users ------------------------------------------------------------- */

static void
on_users(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_USER_LIST *m = msg;
	struct wire_list_iter it;
	struct wire_item_USER u;
	char line[CLI_LINE_MAX];

	(void)r;
	if (op != WIRE_OP_USER_LIST) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_list_begin(&it, op, &m->users);
	while (wire_list_next(&it, &u)) {
		cli_fmt_user(line, sizeof line, &u);
		cli_term_print(line);
	}
	cli_print("page %u/%u, %u user%s", (unsigned)m->page + 1,
	    m->pages ? (unsigned)m->pages : 1u, (unsigned)m->total,
	    m->total == 1 ? "" : "s");
	cli_job_done(cl, 1);
}

void
cli_run_users(struct client *cl, const struct cli_args *a)
{
	struct wire_USERS m;
	uint64_t page = 1;

	memset(&m, 0, sizeof m);
	if (a->argc >= 1) {
		if (!cli_check(cl, cli_check_pattern, a->argv[0]))
			return;
		cli_copy(m.pattern, sizeof m.pattern, a->argv[0]);
	}
	if (a->argc >= 2 && cli_parse_uint(a->argv[1], 1, UINT32_MAX, &page) < 0) {
		cli_job_fail(cl, "bad page number '%s'", cli_esc(a->argv[1]));
		return;
	}
	m.page = (uint32_t)(page - 1);
	cli_submit(cl, WIRE_OP_USERS, &m, on_users);
}

/* ---- /msg, /inbox ------------------------------------------------------- */

static void
on_sent(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_SENT *s = msg;

	(void)r;
	if (op != WIRE_OP_SENT) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	/* Our own message is not pushed back to us, but a catch-up FETCH
	 * would find it: it counts as shown. */
	cli_shown_add(&cl->shown, s->id);
	cli_print("sent #%llu to %s", (unsigned long long)s->id, cl->job.user);
	cli_job_done(cl, 1);
}

void
cli_run_msg(struct client *cl, const struct cli_args *a)
{
	struct wire_SEND m;

	if (!cli_check(cl, cli_check_username, a->argv[0]) ||
	    !cli_check(cl, cli_check_body, a->argv[1]))
		return;
	memset(&m, 0, sizeof m);
	cli_copy(m.to, sizeof m.to, a->argv[0]);
	cli_copy(m.body, sizeof m.body, a->argv[1]);
	cli_copy(cl->job.user, sizeof cl->job.user, a->argv[0]);
	cli_submit(cl, WIRE_OP_SEND, &m, on_sent);
}

static void
on_inbox(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_INBOX_INFO *m = msg;

	(void)r;
	if (op != WIRE_OP_INBOX_INFO) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_print("inbox: %u unread, %u total, last #%llu", (unsigned)m->unread,
	    (unsigned)m->total, (unsigned long long)m->last_id);
	cli_job_done(cl, 1);
}

void
cli_run_inbox(struct client *cl, const struct cli_args *a)
{
	struct wire_INBOX m;

	(void)a;
	memset(&m, 0, sizeof m);
	cli_submit(cl, WIRE_OP_INBOX, &m, on_inbox);
}

/* ---- /read (also the first part of /delete-account) --------------------- */

unsigned
cli_show_page(struct client *cl, const struct wire_MESSAGES *m, int mark_read)
{
	struct wire_list_iter it;
	struct wire_item_MSG item;
	unsigned n = 0;

	cli_list_begin(&it, WIRE_OP_MESSAGES, &m->msgs);
	while (wire_list_next(&it, &item)) {
		cli_show_msg(cl, &item, mark_read);
		n++;
	}
	return n;
}

static void
on_read(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
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
		cli_read_next(cl, on_read);
		return;
	}
	if (cl->job.got == 0)
		cli_print("no unread messages");
	else if (m->more)
		cli_print("more unread messages are waiting");
	cli_job_done(cl, 1);
}

/* At most a page, at most what is still wanted. */
void
cli_read_next(struct client *cl, cli_reply_fn *fn)
{
	struct wire_READ m;
	unsigned left = cl->job.want - cl->job.got;

	memset(&m, 0, sizeof m);
	m.max = left < CHAT_MAX_PAGE ? left : CHAT_MAX_PAGE;
	cli_submit(cl, WIRE_OP_READ, &m, fn);
}

void
cli_run_read(struct client *cl, const struct cli_args *a)
{
	uint64_t n = READ_DEFAULT;

	if (a->argc >= 1 && cli_parse_uint(a->argv[0], 1, LIST_MAX, &n) < 0) {
		cli_job_fail(cl, "bad count '%s' (1-%d)", cli_esc(a->argv[0]),
		    LIST_MAX);
		return;
	}
	cl->job.want = (unsigned)n;
	cli_read_next(cl, on_read);
}

/* ---- /history and /replay: collect a conversation ----------------------- */

static void history_next(struct client *cl);
static void replay_start(struct client *cl);

/* Insert a page (older than everything collected) at the front. */
static void
collect_page(struct client *cl, const struct wire_MESSAGES *m)
{
	struct cli_job *j = &cl->job;
	struct wire_list_iter it;
	unsigned n = m->msgs.count, k = 0;

	if (n == 0)
		return;
	if (j->nmsgs + n > j->cap) {
		unsigned cap = j->nmsgs + n;
		struct wire_item_MSG *p = realloc(j->msgs, cap * sizeof *p);
		if (p == NULL)
			abort();
		j->msgs = p;
		j->cap = cap;
	}
	memmove(j->msgs + n, j->msgs, j->nmsgs * sizeof *j->msgs);
	cli_list_begin(&it, WIRE_OP_MESSAGES, &m->msgs);
	while (k < n && wire_list_next(&it, &j->msgs[k]))
		k++;
	if (k < n) {	/* cannot happen: the list was validated */
		memmove(j->msgs + k, j->msgs + n, j->nmsgs * sizeof *j->msgs);
		n = k;
	}
	j->nmsgs += n;
	j->got += n;
	if (n > 0)
		j->before_id = j->msgs[0].id;
}

static void
history_done(struct client *cl)
{
	unsigned i;

	if (cl->job.nmsgs == 0)
		cli_print("no messages with %s", cl->job.user);
	for (i = 0; i < cl->job.nmsgs; i++)
		cli_show_msg(cl, &cl->job.msgs[i], 1);
	cli_job_done(cl, 1);
}

static void
on_history(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_MESSAGES *m = msg;

	(void)r;
	if (op != WIRE_OP_MESSAGES) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	collect_page(cl, m);
	if (m->more && m->msgs.count > 0 && cl->job.got < cl->job.want) {
		history_next(cl);
		return;
	}
	if (cl->job.cmd->run == cli_run_replay)
		replay_start(cl);
	else
		history_done(cl);
}

static void
history_next(struct client *cl)
{
	struct wire_HISTORY m;
	unsigned left = cl->job.want - cl->job.got;

	memset(&m, 0, sizeof m);
	cli_copy(m.peer, sizeof m.peer, cl->job.user);
	m.before_id = cl->job.before_id;
	m.max = left < CHAT_MAX_PAGE ? left : CHAT_MAX_PAGE;
	cli_submit(cl, WIRE_OP_HISTORY, &m, on_history);
}

void
cli_run_history(struct client *cl, const struct cli_args *a)
{
	uint64_t n = HISTORY_DEFAULT;

	if (!cli_check(cl, cli_check_username, a->argv[0]))
		return;
	if (a->argc >= 2 && cli_parse_uint(a->argv[1], 1, LIST_MAX, &n) < 0) {
		cli_job_fail(cl, "bad count '%s' (1-%d)", cli_esc(a->argv[1]),
		    LIST_MAX);
		return;
	}
	cli_copy(cl->job.user, sizeof cl->job.user, a->argv[0]);
	cl->job.want = (unsigned)n;
	history_next(cl);
}

/* /replay: the messages one by one, with their original pauses / speed,
 * on loop timers so pushes and keepalive go on meanwhile. */
static void
replay_fire(void *ud)
{
	struct client *cl = ud;
	struct cli_job *j = &cl->job;
	uint64_t gap, delay;

	j->timer = NULL;
	cli_show_msg(cl, &j->msgs[j->next], 0);
	cli_progress(cl);
	if (++j->next >= j->nmsgs) {
		cli_print("end of replay");
		cli_job_done(cl, 1);
		return;
	}
	gap = j->msgs[j->next].sent_at > j->msgs[j->next - 1].sent_at ?
	    j->msgs[j->next].sent_at - j->msgs[j->next - 1].sent_at : 0;
	delay = (uint64_t)((double)gap / j->speed);
	if (delay > REPLAY_PAUSE_MAX)
		delay = REPLAY_PAUSE_MAX;
	j->timer = timer_add(cl->loop, delay, replay_fire, cl);
}

static void
replay_start(struct client *cl)
{
	struct cli_job *j = &cl->job;

	if (j->nmsgs == 0) {
		cli_print("no messages with %s", j->user);
		cli_job_done(cl, 1);
		return;
	}
	cli_print("replaying %u message%s with %s at %gx", j->nmsgs,
	    j->nmsgs == 1 ? "" : "s", j->user, j->speed);
	j->next = 0;
	j->timer = timer_add(cl->loop, 0, replay_fire, cl);
}

void
cli_run_replay(struct client *cl, const struct cli_args *a)
{
	if (!cli_check(cl, cli_check_username, a->argv[0]))
		return;
	cl->job.speed = REPLAY_SPEED;
	if (a->argc >= 2 && cli_parse_speed(a->argv[1], &cl->job.speed) < 0) {
		cli_job_fail(cl, "bad speed '%s' (a number above 0)",
		    cli_esc(a->argv[1]));
		return;
	}
	cli_copy(cl->job.user, sizeof cl->job.user, a->argv[0]);
	cl->job.want = LIST_MAX;
	history_next(cl);
}

/* ---- /delete ------------------------------------------------------------ */

static void
on_delete(struct client *cl, struct cli_req *r, uint16_t op, const void *msg)
{
	const struct wire_OK *m = msg;

	(void)r;
	if (op != WIRE_OP_OK) {
		cli_job_fail_reply(cl, op, msg);
		return;
	}
	cli_print("deleted %llu message%s", (unsigned long long)m->value,
	    m->value == 1 ? "" : "s");
	cli_job_done(cl, 1);
}

void
cli_run_delete(struct client *cl, const struct cli_args *a)
{
	uint64_t ids[CHAT_MAX_IDS];
	struct wire_DELETE m;
	struct wire_enc e;
	struct cli_req *r;
	int i;

	for (i = 0; i < a->argc && i < CHAT_MAX_IDS; i++)
		if (cli_parse_id(a->argv[i], &ids[i]) < 0) {
			cli_job_fail(cl, "bad message id '%s'",
			    cli_esc(a->argv[i]));
			return;
		}
	memset(&m, 0, sizeof m);
	r = cli_req_begin(cl, WIRE_OP_DELETE, &m, CLI_REQ_USER, on_delete, &e);
	for (i = 0; i < a->argc && i < CHAT_MAX_IDS; i++) {
		struct wire_item_MSGID item;
		memset(&item, 0, sizeof item);
		item.id = ids[i];
		wire_encode_item(&e, &item);
	}
	cli_req_end(&e);
	cli_req_submit(cl, r);
}

