/*
 * repl.h — replication: links between replicas, log shipping, the in-sync
 * set, elections, snapshots. DESIGN.md §6 states the invariants; this is
 * how the code is cut:
 *
 *   repl_link.c   one authenticated TCP link per pair of replicas (the lower
 *                 id dials), heartbeats, liveness, the internal-port frame
 *                 dispatch, and the periodic tick that drives everything
 *   repl_ship.c   primary: stream the log to every backup from where it
 *                 stands, count acknowledgements, move the commit point,
 *                 change the ISR; backup: apply APPENDs in order and ack
 *   repl_vote.c   rounds, ballots (with durable promises), announcement
 *                 and acceptance; the decision itself is repl_elect.c
 *   repl_snap.c   snapshot transfer for a backup whose log diverged or is
 *                 behind the pruned point
 *   repl_admin.c  operator tools (chatctl) on the internal port: status,
 *                 membership changes, forcing a primary
 *
 * State lives in struct repl (one per process, inside struct server) and
 * struct peer (one per other replica of the configuration).
 */
#ifndef CHATD_REPL_H
#define CHATD_REPL_H

#include <stdint.h>
#include <stdio.h>
#include "buf.h"
#include "config.h"
#include "net.h"
#include "repl_elect.h"

struct server;
struct store;

/* Link state, in order. */
enum link_state {
	LINK_DOWN,		/* no connection (dialing or waiting for one) */
	LINK_HELLO,		/* connected, HELLO/AUTH in progress */
	LINK_UP,		/* authenticated: frames flow */
};

struct snap_out;
struct snap_in;

struct peer {
	uint32_t        id;
	char            host[CONFIG_MAX_HOST + 1];
	uint16_t        internal_port;
	uint16_t        client_port;

	struct conn    *conn;
	enum link_state state;
	int             dialer;		/* we dial this peer (our id lower) */
	uint8_t         my_nonce[32];
	uint8_t         their_nonce[32];
	int             hello_seen, auth_sent, auth_ok;
	/* Per-frame authentication once the link is up (PROTOCOL.md §8.1). */
	uint8_t         session_key[32];
	uint64_t        send_seq, recv_seq;
	uint64_t        last_heard;	/* mono ms of the last frame */
	uint64_t        next_dial;	/* mono ms; backoff */
	unsigned        backoff_ms;
	int             refused;	/* last dial was refused: no process */
	struct conn    *probe;		/* a probe in flight (accepting side) */

	/* What it told us in its last heartbeat (or ballot). */
	int             heard_state;	/* since the link came up */
	uint64_t        epoch;
	uint32_t        primary_id;
	struct logpos   last;
	int             eligible;

	/* Primary side: shipping to this backup. */
	int             wants_catchup;	/* asked before we led: serve later */
	int             shipping;	/* it asked (CATCHUP) and we agreed */
	uint64_t        next_lsn;	/* next record to send */
	uint64_t        acked_lsn;	/* it has committed up to here */
	uint64_t        last_ack_at;	/* mono ms */
	struct snap_out *snap_out;

	/* Backup side: a snapshot coming from this primary. */
	struct snap_in *snap_in;

	/* Primary side: removed from the membership, kept only until it
	 * has the record that says so (repl_member.c). */
	int             leaving;
	uint64_t        leaving_since;	/* mono ms */
};

struct round {
	uint64_t       epoch;		/* 0: no round */
	uint64_t       started;		/* mono ms */
	struct ballot  ballots[ELECT_MAX];
	size_t         n;
	int            decided;
	uint32_t       winner;
	/* Winner side: who must accept, who did. */
	uint32_t       voters[ELECT_MAX];
	size_t         nvoters;
	uint32_t       accepted[ELECT_MAX];
	size_t         naccepted;
	int            announced;
};

struct repl {
	struct server *srv;
	struct peer    peers[ELECT_MAX];
	size_t         npeers;
	uint8_t        key[32];		/* the cluster key */
	struct timer  *tick;
	uint64_t       last_tick;	/* mono ms: detects our own pauses */

	uint64_t       promised;	/* highest epoch promised (durable) */
	uint64_t       accepted_epoch;	/* epoch whose primary we accepted */
	uint32_t       accepted_primary;
	struct isr     isr;		/* newest ISR known (applied or heard) */
	int            recovering;	/* since start, not yet readmitted */
	uint32_t       waiting_for;	/* rule 4 / a round that waits */
	char           note[200];	/* for STATUS and logs */

