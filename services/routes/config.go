package routes

import (
	"fmt"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
)

// Config is the routing service's settings: the [route] section of
// itcd.toml.
type Config struct {
	// Refresh is how often a tile sends its LSA again unchanged. Reliable
	// flooding keeps databases right between refreshes; the refresh only
	// repairs what nothing else would, so it is rare: on a 20x20 grid a
	// 10-minute refresh costs each link about 0.1% of 64 KB/s.
	Refresh conf.Duration `toml:"refresh"`
	// MaxAge drops an LSA not refreshed for this long (its tile is gone).
	MaxAge conf.Duration `toml:"max_age"`
	// Hold drops the LSA of a tile no route reaches after this long.
	Hold conf.Duration `toml:"hold"`
	// MaxTiles is the most LSAs a tile keeps: the largest grid it routes.
	MaxTiles int `toml:"max_tiles"`
	// Retransmit is how long an LSA sent to a neighbour waits for its
	// acknowledgement before it is sent again.
	Retransmit conf.Duration `toml:"retransmit"`
	// MinInterval is the least time between two LSAs a tile makes of
	// itself: a flapping link costs the grid at most one flood per
	// interval.
	MinInterval conf.Duration `toml:"min_interval"`
	// NeighbourRate is how many new LSAs a second one neighbour may make
	// this tile store and flood (a burst of MaxTiles is allowed, for a
	// whole table at connect); beyond it they are dropped unacknowledged,
	// counted, and the neighbour sends them again. Each costs every link
	// of the grid one packet: 50 a second is 7% of a 64 KB/s link, the
	// most a hostile neighbour can take.
	NeighbourRate int `toml:"neighbour_rate"`
}

// DefaultConfig returns the settings a tile runs with.
func DefaultConfig() Config {
	return Config{
		Refresh:       conf.Duration(10 * time.Minute),
		MaxAge:        conf.Duration(35 * time.Minute),
		Hold:          conf.Duration(time.Minute),
		MaxTiles:      1024,
		Retransmit:    conf.Duration(time.Second),
		MinInterval:   conf.Duration(100 * time.Millisecond),
		NeighbourRate: 50,
	}
}

// maxMaxTiles keeps the table and a route computation small on a 32-bit
// tile: 4096 LSAs are about 400 KB.
const maxMaxTiles = 4096

// Validate reports a setting the service cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Refresh < conf.Duration(time.Second) || c.MaxAge < 2*c.Refresh:
		return fmt.Errorf("route.refresh %v and max_age %v: want refresh of 1s or more and max_age at least twice it", c.Refresh, c.MaxAge)
	case c.Hold <= 0 || c.Retransmit <= 0 || c.MinInterval < 0:
		return fmt.Errorf("route: hold and retransmit must be over 0, min_interval 0 or more")
	case c.MaxTiles < 2 || c.MaxTiles > maxMaxTiles:
		return fmt.Errorf("route.max_tiles is %d: want 2..%d", c.MaxTiles, maxMaxTiles)
	case c.NeighbourRate < 1:
		return fmt.Errorf("route.neighbour_rate is %d: want 1 or more", c.NeighbourRate)
	}
	return nil
}
