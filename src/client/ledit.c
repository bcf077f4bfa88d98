/*
 * ledit.c — the line editor behind the interactive prompt, as a pure state
 * machine: bytes in, events out. term.c owns the terminal and draws; this
 * file only decides what a key does, so its behaviour is unit-tested.
 *
 * The cursor is always at the end of the line: typing appends, Backspace
 * removes the last code point (all bytes of a UTF-8 sequence), Ctrl-U
 * clears the line, Ctrl-W removes the last word, Enter completes the line,
 * Ctrl-D on an empty line is end of input, Ctrl-C is quit. Escape
 * sequences (arrow keys, ...) are swallowed whole so they never end up as
 * text. Other control bytes are ignored; a tab becomes a space.
 */
#include <string.h>
#include "client.h"

#define CTRL(c) ((c) & 0x1f)

void
cli_ledit_reset(struct cli_ledit *e)
{
	e->len = 0;
	e->buf[0] = '\0';
	e->esc = 0;
}

size_t
cli_utf8_cols(const char *s, size_t n)
{
	size_t cols = 0, i;

	for (i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			cols++;
	return cols;
}

/* Drop the last code point: continuation bytes, then their lead byte. */
static int
erase_char(struct cli_ledit *e)
{
	if (e->len == 0)
		return CLI_LE_BELL;
	while (e->len > 0 && ((unsigned char)e->buf[e->len - 1] & 0xC0) == 0x80)
		e->len--;
	if (e->len > 0)
		e->len--;
	e->buf[e->len] = '\0';
	return CLI_LE_CHANGED;
}

/* Ctrl-W: trailing spaces, then the word before them. */
static int
erase_word(struct cli_ledit *e)
{
	if (e->len == 0)
		return CLI_LE_BELL;
	while (e->len > 0 && e->buf[e->len - 1] == ' ')
		e->len--;
	while (e->len > 0 && e->buf[e->len - 1] != ' ')
		e->len--;
	e->buf[e->len] = '\0';
	return CLI_LE_CHANGED;
}

static int
insert(struct cli_ledit *e, unsigned char c)
{
	if (e->len >= CLI_EDIT_MAX)
		return CLI_LE_BELL;
	e->buf[e->len++] = (char)c;
	e->buf[e->len] = '\0';
	/* Only a complete character changes what is drawn. */
	if (c >= 0x80 && (c & 0xC0) == 0xC0)
		return CLI_LE_NONE;
	return CLI_LE_CHANGED;
}

/* Inside an escape sequence: 1 after ESC, 2 in CSI ("ESC [") or SS3
 * ("ESC O") until its final byte (0x40..0x7e). */
static int
escape(struct cli_ledit *e, unsigned char c)
{
	if (e->esc == 1) {
		e->esc = (c == '[' || c == 'O') ? 2 : 0;
		return CLI_LE_NONE;
	}
	if (c >= 0x40 && c <= 0x7e)
		e->esc = 0;
	return CLI_LE_NONE;
}

int
cli_ledit_feed(struct cli_ledit *e, unsigned char c, char *line,
	       size_t linesz)
{
	if (e->esc)
		return escape(e, c);
	switch (c) {
	case '\r':
	case '\n':
		if (linesz > 0) {
			size_t n = e->len < linesz - 1 ? e->len : linesz - 1;
			memcpy(line, e->buf, n);
			line[n] = '\0';
		}
		cli_ledit_reset(e);
		return CLI_LE_LINE;
	case 0x7f:
	case CTRL('H'):
		return erase_char(e);
	case CTRL('U'):
		if (e->len == 0)
			return CLI_LE_NONE;
		cli_ledit_reset(e);
		return CLI_LE_CHANGED;
	case CTRL('W'):
		return erase_word(e);
	case CTRL('D'):
		return e->len == 0 ? CLI_LE_EOF : CLI_LE_BELL;
	case CTRL('C'):
		return CLI_LE_INTR;
	case CTRL('L'):
		return CLI_LE_CHANGED;	/* redraw */
	case 0x1b:
		e->esc = 1;
		return CLI_LE_NONE;
	case '\t':
		return insert(e, ' ');
	default:
		if (c < 0x20)
			return CLI_LE_NONE;
		return insert(e, c);
	}
}
