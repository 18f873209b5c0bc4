package dist

import (
	"errors"
	"fmt"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// The service 8 payload, byte by byte in notes/protocol.md ("Service 8").
// Byte 0 is the message type, byte 1 (for every type but SYNC) the
// sender's handle for a file. Every message ends with a CRC-16 of all the
// bytes before it: T2 links flip bits without always saying so, and a
// damaged announcement or data chunk must be dropped as lost, not believed
// (the old Perl distributor circulated a corrupt future stamp for ever).
// All integers are big-endian.
const (
	msgAnnounce    = 1
	msgGetManifest = 2
	msgManifest    = 3
	msgBitfield    = 4
	msgHave        = 5
	msgRequest     = 6
	msgData        = 7
	msgNotHave     = 8
	msgSync        = 9
	msgRequests    = 10
	msgShortData   = 11

	crcLen = 2
	// maxMsg is the most payload one service packet carries.
	maxMsg = packet.MaxServicePayload

	// ChunkLen is the body bytes one DATA message carries: 253 bytes of
	// payload less the 6-byte header and the 2-byte CRC.
	ChunkLen = maxMsg - 6 - crcLen
	// manifestSeg is the signed-manifest bytes one MANIFEST message carries.
	manifestSeg = maxMsg - 10 - crcLen
	// maxManifestSegs is the most segments a signed manifest has.
	maxManifestSegs = (mfz.MaxSignedManifestLen + manifestSeg - 1) / manifestSeg
	// bitfieldBytes is the most bitmap bytes one BITFIELD message carries.
	bitfieldBytes = maxMsg - 4 - crcLen
	// maxHaves is the most block numbers one HAVE message carries.
	maxHaves = (maxMsg - 4 - crcLen) / 2

	// Announce flags.
	flagComplete  = 1 << 0
	flagTombstone = 1 << 1
	// flagCounted: the sender serves GET_MANIFEST with a segment count.
	// Tiles before it ignore the bit, and drop the counted form as
	// malformed: a receiver sends that form only to a sender that sets
	// it.
	flagCounted = 1 << 2
	// flagRequests: the sender takes REQUESTS (type 10). Tiles before it
	// ignore the bit and count a REQUESTS as unknown: a receiver sends
	// that form only to a sender that sets it.
	flagRequests = 1 << 3
	// flagMarks: the sender answers a REQUESTS entry of count 0 (a mark)
	// with an empty DATA. Tiles before it drop such an entry, and such a
	// DATA, as malformed: a receiver asks for marks only of a sender
	// that sets it.
	flagMarks = 1 << 4
	// flagShortData: the sender answers REQUESTS entries flagged short
	// (entryShort) with SHORT DATA (type 11) for chunks 0..15, two bytes
	// shorter than a DATA: 0.8% of every link's time. Tiles before it
	// drop a REQUESTS carrying such an entry as malformed and count a
	// SHORT DATA as unknown: a receiver flags entries only to a sender
	// that sets it (set only with flagRequests).
	flagShortData = 1 << 5
	// flagsServed is what this version serves, set in every ANNOUNCE.
	flagsServed = flagCounted | flagRequests | flagMarks | flagShortData

	// noHandle is never a handle: handles are 0..254.
	noHandle  = 255
	maxHandle = 254

	// blockGone in a NOTHAVE means the sender no longer holds the file
	// of that handle at all (superseded or deleted).
	blockGone = 0xFFFF
)

// fileID is the first 8 bytes of a signed manifest's hash (mfz.Manifest.Hash).
type fileID [8]byte

func fidOf(h mfz.Hash) (id fileID) {
	copy(id[:], h[:8])
	return id
}

func (id fileID) String() string { return fmt.Sprintf("%x", id[:]) }

// msg is one parsed message: its type and the kind of that type (the
// other kinds are zero). It is a value, not an interface, so parsing a
// packet allocates nothing but an announced name.
type msg struct {
	typ         byte
	announce    announceMsg
	getManifest getManifestMsg
	manifest    manifestMsg
	bitfield    bitfieldMsg
	have        haveMsg
	request     requestMsg
	data        dataMsg
	notHave     notHaveMsg
	sync        syncMsg
	requests    requestsMsg
}

var (
	errShort   = errors.New("message too short")
	errCRC     = errors.New("CRC mismatch")
	errUnknown = errors.New("unknown message type")
	errField   = errors.New("field out of range")
)

// crc16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF): it
// detects every error of up to 3 bits and every burst of up to 16 bits in
// a 253-byte message. Eight bytes a step (slicing-by-8): every chunk
// passes it twice, sealed and checked, and a byte at a time that was 5%
// of a 20x20 push's CPU.
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	t := &crcTables
	for len(b) >= 8 {
		x := uint64(c)<<48 ^ be.Uint64(b)
		c = t[7][byte(x>>56)] ^ t[6][byte(x>>48)] ^ t[5][byte(x>>40)] ^ t[4][byte(x>>32)] ^
			t[3][byte(x>>24)] ^ t[2][byte(x>>16)] ^ t[1][byte(x>>8)] ^ t[0][byte(x)]
		b = b[8:]
	}
	for _, x := range b {
		c = c<<8 ^ t[0][byte(c>>8)^x]
	}
	return c
}

