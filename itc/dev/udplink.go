package dev

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// delayLineBytes bounds the bytes in flight on one link with a Delay (its
// "wire"): at 64 KB/s it holds about a second. When it is full, packets
// wait in the outbound queue, which then pushes back on the writer.
const delayLineBytes = 64 << 10

// udpLink is one link of a UDP device. This file is its outbound side: the
// queue a write lands in, its pacing (on the device clock, udpclock.go), the impairments and the
// delay line, and the send with the link's sequence number.
type udpLink struct {
	dir  packet.Dir
	addr netip.AddrPort // the neighbour, unmapped

	profile   atomic.Pointer[LinkProfile]
	lastHeard atomic.Int64              // UDP.now() of the last frame from the neighbour; 0 = not heard
	up        atomic.Bool               // as last computed by refreshStatus
	peerMFZ   atomic.Pointer[MFZDigest] // the neighbour's identity digest, from its keepalives; nil = not heard
	// short: the neighbour's side of the in-process shortcut, as last
	// looked up (udpshort.go); stale once its device closed.
	short atomic.Pointer[shortPeer]
	c     linkCounters

	misroutedLogged, sendErrLogged, versionLogged atomic.Bool

	outMu sync.Mutex
	out   ring // outbound queue: written, not yet departed
	// refused: a write found out full; outMu guards it. The clock
	// goroutine tells the writer (UDP.Room) once the queue is half empty.
	refused bool

	inMu sync.Mutex
	in   ring // inbound queue: received, not yet read

	// Owned by the device's clock goroutine (udpclock.go).
	delay ring  // departed, waiting for Delay to pass: stamp = when due
	next  int64 // pacing clock: when the next packet may depart
	paced int   // the rate next was computed at; 0: link idle or unpaced
	rng   *rand.Rand
	frame [MaxFrameLen]byte // header fixed but for the sequence number
	seq   uint16            // the sequence number of the next frame sent
	busy  busyPeriod        // the current busy period, for the rate counters
	// lastSent is UDP.now() of the last packet frame sent: a link that
	// carries packets needs no keepalives.
	lastSent int64
	kaRNG    *rand.Rand
	kaBurst  int // keepalive ticks left that send one whatever else was sent
	// kaWanted asks the clock goroutine for a keepalive on this link now
	// and on the next ticks: the far end restarted or came up again, and
	// must hear this end's identity.
	kaWanted atomic.Bool

	rx rxWindow // the receive window, owned by the reader goroutine
}

func newUDPLink(d packet.Dir, addr netip.AddrPort, cfg UDPConfig, epoch uint32) *udpLink {
	l := &udpLink{
		dir:   d,
		addr:  addr,
		out:   newRing(cfg.OutQueueBytes, false),
		in:    newRing(cfg.InQueueBytes, false),
		rng:   rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(d))),
		kaRNG: rand.New(rand.NewPCG(uint64(cfg.Seed), 0x100|uint64(d))),
	}
	p := cfg.Profile
	l.profile.Store(&p)
	appendFrameHeader(l.frame[:0], FramePacket, d, epoch)
	return l
}

