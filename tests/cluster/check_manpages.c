/*
 * check_manpages.c — the manual pages describe the programs that exist,
 * and all of them, in both directions:
 *
 *   - for each program of the table documented[] (chatd, chat, wirefuzz, chatctl),
 *     every option its --help prints is in the OPTIONS section of its
 *     page, and every option the page names (.Fl, anywhere in it) is one
 *     that --help prints;
 *   - every setting of the settings table (config_print_settings) has an
 *     entry in the SETTINGS section of replicas.conf(5) that gives its
 *     range and default, and every entry there is a setting;
 *   - every command the client knows (its /help, run through ./chat with
 *     a pipe for stdin) has an entry in the COMMANDS section of chat(1)
 *     that names each of its arguments, and every entry is a command;
 *   - every page of man/ has the sections its kind needs, and lints clean
 *     under mandoc -Tlint and groff -ww (what man -l runs), those of the
 *     two that are installed.
 *
 * The pages are read from $MAN_DIR when it is set, else from man/ (the
 * tests run from the repository root); the binaries from $CHATD_BIN_DIR,
 * else build/. Programs run by fork/exec with pipes and a deadline. No
 * replica is started: /help needs no server, and the client's config
 * names a loopback port held bound (not listening) by this test, so its
 * connection attempts are refused at once.
 */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "config.h"
#include "h_check.h"
#include "h_run.h"

#define RUN_MS    10000		/* bound on one program run */
#define MAX_ITEMS 128		/* options, settings or commands of a page */
#define ITEM_MAX  128

struct list {
	char     s[MAX_ITEMS][ITEM_MAX];
	unsigned n;
};

/* ---- helpers ----------------------------------------------------------- */

static const char *
man_dir(void)
{
	const char *d = getenv("MAN_DIR");

	return d && *d ? d : "man";
}

static void
list_add(struct list *l, const char *s, size_t n)
{
	unsigned i;

	ck_assert_msg(n > 0 && n < ITEM_MAX, "item too long: %.*s", (int)n, s);
	for (i = 0; i < l->n; i++)
		if (strlen(l->s[i]) == n && memcmp(l->s[i], s, n) == 0)
			return;
	ck_assert_msg(l->n < MAX_ITEMS, "too many items");
	memcpy(l->s[l->n], s, n);
	l->s[l->n][n] = '\0';
	l->n++;
}

static int
list_has(const struct list *l, const char *s)
{
	unsigned i;

	for (i = 0; i < l->n; i++)
		if (strcmp(l->s[i], s) == 0)
			return 1;
	return 0;
}

