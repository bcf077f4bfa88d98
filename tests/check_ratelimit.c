/*
 * check_ratelimit.c — unit tests for src/ratelimit.c, the failed-login
 * table (DESIGN.md §8). Time is a plain number passed to every call.
 *
 *  - rl_delay: nothing within the grace, then base doubling, the cap, no
 *    overflow for huge counts;
 *  - through the table: delays double from the last failure, count down
 *    with time, and reach exactly 0 at the deadline; waiting (or asking)
 *    during a delay counts for nothing;
 *  - a success resets its key only;
 *  - expiry after ttl of quiet (a failure restarts the quiet), and the
 *    memory is given back;
 *  - eviction of the least recently failed key at max_entries;
 *  - accounts and addresses are independent, even for the same text;
 *  - key normalisation: case, ports, IPv6 /64, IPv4-mapped;
 *  - many keys against a small cap (the table's invariants hold);
 *  - SipHash-2-4 against the reference test vectors.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h_check.h"
#include "ratelimit.h"

/* Grace 0, base 100, cap 1000 for both kinds unless a test changes it. */
static struct ratelimit *
mk(uint32_t max_entries, uint64_t ttl_ms)
{
	struct rl_params p;
	struct ratelimit *rl;
	int k;

	rl_params_default(&p);
	for (k = 0; k < RL_NKINDS; k++) {
		p.policy[k].grace = 0;
		p.policy[k].base_ms = 100;
		p.policy[k].cap_ms = 1000;
	}
	p.max_entries = max_entries;
	p.ttl_ms = ttl_ms;
	p.seed[0] = 0x0123456789abcdefull;
	p.seed[1] = 0xfedcba9876543210ull;
	rl = rl_new(&p);
	ck_assert_ptr_nonnull(rl);
	return rl;
}

START_TEST(test_delay_function)
{
	struct rl_policy p = { 2, 250, 30000 };
	struct rl_policy z = { 0, 250, 30000 };

	ck_assert_uint_eq(rl_delay(&p, 0), 0);
	ck_assert_uint_eq(rl_delay(&p, 1), 0);
	ck_assert_uint_eq(rl_delay(&p, 2), 0);
	ck_assert_uint_eq(rl_delay(&p, 3), 250);
	ck_assert_uint_eq(rl_delay(&p, 4), 500);
	ck_assert_uint_eq(rl_delay(&p, 5), 1000);
	ck_assert_uint_eq(rl_delay(&p, 9), 16000);
	ck_assert_uint_eq(rl_delay(&p, 10), 30000);	/* 32000, capped */
	ck_assert_uint_eq(rl_delay(&p, 40), 30000);	/* shift of 37 */
	ck_assert_uint_eq(rl_delay(&p, 100000), 30000);
	ck_assert_uint_eq(rl_delay(&p, UINT32_MAX), 30000);
	/* Without grace it is base * 2^(k-1). */
	ck_assert_uint_eq(rl_delay(&z, 0), 0);
	ck_assert_uint_eq(rl_delay(&z, 1), 250);
	ck_assert_uint_eq(rl_delay(&z, 2), 500);
	ck_assert_uint_eq(rl_delay(&z, 3), 1000);
}
END_TEST

/* The server's defaults are what the header says. */
START_TEST(test_defaults)
{
	struct rl_params p;

	rl_params_default(&p);
	ck_assert_uint_eq(p.policy[RL_ACCOUNT].grace, RL_ACCOUNT_GRACE);
	ck_assert_uint_eq(p.policy[RL_ADDRESS].grace, RL_ADDRESS_GRACE);
	ck_assert_uint_eq(p.policy[RL_ACCOUNT].base_ms, RL_BASE_MS);
	ck_assert_uint_eq(p.policy[RL_ADDRESS].cap_ms, RL_CAP_MS);
	ck_assert_uint_eq(p.ttl_ms, RL_TTL_MS);
	ck_assert_uint_eq(p.max_entries, RL_MAX_ENTRIES);
	ck_assert_uint_ge(RL_ADDRESS_GRACE, RL_ACCOUNT_GRACE);
}
END_TEST

