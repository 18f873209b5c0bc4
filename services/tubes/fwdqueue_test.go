package tubes

import (
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

// TestFwdQueue: the queue keeps its order and its bound; when full, the
// incoming link with the most packets gives up its newest, and an
// arrival on that link is dropped itself.
func TestFwdQueue(t *testing.T) {
	type step struct {
		in       packet.Dir
		n        int // packets pushed
		pop      int // then popped
		dropped  int // in all, after this step
		wantLen  int
		wantFrom map[packet.Dir]int
	}
	for _, c := range []struct {
		name  string
		steps []step
	}{
		{"under the bound", []step{
			{in: packet.WT, n: 5, wantLen: 5, wantFrom: map[packet.Dir]int{packet.WT: 5}},
			{in: packet.NE, n: 3, pop: 6, wantLen: 2, wantFrom: map[packet.Dir]int{packet.NE: 2}},
		}},
		{"one link floods alone", []step{
			{in: packet.WT, n: fwdMax + 10, dropped: 10, wantLen: fwdMax, wantFrom: map[packet.Dir]int{packet.WT: fwdMax}},
		}},
		{"a flood gives way", []step{
			{in: packet.WT, n: fwdMax, wantLen: fwdMax},
			{in: packet.NE, n: 5, dropped: 5, wantLen: fwdMax, wantFrom: map[packet.Dir]int{packet.WT: fwdMax - 5, packet.NE: 5}},
			{in: packet.WT, n: 4, dropped: 9, wantLen: fwdMax, wantFrom: map[packet.Dir]int{packet.WT: fwdMax - 5, packet.NE: 5}},
		}},
		{"shares even out", []step{
			{in: packet.WT, n: fwdMax, wantLen: fwdMax},
			{in: packet.NE, n: fwdMax, dropped: fwdMax, wantLen: fwdMax, wantFrom: map[packet.Dir]int{packet.WT: fwdMax / 2, packet.NE: fwdMax / 2}},
			{in: packet.SE, n: fwdMax, dropped: 2 * fwdMax, wantLen: fwdMax, wantFrom: map[packet.Dir]int{packet.WT: 11, packet.NE: 10, packet.SE: 11}},
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var q fwdQueue
			dropped, seq := 0, 0
			var order []int
			for i, st := range c.steps {
				for range st.n {
					seq++
					dropped += q.push(st.in, []byte{byte(st.in), byte(seq)})
				}
				for range st.pop {
					p, ok := q.pop()
					if !ok {
						t.Fatalf("step %d: nothing to pop", i)
					}
					order = append(order, int(p[1]))
				}
				if dropped != st.dropped || q.len() != st.wantLen {
					t.Fatalf("step %d: dropped %d len %d; want %d and %d", i, dropped, q.len(), st.dropped, st.wantLen)
				}
				if st.wantFrom != nil {
					var counted [8]int
					for _, f := range q.pkts {
						counted[f.in]++
					}
					for d := range 8 {
						if q.from[d] != st.wantFrom[packet.Dir(d)] || counted[d] != q.from[d] {
							t.Fatalf("step %d: from %v (counted %v), want %v", i, q.from, counted, st.wantFrom)
						}
					}
				}
			}
			// What is left leaves oldest first.
			for {
				p, ok := q.pop()
				if !ok {
					break
				}
				order = append(order, int(p[1]))
			}
			for i := 1; i < len(order); i++ {
				if order[i] <= order[i-1] {
					t.Fatalf("out of order: %v", order)
				}
			}
			if q.from != [8]int{} || q.pkts != nil {
				t.Fatalf("empty queue holds %v, %d", q.from, len(q.pkts))
			}
		})
	}
}
