/*
 * scenario.c — what the integration tests play on different networks
 * (check_failover.c on loopback, check_netns.c across network namespaces):
 * their building blocks (start, wait for a primary or an ISR, send), the
 * six orders of two failures, the line client across a failover, and the
 * end of every scenario (converge, stop quietly, compare the stores, check
 * each acknowledged message). See harness.h. Failures are CHECKs: the
 * test binary's h_on_fail() hook shows the cluster.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "h_check.h"
#include "harness.h"
#include "net.h"

/* ---- building blocks ----------------------------------------------------- */

int
h_other_than(const struct h_cluster *c, int a, int b)
{
	int i;

	for (i = 0; i < c->n; i++)
		if (i != a && i != b)
			return i;
	return -1;
}

void
h_check_rule1(struct h_cluster *c)
{
	struct h_status st[H_MAX_REPLICAS];
	int i, j, ok[H_MAX_REPLICAS];

	for (i = 0; i < c->n; i++)
		ok[i] = h_running(c, i) && h_status(c, i, &st[i], 1000) == 0;
	for (i = 0; i < c->n; i++)
		for (j = i + 1; j < c->n; j++)
			CHECK(!(ok[i] && ok[j] && st[i].role == H_ROLE_PRIMARY &&
			    st[j].role == H_ROLE_PRIMARY &&
			    st[i].epoch == st[j].epoch), "two primaries of epoch "
			    "%llu: r%u (log (%llu,%llu)) and r%u (log (%llu,%llu))",
			    (unsigned long long)st[i].epoch, c->r[i].id,
			    (unsigned long long)st[i].last_epoch,
			    (unsigned long long)st[i].last_lsn, c->r[j].id,
			    (unsigned long long)st[j].last_epoch,
			    (unsigned long long)st[j].last_lsn);
}

int
h_expect_primary(struct h_cluster *c)
{
	uint64_t deadline = mono_ms() + H_ELECT_MS;
	int p;

	/* Polled in short waits, so that two primaries of one epoch fail
	 * the test as what they are, not as a primary that never came. */
	for (;;) {
		h_check_rule1(c);
		p = h_wait_primary(c, 100);
		if (p >= 0)
			return p;
		CHECK(mono_ms() < deadline, "no primary within %d ms",
		    H_ELECT_MS);
	}
}

