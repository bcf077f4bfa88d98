/*
 * chatctl — cluster status and administration (DESIGN.md §2).
 *
 *   chatctl [-c FILE] [--json] status
 *   chatctl [-c FILE] add ID HOST CLIENT_PORT INTERNAL_PORT
 *   chatctl [-c FILE] remove ID
 *   chatctl [-c FILE] [--yes] force-primary ID
 *
 * chatctl talks to the replicas' internal ports as an operator tool (HELLO
 * kind 3, src/oplink.c): it must hold the cluster key named in
 * replicas.conf, exactly like a replica. The replica list of replicas.conf
 * is only where it starts: the primary's answer names the current members,
 * and chatctl asks those it did not know too.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#include "config.h"
#include "oplink.h"
#include "wire.h"

#define EXIT_NO_PRIMARY 1
#define EXIT_USAGE      2
#define EXIT_FAILED     3

struct row {
	uint32_t id;
	char     host[CONFIG_MAX_HOST + 1];
	uint16_t client_port, internal_port;
	int      reachable;
	char     err[512];
	struct wire_STATUS_INFO st;	/* valid when reachable (isr: empty) */
	unsigned nisr;
	uint32_t isr[WIRE_MAX_REPLICAS];
	int      seen;			/* the primary listed it: */
	struct wire_item_PEER as_seen;	/* how the primary sees it */
};

struct cluster {
	struct row rows[CONFIG_MAX_REPLICAS * 2];
	unsigned   n;
	int        primary;		/* row index, or -1 */
};

static struct config cfg;
static uint8_t key[AUTH_KEY_BYTES];
static unsigned timeout_ms = 2000;
static int want_json, assume_yes;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chatctl [-c FILE] [-j] [-t MS] status\n"
	    "       chatctl [-c FILE] [-t MS] add ID HOST CLIENT_PORT INTERNAL_PORT\n"
	    "       chatctl [-c FILE] [-t MS] remove ID\n"
	    "       chatctl [-c FILE] [-t MS] [-y] force-primary ID\n"
	    "       chatctl --version | -h\n"
	    "\n"
	    "  -c, --config FILE   replica list, settings and key_file (default:\n"
	    "                      replicas.conf)\n"
	    "  -j, --json          status: print JSON instead of a table\n"
	    "  -t, --timeout MS    give each replica MS milliseconds to answer\n"
	    "                      (default 2000)\n"
	    "  -y, --yes           force-primary: do not ask for confirmation\n"
	    "  -h, --help          this text\n"
	    "      --version       print the version\n"
	    "\n"
	    "status         one row per replica: reachable, role, epoch, log end,\n"
	    "               commit point, ISR membership (or why not), lag,\n"
	    "               clients, uptime; exits 1 when no primary answers\n"
	    "add            make a new replica a member, then start it (see\n"
	    "               chatctl(8)); it gets a snapshot, catches up and\n"
	    "               enters the in-sync set\n"
	    "remove         take a replica out of the in-sync set and the\n"
	    "               membership\n"
	    "force-primary  make replica ID primary although a replica it waits\n"
	    "               for is down: acknowledged writes only that replica\n"
	    "               holds are lost\n");
}

/* ---- asking the replicas ----------------------------------------------- */

static struct row *
row_of(struct cluster *cl, uint32_t id)
{
	unsigned i;

	for (i = 0; i < cl->n; i++)
		if (cl->rows[i].id == id)
			return &cl->rows[i];
	return NULL;
}

static struct row *
row_add(struct cluster *cl, uint32_t id, const char *host, uint16_t cport,
	uint16_t iport)
{
	struct row *r = row_of(cl, id);

	if (r == NULL && cl->n < sizeof cl->rows / sizeof cl->rows[0]) {
		r = &cl->rows[cl->n++];
		memset(r, 0, sizeof *r);
		r->id = id;
		snprintf(r->host, sizeof r->host, "%s", host);
		r->client_port = cport;
		r->internal_port = iport;
	}
	return r;
}

static int
open_link(const struct row *r, struct oplink *l, char *err, size_t errlen)
{
	if (oplink_open(l, r->host, r->internal_port, key, timeout_ms, err,
	    errlen) < 0)
		return -1;
	if (l->replica_id != r->id) {
		snprintf(err, errlen, "replica %u answered at %.255s:%u",
		    l->replica_id, r->host, r->internal_port);
		oplink_close(l);
		return -1;
	}
	return 0;
}

