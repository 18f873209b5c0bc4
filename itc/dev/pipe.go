package dev

import (
	"fmt"
	"sync"

	"github.com/t2tiles/itcd/itc/packet"
)

// Pipe returns two Devices joined in memory by one link: what a writes on
// link d, b reads as arriving on d.Opposite(), and back. The link is up
// from the start. Each direction buffers up to queue packets; a write to a
// full queue fails with ErrWouldBlock, as a full kernel queue does. Pipes
// serve tests and benchmarks of the layers above the device.
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
	if d != p.link || !p.Status().Up(d) {
		return fmt.Errorf("pipe write to %v: %w", d, ErrLinkDown)
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
	up := !p.closed && !p.cut
	p.mu.Unlock()
	if up && !p.peer.isClosed() {
		s[p.link] = LinkMFM
	}
	return s
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

func (p *PipeDevice) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
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