START_TEST(test_delays_double)
{
	struct ratelimit *rl = mk(100, 60000);
	uint64_t t = 1000;

	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t), 0);
	rl_failure(rl, RL_ACCOUNT, "alice", t);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "alice", t), 1);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t), 100);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t + 40), 60);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t + 99), 1);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t + 100), 0);
	/* Asking during the delay did not extend it or count. */
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "alice", t + 100), 1);

	t += 100;
	rl_failure(rl, RL_ACCOUNT, "alice", t);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t), 200);
	t += 200;
	rl_failure(rl, RL_ACCOUNT, "alice", t);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t), 400);
	/* Counted from the last failure, not the first. */
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t + 150), 250);
	t += 400;
	rl_failure(rl, RL_ACCOUNT, "alice", t);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t), 800);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "alice", t), 4);
	/* A clock that steps back sees the full delay, not a wrap. */
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", t - 50), 800);
	/* Somebody else is not affected. */
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "bob", t), 0);
	rl_free(rl);
}
END_TEST

START_TEST(test_cap)
{
	struct ratelimit *rl = mk(100, 3600000);
	uint64_t t = 5;
	int i;

	for (i = 0; i < 60; i++) {
		rl_failure(rl, RL_ADDRESS, "10.0.0.1:1", t);
		t += rl_wait(rl, RL_ADDRESS, "10.0.0.1:1", t);
	}
	ck_assert_uint_eq(rl_failures(rl, RL_ADDRESS, "10.0.0.1:1", t), 60);
	rl_failure(rl, RL_ADDRESS, "10.0.0.1:1", t);
	ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "10.0.0.1:1", t), 1000);
	rl_free(rl);
}
END_TEST

START_TEST(test_grace)
{
	struct rl_params p;
	struct ratelimit *rl;

	rl_params_default(&p);
	rl = rl_new(&p);
	ck_assert_ptr_nonnull(rl);
	rl_failure(rl, RL_ACCOUNT, "carol", 0);
	rl_failure(rl, RL_ACCOUNT, "carol", 1);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "carol", 1), 0);
	rl_failure(rl, RL_ACCOUNT, "carol", 2);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "carol", 2), RL_BASE_MS);
	/* The address kind has a larger grace. */
	{
		unsigned i;
		for (i = 0; i < RL_ADDRESS_GRACE; i++)
			rl_failure(rl, RL_ADDRESS, "1.2.3.4:5", 10 + i);
		ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "1.2.3.4:5", 20), 0);
		rl_failure(rl, RL_ADDRESS, "1.2.3.4:6", 20);
		ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "1.2.3.4:7", 20),
		    RL_BASE_MS);
	}
	rl_free(rl);
}
END_TEST

START_TEST(test_reset_on_success)
{
	struct ratelimit *rl = mk(100, 60000);

	rl_failure(rl, RL_ACCOUNT, "alice", 10);
	rl_failure(rl, RL_ACCOUNT, "alice", 20);
	rl_failure(rl, RL_ADDRESS, "127.0.0.1:4000", 20);
	rl_failure(rl, RL_ACCOUNT, "bob", 20);
	ck_assert_uint_eq(rl_size(rl), 3);
	rl_success(rl, RL_ACCOUNT, "ALICE", 30);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "alice", 30), 0);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", 30), 0);
	/* Only that key: the address and bob keep their counts. */
	ck_assert_uint_eq(rl_failures(rl, RL_ADDRESS, "127.0.0.1:1", 30), 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "bob", 30), 1);
	ck_assert_uint_eq(rl_size(rl), 2);
	/* Counting starts again from one. */
	rl_failure(rl, RL_ACCOUNT, "alice", 40);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", 40), 100);
	/* A success for an unknown key is harmless. */
	rl_success(rl, RL_ACCOUNT, "nobody", 50);
	ck_assert_uint_eq(rl_size(rl), 3);
	rl_free(rl);
}
END_TEST

START_TEST(test_expiry)
{
	struct ratelimit *rl = mk(100, 1000);

	rl_failure(rl, RL_ACCOUNT, "old", 0);
	rl_failure(rl, RL_ACCOUNT, "old", 500);
	rl_failure(rl, RL_ACCOUNT, "young", 900);
	ck_assert_uint_eq(rl_size(rl), 2);
	/* "old" is quiet since 500: still there at 1499, gone at 1500. */
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "old", 1499), 2);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "old", 1500), 0);
	ck_assert_uint_eq(rl_size(rl), 1);	/* memory given back */
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "young", 1500), 1);
	/* A new failure starts from one. */
	rl_failure(rl, RL_ACCOUNT, "old", 1600);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "old", 1600), 1);
	/* Any call drops what expired, even for another key. */
	ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "9.9.9.9:9", 5000), 0);
	ck_assert_uint_eq(rl_size(rl), 0);
	rl_free(rl);
}
END_TEST

