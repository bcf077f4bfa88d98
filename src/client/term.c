/*
 * term.c — the terminal: raw mode, prompt, drawing, reading lines.
 *
 * On a terminal the kernel's line discipline would echo and edit input
 * itself, and a message arriving while the user types would land in the
 * middle of the typed text. So the terminal goes into non-canonical,
 * no-echo mode, ledit.c edits the line, and every output line is written
 * as "\r\033[K" (back to column 0, clear the row) + the line + newline,
 * followed by the prompt and the partial input again. Long input scrolls
 * horizontally (only its tail is drawn) so the input always fits on the
 * one row that "\033[K" clears.
 *
 * Not on a terminal, input is split into lines and output is plain lines.
 * Everything goes through write(2) on fd 1 in one call per event, so
 * output order is exactly event order even when stdout is a pipe.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "client.h"

/* A pasted or piped line longer than this is cut (and then refused by
 * the parser as too long). */
#define PARTIAL_MAX (1u << 20)

static struct {
	int            raw;		/* terminal in raw mode, editor active */
	int            saved_ok;	/* saved holds the original settings */
	struct termios saved;
	int            changed;		/* we changed the settings */
	int            echo_off;	/* line mode: echo turned off */
	char           prompt[128];
	int            secret;
	struct cli_ledit ed;
	struct buf     partial;		/* line mode: bytes of an unfinished line */
	int            color;		/* colour errors and notices */
} T;

/* SGR colours by kind of line; the kinds are the documented prefixes of
 * the output contract (chat(1) OUTPUT), so colour never changes a byte
 * of the text itself. */
#define SGR_ERROR  "\033[1;31m"	/* bold red */
#define SGR_NOTICE "\033[36m"	/* cyan */
#define SGR_RESET  "\033[0m"

static const char *
line_color(const char *line)
{
	if (strncmp(line, "error: ", 7) == 0)
		return SGR_ERROR;
	if (strncmp(line, CLI_NOTICE_MARK, strlen(CLI_NOTICE_MARK)) == 0)
		return SGR_NOTICE;
	return NULL;
}

/* write(2) all of it; waits if stdout is non-blocking and full. */
static void
write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(STDOUT_FILENO, p, n);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k < 0 && errno == EINTR) {
			continue;
		} else if (k < 0 && errno == EAGAIN) {
			struct pollfd pfd = { STDOUT_FILENO, POLLOUT, 0 };
			(void)poll(&pfd, 1, 1000);
		} else {
			return;		/* stdout gone: nothing to do */
		}
	}
}

static unsigned
term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Append the prompt and the visible tail of the input to b. */
static void
append_prompt(struct buf *b)
{
	size_t plen = strlen(T.prompt);
	size_t pcols = cli_utf8_cols(T.prompt, plen);
	unsigned cols = term_cols();
	size_t avail, start = 0;

	buf_append(b, "\r\033[K", 4);
	buf_append(b, T.prompt, plen);
	if (T.secret)
		return;
	avail = cols > pcols + 2 ? cols - pcols - 2 : 1;
	/* Drop whole code points from the front until the rest fits. */
	while (cli_utf8_cols(T.ed.buf + start, T.ed.len - start) > avail) {
		start++;
		while (start < T.ed.len &&
		    ((unsigned char)T.ed.buf[start] & 0xC0) == 0x80)
			start++;
	}
	buf_append(b, T.ed.buf + start, T.ed.len - start);
}

static void
flush_buf(struct buf *b)
{
	write_all((const char *)buf_head(b), buf_pending(b));
	buf_free(b);
}

int
cli_term_is_tty(void)
{
	return T.raw;
}

int
cli_term_init(int tty)
{
	struct termios t;
	int color;

	color = T.color;
	memset(&T, 0, sizeof T);
	T.color = color;
	buf_init(&T.partial);
	cli_ledit_reset(&T.ed);
	if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &T.saved) == 0)
		T.saved_ok = 1;
	if (!tty || !T.saved_ok)
		return 0;
	t = T.saved;
	/* Bytes one at a time, no echo, no signals from keys (Ctrl-C is
	 * read as a byte and means quit), no CR->NL or flow control. Output
	 * processing stays on, so "\n" still moves to column 0. */
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ISIG | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IXON);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0)
		return -1;
	T.raw = 1;
	T.changed = 1;
	return 0;
}

void
cli_term_restore(void)
{
	if (T.raw) {
		write_all("\r\033[K", 4);	/* the prompt goes away */
		T.raw = 0;
	}
	if (T.saved_ok && T.changed)
		(void)tcsetattr(STDIN_FILENO, TCSANOW, &T.saved);
	T.changed = 0;
	T.echo_off = 0;
	buf_free(&T.partial);
}

