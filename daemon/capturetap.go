package daemon

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// The capture tap: a copy of every packet the daemon reads from and
// writes to its device, and of every TEP it gives its clients, for the
// captures that run (`itcd capture`, capturesock.go).
//
// Without a capture the tap is one atomic load per packet and nothing
// else. With one, each packet a capture wants is copied into a fixed-size
// record and offered to the capture's bounded queue; a queue that is full
// loses the packet and counts it, so a capture, however slow, never makes
// the read loop or the writer wait. A record holds its bytes in an array,
// not a slice: offering one allocates nothing.

// ErrTooManyCaptures refuses a capture when MaxCaptures already run.
var ErrTooManyCaptures = errors.New("capture: too many captures running")

// captureTap is the daemon's set of captures. The set is copied on every
// change (rare) and swapped in whole, so the packet paths read it with
// one atomic load and no lock.
type captureTap struct {
	mu   sync.Mutex                    // serialises changes of subs
	subs atomic.Pointer[[]*captureSub] // nil when no capture runs
	clk  *clock.Clock                  // stamps the records: the links' time (Options.Clock)
}

// captureRec is one packet offered to a capture.
type captureRec struct {
	unixNano int64
	travel   control.Travel
	link     uint8
	n        uint8
	b        [packet.MaxLen]byte
}

func (r *captureRec) data() []byte { return r.b[:r.n] }

// Kind bits of captureSub.kinds.
const (
	capMFM = 1 << iota
	capService
	capLocal
)

// captureSub is one running capture: its filter and its queue.
type captureSub struct {
	links uint8 // bit d: packets of link d; 0: every packet, linked or not
	kinds uint8 // capMFM | capService | capLocal; 0: every kind
	c     chan captureRec
	lost  atomic.Uint64
}

// newCaptureSub checks a capture's arguments and makes its queue.
func newCaptureSub(a control.CaptureArgs, queue int) (*captureSub, error) {
	s := &captureSub{c: make(chan captureRec, queue)}
	for _, d := range a.Links {
		if !d.IsLink() {
			return nil, fmt.Errorf("capture: %v is not a link: want NE ET SE SW WT NW", d)
		}
		s.links |= 1 << d
	}
	for _, k := range a.Kinds {
		i := slices.Index(control.CaptureKinds, k)
		if i < 0 {
			return nil, fmt.Errorf("capture: unknown kind %q: want one of %v", k, control.CaptureKinds)
		}
		s.kinds |= 1 << i
	}
	return s, nil
}

// wants reports whether the capture takes a packet of link and kind.
func (s *captureSub) wants(link, kind uint8) bool {
	if s.kinds != 0 && s.kinds&kind == 0 {
		return false
	}
	return s.links == 0 || link < 8 && s.links&(1<<link) != 0
}

// add starts capture s; at most max run at once.
func (t *captureTap) add(s *captureSub, max int) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur []*captureSub
	if p := t.subs.Load(); p != nil {
		cur = *p
	}
	if len(cur) >= max {
		return fmt.Errorf("%w: %d run, the most a daemon runs at once; stop one and try again", ErrTooManyCaptures, len(cur))
	}
	next := append(slices.Clone(cur), s)
	t.subs.Store(&next)
	return nil
}

// remove stops capture s: no packet is offered to it after remove returns.
func (t *captureTap) remove(s *captureSub) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.subs.Load()
	if p == nil {
		return
	}
	next := slices.DeleteFunc(slices.Clone(*p), func(x *captureSub) bool { return x == s })
	if len(next) == 0 {
		t.subs.Store(nil)
		return
	}
	t.subs.Store(&next)
}

// tap offers one packet to the captures that want it. It is called on
// every packet: with no capture it returns after one atomic load.
func (t *captureTap) tap(travel control.Travel, b []byte) {
	if p := t.subs.Load(); p != nil {
		offer(*p, travel, b, t.clk)
	}
}

// offer copies b into a record for each capture that wants it, or counts
// it lost for a capture whose queue is full.
func offer(subs []*captureSub, travel control.Travel, b []byte, clk *clock.Clock) {
	link, kind := captureLink(b), captureKind(b)
	var rec captureRec
	made := false
	for _, s := range subs {
		if !s.wants(link, kind) {
			continue
		}
		if !made {
			rec.unixNano = clk.Now().UnixNano()
			rec.travel, rec.link = travel, link
			rec.n = uint8(copy(rec.b[:], b))
			made = true
		}
		select {
		case s.c <- rec:
		default:
			s.lost.Add(1)
		}
	}
}

// captureLink is the link a packet belongs to: DIR of a routed packet,
// DIR8 of a TEP, control.NoLink for the rest.
func captureLink(b []byte) uint8 {
	if d, ok := packet.RoutedDir(b); ok {
		return uint8(d)
	}
	if len(b) >= packet.TEPHeaderLen && b[0] == packet.BitSTND|packet.BitLOCL|byte(packet.LocalTEP) && b[2] < 8 {
		return b[2]
	}
	return control.NoLink
}

// captureKind classes a packet by byte 0 alone, as --kind asks: routed
// MFM, routed service, or anything else (local, non-standard, invalid).
func captureKind(b []byte) uint8 {
	if len(b) == 0 || b[0]&(packet.BitSTND|packet.BitLOCL) != packet.BitSTND {
		return capLocal
	}
	if b[0]&packet.BitMFMT != 0 {
		return capMFM
	}
	return capService
}

// tapEvent offers a TEP the daemon gives its clients to the captures.
func (t *captureTap) tapEvent(e p2p.Event) {
	if t.subs.Load() == nil {
		return
	}
	var buf [p2p.EventPacketLen]byte
	if b, err := p2p.AppendEvent(buf[:0], e); err == nil {
		t.tap(control.TravelEvent, b)
	}
}