/* Ask one replica; on success fill its row, and add the members it lists
 * to the cluster (they are asked later in the same pass). */
static void
ask(struct cluster *cl, unsigned i, struct wire_item_PEER *members,
    unsigned *nmembers)
{
	const struct wire_opdesc *sd = wire_op(WIRE_OP_STATUS_INFO);
	const struct wire_opdesc *d = wire_op(WIRE_OP_ADMIN_STATUS_INFO);
	struct row *r = &cl->rows[i];
	struct wire_ADMIN_STATUS_INFO info;
	struct wire_ADMIN_STATUS req;
	struct wire_list_iter it;
	struct wire_item_MEMBER m;
	struct oplink l;

	*nmembers = 0;
	memset(&req, 0, sizeof req);
	if (open_link(r, &l, r->err, sizeof r->err) < 0)
		return;
	if (oplink_call(&l, WIRE_OP_ADMIN_STATUS, &req, r->err,
	    sizeof r->err) < 0 || oplink_error(&l, r->err, sizeof r->err)) {
		oplink_close(&l);
		return;
	}
	if (l.h.opcode != WIRE_OP_ADMIN_STATUS_INFO ||
	    wire_decode(d, buf_head(&l.payload), l.h.length, &info, NULL) < 0 ||
	    wire_decode(sd, info.status.ptr, info.status.len, &r->st,
	    NULL) < 0) {
		snprintf(r->err, sizeof r->err, "a malformed status answer");
		oplink_close(&l);
		return;
	}
	r->reachable = 1;
	wire_list_begin(&it, sd, &r->st.isr);
	while (wire_list_next(&it, &m) && r->nisr < WIRE_MAX_REPLICAS)
		r->isr[r->nisr++] = m.id;
	memset(&r->st.isr, 0, sizeof r->st.isr);	/* points into l */
	wire_list_begin(&it, d, &info.members);
	while (*nmembers < WIRE_MAX_REPLICAS &&
	    wire_list_next(&it, &members[*nmembers]))
		(*nmembers)++;
	oplink_close(&l);
}

/*
 * Ask every replica of replicas.conf, and every member some replica names
 * that replicas.conf does not. The primary is the one that says so with
 * the highest epoch; its member list is the membership.
 */
static void
gather(struct cluster *cl)
{
	struct wire_item_PEER members[WIRE_MAX_REPLICAS];
	unsigned i, j, n;
	uint64_t best = 0;

	memset(cl, 0, sizeof *cl);
	cl->primary = -1;
	for (i = 0; i < cfg.nreplicas; i++)
		row_add(cl, cfg.replicas[i].id, cfg.replicas[i].host,
		    cfg.replicas[i].client_port,
		    cfg.replicas[i].internal_port);
	for (i = 0; i < cl->n; i++) {	/* cl->n grows: bounded by rows[] */
		ask(cl, i, members, &n);
		for (j = 0; j < n; j++)
			row_add(cl, members[j].id, members[j].host,
			    members[j].client_port, members[j].internal_port);
		if (!cl->rows[i].reachable || cl->rows[i].st.role != 1 ||
		    cl->rows[i].st.epoch < best)
			continue;
		best = cl->rows[i].st.epoch;
		cl->primary = (int)i;
		for (j = 0; j < cl->n; j++)
			cl->rows[j].seen = 0;
		for (j = 0; j < n; j++) {
			struct row *r = row_of(cl, members[j].id);

			if (r) {
				r->seen = 1;
				r->as_seen = members[j];
			}
		}
	}
}

/* ---- status -------------------------------------------------------------- */

/* In the ISR, or why not, as one phrase. */
static const char *
isr_state(const struct cluster *cl, const struct row *r, char *buf,
	  size_t len)
{
	const struct row *p = cl->primary >= 0 ? &cl->rows[cl->primary] : NULL;

	if (r->reachable && r->st.waiting_for && r->st.role != 1) {
		snprintf(buf, len, "waiting for replica %u", r->st.waiting_for);
		return buf;
	}
	if (p == NULL && r->reachable) {
		unsigned i;

		for (i = 0; i < r->nisr && r->isr[i] != r->id; i++)
			;
		return i < r->nisr ? "unknown (no primary)" :
		    "not in the ISR it knows";
	}
	if (p == NULL)
		return "down";
	if (r == p || (r->seen && r->as_seen.in_isr))
		return "yes";
	if (!r->seen)
		return "not a member";
	if (!r->reachable || r->as_seen.link == 0)
		return "down";
	if (r->as_seen.shipping == 2)
		return "catching up (snapshot)";
	return "catching up";
}

