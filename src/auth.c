/*
 * auth.c — libsodium: Argon2id password hashes on a helper thread, random
 * tokens and their hashes. See auth.h for the threading contract.
 *
 * Parameters: crypto_pwhash_str with the INTERACTIVE limits (Argon2id,
 * ~64 MiB, a few tens of ms here). The hash string records its own
 * parameters, so raising them later still verifies old hashes.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sodium.h>
#include "auth.h"
#include "log.h"
#include "net.h"

static pthread_t       helper;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  qcond = PTHREAD_COND_INITIALIZER;
static struct auth_job *qhead, *qtail;
static int             stopping, running;
static int             result_pipe[2] = { -1, -1 };
static struct watch   *result_watch;
static struct loop    *auth_loop;

static void
run_job(struct auth_job *j)
{
	size_t n = strlen(j->password);

	if (j->kind == AUTH_HASH) {
		j->ok = crypto_pwhash_str(j->hash, j->password, n,
		    crypto_pwhash_OPSLIMIT_INTERACTIVE,
		    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0;
	} else {
		j->ok = crypto_pwhash_str_verify(j->hash, j->password, n) == 0;
	}
	sodium_memzero(j->password, sizeof j->password);
}

static void *
helper_main(void *arg)
{
	(void)arg;
	for (;;) {
		struct auth_job *j;

		pthread_mutex_lock(&qlock);
		while (qhead == NULL && !stopping)
			pthread_cond_wait(&qcond, &qlock);
		if (stopping) {
			pthread_mutex_unlock(&qlock);
			return NULL;
		}
		j = qhead;
		qhead = j->next;
		if (qhead == NULL)
			qtail = NULL;
		pthread_mutex_unlock(&qlock);

		run_job(j);
		/* A pointer is smaller than PIPE_BUF, so the write is atomic;
		 * the pipe is blocking on this end: if the loop is slow to
		 * drain it, the helper waits, which is the back-pressure. */
		while (write(result_pipe[1], &j, sizeof j) < 0 && errno == EINTR)
			;
	}
}

/* Loop thread: finished jobs arrive as pointers through the pipe. */
static void
on_results(int fd, void *ud)
{
	struct auth_job *jobs[64];
	ssize_t n;
	size_t i;

	(void)ud;
	while ((n = read(fd, jobs, sizeof jobs)) > 0)
		for (i = 0; i < (size_t)n / sizeof jobs[0]; i++)
			jobs[i]->done(jobs[i]);
}

int
auth_init(void)
{
	return sodium_init() < 0 ? -1 : 0;
}