/* The whole of a file, NUL-terminated (caller frees). */
static char *
read_text(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, k;

	ck_assert_msg(f != NULL, "cannot open %s: %s (set MAN_DIR?)", path,
	    strerror(errno));
	do {
		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			ck_assert_ptr_nonnull(buf);
		}
		k = fread(buf + len, 1, cap - len, f);
		len += k;
	} while (k > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static char *
read_page(const char *name)
{
	char path[1024];

	snprintf(path, sizeof path, "%s/%s", man_dir(), name);
	return read_text(path);
}

/* "PROG --help" from the build directory; its output (caller frees). */
static char *
help_of(const char *prog)
{
	char path[1024], *out;
	const char *argv[] = { path, "--help", NULL };

	h_bin_path(prog, path, sizeof path);
	ck_assert_msg(h_run(path, argv, NULL, &out, NULL, RUN_MS) == 0,
	    "%s --help failed", path);
	return out;
}

/*
 * Options in --help text: "-x" or "--long-name" as a word of its own
 * (after a blank, '[', '|', ',' or '(').
 */
static void
help_options(const char *text, struct list *l)
{
	const char *p;

	for (p = text; *p != '\0'; p++) {
		size_t n = 0;

		if (*p != '-' || (p > text && strchr(" \t\n[|,(", p[-1]) == NULL))
			continue;
		while (isalnum((unsigned char)p[n]) || p[n] == '-')
			n++;
		if ((n == 2 && isalnum((unsigned char)p[1])) ||
		    (n > 2 && p[1] == '-' && isalpha((unsigned char)p[2])))
			list_add(l, p, n);
		p += n ? n - 1 : 0;
	}
	ck_assert_msg(l->n > 0, "no options found in --help");
}

/*
 * The section ".Sh NAME" of a page: from its heading up to the next one
 * (caller frees).
 */
static char *
section(const char *page, const char *name)
{
	char head[128];
	const char *s, *e;
	size_t n;

	n = (size_t)snprintf(head, sizeof head, ".Sh %s\n", name);
	for (s = page; (s = strstr(s, head)) != NULL; s += n)
		if (s == page || s[-1] == '\n')
			break;
	ck_assert_msg(s != NULL, "no section %s", name);
	e = strstr(s + n, "\n.Sh ");
	if (e == NULL)
		e = s + strlen(s);
	return strndup(s, (size_t)(e - s) + 1);
}

/* Words of one line: blanks separate, "\&" vanishes, "\-" is '-'. */
static unsigned
words(const char *line, char w[][ITEM_MAX], unsigned max)
{
	unsigned n = 0;
	size_t k = 0;
	const char *p;

	for (p = line;; p++) {
		if (*p == '\0' || *p == '\n' || *p == ' ' || *p == '\t') {
			if (k > 0 && n < max) {
				w[n][k] = '\0';
				n++;
			}
			k = 0;
			if (*p == '\0' || *p == '\n')
				return n;
			continue;
		}
		if (p[0] == '\\' && p[1] == '&') {
			p++;
			continue;
		}
		if (p[0] == '\\' && p[1] == '-')
			p++;
		if (n < max && k < ITEM_MAX - 1)
			w[n][k++] = *p;
	}
}

/* Options a page names: "-" plus the word after each "Fl" of a macro line. */
static void
page_options(const char *text, struct list *l)
{
	const char *line;

	for (line = text; line != NULL && *line != '\0';
	    line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		char w[32][ITEM_MAX], opt[ITEM_MAX + 1];
		unsigned n, i;

		if (*line != '.')
			continue;
		n = words(line, w, 32);
		for (i = 0; i + 1 < n; i++)
			if (strcmp(w[i], "Fl") == 0 || strcmp(w[i], ".Fl") == 0) {
				snprintf(opt, sizeof opt, "-%s", w[i + 1]);
				list_add(l, opt, strlen(opt));
			}
	}
}

static void
check_options(const char *prog, const char *page_name)
{
	struct list help = { .n = 0 }, opts = { .n = 0 }, all = { .n = 0 };
	char *text = help_of(prog), *page = read_page(page_name);
	char *sec = section(page, "OPTIONS");
	unsigned i;

	help_options(text, &help);
	page_options(sec, &opts);
	page_options(page, &all);
	for (i = 0; i < help.n; i++)
		ck_assert_msg(list_has(&opts, help.s[i]),
		    "%s --help has %s; the OPTIONS of %s do not", prog,
		    help.s[i], page_name);
	for (i = 0; i < all.n; i++)
		ck_assert_msg(list_has(&help, all.s[i]),
		    "%s names option %s; %s --help does not", page_name,
		    all.s[i], prog);
	free(sec);
	free(page);
	free(text);
}

/* ---- options ----------------------------------------------------------- */

/*
 * Each program with a page: its --help and the page's OPTIONS must name
 * the same options. A program joins by one row here (path under the
 * binaries' directory, page under man/).
 */
static const struct {
	const char *prog, *page;
} documented[] = {
	{ "chatd",          "chatd.8" },
	{ "chat",           "chat.1" },
	{ "tools/wirefuzz", "wirefuzz.1" },
	{ "tools/chatctl",  "chatctl.8" },
};

START_TEST(test_options)
{
	check_options(documented[_i].prog, documented[_i].page);
}
END_TEST

/* ---- settings ---------------------------------------------------------- */

/* "name range default doc" lines of the settings table. */
struct setting_row {
	char name[64], range[64], def[64];
};

static unsigned
table_settings(struct setting_row *rows, unsigned max)
{
	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	unsigned n = 0;
	FILE *f = open_memstream(&text, &len);

	ck_assert_ptr_nonnull(f);
	config_print_settings(f);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_uint_lt(n, max);
		ck_assert_msg(sscanf(line, "%63s %63s %63s", rows[n].name,
		    rows[n].range, rows[n].def) == 3, "bad line: %s", line);
		n++;
	}
	free(text);
	ck_assert_uint_gt(n, 0);
	return n;
}

/*
 * The entry ".It Cm NAME ..." of a list: from that line up to the next
 * ".It" or ".El" (caller frees), or NULL.
 */
