// Package tokens is a token bucket: an allowance of work that refills at
// a steady rate up to a burst. Services use it to bound what a neighbour
// can make a tile do (routes: LSAs checked; tubes: RESETs sent).
//
// A Bucket is a plain value owned by one goroutine; the rate and burst
// come with each Take, so a bucket costs two words and no set-up. The
// zero Bucket is full at its first Take.
package tokens

import "time"

// Bucket holds the tokens left and when it was last refilled.
type Bucket struct {
	n  float64
	at time.Time
}

// Take refills the bucket for the time since the last Take, at rate
// tokens a second up to burst, and spends one token; false if it has
// none.
func (b *Bucket) Take(now time.Time, rate, burst float64) bool {
	b.n = min(burst, b.n+now.Sub(b.at).Seconds()*rate)
	b.at = now
	if b.n < 1 {
		return false
	}
	b.n--
	return true
}
