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
	// Keepalive is how often a link-level keepalive goes out on each link.
	// Zero means 100ms.
	Keepalive time.Duration `toml:"keepalive"`
	// DownAfter is how long a neighbour may stay silent before its link
	// counts as down. Zero means 1s: ten keepalives, so even at 20% loss a
	// link flaps with probability 1e-7 per window.
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
	// Logger receives warnings; nil means slog.Default().
	Logger *slog.Logger `toml:"-"`
}

// DefaultUDPConfig returns the defaults: loopback, no links, 100ms
// keepalives, down after 1s, 16 KB queues, an unimpaired unlimited link,
// impairments seeded with 1.
func DefaultUDPConfig() UDPConfig {
	return UDPConfig{
		Listen:        "127.0.0.1:0",
		Keepalive:     100 * time.Millisecond,
		DownAfter:     time.Second,
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

// LinkStats counts what happened on one link of a UDP device.
type LinkStats struct {
	SentPackets, SentBytes uint64 // packets handed to the socket (duplicates included)
	RecvPackets, RecvBytes uint64 // packets queued for ReadPacket
	OutFull                uint64 // writes refused with ErrWouldBlock
	InDropped              uint64 // received packets dropped: inbound queue full
	Lost                   uint64 // packets dropped by the Loss impairment
	Duplicated             uint64 // packets sent twice by the Duplicate impairment
	Corrupted              uint64 // packets with bits flipped by the Corrupt impairment
	CutDropped             uint64 // packets dropped, either way, because the link is cut
	Idle                   uint64 // busy periods of a rate-limited link that ended with its queue empty
	KeepalivesSent         uint64
	KeepalivesRecv         uint64
	KeepalivesLost         uint64 // keepalives dropped by the Loss impairment
	Misrouted              uint64 // datagrams from this neighbour naming the wrong direction
	SendErrors             uint64 // socket send failures
	// Reordered counts packet frames dropped because they were not newer
	// than the newest already received on the link: late (reordered by
	// the network) or duplicated by the network, or from the neighbour's
	// previous run. The link keeps T2 order: it loses them instead.
	Reordered uint64
	// Resynced counts the times the receiver took a frame as the start of
	// the neighbour's sequence: the first frame heard, a new epoch (the
	// neighbour restarted), the first frame after the link was down or
	// cut, or a frame too far behind to be merely late.
	Resynced uint64
}

// Add returns the sum of two sets of counters, such as a link's before and
// after its device was reopened.
func (s LinkStats) Add(o LinkStats) LinkStats {
	return LinkStats{
		SentPackets: s.SentPackets + o.SentPackets, SentBytes: s.SentBytes + o.SentBytes,
		RecvPackets: s.RecvPackets + o.RecvPackets, RecvBytes: s.RecvBytes + o.RecvBytes,
		OutFull: s.OutFull + o.OutFull, InDropped: s.InDropped + o.InDropped,
		Lost: s.Lost + o.Lost, Duplicated: s.Duplicated + o.Duplicated,
		Corrupted: s.Corrupted + o.Corrupted, CutDropped: s.CutDropped + o.CutDropped,
		Idle:           s.Idle + o.Idle,
		KeepalivesSent: s.KeepalivesSent + o.KeepalivesSent, KeepalivesRecv: s.KeepalivesRecv + o.KeepalivesRecv,
		KeepalivesLost: s.KeepalivesLost + o.KeepalivesLost, Misrouted: s.Misrouted + o.Misrouted,
		SendErrors: s.SendErrors + o.SendErrors, Reordered: s.Reordered + o.Reordered,
		Resynced: s.Resynced + o.Resynced,
	}
}

// UDPStats are the counters of a UDP device.
type UDPStats struct {
	Links         [8]LinkStats
	UnknownSource uint64 // datagrams from addresses that are no neighbour
	BadDatagram   uint64 // datagrams from neighbours that do not decode (or speak another framing version)
}

// ErrNotRouted is returned (wrapped) for a write of a packet that is not a
// routed service or MFM packet: only those travel between tiles.
var ErrNotRouted = errors.New("only routed (service or MFM) packets travel on links")

// reorderWindow is how far behind the newest sequence number a frame may
// be and still count as late (dropped, Reordered). A frame further behind
// is taken as a jump of the neighbour's sequence (a restart that kept its
// epoch, or tens of thousands of frames lost in a row): the receiver
// accepts it and resynchronises. Real networks reorder by a few frames,
// rarely hundreds.
const reorderWindow = 4096

// prevEpochKeepalives is how many keepalives of the neighbour's previous
// epoch the receiver ignores as stragglers before it takes that epoch back
// as the live one. A run that ended has at most one keepalive in flight.
const prevEpochKeepalives = 3

// seqNewer reports whether sequence number a comes after b in serial
// number arithmetic (RFC 1982) on 16 bits: a is at most 32767 ahead.
func seqNewer(a, b uint16) bool { return int16(a-b) > 0 }

// UDP is a Device whose links are UDP datagrams to neighbours' addresses.
// It emulates T2 links: a link is up while the far end's keepalives are
// heard, the receiver rewrites DIR to the arrival direction, and each
// link's outbound side can be shaped with a LinkProfile.
type UDP struct {
	cfg  UDPConfig
	log  *slog.Logger
	conn *net.UDPConn
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

	rr int // ReadPacket's round-robin position: one reader at a time
}

var _ Device = (*UDP)(nil)

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
		base:    time.Now(),
		ready:   make(chan struct{}, 1),
		done:    make(chan struct{}),
		changes: make(chan struct{}, 1),
		epoch:   newEpoch(),
	}
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
	// Best effort: room for bursts from six neighbours.
	_ = u.conn.SetReadBuffer(1 << 20)

	u.wg.Add(2 + len(u.list))
	go u.readLoop()
	go u.keepaliveLoop()
	for _, l := range u.list {
		go u.pump(l)
	}
	return u, nil
}