static char *
entry(const char *sec, const char *name)
{
	char head[128];
	const char *s, *e;
	size_t n;

	n = (size_t)snprintf(head, sizeof head, "\n.It Cm %s", name);
	for (s = sec; (s = strstr(s, head)) != NULL; s += n)
		if (s[n] == ' ' || s[n] == '\n')
			break;
	if (s == NULL)
		return NULL;
	s++;
	for (e = strchr(s, '\n'); e != NULL; e = strchr(e + 1, '\n'))
		if (strncmp(e, "\n.It", 4) == 0 || strncmp(e, "\n.El", 4) == 0)
			break;
	if (e == NULL)
		e = s + strlen(s);
	return strndup(s, (size_t)(e - s) + 1);
}

/* text contains phrase (any case) with no character that is(c) says is
 * part of a word on either side. */
static int
has_bounded(const char *text, const char *phrase, int (*is)(int))
{
	size_t n = strlen(phrase);
	const char *s;

	for (s = text; (s = strcasestr(s, phrase)) != NULL; s++)
		if ((s == text || !is((unsigned char)s[-1])) &&
		    !is((unsigned char)s[n]))
			return 1;
	return 0;
}

/* text contains phrase (any case) with no letter or digit on either side. */
static int
has_phrase(const char *text, const char *phrase)
{
	return has_bounded(text, phrase, isalnum);
}

/* text has word as a run of letters of its own, in any case. */
static int
has_word(const char *text, const char *word)
{
	return has_bounded(text, word, isalpha);
}

/* The names of the ".It Cm NAME" entries of a section. */
static void
entry_names(const char *sec, struct list *l)
{
	const char *s;

	for (s = sec; (s = strstr(s, "\n.It Cm ")) != NULL; s++) {
		size_t n = strcspn(s + 8, " \n");
		list_add(l, s + 8, n);
	}
}

START_TEST(test_settings_documented)
{
	struct setting_row rows[64];
	unsigned n = table_settings(rows, 64), i;
	char *page = read_page("replicas.conf.5");
	char *sec = section(page, "SETTINGS");

	for (i = 0; i < n; i++) {
		const struct setting_row *r = &rows[i];
		char *e = entry(sec, r->name), want[160];
		unsigned long lo, hi;
		char *bar;

		ck_assert_msg(e != NULL, "setting %s is not in replicas.conf(5)",
		    r->name);
		if (sscanf(r->range, "%lu-%lu", &lo, &hi) == 2) {
			snprintf(want, sizeof want, "%lu to %lu", lo, hi);
			ck_assert_msg(has_phrase(e, want),
			    "replicas.conf(5): %s should say \"%s\"", r->name,
			    want);
		} else if ((bar = strchr(r->range, '|')) != NULL) {
			*bar = '\0';
			ck_assert_msg(has_phrase(e, r->range) &&
			    has_phrase(e, bar + 1),
			    "replicas.conf(5): %s should name %s and %s",
			    r->name, r->range, bar + 1);
		} else {
			ck_assert_msg(strcmp(r->range, "path") == 0,
			    "unknown range %s of %s", r->range, r->name);
		}
		snprintf(want, sizeof want, "default %s",
		    strcmp(r->def, "\"\"") == 0 ? "empty" : r->def);
		ck_assert_msg(has_phrase(e, want),
		    "replicas.conf(5): %s should say \"%s\"", r->name, want);
		free(e);
	}
	free(sec);
	free(page);
}
END_TEST

START_TEST(test_documented_settings_exist)
{
	struct setting_row rows[64];
	unsigned n = table_settings(rows, 64), i, j;
	struct list names = { .n = 0 };
	char *page = read_page("replicas.conf.5");
	char *sec = section(page, "SETTINGS");

	entry_names(sec, &names);
	for (i = 0; i < names.n; i++) {
		for (j = 0; j < n; j++)
			if (strcmp(names.s[i], rows[j].name) == 0)
				break;
		ck_assert_msg(j < n, "replicas.conf(5) documents setting %s, "
		    "which config.c does not have", names.s[i]);
	}
	ck_assert_uint_eq(names.n, n);
	free(sec);
	free(page);
}
END_TEST

/* ---- client commands --------------------------------------------------- */

/* Run ./chat with script on stdin, against a config naming a loopback
 * port nobody listens on; its output (caller frees). */