	uint64_t       commit_lsn;	/* acknowledged by the whole ISR */
	uint64_t       primary_since;	/* mono ms; 0 when not primary */
	uint64_t       lost_primary_at;	/* mono ms the primary went silent */
	int            need_ack;	/* backup: APPEND_ACK after commit */
	uint64_t       last_append_at;	/* backup: mono ms of the last APPEND */
	uint64_t       last_catchup_at;	/* backup: mono ms of our last CATCHUP */
	int            isr_change_pending;	/* an R_ISR is not yet acked */

	struct round   round;

	/* The membership (repl_member.c): replicas.conf's list until an
	 * R_MEMBERS record says otherwise; peers[] follows it. */
	struct replica_addr members[CONFIG_MAX_REPLICAS];
	unsigned       nmembers;
	struct logpos  members_at;	/* the R_MEMBERS that set it */
	int            members_dirty;	/* peers[] not yet reconciled */
	int            removed;		/* we are not a member: not serving */
	int            forced;		/* FORCE_PRIMARY: rule 4 lifted until
					   we lead or follow (repl_admin.c) */
};

/* ---- repl_link.c --------------------------------------------------------- */
int  repl_init(struct repl *r, struct server *s, char *err, size_t errlen);
void repl_shutdown(struct repl *r);
/* Accepted internal connection (the listener's ops use this). */
extern const struct conn_ops repl_accept_ops;
struct peer *repl_peer(struct repl *r, uint32_t id);
/*
 * Frames to a peer whose link is up are sealed: a MAC over the frame, its
 * direction and its sequence number is appended (WIRE_FLAG_MAC). Callers
 * that encode straight into the link's output buffer take a mark first
 * and seal after: mark = repl_frame_mark(p); ...encode...;
 * repl_seal(p, mark).
 */
size_t repl_frame_mark(struct peer *p);
void   repl_seal(struct peer *p, size_t mark);
/* Send a frame (a struct of op) to a peer whose link is up. */
void repl_send(struct peer *p, uint16_t op, uint32_t request_id,
	       const void *msg);
void repl_send_encoded(struct peer *p, uint16_t op, const struct buf *payload);
/* Peers whose links are up, as ids; returns how many. */
size_t repl_connected(const struct repl *r, uint32_t *ids);
/* Our own state, as heartbeats and ballots carry it. */
void repl_self_last(const struct repl *r, struct logpos *last);
int  repl_self_eligible(struct repl *r);
/* A frame from a peer whose link is up (after AUTH). */
void repl_dispatch(struct repl *r, struct peer *p, const struct wire_header *h,
		   const uint8_t *payload);
/* Adopt an ISR heard of if it is newer than the one we know. */
void repl_adopt_isr(struct repl *r, const struct isr *isr);
/* Decode an ISR list (MEMBER items) of a message into *isr. */
void repl_isr_from_list(const struct wire_opdesc *d, const struct wire_list *l,
			struct logpos set_at, struct isr *isr);
void repl_encode_isr(struct wire_enc *e, const struct isr *isr);
/* Role changes. */
void repl_become_backup(struct repl *r, uint64_t epoch, uint32_t primary);
void repl_step_down(struct repl *r, const char *why);
/* Detect our own pause before acting on anything (see repl_link.c). */
void repl_check_pause(struct repl *r);
/* Persist a u64 in meta outside any transaction (fsync'd). 0, or -1
 * after a storage failure (the replica is stopping). */
int  repl_persist(struct repl *r, const char *key, uint64_t v);

/* ---- repl_ship.c ----------------------------------------------------------- */
/* Primary: ship what each backup lacks, within flow-control limits. */
void repl_ship_all(struct repl *r);
/* Primary: recompute the commit point from the acks; 1 if it moved. */
int  repl_update_commit(struct repl *r);
/* Primary: the ISR a newly established primary writes, and later changes. */
int  repl_write_isr(struct repl *r, const struct isr *isr, const char *why);
/* Primary: drop ISR members that are gone, add caught-up backups. */
void repl_check_isr(struct repl *r);
/* Backup: tell the primary where our log ends. */
void repl_send_catchup(struct repl *r);
/* Backup: after the local commit, acknowledge what we hold. */
void repl_send_ack(struct repl *r);
void repl_on_catchup(struct repl *r, struct peer *p, const uint8_t *payload,
		     size_t len);
