/*
 * chatbench_load_report.c — the results of a closed, open or delivery
 * run: one line per run under one header line (tools/bench-suite reads
 * the columns by the header's names), the failures on stderr, and with
 * --json an object per run (an array of them with --runs).
 */
#include <inttypes.h>
#include "chatbench.h"

static void
json_lat(FILE *f, const char *name, const struct samples *s)
{
	fprintf(f, "  \"%s\": {\"samples\": %zu, \"dropped\": %" PRIu64
	    ", \"mean\": %.1f, \"p50\": %u, \"p90\": %u, \"p99\": %u, "
	    "\"p999\": %u, \"max\": %u}", name, s->n, s->dropped,
	    cb_mean_us(s), cb_pct(s, 0.5), cb_pct(s, 0.9), cb_pct(s, 0.99),
	    cb_pct(s, 0.999), cb_pct(s, 1.0));
}

static int
write_json(const struct bench *b, double tput)
{
	/* Several runs: a JSON array of one object per run. */
	FILE *f = cb_json_open(b->json_path, b->run_no == 0 ? "w" : "a");

	if (f == NULL)
		return -1;
	if (b->runs > 1)
		fputs(b->run_no == 0 ? "[\n" : ",\n", f);
	cb_json_head(f, cb_mode_names[b->mode],
	    b->runs > 1 ? b->run_no + 1 : 0);
	fprintf(f, "  \"primary\": {\"replica\": %u, \"host\": ",
	    (unsigned)b->replica_id);
	cb_json_str(f, b->host);
	fprintf(f, ", \"port\": %u},\n", (unsigned)b->port);
	fprintf(f, "  \"params\": {\"connections\": %u, \"pairs\": %u, "
	    "\"users\": %u, \"window\": %u, \"rate\": %.1f, \"duration_s\": "
	    "%.3f, \"warmup_s\": %.3f, \"size\": %u, \"sync_full\": %u},\n",
	    b->nconns, b->npairs, b->nusers, b->window, b->rate, b->duration,
	    b->warmup, b->size, b->cfg.sync_full);
	fprintf(f, "  \"counts\": {\"sends\": %" PRIu64 ", \"sent_total\": %"
	    PRIu64 ", \"acked_total\": %" PRIu64 ", \"errors\": %" PRIu64
	    ", \"redirects\": %" PRIu64 ", \"protocol_errors\": %" PRIu64
	    ", \"lost_connections\": %" PRIu64 ", \"unanswered\": %" PRIu64,
	    b->sends_window, b->sent_total, b->acked_total, b->errors,
	    b->redirects, b->proto_errors, b->lost_conns, b->unanswered);
	if (b->mode == MODE_DELIVERY)
		fprintf(f, ", \"received\": %" PRIu64 ", \"expected\": %"
		    PRIu64 ", \"sender_copies\": %" PRIu64, b->received,
		    b->expected, b->echoes);
	fprintf(f, ", \"error_codes\": {");
	cb_json_codes(f, b->errcode);
	fprintf(f, "}},\n  \"throughput_per_s\": %.1f,\n", tput);
	if (b->mode == MODE_DELIVERY) {
		json_lat(f, "delivery_latency_us", &b->dlat);
		fputs(",\n", f);
	}
	json_lat(f, "ack_latency_us", &b->lat);
	fputs("\n}", f);
	fputs(b->runs > 1 && b->run_no + 1 < b->runs ? "" :
	    b->runs > 1 ? "\n]\n" : "\n", f);
	return cb_json_close(f, b->json_path);
}

