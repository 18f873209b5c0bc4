package dist

import (
	"encoding/binary"
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

	crcLen = 2
	// maxMsg is the most payload one service packet carries.
	maxMsg = packet.MaxServicePayload

	// ChunkLen is the body bytes one DATA message carries: 253 bytes of
	// payload less the 6-byte header and the 2-byte CRC.
	ChunkLen = maxMsg - 6 - crcLen
	// manifestSeg is the signed-manifest bytes one MANIFEST message carries.
	manifestSeg = maxMsg - 10 - crcLen
	// bitfieldBytes is the most bitmap bytes one BITFIELD message carries.
	bitfieldBytes = maxMsg - 4 - crcLen
	// maxHaves is the most block numbers one HAVE message carries.
	maxHaves = (maxMsg - 4 - crcLen) / 2

	// Announce flags.
	flagComplete  = 1 << 0
	flagTombstone = 1 << 1

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

// msg is one parsed message. Which fields mean something depends on typ.
type msg struct {
	typ     byte
	handle  uint8
	flags   byte   // ANNOUNCE, SYNC
	version int64  // ANNOUNCE
	blocks  uint16 // ANNOUNCE
	held    uint16 // ANNOUNCE
	fid     fileID // ANNOUNCE
	name    string // ANNOUNCE
	offset  uint32 // GET_MANIFEST, MANIFEST
	total   uint32 // MANIFEST
	block   uint16 // BITFIELD (first block), REQUEST, DATA, NOTHAVE; HAVE: every block below it is held
	chunk   uint16 // REQUEST (first chunk), DATA
	count   uint16 // REQUEST
	data    []byte // MANIFEST bytes, BITFIELD bits, DATA chunk, HAVE block list (2 bytes each); aliases the input
}

var (
	errShort   = errors.New("message too short")
	errCRC     = errors.New("CRC mismatch")
	errUnknown = errors.New("unknown message type")
	errField   = errors.New("field out of range")
)

// crc16 is CRC-16/CCITT-FALSE (polynomial 0x1021, initial 0xFFFF): it
// detects every error of up to 3 bits and every burst of up to 16 bits in
// a 253-byte message.
func crc16(b []byte) uint16 {
	c := uint16(0xFFFF)
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for k := 0; k < 8; k++ {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// seal appends the CRC to a message built in b.
func seal(b []byte) []byte { return binary.BigEndian.AppendUint16(b, crc16(b)) }

// parseMessage checks the CRC and parses a payload from a neighbour. It
// trusts nothing: every length is checked before use, and an unknown type
// is errUnknown (ignored and counted by the caller). Fields are checked
// against the format's hard limits here; against a manifest by the caller.
func parseMessage(b []byte) (msg, error) {
	var m msg
	if len(b) < 1+crcLen {
		return m, errShort
	}
	body := b[:len(b)-crcLen]
	if binary.BigEndian.Uint16(b[len(b)-crcLen:]) != crc16(body) {
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
		m.flags = body[1]
		return m, nil
	}
	if m.typ < msgAnnounce || m.typ > msgSync {
		return m, errUnknown
	}
	if len(body) < 2 {
		return m, errShort
	}
	m.handle = body[1]
	if m.handle > maxHandle {
		return m, fmt.Errorf("%w: handle %d", errField, m.handle)
	}
	p := body[2:]
	need := func(n int) error {
		if len(p) < n {
			return fmt.Errorf("%w: type %d needs %d bytes after the handle, has %d", errShort, m.typ, n, len(p))
		}
		return nil
	}
	// exact: the body of a fixed-size message ends where the CRC starts.
	exact := func(n int) error {
		if err := need(n); err != nil {
			return err
		}
		if len(p) > n {
			return fmt.Errorf("%w: %d bytes after a type %d body", errField, len(p)-n, m.typ)
		}
		return nil
	}
	u16 := func(i int) uint16 { return binary.BigEndian.Uint16(p[i:]) }
	u32 := func(i int) uint32 { return binary.BigEndian.Uint32(p[i:]) }
	switch m.typ {
	case msgAnnounce:
		if err := need(22); err != nil {
			return m, err
		}
		m.flags = p[0]
		m.version = int64(binary.BigEndian.Uint64(p[1:]))
		m.blocks, m.held = u16(9), u16(11)
		copy(m.fid[:], p[13:21])
		n := int(p[21])
		if err := exact(22 + n); err != nil {
			return m, err
		}
		m.name = string(p[22 : 22+n])
		if err := mfz.CheckName(m.name); err != nil {
			return m, fmt.Errorf("%w: name: %v", errField, err)
		}
		if m.blocks > mfz.MaxBlocks || m.held > m.blocks {
			return m, fmt.Errorf("%w: %d of %d blocks", errField, m.held, m.blocks)
		}
		if m.flags&flagTombstone != 0 && m.blocks != 0 {
			return m, fmt.Errorf("%w: tombstone with %d blocks", errField, m.blocks)
		}
	case msgGetManifest:
		if err := exact(4); err != nil {
			return m, err
		}
		m.offset = u32(0)
		if m.offset >= mfz.MaxSignedManifestLen {
			return m, fmt.Errorf("%w: manifest offset %d", errField, m.offset)
		}
	case msgManifest:
		if err := need(9); err != nil {
			return m, err
		}
		m.offset, m.total = u32(0), u32(4)
		m.data = p[8:]
		if m.total < mfz.MinManifestLen+mfz.SignatureLen || m.total > mfz.MaxSignedManifestLen ||
			uint64(m.offset)+uint64(len(m.data)) > uint64(m.total) {
			return m, fmt.Errorf("%w: manifest bytes %d+%d of %d", errField, m.offset, len(m.data), m.total)
		}
	case msgBitfield:
		if err := need(3); err != nil {
			return m, err
		}
		m.block = u16(0)
		m.data = p[2:]
		if m.block%8 != 0 || int(m.block)+8*len(m.data) > mfz.MaxBlocks+7 {
			return m, fmt.Errorf("%w: bitfield at %d of %d bytes", errField, m.block, len(m.data))
		}
	case msgHave:
		if err := need(2); err != nil {
			return m, err
		}
		m.block = u16(0)
		if m.block > mfz.MaxBlocks || len(p)%2 != 0 {
			return m, fmt.Errorf("%w: HAVE below %d with %d bytes", errField, m.block, len(p))
		}
		m.data = p[2:]
		for i := 2; i < len(p); i += 2 {
			if u16(i) >= mfz.MaxBlocks {
				return m, fmt.Errorf("%w: block %d", errField, u16(i))
			}
		}
	case msgRequest:
		if err := exact(6); err != nil {
			return m, err
		}
		m.block, m.chunk, m.count = u16(0), u16(2), u16(4)
		if m.block >= mfz.MaxBlocks || m.count == 0 || int(m.chunk)+int(m.count) > maxChunks {
			return m, fmt.Errorf("%w: request block %d chunks %d+%d", errField, m.block, m.chunk, m.count)
		}
	case msgData:
		if err := need(5); err != nil {
			return m, err
		}
		m.block, m.chunk = u16(0), u16(2)
		m.data = p[4:]
		if m.block >= mfz.MaxBlocks || int(m.chunk) >= maxChunks {
			return m, fmt.Errorf("%w: data block %d chunk %d", errField, m.block, m.chunk)
		}
	case msgNotHave:
		if err := exact(2); err != nil {
			return m, err
		}
		m.block = u16(0)
		if m.block >= mfz.MaxBlocks && m.block != blockGone {
			return m, fmt.Errorf("%w: block %d", errField, m.block)
		}
	}
	return m, nil
}

// maxChunks is the most chunks a block of the largest size has.
const maxChunks = (mfz.MaxBlockSize + ChunkLen - 1) / ChunkLen

// haveBlocks returns the block numbers of a parsed HAVE.
func (m *msg) haveBlocks(yield func(int)) {
	for i := 0; i+1 < len(m.data); i += 2 {
		yield(int(binary.BigEndian.Uint16(m.data[i:])))
	}
}

// Builders. Each appends one whole sealed message to b[:0]. They name the
// fields the service sends and convert them; the bytes are written by
// AppendMessage alone (message.go), so the service and the programs that
// speak service 8 from outside (sim/hostile) share one encoder. Nothing
// here allocates when b has room for the message (the Message stays on
// the stack): DATA is built for every chunk sent.

func appendAnnounce(b []byte, h uint8, flags byte, version int64, blocks, held int, id fileID, name string) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgAnnounce, Handle: h, Flags: flags, Version: version,
		Blocks: uint16(blocks), Held: uint16(held), ID: id, Name: name})
}