void
cli_term_echo(int on)
{
	struct termios t;

	if (T.raw || !T.saved_ok || on == !T.echo_off)
		return;
	t = T.saved;
	if (!on)
		t.c_lflag &= ~(tcflag_t)ECHO;
	(void)tcsetattr(STDIN_FILENO, TCSANOW, &t);
	T.changed = 1;
	T.echo_off = !on;
	if (on)
		write_all("\n", 1);	/* the Enter the user typed was not shown */
}

void
cli_term_prompt(const char *prompt, int secret)
{
	if (strcmp(prompt, T.prompt) == 0 && secret == T.secret)
		return;
	snprintf(T.prompt, sizeof T.prompt, "%s", prompt);
	T.secret = secret;
	cli_term_redraw();
}

void
cli_term_redraw(void)
{
	struct buf b;

	if (!T.raw)
		return;
	buf_init(&b);
	append_prompt(&b);
	flush_buf(&b);
}

void
cli_term_set_color(int on)
{
	T.color = on;
}

void
cli_term_print(const char *line)
{
	const char *sgr = T.color ? line_color(line) : NULL;
	struct buf b;

	buf_init(&b);
	if (T.raw)
		buf_append(&b, "\r\033[K", 4);
	if (sgr)
		buf_append(&b, sgr, strlen(sgr));
	buf_append(&b, line, strlen(line));
	if (sgr)
		buf_append(&b, SGR_RESET, strlen(SGR_RESET));
	buf_append(&b, "\n", 1);
	if (T.raw)
		append_prompt(&b);
	flush_buf(&b);
}

void
cli_print(const char *fmt, ...)
{
	static char line[CLI_LINE_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	cli_term_print(line);
}

void
cli_notice(const char *fmt, ...)
{
	static char line[CLI_LINE_MAX];
	size_t k = strlen(CLI_NOTICE_MARK);
	va_list ap;

	memcpy(line, CLI_NOTICE_MARK, k);
	va_start(ap, fmt);
	vsnprintf(line + k, sizeof line - k, fmt, ap);
	va_end(ap);
	cli_term_print(line);
}

/* Editor mode: one byte at a time through ledit. */
static int
feed_raw(const uint8_t *p, size_t n,
	 void (*on_line)(void *ud, const char *line), void *ud)
{
	static char line[CLI_EDIT_MAX + 1];
	size_t i;

	for (i = 0; i < n; i++) {
		switch (cli_ledit_feed(&T.ed, p[i], line, sizeof line)) {
		case CLI_LE_CHANGED:
			cli_term_redraw();
			break;
		case CLI_LE_LINE:
			/* Leave the typed line on screen (not a secret). */
			if (T.secret)
				write_all("\r\033[K", 4);
			else
				write_all("\n", 1);
			on_line(ud, line);
			cli_term_redraw();
			break;
		case CLI_LE_EOF:
			return CLI_LE_EOF;
		case CLI_LE_INTR:
			return CLI_LE_INTR;
		case CLI_LE_BELL:
			write_all("\a", 1);
			break;
		default:
			break;
		}
	}
	return 0;
}

/* Deliver the line in T.partial (without its newline / CR). */
static void
deliver_partial(void (*on_line)(void *ud, const char *line), void *ud)
{
	size_t n = buf_pending(&T.partial);
	char *s;

	if (n > 0 && buf_head(&T.partial)[n - 1] == '\r')
		n--;
	s = malloc(n + 1);
	if (s == NULL)
		abort();
	memcpy(s, buf_head(&T.partial), n);
	s[n] = '\0';
	buf_reset(&T.partial);
	on_line(ud, s);
	free(s);
}

int
cli_term_feed(const uint8_t *p, size_t n,
	      void (*on_line)(void *ud, const char *line), void *ud)
{
	size_t i, start = 0;

	if (T.raw)
		return feed_raw(p, n, on_line, ud);
	for (i = 0; i <= n; i++) {
		size_t len = i - start, room;

		if (i < n && p[i] != '\n')
			continue;
		room = PARTIAL_MAX - buf_pending(&T.partial);
		if (len > room)
			len = room;	/* cut; the parser refuses it */
		buf_append(&T.partial, p + start, len);
		if (i < n)
			deliver_partial(on_line, ud);
		start = i + 1;
	}
	return 0;
}

void
cli_term_eof(void (*on_line)(void *ud, const char *line), void *ud)
{
	if (!T.raw && buf_pending(&T.partial) > 0)
		deliver_partial(on_line, ud);
}
