package daemon

import (
	"testing"

	"github.com/t2tiles/itcd/control"
)

// The control socket shows each neighbour state by the daemon's own name
// for it.
func TestPublicState(t *testing.T) {
	for _, tc := range []struct {
		s    NeighbourState
		want control.NeighbourState
	}{
		{Absent, control.Absent},
		{LinkUp, control.LinkUp},
		{Live, control.Live},
	} {
		got := publicState(tc.s)
		if got != tc.want || got.String() != tc.s.String() {
			t.Errorf("publicState(%v) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
