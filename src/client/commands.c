/*
 * commands.c — the command vocabulary (one table), the line parser and
 * the argument validators. Nothing here does I/O: a parsed line goes to
 * the handler named in the table; job.c refuses a command flagged
 * CLI_CMD_LOGIN before its handler runs when nobody is logged in, and
 * /help (general.c) prints the same table.
 *
 * Arguments are words separated by blanks; no quoting. A command whose
 * last argument is free text (rest_after > 0) takes everything after its
 * first rest_after words verbatim, inner and trailing blanks included, so
 * "/msg bob  two  spaces" sends " two  spaces" minus the leading blanks.
 *
 * Limits are checked here before anything is encoded: the encoder aborts
 * on out-of-range values by design (a violation is a caller bug), and the
 * user deserves a precise message rather than a server round trip.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "client.h"

const struct cli_cmd cli_cmds[] = {
	{ "register", 1, 3, 2, "/register USER [PASSWORD [FULL NAME...]]",
	  "create an account (asks for the full name and password on a "
	  "terminal)", cli_run_register, 0 },
	{ "login", 1, 2, 0, "/login USER [PASSWORD]",
	  "log in (asks for the password if not given)", cli_run_login, 0 },
	{ "logout", 0, 0, 0, "/logout",
	  "log out (ends all of your sessions)", cli_run_logout,
	  CLI_CMD_LOGIN },
	{ "users", 0, 2, 0, "/users [PATTERN] [PAGE]",
	  "list users whose name matches PATTERN (* and ?), 100 a page",
	  cli_run_users, CLI_CMD_LOGIN },
	{ "msg", 2, 2, 1, "/msg USER TEXT...",
	  "send the rest of the line to USER", cli_run_msg, CLI_CMD_LOGIN },
	{ "inbox", 0, 0, 0, "/inbox",
	  "count your unread and received messages", cli_run_inbox,
	  CLI_CMD_LOGIN },
	{ "read", 0, 1, 0, "/read [N]",
	  "show your N oldest unread messages (default 10) and mark them read",
	  cli_run_read, CLI_CMD_LOGIN },
	{ "history", 1, 2, 0, "/history USER [N]",
	  "show the last N messages between you and USER (default 20)",
	  cli_run_history, CLI_CMD_LOGIN },
	{ "replay", 1, 2, 0, "/replay USER [SPEED]",
	  "replay the conversation with USER, SPEED times faster than it "
	  "happened (default 10)", cli_run_replay, CLI_CMD_LOGIN },
	{ "delete", 1, CHAT_MAX_IDS, 0, "/delete ID...",
	  "delete messages from your view", cli_run_delete, CLI_CMD_LOGIN },
	{ "draft", 2, 2, 1, "/draft USER TEXT...",
	  "save the rest of the line as a draft to USER", cli_run_draft,
	  CLI_CMD_LOGIN },
	{ "drafts", 0, 0, 0, "/drafts",
	  "list your drafts", cli_run_drafts, CLI_CMD_LOGIN },
	{ "send-draft", 1, 1, 0, "/send-draft ID|all",
	  "send one draft, or all of them", cli_run_send_draft, CLI_CMD_LOGIN },
	{ "drop-draft", 1, 1, 0, "/drop-draft ID",
	  "discard a draft", cli_run_drop_draft, CLI_CMD_LOGIN },
	{ "delete-account", 0, 1, 0, "/delete-account [PASSWORD]",
	  "show your unread messages, then delete your account",
	  cli_run_delete_account, CLI_CMD_LOGIN },
	{ "status", 0, 0, 0, "/status",
	  "show the state of the replica you are connected to",
	  cli_run_status, 0 },
	{ "help", 0, 1, 0, "/help [COMMAND]",
	  "list the commands, or explain one", cli_run_help, 0 },
	{ "quit", 0, 0, 0, "/quit",
	  "exit once the answers still expected have arrived", cli_run_quit, 0 },
};
const unsigned cli_ncmds = sizeof cli_cmds / sizeof cli_cmds[0];

const struct cli_cmd *
cli_cmd_find(const char *name)
{
	unsigned i;

	if (name[0] == '/')
		name++;
	for (i = 0; i < cli_ncmds; i++)
		if (strcmp(cli_cmds[i].name, name) == 0)
			return &cli_cmds[i];
	return NULL;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static char *
skip_blanks(char *p)
{
	while (is_blank(*p))
		p++;
	return p;
}

static void
unknown(const char *word, char *err, size_t errlen)
{
	char shown[64];

	cli_escape(shown, sizeof shown, word, strnlen(word, 40), 0);
	snprintf(err, errlen, "unknown command '%s%s' (try /help)", shown,
	    strlen(word) > 40 ? "..." : "");
}

int
cli_parse(const char *line, struct cli_args *a, char *err, size_t errlen)
{
	size_t n = strlen(line);
	char *p, *word;

	a->cmd = NULL;
	a->argc = 0;
	if (n > CLI_INPUT_MAX) {
		snprintf(err, errlen, "line too long (max %d bytes)",
		    CLI_INPUT_MAX);
		return CLI_PARSE_ERROR;
	}
	memcpy(a->store, line, n + 1);
	p = skip_blanks(a->store);
	if (*p == '\0')
		return CLI_PARSE_EMPTY;
	word = p;
	while (*p != '\0' && !is_blank(*p))
		p++;
	if (*p != '\0')
		*p++ = '\0';
	if (word[0] != '/' || (a->cmd = cli_cmd_find(word)) == NULL) {
		unknown(word, err, errlen);
		return CLI_PARSE_ERROR;
	}
	for (;;) {
		p = skip_blanks(p);
		if (*p == '\0')
			break;
		if (a->argc >= a->cmd->max || a->argc >= CLI_MAX_ARGS)
			goto usage;
		a->argv[a->argc++] = p;
		if (a->cmd->rest_after > 0 && a->argc == a->cmd->rest_after + 1)
			break;		/* the rest of the line, verbatim */
		while (*p != '\0' && !is_blank(*p))
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	if (a->argc < a->cmd->min)
		goto usage;
	return CLI_PARSE_OK;
