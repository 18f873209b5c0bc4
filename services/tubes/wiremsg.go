package tubes

// The wire for tools and tests that speak service 9 byte by byte (the
// hostile neighbour of sim/hostile): the same encoders and parser the
// service uses, with the message as an exported struct.

// Message types of service 9, for WireMessage.Type.
const (
	MsgOpen   = msgOpen
	MsgAccept = msgAccept
	MsgData   = msgData
	MsgAck    = msgAck
	MsgReset  = msgReset
	MsgCancel = msgCancel
	// FlagFin marks a DATA whose segment ends the stream.
	FlagFin = flagFin
	// ResetUnknown is the code of a RESET for a tube the sender does not hold.
	ResetUnknown = resetUnknown
)

// WireMessage is one service 9 message. Which fields mean something
// depends on Type, as for the service's own (notes/protocol.md).
type WireMessage struct {
	Type             byte
	ID               uint16 // the receiver's tube id; OPEN, CANCEL: the opener's
	From             uint16 // ACCEPT: the acceptor's id
	SrcPort, DstPort uint16 // OPEN
	Kind             byte   // OPEN
	Window           uint32 // OPEN, ACCEPT
	Seq              uint32 // DATA
	Flags            byte   // DATA
	Data             []byte // DATA (at most MaxSegment bytes)
	Ack, Read, Limit uint32 // ACK
	Sacks            [][2]uint32
	Code             byte   // RESET
	Reason           string // RESET
}

// AppendWire appends m, sealed with its CRC, as the service would send it.
func AppendWire(dst []byte, m *WireMessage) []byte {
	switch m.Type {
	case msgOpen:
		return appendOpen(dst, m.ID, m.SrcPort, m.DstPort, m.Kind, m.Window)
	case msgAccept:
		return appendAccept(dst, m.ID, m.From, m.Window)
	case msgData:
		return appendData(dst, m.ID, m.Seq, m.Flags, m.Data[:min(len(m.Data), MaxSegment)])
	case msgAck:
		sp := make([]span, len(m.Sacks))
		for i, s := range m.Sacks {
			sp[i] = span{s[0], s[1]}
		}
		return appendAck(dst, m.ID, m.Ack, m.Read, m.Limit, sp)
	case msgReset:
		return appendReset(dst, m.ID, m.Code, m.Reason)
	case msgCancel:
		return appendCancel(dst, m.ID)
	}
	// Any other type: its id and nothing more, sealed.
	return seal(append(dst, m.Type, byte(m.ID>>8), byte(m.ID)))
}

// ParseWire parses a service 9 payload as the service does; Data
// aliases b.
func ParseWire(b []byte) (WireMessage, error) {
	m, err := parseMsg(b)
	if err != nil {
		return WireMessage{}, err
	}
	w := WireMessage{Type: m.typ, ID: m.id, From: m.from, SrcPort: m.srcPort, DstPort: m.dstPort, Kind: m.kind,
		Window: m.window, Seq: m.seq, Flags: m.flags, Data: m.data, Ack: m.ack, Read: m.read, Limit: m.limit,
		Code: m.code, Reason: m.reason}
	for _, s := range m.sacks {
		w.Sacks = append(w.Sacks, [2]uint32{s.start, s.end})
	}
	return w, nil
}
