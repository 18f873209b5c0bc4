package counter

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/conf"
)

// Config is the service's settings: the [counter] section of itcd.toml.
type Config struct {
	// Path is the counter file. Empty means STATE_DIR/counter.
	Path string `toml:"path"`
	// Interval is how often the value goes to every live neighbour even
	// when it has not changed, so a neighbour that missed it hears it.
	Interval conf.Duration `toml:"interval"`
}

// DefaultConfig returns the settings a tile runs with.
func DefaultConfig() Config {
	return Config{Interval: conf.Duration(time.Minute)}
}

// Validate reports a setting the service cannot run with.
func (c Config) Validate() error {
	if c.Interval <= 0 {
		return fmt.Errorf("counter.interval is %v: want more than 0, such as \"1m\"", c.Interval)
	}
	return nil
}

// Options are what the tile gives the service beyond its Config.
type Options struct {
	// StateDir is the tile's state directory, home of the default
	// counter file.
	StateDir string
	// Clock times the advertisements; nil is the machine's time. A
	// simulator slows it (internal/clock).
	Clock *clock.Clock
}

// New makes the counter service. The file's directory must exist by the
// time Serve runs.
func New(cfg Config, opt Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	path := cfg.Path
	if path == "" {
		path = filepath.Join(opt.StateDir, "counter")
	}
	return &Service{path: path, interval: cfg.Interval.D(), clk: opt.Clock, newWatcher: fsnotify.NewWatcher}, nil
}
