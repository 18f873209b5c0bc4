package dev

import "fmt"

// The physics-identity handshake of a UDP device, as the itc_pkt module's
// KITC does it on a T2 link: every keepalive carries the digest of the
// sender's identity (its mfzid), the receiver keeps the digest it last
// heard on each link, and a link is LinkMFM only while that digest equals
// its own. MFM packets that arrive on a link that is not LinkMFM are
// dropped and counted (LinkStats.MFMIncompatible); service packets are
// not affected.
//
// Unlike the module, a link's status may go from LinkMFM back to LinkUp
// while it stays up (the module ignores 2->1, so its status can read 2
// after an identity change while it drops MFM packets). The simulator
// reports what it does: its status, the daemon's view and `itcd sim`'s
// picture say exactly when MFM packets flow.

// linkStateOf is a link's state from what its receiver knows: whether the
// far end is heard (synced), this tile's digest, and the digest the far
// end last sent (nil: none since the link came up or the far end
// restarted, "not yet checked" in the module's words).
func linkStateOf(synced bool, local MFZDigest, peer *MFZDigest) LinkState {
	switch {
	case !synced:
		return LinkDown
	case peer != nil && *peer == local:
		return LinkMFM
	}
	return LinkUp
}

// SetMFZID implements PhysicsIdentity. The device starts with the empty
// identity, like a tile whose mfzid was never written (two such tiles are
// compatible); the daemon sets the one mfmt2 gives. The new digest goes
// out on every link at once, so both ends agree again within a round trip.
func (u *UDP) SetMFZID(id []byte) error {
	if len(id) > MaxMFZID {
		return fmt.Errorf("udp device: physics identity of %d bytes: the itc_pkt module takes at most %d; use a shorter one", len(id), MaxMFZID)
	}
	if u.closed.Load() {
		return ErrClosed
	}
	d := DigestMFZID(id)
	u.mfz.Store(&d)
	u.wantKeepalive(nil)
	u.refreshStatus()
	return nil
}

// heardMFZ records digest d from a keepalive on link l; a change of the
// neighbour's identity changes the link's state at once.
func (u *UDP) heardMFZ(l *udpLink, d MFZDigest) {
	if p := l.peerMFZ.Load(); p != nil && *p == d {
		return
	}
	l.peerMFZ.Store(&d)
	u.refreshStatus()
}

// forgetMFZ forgets what link l's neighbour said of its identity: the
// link came up afresh or the neighbour restarted, so the handshake starts
// again, and MFM waits for its next keepalive.
func (u *UDP) forgetMFZ(l *udpLink) {
	if l.peerMFZ.Swap(nil) != nil {
		u.refreshStatus()
	}
}

// mfmCompatible reports whether MFM packets flow on link l now.
func (u *UDP) mfmCompatible(l *udpLink) bool {
	return linkStateOf(true, *u.mfz.Load(), l.peerMFZ.Load()) == LinkMFM
}
