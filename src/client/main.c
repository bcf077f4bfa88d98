/*
 * main.c — ./chat: options, configuration, wiring, exit status.
 *
 *   ./chat [-c replicas.conf] [-v] [-h|--help] [--version]
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

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chat [-c replicas.conf] [-v] [-h|--help] [--version]\n"
	    "  -c FILE    replica list and settings (default replicas.conf)\n"
	    "  -v         log diagnostics to stderr\n"
	    "  -h, --help this text; type /help inside for the commands\n"
	    "  --version  print the version\n");
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

static int
parse_args(int argc, char **argv, const char **conf, int *verbose)
{
	static const struct option longopts[] = {
		{ "help",    no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	opterr = 1;
	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*conf = optarg;
			break;
		case 'v':
			*verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
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
	const char *conf = "replicas.conf";
	char err[512];
	int verbose = 0;

	if (parse_args(argc, argv, &conf, &verbose) < 0)
		return 2;
	log_init("chat", verbose ? LOG_DEBUG : LOG_ERROR);
	if (config_load(&cl->cfg, conf, err, sizeof err) < 0) {
		fprintf(stderr, "chat: %s\n", err);
		return 2;
	}
	cl->verbose = verbose;
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
	while (!cl->done)
		if (loop_run_once(cl->loop, 1000) < 0) {
			cl->exit_code = 1;
			break;
		}
	shutdown_client(cl);
	return cl->exit_code;
}
