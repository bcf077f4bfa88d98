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

--@TABLES@

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
