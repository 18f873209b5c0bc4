-- itc.lua: a Wireshark dissector for captures of T2 intertile (ITC)
-- packets made by `itcd capture` (github.com/t2tiles/itcd).
--
-- Install: copy this file into Wireshark's personal Lua plugins folder
-- (Help > About Wireshark > Folders > Personal Lua Plugins; on Linux
-- ~/.local/lib/wireshark/plugins/) and restart Wireshark, or load it once:
--   tshark -X lua_script:itc.lua -r capture.pcapng
--
-- The capture (notes/protocol.md, "Packet captures"): link type
-- LINKTYPE_USER7 (154); each packet is a 4-byte pseudo-header
--   version (1) | travel (0 in, 1 out, 2 event) | link (dir8, 0xFF none) | 0
-- and then the packet as the daemon read or wrote it. The packet format
-- is notes/protocol.md's: byte 0, services 1 (liveness), 2 (counter),
-- 8 (signed-file distribution), 9 (tubes, and ROUTED multi-hop tube
-- messages), 10 (routes: LSAs and ACKs), Tile Event Packets.
--
-- Nothing here trusts a length: every read is checked first, and a
-- packet that breaks a rule is marked with expert info, never a Lua error.
-- Only arithmetic is used on bits (no bit library), so it runs on Lua
-- 5.2 (Wireshark 3.x, 4.0-4.2) and 5.4 (4.4 and later) alike.

local itc = Proto("itc", "T2 intertile packet (itcd)")

local DIRS = { [0] = "NT", "NE", "ET", "SE", "ST", "SW", "WT", "NW" }
local LINKS = { [0] = "NT", "NE", "ET", "SE", "ST", "SW", "WT", "NW", [255] = "none" }
local TRAVEL = { [0] = "in", [1] = "out", [2] = "event" }
local LOCAL_TYPES = { [0] = "illegal", "debug", "labelled", "control", "tep" }
local SERVICES = { [1] = "liveness", [2] = "counter", [8] = "mfz", [9] = "tube", [10] = "route" }
local TEP_EVENTS = { [1] = "connect", [2] = "disconnect", [3] = "MFM-compatible", [4] = "MFM-incompatible" }
local COUNTER_TYPES = { [1] = "value", [2] = "ask" }
local MFZ_TYPES = { "ANNOUNCE", "GET_MANIFEST", "MANIFEST", "BITFIELD", "HAVE", "REQUEST", "DATA", "NOTHAVE", "SYNC", "REQUESTS", "SHORT_DATA" }
local TUBE_TYPES = { "OPEN", "ACCEPT", "DATA", "ACK", "RESET", "CANCEL", "ROUTED" }
local TUBE_KINDS = { "stream", "message" }
local TUBE_RESETS = { "refused", "aborted", "too many tubes", "unknown tube", "closed", "timed out", "protocol error" }
local ROUTE_TYPES = { [0x4C] = "LSA", [0x41] = "ACK" }
local BOOL = { [0] = "not set", [1] = "set" }

local F = {}
local function field(key, f) F[key] = f end

field("version", ProtoField.uint8("itc.capture.version", "Pseudo-header version"))
field("travel", ProtoField.uint8("itc.capture.travel", "Travel", base.DEC, TRAVEL))
field("link", ProtoField.uint8("itc.capture.link", "Link", base.DEC, LINKS))
field("reserved", ProtoField.uint8("itc.capture.reserved", "Reserved", base.HEX))

field("hdr", ProtoField.uint8("itc.hdr", "Byte 0", base.HEX))
field("stnd", ProtoField.uint8("itc.hdr.stnd", "STND (standard)", base.DEC, BOOL, 0x80))
field("locl", ProtoField.uint8("itc.hdr.locl", "LOCL (local)", base.DEC, BOOL, 0x40))
field("mfmt", ProtoField.uint8("itc.hdr.mfmt", "MFMT (MFM traffic)", base.DEC, BOOL, 0x20))
field("ovrn", ProtoField.uint8("itc.hdr.ovrn", "OVRN (overrun)", base.DEC, BOOL, 0x10))
field("eror", ProtoField.uint8("itc.hdr.eror", "EROR (error)", base.DEC, BOOL, 0x08))
field("dir", ProtoField.uint8("itc.hdr.dir", "DIR", base.DEC, DIRS, 0x07))
field("ltype", ProtoField.uint8("itc.hdr.local_type", "Local type", base.DEC, LOCAL_TYPES, 0x1F))
field("ascii", ProtoField.uint8("itc.hdr.ascii", "ASCII", base.HEX, nil, 0x7F))
field("kind", ProtoField.string("itc.kind", "Kind"))

field("svcbyte", ProtoField.uint8("itc.svc", "Byte 1", base.HEX))
field("rsv", ProtoField.uint8("itc.svc.reserved", "Reserved bits", base.HEX, nil, 0xC0))
field("service", ProtoField.uint8("itc.service", "Service", base.DEC, SERVICES, 0x3F))
field("payload", ProtoField.bytes("itc.payload", "Payload"))

field("tep_event", ProtoField.uint8("itc.tep.event", "Event", base.DEC, TEP_EVENTS))
field("tep_dir", ProtoField.uint8("itc.tep.dir", "Link", base.DEC, DIRS))
field("tep_tile", ProtoField.uint64("itc.tep.tile", "Far tile", base.HEX))
field("tep_args", ProtoField.bytes("itc.tep.args", "Arguments"))

field("h_type", ProtoField.uint8("itc.hello.type", "Type", base.DEC, { [1] = "hello" }))
field("h_version", ProtoField.uint8("itc.hello.version", "Version"))
field("h_tile", ProtoField.uint64("itc.hello.tile", "Tile", base.HEX))
field("h_uptime", ProtoField.uint32("itc.hello.uptime", "Uptime (s)"))
field("h_services", ProtoField.uint64("itc.hello.services", "Services", base.HEX))
field("h_ts", ProtoField.uint32("itc.hello.ts", "Clock (ms)"))
field("h_echo", ProtoField.uint32("itc.hello.echo_ts", "Echoed clock (ms)"))
field("h_hold", ProtoField.uint32("itc.hello.echo_hold", "Echo hold (ms)"))
field("h_digest", ProtoField.uint32("itc.hello.mfz_digest", "mfzid digest", base.HEX))
field("h_flags", ProtoField.uint8("itc.hello.flags", "Flags", base.HEX))
field("h_nodigest", ProtoField.bool("itc.hello.flags.no_digest", "No digest (bytes 34..37 are not one)", 8, nil, 0x01))
field("h_sealed", ProtoField.bool("itc.hello.flags.sealed", "Sealed (ends with a CRC-32C)", 8, nil, 0x02))
field("h_buildlen", ProtoField.uint8("itc.hello.build_len", "Version length"))
field("h_build", ProtoField.string("itc.hello.build", "itcd version"))
field("h_crc", ProtoField.uint32("itc.hello.crc", "CRC-32C", base.HEX))
field("h_crcgood", ProtoField.bool("itc.hello.crc.good", "CRC good"))
field("h_extra", ProtoField.bytes("itc.hello.extra", "Later fields"))

field("c_type", ProtoField.uint8("itc.counter.type", "Type", base.DEC, COUNTER_TYPES))
field("c_value", ProtoField.int64("itc.counter.value", "Value"))
field("c_extra", ProtoField.bytes("itc.counter.extra", "Later fields"))

