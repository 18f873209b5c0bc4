package tubes_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tile"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// Tubes between real daemons of a simulated grid, driven through
// tube.sock as any program would.

// startGrid starts a w x h grid of real daemons.
func startGrid(t testing.TB, w, h int, prof dev.LinkProfile) *tilegrid.Grid {
	t.Helper()
	return startGridWith(t, w, h, prof, nil)
}

// startGridWith is startGrid with tweak applied to every tile's tube
// settings.
func startGridWith(t testing.TB, w, h int, prof dev.LinkProfile, tweak func(*tubes.Config)) *tilegrid.Grid {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real daemons (-short: the ARM run under emulation keeps the unit tests)")
	}
	cfg := tilegrid.DefaultConfig(w, h)
	if tweak != nil {
		cfg.Tweak = func(_ tilegrid.Coord, c *tile.Config) { tweak(&c.Tube) }
	}
	cfg.Dir = filepath.Join(t.TempDir(), "grid")
	cfg.Profile = prof
	cfg.Seed = 7
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 1500*time.Millisecond
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 1000*time.Millisecond
	return gridtest.Start(t, cfg)
}

func randomBytes(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func TestGridStreamBothWaysThroughLoss(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10, Loss: 0.05, Duplicate: 0.02, Corrupt: 0.02})
	a, b := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	acc := tubetest.DialRaw(t, b.RunDir, "accept 7")
	op := tubetest.DialRaw(t, a.RunDir, "open ET 7 timeout=20s")
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("open: %q", r)
	}
	if r := acc.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("accept: %q", r)
	}
	ab, ba := randomBytes(300<<10, 1), randomBytes(200<<10, 2)
	var wg sync.WaitGroup
	var gotB []byte
	var finalB string
	wg.Add(1)
	go func() { defer wg.Done(); gotB, finalB = acc.Pump(ba, 60*time.Second) }()
	gotA, finalA := op.Pump(ab, 60*time.Second)
	wg.Wait()
	if finalA != "c" || finalB != "c" {
		t.Fatalf("finals %q %q", finalA, finalB)
	}
	if !bytes.Equal(gotB, ab) || !bytes.Equal(gotA, ba) {
		t.Fatalf("bytes differ: B got %d of %d, A got %d of %d", len(gotB), len(ab), len(gotA), len(ba))
	}
}

func TestGridMessagesConfirmed(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10, Loss: 0.05})
	a, b := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	op := tubetest.DialRaw(t, a.RunDir, "open ET 9 message")
	acc := tubetest.DialRaw(t, b.RunDir, "accept 9 message acks")
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
		sa, _ := g.Status(tilegrid.Coord{X: 0})
		sb, _ := g.Status(tilegrid.Coord{X: 1})
		t.Fatalf("open: %q\n%v\n%v\n%+v", r, sa.Sections["tube"], sb.Sections["tube"], sb.Links)
	}
	if r := acc.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("accept: %q", r)
	}
	sizes := []int{0, 1, 241, 242, 5000, 64 << 10}
	for i, n := range sizes {
		op.Send(append([]byte{'d'}, randomBytes(n, int64(i))...))
	}
	for i, n := range sizes {
		f, err := acc.Recv(20 * time.Second)
		if err != nil {
			sa, _ := g.Status(tilegrid.Coord{X: 0})
			sb, _ := g.Status(tilegrid.Coord{X: 1})
			t.Fatalf("message %d: %v\n%v\n%v", i+1, err, sa.Sections["tube"], sb.Sections["tube"])
		}
		if f[0] != 'd' || !bytes.Equal(f[1:], randomBytes(n, int64(i))) {
			t.Fatalf("message %d: frame %q... of %d bytes", i+1, f[:1], len(f))
		}
	}
	// Nothing consumed yet: received may come, delivered may not.
	var recvd, deliv uint64
	read := func() {
		f, err := op.Recv(20 * time.Second)
		if err != nil {
			sa, _ := g.Status(tilegrid.Coord{X: 0})
			sb, _ := g.Status(tilegrid.Coord{X: 1})
			t.Fatalf("received %d delivered %d: %v\n%v\n%v", recvd, deliv, err, sa.Sections["tube"], sb.Sections["tube"])
		}
		switch f[0] {
		case 'r':
			recvd = binary.BigEndian.Uint64(f[1:])
		case 'v':
			deliv = binary.BigEndian.Uint64(f[1:])
		default:
			t.Fatalf("frame %q", f)
		}
	}
	for recvd < uint64(len(sizes)) {
		read()
	}
	if deliv != 0 {
		t.Fatalf("delivered %d before the program consumed any", deliv)
	}
	acc.Send(binary.BigEndian.AppendUint64([]byte{'a'}, 4))
	for deliv < 4 {
		read()
	}
	acc.Send(binary.BigEndian.AppendUint64([]byte{'a'}, uint64(len(sizes))))
	for deliv < uint64(len(sizes)) {
		read()
	}
}

func TestGridRefusalsAndTimeouts(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	a, b := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	for _, c := range []struct{ dir, req, want string }{
		{a.RunDir, "open WT 7", "error no live neighbour on WT"},
		{a.RunDir, "open ET 7 timeout=300ms", "x nobody accepted port 7"},
		{b.RunDir, "accept 17 timeout=200ms", "error nobody opened a tube to port 17"},
		{a.RunDir, "open XX 7", "error open: \"XX\" is not a link"},
		{a.RunDir, "open ET 0", "error port \"0\""},
		{a.RunDir, "hello 7", "error want 'open DIR PORT"},
	} {
		cl := tubetest.DialRaw(t, c.dir, c.req)
		got := cl.Reply()
		if got[0] == 'x' {
			got = "x " + got[1:]
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: got %q, want %q...", c.req, got, c.want)
		}
	}
	// Two accepts on one port: the second is refused, the first unharmed.
	first := tubetest.DialRaw(t, b.RunDir, "accept 8")
	waitAccepting(t, g, tilegrid.Coord{X: 1}, 8)
	second := tubetest.DialRaw(t, b.RunDir, "accept 8")
	if r := second.Reply(); !strings.Contains(r, "already has a program waiting") {
		t.Errorf("second accept: %q", r)
	}
	// Kinds must agree: both sides are told.
	op := tubetest.DialRaw(t, a.RunDir, "open ET 8 message")
	if r := op.Reply(); !strings.Contains(r, "accepts stream tubes") {
		t.Errorf("open of the wrong kind: %q", r)
	}
	if r := first.Reply(); !strings.Contains(r, "as a message tube, not stream") {
		t.Errorf("accept of the other kind: %q", r)
	}
}

// waitAccepting polls the tile's status until port is being accepted on.
func waitAccepting(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord, port uint16) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := g.Status(c)
		if err == nil {
			if s, ok := st.Sections["tube"]; ok && strings.Contains(fmt.Sprint(s), fmt.Sprint(port)) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("port %d never accepted on", port)
}
