//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import "github.com/t2tiles/itcd/itc/packet"

// receiveLocked is the module's callback for a packet a PRU hands up
// (itc_pkt_cb):
//
//   - shorter than two bytes: ignored;
//   - non-standard (STND clear): queued for /dev/itc/pru/N;
//   - standard local (0xC0..0xDF): handled here, never seen by user space;
//   - routed, MFMT clear: to bulk if byte 1 has 0x80 set, else to flash;
//   - routed MFM of type 0 (byte 1 & 0xE0 == 0): the handshake's own
//     packets, which the model does not exchange: ignored;
//   - other routed MFM: to mfm/DIR only while the handshake says the link
//     is compatible, else dropped.
//
// Routed packets count as received on their link before routing, dropped
// or not; a full FIFO drops the packet and counts it.
func (t *Tile) receiveLocked(pru int, p []byte) {
	if len(p) < 2 {
		return
	}
	h := p[0]
	switch {
	case h&hdrStandard == 0:
		if t.pru[pru].local.offer(p) {
			t.m.changedLocked()
		}
		return
	case h&hdrLocal != 0:
		t.localLocked(p)
		return
	}
	if len(p) > packet.MaxLen {
		p = p[:packet.MaxLen] // the module truncates overlength packets
	}
	d := packet.Dir(h & hdrDir)
	d6, ok := dir6Of(d)
	if !ok {
		return // the module BUG()s here; no PRU sends such a packet
	}
	mfm := h&hdrMFM != 0
	c := &t.stats[d].counts[trafficService]
	if mfm {
		c = &t.stats[d].counts[trafficMFM]
	}
	c.pktsRcvd++
	c.bytesRcvd += uint32(len(p))
	var f *recordFIFO
	switch {
	case !mfm && p[1]&byte1Bulk != 0:
		f = t.user[minorBulk]
	case !mfm:
		f = t.user[minorFlash]
	case p[1]&byte1XITC == 0:
		// KITC: the model's handshake runs without packets.
	case t.kitc[d6] == kitcCompatible:
		f = t.user[minorMFM+minor(d6)]
	}
	if f != nil && f.offer(p) {
		t.m.changedLocked()
	}
}

// localLocked handles a standard local packet. Only type 3 does anything:
// the PRU's link-state report 0xC3 CODE PRU PRUDIR VAL ':' ('P' packet
// sync, 'F' framing error, 'T' timeout; 'M' a mask of disabled links in
// VAL). Debug and value packets are only logged by the module.
func (t *Tile) localLocked(p []byte) {
	if p[0]&0x1F != 3 || len(p) < 6 || p[5] != ':' {
		return
	}
	pru, prudir, val := int(p[2])-'0', int(p[3])-'0', int(p[4])-'0'
	if p[1] == 'M' {
		for i := range 3 {
			if d, ok := pruDir(pru, i); ok {
				enabled := 1
				if val&(1<<i) != 0 {
					enabled = 0
				}
				t.setEnabledLocked(d, enabled)
			}
		}
		return
	}
	d, ok := pruDir(pru, prudir)
	if !ok {
		return
	}
	switch p[1] {
	case 'P':
		t.setEnabledLocked(d, 1)
		t.stats[d].psan++
	case 'F':
		t.setEnabledLocked(d, 0)
		t.stats[d].sfan++
	case 'T':
		t.setEnabledLocked(d, 0)
		t.stats[d].toan++
	}
}

// shipLocked moves packets from the outbound queues to the PRUs, kernel
// queue first, then priority, then bulk, until every queue is empty or
// its PRU is stalled. Each packet counts as sent on the link its DIR
// names: as MFM from the priority and kernel queues, as service from
// bulk, whatever its header says (the module counts by queue).
func (t *Tile) shipLocked() {
	var buf [maxRecord]byte
	for n := range t.pru {
		b := &t.pru[n]
		for !b.stalled {
			q, class := b.kernel, trafficMFM
			if q.empty() {
				q = b.priority
			}
			if q.empty() {
				q, class = b.bulk, trafficService
			}
			k, ok := q.take(buf[:])
			if !ok {
				break
			}
			p := buf[:k]
			d := packet.Dir(p[0] & hdrDir)
			c := &t.stats[d].counts[class]
			c.pktsSent++
			c.bytesSent += uint32(k)
			t.m.changedLocked() // room for writers waiting on this queue
			t.transmitLocked(n, p)
		}
	}
}

// transmitLocked is the PRU sending p: a standard routed packet for one
// of its own links goes to the far tile if the link is up, with DIR
// rewritten to the link it arrives on there; a packet for a link that is
// down is lost. Anything else (what a program wrote to /dev/itc/pru/N)
// the model's PRU consumes without effect.
func (t *Tile) transmitLocked(pru int, p []byte) {
	if p[0]&(hdrStandard|hdrLocal) != hdrStandard {
		return
	}
	d := packet.Dir(p[0] & hdrDir)
	if n, ok := PRUOf(d); !ok || n != pru {
		return
	}
	l := t.links[d]
	if l == nil || !l.up {
		return
	}
	far := l.far(t, d)
	var in [maxRecord]byte
	copy(in[:], p)
	in[0] = in[0]&^hdrDir | byte(far.d)
	farPRU, _ := PRUOf(far.d)
	far.t.receiveLocked(farPRU, in[:len(p)])
}
