package tilegrid

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/tile"
)

// DefaultRate is the link rate DefaultConfig gives every link, in bytes
// per second: about what a T2 link carries while all six are busy.
const DefaultRate = 65536

// Config describes a grid.
type Config struct {
	Geometry

	// Dir is the grid's directory; each tile gets Dir/NAME with its state
	// dir, run dir and log in it. Empty means a new temporary directory,
	// removed by Close unless Keep is set. A Dir you name is never removed.
	Dir  string
	Keep bool

	// Profile is the initial profile of both directions of every link.
	// The zero profile is an unlimited, unimpaired link (as in dev);
	// DefaultConfig sets Rate to DefaultRate.
	Profile dev.LinkProfile
	// Seed makes a run reproducible: each tile's link impairments draw
	// from a source seeded from Seed and the tile's place.
	Seed int64

	// Procs runs every tile as its own `itcd run` process instead of in
	// this process; Itcd is the itcd binary (empty: this executable).
	Procs bool
	Itcd  string
	// Env is added to the environment of process tiles.
	Env []string

	// HelloInterval and DeadAfter, when not zero, replace the daemon's
	// liveness timings; Keepalive and DownAfter replace the UDP links'
	// (udp.keepalive and udp.down_after in each tile's config, so process
	// tiles get them too).
	HelloInterval, DeadAfter time.Duration
	Keepalive, DownAfter     time.Duration

	// Trust lists public key files every tile trusts: each is copied into
	// every tile's trust dir (cfg.MFZ.TrustDir, else STATE_DIR/mfz/trust).
	Trust []string

	// Logger, when set, receives every in-process tile's log with a "node"
	// attribute naming the tile. Otherwise each tile logs to
	// Dir/NAME/itcd.log at LogLevel (default "info").
	Logger   *slog.Logger
	LogLevel string

	// Tweak, when set, edits each tile's configuration before the tile
	// starts (process tiles get it through their config file).
	Tweak func(c Coord, cfg *tile.Config)
	// Options, when set, edits the options an in-process tile is built
	// with (the signed-file service's test options, say); process tiles
	// have only their config file.
	Options func(c Coord, opt *tile.Options)
	// Services, when set, gives extra in-process services for a tile
	// (tile.Options.Extra); process tiles cannot have any.
	Services func(c Coord) []p2p.Service
	// Progress, when set, reads a tile's progress on a pushed file from
	// its status (a service reports it as a Status section). Snapshot
	// and the simulator's display and report use it.
	Progress func(c Coord, st *control.Status) *Progress
	// OnEvent, when set, is called with every Tile Event as it is logged.
	// It runs on the grid's goroutines and must not block.
	OnEvent func(Event)
}

// DefaultConfig is a W x H grid with 64 KB/s links in a temporary directory.
func DefaultConfig(w, h int) Config {
	return Config{Geometry: Geometry{W: w, H: h}, Profile: dev.LinkProfile{Rate: DefaultRate}}
}

// Progress is one tile's progress on a pushed file.
type Progress struct {
	Have, Size int64 // verified bytes held, of Size
	Complete   bool  // holds the whole verified file
	// CompletedAt is when it completed, if the service knows; otherwise
	// whoever watches notes the time it first sees Complete.
	CompletedAt time.Time
}

// Event is a Tile Event a tile published: Tile saw the neighbour on
// Event.Dir connect or disconnect.
type Event struct {
	At   time.Time
	Tile Coord
	p2p.Event
}

func (e Event) String() string {
	n, _ := Step(e.Tile, e.Dir)
	return fmt.Sprintf("%v: %v %v (%v) %v", e.Tile, e.Kind, e.Dir, n, e.Event.Tile)
}

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
	itcd    string
	tiles   []*Tile

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed atomic.Bool
	once   sync.Once

	evMu   sync.Mutex
	events []Event
}

