/*
 * chatbench_fo_report.c — the results of a failover run: one line under
 * a header on stdout, each reconnection's timeline and the verification
 * on stderr (tools/failover-bench shows them), and with --json one
 * object with every count, the failovers and the events
 * (tools/failover-bench reads its top-level numbers, one per line).
 */
#include <inttypes.h>
#include "chatbench_fo.h"

struct fo_gap { uint64_t len, from, to; };

/* The three longest intervals between consecutive acks. */
static void
fo_gaps(const struct fo *f, struct fo_gap top[3])
{
	uint64_t i;
	int j;

	memset(top, 0, 3 * sizeof *top);
	for (i = 1; i < f->nacks; i++) {
		struct fo_gap g = { f->acks[i] - f->acks[i - 1], f->acks[i - 1],
		    f->acks[i] };

		for (j = 0; j < 3; j++) {
			if (g.len > top[j].len) {
				struct fo_gap t = top[j];
				top[j] = g;
				g = t;
			}
		}
	}
}

static double
fo_ms_since(uint64_t from, uint64_t to)
{
	if (from == 0 || to == 0)
		return -1;
	return to >= from ? (double)(to - from) / 1e6 :
	    -(double)(from - to) / 1e6;
}

static void
fo_json_num(FILE *f, const char *name, double v)
{
	if (v < 0)
		fprintf(f, "\"%s\": null", name);
	else
		fprintf(f, "\"%s\": %.3f", name, v);
}

