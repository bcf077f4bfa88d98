/*
 * check_dissector.c — wire/chat.lua decodes a real capture correctly.
 *
 * Two replicas run on loopback while dumpcap captures their client and
 * internal ports. A raw client drives a session (HELLO, REGISTER, LOGIN,
 * SEND, INBOX, a SEND that provokes an ERROR, PING), and the replicas ship
 * the records to each other (sealed APPEND frames). tshark then reads the
 * capture through the generated dissector, and the test checks that every
 * opcode is named, the key fields carry what was sent (the user name in
 * REGISTER, the body in SEND and inside the replicated R_MSG_ADD record,
 * the ERROR's code and name, the MAC of sealed frames), and that no frame
 * is marked malformed and no Lua error occurred.
 *
 * Runs only where tshark is installed and may capture on lo (root or
 * CAP_NET_RAW); elsewhere it says why and passes (CI has no tshark).
 * tshark runs Lua plugins as root only when init.lua allows it; Debian's
 * does (run_user_scripts_when_superuser = true).
 */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "buf.h"
#include "h_check.h"
#include "h_run.h"
#include "harness.h"
#include "net.h"
#include "wire.h"

#define T_MS      10000	/* one awaited state or answer */
#define T_TOOL_MS 60000	/* one tshark run, generous under load */
#define LUA_PATH  "wire/chat.lua"
#define BODY      "hello through wireshark"
#define PING_TOKEN 0x5749524553484B21ull	/* "WIRESHK!" */

static struct h_cluster cl;

/* The pause between two looks at a child's progress: polling a bounded
 * condition, not a sleep standing in for synchronisation. */
static void
poll_pause(void)
{
	struct timespec ts = { 0, 10 * 1000000 };

	nanosleep(&ts, NULL);
}

/* A whole file, NUL-terminated (caller frees; "" if unreadable); a
 * capture holds NUL bytes, so *len says where it ends. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long size = -1;
	size_t n = 0;
	char *s;

	if (f && fseek(f, 0, SEEK_END) == 0)
		size = ftell(f);
	s = malloc(size > 0 ? (size_t)size + 1 : 1);
	ck_assert_ptr_nonnull(s);
	if (size > 0 && fseek(f, 0, SEEK_SET) == 0)
		n = fread(s, 1, (size_t)size, f);
	if (f)
		fclose(f);
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

/* How often the 8 bytes of v (big-endian) occur in the file. */
static int
count_u64(const char *path, uint64_t v)
{
	uint8_t needle[8];
	size_t n, i;
	char *s = slurp(path, &n);
	int count = 0;

	put_be64(needle, v);
	for (i = 0; i + 8 <= n; i++)
		count += memcmp(s + i, needle, 8) == 0;
	free(s);
	return count;
}

/* Send a request and receive its answer; asserts the answer's opcode. */
static void
request(int fd, uint16_t op, uint32_t rid, const void *msg, uint16_t want,
	struct buf *payload)
{
	struct wire_header h;

	ck_assert_int_eq(h_raw_send(fd, op, rid, msg), 0);
	ck_assert_int_eq(h_raw_recv(fd, &h, payload, T_MS), 0);
	if (h.opcode != want)
		fprintf(stderr, "%s: got %s, want %s\n", wire_op_name(op),
		    wire_op_name(h.opcode), wire_op_name(want));
	ck_assert_uint_eq(h.opcode, want);
	ck_assert_uint_eq(h.request_id, rid);
}

/* A SEND whose payload ends inside its `to` field (request id 99): the
 * one frame of the session the dissector must call malformed. */
static void
send_truncated(int fd, struct buf *p)
{
	uint8_t payload[8 + 8 + 2 + 3];
	struct wire_header h;
	struct wire_ERROR e;
	struct buf b;

	put_be64(payload, 0xD15EC7);
	put_be64(payload + 8, 6);
	put_be16(payload + 16, 40);	/* says 40 bytes; 3 follow */
	memcpy(payload + 18, "bob", 3);
	buf_init(&b);
	wire_frame_append(&b, WIRE_OP_SEND, 99, payload, sizeof payload);
	ck_assert_int_eq(h_raw_write(fd, buf_head(&b), buf_pending(&b)), 0);
	buf_free(&b);
	ck_assert_int_eq(h_raw_recv(fd, &h, p, T_MS), 0);
	ck_assert_uint_eq(h.opcode, WIRE_OP_ERROR);
	ck_assert_uint_eq(h.request_id, 99);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_ERROR), buf_head(p),
	    buf_pending(p), &e, NULL), 0);
	ck_assert_uint_eq(e.code, WIRE_E_BAD_FRAME);
}

