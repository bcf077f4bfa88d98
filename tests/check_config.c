/*
 * check_config.c — unit tests for src/config.c (replicas.conf parser).
 *
 * Each error test feeds a small text to config_parse under the name
 * "replicas.conf" and asserts the exact message. A final test feeds
 * pseudo-random text (fixed-seed xorshift) and checks only that the parser
 * returns 0 or -1, terminates its message, and that any accepted config
 * satisfies the whole-file invariants.
 */
#define _POSIX_C_SOURCE 200809L

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "h_check.h"

#define NAME "replicas.conf"

static const char example[] =
	"# comment\n"
	"replica 1 127.0.0.1 7001 7101      # id host client_port internal_port\n"
	"replica 2 127.0.0.1 7002 7102\n"
	"replica 3 127.0.0.1 7003 7103\n"
	"heartbeat_ms 50\n"
	"election_timeout_ms 500\n"
	"data_dir data\n";

#define R3 \
	"replica 1 127.0.0.1 7001 7101\n" \
	"replica 2 127.0.0.1 7002 7102\n" \
	"replica 3 127.0.0.1 7003 7103\n"

/* Parse text; expect failure with exactly the message want. */
static void
expect_err(const char *text, const char *want)
{
	struct config c;
	char err[512];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(config_parse(&c, NAME, text, err, sizeof(err)), -1);
	ck_assert_str_eq(err, want);
}

/* Parse text; expect success. */
static void
expect_ok(struct config *c, const char *text)
{
	char err[512] = "";

	if (config_parse(c, NAME, text, err, sizeof(err)) != 0)
		ck_abort_msg("unexpected error: %s", err);
}

static void
assert_defaults_except_timing(const struct config *c)
{
	ck_assert_uint_eq(c->client_timeout_ms, 2000);
	ck_assert_uint_eq(c->hello_timeout_ms, 5000);
	ck_assert_uint_eq(c->idle_timeout_ms, 300000);
	ck_assert_uint_eq(c->max_clients, 20000);
	ck_assert_uint_eq(c->max_output_kb, 4096);
	ck_assert_uint_eq(c->max_inflight, 256);
	ck_assert_uint_eq(c->session_ttl_s, 3600);
	ck_assert_uint_eq(c->min_isr, 1);
	ck_assert_uint_eq(c->log_keep, 100000);
	ck_assert_uint_eq(c->sync_full, 1);
	ck_assert_str_eq(c->key_file, "");
}

START_TEST(test_defaults)
{
	struct config c;

	memset(&c, 0xa5, sizeof(c));
	config_defaults(&c);
	ck_assert_uint_eq(c.nreplicas, 0);
	ck_assert_uint_eq(c.heartbeat_ms, 50);
	ck_assert_uint_eq(c.election_timeout_ms, 500);
	ck_assert_str_eq(c.data_dir, "data");
	assert_defaults_except_timing(&c);
}
END_TEST

START_TEST(test_example)
{
	struct config c;
	unsigned i;

	expect_ok(&c, example);
	ck_assert_uint_eq(c.nreplicas, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_uint_eq(c.replicas[i].id, i + 1);
		ck_assert_str_eq(c.replicas[i].host, "127.0.0.1");
		ck_assert_uint_eq(c.replicas[i].client_port, 7001 + i);
		ck_assert_uint_eq(c.replicas[i].internal_port, 7101 + i);
	}
	ck_assert_uint_eq(c.heartbeat_ms, 50);
	ck_assert_uint_eq(c.election_timeout_ms, 500);
	ck_assert_str_eq(c.data_dir, "data");
	assert_defaults_except_timing(&c);
}
END_TEST

