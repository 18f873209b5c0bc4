package dev

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// The receive side of a UDP device: one reader goroutine takes each
// datagram through the checks of notes/protocol.md ("UDP link frames"):
// the source, ParseFrame, the direction, the cut, the link's receive
// window (rxWindow), the identity handshake (udpmfz.go), then delivery
// to the link's inbound queue.

// readLoop receives datagrams until the socket is closed.
func (u *UDP) readLoop() {
	defer u.wg.Done()
	var buf [MaxFrameLen + 1]byte // one more, to see oversized datagrams
	for {
		n, from, err := u.raw.read(buf[:])
		if err != nil {
			if u.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			u.log.Warn("udp device: receive failed", "err", err)
			select {
			case <-u.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		u.rxMu.Lock()
		u.receive(buf[:n], from)
		u.rxMu.Unlock()
	}
}

// receive handles one datagram. Nothing in it can make the reader fail:
// every length is checked before use. Its caller holds rxMu (readLoop,
// or a neighbour's clock for frames from this process: shortcut.receive):
// the holder owns the links' receive windows.
func (u *UDP) receive(b []byte, from netip.AddrPort) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	l := u.linkFrom(from)
	if l == nil {
		u.unknownSource.Add(1)
		if !u.unknownLogged.Swap(true) {
			u.log.Warn("udp device: datagram from an address that is no neighbour (dropped; logged once)", "from", from, "local", u.conn.LocalAddr())
		}
		return
	}
	u.receiveOn(l, b, from)
}

// receiveOn is receive of a datagram from from (unmapped), the neighbour
// of link l.
func (u *UDP) receiveOn(l *udpLink, b []byte, from netip.AddrPort) {
	f, err := ParseFrame(b)
	if err != nil {
		u.badFrame(l, err, b)
		return
	}
	if f.Dir != l.dir.Opposite() {
		l.c.misrouted.Add(1)
		if !l.misroutedLogged.Swap(true) {
			u.log.Warn("udp device: neighbour sends on the wrong link: check both ends' link maps (dropped; logged once)",
				"local", u.conn.LocalAddr(), "link", l.dir, "from", from, "their_dir", f.Dir, "want", l.dir.Opposite())
		}
		return
	}
	if l.profile.Load().Cut {
		l.c.cutDropped.Add(1)
		return
	}

	// Which run of the neighbour sent it, and is it new? A link that was
	// down (or cut: lastHeard was cleared) starts afresh, whatever it
	// heard before.
	now := u.now()
	fresh, epoch := !heardWithin(l.lastHeard.Load(), now, u.cfg.DownAfter), l.rx.epoch
	v := l.rx.admit(f, fresh)
	if !v.heard() {
		if v == rxStraggler {
			l.c.reordered.Add(1)
		}
		return
	}

	// A well-formed frame from the right neighbour: its link layer is
	// alive. A link that comes up, or a neighbour that restarted, starts
	// the identity handshake again; a keepalive completes it.
	l.lastHeard.Store(now)
	if fresh || l.rx.epoch != epoch {
		u.forgetMFZ(l)
		u.wantKeepalive(l) // the far end starts afresh too: tell it this end's identity now
	}
	if v == rxKeepalive {
		u.heardMFZ(l, f.MFZ)
	}
	if !l.up.Load() {
		u.refreshStatus()
	}
	switch v {
	case rxKeepalive:
		l.c.kaRecv.Add(1)
	case rxLate:
		l.c.reordered.Add(1) // late, or a network duplicate
	case rxResync, rxJump:
		l.c.resynced.Add(1)
	}
	if v.deliver() {
		u.deliver(l, f.Packet, b)
	}
}

// deliver queues packet p of a frame admitted on link l for ReadPacket,
// with DIR rewritten to the arrival direction. A packet that is malformed
// or not routed is counted as a bad datagram (b is the whole datagram);
// one that does not fit the inbound queue is dropped and counted.
func (u *UDP) deliver(l *udpLink, p, b []byte) {
	pk, err := packet.Decode(p)
	if err != nil || pk.Kind != packet.KindService && pk.Kind != packet.KindMFM {
		u.bad(l, "packet frame whose packet is malformed or not routed", b)
		return
	}
	if pk.Kind == packet.KindMFM && !u.mfmCompatible(l) {
		l.c.mfmIncompatible.Add(1) // as the module drops MFM between tiles of other physics
		return
	}
	packet.SetArrival(p, l.dir)
	l.inMu.Lock()
	ok := l.in.bytes+len(p) <= u.cfg.InQueueBytes
	if ok {
		l.in.push(0, p)
	}
	l.inMu.Unlock()
	if !ok {
		l.c.inDropped.Add(1)
		return
	}
	l.c.recvPackets.Add(1)
	l.c.recvBytes.Add(uint64(len(p)))
	notify(u.ready)
}

// linkFrom returns the link whose neighbour has address from (unmapped),
// or nil if from is no neighbour.
func (u *UDP) linkFrom(from netip.AddrPort) *udpLink {
	for _, l := range u.list {
		if l.addr == from {
			return l
		}
	}
	return nil
}

// badFrame counts a datagram from neighbour l that is no frame. One in
// another framing version is an older or newer itcd at the far end: said
// loudly, once per link, as the link will never come up.
func (u *UDP) badFrame(l *udpLink, err error, b []byte) {
	if errors.Is(err, ErrFrameVersion) {
		u.badDatagram.Add(1)
		if !l.versionLogged.Swap(true) {
			u.log.Error("udp device: neighbour speaks another UDP link framing version: run the same itcd version at both ends (its datagrams are dropped and counted as BadDatagram; logged once per link)",
				"local", u.conn.LocalAddr(), "link", l.dir, "from", l.addr, "their_version", frameVersion(b[0]), "our_version", frameVersion(FrameMagic))
		}
		return
	}
	u.bad(l, err.Error(), b)
}

// bad counts a datagram from neighbour l that does not decode and logs the
// first one of the device with its reason.
func (u *UDP) bad(l *udpLink, reason string, b []byte) {
	u.badDatagram.Add(1)
	if !u.badLogged.Swap(true) {
		u.log.Warn("udp device: malformed datagram from a neighbour (dropped and counted as BadDatagram; logged once)",
			"reason", reason, "local", u.conn.LocalAddr(), "link", l.dir, "from", l.addr, "len", len(b))
	}
}
