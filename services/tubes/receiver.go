package tubes

import (
	"sort"
	"time"
)

// maxHeld bounds the segments held beyond holes: more than a message
// tube's window of full segments, so an honest sender never meets it,
// while a far side that sends one-byte segments with gaps between them
// cannot make the receiver keep thousands, nor its work per packet grow
// with them. A segment past it is dropped (counted in crowded) and sent
// again by its sender as any lost one.
const maxHeld = 512

// receiver is the receiving half of a tube: it puts segments back in
// order, holds what arrives beyond a hole, offers a window that only the
// application's reading opens, and says when to acknowledge. A pure type,
// like sender.
type receiver struct {
	nxt    uint32 // next sequence number expected in order
	read   uint32 // the application consumed bytes before this: the delivered confirmation
	free   uint32 // bytes before this were written to the program: the window's base
	window uint32 // bytes offered beyond read
	held   []heldSeg
	heldN  int    // bytes in held
	finAt  uint32 // the FIN's sequence number, once a segment carried it
	hasFin bool
	ended  bool // everything up to the FIN arrived in order

	ackNow    bool      // acknowledge at the next chance
	ackAt     time.Time // acknowledge by then (a delayed ACK); zero if none due
	unacked   int       // in-order segments since the last ACK
	lastLimit uint32    // the limit the last ACK offered

	dups, beyond uint64 // segments that came again; bytes beyond the window
	crowded      uint64 // segments dropped because maxHeld were held
}

// heldSeg is a segment that arrived beyond a hole.
type heldSeg struct {
	seq  uint32
	data []byte
	fin  bool
}

func newReceiver(window uint32) receiver {
	return receiver{window: window, lastLimit: window}
}

// limit is what the sender may send up to: a window past what was
// written to the program. Not past what it read: a program that reads
// and reports it ('a') in the same socket as it writes would otherwise
// wait, with its reports queued behind its own data, for a window only
// they can open. What is written and unread is in the program's socket,
// bounded by its buffer.
func (r *receiver) limit() uint32 { return r.free + r.window }

// onData takes one DATA segment and calls deliver with the bytes that
// are now in order (in order, possibly several times). ackDelay is how
// long an acknowledgement may wait.
func (r *receiver) onData(seq uint32, fin bool, data []byte, now time.Time, ackDelay time.Duration, deliver func([]byte)) {
	if len(data) == 0 && !fin {
		r.ackNow = true // a window probe
		return
	}
	end := seq + uint32(len(data))
	if r.ended || fin && r.hasFin && end != r.finAt || r.hasFin && seqLT(r.finAt, end) {
		// After the end, or a second end: a repeat, or a confused peer.
		r.dups++
		r.ackNow = true
		return
	}
	if !fin && seqLE(end, r.nxt) || fin && seqLT(end, r.nxt) {
		r.dups++
		r.ackNow = true // our ACK was lost: say again
		return
	}
	// Nothing past the window is kept: an honest sender sends none.
	if lim := r.limit(); seqLT(lim, end) {
		if !seqLT(seq, lim) {
			r.beyond += uint64(len(data))
			r.ackNow = true
			return
		}
		r.beyond += uint64(end - lim)
		data, end, fin = data[:lim-seq], lim, false
	}
	if seqLT(seq, r.nxt) {
		data, seq = data[r.nxt-seq:], r.nxt
	}
	if fin {
		r.finAt, r.hasFin = end, true
	}
	if seq != r.nxt {
		r.hold(seq, data, fin)
		r.ackNow = true // a hole: tell the sender now
		return
	}
	deliver(data)
	r.nxt = end
	r.pull(deliver)
	if r.hasFin && r.nxt == r.finAt {
		r.nxt++
		r.ended = true
		r.ackNow = true
	}
	r.unacked++
	switch {
	case len(r.held) > 0 || r.unacked >= 2:
		r.ackNow = true
	case r.ackAt.IsZero():
		r.ackAt = now.Add(ackDelay)
	}
}