START_TEST(test_all_settings)
{
	struct config c;

	expect_ok(&c, R3
	    "heartbeat_ms 1\n"
	    "election_timeout_ms 600000\n"
	    "client_timeout_ms 100\n"
	    "hello_timeout_ms 600000\n"
	    "idle_timeout_ms 86400000\n"
	    "max_clients 1000000\n"
	    "max_output_kb 64\n"
	    "max_inflight 65535\n"
	    "session_ttl_s 31536000\n"
	    "min_isr 3\n"
	    "log_keep 0\n"
	    "sync normal\n"
	    "data_dir /var/lib/chatd\n"
	    "key_file /etc/chatd/cluster.key\n");
	ck_assert_uint_eq(c.heartbeat_ms, 1);
	ck_assert_uint_eq(c.election_timeout_ms, 600000);
	ck_assert_uint_eq(c.client_timeout_ms, 100);
	ck_assert_uint_eq(c.hello_timeout_ms, 600000);
	ck_assert_uint_eq(c.idle_timeout_ms, 86400000);
	ck_assert_uint_eq(c.max_clients, 1000000);
	ck_assert_uint_eq(c.max_output_kb, 64);
	ck_assert_uint_eq(c.max_inflight, 65535);
	ck_assert_uint_eq(c.session_ttl_s, 31536000);
	ck_assert_uint_eq(c.min_isr, 3);
	ck_assert_uint_eq(c.log_keep, 0);
	ck_assert_uint_eq(c.sync_full, 0);
	ck_assert_str_eq(c.data_dir, "/var/lib/chatd");
	ck_assert_str_eq(c.key_file, "/etc/chatd/cluster.key");

	expect_ok(&c, R3 "sync full\n");
	ck_assert_uint_eq(c.sync_full, 1);
	expect_ok(&c, R3 "max_clients 007\n");
	ck_assert_uint_eq(c.max_clients, 7);
}
END_TEST

START_TEST(test_hosts)
{
	struct config c;
	const struct replica_addr *r;

	expect_ok(&c,
	    "replica 1 ::1 7001 7101\n"
	    "replica 2 fe80::1 7002 7102\n"
	    "replica 3 node-3.example.com 7003 7103\n"
	    "replica 40000 my_host 1 65535\n");
	ck_assert_uint_eq(c.nreplicas, 4);
	ck_assert_str_eq(c.replicas[0].host, "::1");
	ck_assert_str_eq(c.replicas[1].host, "fe80::1");
	ck_assert_str_eq(c.replicas[2].host, "node-3.example.com");
	r = config_replica(&c, 40000);
	ck_assert_ptr_nonnull(r);
	ck_assert_str_eq(r->host, "my_host");
	ck_assert_uint_eq(r->client_port, 1);
	ck_assert_uint_eq(r->internal_port, 65535);
	ck_assert_ptr_null(config_replica(&c, 4));
	ck_assert_ptr_eq(config_replica(&c, 2), &c.replicas[1]);
}
END_TEST

START_TEST(test_same_port_other_host)
{
	struct config c;

	/* Ports only clash on the same host. */
	expect_ok(&c,
	    "replica 1 10.0.0.1 7001 7101\n"
	    "replica 2 10.0.0.2 7001 7101\n"
	    "replica 3 10.0.0.3 7101 7001\n");
	ck_assert_uint_eq(c.nreplicas, 3);
}
END_TEST

START_TEST(test_host_max_len)
{
	struct config c;
	char text[600], host[CONFIG_MAX_HOST + 2];

	memset(host, 'a', CONFIG_MAX_HOST);
	host[CONFIG_MAX_HOST] = '\0';
	snprintf(text, sizeof(text), "replica 1 %s 1 2\n", host);
	expect_ok(&c, text);
	ck_assert_str_eq(c.replicas[0].host, host);

	host[CONFIG_MAX_HOST] = 'a';
	host[CONFIG_MAX_HOST + 1] = '\0';
	snprintf(text, sizeof(text), "replica 1 %s 1 2\n", host);
	{
		char want[600];

		snprintf(want, sizeof(want), NAME ":1: bad host '%s'", host);
		expect_err(text, want);
	}
}
END_TEST

START_TEST(test_whitespace_comments_crlf)
{
	struct config c;

	expect_ok(&c,
	    "  # indented comment\r\n"
	    "\r\n"
	    "\treplica\t1\t127.0.0.1 \t7001\t7101\t# trailing\r\n"
	    "replica 2 127.0.0.1 7002 7102#no space before comment\r\n"
	    "   \t  \r\n"
	    "heartbeat_ms\t\t60  \r\n"
	    "data_dir d#comment\r\n"
	    "#\n"
	    "election_timeout_ms 700");	/* no final newline */
	ck_assert_uint_eq(c.nreplicas, 2);
	ck_assert_uint_eq(c.replicas[0].id, 1);
	ck_assert_uint_eq(c.replicas[0].client_port, 7001);
	ck_assert_uint_eq(c.replicas[0].internal_port, 7101);
	ck_assert_uint_eq(c.replicas[1].internal_port, 7102);
	ck_assert_uint_eq(c.heartbeat_ms, 60);
	ck_assert_uint_eq(c.election_timeout_ms, 700);
	ck_assert_str_eq(c.data_dir, "d");
}
END_TEST

