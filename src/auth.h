/*
 * auth.h — passwords, tokens and the password-hashing helper thread.
 *
 * Argon2id hashing and verification take tens of milliseconds, far too long
 * for the poll() loop, so they run on one helper thread. The loop submits a
 * job; the thread computes and writes the job's pointer into a pipe that
 * the loop watches; the loop then runs job->done on its own thread. The
 * helper touches only the fields marked (helper) below, so no state is
 * shared beyond the queue itself.
 *
 * Only src/auth.c includes sodium.h.
 */
#ifndef CHATD_AUTH_H
#define CHATD_AUTH_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"
#include "wire.h"

struct loop;

enum auth_kind { AUTH_HASH, AUTH_VERIFY };

struct auth_job {
	enum auth_kind kind;
	char password[CHAT_MAX_PASSWORD + 1];	/* wiped after use (helper) */
	char hash[CHAT_MAX_PWHASH + 1];		/* in for VERIFY, out for HASH */
	int  ok;				/* result (helper) */
	/* Runs on the loop thread when the job is finished. */
	void (*done)(struct auth_job *j);
	void *ud;				/* the caller's context */
	struct auth_job *next;			/* queue link, and caller lists */
};

/* sodium_init alone (for commands that need no thread, e.g. --gen-key). */
int  auth_init(void);
/* sodium_init and the helper thread; the result pipe is watched by l.
 * Returns 0 or -1 (err filled). */
int  auth_start(struct loop *l, char *err, size_t errlen);
/* Join the helper and run done() of every outstanding job (unfinished ones
 * with ok = 0). Call after loop_free(), which frees the pipe's watch. */
void auth_stop(void);
/* Queue a job; the caller owns it until done() runs. */
void auth_submit(struct auth_job *j);

/* Hash a password on the calling thread (start-up only: it blocks for the
 * length of one Argon2id run). 0 or -1. */
int  auth_hash_now(const char *password, char out[CHAT_MAX_PWHASH + 1]);

/* 32 random bytes. */
void auth_token_new(uint8_t token[CHAT_TOKEN_BYTES]);
/* What the store keeps instead of the token: BLAKE2b-256(token). */
void auth_token_hash(const uint8_t token[CHAT_TOKEN_BYTES], uint8_t out[32]);
/* Constant-time comparison. */
int  auth_equal(const void *a, const void *b, size_t n);
/* A random u64 (ballots, client ids). */
uint64_t auth_random_u64(void);
/* Zero memory in a way the compiler keeps. */
void auth_wipe(void *p, size_t n);
void auth_random(void *p, size_t n);

/* ---- the cluster key ------------------------------------------------------ */

#define AUTH_KEY_BYTES 32
/*
 * Read the 32-byte cluster key from path; when the file does not exist,
 * create it (32 random bytes, mode 0600) — atomically, so replicas that
 * share a data directory and start together all end up with the same key.
 * *created tells whether this call made it. 0, or -1 with err filled.
 */
int  auth_key_load(const char *path, uint8_t key[AUTH_KEY_BYTES],
		   int *created, char *err, size_t errlen);
/* Read an existing key file (operator tools: never create one). 0, or -1
 * with err filled (a missing file included). */
int  auth_key_read(const char *path, uint8_t key[AUTH_KEY_BYTES],
		   char *err, size_t errlen);
/* Write a new key file (chatd --gen-key); fails if it exists. */
int  auth_key_generate(const char *path, char *err, size_t errlen);
/*
 * The AUTH proof: keyed BLAKE2b-256 over "chatd-auth-v1", the prover's id
 * (u32 big-endian), the prover's own nonce, the verifier's nonce. Binds the
 * proof to this connection (both nonces) and to the prover's identity.
 */
void auth_proof(const uint8_t key[AUTH_KEY_BYTES], uint32_t prover_id,
		const uint8_t own_nonce[32], const uint8_t peer_nonce[32],
		uint8_t out[32]);

/* ---- per-frame authentication (internal port) -------------------------------- */

#define AUTH_MAC_BYTES 16
/* The key of one connection: keyed BLAKE2b-256 (cluster key) over
 * "chatd-frames-v1" || dialer's nonce || acceptor's nonce. */
void auth_session_key(const uint8_t key[AUTH_KEY_BYTES],
		      const uint8_t dialer_nonce[32],
		      const uint8_t acceptor_nonce[32], uint8_t out[32]);
/* A frame's MAC: keyed BLAKE2b-128 (session key) over the sender's id
 * (u32 BE), the frame's sequence number in its direction (u64 BE), and
 * the frame as sent (header with the MAC flag and a length that counts
 * the MAC, then the payload without it). */
void auth_frame_mac(const uint8_t session_key[32], uint32_t sender,
		    uint64_t seq, const uint8_t *frame, size_t len,
		    uint8_t mac[AUTH_MAC_BYTES]);
/* Seal the frame that starts at mark in out and runs to its end: set the
 * MAC flag, count the MAC in the length, append the MAC (frame seq). */
void auth_seal(struct buf *out, size_t mark, const uint8_t session_key[32],
	       uint32_t sender, uint64_t seq);
/* 1 if a received frame (header h as parsed, payload with the MAC at its
 * end) is sealed by sender with sequence number seq; else 0. */
int  auth_unseal(const struct wire_header *h, const uint8_t *payload,
		 const uint8_t session_key[32], uint32_t sender, uint64_t seq);

/* ---- digests (snapshots) ---------------------------------------------------- */

/* BLAKE2b-256 in steps; the state is opaque to callers. */
struct auth_digest { _Alignas(64) unsigned char state[512]; };
void auth_digest_init(struct auth_digest *d);
void auth_digest_update(struct auth_digest *d, const void *p, size_t n);
void auth_digest_final(struct auth_digest *d, uint8_t out[32]);

#endif
