package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// echoService answers every packet with the same payload and records what
// it saw.
type echoService struct {
	mu     sync.Mutex
	got    [][]byte
	from   []p2p.TileID // p2p.Message.Tile of each packet in got
	events []p2p.Event
}

func (e *echoService) Number() packet.Service { return 9 }
func (e *echoService) Name() string           { return "echo" }
func (e *echoService) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case m := <-in.Packets:
			e.mu.Lock()
			e.got = append(e.got, append([]byte(nil), m.Payload()...))
			e.from = append(e.from, m.Tile)
			e.mu.Unlock()
			if string(m.Payload()) == "ping" {
				h.Send(m.From, []byte("pong"))
			}
		case ev := <-in.Events:
			e.mu.Lock()
			e.events = append(e.events, ev)
			e.mu.Unlock()
		}
	}
}

func (e *echoService) saw(s string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, g := range e.got {
		if string(g) == s {
			return true
		}
	}
	return false
}

func testConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	cfg := DefaultConfig()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.RunDir = filepath.Join(dir, "run")
	// Short for quick tests, with margin for a loaded machine under -race.
	cfg.HelloInterval = conf.Duration(50 * time.Millisecond)
	cfg.DeadAfter = conf.Duration(1500 * time.Millisecond)
	return cfg
}

type runningDaemon struct {
	*Daemon
	cancel context.CancelFunc
	done   chan error
	svc    *echoService
	once   sync.Once
}

func startDaemon(t *testing.T, cfg Config, d dev.Device) *runningDaemon {
	t.Helper()
	svc := &echoService{}
	dm, err := New(cfg, Options{Device: d, Services: []p2p.Service{svc}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningDaemon{Daemon: dm, cancel: cancel, done: make(chan error, 1), svc: svc}
	go func() { r.done <- dm.Run(ctx) }()
	t.Cleanup(r.stop)
	select {
	case <-dm.Ready():
	case err := <-r.done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	return r
}

func (r *runningDaemon) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			panic("daemon did not stop within 10s")
		}
	})
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func waitEvent(t *testing.T, sub *Subscription, want packet.Event, dir packet.Dir) p2p.Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-sub.C():
			if e.Kind == want && e.Dir == dir {
				return e
			}
		case <-deadline:
			t.Fatalf("no %v event for %v", want, dir)
		}
	}
}

