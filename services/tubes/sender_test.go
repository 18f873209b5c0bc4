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
			s.next(now)
			if _, ok := s.onAck(c.una+10, c.read, c.offer, nil, now); !ok {
				t.Fatalf("ack refused")
			}
			if s.limit != c.wantLimit {
				t.Fatalf("limit %d, want %d", s.limit, c.wantLimit)
			}
		})
	}
}
