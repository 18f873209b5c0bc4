package dev

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// The in-process shortcut. A simulator runs hundreds of tiles in one
// process, each with a UDP device, and two system calls a packet
// (sendto, recvfrom) were 38% of a 100-tile grid's CPU during a push: the
// 400-tile grid, CPU-bound, spread a file at 4 x its bound. Devices that
// set UDPConfig.InProcess hand their frames to a neighbour's device in
// the same process directly. The frame is exactly the datagram, and it
// is received exactly as one (receive), so framing, sequence numbers,
// impairments and queues all work as over sockets. What a socket adds is
// modelled: a bounded receive queue (shortFrames frames, as the 1 MiB
// socket buffer holds about a thousand), dropped when full and counted
// (UDPStats.ShortcutDropped). A device whose neighbour is another
// process, or did not set InProcess, or is bound to no one address,
// sends over its socket as before; while both ends run, all frames of
// a link go one way, so it does not reorder. Frames sent to the socket
// of a tile that was down, read after it restarted, may be overtaken by
// frames through the shortcut: dropped as late (the link's Reordered), as
// frames to a tile that was down are lost anyway.

// shortFrames bounds the frames waiting for one device's shortcut
// reader.
const shortFrames = 1024

// errShortFull: the frame went to the shortcut of a neighbour whose queue
// was full, and was dropped there (counted on the link: BufferDropped).
var errShortFull = errors.New("in-process neighbour's receive queue full")

// shortcuts holds the receiving sides of the devices of this process
// that take frames directly, by their local address.
var shortcuts sync.Map // netip.AddrPort -> *shortcut

// shortcut is a device's receiving side of the shortcut.
type shortcut struct {
	addr    netip.AddrPort // the device's address, as its neighbours name it
	mu      sync.Mutex
	q       []shortFrame // waiting for shortLoop, oldest first
	spare   [][]byte     // buffers of frames taken, for the next ones
	ready   chan struct{}
	taken   atomic.Uint64 // frames received through the shortcut
	dropped atomic.Uint64 // frames refused: the queue was full (UDPStats.ShortcutDropped)
}

// shortFrame is one frame handed over, and who sent it.
type shortFrame struct {
	b    []byte
	from netip.AddrPort
}

// openShortcut registers u to take frames directly, at its local address.
// An address another device of the process holds already (a socket
// shared by mistake) leaves u on its socket.
func (u *UDP) openShortcut() {
	ua, ok := u.conn.LocalAddr().(*net.UDPAddr)
	if !ok {
		return
	}
	a := ua.AddrPort()
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	if a.Addr().IsUnspecified() {
		// Bound to every address: neighbours name it by one of them,
		// and frames from it would carry an address they do not know.
		return
	}
	s := &shortcut{addr: a, ready: make(chan struct{}, 1)}
	if _, taken := shortcuts.LoadOrStore(a, s); taken {
		return
	}
	u.short = s // before the goroutines start; other devices see only s
	u.wg.Add(1)
	go u.shortLoop()
}

// closeShortcut takes u out of the shortcut: frames for it go to its
// (closed) socket from now on, as to any device that went away.
func (u *UDP) closeShortcut() {
	if u.short != nil {
		shortcuts.CompareAndDelete(u.short.addr, u.short)
	}
}

// writeFrame sends frame b to the neighbour at to: through the shortcut
// if both ends take it, else over the socket.
func (u *UDP) writeFrame(b []byte, to netip.AddrPort) error {
	if u.short != nil {
		if v, ok := shortcuts.Load(to); ok {
			if !v.(*shortcut).put(b, u.short.addr) {
				return errShortFull
			}
			return nil
		}
	}
	return u.raw.write(b, to)
}

// put queues a copy of frame b from from; false (and counted) if the
// queue is full.
func (s *shortcut) put(b []byte, from netip.AddrPort) bool {
	s.mu.Lock()
	if len(s.q) >= shortFrames {
		s.mu.Unlock()
		s.dropped.Add(1)
		return false
	}
	var buf []byte
	if k := len(s.spare); k > 0 {
		buf, s.spare = s.spare[k-1][:0], s.spare[:k-1]
	}
	s.q = append(s.q, shortFrame{b: append(buf, b...), from: from})
	s.mu.Unlock()
	notify(s.ready)
	return true
}

// take moves the waiting frames into batch (emptied first) and returns it.
func (s *shortcut) take(batch []shortFrame) []shortFrame {
	s.mu.Lock()
	batch = append(batch[:0], s.q...)
	clear(s.q)
	s.q = s.q[:0]
	s.mu.Unlock()
	return batch
}

// recycle keeps the buffers of frames received, for frames to come.
func (s *shortcut) recycle(batch []shortFrame) {
	s.mu.Lock()
	for i := range batch {
		if len(s.spare) < shortFrames {
			s.spare = append(s.spare, batch[i].b)
		}
		batch[i] = shortFrame{}
	}
	s.mu.Unlock()
}

// shortLoop receives the frames handed to u until it closes. receive
// belongs to one goroutine at a time: rxMu is held around it, here and
// in readLoop.
func (u *UDP) shortLoop() {
	defer u.wg.Done()
	var batch []shortFrame
	for {
		select {
		case <-u.done:
			return
		case <-u.short.ready:
		}
		batch = u.short.take(batch)
		u.short.taken.Add(uint64(len(batch)))
		u.rxMu.Lock()
		for _, f := range batch {
			u.receive(f.b, f.from)
		}
		u.rxMu.Unlock()
		u.short.recycle(batch)
	}
}