field("m_type", ProtoField.uint8("itc.mfz.type", "Type", base.DEC, MFZ_TYPES))
field("m_handle", ProtoField.uint8("itc.mfz.handle", "Handle"))
field("m_flags", ProtoField.uint8("itc.mfz.flags", "Flags", base.HEX))
field("m_complete", ProtoField.uint8("itc.mfz.flags.complete", "Complete", base.DEC, BOOL, 0x01))
field("m_tomb", ProtoField.uint8("itc.mfz.flags.tombstone", "Tombstone", base.DEC, BOOL, 0x02))
field("m_counted", ProtoField.uint8("itc.mfz.flags.counted", "Serves counted GET_MANIFEST", base.DEC, BOOL, 0x04))
field("m_numbered", ProtoField.uint8("itc.mfz.flags.requests", "Takes REQUESTS", base.DEC, BOOL, 0x08))
field("m_marks", ProtoField.uint8("itc.mfz.flags.marks", "Answers marks", base.DEC, BOOL, 0x10))
field("m_shortf", ProtoField.uint8("itc.mfz.flags.short", "Answers in SHORT DATA", base.DEC, BOOL, 0x20))
field("m_short", ProtoField.bool("itc.mfz.short", "Answer in SHORT DATA"))
field("m_seq", ProtoField.uint16("itc.mfz.seq", "Number of the newest request"))
field("m_entries", ProtoField.uint8("itc.mfz.entries", "Requests carried"))
field("m_version", ProtoField.int64("itc.mfz.version", "Version"))
field("m_blocks", ProtoField.uint16("itc.mfz.blocks", "Blocks"))
field("m_held", ProtoField.uint16("itc.mfz.held", "Blocks held"))
field("m_fid", ProtoField.bytes("itc.mfz.file_id", "File id"))
field("m_namelen", ProtoField.uint8("itc.mfz.name_len", "Name length"))
field("m_name", ProtoField.string("itc.mfz.name", "Name"))
field("m_offset", ProtoField.uint32("itc.mfz.offset", "Manifest offset"))
field("m_segs", ProtoField.uint16("itc.mfz.segments", "Manifest segments"))
field("m_total", ProtoField.uint32("itc.mfz.total", "Manifest length"))
field("m_mbytes", ProtoField.bytes("itc.mfz.manifest", "Manifest bytes"))
field("m_first", ProtoField.uint16("itc.mfz.first", "First block"))
field("m_bits", ProtoField.bytes("itc.mfz.bits", "Bitmap"))
field("m_low", ProtoField.uint16("itc.mfz.low", "Held below"))
field("m_block", ProtoField.uint16("itc.mfz.block", "Block"))
field("m_chunk", ProtoField.uint16("itc.mfz.chunk", "Chunk"))
field("m_count", ProtoField.uint16("itc.mfz.count", "Chunks"))
field("m_data", ProtoField.bytes("itc.mfz.data", "Chunk bytes"))
field("m_syncflags", ProtoField.uint8("itc.mfz.sync_flags", "Flags", base.HEX))
field("m_crc", ProtoField.uint16("itc.mfz.crc", "CRC-16", base.HEX))
field("m_crcgood", ProtoField.bool("itc.mfz.crc.good", "CRC good"))
field("m_extra", ProtoField.bytes("itc.mfz.extra", "Bytes after the body"))

field("t_type", ProtoField.uint8("itc.tube.type", "Type", base.DEC, TUBE_TYPES))
field("t_id", ProtoField.uint16("itc.tube.id", "Tube id (the receiver's; OPEN, CANCEL: the opener's)"))
field("t_from", ProtoField.uint16("itc.tube.from", "Acceptor's tube id"))
field("t_sport", ProtoField.uint16("itc.tube.src_port", "Source port"))
field("t_dport", ProtoField.uint16("itc.tube.dst_port", "Destination port"))
field("t_kind", ProtoField.uint8("itc.tube.kind", "Kind", base.DEC, TUBE_KINDS))
field("t_window", ProtoField.uint32("itc.tube.window", "Receive window"))
field("t_seq", ProtoField.uint32("itc.tube.seq", "Sequence number"))
field("t_flags", ProtoField.uint8("itc.tube.flags", "Flags", base.HEX))
field("t_fin", ProtoField.uint8("itc.tube.flags.fin", "FIN", base.DEC, BOOL, 0x01))
field("t_len", ProtoField.uint16("itc.tube.len", "Data length"))
field("t_data", ProtoField.bytes("itc.tube.data", "Data"))
field("t_ack", ProtoField.uint32("itc.tube.ack", "Acknowledged (next byte expected)"))
field("t_read", ProtoField.uint32("itc.tube.read", "Read by the far program"))
field("t_limit", ProtoField.uint32("itc.tube.limit", "Send limit"))
field("t_nsacks", ProtoField.uint8("itc.tube.sacks", "SACK ranges"))
field("t_sack_start", ProtoField.uint32("itc.tube.sack.start", "SACK start"))
field("t_sack_end", ProtoField.uint32("itc.tube.sack.end", "SACK end"))
field("t_code", ProtoField.uint8("itc.tube.reset_code", "Reset code", base.DEC, TUBE_RESETS))
field("t_reason", ProtoField.string("itc.tube.reason", "Reason"))
field("t_crc", ProtoField.uint32("itc.tube.crc", "CRC-32C", base.HEX))
field("t_crcgood", ProtoField.bool("itc.tube.crc.good", "CRC good"))
field("t_extra", ProtoField.bytes("itc.tube.extra", "Bytes after the message (ignored)"))
field("r_len", ProtoField.uint8("itc.tube.routed.len", "Path length (links)"))
field("r_hop", ProtoField.uint8("itc.tube.routed.hop", "Links taken so far"))
field("r_pathbytes", ProtoField.bytes("itc.tube.routed.path_bytes", "Path (a link a nibble)"))
field("r_path", ProtoField.string("itc.tube.routed.path", "Path ([next link])"))
field("r_next", ProtoField.uint8("itc.tube.routed.next", "Next link", base.DEC, DIRS))
field("r_src", ProtoField.uint64("itc.tube.routed.src", "Source tile", base.HEX))
field("r_crc", ProtoField.uint32("itc.tube.routed.crc", "CRC-32C (covers the destination's identity, not in the packet)", base.HEX))

field("rt_type", ProtoField.uint8("itc.route.type", "Type", base.HEX, ROUTE_TYPES))
field("rt_origin", ProtoField.uint64("itc.route.origin", "Origin", base.HEX))
field("rt_seq", ProtoField.uint32("itc.route.seq", "Sequence number"))
field("rt_links", ProtoField.uint8("itc.route.links", "Links"))
field("rt_dir", ProtoField.uint8("itc.route.link.dir", "Link", base.DEC, DIRS))
field("rt_tile", ProtoField.uint64("itc.route.link.tile", "Neighbour", base.HEX))
field("rt_pub", ProtoField.bytes("itc.route.pub", "Origin's public key (its SHA-256 begins with the origin)"))
field("rt_sig", ProtoField.bytes("itc.route.sig", "Ed25519 signature"))
field("rt_acks", ProtoField.uint8("itc.route.acks", "Entries"))
field("rt_ack_origin", ProtoField.uint64("itc.route.ack.origin", "Origin", base.HEX))
field("rt_ack_seq", ProtoField.uint32("itc.route.ack.seq", "Sequence number"))
field("rt_crc", ProtoField.uint32("itc.route.crc", "CRC-32C", base.HEX))
field("rt_crcgood", ProtoField.bool("itc.route.crc.good", "CRC good"))

