/*
 * chatbench_fo_verify.c — counting on the primary what a failover run
 * left there, right after the run (fo_verify) or later (recount mode).
 *
 * The verification connection (fo->vc, chatbench_fo_conn.c) logs in as
 * the recipient and FETCHes its whole view, a page at a time; each page
 * comes here. A body fo-<k> from the run's sender counts for message k;
 * anything else is "foreign" (another run's, or not ours).
 */
#include <inttypes.h>
#include <stdlib.h>
#include "chatbench_fo.h"

/* k of a body "fo-<k>"; -1 if it is not one. */
static int
body_k(const char *body, uint64_t *k)
{
	char *end;

	if (strncmp(body, "fo-", 3) != 0 || body[3] < '0' || body[3] > '9')
		return -1;
	errno = 0;
	*k = strtoull(body + 3, &end, 10);
	return errno || *end ? -1 : 0;
}

/* recount mode: keep k, in FETCH order. */
static void
found_add(struct fo *f, uint64_t k)
{
	if (f->nfound == f->capfound) {
		size_t cap = f->capfound ? f->capfound * 2 : 4096;
		uint64_t *nv = realloc(f->found, cap * sizeof *nv);

		if (nv == NULL) {
			fprintf(stderr, "chatbench: out of memory\n");
			exit(1);
		}
		f->found = nv;
		f->capfound = cap;
	}
	f->found[f->nfound++] = k;
}

/* A MESSAGES page for the verification (or the recount). */
void
fo_count_page(struct fo *f, const struct wire_MESSAGES *mm)
{
	struct wire_list_iter it;
	struct wire_item_MSG msg;
	uint64_t k;

	wire_list_begin(&it, wire_op(WIRE_OP_MESSAGES), &mm->msgs);
	while (wire_list_next(&it, &msg)) {
		f->fetched++;
		if (msg.id > f->vc.after_id)
			f->vc.after_id = msg.id;
		if (f->recount_mode) {
			if (strcmp(msg.to, f->recipient) != 0 ||
			    body_k(msg.body, &k) < 0)
				f->foreign++;
			else
				found_add(f, k);
			continue;
		}
		if (strcmp(msg.from, f->sender) != 0 ||
		    strcmp(msg.to, f->recipient) != 0 ||
		    body_k(msg.body, &k) < 0 || k >= f->total) {
			f->foreign++;
			continue;
		}
		if (f->msgs[k].count < 255)
			f->msgs[k].count++;
		if (f->msgs[k].state == FM_ACKED && f->msgs[k].id != msg.id)
			f->mismatch++;
	}
}

/* Log in as the recipient on the primary and count every fo-<k>. */
int
fo_verify(struct fo *f)
{
	uint64_t deadline = now_ns() + (uint64_t)FO_VERIFY_MS * FO_MS;
	char last[700];
	uint64_t k;

	f->vc.st = FC_SEARCH;
	f->vc.lost_at = now_ns();
	while (f->vc.st != FC_DONE && now_ns() < deadline)
		if (fo_pass(f, 20) < 0)
			break;
	if (f->vc.st != FC_DONE) {
		fo_last_probes(f, last, sizeof last);
		fprintf(stderr, "chatbench: verification failed: no complete "
		    "FETCH within %u s (state %d); %s\n", FO_VERIFY_MS / 1000,
		    (int)f->vc.st, last);
		fo_close_quietly(&f->vc);
		return -1;
	}
	fo_close_quietly(&f->vc);
	f->verified = 1;
	for (k = 0; k < f->total; k++) {
		const struct fo_msg *m = &f->msgs[k];

		if (m->state == FM_ACKED && m->count == 0)
			f->lost++;
		if (m->count > 1)
			f->duplicated++;
		if (m->state != FM_ACKED && m->count > 0)
			f->unacked_stored++;
	}
	return 0;
}