// crcTables[k][v] is the CRC register, from zero, after byte v and k zero
// bytes: what a byte contributes with k bytes after it in its step.
var crcTables = func() (t [8][256]uint16) {
	for v := range t[0] {
		c := uint16(v) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[0][v] = c
	}
	for k := 1; k < len(t); k++ {
		for v := range t[k] {
			c := t[k-1][v]
			t[k][v] = c<<8 ^ t[0][byte(c>>8)]
		}
	}
	return t
}()

// seal appends the CRC to a message built in b.
func seal(b []byte) []byte { return sealFrom(b, 0) }

// parseMessage checks the CRC and parses a payload from a neighbour: the
// one parser of service 8. It trusts nothing: every length is checked
// before use, and an unknown type is errUnknown (ignored and counted by
// the caller). Fields are checked against the format's hard limits by
// each kind's parse; against a manifest by the caller.
func parseMessage(b []byte) (msg, error) {
	var m msg
	if len(b) < 1+crcLen {
		return m, errShort
	}
	body := b[:len(b)-crcLen]
	if be.Uint16(b[len(b)-crcLen:]) != crc16(body) {
		return m, errCRC
	}
	m.typ = body[0]
	if m.typ == msgSync {
		if len(body) < 2 {
			return m, errShort
		}
		if len(body) > 2 {
			return m, fmt.Errorf("%w: %d bytes after a SYNC", errField, len(body)-2)
		}
		m.sync.flags = body[1]
		return m, nil
	}
	if m.typ == msgRequests {
		// Byte 1 is a sequence number, not a handle.
		var err error
		m.requests, err = parseRequests(body[1:])
		return m, err
	}
	if (m.typ < msgAnnounce || m.typ > msgSync) && m.typ != msgShortData {
		return m, errUnknown
	}
	if len(body) < 2 {
		return m, errShort
	}
	h := body[1]
	if h > maxHandle {
		return m, fmt.Errorf("%w: handle %d", errField, h)
	}
	p := body[2:]
	var err error
	switch m.typ {
	case msgAnnounce:
		m.announce, err = parseAnnounce(h, p)
	case msgGetManifest:
		m.getManifest, err = parseGetManifest(h, p)
	case msgManifest:
		m.manifest, err = parseManifest(h, p)
	case msgBitfield:
		m.bitfield, err = parseBitfield(h, p)
	case msgHave:
		m.have, err = parseHave(h, p)
	case msgRequest:
		m.request, err = parseRequest(h, p)
	case msgData:
		m.data, err = parseData(h, p)
	case msgShortData:
		m.data, err = parseShortData(h, p)
	case msgNotHave:
		m.notHave, err = parseNotHave(h, p)
	}
	return m, err
}

