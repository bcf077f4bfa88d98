-- chat.lua — a Wireshark dissector for the chatd wire protocol
-- (wire/PROTOCOL.md): both ports, every opcode, every field.
--
-- GENERATED FILE: do not edit wire/chat.lua. Its code comes from
-- tools/wirelua.lua and its protocol tables from wire/wire.def (and the
-- default ports from replicas.conf), joined by tools/wirelua; `make`
-- regenerates it, and `make check` fails if the committed copy is stale.
--
-- Load it for one run:
--     tshark -X lua_script:wire/chat.lua -r capture.pcapng -V
--     wireshark -X lua_script:wire/chat.lua capture.pcapng
-- or for good: copy it into ~/.local/lib/wireshark/plugins/.
-- Ports: Preferences > Protocols > CHAT (client and internal port ranges),
-- or "Decode As…" / `tshark -d tcp.port==9000,chat` for any other port.
-- Display filters: chat.op == "SEND", chat.send.body, chat.error.code,
-- chat.malformed (a frame that breaks the framing or a decoding rule).
--
-- How it works: TCP reassembly cuts the stream into frames by the header's
-- length field (dissect_tcp_pdus); each frame's payload is decoded by
-- walking the field list of its opcode in the tables below, the same
-- walk the C codec (src/wire.c) does. A frame that does not decode gets an
-- expert info saying why, never a Lua error.

-- ---- protocol tables (generated from wire/wire.def) -----------------

local WIRE = {
	magic = 0x4344, header_size = 14, version_min = 1, version_max = 1,
	flag_mac = 0x01, mac_bytes = 16,
	-- the largest payload of any port and direction
	max_payload = 2097152,
	client_ports = "7001,7002,7003",
	internal_ports = "7101,7102,7103",
}

-- List items by name.
local ITEMS = {
["USER"] = { name = "USER",
	fields = {
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "user name" },
		{ name = "fullname", type = "STR", max = 50,
		  doc = "full name, may be empty" },
		{ name = "online", type = "U8", max = 1,
		  doc = "1 if logged in on any connection now" },
	} },
["MSG"] = { name = "MSG",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "message id, assigned by the primary, increasing" },
		{ name = "from", type = "STR", min = 1, max = 32,
		  doc = "sender" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "recipient" },
		{ name = "sent_at", type = "U64",
		  doc = "send time, ms since the Unix epoch" },
		{ name = "read_at", type = "U64",
		  doc = "time the recipient read it, 0 = unread" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "message text" },
	} },
["MSGID"] = { name = "MSGID",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "message id (draft id in R_DRAFT_SENT)" },
	} },
["DRAFT"] = { name = "DRAFT",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "draft id" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "intended recipient" },
		{ name = "updated_at", type = "U64",
		  doc = "last change, ms since the Unix epoch" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "draft text" },
	} },
["REPLICA"] = { name = "REPLICA",
	fields = {
		{ name = "id", type = "U32", min = 1, max = 65535,
		  doc = "replica id" },
		{ name = "host", type = "STR", min = 1, max = 255,
		  doc = "host name or address" },
		{ name = "client_port", type = "U16", min = 1,
		  doc = "client port" },
		{ name = "internal_port", type = "U16", min = 1,
		  doc = "internal port" },
	} },
["MEMBER"] = { name = "MEMBER",
	fields = {
		{ name = "id", type = "U32", min = 1, max = 65535,
		  doc = "replica id" },
	} },
["RECORD"] = { name = "RECORD",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "epoch of the primary that made it" },
		{ name = "lsn", type = "U64", min = 1,
		  doc = "log sequence number, +1 per record" },
		{ name = "type", type = "U16", min = 768, max = 1023, names = "opcode",
		  doc = "record opcode (0x03xx)" },
		{ name = "client_id", type = "U64",
		  doc = "requesting client, 0 = none" },
		{ name = "seq", type = "U64",
		  doc = "the client's sequence number" },
		{ name = "at", type = "U64",
		  doc = "primary's clock when made, ms" },
		{ name = "payload", type = "BYTES", max = 16384, layout_of = "type",
		  doc = "the record's fields" },
		{ name = "reply_op", type = "U16", names = "opcode",
		  doc = "opcode of the stored reply, 0 = none" },
		{ name = "reply", type = "BYTES", max = 422400, layout_of = "reply_op",
		  doc = "reply payload returned to a retry" },
	} },
["PEER"] = { name = "PEER",
	fields = {
		{ name = "id", type = "U32", min = 1, max = 65535,
		  doc = "replica id" },
		{ name = "host", type = "STR", min = 1, max = 255,
		  doc = "host name or address" },
		{ name = "client_port", type = "U16", min = 1,
		  doc = "client port" },
		{ name = "internal_port", type = "U16", min = 1,
		  doc = "internal port" },
		{ name = "link", type = "U8", max = 2,
		  doc = "0 link down, 1 link up, 2 the sender itself" },
		{ name = "in_isr", type = "U8", max = 1,
		  doc = "1 if in the ISR the sender knows" },
		{ name = "shipping", type = "U8", max = 2,
		  doc = "primary: 0 not asked, 1 streaming the log, 2 sending a snapshot" },
		{ name = "acked_lsn", type = "U64",
		  doc = "primary: it has committed up to here; else 0" },
	} },
}

