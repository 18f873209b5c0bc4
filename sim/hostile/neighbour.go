package hostile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// Config describes a Neighbour.
type Config struct {
	// Listen is the local UDP address; empty means "127.0.0.1:0".
	Listen string
	// Dir is this end's name for the link: the opposite of the daemon's
	// direction for it (a daemon that has the Neighbour on WT wants ET).
	// A daemon drops frames that name another (Misrouted).
	Dir packet.Dir
	// Tile is the identity the periodic hellos carry; zero means a random
	// one. SetTile changes it.
	Tile p2p.TileID
	// Services is the bitmap of services the hellos offer; zero means
	// liveness, counter and MFZ (1, 2, 8), as a standard tile.
	Services uint64
	// Keepalive is how often a link keepalive goes out: zero means 100ms,
	// negative none (the daemon's link stays down unless the test sends).
	Keepalive time.Duration
	// HelloInterval is how often a hello goes out: zero means 250ms,
	// negative none (the daemon never counts the Neighbour live unless the
	// test says hello itself).
	HelloInterval time.Duration
	// Epoch is the epoch of the frames sent; zero means a random one.
	Epoch uint32
	// MFZID is the physics identity the keepalives carry (their digest);
	// empty is a tile that never set one, compatible with a daemon that
	// did not either, so MFM packets from the Neighbour are delivered.
	MFZID string
	// Handler, when set, is called with everything that arrives from the
	// peer, on the goroutine that receives: while it runs nothing else is
	// received, so it should not block for long. It may send. The
	// Received and what it points to are valid only during the call
	// (Clone keeps one).
	Handler func(n *Neighbour, r *Received)
}

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:0"
	}
	for c.Tile.IsZero() {
		c.Tile = p2p.TileID(randomID())
	}
	if c.Services == 0 {
		c.Services = 1<<packet.ServiceLiveness | 1<<packet.ServiceCounter | 1<<packet.ServiceMFZ
	}
	if c.Keepalive == 0 {
		c.Keepalive = 100 * time.Millisecond
	}
	if c.HelloInterval == 0 {
		c.HelloInterval = 250 * time.Millisecond
	}
	for c.Epoch == 0 {
		c.Epoch = rand.Uint32()
	}
	return c
}

func randomID() (id [8]byte) {
	for i := range id {
		id[i] = byte(rand.Uint32())
	}
	return id
}

// Stats count what a Neighbour sent and heard.
type Stats struct {
	Sent       uint64 // datagrams sent
	SendErrors uint64 // datagrams the socket refused
	Frames     uint64 // well-formed frames from the peer
	Keepalives uint64 // of which keepalives
	Packets    uint64 // packets from the peer that decode
	Bad        uint64 // datagrams from the peer that are no frame, or whose packet does not decode
	Strangers  uint64 // datagrams from other addresses, ignored
}

// Errors of a Neighbour.
var (
	ErrNotStarted = errors.New("hostile: neighbour not started: call Start with the daemon's address")
	ErrStarted    = errors.New("hostile: neighbour already started")
	ErrClosed     = errors.New("hostile: neighbour closed")
)

// Neighbour is a fake tile at the far end of one UDP link of a daemon.
// Its methods may be called from any goroutine.
type Neighbour struct {
	cfg     Config
	conn    *net.UDPConn
	addr    netip.AddrPort
	started time.Time

	// mu serialises sending, so frames leave in the order of their
	// sequence numbers, and guards what follows.
	mu     sync.Mutex
	peer   netip.AddrPort // zero until Start
	seq    uint16
	tile   p2p.TileID
	closed bool
	buf    [dev.MaxFrameLen]byte

	heardMu   sync.Mutex
	peerHello daemon.Hello // the peer's last hello
	heardAt   time.Time    // when it came; zero: none yet

	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once

	sent, sendErrors, frames, keepalives, packets, bad, strangers atomic.Uint64
}

