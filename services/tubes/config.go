package tubes

import (
	"fmt"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
)

// Config is the tube service's settings: the [tube] section of itcd.toml.
type Config struct {
	// Window is the receive window each side of a stream tube offers, in
	// bytes, and the most a sender holds unacknowledged: a tube's memory
	// is about twice this. A message tube offers at least one whole
	// message more (MaxMessage).
	Window int `toml:"window"`
	// MaxTubes is the most tubes one neighbour may hold open with this
	// tile at once; an OPEN beyond it is refused with a reason.
	MaxTubes int `toml:"max_tubes"`
	// OpenTimeout is how long an open waits for the far side to accept
	// when the program gives no timeout of its own.
	OpenTimeout conf.Duration `toml:"open_timeout"`
	// GiveUpAfter ends a tube whose far itcd has answered nothing (no ACK,
	// not even to a probe) for this long while something waited for it and
	// its neighbour stayed live.
	GiveUpAfter conf.Duration `toml:"give_up_after"`
	// MinRTO and MaxRTO bound the retransmission timeout.
	MinRTO conf.Duration `toml:"min_rto"`
	MaxRTO conf.Duration `toml:"max_rto"`
	// AckDelay is how long a receiver may hold an acknowledgement back to
	// send one for two segments; a hole or a FIN is acknowledged at once.
	AckDelay conf.Duration `toml:"ack_delay"`
	// Paths is the most paths that share no link a tube to a tile beyond
	// the neighbours sends its data over at once (1..3).
	Paths int `toml:"paths"`
	// Linger is how long a cleanly closed tube keeps answering its
	// neighbour's repeats of the last packets, whose final ACK may have
	// been lost.
	Linger conf.Duration `toml:"linger"`
}

// DefaultConfig returns the settings a tile runs with.
func DefaultConfig() Config {
	return Config{
		Window:      32 << 10, // half a second of a 64 KB/s link
		MaxTubes:    64,
		OpenTimeout: conf.Duration(10 * time.Second),
		GiveUpAfter: conf.Duration(30 * time.Second),
		MinRTO:      conf.Duration(100 * time.Millisecond),
		MaxRTO:      conf.Duration(2 * time.Second),
		AckDelay:    conf.Duration(10 * time.Millisecond),
		Linger:      conf.Duration(5 * time.Second),
		Paths:       3,
	}
}

// Bounds of the settings: a window must hold a few segments and must fit
// a 32-bit tile many times over.
const (
	minWindow   = 4 * MaxSegment
	maxWindow   = 4 << 20
	maxMaxTubes = 1024
)

// Validate reports a setting the service cannot run with.
func (c Config) Validate() error {
	switch {
	case c.Window < minWindow || c.Window > maxWindow:
		return fmt.Errorf("tube.window is %d bytes: want %d..%d", c.Window, minWindow, maxWindow)
	case c.MaxTubes < 1 || c.MaxTubes > maxMaxTubes:
		return fmt.Errorf("tube.max_tubes is %d: want 1..%d", c.MaxTubes, maxMaxTubes)
	case c.OpenTimeout <= 0 || c.GiveUpAfter <= 0 || c.AckDelay < 0 || c.Linger <= 0:
		return fmt.Errorf("tube: open_timeout, give_up_after and linger must be over 0, ack_delay 0 or more")
	case c.Paths < 1 || c.Paths > maxStripe:
		return fmt.Errorf("tube.paths is %d: want 1..%d", c.Paths, maxStripe)
	case c.MinRTO <= 0 || c.MaxRTO < c.MinRTO:
		return fmt.Errorf("tube.min_rto %v and max_rto %v: want 0 < min_rto <= max_rto", c.MinRTO, c.MaxRTO)
	}
	return nil
}
