package tubes_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// Tube benchmarks on a simulated grid of real daemons at the T2 link rate
// (64 KB/s, counted on whole packets as the sim paces them). Each reports
// goodput as a fraction of the link's rate (x_link): stream bytes
// delivered per second over packet bytes the link carries per second.

const benchRate = 64_000

// BenchmarkTubeOneLink: one tube over one link, 256 KiB per iteration.
func BenchmarkTubeOneLink(b *testing.B) {
	for _, loss := range []float64{0, 0.05} {
		b.Run(fmt.Sprintf("loss=%.2f", loss), func(b *testing.B) {
			g := startGrid(b, 2, 1, dev.LinkProfile{Rate: benchRate, Loss: loss})
			from, to := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
			data := randomBytes(256<<10, 1)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += moveOnce(b, from.RunDir, to.RunDir, packet.ET, uint16(10+i), data)
			}
			b.ReportMetric(float64(len(data))*float64(b.N)/total.Seconds()/benchRate, "x_link")
		})
	}
}

// BenchmarkTubeSixLinks: the centre tile of a 3x3 grid sends on its six
// links at once, 128 KiB each; the slowest tube's share is reported.
func BenchmarkTubeSixLinks(b *testing.B) {
	g := startGrid(b, 3, 3, dev.LinkProfile{Rate: benchRate})
	centre := tilegrid.Coord{X: 1, Y: 1}
	data := randomBytes(128<<10, 2)
	worst := 1e9
	for i := 0; i < b.N; i++ {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, d := range packet.Links {
			nc, ok := g.Geometry().Neighbour(centre, d)
			if !ok {
				b.Fatalf("the centre has no neighbour on %v", d)
			}
			wg.Add(1)
			go func(d packet.Dir, far *tilegrid.Tile) {
				defer wg.Done()
				took := moveOnce(b, g.Tile(centre).RunDir, far.RunDir, d, uint16(100+i), data)
				mu.Lock()
				worst = min(worst, float64(len(data))/took.Seconds()/benchRate)
				mu.Unlock()
			}(d, g.Tile(nc))
		}
		wg.Wait()
	}
	b.ReportMetric(worst, "x_link_slowest")
}

// moveOnce opens a tube on port from one tile to its neighbour on d,
// moves data, and returns the time from the open to the sender's 'c'
// (everything delivered to the far program).
func moveOnce(b testing.TB, fromRun, toRun string, d packet.Dir, port uint16, data []byte) time.Duration {
	return moveTo(b, fromRun, toRun, d.String(), port, data)
}

// moveTo is moveOnce to a tile named as an open names it: a link, or a
// tile beyond.
func moveTo(b testing.TB, fromRun, toRun, to string, port uint16, data []byte) time.Duration {
	acc := tubetest.DialRaw(b, toRun, fmt.Sprintf("accept %d", port))
	start := time.Now()
	op := tubetest.DialRaw(b, fromRun, fmt.Sprintf("open %s %d timeout=20s", to, port))
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
		b.Fatalf("open: %q", r)
	}
	if r := acc.Reply(); !strings.HasPrefix(r, "ok ") {
		b.Fatalf("accept: %q", r)
	}
	var got []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); got, _ = acc.Pump(nil, 120*time.Second) }()
	_, final := op.Pump(data, 120*time.Second)
	took := time.Since(start)
	wg.Wait()
	if final != "c" || !bytes.Equal(got, data) {
		b.Fatalf("final %q, %d of %d bytes", final, len(got), len(data))
	}
	op.Conn.Close()
	acc.Conn.Close()
	return took
}

// helloRTT is the daemon's smoothed hello round trip on link d of c.
func helloRTT(b testing.TB, g *tilegrid.Grid, c tilegrid.Coord, d packet.Dir) time.Duration {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		st, err := g.Status(c)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range st.Links {
			if l.Dir == d && l.RTT != nil {
				return time.Duration(*l.RTT * float64(time.Millisecond))
			}
		}
	}
	b.Fatalf("no RTT on %v", d)
	return 0
}

// BenchmarkTubeOpen: from the open request to the program's "ok" (the
// first byte may go), in round trips of the link (rtts).
func BenchmarkTubeOpen(b *testing.B) {
	g := startGrid(b, 2, 1, dev.LinkProfile{Rate: benchRate})
	from, to := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	var total time.Duration
	for i := 0; i < b.N; i++ {
		port := uint16(1000 + i%60000)
		acc := tubetest.DialRaw(b, to.RunDir, fmt.Sprintf("accept %d", port))
		waitAccepting(b, g, tilegrid.Coord{X: 1}, port)
		start := time.Now()
		op := tubetest.DialRaw(b, from.RunDir, fmt.Sprintf("open ET %d", port))
		if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
			b.Fatalf("open: %q", r)
		}
		total += time.Since(start)
		acc.Reply()
		op.Conn.Close()
		acc.Conn.Close()
	}
	rtt := helloRTT(b, g, tilegrid.Coord{X: 0}, packet.ET)
	b.ReportMetric(total.Seconds()/float64(b.N)/rtt.Seconds(), "rtts")
	b.ReportMetric(float64(rtt)/float64(time.Millisecond), "rtt_ms")
}

// BenchmarkTubeMessage64K: a 64 KiB message from its send to its
// delivered confirmation, over the bound the issue sets: 1.2 times its
// transmission time at the link's rate plus two round trips (x_bound at
// most 1).
func BenchmarkTubeMessage64K(b *testing.B) {
	g := startGrid(b, 2, 1, dev.LinkProfile{Rate: benchRate})
	from, to := g.Tile(tilegrid.Coord{X: 0}), g.Tile(tilegrid.Coord{X: 1})
	op := tubetest.DialRaw(b, from.RunDir, "open ET 9 message")
	acc := tubetest.DialRaw(b, to.RunDir, "accept 9 message")
	if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
		b.Fatalf("open: %q", r)
	}
	acc.Reply()
	msg := append([]byte{'d'}, randomBytes(64<<10, 3)...)
	var total time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		op.Send(msg)
		if f, err := acc.Recv(30 * time.Second); err != nil || len(f) != len(msg) {
			b.Fatalf("message: %d bytes, %v", len(f), err)
		}
		for delivered := false; !delivered; {
			f, err := op.Recv(30 * time.Second)
			if err != nil {
				b.Fatal(err)
			}
			delivered = f[0] == 'v' && binary.BigEndian.Uint64(f[1:]) == uint64(i+1)
		}
		total += time.Since(start)
	}
	// On the wire: the message and its 4-byte length, 241 bytes a packet
	// of 255.
	packets := (64<<10 + 4 + 240) / 241
	transmit := time.Duration(float64(packets*255) / benchRate * float64(time.Second))
	rtt := helloRTT(b, g, tilegrid.Coord{X: 0}, packet.ET)
	bound := time.Duration(1.2*float64(transmit)) + 2*rtt
	b.ReportMetric(total.Seconds()/float64(b.N)/bound.Seconds(), "x_bound")
}
