package tubes_test

import (
	"fmt"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// Hostile programs on tube.sock: each gets a clear error, and nothing
// else on the tile changes (other tubes move on, the tile answers).

var (
	tileA = tilegrid.Coord{X: 0}
	tileB = tilegrid.Coord{X: 1}
)

// expectFinal reads until a final frame ('x', 'c' or "error"), which it
// returns, or fails.
func expectFinal(t testing.TB, c *tubetest.Raw, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := c.Recv(time.Until(deadline))
		if err != nil {
			t.Fatalf("no final frame: %v", err)
		}
		if f[0] == 'x' || f[0] == 'c' || strings.HasPrefix(string(f), "error") {
			return string(f)
		}
	}
}

// bystander is a tube that must keep working whatever the hostile
// programs do: check moves bytes both ways and closes it.
func bystander(t *testing.T, g *tilegrid.Grid) (check func()) {
	op, acc := openPair(t, g, 99, "")
	return func() {
		t.Helper()
		var wg sync.WaitGroup
		var finalB string
		var gotB []byte
		wg.Add(1)
		go func() { defer wg.Done(); gotB, finalB = acc.Pump(randomBytes(5000, 2), 30*time.Second) }()
		gotA, finalA := op.Pump(randomBytes(5000, 1), 30*time.Second)
		wg.Wait()
		if finalA != "c" || finalB != "c" || string(gotA) != string(randomBytes(5000, 2)) || string(gotB) != string(randomBytes(5000, 1)) {
			t.Errorf("the bystander tube: finals %q %q, %d and %d bytes", finalA, finalB, len(gotA), len(gotB))
		}
	}
}

// TestClientGarbage: bad requests, a frame over 64 KiB, a claim of more
// consumed than given, an unknown frame: each program gets an error
// that names the problem; a tube beside them is unharmed.
func TestClientGarbage(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	a := g.Tile(tileA)
	check := bystander(t, g)
	for _, c := range []struct{ req, want string }{
		{strings.Repeat("open ET 7 ", 40), "error request of 400 bytes: at most 256"},
		{"\x00\xff \x01garbage", "error want 'open DIR PORT"},
		{"open ET 70000", "error port \"70000\""},
		{"accept 7 timeout=-1s", "error timeout=\"-1s\""},
		{"open ET 7 timeout=1h", "error timeout=1h0m0s: an open waits at most 5m0s"},
		{"accept 7 from=NT", "error from=\"NT\""},
		{"accept 7 bogus", "error unknown option \"bogus\""},
		{"open", "error want 'open DIR PORT"},
	} {
		if got := tubetest.DialRaw(t, a.RunDir, c.req).Reply(); !strings.HasPrefix(got, c.want) {
			t.Errorf("%q: got %q, want %q...", c.req[:min(len(c.req), 20)], got, c.want)
		}
	}
	for i, c := range []struct {
		frame      []byte
		want, farX string
	}{
		{append([]byte{'d'}, make([]byte, tubes.MaxMessage+1)...), "xa frame of 65538 bytes: a message is at most 65536 bytes", "aborted"},
		{appendU64('a', 1), "xthe program said it consumed 1, more than the 0", "aborted"},
		{[]byte("zzz"), "xunknown frame (type 'z', 3 bytes)", "aborted"},
		{[]byte{'f', 1}, "xunknown frame (type 'f', 2 bytes)", "aborted"},
	} {
		op, acc := openPair(t, g, 20+i, "acks")
		op.Send(c.frame)
		if got := expectFinal(t, op, 10*time.Second); !strings.HasPrefix(got, c.want) {
			t.Errorf("frame %q...: got %q, want %q...", c.frame[:min(len(c.frame), 4)], got, c.want)
		}
		if got := expectFinal(t, acc, 10*time.Second); !strings.Contains(got, c.farX) {
			t.Errorf("frame %q...: the far program got %q", c.frame[:min(len(c.frame), 4)], got)
		}
	}
	check()
}

// TestClientFramesBeforeOK: an accepting program that sends before its
// 'ok' is told so and its accept ends: its data would go nowhere and its
// abort would be lost. An opener's data before 'ok' waits for the
// accept and arrives.
func TestClientFramesBeforeOK(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	a, b := g.Tile(tileA), g.Tile(tileB)
	for i, f := range [][]byte{{'d', 1, 2, 3}, {'x'}, {'f'}, appendU64('a', 0)} {
		port := uint16(30 + i)
		acc := tubetest.DialRaw(t, b.RunDir, fmt.Sprintf("accept %d", port))
		waitAccepting(t, g, tileB, port)
		acc.Send(f)
		if got := acc.Reply(); !strings.HasPrefix(got, "error a '"+string(f[0])+"' frame before the tube was accepted") {
			t.Errorf("frame %q before ok: %q", f[0], got)
		}
		// The accept is gone: an open to the port is not accepted.
		op := tubetest.DialRaw(t, a.RunDir, fmt.Sprintf("open ET %d timeout=500ms", port))
		if got := op.Reply(); !strings.Contains(got, "nobody accepted") {
			t.Errorf("open after the accept gave up: %q", got)
		}
	}
	op := tubetest.DialRaw(t, a.RunDir, "open ET 40 timeout=10s")
	op.Send([]byte("dearly"))
	acc := tubetest.DialRaw(t, b.RunDir, "accept 40")
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("open: %q", r)
	}
	acc.Reply()
	f, err := acc.Recv(10 * time.Second)
	if err != nil || string(f) != "dearly" {
		t.Fatalf("data sent before ok: %q %v", f, err)
	}
}

