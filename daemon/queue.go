package daemon

import "github.com/t2tiles/itcd/itc/packet"

// slot holds one whole packet.
type slot struct {
	n uint8
	b [packet.MaxLen]byte
}

// pktQueue is a bounded FIFO of packets in a ring of fixed slots, allocated
// when first used so idle services cost nothing. Callers lock.
type pktQueue struct {
	slots    []slot
	head, n  int
	limit    int
	wasFull  bool // filled up since it last drained to half
	overflow uint64
}

func newPktQueue(limit int) *pktQueue { return &pktQueue{limit: limit} }

func (q *pktQueue) len() int  { return q.n }
func (q *pktQueue) room() int { return q.limit - q.n }

// push copies p in; it reports false when the queue is full.
func (q *pktQueue) push(p []byte) bool {
	if q.n == q.limit {
		q.wasFull = true
		q.overflow++
		return false
	}
	if q.slots == nil {
		q.slots = make([]slot, q.limit)
	}
	s := &q.slots[(q.head+q.n)%q.limit]
	s.n = uint8(copy(s.b[:], p))
	q.n++
	if q.n == q.limit {
		q.wasFull = true
	}
	return true
}

// front returns the oldest packet without removing it.
func (q *pktQueue) front() []byte {
	s := &q.slots[q.head]
	return s.b[:s.n]
}

// pop removes the oldest packet. It reports whether a queue that had been
// full has just drained to half, the moment to tell its sender.
func (q *pktQueue) pop() (drained bool) {
	q.head = (q.head + 1) % q.limit
	q.n--
	if q.wasFull && q.n <= q.limit/2 {
		q.wasFull = false
		return true
	}
	return false
}

// clear drops everything queued.
func (q *pktQueue) clear() { q.head, q.n, q.wasFull = 0, 0, false }