/* The session; returns the ERROR code the bad SEND got. */
static uint16_t
drive_session(uint16_t port)
{
	struct wire_REGISTER reg = { .client_id = 0xD15EC7, .seq = 1,
	    .username = "dissect_alice", .fullname = "Alice Shark",
	    .password = "pw-alice-1" };
	struct wire_LOGIN login = { .client_id = 0xD15EC7, .seq = 3,
	    .username = "dissect_alice", .password = "pw-alice-1" };
	struct wire_SEND send = { .client_id = 0xD15EC7, .seq = 4,
	    .to = "dissect_bob", .body = BODY };
	struct wire_INBOX inbox = { 0 };
	struct wire_PING ping = { .token = PING_TOKEN };
	struct wire_ERROR e;
	struct buf p;
	int fd = h_raw_connect(port, H_RAW_HELLO);

	ck_assert_int_ge(fd, 0);
	buf_init(&p);
	request(fd, WIRE_OP_REGISTER, 1, &reg, WIRE_OP_OK, &p);
	reg.seq = 2;
	strcpy(reg.username, "dissect_bob");
	request(fd, WIRE_OP_REGISTER, 2, &reg, WIRE_OP_OK, &p);
	request(fd, WIRE_OP_LOGIN, 3, &login, WIRE_OP_SESSION, &p);
	request(fd, WIRE_OP_SEND, 4, &send, WIRE_OP_SENT, &p);
	request(fd, WIRE_OP_INBOX, 5, &inbox, WIRE_OP_INBOX_INFO, &p);
	send.seq = 5;
	strcpy(send.to, "nobody_here");
	request(fd, WIRE_OP_SEND, 6, &send, WIRE_OP_ERROR, &p);
	ck_assert_int_eq(wire_decode(wire_op(WIRE_OP_ERROR), buf_head(&p),
	    buf_pending(&p), &e, NULL), 0);
	send_truncated(fd, &p);
	request(fd, WIRE_OP_PING, 7, &ping, WIRE_OP_PONG, &p);
	buf_free(&p);
	close(fd);
	return e.code;
}

/* ---- tshark's output ---------------------------------------------------- */

/* Columns of the -T fields run, in this order. */
static const char *const columns[] = {
	"tcp.srcport", "tcp.dstport", "chat.op", "chat.register.username",
	"chat.send.body", "chat.error.code", "chat.flags.mac", "chat.mac",
	"chat.r_msg_add.body", "chat.r_user_add.username", "_ws.col.Info",
};
enum { C_SRC, C_DST, C_OP, C_REG_USER, C_SEND_BODY, C_ERR_CODE, C_MAC_FLAG,
       C_MAC, C_REC_BODY, C_REC_USER, C_INFO, NCOLS };

#define AGG '~'		/* between a packet's occurrences of a field */

/* The text of column col in line (tab-separated) into out. */
static void
column(const char *line, int col, char *out, size_t n)
{
	size_t len;

	for (; col > 0 && line; col--)
		if ((line = strchr(line, '\t')) != NULL)
			line++;
	len = line ? strcspn(line, "\t\n") : 0;
	if (len >= n)
		len = n - 1;
	memcpy(out, line ? line : "", len);
	out[len] = '\0';
}

/* 1 if some packet on port (either end; 0: any) has value among the
 * occurrences of column col (exact match; NULL: any non-empty value). */
static int
seen(const char *text, unsigned port, int col, const char *value)
{
	char cell[8192], ports[2][16];
	const char *line;

	for (line = text; *line; line = strchr(line, '\n') + 1) {
		char *occ, *save = NULL;

		column(line, col, cell, sizeof cell);
		column(line, C_SRC, ports[0], sizeof ports[0]);
		column(line, C_DST, ports[1], sizeof ports[1]);
		if (port && (unsigned)atoi(ports[0]) != port &&
		    (unsigned)atoi(ports[1]) != port)
			goto next;
		if (value == NULL && cell[0])
			return 1;
		for (occ = strtok_r(cell, "~", &save); occ && value;
		    occ = strtok_r(NULL, "~", &save))
			if (strcmp(occ, value) == 0)
				return 1;
next:
		if (strchr(line, '\n') == NULL)
			break;
	}
	return 0;
}

static void
expect(const char *text, unsigned port, int col, const char *value)
{
	if (!seen(text, port, col, value))
		fprintf(stderr, "no packet%s%.0u has %s = %s; tshark said:\n%s\n",
		    port ? " on port " : "", port, columns[col],
		    value ? value : "(anything)", text);
	ck_assert_msg(seen(text, port, col, value), "%s = %s not decoded",
	    columns[col], value ? value : "(anything)");
}

/* Run tshark with argv (argv[0] "tshark"); what it printed (caller
 * frees), asserting a clean run: exit status 0, no word of Lua on its
 * stderr. what names the run in the report. */