// LocalAddr returns the address the device receives on.
func (u *UDP) LocalAddr() net.Addr { return u.conn.LocalAddr() }

// now returns the time in nanoseconds since the device opened; never 0
// once the device runs, which the link state uses as "never heard".
func (u *UDP) now() int64 { return int64(time.Since(u.base)) + 1 }

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
		l.outMu.Unlock()
		l.c.outFull.Add(1)
		return errWouldBlock[pk.Dir]
	}
	l.out.push(0, p)
	l.outMu.Unlock()
	notify(l.kick)
	return nil
}

// Status implements Device. An up link reads as LinkMFM, as a T2 link
// that is up and MFM-compatible does.
func (u *UDP) Status() Status {
	u.statusMu.Lock()
	defer u.statusMu.Unlock()
	return u.status
}

// StatusChanges implements Device.
func (u *UDP) StatusChanges() <-chan struct{} { return u.changes }

// refreshStatus recomputes every link's state and notifies on a change.
func (u *UDP) refreshStatus() {
	u.statusMu.Lock()
	defer u.statusMu.Unlock()
	var s Status
	if !u.closed.Load() {
		now := u.now()
		for _, l := range u.list {
			h := l.lastHeard.Load()
			up := h != 0 && now-h < int64(u.cfg.DownAfter) && !l.profile.Load().Cut
			l.up.Store(up)
			if up {
				s[l.dir] = LinkMFM
			}
		}
	}
	if s != u.status {
		u.status = s
		notify(u.changes)
	}
}

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
	notify(l.kick)
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
		close(u.done)
		err = u.conn.Close()
		u.wg.Wait()
		u.refreshStatus()
	})
	return err
}

