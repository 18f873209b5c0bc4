package routes

import (
	"time"

	"github.com/t2tiles/itcd/p2p"
)

// peer is what the service keeps for one live neighbour: the LSAs it is
// owed, those sent and not yet acknowledged, and the acknowledgements
// owed to it. Every set holds at most one entry per origin, so each is
// bounded by the table. (Its allowance of LSAs to process belongs to the
// link: Service.allow.)
type peer struct {
	tile p2p.TileID
	// queue is the order origins wait in; queued says which still wait
	// (holds removes from it without searching the queue).
	queue   []p2p.TileID
	queued  map[p2p.TileID]struct{}
	unacked map[p2p.TileID]waiting
	due     time.Time // the earliest retransmission, zero for none
	acks    []Ack
	// summary acknowledges, once, every LSA this tile held when the link
	// came up: the neighbour drops from what it owes us what we hold, so
	// two tiles meeting with full tables trade a few ACKs instead of
	// every LSA each (a grid's start used to flood each table once per
	// link). At most one entry per origin: bounded by the table.
	summary []Ack
	blocked bool // its send queue is full: wait for Drained
}

// waiting is an LSA sent and not acknowledged.
type waiting struct {
	seq uint32
	due time.Time
}

func newPeer(tile p2p.TileID) *peer {
	return &peer{
		tile:    tile,
		queued:  make(map[p2p.TileID]struct{}),
		unacked: make(map[p2p.TileID]waiting),
	}
}

// enqueue owes the neighbour origin's newest LSA.
func (p *peer) enqueue(origin p2p.TileID) {
	if _, ok := p.queued[origin]; ok {
		return
	}
	p.queued[origin] = struct{}{}
	p.queue = append(p.queue, origin)
}

// next takes the next origin owed.
func (p *peer) next() (p2p.TileID, bool) {
	for len(p.queue) > 0 {
		o := p.queue[0]
		p.queue = p.queue[1:]
		if _, ok := p.queued[o]; ok {
			delete(p.queued, o)
			return o, true
		}
	}
	p.queue = nil // let the backing array go
	return p2p.TileID{}, false
}

// requeue puts back at the front an origin next gave that could not go
// (its neighbour no longer live: pump checks for room first).
func (p *peer) requeue(origin p2p.TileID) {
	if _, ok := p.queued[origin]; ok {
		return
	}
	p.queued[origin] = struct{}{}
	p.queue = append([]p2p.TileID{origin}, p.queue...)
}

// sent records that origin's LSA seq went and waits for its
// acknowledgement until due.
func (p *peer) sent(origin p2p.TileID, seq uint32, due time.Time) {
	p.unacked[origin] = waiting{seq: seq, due: due}
	if p.due.IsZero() || due.Before(p.due) {
		p.due = due
	}
}

// holds records that the neighbour has origin's LSA a.Seq: nothing older
// need go to it again.
func (p *peer) holds(a Ack) {
	if w, ok := p.unacked[a.Origin]; ok && !newer(w.seq, a.Seq) {
		delete(p.unacked, a.Origin)
		if len(p.unacked) == 0 {
			p.due = time.Time{} // nothing to wake for
		}
	}
}

// acked takes the neighbour's acknowledgement a, of its summary or of an
// LSA sent; held is this tile's LSA of a.Origin (ok false: none). An LSA
// it holds as new as ours is owed no more, queued or sent.
func (p *peer) acked(a Ack, held *LSA, ok bool) {
	p.holds(a)
	if ok && !newer(held.Seq, a.Seq) {
		p.drop(a.Origin)
	}
}

// drop forgets a queued origin the neighbour turned out to hold. The
// queue keeps stale entries (next skips them) until they outnumber the
// live ones; then it keeps the first entry of each origin still owed, so
// it is no longer than the set, and an ACK's drops cost a lookup each on
// average however a neighbour interleaves LSAs and ACKs.
func (p *peer) drop(origin p2p.TileID) {
	if _, ok := p.queued[origin]; !ok {
		return
	}
	delete(p.queued, origin)
	if len(p.queue) > 2*len(p.queued)+64 {
		seen := make(map[p2p.TileID]struct{}, len(p.queued))
		q := p.queue[:0]
		for _, o := range p.queue {
			if _, ok := p.queued[o]; !ok {
				continue
			}
			if _, dup := seen[o]; dup {
				continue
			}
			seen[o] = struct{}{}
			q = append(q, o)
		}
		clear(p.queue[len(q):])
		p.queue = q
	}
}

// owe queues an acknowledgement for the neighbour; past maxAcksHeld it is
// not kept, and the neighbour will send that LSA again.
func (p *peer) owe(a Ack) {
	if len(p.acks) < maxAcksHeld {
		p.acks = append(p.acks, a)
	}
}

// resendDue queues again every LSA whose acknowledgement is overdue and
// returns how many.
func (p *peer) resendDue(now time.Time) int {
	if p.due.IsZero() || now.Before(p.due) {
		return 0
	}
	n := 0
	p.due = time.Time{}
	for o, w := range p.unacked {
		if !now.Before(w.due) {
			delete(p.unacked, o)
			p.enqueue(o)
			n++
			continue
		}
		if p.due.IsZero() || w.due.Before(p.due) {
			p.due = w.due
		}
	}
	return n
}