func TestTwoDaemonsConnectExchangeAndDisconnect(t *testing.T) {
	a, b := dev.Pipe(packet.ET, 64)
	ca, cb := testConfig(t), testConfig(t)
	// Subscribe before start so no event is missed.
	da := startDaemon(t, ca, a)
	subA := da.Hub().Subscribe(16)
	db := startDaemon(t, cb, b)

	e := waitEvent(t, subA, packet.EventConnect, packet.ET)
	if e.Tile != db.Self() {
		t.Fatalf("A sees tile %v on ET, want B's %v", e.Tile, db.Self())
	}
	eventually(t, "B sees A live", func() bool { return db.nbr.isLive(packet.WT) })

	// In-process service: A's echo service pings B's, B answers.
	ha := da.inproc[0]
	if err := ha.Send(packet.ET, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's service got ping", func() bool { return db.svc.saw("ping") })
	eventually(t, "A's service got pong", func() bool { return da.svc.saw("pong") })

	st := da.Status()
	var et control.LinkStatus
	for _, l := range st.Links {
		if l.Dir == packet.ET {
			et = l
		}
	}
	if et.State != control.Live || et.Tile == nil || *et.Tile != db.Self() || et.Out["service"].Packets == 0 {
		t.Fatalf("status of ET on A: %+v", et)
	}

	// B goes away: A reports a disconnect.
	db.stop()
	waitEvent(t, subA, packet.EventDisconnect, packet.ET)
	if da.nbr.isLive(packet.ET) {
		t.Fatal("A still thinks ET is live")
	}
}

func TestSilentNeighbourTimesOut(t *testing.T) {
	a, b := dev.Pipe(packet.NE, 64)
	da := startDaemon(t, testConfig(t), a)
	sub := da.Hub().Subscribe(16)
	db := startDaemon(t, testConfig(t), b)
	waitEvent(t, sub, packet.EventConnect, packet.NE)
	// The link stays up but B's daemon stops talking: A notices by the
	// liveness deadline alone.
	db.stop()
	waitEvent(t, sub, packet.EventDisconnect, packet.NE)
}

func TestMFMSocketCarriesPacketsAndEvents(t *testing.T) {
	a, b := dev.Pipe(packet.ET, 64)
	ca, cb := testConfig(t), testConfig(t)
	da := startDaemon(t, ca, a)
	db := startDaemon(t, cb, b)
	eventually(t, "link live at both ends", func() bool { return db.nbr.isLive(packet.WT) && da.nbr.isLive(packet.ET) })

	ma := dialPacket(t, filepath.Join(ca.RunDir, control.MFMSocket))
	mb := dialPacket(t, filepath.Join(cb.RunDir, control.MFMSocket))
	// B's client first hears that A is there.
	expectTEP(t, mb, packet.EventConnect, packet.WT)
	eventually(t, "B has an mfm client", func() bool { return db.Status().MFMClient })

	// A malformed write is refused and the connection stays usable.
	if _, err := ma.Write([]byte{0x80, 0x00}); err != nil {
		t.Fatal(err)
	}
	pkt, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte("site data"))
	if _, err := ma.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	for {
		mb.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := mb.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		p, err := packet.Decode(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		if p.Kind == packet.KindMFM {
			if p.Dir != packet.WT || string(p.Payload) != "site data" {
				t.Fatalf("got %+v", p)
			}
			break
		}
	}
	eventually(t, "A counted the refused packet", func() bool { return da.Status().MFMRefuse == 1 })
}

func TestServiceSocketBindAndExchange(t *testing.T) {
	a, b := dev.Pipe(packet.SE, 64)
	ca, cb := testConfig(t), testConfig(t)
	da := startDaemon(t, ca, a)
	db := startDaemon(t, cb, b)
	eventually(t, "link live at both ends", func() bool { return db.nbr.isLive(packet.NW) && da.nbr.isLive(packet.SE) })

	sa := dialPacket(t, filepath.Join(ca.RunDir, control.ServiceSocket))
	sb := dialPacket(t, filepath.Join(cb.RunDir, control.ServiceSocket))
	bind(t, sa, "bind 20", "ok 20")
	bind(t, sb, "bind 20", "ok 20")
	// The number is taken now.
	sc := dialPacket(t, filepath.Join(ca.RunDir, control.ServiceSocket))
	bind(t, sc, "bind 20", "error: service 20 is owned by pid")
	// In-process services' numbers are refused too.
	sd := dialPacket(t, filepath.Join(ca.RunDir, control.ServiceSocket))
	bind(t, sd, "bind 9", "error: service 9 is owned by echo")

	expectTEP(t, sb, packet.EventConnect, packet.NW)
	pkt, _ := packet.AppendService(nil, packet.SE, 20, []byte("hello from A"))
	if _, err := sa.Write(pkt); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	sb.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := sb.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := packet.Decode(buf[:n])
		if p.Kind == packet.KindService {
			if p.Service != 20 || p.Dir != packet.NW || string(p.Payload) != "hello from A" {
				t.Fatalf("got %+v", p)
			}
			break
		}
	}
	// Closing the owner frees the number.
	sa.Close()
	eventually(t, "service 20 freed", func() bool {
		c := dialPacket(t, filepath.Join(ca.RunDir, control.ServiceSocket))
		defer c.Close()
		c.Write([]byte("bind 20"))
		n, _ := c.Read(buf)
		return string(buf[:n]) == "ok 20"
	})
}

func dialPacket(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func bind(t *testing.T, c *net.UnixConn, req, wantPrefix string) {
	t.Helper()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("%s: %v", req, err)
	}
	if got := string(buf[:n]); len(got) < len(wantPrefix) || got[:len(wantPrefix)] != wantPrefix {
		t.Fatalf("%s: got %q, want %q...", req, got, wantPrefix)
	}
}

func expectTEP(t *testing.T, c *net.UnixConn, kind packet.Event, dir packet.Dir) {
	t.Helper()
	buf := make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for TEP %v %v: %v", kind, dir, err)
		}
		if e, err := p2p.ParseEvent(buf[:n]); err == nil && e.Kind == kind && e.Dir == dir {
			return
		}
	}
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// sectionService reports a status section holding an int64 too large for
// a float64, as the signed-file service's versions are.
type sectionService struct{ echoService }

func (*sectionService) Name() string { return "big" }
func (*sectionService) Status() any  { return map[string]int64{"version": 1795258998749875888} }

