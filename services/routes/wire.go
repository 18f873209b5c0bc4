package routes

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/t2tiles/itcd/internal/crc32c"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The service 10 payload, byte by byte in notes/protocol.md ("Service 10").
// Byte 0 is the message type; every message ends with a CRC-32C of all the
// bytes before it, so a damaged packet is a lost one. Integers are
// big-endian.
const (
	msgLSA = 'L'
	msgAck = 'A'

	crcLen = crc32c.Len
	// MaxLinks is the most links an LSA lists: a tile has six.
	MaxLinks = 6 // len(packet.Links): originate lists one link per entry of it
	// maxAcks is the most (origin, seq) pairs one ACK carries.
	maxAcks = 16

	lsaHeader = 1 + 8 + 4 + 1
	linkLen   = 1 + 8
	sigLen    = ed25519.PublicKeySize + ed25519.SignatureSize
	ackEntry  = 8 + 4
	maxLSALen = lsaHeader + MaxLinks*linkLen + sigLen + crcLen
	maxAckLen = 2 + maxAcks*ackEntry + crcLen
)

// Parse errors. A neighbour's bad message is dropped and counted.
var (
	ErrShort = errors.New("message shorter than its type needs")
	ErrCRC   = errors.New("CRC mismatch")
	ErrType  = errors.New("unknown message type")
	ErrField = errors.New("field out of range")
)

// Link is one entry of an LSA: the neighbour on a link of the origin.
type Link struct {
	Dir  packet.Dir
	Tile p2p.TileID
}

// LSA is a tile's description of itself: who it is, which version of the
// description this is, and its live neighbours. It is a value: storing it
// copies it.
type LSA struct {
	Origin p2p.TileID
	Seq    uint32 // newer in serial arithmetic (see newer); a tile's first is 1
	N      uint8  // links used in Links
	Links  [MaxLinks]Link
	// Pub is the origin's public key, whose SHA-256 begins with Origin
	// (p2p.IdentityOf); Sig its Ed25519 signature of everything before
	// Sig. Only the origin can make an LSA of itself.
	Pub [ed25519.PublicKeySize]byte
	Sig [ed25519.SignatureSize]byte
}

// ErrSignature means an LSA is not signed by the tile it names.
var ErrSignature = errors.New("LSA not signed by its origin")

// signed appends the bytes the signature covers.
func (l *LSA) signed(b []byte) []byte {
	b = append(b, msgLSA)
	b = append(b, l.Origin[:]...)
	b = binary.BigEndian.AppendUint32(b, l.Seq)
	b = append(b, l.N)
	for _, k := range l.Neighbours() {
		b = append(b, byte(k.Dir))
		b = append(b, k.Tile[:]...)
	}
	return append(b, l.Pub[:]...)
}

// Sign makes l an LSA of the tile whose key is key: its Origin, Pub and
// Sig.
func (l *LSA) Sign(key ed25519.PrivateKey) {
	pub := key.Public().(ed25519.PublicKey)
	l.Origin = p2p.IdentityOf(pub)
	copy(l.Pub[:], pub)
	copy(l.Sig[:], ed25519.Sign(key, l.signed(make([]byte, 0, maxLSALen))))
}

// Verify checks that l's key gives its origin and that the key signed it.
func (l *LSA) Verify() error {
	pub := ed25519.PublicKey(l.Pub[:])
	if p2p.IdentityOf(pub) != l.Origin {
		return fmt.Errorf("%w: its key is not %v's", ErrSignature, l.Origin)
	}
	if !ed25519.Verify(pub, l.signed(make([]byte, 0, maxLSALen)), l.Sig[:]) {
		return fmt.Errorf("%w: the signature does not match", ErrSignature)
	}
	return nil
}

// Neighbours returns the links in use.
func (l *LSA) Neighbours() []Link { return l.Links[:l.N] }

// Ack acknowledges one LSA: the neighbour now holds Origin's LSA Seq (or
// newer).
type Ack struct {
	Origin p2p.TileID
	Seq    uint32
}