// readLoop receives datagrams until the socket is closed.
func (u *UDP) readLoop() {
	defer u.wg.Done()
	var buf [MaxFrameLen + 1]byte // one more, to see oversized datagrams
	for {
		n, from, err := u.conn.ReadFromUDPAddrPort(buf[:])
		if err != nil {
			if u.closed.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			u.log.Warn("udp device: receive failed", "err", err)
			select {
			case <-u.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		u.receive(buf[:n], from)
	}
}

// receive handles one datagram. Nothing in it can make the reader fail:
// every length is checked before use. It runs on the reader goroutine
// alone, which owns the links' receive windows.
func (u *UDP) receive(b []byte, from netip.AddrPort) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	var l *udpLink
	for _, x := range u.list {
		if x.addr == from {
			l = x
			break
		}
	}
	if l == nil {
		u.unknownSource.Add(1)
		if !u.unknownLogged.Swap(true) {
			u.log.Warn("udp device: datagram from an address that is no neighbour (dropped; logged once)", "from", from, "local", u.conn.LocalAddr())
		}
		return
	}
	f, err := ParseFrame(b)
	if err != nil {
		u.badFrame(l, err, b)
		return
	}
	if f.Dir != l.dir.Opposite() {
		l.c.misrouted.Add(1)
		if !l.misroutedLogged.Swap(true) {
			u.log.Warn("udp device: neighbour sends on the wrong link: check both ends' link maps (dropped; logged once)",
				"local", u.conn.LocalAddr(), "link", l.dir, "from", from, "their_dir", f.Dir, "want", l.dir.Opposite())
		}
		return
	}
	if l.profile.Load().Cut {
		l.c.cutDropped.Add(1)
		return
	}

	// Which run of the neighbour sent it? A link that was down (or cut:
	// lastHeard was cleared) starts afresh, whatever it heard before.
	now := u.now()
	h := l.lastHeard.Load()
	fresh := h == 0 || now-h >= int64(u.cfg.DownAfter)
	epoch, typ := f.Epoch, f.Type
	if epoch != l.rxEpoch {
		// A straggler of the neighbour's previous run, overtaken by the
		// new run's frames, is neither heard nor delivered. But a run
		// that goes on sending keepalives is alive: then the "new" epoch
		// was a stray frame, and the previous one is taken back.
		if epoch == l.rxPrevEpoch && !fresh && (typ == FramePacket || l.rxPrevKeepalives < prevEpochKeepalives) {
			if typ == FramePacket {
				l.c.reordered.Add(1)
			} else {
				l.rxPrevKeepalives++
			}
			return
		}
		l.rxPrevEpoch, l.rxEpoch = l.rxEpoch, epoch
		l.rxPrevKeepalives = 0
		l.rxSynced = false
	} else if fresh {
		l.rxSynced = false
	}

	// A well-formed frame from the right neighbour: its link layer is alive.
	l.lastHeard.Store(now)
	if !l.up.Load() {
		u.refreshStatus()
	}
	if typ == FrameKeepalive {
		l.c.kaRecv.Add(1)
		return
	}

	// Keep T2 order: deliver only frames newer than the newest so far.
	seq := f.Seq
	switch {
	case !l.rxSynced:
		l.rxSynced = true
		l.c.resynced.Add(1)
	case seqNewer(seq, l.rxSeq):
	case uint16(l.rxSeq-seq) < reorderWindow:
		l.c.reordered.Add(1) // late, or a network duplicate
		return
	default:
		l.c.resynced.Add(1) // far behind: the sequence jumped
	}
	l.rxSeq = seq

	p := f.Packet
	pk, err := packet.Decode(p)
	if err != nil || pk.Kind != packet.KindService && pk.Kind != packet.KindMFM {
		u.bad(l, "packet frame whose packet is malformed or not routed", b)
		return
	}
	packet.SetArrival(p, l.dir)
	l.inMu.Lock()
	ok := l.in.bytes+len(p) <= u.cfg.InQueueBytes
	if ok {
		l.in.push(0, p)
	}
	l.inMu.Unlock()
	if !ok {
		l.c.inDropped.Add(1)
		return
	}
	l.c.recvPackets.Add(1)
	l.c.recvBytes.Add(uint64(len(p)))
	notify(u.ready)
}

// badFrame counts a datagram from neighbour l that is no frame. One in
// another framing version is an older or newer itcd at the far end: said
// loudly, once per link, as the link will never come up.
func (u *UDP) badFrame(l *udpLink, err error, b []byte) {
	if errors.Is(err, ErrFrameVersion) {
		u.badDatagram.Add(1)
		if !l.versionLogged.Swap(true) {
			u.log.Error("udp device: neighbour speaks another UDP link framing version: run the same itcd version at both ends (its datagrams are dropped and counted as BadDatagram; logged once per link)",
				"local", u.conn.LocalAddr(), "link", l.dir, "from", l.addr, "their_version", frameVersion(b[0]), "our_version", frameVersion(FrameMagic))
		}
		return
	}
	u.bad(l, err.Error(), b)
}

// bad counts a datagram from neighbour l that does not decode and logs the
// first one of the device with its reason.
func (u *UDP) bad(l *udpLink, reason string, b []byte) {
	u.badDatagram.Add(1)
	if !u.badLogged.Swap(true) {
		u.log.Warn("udp device: malformed datagram from a neighbour (dropped and counted as BadDatagram; logged once)",
			"reason", reason, "local", u.conn.LocalAddr(), "link", l.dir, "from", l.addr, "len", len(b))
	}
}

// newEpoch returns a random nonzero epoch for a device run.
func newEpoch() uint32 {
	for {
		if e := rand.Uint32(); e != 0 {
			return e
		}
	}
}

// keepaliveLoop sends keepalives on every link and notices links that
// fell silent.
func (u *UDP) keepaliveLoop() {
	defer u.wg.Done()
	t := time.NewTicker(u.cfg.Keepalive)
	defer t.Stop()
	for {
		u.sendKeepalives()
		u.refreshStatus()
		select {
		case <-u.done:
			return
		case <-t.C:
		}
	}
}

func (u *UDP) sendKeepalives() {
	for _, l := range u.list {
		p := l.profile.Load()
		if p.Cut {
			continue
		}
		if p.Loss > 0 && l.kaRNG.Float64() < p.Loss {
			l.c.kaLost.Add(1)
			continue
		}
		var buf [KeepaliveFrameLen]byte
		f, _ := AppendFrame(buf[:0], Frame{Type: FrameKeepalive, Dir: l.dir, Epoch: u.epoch})
		if _, err := u.conn.WriteToUDPAddrPort(f, l.addr); err != nil {
			u.sendFailed(l, err)
			continue
		}
		l.c.kaSent.Add(1)
	}
}

func (u *UDP) sendFailed(l *udpLink, err error) {
	if u.closed.Load() {
		return
	}
	l.c.sendErrors.Add(1)
	if !l.sendErrLogged.Swap(true) {
		u.log.Warn("udp device: send failed (logged once per link)", "link", l.dir, "to", l.addr, "err", err)
	}
}
