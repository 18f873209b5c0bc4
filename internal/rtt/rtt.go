// Package rtt keeps a smoothed round-trip time and its mean deviation, as
// TCP does (RFC 6298: gains 1/8 and 1/4), and derives a retransmission
// timeout from them. The signed-file service and the tube service each
// keep one per neighbour or tube; the daemon smooths its hello round trips
// by itself, and only its first value seeds an estimate here.
package rtt

import "time"

// Estimator is a smoothed round trip (SRTT) and its mean deviation.
type Estimator struct {
	SRTT, RTTVar time.Duration
}

// New starts an estimate from the daemon's smoothed hello round trip of
// the link, or from 50 ms if it has none.
func New(hello time.Duration) Estimator {
	if hello > 0 {
		return Estimator{SRTT: hello, RTTVar: hello / 2}
	}
	return Estimator{SRTT: 50 * time.Millisecond, RTTVar: 25 * time.Millisecond}
}

// Sample takes one measured round trip.
func (r *Estimator) Sample(d time.Duration) {
	dev := d - r.SRTT
	if dev < 0 {
		dev = -dev
	}
	r.RTTVar += (dev - r.RTTVar) / 4
	r.SRTT += (d - r.SRTT) / 8
}

// RTO is how long the far end may stay silent while something is
// outstanding: twice the smoothed time plus four deviations, at least
// minRTO, doubled per timeout in a row (backoff, at most 16 times), and at
// most maxRTO.
func (r *Estimator) RTO(backoff uint, minRTO, maxRTO time.Duration) time.Duration {
	rto := max(2*r.SRTT+4*r.RTTVar, minRTO)
	rto <<= min(backoff, 4)
	return min(rto, maxRTO)
}
