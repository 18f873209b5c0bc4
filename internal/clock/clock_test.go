package clock

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestNewRefusesWhatIsNoSlowdown(t *testing.T) {
	for _, k := range []float64{0, 0.5, -2, MaxSlowdown + 1, math.NaN(), math.Inf(1)} {
		if c, err := New(k); err == nil {
			t.Errorf("New(%v) = %v, want an error", k, c)
		}
	}
	if c, err := New(1); c != nil || err != nil {
		t.Errorf("New(1) = %v, %v: want the machine's time (nil)", c, err)
	}
	for _, k := range []float64{1.5, 6, MaxSlowdown} {
		c, err := New(k)
		if err != nil || c.Slowdown() != k {
			t.Errorf("New(%v) = %v, %v", k, c, err)
		}
	}
}

// The machine's clock is a nil one: it converts nothing.
func TestNilIsTheMachine(t *testing.T) {
	var c *Clock
	if c.Slowdown() != 1 || c.Machine(time.Second) != time.Second {
		t.Errorf("nil clock: slowdown %v, a second lasts %v", c.Slowdown(), c.Machine(time.Second))
	}
	before := time.Now()
	now := c.Now()
	if now.Before(before) || now.After(time.Now()) {
		t.Errorf("nil clock's Now %v is not the machine's", now)
	}
}

func TestMachineScales(t *testing.T) {
	c, _ := New(4)
	for _, tc := range []struct{ in, want time.Duration }{
		{0, 0},
		{time.Millisecond, 4 * time.Millisecond},
		{250 * time.Millisecond, time.Second},
		{-time.Second, -4 * time.Second},
		{math.MaxInt64, math.MaxInt64}, // saturates instead of wrapping
		{math.MinInt64, math.MinInt64},
	} {
		if got := c.Machine(tc.in); got != tc.want {
			t.Errorf("Machine(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// spin waits, polling, until at least d of the machine's time has passed.
func spin(d time.Duration) {
	start := time.Now()
	for time.Since(start) < d {
		time.Sleep(time.Millisecond)
	}
}

// The clock's time passes slowdown times slower than the machine's. Each
// reading of the clock falls between the machine readings around it, so
// the bounds below hold however the scheduler delays this goroutine.
func TestTimePassesSlower(t *testing.T) {
	const k = 5
	c, _ := New(k)
	b0 := time.Now()
	t0 := c.Now()
	a0 := time.Now()
	spin(30 * time.Millisecond)
	b1 := time.Now()
	t1 := c.Now()
	a1 := time.Now()
	got := t1.Sub(t0)
	lo, hi := b1.Sub(a0)/k-1, a1.Sub(b0)/k+1 // +-1 ns: the division rounds
	if got < lo || got > hi {
		t.Errorf("the clock advanced %v while the machine's advanced %v..%v: want 1/%d of it", got, b1.Sub(a0), a1.Sub(b0), k)
	}
	if c.Since(t0) < got || c.Until(t1) > 0 {
		t.Errorf("Since/Until disagree with Now: %v, %v", c.Since(t0), c.Until(t1))
	}
}

// Timers, tickers and timeouts fire no sooner than their time in the
// clock's time (the runtime's timers never fire early).
func TestTimersWaitTheClocksTime(t *testing.T) {
	c, _ := New(3)
	const d = 10 * time.Millisecond

	start := c.Now()
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Fatal("a timer of an hour fired")
	}
	tm.Reset(d)
	<-tm.C
	if got := c.Since(start); got < d {
		t.Errorf("timer fired after %v of the clock's time, want >= %v", got, d)
	}

	start = c.Now()
	<-c.After(d)
	if got := c.Since(start); got < d {
		t.Errorf("After fired after %v, want >= %v", got, d)
	}

	start = c.Now()
	tk := c.NewTicker(time.Hour)
	tk.Reset(d)
	<-tk.C
	tk.Stop()
	if got := c.Since(start); got < d {
		t.Errorf("ticker ticked after %v, want >= %v", got, d)
	}

	start = c.Now()
	ctx, cancel := c.WithTimeout(context.Background(), d)
	defer cancel()
	<-ctx.Done()
	if got := c.Since(start); got < d {
		t.Errorf("timeout after %v, want >= %v", got, d)
	}
}
