/*
 * main.c — ./chat: options, configuration, wiring, exit status.
 *
 *   ./chat [-c replicas.conf] [-v] [--color=WHEN] [--user NAME
 *          [--password-file FILE]] [--request-timeout MS]
 *   ./chat -h | --help | --version
 *
 * Exit status: 0 if every command succeeded, 1 if one failed (or the
 * wait for answers at the end gave up), 2 for bad arguments or a bad
 * configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include "client.h"
#include "log.h"

static struct client the_client;	/* large: not on the stack */

/* What the command line asked for besides the configuration. */
struct opts {
	const char *conf;
	int         verbose;
	int         color;		/* CLI_COLOR_* */
	const char *user;		/* --user */
	const char *password_file;
	unsigned    req_timeout_ms;	/* 0: 2 x client_timeout_ms */
};

/* Keep in step with OPTIONS of man/chat.1 (tests/cluster/check_manpages.c
 * compares the two). */
static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chat [-c replicas.conf] [-v] [--color=WHEN] [--user NAME\n"
	    "            [--password-file FILE]] [--request-timeout MS]\n"
	    "       chat -h | --help | --version\n"
	    "  -c FILE                 replica list and settings "
	    "(default replicas.conf)\n"
	    "  -v                      log diagnostics to stderr\n"
	    "  --color=WHEN            colour errors and notices: auto "
	    "(default:\n"
	    "                          on a terminal, unless NO_COLOR is set), "
	    "always, never\n"
	    "  --user NAME             log in as NAME before the first command\n"
	    "  --password-file FILE    the password for --user: the file's "
	    "first line;\n"
	    "                          refused if group or others may access "
	    "FILE\n"
	    "  --request-timeout MS    reconnect when a request is unanswered "
	    "this long\n"
	    "                          (default twice client_timeout_ms)\n"
	    "  -h, --help              this text; type /help inside for the "
	    "commands\n"
	    "  --version               print the version\n");
}

/* Random bytes from the kernel (the client id must not repeat). */
static uint64_t
random_u64(void)
{
	uint64_t v = 0;
	size_t got = 0;

	while (got < sizeof v) {
		ssize_t n = getrandom((char *)&v + got, sizeof v - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "chat: getrandom: %s\n", strerror(errno));
			exit(1);
		}
		got += (size_t)n;
	}
	return v;
}

static void
on_line(void *ud, const char *line)
{
	cli_input_line(ud, line);
}

static void
on_stdin(int fd, void *ud)
{
	struct client *cl = ud;
	uint8_t buf[4096];
	ssize_t n = read(fd, buf, sizeof buf);
	int rc;

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* End of input (or an error: the same for us). */
		watch_remove(cl->loop, cl->stdin_watch);
		cl->stdin_watch = NULL;
		cli_term_eof(on_line, cl);
		cli_input_eof(cl);
		return;
	}
	rc = cli_term_feed(buf, (size_t)n, on_line, cl);
	if (rc == CLI_LE_EOF)
		cli_input_eof(cl);	/* Ctrl-D: keep reading for Ctrl-C */
	else if (rc == CLI_LE_INTR)
		cli_interrupt(cl);
}

static void
on_signal(int signo, void *ud)
{
	struct client *cl = ud;

	if (signo == SIGWINCH) {
		cli_term_redraw();
	} else if (signo == SIGINT) {
		cli_interrupt(cl);
	} else {
		/* SIGTERM, SIGHUP: leave now. */
		cl->exit_code = 1;
		cl->done = 1;
	}
}

/* Long options without a short form. */
enum { OPT_VERSION = 256, OPT_COLOR, OPT_USER, OPT_PASSWORD_FILE,
       OPT_REQUEST_TIMEOUT };

static int
bad_value(const char *opt, const char *val, const char *want)
{
	fprintf(stderr, "chat: %s '%s': %s\n", opt, val, want);
	usage(stderr);
	return -1;
}