// append writes m again, sealed: the inverse of parseMessage.
func (m *msg) append(dst []byte) []byte {
	switch m.typ {
	case msgAnnounce:
		return m.announce.append(dst)
	case msgGetManifest:
		return m.getManifest.append(dst)
	case msgManifest:
		return m.manifest.append(dst)
	case msgBitfield:
		return m.bitfield.append(dst)
	case msgHave:
		return m.have.append(dst)
	case msgRequest:
		return m.request.append(dst)
	case msgData, msgShortData:
		return m.data.append(dst)
	case msgNotHave:
		return m.notHave.append(dst)
	case msgSync:
		return m.sync.append(dst)
	case msgRequests:
		return m.requests.append(dst)
	}
	return dst
}

// maxChunks is the most chunks a block of the largest size has.
const maxChunks = (mfz.MaxBlockSize + ChunkLen - 1) / ChunkLen

// Builders: the service's shorthand for its own messages, each one
// whole sealed message appended to b[:0]. They name the fields the
// service sends and convert them; the bytes are written by the kinds'
// appends alone (wiremsg.go), which AppendMessage shares with the
// programs that speak service 8 from outside (sim/hostile). Nothing here
// allocates when b has room for the message.

func appendAnnounce(b []byte, h uint8, flags byte, version int64, blocks, held int, id fileID, name string) []byte {
	m := announceMsg{handle: h, flags: flags, version: version, blocks: uint16(blocks), held: uint16(held), fid: id, name: name}
	return m.append(b[:0])
}

// appendGetManifest asks for the signed manifest from off: to its end if
// segs is 0, else segs segments.
func appendGetManifest(b []byte, h uint8, off, segs int) []byte {
	m := getManifestMsg{handle: h, offset: uint32(off), count: uint16(segs)}
	return m.append(b[:0])
}

// segCount is how many manifestSeg segments n bytes of a signed manifest
// make.
func segCount(n int) int { return (n + manifestSeg - 1) / manifestSeg }

func appendManifest(b []byte, h uint8, off, total int, data []byte) []byte {
	m := manifestMsg{handle: h, offset: uint32(off), total: uint32(total), data: data}
	return m.append(b[:0])
}

func appendBitfield(b []byte, h uint8, first int, bits []byte) []byte {
	m := bitfieldMsg{handle: h, first: uint16(first), bits: bits}
	return m.append(b[:0])
}

// appendHave lists blocks, at most maxHaves of them (more make a message
// longer than a packet).
func appendHave(b []byte, h uint8, low int, blocks []int) []byte {
	var list [2 * maxHaves]byte
	data := list[:0]
	for _, x := range blocks {
		data = be.AppendUint16(data, uint16(x))
	}
	m := haveMsg{handle: h, low: uint16(low), list: data}
	return m.append(b[:0])
}

func appendRequest(b []byte, h uint8, block, first, count int) []byte {
	m := requestMsg{handle: h, block: uint16(block), chunk: uint16(first), count: uint16(count)}
	return m.append(b[:0])
}

func appendData(b []byte, h uint8, block, chunk int, data []byte) []byte {
	return appendChunk(b, h, block, chunk, data, false)
}

// appendChunk is chunk of block, as a SHORT DATA if short and the form
// can carry it (a chunk below maxShortChunk, with bytes), else as a DATA.
func appendChunk(b []byte, h uint8, block, chunk int, data []byte, short bool) []byte {
	m := dataMsg{handle: h, block: uint16(block), chunk: uint16(chunk), data: data, short: short && chunk < maxShortChunk && len(data) > 0}
	return m.append(b[:0])
}

func appendNotHave(b []byte, h uint8, block int) []byte {
	m := notHaveMsg{handle: h, block: uint16(block)}
	return m.append(b[:0])
}

func appendSync(b []byte, flags byte) []byte {
	m := syncMsg{flags: flags}
	return m.append(b[:0])
}
