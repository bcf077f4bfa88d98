/*
 * client.h — the internal API of ./chat, shared by the files of src/client/.
 *
 * The client is one process, one thread, one poll loop (net.h):
 *
 *   stdin ──> term.c (line editor on a terminal, plain lines otherwise)
 *         ──> input queue ──> commands.c (parse, validate) ──> actions.c
 *             (one command at a time: the "job")  ──> requests (conn.c)
 *   server ──> conn.c (HELLO, STATUS, REDIRECT, NO_PRIMARY, keepalive,
 *              request table) ──> the job's reply handlers (actions.c)
 *                             ──> pushes, RESUME, catch-up (session.c)
 *   every line of output ──> output.c formats it ──> term.c prints it
 *
 * Pure parts (no loop, no I/O) are kept apart so tests/check_client.c can
 * test them: output.c (formatting), shown.c (message dedup), ledit.c (the
 * line editor state machine), and the parser/validators of commands.c.
 *
 * Every exported name starts with cli_ / CLI_: libclient.a is linked into
 * tools next to the server's modules.
 */
#ifndef CHAT_CLIENT_H
#define CHAT_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "config.h"
#include "net.h"
#include "wire.h"

#ifndef CHATD_VERSION
#define CHATD_VERSION "0.1.0"
#endif

/* Roles of STATUS_INFO.role. */
enum cli_role {
	CLI_ROLE_STARTING = 0,
	CLI_ROLE_PRIMARY  = 1,
	CLI_ROLE_BACKUP   = 2,
	CLI_ROLE_ELECTING = 3,
	CLI_ROLE_WAITING  = 4,
};

/* ---- output.c: formatting (pure) ---------------------------------------- */

/* Room for any one output line: a body can grow 4x when escaped. */
#define CLI_LINE_MAX (CHAT_MAX_BODY * 4 + 1024)

/* Copy n bytes of src into dst, escaping control bytes (< 0x20, 0x7f) as
 * \n \t \r or \xNN; with quote, also " and \ (for key="value"). Always
 * NUL-terminates; stops before a partial escape. Returns the length. */
size_t cli_escape(char *dst, size_t dstsz, const char *src, size_t n,
		  int quote);
const char *cli_role_name(unsigned role);
/* Local time of ms since the epoch: "2026-11-21 10:00:01" or, without
 * the date, "10:00:01". */
void cli_fmt_time(char *dst, size_t dstsz, uint64_t ms, int with_date);
/* "#42 2026-11-21 10:00:01 alice -> bob: hello" (+ " (read)" when
 * mark_read and me sent it and it was read). Returns the length. */
size_t cli_fmt_msg(char *dst, size_t dstsz, const struct wire_item_MSG *m,
		   const char *me, int mark_read);
size_t cli_fmt_receipt(char *dst, size_t dstsz, uint64_t id,
		       const char *reader, uint64_t read_at);
size_t cli_fmt_user(char *dst, size_t dstsz, const struct wire_item_USER *u);
size_t cli_fmt_draft(char *dst, size_t dstsz, const struct wire_item_DRAFT *d);
/* "replica=1 role=primary primary=1 epoch=3 lsn=.. commit=.. clients=..
 * [waiting_for=..] last_epoch=.. isr=1,2 uptime_ms=.. note=\"..\"". */
size_t cli_fmt_status(char *dst, size_t dstsz,
		      const struct wire_STATUS_INFO *s, const uint32_t *isr,
		      unsigned nisr);
/* The text of an ERROR frame for the user: its text, or the code's
 * meaning when the text is empty. Escaped; no "error: " prefix. */
size_t cli_fmt_error(char *dst, size_t dstsz, uint16_t code,
		     const char *text);

/* ---- shown.c: which message ids were shown (pure) ----------------------- */

#define CLI_SHOWN_MAX 512

/*
 * Messages shown automatically (live pushes, the catch-up FETCH after a
 * reconnect) must never appear twice. Everything <= floor counts as
 * handled; above it, ids[] holds the ids shown (sorted). floor moves up
 * only when nothing below the new floor can still arrive unseen: after a
 * push while the push stream is gap-free, or when a catch-up finished.
 */
struct cli_shown {
	uint64_t floor;
	uint64_t max;			/* largest id shown or handled */
	uint64_t ids[CLI_SHOWN_MAX];
	unsigned n;
};

