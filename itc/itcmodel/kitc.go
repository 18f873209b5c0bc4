//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"bytes"
	"syscall"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// The KITC handshake. The module runs, per link, a state machine that
// exchanges MFM packets of type 0 (LEAD, FOLLOW, CONFIG, CHECK, then a
// keepalive every 10-15 s) carrying each tile's mfzid and token; the end
// that has compared them sets its status nibble to 2 (equal) or 1
// (different) and delivers MFM traffic from the link only if they were
// equal. The model keeps the outcome and drops the exchange: a reset of
// either end (link up or down, an mfzid write) makes both ends
// incompatible, and once both ends have packet sync the handshake
// completes (after Config.HandshakeDelay) with the comparison. It counts
// the four packets of a handshake in the statistics file (keepalives are
// not counted) but sends none, so a stalled PRU does not delay it.

// kitcState is one end's handshake state as far as delivery goes.
type kitcState uint8

const (
	kitcWaiting      kitcState = iota // reset, or the link is down: MFM dropped
	kitcCompatible                    // same mfzid: MFM delivered
	kitcIncompatible                  // different mfzid: MFM dropped
)

// setEnabledLocked is the module's setITCEnabledStatusDir8: the only
// writer of the status nibbles. From 0, any enabled value is taken (and 1
// restarts the handshake); 0 takes the link down and restarts it; while
// the link stays up, 1 -> 2 is taken and 2 -> 1 is ignored, so after an
// mfzid change the nibble can read 2 on a link that is not compatible.
func (t *Tile) setEnabledLocked(d packet.Dir, enabled int) {
	shift := 4 * uint32(d)
	nib := uint32(0xF) << shift
	existing := t.status&nib != 0
	switch {
	case enabled > 0 && !existing:
		t.status |= uint32(enabled) << shift
		if enabled == 1 {
			t.resetKITCLocked(d)
		}
	case enabled == 0 && existing:
		t.status &^= nib
		t.resetKITCLocked(d)
	case enabled == 2 && existing:
		t.status = t.status&^nib | 2<<shift
	}
	t.m.changedLocked()
}

// resetKITCLocked restarts the handshake on link d, at both ends.
func (t *Tile) resetKITCLocked(d packet.Dir) {
	if d6, ok := dir6Of(d); ok {
		t.kitc[d6] = kitcWaiting
	}
	if l := t.links[d]; l != nil {
		t.m.resetLinkLocked(l)
	}
}

// resetLinkLocked makes both ends of l incompatible and schedules the
// handshake's completion.
func (m *Model) resetLinkLocked(l *link) {
	l.gen++
	for _, e := range l.ends {
		d6, _ := dir6Of(e.d)
		e.t.kitc[d6] = kitcWaiting
	}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if m.cfg.HandshakeDelay <= 0 {
		m.completeLocked(l)
		return
	}
	gen := l.gen
	l.timer = time.AfterFunc(m.cfg.HandshakeDelay, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if !m.closed && l.gen == gen {
			l.timer = nil
			m.completeLocked(l)
		}
	})
}

// completeLocked ends the handshake on l if both ends have packet sync:
// each end compares its own mfzid with the far end's, sets its nibble and
// its delivery state. It counts the packets the module would have sent:
// LEAD and CONFIG from the leader (ends[0]), FOLLOW and CHECK from the
// follower, CONFIG and CHECK carrying token and id.
func (m *Model) completeLocked(l *link) {
	a, b := l.ends[0], l.ends[1]
	if !l.up || a.t.nibbleLocked(a.d) == 0 || b.t.nibbleLocked(b.d) == 0 {
		return
	}
	same := bytes.Equal(a.t.mfz.id, b.t.mfz.id)
	state, nibble := kitcIncompatible, 1
	if same {
		state, nibble = kitcCompatible, 2
	}
	for _, e := range l.ends {
		d6, _ := dir6Of(e.d)
		e.t.kitc[d6] = state
		e.t.setEnabledLocked(e.d, nibble)
	}
	lead := []int{2, 4 + len(a.t.mfz.id)}   // LEAD, CONFIG: hdr, state, token, id, NUL
	follow := []int{2, 4 + len(b.t.mfz.id)} // FOLLOW, CHECK
	countKITC(a, b, lead)
	countKITC(b, a, follow)
	m.changedLocked()
}

// countKITC counts packets of the given sizes sent from one end to the
// other as MFM traffic.
func countKITC(from, to end, sizes []int) {
	s := &from.t.stats[from.d].counts[trafficMFM]
	r := &to.t.stats[to.d].counts[trafficMFM]
	for _, n := range sizes {
		s.pktsSent++
		s.bytesSent += uint32(n)
		r.pktsRcvd++
		r.bytesRcvd += uint32(n)
	}
}

// writeMFZIDLocked is a write of p to /sys/class/itc_pkt/mfzid by thread
// tid: at most 100 bytes (more is EFBIG); the token moves on, the writer
// is recorded, all six MFM devices turn stale and every link's handshake
// restarts. The id is kept as written, a trailing newline included, and
// cut at a NUL byte.
func (t *Tile) writeMFZIDLocked(tid int32, p []byte) syscall.Errno {
	if len(p) > maxMFZID {
		return syscall.EFBIG
	}
	if t.mfz.token == 0 {
		t.mfz.token = uint8(t.m.rng.IntN(255)) + 1
	} else if t.mfz.token++; t.mfz.token == 0 {
		t.mfz.token = 1
	}
	t.mfz.tid = tid
	if i := bytes.IndexByte(p, 0); i >= 0 {
		p = p[:i]
	}
	t.mfz.id = append(t.mfz.id[:0], p...)
	for d6, d := range dir6Dirs {
		t.stale[d6] = true
		t.resetKITCLocked(d)
	}
	t.m.changedLocked()
	return 0
}