-- Opcodes by number; log records (0x03xx) are the layouts of RECORD payloads.
local OPS = {
[0x0001] = { name = "HELLO", port = "both", dir = "either way",
	fields = {
		{ name = "version_min", type = "U8", min = 1,
		  doc = "lowest version the sender speaks; in a reply: the chosen version" },
		{ name = "version_max", type = "U8", min = 1,
		  doc = "highest version the sender speaks; in a reply: the chosen version" },
		{ name = "kind", type = "U8", min = 1, max = 3,
		  doc = "1 client, 2 replica, 3 operator tool" },
		{ name = "replica_id", type = "U32", max = 65535,
		  doc = "sender's replica id (replicas), else 0" },
		{ name = "software", type = "STR", max = 64,
		  doc = "free text, e.g. \"chatd 0.1\"" },
		{ name = "nonce", type = "BYTES", max = 32,
		  doc = "internal port: 32 random bytes for AUTH; else empty" },
	} },
[0x0002] = { name = "ERROR", port = "both", dir = "either way",
	fields = {
		{ name = "code", type = "U16", min = 1, names = "error",
		  doc = "error code (see the error table)" },
		{ name = "about_op", type = "U16", names = "opcode",
		  doc = "opcode of the frame that caused it, 0 if none" },
		{ name = "text", type = "STR", max = 200,
		  doc = "short human-readable explanation" },
	} },
[0x0003] = { name = "PING", port = "both", dir = "either way",
	fields = {
		{ name = "token", type = "U64",
		  doc = "echoed in the PONG" },
	} },
[0x0004] = { name = "PONG", port = "both", dir = "either way",
	fields = {
		{ name = "token", type = "U64",
		  doc = "the PING's token" },
	} },
[0x0101] = { name = "REGISTER", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "A-Z a-z 0-9 . _ -, unique ignoring case" },
		{ name = "fullname", type = "STR", max = 50,
		  doc = "full name, may be empty" },
		{ name = "password", type = "STR", min = 1, max = 128,
		  doc = "password" },
	} },
[0x0102] = { name = "LOGIN", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "user name (any case)" },
		{ name = "password", type = "STR", min = 1, max = 128,
		  doc = "password" },
	} },
[0x0103] = { name = "RESUME", port = "client", dir = "request",
	fields = {
		{ name = "token", type = "BYTES", min = 32, max = 32,
		  doc = "token from SESSION" },
	} },
[0x0104] = { name = "LOGOUT", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
	} },
[0x0105] = { name = "DELETE_ACCOUNT", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "password", type = "STR", min = 1, max = 128,
		  doc = "the account's password, again" },
	} },
[0x0106] = { name = "USERS", port = "client", dir = "request",
	fields = {
		{ name = "pattern", type = "STR", max = 64,
		  doc = "glob with * and ?; empty = all" },
		{ name = "page", type = "U32",
		  doc = "page number from 0, CHAT_MAX_PAGE users a page" },
	} },
[0x0107] = { name = "SEND", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "recipient" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "message text" },
	} },
[0x0108] = { name = "INBOX", port = "client", dir = "request",
	fields = {
	} },
[0x0109] = { name = "READ", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "max", type = "U32", min = 1, max = 100,
		  doc = "how many of the oldest unread messages" },
	} },
[0x010A] = { name = "FETCH", port = "client", dir = "request",
	fields = {
		{ name = "after_id", type = "U64",
		  doc = "return messages with a larger id" },
		{ name = "max", type = "U32", min = 1, max = 100,
		  doc = "at most this many" },
	} },
[0x010B] = { name = "HISTORY", port = "client", dir = "request",
	fields = {
		{ name = "peer", type = "STR", min = 1, max = 32,
		  doc = "the other user" },
		{ name = "before_id", type = "U64",
		  doc = "only messages with a smaller id; 0 = newest" },
		{ name = "max", type = "U32", min = 1, max = 100,
		  doc = "at most this many" },
	} },
[0x010C] = { name = "MARK_READ", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "ids", type = "LIST", min = 1, max = 100, item = "MSGID",
		  doc = "messages to mark" },
	} },
[0x010D] = { name = "DELETE", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "ids", type = "LIST", min = 1, max = 100, item = "MSGID",
		  doc = "messages to delete from my view" },
	} },
[0x010E] = { name = "DRAFT_SAVE", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "draft_id", type = "U64",
		  doc = "draft to replace; 0 = new draft" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "intended recipient" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "draft text" },
	} },
[0x010F] = { name = "DRAFTS", port = "client", dir = "request",
	fields = {
	} },
[0x0110] = { name = "DRAFT_SEND", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "draft_id", type = "U64",
		  doc = "draft to send; 0 = all drafts" },
	} },
[0x0111] = { name = "DRAFT_DROP", port = "client", dir = "request",
	fields = {
		{ name = "client_id", type = "U64", min = 1,
		  doc = "random id of the client process" },
		{ name = "seq", type = "U64", min = 1,
		  doc = "the client's request sequence number" },
		{ name = "draft_id", type = "U64", min = 1,
		  doc = "draft to discard" },
	} },
[0x0112] = { name = "STATUS", port = "client", dir = "request",
	fields = {
	} },
[0x0113] = { name = "REPLICAS", port = "client", dir = "request",
	fields = {
	} },
[0x0181] = { name = "OK", port = "client", dir = "response",
	fields = {
		{ name = "value", type = "U64",
		  doc = "request-specific: draft id, count, or 0" },
	} },
