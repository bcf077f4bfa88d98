/*
 * scenario.c — what the integration tests play on different networks
 * (check_failover.c on loopback, check_netns.c across network namespaces):
 * the six orders of two failures, and the end of every scenario (converge,
 * stop quietly, compare the stores, check each acknowledged message).
 * See harness.h. Failures are returned with a message, not asserted: the
 * caller fails the test its own way (dumping its logs first).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "net.h"

#define S_PHASE_MS    60000	/* one batch of messages acknowledged */
#define S_ELECT_MS    15000	/* a primary everyone follows */
#define S_REJOIN_MS   15000	/* a restarted replica back in the ISR */
#define S_CONVERGE_MS 15000	/* every log where the primary's ends */

/* Fail the calling function: the message goes to err. */
#define TRY(cond, ...) do {						\
	if (!(cond)) {							\
		snprintf(err, errlen, __VA_ARGS__);			\
		return -1;						\
	}								\
} while (0)

/* ---- two failures, in each of the six orders ------------------------- */

/*
 * B1 and B2 are the backups at the start, B1 the one with the lower id.
 * The second victim is named by its role when it is killed, after the
 * cluster settled on the first failure:
 *   FIRST              SECOND
 *   B1                 the other backup (B2)          backup -> backup
 *   B2                 the other backup (B1)          other backup -> backup
 *   P                  the remaining backup           primary -> backup
 *   B1                 the primary (P)                backup -> primary
 *   P                  the new primary                primary -> new primary
 *   B2                 the primary (P)                other backup -> primary
 * so the lone survivor is: P, P, the new primary, B2, the new primary's
 * backup (it must take over), B1.
 */
enum first { F_B1, F_B2, F_P };
enum second { S_BACKUP, S_PRIMARY };

static const struct order {
	const char *name;
	enum first  first;
	enum second second;
} orders[H_NORDERS] = {
	{ "B1 then B2",             F_B1, S_BACKUP },
	{ "B2 then B1",             F_B2, S_BACKUP },
	{ "P then the backup",      F_P,  S_BACKUP },
	{ "B1 then P",              F_B1, S_PRIMARY },
	{ "P then the new primary", F_P,  S_PRIMARY },
	{ "B2 then P",              F_B2, S_PRIMARY },
};

const char *
h_order_name(int k)
{
	return k >= 0 && k < H_NORDERS ? orders[k].name : "?";
}

static int
other_than(const struct h_cluster *c, int a, int b)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (i != a && i != b)
			return i;
	return -1;
}

/* Queue n more and return once `ack_first` of them are answered (all
 * queued so far if ack_first < 0). 0, or -1 with err. */
static int
send_n(struct h_sender *s, int n, int ack_first, char *err, size_t errlen)
{
	int want = ack_first < 0 ? s->n + n : s->nacked + ack_first;

	h_sender_queue(s, n);
	TRY(h_sender_pump(s, want, S_PHASE_MS) == 0, "%s", s->err);
	return 0;
}

int
h_two_failures(struct h_cluster *c, int p, int k, uint64_t client_id,
	       struct h_sender *s, char *err, size_t errlen)
{
	const struct order *o = &orders[k];
	int b1, b2, v1, v2, survivor, q;
	uint64_t t0;

	b1 = other_than(c, p, -1);
	b2 = other_than(c, p, b1);
	if (c->r[b1].id > c->r[b2].id) {
		int t = b1;
		b1 = b2;
		b2 = t;
	}
	h_sender_init(s, c, client_id, "alice", "pa", "bob", "m-", 4);
	TRY(h_sender_register(s, "bob", "pb", S_PHASE_MS) == 0, "%s", s->err);
	TRY(h_sender_register(s, "alice", "pa", S_PHASE_MS) == 0, "%s",
	    s->err);

