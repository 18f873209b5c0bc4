package tile_test

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/procstat"
	"github.com/t2tiles/itcd/internal/tick"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/tile"
)

// fakeNeighboursEnv makes the test binary a helper process that plays
// six neighbours (TestFakeNeighboursHelper).
const fakeNeighboursEnv = "ITCD_FAKE_NEIGHBOURS"

// BenchmarkTileIdleSix measures an idle tile as it runs on T2: the code
// of `itcd run` on the kernel backend with a real tile's defaults, on one
// CPU (the process pinned, GOMAXPROCS 1), with six live neighbours. Bulk
// and flash are socket pairs, which like itc_pkt keep packet boundaries
// and answer an empty non-blocking read with EAGAIN at once (the FUSE
// model of BenchmarkKernelIdleSix turns every read into a round trip to
// its server). The neighbours are another process, this test binary as
// TestFakeNeighboursHelper: each says hello every 250 ms on its own link,
// and what the tile sends is read and dropped. It reports the thread
// context switches of this process (the tile's, plus the benchmark's own
// idle threads) and the reader's polls, per second.
func BenchmarkTileIdleSix(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	restore, err := procstat.PinToOneCPU()
	if err != nil {
		b.Skip(err)
	}
	defer restore()

	var ours [2]int
	var theirs []*os.File
	for i := range ours {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		ours[i] = fds[0]
		theirs = append(theirs, os.NewFile(uintptr(fds[1]), "neighbours"))
	}
	helper := exec.Command(os.Args[0], "-test.run=^TestFakeNeighboursHelper$")
	helper.Env = append(os.Environ(), fakeNeighboursEnv+"=1")
	helper.ExtraFiles = theirs // fds 3 (bulk's far end) and 4 (flash's)
	helper.Stderr = os.Stderr
	if err := helper.Start(); err != nil {
		b.Fatal(err)
	}
	for _, f := range theirs {
		f.Close()
	}
	b.Cleanup(func() {
		helper.Process.Kill()
		helper.Wait()
	})

	dir := b.TempDir()
	// In memory, as sysfs is; the six links up.
	status := filepath.Join(procstat.MemDir(b), "status")
	if err := os.WriteFile(status, []byte("11101110\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := tile.DefaultConfig()
	cfg.StateDir, cfg.RunDir = filepath.Join(dir, "state"), filepath.Join(dir, "run")
	cfg.Device = "kernel"
	cfg.Kernel.Path, cfg.Kernel.FlashPath = "bulk (socket pair)", "flash (socket pair)"
	cfg.Kernel.Open = ours[:]
	cfg.Kernel.MFMDevices = false
	cfg.Kernel.StatusPath = status
	cfg.LogLevel = "warn"
	// The neighbours' hellos offer no routing service, so the tile
	// floods them nothing (routes.Service.connect).
	tt, err := tile.New(cfg, tile.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		unix.Close(ours[0])
		unix.Close(ours[1])
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tt.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("Run: %v", err)
		}
	}()
	live := func() int {
		n := 0
		for _, l := range tt.Status().Links {
			if l.State == control.Live {
				n++
			}
		}
		return n
	}
	for end := time.Now().Add(30 * time.Second); live() < 6; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			b.Fatalf("%d live neighbours after 30 s, want 6", live())
		}
	}
	time.Sleep(time.Second) // past the start's announcements
	polls := func() uint64 { return tt.Status().KernelStats.Polls }
	const span = 3 * time.Second
	b.ResetTimer()
	var switches, poll, wall float64
	for i := 0; i < b.N; i++ {
		s0, p0, w0 := procstat.Switches(b), polls(), time.Now()
		time.Sleep(span)
		switches += float64(procstat.Switches(b) - s0)
		poll += float64(polls() - p0)
		wall += time.Since(w0).Seconds()
		if n := live(); n != 6 {
			b.Fatalf("%d live neighbours, want 6", n)
		}
	}
	b.StopTimer()
	b.ReportMetric(switches/wall, "switches/s")
	b.ReportMetric(poll/wall, "polls/s")
}

// TestFakeNeighboursHelper is BenchmarkTileIdleSix's six neighbours, run
// in a process of their own; as a test it skips. Each says hello every
// 250 ms, on the wall-clock grid (as tiles do), echoing the tile's last
// timestamp. It reads and drops what the tile sends, and ends when the
// tile's side closes.
func TestFakeNeighboursHelper(t *testing.T) {
	if os.Getenv(fakeNeighboursEnv) == "" {
		t.Skip("the neighbours of BenchmarkTileIdleSix, run by it")
	}
	const bulk, flash = 3, 4
	started := time.Now()
	var ids [6]p2p.TileID
	for i := range ids {
		binary.BigEndian.PutUint64(ids[i][:], 0x7e57000000000001+uint64(i))
	}
	var heard [8]daemon.Hello
	var heardAt [8]time.Time
	buf := make([]byte, packet.MaxLen)
	for {
		now := time.Now()
		time.Sleep(tick.Next(now, 250*time.Millisecond).Sub(now))
		for {
			n, err := unix.Read(bulk, buf)
			if errors.Is(err, unix.EAGAIN) {
				break
			}
			if err != nil || n == 0 {
				return // the tile's side is closed
			}
			if p, err := packet.Decode(buf[:n]); err == nil && p.Kind == packet.KindService && p.Service == packet.ServiceLiveness {
				if h, ok := daemon.ParseHello(p.Payload); ok {
					heard[p.Dir], heardAt[p.Dir] = h, time.Now()
				}
			}
		}
		now = time.Now()
		since := now.Sub(started)
		for i, d := range packet.Links {
			h := daemon.Hello{
				Version: daemon.ProtocolVersion,
				Tile:    ids[i],
				Uptime:  uint32(since / time.Second),
				TS:      uint32(since/time.Millisecond) | 1,
			}
			if !heardAt[d].IsZero() && now.Sub(heardAt[d]) < 2*time.Second {
				h.EchoTS, h.EchoHold = heard[d].TS, uint32(now.Sub(heardAt[d])/time.Millisecond)
			}
			p, err := packet.AppendService(nil, d, packet.ServiceLiveness, daemon.AppendHello(nil, h))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := unix.Write(flash, p); err != nil && !errors.Is(err, unix.EAGAIN) {
				return
			}
		}
	}
}
