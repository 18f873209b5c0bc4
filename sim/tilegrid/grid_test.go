package tilegrid

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/emulation"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/routes"
)

// Timings short enough for quick tests and long enough that a loaded
// 2-core machine under -race, other packages' tests running beside, never
// stalls a tile past them: a false disconnect would fail the checks that
// uncut links stay live.
func testConfig(t testing.TB, w, h int) Config {
	cfg := DefaultConfig(w, h)
	cfg.Dir = t.TempDir()
	cfg.Seed = 42
	cfg.HelloInterval = 100 * time.Millisecond
	cfg.DeadAfter = 2 * time.Second
	cfg.Keepalive = 100 * time.Millisecond
	cfg.DownAfter = 1500 * time.Millisecond
	return cfg
}

func newGrid(t testing.TB, cfg Config) *Grid {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return g
}

const patience = 30 * time.Second

func TestNeighboursGoLive(t *testing.T) {
	g := newGrid(t, testConfig(t, 3, 3))
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	// Every tile sees, on each link, the identity of the tile the
	// geometry puts there: the link maps match the brick wall.
	ids := map[Coord]p2p.TileID{}
	for _, s := range g.Snapshot() {
		ids[s.Coord] = s.Status.Tile
	}
	for _, s := range g.Snapshot() {
		for _, l := range s.Status.Links {
			n, ok := g.Geometry().Neighbour(s.Coord, l.Dir)
			switch {
			case !ok && l.State != control.Absent:
				t.Errorf("%v: %v is %v with no neighbour there", s.Name, l.Dir, l.State)
			case ok && (l.Tile == nil || *l.Tile != ids[n]):
				t.Errorf("%v: %v shows tile %v, want %v (%v)", s.Name, l.Dir, l.Tile, ids[n], n)
			}
		}
		if _, err := os.Stat(filepath.Join(s.RunDir, control.ControlSocket)); err != nil {
			t.Errorf("%v: %v", s.Name, err)
		}
	}
	// The control socket works as on a real tile.
	cc, err := control.Dial(g.Tile(Coord{1, 1}).RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var st control.Status
	if err := cc.Call("status", nil, &st); err != nil || st.Tile != ids[Coord{1, 1}] {
		t.Fatalf("status over control.sock: %v %v", st.Tile, err)
	}
	if _, err := os.Stat(filepath.Join(g.Dir(), "grid.json")); err != nil {
		t.Error(err)
	}
}

// Once every tile's routing service reaches every tile and no LSA has
// gone for a while, the routes have settled; the in-process tiles checked
// each tile's LSA once between them (the shared cache).
func TestRoutesSettle(t *testing.T) {
	g := newGrid(t, testConfig(t, 3, 2))
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitRoutesSettled(patience, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	ok, out, why := g.RoutesSettled()
	if !ok || out == 0 {
		t.Fatalf("settled, then: ok %v, %d LSAs sent, %s", ok, out, why)
	}
	if g.verified.Len() == 0 {
		t.Error("no LSA in the shared cache of checked ones")
	}
}

func isEvent(tile Coord, kind packet.Event, d packet.Dir) func(Event) bool {
	return func(e Event) bool { return e.Tile == tile && e.Kind == kind && e.Dir == d }
}

func TestCutAndRestore(t *testing.T) {
	g := newGrid(t, testConfig(t, 2, 2))
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	a, d := Coord{0, 0}, packet.ET
	b, _ := g.Geometry().Neighbour(a, d)
	mark := g.Mark()
	if err := g.Cut(a, d); err != nil {
		t.Fatal(err)
	}
	for _, end := range []struct {
		c Coord
		d packet.Dir
	}{{a, d}, {b, d.Opposite()}} {
		if _, err := g.WaitEvent(patience, mark, "disconnect", isEvent(end.c, packet.EventDisconnect, end.d)); err != nil {
			t.Fatal(end.c, err)
		}
		if err := g.WaitLink(patience, end.c, end.d, control.Absent); err != nil {
			t.Fatal(err)
		}
		if p, _ := g.Profile(end.c, end.d); !p.Cut || p.Rate != DefaultRate {
			t.Errorf("%v %v: profile %+v", end.c, end.d, p)
		}
	}
	// The other links stay up.
	if st, err := g.NeighbourState(a, packet.SE); err != nil || st != control.Live {
		t.Errorf("uncut link: %v %v", st, err)
	}
	mark = g.Mark()
	if err := g.Restore(b, d.Opposite()); err != nil {
		t.Fatal(err)
	}
	for _, end := range []struct {
		c Coord
		d packet.Dir
	}{{a, d}, {b, d.Opposite()}} {
		if _, err := g.WaitEvent(patience, mark, "connect", isEvent(end.c, packet.EventConnect, end.d)); err != nil {
			t.Fatal(end.c, err)
		}
	}
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	for _, r := range g.LinkReports(time.Second) {
		if r.Packets == 0 || r.Bytes == 0 || r.Profile.Cut || r.Busy <= 0 || r.Busy > 1 {
			t.Errorf("link report %+v", r)
		}
	}
}

func TestStopAndRestart(t *testing.T) {
	g := newGrid(t, testConfig(t, 3, 3))
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	mid := Coord{1, 1}
	before, err := g.Status(mid)
	if err != nil {
		t.Fatal(err)
	}
	// A cut survives the restart of one end.
	if err := g.Cut(mid, packet.ET); err != nil {
		t.Fatal(err)
	}
	mark := g.Mark()
	if err := g.Stop(mid); err != nil {
		t.Fatal(err)
	}
	if g.Tile(mid).Running() {
		t.Fatal("still running")
	}
	if _, err := g.Status(mid); err == nil {
		t.Fatal("status of a stopped tile")
	}
	for _, l := range g.Geometry().Links(mid) {
		if l.Dir == packet.ET {
			continue // cut already
		}
		if _, err := g.WaitEvent(patience, mark, "neighbour sees it go", isEvent(l.To, packet.EventDisconnect, l.Dir.Opposite())); err != nil {
			t.Fatal(l.To, err)
		}
		if err := g.WaitFor(patience, "link down", func() bool {
			st, err := g.NeighbourState(l.To, l.Dir.Opposite())
			return err == nil && st != control.Live
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.Start(mid); err != nil {
		t.Fatal(err)
	}
	for _, l := range g.Geometry().Links(mid) {
		want := control.Live
		if l.Dir == packet.ET {
			want = control.Absent // still cut
		}
		if err := g.WaitLink(patience, mid, l.Dir, want); err != nil {
			t.Fatal(err)
		}
	}
	if st, _ := g.NeighbourState(mid, packet.ET); st != control.Absent {
		t.Fatalf("cut link is %v after the restart", st)
	}
	if err := g.Restore(mid, packet.ET); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	after, err := g.Status(mid)
	if err != nil {
		t.Fatal(err)
	}
	if after.Tile != before.Tile {
		t.Errorf("identity changed across the restart: %v -> %v", before.Tile, after.Tile)
	}
	// Counters survive the restart.
	var sent uint64
	for _, r := range g.LinkReports(time.Second) {
		if r.From == mid {
			sent += r.Packets
		}
	}
	if sent == 0 {
		t.Error("no packets counted from the restarted tile")
	}
}

// flood is a service that keeps its send queues full on every live link.
type flood struct{}

func (flood) Number() packet.Service { return 40 }
func (flood) Name() string           { return "flood" }
func (flood) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	payload := make([]byte, packet.MaxServicePayload)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, n := range h.Neighbours() {
			for h.Room(n.Dir) > 0 {
				if h.Send(n.Dir, payload) != nil {
					break
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-in.Packets:
		case <-in.Events:
		case <-h.Drained():
		case <-tick.C:
		}
	}
}

// TestRates checks that each direction of a link carries its configured
// rate within 5% when flooded. This checks the emulator's shaping, a
// correctness property, not the speed of the machine: a window only counts
// when the link stayed backlogged throughout (its device queue never ran
// empty, Idle unchanged), because on a loaded machine the daemon may fall
// behind its link for a moment, and then the link rightly carries less.
func TestRates(t *testing.T) {
	cfg := testConfig(t, 2, 1)
	cfg.Services = func(Coord) []p2p.Service { return []p2p.Service{flood{}} }
	g := newGrid(t, cfg)
	a, b := Coord{0, 0}, Coord{1, 0}
	rates := map[Coord]int{a: 20000, b: 48000}
	if err := g.SetProfile(a, packet.ET, dev.LinkProfile{Rate: rates[a]}); err != nil {
		t.Fatal(err)
	}
	if err := g.SetProfile(b, packet.WT, dev.LinkProfile{Rate: rates[b]}); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	type sample struct {
		at               time.Time
		sent, recv, idle uint64
	}
	read := func(from, to Coord, d packet.Dir) sample {
		s1, err1 := g.Tile(from).DeviceStats()
		s2, err2 := g.Tile(to).DeviceStats()
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		r := s2.Links[d.Opposite()]
		return sample{time.Now(), s1.Links[d].SentBytes, r.RecvBytes + r.InDropped, s1.Links[d].Idle}
	}
	time.Sleep(500 * time.Millisecond) // queues fill
	for _, m := range []struct {
		from, to Coord
		d        packet.Dir
	}{{a, b, packet.ET}, {b, a, packet.WT}} {
		want := float64(rates[m.from])
		judged := false
		for window := 0; window < 5 && !judged; window++ {
			s0 := read(m.from, m.to, m.d)
			time.Sleep(3 * time.Second)
			s1 := read(m.from, m.to, m.d)
			dt := s1.at.Sub(s0.at).Seconds()
			sent := float64(s1.sent-s0.sent) / dt
			recv := float64(s1.recv-s0.recv) / dt
			t.Logf("%v: configured %.0f B/s, sent %.0f B/s (%+.1f%%), received %.0f B/s, idle periods %d",
				m.from, want, sent, 100*(sent/want-1), recv, s1.idle-s0.idle)
			if sent > 1.05*want {
				t.Errorf("%v sends %.0f B/s on a %.0f B/s link", m.from, sent, want)
			}
			if s1.idle != s0.idle {
				continue // not backlogged throughout: says nothing about the shaping
			}
			judged = true
			if sent < 0.95*want {
				t.Errorf("%v sends %.0f B/s on a backlogged %.0f B/s link", m.from, sent, want)
			}
			if recv < 0.95*want || recv > 1.05*want {
				t.Errorf("%v's neighbour receives %.0f B/s on a %.0f B/s link", m.from, recv, want)
			}
		}
		if !judged {
			t.Errorf("%v: the flood never kept the link backlogged for 3 s in 5 tries", m.from)
		}
	}
}

// TestEventsHook checks OnEvent sees the neighbours connect.
func TestEventsHook(t *testing.T) {
	cfg := testConfig(t, 2, 1)
	got := make(chan Event, 16)
	cfg.OnEvent = func(e Event) {
		select {
		case got <- e:
		default:
		}
	}
	g := newGrid(t, cfg)
	select {
	case e := <-got:
		if e.Kind != packet.EventConnect || !strings.Contains(e.String(), "connect") {
			t.Errorf("first event %v", e)
		}
	case <-time.After(patience):
		t.Fatal("no event")
	}
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
}

// TestGrid10x10 runs a 10 x 10 grid with the daemon's real timings and
// logs what each tile costs. BenchmarkGrid10x10 measures the same.
func TestGrid10x10(t *testing.T) {
	if testing.Short() {
		t.Skip("100 tiles: skipped with -short")
	}
	if raceEnabled {
		t.Skip("100 tiles under the race detector overload a 2-core machine; BenchmarkGrid10x10 measures it")
	}
	emulation.SkipSlow(t, "keeping 100 tiles' links live in one process with the daemon's real timings")
	cfg := DefaultConfig(10, 10)
	cfg.Dir = t.TempDir()
	g := newGrid(t, cfg)
	if err := g.WaitAllLive(60 * time.Second); err != nil {
		t.Fatal(err)
	}
	cpu, rss := measure(t, g, 3*time.Second)
	t.Logf("10x10: %.2f%% of a core and %.0f KB RSS per tile", cpu*100/100, rss/100/1024)
}

func BenchmarkGrid10x10(b *testing.B) {
	cfg := DefaultConfig(10, 10)
	cfg.Dir = b.TempDir()
	start := time.Now()
	g := newGrid(b, cfg)
	if err := g.WaitAllLive(120 * time.Second); err != nil {
		b.Fatal(err)
	}
	toLive := time.Since(start).Seconds()
	b.ResetTimer()
	var cpu, rss float64
	for range b.N {
		cpu, rss = measure(b, g, 5*time.Second)
	}
	b.StopTimer()
	b.ReportMetric(toLive, "s-to-all-live")
	b.ReportMetric(cpu*100/100, "%core/tile")
	b.ReportMetric(rss/100/1024, "KB-RSS/tile")
	if ok, why := g.AllLive(); !ok {
		b.Errorf("a link flapped while measuring: %s", why)
	}
}

// measure returns the process's CPU use over d, as a fraction of one core,
// and its resident set size in bytes at the end.
func measure(t testing.TB, g *Grid, d time.Duration) (cpu, rss float64) {
	cpuTime := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	runtime.GC()
	c0, t0 := cpuTime(), time.Now()
	time.Sleep(d)
	c1, t1 := cpuTime(), time.Now()
	cpu = float64(c1-c0) / float64(t1.Sub(t0))
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			rss = kb * 1024
		}
	}
	return cpu, rss
}

// decodeSection reads a routing status section as a process tile's
// control socket gave it (JSON decoded into maps): any bytes give a
// status or an error, never a panic, and a status survives the trip.
func FuzzDecodeSection(f *testing.F) {
	good, _ := json.Marshal(routes.Status{Known: 3, Reachable: 2, Counts: routes.Counts{LSAsOut: 9}})
	f.Add(good)
	f.Add([]byte(`{"known": "x"}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var sec any
		if json.Unmarshal(b, &sec) != nil {
			return
		}
		var rs routes.Status
		if decodeSection(sec, &rs) != nil {
			return
		}
		var again routes.Status
		if err := decodeSection(rs, &again); err != nil || again != rs {
			t.Fatalf("a decoded status does not decode to itself: %v", err)
		}
	})
}
