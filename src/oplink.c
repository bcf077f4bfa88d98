/*
 * oplink.c — the operator tool's end of the internal-port handshake and of
 * sealed request/answer pairs (oplink.h). The proofs, connection key and
 * frame MACs are the replicas' own (auth.c); only the blocking socket work
 * is here.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "auth.h"
#include "net.h"
#include "oplink.h"

/* Wait until fd is ready for events or the deadline passes. 0 or -1. */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { fd, events, 0 };
		uint64_t now = mono_ms();
		int rc;

		if (now >= deadline)
			return -1;
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc > 0)
			return 0;
		if (rc == 0 || errno != EINTR)
			return -1;
	}
}

static int
dial(const char *host, uint16_t port, uint64_t deadline, char *err,
     size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char service[8];
	int fd = -1, rc;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(service, sizeof service, "%u", port);
	if ((rc = getaddrinfo(host, service, &hints, &res)) != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	snprintf(err, errlen, "%s:%u: no address", host, port);
	for (ai = res; ai; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t sl = sizeof soerr;

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 0 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
		    soerr == 0)
			break;
		snprintf(err, errlen, "%s:%u: %s", host, port,
		    soerr ? strerror(soerr) : errno == EINPROGRESS ?
		    "connection timed out" : strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

static int
write_all(int fd, const uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k < 0 && errno != EAGAIN && errno != EINTR) {
			return -1;
		} else if (wait_fd(fd, POLLOUT, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

static int
read_full(int fd, uint8_t *p, size_t n, uint64_t deadline)
{
	while (n > 0) {
		ssize_t k = read(fd, p, n);

		if (k > 0) {
			p += k;
			n -= (size_t)k;
		} else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
			return -1;
		} else if (wait_fd(fd, POLLIN, deadline) < 0) {
			return -1;
		}
	}
	return 0;
}

/* One frame into l->h and l->payload. 0 or -1 (err filled). */
static int
recv_frame(struct oplink *l, uint64_t deadline, char *err, size_t errlen)
{
	uint8_t hdr[WIRE_HEADER_SIZE];
	int rc;

	if (read_full(l->fd, hdr, sizeof hdr, deadline) < 0) {
		snprintf(err, errlen, "connection closed or no answer in time");
		return -1;
	}
	rc = wire_peek_header(hdr, sizeof hdr, WIRE_MAX_PAYLOAD_INTERNAL, &l->h);
	if (rc != WIRE_FRAME_OK && rc != WIRE_FRAME_INCOMPLETE) {
		snprintf(err, errlen, "bad frame: %s", wire_frame_strerror(rc));
		return -1;
	}
	buf_reset(&l->payload);
	if (read_full(l->fd, buf_reserve(&l->payload, l->h.length),
	    l->h.length, deadline) < 0) {
		snprintf(err, errlen, "connection closed in a frame");
		return -1;
	}
	l->payload.len += l->h.length;
	return 0;
}

/* Send op (msg), sealed once the link is up. */
static int
send_frame(struct oplink *l, int sealed, uint16_t op, uint32_t rid,
	   const void *msg, uint64_t deadline)
{
	struct buf out;
	int rc;

	buf_init(&out);
	wire_encode(&out, op, rid, msg);
	if (sealed)
		auth_seal(&out, 0, l->session_key, 0, ++l->send_seq);
	rc = write_all(l->fd, buf_head(&out), buf_pending(&out), deadline);
	buf_free(&out);
	return rc;
}

int
oplink_error(const struct oplink *l, char *err, size_t errlen)
{
	struct wire_ERROR e;

	if (l->h.opcode != WIRE_OP_ERROR)
		return 0;
	if (wire_decode(wire_op(WIRE_OP_ERROR), buf_head(&l->payload),
	    l->h.length, &e, NULL) < 0) {
		snprintf(err, errlen, "malformed ERROR");
		return WIRE_E_BAD_FRAME;
	}
	snprintf(err, errlen, "%s: %s", wire_err_name(e.code), e.text);
	return e.code;
}

/* The answer to a handshake step: op expected, or its ERROR as err. */
static int
expect(struct oplink *l, uint16_t op, uint32_t rid, uint64_t deadline,
       char *err, size_t errlen)
{
	if (recv_frame(l, deadline, err, errlen) < 0)
		return -1;
	if (oplink_error(l, err, errlen))
		return -1;
	if (l->h.opcode != op || l->h.request_id != rid) {
		snprintf(err, errlen, "expected %s, got %s", wire_op_name(op),
		    wire_op_name(l->h.opcode));
		return -1;
	}
	return 0;
}

int
oplink_open(struct oplink *l, const char *host, uint16_t port,
	    const uint8_t key[32], unsigned timeout_ms, char *err,
	    size_t errlen)
{
	uint64_t deadline = mono_ms() + timeout_ms;
	uint8_t mine[32], theirs[32], proof[32];
	struct wire_HELLO hello;
	struct wire_AUTH a;

	memset(l, 0, sizeof *l);
	buf_init(&l->payload);
	l->timeout_ms = timeout_ms;
	l->next_rid = 1;
	if ((l->fd = dial(host, port, deadline, err, errlen)) < 0)
		return -1;
	auth_random(mine, sizeof mine);
	memset(&hello, 0, sizeof hello);
	hello.version_min = WIRE_VERSION_MIN;
	hello.version_max = WIRE_VERSION_MAX;
	hello.kind = 3;
	snprintf(hello.software, sizeof hello.software, "chatctl %s",
	    CHATD_VERSION);
	hello.nonce.ptr = mine;
	hello.nonce.len = sizeof mine;
	if (send_frame(l, 0, WIRE_OP_HELLO, l->next_rid, &hello, deadline) < 0 ||
	    expect(l, WIRE_OP_HELLO, l->next_rid++, deadline, err, errlen) < 0)
		goto fail;
	if (wire_decode(wire_op(WIRE_OP_HELLO), buf_head(&l->payload),
	    l->h.length, &hello, NULL) < 0 || hello.nonce.len != 32 ||
	    hello.kind != 2 || hello.version_min != hello.version_max ||
	    wire_version_choose(hello.version_min, hello.version_max) !=
	    hello.version_min) {
		snprintf(err, errlen, "not a chatd replica's HELLO");
		goto fail;
	}
	l->replica_id = hello.replica_id;
	memcpy(theirs, hello.nonce.ptr, 32);
	auth_proof(key, 0, mine, theirs, proof);
	a.proof.ptr = proof;
	a.proof.len = sizeof proof;
	if (send_frame(l, 0, WIRE_OP_AUTH, l->next_rid, &a, deadline) < 0 ||
	    expect(l, WIRE_OP_AUTH, l->next_rid++, deadline, err, errlen) < 0)
		goto fail;
	auth_proof(key, l->replica_id, theirs, mine, proof);
	if (wire_decode(wire_op(WIRE_OP_AUTH), buf_head(&l->payload),
	    l->h.length, &a, NULL) < 0 || a.proof.len != 32 ||
	    !auth_equal(proof, a.proof.ptr, 32)) {
		snprintf(err, errlen, "the replica's proof is wrong (another "
		    "cluster key?)");
		goto fail;
	}
	auth_session_key(key, mine, theirs, l->session_key);
	return 0;
fail:
	oplink_close(l);
	return -1;
}

int
oplink_call(struct oplink *l, uint16_t op, const void *msg, char *err,
	    size_t errlen)
{
	uint64_t deadline = mono_ms() + l->timeout_ms;
	uint32_t rid = l->next_rid++;

	if (l->fd < 0 || send_frame(l, 1, op, rid, msg, deadline) < 0) {
		snprintf(err, errlen, "cannot send");
		return -1;
	}
	for (;;) {
		if (recv_frame(l, deadline, err, errlen) < 0)
			return -1;
		if (!auth_unseal(&l->h, buf_head(&l->payload), l->session_key,
		    l->replica_id, l->recv_seq + 1)) {
			/* A refusal before sealing, or a forgery. */
			if (oplink_error(l, err, errlen) == 0)
				snprintf(err, errlen, "a frame without a "
				    "valid MAC");
			return -1;
		}
		l->recv_seq++;
		l->h.length -= AUTH_MAC_BYTES;
		l->h.flags &= (uint8_t)~WIRE_FLAG_MAC;
		if (l->h.request_id == rid)
			return 0;
	}
}

void
oplink_close(struct oplink *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	buf_free(&l->payload);
	auth_wipe(l->session_key, sizeof l->session_key);
}