func TestControlStatusKeepsLargeNumbersExact(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	d, err := New(cfg, Options{Device: a, Services: []p2p.Service{&sectionService{}}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-d.Ready()
	c, err := control.Dial(cfg.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var st control.Status
	if err := c.Call("status", nil, &st); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st.Sections["big"])
	if string(b) != `{"version":1795258998749875888}` {
		t.Fatalf("section came back as %s", b)
	}
}

// TestSectionIsStatusSection: Section reads one service's section as
// Status reports it, and says when no service of that name reports one.
func TestSectionIsStatusSection(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	d, err := New(testConfig(t), Options{Device: a, Services: []p2p.Service{&sectionService{}}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	v, ok := d.Section("big")
	if !ok {
		t.Fatal(`Section("big"): no section`)
	}
	got, _ := json.Marshal(v)
	want, _ := json.Marshal(d.Status().Sections["big"])
	if string(got) != string(want) {
		t.Fatalf("Section gave %s, Status %s", got, want)
	}
	if v, ok := d.Section("nobody"); ok {
		t.Fatalf(`Section("nobody") gave %v`, v)
	}
}

func TestSocketsAreRestrictive(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	g, err := user.LookupGroupId(strconv.Itoa(os.Getgid()))
	if err != nil {
		t.Skipf("no group name for gid %d: %v", os.Getgid(), err)
	}
	cfg.SocketGroup = g.Name
	d := startDaemon(t, cfg, a)
	_ = d
	for _, name := range []string{control.MFMSocket, control.ServiceSocket, control.ControlSocket} {
		fi, err := os.Stat(filepath.Join(cfg.RunDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o660 {
			t.Errorf("%s has mode %o, want 660", name, perm)
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; int(gid) != os.Getgid() {
			t.Errorf("%s has group %d, want %d (%s)", name, gid, os.Getgid(), g.Name)
		}
	}
	// A group that does not exist is a clear error at start.
	b, _ := dev.Pipe(packet.ET, 4)
	bad := testConfig(t)
	bad.SocketGroup = "no-such-group-itcd"
	dm, err := New(bad, Options{Device: b, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := dm.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "socket_group") {
		t.Fatalf("Run with an unknown group: %v", err)
	}
}

// Services hear only from live neighbours, and each message names the
// tile that sent it.
func TestMessagesNameTheirLiveSender(t *testing.T) {
	a, b := dev.Pipe(packet.SW, 64)
	da := startDaemon(t, testConfig(t), a)
	db := startDaemon(t, testConfig(t), b)
	eventually(t, "live at both ends", func() bool { return da.nbr.isLive(packet.SW) && db.nbr.isLive(packet.NE) })
	if err := da.inproc[0].Send(packet.SW, []byte("who")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B's service got it", func() bool { return db.svc.saw("who") })
	db.svc.mu.Lock()
	from := db.svc.from[0]
	db.svc.mu.Unlock()
	if from != da.Self() {
		t.Fatalf("message names tile %v, sender is %v", from, da.Self())
	}

	// A service packet from a link with no live itcd (here NW, where
	// nothing is connected) reaches no service and is counted.
	pkt, _ := packet.AppendService(nil, packet.NW, 9, []byte("stray"))
	db.demux(pkt)
	if got := db.stats.link[packet.NW].notLive.Load(); got != 1 {
		t.Fatalf("not_live on NW = %d, want 1", got)
	}
	if db.svc.saw("stray") {
		t.Fatal("a packet from a link with no live neighbour reached the service")
	}
}

// A service's lookup of one link says what the list of live neighbours
// says of it.
func TestHostNeighbourIsTheListsEntry(t *testing.T) {
	a, b := dev.Pipe(packet.SW, 64)
	da := startDaemon(t, testConfig(t), a)
	startDaemon(t, testConfig(t), b)
	eventually(t, "live", func() bool { return da.nbr.isLive(packet.SW) })
	h := da.inproc[0]
	for _, d := range append(packet.Links[:], packet.Dir(7)) {
		got, ok := h.Neighbour(d)
		want, wantOK := p2p.FindNeighbour(h.Neighbours(), d)
		if ok != wantOK || got.Dir != want.Dir || got.Tile != want.Tile || got.Services != want.Services {
			t.Errorf("Neighbour(%v) = %+v, %v; the list has %+v, %v", d, got, ok, want, wantOK)
		}
	}
	if n, ok := h.Neighbour(packet.SW); !ok || n.Tile.IsZero() {
		t.Fatalf("no live neighbour on SW: %+v", n)
	}
}

// Programs racing for one service number each get "ok" or a clear refusal
// naming the owner, however the releases and claims interleave.
func TestServiceSocketBindRace(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	startDaemon(t, cfg, a)
	path := filepath.Join(cfg.RunDir, control.ServiceSocket)
	var wg sync.WaitGroup
	const clients = 8
	errs := make(chan error, clients)
	for g := 0; g < clients; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256)
			for i := 0; i < 300; i++ {
				c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
				if err != nil {
					errs <- err
					return
				}
				c.Write([]byte("bind 30"))
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				n, err := c.Read(buf)
				c.Close()
				if err != nil {
					errs <- fmt.Errorf("bind %d: %w", i, err)
					return
				}
				if r := string(buf[:n]); r != "ok 30" && !strings.HasPrefix(r, "error: service 30 is owned by pid") {
					errs <- fmt.Errorf("bind %d: reply %q", i, r)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