// Tile is one tile of a grid. Its exported fields do not change.
type Tile struct {
	Coord    Coord
	Name     string
	Dir      string // Dir/NAME in the grid's directory
	RunDir   string
	StateDir string
	Addr     string // its UDP address, 127.0.0.1:PORT, kept across restarts
	Links    []Link // its links, in dir8 order

	g    *Grid
	seed int64

	// sock is the tile's UDP socket, bound when the grid is built and
	// held until it closes: each run of the tile gets a copy (in-process)
	// or inherits it (a process), so its port is never free for another
	// program to take, not while a process starts, nor while the tile is
	// stopped.
	sock *os.File

	mu       sync.Mutex         // serialises Start and Stop; guards what follows
	profiles [8]dev.LinkProfile // outbound profile of each link, kept across restarts
	run      *running
	starts   int
	base     [8]dev.LinkStats // counters of earlier runs
}

// running is one run of a tile: in-process or a process.
type running struct {
	tile   *tile.Tile // in-process
	proc   *proc      // process
	cancel context.CancelFunc
	done   chan struct{} // closed when the run has ended
	err    error         // why, set before done closes
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
	g := &Grid{cfg: cfg, dir: cfg.Dir}
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
	if cfg.Procs {
		g.itcd = cfg.Itcd
		if g.itcd == "" {
			exe, err := os.Executable()
			if err != nil {
				g.removeDir()
				return nil, fmt.Errorf("tilegrid: finding the itcd binary: %w", err)
			}
			g.itcd = exe
		}
	}
	g.ctx, g.cancel = context.WithCancel(context.Background())
	if err := g.build(); err != nil {
		g.Close()
		return nil, err
	}
	if cfg.Procs {
		g.wg.Add(1)
		go g.pollProcs()
	}
	if err := g.startAll(); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// build binds every port and makes every tile's directories.
func (g *Grid) build() error {
	geo := g.cfg.Geometry
	for i, c := range geo.Coords() {
		t := &Tile{
			Coord: c,
			Name:  c.Name(),
			Dir:   filepath.Join(g.dir, c.Name()),
			Links: geo.Links(c),
			g:     g,
			seed:  tileSeed(g.cfg.Seed, i),
		}
		t.RunDir = filepath.Join(t.Dir, "run")
		t.StateDir = filepath.Join(t.Dir, "state")
		if n := len(filepath.Join(t.RunDir, control.ControlSocket)); n > 104 {
			return fmt.Errorf("tilegrid: socket path %s is %d bytes, too long for a unix socket: use a shorter --dir", filepath.Join(t.RunDir, control.ControlSocket), n)
		}
		for _, d := range packet.Links {
			t.profiles[d] = g.cfg.Profile
		}
		conn, err := bindPort()
		if err != nil {
			return fmt.Errorf("tilegrid: binding %s: %w", t.Name, err)
		}
		t.Addr = conn.LocalAddr().String()
		t.sock, err = conn.File() // a copy that keeps the port bound
		conn.Close()
		if err != nil {
			return fmt.Errorf("tilegrid: binding %s: %w", t.Name, err)
		}
		g.tiles = append(g.tiles, t)
	}
	for _, t := range g.tiles {
		if err := os.MkdirAll(t.StateDir, 0o755); err != nil {
			return fmt.Errorf("tilegrid: %w", err)
		}
		cfg := g.tileConfig(t)
		trust := cfg.MFZ.TrustDir
		if trust == "" {
			trust = filepath.Join(cfg.StateDir, "mfz", "trust")
		}
		for _, k := range g.cfg.Trust {
			if err := copyFile(k, filepath.Join(trust, filepath.Base(k))); err != nil {
				return fmt.Errorf("tilegrid: trusting %s: %w", k, err)
			}
		}
	}
	return g.writeManifest()
}

// tileSeed derives a tile's seed from the grid's (splitmix64).
func tileSeed(seed int64, i int) int64 {
	z := uint64(seed) + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return int64(z ^ z>>31)
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

// tileConfig is the configuration of t: everything a tile needs, so a
// process tile needs only this as its file.
func (g *Grid) tileConfig(t *Tile) tile.Config {
	cfg := tile.DefaultConfig()
	cfg.StateDir, cfg.RunDir = t.StateDir, t.RunDir
	cfg.Device = "udp"
	cfg.UDP.Listen = t.Addr
	cfg.UDP.Links = make(dev.Links, len(t.Links))
	for _, l := range t.Links {
		cfg.UDP.Links[l.Dir] = g.tiles[g.cfg.Index(l.To)].Addr
	}
	cfg.UDP.Profile = g.cfg.Profile
	// A restarted tile draws other impairments than its last run.
	cfg.UDP.Seed = t.seed + int64(t.starts-1)
	if g.cfg.HelloInterval > 0 {
		cfg.HelloInterval = conf.Duration(g.cfg.HelloInterval)
	}
	if g.cfg.DeadAfter > 0 {
		cfg.DeadAfter = conf.Duration(g.cfg.DeadAfter)
	}
	if g.cfg.Keepalive > 0 {
		cfg.UDP.Keepalive = g.cfg.Keepalive
	}
	if g.cfg.DownAfter > 0 {
		cfg.UDP.DownAfter = g.cfg.DownAfter
	}
	if g.cfg.LogLevel != "" {
		cfg.LogLevel = g.cfg.LogLevel
	}
	if g.cfg.Tweak != nil {
		g.cfg.Tweak(t.Coord, &cfg)
	}
	return cfg
}

// writeManifest writes Dir/grid.json: the tiles, their addresses and dirs,
// for tools that look at a running simulation from outside.
func (g *Grid) writeManifest() error {
	type mtile struct {
		Name     string            `json:"name"`
		X        int               `json:"x"`
		Y        int               `json:"y"`
		Addr     string            `json:"addr"`
		RunDir   string            `json:"run_dir"`
		StateDir string            `json:"state_dir"`
		Links    map[string]string `json:"links"`
	}
	m := struct {
		Grid  string  `json:"grid"`
		Procs bool    `json:"procs"`
		Seed  int64   `json:"seed"`
		Tiles []mtile `json:"tiles"`
	}{Grid: g.cfg.Geometry.String(), Procs: g.cfg.Procs, Seed: g.cfg.Seed}
	for _, t := range g.tiles {
		mt := mtile{Name: t.Name, X: t.Coord.X, Y: t.Coord.Y, Addr: t.Addr, RunDir: t.RunDir, StateDir: t.StateDir, Links: map[string]string{}}
		for _, l := range t.Links {
			mt.Links[l.Dir.String()] = l.To.Name()
		}
		m.Tiles = append(m.Tiles, mt)
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(g.dir, "grid.json"), append(b, '\n'), 0o644)
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

// Running reports whether the tile is running.
func (t *Tile) Running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.run != nil && !isDone(t.run.done)
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// startTimeout bounds how long a tile may take to accept connections.
const startTimeout = 30 * time.Second

// Start starts the tile (again), with its state dir and UDP port kept, and
// returns once it accepts connections on its run dir. Links keep the
// profiles the grid last set on them.
func (t *Tile) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.g.closed.Load() {
		return ErrClosed
	}
	if t.run != nil {
		if !isDone(t.run.done) {
			return fmt.Errorf("tilegrid: %s is already running", t.Name)
		}
		t.reapLocked()
	}
	t.starts++
	var err error
	if t.g.cfg.Procs {
		err = t.startProc()
	} else {
		var pc net.PacketConn
		if pc, err = net.FilePacketConn(t.sock); err == nil {
			err = t.startInProcess(pc.(*net.UDPConn))
		}
	}
	if err != nil {
		return fmt.Errorf("tilegrid: starting %s: %w", t.Name, err)
	}
	return nil
}

// Stop stops the tile. Its neighbours see it go silent, as they would if
// it crashed; its state dir is kept for Start.
func (t *Tile) Stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil {
		return fmt.Errorf("%w: %s", ErrStopped, t.Name)
	}
	r := t.run
	if r.proc != nil {
		r.proc.stop()
	} else {
		r.cancel()
		<-r.done
	}
	t.reapLocked()
	if r.err != nil && !isExitBySignal(r.err) {
		return fmt.Errorf("tilegrid: %s ended with: %w", t.Name, r.err)
	}
	return nil
}

// reapLocked records the counters of a run that has ended.
func (t *Tile) reapLocked() {
	if t.run == nil {
		return
	}
	cur := t.devStatsLocked()
	for d := range t.base {
		t.base[d] = t.base[d].Add(cur[d])
	}
	t.run = nil
}

func (t *Tile) startInProcess(conn *net.UDPConn) error {
	g := t.g
	cfg := g.tileConfig(t)
	log, logf, err := g.tileLogger(t, cfg.LogLevel)
	if err != nil {
		conn.Close()
		return err
	}
	var extra []p2p.Service
	if g.cfg.Services != nil {
		extra = g.cfg.Services(t.Coord)
	}
	opt := tile.Options{Logger: log, UDPConn: conn, Extra: extra}
	if g.cfg.Options != nil {
		g.cfg.Options(t.Coord, &opt)
	}
	tt, err := tile.New(cfg, opt)
	if err != nil {
		conn.Close()
		closeFile(logf)
		return err
	}
	for _, l := range t.Links {
		if p := t.profiles[l.Dir]; p != g.cfg.Profile {
			tt.UDP.SetProfile(l.Dir, p)
		}
	}
	sub := tt.Hub().Subscribe(1024)
	ctx, cancel := context.WithCancel(g.ctx)
	r := &running{tile: tt, cancel: cancel, done: make(chan struct{})}
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		r.err = tt.Run(ctx)
		sub.Close()
		closeFile(logf)
		close(r.done)
	}()
	go func() {
		defer g.wg.Done()
		for {
			select {
			case e := <-sub.C():
				g.addEvent(Event{At: time.Now(), Tile: t.Coord, Event: e})
			case <-r.done:
				for {
					select {
					case e := <-sub.C():
						g.addEvent(Event{At: time.Now(), Tile: t.Coord, Event: e})
					default:
						return
					}
				}
			}
		}
	}()
	t.run = r
	select {
	case <-tt.Ready():
		return nil
	case <-r.done:
		err := r.err
		t.run = nil
		if err == nil {
			err = errors.New("daemon stopped at once")
		}
		return err
	case <-time.After(startTimeout):
		cancel()
		<-r.done
		t.run = nil
		return fmt.Errorf("not ready within %v", startTimeout)
	}
}

