/*
 * ratelimit.c — the failure table of ratelimit.h.
 *
 * Layout: a power-of-two array of bucket heads (sized once from
 * max_entries, load factor <= 1), each entry chained in its bucket and on
 * one doubly-linked list ordered by last failure (oldest first). Every
 * change of an entry's time moves it to the tail, so with a monotonic
 * clock the list stays sorted and the expired entries are exactly a prefix
 * of it: each public call first drops that prefix (amortised O(1): an
 * entry is dropped once). A clock that steps back is tolerated: entries
 * only look younger, and lookups treat any entry past its ttl as absent.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "ratelimit.h"

struct rl_entry {
	uint64_t         hash;
	uint64_t         last_ms;	/* last failure */
	unsigned         failures;	/* consecutive */
	uint8_t          kind;
	char             key[RL_KEY_MAX + 1];
	struct rl_entry *hnext;		/* bucket chain */
	struct rl_entry *older, *newer;	/* age list */
};

struct ratelimit {
	struct rl_params  p;
	struct rl_entry **bucket;
	size_t            mask;		/* buckets - 1 */
	size_t            n;
	struct rl_entry  *oldest, *newest;
};

void
rl_params_default(struct rl_params *p)
{
	memset(p, 0, sizeof *p);
	p->policy[RL_ACCOUNT].grace = RL_ACCOUNT_GRACE;
	p->policy[RL_ACCOUNT].base_ms = RL_BASE_MS;
	p->policy[RL_ACCOUNT].cap_ms = RL_CAP_MS;
	p->policy[RL_ADDRESS].grace = RL_ADDRESS_GRACE;
	p->policy[RL_ADDRESS].base_ms = RL_BASE_MS;
	p->policy[RL_ADDRESS].cap_ms = RL_CAP_MS;
	p->ttl_ms = RL_TTL_MS;
	p->max_entries = RL_MAX_ENTRIES;
}

uint64_t
rl_delay(const struct rl_policy *p, unsigned failures)
{
	unsigned shift;
	uint64_t d;

	if (failures <= p->grace)
		return 0;
	shift = failures - p->grace - 1;
	/* base_ms < 2^32: a shift below 32 cannot overflow 64 bits. */
	d = shift >= 32 ? UINT64_MAX : (uint64_t)p->base_ms << shift;
	return d < p->cap_ms ? d : p->cap_ms;
}

/* ---- keys ------------------------------------------------------------------ */

static void
copy_cut(char *out, const char *in, size_t n)
{
	if (n > RL_KEY_MAX)
		n = RL_KEY_MAX;
	memcpy(out, in, n);
	out[n] = '\0';
}

/* "[v6]:port" (the text inside the brackets given) -> "v4", or "prefix/64". */
static int
ipv6_key(const char *text, size_t len, char out[RL_KEY_MAX + 1])
{
	char in[INET6_ADDRSTRLEN + 1], s[INET6_ADDRSTRLEN];
	struct in6_addr a;

	if (len >= sizeof in)
		return -1;
	memcpy(in, text, len);
	in[len] = '\0';
	if (inet_pton(AF_INET6, in, &a) != 1)
		return -1;
	if (IN6_IS_ADDR_V4MAPPED(&a)) {
		if (inet_ntop(AF_INET, &a.s6_addr[12], s, sizeof s) == NULL)
			return -1;
		copy_cut(out, s, strlen(s));
		return 0;
	}
	memset(&a.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a, s, sizeof s) == NULL)
		return -1;
	copy_cut(out, s, strlen(s));
	if (strlen(out) + 3 <= RL_KEY_MAX)
		strcat(out, "/64");
	return 0;
}

void
rl_key(enum rl_kind kind, const char *raw, char out[RL_KEY_MAX + 1])
{
	const char *colon, *close;
	size_t i;

	if (kind == RL_ACCOUNT) {
		copy_cut(out, raw, strlen(raw));
		for (i = 0; out[i]; i++)
			if (out[i] >= 'A' && out[i] <= 'Z')
				out[i] = (char)(out[i] - 'A' + 'a');
		return;
	}
	if (raw[0] == '[' && (close = strchr(raw, ']')) != NULL) {
		if (ipv6_key(raw + 1, (size_t)(close - raw - 1), out) == 0)
			return;
		copy_cut(out, raw, (size_t)(close - raw + 1));
		return;
	}
	/* "a.b.c.d:port": the port goes. Anything else ("fd 7") stays. */
	colon = strrchr(raw, ':');
	if (colon && strchr(raw, ':') == colon)
		copy_cut(out, raw, (size_t)(colon - raw));
	else
		copy_cut(out, raw, strlen(raw));
}

/* ---- SipHash-2-4 ---------------------------------------------------------------- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t
rl_siphash(const uint64_t k[2], const void *data, size_t n)
{
	const uint8_t *p = data, *end = p + (n & ~(size_t)7);
	uint64_t v0 = 0x736f6d6570736575ull ^ k[0];
	uint64_t v1 = 0x646f72616e646f6dull ^ k[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ k[0];
	uint64_t v3 = 0x7465646279746573ull ^ k[1];
	uint64_t m, b = (uint64_t)n << 56;
	size_t i;

	for (; p != end; p += 8) {
		m = load_le64(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < (n & 7); i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the table ------------------------------------------------------------------ */