// hold keeps a segment that arrived beyond a hole, in order, trimmed of
// what is held already. Its bytes are copied: the packet is reused.
func (r *receiver) hold(seq uint32, data []byte, fin bool) {
	i := sort.Search(len(r.held), func(k int) bool { return !seqLT(r.held[k].seq, seq) })
	if i > 0 {
		if p := r.held[i-1]; seqLT(seq, p.seq+uint32(len(p.data))) {
			cut := int(p.seq + uint32(len(p.data)) - seq)
			if cut >= len(data) {
				r.dups++
				return
			}
			data, seq = data[cut:], seq+uint32(cut)
		}
	}
	if i < len(r.held) {
		if nx := r.held[i]; seqLT(nx.seq, seq+uint32(len(data))) {
			data = data[:nx.seq-seq]
			fin = false
		}
	}
	if len(data) == 0 && !fin {
		r.dups++
		return
	}
	if len(r.held) >= maxHeld {
		r.crowded++
		return
	}
	r.held = append(r.held, heldSeg{})
	copy(r.held[i+1:], r.held[i:])
	r.held[i] = heldSeg{seq: seq, data: append([]byte(nil), data...), fin: fin}
	r.heldN += len(data)
}

// pull delivers the held segments that are now in order. A held
// segment that in-order bytes covered (a far side may cut its stream
// into other segments when it sends again) is dropped or trimmed, so it
// cannot stand at the head of the list for ever and stall the stream.
func (r *receiver) pull(deliver func([]byte)) {
	k := 0
	for ; k < len(r.held); k++ {
		h := &r.held[k]
		if end := h.seq + uint32(len(h.data)); seqLE(end, r.nxt) && (len(h.data) > 0 || seqLT(end, r.nxt)) {
			r.heldN -= len(h.data) // covered: its FIN, if any, is in finAt already
			continue
		}
		if seqLT(h.seq, r.nxt) {
			cut := r.nxt - h.seq
			h.data, h.seq = h.data[cut:], r.nxt
			r.heldN -= int(cut)
		}
		if h.seq != r.nxt {
			break
		}
		deliver(h.data)
		r.nxt += uint32(len(h.data))
		r.heldN -= len(h.data)
	}
	if k > 0 {
		r.held = append(r.held[:0], r.held[k:]...)
	}
}

// freed moves the window's base on by n bytes written to the program,
// and asks for an ACK at once when that opened the window by a quarter or
// more, else within the ACK delay.
func (r *receiver) freed(n uint32, now time.Time, ackDelay time.Duration) {
	r.free += n
	if lim := r.limit(); lim-r.lastLimit >= r.window/4 || r.lastLimit-r.nxt < MaxSegment {
		r.ackNow = true
	} else {
		r.ackSoon(now, ackDelay)
	}
}

// consumed moves read on by n sequence numbers the application took; an
// ACK within the ACK delay tells the far sender they were delivered.
func (r *receiver) consumed(n uint32, now time.Time, ackDelay time.Duration) {
	r.read += n
	r.ackSoon(now, ackDelay)
}

func (r *receiver) ackSoon(now time.Time, ackDelay time.Duration) {
	if r.ackAt.IsZero() {
		r.ackAt = now.Add(ackDelay)
	}
}

// consumeFin counts the FIN as consumed once the application took every
// byte before it, so the far sender learns the whole stream was read.
func (r *receiver) consumeFin() {
	if r.ended && r.read == r.finAt {
		r.read++
		r.ackNow = true
	}
}

// ackDue reports whether an ACK should go now.
func (r *receiver) ackDue(now time.Time) bool {
	return r.ackNow || !r.ackAt.IsZero() && !now.Before(r.ackAt)
}

// ack returns the ACK's fields and marks it sent.
func (r *receiver) ack(sacks []span) (ack, read, limit uint32, out []span) {
	for _, h := range r.held {
		e := h.seq + uint32(len(h.data))
		if h.fin {
			e++
		}
		if n := len(sacks); n > 0 && sacks[n-1].end == h.seq {
			sacks[n-1].end = e
		} else if n < maxSacks {
			sacks = append(sacks, span{h.seq, e})
		} else {
			break
		}
	}
	r.ackNow, r.ackAt, r.unacked = false, time.Time{}, 0
	r.lastLimit = r.limit()
	return r.nxt, r.read, r.lastLimit, sacks
}
