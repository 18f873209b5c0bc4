package counter_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/counter"
)

// Two tiles joined by a dev.Pipe on link ET (A's side) / WT (B's side).
// Every test sets the advert interval to an hour, so whatever arrives
// within the test's deadline was sent because of a change or a connect,
// not by the periodic advert.

func testConfig(t *testing.T) daemon.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.RunDir = filepath.Join(dir, "run")
	cfg.HelloInterval = conf.Duration(20 * time.Millisecond)
	cfg.DeadAfter = conf.Duration(1500 * time.Millisecond) // margin for a loaded machine under -race
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// testTile is one running daemon with a counter service.
type testTile struct {
	*daemon.Daemon
	svc    *counter.Service
	path   string // the counter file
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
}

// startTile runs a daemon on device d with the counter service, or with
// the given services instead when there are any.
func startTile(t *testing.T, cfg daemon.Config, d dev.Device, services ...p2p.Service) *testTile {
	t.Helper()
	svc, err := counter.New(counter.Config{Interval: conf.Duration(time.Hour)}, counter.Options{StateDir: cfg.StateDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(services) == 0 {
		services = []p2p.Service{svc}
	}
	dm, err := daemon.New(cfg, daemon.Options{Device: d, Services: services, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tt := &testTile{Daemon: dm, svc: svc, path: filepath.Join(cfg.StateDir, "counter"), cancel: cancel, done: make(chan error, 1)}
	go func() { tt.done <- dm.Run(ctx) }()
	t.Cleanup(tt.stop)
	select {
	case <-dm.Ready():
	case err := <-tt.done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("daemon not ready")
	}
	return tt
}

func (tt *testTile) stop() {
	tt.once.Do(func() {
		tt.cancel()
		select {
		case <-tt.done:
		case <-time.After(10 * time.Second):
			panic("daemon did not stop within 10s")
		}
	})
}

// write replaces the counter file's content in place, as `echo N > file`.
func (tt *testTile) write(t *testing.T, content string) {
	t.Helper()
	if err := os.WriteFile(tt.path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// value returns the tile's own value, or false if it has none.
func (tt *testTile) value() (int64, bool) {
	st := tt.svc.Snapshot()
	if st.Value == nil {
		return 0, false
	}
	return *st.Value, true
}

// heard returns what the tile holds for its neighbour on link d.
func (tt *testTile) heard(d packet.Dir) (counter.NeighbourValue, bool) {
	for _, n := range tt.svc.Snapshot().Neighbours {
		if n.Dir == d {
			return n, true
		}
	}
	return counter.NeighbourValue{}, false
}

// hears reports whether the tile holds value v from from on link d.
func (tt *testTile) hears(d packet.Dir, from *testTile, v int64) bool {
	n, ok := tt.heard(d)
	return ok && n.Value == v && n.Tile == from.Self()
}

func (tt *testTile) live(d packet.Dir) bool {
	for _, l := range tt.Status().Links {
		if l.Dir == d {
			return l.State == control.Live
		}
	}
	return false
}

// pair starts A and B joined on A's ET.
func pair(t *testing.T) (a, b *testTile) {
	t.Helper()
	da, db := dev.Pipe(packet.ET, 64)
	a = startTile(t, testConfig(t), da)
	b = startTile(t, testConfig(t), db)
	eventually(t, "A and B live to each other", func() bool { return a.live(packet.ET) && b.live(packet.WT) })
	return a, b
}

// eventually polls cond until it holds or 10s pass.
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

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func TestWriteReachesNeighbour(t *testing.T) {
	a, b := pair(t)
	a.write(t, "42\n")
	eventually(t, "B hears 42 from A", func() bool { return b.hears(packet.WT, a, 42) })
	a.write(t, "-43")
	eventually(t, "B hears -43 from A", func() bool { return b.hears(packet.WT, a, -43) })
	if n, _ := b.heard(packet.WT); n.LastHeard < 0 || n.LastHeard > 10 {
		t.Errorf("B last heard A %.3fs ago", n.LastHeard)
	}
	if v, ok := a.value(); !ok || v != -43 {
		t.Errorf("A's own value is %d, %v", v, ok)
	}
}

func TestRenamedFileIsPickedUp(t *testing.T) {
	a, b := pair(t)
	a.write(t, "1")
	eventually(t, "B hears 1", func() bool { return b.hears(packet.WT, a, 1) })
	// An editor's save: write a new file beside it and rename it over. The
	// second time proves the watch survived the first replacement.
	for _, v := range []string{"2", "3"} {
		tmp := filepath.Join(filepath.Dir(a.path), ".counter.tmp")
		if err := os.WriteFile(tmp, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, a.path); err != nil {
			t.Fatal(err)
		}
		want := int64(v[0] - '0')
		eventually(t, "B hears "+v, func() bool { return b.hears(packet.WT, a, want) })
	}
}

func TestDeletedAndCreatedAgain(t *testing.T) {
	a, b := pair(t)
	a.write(t, "5")
	eventually(t, "B hears 5", func() bool { return b.hears(packet.WT, a, 5) })
	if err := os.Remove(a.path); err != nil {
		t.Fatal(err)
	}
	eventually(t, "A notices the file is gone", func() bool { return a.svc.Snapshot().Problem == "file missing" })
	if v, ok := a.value(); !ok || v != 5 {
		t.Errorf("A's value after delete is %d, %v; want the last value 5", v, ok)
	}
	if st := a.svc.Snapshot(); st.BadContent != 0 {
		t.Errorf("a missing file counted as bad content: %d", st.BadContent)
	}
	a.write(t, "6")
	eventually(t, "B hears 6", func() bool { return b.hears(packet.WT, a, 6) })
	if p := a.svc.Snapshot().Problem; p != "" {
		t.Errorf("problem after create: %q", p)
	}
}

func TestBadContentKeepsLastValue(t *testing.T) {
	a, b := pair(t)
	a.write(t, "7")
	eventually(t, "B hears 7", func() bool { return b.hears(packet.WT, a, 7) })

	a.write(t, "seven\n")
	eventually(t, "A rejects seven", func() bool { return a.svc.Snapshot().BadContent == 1 })
	st := a.svc.Snapshot()
	if st.Value == nil || *st.Value != 7 || !strings.Contains(st.Problem, `"seven" is not a whole number`) {
		t.Errorf("after bad content: value %v problem %q", st.Value, st.Problem)
	}
	a.write(t, strings.Repeat("1", 65))
	eventually(t, "A rejects a long file", func() bool { return a.svc.Snapshot().BadContent == 2 })
	if st := a.svc.Snapshot(); !strings.Contains(st.Problem, "longer than 64 bytes") {
		t.Errorf("problem %q", st.Problem)
	}
	if !b.hears(packet.WT, a, 7) {
		t.Errorf("B lost A's last good value")
	}

	a.write(t, " -8 \n")
	eventually(t, "B hears -8", func() bool { return b.hears(packet.WT, a, -8) })
	if st := a.svc.Snapshot(); st.Problem != "" || st.BadContent != 2 {
		t.Errorf("after a good value: problem %q, bad content %d", st.Problem, st.BadContent)
	}
}

func TestDisconnectForgetsValue(t *testing.T) {
	a, b := pair(t)
	b.write(t, "9")
	eventually(t, "A hears 9 from B", func() bool { return a.hears(packet.ET, b, 9) })
	b.stop()
	eventually(t, "A forgets B", func() bool { return len(a.svc.Snapshot().Neighbours) == 0 })
}

func TestConnectExchangesValuesAtOnce(t *testing.T) {
	da, db := dev.Pipe(packet.SE, 64)
	ca, cb := testConfig(t), testConfig(t)
	// Both files hold a number before either daemon starts; with an hour's
	// interval only the connect can carry them across.
	for cfg, v := range map[*daemon.Config]string{&ca: "11", &cb: "12"} {
		if err := os.WriteFile(filepath.Join(cfg.StateDir, "counter"), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a := startTile(t, ca, da)
	b := startTile(t, cb, db)
	eventually(t, "B hears 11 from A", func() bool { return b.hears(packet.NW, a, 11) })
	eventually(t, "A hears 12 from B", func() bool { return a.hears(packet.SE, b, 12) })
}

func TestNoFileNoAdvert(t *testing.T) {
	a, b := pair(t)
	b.write(t, "4")
	eventually(t, "A hears 4 from B", func() bool { return a.hears(packet.ET, b, 4) })
	st := a.svc.Snapshot()
	if st.Value != nil || st.Problem != "file missing" {
		t.Fatalf("A without a file: value %v, problem %q", st.Value, st.Problem)
	}
	// A had nothing to say at connect. Its first value is the first thing
	// B receives from it: the link keeps order, so an earlier advert would
	// have arrived before it.
	a.write(t, "3")
	eventually(t, "B hears 3 from A", func() bool { return b.hears(packet.WT, a, 3) })
	if got := b.svc.Snapshot().Received; got != 1 {
		t.Errorf("B received %d values from A, want 1", got)
	}
}

// rawPeer owns service 2 on the far tile and speaks the counter protocol
// by hand, to send what a real counter never would.
type rawPeer struct {
	out chan []byte // payloads to send to the neighbour on link to
	got chan []byte // payloads received
	to  packet.Dir
}

func (r *rawPeer) Number() packet.Service { return packet.ServiceCounter }
func (r *rawPeer) Name() string           { return "raw counter" }
func (r *rawPeer) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-r.out:
			if err := h.Send(r.to, p); err != nil {
				return err
			}
		case m := <-in.Packets:
			r.got <- append([]byte(nil), m.Payload()...)
		case <-in.Events:
		}
	}
}

func TestNeighbourPacketsAreChecked(t *testing.T) {
	da, db := dev.Pipe(packet.ET, 64)
	a := startTile(t, testConfig(t), da)
	a.write(t, "5")
	eventually(t, "A reads 5", func() bool { v, ok := a.value(); return ok && v == 5 })
	raw := &rawPeer{out: make(chan []byte, 16), got: make(chan []byte, 64), to: packet.WT}
	b := startTile(t, testConfig(t), db, raw)
	eventually(t, "A and B live", func() bool { return a.live(packet.ET) && b.live(packet.WT) })

	wantValue5 := []byte{1, 0, 0, 0, 0, 0, 0, 0, 5}
	next := func(what string) []byte {
		t.Helper()
		select {
		case p := <-raw.got:
			return p
		case <-time.After(10 * time.Second):
			t.Fatalf("no packet from A: %s", what)
			return nil
		}
	}
	// On connect A sends its value, then asks for ours.
	if p := next("connect value"); !bytes.Equal(p, wantValue5) {
		t.Fatalf("A's first packet %x, want %x", p, wantValue5)
	}
	if p := next("connect ask"); !bytes.Equal(p, []byte{2}) {
		t.Fatalf("A's second packet %x, want an ask (02)", p)
	}

	for _, p := range [][]byte{
		{},                             // empty
		{1, 0, 0, 0, 0, 0, 0, 0},       // value one byte short
		{9, 0, 0, 0, 0, 0, 0, 0, 0, 1}, // unknown type
	} {
		raw.out <- p
	}
	raw.out <- []byte{1, 0, 0, 0, 0, 0, 0, 0x01, 0x02, 0xEE} // 258, and a byte a later version might add
	raw.out <- []byte{2}                                     // ask
	if p := next("answer to ask"); !bytes.Equal(p, wantValue5) {
		t.Fatalf("A answered the ask with %x, want %x", p, wantValue5)
	}
	eventually(t, "A holds 258 from B", func() bool { return a.hears(packet.ET, b, 258) })
	if st := a.svc.Snapshot(); st.Malformed != 3 || st.Received != 1 {
		t.Errorf("A counted malformed %d received %d, want 3 and 1", st.Malformed, st.Received)
	}
}
