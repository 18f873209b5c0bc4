package tilegrid

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/services/routes"
)

// Errors of the grid.
var (
	ErrClosed  = errors.New("tilegrid: grid closed")
	ErrStopped = errors.New("tilegrid: tile is stopped")
	ErrNoTile  = errors.New("tilegrid: no such tile")
	ErrNoLink  = errors.New("tilegrid: no link in that direction")
)

// Grid is a running grid of tiles joined by UDP links on 127.0.0.1.
// Its methods may be called from any goroutine.
type Grid struct {
	cfg     Config
	dir     string
	tempDir bool
	launch  launcher // starts a run of a tile: in this process or not
	tiles   []*Tile

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once

	evMu   sync.Mutex
	events []Event

	// clk is the grid's time (Config.Clock); nil is the machine's.
	clk *clock.Clock

	// verified is the in-process tiles' shared cache of checked LSAs:
	// each tile's LSA is checked once, not once by every tile.
	verified *routes.Verified

	// polling holds a token while a process tile's status is read: one
	// at a time, so a hundred pollers on a busy machine slow down
	// together instead of loading the tiles they watch (a poller whose
	// turn is late skips ticks).
	polling chan struct{}
}

// New builds the grid, binds every tile's UDP port, then starts every tile
// and returns once all of them accept connections on their run dir. Close
// stops it.
func New(cfg Config) (*Grid, error) {
	if err := cfg.Geometry.Validate(); err != nil {
		return nil, fmt.Errorf("tilegrid: %w", err)
	}
	if err := cfg.Profile.Validate(); err != nil {
		return nil, fmt.Errorf("tilegrid: %w", err)
	}
	if cfg.Procs && cfg.Services != nil {
		return nil, errors.New("tilegrid: in-process services (Config.Services) need in-process tiles, not Procs")
	}
	if err := cfg.checkMFZID(); err != nil {
		return nil, err
	}
	if cfg.Procs && cfg.Clock != nil {
		return nil, errors.New("tilegrid: a slowed grid (Config.Clock) needs in-process tiles, not Procs: processes keep the machine's time")
	}
	g := &Grid{cfg: cfg, dir: cfg.Dir, polling: make(chan struct{}, 1), clk: cfg.Clock,
		verified: routes.NewVerified(4 * cfg.Geometry.Len())}
	if g.dir == "" {
		d, err := os.MkdirTemp("", "itcd-sim-")
		if err != nil {
			return nil, fmt.Errorf("tilegrid: %w", err)
		}
		g.dir, g.tempDir = d, true
	} else if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return nil, fmt.Errorf("tilegrid: %w", err)
	}
	if abs, err := filepath.Abs(g.dir); err == nil {
		g.dir = abs
	}
	var err error
	if g.launch, err = newLauncher(cfg); err != nil {
		g.removeDir()
		return nil, err
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if err := g.build(); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.startAll(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// startAll starts every tile, a few at a time.
func (g *Grid) startAll() error {
	sem := make(chan struct{}, 8)
	errs := make([]error, len(g.tiles))
	var wg sync.WaitGroup
	for i, t := range g.tiles {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = t.Start()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Geometry returns the grid's geometry.
func (g *Grid) Geometry() Geometry { return g.cfg.Geometry }

// Config returns the configuration the grid was built with.
func (g *Grid) Config() Config { return g.cfg }

// Dir returns the grid's directory.
func (g *Grid) Dir() string { return g.dir }

// Tiles lists the tiles in row-major order (Geometry.Index).
func (g *Grid) Tiles() []*Tile { return g.tiles }

// Tile returns the tile at c, or nil.
func (g *Grid) Tile(c Coord) *Tile {
	if !g.cfg.Contains(c) {
		return nil
	}
	return g.tiles[g.cfg.Index(c)]
}

func (g *Grid) tile(c Coord) (*Tile, error) {
	if g.closed.Load() {
		return nil, ErrClosed
	}
	t := g.Tile(c)
	if t == nil {
		return nil, fmt.Errorf("%w: %v in a %v grid", ErrNoTile, c, g.cfg.Geometry)
	}
	return t, nil
}

// Close stops every tile and waits for them and every goroutine of the
// grid; a temporary directory is then removed (unless Config.Keep).
func (g *Grid) Close() error {
	var err error
	g.once.Do(func() {
		g.closed.Store(true) // no Start from now on
		var wg sync.WaitGroup
		errs := make([]error, len(g.tiles))
		for i, t := range g.tiles {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if e := t.Stop(); e != nil && !errors.Is(e, ErrStopped) {
					errs[i] = e
				}
			}()
		}
		wg.Wait()
		g.cancel()
		g.wg.Wait()
		for _, t := range g.tiles {
			if t.sock != nil {
				t.sock.Close()
			}
		}
		err = errors.Join(errs...)
		if !g.cfg.Keep {
			g.removeDir()
		}
	})
	return err
}

func (g *Grid) removeDir() {
	if g.tempDir {
		os.RemoveAll(g.dir)
	}
}