void cli_shown_reset(struct cli_shown *s, uint64_t floor);
int  cli_shown_seen(const struct cli_shown *s, uint64_t id);
void cli_shown_add(struct cli_shown *s, uint64_t id);
/* Everything <= upto is handled: raise the floor, drop ids below it. */
void cli_shown_settle(struct cli_shown *s, uint64_t upto);

/* ---- ledit.c: the line editor (pure) ------------------------------------ */

#define CLI_EDIT_MAX 8192

enum cli_ledit_ev {
	CLI_LE_NONE = 0,	/* nothing visible changed */
	CLI_LE_CHANGED,		/* the input changed: redraw */
	CLI_LE_LINE,		/* a line is complete (copied out, reset) */
	CLI_LE_EOF,		/* Ctrl-D on an empty line */
	CLI_LE_INTR,		/* Ctrl-C */
	CLI_LE_BELL,		/* refused (line full, nothing to erase) */
};

struct cli_ledit {
	char   buf[CLI_EDIT_MAX + 1];
	size_t len;
	int    esc;		/* 0, 1 after ESC, 2 inside a CSI/SS3 sequence */
};

void cli_ledit_reset(struct cli_ledit *e);
/* Feed one input byte; on CLI_LE_LINE the line is copied to line
 * (NUL-terminated, truncated to linesz - 1) and the editor is empty. */
int  cli_ledit_feed(struct cli_ledit *e, unsigned char c, char *line,
		    size_t linesz);
/* Display columns of s[0..n) (one per code point). */
size_t cli_utf8_cols(const char *s, size_t n);

/* ---- term.c: the terminal ----------------------------------------------- */

/* tty: stdin and stdout are a terminal: raw mode and the line editor. */
int  cli_term_init(int tty);
void cli_term_restore(void);
int  cli_term_is_tty(void);
/* The prompt shown before the input; secret hides what is typed. */
void cli_term_prompt(const char *prompt, int secret);
/* Print one line of output (no newline in line) without garbling the
 * line being typed. */
void cli_term_print(const char *line);
void cli_term_redraw(void);
/* Echo on/off for password lines when stdin is a terminal we do not
 * edit ourselves (stdout redirected). */
void cli_term_echo(int on);
/* Feed bytes read from stdin; complete lines go to on_line (without the
 * newline). Returns CLI_LE_EOF or CLI_LE_INTR when the user asked for
 * that, else 0. */
int  cli_term_feed(const uint8_t *p, size_t n,
		   void (*on_line)(void *ud, const char *line), void *ud);
/* End of stdin: a last line without a newline is delivered. */
void cli_term_eof(void (*on_line)(void *ud, const char *line), void *ud);

/* printf into one output line. */
void cli_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A notice about the connection or the session: one line marked with
 * CLI_NOTICE_MARK, so scripts can tell (and drop) it from the output
 * they parse. */