static int
fo_write_json(const struct fo *f, const struct fo_gap top[3], int failed)
{
	const struct bench *b = f->b;
	FILE *out = cb_json_open(b->json_path, "w");
	char w[24];
	unsigned i;

	if (out == NULL)
		return -1;
	cb_json_head(out, "failover", 0);
	fprintf(out, "  \"params\": {\"connections\": %u, \"rate\": %.1f, "
	    "\"duration_s\": %.3f, \"window\": %u, \"stall_ms\": %.0f, "
	    "\"retry_ms\": %u, \"client_timeout_ms\": %u, \"heartbeat_ms\": %u, "
	    "\"election_timeout_ms\": %u},\n", f->n, b->rate, b->duration,
	    f->window, (double)f->stall_ns / 1e6, FO_RETRY_MS,
	    b->cfg.client_timeout_ms, b->cfg.heartbeat_ms,
	    b->cfg.election_timeout_ms);
	fprintf(out, "  \"primary_first\": {\"replica\": %u, \"epoch\": %" PRIu64
	    "},\n  \"primary_last\": {\"replica\": %u, \"epoch\": %" PRIu64
	    "},\n", (unsigned)f->first_primary, f->first_epoch,
	    (unsigned)f->last_primary, f->last_epoch);
	fprintf(out, "  \"sender\": \"%s\",\n  \"recipient\": \"%s\",\n"
	    "  \"recipient_password\": \"%s\",\n", f->sender, f->recipient,
	    f->password);
	fprintf(out, "  \"t0_wall_ms\": %" PRIu64 ",\n", (uint64_t)
	    (f->wall_start_ms + (f->t0 - f->mono_start) / FO_MS));
	fprintf(out, "  \"messages\": %" PRIu64 ",\n  \"sent\": %" PRIu64
	    ",\n  \"resent\": %" PRIu64 ",\n  \"acked\": %" PRIu64
	    ",\n  \"failed\": %" PRIu64 ",\n  \"unacked\": %" PRIu64
	    ",\n  \"reconnects\": %" PRIu64 ",\n  \"redirects\": %" PRIu64
	    ",\n  \"no_primary\": %" PRIu64 ",\n  \"stalls\": %" PRIu64
	    ",\n  \"silent_drops\": %" PRIu64 ",\n  \"stray\": %" PRIu64 ",\n",
	    f->total, f->sent, f->resent, f->acked, f->failed,
	    f->total - f->acked - f->failed, f->reconnects, f->redirects,
	    f->no_primary, f->stalls, f->silent_drops, f->stray);
	fprintf(out, "  \"gap_ms\": %.3f,\n  \"gap_start_ms\": %.3f,\n"
	    "  \"gap_end_ms\": %.3f,\n", (double)top[0].len / 1e6,
	    top[0].len ? fo_rel(f, top[0].from) : 0.0,
	    top[0].len ? fo_rel(f, top[0].to) : 0.0);
	fprintf(out, "  \"next_gaps_ms\": [%.3f, %.3f],\n",
	    (double)top[1].len / 1e6, (double)top[2].len / 1e6);
	fprintf(out, "  \"verified\": %s,\n  \"verify_replica\": %u,\n"
	    "  \"fetched\": %" PRIu64 ",\n  \"foreign\": %" PRIu64 ",\n"
	    "  \"lost\": %" PRIu64 ",\n  \"duplicated\": %" PRIu64 ",\n"
	    "  \"id_mismatch\": %" PRIu64 ",\n  \"unacked_stored\": %" PRIu64
	    ",\n", f->verified ? "true" : "false", (unsigned)f->verify_replica,
	    f->fetched, f->foreign, f->lost, f->duplicated, f->mismatch,
	    f->unacked_stored);
	fprintf(out, "  \"errors\": %" PRIu64 ",\n  \"error_codes\": {",
	    f->errors);
	cb_json_codes(out, f->errcode);
	fprintf(out, "},\n  \"retried_codes\": {");
	cb_json_codes(out, f->retried);
	fprintf(out, "},\n  \"first_error\": ");
	cb_json_str(out, f->first_error);
	fprintf(out, ",\n  \"failovers\": [");
	for (i = 0; i < f->ncycles; i++) {
		const struct fo_cycle *c = &f->cycles[i];
		/* The steps of the reconnection, in ms after the last ack. */
		const struct { const char *name; uint64_t t; } after[] = {
			{ "stalled_after_ms", c->stalled },
			{ "lost_after_ms", c->lost },
			{ "found_after_ms", c->found },
			{ "session_after_ms", c->session },
			{ "first_ack_after_ms", c->first_ack },
		};
		unsigned j;

		fprintf(out, "%s\n    {\"connection\": %u, \"from_replica\": %u, "
		    "\"to_replica\": %u, \"to_epoch\": %" PRIu64 ", ",
		    i ? "," : "", c->conn, (unsigned)c->from_replica,
		    (unsigned)c->to_replica, c->to_epoch);
		fo_json_num(out, "last_ack_ms", c->last_ack ?
		    fo_rel(f, c->last_ack) : -1);
		for (j = 0; j < sizeof after / sizeof after[0]; j++) {
			fputs(", ", out);
			fo_json_num(out, after[j].name,
			    fo_ms_since(c->last_ack, after[j].t));
		}
		fprintf(out, ", \"resent\": %u, \"attempts\": %u, \"why\": ",
		    c->resent, c->attempts);
		cb_json_str(out, c->why);
		fputc('}', out);
	}
	fprintf(out, "%s],\n  \"events\": [", f->ncycles ? "\n  " : "");
	for (i = 0; i < f->nevents; i++) {
		fo_wall(f, f->events[i].t, w, sizeof w);
		fprintf(out, "%s\n    {\"t_ms\": %.3f, \"wall\": \"%s\", "
		    "\"what\": ", i ? "," : "", fo_rel(f, f->events[i].t), w);
		cb_json_str(out, f->events[i].text);
		fputc('}', out);
	}
	fprintf(out, "%s],\n  \"events_dropped\": %" PRIu64 ",\n  \"ok\": %s\n}\n",
	    f->nevents ? "\n  " : "", f->events_dropped,
	    failed ? "false" : "true");
	return cb_json_close(out, b->json_path);
}