/* Found by fuzz_config: a second '\r' ended up inside the path. Every
 * '\r' is a blank, so no value can contain one. */
START_TEST(test_cr_never_in_a_value)
{
	struct config c;

	expect_ok(&c, R3 "data_dir x\r\r\n");
	ck_assert_str_eq(c.data_dir, "x");
	expect_ok(&c, R3 "data_dir y\r#comment\r\n");
	ck_assert_str_eq(c.data_dir, "y");
	expect_err(R3 "key_file k\rz\n",
	    NAME ":4: setting 'key_file' needs one value");
}
END_TEST

START_TEST(test_err_unknown_setting)
{
	expect_err(R3 "foo 1\n", NAME ":4: unknown setting 'foo'");
	expect_err(R3 "foo\n", NAME ":4: unknown setting 'foo'");
	expect_err("Replica 1 h 1 2\n", NAME ":1: unknown setting 'Replica'");
	expect_err("HEARTBEAT_MS 5\n",
	    NAME ":1: unknown setting 'HEARTBEAT_MS'");
}
END_TEST

START_TEST(test_err_replica_fields)
{
	const char *want = NAME ":2: replica needs ID HOST CLIENT_PORT "
	    "INTERNAL_PORT";

	expect_err("\nreplica\n", want);
	expect_err("\nreplica 1 127.0.0.1 7001\n", want);
	expect_err("\nreplica 1 127.0.0.1 7001 7101 7201\n", want);
	expect_err("\nreplica 1 127.0.0.1 7001 7101 a b c d e f\n", want);
}
END_TEST

START_TEST(test_err_replica_numbers)
{
	expect_err("replica x 127.0.0.1 7001 7101\n",
	    NAME ":1: bad replica id 'x' (1-65535)");
	expect_err("replica 0 127.0.0.1 7001 7101\n",
	    NAME ":1: bad replica id '0' (1-65535)");
	expect_err("replica 65536 127.0.0.1 7001 7101\n",
	    NAME ":1: bad replica id '65536' (1-65535)");
	expect_err("replica +1 127.0.0.1 7001 7101\n",
	    NAME ":1: bad replica id '+1' (1-65535)");
	expect_err("replica -1 127.0.0.1 7001 7101\n",
	    NAME ":1: bad replica id '-1' (1-65535)");
	expect_err("replica 99999999999999999999999 127.0.0.1 7001 7101\n",
	    NAME ":1: bad replica id '99999999999999999999999' (1-65535)");
	expect_err("replica 1 127.0.0.1 70000 7101\n",
	    NAME ":1: bad client port '70000' (1-65535)");
	expect_err("replica 1 127.0.0.1 0 7101\n",
	    NAME ":1: bad client port '0' (1-65535)");
	expect_err("replica 1 127.0.0.1 0x10 7101\n",
	    NAME ":1: bad client port '0x10' (1-65535)");
	expect_err("replica 1 127.0.0.1 7001 7101a\n",
	    NAME ":1: bad internal port '7101a' (1-65535)");
	expect_err("replica 1 127.0.0.1 7001 18446744073709551617\n",
	    NAME ":1: bad internal port '18446744073709551617' (1-65535)");
}
END_TEST

START_TEST(test_err_host)
{
	expect_err("replica 1 [::1] 7001 7101\n", NAME ":1: bad host '[::1]'");
	expect_err("replica 1 a/b 7001 7101\n", NAME ":1: bad host 'a/b'");
	expect_err("replica 1 h\xc3\xa9 7001 7101\n",
	    NAME ":1: bad host 'h\xc3\xa9'");
	expect_err("replica 1 a\vb 7001 7101\n", NAME ":1: bad host 'a\vb'");
}
END_TEST