local fields = {}
for _, f in pairs(F) do fields[#fields + 1] = f end
itc.fields = fields

local E = {
	malformed = ProtoExpert.new("itc.malformed", "Malformed packet", expert.group.MALFORMED, expert.severity.ERROR),
	suspect = ProtoExpert.new("itc.suspect", "Suspect packet (OVRN or EROR set)", expert.group.PROTOCOL, expert.severity.WARN),
	crc = ProtoExpert.new("itc.mfz.bad_crc", "CRC mismatch", expert.group.CHECKSUM, expert.severity.WARN),
	tubecrc = ProtoExpert.new("itc.tube.bad_crc", "CRC-32C mismatch", expert.group.CHECKSUM, expert.severity.WARN),
	routecrc = ProtoExpert.new("itc.route.bad_crc", "CRC-32C mismatch", expert.group.CHECKSUM, expert.severity.WARN),
	hellocrc = ProtoExpert.new("itc.hello.bad_crc", "CRC-32C mismatch", expert.group.CHECKSUM, expert.severity.WARN),
	unknown = ProtoExpert.new("itc.unknown", "Not defined", expert.group.UNDECODED, expert.severity.NOTE),
}
itc.experts = { E.malformed, E.suspect, E.crc, E.tubecrc, E.routecrc, E.hellocrc, E.unknown }

-- Bit arithmetic without a bit library.
local function bit(v, mask) return math.floor(v / mask) % 2 == 1 end

-- XOR4[16*x + y] is x XOR y for nibbles: bxor works a nibble at a time,
-- eight steps for a 32-bit CRC instead of 32.
local XOR4 = {}
for x = 0, 15 do
	for y = 0, 15 do
		local r, p, a, b = 0, 1, x, y
		while a > 0 or b > 0 do
			if a % 2 ~= b % 2 then r = r + p end
			a, b, p = math.floor(a / 2), math.floor(b / 2), p * 2
		end
		XOR4[16 * x + y] = r
	end
end

-- bxor is a XOR b for non-negative integers below 2^53.
local function bxor(a, b)
	local r, p = 0, 1
	while a > 0 or b > 0 do
		local x, y = a % 16, b % 16
		r = r + XOR4[16 * x + y] * p
		a, b, p = math.floor(a / 16), math.floor(b / 16), p * 16
	end
	return r
end

-- CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), as services/mfz/dist.
local CRC_TABLE = {}
for i = 0, 255 do
	local c = i * 256
	for _ = 1, 8 do
		if c >= 0x8000 then c = bxor((c * 2) % 0x10000, 0x1021) else c = (c * 2) % 0x10000 end
	end
	CRC_TABLE[i] = c
end

local function crc16(tvb, off, n)
	local c = 0xFFFF
	for i = off, off + n - 1 do
		local idx = bxor(math.floor(c / 256), tvb(i, 1):uint())
		c = bxor((c * 256) % 0x10000, CRC_TABLE[idx])
	end
	return c
end

-- CRC-32C (Castagnoli, reflected poly 0x82F63B78), as services/tubes and
-- services/routes.
local CRC32C_TABLE = {}
for i = 0, 255 do
	local c = i
	for _ = 1, 8 do
		if c % 2 == 1 then c = bxor(math.floor(c / 2), 0x82F63B78) else c = math.floor(c / 2) end
	end
	CRC32C_TABLE[i] = c
end

local function crc32c(tvb, off, n)
	local c = 0xFFFFFFFF
	if n > 0 then
		local b = tvb(off, n):bytes()
		for i = 0, n - 1 do
			c = bxor(CRC32C_TABLE[bxor(c % 256, b:get_index(i))], math.floor(c / 256))
		end
	end
	return bxor(c, 0xFFFFFFFF)
end

local function name(t, v, what)
	return t[v] or string.format("%s %d", what or "unknown", v)
end