static int
fo_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * recount USER PASSWORD: log in as USER on the primary and count the
 * bodies fo-<k> of the messages to USER, as a failover run left them (its
 * JSON names the recipient and its password). Every replica that says it
 * is primary is asked (after a split brain there may be two); one line
 * each:
 *   replica=ID epoch=E fetched=N fo=F distinct=D duplicated=U max_k=K
 * (duplicated: how many k were found more than once). Exit 1 if no
 * replica said it is primary, or a count failed.
 */
static int
fo_recount_one(struct fo *f, unsigned ri)
{
	uint64_t deadline = now_ns() + (uint64_t)FO_VERIFY_MS * FO_MS;
	uint64_t distinct = 0, dup = 0, maxk = 0;
	size_t i;

	f->nfound = 0;
	f->fetched = f->foreign = 0;
	f->vc.after_id = 0;
	f->vc.hint = (int)ri;
	f->vc.st = FC_SEARCH;
	f->vc.lost_at = now_ns();
	f->verify_replica = 0;
	while (f->vc.st != FC_DONE && now_ns() < deadline)
		if (fo_pass(f, 20) < 0)
			break;
	if (f->vc.st != FC_DONE || f->verify_replica != fo_rid_replica(f, ri)) {
		printf("replica=%u recount failed (%s)\n",
		    (unsigned)fo_rid_replica(f, ri), f->vc.st == FC_DONE ?
		    "answered by another replica" : "no complete FETCH in time");
		fo_close_quietly(&f->vc);
		return 1;
	}
	fo_close_quietly(&f->vc);
	if (f->nfound)
		qsort(f->found, f->nfound, sizeof *f->found, fo_cmp_u64);
	for (i = 0; i < f->nfound; i++) {
		if (i == 0 || f->found[i] != f->found[i - 1])
			distinct++;
		else if (i < 2 || f->found[i - 1] != f->found[i - 2])
			dup++;	/* each duplicated k once */
		if (f->found[i] > maxk)
			maxk = f->found[i];
	}
	printf("replica=%u epoch=%" PRIu64 " fetched=%" PRIu64 " fo=%zu "
	    "distinct=%" PRIu64 " duplicated=%" PRIu64 " max_k=%" PRIu64 "\n",
	    (unsigned)f->verify_replica, f->probes[ri].epoch, f->fetched,
	    f->nfound, distinct, dup, maxk);
	return 0;
}

int
fo_recount(struct fo *f, const char *user, const char *password)
{
	uint64_t start = now_ns(), deadline;
	unsigned i, done, primaries = 0;
	int rc = 0;

	snprintf(f->recipient, sizeof f->recipient, "%s", user);
	snprintf(f->password, sizeof f->password, "%s", password);
	/* Who says it is primary: one STATUS each, retried for a while. */
	f->probe_wait_ns = (uint64_t)FO_STATUS_WAIT_MS * FO_MS;
	deadline = start + (uint64_t)PROBE_TIMEOUT_MS * FO_MS;
	for (;;) {
		uint64_t now = now_ns();

		for (done = 0, primaries = 0, i = 0; i < f->b->cfg.nreplicas;
		    i++) {
			done += f->probes[i].at > start;
			primaries += f->probes[i].at > start &&
			    f->probes[i].answered && f->probes[i].role == 1;
		}
		if ((done == f->b->cfg.nreplicas && primaries > 0) ||
		    now >= deadline)
			break;
		for (i = 0; i < f->b->cfg.nreplicas; i++)
			if (f->probes[i].c == NULL && now >= f->probes[i].next_at)
				fo_probe_start(f, i, now);
		fo_finder_tick(f, now);
		if (loop_run_once(f->b->l, 10) < 0)
			break;
	}
	if (primaries == 0) {
		char last[700];

		fo_last_probes(f, last, sizeof last);
		fprintf(stderr, "chatbench: recount: no replica says it is "
		    "primary; %s\n", last);
		return 1;
	}
	for (i = 0; i < f->b->cfg.nreplicas; i++)
		if (f->probes[i].at > start && f->probes[i].answered &&
		    f->probes[i].role == 1 && fo_recount_one(f, i) != 0)
			rc = 1;
	return rc;
}