void
h_expect_isr(struct h_cluster *c, int p, int n)
{
	CHECK(h_wait_isr(c, p, n, H_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "reach %d members within %d ms", c->r[p].id, n, H_REJOIN_MS);
}

int
h_expect_full_isr(struct h_cluster *c)
{
	int p = h_expect_primary(c);

	h_expect_isr(c, p, c->n);
	return p;
}

int
h_start_all(struct h_cluster *c)
{
	int i;

	for (i = 0; i < c->n; i++)
		CHECK(h_replica_start(c, i) == 0, "r%u did not start",
		    c->r[i].id);
	return h_expect_full_isr(c);
}

void
h_sender_start(struct h_sender *s, struct h_cluster *c, uint64_t client_id,
	       const char *prefix, int window)
{
	h_sender_init(s, c, client_id, "alice", "pa", "bob", prefix, window);
	CHECK(h_sender_register(s, "bob", "pb", H_PHASE_MS) == 0, "%s",
	    s->err);
	CHECK(h_sender_register(s, "alice", "pa", H_PHASE_MS) == 0, "%s",
	    s->err);
}

void
h_send_all(struct h_sender *s, int n)
{
	h_sender_queue(s, n);
	CHECK(h_sender_pump(s, s->n, H_PHASE_MS) == 0, "%s", s->err);
}

void
h_send_some(struct h_sender *s, int n, int ack_first)
{
	int want = s->nacked + ack_first;

	h_sender_queue(s, n);
	CHECK(h_sender_pump(s, want, H_PHASE_MS) == 0, "%s", s->err);
}

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

void
h_two_failures(struct h_cluster *c, int p, int k, uint64_t client_id)
{
	const struct order *o = &orders[k];
	struct h_sender s, *ss = &s;
	int b1, b2, v1, v2, survivor, q;
	uint64_t t0;

	b1 = h_other_than(c, p, -1);
	b2 = h_other_than(c, p, b1);
	if (c->r[b1].id > c->r[b2].id) {
		int t = b1;
		b1 = b2;
		b2 = t;
	}
	h_sender_start(&s, c, client_id, "m-", 4);

	/* 30 before the first failure; the last few in flight at it. */
	h_send_some(&s, 30, 25);
	v1 = o->first == F_B1 ? b1 : o->first == F_B2 ? b2 : p;
	CHECK(h_replica_stop(c, v1, SIGKILL) != -1, "r%u did not stop",
	    c->r[v1].id);
	t0 = mono_ms();
	h_send_all(&s, 0);
	q = h_expect_primary(c);
	CHECK(o->first == F_P || q == p, "losing backup r%u moved the primary "
	    "from r%u to r%u", c->r[v1].id, c->r[p].id, c->r[q].id);
	CHECK(h_wait_isr(c, q, 2, H_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "shrink to 2", c->r[q].id);
	fprintf(stderr, "  r%u killed; r%u primary, ISR of 2, after %llu ms\n",
	    c->r[v1].id, c->r[q].id, (unsigned long long)(mono_ms() - t0));

	/* 30 between; the second failure with some in flight. */
	h_send_some(&s, 30, 25);
	v2 = o->second == S_PRIMARY ? q : h_other_than(c, v1, q);
	CHECK(h_replica_stop(c, v2, SIGKILL) != -1, "r%u did not stop",
	    c->r[v2].id);
	t0 = mono_ms();
	survivor = h_other_than(c, v1, v2);
	h_send_all(&s, 0);
	q = h_wait_primary(c, H_ELECT_MS);
	CHECK(q == survivor, "the lone survivor r%u is not the primary",
	    c->r[survivor].id);
	CHECK(h_wait_isr(c, q, 1, H_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "shrink to 1", c->r[q].id);
	fprintf(stderr, "  r%u killed; r%u serves alone after %llu ms\n",
	    c->r[v2].id, c->r[q].id, (unsigned long long)(mono_ms() - t0));

	/* 30 with the lone survivor. */
	h_send_all(&s, 30);

	/* Both come back, catch up and rejoin. */
	t0 = mono_ms();
	CHECK(h_replica_start(c, v1) == 0, "r%u did not restart", c->r[v1].id);
	CHECK(h_replica_start(c, v2) == 0, "r%u did not restart", c->r[v2].id);
	q = h_wait_primary(c, H_ELECT_MS);
	CHECK(q == survivor, "after the restarts r%d leads, not the survivor "
	    "r%u", q >= 0 ? (int)c->r[q].id : -1, c->r[survivor].id);
	CHECK(h_wait_isr(c, q, 3, H_REJOIN_MS) == 0, "the ISR of r%u did not "
	    "grow to 3", c->r[q].id);
	fprintf(stderr, "  r%u and r%u back in the ISR after %llu ms\n",
	    c->r[v1].id, c->r[v2].id, (unsigned long long)(mono_ms() - t0));

	/* 30 after the restarts, with the whole ISR. */
	h_send_all(&s, 30);
	CHECK(s.nacked == 120, "%d acknowledged, not 120", s.nacked);
	h_finish(c, q, &ss, 1, NULL, NULL);
	fprintf(stderr, "  %d acknowledged (%d re-sent, %d reconnects): all "
	    "there once, stores identical\n", s.nacked, s.resent,
	    s.reconnects);
	h_sender_free(&s);
}

/* ---- the line client across a failover ----------------------------------- */

void
h_client_failover(struct h_cluster *c, int p)
{
	struct h_proc alice, bob;

	ck_assert_int_eq(h_chat_spawn(c, &bob), 0);
	ck_assert_int_eq(h_chat_spawn(c, &alice), 0);
	h_proc_send(&bob, "/register bob pb");
	h_proc_send(&alice, "/register alice pa");
	CHECK(h_proc_expect(&bob, "registered bob", H_PHASE_MS) == 0, "bob");
	CHECK(h_proc_expect(&alice, "registered alice", H_PHASE_MS) == 0,
	    "alice");
	h_proc_send(&bob, "/login bob pb");
	h_proc_send(&alice, "/login alice pa");
	CHECK(h_proc_expect(&bob, "logged in", H_PHASE_MS) == 0, "bob login");
	CHECK(h_proc_expect(&alice, "logged in", H_PHASE_MS) == 0,
	    "alice login");
	h_proc_send(&alice, "/msg bob before the failover");
	CHECK(h_proc_expect(&bob, "before the failover", H_PHASE_MS) == 0,
	    "bob did not get the first message:\n%s", bob.out);

	CHECK(h_replica_stop(c, p, SIGKILL) != -1, "r%u did not stop",
	    c->r[p].id);
	CHECK(h_proc_expect(&bob, "lost", H_PHASE_MS) == 0 &&
	    h_proc_expect(&bob, "reconnected to replica", H_PHASE_MS) == 0 &&
	    h_proc_expect(&bob, "primary, epoch", H_PHASE_MS) == 0,
	    "bob's client did not say it reconnected:\n%s", bob.out);
	h_proc_send(&alice, "/msg bob after the failover");
	CHECK(h_proc_expect(&alice, "sent #", H_PHASE_MS) == 0, "alice");
	CHECK(h_proc_expect(&bob, "after the failover", H_PHASE_MS) == 0,
	    "bob did not get the second message:\n%s", bob.out);
	CHECK(h_count(bob.out, "before the failover") == 1 &&
	    h_count(bob.out, "after the failover") == 1,
	    "a message was shown twice or not at all:\n%s", bob.out);
	CHECK(h_proc_finish(&alice, H_PHASE_MS) == 0, "alice's exit status");
	CHECK(h_proc_finish(&bob, H_PHASE_MS) == 0, "bob's exit status");
	free(alice.out);
	free(bob.out);
}

/* ---- the end of a scenario ----------------------------------------------- */

void
h_check_messages(const char *dump, const char *who, const struct h_sender *s,
		 const char *lost)
{
	int *count = calloc((size_t)s->n + 1, sizeof *count);
	uint64_t *ids = calloc((size_t)s->n + 1, sizeof *ids);
	int k, missing = 0, doubled = 0, wrong_id = 0, kept = 0, first = 0;

	CHECK(count && ids, "out of memory");
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
	CHECK(first == 0, "%s: of %d acknowledged messages %d missing, %d "
	    "stored twice, %d with another id than acknowledged, %d there "
	    "though lost (first: %s%d)", who, s->nacked, missing, doubled,
	    wrong_id, kept, s->prefix, first);
}

void
h_finish(struct h_cluster *c, int primary, struct h_sender **senders,
	 int nsenders, const char *const *lost, char **dumps)
{
	char *d[H_MAX_REPLICAS] = { NULL }, label[H_MAX_REPLICAS][16];
	int i;

	for (i = 0; i < nsenders; i++)
		h_sender_drop(senders[i]);
	CHECK(h_wait_converged(c, primary, c->n, H_CONVERGE_MS) == 0,
	    "the logs did not converge on r%u's within %d ms",
	    c->r[primary].id, H_CONVERGE_MS);
	CHECK(h_cluster_stop_quiescent(c, primary, SIGTERM) == 0,
	    "a replica did not stop cleanly on SIGTERM");
	for (i = 0; i < c->n; i++) {
		snprintf(label[i], sizeof label[i], "r%u", c->r[i].id);
		CHECK(h_store_dump_ex(c, i, !c->logs_pruned, &d[i]) == 0,
		    "cannot dump r%u", c->r[i].id);
	}
	for (i = 1; i < c->n; i++)
		CHECK(h_dump_compare(d[0], label[0], d[i], label[i]) == 0,
		    "the stores of r%u and r%u differ", c->r[0].id, c->r[i].id);
	for (i = 0; i < nsenders; i++)
		h_check_messages(d[0], label[0], senders[i],
		    lost ? lost[i] : NULL);
	for (i = 0; i < c->n; i++) {
		if (dumps)
			dumps[i] = d[i];
		else
			free(d[i]);
	}
}