int
auth_start(struct loop *l, char *err, size_t errlen)
{
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return -1;
	}
	if (pipe2(result_pipe, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	/* Only the read end is non-blocking (the loop side). */
	fcntl(result_pipe[0], F_SETFL, O_NONBLOCK);
	auth_loop = l;
	result_watch = loop_watch(l, result_pipe[0], on_results, NULL);
	stopping = 0;
	if (pthread_create(&helper, NULL, helper_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the hashing thread");
		return -1;
	}
	running = 1;
	return 0;
}

/*
 * Stop the helper and finish every job still outstanding: finished ones
 * waiting in the pipe and queued ones not yet run (those with ok = 0), so
 * each job's done() runs exactly once and its owner can free it. Call
 * after loop_free(): the clients are gone by then, so done() only frees.
 */
void
auth_stop(void)
{
	struct auth_job *j, *next;

	if (running) {
		pthread_mutex_lock(&qlock);
		stopping = 1;
		pthread_cond_signal(&qcond);
		pthread_mutex_unlock(&qlock);
		pthread_join(helper, NULL);
		running = 0;
	}
	if (result_pipe[0] >= 0) {
		on_results(result_pipe[0], NULL);
		close(result_pipe[0]);
		close(result_pipe[1]);
		result_pipe[0] = result_pipe[1] = -1;
	}
	for (j = qhead; j; j = next) {
		next = j->next;
		sodium_memzero(j->password, sizeof j->password);
		j->ok = 0;
		j->done(j);
	}
	qhead = qtail = NULL;
	result_watch = NULL;	/* freed with its loop */
}

void
auth_submit(struct auth_job *j)
{
	j->next = NULL;
	j->ok = 0;
	pthread_mutex_lock(&qlock);
	if (qtail)
		qtail->next = j;
	else
		qhead = j;
	qtail = j;
	pthread_cond_signal(&qcond);
	pthread_mutex_unlock(&qlock);
}

int
auth_hash_now(const char *password, char out[CHAT_MAX_PWHASH + 1])
{
	_Static_assert(crypto_pwhash_STRBYTES <= CHAT_MAX_PWHASH + 1,
	    "hash strings must fit CHAT_MAX_PWHASH");
	return crypto_pwhash_str(out, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

void
auth_token_new(uint8_t token[CHAT_TOKEN_BYTES])
{
	randombytes_buf(token, CHAT_TOKEN_BYTES);
}

void
auth_token_hash(const uint8_t token[CHAT_TOKEN_BYTES], uint8_t out[32])
{
	crypto_generichash(out, 32, token, CHAT_TOKEN_BYTES, NULL, 0);
}

int
auth_equal(const void *a, const void *b, size_t n)
{
	return sodium_memcmp(a, b, n) == 0;
}

uint64_t
auth_random_u64(void)
{
	uint64_t v;

	randombytes_buf(&v, sizeof v);
	return v;
}

void
auth_wipe(void *p, size_t n)
{
	sodium_memzero(p, n);
}

void
auth_random(void *p, size_t n)
{
	randombytes_buf(p, n);
}

/* Read exactly a key from path: 0, 1 if absent, -1 on error. */
static int
read_key(const char *path, uint8_t key[AUTH_KEY_BYTES], char *err,
	 size_t errlen)
{
	uint8_t extra;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	n = read(fd, key, AUTH_KEY_BYTES);
	if (n == AUTH_KEY_BYTES && read(fd, &extra, 1) == 0) {
		close(fd);
		return 0;
	}
	close(fd);
	snprintf(err, errlen, "%s: a key file holds exactly %d bytes",
	    path, AUTH_KEY_BYTES);
	return -1;
}

int
auth_key_read(const char *path, uint8_t key[AUTH_KEY_BYTES], char *err,
	      size_t errlen)
{
	int rc = read_key(path, key, err, errlen);

	if (rc > 0)
		snprintf(err, errlen, "%s: no such key file", path);
	return rc == 0 ? 0 : -1;
}

/* Write a fresh key to a temporary file and link it into place: link()
 * fails if someone else's key got there first, never half-written. */
static int
create_key(const char *path, char *err, size_t errlen)
{
	uint8_t key[AUTH_KEY_BYTES];
	char tmp[1100];
	int fd, rc = 0;

	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		return -1;
	}
	randombytes_buf(key, sizeof key);
	if (write(fd, key, sizeof key) != (ssize_t)sizeof key || fsync(fd) < 0) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		rc = -1;
	}
	close(fd);
	sodium_memzero(key, sizeof key);
	if (rc == 0 && link(tmp, path) < 0) {
		if (errno == EEXIST)
			rc = 1;
		else {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			rc = -1;
		}
	}
	unlink(tmp);
	return rc;
}

int
auth_key_load(const char *path, uint8_t key[AUTH_KEY_BYTES], int *created,
	      char *err, size_t errlen)
{
	int rc = read_key(path, key, err, errlen);

	*created = 0;
	if (rc <= 0)
		return rc;
	rc = create_key(path, err, errlen);
	if (rc < 0)
		return -1;
	*created = rc == 0;
	return read_key(path, key, err, errlen) == 0 ? 0 : -1;
}

int
auth_key_generate(const char *path, char *err, size_t errlen)
{
	int rc = create_key(path, err, errlen);

	if (rc == 1)
		snprintf(err, errlen, "%s exists; not overwriting a key", path);
	return rc == 0 ? 0 : -1;
}

void
auth_proof(const uint8_t key[AUTH_KEY_BYTES], uint32_t prover_id,
	   const uint8_t own_nonce[32], const uint8_t peer_nonce[32],
	   uint8_t out[32])
{
	static const char label[] = "chatd-auth-v1";
	crypto_generichash_state st;
	uint8_t id[4];

	id[0] = (uint8_t)(prover_id >> 24);
	id[1] = (uint8_t)(prover_id >> 16);
	id[2] = (uint8_t)(prover_id >> 8);
	id[3] = (uint8_t)prover_id;
	crypto_generichash_init(&st, key, AUTH_KEY_BYTES, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
	crypto_generichash_update(&st, id, sizeof id);
	crypto_generichash_update(&st, own_nonce, 32);
	crypto_generichash_update(&st, peer_nonce, 32);
	crypto_generichash_final(&st, out, 32);
}

void
auth_digest_init(struct auth_digest *d)
{
	_Static_assert(sizeof(crypto_generichash_state) <= sizeof d->state,
	    "digest state too small");
	crypto_generichash_init((crypto_generichash_state *)(void *)d->state,
	    NULL, 0, 32);
}

void
auth_digest_update(struct auth_digest *d, const void *p, size_t n)
{
	crypto_generichash_update((crypto_generichash_state *)(void *)d->state,
	    p, n);
}

void
auth_digest_final(struct auth_digest *d, uint8_t out[32])
{
	crypto_generichash_final((crypto_generichash_state *)(void *)d->state,
	    out, 32);
}

void
auth_session_key(const uint8_t key[AUTH_KEY_BYTES],
		 const uint8_t dialer_nonce[32],
		 const uint8_t acceptor_nonce[32], uint8_t out[32])
{
	static const char label[] = "chatd-frames-v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, key, AUTH_KEY_BYTES, 32);
	crypto_generichash_update(&st, (const uint8_t *)label, sizeof label - 1);
	crypto_generichash_update(&st, dialer_nonce, 32);
	crypto_generichash_update(&st, acceptor_nonce, 32);
	crypto_generichash_final(&st, out, 32);
}

void
auth_frame_mac(const uint8_t session_key[32], uint32_t sender, uint64_t seq,
	       const uint8_t *frame, size_t len, uint8_t mac[AUTH_MAC_BYTES])
{
	crypto_generichash_state st;
	uint8_t prefix[12];
	int i;

	for (i = 0; i < 4; i++)
		prefix[i] = (uint8_t)(sender >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		prefix[4 + i] = (uint8_t)(seq >> (56 - 8 * i));
	crypto_generichash_init(&st, session_key, 32, AUTH_MAC_BYTES);
	crypto_generichash_update(&st, prefix, sizeof prefix);
	crypto_generichash_update(&st, frame, len);
	crypto_generichash_final(&st, mac, AUTH_MAC_BYTES);
}

void
auth_seal(struct buf *out, size_t mark, const uint8_t session_key[32],
	  uint32_t sender, uint64_t seq)
{
	uint8_t *frame = buf_head(out) + mark, mac[AUTH_MAC_BYTES];
	size_t len = buf_pending(out) - mark;

	frame[3] |= WIRE_FLAG_MAC;
	put_be32(frame + 10, get_be32(frame + 10) + AUTH_MAC_BYTES);
	auth_frame_mac(session_key, sender, seq, frame, len, mac);
	buf_append(out, mac, sizeof mac);	/* frame may move: done */
}

int
auth_unseal(const struct wire_header *h, const uint8_t *payload,
	    const uint8_t session_key[32], uint32_t sender, uint64_t seq)
{
	static struct buf frame;
	uint8_t want[AUTH_MAC_BYTES];
	size_t body;

	if (!(h->flags & WIRE_FLAG_MAC) || h->length < AUTH_MAC_BYTES)
		return 0;
	body = h->length - AUTH_MAC_BYTES;
	/* The header as sent, from its parsed fields (the same bytes). */
	buf_reset(&frame);
	wire_frame_append(&frame, h->opcode, h->request_id, payload, body);
	buf_head(&frame)[2] = h->version;
	buf_head(&frame)[3] = h->flags;
	put_be32(buf_head(&frame) + 10, h->length);
	auth_frame_mac(session_key, sender, seq, buf_head(&frame),
	    buf_pending(&frame), want);
	return auth_equal(want, payload + body, AUTH_MAC_BYTES);
}