static char *
chat_script(const char *script)
{
	char dir[] = "/tmp/chatd-man-XXXXXX", conf[128], chat[1024], *out;
	const char *argv[] = { chat, "-c", conf, NULL };
	struct sockaddr_in a;
	socklen_t alen = sizeof a;
	uint16_t port[2];
	int fd[2], i, rc;
	FILE *f;

	/* Bound, never listening: nothing else can take the port, and a
	 * connection to it is refused. */
	for (i = 0; i < 2; i++) {
		fd[i] = socket(AF_INET, SOCK_STREAM, 0);
		ck_assert_int_ge(fd[i], 0);
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		alen = sizeof a;
		ck_assert_int_eq(bind(fd[i], (struct sockaddr *)&a, sizeof a), 0);
		ck_assert_int_eq(getsockname(fd[i], (struct sockaddr *)&a,
		    &alen), 0);
		port[i] = ntohs(a.sin_port);
	}
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(conf, sizeof conf, "%s/replicas.conf", dir);
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "replica 1 127.0.0.1 %u %u\n", port[0], port[1]);
	fclose(f);
	h_bin_path("chat", chat, sizeof chat);
	rc = h_run(chat, argv, script, &out, NULL, RUN_MS);
	unlink(conf);
	rmdir(dir);
	close(fd[0]);
	close(fd[1]);
	ck_assert_msg(rc == 0, "chat exited with %d on:\n%s\noutput:\n%s", rc,
	    script, out);
	return out;
}

/* The commands of the client's /help: "/name" of each line. */
static void
help_commands(struct list *l)
{
	char *out = chat_script("/help\n"), *line, *save = NULL;

	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (line[0] == '/')
			list_add(l, line, strcspn(line, " "));
	free(out);
	ck_assert_uint_gt(l->n, 0);
}

START_TEST(test_commands_documented)
{
	struct list cmds = { .n = 0 };
	char script[4096] = "", *out, *line, *save = NULL;
	char *page = read_page("chat.1"), *sec = section(page, "COMMANDS");
	size_t len = 0;
	unsigned i, k = 0;

	help_commands(&cmds);
	/* "/help NAME" prints the usage line of NAME, then its help. */
	for (i = 0; i < cmds.n; i++)
		len += (size_t)snprintf(script + len, sizeof script - len,
		    "/help %s\n", cmds.s[i] + 1);
	ck_assert_uint_lt(len, sizeof script);
	out = chat_script(script);
	for (line = strtok_r(out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char w[32][ITEM_MAX], *e;
		const char *p;
		unsigned nw, j;

		if (line[0] != '/')
			continue;
		ck_assert_uint_lt(k, cmds.n);
		ck_assert_uint_eq(strcspn(line, " "), strlen(cmds.s[k]));
		ck_assert(strncmp(line, cmds.s[k], strlen(cmds.s[k])) == 0);
		e = entry(sec, cmds.s[k]);
		ck_assert_msg(e != NULL, "command %s is not in the COMMANDS "
		    "of chat(1)", cmds.s[k]);
		/* Each word of the arguments ("USER", "FULL", "all") is a
		 * word of the entry's .It line, in any case. */
		nw = words(e, w, 32);
		for (p = line + strlen(cmds.s[k]); *p != '\0'; ) {
			size_t n = 0;

			while (*p != '\0' && !isalpha((unsigned char)*p))
				p++;
			while (isalpha((unsigned char)p[n]))
				n++;
			if (n == 0)
				break;
			for (j = 0; j < nw; j++)
				if (strlen(w[j]) == n &&
				    strncasecmp(w[j], p, n) == 0)
					break;
			ck_assert_msg(j < nw, "chat(1): %s lacks the argument "
			    "%.*s of \"%s\"", cmds.s[k], (int)n, p, line);
			p += n;
		}
		/* And the other way: each word of the .It line but the
		 * macros ("Ar", "Op"), the command and punctuation is a
		 * word of the usage. */
		for (j = 2; j < nw; j++) {
			const char *q = w[j];

			if (isupper((unsigned char)q[0]) &&
			    islower((unsigned char)q[1]) && q[2] == '\0')
				continue;	/* a macro */
			if (strcmp(q, cmds.s[k]) == 0 ||
			    !isalpha((unsigned char)q[0]))
				continue;
			ck_assert_msg(has_word(line + strlen(cmds.s[k]), q),
			    "chat(1): %s has %s, not in \"%s\"", cmds.s[k],
			    q, line);
		}
		free(e);
		k++;
	}
	ck_assert_uint_eq(k, cmds.n);
	free(out);
	free(sec);
	free(page);
}
END_TEST

START_TEST(test_documented_commands_exist)
{
	struct list cmds = { .n = 0 }, names = { .n = 0 };
	char *page = read_page("chat.1"), *sec = section(page, "COMMANDS");
	unsigned i;

	help_commands(&cmds);
	entry_names(sec, &names);
	for (i = 0; i < names.n; i++)
		ck_assert_msg(list_has(&cmds, names.s[i]), "chat(1) documents "
		    "command %s, which /help does not list", names.s[i]);
	ck_assert_uint_eq(names.n, cmds.n);
	free(sec);
	free(page);
}
END_TEST

/* ---- the pages as a whole ---------------------------------------------- */

/* The pages in man/: every NAME.[158] (the install target's rule too). */
static void
all_pages(struct list *l)
{
	DIR *d = opendir(man_dir());
	struct dirent *e;

	ck_assert_msg(d != NULL, "cannot open %s", man_dir());
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);

		if (n > 2 && e->d_name[n - 2] == '.' &&
		    strchr("158", e->d_name[n - 1]) != NULL)
			list_add(l, e->d_name, n);
	}
	closedir(d);
	ck_assert_uint_gt(l->n, 0);
}