struct ratelimit *
rl_new(const struct rl_params *p)
{
	struct ratelimit *rl = calloc(1, sizeof *rl);
	size_t nb = 16;

	if (rl == NULL)
		return NULL;
	rl->p = *p;
	if (rl->p.max_entries < 1)
		rl->p.max_entries = 1;
	while (nb < rl->p.max_entries)
		nb <<= 1;
	rl->bucket = calloc(nb, sizeof *rl->bucket);
	if (rl->bucket == NULL) {
		free(rl);
		return NULL;
	}
	rl->mask = nb - 1;
	return rl;
}

void
rl_free(struct ratelimit *rl)
{
	struct rl_entry *e, *next;

	if (rl == NULL)
		return;
	for (e = rl->oldest; e; e = next) {
		next = e->newer;
		free(e);
	}
	free(rl->bucket);
	free(rl);
}

size_t
rl_size(const struct ratelimit *rl)
{
	return rl->n;
}

static void
age_unlink(struct ratelimit *rl, struct rl_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		rl->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		rl->newest = e->older;
	e->older = e->newer = NULL;
}

static void
age_append(struct ratelimit *rl, struct rl_entry *e)
{
	e->older = rl->newest;
	e->newer = NULL;
	if (rl->newest)
		rl->newest->newer = e;
	else
		rl->oldest = e;
	rl->newest = e;
}

static void
entry_remove(struct ratelimit *rl, struct rl_entry *e)
{
	struct rl_entry **pp = &rl->bucket[e->hash & rl->mask];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	age_unlink(rl, e);
	rl->n--;
	free(e);
}

static int
expired(const struct ratelimit *rl, const struct rl_entry *e, uint64_t now)
{
	return now >= e->last_ms && now - e->last_ms >= rl->p.ttl_ms;
}

static void
expire(struct ratelimit *rl, uint64_t now)
{
	while (rl->oldest && expired(rl, rl->oldest, now))
		entry_remove(rl, rl->oldest);
}

static uint64_t
key_hash(const struct ratelimit *rl, enum rl_kind kind, const char *key)
{
	uint8_t b[RL_KEY_MAX + 1];
	size_t n = strlen(key);

	b[0] = (uint8_t)kind;
	memcpy(b + 1, key, n);
	return rl_siphash(rl->p.seed, b, n + 1);
}

/* The live entry of (kind, key), or NULL; *hash gets the key's hash. */
static struct rl_entry *
lookup(struct ratelimit *rl, enum rl_kind kind, const char *key,
       uint64_t now, uint64_t *hash)
{
	struct rl_entry *e;

	expire(rl, now);
	*hash = key_hash(rl, kind, key);
	for (e = rl->bucket[*hash & rl->mask]; e; e = e->hnext)
		if (e->hash == *hash && e->kind == kind &&
		    strcmp(e->key, key) == 0)
			break;
	if (e && expired(rl, e, now)) {
		entry_remove(rl, e);
		e = NULL;
	}
	return e;
}

/* The live entry for a raw (not yet normalised) key, or NULL. */
static struct rl_entry *
find(struct ratelimit *rl, enum rl_kind kind, const char *raw, uint64_t now)
{
	char key[RL_KEY_MAX + 1];
	uint64_t h;

	rl_key(kind, raw, key);
	return lookup(rl, kind, key, now, &h);
}

uint64_t
rl_wait(struct ratelimit *rl, enum rl_kind kind, const char *raw,
	uint64_t now_ms)
{
	struct rl_entry *e = find(rl, kind, raw, now_ms);
	uint64_t d, since;

	if (e == NULL)
		return 0;
	d = rl_delay(&rl->p.policy[kind], e->failures);
	since = now_ms > e->last_ms ? now_ms - e->last_ms : 0;
	return since >= d ? 0 : d - since;
}

void
rl_failure(struct ratelimit *rl, enum rl_kind kind, const char *raw,
	   uint64_t now_ms)
{
	char key[RL_KEY_MAX + 1];
	struct rl_entry *e;
	uint64_t h;

	rl_key(kind, raw, key);
	e = lookup(rl, kind, key, now_ms, &h);
	if (e == NULL) {
		if (rl->n >= rl->p.max_entries)
			entry_remove(rl, rl->oldest);
		e = calloc(1, sizeof *e);
		if (e == NULL)
			return;		/* not counted; nothing else breaks */
		e->hash = h;
		e->kind = (uint8_t)kind;
		memcpy(e->key, key, strlen(key) + 1);
		e->hnext = rl->bucket[h & rl->mask];
		rl->bucket[h & rl->mask] = e;
		rl->n++;
	} else {
		age_unlink(rl, e);
	}
	if (e->failures < UINT_MAX)
		e->failures++;
	e->last_ms = now_ms;
	age_append(rl, e);
}

void
rl_success(struct ratelimit *rl, enum rl_kind kind, const char *raw,
	   uint64_t now_ms)
{
	struct rl_entry *e = find(rl, kind, raw, now_ms);

	if (e)
		entry_remove(rl, e);
}

unsigned
rl_failures(struct ratelimit *rl, enum rl_kind kind, const char *raw,
	    uint64_t now_ms)
{
	struct rl_entry *e = find(rl, kind, raw, now_ms);

	return e ? e->failures : 0;
}
