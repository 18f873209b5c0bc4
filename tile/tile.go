// Package tile assembles one complete itcd tile from its configuration: the
// packet device, the daemon and the standard services. `itcd run` and the
// simulated grid both build tiles here, so a simulated tile runs exactly
// the code a real one does.
package tile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/internal/ratelog"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/services/tubes"
)

// Options are what a tile is given beyond its Config.
type Options struct {
	Logger *slog.Logger
	// UDPConn, for device "udp", is a socket already bound; the simulator
	// binds every tile's port before it starts any tile.
	UDPConn *net.UDPConn
	// Extra are services to run beside the standard ones (tests use it).
	Extra []p2p.Service
	// MFZ are the signed-file service's test options (tuning, a corrupt
	// sender, a failing disk); the tile sets its StateDir and Logger.
	MFZ dist.Options
	// Tube are the tube service's test options (a black-hole forwarder);
	// the tile sets its Routes.
	Tube tubes.Options
	// RouteVerified, if not nil, is a cache of checked LSAs shared by the
	// tiles of one process (routes.Verified): the simulator's.
	RouteVerified *routes.Verified
	// Clock is the time of the tile's links and services: its device's
	// pacing and keepalives, the daemon's hellos and liveness, every
	// service's timers. nil is the machine's time; the simulator slows
	// it for every tile of a grid at once (internal/clock).
	Clock *clock.Clock
}

// logKinds bounds the kinds of log line the rate limit tracks; the code
// has fewer distinct messages than this.
const logKinds = 512

// logSummaryEvery is how often counts of suppressed lines that no later
// line of their kind reported are written as one summary.
const logSummaryEvery = time.Minute

// Tile is a daemon with its device and services.
type Tile struct {
	*daemon.Daemon
	// UDP is the device when it is a UDP one, for changing link profiles.
	UDP *dev.UDP
}

// New opens the device the config names and builds the daemon and its
// services. Nothing runs until Run.
func New(cfg Config, opt Options) (*Tile, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	// One bound for every line the tile writes: neighbours and local
	// programs cause most of them.
	log = slog.New(ratelog.New(log.Handler(), ratelog.Config{
		Burst: cfg.LogBurst, Every: cfg.LogEvery.D(), MaxKinds: logKinds, FlushEvery: logSummaryEvery,
	}))
	t := &Tile{}
	var device dev.Device
	switch cfg.Device {
	case "kernel":
		if opt.Clock != nil {
			// The kernel's links run at their own pace: only simulated
			// ones can be slowed with the rest of the tile.
			return nil, errors.New("tile: a slowed clock (Options.Clock) needs the udp device, not the kernel's")
		}
		kc := cfg.Kernel
		kc.Logger = log
		k, err := dev.OpenKernel(kc)
		if err != nil {
			return nil, err
		}
		device = k
	case "udp":
		uc := cfg.UDP
		uc.Conn, uc.Logger, uc.Clock = opt.UDPConn, log, opt.Clock
		u, err := dev.OpenUDP(uc)
		if err != nil {
			return nil, err
		}
		t.UDP = u
		device = u
	}
	// The key first: the routing service signs with it.
	key, err := daemon.LoadKey(cfg.StateDir)
	if err != nil {
		device.Close()
		return nil, err
	}
	services, err := standardServices(cfg, opt, key, log)
	if err != nil {
		device.Close()
		return nil, err
	}
	services = append(services, opt.Extra...)
	d, err := daemon.New(cfg.Config, daemon.Options{Device: device, DeviceName: cfg.Device, Services: services, Logger: log, Key: key, Clock: opt.Clock})
	if err != nil {
		closeServices(services)
		device.Close()
		return nil, err
	}
	t.Daemon = d
	return t, nil
}

// Run runs the tile until ctx ends.
func (t *Tile) Run(ctx context.Context) error { return t.Daemon.Run(ctx) }

// standardServices builds the in-process services every tile runs.
func standardServices(cfg Config, opt Options, key daemon.Key, log *slog.Logger) ([]p2p.Service, error) {
	cnt, err := counter.New(cfg.Counter, counter.Options{StateDir: cfg.StateDir, Clock: opt.Clock})
	if err != nil {
		return nil, err
	}
	// The signed-file store (STATE_DIR/mfz) and its distribution, service 8.
	mo := opt.MFZ
	mo.StateDir, mo.Logger, mo.Clock = cfg.StateDir, log, opt.Clock
	files, err := dist.New(cfg.MFZ, mo)
	if err != nil {
		return nil, fmt.Errorf("mfz store: %w", err)
	}
	// Routes to every tile of the grid, service 10.
	rt, err := routes.New(cfg.Route, routes.Options{Key: key.Private, Verified: opt.RouteVerified, Clock: opt.Clock})
	if err != nil {
		files.Close()
		return nil, err
	}
	// Tubes between programs, to neighbours and by routes beyond, service 9.
	to := opt.Tube
	to.Routes, to.Clock = rt, opt.Clock
	tb, err := tubes.New(cfg.Tube, to)
	if err != nil {
		files.Close()
		return nil, err
	}
	return []p2p.Service{cnt, files, tb, rt}, nil
}

// closeServices releases what services hold when their daemon never runs
// (the signed-file service has its store open from New).
func closeServices(services []p2p.Service) {
	for _, s := range services {
		if c, ok := s.(interface{ Close() error }); ok {
			c.Close()
		}
	}
}
