package p2p

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/t2tiles/itcd/itc/packet"
)

// TileID is a tile's stable 8-byte identity, kept in its state dir.
type TileID [8]byte

// String gives the identity as 16 hex digits.
func (id TileID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is unset.
func (id TileID) IsZero() bool { return id == TileID{} }

// MarshalText prints the identity as hex.
func (id TileID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText parses 16 hex digits.
func (id *TileID) UnmarshalText(b []byte) error {
	v, err := ParseTileID(string(b))
	if err == nil {
		*id = v
	}
	return err
}

// ParseTileID parses 16 hex digits.
func ParseTileID(s string) (TileID, error) {
	var id TileID
	s = strings.TrimSpace(s)
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("tile identity %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return TileID{}, fmt.Errorf("tile identity %q: %w", s, err)
	}
	return id, nil
}

// Event is one Tile Event: the tile at the far end of a link appeared
// (connect) or went away (disconnect). itcd emits one on every change of
// a neighbour's liveness, on the wire form
//
//	0xC4 EVENT DIR8 ID0..ID7
//
// where DIR8 is the link the event is about and ID the far tile's 8-byte
// identity (all zero on a disconnect whose tile was never identified). One
// channel carries events for all links, so the direction travels inside
// the packet.
type Event struct {
	Kind packet.Event // connect or disconnect
	Dir  packet.Dir   // the link it is about
	Tile TileID       // the far tile
}

func (e Event) String() string { return fmt.Sprintf("%v %v %v", e.Kind, e.Dir, e.Tile) }

// EventPacketLen is the length of a Tile Event Packet as itcd writes it.
const EventPacketLen = packet.TEPHeaderLen + len(TileID{})

// ErrNoIdentity means a TEP carries no 8-byte tile identity.
var ErrNoIdentity = errors.New("p2p: Tile Event Packet carries no 8-byte tile identity")

// AppendEvent appends e's wire form, 0xC4 EVENT DIR8 ID0..ID7, to dst.
func AppendEvent(dst []byte, e Event) ([]byte, error) {
	return packet.AppendTEP(dst, e.Kind, e.Dir, e.Tile[:])
}

// ParseEvent decodes a Tile Event Packet as itcd writes it. Bytes after the identity are
// ignored, so later versions may add arguments.
func ParseEvent(b []byte) (Event, error) {
	p, err := packet.Decode(b)
	if err != nil {
		return Event{}, err
	}
	if p.Kind != packet.KindLocal || p.Local != packet.LocalTEP {
		return Event{}, fmt.Errorf("p2p: not a Tile Event Packet (header 0x%02x)", b[0])
	}
	var e Event
	if len(p.Payload) < len(e.Tile) {
		return Event{}, ErrNoIdentity
	}
	e.Kind, e.Dir = p.Event, p.EventDir
	copy(e.Tile[:], p.Payload)
	return e, nil
}

// IdentityOf is the identity of the tile whose signing key is pub: the
// first 8 bytes of its SHA-256. A tile's identity comes from its key, so
// what it signs (its routing LSAs) cannot be signed by another tile in
// its name: that would take a second SHA-256 preimage of 64 bits.
func IdentityOf(pub ed25519.PublicKey) TileID {
	sum := sha256.Sum256(pub)
	var id TileID
	copy(id[:], sum[:])
	if id.IsZero() {
		id[7] = 1 // unreachable in practice; the zero identity means unset
	}
	return id
}
