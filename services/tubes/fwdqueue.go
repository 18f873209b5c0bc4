package tubes

import "github.com/t2tiles/itcd/itc/packet"

// fwdQueue holds the ROUTED packets waiting to be forwarded on one link,
// oldest first, at most fwdMax. When it is full the neighbour that has
// the most packets in it gives one up (its newest): a neighbour that
// floods keeps no more than its share, and the packets of the others
// still pass. Drop-tail, the alternative, let a flood sent just before
// each honest packet take every free place. Forwarding tiles keep no
// other state. The service's goroutine owns it.
type fwdQueue struct {
	pkts []fwdPacket
	from [8]int // packets held per incoming link
}

type fwdPacket struct {
	in packet.Dir // the link it came by
	p  []byte
}

func (q *fwdQueue) len() int { return len(q.pkts) }

// push queues p, which came by link in, and reports how many packets
// were dropped to keep the bound: 0 or 1, p itself or another
// neighbour's newest.
func (q *fwdQueue) push(in packet.Dir, p []byte) (dropped int) {
	if len(q.pkts) >= fwdMax {
		big := in
		for d, n := range q.from {
			if n > q.from[big] {
				big = packet.Dir(d)
			}
		}
		if big == in {
			return 1
		}
		for i := len(q.pkts) - 1; i >= 0; i-- {
			if q.pkts[i].in == big {
				q.pkts = append(q.pkts[:i], q.pkts[i+1:]...)
				q.from[big]--
				break
			}
		}
		dropped = 1
	}
	q.pkts = append(q.pkts, fwdPacket{in, p})
	q.from[in]++
	return dropped
}

// pop takes the oldest packet, false if none waits.
func (q *fwdQueue) pop() ([]byte, bool) {
	if len(q.pkts) == 0 {
		return nil, false
	}
	f := q.pkts[0]
	q.pkts[0] = fwdPacket{}
	q.pkts = q.pkts[1:]
	q.from[f.in]--
	if len(q.pkts) == 0 {
		q.pkts = nil // let the array go, not creep along it
	}
	return f.p, true
}

// clear drops everything: the link's neighbour left or was replaced.
func (q *fwdQueue) clear() { *q = fwdQueue{} }
