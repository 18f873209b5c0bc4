package dev

import (
	"fmt"
	"sync"

	"github.com/t2tiles/itcd/itc/packet"
)

// Pipe returns two Devices joined in memory by one link: what a writes on
// link d, b reads as arriving on d.Opposite(), and back. The link is up
// from the start. Each direction buffers up to queue packets; a write to a
// full queue fails with ErrWouldBlock, as a full kernel queue does. Each
// end has a physics identity (PhysicsIdentity), empty from the start: the
// link reads LinkMFM while both ends' are equal and LinkUp otherwise, and
// MFM packets written while they differ are dropped, as the itc_pkt
// module's handshake does (without its 2->1 quirk). Pipes serve tests and
// benchmarks of the layers above the device.
func Pipe(d packet.Dir, queue int) (a, b *PipeDevice) {
	if !d.IsLink() {
		panic(fmt.Sprintf("dev.Pipe: %v is not a link", d))
	}
	ab := make(chan pipeMsg, queue)
	ba := make(chan pipeMsg, queue)
	a = newPipeDevice(d, ba, ab)
	b = newPipeDevice(d.Opposite(), ab, ba)
	a.peer, b.peer = b, a
	return a, b
}

type pipeMsg struct {
	n   uint8
	buf [packet.MaxLen]byte
}

// PipeDevice is one end of a Pipe.
type PipeDevice struct {
	link    packet.Dir
	in      <-chan pipeMsg
	out     chan<- pipeMsg
	peer    *PipeDevice
	changes chan struct{}
	done    chan struct{}

	mu     sync.Mutex
	closed bool
	cut    bool
	mfzid  string
}

func newPipeDevice(link packet.Dir, in <-chan pipeMsg, out chan<- pipeMsg) *PipeDevice {
	return &PipeDevice{link: link, in: in, out: out, changes: make(chan struct{}, 1), done: make(chan struct{})}
}

// ReadPacket implements Device.
func (p *PipeDevice) ReadPacket(buf []byte) (int, error) {
	select {
	case m := <-p.in:
		return copy(buf, m.buf[:m.n]), nil
	case <-p.done:
		return 0, ErrClosed
	}
}

// WritePacket implements Device.
func (p *PipeDevice) WritePacket(b []byte) error {
	pk, err := packet.Decode(b)
	if err != nil {
		return fmt.Errorf("pipe write: %w", err)
	}
	if pk.Kind != packet.KindService && pk.Kind != packet.KindMFM {
		return fmt.Errorf("pipe write: only routed packets travel on links (header 0x%02x)", b[0])
	}
	d := pk.Dir
	st := p.Status()
	if d != p.link || !st.Up(d) {
		return fmt.Errorf("pipe write to %v: %w", d, ErrLinkDown)
	}
	if pk.Kind == packet.KindMFM && st[d] != LinkMFM {
		return nil // the far end's handshake drops it
	}
	var m pipeMsg
	m.n = uint8(copy(m.buf[:], b))
	packet.SetArrival(m.buf[:m.n], p.link.Opposite())
	select {
	case p.out <- m:
		return nil
	default:
		return ErrWouldBlock
	}
}

// Status implements Device: the pipe's link is up until either end closes
// or the pipe is cut.
func (p *PipeDevice) Status() Status {
	var s Status
	p.mu.Lock()
	up, id := !p.closed && !p.cut, p.mfzid
	p.mu.Unlock()
	p.peer.mu.Lock()
	up = up && !p.peer.closed
	same := id == p.peer.mfzid
	p.peer.mu.Unlock()
	switch {
	case up && same:
		s[p.link] = LinkMFM
	case up:
		s[p.link] = LinkUp
	}
	return s
}

// SetMFZID implements PhysicsIdentity: both ends see their status change.
func (p *PipeDevice) SetMFZID(id []byte) error {
	if len(id) > MaxMFZID {
		return fmt.Errorf("pipe: physics identity of %d bytes: at most %d", len(id), MaxMFZID)
	}
	p.mu.Lock()
	p.mfzid = string(id)
	p.mu.Unlock()
	notify(p.changes)
	notify(p.peer.changes)
	return nil
}

// StatusChanges implements Device.
func (p *PipeDevice) StatusChanges() <-chan struct{} { return p.changes }

// SetCut takes the link down (true) or back up (false) at both ends.
func (p *PipeDevice) SetCut(cut bool) {
	for _, e := range []*PipeDevice{p, p.peer} {
		e.mu.Lock()
		e.cut = cut
		e.mu.Unlock()
		notify(e.changes)
	}
}

// Close implements Device. The far end sees its link go down.
func (p *PipeDevice) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	notify(p.changes)
	notify(p.peer.changes)
	return nil
}
