package daemon

import (
	"math/rand"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

// TestHeadTakesServicesInTurn checks head against the plain definition
// of the round robin: from l.next, the first service (2..MaxService,
// then round again) with a packet waiting, one packet each turn.
func TestHeadTakesServicesInTurn(t *testing.T) {
	rng := rand.New(rand.NewSource(13))
	for trial := 0; trial < 200; trial++ {
		var l linkOut
		l.mfm, l.own, l.next = newPktQueue(4), newPktQueue(4), 2
		want := map[packet.Service]int{} // packets queued per service
		for k := rng.Intn(8); k >= 0; k-- {
			s := packet.Service(2 + rng.Intn(int(packet.MaxService)-1))
			q := l.serviceQueue(s, 64)
			if rng.Intn(4) > 0 { // some services keep an empty queue
				for n := 1 + rng.Intn(3); n > 0; n-- {
					q.push([]byte{byte(s)})
					want[s]++
				}
			}
		}
		l.next = packet.Service(2 + rng.Intn(int(packet.MaxService)-1))
		for {
			ref := packet.Service(0) // the plain scan's choice
			for i := 0; i < int(packet.MaxService)-1; i++ {
				s := 2 + (l.next-2+packet.Service(i))%(packet.MaxService-1)
				if want[s] > 0 {
					ref = s
					break
				}
			}
			q, s := l.head()
			if ref == 0 {
				if q != nil {
					t.Fatalf("trial %d: head gave service %d with nothing waiting", trial, s)
				}
				break
			}
			if q == nil || s != ref {
				t.Fatalf("trial %d: head gave service %d, want %d (next %d)", trial, s, ref, l.next)
			}
			if got := q.front()[0]; got != byte(ref) {
				t.Fatalf("trial %d: service %d's queue held a packet of %d", trial, ref, got)
			}
			q.pop()
			want[ref]--
		}
	}
}

// TestHeadPutsMFMAndHellosFirst: MFM packets, then the daemon's own,
// overtake every service.
func TestHeadPutsMFMAndHellosFirst(t *testing.T) {
	var l linkOut
	l.mfm, l.own, l.next = newPktQueue(4), newPktQueue(4), 2
	l.serviceQueue(5, 4).push([]byte{5})
	l.own.push([]byte{1})
	l.mfm.push([]byte{0})
	for _, want := range []*pktQueue{l.mfm, l.own, l.svc[5]} {
		q, _ := l.head()
		if q != want {
			t.Fatalf("head gave the wrong queue first")
		}
		q.pop()
	}
	if q, _ := l.head(); q != nil {
		t.Fatal("head gave a queue with nothing waiting")
	}
}
