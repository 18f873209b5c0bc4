package routes

import (
	"slices"
	"testing"
	"time"

	"github.com/t2tiles/itcd/p2p"
)

func drain(p *peer) []p2p.TileID {
	var out []p2p.TileID
	for {
		o, ok := p.next()
		if !ok {
			return out
		}
		out = append(out, o)
	}
}

func TestPeerQueue(t *testing.T) {
	p := newPeer(id(100))
	for _, n := range []byte{1, 2, 1, 3, 2} {
		p.enqueue(id(n))
	}
	o, _ := p.next()
	p.requeue(id(9)) // never queued: goes in front
	p.requeue(o)     // back in front of it
	p.requeue(id(2)) // still queued: stays where it is
	if got, want := drain(p), []p2p.TileID{id(1), id(9), id(2), id(3)}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if _, ok := p.next(); ok || p.queue != nil {
		t.Fatalf("empty queue gave more, or kept %d", len(p.queue))
	}
	// Dropped origins do not come out, and compaction keeps the queue
	// bounded however often they are queued and dropped again.
	p.enqueue(id(1))
	for i := range 10000 {
		o := p2p.TileID{0xd0, byte(i >> 8), byte(i)}
		p.enqueue(o)
		p.drop(o)
		if len(p.queue) > 2*len(p.queued)+65 {
			t.Fatalf("queue of %d for %d queued", len(p.queue), len(p.queued))
		}
	}
	for range 1000 {
		p.enqueue(id(5))
		p.drop(id(5))
	}
	if len(p.queue) > 2*len(p.queued)+65 {
		t.Fatalf("queue of %d for %d queued", len(p.queue), len(p.queued))
	}
	if got := drain(p); !slices.Equal(got, []p2p.TileID{id(1)}) {
		t.Fatalf("after drops: %v", got)
	}
}

func TestPeerAcks(t *testing.T) {
	p := newPeer(id(100))
	p.sent(id(1), 5, t0.Add(time.Second))
	tests := []struct {
		ack  Ack
		kept bool
	}{
		{Ack{id(2), 5}, true},          // another origin
		{Ack{id(1), 4}, true},          // older than sent
		{Ack{id(1), 0x80000006}, true}, // so far round it is older
		{Ack{id(1), 6}, false},         // newer: it holds ours or better
	}
	for _, tc := range tests {
		p.sent(id(1), 5, t0.Add(time.Second))
		p.holds(tc.ack)
		if _, ok := p.unacked[id(1)]; ok != tc.kept {
			t.Errorf("ack %+v: kept %v", tc.ack, ok)
		}
	}
	p.sent(id(1), 5, t0.Add(time.Second))
	p.holds(Ack{id(1), 5})
	if len(p.unacked) != 0 {
		t.Errorf("the ack of what was sent left it waiting")
	}
	for i := range maxAcksHeld + 10 {
		p.owe(Ack{id(byte(i)), 1})
	}
	if len(p.acks) != maxAcksHeld {
		t.Errorf("%d acks owed, bound %d", len(p.acks), maxAcksHeld)
	}
}

func TestPeerResendDue(t *testing.T) {
	p := newPeer(id(100))
	if p.resendDue(t0.Add(time.Hour)) != 0 {
		t.Fatal("resent with nothing sent")
	}
	p.sent(id(1), 1, t0.Add(3*time.Second))
	p.sent(id(2), 1, t0.Add(1*time.Second))
	p.sent(id(3), 1, t0.Add(2*time.Second))
	if !p.due.Equal(t0.Add(time.Second)) {
		t.Fatalf("due %v", p.due)
	}
	if n := p.resendDue(t0.Add(999 * time.Millisecond)); n != 0 {
		t.Fatalf("resent %d early", n)
	}
	if n := p.resendDue(t0.Add(2 * time.Second)); n != 2 || !p.due.Equal(t0.Add(3*time.Second)) {
		t.Fatalf("resent %d, next due %v", n, p.due)
	}
	got := drain(p)
	slices.SortFunc(got, func(a, b p2p.TileID) int { return int(a[1]) - int(b[1]) })
	if !slices.Equal(got, []p2p.TileID{id(2), id(3)}) || len(p.unacked) != 1 {
		t.Fatalf("requeued %v, %d still waiting", got, len(p.unacked))
	}
	if n := p.resendDue(t0.Add(5 * time.Second)); n != 1 || !p.due.IsZero() {
		t.Fatalf("resent %d, due %v", n, p.due)
	}
}

// TestPeerAckedNotDue: once every LSA sent is acknowledged, no
// retransmission is due: the service's timer does not wake for nothing
// a second after every flood.
func TestPeerAckedNotDue(t *testing.T) {
	p := newPeer(id(100))
	p.sent(id(1), 1, t0.Add(time.Second))
	p.sent(id(2), 1, t0.Add(time.Second))
	p.holds(Ack{id(1), 1})
	if p.due.IsZero() {
		t.Fatal("no retransmission due with an LSA unacknowledged")
	}
	p.holds(Ack{id(2), 1})
	if !p.due.IsZero() {
		t.Fatalf("due %v with every LSA acknowledged", p.due)
	}
}

// An acknowledgement (of the neighbour's summary at connect, or of an LSA
// it got from another tile) takes off the queue every LSA it holds as new
// as ours, and only those.
func TestPeerAckedDropsQueued(t *testing.T) {
	p := newPeer(id(100))
	held := map[p2p.TileID]*LSA{id(1): {Seq: 5}, id(2): {Seq: 5}, id(3): {Seq: 5}}
	for _, o := range []p2p.TileID{id(1), id(2), id(3), id(4)} {
		p.enqueue(o)
	}
	for _, a := range []Ack{
		{id(1), 5}, // as new as ours: dropped
		{id(2), 6}, // newer than ours: dropped (ours is no news to it)
		{id(3), 4}, // older: it needs ours
		{id(4), 9}, // an origin we do not hold: nothing to decide
	} {
		l, ok := held[a.Origin]
		p.acked(a, l, ok)
	}
	if got := drain(p); !slices.Equal(got, []p2p.TileID{id(3), id(4)}) {
		t.Fatalf("still owed %v, want %v", got, []p2p.TileID{id(3), id(4)})
	}
}

// A neighbour that replays old LSAs (each queues its origin again) and
// acknowledges them (each drops it) leaves stale entries in the queue:
// they are compacted to one per origin owed, so the queue never grows
// past twice the set, and drops of origins not owed cost nothing.
func TestPeerDropKeepsQueueShort(t *testing.T) {
	p := newPeer(id(100))
	for i := range 1000 {
		p.enqueue(idN(i + 1))
	}
	for range 200 {
		p.drop(idN(7))
		p.enqueue(idN(7))
	}
	// It acknowledges all but ten of what it is owed.
	for i := 11; i <= 1000; i++ {
		p.drop(idN(i))
	}
	for i := 2000; i < 3000; i++ {
		p.drop(idN(i)) // not owed
	}
	if len(p.queue) > 2*len(p.queued)+64 {
		t.Fatalf("queue %d entries for %d owed", len(p.queue), len(p.queued))
	}
	got := drain(p)
	if len(got) != 10 || slices.Index(got, idN(7)) < 0 {
		t.Fatalf("drained %v", got)
	}
}