// Listen binds the Neighbour's socket. Nothing is sent until Start, so a
// test can give the daemon Addr in its link map first.
func Listen(cfg Config) (*Neighbour, error) {
	cfg = cfg.withDefaults()
	if !cfg.Dir.IsLink() {
		return nil, fmt.Errorf("hostile: direction %v is no link: use NE ET SE SW WT NW", cfg.Dir)
	}
	la, err := net.ResolveUDPAddr("udp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("hostile: listen address: %w", err)
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		return nil, fmt.Errorf("hostile: %w", err)
	}
	a := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return &Neighbour{
		cfg:     cfg,
		conn:    conn,
		addr:    netip.AddrPortFrom(a.Addr().Unmap(), a.Port()),
		tile:    cfg.Tile,
		started: time.Now(),
	}, nil
}

// Addr is the address the daemon's link map must name.
func (n *Neighbour) Addr() netip.AddrPort { return n.addr }

// Dir is this end's name for the link.
func (n *Neighbour) Dir() packet.Dir { return n.cfg.Dir }

// Epoch is the epoch of the frames the Neighbour sends.
func (n *Neighbour) Epoch() uint32 { return n.cfg.Epoch }

// Start begins talking to the daemon at peer (host:port): receiving,
// keepalives and hellos. Everything stops when ctx ends or Close is
// called.
func (n *Neighbour) Start(ctx context.Context, peer string) error {
	ua, err := net.ResolveUDPAddr("udp", peer)
	if err != nil {
		return fmt.Errorf("hostile: peer address: %w", err)
	}
	a := ua.AddrPort()
	n.mu.Lock()
	switch {
	case n.closed:
		n.mu.Unlock()
		return ErrClosed
	case n.peer.IsValid():
		n.mu.Unlock()
		return ErrStarted
	}
	n.peer = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	ctx, n.cancel = context.WithCancel(ctx)
	n.mu.Unlock()

	n.wg.Add(3)
	go func() {
		defer n.wg.Done()
		<-ctx.Done()
		n.conn.Close() // ends the reader
	}()
	go func() {
		defer n.wg.Done()
		n.readLoop()
	}()
	go func() {
		defer n.wg.Done()
		n.tickLoop(ctx)
	}()
	return nil
}

// Close stops every goroutine of the Neighbour, closes its socket and
// waits for them.
func (n *Neighbour) Close() error {
	n.once.Do(func() {
		n.mu.Lock()
		n.closed = true
		cancel := n.cancel
		n.mu.Unlock()
		if cancel != nil {
			cancel()
		}
		n.conn.Close()
		n.wg.Wait()
	})
	return nil
}

// Stats returns a snapshot of the counters.
func (n *Neighbour) Stats() Stats {
	return Stats{
		Sent: n.sent.Load(), SendErrors: n.sendErrors.Load(), Frames: n.frames.Load(),
		Keepalives: n.keepalives.Load(), Packets: n.packets.Load(), Bad: n.bad.Load(), Strangers: n.strangers.Load(),
	}
}

// tickLoop sends keepalives and hellos until ctx ends.
func (n *Neighbour) tickLoop(ctx context.Context) {
	tick := func(d time.Duration) (<-chan time.Time, func()) {
		if d < 0 {
			return nil, func() {}
		}
		t := time.NewTicker(d)
		return t.C, t.Stop
	}
	ka, stopKA := tick(n.cfg.Keepalive)
	defer stopKA()
	hi, stopHi := tick(n.cfg.HelloInterval)
	defer stopHi()
	if n.cfg.Keepalive > 0 {
		n.SendKeepalive()
	}
	if n.cfg.HelloInterval > 0 {
		n.SendHello(n.Hello())
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-ka:
			n.SendKeepalive()
		case <-hi:
			n.SendHello(n.Hello())
		}
	}
}

// SetTile changes the identity the periodic hellos carry.
func (n *Neighbour) SetTile(id p2p.TileID) {
	n.mu.Lock()
	n.tile = id
	n.mu.Unlock()
}

// Tile is the identity the periodic hellos carry.
func (n *Neighbour) Tile() p2p.TileID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tile
}