	/* 30 before the first failure; the last few in flight at it. */
	if (send_n(s, 30, 25, err, errlen) < 0)
		return -1;
	v1 = o->first == F_B1 ? b1 : o->first == F_B2 ? b2 : p;
	TRY(h_replica_stop(c, v1, SIGKILL) != -1, "r%u did not stop",
	    c->r[v1].id);
	t0 = mono_ms();
	if (send_n(s, 0, -1, err, errlen) < 0)
		return -1;
	q = h_wait_primary(c, S_ELECT_MS);
	TRY(q >= 0, "no primary within %d ms", S_ELECT_MS);
	TRY(o->first == F_P || q == p, "losing backup r%u moved the primary "
	    "from r%u to r%u", c->r[v1].id, c->r[p].id, c->r[q].id);
	TRY(h_wait_isr(c, q, 2, S_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "shrink to 2", c->r[q].id);
	fprintf(stderr, "  r%u killed; r%u primary, ISR of 2, after %llu ms\n",
	    c->r[v1].id, c->r[q].id, (unsigned long long)(mono_ms() - t0));

	/* 30 between; the second failure with some in flight. */
	if (send_n(s, 30, 25, err, errlen) < 0)
		return -1;
	v2 = o->second == S_PRIMARY ? q : other_than(c, v1, q);
	TRY(h_replica_stop(c, v2, SIGKILL) != -1, "r%u did not stop",
	    c->r[v2].id);
	t0 = mono_ms();
	survivor = other_than(c, v1, v2);
	if (send_n(s, 0, -1, err, errlen) < 0)
		return -1;
	q = h_wait_primary(c, S_ELECT_MS);
	TRY(q == survivor, "the lone survivor r%u is not the primary",
	    c->r[survivor].id);
	TRY(h_wait_isr(c, q, 1, S_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "shrink to 1", c->r[q].id);
	fprintf(stderr, "  r%u killed; r%u serves alone after %llu ms\n",
	    c->r[v2].id, c->r[q].id, (unsigned long long)(mono_ms() - t0));

	/* 30 with the lone survivor. */
	if (send_n(s, 30, -1, err, errlen) < 0)
		return -1;

	/* Both come back, catch up and rejoin. */
	t0 = mono_ms();
	TRY(h_replica_start(c, v1) == 0, "r%u did not restart", c->r[v1].id);
	TRY(h_replica_start(c, v2) == 0, "r%u did not restart", c->r[v2].id);
	q = h_wait_primary(c, S_ELECT_MS);
	TRY(q == survivor, "after the restarts r%d leads, not the survivor "
	    "r%u", q >= 0 ? (int)c->r[q].id : -1, c->r[survivor].id);
	TRY(h_wait_isr(c, q, 3, S_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "grow to 3", c->r[q].id);
	fprintf(stderr, "  r%u and r%u back in the ISR after %llu ms\n",
	    c->r[v1].id, c->r[v2].id, (unsigned long long)(mono_ms() - t0));

	/* 30 after the restarts, with the whole ISR. */
	if (send_n(s, 30, -1, err, errlen) < 0)
		return -1;
	TRY(s->nacked == 120, "%d acknowledged, not 120", s->nacked);
	return q;
}

/* ---- the end of a scenario ----------------------------------------------- */

int
h_check_messages(const char *dump, const char *who, const struct h_sender *s,
		 const char *lost, char *err, size_t errlen)
{
	int *count = calloc((size_t)s->n + 1, sizeof *count);
	uint64_t *ids = calloc((size_t)s->n + 1, sizeof *ids);
	int k, missing = 0, doubled = 0, wrong_id = 0, kept = 0, first = 0;

	TRY(count && ids, "out of memory");
	h_dump_count_messages(dump, s->prefix, s->n, count, ids);
	for (k = 1; k <= s->n; k++) {
		const struct h_msg *m = &s->m[k];
		int acked = m->state == H_MSG_ACKED, bad = 1;

		if (count[k] > 1)
			doubled++;
		else if (lost && lost[k] && count[k] != 0)
			kept++;
		else if (!(lost && lost[k]) && acked && count[k] == 0)
			missing++;
		else if (!(lost && lost[k]) && acked && ids[k] != m->id)
			wrong_id++;
		else
			bad = 0;
		if (!bad)
			continue;
		first = first ? first : k;
		fprintf(stderr, "%s: %s%d (seq %" PRIu64 ", sent %d times): "
		    "%s%s, found %d times (id %" PRIu64 ")\n", who, s->prefix,
		    k, m->seq, m->sends, acked ? "acknowledged" :
		    "not acknowledged", lost && lost[k] ? ", expected lost" :
		    "", count[k], ids[k]);
		if (acked)
			fprintf(stderr, "    acknowledged with id %" PRIu64
			    " by r%u\n", m->id, s->c->r[m->acked_by].id);
	}
	free(count);
	free(ids);
	TRY(first == 0, "%s: of %d acknowledged messages %d missing, %d "
	    "stored twice, %d with another id than acknowledged, %d there "
	    "though lost (first: %s%d)", who, s->nacked, missing, doubled,
	    wrong_id, kept, s->prefix, first);
	return 0;
}

int
h_finish(struct h_cluster *c, int primary, struct h_sender **senders,
	 int nsenders, const char *const *lost, char **dumps, char *err,
	 size_t errlen)
{
	char *d[H_MAX_REPLICAS] = { NULL }, label[H_MAX_REPLICAS][16];
	int i, rc = -1;

	for (i = 0; i < nsenders; i++)
		h_sender_drop(senders[i]);
	TRY(h_wait_converged(c, primary, c->n, S_CONVERGE_MS) == 0,
	    "the logs did not converge on r%u's within %d ms",
	    c->r[primary].id, S_CONVERGE_MS);
	TRY(h_cluster_stop_quiescent(c, primary, SIGTERM) == 0,
	    "a replica did not stop cleanly on SIGTERM");
	for (i = 0; i < c->n; i++) {
		snprintf(label[i], sizeof label[i], "r%u", c->r[i].id);
		if (h_store_dump(c, i, &d[i]) < 0) {
			snprintf(err, errlen, "cannot dump r%u", c->r[i].id);
			goto out;
		}
	}
	for (i = 1; i < c->n; i++)
		if (h_dump_compare(d[0], label[0], d[i], label[i]) < 0) {
			snprintf(err, errlen, "the stores of r%u and r%u differ",
			    c->r[0].id, c->r[i].id);
			goto out;
		}
	for (i = 0; i < nsenders; i++)
		if (h_check_messages(d[0], label[0], senders[i],
		    lost ? lost[i] : NULL, err, errlen) < 0)
			goto out;
	rc = 0;
out:
	for (i = 0; i < c->n; i++) {
		if (dumps && rc == 0)
			dumps[i] = d[i];
		else
			free(d[i]);
	}
	return rc;
}
