package dist

import "encoding/binary"

// The service 8 messages for programs that speak them from outside the
// service: the hostile neighbour of the attack tests (sim/hostile) crafts
// any message, absurd fields and all, and reads what a tile answers.
// AppendMessage is the one encoder: the service's own append* builders
// (wire.go) are wrappers over it, so what the kit sends is what a tile
// sends. The service reads messages with parseMessage; a fuzz target keeps
// ParseMessage and AppendMessage inverse to each other.

// Message types, byte 0 of every service 8 payload.
const (
	MsgAnnounce    = msgAnnounce
	MsgGetManifest = msgGetManifest
	MsgManifest    = msgManifest
	MsgBitfield    = msgBitfield
	MsgHave        = msgHave
	MsgRequest     = msgRequest
	MsgData        = msgData
	MsgNotHave     = msgNotHave
	MsgSync        = msgSync
)

// Message is one service 8 message with its fields exported. Which fields
// mean something depends on Type, as in notes/protocol.md ("Service 8").
type Message struct {
	Type    byte
	Handle  uint8   // every type but SYNC
	Flags   byte    // ANNOUNCE, SYNC
	Version int64   // ANNOUNCE
	Blocks  uint16  // ANNOUNCE
	Held    uint16  // ANNOUNCE
	ID      [8]byte // ANNOUNCE: the file id
	Name    string  // ANNOUNCE
	Offset  uint32  // GET_MANIFEST, MANIFEST
	Total   uint32  // MANIFEST
	Block   uint16  // BITFIELD (first), HAVE (low), REQUEST, DATA, NOTHAVE
	Chunk   uint16  // REQUEST (first), DATA
	Count   uint16  // REQUEST
	// Data is what follows a message's fixed fields: MANIFEST bytes,
	// BITFIELD bits, HAVE's block list (2 bytes each), a DATA chunk; for
	// a type this version does not define, everything after the handle.
	Data []byte
}

// ParseMessage checks the CRC and reads one service 8 payload as a tile
// does, with every field checked against the format's limits. Data
// aliases b.
func ParseMessage(b []byte) (Message, error) {
	m, err := parseMessage(b)
	if err != nil {
		return Message{}, err
	}
	return Message{
		Type: m.typ, Handle: m.handle, Flags: m.flags, Version: m.version, Blocks: m.blocks, Held: m.held,
		ID: m.fid, Name: m.name, Offset: m.offset, Total: m.total, Block: m.block, Chunk: m.chunk,
		Count: m.count, Data: m.data,
	}, nil
}

// AppendMessage appends m, sealed with its CRC, to dst. It checks nothing:
// the fields are written as they are, so absurd messages (a name of 200
// bytes, a HAVE of an odd length, type 0) can be made; only ParseMessage
// says whether a tile would take it. The name's length byte is
// len(Name) mod 256.
func AppendMessage(dst []byte, m *Message) []byte {
	start := len(dst)
	be := binary.BigEndian
	if m.Type == MsgSync {
		dst = append(dst, m.Type, m.Flags)
		return be.AppendUint16(dst, crc16(dst[start:]))
	}
	dst = append(dst, m.Type, m.Handle)
	switch m.Type {
	case MsgAnnounce:
		dst = append(dst, m.Flags)
		dst = be.AppendUint64(dst, uint64(m.Version))
		dst = be.AppendUint16(dst, m.Blocks)
		dst = be.AppendUint16(dst, m.Held)
		dst = append(dst, m.ID[:]...)
		dst = append(dst, byte(len(m.Name)))
		dst = append(dst, m.Name...)
	case MsgGetManifest:
		dst = be.AppendUint32(dst, m.Offset)
	case MsgManifest:
		dst = be.AppendUint32(dst, m.Offset)
		dst = be.AppendUint32(dst, m.Total)
		dst = append(dst, m.Data...)
	case MsgBitfield, MsgHave:
		dst = be.AppendUint16(dst, m.Block)
		dst = append(dst, m.Data...)
	case MsgRequest:
		dst = be.AppendUint16(dst, m.Block)
		dst = be.AppendUint16(dst, m.Chunk)
		dst = be.AppendUint16(dst, m.Count)
	case MsgData:
		dst = be.AppendUint16(dst, m.Block)
		dst = be.AppendUint16(dst, m.Chunk)
		dst = append(dst, m.Data...)
	case MsgNotHave:
		dst = be.AppendUint16(dst, m.Block)
	default:
		dst = append(dst, m.Data...)
	}
	return be.AppendUint16(dst, crc16(dst[start:]))
}

// Seal appends the CRC of b to b: any bytes become a message that passes
// the CRC check.
func Seal(b []byte) []byte { return seal(b) }
