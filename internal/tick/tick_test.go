package tick

import (
	"testing"
	"time"
)

func TestNextAndAtOrAfter(t *testing.T) {
	base := time.Unix(1_700_000_000, 0) // a multiple of every period below
	ms := time.Millisecond
	for _, tc := range []struct {
		name      string
		at        time.Duration // after base
		period    time.Duration
		next, aoa time.Duration // after base
	}{
		{"on the grid", 0, 250 * ms, 250 * ms, 0},
		{"just after", 1, 250 * ms, 250 * ms, 250 * ms},
		{"just before", 250*ms - 1, 250 * ms, 250 * ms, 250 * ms},
		{"mid period", 100 * ms, 250 * ms, 250 * ms, 250 * ms},
		{"second period", 260 * ms, 250 * ms, 500 * ms, 500 * ms},
		{"fine grid", 12 * ms, 5 * ms, 15 * ms, 15 * ms},
		{"fine grid on point", 15 * ms, 5 * ms, 20 * ms, 15 * ms},
		{"no period", 7 * ms, 0, 7 * ms, 7 * ms},
		{"negative period", 7 * ms, -ms, 7 * ms, 7 * ms},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at := base.Add(tc.at)
			if got := Next(at, tc.period); !got.Equal(base.Add(tc.next)) {
				t.Errorf("Next(+%v, %v) = +%v, want +%v", tc.at, tc.period, got.Sub(base), tc.next)
			}
			if got := AtOrAfter(at, tc.period); !got.Equal(base.Add(tc.aoa)) {
				t.Errorf("AtOrAfter(+%v, %v) = +%v, want +%v", tc.at, tc.period, got.Sub(base), tc.aoa)
			}
		})
	}
}

// TestNextWithMonotonicClock checks times read from the clock (with a
// monotonic reading) land on the same grid as wall-clock times.
func TestNextWithMonotonicClock(t *testing.T) {
	now := time.Now()
	for _, p := range []time.Duration{5 * time.Millisecond, 250 * time.Millisecond, time.Second} {
		n := Next(now, p)
		if !n.After(now) || n.Sub(now) > p || n.UnixNano()%int64(p) != 0 {
			t.Errorf("Next(now, %v) = %v: not on the grid or not within one period after %v", p, n, now)
		}
		a := AtOrAfter(now, p)
		if a.Before(now.Round(0)) || a.Sub(now) >= p || a.UnixNano()%int64(p) != 0 {
			t.Errorf("AtOrAfter(now, %v) = %v: not on the grid or not within one period of %v", p, a, now)
		}
	}
}
