// Package tile assembles one complete itcd tile from its configuration: the
// packet device, the daemon and the standard services. `itcd run` and the
// simulated grid both build tiles here, so a simulated tile runs exactly
// the code a real one does.
package tile

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/ratelog"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// Options are what a tile is given beyond its Config.
type Options struct {
	Logger *slog.Logger
	// UDPConn, for device "udp", is a socket already bound; the simulator
	// binds every tile's port before it starts any tile.
	UDPConn *net.UDPConn
	// Profile is the initial shape of every UDP link (rate, delay, loss...).
	Profile dev.LinkProfile
	// Seed seeds the UDP links' impairments.
	Seed int64
	// Extra are services to run beside the standard ones (tests use it).
	Extra []p2p.Service
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
func New(cfg daemon.Config, opt Options) (*Tile, error) {
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
		kc := dev.DefaultKernelConfig()
		kc.Path, kc.MFMDir, kc.StatusPath = cfg.Kernel.Path, cfg.Kernel.MFMDir, cfg.Kernel.StatusPath
		kc.Logger = log
		k, err := dev.OpenKernel(kc)
		if err != nil {
			return nil, err
		}
		device = k
	case "udp":
		links, err := cfg.UDPLinks()
		if err != nil {
			return nil, err
		}
		uc := dev.DefaultUDPConfig()
		uc.Listen, uc.Conn, uc.Links = cfg.UDP.Listen, opt.UDPConn, links
		uc.Profile, uc.Seed, uc.Logger = opt.Profile, opt.Seed, log
		uc.Keepalive, uc.DownAfter = cfg.UDP.Keepalive.D(), cfg.UDP.DownAfter.D()
		u, err := dev.OpenUDP(uc)
		if err != nil {
			return nil, err
		}
		t.UDP = u
		device = u
	}
	services, err := standardServices(cfg, log)
	if err != nil {
		device.Close()
		return nil, err
	}
	services = append(services, opt.Extra...)
	d, err := daemon.New(cfg, daemon.Options{Device: device, Services: services, Logger: log})
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
func standardServices(cfg daemon.Config, log *slog.Logger) ([]p2p.Service, error) {
	var services []p2p.Service
	cnt, err := counter.New(cfg)
	if err != nil {
		return nil, err
	}
	services = append(services, cnt)
	// The signed-file store (STATE_DIR/mfz) and its distribution, service 8.
	files, err := dist.New(cfg, log)
	if err != nil {
		closeServices(services)
		return nil, fmt.Errorf("mfz store: %w", err)
	}
	services = append(services, files)
	return services, nil
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