static int
in_isr(const struct cluster *cl, const struct row *r)
{
	char b[64];

	return strcmp(isr_state(cl, r, b, sizeof b), "yes") == 0;
}

/* Records the replica lacks of the primary's log, or -1 if unknown. */
static int64_t
lag(const struct cluster *cl, const struct row *r)
{
	const struct row *p = cl->primary >= 0 ? &cl->rows[cl->primary] : NULL;

	if (p == NULL || !r->reachable || !r->seen)
		return -1;
	return p->st.last_lsn > r->st.last_lsn ?
	    (int64_t)(p->st.last_lsn - r->st.last_lsn) : 0;
}

static void
fmt_uptime(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
		    s / 60 % 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400,
		    s / 3600 % 24);
}

static void
print_table(const struct cluster *cl)
{
	unsigned i;

	printf("%-5s %-22s %-9s %-8s %6s %9s %10s %7s %7s %6s  %s\n", "ID",
	    "ADDRESS", "REACHABLE", "ROLE", "EPOCH", "LAST_LSN", "COMMIT_LSN",
	    "CLIENTS", "UPTIME", "LAG", "ISR");
	for (i = 0; i < cl->n; i++) {
		const struct row *r = &cl->rows[i];
		char addr[300], up[32], lg[24], why[64];
		int64_t n = lag(cl, r);

		snprintf(addr, sizeof addr, "%s:%u", r->host, r->client_port);
		snprintf(lg, sizeof lg, n < 0 ? "-" : "%" PRId64, n);
		if (!r->reachable) {
			printf("%-5u %-22s %-9s %-8s %6s %9s %10s %7s %7s %6s  "
			    "%s\n", r->id, addr, "no", "-", "-", "-", "-", "-",
			    "-", lg, isr_state(cl, r, why, sizeof why));
			continue;
		}
		fmt_uptime(r->st.uptime_ms, up, sizeof up);
		printf("%-5u %-22s %-9s %-8s %6" PRIu64 " %9" PRIu64 " %10" PRIu64
		    " %7u %7s %6s  %s\n", r->id, addr, "yes",
		    wire_role_name(r->st.role), r->st.epoch, r->st.last_lsn,
		    r->st.commit_lsn, r->st.clients, up, lg,
		    isr_state(cl, r, why, sizeof why));
	}
	if (cl->primary < 0)
		printf("no primary answered\n");
	for (i = 0; i < cl->n; i++)
		if (!cl->rows[i].reachable)
			printf("replica %u: %s\n", cl->rows[i].id,
			    cl->rows[i].err);
}

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
print_json(const struct cluster *cl)
{
	unsigned i, j;

	printf("{\"primary\": ");
	if (cl->primary < 0)
		printf("null");
	else
		printf("%u", cl->rows[cl->primary].id);
	printf(", \"replicas\": [");
	for (i = 0; i < cl->n; i++) {
		const struct row *r = &cl->rows[i];
		char why[64];
		int64_t n = lag(cl, r);

		printf("%s\n  {\"id\": %u, \"host\": ", i ? "," : "", r->id);
		json_str(r->host);
		printf(", \"client_port\": %u, \"internal_port\": %u, "
		    "\"reachable\": %s, \"member\": %s, \"in_isr\": %s, "
		    "\"isr_state\": ", r->client_port, r->internal_port,
		    r->reachable ? "true" : "false",
		    cl->primary < 0 || r->seen ? "true" : "false",
		    in_isr(cl, r) ? "true" : "false");
		json_str(isr_state(cl, r, why, sizeof why));
		if (n < 0)
			printf(", \"lag\": null");
		else
			printf(", \"lag\": %" PRId64, n);
		if (!r->reachable) {
			printf(", \"error\": ");
			json_str(r->err);
			printf("}");
			continue;
		}
		printf(", \"role\": \"%s\", \"epoch\": %" PRIu64 ", "
		    "\"primary_id\": %u, \"last_epoch\": %" PRIu64 ", "
		    "\"last_lsn\": %" PRIu64 ", \"commit_lsn\": %" PRIu64 ", "
		    "\"clients\": %u, \"waiting_for\": %u, \"uptime_ms\": %"
		    PRIu64 ", \"isr\": [", wire_role_name(r->st.role),
		    r->st.epoch, r->st.primary_id, r->st.last_epoch,
		    r->st.last_lsn, r->st.commit_lsn, r->st.clients,
		    r->st.waiting_for, r->st.uptime_ms);
		for (j = 0; j < r->nisr; j++)
			printf("%s%u", j ? ", " : "", r->isr[j]);
		printf("], \"note\": ");
		json_str(r->st.note);
		printf("}");
	}
	printf("\n]}\n");
}