// tileLogger is the logger of an in-process tile: the grid's, or one
// writing to the tile's own itcd.log.
func (g *Grid) tileLogger(t *Tile, level string) (*slog.Logger, *os.File, error) {
	if g.cfg.Logger != nil {
		return g.cfg.Logger.With("node", t.Name), nil, nil
	}
	f, err := os.OpenFile(filepath.Join(t.Dir, "itcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: parseLevel(level)})), f, nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(strings.ToUpper(s))) != nil {
		return slog.LevelInfo
	}
	return l
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}

// addEvent logs an event and hands it to OnEvent.
func (g *Grid) addEvent(e Event) {
	g.evMu.Lock()
	g.events = append(g.events, e)
	g.evMu.Unlock()
	if g.cfg.OnEvent != nil {
		g.cfg.OnEvent(e)
	}
}

// Events returns the Tile Events logged since mark (0: all of them) and the
// mark to pass next time. Process tiles' events are derived from their
// status, polled four times a second, so short blips may be missed.
func (g *Grid) Events(mark int) ([]Event, int) {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	mark = min(max(mark, 0), len(g.events))
	return append([]Event(nil), g.events[mark:]...), len(g.events)
}

// Mark returns the current end of the event log, for Events and WaitEvent.
func (g *Grid) Mark() int {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	return len(g.events)
}

// copyFile copies src to dst, making dst's directory.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if fi, err := in.Stat(); err != nil {
		return err
	} else if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", src)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
