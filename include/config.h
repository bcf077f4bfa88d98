/*
 * config.h — replicas.conf: the bootstrap replica list and cluster settings.
 *
 * Format (one item per line, '#' starts a comment anywhere on a line):
 *     replica ID HOST CLIENT_PORT INTERNAL_PORT
 *     KEY VALUE
 * Every error names the file and line: "replicas.conf:4: duplicate client
 * port 7002". The settings table in config.c is the one list of keys, their
 * ranges and defaults; README.md and replicas.conf(5) document the same list.
 */
#ifndef CHATD_CONFIG_H
#define CHATD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_REPLICAS 16
#define CONFIG_MAX_HOST     255	/* DNS name limit */
#define CONFIG_MAX_PATH     1024

struct replica_addr {
	uint32_t id;			/* 1 .. 65535 */
	char     host[CONFIG_MAX_HOST + 1];
	uint16_t client_port;
	uint16_t internal_port;
};

struct config {
	struct replica_addr replicas[CONFIG_MAX_REPLICAS];
	unsigned nreplicas;

	/* Settings; see the table in config.c for ranges and defaults. */
	unsigned heartbeat_ms;		/* internal heartbeat period */
	unsigned election_timeout_ms;	/* silence before an election */
	unsigned client_timeout_ms;	/* client: a silent server is dead */
	unsigned hello_timeout_ms;	/* HELLO must arrive within this */
	unsigned idle_timeout_ms;	/* unauthenticated idle connections */
	unsigned max_clients;		/* client connections per replica */
	unsigned max_output_kb;		/* per-connection output cap */
	unsigned max_inflight;		/* requests in flight per connection */
	unsigned session_ttl_s;		/* token lifetime, slides with use */
	unsigned min_isr;		/* acks needed (incl. primary) */
	unsigned log_keep;		/* records kept behind the prune point */
	unsigned sync_full;		/* 1: synchronous=FULL, 0: NORMAL */
	char     data_dir[CONFIG_MAX_PATH];
	char     key_file[CONFIG_MAX_PATH];

	/* Not a file setting: chatd --join filled the replica list from a
	 * running cluster, which this replica joins with an empty store. */
	int      joining;
};

/* Fill c with defaults (no replicas). */
void config_defaults(struct config *c);

/*
 * Parse text (NUL-terminated) into c, which is first set to defaults.
 * name is used in error messages ("NAME:LINE: what"). Returns 0 on success,
 * -1 with the message in err on the first error.
 */
int config_parse(struct config *c, const char *name, const char *text,
		 char *err, size_t errlen);

/*
 * Read and parse a file (at most 1 MiB); errors as config_parse, with the
 * path as NAME, also for I/O errors ("NAME: cannot open: ...").
 */
int config_load(struct config *c, const char *path, char *err, size_t errlen);

/* The replica with this id, or NULL. */
const struct replica_addr *config_replica(const struct config *c, uint32_t id);

/* The cluster key file: key_file, else DATA_DIR/cluster.key. 0, or -1 if
 * it does not fit in out. */
int config_key_path(const struct config *c, char *out, size_t outlen);

/*
 * Print the settings table to f, one line per key:
 *     name  range  default  doc
 * Used to check the documentation (tests/cluster/check_manpages.c).
 */
void config_print_settings(FILE *f);

#endif