static int
parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "help",            no_argument,       NULL, 'h' },
		{ "version",         no_argument,       NULL, OPT_VERSION },
		{ "color",           required_argument, NULL, OPT_COLOR },
		{ "user",            required_argument, NULL, OPT_USER },
		{ "password-file",   required_argument, NULL, OPT_PASSWORD_FILE },
		{ "request-timeout", required_argument, NULL,
		  OPT_REQUEST_TIMEOUT },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	uint64_t v;
	int ch;

	opterr = 1;
	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->conf = optarg;
			break;
		case 'v':
			o->verbose = 1;
			break;
		case OPT_COLOR:
			if ((o->color = cli_color_parse(optarg)) < 0)
				return bad_value("--color", optarg,
				    "want auto, always or never");
			break;
		case OPT_USER:
			if (cli_check_username(optarg, err, sizeof err) < 0)
				return bad_value("--user", optarg, err);
			o->user = optarg;
			break;
		case OPT_PASSWORD_FILE:
			o->password_file = optarg;
			break;
		case OPT_REQUEST_TIMEOUT:
			if (cli_parse_uint(optarg, 100, 600000, &v) < 0)
				return bad_value("--request-timeout", optarg,
				    "want milliseconds, 100-600000");
			o->req_timeout_ms = (unsigned)v;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("chat %s\n", CHATD_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "chat: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return -1;
	}
	if (o->password_file != NULL && o->user == NULL) {
		fprintf(stderr, "chat: --password-file needs --user\n");
		return -1;
	}
	if (o->user != NULL && o->password_file == NULL &&
	    !isatty(STDIN_FILENO)) {
		/* The password would otherwise be taken from the script. */
		fprintf(stderr, "chat: --user without a terminal needs "
		    "--password-file\n");
		return -1;
	}
	return 0;
}

static void
shutdown_client(struct client *cl)
{
	cli_job_abort(cl);
	cli_input_free(cl);
	cli_conn_shutdown(cl);
	if (cl->stdin_watch)
		watch_remove(cl->loop, cl->stdin_watch);
	cl->stdin_watch = NULL;
	loop_free(cl->loop);
	cl->loop = NULL;
	cli_term_restore();
	explicit_bzero(cl->token, sizeof cl->token);
}

int
main(int argc, char **argv)
{
	struct client *cl = &the_client;
	struct opts o = { .conf = "replicas.conf", .color = CLI_COLOR_AUTO };
	char err[512], password[CHAT_MAX_PASSWORD + 1];

	if (parse_args(argc, argv, &o) < 0)
		return 2;
	log_init("chat", o.verbose ? LOG_DEBUG : LOG_ERROR);
	if (config_load(&cl->cfg, o.conf, err, sizeof err) < 0) {
		fprintf(stderr, "chat: %s\n", err);
		return 2;
	}
	if (o.password_file != NULL &&
	    cli_read_password_file(o.password_file, password, sizeof password,
	    err, sizeof err) < 0) {
		fprintf(stderr, "chat: --password-file %s\n", err);
		return 2;
	}
	cl->verbose = o.verbose;
	cl->req_timeout_ms = o.req_timeout_ms;
	cli_term_set_color(cli_color_wanted(o.color, getenv("NO_COLOR"),
	    isatty(STDOUT_FILENO)));
	do
		cl->client_id = random_u64();
	while (cl->client_id == 0);
	cl->rng = random_u64() | 1;
	cl->next_wire_id = 1;
	cl->loop = loop_new();
	if (cl->loop == NULL)
		return 1;
	if (cli_term_init(isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) < 0)
		fprintf(stderr, "chat: cannot set up the terminal\n");
	atexit(cli_term_restore);	/* also on an exit() we did not plan */
	loop_on_signal(cl->loop, SIGINT, on_signal, cl);
	loop_on_signal(cl->loop, SIGTERM, on_signal, cl);
	loop_on_signal(cl->loop, SIGHUP, on_signal, cl);
	loop_on_signal(cl->loop, SIGWINCH, on_signal, cl);
	cl->stdin_watch = loop_watch(cl->loop, STDIN_FILENO, on_stdin, cl);
	cli_update_prompt(cl);
	cli_conn_start(cl);
	if (o.user != NULL) {
		cli_auto_login(cl, o.user, o.password_file ? password : NULL);
		explicit_bzero(password, sizeof password);
	}
	while (!cl->done)
		if (loop_run_once(cl->loop, 1000) < 0) {
			cl->exit_code = 1;
			break;
		}
	shutdown_client(cl);
	return cl->exit_code;
}