/* A program's page has these; some pages have more (below). */
static const char *const program_sections[] = { "SYNOPSIS", "OPTIONS",
    "EXIT STATUS", "EXAMPLES", NULL };
static const struct {
	const char *page, *need[4];
} more_sections[] = {
	{ "chatd.8",         { "SIGNALS", "FILES", NULL } },
	{ "chat.1",          { "COMMANDS", "OUTPUT", NULL } },
	{ "replicas.conf.5", { "SETTINGS", "EXAMPLES", "DIAGNOSTICS", NULL } },
};

START_TEST(test_sections)
{
	struct list pages = { .n = 0 };
	unsigned i, j, k;

	all_pages(&pages);
	for (i = 0; i < pages.n; i++) {
		char *page = read_page(pages.s[i]);

		free(section(page, "NAME"));
		free(section(page, "DESCRIPTION"));
		free(section(page, "SEE ALSO"));
		for (j = 0; j < sizeof documented / sizeof documented[0]; j++)
			if (strcmp(documented[j].page, pages.s[i]) == 0)
				for (k = 0; program_sections[k]; k++)
					free(section(page, program_sections[k]));
		for (j = 0; j < sizeof more_sections / sizeof more_sections[0];
		    j++)
			if (strcmp(more_sections[j].page, pages.s[i]) == 0)
				for (k = 0; more_sections[j].need[k]; k++)
					free(section(page,
					    more_sections[j].need[k]));
		free(page);
	}
}
END_TEST

/*
 * Every page is silent under each formatter that is installed: mandoc
 * -Tlint -W warning, and groff -ww (what man -l runs on Debian). With
 * neither there is nothing to run.
 */
START_TEST(test_lint)
{
	struct list pages = { .n = 0 };
	char mandoc[256], groff[256], path[1024], *out, *err;
	const char *m_argv[] = { mandoc, "-Tlint", "-W", "warning", path,
	    NULL };
	const char *g_argv[] = { groff, "-mandoc", "-Tutf8", "-ww", "-z", path,
	    NULL };
	const char **tools[2];
	unsigned i, j, ntools = 0;
	int rc;

	if (h_which("mandoc", mandoc, sizeof mandoc) != NULL)
		tools[ntools++] = m_argv;
	if (h_which("groff", groff, sizeof groff) != NULL)
		tools[ntools++] = g_argv;
	if (ntools == 0) {
		fprintf(stderr, "check_manpages: neither mandoc nor groff "
		    "installed; lint skipped\n");
		return;
	}
	all_pages(&pages);
	for (i = 0; i < pages.n; i++) {
		snprintf(path, sizeof path, "%s/%s", man_dir(), pages.s[i]);
		for (j = 0; j < ntools; j++) {
			/* Both report on stderr. */
			rc = h_run(tools[j][0], tools[j], NULL, &out, &err,
			    RUN_MS);
			ck_assert_msg(rc == 0 && out[0] == '\0' && err[0] == '\0',
			    "%s %s (exit %d):\n%s%s", tools[j][0], path, rc, out,
			    err);
			free(out);
			free(err);
		}
	}
}
END_TEST

static Suite *
manpages_suite(void)
{
	Suite *s = suite_create("manual pages");
	TCase *tc = h_tcase(s, "manpages", 60);

	tcase_add_loop_test(tc, test_options, 0,
	    (int)(sizeof documented / sizeof documented[0]));
	tcase_add_test(tc, test_settings_documented);
	tcase_add_test(tc, test_documented_settings_exist);
	tcase_add_test(tc, test_commands_documented);
	tcase_add_test(tc, test_documented_commands_exist);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_lint);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);	/* a program that exits unread */
	return h_run_suite(manpages_suite());
}
