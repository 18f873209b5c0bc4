package dev

import "time"

// How closely a rate-limited UDP link keeps its rate. A link's packets
// are due exactly len/rate apart while it has a backlog (a busy period);
// the clock goroutine sends them on its next wakeup, so each leaves late
// by up to the wakeup granularity, more on a machine too loaded to wake
// it in time. A busy period's bytes take `ideal` at the rate and took
// `actual` from the first departure to the end of the last one: the rate
// the link kept is rate*ideal/actual. Only periods of at least
// minMeasuredBusy count, so the granularity (a few ms at the end of a
// period) weighs under 0.5%.

// minMeasuredBusy is the shortest busy period the rate counters count.
const minMeasuredBusy = int64(time.Second)

// busyPeriod is the current busy period of one link; the clock goroutine
// owns it.
type busyPeriod struct {
	start int64 // UDP.now() of the first departure; 0: no period open
	ideal int64 // ns the period's bytes take at the rate
	stop  int64 // when the last departure's transmission ends
}

// departed records a departure at now of n bytes on a link of rate
// bytes/s.
func (b *busyPeriod) departed(now int64, n, rate int) {
	t := int64(n) * int64(time.Second) / int64(rate)
	if b.start == 0 {
		b.start = now
	}
	b.ideal += t
	b.stop = now + t
}

// close ends the period and adds it to c if it was long enough to say
// something about the rate.
func (b *busyPeriod) close(c *linkCounters) {
	if b.start != 0 && b.ideal >= minMeasuredBusy {
		c.busyIdeal.Add(uint64(b.ideal))
		c.busyActual.Add(uint64(b.stop - b.start))
	}
	*b = busyPeriod{}
}
