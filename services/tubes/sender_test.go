package tubes

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/rtt"
)

// TestSenderCapsTheFarWindow: whatever limit an ACK (or an OPEN or
// ACCEPT) offers, the sender sends no further than ahead past what the
// far side read, across the wrap too.
func TestSenderCapsTheFarWindow(t *testing.T) {
	for _, c := range []struct {
		name             string
		una, read, offer uint32
		ahead, wantLimit uint32
	}{
		{"honest offer", 0, 0, 1000, 4000, 1000},
		{"offer over the cap", 0, 0, 1 << 31, 4000, 4000},
		{"read moves the cap", 5000, 3000, 1 << 30, 4000, 7000},
		{"across the wrap", 1<<32 - 100, 1<<32 - 200, (1<<30 - 100), 4000, 3800},
		{"no cap", 0, 0, 1 << 31, 0, 1 << 31},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := newSender(0, rtt.New(0))
			s.ahead, s.una, s.nxt, s.read, s.limit = c.ahead, c.una, c.una, c.read, c.una+10
			s.write(make([]byte, 10))
			now := time.Unix(1, 0)
			s.next(now, 0)
			if _, ok := s.onAck(c.una+10, c.read, c.offer, nil, now); !ok {
				t.Fatalf("ack refused")
			}
			if s.limit != c.wantLimit {
				t.Fatalf("limit %d, want %d", s.limit, c.wantLimit)
			}
		})
	}
}

// TestSenderProbesForTheLastRead: the far itcd acknowledged every byte
// and the FIN, but the ACK that says its program read them was lost.
// Nothing is outstanding and the window is open, yet the sender must ask
// again (a probe at the RTO, backing off), or the tube never learns it
// was read and never closes. Once all is read it goes quiet.
func TestSenderProbesForTheLastRead(t *testing.T) {
	cfg := DefaultConfig()
	s := newSender(1000, rtt.New(0))
	now := time.Unix(1, 0)
	s.write(make([]byte, 10))
	s.fin = true
	for {
		if _, _, ok := s.next(now, 0); !ok {
			break
		}
	}
	if _, ok := s.onAck(11, 0, 1000, nil, now); !ok || !s.done() || s.finRead() {
		t.Fatalf("ack: ok %v done %v finRead %v", ok, s.done(), s.finRead())
	}
	var gaps []time.Duration
	last := now
	for range 6 {
		d := s.deadline(&cfg)
		if d.IsZero() {
			t.Fatalf("no deadline with the stream acknowledged and unread (after %d probes)", len(gaps))
		}
		if fired, probe := s.timeout(d, &cfg); !fired || !probe {
			t.Fatalf("at the deadline: fired %v probe %v", fired, probe)
		}
		gaps = append(gaps, d.Sub(last))
		last = d
	}
	for i := 1; i < len(gaps); i++ {
		if gaps[i] < gaps[i-1] || gaps[i] > cfg.MaxRTO.D() {
			t.Fatalf("probe gaps %v: want growing, at most %v", gaps, cfg.MaxRTO)
		}
	}
	if _, ok := s.onAck(11, 11, 1011, nil, last); !ok || !s.finRead() {
		t.Fatalf("the read ACK: ok %v finRead %v", ok, s.finRead())
	}
	if d := s.deadline(&cfg); !d.IsZero() {
		t.Fatalf("a deadline %v with everything read", d)
	}
}

// TestSenderAckInsideASegment: an ACK that ends inside a segment (a far
// side that cut it at its window, or a hostile one) acknowledges its
// first bytes; sending the rest again sends exactly the rest.
func TestSenderAckInsideASegment(t *testing.T) {
	cfg := DefaultConfig()
	s := newSender(1000, rtt.New(0))
	now := time.Unix(1, 0)
	data := make([]byte, 100)
	for i := range data {
		data[i] = byte(i)
	}
	s.write(data)
	if g, _, ok := s.next(now, 0); !ok || g.n != 100 {
		t.Fatalf("first segment %+v %v", g, ok)
	}
	if _, ok := s.onAck(5, 0, 1000, nil, now); !ok {
		t.Fatal("ack refused")
	}
	d := s.deadline(&cfg)
	if fired, _ := s.timeout(d, &cfg); !fired {
		t.Fatal("no timeout")
	}
	g, b, ok := s.next(d, 0)
	if !ok || g.seq != 5 || g.n != 95 || len(b) != 95 || b[0] != 5 {
		t.Fatalf("resent %+v (%d bytes, ok %v): want bytes 5..99", g, len(b), ok)
	}
}

// TestSenderStalledReaderIsNoDeadPeer: the far program stops reading and
// the window closes; the far itcd answers every probe. However long that
// lasts, the sender is not stalled in the sense of give_up_after (its
// peer is alive), only waiting; a far itcd that answers nothing is.
func TestSenderStalledReaderIsNoDeadPeer(t *testing.T) {
	cfg := DefaultConfig()
	for _, answers := range []bool{true, false} {
		s := newSender(100, rtt.New(0))
		now := time.Unix(1, 0)
		s.write(make([]byte, 300))
		for {
			if _, _, ok := s.next(now, 0); !ok {
				break
			}
		}
		s.onAck(100, 0, 100, nil, now) // all acknowledged, none read: closed
		if !s.windowClosed() {
			t.Fatal("window open")
		}
		end := now.Add(2 * cfg.GiveUpAfter.D())
		for now.Before(end) {
			now = s.deadline(&cfg)
			s.timeout(now, &cfg)
			if answers {
				s.onAck(100, 0, 100, nil, now.Add(10*time.Millisecond))
			}
		}
		stalled := s.silentFor(now) >= cfg.GiveUpAfter.D()
		if stalled == answers {
			t.Errorf("far itcd answers %v: stalled for %v", answers, s.silentFor(now))
		}
	}
}

// TestSenderIdleThenWrite: a tube idle for longer than give_up_after
// writes again: the wait for its acknowledgement starts then, not at
// the last acknowledgement before the idle time (which failed the tube
// at once, "acknowledged nothing for 1m0s").
func TestSenderIdleThenWrite(t *testing.T) {
	cfg := DefaultConfig()
	s := newSender(1<<16, rtt.New(0))
	now := time.Unix(1, 0)
	s.write(make([]byte, 10))
	s.next(now, 0)
	s.onAck(10, 10, 10+1<<16, nil, now)
	now = now.Add(2 * cfg.GiveUpAfter.D())
	s.write(make([]byte, 10))
	if _, _, ok := s.next(now, 0); !ok {
		t.Fatal("nothing sent")
	}
	if d := s.silentFor(now.Add(time.Second)); d > time.Second {
		t.Fatalf("stalled for %v one second after the write", d)
	}
}
