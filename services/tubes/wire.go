package tubes

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/t2tiles/itcd/internal/crc32c"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The service 9 payload, byte by byte in notes/protocol.md ("Service 9").
// Byte 0 is the message type, bytes 1..2 the receiver's tube id (OPEN: the
// sender's). Every message ends with a CRC-32C of all the bytes before it:
// a damaged packet must be a lost one, never data delivered. Integers are
// big-endian.
const (
	msgOpen   = 1
	msgAccept = 2
	msgData   = 3
	msgAck    = 4
	msgReset  = 5
	msgCancel = 6 // the opener gave up on an OPEN: id is the opener's

	crcLen = crc32c.Len
	maxMsg = packet.MaxServicePayload

	dataHeader = 1 + 2 + 4 + 1
	// MaxSegment is the stream bytes one DATA message carries.
	MaxSegment = maxMsg - dataHeader - crcLen
	// maxSacks is the most ranges one ACK reports beyond its cumulative
	// acknowledgement.
	maxSacks = 4
	// maxReason is the longest reason text a RESET carries.
	maxReason = 64

	flagFin = 1 // DATA: the stream ends after this segment's bytes
)

// Kinds of tube.
const (
	KindStream  = 1
	KindMessage = 2
)

// Reset codes: why a tube ended.
const (
	resetRefused  = 1 // nobody accepts on that port, or the kinds differ
	resetAborted  = 2 // the far program aborted
	resetTooMany  = 3 // the far tile holds as many tubes for us as it allows
	resetUnknown  = 4 // the far itcd does not know the tube (restarted?); its id is the far itcd's own: see byPeerID
	resetClosed   = 5 // the far program closed the tube and reads no more
	resetTimedOut = 6 // the far itcd gave up: nothing acknowledged for too long
	resetProtocol = 7 // a message the far itcd could not accept
)

var (
	errShort = errors.New("message too short for its type")
	errCRC   = errors.New("CRC mismatch")
	errType  = errors.New("unknown message type")
)

// msg is one service 9 message, parsed. Which fields mean something
// depends on typ.
type msg struct {
	typ     byte
	id      uint16 // the receiver's tube id; OPEN: the opener's
	from    uint16 // ACCEPT: the acceptor's id
	srcPort uint16 // OPEN
	dstPort uint16 // OPEN
	kind    byte   // OPEN
	window  uint32 // OPEN, ACCEPT: the receive window offered
	seq     uint32 // DATA
	flags   byte   // DATA
	data    []byte // DATA: aliases the parsed payload
	ack     uint32 // ACK: next byte expected
	read    uint32 // ACK: bytes the far application consumed, as a sequence number
	limit   uint32 // ACK: the sender may send bytes before this
	sacks   []span // ACK: ranges held beyond ack
	code    byte   // RESET
	reason  string // RESET
}

// span is a range [start, end) of sequence numbers.
type span struct{ start, end uint32 }

func seal(b []byte) []byte { return crc32c.Seal(b, 0) }

func appendOpen(dst []byte, id, src, dstPort uint16, kind byte, window uint32) []byte {
	dst = append(dst, msgOpen)
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = binary.BigEndian.AppendUint16(dst, src)
	dst = binary.BigEndian.AppendUint16(dst, dstPort)
	dst = append(dst, kind)
	return seal(binary.BigEndian.AppendUint32(dst, window))
}

func appendAccept(dst []byte, id, from uint16, window uint32) []byte {
	dst = append(dst, msgAccept)
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = binary.BigEndian.AppendUint16(dst, from)
	return seal(binary.BigEndian.AppendUint32(dst, window))
}

// appendData appends a DATA message; data is at most MaxSegment bytes.
func appendData(dst []byte, id uint16, seq uint32, flags byte, data []byte) []byte {
	dst = append(dst, msgData)
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, seq)
	dst = append(dst, flags)
	return seal(append(dst, data...))
}