START_TEST(test_err_duplicates)
{
	expect_err("replica 1 127.0.0.1 7001 7101\n"
	    "replica 2 127.0.0.1 7002 7102\n"
	    "replica 2 127.0.0.1 7003 7103\n",
	    NAME ":3: duplicate replica id 2");
	expect_err("replica 1 127.0.0.1 7001 7101\n"
	    "replica 2 127.0.0.1 7002 7102\n"
	    "replica 3 127.0.0.1 7003 7103\n"
	    "replica 4 127.0.0.1 7002 7104\n",
	    NAME ":4: duplicate client port 7002");
	expect_err("replica 1 127.0.0.1 7001 7101\n"
	    "replica 2 127.0.0.1 7002 7102\n"
	    "replica 3 127.0.0.1 7003 7102\n",
	    NAME ":3: duplicate internal port 7102");
	/* Client port equal to another replica's internal port. */
	expect_err("replica 1 127.0.0.1 7001 7101\n"
	    "replica 2 127.0.0.1 7101 7102\n",
	    NAME ":2: duplicate client port 7101");
	/* Internal port equal to another replica's client port. */
	expect_err("replica 1 127.0.0.1 7001 7101\n"
	    "replica 2 127.0.0.1 7002 7001\n",
	    NAME ":2: duplicate internal port 7001");
	/* A replica's own two ports. */
	expect_err("replica 1 127.0.0.1 7001 7001\n",
	    NAME ":1: duplicate internal port 7001");
	/* Host comparison ignores case; leading zeros do not hide a port. */
	expect_err("replica 1 Node1 7001 7101\n"
	    "replica 2 nODE1 07001 7102\n",
	    NAME ":2: duplicate client port 7001");
}
END_TEST

START_TEST(test_err_too_many)
{
	char text[4096];
	size_t off = 0;
	int i;

	for (i = 1; i <= CONFIG_MAX_REPLICAS + 1; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		    "replica %d h %d %d\n", i, 1000 + i, 2000 + i);
	expect_err(text, NAME ":17: too many replicas (max 16)");

	/* Exactly CONFIG_MAX_REPLICAS is fine. */
	{
		struct config c;
		char *last = strstr(text, "replica 17 ");

		ck_assert_ptr_nonnull(last);
		*last = '\0';
		expect_ok(&c, text);
		ck_assert_uint_eq(c.nreplicas, CONFIG_MAX_REPLICAS);
	}
}
END_TEST

START_TEST(test_err_setting_values)
{
	expect_err(R3 "heartbeat_ms abc\n",
	    NAME ":4: bad value 'abc' for heartbeat_ms (1-60000)");
	expect_err(R3 "heartbeat_ms 0\n",
	    NAME ":4: bad value '0' for heartbeat_ms (1-60000)");
	expect_err(R3 "heartbeat_ms 60001\n",
	    NAME ":4: bad value '60001' for heartbeat_ms (1-60000)");
	expect_err(R3 "heartbeat_ms -5\n",
	    NAME ":4: bad value '-5' for heartbeat_ms (1-60000)");
	expect_err(R3 "election_timeout_ms 1\n",
	    NAME ":4: bad value '1' for election_timeout_ms (2-600000)");
	expect_err(R3 "client_timeout_ms 99\n",
	    NAME ":4: bad value '99' for client_timeout_ms (100-600000)");
	expect_err(R3 "hello_timeout_ms 600001\n",
	    NAME ":4: bad value '600001' for hello_timeout_ms (100-600000)");
	expect_err(R3 "idle_timeout_ms 999\n",
	    NAME ":4: bad value '999' for idle_timeout_ms (1000-86400000)");
	expect_err(R3 "max_clients 1000001\n",
	    NAME ":4: bad value '1000001' for max_clients (1-1000000)");
	expect_err(R3 "max_output_kb 63\n",
	    NAME ":4: bad value '63' for max_output_kb (64-1048576)");
	expect_err(R3 "max_inflight 65536\n",
	    NAME ":4: bad value '65536' for max_inflight (1-65535)");
	expect_err(R3 "session_ttl_s 9\n",
	    NAME ":4: bad value '9' for session_ttl_s (10-31536000)");
	expect_err(R3 "min_isr 17\n",
	    NAME ":4: bad value '17' for min_isr (1-16)");
	expect_err(R3 "min_isr 0\n",
	    NAME ":4: bad value '0' for min_isr (1-16)");
	expect_err(R3 "log_keep 100000001\n",
	    NAME ":4: bad value '100000001' for log_keep (0-100000000)");
	expect_err(R3 "log_keep 4294967296\n",
	    NAME ":4: bad value '4294967296' for log_keep (0-100000000)");
	expect_err(R3 "sync x\n",
	    NAME ":4: bad value 'x' for sync (full|normal)");
	expect_err(R3 "sync FULL\n",
	    NAME ":4: bad value 'FULL' for sync (full|normal)");
}
END_TEST