[0x0182] = { name = "SESSION", port = "client", dir = "response",
	fields = {
		{ name = "token", type = "BYTES", min = 32, max = 32,
		  doc = "secret; RESUME takes it" },
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "the user's name as registered" },
		{ name = "fullname", type = "STR", max = 50,
		  doc = "full name" },
		{ name = "expires_at", type = "U64",
		  doc = "ms since the Unix epoch; slides with use" },
		{ name = "unread", type = "U32",
		  doc = "unread messages waiting" },
		{ name = "last_id", type = "U64",
		  doc = "largest message id in the user's view" },
	} },
[0x0183] = { name = "SENT", port = "client", dir = "response",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "the new message's id" },
		{ name = "sent_at", type = "U64",
		  doc = "ms since the Unix epoch" },
	} },
[0x0184] = { name = "USER_LIST", port = "client", dir = "response",
	fields = {
		{ name = "page", type = "U32",
		  doc = "this page" },
		{ name = "pages", type = "U32",
		  doc = "number of pages" },
		{ name = "total", type = "U32",
		  doc = "users matching" },
		{ name = "users", type = "LIST", max = 100, item = "USER",
		  doc = "the users of this page, by name" },
	} },
[0x0185] = { name = "INBOX_INFO", port = "client", dir = "response",
	fields = {
		{ name = "unread", type = "U32",
		  doc = "unread messages to me" },
		{ name = "total", type = "U32",
		  doc = "messages to me, read or not" },
		{ name = "last_id", type = "U64",
		  doc = "largest message id in my view" },
	} },
[0x0186] = { name = "MESSAGES", port = "client", dir = "response",
	fields = {
		{ name = "more", type = "U8", max = 1,
		  doc = "1 if more matched than fit in this frame" },
		{ name = "msgs", type = "LIST", max = 100, item = "MSG",
		  doc = "messages, oldest first" },
	} },
[0x0187] = { name = "DRAFT_LIST", port = "client", dir = "response",
	fields = {
		{ name = "drafts", type = "LIST", max = 100, item = "DRAFT",
		  doc = "drafts, oldest first" },
	} },
[0x0188] = { name = "STATUS_INFO", port = "client", dir = "response",
	fields = {
		{ name = "replica_id", type = "U32", min = 1, max = 65535,
		  doc = "this replica" },
		{ name = "role", type = "U8", max = 4,
		  doc = "0 starting, 1 primary, 2 backup, 3 electing, 4 waiting" },
		{ name = "epoch", type = "U64",
		  doc = "current epoch" },
		{ name = "primary_id", type = "U32", max = 65535,
		  doc = "the primary it follows, 0 = none known" },
		{ name = "last_epoch", type = "U64",
		  doc = "epoch of its last log record" },
		{ name = "last_lsn", type = "U64",
		  doc = "lsn of its last log record" },
		{ name = "commit_lsn", type = "U64",
		  doc = "highest lsn known acknowledged" },
		{ name = "clients", type = "U32",
		  doc = "client connections now" },
		{ name = "waiting_for", type = "U32", max = 65535,
		  doc = "replica it must hear from before leading, 0 = none" },
		{ name = "uptime_ms", type = "U64",
		  doc = "since the process started" },
		{ name = "note", type = "STR", max = 200,
		  doc = "one line on what it is doing" },
		{ name = "isr", type = "LIST", max = 16, item = "MEMBER",
		  doc = "the in-sync set it knows" },
	} },
[0x0189] = { name = "REPLICA_LIST", port = "client", dir = "response",
	fields = {
		{ name = "replicas", type = "LIST", min = 1, max = 16, item = "REPLICA",
		  doc = "all replicas" },
	} },
[0x018A] = { name = "REDIRECT", port = "client", dir = "response",
	fields = {
		{ name = "primary_id", type = "U32", min = 1, max = 65535,
		  doc = "the primary" },
		{ name = "host", type = "STR", min = 1, max = 255,
		  doc = "its host" },
		{ name = "port", type = "U16", min = 1,
		  doc = "its client port" },
	} },
[0x018B] = { name = "NO_PRIMARY", port = "client", dir = "response",
	fields = {
		{ name = "retry_ms", type = "U32",
		  doc = "suggested pause before retrying" },
		{ name = "reason", type = "STR", max = 200,
		  doc = "why, e.g. an election is running" },
	} },
[0x01C1] = { name = "PUSH_MSG", port = "client", dir = "push",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "message id, assigned by the primary, increasing" },
		{ name = "from", type = "STR", min = 1, max = 32,
		  doc = "sender" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "recipient" },
		{ name = "sent_at", type = "U64",
		  doc = "send time, ms since the Unix epoch" },
		{ name = "read_at", type = "U64",
		  doc = "time the recipient read it, 0 = unread" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "message text" },
	} },
[0x01C2] = { name = "PUSH_RECEIPT", port = "client", dir = "push",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "the message that was read" },
		{ name = "reader", type = "STR", min = 1, max = 32,
		  doc = "who read it" },
		{ name = "read_at", type = "U64",
		  doc = "ms since the Unix epoch" },
	} },
[0x01C3] = { name = "PUSH_SESSION_END", port = "client", dir = "push",
	fields = {
		{ name = "code", type = "U16", min = 1, names = "error",
		  doc = "error code saying why" },
		{ name = "text", type = "STR", max = 200,
		  doc = "explanation" },
	} },
