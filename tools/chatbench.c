/*
 * chatbench — load generator and latency benchmark for a chatd cluster.
 *
 *   tools/chatbench -c replicas.conf [options] closed|open|delivery|failover
 *   tools/chatbench -c replicas.conf status
 *   tools/chatbench -c replicas.conf recount USER PASSWORD
 *
 * closed    C connections each keep W SENDs in flight; ack latency is
 *           measured from the send to its SENT.
 * open      a fixed total rate R spread over the C connections; send k of
 *           the run is due at t0 + k/R, and its latency is measured from
 *           that intended time (no coordinated omission): a schedule that
 *           falls behind still sends, and the lag counts.
 * delivery  N sender/receiver pairs (-n gives N): the senders keep W
 *           SENDs in flight (or follow a rate with -r); each body starts
 *           with "t=<monotonic ns>", and the receivers measure
 *           now - t on PUSH_MSG. Every push of a message sent in the
 *           window must arrive. (chatd also pushes each message to the
 *           sender's other connections; those copies are counted apart.)
 * failover  a steady writer (-n connections, default 1, rate -r, default
 *           500/s) that rides through a failover like a real client and
 *           reports the longest interval between two acks (the failover
 *           gap), then checks on the primary that no acknowledged message
 *           is missing and none is stored twice (chatbench_fo.h).
 * status    one STATUS per replica of the configuration, one line each.
 * recount   count a failover run's messages again later (USER PASSWORD).
 *
 * Set-up: find the primary (STATUS role 1, else follow REDIRECT), register
 * M users bench-<hex>-<i>, LOGIN once per user on its first connection,
 * RESUME its token on the user's other connections. Connection k belongs
 * to user k % M and sends to user (k % M + 1) % M. In delivery mode the
 * connections are 2N (even ones send, odd ones receive) and M is even, so
 * senders and receivers are different users.
 *
 * Measuring: after the warm-up the window [t_meas, t_end) is D seconds.
 * "sends" counts SENT answers that arrive inside it (throughput); the
 * latency samples are the requests that started inside it (for open mode,
 * whose intended time is inside it). After t_end nothing new starts and
 * the answers still owed are drained (at most DRAIN_MS).
 *
 * This file reads the options and hands over to a mode; chatbench.h maps
 * the other files. Exit: 0 clean, 1 if any request failed or a connection
 * was lost (or deliveries are missing), 2 bad usage.
 */
#include <getopt.h>
#include <stdlib.h>
#include "chatbench.h"

const char *const cb_mode_names[] = { "closed", "open", "delivery",
    "failover", "status", "recount" };

static void
usage(FILE *f)
{
	fprintf(f,
"usage: chatbench -c replicas.conf [options] closed|open|delivery|failover\n"
"       chatbench -c replicas.conf status\n"
"       chatbench -c replicas.conf recount USER PASSWORD\n"
"\n"
"  closed    each connection keeps W SENDs in flight; ack latency from\n"
"            send to SENT\n"
"  open      fixed total rate R over all connections; latency from each\n"
"            send's intended time (t0 + k/R) to its SENT\n"
"  delivery  N sender/receiver pairs (-n N); push latency from the send\n"
"            timestamp in the body to PUSH_MSG at the receiver\n"
"  failover  -n connections (default 1) send at rate R (default 500/s);\n"
"            they survive failovers (find the primary, RESUME, re-send the\n"
"            unanswered SENDs with their (client_id, seq)); reports the\n"
"            longest interval between acks, then FETCHes every message on\n"
"            the primary: lost (acked, missing) and duplicated must be 0\n"
"  status    one STATUS line per replica (replica=ID role=... or down)\n"
"  recount   log in as USER on the primary and count its fo-<k> messages\n"
"            (the recipient of a failover run; its JSON has the password)\n"
"\n"
"  -c FILE              replicas.conf (required)\n"
"  -n, --connections C  connections (delivery: pairs), default 16\n"
"  -u, --users M        users, default min(connections, 16); even in\n"
"                       delivery mode\n"
"  -d, --duration S     measured seconds, default 5\n"
"      --warmup S       seconds before measuring, default 1\n"
"  -r, --rate R         sends per second (open; optional for delivery;\n"
"                       failover: default 500)\n"
"  -w, --window W       requests in flight per connection, default 1\n"
"                       (open: at most this many, default max_inflight)\n"
"  -s, --size BYTES     message body size, 1-4096, default 64 (delivery:\n"
"                       at least 23, for the timestamp)\n"
"      --stall-ms MS    failover: silence with requests in flight that\n"
"                       starts probing for a new primary, default 100\n"
"      --runs N         closed/open/delivery: N measured runs (each\n"
"                       warm-up + duration) on the same connections, one\n"
"                       line each; --json then writes an array\n"
"      --total N        closed: stop after N sends, end when all are\n"
"                       answered (no warm-up; fills a store)\n"
"      --idle K         K more connections, logged in as users of their\n"
"                       own, that send nothing and receive nothing\n"
"      --json FILE      also write the results as JSON\n"
"  -q                   no progress messages\n"
"  -h, --help           this help\n"
"\n"
"Exit status: 0 ok, 1 a request failed, a connection was lost or a push\n"
"is missing (failover: a message lost, duplicated or never answered),\n"
"2 bad usage.\n");
}

