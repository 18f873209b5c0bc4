// Package tick aligns periodic work to a grid of wall-clock time, so that
// timers with the same period, in one process or in many, fire together
// and one wakeup of the machine serves them all.
//
// A tile's daemon says hello on six links, its device sends keepalives on
// the same six and paces their packets; 400 simulated tiles do all of it
// in one process. Timers started at arbitrary moments each wake the
// machine on their own; timers whose deadlines are multiples of their
// period (counted from one fixed origin) fire at the same instants. Neighbours'
// hellos then also arrive together (on one machine exactly, across tiles
// as closely as their clocks agree), so the receiver wakes once for them.
// The rejected alternative, one shared ticker object handed to every
// user, would couple packages that otherwise share nothing. A Grid
// (Subscribe) is shared without being handed around: one timerfd per
// period for the whole process, which on the machine's own time wakes
// an idle tile more cheaply than Go timers on the same grid.
package tick

import "time"

// Next returns the first multiple of period strictly after t, counted
// from the zero time as time.Truncate counts (for periods that divide a
// second, the Unix epoch gives the same grid). A period <= 0 returns t.
func Next(t time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return t
	}
	g := t.Truncate(period) // strips the monotonic reading: wall clock
	if !g.After(t) {
		g = g.Add(period)
	}
	return g
}

// AtOrAfter returns the first multiple of period at or after t: a
// deadline rounded up to the grid, never earlier than asked. A period
// <= 0 returns t itself.
func AtOrAfter(t time.Time, period time.Duration) time.Time {
	if period <= 0 {
		return t
	}
	g := t.Truncate(period)
	if g.Before(t.Round(0)) {
		g = g.Add(period)
	}
	return g
}