usage:
	snprintf(err, errlen, "usage: %s", a->cmd->usage);
	return CLI_PARSE_ERROR;
}

/* ---- validators --------------------------------------------------------- */

int
cli_check_username(const char *s, char *err, size_t errlen)
{
	size_t n = strlen(s), i;
	char shown[48];

	for (i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			break;
	}
	if (n >= 1 && n <= CHAT_MAX_USERNAME && i == n)
		return 0;
	cli_escape(shown, sizeof shown, s, strnlen(s, 40), 0);
	snprintf(err, errlen, "bad user name '%s%s' (1-%d of A-Z a-z 0-9 . _ -)",
	    shown, n > 40 ? "..." : "", CHAT_MAX_USERNAME);
	return -1;
}

/* Length limits and UTF-8 for a text field called what. */
static int
check_text(const char *s, size_t min, size_t max, const char *what,
	   char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n < min) {
		snprintf(err, errlen, "empty %s", what);
		return -1;
	}
	if (n > max) {
		snprintf(err, errlen, "%s too long (%zu bytes, max %zu)", what, n,
		    max);
		return -1;
	}
	if (!wire_utf8_valid((const uint8_t *)s, n)) {
		snprintf(err, errlen, "%s is not valid UTF-8", what);
		return -1;
	}
	return 0;
}

int
cli_check_password(const char *s, char *err, size_t errlen)
{
	return check_text(s, 1, CHAT_MAX_PASSWORD, "password", err, errlen);
}

int
cli_check_fullname(const char *s, char *err, size_t errlen)
{
	return check_text(s, 0, CHAT_MAX_FULLNAME, "full name", err, errlen);
}

int
cli_check_body(const char *s, char *err, size_t errlen)
{
	return check_text(s, 1, CHAT_MAX_BODY, "message", err, errlen);
}

int
cli_check_pattern(const char *s, char *err, size_t errlen)
{
	return check_text(s, 0, CHAT_MAX_PATTERN, "pattern", err, errlen);
}

int
cli_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p;

	if (*s == '\0')
		return -1;
	for (p = s; *p != '\0'; p++) {
		unsigned d;

		if (*p < '0' || *p > '9')
			return -1;
		d = (unsigned)(*p - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int
cli_parse_id(const char *s, uint64_t *out)
{
	if (*s == '#')
		s++;
	return cli_parse_uint(s, 1, UINT64_MAX, out);
}

int
cli_parse_speed(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !isfinite(v) ||
	    v <= 0 || v > 1e6)
		return -1;
	*out = v;
	return 0;
}
