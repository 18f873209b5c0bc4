// Package clock is the time of a tile's daemon, its device and its
// services: the machine's, or a simulated grid's that runs slower than
// the machine's.
//
// A tile on a T2 grid has a core of its own. A simulator that runs 400
// tiles in one process on two cores gives each about a two-hundredth of
// one, and when a file spreads the tiles want more CPU than that: links
// then carry less than their rate, timers fire late and neighbours seem
// to vanish, so what is measured is the machine, not the protocol. A
// slowed clock gives each tile more CPU per second of its own time:
// with Slowdown 6, one second of the grid lasts six seconds of the
// machine, and every rate, interval and timeout of the grid (all taken
// from this clock) stretches with it. The links' rates hold in the
// grid's time, so a push measured in the grid's time is what the same
// grid would do with a core per tile, as long as the machine keeps up
// with the slowed grid.
//
// A nil *Clock is the machine's time, so code that takes one costs
// nothing extra on a tile and in tests that do not slow anything. The
// rejected alternative, a fake clock the simulator advances step by
// step, would need every goroutine of every tile to report when it is
// idle; a slowed real clock needs nothing of them.
package clock

import (
	"context"
	"fmt"
	"math"
	"time"
)

// MaxSlowdown bounds Slowdown: beyond it a 250 ms hello interval would
// last over a minute of the machine's time, and nothing that slow is a
// useful simulation.
const MaxSlowdown = 256

// Clock is a time that passes Slowdown times slower than the machine's,
// counted from the moment New made it. Safe for concurrent use; it never
// changes after New.
type Clock struct {
	origin   time.Time // the machine's time at New, with its monotonic reading
	slowdown float64
}

// New returns a clock slowdown times slower than the machine's, starting
// now at the machine's time. slowdown 1 returns nil: the machine's time.
func New(slowdown float64) (*Clock, error) {
	if !(slowdown >= 1 && slowdown <= MaxSlowdown) { // also refuses NaN
		return nil, fmt.Errorf("slowdown %v: want 1 (the machine's time) to %d", slowdown, MaxSlowdown)
	}
	if slowdown == 1 {
		return nil, nil
	}
	return &Clock{origin: time.Now(), slowdown: slowdown}, nil
}

// Slowdown is how many seconds of the machine's time one second of this
// clock lasts: 1 for the machine's own.
func (c *Clock) Slowdown() float64 {
	if c == nil {
		return 1
	}
	return c.slowdown
}

// Now returns the clock's time. It carries a monotonic reading, so
// Sub, Since and Until between its values are immune to changes of the
// machine's wall clock, as time.Now's are.
func (c *Clock) Now() time.Time {
	if c == nil {
		return time.Now()
	}
	return c.origin.Add(c.toClock(time.Since(c.origin)))
}

// Since returns the clock's time elapsed since t (a time of this clock).
func (c *Clock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Until returns the clock's time left until t (a time of this clock).
func (c *Clock) Until(t time.Time) time.Duration { return t.Sub(c.Now()) }

// Machine converts a duration of this clock to the machine's: what a
// timer of the runtime or a socket deadline must be given.
func (c *Clock) Machine(d time.Duration) time.Duration {
	if c == nil {
		return d
	}
	m := float64(d) * c.slowdown
	switch { // saturate: a float beyond int64 converts to anything
	case m >= math.MaxInt64:
		return math.MaxInt64
	case m <= math.MinInt64:
		return math.MinInt64
	}
	return time.Duration(m)
}

func (c *Clock) toClock(m time.Duration) time.Duration {
	return time.Duration(float64(m) / c.slowdown)
}

// Timer is time.Timer on a Clock. C receives the machine's time when it
// fires, which callers of this package ignore.
type Timer struct {
	C <-chan time.Time
	t *time.Timer
	c *Clock
}

// NewTimer starts a timer that fires after d of the clock's time.
func (c *Clock) NewTimer(d time.Duration) *Timer {
	t := time.NewTimer(c.Machine(d))
	return &Timer{C: t.C, t: t, c: c}
}

// Reset makes the timer fire after d of its clock's time, as
// time.Timer.Reset does.
func (t *Timer) Reset(d time.Duration) bool { return t.t.Reset(t.c.Machine(d)) }

// Stop stops the timer, as time.Timer.Stop does.
func (t *Timer) Stop() bool { return t.t.Stop() }

// After waits for d of the clock's time, then sends on the channel it
// returned.
func (c *Clock) After(d time.Duration) <-chan time.Time { return time.After(c.Machine(d)) }

// Ticker is time.Ticker on a Clock. C receives the machine's time.
type Ticker struct {
	C <-chan time.Time
	t *time.Ticker
	c *Clock
}

// NewTicker returns a ticker that ticks every d of the clock's time. d
// must be positive, as for time.NewTicker.
func (c *Clock) NewTicker(d time.Duration) *Ticker {
	t := time.NewTicker(c.Machine(d))
	return &Ticker{C: t.C, t: t, c: c}
}

// Reset makes the ticker tick every d of its clock's time, as
// time.Ticker.Reset does.
func (t *Ticker) Reset(d time.Duration) { t.t.Reset(t.c.Machine(d)) }

// Stop stops the ticker, as time.Ticker.Stop does.
func (t *Ticker) Stop() { t.t.Stop() }

// WithTimeout is context.WithTimeout with d in the clock's time.
func (c *Clock) WithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.Machine(d))
}