#define CLI_NOTICE_MARK "* "
void cli_notice(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Colour the kinds of lines (errors, notices) from now on. */
void cli_term_set_color(int on);

/* ---- options.c: command-line helpers (pure) ----------------------------- */

enum { CLI_COLOR_AUTO = 0, CLI_COLOR_ALWAYS, CLI_COLOR_NEVER };
/* "auto", "always", "never" -> CLI_COLOR_*, else -1. */
int cli_color_parse(const char *s);
/* Whether to colour: mode, the value of NO_COLOR (NULL if unset), and
 * whether stdout is a terminal. */
int cli_color_wanted(int mode, const char *no_color, int stdout_tty);
/* The first line of the file at path, without its line end, into pw: 0,
 * or -1 with a message in err (file unreadable, accessible to group or
 * others, not a valid password). pw is wiped on failure. */
int cli_read_password_file(const char *path, char *pw, size_t pwsz,
			   char *err, size_t errlen);

/* ---- commands.c: parsing and validation (pure) -------------------------- */

struct client;
struct cli_args;

struct cli_cmd {
	const char *name;	/* without the slash */
	int         min, max;	/* argument count */
	int         rest_after;	/* >0: after this many words, the rest of
				   the line is one verbatim argument */
	const char *usage;
	const char *help;
	void      (*run)(struct client *cl, const struct cli_args *a);
	unsigned    flags;	/* CLI_CMD_* */
};

#define CLI_CMD_LOGIN 0x01	/* refused (by job.c) unless logged in */

#define CLI_MAX_ARGS 128
/* Longest input line accepted (a body is at most 4096 bytes). */
#define CLI_INPUT_MAX 16384

struct cli_args {
	const struct cli_cmd *cmd;
	int   argc;
	char *argv[CLI_MAX_ARGS];
	char  store[CLI_INPUT_MAX + 1];
};

enum cli_parse_rc {
	CLI_PARSE_OK = 0,
	CLI_PARSE_EMPTY = 1,	/* blank line: nothing to do */
	CLI_PARSE_ERROR = -1,	/* err holds the message (no "error: ") */
};

extern const struct cli_cmd cli_cmds[];
extern const unsigned cli_ncmds;

const struct cli_cmd *cli_cmd_find(const char *name);
int cli_parse(const char *line, struct cli_args *a, char *err, size_t errlen);

/* Validators: 0, or -1 with a message in err. */
int cli_check_username(const char *s, char *err, size_t errlen);
int cli_check_password(const char *s, char *err, size_t errlen);
int cli_check_fullname(const char *s, char *err, size_t errlen);
int cli_check_body(const char *s, char *err, size_t errlen);
int cli_check_pattern(const char *s, char *err, size_t errlen);
/* Decimal in [min, max]; id forms may start with '#'. */
int cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);
int cli_parse_id(const char *s, uint64_t *out);
int cli_parse_speed(const char *s, double *out);

/* ---- conn.c: connection and requests ------------------------------------ */

enum cli_state {
	CLI_DOWN = 0,		/* no connection (an attempt may be scheduled) */
	CLI_CONNECTING,		/* TCP connect in progress */
	CLI_HELLO,		/* our HELLO sent, waiting for theirs */
	CLI_SETUP,		/* STATUS/REPLICAS/RESUME in progress */
	CLI_READY,		/* user requests flow */
};

/* Request flags. */
#define CLI_REQ_USER  0x01	/* part of a command: survives reconnects */
#define CLI_REQ_EARLY 0x02	/* may be sent during CLI_SETUP */

struct cli_req;
/* op is the answer's opcode, msg its decoded struct (struct wire_<op>);
 * for lists, cli_list_begin() iterates. Called with r already out of the
 * table; r is freed after the call. */
typedef void cli_reply_fn(struct client *cl, struct cli_req *r, uint16_t op,
			  const void *msg);

struct cli_req {
	struct cli_req *next;
	struct client  *cl;
	uint32_t        wire_id;	/* id of the last send; 0 = not sent */
	uint16_t        op;
	unsigned        flags;
	struct buf      frame;		/* header (id patched per send) +
					   payload; client_id/seq inside */
	struct timer   *retry;		/* re-send after NO_PRIMARY & co. */
	cli_reply_fn   *on_reply;
	uint64_t        arg;
	uint64_t        first_unavail;	/* first UNAVAILABLE answer, ms */
	uint64_t        sent_at;	/* when wire_id was sent, ms */
};

/* A new request for op with msg (struct wire_<op>); mutating requests get
 * client_id and the next seq filled in here. Not queued yet. */
struct cli_req *cli_req_new(struct client *cl, uint16_t op, void *msg,
			    unsigned flags, cli_reply_fn *fn);
/* Same for a message with a list: items are added with wire_encode_item
 * on *e, then cli_req_end(e). */
struct cli_req *cli_req_begin(struct client *cl, uint16_t op, void *msg,
			      unsigned flags, cli_reply_fn *fn,
			      struct wire_enc *e);
void cli_req_end(struct wire_enc *e);
/* Queue r; it is sent at once when the connection allows. */
void cli_req_submit(struct client *cl, struct cli_req *r);
/* User requests waiting for an answer. */
unsigned cli_pending_user(const struct client *cl);

void cli_conn_start(struct client *cl);
void cli_conn_shutdown(struct client *cl);
/* Session setup finished (or not needed): user requests may flow. */
void cli_conn_ready(struct client *cl);
/* Start iterating the list of a decoded response. */
void cli_list_begin(struct wire_list_iter *it, uint16_t op,
		    const struct wire_list *l);

/* ---- session.c: login state, pushes, catch-up --------------------------- */

