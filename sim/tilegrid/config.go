package tilegrid

import (
	"log/slog"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
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

	// Clock, when set, is the grid's time, slower than the machine's
	// (internal/clock): every tile's links, hellos and timers run on it,
	// and so do the events' times and the timeouts of the grid's waits.
	// A machine with too little CPU for the grid then still honours the
	// links' rates and the liveness deadlines in the grid's time. nil is
	// the machine's time. In-process tiles only.
	Clock *clock.Clock

	// HelloInterval and DeadAfter, when not zero, replace the daemon's
	// liveness timings; Keepalive and DownAfter replace the UDP links'
	// (udp.keepalive and udp.down_after in each tile's config, so process
	// tiles get them too).
	HelloInterval, DeadAfter time.Duration
	Keepalive, DownAfter     time.Duration

	// MFZID, when set, gives each tile's physics identity (its mfzid,
	// at most dev.MaxMFZID bytes): MFM packets flow only between
	// neighbours of the same one, as on tiles (nil: every tile has the
	// empty identity, so all are compatible). It is each tile's mfzid
	// setting, which its daemon gives the device as it starts (process
	// tiles read it from their file); an in-process tile's UDP device
	// gets it before the daemon runs too.
	MFZID func(c Coord) string

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
	// ProgressSection, when set, is the one Status section Progress
	// reads: ProgressOf then gives it a status holding only that section
	// of an in-process tile, which costs far less to read than a whole
	// status. A process tile's is its last polled status either way.
	ProgressSection string
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
	// Tiles tick on a wall-clock grid so a real tile's six hellos leave
	// in one wakeup; here every tile shares this machine's cores, so
	// their ticks are spread over the interval (a tile's hellos and its
	// keepalive ticks still coincide).
	i, n := time.Duration(g.cfg.Index(t.Coord)), time.Duration(max(len(g.tiles), 1))
	cfg.TickPhase = cfg.HelloInterval.D() * i / n
	cfg.UDP.TickPhase = cfg.UDP.Keepalive * i / n
	// The daemon gives its device this identity as it starts: process
	// tiles get it through their file.
	cfg.MFZID = t.MFZID
	if g.cfg.Tweak != nil {
		g.cfg.Tweak(t.Coord, &cfg)
	}
	return cfg
}

// tileSeed derives a tile's seed from the grid's (splitmix64).
func tileSeed(seed int64, i int) int64 {
	z := uint64(seed) + uint64(i+1)*0x9e3779b97f4a7c15
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return int64(z ^ z>>31)
}
