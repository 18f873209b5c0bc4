package dist

// The service 8 messages for programs that speak them from outside the
// service: the hostile neighbour of the attack tests (sim/hostile) crafts
// any message, absurd fields and all, and reads what a tile answers.
// Message is the kit's flat form of every kind (wiremsg.go): AppendMessage
// writes a known type with its kind's append, the code the service sends
// with, and ParseMessage is the service's parser, so what the kit sends is
// what a tile sends. Fuzz targets keep ParseMessage and AppendMessage
// inverse to each other (FuzzMessageRoundTrip), and each kind's parse and
// append (FuzzWireRoundTrip).

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
	MsgRequests    = msgRequests
	MsgShortData   = msgShortData
)

// Message is one service 8 message with its fields exported. Which fields
// mean something depends on Type, as in notes/protocol.md ("Service 8").
type Message struct {
	Type    byte
	Handle  uint8   // every type but SYNC and REQUESTS
	Seq     uint16  // REQUESTS: the number of its first (newest) entry
	Flags   byte    // ANNOUNCE, SYNC
	Version int64   // ANNOUNCE
	Blocks  uint16  // ANNOUNCE
	Held    uint16  // ANNOUNCE
	ID      [8]byte // ANNOUNCE: the file id
	Name    string  // ANNOUNCE
	Offset  uint32  // GET_MANIFEST, MANIFEST
	Total   uint32  // MANIFEST
	Block   uint16  // BITFIELD (first), HAVE (low), REQUEST, DATA, SHORT DATA (its low 12 bits are written), NOTHAVE
	Chunk   uint16  // REQUEST (first), DATA, SHORT DATA (its low 4 bits are written)
	Count   uint16  // REQUEST; GET_MANIFEST (segments; 0: to the end, the short form)
	// Data is what follows a message's fixed fields: MANIFEST bytes,
	// BITFIELD bits, HAVE's block list (2 bytes each), a DATA or SHORT DATA chunk,
	// REQUESTS' entries (7 bytes each: handle, block, chunk, count); for
	// a type this version does not define, everything after the handle.
	Data []byte
}

// ParseMessage checks the CRC and reads one service 8 payload as a tile
// does (parseMessage), with every field checked against the format's
// limits. Data aliases b.
func ParseMessage(b []byte) (Message, error) {
	m, err := parseMessage(b)
	if err != nil {
		return Message{}, err
	}
	return m.export(), nil
}

// AppendMessage appends m, sealed with its CRC, to dst. It checks nothing:
// the fields are written as they are, so absurd messages (a name of 200
// bytes, a HAVE of an odd length, type 0) can be made; only ParseMessage
// says whether a tile would take it. The name's length byte is
// len(Name) mod 256. A known type is written by its kind's append, the
// same code the service sends with; any other type is the type, the
// handle and Data.
func AppendMessage(dst []byte, m *Message) []byte {
	switch m.Type {
	case MsgAnnounce:
		k := announceMsg{handle: m.Handle, flags: m.Flags, version: m.Version, blocks: m.Blocks, held: m.Held, fid: m.ID, name: m.Name}
		return k.append(dst)
	case MsgGetManifest:
		k := getManifestMsg{handle: m.Handle, offset: m.Offset, count: m.Count}
		return k.append(dst)
	case MsgManifest:
		k := manifestMsg{handle: m.Handle, offset: m.Offset, total: m.Total, data: m.Data}
		return k.append(dst)
	case MsgBitfield:
		k := bitfieldMsg{handle: m.Handle, first: m.Block, bits: m.Data}
		return k.append(dst)
	case MsgHave:
		k := haveMsg{handle: m.Handle, low: m.Block, list: m.Data}
		return k.append(dst)
	case MsgRequest:
		k := requestMsg{handle: m.Handle, block: m.Block, chunk: m.Chunk, count: m.Count}
		return k.append(dst)
	case MsgData, MsgShortData:
		k := dataMsg{handle: m.Handle, block: m.Block, chunk: m.Chunk, data: m.Data, short: m.Type == MsgShortData}
		return k.append(dst)
	case MsgNotHave:
		k := notHaveMsg{handle: m.Handle, block: m.Block}
		return k.append(dst)
	case MsgSync:
		k := syncMsg{flags: m.Flags}
		return k.append(dst)
	case MsgRequests:
		k := requestsMsg{seq: m.Seq, list: m.Data}
		return k.append(dst)
	}
	start := len(dst)
	dst = append(dst, m.Type, m.Handle)
	dst = append(dst, m.Data...)
	return sealFrom(dst, start)
}

// export is the kit's form of a parsed message.
func (m *msg) export() Message {
	x := Message{Type: m.typ}
	switch m.typ {
	case MsgAnnounce:
		k := &m.announce
		x.Handle, x.Flags, x.Version, x.Blocks, x.Held, x.ID, x.Name = k.handle, k.flags, k.version, k.blocks, k.held, k.fid, k.name
	case MsgGetManifest:
		x.Handle, x.Offset, x.Count = m.getManifest.handle, m.getManifest.offset, m.getManifest.count
	case MsgManifest:
		k := &m.manifest
		x.Handle, x.Offset, x.Total, x.Data = k.handle, k.offset, k.total, k.data
	case MsgBitfield:
		x.Handle, x.Block, x.Data = m.bitfield.handle, m.bitfield.first, m.bitfield.bits
	case MsgHave:
		x.Handle, x.Block, x.Data = m.have.handle, m.have.low, m.have.list
	case MsgRequest:
		k := &m.request
		x.Handle, x.Block, x.Chunk, x.Count = k.handle, k.block, k.chunk, k.count
	case MsgData, MsgShortData:
		k := &m.data
		x.Handle, x.Block, x.Chunk, x.Data = k.handle, k.block, k.chunk, k.data
	case MsgNotHave:
		x.Handle, x.Block = m.notHave.handle, m.notHave.block
	case MsgSync:
		x.Flags = m.sync.flags
	case MsgRequests:
		x.Seq, x.Data = m.requests.seq, m.requests.list
	}
	return x
}

// Seal appends the CRC of b to b: any bytes become a message that passes
// the CRC check.
func Seal(b []byte) []byte { return seal(b) }
