package counter

import (
	"context"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Status is the service's section of `itcd status` and the answer to the
// control command "counter". It is plain data and reads the same in JSON.
type Status struct {
	Path string `json:"path"`
	// Value is null until the file has held a number.
	Value *int64 `json:"value"`
	// Problem says why the file's content is not Value now, such as
	// "file missing" or "\"abc\" is not a whole number"; empty if it is.
	Problem  string        `json:"problem,omitempty"`
	Interval conf.Duration `json:"interval"`
	// Neighbours are the live neighbours that have told us a value, in
	// direction order. Never null.
	Neighbours []NeighbourValue `json:"neighbours"`
	Counts
}

// NeighbourValue is one neighbour's value.
type NeighbourValue struct {
	Dir   packet.Dir `json:"dir"`
	Tile  p2p.TileID `json:"tile"`
	Value int64      `json:"value"`
	// LastHeard is how long ago it last told us, in seconds.
	LastHeard float64 `json:"last_heard_s_ago"`
}

// Counts are the service's counters since it started.
type Counts struct {
	BadContent uint64 `json:"bad_content"` // reads of the file that gave no number (a missing or empty file is not counted, nor the same bad content twice in a row)
	Sent       uint64 `json:"sent"`        // packets queued for neighbours
	QueueFull  uint64 `json:"queue_full"`  // packets not sent because the link's queue was full
	Received   uint64 `json:"received"`    // values received from live neighbours
	Malformed  uint64 `json:"malformed"`   // packets too short or of an unknown type
	NotLive    uint64 `json:"not_live"`    // packets from a neighbour that was not live, ignored
}

// Snapshot returns the service's state. It is safe from any goroutine.
func (s *Service) Snapshot() Status {
	now := s.clk.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Path:       s.path,
		Problem:    s.problem,
		Interval:   conf.Duration(s.interval),
		Neighbours: []NeighbourValue{},
		Counts:     s.counts,
	}
	if s.hasValue {
		v := s.value
		st.Value = &v
	}
	for _, d := range packet.Links {
		if n := s.heard[d]; n != nil {
			st.Neighbours = append(st.Neighbours, NeighbourValue{
				Dir: d, Tile: n.tile, Value: n.value, LastHeard: now.Sub(n.at).Seconds(),
			})
		}
	}
	return st
}

// Status implements p2p.StatusReporter.
func (s *Service) Status() any { return s.Snapshot() }

// Commands implements p2p.ControlHandler.
func (s *Service) Commands() []string { return []string{"counter"} }

// Control implements p2p.ControlHandler: "counter" returns the Status.
func (s *Service) Control(ctx context.Context, cmd string, args []byte) (any, error) {
	return s.Snapshot(), nil
}