[0x0201] = { name = "AUTH", port = "internal", dir = "peer",
	fields = {
		{ name = "proof", type = "BYTES", min = 32, max = 32,
		  doc = "keyed BLAKE2b-256 over the prover's id and both nonces" },
	} },
[0x0202] = { name = "HEARTBEAT", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64",
		  doc = "highest epoch seen or promised" },
		{ name = "last_epoch", type = "U64",
		  doc = "epoch of the last log record" },
		{ name = "last_lsn", type = "U64",
		  doc = "lsn of the last log record" },
		{ name = "isr_epoch", type = "U64",
		  doc = "epoch of the record that set the ISR" },
		{ name = "isr_lsn", type = "U64",
		  doc = "lsn of the record that set the ISR" },
		{ name = "eligible", type = "U8", max = 1,
		  doc = "1 if it may become primary now" },
		{ name = "primary_id", type = "U32", max = 65535,
		  doc = "the primary it follows (itself if primary)" },
		{ name = "commit_lsn", type = "U64",
		  doc = "highest lsn known acknowledged" },
		{ name = "sent_at", type = "U64",
		  doc = "sender's wall clock, ms" },
		{ name = "isr", type = "LIST", max = 16, item = "MEMBER",
		  doc = "the ISR it knows" },
	} },
[0x0203] = { name = "ROUND", port = "internal", dir = "peer",
	fields = {
		{ name = "round_epoch", type = "U64", min = 1,
		  doc = "the epoch the round elects a primary for" },
	} },
[0x0204] = { name = "BALLOT", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64",
		  doc = "highest epoch seen or promised" },
		{ name = "last_epoch", type = "U64",
		  doc = "epoch of the last log record" },
		{ name = "last_lsn", type = "U64",
		  doc = "lsn of the last log record" },
		{ name = "isr_epoch", type = "U64",
		  doc = "epoch of the record that set the ISR" },
		{ name = "isr_lsn", type = "U64",
		  doc = "lsn of the record that set the ISR" },
		{ name = "eligible", type = "U8", max = 1,
		  doc = "1 if it may become primary now" },
		{ name = "round_epoch", type = "U64", min = 1,
		  doc = "the round answered" },
		{ name = "ballot", type = "U64",
		  doc = "random; highest wins among the freshest" },
		{ name = "timestamp", type = "U64",
		  doc = "wall clock when cast, ms; earlier wins a tie" },
		{ name = "isr", type = "LIST", max = 16, item = "MEMBER",
		  doc = "the ISR it knows" },
	} },
[0x0205] = { name = "ANNOUNCE", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the new epoch" },
		{ name = "primary_id", type = "U32", min = 1, max = 65535,
		  doc = "the winner" },
		{ name = "last_epoch", type = "U64",
		  doc = "winner's last record epoch" },
		{ name = "last_lsn", type = "U64",
		  doc = "winner's last record lsn" },
	} },
[0x0206] = { name = "ANNOUNCE_REPLY", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the announced epoch" },
		{ name = "accept", type = "U8", max = 1,
		  doc = "1 accept, 0 refuse" },
		{ name = "last_epoch", type = "U64",
		  doc = "replier's last record epoch" },
		{ name = "last_lsn", type = "U64",
		  doc = "replier's last record lsn" },
		{ name = "reason", type = "STR", max = 200,
		  doc = "why refused" },
	} },
[0x0207] = { name = "CATCHUP", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64",
		  doc = "the backup's current epoch" },
		{ name = "last_epoch", type = "U64",
		  doc = "epoch of its last record" },
		{ name = "last_lsn", type = "U64",
		  doc = "lsn of its last record" },
	} },
[0x0208] = { name = "APPEND", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the primary's epoch" },
		{ name = "commit_lsn", type = "U64",
		  doc = "highest lsn acknowledged by the ISR" },
		{ name = "records", type = "LIST", max = 512, item = "RECORD",
		  doc = "consecutive records" },
	} },
[0x0209] = { name = "APPEND_ACK", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the primary's epoch" },
		{ name = "lsn", type = "U64",
		  doc = "the backup has committed every record up to this" },
	} },
[0x020A] = { name = "SNAP_BEGIN", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the primary's epoch" },
		{ name = "snap_epoch", type = "U64",
		  doc = "epoch of the snapshot's last record" },
		{ name = "snap_lsn", type = "U64",
		  doc = "lsn of the snapshot's last record" },
		{ name = "size", type = "U64", min = 1,
		  doc = "bytes in the snapshot" },
	} },
[0x020B] = { name = "SNAP_CHUNK", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the primary's epoch" },
		{ name = "offset", type = "U64",
		  doc = "where data goes" },
		{ name = "data", type = "BYTES", min = 1, max = 262144,
		  doc = "snapshot bytes" },
	} },
[0x020C] = { name = "SNAP_END", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the primary's epoch" },
		{ name = "digest", type = "BYTES", min = 32, max = 32,
		  doc = "BLAKE2b-256 of the whole snapshot" },
	} },
[0x020D] = { name = "SNAP_ACK", port = "internal", dir = "peer",
	fields = {
		{ name = "epoch", type = "U64", min = 1,
		  doc = "the primary's epoch" },
		{ name = "offset", type = "U64",
		  doc = "bytes received so far" },
	} },
