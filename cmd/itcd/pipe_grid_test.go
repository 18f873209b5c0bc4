package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tube"
)

// tubeSockWait is how long after its links are live a tile's tube.sock
// may take to appear before the test decides the daemon has none.
const tubeSockWait = 5 * time.Second

// pipeGrid starts two real daemons in this process, t-0-0 and its east
// neighbour t-1-0, over UDP links with loss, and returns the grid. While
// the daemon has no tube service (services/tubes) the test is skipped,
// saying so.
func pipeGrid(t *testing.T, loss float64) *tilegrid.Grid {
	t.Helper()
	return pipeGridOf(t, 2, 1, loss)
}

// pipeGridOf is pipeGrid of w x h tiles.
func pipeGridOf(t *testing.T, w, h int, loss float64) *tilegrid.Grid {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real daemons")
	}
	d, err := os.MkdirTemp("", "pipe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	cfg := tilegrid.DefaultConfig(w, h)
	cfg.Dir = d
	cfg.Seed = 5
	cfg.Profile.Rate = 256 << 10
	cfg.Profile.Loss = loss
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 3*time.Second
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 2*time.Second
	g := gridtest.Start(t, cfg)
	deadline := time.Now().Add(tubeSockWait)
	for _, tl := range g.Tiles() {
		sock := filepath.Join(tl.RunDir, tube.SocketName)
		for {
			if _, err := os.Stat(sock); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not appear within %v: the daemon serves no tube.sock", sock, tubeSockWait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return g
}

// TestPipeGridLossy: `itcd pipe` moves 1 MiB byte-identically between
// real daemons through 5% loss, and both ends exit 0.
func TestPipeGridLossy(t *testing.T) {
	g := pipeGrid(t, 0.05)
	west, east := g.Tiles()[0].RunDir, g.Tiles()[1].RunDir
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(9)).Read(data)
	ctx := context.Background()
	recv := startPipe(ctx, []string{"--listen", "7", "--run-dir", east}, newTerminal(t), true, false)
	send := startPipe(ctx, []string{"--run-dir", west, "--to", "ET", "7"}, bytes.NewReader(data), false, false)
	if code := send.wait(t); code != pipeOK {
		t.Fatalf("sender: exit %d, stderr %q", code, send.errs.String())
	}
	if code := recv.wait(t); code != pipeOK || !bytes.Equal([]byte(recv.out.String()), data) {
		t.Fatalf("receiver: exit %d, %d bytes, stderr %q", code, len(recv.out.String()), recv.errs.String())
	}
}

// TestPipeGridPeerKilled: the receiving tile stops mid-stream; the
// sender exits 1 with a reason within the liveness deadline.
func TestPipeGridPeerKilled(t *testing.T) {
	g := pipeGrid(t, 0)
	west, east := g.Tiles()[0].RunDir, g.Tiles()[1].RunDir
	recv := startPipe(context.Background(), []string{"--listen", "7", "--run-dir", east}, newTerminal(t), true, false)
	// Input without end, as fast as the link takes it.
	send := startPipe(context.Background(), []string{"--run-dir", west, "--to", "ET", "7"},
		io.LimitReader(rand.New(rand.NewSource(2)), 1<<40), false, false)
	deadline := time.Now().Add(30 * time.Second)
	for len(recv.out.String()) < 64<<10 {
		if time.Now().After(deadline) {
			t.Fatalf("nothing arrived; stderr %q %q", send.errs.String(), recv.errs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopped := time.Now()
	if err := g.Stop(tilegrid.Coord{X: 1, Y: 0}); err != nil {
		t.Fatal(err)
	}
	code := send.wait(t)
	took := time.Since(stopped)
	if code != pipeFailed || send.errs.String() == "" {
		t.Fatalf("sender: exit %d, stderr %q", code, send.errs.String())
	}
	// DeadAfter and DownAfter are 3 s and 2 s: allow them and a margin.
	if took > 15*time.Second {
		t.Errorf("the sender took %v to notice", took)
	}
	if !strings.Contains(send.errs.String(), "itcd pipe:") {
		t.Errorf("stderr %q", send.errs.String())
	}
}

// TestPipeGridFarTile: `itcd pipe --to` a tile two links away, named by
// the directions there and by a prefix of its identity, moves the bytes
// through the tile between, and both ends exit 0.
func TestPipeGridFarTile(t *testing.T) {
	g := pipeGridOf(t, 3, 1, 0.02)
	west, east := g.Tiles()[0].RunDir, g.Tiles()[2].RunDir
	st, err := g.Status(tilegrid.Coord{X: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The routing service needs a moment to learn the grid.
	deadline := time.Now().Add(30 * time.Second)
	for code, _, _ := runCapture(t, "route", "--run-dir", west, "ET,ET"); code != 0; code, _, _ = runCapture(t, "route", "--run-dir", west, "ET,ET") {
		if time.Now().After(deadline) {
			t.Fatal("no route two links east")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i, to := range []string{"ET,ET", st.Tile.String()[:6]} {
		data := make([]byte, 256<<10)
		rand.New(rand.NewSource(int64(20 + i))).Read(data)
		ctx := context.Background()
		port := fmt.Sprint(30 + i)
		recv := startPipe(ctx, []string{"--listen", port, "--run-dir", east}, newTerminal(t), true, false)
		send := startPipe(ctx, []string{"--run-dir", west, "--to", to, port}, bytes.NewReader(data), false, false)
		if code := send.wait(t); code != pipeOK {
			dumpTubes(t, g)
			t.Fatalf("--to %s: exit %d, stderr %q; the receiver has %d bytes, stderr %q", to, code, send.errs.String(), len(recv.out.String()), recv.errs.String())
		}
		if code := recv.wait(t); code != pipeOK || !bytes.Equal([]byte(recv.out.String()), data) {
			t.Fatalf("receiver: exit %d, %d bytes, stderr %q", code, len(recv.out.String()), recv.errs.String())
		}
	}
	// A name that cannot be a tile is a usage error; one no tile answers
	// to, a refusal that says so.
	if code := startPipe(context.Background(), []string{"--run-dir", west, "--to", "ET,XX", "7"}, strings.NewReader(""), false, false).wait(t); code != pipeUsage {
		t.Errorf("--to ET,XX: exit %d, want %d", code, pipeUsage)
	}
	bad := startPipe(context.Background(), []string{"--run-dir", west, "--to", "ffffffff", "7"}, strings.NewReader(""), false, false)
	if code := bad.wait(t); code != pipeFailed || !strings.Contains(bad.errs.String(), "no known tile") {
		t.Errorf("--to ffffffff: exit %d, stderr %q", code, bad.errs.String())
	}
}

// dumpTubes logs what each tile's tube service and log say, for a
// failure seen twice in its first 9 runs under load and not in about 60
// since (2026-12-02: "the tube is unknown there" from the far tile).
func dumpTubes(t *testing.T, g *tilegrid.Grid) {
	t.Helper()
	for _, tl := range g.Tiles() {
		if st, err := g.Status(tl.Coord); err == nil {
			t.Logf("%s tube status: %+v", tl.Name, st.Sections["tube"])
		}
		log, err := os.ReadFile(filepath.Join(tl.Dir, "itcd.log"))
		if err != nil {
			t.Logf("%s log: %v", tl.Name, err)
		}
		var lines []string
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, "tube") || strings.Contains(l, "neighbour") {
				lines = append(lines, l)
			}
		}
		t.Logf("%s log, tube and neighbour lines:\n%s", tl.Name, strings.Join(lines[max(len(lines)-40, 0):], "\n"))
	}
}