// appendAck appends an ACK; only the first maxSacks spans are sent.
func appendAck(dst []byte, id uint16, ack, read, limit uint32, sacks []span) []byte {
	dst = append(dst, msgAck)
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = binary.BigEndian.AppendUint32(dst, ack)
	dst = binary.BigEndian.AppendUint32(dst, read)
	dst = binary.BigEndian.AppendUint32(dst, limit)
	sacks = sacks[:min(len(sacks), maxSacks)]
	dst = append(dst, byte(len(sacks)))
	for _, s := range sacks {
		dst = binary.BigEndian.AppendUint32(dst, s.start)
		dst = binary.BigEndian.AppendUint32(dst, s.end)
	}
	return seal(dst)
}

// appendReset appends a RESET; the reason is cut to maxReason bytes.
func appendReset(dst []byte, id uint16, code byte, reason string) []byte {
	dst = append(dst, msgReset)
	dst = binary.BigEndian.AppendUint16(dst, id)
	dst = append(dst, code)
	return seal(append(dst, reason[:min(len(reason), maxReason)]...))
}

// appendCancel appends a CANCEL of the OPEN with the opener's id.
func appendCancel(dst []byte, id uint16) []byte {
	dst = append(dst, msgCancel)
	return seal(binary.BigEndian.AppendUint16(dst, id))
}

// parseMsg checks the CRC and parses a payload from a neighbour. It trusts
// nothing: every length is checked before use. Bytes past the end of a
// fixed-size message are ignored, so later versions can append fields.
func parseMsg(b []byte) (msg, error) {
	if len(b) < 3+crcLen {
		return msg{}, errShort
	}
	body, ok := crc32c.Open(b)
	if !ok {
		return msg{}, errCRC
	}
	return parseBody(body)
}

// parseRoutedMsg checks and parses the tube message a ROUTED message
// carries to this tile, dst, from src (routed.go).
func parseRoutedMsg(b []byte, dst, src p2p.TileID) (msg, error) {
	if len(b) < 3+crcLen {
		return msg{}, errShort
	}
	body := b[:len(b)-crcLen]
	if binary.BigEndian.Uint32(b[len(body):]) != routedCRC(dst, src, body) {
		return msg{}, errCRC
	}
	if body[0] == msgRouted {
		return msg{}, fmt.Errorf("%w: a ROUTED message inside another", errType)
	}
	return parseBody(body)
}

// parseBody parses a message without its CRC.
func parseBody(body []byte) (msg, error) {
	var m msg
	be := binary.BigEndian
	m.typ, m.id = body[0], be.Uint16(body[1:3])
	p := body[3:]
	need := func(n int) error {
		if len(p) < n {
			return fmt.Errorf("type %d: %w (%d bytes, want %d)", m.typ, errShort, len(body), 3+n)
		}
		return nil
	}
	switch m.typ {
	case msgOpen:
		if err := need(9); err != nil {
			return m, err
		}
		m.srcPort, m.dstPort, m.kind, m.window = be.Uint16(p), be.Uint16(p[2:]), p[4], be.Uint32(p[5:])
	case msgAccept:
		if err := need(6); err != nil {
			return m, err
		}
		m.from, m.window = be.Uint16(p), be.Uint32(p[2:])
	case msgData:
		if err := need(5); err != nil {
			return m, err
		}
		m.seq, m.flags, m.data = be.Uint32(p), p[4], p[5:]
	case msgAck:
		if err := need(13); err != nil {
			return m, err
		}
		m.ack, m.read, m.limit = be.Uint32(p), be.Uint32(p[4:]), be.Uint32(p[8:])
		n := int(p[12])
		if n > maxSacks {
			return m, fmt.Errorf("ACK with %d ranges: at most %d", n, maxSacks)
		}
		if err := need(13 + 8*n); err != nil {
			return m, err
		}
		m.sacks = make([]span, n)
		for i := range m.sacks {
			q := p[13+8*i:]
			m.sacks[i] = span{be.Uint32(q), be.Uint32(q[4:])}
		}
	case msgReset:
		if err := need(1); err != nil {
			return m, err
		}
		m.code = p[0]
		m.reason = printable(p[1:min(len(p), 1+maxReason)])
	case msgCancel:
	default:
		return m, fmt.Errorf("%w %d", errType, m.typ)
	}
	return m, nil
}

// printable keeps a reason from a neighbour safe to log and show: ASCII
// letters, digits, punctuation and spaces; anything else becomes '?'.
func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}