static int
parse_uint(const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		return -1;
	*out = (unsigned)v;
	return 0;
}

static int
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		return -1;
	*out = v;
	return 0;
}

/* what, then arg (may be ""), then the usage. */
static int
bad_usage(const char *what, const char *arg)
{
	fprintf(stderr, "chatbench: %s%s\n", what, arg);
	usage(stderr);
	return 2;
}

/* The options with a number: where it goes, its range, the complaint. */
struct numopt {
	int         ch;
	unsigned   *u;		/* an integer option, or */
	double     *d;		/* a real one */
	double      lo, hi;
	const char *bad;
};

/* Parse optarg for the numeric option ch. 1 done, 0 not a numeric
 * option, -1 bad value (said, with the usage). */
static int
numeric_option(const struct numopt *opts, size_t nopts, int ch)
{
	size_t i;
	int rc;

	for (i = 0; i < nopts && opts[i].ch != ch; i++)
		;
	if (i == nopts)
		return 0;
	if (opts[i].u)
		rc = parse_uint(optarg, (unsigned)opts[i].lo,
		    (unsigned)opts[i].hi, opts[i].u);
	else
		rc = parse_double(optarg, opts[i].lo, opts[i].hi, opts[i].d);
	if (rc < 0) {
		bad_usage(opts[i].bad, optarg);
		return -1;
	}
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "connections", required_argument, NULL, 'n' },
		{ "users",       required_argument, NULL, 'u' },
		{ "duration",    required_argument, NULL, 'd' },
		{ "warmup",      required_argument, NULL, 'W' },
		{ "rate",        required_argument, NULL, 'r' },
		{ "window",      required_argument, NULL, 'w' },
		{ "size",        required_argument, NULL, 's' },
		{ "json",        required_argument, NULL, 'J' },
		{ "stall-ms",    required_argument, NULL, 'S' },
		{ "runs",        required_argument, NULL, 'R' },
		{ "total",       required_argument, NULL, 'T' },
		{ "idle",        required_argument, NULL, 'I' },
		{ "help",        no_argument,       NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench bench;	/* large: keep it off the stack */
	struct bench *b = &bench;
	unsigned n = 16, users = 0, window = 0, stall_ms = 100, idle = 0;
	unsigned total = 0, mode;
	const struct numopt numopts[] = {
		{ 'n', &n, NULL, 1, MAX_CONNS, "bad connection count: " },
		{ 'u', &users, NULL, 1, MAX_CONNS, "bad user count: " },
		{ 'd', NULL, &b->duration, 0.1, 86400, "bad duration: " },
		{ 'W', NULL, &b->warmup, 0, 3600, "bad warm-up: " },
		{ 'r', NULL, &b->rate, 0.1, 10000000, "bad rate: " },
		{ 'w', &window, NULL, 1, 65535, "bad window: " },
		{ 's', &b->size, NULL, 1, CHAT_MAX_BODY,
		    "bad size (1-4096): " },
		{ 'S', &stall_ms, NULL, 1, 600000, "bad --stall-ms: " },
		{ 'R', &b->runs, NULL, 1, 1000, "bad --runs (1-1000): " },
		{ 'T', &total, NULL, 1, 100000000, "bad --total: " },
		{ 'I', &idle, NULL, 1, MAX_CONNS, "bad --idle: " },
	};
	int n_given = 0;
	char err[512];
	int ch;

	b->duration = 5;
	b->warmup = 1;
	b->size = 64;
	b->runs = 1;
	b->tfd = -1;
	while ((ch = getopt_long(argc, argv, "c:n:u:d:r:w:s:qh", longopts,
	    NULL)) != -1) {
		switch (numeric_option(numopts, sizeof numopts /
		    sizeof numopts[0], ch)) {
		case 1:
			n_given |= ch == 'n';
			continue;
		case -1:
			return 2;
		default:
			break;
		}
		switch (ch) {
		case 'c': b->conf_path = optarg; break;
		case 'J': b->json_path = optarg; break;
		case 'q': b->quiet = 1; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind + 3 == argc && strcmp(argv[optind], "recount") == 0) {
		b->recount_user = argv[optind + 1];
		b->recount_password = argv[optind + 2];
		if (strlen(b->recount_user) > CHAT_MAX_USERNAME ||
		    strlen(b->recount_password) >= 40)
			return bad_usage("recount: user or password too long", "");
		argc = optind + 1;
	}
	if (optind != argc - 1)
		return bad_usage("need one mode: closed, open, delivery, "
		    "failover, status or recount", "");
	for (mode = MODE_CLOSED; mode <= MODE_RECOUNT; mode++)
		if (strcmp(argv[optind], cb_mode_names[mode]) == 0)
			break;
	if (mode > MODE_RECOUNT || (mode == MODE_RECOUNT && !b->recount_user))
		return bad_usage("unknown mode: ", argv[optind]);
	b->mode = (enum mode)mode;
	if (b->conf_path == NULL)
		return bad_usage("-c replicas.conf is required", "");
	if (b->mode == MODE_OPEN && b->rate <= 0)
		return bad_usage("open mode needs -r RATE", "");
	if (b->mode == MODE_CLOSED && b->rate > 0)
		return bad_usage("-r is for open and delivery modes", "");
	if (b->mode == MODE_DELIVERY) {
		if (n > MAX_CONNS / 2)
			return bad_usage("too many pairs", "");
		b->npairs = n;
		n *= 2;
		if (users != 0 && users % 2 != 0)
			return bad_usage("delivery needs an even user count",
			    "");
		if (b->size < DELIV_PREFIX)
			b->size = DELIV_PREFIX;
	}
	if (total != 0 && (b->mode != MODE_CLOSED || b->runs > 1))
		return bad_usage("--total is for one closed run", "");
	if (total != 0) {
		b->total = total;
		b->warmup = 0;		/* every send counts */
		b->duration = 86400;	/* the run ends when all are acked */
	}
	if (n + idle > MAX_CONNS)
		return bad_usage("too many connections with --idle", "");
	b->nload = n;
	b->nusers_load = users ? users : (n < 16 ? n : 16);
	if (b->nusers_load > b->nload)
		return bad_usage("more users than connections", "");
	b->nconns = n + idle;
	b->nusers = b->nusers_load + (idle < 16 ? idle : 16);
	if (config_load(&b->cfg, b->conf_path, err, sizeof err) < 0) {
		fprintf(stderr, "chatbench: %s\n", err);
		return 1;
	}
	if (b->cfg.nreplicas == 0) {
		fprintf(stderr, "chatbench: %s: no replicas\n", b->conf_path);
		return 1;
	}
	if (b->mode == MODE_FAILOVER || b->mode == MODE_STATUS ||
	    b->mode == MODE_RECOUNT) {
		if (b->runs > 1 || idle)
			return bad_usage("--runs and --idle are for closed, "
			    "open and delivery", "");
		return fo_main(b, n_given ? n : 1, window, stall_ms);
	}
	return cb_load_main(b, window);
}