// Hello returns the hello an honest tile with the Neighbour's identity
// would send now: the daemon's liveness version, short and unsealed (no
// version string), its uptime and clock, echoing the peer's last
// timestamp (so the daemon measures a round trip).
func (n *Neighbour) Hello() daemon.Hello {
	now := time.Now()
	since := now.Sub(n.started)
	h := daemon.Hello{
		Version:  daemon.ProtocolVersion,
		Tile:     n.Tile(),
		Uptime:   uint32(since / time.Second),
		Services: n.cfg.Services,
		TS:       uint32(since/time.Millisecond) | 1, // never 0
	}
	n.heardMu.Lock()
	if !n.heardAt.IsZero() && now.Sub(n.heardAt) < 2*time.Second {
		h.EchoTS = n.peerHello.TS
		h.EchoHold = uint32(now.Sub(n.heardAt) / time.Millisecond)
	}
	n.heardMu.Unlock()
	return h
}

// PeerHello returns the last hello the daemon sent, and whether one came.
func (n *Neighbour) PeerHello() (daemon.Hello, bool) {
	n.heardMu.Lock()
	defer n.heardMu.Unlock()
	return n.peerHello, !n.heardAt.IsZero()
}

// SendRaw sends b as one datagram, whatever it holds.
func (n *Neighbour) SendRaw(b []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.writeLocked(b)
}

func (n *Neighbour) writeLocked(b []byte) error {
	if n.closed {
		return ErrClosed
	}
	if !n.peer.IsValid() {
		return ErrNotStarted
	}
	if _, err := n.conn.WriteToUDPAddrPort(b, n.peer); err != nil {
		n.sendErrors.Add(1)
		return fmt.Errorf("hostile: send: %w", err)
	}
	n.sent.Add(1)
	return nil
}

// SendFrame sends f as it is: any epoch, sequence number and direction
// (the Neighbour's own sequence does not move). dev.AppendFrame refuses
// what no receiver could parse; send such bytes with SendRaw.
func (n *Neighbour) SendFrame(f dev.Frame) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, err := dev.AppendFrame(n.buf[:0], f)
	if err != nil {
		return fmt.Errorf("hostile: %w", err)
	}
	return n.writeLocked(b)
}

// SendKeepalive sends one keepalive frame.
func (n *Neighbour) SendKeepalive() error {
	return n.SendFrame(dev.Frame{Type: dev.FrameKeepalive, Dir: n.cfg.Dir, Epoch: n.cfg.Epoch, MFZ: dev.DigestMFZID([]byte(n.cfg.MFZID))})
}

// SendPacket sends p, any 1..255 bytes, in a valid packet frame with the
// Neighbour's epoch and next sequence number, as a tile's device would
// (a tile's device only sends packets that decode; this sends anything).
func (n *Neighbour) SendPacket(p []byte) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	b, err := dev.AppendFrame(n.buf[:0], dev.Frame{Type: dev.FramePacket, Dir: n.cfg.Dir, Epoch: n.cfg.Epoch, Seq: n.seq, Packet: p})
	if err != nil {
		return fmt.Errorf("hostile: %w", err)
	}
	n.seq++
	return n.writeLocked(b)
}

// SendService sends payload on service s, as a service packet to the
// daemon (payload at most 253 bytes, s in 1..63: send other bytes with
// SendPacket).
func (n *Neighbour) SendService(s packet.Service, payload []byte) error {
	var buf [packet.MaxLen]byte
	p, err := packet.AppendService(buf[:0], n.cfg.Dir, s, payload)
	if err != nil {
		return fmt.Errorf("hostile: service %d: %w", s, err)
	}
	return n.SendPacket(p)
}

// SendHello sends the hello h, whatever it says.
func (n *Neighbour) SendHello(h daemon.Hello) error {
	var buf [daemon.HelloLen]byte
	return n.SendService(packet.ServiceLiveness, daemon.AppendHello(buf[:0], h))
}

// SendDist sends the service 8 message m, CRC sealed, fields as they are.
func (n *Neighbour) SendDist(m *dist.Message) error {
	var buf [2 * packet.MaxLen]byte
	return n.SendService(packet.ServiceMFZ, dist.AppendMessage(buf[:0], m))
}