START_TEST(test_err_setting_shape)
{
	expect_err(R3 "heartbeat_ms 50\nheartbeat_ms 60\n",
	    NAME ":5: duplicate setting 'heartbeat_ms'");
	expect_err(R3 "data_dir\n",
	    NAME ":4: setting 'data_dir' needs one value");
	expect_err(R3 "data_dir   # value commented out\n",
	    NAME ":4: setting 'data_dir' needs one value");
	expect_err(R3 "data_dir my data\n",
	    NAME ":4: setting 'data_dir' needs one value");
	expect_err(R3 "heartbeat_ms 50 ms\n",
	    NAME ":4: setting 'heartbeat_ms' needs one value");
}
END_TEST

START_TEST(test_err_path_too_long)
{
	static char text[CONFIG_MAX_PATH + 256];
	struct config c;
	int n;

	n = snprintf(text, sizeof(text), R3 "data_dir ");
	memset(text + n, 'p', CONFIG_MAX_PATH - 1);
	text[n + CONFIG_MAX_PATH - 1] = '\0';
	expect_ok(&c, text);
	ck_assert_uint_eq(strlen(c.data_dir), CONFIG_MAX_PATH - 1);

	text[n + CONFIG_MAX_PATH - 1] = 'p';
	text[n + CONFIG_MAX_PATH] = '\0';
	expect_err(text, NAME ":4: path too long for data_dir");

	n = snprintf(text, sizeof(text), R3 "key_file ");
	memset(text + n, 'k', CONFIG_MAX_PATH);
	text[n + CONFIG_MAX_PATH] = '\0';
	expect_err(text, NAME ":4: path too long for key_file");
}
END_TEST

START_TEST(test_err_line_too_long)
{
	static char text[8192];
	struct config c;
	size_t n;

	/* 4096 bytes of comment is fine, also with CRLF. */
	n = (size_t)snprintf(text, sizeof(text), R3);
	memset(text + n, '#', 4096);
	memcpy(text + n + 4096, "\r\n", 3);
	expect_ok(&c, text);

	memset(text + n, '#', 4097);
	memcpy(text + n + 4097, "\n", 2);
	expect_err(text, NAME ":4: line too long");

	/* Last line without a newline. */
	text[n + 4097] = '\0';
	expect_err(text, NAME ":4: line too long");
}
END_TEST

START_TEST(test_err_whole_file)
{
	expect_err("", NAME ": no replicas defined");
	expect_err("# nothing\n\nheartbeat_ms 5\n", NAME ": no replicas defined");
	expect_err(R3 "heartbeat_ms 600\n",
	    NAME ": heartbeat_ms (600) must be less than "
	    "election_timeout_ms (500)");
	expect_err(R3 "heartbeat_ms 500\n",
	    NAME ": heartbeat_ms (500) must be less than "
	    "election_timeout_ms (500)");
	expect_err(R3 "election_timeout_ms 40\n",
	    NAME ": heartbeat_ms (50) must be less than "
	    "election_timeout_ms (40)");
	expect_err(R3 "min_isr 4\n",
	    NAME ": min_isr (4) is larger than the number of replicas (3)");
}
END_TEST

START_TEST(test_err_first_wins)
{
	expect_err("replica x h 1 2\nfoo 1\n",
	    NAME ":1: bad replica id 'x' (1-65535)");
}
END_TEST

