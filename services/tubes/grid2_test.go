package tubes_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// tubeStatus returns a tile's tube section, decoded.
func tubeStatus(t testing.TB, g *tilegrid.Grid, c tilegrid.Coord) tubes.Status {
	t.Helper()
	st, err := g.Status(c)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := st.Sections["tube"].(tubes.Status)
	if !ok {
		t.Fatalf("tube section is a %T", st.Sections["tube"])
	}
	return s
}

func openPair(t testing.TB, g *tilegrid.Grid, port int, opts string) (op, acc *tubetest.Raw) {
	t.Helper()
	a, b := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	acc = tubetest.DialRaw(t, b.RunDir, fmt.Sprintf("accept %d %s", port, opts))
	op = tubetest.DialRaw(t, a.RunDir, fmt.Sprintf("open ET %d %s", port, opts))
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("open: %q", r)
	}
	if r := acc.Reply(); !strings.HasPrefix(r, "ok ") {
		t.Fatalf("accept: %q", r)
	}
	return op, acc
}

// streaming starts a 2x1 grid and a tube from its west tile that sends
// 1 MiB, and returns once the first bytes arrived: the grid and the
// sending program.
func streaming(t *testing.T) (*tilegrid.Grid, *tubetest.Raw) {
	t.Helper()
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 64 << 10})
	op, acc := openPair(t, g, 7, "")
	go func() {
		for off := 0; off < 1<<20; off += 4096 {
			if _, err := op.Conn.Write(append([]byte{'d'}, make([]byte, 4096)...)); err != nil {
				return
			}
		}
	}()
	if f, err := acc.Recv(20 * time.Second); err != nil || f[0] != 'd' {
		t.Fatalf("first data: %q %v", f, err)
	}
	return g, op
}

// senderEnd reads the sending program's frames until its tube ends and
// returns the reason and how long after since that came.
func senderEnd(t *testing.T, op *tubetest.Raw, since time.Time) (string, time.Duration) {
	t.Helper()
	for {
		f, err := op.Recv(20 * time.Second)
		if err != nil {
			t.Fatalf("no end for the sender: %v", err)
		}
		if f[0] == 'x' {
			return string(f[1:]), time.Since(since)
		}
	}
}

// TestGridPeerKilledMidStream: the far tile goes silent while a stream
// flows (power lost, cable pulled: the link is cut at both ends, so not
// even a RESET leaves it); the sender is told why within the liveness
// deadline, not left hanging.
func TestGridPeerKilledMidStream(t *testing.T) {
	g, op := streaming(t)
	if err := g.Cut(tilegrid.Coord{X: 0}, packet.ET); err != nil {
		t.Fatal(err)
	}
	reason, d := senderEnd(t, op, time.Now())
	if !strings.Contains(reason, "disconnected") {
		t.Errorf("reason %q: want the neighbour's disconnection", reason)
	}
	// dead_after is 1.5 s in these grids; a generous margin for a busy
	// machine.
	if d > 10*time.Second {
		t.Errorf("told after %v", d)
	}
}

// TestGridPeerStoppedMidStream: the far itcd stops while a stream flows.
// Its RESETs tell the sender it is stopping; if the link closes before
// they leave, the neighbour's disconnection says it instead. Either way
// the sender is told within the liveness deadline.
func TestGridPeerStoppedMidStream(t *testing.T) {
	g, op := streaming(t)
	if err := g.Stop(tilegrid.Coord{X: 1}); err != nil {
		t.Fatal(err)
	}
	reason, d := senderEnd(t, op, time.Now())
	if !strings.Contains(reason, "itcd is stopping") && !strings.Contains(reason, "disconnected") {
		t.Errorf("reason %q: want the far itcd stopping or the neighbour's disconnection", reason)
	}
	if d > 10*time.Second {
		t.Errorf("told after %v", d)
	}
}

// TestGridStalledReaderBoundsMemory: a program that stops reading stops
// the far writer, and neither tile holds more than its window for it.
func TestGridStalledReaderBoundsMemory(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	op, acc := openPair(t, g, 7, "acks")
	cfg := tubes.DefaultConfig()
	const total = 1 << 20 // far more than a window, the socket buffers and the queues hold
	wrote := make(chan int, 1)
	go func() {
		n := 0
		for ; n < total; n += 4096 {
			if _, err := op.Conn.Write(append([]byte{'d'}, make([]byte, 4096)...)); err != nil {
				break
			}
		}
		op.Send([]byte{'f'})
		wrote <- n
	}()
	// The reader reads nothing: the writer must come to a stop with the
	// far window closed, however slow this machine is.
	var out, in tubes.TubeStatus
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = tubeStatus(t, g, tilegrid.Coord{X: 0}).Tubes[0]
		in = tubeStatus(t, g, tilegrid.Coord{X: 1}).Tubes[0]
		if out.Window == 0 && out.Queued >= cfg.Window-tubes.MaxSegment {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the window never closed: window %d, sender holds %d, receiver took %d", out.Window, out.Queued, in.BytesIn)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case n := <-wrote:
		t.Fatalf("the writer did not block: it wrote all %d bytes", n)
	default:
	}
	// The receiving daemon holds at most a window for the program; what
	// it wrote into the program's socket is bounded by the socket's
	// buffer (256 KiB with the kernel's bookkeeping).
	if out.Queued > cfg.Window+tubes.MaxMessage || in.ToProgram > cfg.Window || in.BytesIn > uint64(cfg.Window+256<<10) {
		t.Fatalf("sender holds %d, receiver took %d and holds %d: over the window %d", out.Queued, in.BytesIn, in.ToProgram, cfg.Window)
	}
	t.Logf("window closed; sender holds %d, receiver took %d", out.Queued, in.BytesIn)
	// The reader reads again (and says so): everything moves.
	var got uint64
	for {
		f, err := acc.Recv(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		if f[0] == 'd' {
			got += uint64(len(f) - 1)
			acc.Send(appendU64('a', got))
		}
		if f[0] == 'e' {
			break
		}
	}
	if n := <-wrote; got != uint64(n) || n != total {
		t.Fatalf("read %d bytes of %d written (%d meant)", got, n, total)
	}
}

// TestGridIdleTubesCostNothing: a hundred open tubes with nothing to say
// never wake the service's timer.
func TestGridIdleTubesCostNothing(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10})
	for i := 0; i < 50; i++ { // 50 each way: 100 tubes on each tile
		op, acc := openPair(t, g, 100+i, "")
		op.Send([]byte{'d', 1})
		acc.Send([]byte{'d', 2})
		op.Recv(10 * time.Second)
		acc.Recv(10 * time.Second)
	}
	a := tilegrid.Coord{X: 0}
	before := tubeStatus(t, g, a)
	if len(before.Tubes) != 50 {
		t.Fatalf("%d tubes", len(before.Tubes))
	}
	// Let delayed ACKs and the last timers run out, then watch.
	time.Sleep(500 * time.Millisecond)
	before = tubeStatus(t, g, a)
	time.Sleep(time.Second)
	after := tubeStatus(t, g, a)
	if d := after.Counters.Wakeups - before.Counters.Wakeups; d != 0 {
		t.Errorf("the timer fired %d times in a second with every tube idle", d)
	}
	if d := after.Counters.PacketsOut - before.Counters.PacketsOut; d != 0 {
		t.Errorf("%d packets sent in a second with every tube idle", d)
	}
}

func appendU64(typ byte, v uint64) []byte {
	b := []byte{typ, 0, 0, 0, 0, 0, 0, 0, 0}
	for i := 0; i < 8; i++ {
		b[8-i] = byte(v >> (8 * i))
	}
	return b
}
