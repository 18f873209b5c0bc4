package dist

import (
	"errors"
	"fmt"
	"log/slog"
	"path"
	"path/filepath"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/services/mfz"
)

// Config is the service's settings: the [mfz] section of itcd.toml.
type Config struct {
	// TrustDir holds the public keys whose signatures the store accepts.
	// Empty means STATE_DIR/mfz/trust.
	TrustDir string `toml:"trust_dir"`
	// Hooks run a command after a new version of a matching file is
	// installed ([[mfz.hook]] tables).
	Hooks []Hook `toml:"hook"`
}

// Hook runs Command after a new version of a file whose name matches
// Pattern (a shell glob) is installed.
type Hook struct {
	Pattern string        `toml:"pattern"`
	Command string        `toml:"command"`
	Timeout conf.Duration `toml:"timeout"` // 0: mfz.DefaultHookTimeout
}

// DefaultConfig returns the settings a tile runs with: no hooks, the
// trust dir in the state dir.
func DefaultConfig() Config { return Config{} }

// Validate reports a setting the service cannot run with.
func (c Config) Validate() error {
	var errs []error
	for i, h := range c.Hooks {
		if _, err := path.Match(h.Pattern, ""); err != nil {
			errs = append(errs, fmt.Errorf("mfz.hook %d: pattern %q is not a shell glob such as \"*.mfz\"", i+1, h.Pattern))
		}
		if h.Command == "" {
			errs = append(errs, fmt.Errorf("mfz.hook %d (%s): command is empty", i+1, h.Pattern))
		}
		if h.Timeout < 0 {
			errs = append(errs, fmt.Errorf("mfz.hook %d (%s): timeout %v is negative", i+1, h.Pattern, h.Timeout))
		}
	}
	return errors.Join(errs...)
}

// StoreDir is where the service keeps its store on a tile whose state
// dir is stateDir: STATE_DIR/mfz.
func StoreDir(stateDir string) string { return filepath.Join(stateDir, "mfz") }

// TrustDirIn is the trust dir of a tile whose state dir is stateDir:
// trust_dir, or the store's own.
func (c Config) TrustDirIn(stateDir string) string {
	if c.TrustDir != "" {
		return c.TrustDir
	}
	return mfz.DefaultTrustDir(StoreDir(stateDir))
}

// hooks returns the store's form of the configured hooks.
func (c Config) hooks() []mfz.Hook {
	hooks := make([]mfz.Hook, 0, len(c.Hooks))
	for _, h := range c.Hooks {
		hooks = append(hooks, mfz.Hook{Pattern: h.Pattern, Command: h.Command, Timeout: h.Timeout.D()})
	}
	return hooks
}

// Options are what the tile gives the service beyond its Config. Only
// StateDir is needed; the rest serve tests and benchmarks.
type Options struct {
	// StateDir is the tile's state directory: the store is STATE_DIR/mfz.
	StateDir string
	// Logger receives the service's log; nil means slog.Default().
	Logger *slog.Logger
	// Tuning changes the protocol's tuning; the zero value is the tuned
	// default. Benchmarks compare strategies and windows with it.
	Tuning Tuning
	// CorruptSends flips a bit in every DATA chunk the service sends,
	// with the CRC made to match, as a malicious or broken neighbour
	// would: tests of the receivers' defences use it.
	CorruptSends bool
	// WriteFault becomes the store's StoreConfig.WriteFault: a disk that
	// fails writes on demand.
	WriteFault func(op string) error
	// Clock times requests, retries and announcements; nil is the
	// machine's time. A simulator slows it (internal/clock).
	Clock *clock.Clock
}

// Tuning is the part of the protocol's tuning that tests and benchmarks
// change. A zero field keeps the default.
type Tuning struct {
	Window      int           // chunks requested and not arrived, per neighbour: fixed (0: adaptive, 24..96)
	Strategy    Strategy      // block selection (the zero value is RarestFirst)
	NoSuperSeed bool          // offer a pushed file to every neighbour whole at once
	AvoidFor    time.Duration // first avoidance of a bad neighbour
	RefreshMin  time.Duration // idle announcement refresh...
	RefreshMax  time.Duration // ...jittered up to this
	MinRTO      time.Duration // smallest request timeout
}

// apply returns t with the non-zero fields of k.
func (k Tuning) apply(t tuning) tuning {
	if k.Window > 0 {
		t.window, t.minWindow = k.Window, k.Window
	}
	t.strategy = k.Strategy
	if k.NoSuperSeed {
		t.superSeed = false
	}
	if k.AvoidFor > 0 {
		t.avoidFor = k.AvoidFor
	}
	if k.RefreshMin > 0 {
		t.refreshMin, t.refreshMax = k.RefreshMin, max(k.RefreshMax, k.RefreshMin)
	}
	if k.MinRTO > 0 {
		t.minRTO = k.MinRTO
	}
	return t
}