// step sends every delayed packet of link l that is due and lets depart
// every queued packet the pacing allows. It returns the nanoseconds until
// it has more to do, or -1 if only a write or a profile change can give it
// work. The clock goroutine calls it for every link on each wakeup; since
// it sends whatever fell due since the last, pacing stays exact on
// average however coarse the wakeups are.
func (u *UDP) step(l *udpLink, now int64) int64 {
	// A paced packet due within half a grid step is due now: wakeups on
	// the grid then send each within half a step of its time, early or
	// late, and a wakeup that comes a hair early (the grid is wall-clock,
	// now is monotonic) does not leave it for a whole step. A delayed
	// packet never leaves before its delay is over.
	horizon := now + int64(paceGranularity/2)
	for {
		for l.delay.count > 0 {
			_, due := l.delay.peek()
			if due > now {
				break
			}
			n, _ := l.delay.pop(l.frame[FrameHeaderLen:])
			if l.profile.Load().Cut {
				l.c.cutDropped.Add(1) // cut while on the wire
				continue
			}
			u.send(l, n, now)
		}
		wait := int64(-1)
		if l.delay.count > 0 {
			_, due := l.delay.peek()
			wait = due - now + int64(paceGranularity/2) // the clock wakes half a step early for paced packets
		}

		p := l.profile.Load()
		l.outMu.Lock()
		if l.out.count == 0 {
			l.outMu.Unlock()
			if l.paced != 0 {
				l.c.idle.Add(1) // a busy period ends: the writer fell behind the link
				l.busy.close(&l.c)
			}
			l.paced = 0 // idle: the next packet starts a new busy period
			return wait
		}
		if p.Rate > 0 {
			if l.paced != p.Rate {
				// A busy period starts (or the rate changed): from now
				// on, departures are due exactly len/rate apart, so a
				// clock that wakes late catches up and the average rate
				// stays exact however late its timer fires.
				l.next, l.paced = max(l.next, now), p.Rate
			}
			if l.next > horizon {
				l.outMu.Unlock()
				return minWait(wait, l.next-now)
			}
		}
		n, _ := l.out.peek()
		delayed := p.Delay > 0 || l.delay.count > 0
		if delayed && l.delay.buf == nil {
			l.delay = ring{buf: make([]byte, delayLineBytes), stamped: true}
		}
		if delayed && l.delay.used+2*l.delay.entryLen(n) > len(l.delay.buf) { // room for a duplicate too
			l.outMu.Unlock()
			return wait // the delay line is not empty: its head is due at some point
		}
		l.out.pop(l.frame[FrameHeaderLen:])
		room := l.refused && 2*l.out.bytes <= u.cfg.OutQueueBytes
		if room {
			l.refused = false
		}
		l.outMu.Unlock()
		if room {
			notify(u.room)
		}
		if p.Rate > 0 {
			l.next += int64(n) * int64(time.Second) / int64(p.Rate)
			l.busy.departed(now, n, p.Rate)
		}
		u.depart(l, p, n, now, delayed)
	}
}

// minWait returns the sooner of two waits, a of which may be -1 (none);
// b must not be.
func minWait(a, b int64) int64 {
	if a < 0 {
		return b
	}
	return min(a, b)
}

// depart applies the profile to the packet in l.frame and sends it, or
// puts it (twice if duplicated) on the delay line.
func (u *UDP) depart(l *udpLink, p *LinkProfile, n int, now int64, delayed bool) {
	if p.Cut {
		l.c.cutDropped.Add(1)
		return
	}
	if p.Loss > 0 && l.rng.Float64() < p.Loss {
		l.c.lost.Add(1)
		return
	}
	b := l.frame[FrameHeaderLen : FrameHeaderLen+n]
	if p.Corrupt > 0 && l.rng.Float64() < p.Corrupt {
		flipBits(l.rng, b)
		l.c.corrupted.Add(1)
	}
	copies := 1
	if p.Duplicate > 0 && l.rng.Float64() < p.Duplicate {
		copies = 2
		l.c.duplicated.Add(1)
	}
	for range copies {
		if delayed {
			l.delay.push(now+int64(p.Delay), b)
		} else {
			u.send(l, n, now)
		}
	}
}

// flipBits flips 1 to 3 distinct random bits of b.
func flipBits(r *rand.Rand, b []byte) {
	bits := len(b) * 8
	k := min(1+r.IntN(3), bits)
	var done [3]int
	for i := 0; i < k; {
		pos := r.IntN(bits)
		dup := false
		for _, q := range done[:i] {
			dup = dup || q == pos
		}
		if dup {
			continue
		}
		done[i] = pos
		b[pos/8] ^= 1 << (pos % 8)
		i++
	}
}

// send sends the n-byte packet in l.frame with the link's next sequence
// number. Every datagram gets its own, the Duplicate impairment's second
// copy too, so the receiver takes that for a packet the link really sent
// twice rather than for a network duplicate.
func (u *UDP) send(l *udpLink, n int, now int64) {
	putFrameSeq(l.frame[:], l.seq)
	l.seq++
	l.lastSent = now
	if err := u.writeFrame(l.frame[:FrameHeaderLen+n], l); err != nil {
		u.sendFailed(l, err)
		return
	}
	l.c.sentPackets.Add(1)
	l.c.sentBytes.Add(uint64(n))
}

// sendFailed counts a socket send failure on link l, logged once per
// link. Failures while the device closes are its own doing: not counted.
func (u *UDP) sendFailed(l *udpLink, err error) {
	if u.closed.Load() {
		return
	}
	l.c.sendErrors.Add(1)
	if !l.sendErrLogged.Swap(true) {
		u.log.Warn("udp device: send failed (logged once per link)", "link", l.dir, "to", l.addr, "err", err)
	}
}
