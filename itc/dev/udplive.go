package dev

import "time"

// A UDP link's liveness: each end sends keepalives, and a link is up
// while the far end has been heard within DownAfter.

// heardWithin reports whether a link last heard at lastHeard (in UDP.now
// time; 0 = never) was heard less than d before now. Else it is down,
// and the next frame heard starts the receive window afresh.
func heardWithin(lastHeard, now int64, d time.Duration) bool {
	return lastHeard != 0 && now-lastHeard < int64(d)
}

// keepaliveLoop sends keepalives on every link and notices links that
// fell silent.
func (u *UDP) keepaliveLoop() {
	defer u.wg.Done()
	t := time.NewTicker(u.cfg.Keepalive)
	defer t.Stop()
	for {
		u.sendKeepalives()
		u.refreshStatus()
		select {
		case <-u.done:
			return
		case <-t.C:
		case <-u.kaKick: // the identity changed: tell the neighbours now
		}
	}
}

// sendKeepalives sends one keepalive, with this tile's identity digest,
// on every link that is not cut, unless the Loss impairment takes it.
func (u *UDP) sendKeepalives() {
	for _, l := range u.list {
		p := l.profile.Load()
		if p.Cut {
			continue
		}
		if p.Loss > 0 && l.kaRNG.Float64() < p.Loss {
			l.c.kaLost.Add(1)
			continue
		}
		var buf [KeepaliveFrameLen]byte
		f, _ := AppendFrame(buf[:0], Frame{Type: FrameKeepalive, Dir: l.dir, Epoch: u.epoch, MFZ: *u.mfz.Load()})
		if _, err := u.conn.WriteToUDPAddrPort(f, l.addr); err != nil {
			u.sendFailed(l, err)
			continue
		}
		l.c.kaSent.Add(1)
	}
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