void cli_session_set(struct client *cl, const struct wire_SESSION *s);
void cli_session_clear(struct client *cl);
/* After STATUS/REPLICAS on a new connection: RESUME if logged in, then
 * ready. */
void cli_session_restore(struct client *cl);
/* The connection is ready: fetch what was missed while it was down. */
void cli_session_catch_up(struct client *cl);
void cli_session_lost(struct client *cl);	/* the connection went down */
void cli_on_push(struct client *cl, uint16_t op, const void *msg);
/* Print a message shown by an explicit command (marks it shown). */
void cli_show_msg(struct client *cl, const struct wire_item_MSG *m,
		  int mark_read);

/* ---- command handlers: account.c, messages.c, drafts.c, general.c ------- */

void cli_run_register(struct client *cl, const struct cli_args *a);
/* --user: run /login user [password] as the first command; a failure
 * ends the client (status 1). password NULL: asked for. */
void cli_auto_login(struct client *cl, const char *user,
		    const char *password);
void cli_run_login(struct client *cl, const struct cli_args *a);
void cli_run_logout(struct client *cl, const struct cli_args *a);
void cli_run_users(struct client *cl, const struct cli_args *a);
void cli_run_msg(struct client *cl, const struct cli_args *a);
void cli_run_inbox(struct client *cl, const struct cli_args *a);
void cli_run_read(struct client *cl, const struct cli_args *a);
void cli_run_history(struct client *cl, const struct cli_args *a);
void cli_run_replay(struct client *cl, const struct cli_args *a);
void cli_run_delete(struct client *cl, const struct cli_args *a);
void cli_run_draft(struct client *cl, const struct cli_args *a);
void cli_run_drafts(struct client *cl, const struct cli_args *a);
void cli_run_send_draft(struct client *cl, const struct cli_args *a);
void cli_run_drop_draft(struct client *cl, const struct cli_args *a);
void cli_run_delete_account(struct client *cl, const struct cli_args *a);
void cli_run_status(struct client *cl, const struct cli_args *a);
void cli_run_help(struct client *cl, const struct cli_args *a);
void cli_run_quit(struct client *cl, const struct cli_args *a);

/* ---- job.c: the one command in progress --------------------------------- */

struct cli_job;
typedef void cli_input_fn(struct client *cl, const char *line);

struct cli_job {
	const struct cli_cmd *cmd;	/* NULL: no command running */
	/* Waiting for a line typed by the user (password, full name). */
	cli_input_fn *want_input;
	const char   *ask;		/* its prompt */
	int           secret;
	int           ends_session;	/* LOGOUT/DELETE_ACCOUNT in flight */

	char     user[CHAT_MAX_USERNAME + 1];
	char     fullname[CHAT_MAX_FULLNAME + 1];
	char     password[CHAT_MAX_PASSWORD + 1];
	char     password2[CHAT_MAX_PASSWORD + 1];
	uint64_t id;
	unsigned want, got;		/* /read, /history counts */
	uint64_t before_id;		/* /history, /replay paging */
	double   speed;			/* /replay */
	struct wire_item_MSG *msgs;	/* /history, /replay: oldest first */
	unsigned nmsgs, cap;
	unsigned next;			/* /replay: next to print */
	struct timer *timer;		/* /replay pause */
};

