package dev

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/packet"
)

// UDPConfig configures a UDP device. It is the [udp] section of itcd.toml.
type UDPConfig struct {
	// Listen is the local UDP address, such as "127.0.0.1:0" or ":7420".
	// Empty means "127.0.0.1:0". Ignored when Conn is set.
	Listen string `toml:"listen"`
	// Conn, when set, is a socket already bound (a simulator binds every
	// port first, then opens the devices). Once OpenUDP succeeds the device
	// owns it and Close closes it; if OpenUDP fails the caller still does.
	Conn *net.UDPConn `toml:"-"`
	// Links maps each direction with a neighbour to that neighbour's
	// host:port, resolved once by OpenUDP.
	Links Links `toml:"links"`
	// Keepalive is the tick of a link's liveness: a link that sent no
	// packet for 1.5 ticks gets a keepalive at the next (the daemon's
	// hellos, on the same 250ms grid, usually keep it alive), and every
	// link gets one on every 8th tick and on the few ticks after its far
	// end (re)appears or the identity changes. Zero means 250ms.
	Keepalive time.Duration `toml:"keepalive"`
	// TickPhase shifts the keepalive ticks' wall-clock grid (zero on a
	// tile); a simulator gives each tile the phase of its daemon's hellos
	// (daemon.Config.TickPhase), so hundreds of tiles in one process do
	// not all tick at once.
	TickPhase time.Duration `toml:"-"`
	// DownAfter is how long a neighbour may stay silent before its link
	// counts as down. Zero means 2.5s: ten ticks' frames, so even at 20%
	// loss a link flaps with probability 1e-7 per window, and what an
	// idle link costs stays a few frames a second (the daemon's
	// dead_after is the same 2.5s, so a dead neighbour is noticed no
	// later than before by the services).
	DownAfter time.Duration `toml:"down_after"`
	// OutQueueBytes bounds the packet bytes waiting to leave on one link,
	// like the kernel's outbound queue: a write that does not fit fails
	// with ErrWouldBlock. Zero means 16384.
	OutQueueBytes int `toml:"out_queue_bytes"`
	// InQueueBytes bounds the packet bytes received on one link and not
	// yet read, like the kernel's input FIFO: packets that do not fit are
	// dropped and counted. Zero means 16384.
	InQueueBytes int `toml:"in_queue_bytes"`
	// Profile is the initial impairment profile of every link's outbound
	// side; SetProfile changes it per link while running.
	Profile LinkProfile `toml:"shape"`
	// Seed seeds the impairment random sources. Link d uses sources
	// derived from Seed and d, so a run is reproducible.
	Seed int64 `toml:"seed"`
	// InProcess hands frames to neighbours' devices in this process
	// directly instead of over the socket (udpshort.go): a simulator's
	// in-process tiles set it. Neighbours elsewhere are sent to as ever.
	InProcess bool `toml:"-"`
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
	// Clock paces the links and times keepalives and silence; nil is the
	// machine's time. A simulator slows it (internal/clock).
	Clock *clock.Clock `toml:"-"`
}

// DefaultUDPConfig returns the defaults: loopback, no links, 250ms
// keepalive ticks, down after 2.5s, 16 KB queues, an unimpaired
// unlimited link, impairments seeded with 1.
func DefaultUDPConfig() UDPConfig {
	return UDPConfig{
		Listen:        "127.0.0.1:0",
		Keepalive:     250 * time.Millisecond,
		DownAfter:     2500 * time.Millisecond,
		OutQueueBytes: 16384,
		InQueueBytes:  16384,
		Seed:          1,
	}
}