// TestClientAcksClaimBoundsOutbox: a program in acks mode that reads
// nothing but claims, bit by bit, to have consumed all it was given (as
// status shows) cannot open the window: only what was written into its
// socket counts, so what waits for it stays within the window.
func TestClientAcksClaimBoundsOutbox(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	op, acc := openPair(t, g, 7, "acks")
	go func() {
		for {
			op.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := op.Conn.Write(append([]byte{'d'}, make([]byte, 4096)...)); err != nil {
				return
			}
		}
	}()
	cfg := tubes.DefaultConfig()
	end := time.Now().Add(3 * time.Second)
	var in tubes.TubeStatus
	for time.Now().Before(end) {
		st := tubeStatus(t, g, tileB)
		if len(st.Tubes) == 1 {
			in = st.Tubes[0]
			acc.Send(appendU64('a', in.BytesIn))
		}
		time.Sleep(20 * time.Millisecond)
	}
	in = tubeStatus(t, g, tileB).Tubes[0]
	t.Logf("receiver: %d bytes in, %d waiting for the program", in.BytesIn, in.ToProgram)
	if in.ToProgram > cfg.Window+tubes.MaxMessage || in.State != "open" {
		t.Errorf("%d bytes wait for a program that reads none (window %d); state %s", in.ToProgram, cfg.Window, in.State)
	}
	op.Conn.Close()
}

// TestClientOpenLimits: a program that closes while its open waits ends
// the open on both tiles (an accept that comes later does not get it);
// more opens than max_tubes are refused with a reason (a failed tube
// counts until its linger ends).
func TestClientOpenLimits(t *testing.T) {
	g := startGridWith(t, 2, 1, dev.LinkProfile{Rate: 256 << 10}, func(c *tubes.Config) { c.MaxTubes, c.Linger = 2, conf.Duration(300*time.Millisecond) })
	a, b := g.Tile(tileA), g.Tile(tileB)
	// Closing mid-open, on B's link to A (B holds no tube yet).
	mid := tubetest.DialRaw(t, b.RunDir, "open WT 10 timeout=20s")
	err := g.WaitFor(10*time.Second, "B opens", func() bool { return len(tubeStatus(t, g, tileB).Tubes) == 1 })
	if err != nil {
		t.Fatal(err)
	}
	mid.Conn.Close()
	err = g.WaitFor(10*time.Second, "the open ends", func() bool {
		return len(tubeStatus(t, g, tileB).Tubes) == 0 // failed, and forgotten after linger
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := tubetest.DialRaw(t, a.RunDir, "accept 10 timeout=3s").Reply(); !strings.Contains(got, "nobody opened") {
		t.Errorf("accept after the opener left: %q", got)
	}
	openPair(t, g, 7, "")
	openPair(t, g, 8, "")
	if got := tubetest.DialRaw(t, a.RunDir, "open ET 9").Reply(); !strings.HasPrefix(got, "error 2 tubes to ET already") {
		t.Errorf("third open: %q", got)
	}
	op := tubetest.DialRaw(t, a.RunDir, "open WT 9")
	if got := op.Reply(); !strings.HasPrefix(got, "error no live neighbour on WT") {
		t.Errorf("open to no neighbour: %q", got)
	}
}

// TestClientIdleConnectionsBounded: hundreds of connections that never
// send a request take at most max_clients (and the owner's reserve) of
// tube.sock, and each is closed by the request deadline; afterwards the
// socket serves again.
func TestClientIdleConnectionsBounded(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	a := g.Tile(tileA)
	path := filepath.Join(a.RunDir, tubes.SocketName)
	var conns []*net.UnixConn
	for range 200 {
		c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
		if err != nil {
			continue // the backlog is full: as bounded as can be
		}
		conns = append(conns, c)
		defer c.Close()
	}
	start := time.Now()
	served, refused := 0, 0
	buf := make([]byte, 512)
	for _, c := range conns {
		c.SetReadDeadline(start.Add(20 * time.Second))
		n, err := c.Read(buf)
		switch {
		case err == nil && n > 0 && strings.HasPrefix(string(buf[:n]), "error"):
			refused++
		case err != nil && strings.Contains(err.Error(), "timeout"):
			t.Fatalf("a silent connection still open after %v", time.Since(start))
		default:
			served++ // closed by the request deadline
		}
	}
	t.Logf("%d connections: %d closed after waiting, %d refused at once, in %v", len(conns), served, refused, time.Since(start))
	if served > 64+4 {
		t.Errorf("%d silent connections held at once: over max_clients", served)
	}
	openPair(t, g, 7, "")
}

// TestClientConnectionsLeaveNothing: hundreds of programs come and go
// (refused, or through a whole tube); the tile's goroutines do not grow
// with them (each connection once left one waiting for itcd to stop).
func TestClientConnectionsLeaveNothing(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	a := g.Tile(tileA)
	round := func(n int) {
		for i := range n {
			c := tubetest.DialRaw(t, a.RunDir, fmt.Sprintf("open WT %d", 1+i))
			c.Reply()
			c.Conn.Close()
		}
	}
	round(20) // warm up
	time.Sleep(200 * time.Millisecond)
	g0 := runtime.NumGoroutine()
	round(300)
	var g1 int
	err := g.WaitFor(10*time.Second, "goroutines back", func() bool {
		g1 = runtime.NumGoroutine()
		return g1 < g0+30
	})
	if err != nil {
		t.Errorf("goroutines %d before 300 connections, %d after", g0, g1)
	}
}
