/*
 * ratelimit.h — failed password checks slow down (DESIGN.md §8): a table of
 * consecutive failures per key with an exponential delay before the next
 * attempt, in bounded memory.
 *
 * Two kinds of key, counted apart: an account (the user name, lower-cased,
 * as names are compared ignoring case) and an address (the peer without its
 * port; IPv6 peers by their /64, which one host usually owns whole, and an
 * IPv4-mapped IPv6 address as the IPv4 address it is).
 *
 * After k consecutive failures of a key, with g grace failures for its kind:
 *     k <= g:  no delay;
 *     k >  g:  the next attempt waits base_ms * 2^(k-g-1) from the last
 *              failure, at most cap_ms.
 * A success resets the key (the caller decides which keys a success
 * resets: server logins reset the account, never the address — else one
 * valid account would launder an address's guesses). An attempt refused
 * during the delay counts for nothing. A key quiet for ttl_ms is
 * forgotten; at max_entries the least recently failed key is evicted.
 *
 * Nothing here reads a clock or does I/O: every call takes now_ms (any
 * monotonic millisecond clock), so the unit tests drive time themselves.
 * Lookups are O(1) on average: a chained hash table keyed with SipHash-2-4
 * under a random seed, as names and addresses are chosen by the peers
 * (a fixed hash would let them pile every entry into one chain). Entries
 * also sit on a list ordered by their last failure, which makes both
 * expiry (from the head) and eviction (the head) O(1).
 *
 * Not thread-safe; the server uses it from the loop thread only.
 */
#ifndef CHATD_RATELIMIT_H
#define CHATD_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Defaults (rl_params_default): the server's policy. */
#define RL_BASE_MS        250u		/* first delay */
#define RL_CAP_MS         30000u	/* longest delay */
#define RL_ACCOUNT_GRACE  2u		/* typos allowed before a delay */
#define RL_ADDRESS_GRACE  9u		/* more: many users may share one */
#define RL_TTL_MS         (15u * 60u * 1000u)	/* forgotten after quiet */
#define RL_MAX_ENTRIES    100000u	/* ~14 MiB at most (~130 B each) */

#define RL_KEY_MAX        64		/* longer keys are cut */

enum rl_kind { RL_ACCOUNT = 0, RL_ADDRESS = 1 };
#define RL_NKINDS 2

struct rl_policy {
	unsigned grace;		/* failures before the first delay */
	uint32_t base_ms;	/* delay after grace + 1 failures */
	uint32_t cap_ms;	/* delays double up to this */
};

struct rl_params {
	struct rl_policy policy[RL_NKINDS];
	uint64_t ttl_ms;	/* a key without failures this long goes */
	uint32_t max_entries;	/* table size cap (>= 1) */
	uint64_t seed[2];	/* SipHash key; random in the server */
};

struct ratelimit;

/* The defaults above, with a zero seed (the caller sets a random one). */
void rl_params_default(struct rl_params *p);

/* A new empty table, or NULL if out of memory. */
struct ratelimit *rl_new(const struct rl_params *p);
void rl_free(struct ratelimit *rl);

/*
 * The milliseconds an attempt for this key must still wait (0: go ahead).
 * raw is the name or the "host:port" peer as given; it is normalised here
 * (rl_key). Changes no counter; it may drop expired entries.
 */
uint64_t rl_wait(struct ratelimit *rl, enum rl_kind kind, const char *raw,
		 uint64_t now_ms);
/* A failed attempt: one more consecutive failure, from now_ms. */
void rl_failure(struct ratelimit *rl, enum rl_kind kind, const char *raw,
		uint64_t now_ms);
/* A successful attempt: the key starts again from zero failures. */
void rl_success(struct ratelimit *rl, enum rl_kind kind, const char *raw,
		uint64_t now_ms);
/* Consecutive failures counted for the key now (0 if none or expired). */
unsigned rl_failures(struct ratelimit *rl, enum rl_kind kind, const char *raw,
		     uint64_t now_ms);
/* Entries held (expired ones included until they are dropped). */
size_t rl_size(const struct ratelimit *rl);

/* The delay after `failures` consecutive failures under p (pure). */
uint64_t rl_delay(const struct rl_policy *p, unsigned failures);
/* The normalised key of raw for kind (see the top of this file). */
void rl_key(enum rl_kind kind, const char *raw, char out[RL_KEY_MAX + 1]);
/* SipHash-2-4 of p[0..n) under key k (k[0], k[1] as the reference
 * implementation reads the 16 key bytes, little-endian). */
uint64_t rl_siphash(const uint64_t k[2], const void *p, size_t n);

#endif