func (c UDPConfig) withDefaults() UDPConfig {
	d := DefaultUDPConfig()
	if c.Listen == "" {
		c.Listen = d.Listen
	}
	if c.Keepalive <= 0 {
		c.Keepalive = d.Keepalive
	}
	if c.DownAfter <= 0 {
		c.DownAfter = d.DownAfter
	}
	if c.OutQueueBytes <= 0 {
		c.OutQueueBytes = d.OutQueueBytes
	}
	if c.InQueueBytes <= 0 {
		c.InQueueBytes = d.InQueueBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// LinkProfile shapes the outbound side of one link like a T2 link. It is
// the [udp.shape] section of itcd.toml.
// Impairments are applied in this order: pacing at Rate, Cut, Loss,
// Corrupt, Duplicate, then Delay. Links never reorder.
type LinkProfile struct {
	// Rate is the link rate in packet bytes per second, counted on whole
	// packets (the 9-byte UDP frame header is not counted). 0 = unlimited.
	Rate int `toml:"rate"`
	// Delay is the one-way delay added to every packet.
	Delay time.Duration `toml:"delay"`
	// Loss, Duplicate and Corrupt are probabilities 0..1 per packet. A
	// corrupted packet has 1 to 3 random bits flipped and is still sent.
	// Loss also applies to keepalives.
	Loss      float64 `toml:"loss"`
	Duplicate float64 `toml:"duplicate"`
	Corrupt   float64 `toml:"corrupt"`
	// Cut takes the link down: nothing is sent on it and whatever arrives
	// on it is ignored, so both ends see it down. It is set while running
	// (`itcd link`), never in a file.
	Cut bool `toml:"-"`
}

// MaxLinkDelay bounds LinkProfile.Delay.
const MaxLinkDelay = 10 * time.Second

// Validate reports a profile that makes no sense.
func (p LinkProfile) Validate() error {
	if p.Rate < 0 {
		return fmt.Errorf("link profile: rate %d bytes/s is negative (0 = unlimited)", p.Rate)
	}
	if p.Delay < 0 || p.Delay > MaxLinkDelay {
		return fmt.Errorf("link profile: delay %v outside 0..%v", p.Delay, MaxLinkDelay)
	}
	for _, x := range []struct {
		name string
		v    float64
	}{{"loss", p.Loss}, {"duplicate", p.Duplicate}, {"corrupt", p.Corrupt}} {
		if !(x.v >= 0 && x.v <= 1) || math.IsNaN(x.v) {
			return fmt.Errorf("link profile: %s probability %v outside 0..1", x.name, x.v)
		}
	}
	return nil
}

// ErrNotRouted is returned (wrapped) for a write of a packet that is not a
// routed service or MFM packet: only those travel between tiles.
var ErrNotRouted = errors.New("only routed (service or MFM) packets travel on links")

// UDP is a Device whose links are UDP datagrams to neighbours' addresses.
// It emulates T2 links: a link is up while the far end's keepalives are
// heard, the receiver rewrites DIR to the arrival direction, and each
// link's outbound side can be shaped with a LinkProfile.
type UDP struct {
	cfg  UDPConfig
	log  *slog.Logger
	conn *net.UDPConn
	raw  *rawUDP   // conn's descriptor, for the datagrams themselves (udpraw.go)
	base time.Time // time stamps are nanoseconds since base (monotonic)

	links [8]*udpLink // nil where there is no neighbour
	list  []*udpLink  // the configured links, in dir8 order

	ready  chan struct{} // a packet was queued for ReadPacket
	done   chan struct{}
	closed atomic.Bool
	once   sync.Once
	wg     sync.WaitGroup

	statusMu sync.Mutex
	status   Status
	changes  chan struct{}

	unknownSource, badDatagram atomic.Uint64
	unknownLogged, badLogged   atomic.Bool

	// epoch tells this run of the device from earlier ones: random,
	// nonzero, sent in every frame. A neighbour that sees it change knows
	// this end restarted and its sequence numbers with it.
	epoch uint32

	// mfz is the digest of this tile's physics identity (SetMFZID); the
	// keepalives carry it.
	mfz atomic.Pointer[MFZDigest]
	// kick wakes the clock goroutine: a write, a profile change, a
	// keepalive wanted. room tells the writer (Room) a refused link has
	// room again.
	kick, room chan struct{}
	kaTicks    uint64 // keepalive ticks so far; owned by the clock goroutine

	rr int // ReadPacket's round-robin position: one reader at a time

	// short takes frames from devices of this process directly
	// (udpshort.go); nil unless cfg.InProcess. rxMu is held around
	// receive, which readLoop and the neighbours' clocks (through the
	// shortcut) call.
	short *shortcut
	rxMu  sync.Mutex
}

var (
	_ Device          = (*UDP)(nil)
	_ PhysicsIdentity = (*UDP)(nil)
	_ RoomNotifier    = (*UDP)(nil)
)

// OpenUDP binds (or adopts cfg.Conn), resolves the neighbours' addresses
// and starts the device's goroutines.
func OpenUDP(cfg UDPConfig) (*UDP, error) {
	cfg = cfg.withDefaults()
	if cfg.DownAfter <= cfg.Keepalive {
		return nil, fmt.Errorf("udp device: DownAfter %v must exceed Keepalive %v (use several keepalive intervals)", cfg.DownAfter, cfg.Keepalive)
	}
	if err := cfg.Profile.Validate(); err != nil {
		return nil, fmt.Errorf("udp device: %w", err)
	}
	u := &UDP{
		cfg:     cfg,
		log:     cfg.Logger,
		base:    cfg.Clock.Now(),
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		changes: make(chan struct{}, 1),
		epoch:   newEpoch(),
		kick:    make(chan struct{}, 1),
		room:    make(chan struct{}, 1),
	}
	empty := DigestMFZID(nil)
	u.mfz.Store(&empty)
	seen := make(map[netip.AddrPort]packet.Dir)
	for d := range packet.Dir(8) {
		s, ok := cfg.Links[d]
		if !ok {
			continue
		}
		if !d.IsLink() {
			return nil, fmt.Errorf("udp device: link %v: not a T2 link direction (use NE ET SE SW WT NW)", d)
		}
		ua, err := net.ResolveUDPAddr("udp", s)
		if err != nil {
			return nil, fmt.Errorf("udp device: link %v: %w", d, err)
		}
		a := ua.AddrPort()
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if o, dup := seen[a]; dup {
			return nil, fmt.Errorf("udp device: links %v and %v both go to %v: neighbours are told apart by address", o, d, a)
		}
		seen[a] = d
		l := newUDPLink(d, a, cfg, u.epoch)
		u.links[d] = l
		u.list = append(u.list, l)
	}
	u.conn = cfg.Conn
	if u.conn == nil {
		la, err := net.ResolveUDPAddr("udp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("udp device: listen address: %w", err)
		}
		u.conn, err = net.ListenUDP("udp", la)
		if err != nil {
			return nil, fmt.Errorf("udp device: %w", err)
		}
	}
	rc, err := u.conn.SyscallConn()
	if err == nil {
		u.raw, err = newRawUDP(rc)
	}
	if err != nil {
		if cfg.Conn == nil {
			u.conn.Close()
		}
		return nil, fmt.Errorf("udp device: %w", err)
	}
	// Best effort: room for bursts from six neighbours.
	_ = u.conn.SetReadBuffer(1 << 20)

	if cfg.InProcess {
		u.openShortcut()
	}
	u.wg.Add(2)
	go u.readLoop()
	go u.clock()
	return u, nil
}

// LocalAddr returns the address the device receives on.
func (u *UDP) LocalAddr() net.Addr { return u.conn.LocalAddr() }

// now returns the time in nanoseconds since the device opened; never 0
// once the device runs, which the link state uses as "never heard".
func (u *UDP) now() int64 { return u.stamp(u.cfg.Clock.Now()) }

// stamp is now for t, a time of the device's clock already read.
func (u *UDP) stamp(t time.Time) int64 { return int64(t.Sub(u.base)) + 1 }

// ReadPacket implements Device. It takes packets from the links' inbound
// queues in turn. A buf shorter than the packet gets its first len(buf)
// bytes and an error wrapping io.ErrShortBuffer.
func (u *UDP) ReadPacket(buf []byte) (int, error) {
	for {
		if u.closed.Load() {
			return 0, ErrClosed
		}
		for j := range u.list {
			i := (u.rr + j) % len(u.list)
			l := u.list[i]
			l.inMu.Lock()
			if l.in.count == 0 {
				l.inMu.Unlock()
				continue
			}
			n, _ := l.in.pop(buf)
			l.inMu.Unlock()
			u.rr = i + 1
			if n > len(buf) {
				return len(buf), fmt.Errorf("udp device: %d-byte packet in a %d-byte buffer: %w", n, len(buf), io.ErrShortBuffer)
			}
			return n, nil
		}
		select {
		case <-u.ready:
		case <-u.done:
			return 0, ErrClosed
		}
	}
}

// WritePacket implements Device. Only routed packets (service or MFM) can
// be written; others fail with an error wrapping ErrNotRouted.
func (u *UDP) WritePacket(p []byte) error {
	if u.closed.Load() {
		return ErrClosed
	}
	pk, err := packet.Decode(p)
	if err != nil {
		return fmt.Errorf("udp device write: %w", err)
	}
	if pk.Kind != packet.KindService && pk.Kind != packet.KindMFM {
		return fmt.Errorf("udp device write: %v packet (header 0x%02x): %w", pk.Kind, p[0], ErrNotRouted)
	}
	l := u.links[pk.Dir]
	if l == nil || !l.up.Load() {
		return errLinkDown[pk.Dir]
	}
	l.outMu.Lock()
	if l.out.bytes+len(p) > u.cfg.OutQueueBytes {
		l.refused = true // under outMu, so the clock cannot miss it
		l.outMu.Unlock()
		l.c.outFull.Add(1)
		return errWouldBlock[pk.Dir]
	}
	l.out.push(0, p)
	l.outMu.Unlock()
	notify(u.kick)
	return nil
}

// Room implements RoomNotifier: after a write failed with ErrWouldBlock,
// a value arrives once that link's queue is half empty again.
func (u *UDP) Room() <-chan struct{} { return u.room }

// Status implements Device. An up link reads as LinkMFM while both ends
// have the same physics identity (SetMFZID), else LinkUp.
func (u *UDP) Status() Status {
	u.statusMu.Lock()
	defer u.statusMu.Unlock()
	return u.status
}

// StatusChanges implements Device.
func (u *UDP) StatusChanges() <-chan struct{} { return u.changes }

// SetProfile changes the profile of the outbound side of link d at once.
// A simulator sets both ends of a link.
func (u *UDP) SetProfile(d packet.Dir, p LinkProfile) error {
	if err := p.Validate(); err != nil {
		return fmt.Errorf("udp device link %v: %w", d, err)
	}
	l := u.links[d&7]
	if d > 7 || l == nil {
		return fmt.Errorf("udp device: no neighbour on link %v", d)
	}
	old := l.profile.Swap(&p)
	if p.Cut && !old.Cut {
		l.lastHeard.Store(0) // once restored, wait to hear the far end again
	}
	notify(u.kick)
	u.refreshStatus()
	return nil
}

// Profile returns the current profile of link d (the zero profile if d
// has no neighbour).
func (u *UDP) Profile(d packet.Dir) LinkProfile {
	if d > 7 || u.links[d] == nil {
		return LinkProfile{}
	}
	return *u.links[d].profile.Load()
}

// Stats returns a snapshot of the counters.
func (u *UDP) Stats() UDPStats {
	var s UDPStats
	for _, l := range u.list {
		s.Links[l.dir] = l.c.snapshot()
	}
	s.UnknownSource = u.unknownSource.Load()
	s.BadDatagram = u.badDatagram.Load()
	return s
}

// Close implements Device: it stops every goroutine of the device, closes
// the socket, and every link reads as down. Packets still queued are
// dropped.
func (u *UDP) Close() error {
	var err error
	u.once.Do(func() {
		u.closed.Store(true)
		u.closeShortcut()
		close(u.done)
		err = u.conn.Close()
		u.wg.Wait()
		u.refreshStatus()
	})
	return err
}

// newEpoch returns a random nonzero epoch for a device run.
func newEpoch() uint32 {
	for {
		if e := rand.Uint32(); e != 0 {
			return e
		}
	}
}
