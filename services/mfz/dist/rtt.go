package dist

import (
	"time"

	"github.com/t2tiles/itcd/internal/rtt"
)

// rttEstimator is the smoothed time from a request sent into an empty
// pipe to the first chunk it brings back, of one neighbour. It is the one
// RTT average of the service: the request window's timeout and the
// manifest fetch's silence timer both come from its RTO.
type rttEstimator = rtt.Estimator

// newRTT starts an estimate from the daemon's hello round trip.
func newRTT(hello time.Duration) rttEstimator { return rtt.New(hello) }
