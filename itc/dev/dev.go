package dev

import (
	"errors"
	"fmt"
	"strings"

	"github.com/t2tiles/itcd/itc/packet"
)

// Device is one source and sink of whole packets for all of a tile's links.
// ReadPacket is called from one goroutine at a time; WritePacket, Status
// and StatusChanges may be called from any goroutine.
type Device interface {
	// ReadPacket blocks until a packet arrives, copies it into buf, which
	// should hold packet.MaxLen bytes, and returns its length. The DIR bits
	// of a routed packet name the link it arrived on. After Close it
	// returns ErrClosed.
	ReadPacket(buf []byte) (int, error)

	// WritePacket sends one whole packet; the DIR bits of a routed packet
	// name the link. It does not block. It fails with ErrWouldBlock when
	// that link's outbound queue is full, ErrLinkDown when the link is
	// down, or a *packet.Error when the packet is malformed.
	WritePacket(p []byte) error

	// Status returns the current state of every link.
	Status() Status

	// StatusChanges returns a channel that receives a value after the
	// status changes. It holds at most one pending value, so a slow reader
	// misses no change but sees several as one: call Status to learn them.
	StatusChanges() <-chan struct{}

	// Close stops the device; blocked ReadPacket calls return ErrClosed.
	Close() error
}

// Errors a Device returns. Callers decide on them with errors.Is.
var (
	ErrClosed     = errors.New("itc device closed")
	ErrWouldBlock = errors.New("link outbound queue full: retry later")
	ErrLinkDown   = errors.New("link is down")
)

// LinkState is the state of one link, as /sys/class/itc_pkt/status gives it.
type LinkState uint8

const (
	LinkDown LinkState = 0 // no sync with the far end
	LinkUp   LinkState = 1 // synchronised
	LinkMFM  LinkState = 2 // synchronised and MFM-compatible
)

func (s LinkState) String() string {
	switch s {
	case LinkDown:
		return "down"
	case LinkUp:
		return "up"
	case LinkMFM:
		return "mfm"
	}
	return fmt.Sprintf("LinkState(%d)", uint8(s))
}

// Status holds the state of each dir8 direction. NT and ST are always down.
type Status [8]LinkState

// Up reports whether link d is synchronised.
func (s Status) Up(d packet.Dir) bool { return d < 8 && s[d] != LinkDown }

// String gives the sysfs form: eight hex digits, dir8 0 rightmost.
func (s Status) String() string {
	var b [8]byte
	for d := 0; d < 8; d++ {
		b[7-d] = "0123456789abcdef"[s[d]&0xF]
	}
	return string(b[:])
}

// ParseStatus parses the sysfs form of /sys/class/itc_pkt/status: eight
// hex digits, one per dir8 with dir8 0 rightmost; 0 down, 1 up, 2 up and
// MFM-compatible. Surrounding white space is ignored.
func ParseStatus(text string) (Status, error) {
	var s Status
	t := strings.TrimSpace(text)
	if len(t) != 8 {
		return s, fmt.Errorf("link status %q: want 8 hex digits, one per dir8", t)
	}
	for i := 0; i < 8; i++ {
		c := t[7-i]
		switch c {
		case '0', '1', '2':
			s[i] = LinkState(c - '0')
		default:
			return Status{}, fmt.Errorf("link status %q: digit %q for %v: want 0, 1 or 2", t, c, packet.Dir(i))
		}
	}
	return s, nil
}

// notify does a non-blocking send on a capacity-1 channel: the pending value
// stands for every change since the reader last looked.
func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// RoomNotifier is implemented by devices that can say when a link that
// refused a write (ErrWouldBlock) has room again, so a writer waits for
// that instead of retrying on a timer. The kernel's devices cannot (they
// have no poll()).
type RoomNotifier interface {
	// Room returns a channel that receives a value after a link that
	// refused a write has room again. It holds at most one pending
	// value, which stands for every such link: retry them all.
	Room() <-chan struct{}
}

// MaxMFZID bounds a physics identity: the itc_pkt module takes at most
// 100 bytes written to /sys/class/itc_pkt/mfzid.
const MaxMFZID = 100

// PhysicsIdentity is implemented by devices that carry MFM packets only
// between tiles of the same physics identity, as the itc_pkt module does
// with its mfzid handshake (status LinkMFM while both ends agree).
type PhysicsIdentity interface {
	// SetMFZID makes id, at most MaxMFZID bytes, this tile's physics
	// identity: every link handshakes again, and MFM packets flow on a
	// link only while both ends have the same identity. MFM packets in
	// flight when it changes may be lost.
	SetMFZID(id []byte) error
}
