package dev

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/internal/procstat"
	"github.com/t2tiles/itcd/itc/packet"
)

// BenchmarkKernelReaderIdle measures the idle kernel reader as a tile
// runs it: on one CPU (the process pinned, GOMAXPROCS 1), bulk and flash
// stood in for by non-blocking socket pairs (which, like itc_pkt, answer
// an empty read with EAGAIN at once; the FUSE model of
// BenchmarkKernelIdle turns every read into a round trip to its server),
// no traffic, one goroutine in ReadPacket. It reports the reader's polls
// and the thread context switches of the whole process (the benchmark's
// own idle threads included) per second.
func BenchmarkKernelReaderIdle(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	restore, err := procstat.PinToOneCPU()
	if err != nil {
		b.Skip(err)
	}
	defer restore()
	var svc []*kernelFD
	for _, name := range []string{"bulk", "flash"} {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		for _, fd := range fds {
			if err := unix.SetNonblock(fd, true); err != nil {
				b.Fatal(err)
			}
		}
		b.Cleanup(func() { unix.Close(fds[1]) })
		svc = append(svc, &kernelFD{fd: fds[0], path: name})
	}
	status := filepath.Join(procstat.MemDir(b), "status") // in memory, as sysfs is
	if err := os.WriteFile(status, []byte("01111110\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	k, err := newKernel(KernelConfig{StatusPath: status, Logger: quietLog}, svc)
	if err != nil {
		b.Fatal(err)
	}
	done := readUntilClosed(k)
	time.Sleep(300 * time.Millisecond) // past the backoff to the cap
	const span = 2 * time.Second
	b.ResetTimer()
	var polls, switches, wall float64
	for i := 0; i < b.N; i++ {
		p0, s0, w0 := k.polls.Load(), procstat.Switches(b), time.Now()
		time.Sleep(span)
		polls += float64(k.polls.Load() - p0)
		switches += float64(procstat.Switches(b) - s0)
		wall += time.Since(w0).Seconds()
	}
	b.StopTimer()
	k.Close()
	<-done
	b.ReportMetric(polls/wall, "polls/s")
	b.ReportMetric(switches/wall, "switches/s")
}

// readUntilClosed reads k as the daemon's reader does, until k closes;
// the channel closes when it has stopped.
func readUntilClosed(k *Kernel) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, packet.MaxLen)
		for {
			if _, err := k.ReadPacket(buf); errors.Is(err, ErrClosed) {
				return
			}
		}
	}()
	return done
}