// AppendLSA appends l's wire form:
//
//	'L' ORIGIN[8] SEQ[4] N (DIR TILE[8])*N PUB[32] SIG[64] CRC[4]
func AppendLSA(b []byte, l *LSA) []byte {
	start := len(b)
	b = l.signed(b)
	b = append(b, l.Sig[:]...)
	return crc32c.Seal(b, start)
}

// AppendAck appends the wire form of up to maxAcks acknowledgements:
//
//	'A' N (ORIGIN[8] SEQ[4])*N CRC[4]
func AppendAck(b []byte, acks []Ack) []byte {
	if len(acks) > maxAcks {
		acks = acks[:maxAcks]
	}
	start := len(b)
	b = append(b, msgAck, byte(len(acks)))
	for _, a := range acks {
		b = append(b, a.Origin[:]...)
		b = binary.BigEndian.AppendUint32(b, a.Seq)
	}
	return crc32c.Seal(b, start)
}

// Message is one parsed service 10 message: an LSA or up to 16 ACKs.
type Message struct {
	Type byte // msgLSA or msgAck
	LSA  LSA
	N    int // ACKs used in Acks
	Acks [maxAcks]Ack
}

// ParseMessage parses one service 10 payload, checking its CRC and every
// field: link directions are the six links, each at most once; no tile is
// the all-zero identity; an ACK carries 1..16 entries.
func ParseMessage(p []byte) (Message, error) {
	var m Message
	if len(p) < 1+crcLen {
		return m, ErrShort
	}
	body, ok := crc32c.Open(p)
	if !ok {
		return m, ErrCRC
	}
	m.Type = body[0]
	switch m.Type {
	case msgLSA:
		return m, parseLSA(body, &m.LSA)
	case msgAck:
		if len(body) < 2 {
			return m, ErrShort
		}
		n := int(body[1])
		if n < 1 || n > maxAcks {
			return m, fmt.Errorf("%w: %d acks, want 1..%d", ErrField, n, maxAcks)
		}
		if len(body) != 2+n*ackEntry {
			return m, fmt.Errorf("%w: ack of %d entries is %d bytes", ErrShort, n, len(body))
		}
		m.N = n
		for i := range n {
			e := body[2+i*ackEntry:]
			copy(m.Acks[i].Origin[:], e[:8])
			m.Acks[i].Seq = binary.BigEndian.Uint32(e[8:12])
		}
		return m, nil
	}
	return m, fmt.Errorf("%w: %#x", ErrType, m.Type)
}

func parseLSA(body []byte, l *LSA) error {
	if len(body) < lsaHeader {
		return ErrShort
	}
	copy(l.Origin[:], body[1:9])
	l.Seq = binary.BigEndian.Uint32(body[9:13])
	n := int(body[13])
	if l.Origin.IsZero() {
		return fmt.Errorf("%w: origin is the zero identity", ErrField)
	}
	if n > MaxLinks {
		return fmt.Errorf("%w: %d links, want at most %d", ErrField, n, MaxLinks)
	}
	if len(body) != lsaHeader+n*linkLen+sigLen {
		return fmt.Errorf("%w: LSA of %d links is %d bytes", ErrShort, n, len(body))
	}
	var seen uint8
	for i := range n {
		e := body[lsaHeader+i*linkLen:]
		d := packet.Dir(e[0])
		if !d.IsLink() || seen&(1<<d) != 0 {
			return fmt.Errorf("%w: link direction %d", ErrField, e[0])
		}
		seen |= 1 << d
		l.Links[i].Dir = d
		copy(l.Links[i].Tile[:], e[1:9])
		if l.Links[i].Tile.IsZero() {
			return fmt.Errorf("%w: neighbour on %v is the zero identity", ErrField, d)
		}
	}
	l.N = uint8(n)
	k := body[lsaHeader+n*linkLen:]
	copy(l.Pub[:], k)
	copy(l.Sig[:], k[ed25519.PublicKeySize:])
	return nil
}
