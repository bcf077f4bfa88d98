/*
 * check_client_live.c — ./chat against servers that misbehave, and its
 * script-facing options against a real replica.
 *
 * The misbehaving server is a raw fake that the test serves itself, in a
 * child process on a loopback socket: it answers HELLO, STATUS, REPLICAS
 * and PING like a primary, but on its first connection it never answers
 * the REGISTER (or answers it with a request id that is not the
 * REGISTER's). The client must then give up on that connection within
 * its request deadline, reconnect, and send the REGISTER again with the
 * same (client_id, seq); the fake answers it on the second connection.
 * The child reports what it saw through a pipe.
 *
 * The fake's config says client_timeout_ms 600, so the client's default
 * request deadline is 1200 ms while its keepalive (PING after 200 ms of
 * silence, answered) never fires.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "buf.h"
#include "h_check.h"
#include "harness.h"
#include "net.h"
#include "wire.h"

#define FAKE_CLIENT_TIMEOUT_MS 600
#define DEADLINE_MS (2 * FAKE_CLIENT_TIMEOUT_MS)	/* chat's default */
#define FAKE_LIFE_MS 20000	/* the fake exits after this, whatever */
#define T_WAIT_MS    10000	/* one awaited line */
#define T_CLIENT_MS  30000	/* a whole client run */

enum fake_mode { FAKE_SILENT, FAKE_WRONG_ID };

/* What the fake saw, sent to the test through a pipe. */
struct fake_report {
	int      conns;			/* connections accepted */
	int      registers;		/* REGISTER frames received */
	uint64_t cid[2], seq[2];	/* of the REGISTER on conn 1 and 2 */
	uint64_t reg_at, closed_at;	/* conn 1: REGISTER in, client gone */
};

/* A frame with one list item: REPLICA_LIST naming the fake itself. */
static int
send_replica_list(int fd, uint32_t id, uint16_t port)
{
	struct wire_REPLICA_LIST m;
	struct wire_item_REPLICA it;
	struct wire_enc e;
	struct buf b;
	int rc;

	memset(&m, 0, sizeof m);
	memset(&it, 0, sizeof it);
	it.id = 1;
	snprintf(it.host, sizeof it.host, "127.0.0.1");
	it.client_port = port;
	it.internal_port = (uint16_t)(port + 1);
	buf_init(&b);
	wire_encode_begin(&e, &b, WIRE_OP_REPLICA_LIST, id, &m);
	wire_encode_item(&e, &it);
	wire_encode_end(&e);
	rc = h_raw_write(fd, buf_head(&b), buf_pending(&b));
	buf_free(&b);
	return rc;
}

/*
 * Serve one connection until the client closes it (or the fake's life
 * ends). answer: whether to answer REGISTER properly. Returns 0 when the
 * client closed the connection, -1 otherwise.
 */
static int
serve_conn(int fd, uint16_t port, enum fake_mode mode, int answer,
	   struct fake_report *rep, int k, uint64_t end)
{
	union {
		struct wire_HELLO    hello;
		struct wire_PING     ping;
		struct wire_REGISTER reg;
	} m;
	struct wire_decode_error derr;
	struct wire_header h;
	struct buf p;
	int rc = -1;

	buf_init(&p);
	while (mono_ms() < end) {
		struct pollfd pfd = { fd, POLLIN, 0 };
		const struct wire_opdesc *d;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		if (h_raw_recv(fd, &h, &p, 1000) < 0) {
			rc = 0;		/* closed (or garbage: the same here) */
			break;
		}
		d = wire_op(h.opcode);
		if (d == NULL || wire_decode(d, buf_head(&p), h.length, &m,
		    &derr) < 0)
			break;
		switch (h.opcode) {
		case WIRE_OP_HELLO: {
			struct wire_HELLO r = m.hello;
			r.version_min = r.version_max = WIRE_VERSION_MAX;
			r.kind = 2;
			r.replica_id = 1;
			snprintf(r.software, sizeof r.software, "fake");
			h_raw_send(fd, WIRE_OP_HELLO, h.request_id, &r);
			break;
		}
		case WIRE_OP_STATUS: {
			struct wire_STATUS_INFO s;
			memset(&s, 0, sizeof s);
			s.replica_id = 1;
			s.role = 1;
			s.epoch = 1;
			s.primary_id = 1;
			h_raw_send(fd, WIRE_OP_STATUS_INFO, h.request_id, &s);
			break;
		}
		case WIRE_OP_REPLICAS:
			send_replica_list(fd, h.request_id, port);
			break;
		case WIRE_OP_PING: {
			struct wire_PONG q = { .token = m.ping.token };
			h_raw_send(fd, WIRE_OP_PONG, h.request_id, &q);
			break;
		}
		case WIRE_OP_REGISTER: {
			struct wire_OK ok = { .value = 0 };
			if (k < 2) {
				rep->cid[k] = m.reg.client_id;
				rep->seq[k] = m.reg.seq;
			}
			rep->registers++;
			if (k == 0)
				rep->reg_at = mono_ms();
			if (answer)
				h_raw_send(fd, WIRE_OP_OK, h.request_id, &ok);
			else if (mode == FAKE_WRONG_ID)
				h_raw_send(fd, WIRE_OP_OK, h.request_id + 1000,
				    &ok);
			break;
		}
		default:
			break;		/* not asked of this fake */
		}
	}
	buf_free(&p);
	return rc;
}