START_TEST(test_eviction_at_cap)
{
	struct ratelimit *rl = mk(4, 3600000);
	char k[16];
	int i;

	for (i = 0; i < 4; i++) {
		snprintf(k, sizeof k, "u%d", i);
		rl_failure(rl, RL_ACCOUNT, k, 100 + (uint64_t)i);
	}
	ck_assert_uint_eq(rl_size(rl), 4);
	/* u0 fails again: now the most recent, so u1 is the oldest. */
	rl_failure(rl, RL_ACCOUNT, "u0", 200);
	rl_failure(rl, RL_ACCOUNT, "u4", 201);
	ck_assert_uint_eq(rl_size(rl), 4);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "u1", 202), 0);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "u0", 202), 2);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "u2", 202), 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "u3", 202), 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "u4", 202), 1);
	rl_failure(rl, RL_ADDRESS, "10.1.1.1:2", 203);
	ck_assert_uint_eq(rl_size(rl), 4);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "u2", 204), 0);
	/* A table of one still works. */
	rl_free(rl);
	rl = mk(1, 3600000);
	rl_failure(rl, RL_ACCOUNT, "a", 1);
	rl_failure(rl, RL_ACCOUNT, "b", 2);
	ck_assert_uint_eq(rl_size(rl), 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "a", 3), 0);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "b", 3), 1);
	rl_free(rl);
}
END_TEST

START_TEST(test_kinds_independent)
{
	struct ratelimit *rl = mk(100, 60000);

	/* The same text as an account and as an address: two keys. */
	rl_failure(rl, RL_ADDRESS, "alice", 10);
	rl_failure(rl, RL_ADDRESS, "alice", 10);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "alice", 10), 0);
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "alice", 10), 0);
	ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "alice", 10), 200);
	rl_failure(rl, RL_ACCOUNT, "alice", 10);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "alice", 10), 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ADDRESS, "alice", 10), 2);
	rl_success(rl, RL_ACCOUNT, "alice", 11);
	ck_assert_uint_eq(rl_failures(rl, RL_ADDRESS, "alice", 11), 2);
	/* Different addresses are different keys. */
	rl_failure(rl, RL_ADDRESS, "10.0.0.1:5", 12);
	ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "10.0.0.2:5", 12), 0);
	ck_assert_uint_eq(rl_wait(rl, RL_ADDRESS, "10.0.0.1:6", 12), 100);
	rl_free(rl);
}
END_TEST

static void
key_is(enum rl_kind kind, const char *raw, const char *want)
{
	char out[RL_KEY_MAX + 1];

	rl_key(kind, raw, out);
	if (strcmp(out, want) != 0)
		fprintf(stderr, "rl_key(%d, '%s') = '%s', want '%s'\n",
		    (int)kind, raw, out, want);
	ck_assert_str_eq(out, want);
}