START_TEST(test_err_buffers)
{
	struct config c;
	char small[8];

	/* err may be NULL or tiny. */
	ck_assert_int_eq(config_parse(&c, NAME, "foo 1\n", NULL, 0), -1);
	ck_assert_int_eq(config_parse(&c, NAME, "foo 1\n", small, 0), -1);
	ck_assert_int_eq(config_parse(&c, NAME, "foo 1\n", small,
	    sizeof(small)), -1);
	ck_assert_str_eq(small, "replica");
	ck_assert_int_eq(config_parse(&c, NAME, "", small, sizeof(small)),
	    -1);
	ck_assert_str_eq(small, "replica");
	ck_assert_int_eq(config_parse(&c, NAME, "foo 1\n", small, 1), -1);
	ck_assert_str_eq(small, "");
	ck_assert_int_eq(config_parse(&c, NAME, example, NULL, 0), 0);
}
END_TEST

START_TEST(test_nul_stops)
{
	static const char text[] = R3 "\0foo 1\n";
	struct config c;

	expect_ok(&c, text);
	ck_assert_uint_eq(c.nreplicas, 3);
}
END_TEST

/* Write data to a fresh temp file; returns its path in path. */
static void
write_temp(char *path, size_t pathlen, const char *data, size_t len)
{
	int fd;

	snprintf(path, pathlen, "/tmp/check_config.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

START_TEST(test_load_missing)
{
	struct config c;
	char err[512];

	ck_assert_int_eq(config_load(&c, "/nonexistent/replicas.conf", err,
	    sizeof(err)), -1);
	ck_assert_ptr_nonnull(strstr(err, "cannot open"));
	ck_assert_str_eq(err, "/nonexistent/replicas.conf: cannot open: "
	    "No such file or directory");
}
END_TEST

START_TEST(test_load_file)
{
	struct config c;
	char path[64], err[512] = "", want[600];

	write_temp(path, sizeof(path), example, strlen(example));
	if (config_load(&c, path, err, sizeof(err)) != 0)
		ck_abort_msg("config_load: %s", err);
	ck_assert_uint_eq(c.nreplicas, 3);
	ck_assert_uint_eq(c.replicas[2].internal_port, 7103);
	ck_assert_str_eq(c.data_dir, "data");
	unlink(path);

	/* Errors name the path as given. */
	write_temp(path, sizeof(path), R3 "bogus 1\n", strlen(R3) + 8);
	ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: unknown setting 'bogus'", path);
	ck_assert_str_eq(err, want);
	unlink(path);

	/* A NUL byte in a file is reported, not silently truncated. */
	write_temp(path, sizeof(path), R3 "\0foo\n", strlen(R3) + 5);
	ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:4: NUL byte in file", path);
	ck_assert_str_eq(err, want);
	unlink(path);

	/* A directory cannot be read. */
	ck_assert_int_eq(config_load(&c, "/tmp", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "/tmp: cannot read: Is a directory");
}
END_TEST

START_TEST(test_load_too_large)
{
	struct config c;
	char path[64], err[512], want[600];
	size_t len = 1024 * 1024;
	char *big = malloc(len + 1);

	ck_assert_ptr_nonnull(big);
	memset(big, '\n', len + 1);
	memcpy(big, example, strlen(example));

	/* Exactly 1 MiB is accepted. */
	write_temp(path, sizeof(path), big, len);
	ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), 0);
	unlink(path);

	write_temp(path, sizeof(path), big, len + 1);
	ck_assert_int_eq(config_load(&c, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: file too large", path);
	ck_assert_str_eq(err, want);
	unlink(path);
	free(big);
}
END_TEST

START_TEST(test_print_settings)
{
	static const char *keys[] = {
		"heartbeat_ms", "election_timeout_ms", "client_timeout_ms",
		"hello_timeout_ms", "idle_timeout_ms", "max_clients",
		"max_output_kb", "max_inflight", "session_ttl_s", "min_isr",
		"log_keep", "sync", "data_dir", "key_file",
	};
	char *buf = NULL, *line;
	size_t len = 0, i, nlines = 0;
	FILE *f = open_memstream(&buf, &len);

	ck_assert_ptr_nonnull(f);
	config_print_settings(f);
	ck_assert_int_eq(fclose(f), 0);
	for (i = 0; i < len; i++)
		nlines += buf[i] == '\n';
	ck_assert_uint_eq(nlines, sizeof(keys) / sizeof(keys[0]));
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "%s ", keys[i]);
		line = strstr(buf, want);
		ck_assert_msg(line != NULL, "no line for %s", keys[i]);
		ck_assert_msg(line == buf || line[-1] == '\n',
		    "%s not at line start", keys[i]);
	}
	line = strstr(buf, "heartbeat_ms ");
	ck_assert_ptr_nonnull(strstr(line, "1-60000"));
	ck_assert_ptr_nonnull(strstr(line, " 50 "));
	line = strstr(buf, "sync ");
	ck_assert_ptr_nonnull(strstr(line, "full|normal"));
	free(buf);
}
END_TEST

/* Append a random piece, biased towards things the grammar knows. */
static size_t
random_piece(uint64_t *rng, char *out, size_t room)
{
	static const char *words[] = {
		"replica", "heartbeat_ms", "election_timeout_ms", "min_isr",
		"sync", "full", "normal", "data_dir", "key_file", "1", "2",
		"65535", "65536", "0", "7001", "7101", "127.0.0.1", "::1",
		"99999999999999999999", " ", "\t", "\n", "\r\n", "#", "\r",
		"log_keep", "x",
	};
	uint64_t r = h_xorshift64(rng);
	size_t n;

	if (room == 0)
		return 0;
	if (r % 4 == 0) {		/* one arbitrary byte, not NUL */
		out[0] = (char)(1 + (r >> 8) % 255);
		return 1;
	}
	n = strlen(words[(r >> 8) % (sizeof(words) / sizeof(words[0]))]);
	if (n > room)
		return 0;
	memcpy(out, words[(r >> 8) % (sizeof(words) / sizeof(words[0]))], n);
	return n;
}

START_TEST(test_random)
{
	static char text[6000];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	struct config c;
	char err[256];
	int iter, nok = 0;

	for (iter = 0; iter < 5000; iter++) {
		size_t len = 0, want = h_xorshift64(&rng) % 400;
		int rc;

		if (iter % 500 == 0)	/* long lines */
			want = 4000 + h_xorshift64(&rng) % 1000;
		if (iter % 3 == 0) {
			/* Pure random bytes, NULs included. */
			for (len = 0; len < want; len++)
				text[len] = (char)h_xorshift64(&rng);
		} else {
			if (iter % 2 == 0)
				len = (size_t)snprintf(text, sizeof(text),
				    "%s", R3);
			while (len < want) {
				size_t k = random_piece(&rng, text + len,
				    sizeof(text) - 1 - len);
				if (k == 0)
					break;
				len += k;
			}
		}
		text[len] = '\0';
		memset(err, 'x', sizeof(err));
		rc = config_parse(&c, NAME, text, err, sizeof(err));
		ck_assert_msg(rc == 0 || rc == -1, "rc %d", rc);
		if (rc == -1) {
			ck_assert_ptr_nonnull(memchr(err, '\0', sizeof(err)));
			ck_assert_int_eq(strncmp(err, NAME ":", 14), 0);
			continue;
		}
		nok++;
		ck_assert_uint_ge(c.nreplicas, 1);
		ck_assert_uint_le(c.nreplicas, CONFIG_MAX_REPLICAS);
		ck_assert_uint_lt(c.heartbeat_ms, c.election_timeout_ms);
		ck_assert_uint_le(c.min_isr, c.nreplicas);
	}
	/* The generator must reach success sometimes to be meaningful. */
	ck_assert_int_gt(nok, 0);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_defaults,
		test_example,
		test_all_settings,
		test_hosts,
		test_same_port_other_host,
		test_host_max_len,
		test_whitespace_comments_crlf,
		test_cr_never_in_a_value,
		test_err_unknown_setting,
		test_err_replica_fields,
		test_err_replica_numbers,
		test_err_host,
		test_err_duplicates,
		test_err_too_many,
		test_err_setting_values,
		test_err_setting_shape,
		test_err_path_too_long,
		test_err_line_too_long,
		test_err_whole_file,
		test_err_first_wins,
		test_err_buffers,
		test_nul_stops,
		test_load_missing,
		test_load_file,
		test_load_too_large,
		test_print_settings,
		test_random,
		NULL
	};

	return h_run_tests("config", "core", 60, tests);
}