/* The child: two connections, then report. */
static void
fake_server(int lfd, uint16_t port, enum fake_mode mode, int report_fd)
{
	struct fake_report rep;
	uint64_t end = mono_ms() + FAKE_LIFE_MS;
	int k;

	memset(&rep, 0, sizeof rep);
	for (k = 0; k < 2 && mono_ms() < end; k++) {
		struct pollfd pfd = { lfd, POLLIN, 0 };
		int fd;

		if (poll(&pfd, 1, (int)(end - mono_ms())) <= 0)
			break;
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			break;
		rep.conns++;
		/* The first connection leaves REGISTER unanswered. */
		if (serve_conn(fd, port, mode, k > 0, &rep, k, end) == 0 &&
		    k == 0)
			rep.closed_at = mono_ms();
		close(fd);
	}
	if (write(report_fd, &rep, sizeof rep) != (ssize_t)sizeof rep)
		_exit(1);
	_exit(0);
}

/* A listening loopback socket on a free port. */
static int
listen_any(uint16_t *port)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* Run "/register alice secret" against a fake in mode; check the client
 * gave up on the first connection after its deadline and registered on
 * the second with the same request. Returns the client's output. */
static char *
run_against_fake(enum fake_mode mode)
{
	struct h_cluster c;
	struct fake_report rep;
	struct h_proc ch;
	uint16_t port;
	int lfd, pfd[2], status, rc;
	uint64_t gap;
	pid_t pid;
	FILE *f;

	memset(&c, 0, sizeof c);
	snprintf(c.dir, sizeof c.dir, "/tmp/chat-live-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(c.dir));
	snprintf(c.conf_path, sizeof c.conf_path, "%s/replicas.conf", c.dir);
	lfd = listen_any(&port);
	f = fopen(c.conf_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "replica 1 127.0.0.1 %u %u\nclient_timeout_ms %u\n",
	    (unsigned)port, (unsigned)port + 1, FAKE_CLIENT_TIMEOUT_MS);
	fclose(f);

	ck_assert_int_eq(pipe2(pfd, O_CLOEXEC), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(pfd[0]);
		fake_server(lfd, port, mode, pfd[1]);
	}
	close(pfd[1]);
	close(lfd);

	ck_assert_int_eq(h_chat_spawn(&c, &ch), 0);
	ck_assert_int_eq(h_proc_send(&ch, "/register alice secret"), 0);
	/* Deadline, reconnect, answer: well within T_WAIT_MS. */
	ck_assert_msg(h_proc_expect(&ch, "registered alice", T_WAIT_MS) == 0,
	    "no registration after the reconnect:\n%s", ch.out);
	rc = h_proc_finish(&ch, T_CLIENT_MS);
	ck_assert_msg(rc == 0, "chat exited %d:\n%s", rc, ch.out);

	memset(&rep, 0, sizeof rep);
	ck_assert_int_eq(read(pfd[0], &rep, sizeof rep), (ssize_t)sizeof rep);
	close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	unlink(c.conf_path);
	rmdir(c.dir);

	ck_assert_int_eq(rep.conns, 2);
	ck_assert_int_eq(rep.registers, 2);
	/* The same request again: exactly-once rests on this. */
	ck_assert(rep.cid[0] != 0 && rep.seq[0] != 0);
	ck_assert(rep.cid[0] == rep.cid[1]);
	ck_assert(rep.seq[0] == rep.seq[1]);
	/* Given up on after the deadline, not long after it (the tick runs
	 * every DEADLINE_MS / 6; the rest is a margin for a busy machine).
	 * The client's clock started when it sent, a little before ours. */
	ck_assert(rep.closed_at > rep.reg_at);
	gap = rep.closed_at - rep.reg_at;
	fprintf(stderr, "check_client_live: %s: connection dropped %llu ms "
	    "after the REGISTER (deadline %u ms)\n", mode == FAKE_SILENT ?
	    "no answer" : "wrong id", (unsigned long long)gap, DEADLINE_MS);
	ck_assert_msg(gap + 50 >= DEADLINE_MS && gap <= DEADLINE_MS + 1500,
	    "connection dropped %llu ms after the REGISTER (deadline %u)",
	    (unsigned long long)gap, DEADLINE_MS);
	ck_assert_msg(strstr(ch.out, "* connection to replica 1 lost (no "
	    "answer to REGISTER in 1200 ms); reconnecting\n") != NULL,
	    "no notice of the deadline:\n%s", ch.out);
	ck_assert_int_eq(h_count(ch.out, "* reconnected to replica 1"), 1);
	return ch.out;
}

START_TEST(test_unanswered_request_reconnects)
{
	char *out = run_against_fake(FAKE_SILENT);

	ck_assert_ptr_null(strstr(out, "ignoring"));
	free(out);
}
END_TEST

START_TEST(test_wrong_request_id_reported_then_reconnects)
{
	char *out = run_against_fake(FAKE_WRONG_ID);

	ck_assert_msg(strstr(out, "* ignoring OK from replica 1: request id ")
	    != NULL, "the stray answer was not reported:\n%s", out);
	ck_assert_int_eq(h_count(out, "* ignoring"), 1);
	free(out);
}
END_TEST

/* ---- --user and --password-file against a real replica ---------------- */

static struct h_cluster cl;

static void
start_one(void)
{
	char *out = NULL;
	int rc;

	ck_assert_int_eq(h_cluster_create(&cl, 1, NULL), 0);
	ck_assert_int_eq(h_replica_start(&cl, 0), 0);
	rc = h_chat_run(&cl, "/register alice secret\n", &out, T_CLIENT_MS);
	ck_assert_msg(rc == 0, "register: %d\n%s", rc, out);
	free(out);
}

static void
stop_all(void)
{
	h_cluster_destroy(&cl);
}

/* Write a password file with mode; its path in path. */
static void
password_file(char *path, size_t len, const char *text, mode_t mode)
{
	FILE *f;

	snprintf(path, len, "%s/pw-%o", cl.dir, (unsigned)mode);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* chat --user alice --password-file path, script on stdin: exit status,
 * output in *out. */
static int
run_as(const char *path, const char *script, char **out)
{
	const char *args[] = { "--user", "alice", "--password-file", path,
	    NULL };

	return h_cluster_run(&cl, "chat", args, script, out, T_CLIENT_MS);
}

START_TEST(test_user_password_file_logs_in)
{
	char path[600], *out;
	int rc;

	/* The line end (CRLF too) is not part of the password. */
	password_file(path, sizeof path, "secret\r\nignored second line\n",
	    0600);
	rc = run_as(path, "/inbox\n", &out);
	ck_assert_msg(rc == 0, "exit %d:\n%s", rc, out);
	ck_assert_ptr_nonnull(strstr(out, "logged in as alice ("));
	ck_assert_ptr_nonnull(strstr(out, "inbox: "));
	/* Not a terminal: no colour, whatever the script. */
	ck_assert_ptr_null(strchr(out, '\033'));
	free(out);
}
END_TEST

START_TEST(test_password_file_open_to_others_refused)
{
	char path[600], *out;
	int rc;

	password_file(path, sizeof path, "secret\n", 0644);
	rc = run_as(path, "/inbox\n", &out);
	ck_assert_int_eq(rc, 2);
	ck_assert_ptr_null(strstr(out, "inbox:"));	/* nothing ran */
	free(out);
}
END_TEST

START_TEST(test_wrong_password_stops_the_script)
{
	char path[600], *out;
	int rc;

	password_file(path, sizeof path, "not-the-password\n", 0600);
	rc = run_as(path, "/inbox\n/msg alice hello\n", &out);
	ck_assert_int_eq(rc, 1);
	ck_assert_int_eq(h_count(out, "error: "), 1);
	ck_assert_ptr_null(strstr(out, "inbox:"));
	ck_assert_ptr_null(strstr(out, "sent #"));
	free(out);
}
END_TEST

START_TEST(test_color_always_marks_errors_and_notices)
{
	const char *args[] = { "--color=always", NULL };
	struct h_proc ch;
	int rc;

	ck_assert_int_eq(h_chat_spawn_args(&cl, &ch, args), 0);
	ck_assert_int_eq(h_proc_send(&ch, "/status"), 0);
	ck_assert_int_eq(h_proc_send(&ch, "/nope"), 0);
	rc = h_proc_finish(&ch, T_CLIENT_MS);
	ck_assert_int_eq(rc, 1);
	ck_assert_msg(strstr(ch.out, "\033[36m* connected to replica 1 ("
	    "primary, epoch ") != NULL, "%s", ch.out);
	ck_assert_ptr_nonnull(strstr(ch.out, "\033[1;31merror: unknown "
	    "command '/nope' (try /help)\033[0m\n"));
	/* Data lines stay as they are. */
	ck_assert_ptr_nonnull(strstr(ch.out, "\nreplica=1 role=primary "));
	free(ch.out);
}
END_TEST

static Suite *
live_suite(void)
{
	Suite *s = suite_create("client live");
	TCase *t = h_tcase(s, "fake server", 60);

	tcase_add_test(t, test_unanswered_request_reconnects);
	tcase_add_test(t, test_wrong_request_id_reported_then_reconnects);

	t = h_tcase(s, "options", 90);
	tcase_add_checked_fixture(t, start_one, stop_all);
	tcase_add_test(t, test_user_password_file_logs_in);
	tcase_add_test(t, test_password_file_open_to_others_refused);
	tcase_add_test(t, test_wrong_password_stops_the_script);
	tcase_add_test(t, test_color_always_marks_errors_and_notices);
	return s;
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return h_run_suite(live_suite());
}