static char *
tshark_run(const char *what, const char *const argv[])
{
	char *text, *errs;
	int rc = h_run("tshark", argv, NULL, &text, &errs, T_TOOL_MS);

	if (rc != 0 || strstr(errs, "Lua") || strstr(errs, "lua"))
		fprintf(stderr, "%s exited %d:\n%s\n", what, rc, errs);
	ck_assert_int_eq(rc, 0);
	ck_assert_ptr_null(strstr(errs, "Lua"));
	ck_assert_ptr_null(strstr(errs, "lua"));
	free(errs);
	return text;
}

/* Run tshark on the capture with the dissector, its port preferences
 * set to the cluster's ports, and extra arguments; returns its stdout
 * (caller frees), asserting a clean run. */
static char *
tshark(const char *cap, const char *const extra[], int nextra)
{
	const char *argv[64];
	char ports[2][80];
	int argc = 0, i;

	snprintf(ports[0], sizeof ports[0], "chat.client_ports:%u,%u",
	    cl.r[0].client_port, cl.r[1].client_port);
	snprintf(ports[1], sizeof ports[1], "chat.internal_ports:%u,%u",
	    cl.r[0].internal_port, cl.r[1].internal_port);
	ck_assert_int_le(nextra, 64 - 11);
	argv[argc++] = "tshark";
	argv[argc++] = "-n";
	argv[argc++] = "-r";
	argv[argc++] = cap;
	argv[argc++] = "-X";
	argv[argc++] = "lua_script:" LUA_PATH;
	argv[argc++] = "-o";
	argv[argc++] = ports[0];
	argv[argc++] = "-o";
	argv[argc++] = ports[1];
	for (i = 0; i < nextra; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	return tshark_run("tshark", argv);
}

/* 1 if tshark loads the dissector (its fields are registered); 0 if this
 * tshark runs no Lua plugins at all (built without Lua, or init.lua says
 * enable_lua = false, or run_user_scripts_when_superuser = false and we
 * are root). A Lua error in chat.lua is a failure, not a skip. */
static int
lua_loads(void)
{
	const char *const argv[] = { "tshark", "-G", "fields", "-X",
	    "lua_script:" LUA_PATH, NULL };
	char *text = tshark_run("tshark -G fields", argv);
	int ok = strstr(text, "\tchat.op\t") != NULL;

	free(text);
	return ok;
}

/* With CHECK_DISSECTOR_KEEP=PATH, the capture is copied there (to look
 * at it in Wireshark). */
static void
keep_capture(const char *cap)
{
	const char *dest = getenv("CHECK_DISSECTOR_KEEP");
	const char *const argv[] = { "cp", cap, dest, NULL };
	char *out;

	if (dest && *dest) {
		ck_assert_int_eq(h_run("cp", argv, NULL, &out, NULL, T_MS), 0);
		free(out);
	}
}

START_TEST(test_dissector_decodes_a_session)
{
	char cap[600], filter[200], code[16], path[1024], *text;
	const char *fields[3 + 2 * NCOLS];
	struct h_proc dumpcap;
	uint64_t deadline;
	uint16_t ecode;
	unsigned cport, iport;
	int p, i, n;

	if (h_which("tshark", path, sizeof path) == NULL ||
	    h_which("dumpcap", path, sizeof path) == NULL) {
		printf("check_dissector: SKIPPED: tshark (and dumpcap) not "
		    "installed; apt-get install tshark to run this test\n");
		return;
	}
	ck_assert_msg(access(LUA_PATH, R_OK) == 0, "%s not found: run the "
	    "test from the top of the source tree (make check does)",
	    LUA_PATH);
	ck_assert_int_eq(h_cluster_create(&cl, 2, NULL), 0);
	if (!lua_loads()) {
		printf("check_dissector: SKIPPED: this tshark runs no Lua "
		    "plugins (see enable_lua and "
		    "run_user_scripts_when_superuser in its init.lua)\n");
		h_cluster_destroy(&cl);
		return;
	}

	/* Capture first, so the internal handshake is in it too. */
	snprintf(cap, sizeof cap, "%s/session.pcapng", cl.dir);
	snprintf(filter, sizeof filter, "tcp port %u or tcp port %u or "
	    "tcp port %u or tcp port %u", cl.r[0].client_port,
	    cl.r[0].internal_port, cl.r[1].client_port, cl.r[1].internal_port);
	{
		const char *argv[] = { "dumpcap", "-q", "-i", "lo", "-f",
		    filter, "-w", cap, NULL };

		ck_assert_int_eq(h_proc_start(&dumpcap, "dumpcap", argv, NULL,
		    NULL, H_PROC_MERGE), 0);
	}
	/* dumpcap says "Capturing on 'Loopback: lo'" once the filter is in
	 * place; a failure (no permission) ends it instead. */
	if (h_proc_expect(&dumpcap, "Capturing on", T_MS) != 0) {
		ck_assert_msg(dumpcap.so.fd < 0, "dumpcap not ready");
		h_proc_finish(&dumpcap, T_MS);
		printf("check_dissector: SKIPPED: dumpcap cannot capture on lo "
		    "(root or CAP_NET_RAW needed):\n%s\n", dumpcap.out);
		free(dumpcap.out);
		h_cluster_destroy(&cl);
		return;
	}

	for (i = 0; i < 2; i++)
		ck_assert_int_eq(h_replica_start(&cl, i), 0);
	p = h_wait_primary(&cl, T_MS);
	ck_assert_int_ge(p, 0);
	ck_assert_int_eq(h_wait_isr(&cl, p, 2, T_MS), 0);
	cport = cl.r[p].client_port;
	/* The lower id connects: the link is on replica 2's internal port. */
	iport = cl.r[1].internal_port;
	ecode = drive_session((uint16_t)cport);

	/* The PING's token is in the capture twice (PING, PONG) once
	 * dumpcap has written everything up to the end of the session. */
	deadline = mono_ms() + T_MS;
	while (count_u64(cap, PING_TOKEN) < 2) {
		ck_assert_msg(mono_ms() < deadline, "PONG not captured");
		poll_pause();
	}
	kill(dumpcap.pid, SIGTERM);
	ck_assert_int_eq(h_proc_finish(&dumpcap, T_MS), 0);
	free(dumpcap.out);
	h_cluster_stop_all(&cl, SIGTERM);

	/* Every field of interest, one line per packet. */
	n = 0;
	fields[n++] = "-T";
	fields[n++] = "fields";
	fields[n++] = "-Eaggregator=~";
	for (i = 0; i < NCOLS; i++) {
		fields[n++] = "-e";
		fields[n++] = columns[i];
	}
	text = tshark(cap, fields, n);
	for (i = 0; i < 12; i++) {
		static const char *const ops[] = { "HELLO", "REGISTER", "OK",
		    "LOGIN", "SESSION", "SEND", "SENT", "INBOX", "INBOX_INFO",
		    "ERROR", "PING", "PONG" };

		expect(text, cport, C_OP, ops[i]);
	}
	expect(text, cport, C_REG_USER, "dissect_alice");
	expect(text, cport, C_REG_USER, "dissect_bob");
	expect(text, cport, C_SEND_BODY, BODY);
	snprintf(code, sizeof code, "%u", ecode);
	expect(text, cport, C_ERR_CODE, code);
	ck_assert_msg(strstr(text, wire_err_name(ecode)) != NULL,
	    "the ERROR's code is not named %s", wire_err_name(ecode));
	/* The internal port: handshake, sealed frames, shipped records. */
	for (i = 0; i < 5; i++) {
		static const char *const ops[] = { "HELLO", "AUTH",
		    "HEARTBEAT", "APPEND", "APPEND_ACK" };

		expect(text, iport, C_OP, ops[i]);
	}
	expect(text, iport, C_MAC_FLAG, "1");
	expect(text, iport, C_MAC, NULL);
	expect(text, iport, C_REC_USER, "dissect_alice");
	expect(text, iport, C_REC_BODY, BODY);
	free(text);

	/* Nothing malformed, no unknown opcode, no error — except the
	 * truncated SEND. Lua errors are error-severity expert infos. */
	{
		const char *const bad[] = { "-Y", "_ws.malformed or "
		    "chat.malformed or chat.unknown_opcode or "
		    "_ws.expert.severity == error", "-T", "fields", "-e",
		    "chat.op", "-e", "chat.request_id", "-e",
		    "_ws.expert.message" };

		text = tshark(cap, bad, (int)(sizeof bad / sizeof bad[0]));
		if (strncmp(text, "SEND\t99\t", 8) != 0 ||
		    strchr(text, '\n') != strrchr(text, '\n') ||
		    strstr(text, "to: length 40 runs past the payload") == NULL)
			fprintf(stderr, "frames marked bad (want only the "
			    "truncated SEND #99):\n%s\n", text);
		ck_assert_int_eq(strncmp(text, "SEND\t99\t", 8), 0);
		ck_assert_ptr_eq(strchr(text, '\n'), strrchr(text, '\n'));
		ck_assert_ptr_nonnull(strstr(text, "to: length 40 runs past the payload"));
		ck_assert_ptr_null(strstr(text, "Lua"));
		free(text);
	}
	keep_capture(cap);
	h_cluster_destroy(&cl);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_dissector_decodes_a_session,
		NULL
	};

	return h_run_tests("wireshark dissector", "wire/chat.lua", 180, tests);
}