int
fo_report(struct fo *f, int verify_ok)
{
	struct fo_gap top[3];
	uint64_t unacked = f->total - f->acked - f->failed;
	char rate[32], lost[24] = "?", dup[24] = "?";
	unsigned i;
	int failed = 0;

	fo_gaps(f, top);
	snprintf(rate, sizeof rate, "%.0f/s", f->b->rate);
	printf("%-9s%-7s%-8s%-10s%-8s%-8s%-8s%-11s%-10s%-6s%-12s%-9s%s\n",
	    "mode", "conns", "rate", "duration", "sent", "acked", "resent",
	    "reconnects", "gap_ms", "lost", "duplicated", "unacked", "errors");
	if (f->verified) {
		snprintf(lost, sizeof lost, "%" PRIu64, f->lost);
		snprintf(dup, sizeof dup, "%" PRIu64, f->duplicated);
	}
	printf("%-9s%-7u%-8s%-10.1f%-8" PRIu64 "%-8" PRIu64 "%-8" PRIu64
	    "%-11" PRIu64 "%-10.1f%-6s%-12s%-9" PRIu64 "%" PRIu64 "\n",
	    "failover", f->n, rate, f->b->duration, f->sent, f->acked,
	    f->resent, f->reconnects, (double)top[0].len / 1e6, lost, dup,
	    unacked, f->errors);
	fflush(stdout);
	for (i = 0; i < f->ncycles; i++) {
		const struct fo_cycle *c = &f->cycles[i];
		char steps[400];
		size_t len = 0;

		steps[0] = '\0';
		if (c->stalled)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    "silence noticed %+.1f, ",
			    fo_ms_since(c->last_ack, c->stalled));
		if (len < sizeof steps)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    "given up %+.1f", fo_ms_since(c->last_ack, c->lost));
		if (c->found && len < sizeof steps)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    ", primary found %+.1f",
			    fo_ms_since(c->last_ack, c->found));
		if (c->session && len < sizeof steps)
			len += (size_t)snprintf(steps + len, sizeof steps - len,
			    ", session %+.1f",
			    fo_ms_since(c->last_ack, c->session));
		if (c->first_ack && len < sizeof steps)
			snprintf(steps + len, sizeof steps - len,
			    ", first ack %+.1f",
			    fo_ms_since(c->last_ack, c->first_ack));
		fprintf(stderr, "chatbench: failover %u (connection %u): replica "
		    "%u -> %u (epoch %" PRIu64 "); ms after the last ack (at "
		    "%+.1f ms): %s; %u SENDs sent again, %u connection "
		    "attempt%s; cause: %s\n", i + 1, c->conn,
		    (unsigned)c->from_replica, (unsigned)c->to_replica,
		    c->to_epoch, c->last_ack ? fo_rel(f, c->last_ack) : 0.0,
		    steps, c->resent, c->attempts, c->attempts == 1 ? "" : "s",
		    c->why);
	}
	if (top[0].len)
		fprintf(stderr, "chatbench: longest gap %.1f ms (%+.1f to %+.1f "
		    "ms); next longest %.1f, %.1f ms\n", (double)top[0].len / 1e6,
		    fo_rel(f, top[0].from), fo_rel(f, top[0].to),
		    (double)top[1].len / 1e6, (double)top[2].len / 1e6);
	if (f->verified)
		fprintf(stderr, "chatbench: verified on replica %u: %" PRIu64
		    " messages fetched (%" PRIu64 " not of this run); lost %"
		    PRIu64 ", duplicated %" PRIu64 ", id mismatch %" PRIu64
		    ", unacknowledged but stored %" PRIu64 "\n",
		    (unsigned)f->verify_replica, f->fetched, f->foreign, f->lost,
		    f->duplicated, f->mismatch, f->unacked_stored);
	if (!verify_ok)
		failed = 1;
	if (f->lost || f->duplicated || f->mismatch) {
		fprintf(stderr, "chatbench: FAILED: %" PRIu64 " acknowledged "
		    "messages lost, %" PRIu64 " duplicated, %" PRIu64 " stored "
		    "under another id than acknowledged\n", f->lost,
		    f->duplicated, f->mismatch);
		failed = 1;
	}
	if (unacked) {
		fprintf(stderr, "chatbench: %" PRIu64 " SENDs never answered "
		    "(within the run and a %u s drain)\n", unacked,
		    FO_DRAIN_MS / 1000);
		failed = 1;
	}
	if (f->errors) {
		fprintf(stderr, "chatbench: %" PRIu64 " SENDs failed; first: %s\n",
		    f->errors, f->first_error);
		failed = 1;
	}
	if (f->b->json_path && fo_write_json(f, top, failed) < 0)
		failed = 1;
	return failed;
}
