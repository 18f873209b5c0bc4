package dist

import "time"

// rttEstimator is the smoothed time from a request sent into an empty
// pipe to the first chunk it brings back, of one neighbour, and its mean
// deviation, as TCP keeps them (RFC 6298: gains 1/8 and 1/4). It is the
// one RTT average of the service: the request window's timeout and the
// manifest fetch's silence timer both come from rto. (The daemon smooths
// its hello round trips by itself; only its first value seeds this.)
type rttEstimator struct {
	srtt, rttvar time.Duration
}

// newRTT starts an estimate from the daemon's smoothed hello round trip
// of the link, or from 50 ms if it has none.
func newRTT(hello time.Duration) rttEstimator {
	if hello > 0 {
		return rttEstimator{srtt: hello, rttvar: hello / 2}
	}
	return rttEstimator{srtt: 50 * time.Millisecond, rttvar: 25 * time.Millisecond}
}

// sample takes one measured request-to-first-data time.
func (r *rttEstimator) sample(d time.Duration) {
	dev := d - r.srtt
	if dev < 0 {
		dev = -dev
	}
	r.rttvar += (dev - r.rttvar) / 4
	r.srtt += (d - r.srtt) / 8
}

// rto is how long the neighbour may stay silent while something asked of
// it is outstanding: twice the smoothed time plus four deviations, at
// least minRTO, doubled per timeout in a row (backoff, at most 16 times),
// and at most maxRTO.
func (r *rttEstimator) rto(backoff uint, minRTO, maxRTO time.Duration) time.Duration {
	rto := max(2*r.srtt+4*r.rttvar, minRTO)
	rto <<= min(backoff, 4)
	return min(rto, maxRTO)
}