/* What went wrong, on stderr; 1 if anything did. */
static int
report_failures(const struct bench *b, const struct samples *s)
{
	int failed = 0;
	unsigned i;

	if (b->mode == MODE_DELIVERY && b->received != b->expected) {
		fprintf(stderr, "chatbench: received %" PRIu64 " pushes "
		    "in the window, expected %" PRIu64 "\n",
		    b->received, b->expected);
		failed = 1;
	}
	if (s->dropped)
		fprintf(stderr, "chatbench: sample cap reached: %" PRIu64
		    " samples not kept (percentiles are of the first %zu)\n",
		    s->dropped, s->n);
	if (b->errors) {
		fprintf(stderr, "chatbench: %" PRIu64 " requests failed:",
		    b->errors);
		for (i = 0; i < NERRCODES; i++)
			if (b->errcode[i])
				fprintf(stderr, " %s x%" PRIu64,
				    wire_err_name((uint16_t)i), b->errcode[i]);
		if (b->redirects)
			fprintf(stderr, " REDIRECT/NO_PRIMARY x%" PRIu64,
			    b->redirects);
		fprintf(stderr, "; first: %s\n", b->first_error);
		failed = 1;
	}
	if (b->proto_errors) {
		fprintf(stderr, "chatbench: %" PRIu64 " protocol errors; "
		    "first: %s\n", b->proto_errors, b->first_error);
		failed = 1;
	}
	if (b->lost_conns) {
		fprintf(stderr, "chatbench: %" PRIu64 " connections lost; "
		    "first: %s\n", b->lost_conns, b->lost_note);
		failed = 1;
	}
	if (b->unanswered) {
		fprintf(stderr, "chatbench: %" PRIu64 " requests unanswered "
		    "(lost with a connection, or after the %u s drain)\n",
		    b->unanswered, DRAIN_MS / 1000);
		failed = 1;
	}
	return failed;
}

int
cb_report(struct bench *b)
{
	double tput = (double)b->sends_window / b->duration;
	const struct samples *s = b->mode == MODE_DELIVERY ? &b->dlat : &b->lat;
	char par[32];
	int failed;

	cb_samples_sort(&b->lat);
	cb_samples_sort(&b->dlat);
	if (b->mode == MODE_OPEN)
		snprintf(par, sizeof par, "%.0f/s", b->rate);
	else if (b->mode == MODE_DELIVERY && b->rate > 0)
		snprintf(par, sizeof par, "%.0f/s", b->rate);
	else
		snprintf(par, sizeof par, "%u", b->window);
	if (b->run_no == 0)	/* one header for all runs */
		printf("%-9s%-7s%-7s%-10s%-10s%-10s%-10s%-9s%-9s%-10s%-9s%s\n",
		    "mode", b->mode == MODE_DELIVERY ? "pairs" : "conns",
		    "users", b->mode == MODE_CLOSED || (b->mode ==
		    MODE_DELIVERY && b->rate <= 0) ? "window" : "rate",
		    "duration", "sends", "sends/s", "p50_us", "p99_us",
		    "p99.9_us", "max_us", "errors");
	printf("%-9s%-7u%-7u%-10s%-10.1f%-10" PRIu64 "%-10.0f%-9u%-9u%-10u"
	    "%-9u%" PRIu64 "\n", cb_mode_names[b->mode],
	    b->mode == MODE_DELIVERY ? b->npairs : b->nconns, b->nusers, par,
	    b->duration, b->sends_window, tput, cb_pct(s, 0.5),
	    cb_pct(s, 0.99), cb_pct(s, 0.999), cb_pct(s, 1.0),
	    b->errors + b->proto_errors + b->lost_conns + b->unanswered);
	if (b->mode == MODE_DELIVERY)
		printf("delivery: received %" PRIu64 " of %" PRIu64
		    " expected pushes (+%" PRIu64 " copies to senders' other "
		    "connections); ack latency p50 %u us, p99 %u us, max %u us\n",
		    b->received, b->expected, b->echoes, cb_pct(&b->lat, 0.5),
		    cb_pct(&b->lat, 0.99), cb_pct(&b->lat, 1.0));
	failed = report_failures(b, s);
	if (b->json_path && write_json(b, tput) < 0)
		failed = 1;
	return failed;
}