START_TEST(test_keys)
{
	char longname[200], out[RL_KEY_MAX + 1];
	struct ratelimit *rl;

	key_is(RL_ACCOUNT, "Alice.B_c-9", "alice.b_c-9");
	key_is(RL_ACCOUNT, "", "");
	key_is(RL_ADDRESS, "127.0.0.1:40000", "127.0.0.1");
	key_is(RL_ADDRESS, "192.168.1.20:1", "192.168.1.20");
	key_is(RL_ADDRESS, "[::1]:8000", "::/64");
	key_is(RL_ADDRESS, "[2001:db8:1:2:3:4:5:6]:80", "2001:db8:1:2::/64");
	key_is(RL_ADDRESS, "[2001:db8:1:2:ffff::9]:81", "2001:db8:1:2::/64");
	key_is(RL_ADDRESS, "[2001:db8:1:3::9]:81", "2001:db8:1:3::/64");
	key_is(RL_ADDRESS, "[::ffff:10.1.2.3]:9", "10.1.2.3");
	key_is(RL_ADDRESS, "[not an address]:9", "[not an address]");
	key_is(RL_ADDRESS, "fd 7", "fd 7");
	key_is(RL_ADDRESS, "", "");
	/* Too long: cut, never overflowing. */
	memset(longname, 'X', sizeof longname - 1);
	longname[sizeof longname - 1] = '\0';
	rl_key(RL_ACCOUNT, longname, out);
	ck_assert_uint_eq(strlen(out), RL_KEY_MAX);
	ck_assert_int_eq(out[0], 'x');

	/* Through the table: case and port do not make new keys. */
	rl = mk(100, 60000);
	rl_failure(rl, RL_ACCOUNT, "ALICE", 1);
	rl_failure(rl, RL_ACCOUNT, "alice", 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, "aLiCe", 1), 2);
	rl_failure(rl, RL_ADDRESS, "[2001:db8::1]:5", 1);
	rl_failure(rl, RL_ADDRESS, "[2001:db8::2]:6", 1);
	rl_failure(rl, RL_ADDRESS, "[::ffff:1.2.3.4]:7", 1);
	ck_assert_uint_eq(rl_failures(rl, RL_ADDRESS, "[2001:db8::77]:1", 1), 2);
	ck_assert_uint_eq(rl_failures(rl, RL_ADDRESS, "1.2.3.4:80", 1), 1);
	ck_assert_uint_eq(rl_size(rl), 3);
	rl_free(rl);
}
END_TEST

/* Many keys through a small table: at most max_entries, the most recent
 * ones present with the right counts, lookups consistent throughout. */
START_TEST(test_many_keys)
{
	enum { CAP = 1000, KEYS = 20000 };
	struct ratelimit *rl = mk(CAP, 3600000);
	char k[32];
	int i;

	for (i = 0; i < KEYS; i++) {
		snprintf(k, sizeof k, "user%d", i);
		rl_failure(rl, RL_ACCOUNT, k, 1000 + (uint64_t)i);
		if (i % 3 == 0)
			rl_failure(rl, RL_ACCOUNT, k, 1000 + (uint64_t)i);
		ck_assert_uint_le(rl_size(rl), CAP);
	}
	ck_assert_uint_eq(rl_size(rl), CAP);
	for (i = 0; i < KEYS; i++) {
		unsigned want = i < KEYS - CAP ? 0 : (i % 3 == 0 ? 2 : 1);
		snprintf(k, sizeof k, "USER%d", i);
		ck_assert_uint_eq(rl_failures(rl, RL_ACCOUNT, k, 30000), want);
	}
	/* Everything expires at once, and the table is reusable. */
	ck_assert_uint_eq(rl_wait(rl, RL_ACCOUNT, "user0", 10000000), 0);
	ck_assert_uint_eq(rl_size(rl), 0);
	rl_failure(rl, RL_ACCOUNT, "again", 10000001);
	ck_assert_uint_eq(rl_size(rl), 1);
	rl_free(rl);
	rl_free(NULL);
}
END_TEST

/* The reference vectors (SipHash paper, appendix A; vectors.h): key
 * 00 01 .. 0f, messages 00 01 .. (n-1). */
START_TEST(test_siphash)
{
	static const uint64_t key[2] = {
		0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull
	};
	uint8_t msg[64];
	int i;

	for (i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(rl_siphash(key, msg, 0), 0x726fdb47dd0e0e31ull);
	ck_assert_uint_eq(rl_siphash(key, msg, 1), 0x74f839c593dc67fdull);
	ck_assert_uint_eq(rl_siphash(key, msg, 8), 0x93f5f5799a932462ull);
	ck_assert_uint_eq(rl_siphash(key, msg, 15), 0xa129ca6149be45e5ull);
	ck_assert_uint_eq(rl_siphash(key, msg, 63), 0x958a324ceb064572ull);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = {
		test_delay_function,
		test_defaults,
		test_delays_double,
		test_cap,
		test_grace,
		test_reset_on_success,
		test_expiry,
		test_eviction_at_cap,
		test_kinds_independent,
		test_keys,
		test_many_keys,
		test_siphash,
		NULL
	};

	return h_run_tests("ratelimit", "core", 0, tests);
}