-- The dissection state of one packet: the tvb, the tree, the info
-- column's parts, and a way to mark faults.
local function malformed(st, item, text)
	item:add_proto_expert_info(E.malformed, text)
	st.info[#st.info + 1] = "[malformed: " .. text .. "]"
end

-- subtree adds a labelled subtree over n bytes from o (none when n is
-- 0: a zero-length range past the end would be an error).
local function subtree(st, tree, o, n, label)
	if n > 0 then return tree:add(itc, st.tvb(o, n), label) end
	return tree:add(itc, label)
end

local function dissect_tep(st, tree, b, len)
	if len < 3 then
		malformed(st, tree, "TEP shorter than 3 bytes")
		return
	end
	local ev, d = st.tvb(b + 1, 1):uint(), st.tvb(b + 2, 1):uint()
	local t = tree:add(itc, st.tvb(b, len), "Tile Event Packet")
	local ei = t:add(F.tep_event, st.tvb(b + 1, 1))
	local di = t:add(F.tep_dir, st.tvb(b + 2, 1))
	st.info[#st.info + 1] = string.format("TEP %s %s", name(TEP_EVENTS, ev, "event"), name(DIRS, d, "dir"))
	if ev == 0 or ev > 4 then malformed(st, ei, "TEP event " .. ev .. " is not defined (1..4)") end
	if d > 7 then
		malformed(st, di, "TEP DIR8 " .. d .. " is greater than 7")
	elseif d == 0 or d == 4 then
		malformed(st, di, "TEP DIR8 " .. DIRS[d] .. " names no link")
	end
	if len == 11 then
		t:add(F.tep_tile, st.tvb(b + 3, 8))
	elseif len > 3 then
		t:add(F.tep_args, st.tvb(b + 3, len - 3))
	end
end

local function dissect_hello(st, tree, o, n)
	local t = subtree(st, tree, o, n, "Liveness hello")
	if n < 34 then
		malformed(st, t, "hello of " .. n .. " bytes, shorter than 34")
		return
	end
	local typ = st.tvb(o, 1):uint()
	t:add(F.h_type, st.tvb(o, 1))
	if typ ~= 1 then
		t:add_proto_expert_info(E.unknown, "hello type " .. typ .. " is reserved: ignored")
		return
	end
	local vi = t:add(F.h_version, st.tvb(o + 1, 1))
	if st.tvb(o + 1, 1):uint() == 0 then malformed(st, vi, "version 0") end
	local ti = t:add(F.h_tile, st.tvb(o + 2, 8))
	if st.tvb(o + 2, 4):uint() == 0 and st.tvb(o + 6, 4):uint() == 0 then malformed(st, ti, "an all-zero tile identity") end
	t:add(F.h_uptime, st.tvb(o + 10, 4))
	local si = t:add(F.h_services, st.tvb(o + 14, 8))
	local svcs = {}
	for i = 0, 7 do
		local byte = st.tvb(o + 21 - i, 1):uint()
		for k = 0, 7 do
			if bit(byte, 2 ^ k) then
				local s = i * 8 + k
				svcs[#svcs + 1] = SERVICES[s] and string.format("%d (%s)", s, SERVICES[s]) or tostring(s)
			end
		end
	end
	si:append_text(" [" .. table.concat(svcs, ", ") .. "]")
	t:add(F.h_ts, st.tvb(o + 22, 4))
	t:add(F.h_echo, st.tvb(o + 26, 4))
	t:add(F.h_hold, st.tvb(o + 30, 4))
	st.info[#st.info + 1] = string.format("hello tile %s", st.tvb(o + 2, 8):bytes():tohex():lower())
	if n < 38 then
		if n > 34 then t:add(F.h_extra, st.tvb(o + 34, n - 34)) end
		return
	end
	if n < 40 then
		t:add(F.h_digest, st.tvb(o + 34, 4))
		if n > 38 then t:add(F.h_extra, st.tvb(o + 38, n - 38)) end
		return
	end
	local flags = st.tvb(o + 38, 1):uint()
	local di = t:add(F.h_digest, st.tvb(o + 34, 4))
	if bit(flags, 0x01) then di:append_text(" [not a digest: no_digest is set]") end
	local fi = t:add(F.h_flags, st.tvb(o + 38, 1))
	fi:add(F.h_nodigest, st.tvb(o + 38, 1))
	fi:add(F.h_sealed, st.tvb(o + 38, 1))
	-- A sealed hello's last 4 bytes are a CRC-32C of every byte before
	-- them, the version's length too; the receiver drops it if they do
	-- not match.
	local m = n
	if bit(flags, 0x02) then
		if n < 44 then
			malformed(st, fi, "sealed hello of " .. n .. " bytes, too short for its CRC")
			return
		end
		m = n - 4
		local good = crc32c(st.tvb, o, m) == st.tvb(o + m, 4):uint()
		local ci = t:add(F.h_crc, st.tvb(o + m, 4))
		ci:add(F.h_crcgood, good)
		if not good then
			ci:add_proto_expert_info(E.hellocrc, "CRC-32C mismatch: the receiver drops this hello")
			st.info[#st.info + 1] = "[bad CRC]"
		end
	end
	local bl = st.tvb(o + 39, 1):uint()
	local li = t:add(F.h_buildlen, st.tvb(o + 39, 1))
	if bl == 0 or bl > 32 or 40 + bl > m then
		li:add_proto_expert_info(E.unknown, "version length " .. bl .. " is 0, over 32 or past the hello: status shows it as invalid")
	else
		t:add(F.h_build, st.tvb(o + 40, bl))
		if m > 40 + bl then t:add(F.h_extra, st.tvb(o + 40 + bl, m - 40 - bl)) end
	end
end

local function dissect_counter(st, tree, o, n)
	local t = subtree(st, tree, o, n, "Counter")
	if n < 1 then
		malformed(st, t, "empty counter payload")
		return
	end
	local typ = st.tvb(o, 1):uint()
	local ti = t:add(F.c_type, st.tvb(o, 1))
	if typ == 1 then
		if n < 9 then
			malformed(st, ti, "value of " .. n .. " bytes, want 9")
			return
		end
		t:add(F.c_value, st.tvb(o + 1, 8))
		st.info[#st.info + 1] = "counter value " .. tostring(st.tvb(o + 1, 8):int64())
		if n > 9 then t:add(F.c_extra, st.tvb(o + 9, n - 9)) end
	elseif typ == 2 then
		st.info[#st.info + 1] = "counter ask"
		if n > 1 then t:add(F.c_extra, st.tvb(o + 1, n - 1)) end
	else
		malformed(st, ti, "counter type " .. typ .. " is not defined")
	end
end

-- mfz message bodies: each gets the tree, the body offset p (after type
-- and handle) and its length m (the CRC cut off), and returns a short
-- text for the info column, or nil and a fault.
local MFZ = {}

local function exact(m, want, typ)
	if m ~= want then return string.format("%s body of %d bytes, want %d", typ, m, want) end
end

MFZ[1] = function(st, t, p, m)
	if m < 22 then return nil, "ANNOUNCE body of " .. m .. " bytes, shorter than 22" end
	local fi = t:add(F.m_flags, st.tvb(p, 1))
	fi:add(F.m_complete, st.tvb(p, 1))
	fi:add(F.m_tomb, st.tvb(p, 1))
	fi:add(F.m_counted, st.tvb(p, 1))
	fi:add(F.m_numbered, st.tvb(p, 1))
	fi:add(F.m_marks, st.tvb(p, 1))
	fi:add(F.m_shortf, st.tvb(p, 1))
	t:add(F.m_version, st.tvb(p + 1, 8))
	t:add(F.m_blocks, st.tvb(p + 9, 2))
	t:add(F.m_held, st.tvb(p + 11, 2))
	t:add(F.m_fid, st.tvb(p + 13, 8))
	t:add(F.m_namelen, st.tvb(p + 21, 1))
	local nl = st.tvb(p + 21, 1):uint()
	if m ~= 22 + nl then return nil, exact(m, 22 + nl, "ANNOUNCE") end
	local nm = ""
	if nl > 0 then
		t:add(F.m_name, st.tvb(p + 22, nl))
		nm = st.tvb(p + 22, nl):string()
	end
	local blocks, held = st.tvb(p + 9, 2):uint(), st.tvb(p + 11, 2):uint()
	if nl == 0 or nl > 28 then return nil, "name of " .. nl .. " bytes (1..28)" end
	if held > blocks or blocks > 4096 then return nil, string.format("%d of %d blocks held", held, blocks) end
	return string.format("%s %d/%d blocks", nm, held, blocks)
end

MFZ[2] = function(st, t, p, m)
	if m ~= 4 and m ~= 6 then return nil, "GET_MANIFEST body of " .. m .. " bytes, want 4 or 6" end
	t:add(F.m_offset, st.tvb(p, 4))
	if m == 4 then return "offset " .. st.tvb(p, 4):uint() .. " to the end" end
	t:add(F.m_segs, st.tvb(p + 4, 2))
	local segs = st.tvb(p + 4, 2):uint()
	if segs == 0 or segs > 545 then return nil, "GET_MANIFEST of " .. segs .. " segments (1..545)" end
	return string.format("offset %d, %d segments", st.tvb(p, 4):uint(), segs)
end

MFZ[3] = function(st, t, p, m)
	if m < 9 then return nil, "MANIFEST body of " .. m .. " bytes, shorter than 9" end
	t:add(F.m_offset, st.tvb(p, 4))
	t:add(F.m_total, st.tvb(p + 4, 4))
	t:add(F.m_mbytes, st.tvb(p + 8, m - 8))
	local off, total = st.tvb(p, 4):uint(), st.tvb(p + 4, 4):uint()
	if off + (m - 8) > total then return nil, string.format("manifest bytes %d+%d of %d", off, m - 8, total) end
	return string.format("bytes %d+%d of %d", off, m - 8, total)
end

MFZ[4] = function(st, t, p, m)
	if m < 3 then return nil, "BITFIELD body of " .. m .. " bytes, shorter than 3" end
	t:add(F.m_first, st.tvb(p, 2))
	t:add(F.m_bits, st.tvb(p + 2, m - 2))
	local first = st.tvb(p, 2):uint()
	if first % 8 ~= 0 or first + 8 * (m - 2) > 4096 + 7 then return nil, string.format("bitfield at %d of %d bytes", first, m - 2) end
	return string.format("blocks %d..%d", first, first + 8 * (m - 2) - 1)
end

MFZ[5] = function(st, t, p, m)
	if m < 2 or m % 2 ~= 0 then return nil, "HAVE body of " .. m .. " bytes: want 2 and 2 per block" end
	t:add(F.m_low, st.tvb(p, 2))
	local low, list, bad = st.tvb(p, 2):uint(), {}, nil
	for i = p + 2, p + m - 2, 2 do
		t:add(F.m_block, st.tvb(i, 2))
		local blk = st.tvb(i, 2):uint()
		list[#list + 1] = tostring(blk)
		if blk >= 4096 then bad = blk end
	end
	if low > 4096 then return nil, "HAVE below " .. low end
	if bad then return nil, "block " .. bad .. " (blocks are below 4096)" end
	return string.format("below %d + [%s]", low, table.concat(list, " "))
end

MFZ[6] = function(st, t, p, m)
	if m ~= 6 then return nil, exact(m, 6, "REQUEST") end
	t:add(F.m_block, st.tvb(p, 2))
	t:add(F.m_chunk, st.tvb(p + 2, 2))
	t:add(F.m_count, st.tvb(p + 4, 2))
	local cnt = st.tvb(p + 4, 2):uint()
	if cnt == 0 then return nil, "REQUEST of 0 chunks" end
	if st.tvb(p, 2):uint() >= 4096 then return nil, "block " .. st.tvb(p, 2):uint() .. " (blocks are below 4096)" end
	return string.format("block %d chunks %d+%d", st.tvb(p, 2):uint(), st.tvb(p + 2, 2):uint(), cnt)
end

MFZ[7] = function(st, t, p, m)
	if m < 4 then return nil, "DATA body of " .. m .. " bytes, shorter than 4" end
	t:add(F.m_block, st.tvb(p, 2))
	t:add(F.m_chunk, st.tvb(p + 2, 2))
	if m > 4 then t:add(F.m_data, st.tvb(p + 4, m - 4)) end
	if st.tvb(p, 2):uint() >= 4096 then return nil, "block " .. st.tvb(p, 2):uint() .. " (blocks are below 4096)" end
	if m == 4 then
		-- No bytes: the answer to a mark (a REQUESTS entry of count 0).
		return string.format("block %d chunk %d mark answered", st.tvb(p, 2):uint(), st.tvb(p + 2, 2):uint())
	end
	return string.format("block %d chunk %d (%d bytes)", st.tvb(p, 2):uint(), st.tvb(p + 2, 2):uint(), m - 4)
end

-- SHORT DATA: chunk (4 bits) and block (12 bits) in one 16-bit field.
MFZ[11] = function(st, t, p, m)
	if m < 3 then return nil, "SHORT DATA body of " .. m .. " bytes, shorter than 3" end
	local v = st.tvb(p, 2):uint()
	local blk, ch = v % 4096, math.floor(v / 4096)
	t:add(F.m_block, st.tvb(p, 2), blk)
	t:add(F.m_chunk, st.tvb(p, 2), ch)
	t:add(F.m_data, st.tvb(p + 2, m - 2))
	return string.format("block %d chunk %d (%d bytes)", blk, ch, m - 2)
end

MFZ[8] = function(st, t, p, m)
	if m ~= 2 then return nil, exact(m, 2, "NOTHAVE") end
	local bi = t:add(F.m_block, st.tvb(p, 2))
	local blk = st.tvb(p, 2):uint()
	if blk == 0xFFFF then
		bi:append_text(" (the whole file)")
		return "the whole file"
	end
	return "block " .. blk
end

local function dissect_mfz(st, tree, o, n)
	local t = subtree(st, tree, o, n, "Signed-file distribution")
	if n < 3 then
		malformed(st, t, "message of " .. n .. " bytes, shorter than type and CRC")
		return
	end
	local typ = st.tvb(o, 1):uint()
	local ti = t:add(F.m_type, st.tvb(o, 1))
	st.info[#st.info + 1] = name(MFZ_TYPES, typ, "mfz type")
	-- The CRC covers everything before it.
	local m = n - 2
	local crc = st.tvb(o + m, 2):uint()
	local ci = t:add(F.m_crc, st.tvb(o + m, 2))
	local good = crc16(st.tvb, o, m) == crc
	ci:add(F.m_crcgood, good)
	if not good then
		ci:add_proto_expert_info(E.crc, "CRC mismatch: the receiver drops this message as lost")
		st.info[#st.info + 1] = "[bad CRC]"
	end
	if typ == 9 then
		if m ~= 2 then
			malformed(st, ti, "SYNC of " .. m .. " bytes before the CRC, want 2")
			return
		end
		t:add(F.m_syncflags, st.tvb(o + 1, 1))
		return
	end
	if typ == 10 then
		-- REQUESTS: byte 1 starts a number, not a handle.
		if m < 10 or (m - 3) % 7 ~= 0 or m > 3 + 4 * 7 then
			malformed(st, ti, "REQUESTS of " .. m .. " bytes before the CRC, want 3 and 7 per request (1..4)")
			return
		end
		t:add(F.m_seq, st.tvb(o + 1, 2))
		local k, seq, list = (m - 3) / 7, st.tvb(o + 1, 2):uint(), {}
		t:add(F.m_entries, k)
		for i = 0, k - 1 do
			local e = o + 3 + 7 * i
			local et = t:add(st.tvb(e, 7), string.format("Request %d", (seq - i) % 65536))
			local hi = et:add(F.m_handle, st.tvb(e, 1))
			et:add(F.m_block, st.tvb(e + 1, 2))
			et:add(F.m_chunk, st.tvb(e + 3, 2))
			local h, blk, first, cnt = st.tvb(e, 1):uint(), st.tvb(e + 1, 2):uint(), st.tvb(e + 3, 2):uint(), st.tvb(e + 5, 2):uint()
			-- Bit 15 of the count flags the entry short: answer in SHORT DATA.
			local short = cnt >= 0x8000
			if short then cnt = cnt - 0x8000 end
			et:add(F.m_count, st.tvb(e + 5, 2), cnt)
			et:add(F.m_short, st.tvb(e + 5, 1), short)
			if h > 254 then malformed(st, hi, "handle 255 is never a handle") end
			if short and (cnt == 0 or blk == 0xFFFF) then malformed(st, et, "only a request for chunks is flagged short") end
			if blk == 0xFFFF then
				-- A manifest ask: segments first..first+cnt-1.
				et:append_text(" (manifest segments)")
				if first >= 545 or cnt == 0 or cnt > 545 then malformed(st, et, string.format("manifest segments %d+%d (from 0..544, 1..545 of them)", first, cnt)) end
				list[#list + 1] = string.format("h%d manifest segments %d+%d", h, first, cnt)
			else
				if blk >= 4096 then malformed(st, et, "block " .. blk .. " (blocks are below 4096)") end
				if cnt == 0 then
					-- A mark: answered with an empty DATA for that chunk.
					et:append_text(" (mark)")
					list[#list + 1] = string.format("h%d block %d mark after chunk %d", h, blk, first)
				else
					list[#list + 1] = string.format("h%d block %d chunks %d+%d%s", h, blk, first, cnt, short and " short" or "")
				end
			end
		end
		st.info[#st.info + 1] = string.format("#%d %s", seq, table.concat(list, ", "))
		return
	end
	local body = MFZ[typ]
	if body == nil then
		ti:add_proto_expert_info(E.unknown, "mfz message type " .. typ .. " is not defined (1..11)")
		return
	end
	if m < 2 then
		malformed(st, ti, "no handle")
		return
	end
	local hi = t:add(F.m_handle, st.tvb(o + 1, 1))
	local h = st.tvb(o + 1, 1):uint()
	if h > 254 then malformed(st, hi, "handle 255 is never a handle") end
	local text, fault = body(st, t, o + 2, m - 2)
	if fault then
		malformed(st, t, fault)
	elseif text then
		st.info[#st.info + 1] = string.format("h%d %s", h, text)
	end
end

-- Tube message bodies, as services/tubes/wire.go parseMsg reads them:
-- each gets the tree, the offset p after type and id, the body's length
-- m (the CRC cut off) and the id, and returns the info column's text
-- and how much of the body it read, or nil, 0 and a fault. Later
-- versions may append fields to fixed-size messages: the bytes after
-- are shown, not faulted.
local TUBE = {}

local function tube_need(m, want, typ)
	if m < want then return string.format("%s of %d bytes before the CRC, want %d", typ, m + 3, want + 3) end
end

TUBE[1] = function(st, t, p, m, id)
	local fault = tube_need(m, 9, "OPEN")
	if fault then return nil, 0, fault end
	t:add(F.t_sport, st.tvb(p, 2))
	t:add(F.t_dport, st.tvb(p + 2, 2))
	local ki = t:add(F.t_kind, st.tvb(p + 4, 1))
	t:add(F.t_window, st.tvb(p + 5, 4))
	local kind = st.tvb(p + 4, 1):uint()
	if TUBE_KINDS[kind] == nil then ki:add_proto_expert_info(E.unknown, "tube kind " .. kind .. " is not defined (1 stream, 2 message): refused") end
	return string.format("id %d port %d->%d %s window %d", id, st.tvb(p, 2):uint(), st.tvb(p + 2, 2):uint(),
		name(TUBE_KINDS, kind, "kind"), st.tvb(p + 5, 4):uint()), 9
end

TUBE[2] = function(st, t, p, m, id)
	local fault = tube_need(m, 6, "ACCEPT")
	if fault then return nil, 0, fault end
	t:add(F.t_from, st.tvb(p, 2))
	t:add(F.t_window, st.tvb(p + 2, 4))
	return string.format("id %d from %d window %d", id, st.tvb(p, 2):uint(), st.tvb(p + 2, 4):uint()), 6
end

TUBE[3] = function(st, t, p, m, id)
	local fault = tube_need(m, 5, "DATA")
	if fault then return nil, 0, fault end
	t:add(F.t_seq, st.tvb(p, 4))
	local fi = t:add(F.t_flags, st.tvb(p + 4, 1))
	fi:add(F.t_fin, st.tvb(p + 4, 1))
	local n = m - 5
	t:add(F.t_len, n):set_generated()
	if n > 0 then t:add(F.t_data, st.tvb(p + 5, n)) end
	local fin = bit(st.tvb(p + 4, 1):uint(), 1) and " FIN" or ""
	return string.format("id %d seq %d len %d%s", id, st.tvb(p, 4):uint(), n, fin), m
end

TUBE[4] = function(st, t, p, m, id)
	local fault = tube_need(m, 13, "ACK")
	if fault then return nil, 0, fault end
	t:add(F.t_ack, st.tvb(p, 4))
	t:add(F.t_read, st.tvb(p + 4, 4))
	t:add(F.t_limit, st.tvb(p + 8, 4))
	local ni = t:add(F.t_nsacks, st.tvb(p + 12, 1))
	local n = st.tvb(p + 12, 1):uint()
	local text = string.format("id %d ack %d read %d limit %d", id, st.tvb(p, 4):uint(), st.tvb(p + 4, 4):uint(), st.tvb(p + 8, 4):uint())
	if n > 4 then
		malformed(st, ni, "ACK with " .. n .. " SACK ranges, at most 4")
		return text, m
	end
	if m < 13 + 8 * n then return nil, 0, string.format("ACK with %d SACK ranges of %d bytes before the CRC, want %d", n, m + 3, 16 + 8 * n) end
	local ranges = {}
	for i = 0, n - 1 do
		local q = p + 13 + 8 * i
		local a, z = st.tvb(q, 4):uint(), st.tvb(q + 4, 4):uint()
		local r = t:add(itc, st.tvb(q, 8), string.format("SACK [%d, %d)", a, z))
		r:add(F.t_sack_start, st.tvb(q, 4))
		r:add(F.t_sack_end, st.tvb(q + 4, 4))
		ranges[#ranges + 1] = string.format("%d-%d", a, z)
	end
	if n > 0 then text = text .. " sack " .. table.concat(ranges, " ") end
	return text, 13 + 8 * n
end

TUBE[5] = function(st, t, p, m, id)
	local fault = tube_need(m, 1, "RESET")
	if fault then return nil, 0, fault end
	t:add(F.t_code, st.tvb(p, 1))
	local code = st.tvb(p, 1):uint()
	-- The receiver reads at most 64 bytes of reason.
	local rl = math.min(m - 1, 64)
	local reason = ""
	if rl > 0 then
		-- Shown as itcd logs it: anything but printable ASCII becomes '?'.
		local text = st.tvb(p + 1, rl):raw():gsub("[^\32-\126]", "?")
		t:add(F.t_reason, st.tvb(p + 1, rl), text)
		reason = ": " .. text
	end
	return string.format("id %d %s%s", id, name(TUBE_RESETS, code, "code"), reason), 1 + rl
end

TUBE[6] = function(_, _, _, _, id)
	return "id " .. id, 0
end

-- tube_msg dissects one tube message (types 1..6) of n bytes at o into
-- t. A neighbour's message (checked) ends with a CRC-32C of its bytes,
-- verified here; one inside ROUTED ends with a CRC-32C that also covers
-- the destination's identity, which is not in the packet, so it is shown
-- unchecked.
local function tube_msg(st, t, o, n, checked)
	if n < 7 then
		malformed(st, t, "message of " .. n .. " bytes, shorter than type, id and CRC (7)")
		return
	end
	local typ, id = st.tvb(o, 1):uint(), st.tvb(o + 1, 2):uint()
	local ti = t:add(F.t_type, st.tvb(o, 1))
	t:add(F.t_id, st.tvb(o + 1, 2))
	st.info[#st.info + 1] = name(TUBE_TYPES, typ, "tube type")
	-- The CRC covers everything before it; it goes last in the tree, as
	-- on the wire, whatever the body holds.
	local m = n - 4
	local good = not checked or crc32c(st.tvb, o, m) == st.tvb(o + m, 4):uint()
	if not good then st.info[#st.info + 1] = "[bad CRC]" end
	local body = TUBE[typ]
	if body == nil then
		if checked then
			ti:add_proto_expert_info(E.unknown, "tube message type " .. typ .. " is not defined (1..7)")
		elseif typ == 7 then
			malformed(st, ti, "a ROUTED message inside a ROUTED one")
		else
			ti:add_proto_expert_info(E.unknown, "tube message type " .. typ .. " is not defined inside ROUTED (1..6)")
		end
	else
		local text, used, fault = body(st, t, o + 3, m - 3, id)
		if fault then
			malformed(st, t, fault)
		else
			st.info[#st.info + 1] = text
			if used < m - 3 then t:add(F.t_extra, st.tvb(o + 3 + used, m - 3 - used)) end
		end
	end
	if not checked then
		t:add(F.r_crc, st.tvb(o + m, 4))
		return
	end
	local ci = t:add(F.t_crc, st.tvb(o + m, 4))
	ci:add(F.t_crcgood, good)
	if not good then ci:add_proto_expert_info(E.tubecrc, "CRC-32C mismatch: the receiver drops this message as lost") end
end

-- The links a direction nibble or byte may name (no NT, ST).
local LINK_NAMES = { [1] = "NE", [2] = "ET", [3] = "SE", [5] = "SW", [6] = "WT", [7] = "NW" }

local function zero_id(st, o) return st.tvb(o, 4):uint() == 0 and st.tvb(o + 4, 4):uint() == 0 end
local function hex_id(st, o) return st.tvb(o, 8):bytes():tohex():lower() end

-- routed_path shows the PATH of a ROUTED message, n links a nibble each
-- from p, the next one (number hop, from 0) in brackets, and returns its
-- text.
local function routed_path(st, t, p, n, hop)
	local pb = math.floor((n + 1) / 2)
	local pi = t:add(F.r_pathbytes, st.tvb(p, pb))
	local names, fault, nxt = {}, nil, nil
	for i = 0, n - 1 do
		local byte = st.tvb(p + math.floor(i / 2), 1):uint()
		local d = i % 2 == 0 and math.floor(byte / 16) or byte % 16
		local nm = LINK_NAMES[d]
		if nm == nil then
			fault = fault or string.format("path link %d is %d, not a link (1, 2, 3, 5, 6, 7)", i + 1, d)
			nm = tostring(d)
		end
		if i == hop then
			nm = "[" .. nm .. "]"
			nxt = d
		end
		names[#names + 1] = nm
	end
	if n % 2 == 1 and st.tvb(p + pb - 1, 1):uint() % 16 ~= 0 then
		fault = fault or "an odd path's last low nibble is not 0"
	end
	if fault then malformed(st, pi, fault) end
	local text = table.concat(names, ",")
	t:add(F.r_path, st.tvb(p, pb), text)
	-- At the destination (HOP == N) there is no next link.
	if nxt then t:add(F.r_next, st.tvb(p + math.floor(hop / 2), 1), nxt):set_generated() end
	return text
end

-- routed dissects a ROUTED message (type 7): N, HOP, PATH, SRC and a
-- tube message for the tile at the end of PATH.
local function routed(st, t, o, n)
	t:add(F.t_type, st.tvb(o, 1))
	st.info[#st.info + 1] = "ROUTED"
	if n < 3 then
		malformed(st, t, "ROUTED of " .. n .. " bytes, shorter than type, length and hop (3)")
		return
	end
	local li = t:add(F.r_len, st.tvb(o + 1, 1))
	local hi = t:add(F.r_hop, st.tvb(o + 2, 1))
	local plen, hop = st.tvb(o + 1, 1):uint(), st.tvb(o + 2, 1):uint()
	if plen == 0 or plen > 32 then
		malformed(st, li, "path of " .. plen .. " links (1..32)")
		return
	end
	if hop > plen then malformed(st, hi, string.format("hop %d beyond the path's %d links", hop, plen)) end
	local pb = math.floor((plen + 1) / 2)
	local head = 3 + pb + 8
	if n < head then
		malformed(st, t, string.format("ROUTED of %d bytes, shorter than its header of a %d-link path (%d)", n, plen, head))
		return
	end
	local path = routed_path(st, t, o + 3, plen, hop)
	local si = t:add(F.r_src, st.tvb(o + 3 + pb, 8))
	if zero_id(st, o + 3 + pb) then malformed(st, si, "SRC is the all-zero identity") end
	st.info[#st.info + 1] = string.format("hop %d/%d %s from %s:", hop, plen, path, hex_id(st, o + 3 + pb))
	local it = subtree(st, t, o + head, n - head, "Tube message for the tile at the end of the path")
	tube_msg(st, it, o + head, n - head, false)
end

local function dissect_tube(st, tree, o, n)
	local t = subtree(st, tree, o, n, "Tube")
	if n >= 1 and st.tvb(o, 1):uint() == 7 then
		routed(st, t, o, n)
	else
		tube_msg(st, t, o, n, true)
	end
end

-- route_lsa and route_ack show a service 10 message's fields, m bytes
-- before its CRC, as services/routes/wire.go reads them, and return the
-- info column's text.
local function route_lsa(st, t, o, m)
	if m < 14 then
		malformed(st, t, "LSA of " .. m .. " bytes before the CRC, shorter than 14")
		return "LSA"
	end
	local oi = t:add(F.rt_origin, st.tvb(o + 1, 8))
	t:add(F.rt_seq, st.tvb(o + 9, 4))
	local ni = t:add(F.rt_links, st.tvb(o + 13, 1))
	local n = st.tvb(o + 13, 1):uint()
	if zero_id(st, o + 1) then malformed(st, oi, "origin is the all-zero identity") end
	if n > 6 then malformed(st, ni, n .. " links, at most 6") end
	-- After the links: the origin's public key (32) and its signature (64).
	if m ~= 14 + 9 * n + 96 then
		malformed(st, ni, string.format("LSA of %d links is %d bytes before the CRC, want %d", n, m, 14 + 9 * n + 96))
	end
	local seen, links = {}, {}
	for i = 0, math.min(n, math.floor((m - 14) / 9)) - 1 do
		local q = o + 14 + 9 * i
		local d = st.tvb(q, 1):uint()
		local lt = t:add(itc, st.tvb(q, 9), string.format("Link %s: %s", name(LINK_NAMES, d, "dir"), hex_id(st, q + 1)))
		local di = lt:add(F.rt_dir, st.tvb(q, 1))
		local ti = lt:add(F.rt_tile, st.tvb(q + 1, 8))
		if LINK_NAMES[d] == nil then
			malformed(st, di, "link direction " .. d .. " is not a link (1, 2, 3, 5, 6, 7)")
		elseif seen[d] then
			malformed(st, di, "link " .. LINK_NAMES[d] .. " listed twice")
		end
		seen[d] = true
		if zero_id(st, q + 1) then malformed(st, ti, "the neighbour is the all-zero identity") end
		links[#links + 1] = name(LINK_NAMES, d, "dir") .. " " .. hex_id(st, q + 1)
	end
	local k = o + 14 + 9 * n
	if n <= 6 and m == 14 + 9 * n + 96 then
		t:add(F.rt_pub, st.tvb(k, 32))
		t:add(F.rt_sig, st.tvb(k + 32, 64))
	end
	return string.format("LSA %s seq %d [%s]", hex_id(st, o + 1), st.tvb(o + 9, 4):uint(), table.concat(links, ", "))
end

local function route_ack(st, t, o, m)
	if m < 2 then
		malformed(st, t, "ACK without its count")
		return "ACK"
	end
	local ni = t:add(F.rt_acks, st.tvb(o + 1, 1))
	local n = st.tvb(o + 1, 1):uint()
	if n < 1 or n > 16 then malformed(st, ni, "ACK of " .. n .. " entries (1..16)") end
	if m ~= 2 + 12 * n then
		malformed(st, ni, string.format("ACK of %d entries is %d bytes before the CRC, want %d", n, m, 2 + 12 * n))
	end
	local acks = {}
	for i = 0, math.min(n, math.floor((m - 2) / 12)) - 1 do
		local q = o + 2 + 12 * i
		local text = string.format("%s seq %d", hex_id(st, q), st.tvb(q + 8, 4):uint())
		local at = t:add(itc, st.tvb(q, 12), "ACK " .. text)
		at:add(F.rt_ack_origin, st.tvb(q, 8))
		at:add(F.rt_ack_seq, st.tvb(q + 8, 4))
		acks[#acks + 1] = text
	end
	return "ACK " .. table.concat(acks, ", ")
end

local function dissect_route(st, tree, o, n)
	local t = subtree(st, tree, o, n, "Routes")
	if n < 5 then
		malformed(st, t, "message of " .. n .. " bytes, shorter than type and CRC (5)")
		return
	end
	local typ = st.tvb(o, 1):uint()
	local ti = t:add(F.rt_type, st.tvb(o, 1))
	local m = n - 4
	local good = crc32c(st.tvb, o, m) == st.tvb(o + m, 4):uint()
	if typ == 0x4C then
		st.info[#st.info + 1] = route_lsa(st, t, o, m)
	elseif typ == 0x41 then
		st.info[#st.info + 1] = route_ack(st, t, o, m)
	else
		st.info[#st.info + 1] = string.format("route type 0x%02x", typ)
		ti:add_proto_expert_info(E.unknown, string.format("route message type 0x%02x is not defined ('L' LSA, 'A' ACK)", typ))
	end
	if not good then st.info[#st.info + 1] = "[bad CRC]" end
	local ci = t:add(F.rt_crc, st.tvb(o + m, 4))
	ci:add(F.rt_crcgood, good)
	if not good then ci:add_proto_expert_info(E.routecrc, "CRC-32C mismatch: the receiver drops this message as lost") end
end

local SERVICE_BODY = { [1] = dissect_hello, [2] = dissect_counter, [8] = dissect_mfz, [9] = dissect_tube, [10] = dissect_route }

local function dissect_service(st, tree, b, len)
	if len < 2 then
		malformed(st, tree, "service packet without byte 1")
		return
	end
	local sb = tree:add(F.svcbyte, st.tvb(b + 1, 1))
	sb:add(F.rsv, st.tvb(b + 1, 1))
	local si = sb:add(F.service, st.tvb(b + 1, 1))
	local v = st.tvb(b + 1, 1):uint()
	local svc = v % 64
	st.info[#st.info + 1] = string.format("svc %d %s", svc, SERVICES[svc] or "")
	if SERVICES[svc] then st.protocol = "ITC/" .. SERVICES[svc] end
	if v >= 64 then malformed(st, sb, "reserved bits set in byte 1") end
	if svc == 0 then
		malformed(st, si, "service 0 is illegal")
		return
	end
	local body = SERVICE_BODY[svc]
	if body then
		body(st, tree, b + 2, len - 2)
	elseif len > 2 then
		tree:add(F.payload, st.tvb(b + 2, len - 2))
	end
end

function itc.dissector(tvb, pinfo, tree)
	local len = tvb:len()
	pinfo.cols.protocol = "ITC"
	local st = { tvb = tvb, info = {} }
	local root = subtree(st, tree, 0, len, "T2 intertile packet")
	if len < 4 then
		malformed(st, root, "shorter than the 4-byte capture pseudo-header")
		pinfo.cols.info = table.concat(st.info, " ")
		return len
	end
	local ph = root:add(itc, tvb(0, 4), "Capture pseudo-header")
	local vi = ph:add(F.version, tvb(0, 1))
	ph:add(F.travel, tvb(1, 1))
	ph:add(F.link, tvb(2, 1))
	ph:add(F.reserved, tvb(3, 1))
	if tvb(0, 1):uint() ~= 1 then
		malformed(st, vi, "pseudo-header version " .. tvb(0, 1):uint() .. ": this dissector reads version 1")
		pinfo.cols.info = table.concat(st.info, " ")
		return len
	end
	local travel, link = tvb(1, 1):uint(), tvb(2, 1):uint()
	-- Source and destination: the link's far tile, or this one.
	if travel == 0 then
		pinfo.cols.src, pinfo.cols.dst = name(LINKS, link, "link"), "tile"
	elseif travel == 1 then
		pinfo.cols.src, pinfo.cols.dst = "tile", name(LINKS, link, "link")
	end
	st.info[#st.info + 1] = string.format("%-5s %-4s", name(TRAVEL, travel, "travel"), name(LINKS, link, "link"))
	local b, n = 4, len - 4
	if n == 0 then
		malformed(st, root, "empty packet")
		pinfo.cols.info = table.concat(st.info, " ")
		return len
	end
	if n > 255 then malformed(st, root, "packet of " .. n .. " bytes, longer than 255") end
	local h = tvb(b, 1):uint()
	local hi = root:add(F.hdr, tvb(b, 1))
	local kind
	if h < 0x80 then
		kind = "nonstandard"
		hi:add(F.stnd, tvb(b, 1))
		hi:add(F.ascii, tvb(b, 1))
		st.info[#st.info + 1] = string.format("non-standard %q", string.char(h))
		if n > 1 then root:add(F.payload, tvb(b + 1, n - 1)) end
	elseif h < 0xC0 then
		kind = h >= 0xA0 and "mfm" or "service"
		for _, f in ipairs({ F.stnd, F.locl, F.mfmt, F.ovrn, F.eror, F.dir }) do hi:add(f, tvb(b, 1)) end
		local d = h % 8
		if kind == "mfm" then st.info[#st.info + 1] = "mfm" end
		if d == 0 or d == 4 then malformed(st, hi, "routed packet with DIR " .. DIRS[d] .. ", which names no link") end
		if bit(h, 0x10) or bit(h, 0x08) then hi:add_proto_expert_info(E.suspect) end
		if kind == "mfm" then
			if n > 1 then root:add(F.payload, tvb(b + 1, n - 1)) end
		else
			dissect_service(st, root, b, n)
		end
	else
		kind = "local"
		for _, f in ipairs({ F.stnd, F.locl, F.mfmt, F.ltype }) do hi:add(f, tvb(b, 1)) end
		local lt = h % 32
		if h >= 0xE0 then
			kind = "invalid"
			malformed(st, hi, "local packet with MFMT set (0xE0..0xFF)")
		elseif lt == 0 then
			malformed(st, hi, "local type 0 is illegal")
		elseif lt > 4 then
			malformed(st, hi, "local type " .. lt .. " is reserved")
		elseif lt == 4 then
			dissect_tep(st, root, b, n)
		else
			st.info[#st.info + 1] = "local " .. LOCAL_TYPES[lt]
			if lt == 3 and n > 1 then
				local c = tvb(b + 1, 1):uint()
				local codes = { [0x50] = "P link up", [0x46] = "F framing error", [0x54] = "T timeout" }
				st.info[#st.info + 1] = codes[c] or string.format("code 0x%02x", c)
			end
			if n > 1 then root:add(F.payload, tvb(b + 1, n - 1)) end
		end
	end
	root:add(F.kind, kind):set_generated()
	pinfo.cols.protocol = st.protocol or "ITC"
	root:append_text(string.format(", %s, %s %s", kind, name(TRAVEL, travel, "travel"), name(LINKS, link, "link")))
	pinfo.cols.info = table.concat(st.info, " ")
	return len
end

local encap = (wtap_encaps and wtap_encaps.USER7) or (wtap and wtap.USER7)
DissectorTable.get("wtap_encap"):add(encap, itc)
