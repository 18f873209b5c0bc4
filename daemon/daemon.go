package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/buildinfo"
	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// ProtocolVersion is the version of the liveness protocol this daemon
// speaks. Version 2 daemons read the hello's flags byte (ExtHelloVersion);
// version 3 daemons seal every hello that has one (Hello.Sealed); every
// version reads the hellos of every other (notes/protocol.md).
const ProtocolVersion = 3

// Options are what the daemon is given rather than configured with.
type Options struct {
	// Device is the packet device. It is required; the daemon closes it
	// when Run returns.
	Device dev.Device
	// DeviceName names the device in `itcd status` and the log, such as
	// "kernel" or "udp".
	DeviceName string
	// Services are the in-process services to run.
	Services []p2p.Service
	// Logger receives the log; nil means slog.Default().
	Logger *slog.Logger
	// Key is the tile's signing key and identity (LoadKey); nil Private
	// means the daemon loads it from its state dir.
	Key Key
	// Build is the itcd version the daemon's hellos and status carry,
	// cut to what a hello may carry (buildinfo.Wire); empty means this
	// binary's (buildinfo.Read).
	Build string
	// Clock times the hellos, the liveness deadline and the pacing of
	// the outbound queues; nil is the machine's time. A simulator slows
	// it (internal/clock).
	Clock *clock.Clock
}

// Daemon is one tile's itcd: it owns the packet device, keeps the model of
// each neighbour and hands every packet to whoever must have it.
type Daemon struct {
	cfg     Config
	dev     dev.Device
	devName string
	log     *slog.Logger
	self    p2p.TileID
	build   string // buildinfo.Wire of this itcd's version, for hellos and status
	started time.Time
	clk     *clock.Clock // the time of the links' protocols: Options.Clock

	svcRefused atomic.Uint64 // malformed or foreign packets written on service.sock
	hub        *Hub
	ready      chan struct{}

	out     outbound
	owners  [packet.MaxService + 1]atomic.Pointer[owner]
	inproc  []*serviceHost
	nbr     neighbours
	stats   stats
	mfm     mfmChannel
	phys    physics
	sockets sockets
	capture captureTap

	running atomic.Bool
	beat    atomic.Int64 // unix ns of the neighbour loop's last round
}

// owner is whoever owns a service number: an in-process service or a
// program on the service socket.
type owner struct {
	name string
	// deliver hands over a service packet; false means it was dropped.
	deliver func(from packet.Dir, tile p2p.TileID, pkt []byte, payload []byte) bool
	svc     *serviceHost // in-process owner, or nil
	client  *svcClient   // socket owner, or nil
}

// New prepares a daemon. It loads or creates the tile identity in the state
// dir; nothing runs until Run.
func New(cfg Config, opt Options) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if opt.Device == nil {
		return nil, errors.New("daemon: no packet device")
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	key := opt.Key
	if key.Private == nil {
		var err error
		if key, err = LoadKey(cfg.StateDir); err != nil {
			return nil, err
		}
	}
	self := key.ID()
	if !key.Was.IsZero() {
		log.Warn("the tile's identity changed: identities now come from the tile's signing key (tile-key)", "was", key.Was.String(), "now", self.String())
	}
	d := &Daemon{
		cfg:     cfg,
		dev:     opt.Device,
		devName: opt.DeviceName,
		log:     log.With("tile", self.String()),
		self:    self,
		build:   buildinfo.Wire(cmp.Or(opt.Build, buildinfo.Read().Version)),
		hub:     NewHub(),
		ready:   make(chan struct{}),
		// Set here, not in Run, so Status is never without a start time.
		started: opt.Clock.Now(),
		clk:     opt.Clock,
	}
	d.capture.clk = opt.Clock
	d.out.init(&cfg)
	d.nbr.init(d.started, linkRules{deadAfter: cfg.DeadAfter.D(), identityHold: cfg.IdentityHold.D()})
	d.owners[packet.ServiceLiveness].Store(&owner{name: "itcd liveness"})
	for _, s := range opt.Services {
		n := s.Number()
		if n <= packet.ServiceLiveness || n > packet.MaxService {
			return nil, fmt.Errorf("service %s: number %d is not one a service may own (2..63)", s.Name(), n)
		}
		h := newServiceHost(d, s)
		o := &owner{name: s.Name(), deliver: h.deliver, svc: h}
		if !d.owners[n].CompareAndSwap(nil, o) {
			return nil, fmt.Errorf("service %s: %w: %d belongs to %s", s.Name(), ErrServiceTaken, n, d.owners[n].Load().name)
		}
		d.inproc = append(d.inproc, h)
	}
	return d, nil
}

// Self returns the tile identity.
func (d *Daemon) Self() p2p.TileID { return d.self }

// Hub returns the hub on which the daemon publishes Tile Events.
func (d *Daemon) Hub() *Hub { return d.hub }

// Ready is closed once the daemon runs and its sockets accept connections.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Config returns the configuration the daemon runs with.
func (d *Daemon) Config() Config { return d.cfg }