static int
cmd_status(void)
{
	static struct cluster cl;

	gather(&cl);
	if (want_json)
		print_json(&cl);
	else
		print_table(&cl);
	return cl.primary < 0 ? EXIT_NO_PRIMARY : 0;
}

/* ---- changes ------------------------------------------------------------- */

/* Send one operator request to replica r and print its ADMIN_REPLY. */
static int
admin_call(const struct row *r, uint16_t op, const void *msg)
{
	struct wire_ADMIN_REPLY rep;
	struct oplink l;
	char err[256];

	/* A change waits for the whole ISR to commit it, forcing for an
	 * election: give the replica a few election timeouts. */
	if (open_link(r, &l, err, sizeof err) < 0) {
		fprintf(stderr, "chatctl: replica %u: %s\n", r->id, err);
		return EXIT_FAILED;
	}
	l.timeout_ms = timeout_ms + 5 * cfg.election_timeout_ms + 2000;
	if (oplink_call(&l, op, msg, err, sizeof err) < 0) {
		fprintf(stderr, "chatctl: replica %u: %s\n", r->id, err);
		oplink_close(&l);
		return EXIT_FAILED;
	}
	if (oplink_error(&l, err, sizeof err) ||
	    l.h.opcode != WIRE_OP_ADMIN_REPLY ||
	    wire_decode(wire_op(WIRE_OP_ADMIN_REPLY), buf_head(&l.payload),
	    l.h.length, &rep, NULL) < 0) {
		if (l.h.opcode != WIRE_OP_ERROR)
			snprintf(err, sizeof err, "unexpected %s",
			    wire_op_name(l.h.opcode));
		fprintf(stderr, "chatctl: replica %u: %s\n", r->id, err);
		oplink_close(&l);
		return EXIT_FAILED;
	}
	oplink_close(&l);
	if (rep.code != 0) {
		fprintf(stderr, "chatctl: replica %u refused: %s: %s\n", r->id,
		    wire_err_name(rep.code), rep.text);
		return EXIT_FAILED;
	}
	printf("%s\n", rep.text);
	return 0;
}

static int
parse_u16(const char *s, const char *what, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 10);
	if (errno || *end || end == s || *out == 0 || *out > 65535) {
		fprintf(stderr, "chatctl: bad %s '%s' (1-65535)\n", what, s);
		return -1;
	}
	return 0;
}

static int
cmd_member(int add, char **args)
{
	static struct cluster cl;
	struct wire_MEMBER_CHANGE mc;
	unsigned long id, cport = 0, iport = 0;

	if (parse_u16(args[0], "replica id", &id) < 0 ||
	    (add && (parse_u16(args[2], "client port", &cport) < 0 ||
	    parse_u16(args[3], "internal port", &iport) < 0)))
		return EXIT_USAGE;
	memset(&mc, 0, sizeof mc);
	mc.action = add ? 1 : 2;
	mc.id = (uint32_t)id;
	if (add) {
		if (strlen(args[1]) == 0 || strlen(args[1]) > CHAT_MAX_HOST) {
			fprintf(stderr, "chatctl: bad host '%s'\n", args[1]);
			return EXIT_USAGE;
		}
		snprintf(mc.host, sizeof mc.host, "%s", args[1]);
		mc.client_port = (uint16_t)cport;
		mc.internal_port = (uint16_t)iport;
	}
	gather(&cl);
	if (cl.primary < 0) {
		fprintf(stderr, "chatctl: no primary answered; membership "
		    "changes go through the primary\n");
		return EXIT_NO_PRIMARY;
	}
	return admin_call(&cl.rows[cl.primary], WIRE_OP_MEMBER_CHANGE, &mc);
}

/* Ask on the terminal; 1 only for "yes". */
static int
confirm(void)
{
	char line[32];

	printf("Type 'yes' to continue: ");
	fflush(stdout);
	if (fgets(line, sizeof line, stdin) == NULL)
		return 0;
	line[strcspn(line, "\n")] = '\0';
	return strcmp(line, "yes") == 0;
}