func appendGetManifest(b []byte, h uint8, off int) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgGetManifest, Handle: h, Offset: uint32(off)})
}

func appendManifest(b []byte, h uint8, off, total int, data []byte) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgManifest, Handle: h, Offset: uint32(off), Total: uint32(total), Data: data})
}

func appendBitfield(b []byte, h uint8, first int, bits []byte) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgBitfield, Handle: h, Block: uint16(first), Data: bits})
}

// appendHave lists blocks, at most maxHaves of them (more make a message
// longer than a packet).
func appendHave(b []byte, h uint8, low int, blocks []int) []byte {
	var list [2 * maxHaves]byte
	data := list[:0]
	for _, x := range blocks {
		data = binary.BigEndian.AppendUint16(data, uint16(x))
	}
	return AppendMessage(b[:0], &Message{Type: MsgHave, Handle: h, Block: uint16(low), Data: data})
}

func appendRequest(b []byte, h uint8, block, first, count int) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgRequest, Handle: h, Block: uint16(block), Chunk: uint16(first),
		Count: uint16(count)})
}

func appendData(b []byte, h uint8, block, chunk int, data []byte) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgData, Handle: h, Block: uint16(block), Chunk: uint16(chunk), Data: data})
}

func appendNotHave(b []byte, h uint8, block int) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgNotHave, Handle: h, Block: uint16(block)})
}

func appendSync(b []byte, flags byte) []byte {
	return AppendMessage(b[:0], &Message{Type: MsgSync, Flags: flags})
}