// Run runs the daemon until ctx ends, then stops every goroutine it
// started, closes the device and removes its sockets.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("daemon: Run called twice")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	if _, ok := d.dev.(dev.PhysicsIdentity); ok {
		// Before serving, so mfm.sock clients and neighbours meet the
		// configured identity. A refusal (the kernel device when the MFM
		// devices are left to mfmt2) costs MFM only: say it once, go on.
		if err := d.setMFZID([]byte(d.cfg.MFZID), "config", nil); err != nil {
			d.log.Warn("physics identity not set: MFM compatibility is what the device already holds", "mfzid", d.cfg.MFZID, "err", err)
		}
	}
	if err := d.sockets.listen(d); err != nil {
		d.dev.Close()
		return err
	}
	var wg sync.WaitGroup
	goroutine := func(name string, f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
			d.log.Debug("stopped", "goroutine", name)
		}()
	}
	goroutine("reader", d.readLoop)
	goroutine("writer", d.writeLoop)
	goroutine("neighbours", d.neighbourLoop)
	goroutine("watchdog", d.watchdogLoop)
	d.sockets.serve(ctx, goroutine)
	for _, h := range d.inproc {
		h := h
		goroutine("service "+h.svc.Name(), func(ctx context.Context) {
			if err := h.svc.Serve(ctx, h, h.inbox()); err != nil && ctx.Err() == nil {
				d.log.Error("service stopped", "service", h.svc.Name(), "err", err)
			}
		})
	}
	close(d.ready)
	sdNotify("READY=1")
	d.log.Info("itcd running", "device", d.devName, "run_dir", d.cfg.RunDir, "state_dir", d.cfg.StateDir)

	<-ctx.Done()
	sdNotify("STOPPING=1")
	d.log.Info("itcd stopping")
	d.sockets.close()
	d.dev.Close() // unblocks the reader
	wg.Wait()
	d.sockets.cleanup()
	return nil
}

// readLoop reads packets from the device and demultiplexes them. It never
// blocks on a consumer: everything it hands on goes into bounded queues.
func (d *Daemon) readLoop(ctx context.Context) {
	buf := make([]byte, packet.MaxLen)
	for {
		n, err := d.dev.ReadPacket(buf)
		if err != nil {
			if errors.Is(err, dev.ErrClosed) || ctx.Err() != nil {
				return
			}
			d.log.Warn("device read failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		d.capture.tap(control.TravelIn, buf[:n])
		d.demux(buf[:n])
	}
}

// demux hands one packet from the device to its consumer.
func (d *Daemon) demux(b []byte) {
	p, err := packet.Decode(b)
	if err != nil {
		dir, ok := packet.RoutedDir(b)
		if ok && dir.IsLink() {
			d.stats.link[dir].malformed.Add(1)
		} else {
			d.stats.malformed.Add(1)
		}
		d.log.Debug("malformed packet dropped", "err", err, "len", len(b))
		return
	}
	switch p.Kind {
	case packet.KindMFM, packet.KindService:
		ls := &d.stats.link[p.Dir]
		c := classOf(p.Kind)
		ls.in[c].add(len(b))
		if p.Suspect() {
			ls.suspect.Add(1)
			return
		}
		if p.Kind == packet.KindMFM {
			if !d.mfm.deliver(b) {
				ls.dropped.Add(1)
			}
			return
		}
		if p.Service == packet.ServiceLiveness {
			d.nbr.heard(d, p.Dir, p.Payload)
			return
		}
		o := d.owners[p.Service].Load()
		if o == nil {
			ls.unowned.Add(1)
			return
		}
		// Services talk to live neighbours only, and learn which tile
		// sent each packet: a packet read just after its tile was
		// replaced on this link must not count as the new tile's.
		tile, live := d.nbr.livePeer(p.Dir)
		if !live {
			ls.notLive.Add(1)
			return
		}
		if !o.deliver(p.Dir, tile, b, p.Payload) {
			ls.dropped.Add(1)
		}
	case packet.KindLocal:
		d.stats.local.add(len(b))
		switch p.Local {
		case packet.LocalControl:
			// The PRU reports link sync; the device's status file is the
			// authority, so poke the neighbour loop to look again.
			d.log.Info("link control packet", "code", string(rune(firstByte(p.Payload))))
			d.nbr.poke()
		case packet.LocalDebug, packet.LocalLabelled:
			d.log.Debug("debug packet", "type", p.Local.String(), "payload", fmt.Sprintf("%x", p.Payload))
		default:
			d.log.Debug("unexpected local packet from device", "type", p.Local.String())
		}
	case packet.KindNonStandard:
		d.stats.local.add(len(b))
		d.log.Debug("non-standard packet", "ascii", string(rune(p.ASCII)), "len", len(b))
	}
}

func firstByte(b []byte) byte {
	if len(b) == 0 {
		return '?'
	}
	return b[0]
}