static int
cmd_force(char **args)
{
	static struct cluster cl;
	struct wire_FORCE_PRIMARY fp;
	unsigned long id;
	struct row *r;
	unsigned i;

	if (parse_u16(args[0], "replica id", &id) < 0)
		return EXIT_USAGE;
	gather(&cl);
	r = row_of(&cl, (uint32_t)id);
	if (r == NULL || !r->reachable) {
		fprintf(stderr, "chatctl: replica %lu %s\n", id, r ? r->err :
		    "is not in the replica list");
		return EXIT_FAILED;
	}
	if (cl.primary >= 0) {
		fprintf(stderr, "chatctl: replica %u is primary already; "
		    "force-primary is only for a cluster without one\n",
		    cl.rows[cl.primary].id);
		return EXIT_FAILED;
	}
	printf("Replica %lu will become primary without waiting for the "
	    "replicas it needs to hear from", id);
	if (r->st.waiting_for)
		printf(" (it waits for replica %u)", r->st.waiting_for);
	printf(".\nIts log ends at epoch %" PRIu64 ", lsn %" PRIu64 ". Writes "
	    "acknowledged after that point were held only by the missing "
	    "in-sync replicas", r->st.last_epoch, r->st.last_lsn);
	for (i = 0; i < r->nisr; i++) {
		struct row *o = row_of(&cl, r->isr[i]);

		if (r->isr[i] != r->id && (o == NULL || !o->reachable))
			printf(" %u", r->isr[i]);
	}
	printf(", and are LOST if that replica comes back: it will be resynced "
	    "from replica %lu.\nUse this only for a replica gone for good.\n",
	    id);
	if (!assume_yes && !confirm()) {
		fprintf(stderr, "chatctl: not confirmed; nothing done\n");
		return EXIT_FAILED;
	}
	memset(&fp, 0, sizeof fp);
	fp.id = (uint32_t)id;
	return admin_call(r, WIRE_OP_FORCE_PRIMARY, &fp);
}

/* ---- main ---------------------------------------------------------------- */

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",  required_argument, NULL, 'c' },
		{ "json",    no_argument,       NULL, 'j' },
		{ "timeout", required_argument, NULL, 't' },
		{ "yes",     no_argument,       NULL, 'y' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = "replicas.conf", *cmd;
	char err[512], path[CONFIG_MAX_PATH + 32];
	unsigned long v;
	char *end;
	int opt, nargs;

	while ((opt = getopt_long(argc, argv, "c:jt:yh", longopts,
	    NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'j':
			want_json = 1;
			break;
		case 't':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || v == 0 ||
			    v > 600000) {
				fprintf(stderr, "chatctl: bad timeout '%s' "
				    "(1-600000 ms)\n", optarg);
				return EXIT_USAGE;
			}
			timeout_ms = (unsigned)v;
			break;
		case 'y':
			assume_yes = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("chatctl %s\n", CHATD_VERSION);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "chatctl: no command\n");
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[optind++];
	nargs = argc - optind;
	if (!((strcmp(cmd, "status") == 0 && nargs == 0) ||
	    (strcmp(cmd, "add") == 0 && nargs == 4) ||
	    (strcmp(cmd, "remove") == 0 && nargs == 1) ||
	    (strcmp(cmd, "force-primary") == 0 && nargs == 1))) {
		fprintf(stderr, "chatctl: unknown command or wrong arguments: "
		    "%s\n", cmd);
		usage(stderr);
		return EXIT_USAGE;
	}
	if (config_load(&cfg, conf_path, err, sizeof err) < 0) {
		fprintf(stderr, "chatctl: %s\n", err);
		return EXIT_FAILED;
	}
	snprintf(err, sizeof err, "sodium_init failed, or key_file too long");
	if (auth_init() < 0 || config_key_path(&cfg, path, sizeof path) < 0 ||
	    auth_key_read(path, key, err, sizeof err) < 0) {
		fprintf(stderr, "chatctl: cluster key: %s\n", err);
		return EXIT_FAILED;
	}
	if (strcmp(cmd, "status") == 0)
		return cmd_status();
	if (strcmp(cmd, "add") == 0 || strcmp(cmd, "remove") == 0)
		return cmd_member(cmd[0] == 'a', argv + optind);
	return cmd_force(argv + optind);
}
