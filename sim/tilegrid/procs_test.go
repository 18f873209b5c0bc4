package tilegrid

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/emulation"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// buildItcd builds the itcd binary into a temporary dir.
func buildItcd(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "itcd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/t2tiles/itcd/cmd/itcd").CombinedOutput()
	if err != nil {
		t.Skipf("cannot build itcd: %v\n%s", err, out)
	}
	return bin
}

// TestProcs runs tiles as `itcd run` processes: they go live, a cut link
// and a stopped tile are seen (through the control socket's "link"
// command and the polled status), a restart keeps the identity, and Close
// leaves no process behind.
func TestProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds itcd and starts processes")
	}
	emulation.SkipNoExec(t)
	cfg := testConfig(t, 3, 2)
	cfg.Procs = true
	cfg.Itcd = buildItcd(t)
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, tl := range g.Tiles() {
		if tl.Pid() == 0 {
			t.Fatalf("%s has no process", tl.Name)
		}
		pids = append(pids, tl.Pid())
	}

	a, d := Coord{1, 0}, packet.ET
	b, _ := g.Geometry().Neighbour(a, d)
	mark := g.Mark()
	if err := g.Cut(a, d); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WaitEvent(patience, mark, "disconnect at the far end", isEvent(b, packet.EventDisconnect, d.Opposite())); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitLink(patience, a, d, control.Absent); err != nil {
		t.Fatal(err)
	}
	if err := g.Restore(a, d); err != nil {
		t.Fatal(err)
	}
	if err := g.SetProfile(a, d, dev.LinkProfile{Rate: 12345}); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}

	before, err := g.Status(a)
	if err != nil {
		t.Fatal(err)
	}
	mark = g.Mark()
	if err := g.Stop(a); err != nil {
		t.Fatal(err)
	}
	if _, err := g.WaitEvent(patience, mark, "neighbour sees it go", isEvent(b, packet.EventDisconnect, d.Opposite())); err != nil {
		t.Fatal(err)
	}
	if err := g.Start(a); err != nil {
		t.Fatal(err)
	}
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	after, err := g.Status(a)
	if err != nil || after.Tile != before.Tile {
		t.Fatalf("identity %v -> %v (%v)", before.Tile, after.Tile, err)
	}
	// The profile set before the restart is back on the new process.
	cc, err := control.Dial(g.Tile(a).RunDir)
	if err != nil {
		t.Fatal(err)
	}
	var p dev.LinkProfile
	err = cc.Call("link", control.LinkArgs{Dir: d}, &p)
	cc.Close()
	if err != nil || p.Rate != 12345 {
		t.Errorf("profile after restart %+v, %v", p, err)
	}
	pids = append(pids, g.Tile(a).Pid())

	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
			if strings.Contains(string(b), cfg.Dir) {
				t.Errorf("process %d left running", pid)
			}
		}
	}
}

// BenchmarkGrid10x10Procs measures a 10 x 10 grid of `itcd run` processes:
// CPU and resident memory per tile process.
func BenchmarkGrid10x10Procs(b *testing.B) {
	cfg := DefaultConfig(10, 10)
	cfg.Dir = b.TempDir()
	cfg.Procs = true
	cfg.Itcd = buildItcd(b)
	start := time.Now()
	g := newGrid(b, cfg)
	if err := g.WaitAllLive(120 * time.Second); err != nil {
		b.Fatal(err)
	}
	toLive := time.Since(start).Seconds()
	procTicks := func() (ticks, rssKB float64) {
		for _, tl := range g.Tiles() {
			pid := strconv.Itoa(tl.Pid())
			if st, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil {
				s := string(st)
				f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
				u, _ := strconv.ParseFloat(f[11], 64) // utime: field 14
				k, _ := strconv.ParseFloat(f[12], 64) // stime: field 15
				ticks += u + k
			}
			if st, err := os.ReadFile("/proc/" + pid + "/status"); err == nil {
				for _, line := range strings.Split(string(st), "\n") {
					if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
						kb, _ := strconv.ParseFloat(f[1], 64)
						rssKB += kb
					}
				}
			}
		}
		return ticks, rssKB
	}
	b.ResetTimer()
	var cpu, rss float64
	for range b.N {
		t0, _ := procTicks()
		s := time.Now()
		time.Sleep(5 * time.Second)
		t1, r := procTicks()
		cpu = (t1 - t0) / 100 / time.Since(s).Seconds() // USER_HZ is 100 on Linux
		rss = r
	}
	b.StopTimer()
	b.ReportMetric(toLive, "s-to-all-live")
	b.ReportMetric(cpu*100/100, "%core/tile")
	b.ReportMetric(rss/100, "KB-RSS/tile")
	if ok, why := g.AllLive(); !ok {
		b.Errorf("a link flapped while measuring: %s", why)
	}
}