[0x020E] = { name = "MEMBER_CHANGE", port = "internal", dir = "peer",
	fields = {
		{ name = "action", type = "U8", min = 1, max = 2,
		  doc = "1 add, 2 remove" },
		{ name = "id", type = "U32", min = 1, max = 65535,
		  doc = "replica id" },
		{ name = "host", type = "STR", max = 255,
		  doc = "host (add only)" },
		{ name = "client_port", type = "U16",
		  doc = "client port (add only)" },
		{ name = "internal_port", type = "U16",
		  doc = "internal port (add only)" },
	} },
[0x020F] = { name = "FORCE_PRIMARY", port = "internal", dir = "peer",
	fields = {
		{ name = "id", type = "U32", min = 1, max = 65535,
		  doc = "replica to force; must be the receiver" },
	} },
[0x0210] = { name = "ADMIN_REPLY", port = "internal", dir = "peer",
	fields = {
		{ name = "code", type = "U16", names = "error",
		  doc = "0 done, else an error code" },
		{ name = "text", type = "STR", max = 200,
		  doc = "what happened" },
	} },
[0x0211] = { name = "ADMIN_STATUS", port = "internal", dir = "peer",
	fields = {
	} },
[0x0212] = { name = "ADMIN_STATUS_INFO", port = "internal", dir = "peer",
	fields = {
		{ name = "status", type = "BYTES", min = 1, max = 1024,
		  doc = "a STATUS_INFO payload, as STATUS answers on the client port" },
		{ name = "members", type = "LIST", min = 1, max = 16, item = "PEER",
		  doc = "every member, the sender included" },
	} },
[0x0301] = { name = "R_USER_ADD", port = "log record", dir = "log",
	fields = {
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "user name" },
		{ name = "fullname", type = "STR", max = 50,
		  doc = "full name" },
		{ name = "pwhash", type = "STR", min = 1, max = 128,
		  doc = "Argon2id hash string (crypto_pwhash_str)" },
	} },
[0x0302] = { name = "R_USER_DEL", port = "log record", dir = "log",
	fields = {
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "user name" },
	} },
[0x0303] = { name = "R_SESSION_OPEN", port = "log record", dir = "log",
	fields = {
		{ name = "token_hash", type = "BYTES", min = 32, max = 32,
		  doc = "hash of the token; the token itself is never stored" },
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "owner" },
		{ name = "expires_at", type = "U64",
		  doc = "ms since the Unix epoch" },
	} },
[0x0304] = { name = "R_SESSION_TOUCH", port = "log record", dir = "log",
	fields = {
		{ name = "token_hash", type = "BYTES", min = 32, max = 32,
		  doc = "the session" },
		{ name = "expires_at", type = "U64",
		  doc = "new expiry" },
	} },
[0x0305] = { name = "R_SESSION_END", port = "log record", dir = "log",
	fields = {
		{ name = "username", type = "STR", min = 1, max = 32,
		  doc = "whose sessions end" },
	} },
[0x0306] = { name = "R_MSG_ADD", port = "log record", dir = "log",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "message id" },
		{ name = "from", type = "STR", min = 1, max = 32,
		  doc = "sender" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "recipient" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "text" },
	} },
[0x0307] = { name = "R_MSG_READ", port = "log record", dir = "log",
	fields = {
		{ name = "reader", type = "STR", min = 1, max = 32,
		  doc = "the recipient" },
		{ name = "ids", type = "LIST", min = 1, max = 100, item = "MSGID",
		  doc = "messages now read" },
	} },
[0x0308] = { name = "R_MSG_HIDE", port = "log record", dir = "log",
	fields = {
		{ name = "owner", type = "STR", min = 1, max = 32,
		  doc = "whose view" },
		{ name = "ids", type = "LIST", min = 1, max = 100, item = "MSGID",
		  doc = "messages hidden" },
	} },
[0x0309] = { name = "R_DRAFT_PUT", port = "log record", dir = "log",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "draft id" },
		{ name = "owner", type = "STR", min = 1, max = 32,
		  doc = "author" },
		{ name = "to", type = "STR", min = 1, max = 32,
		  doc = "recipient" },
		{ name = "body", type = "STR", min = 1, max = 4096,
		  doc = "text" },
	} },
[0x030A] = { name = "R_DRAFT_DEL", port = "log record", dir = "log",
	fields = {
		{ name = "id", type = "U64", min = 1,
		  doc = "draft id" },
		{ name = "owner", type = "STR", min = 1, max = 32,
		  doc = "author" },
	} },
[0x030B] = { name = "R_DRAFT_SENT", port = "log record", dir = "log",
	fields = {
		{ name = "owner", type = "STR", min = 1, max = 32,
		  doc = "author" },
		{ name = "first_id", type = "U64", min = 1,
		  doc = "message id of the first; the rest follow by one" },
		{ name = "drafts", type = "LIST", min = 1, max = 100, item = "MSGID",
		  doc = "draft ids, in send order" },
	} },
[0x030C] = { name = "R_ISR", port = "log record", dir = "log",
	fields = {
		{ name = "isr", type = "LIST", min = 1, max = 16, item = "MEMBER",
		  doc = "the new in-sync set" },
	} },
[0x030D] = { name = "R_MEMBERS", port = "log record", dir = "log",
	fields = {
		{ name = "replicas", type = "LIST", min = 1, max = 16, item = "REPLICA",
		  doc = "the new membership" },
	} },
[0x030E] = { name = "R_EPOCH", port = "log record", dir = "log",
	fields = {
		{ name = "primary_id", type = "U32", min = 1, max = 65535,
		  doc = "the new primary" },
	} },
}

