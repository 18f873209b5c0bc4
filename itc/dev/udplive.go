package dev

import (
	"time"
)

// A UDP link's liveness: a link is up while the far end has been heard
// within DownAfter. Every frame heard counts, so keepalives go only on a
// link that carried no packet for a while (the daemon's hellos usually
// keep an idle link alive), plus the few the identity handshake needs.

// heardWithin reports whether a link last heard at lastHeard (in UDP.now
// time; 0 = never) was heard less than d before now. Else it is down,
// and the next frame heard starts the receive window afresh.
func heardWithin(lastHeard, now int64, d time.Duration) bool {
	return lastHeard != 0 && now-lastHeard < int64(d)
}

// needKeepalive decides whether a keepalive tick sends one on a link:
// silent says the link sent no packet frame for kaSilence intervals,
// burst counts the handshake's ticks left, and every kaRefreshTicks-th
// tick sends one on every link.
func needKeepalive(silent bool, burst int, tickNo uint64) bool {
	return silent || burst > 0 || tickNo%kaRefreshTicks == 0
}

// keepaliveTick runs on the clock goroutine at each keepalive interval.
func (u *UDP) keepaliveTick() {
	now := u.now()
	silence := int64(u.cfg.Keepalive) * kaSilenceNum / kaSilenceDen
	for _, l := range u.list {
		silent := l.lastSent == 0 || now-l.lastSent >= silence
		if needKeepalive(silent, l.kaBurst, u.kaTicks) {
			u.sendKeepalive(l)
		}
		l.kaBurst = max(l.kaBurst-1, 0)
	}
	u.kaTicks++
}

// keepalivesWanted sends a keepalive at once on every link whose far end
// asked for one (wantKeepalive) and keeps sending on the next ticks.
func (u *UDP) keepalivesWanted() {
	for _, l := range u.list {
		if l.kaWanted.Swap(false) {
			l.kaBurst = kaBurstTicks
			u.sendKeepalive(l)
		}
	}
}

// wantKeepalive asks the clock goroutine for keepalives on link l now;
// all links when l is nil (this tile's identity changed).
func (u *UDP) wantKeepalive(l *udpLink) {
	if l != nil {
		l.kaWanted.Store(true)
	} else {
		for _, l := range u.list {
			l.kaWanted.Store(true)
		}
	}
	notify(u.kick)
}

// sendKeepalive sends one keepalive, with this tile's identity digest, on
// link l unless it is cut or the Loss impairment takes it.
func (u *UDP) sendKeepalive(l *udpLink) {
	p := l.profile.Load()
	if p.Cut {
		return
	}
	if p.Loss > 0 && l.kaRNG.Float64() < p.Loss {
		l.c.kaLost.Add(1)
		return
	}
	var buf [KeepaliveFrameLen]byte
	f, _ := AppendFrame(buf[:0], Frame{Type: FrameKeepalive, Dir: l.dir, Epoch: u.epoch, MFZ: *u.mfz.Load()})
	if err := u.writeFrame(f, l); err != nil {
		u.sendFailed(l, err)
		return
	}
	l.c.kaSent.Add(1)
}

// refreshStatus recomputes every link's state and notifies on a change.
func (u *UDP) refreshStatus() {
	u.statusMu.Lock()
	defer u.statusMu.Unlock()
	var s Status
	if !u.closed.Load() {
		now, local := u.now(), *u.mfz.Load()
		for _, l := range u.list {
			up := heardWithin(l.lastHeard.Load(), now, u.cfg.DownAfter) && !l.profile.Load().Cut
			l.up.Store(up)
			s[l.dir] = linkStateOf(up, local, l.peerMFZ.Load())
		}
	}
	if s != u.status {
		u.status = s
		notify(u.changes)
	}
}
