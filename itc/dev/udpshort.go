package dev

import (
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
// the same process directly: the sender's clock goroutine copies the
// frame into the receiver's buffer and runs the receiver's receive on
// it, under the receiver's rxMu, exactly as the receiver's socket reader
// does with a datagram. So framing, sequence numbers, impairments and
// the inbound queue all work as over sockets. What the sockets added and
// the tile's kernel device does not have, a receive buffer in front of
// the inbound queue, is gone: a frame that finds the inbound queue full
// is dropped and counted there (InDropped), as the module drops a packet
// that finds its input FIFO full.
//
// A first design queued frames for a reader goroutine of the receiver's
// (a socket buffer's stand-in): that queue and goroutine took 12% of a
// 400-tile push's CPU, receiving directly takes 6.5% (notes/design.md,
// "The in-process shortcut").
//
// A device whose neighbour is another process, or did not set InProcess,
// or is bound to no one address, sends over its socket as before; while
// both ends run, all frames of a link go one way, so it does not reorder.
// Frames sent to the socket of a tile that was down, read after it
// restarted, may be overtaken by frames through the shortcut: dropped as
// late (the link's Reordered), as frames to a tile that was down are
// lost anyway.

// shortcuts holds the receiving sides of the devices of this process
// that take frames directly, by their local address.
var shortcuts sync.Map // netip.AddrPort -> *shortcut

// shortcut is a device's receiving side of the shortcut.
type shortcut struct {
	addr  netip.AddrPort // the device's address, as its neighbours name it
	u     *UDP
	buf   [MaxFrameLen]byte // the frame being received; rxMu's
	taken atomic.Uint64     // frames received through the shortcut
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
	s := &shortcut{addr: a, u: u}
	if _, taken := shortcuts.LoadOrStore(a, s); taken {
		return
	}
	u.short = s // before the goroutines start; other devices see only s
}

// closeShortcut takes u out of the shortcut: frames for it go to its
// (closed) socket from now on, as to any device that went away.
func (u *UDP) closeShortcut() {
	if u.short != nil {
		shortcuts.CompareAndDelete(u.short.addr, u.short)
	}
}

// writeFrame sends frame b to l's neighbour: through the shortcut if both
// ends take it, else over the socket. The neighbour's shortcut is looked
// up once and kept while its device is open (the lookup, a sync.Map's,
// was 2.6% of a 400-tile push); a device that closed may have been
// replaced at its address, so then it is looked up again.
func (u *UDP) writeFrame(b []byte, l *udpLink) error {
	if u.short != nil {
		p := l.short.Load()
		if p == nil || p.s.u.closed.Load() {
			p = nil
			if v, ok := shortcuts.Load(l.addr); ok {
				s := v.(*shortcut)
				p = &shortPeer{s: s, link: s.u.linkFrom(u.short.addr)}
				l.short.Store(p)
			}
		}
		if p != nil {
			p.s.receive(b, u.short.addr, p.link)
			return nil
		}
	}
	return u.raw.write(b, l.addr)
}

// shortPeer is a link's neighbour in the shortcut: its receiving side,
// and its link to this device (a device's links are fixed when it
// opens), nil if it has none.
type shortPeer struct {
	s    *shortcut
	link *udpLink
}

// receive takes frame b from the device at from, as a datagram read from
// the socket: a copy, so the sender's buffer stays its own. on is the
// receiver's link to from, nil if it has none.
func (s *shortcut) receive(b []byte, from netip.AddrPort, on *udpLink) {
	u := s.u
	if len(b) > len(s.buf) {
		return // no frame is longer; the socket would have cut it short too
	}
	u.rxMu.Lock()
	defer u.rxMu.Unlock()
	if u.closed.Load() {
		return
	}
	s.taken.Add(1)
	n := copy(s.buf[:], b)
	if on == nil {
		u.receive(s.buf[:n], from) // counted as from no neighbour
		return
	}
	u.receiveOn(on, s.buf[:n], from)
}