-- Error codes.
local ERRORS = {
	[1] = "BAD_FRAME",
	[2] = "UNKNOWN_OPCODE",
	[3] = "BAD_FIELD",
	[4] = "TOO_LONG",
	[5] = "BAD_VERSION",
	[6] = "HELLO_FIRST",
	[7] = "WRONG_PORT",
	[8] = "NOT_LOGGED_IN",
	[9] = "ALREADY_LOGGED_IN",
	[10] = "NO_SUCH_USER",
	[11] = "BAD_PASSWORD",
	[12] = "NAME_TAKEN",
	[13] = "BAD_NAME",
	[14] = "NO_SUCH_MESSAGE",
	[15] = "NO_SUCH_DRAFT",
	[16] = "BAD_TOKEN",
	[17] = "SLOW_DOWN",
	[18] = "TOO_MANY_REQUESTS",
	[19] = "SERVER_FULL",
	[20] = "UNAVAILABLE",
	[21] = "RETRY_TOO_OLD",
	[22] = "NOT_AUTHORIZED",
	[23] = "STALE_EPOCH",
	[24] = "NOT_PRIMARY",
	[25] = "INTERNAL",
	[26] = "TIMEOUT",
	[27] = "BAD_REQUEST",
}

local chat = Proto("chat", "chatd wire protocol")

-- ---- fields -----------------------------------------------------------

local OPNAMES = {}
for code, op in pairs(OPS) do OPNAMES[code] = op.name end

-- For fields that name an opcode or an error code, where 0 means none.
local FIELD_NAMES = { opcode = { [0] = "none" }, error = { [0] = "none" } }
for code, name in pairs(OPNAMES) do FIELD_NAMES.opcode[code] = name end
for code, name in pairs(ERRORS) do FIELD_NAMES.error[code] = name end

local hf = {
	magic      = ProtoField.uint16("chat.magic", "Magic", base.HEX),
	version    = ProtoField.uint8("chat.version", "Version"),
	flags      = ProtoField.uint8("chat.flags", "Flags", base.HEX),
	flag_mac   = ProtoField.bool("chat.flags.mac", "Sealed with a MAC", 8,
	                 nil, WIRE.flag_mac),
	opcode     = ProtoField.uint16("chat.opcode", "Opcode", base.HEX, OPNAMES),
	op         = ProtoField.string("chat.op", "Opcode name"),
	request_id = ProtoField.uint32("chat.request_id", "Request id"),
	length     = ProtoField.uint32("chat.length", "Payload length"),
	port       = ProtoField.string("chat.port", "Port"),
	mac        = ProtoField.bytes("chat.mac", "MAC (BLAKE2b-128)"),
	field_len  = ProtoField.uint32("chat.field_length", "Length prefix"),
}

local ex = {
	malformed = ProtoExpert.new("chat.malformed", "Malformed chatd frame",
	    expert.group.MALFORMED, expert.severity.ERROR),
	unknown   = ProtoExpert.new("chat.unknown_opcode", "Unknown opcode",
	    expert.group.UNDECODED, expert.severity.WARN),
	error     = ProtoExpert.new("chat.error_frame", "ERROR frame",
	    expert.group.RESPONSE_CODE, expert.severity.NOTE),
}
chat.experts = { ex.malformed, ex.unknown, ex.error }

local WIDTH = { U8 = 1, U16 = 2, U32 = 4, U64 = 8, STR = 2, BYTES = 4,
                LIST = 2 }

