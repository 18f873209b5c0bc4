package dev

import (
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// The receive side of a UDP device: one reader goroutine takes each
// datagram through the checks of notes/protocol.md ("UDP link frames").

// reorderWindow is how far behind the newest sequence number a frame may
// be and still count as late (dropped, Reordered). A frame further behind
// is taken as a jump of the neighbour's sequence (a restart that kept its
// epoch, or tens of thousands of frames lost in a row): the receiver
// accepts it and resynchronises. Real networks reorder by a few frames,
// rarely hundreds.
const reorderWindow = 4096

// prevEpochKeepalives is how many keepalives of the neighbour's previous
// epoch the receiver ignores as stragglers before it takes that epoch back
// as the live one. A run that ended has at most one keepalive in flight.
const prevEpochKeepalives = 3

// seqNewer reports whether sequence number a comes after b in serial
// number arithmetic (RFC 1982) on 16 bits: a is at most 32767 ahead.
func seqNewer(a, b uint16) bool { return int16(a-b) > 0 }

// readLoop receives datagrams until the socket is closed.
func (u *UDP) readLoop() {
	defer u.wg.Done()
	var buf [MaxFrameLen + 1]byte // one more, to see oversized datagrams
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf[:])
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
		u.receive(buf[:n], from)
	}
}

// receive handles one datagram. Nothing in it can make the reader fail:
// every length is checked before use. It runs on the reader goroutine
// alone, which owns the links' receive windows.
func (u *UDP) receive(b []byte, from netip.AddrPort) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	var l *udpLink
	for _, x := range u.list {
		if x.addr == from {
			l = x
			break
		}
	}
	if l == nil {
		u.unknownSource.Add(1)
		if !u.unknownLogged.Swap(true) {
			u.log.Warn("udp device: datagram from an address that is no neighbour (dropped; logged once)", "from", from, "local", u.conn.LocalAddr())
		}
		return
	}
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

	// Which run of the neighbour sent it? A link that was down (or cut:
	// lastHeard was cleared) starts afresh, whatever it heard before.
	now := u.now()
	h := l.lastHeard.Load()
	fresh := h == 0 || now-h >= int64(u.cfg.DownAfter)
	epoch, typ := f.Epoch, f.Type
	if epoch != l.rxEpoch {
		// A straggler of the neighbour's previous run, overtaken by the
		// new run's frames, is neither heard nor delivered. But a run
		// that goes on sending keepalives is alive: then the "new" epoch
		// was a stray frame, and the previous one is taken back.
		if epoch == l.rxPrevEpoch && !fresh && (typ == FramePacket || l.rxPrevKeepalives < prevEpochKeepalives) {
			if typ == FramePacket {
				l.c.reordered.Add(1)
			} else {
				l.rxPrevKeepalives++
			}
			return
		}
		l.rxPrevEpoch, l.rxEpoch = l.rxEpoch, epoch
		l.rxPrevKeepalives = 0
		l.rxSynced = false
	} else if fresh {
		l.rxSynced = false
	}

	// A well-formed frame from the right neighbour: its link layer is alive.
	l.lastHeard.Store(now)
	if !l.up.Load() {
		u.refreshStatus()
	}
	if typ == FrameKeepalive {
		l.c.kaRecv.Add(1)
		return
	}

	// Keep T2 order: deliver only frames newer than the newest so far.
	seq := f.Seq
	switch {
	case !l.rxSynced:
		l.rxSynced = true
		l.c.resynced.Add(1)
	case seqNewer(seq, l.rxSeq):
	case uint16(l.rxSeq-seq) < reorderWindow:
		l.c.reordered.Add(1) // late, or a network duplicate
		return
	default:
		l.c.resynced.Add(1) // far behind: the sequence jumped
	}
	l.rxSeq = seq

	p := f.Packet
	pk, err := packet.Decode(p)
	if err != nil || pk.Kind != packet.KindService && pk.Kind != packet.KindMFM {
		u.bad(l, "packet frame whose packet is malformed or not routed", b)
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
