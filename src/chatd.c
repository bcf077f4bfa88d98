/*
 * chatd.c — one replica: options, configuration, and wiring the modules
 * together. Nothing here decides anything about chat or replication.
 *
 *   chatd -c replicas.conf -i ID [-d DATADIR] [-k KEYFILE] [--join HOST:PORT]
 *         [-v|-q] [--syslog]
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "config.h"
#include "log.h"
#include "net.h"
#include "pidfile.h"
#include "server.h"
#include "store.h"

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: chatd -c FILE -i ID [-d DATADIR] [-k KEYFILE] [--join HOST:PORT]\n"
	    "             [-v | -q] [--syslog]\n"
	    "       chatd --gen-key FILE\n"
	    "       chatd --version | -h\n"
	    "\n"
	    "  -c, --config FILE   replica list and settings (replicas.conf)\n"
	    "  -i, --id ID         which replica of FILE this process is\n"
	    "  -d, --data DIR      data directory (default: DATA_DIR/replica-ID,\n"
	    "                      DATA_DIR being the data_dir setting)\n"
	    "  -k, --key-file FILE the cluster key (instead of the key_file\n"
	    "                      setting)\n"
	    "      --join HOST:PORT\n"
	    "                      join a running cluster through the replica\n"
	    "                      whose internal port that is, with an empty\n"
	    "                      data directory (after chatctl add); the\n"
	    "                      membership comes from the cluster\n"
	    "  -v, --verbose       log requests too (debug level)\n"
	    "  -q, --quiet         log warnings and errors only\n"
	    "      --syslog        log to syslog (facility daemon), not stderr\n"
	    "      --gen-key FILE  write a new cluster key (32 random bytes, mode\n"
	    "                      0600) to FILE and exit; copy it to every host\n"
	    "  -h, --help          this text\n"
	    "      --version       print the version\n");
}

static void
on_stop_signal(int signo, void *ud)
{
	struct server *srv = ud;

	log_info("%s: shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
	/* The rest of this loop pass must not start anything new (an
	 * election because a peer just went away, an ISR change). */
	srv->stopping = 1;
	loop_stop(srv->loop);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",  required_argument, NULL, 'c' },
		{ "id",      required_argument, NULL, 'i' },
		{ "data",    required_argument, NULL, 'd' },
		{ "key-file", required_argument, NULL, 'k' },
		{ "verbose", no_argument,       NULL, 'v' },
		{ "quiet",   no_argument,       NULL, 'q' },
		{ "help",    no_argument,       NULL, 'h' },
		{ "version", no_argument,       NULL, 'V' },
		{ "gen-key", required_argument, NULL, 'K' },
		{ "syslog",  no_argument,       NULL, 'S' },
		{ "join",    required_argument, NULL, 'J' },
		{ NULL, 0, NULL, 0 }
	};
	const char *conf_path = NULL, *data_dir = NULL, *key_file = NULL;
	const char *join = NULL;
	char datadir_buf[CONFIG_MAX_PATH + 32], err[512], tag[24];
	char dummy_hash[CHAT_MAX_PWHASH + 1];
	enum log_level level = LOG_INFO;
	const struct replica_addr *self;
	static struct config cfg;
	static struct server srv;
	struct store *st;
	struct loop *l;
	unsigned long id = 0;
	char *end;
	int opt, rc, use_syslog = 0, lock_fd;

	while ((opt = getopt_long(argc, argv, "c:i:d:k:vqh", longopts,
	    NULL)) != -1) {
		switch (opt) {
		case 'c':
			conf_path = optarg;
			break;
		case 'i':
			errno = 0;
			id = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || id == 0 ||
			    id > 65535) {
				fprintf(stderr, "chatd: bad replica id '%s'\n",
				    optarg);
				return 2;
			}
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 'k':
			key_file = optarg;
			break;
		case 'J':
			join = optarg;
			break;
		case 'v':
			level = LOG_DEBUG;
			break;
		case 'q':
			level = LOG_WARN;
			break;
		case 'S':
			use_syslog = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("chatd %s\n", CHATD_VERSION);
			return 0;
		case 'K':
			if (auth_init() < 0 ||
			    auth_key_generate(optarg, err, sizeof err) < 0) {
				fprintf(stderr, "chatd: %s\n", err);
				return 1;
			}
			printf("wrote a new cluster key to %s (mode 0600); copy "
			    "it to every replica's host\n", optarg);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc || conf_path == NULL || id == 0) {
		if (optind != argc)
			fprintf(stderr, "chatd: unexpected argument '%s'\n",
			    argv[optind]);
		else
			fprintf(stderr, "chatd: -c FILE and -i ID are required\n");
		usage(stderr);
		return 2;
	}
	if (config_load(&cfg, conf_path, err, sizeof err) < 0) {
		fprintf(stderr, "chatd: %s\n", err);
		return 1;
	}
	if (key_file != NULL && snprintf(cfg.key_file, sizeof cfg.key_file,
	    "%s", key_file) >= (int)sizeof cfg.key_file) {
		fprintf(stderr, "chatd: key file name too long: %s\n", key_file);
		return 2;
	}
	snprintf(tag, sizeof tag, "r%lu", id);
	log_init(tag, level);
	if (use_syslog)
		log_to_syslog("chatd");
	if (data_dir == NULL) {
		snprintf(datadir_buf, sizeof datadir_buf, "%s/replica-%lu",
		    cfg.data_dir, id);
		data_dir = datadir_buf;
	}

	/* Not in replicas.conf, not joining, no store of a replica that
	 * joined earlier: a wrong id; make no data directory for it. */
	if (config_replica(&cfg, (uint32_t)id) == NULL && join == NULL &&
	    access(data_dir, F_OK) != 0) {
		log_error("%s: no replica %lu (a new replica starts with --join "
		    "HOST:PORT after chatctl add)", conf_path, id);
		return 1;
	}
	/* The lock first: a second chatd must not touch the store at all. */
	if (store_make_dirs(data_dir, err, sizeof err) < 0 ||
	    (lock_fd = pidfile_acquire(data_dir, err, sizeof err)) < 0) {
		log_error("%s", err);
		return 1;
	}
	st = store_open(data_dir, (int)cfg.sync_full, err, sizeof err);
	if (st == NULL) {
		log_error("cannot open the store in %s: %s", data_dir, err);
		return 1;
	}
	/* The stored membership, if any, replaces replicas.conf's list;
	 * without one, --join asks the cluster for it. */
	rc = repl_load_members(st, &cfg);
	if (rc < 0) {
		log_error("cannot read the membership from the store");
		store_close(st);
		return 1;
	}
	if (rc == 0 && join && (auth_init() < 0 || repl_join(&cfg,
	    (uint32_t)id, join, 60000, err, sizeof err) < 0)) {
		log_error("cannot join through %s: %s", join, err);
		store_close(st);
		return 1;
	}
	self = config_replica(&cfg, (uint32_t)id);
	if (self == NULL) {
		if (rc == 1)
			log_error("replica %lu was removed from the cluster "
			    "(the membership in %s does not list it): not "
			    "starting", id, data_dir);
		else
			log_error("%s: no replica %lu (a new replica starts "
			    "with --join HOST:PORT after chatctl add)",
			    conf_path, id);
		store_close(st);
		return 1;
	}
	l = loop_new();
	if (auth_start(l, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	/* Before the replica's clocks start: this takes one Argon2id run. */
	if (auth_hash_now("not a password of anyone", dummy_hash) < 0) {
		log_error("password hashing does not work");
		return 1;
	}
	if (server_init(&srv, &cfg, self, l, st, data_dir, err, sizeof err) < 0) {
		log_error("%s", err);
		return 1;
	}
	memcpy(srv.dummy_hash, dummy_hash, sizeof dummy_hash);
	loop_on_signal(l, SIGINT, on_stop_signal, &srv);
	loop_on_signal(l, SIGTERM, on_stop_signal, &srv);
	log_info("replica %lu ready (data in %s)", id, data_dir);

	rc = loop_run(l);
	server_shutdown(&srv);
	loop_free(l);		/* closes every client */
	auth_stop();		/* then finishes their orphaned jobs */
	if (srv.store)
		store_close(srv.store);	/* a snapshot may have replaced st */
	if (srv.fatal)
		return 1;	/* the lock goes with the process */
	pidfile_release(lock_fd);
	log_info("stopped");
	return rc < 0 ? 1 : 0;
}