/* Start running one input line as a command. */
void cli_job_exec(struct client *cl, const char *line);
/* A line typed for want_input. */
void cli_job_input(struct client *cl, const char *line);
/* The command finished; ok = 0 when it printed an error. */
void cli_job_done(struct client *cl, int ok);
/* Print "error: ..." and finish the command as failed. */
void cli_job_fail(struct client *cl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The usual failure for an unexpected answer (ERROR or other). */
void cli_job_fail_reply(struct client *cl, uint16_t op, const void *msg);
/* Stop whatever runs (quit): timers, buffers. */
void cli_job_abort(struct client *cl);

/* Helpers for the handlers. Those returning int return 1 when all is
 * well, else 0 after failing the command with a message. */
/* Wait for a line from the user (prompt shown on a terminal); fn gets it. */
void cli_ask(struct client *cl, const char *prompt, int secret,
	     cli_input_fn *fn);
/* Check s with a validator of commands.c. */
int  cli_check(struct client *cl, int (*fn)(const char *, char *, size_t),
	       const char *s);
/* Send a command's request (CLI_REQ_USER). */
void cli_submit(struct client *cl, uint16_t op, void *msg, cli_reply_fn *fn);
/* A user's argument for an error message: escaped, cut at 40 bytes
 * (a few static buffers: use at most four in one call). */
const char *cli_esc(const char *s);
/* Bounded string copy; the caller has checked the length. */
void cli_copy(char *dst, size_t n, const char *src);
/* messages.c: print a MESSAGES page (returns its count); READ the next
 * batch of what job.want still allows. */
unsigned cli_show_page(struct client *cl, const struct wire_MESSAGES *m,
		       int mark_read);
void cli_read_next(struct client *cl, cli_reply_fn *fn);
/* Stdin ended (input.c). */
void cli_input_eof(struct client *cl);

/* ---- the client --------------------------------------------------------- */

struct cli_line {
	struct cli_line *next;
	char             text[];
};

struct client {
	struct loop   *loop;
	struct config  cfg;
	int            verbose;
	/* An in-flight request unanswered this long means the connection
	 * is broken (--request-timeout; default 2 x client_timeout_ms). */
	unsigned       req_timeout_ms;
	unsigned       strays;		/* answers to no request, this conn */
	int            auto_login;	/* the --user login is running */
	uint64_t       client_id;	/* random, non-zero, per process */
	uint64_t       seq;		/* last seq used */
	uint32_t       next_wire_id;
	uint64_t       rng;		/* xorshift state for jitter */

	/* Replicas: from the config, then from REPLICAS. */
	struct replica_addr reps[CONFIG_MAX_REPLICAS];
	unsigned       nreps;

	/* The connection. */
	struct conn   *conn;
	enum cli_state state;
	uint32_t       rid;		/* replica we talk to (0 = unknown) */
	int            idx;		/* its index in reps, -1 = redirect */
	int            redir_from;	/* index to go on from after one */
	int            redirect;	/* next attempt goes to redir_* */
	char           redir_host[CHAT_MAX_HOST + 1];
	uint16_t       redir_port;
	uint32_t       redir_id;
	unsigned       round_tried;	/* attempts in this round */
	unsigned       rounds_failed;	/* rounds in a row that failed */
	unsigned       backoff_ms;
	unsigned       hops;		/* redirects in a row */
	struct timer  *attempt_timer;
	struct timer  *tick;
	uint64_t       last_rx, last_ping, up_since, np_since;
	int            was_lost;	/* say "reconnected" next time */
	int            got_status, got_replicas;
	unsigned       role;
	uint64_t       epoch;
	uint32_t       primary_id;
	char           close_note[CHAT_MAX_ERRTEXT * 2 + 1];

	/* Requests in send order. */
	struct cli_req *reqs;

	/* Session. */
	int            logged_in;
	uint8_t        token[CHAT_TOKEN_BYTES];
	char           user[CHAT_MAX_USERNAME + 1];
	int            catching_up;	/* a gap in the pushes to fill */
	int            fetching;	/* a catch-up FETCH is in flight */
	struct cli_shown shown;

	/* Input and the command in progress. */
	struct watch    *stdin_watch;
	struct cli_line *inq, *inq_tail;
	int              eof;		/* no more input will come */
	int              quitting;	/* /quit, Ctrl-C, or EOF done */
	int              pumping;	/* cli_pump is on the stack */
	int              failed;	/* a command failed: exit 1 */
	int              done;		/* leave the loop */
	int              exit_code;
	struct timer    *quit_timer;
	struct cli_job   job;
};

/* input.c: the input queue, one command at a time, quitting. */

/* Take the next input line if no command is running. */
void cli_pump(struct client *cl);
/* Queue a line of input. */
void cli_input_line(struct client *cl, const char *line);
/* The prompt for the current state. */
void cli_update_prompt(struct client *cl);
/* Check whether the client may exit now (quitting and nothing pending). */
void cli_check_exit(struct client *cl);
/* Ctrl-C / SIGINT: quit (a second time: at once). */
void cli_interrupt(struct client *cl);
/* A command made progress: the 30 s quit bound starts again. */
void cli_progress(struct client *cl);
/* Free the input queue and the quit timer (at exit). */
void cli_input_free(struct client *cl);
uint64_t cli_random(struct client *cl);

#endif