-- One ProtoField per field of every layout: chat.<layout>.<field>.
local function make_fields(prefix, layout)
	for _, f in ipairs(layout.fields) do
		local abbr = prefix .. "." .. f.name
		local vs = f.names and FIELD_NAMES[f.names]
		local b = f.names == "opcode" and base.HEX or base.DEC
		if f.type == "U8" then
			f.hf = ProtoField.uint8(abbr, f.name, b, vs, nil, f.doc)
		elseif f.type == "U16" then
			f.hf = ProtoField.uint16(abbr, f.name, b, vs, nil, f.doc)
		elseif f.type == "U32" then
			f.hf = ProtoField.uint32(abbr, f.name, b, vs, nil, f.doc)
		elseif f.type == "U64" then
			f.hf = ProtoField.uint64(abbr, f.name, b, nil, nil, f.doc)
		elseif f.type == "STR" then
			f.hf = ProtoField.string(abbr, f.name, base.UNICODE, f.doc)
		elseif f.type == "BYTES" then
			f.hf = ProtoField.bytes(abbr, f.name, base.NONE, f.doc)
		else	-- LIST: the item count; the items are subtrees
			f.hf = ProtoField.uint16(abbr, f.name .. " (count)",
			    base.DEC, nil, nil, f.doc)
		end
		hf[#hf + 1] = f.hf
	end
end

for _, op in pairs(OPS) do make_fields("chat." .. op.name:lower(), op) end
for name, item in pairs(ITEMS) do
	make_fields("chat.item." .. name:lower(), item)
end

local all = {}
for _, f in pairs(hf) do all[#all + 1] = f end
chat.fields = all

chat.prefs.client_ports = Pref.range("Client ports", WIRE.client_ports,
    "TCP ports of the replicas' client port (replicas.conf)", 65535)
chat.prefs.internal_ports = Pref.range("Internal ports", WIRE.internal_ports,
    "TCP ports of the replicas' internal port (replicas.conf)", 65535)

-- ---- decoding ---------------------------------------------------------

local function malformed(tree, range, text)
	tree:add_proto_expert_info(ex.malformed, text)
	if range then tree:add(range, "[" .. text .. "]") end
	return nil
end

local function out_of_range(f, n)
	return (f.min ~= nil and n < f.min) or (f.max ~= nil and n > f.max)
end

local decode_fields

-- An integer field: its item, and the value as a Lua number (exact up to
-- 2^53; the limits in the tables never go beyond that).
local function decode_int(tvb, tree, f, off)
	local r = tvb(off, WIDTH[f.type])
	local item = tree:add(f.hf, r)
	local n = f.type == "U64" and r:uint64():tonumber() or r:uint()
	if out_of_range(f, n) then
		item:add_proto_expert_info(ex.malformed, f.name .. " = " ..
		    tostring(n) .. " is outside " .. (f.min or 0) .. ".." ..
		    (f.max or "max") .. " (BAD_FIELD)")
	end
	return n
end

-- A STR or BYTES field at off (its length prefix); returns the offset
-- after it, or nil. A BYTES field with layout_of holds the payload of the
-- opcode named by that earlier field (a RECORD's payload and reply).
local function decode_blob(tvb, tree, f, off, limit, values)
	local w = WIDTH[f.type]
	local n = tvb(off, w):uint()
	local item
	if off + w + n > limit then
		return malformed(tree, tvb(off, limit - off), f.name ..
		    ": length " .. n .. " runs past the payload (BAD_FRAME)")
	end
	if n == 0 then
		item = tree:add(f.hf, tvb(off, w), "")
	elseif f.type == "STR" then
		local r = tvb(off + w, n)
		item = tree:add(f.hf, r, r:string(ENC_UTF_8))
	else
		item = tree:add(f.hf, tvb(off + w, n))
	end
	item:add(hf.field_len, tvb(off, w))
	if n > f.max or n < (f.min or 0) then
		item:add_proto_expert_info(ex.malformed, f.name .. ": length " ..
		    n .. " is outside " .. (f.min or 0) .. ".." .. f.max ..
		    (n > f.max and " (TOO_LONG)" or " (BAD_FIELD)"))
	end
	local inner = f.layout_of and OPS[values[f.layout_of]]
	if inner and n > 0 then
		local sub = item:add(tvb(off + w, n), inner.name)
		local e = decode_fields(tvb, sub, inner, off + w, off + w + n)
		if e and e < off + w + n then
			malformed(sub, tvb(e, off + w + n - e), (off + w + n - e) ..
			    " bytes after the last field of " .. inner.name ..
			    " (BAD_FRAME)")
		end
	end
	return off + w + n
end

-- A LIST at off: the count, then each item as a subtree.
local function decode_list(tvb, tree, f, off, limit)
	local count_item = tree:add(f.hf, tvb(off, 2))
	local count = tvb(off, 2):uint()
	local layout = ITEMS[f.item]
	if out_of_range(f, count) then
		count_item:add_proto_expert_info(ex.malformed, f.name .. ": " ..
		    count .. " items is outside " .. (f.min or 0) .. ".." ..
		    f.max .. (count > f.max and " (TOO_LONG)" or " (BAD_FIELD)"))
	end
	off = off + 2
	-- Bounded: every item is at least one byte, and a short payload
	-- ends the loop through decode_fields returning nil.
	for i = 1, count do
		if off >= limit then
			return malformed(tree, nil, f.name .. ": the payload " ..
			    "ends before item " .. i .. " of " .. count ..
			    " (BAD_FRAME)")
		end
		local start = off
		local sub = count_item:add(tvb(off, 0), f.item .. " #" .. i)
		off = decode_fields(tvb, sub, layout, off, limit)
		if off == nil then return nil end
		sub:set_len(off - start)
	end
	return off
end

-- Decode the fields of layout from off up to limit; returns the offset
-- after the last field, or nil once the payload ended inside a field
-- (marked malformed). Fills values[name] with each integer field.
decode_fields = function(tvb, tree, layout, off, limit, values)
	values = values or {}
	for _, f in ipairs(layout.fields) do
		local w = WIDTH[f.type]
		if off + w > limit then
			return malformed(tree, limit > off and
			    tvb(off, limit - off) or nil, "the payload ends " ..
			    "inside field " .. f.name .. " (BAD_FRAME)")
		end
		if f.type == "STR" or f.type == "BYTES" then
			off = decode_blob(tvb, tree, f, off, limit, values)
		elseif f.type == "LIST" then
			off = decode_list(tvb, tree, f, off, limit)
		else
			values[f.name] = decode_int(tvb, tree, f, off)
			off = off + w
		end
		if off == nil then return nil end
	end
	return off, values
end

-- ---- frames -----------------------------------------------------------

local function in_ranges(ranges, port)
	for part in tostring(ranges):gmatch("[^,%s]+") do
		local lo, hi = part:match("^(%d+)%-(%d+)$")
		lo, hi = tonumber(lo or part), tonumber(hi or part)
		if lo and port >= lo and port <= hi then return true end
	end
	return false
end

local function port_kind(pinfo)
	for _, p in ipairs({ pinfo.src_port, pinfo.dst_port }) do
		if in_ranges(chat.prefs.internal_ports, p) then
			return "internal"
		end
		if in_ranges(chat.prefs.client_ports, p) then return "client" end
	end
	return "other (Decode As)"
end

-- Frames in the packet so far, for the Info column.
local info_packet, info_count = -1, 0

local function set_info(pinfo, text)
	if info_packet ~= pinfo.number then
		info_packet, info_count = pinfo.number, 0
		pinfo.cols.info:set(text)
	else
		pinfo.cols.info:append(", " .. text)
	end
	info_count = info_count + 1
end

-- One whole frame (header + payload), as cut out by dissect_tcp_pdus.
local function dissect_frame(tvb, pinfo, root)
	pinfo.cols.protocol = "CHAT"
	local code = tvb(4, 2):uint()
	local op = OPS[code]
	local name = op and op.name or string.format("0x%04X", code)
	local rid = tvb(6, 4):uint()
	local length = tvb(10, 4):uint()
	local flags = tvb(3, 1):uint()
	local tree = root:add(chat, tvb(), "chatd " .. name)

	local t = tree:add(hf.magic, tvb(0, 2))
	if tvb(0, 2):uint() ~= WIRE.magic then
		t:add_proto_expert_info(ex.malformed, "bad magic: not a chatd " ..
		    "frame, or the stream is out of step (framing error)")
		set_info(pinfo, "not a chatd frame")
		return tvb:len()
	end
	t = tree:add(hf.version, tvb(2, 1))
	local v = tvb(2, 1):uint()
	if v < WIRE.version_min or v > WIRE.version_max then
		t:add_proto_expert_info(ex.malformed, "version " .. v ..
		    " is not spoken here (BAD_VERSION)")
	end
	t = tree:add(hf.flags, tvb(3, 1))
	t:add(hf.flag_mac, tvb(3, 1))
	tree:add(hf.opcode, tvb(4, 2))
	tree:add(hf.op, tvb(4, 2), name)
	tree:add(hf.request_id, tvb(6, 4))
	t = tree:add(hf.length, tvb(10, 4))
	tree:add(hf.port, tvb(0, 0), port_kind(pinfo))
	if length > WIRE.max_payload then
		t:add_proto_expert_info(ex.malformed, "length " .. length ..
		    " is over every limit (framing error: the receiver closes)")
		set_info(pinfo, name .. " [length over the limit]")
		return tvb:len()
	end

	local info = name .. (rid ~= 0 and (" #" .. rid) or "")
	local stop = tvb:len()
	-- flag_mac is one bit; no bit library needed (Lua 5.1 to 5.4)
	if math.floor(flags / WIRE.flag_mac) % 2 == 1 then
		if length < WIRE.mac_bytes then
			malformed(tree, tvb(WIRE.header_size), "sealed, but " ..
			    "shorter than its " .. WIRE.mac_bytes .. "-byte MAC")
			set_info(pinfo, info)
			return tvb:len()
		end
		stop = stop - WIRE.mac_bytes
		tree:add(hf.mac, tvb(stop, WIRE.mac_bytes))
	end

	if op == nil then
		tree:add_proto_expert_info(ex.unknown, "unknown opcode " .. name ..
		    " (UNKNOWN_OPCODE)")
		set_info(pinfo, info)
		return tvb:len()
	end
	if op.port == "log record" then
		tree:add_proto_expert_info(ex.malformed, name .. " is a log " ..
		    "record layout; it never travels as a frame (WRONG_PORT)")
	end
	local payload = tree:add(tvb(WIRE.header_size,
	    stop - WIRE.header_size), "Payload: " .. name .. " (" ..
	    op.port .. ", " .. op.dir .. ")")
	local e, values = decode_fields(tvb, payload, op, WIRE.header_size,
	    stop)
	if e and e < stop then
		malformed(payload, tvb(e, stop - e), (stop - e) ..
		    " bytes after the last field (BAD_FRAME)")
	end
	if op.name == "ERROR" and values then
		local ename = ERRORS[values.code] or ("E" .. values.code)
		info = info .. " " .. ename
		tree:add_proto_expert_info(ex.error, "ERROR " .. ename ..
		    " about " .. (OPNAMES[values.about_op] or "the connection"))
	end
	set_info(pinfo, info)
	return tvb:len()
end

local function frame_len(tvb, pinfo, off)
	local length = tvb(off + 10, 4):uint()
	if length > WIRE.max_payload then	-- show the header alone
		return WIRE.header_size
	end
	return WIRE.header_size + length
end

function chat.dissector(tvb, pinfo, tree)
	-- A segment that does not start with the magic is not ours (or the
	-- capture began mid-frame): leave it to TCP.
	if tvb:len() >= 2 and tvb(0, 2):uint() ~= WIRE.magic then return 0 end
	dissect_tcp_pdus(tvb, tree, WIRE.header_size, frame_len, dissect_frame)
	return tvb:len()
end

-- ---- ports ------------------------------------------------------------

local tcp_port = DissectorTable.get("tcp.port")
local registered = {}

local function register_ports()
	for _, r in ipairs(registered) do tcp_port:remove(r, chat) end
	registered = {}
	for _, r in ipairs({ chat.prefs.client_ports,
	                     chat.prefs.internal_ports }) do
		if tostring(r) ~= "" then
			tcp_port:add(r, chat)
			registered[#registered + 1] = r
		end
	end
end

chat.prefs_changed = register_ports
register_ports()
tcp_port:add_for_decode_as(chat)