/* New primary: serve the catch-up requests that came before we led. */
void repl_serve_catchups(struct repl *r);
void repl_on_append(struct repl *r, struct peer *p, const uint8_t *payload,
		    size_t len);
void repl_on_append_ack(struct repl *r, struct peer *p, const uint8_t *payload,
			size_t len);
/* Delete log records far behind the commit point (a bounded batch). */
void repl_prune(struct repl *r);
/* The ISR applied from the log changed (R_ISR applied). */
void repl_isr_applied(struct repl *r);

/* ---- repl_vote.c ----------------------------------------------------------- */
/* Start a round for a new epoch (we have no primary). */
void repl_start_round(struct repl *r, const char *why);
/* Periodic: decide or time out the current round. */
void repl_round_tick(struct repl *r);
void repl_on_round(struct repl *r, struct peer *p, const uint8_t *payload,
		   size_t len);
void repl_on_ballot(struct repl *r, struct peer *p, const uint8_t *payload,
		    size_t len);
void repl_on_announce(struct repl *r, struct peer *p, const uint8_t *payload,
		      size_t len);
void repl_on_announce_reply(struct repl *r, struct peer *p,
			    const uint8_t *payload, size_t len);
/* A link went down: a pending round or announcement may now complete. */
void repl_vote_peer_lost(struct repl *r, struct peer *p);

/* ---- repl_snap.c ------------------------------------------------------------- */
/* Primary: send a full snapshot to p (its log diverged or is too old). */
void repl_snap_start(struct repl *r, struct peer *p);
void repl_snap_pump(struct repl *r, struct peer *p);
/* After each turn's commit: advance snapshot copies in progress. */
void repl_snap_progress(struct repl *r);
void repl_snap_cancel(struct peer *p);
void repl_on_snap(struct repl *r, struct peer *p, const struct wire_header *h,
		  const uint8_t *payload);

/* Membership changes: a peer for a new member (its link starts at the
 * next tick), and dropping a peer (its links closed; peers[] is compacted,
 * so no struct peer pointer may be held across this call). */
struct peer *repl_peer_add(struct repl *r, const struct replica_addr *a);
void repl_peer_drop(struct repl *r, struct peer *p, const char *why);

/* ---- repl_member.c ---------------------------------------------------------- */
/*
 * Before the server starts: if the store holds a membership (R_MEMBERS),
 * it replaces cfg's replica list. 1 if it did, 0 if the store has none,
 * -1 on a storage error.
 */
int  repl_load_members(struct store *st, struct config *cfg);
/*
 * chatd --join HOST:PORT: ask that replica (as an operator tool, with the
 * cluster key) for the membership until it lists id, for at most wait_ms;
 * then cfg's replica list is that membership and cfg->joining is set.
 * 0, or -1 with err filled.
 */
int  repl_join(struct config *cfg, uint32_t id, const char *hostport,
	       unsigned wait_ms, char *err, size_t errlen);
/* The member with this id, or NULL. */
const struct replica_addr *repl_member(const struct repl *r, uint32_t id);
/* The membership at start-up (from the configuration). */
void repl_members_init(struct repl *r);
/* An R_MEMBERS record was applied (or a snapshot installed). */
void repl_members_applied(struct repl *r);
/* Make peers[] follow the membership; safe only between frames (the
 * before-sleep hook and the tick call it). */
void repl_members_sync(struct repl *r);
/* Primary: MEMBER_CHANGE. Writes R_ISR (on removal of an ISR member) and
 * R_MEMBERS; *lsn is where the change is durable once committed. 0 with
 * a description in text, or an error code with the reason in text. */
uint16_t repl_member_change(struct repl *r, const struct wire_MEMBER_CHANGE *mc,
			    uint64_t *lsn, char *text, size_t len);

/* ---- repl_admin.c ------------------------------------------------------------ */
/* A frame from an authenticated operator tool (its link: op, id 0). */
void repl_admin_dispatch(struct repl *r, struct peer *op,
			 const struct wire_header *h, const uint8_t *payload);
/* An operator link closes: forget its requests. */
void repl_admin_closed(struct peer *op);
/* Answer the requests whose changes are now committed (or lost). */
void repl_admin_tick(struct repl *r);

#endif
