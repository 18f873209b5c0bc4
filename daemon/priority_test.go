package daemon

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// stuckService owns a number and never reads its inbox.
type stuckService struct{ n packet.Service }

func (s stuckService) Number() packet.Service { return s.n }
func (s stuckService) Name() string           { return fmt.Sprintf("stuck%d", s.n) }
func (s stuckService) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	<-ctx.Done()
	return nil
}

// A service that never reads loses its own packets, counted, and the
// others keep theirs.
func TestStuckServiceDoesNotStallOthers(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	cfg.InboxLen = 8
	echo := &echoService{}
	d, err := New(cfg, Options{Device: a, Services: []p2p.Service{echo, stuckService{20}}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-d.Ready()
	d.nbr.heard(d, packet.ET, AppendHello(nil, Hello{Version: 1, Tile: p2p.TileID{7}, TS: 1}))

	for i := 0; i < 100; i++ {
		stuck, _ := packet.AppendService(nil, packet.ET, 20, []byte{byte(i)})
		d.demux(stuck)
	}
	ok, _ := packet.AppendService(nil, packet.ET, 9, []byte("still here"))
	d.demux(ok)
	eventually(t, "the echo service gets its packet", func() bool { return echo.saw("still here") })
	var stuckDropped uint64
	for _, so := range d.Status().Services {
		if so.Number == 20 {
			stuckDropped = so.Dropped
		}
	}
	if stuckDropped != 100-8 {
		t.Fatalf("stuck service dropped %d packets, want %d (inbox_len 8)", stuckDropped, 100-8)
	}
}

// gateDevice refuses writes (a full link) until opened, then records them.
type gateDevice struct {
	mu      sync.Mutex
	open    bool
	written [][]byte
	changes chan struct{}
	done    chan struct{}
}

func (g *gateDevice) ReadPacket([]byte) (int, error) { <-g.done; return 0, dev.ErrClosed }
func (g *gateDevice) WritePacket(p []byte) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open {
		return dev.ErrWouldBlock
	}
	g.written = append(g.written, append([]byte(nil), p...))
	return nil
}
func (g *gateDevice) Status() (s dev.Status)         { s[packet.ET] = dev.LinkMFM; return s }
func (g *gateDevice) StatusChanges() <-chan struct{} { return g.changes }
func (g *gateDevice) Close() error                   { close(g.done); return nil }
func (g *gateDevice) setOpen()                       { g.mu.Lock(); g.open = true; g.mu.Unlock() }
func (g *gateDevice) writes() [][]byte               { g.mu.Lock(); defer g.mu.Unlock(); return g.written }
func newGateDevice() *gateDevice {
	return &gateDevice{changes: make(chan struct{}, 1), done: make(chan struct{})}
}

// With a link backed up, MFM traffic queued last still leaves first, and
// two services share the link one packet each in turn.
func TestMFMFirstThenServicesInTurn(t *testing.T) {
	g := newGateDevice()
	cfg := testConfig(t)
	cfg.HelloInterval = conf.Duration(time.Hour)
	cfg.DeadAfter = conf.Duration(2 * time.Hour)
	d, err := New(cfg, Options{Device: g, Services: []p2p.Service{&echoService{}, stuckService{20}}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-d.Ready()
	d.nbr.heard(d, packet.ET, AppendHello(nil, Hello{Version: 1, Tile: p2p.TileID{7}, TS: 1}))
	hosts := map[packet.Service]*serviceHost{}
	for _, h := range d.inproc {
		hosts[h.num] = h
	}
	// Wait until the daemon's own first hello is queued behind the gate,
	// so what follows is queued in a known order.
	eventually(t, "the hello is queued", func() bool {
		d.out.mu.Lock()
		defer d.out.mu.Unlock()
		return d.out.links[packet.ET].own.len() > 0
	})
	for i := 0; i < 3; i++ {
		if err := hosts[9].Send(packet.ET, []byte{'a', byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := hosts[20].Send(packet.ET, []byte{'b', byte('0' + i)}); err != nil {
			t.Fatal(err)
		}
	}
	mfm, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte("atom"))
	eventually(t, "ET open for MFM", func() bool { return d.nbr.compat[packet.ET].Load() })
	if queued, closed := d.out.enqueueMFM(packet.ET, mfm); !queued {
		t.Fatalf("MFM queue full (link closed to MFM: %v)", closed)
	}
	g.setOpen()
	eventually(t, "everything written", func() bool {
		d.out.mu.Lock()
		defer d.out.mu.Unlock()
		return d.out.links[packet.ET].pending == 0
	})
	// MFM first, then the daemon's hellos (one or two are queued by now),
	// then the two services one packet each in turn.
	var order []string
	for _, w := range g.writes() {
		p, err := packet.Decode(w)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case p.Kind == packet.KindMFM:
			order = append(order, "mfm")
		case p.Service == packet.ServiceLiveness:
			order = append(order, "hello")
		default:
			order = append(order, string(p.Payload))
		}
	}
	var squeezed []string // order without the hellos, which must all come before any service packet
	seenService := false
	for _, o := range order {
		switch {
		case o == "hello" && seenService:
			t.Fatalf("a hello left after a service packet: %v", order)
		case o == "hello":
		default:
			seenService = seenService || o != "mfm"
			squeezed = append(squeezed, o)
		}
	}
	want := []string{"mfm", "a0", "b0", "a1", "b1", "a2", "b2"}
	if len(order) == 0 || order[0] != "mfm" || fmt.Sprint(squeezed[:min(len(squeezed), len(want))]) != fmt.Sprint(want) {
		t.Fatalf("written in order %v, want MFM, the hellos, then %v", order, want[1:])
	}
}
