// The model (itc/itcmodel) is served by go-fuse, which does not build for
// 32-bit targets.

//go:build !(arm || 386 || mips || mipsle)

package dev

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// benchModel mounts a model with tile a linked on ET to b and opens a
// Kernel on each, MFM devices owned, both with the same identity.
func benchModel(b *testing.B) (ka, kb *Kernel, ta *itcmodel.Tile) {
	b.Helper()
	_, ta, tb := itcmodel.PairForTest(b, itcmodel.Config{})
	open := func(t *itcmodel.Tile) *Kernel {
		k, err := OpenKernel(KernelConfig{
			Path: t.DevPath("bulk"), FlashPath: t.DevPath("flash"),
			MFMDevices: true, MFMDir: t.DevPath("mfm"), MFZIDPath: t.SysPath("mfzid"),
			StatusPath: t.SysPath("status"), StatusInterval: 5 * time.Millisecond, Logger: quietLog,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { k.Close() }) // before the model's unmount: cleanups run last first
		if err := k.SetMFZID([]byte("bench")); err != nil {
			b.Fatal(err)
		}
		return k
	}
	return open(ta), open(tb), ta
}

// BenchmarkKernelModelPackets measures packets per second from one kernel
// backend to another through the model of the itc_pkt module: every
// packet is a write(2) on a's bulk device and a read(2) on b's flash
// device, each a FUSE request served by the model in this process. One op
// is one packet written (benchPacketFlow, as for the UDP device).
func BenchmarkKernelModelPackets(b *testing.B) {
	for _, size := range []int{16, 255} {
		b.Run(sizeName(size), func(b *testing.B) {
			ka, kb, _ := benchModel(b)
			benchPacketFlow(b, size, ka, kb)
		})
	}
}

// BenchmarkKernelIdle measures what an idle kernel backend costs: a tile
// with six linked neighbours, bulk, flash and the six MFM devices open,
// no traffic, and one goroutine in ReadPacket as the daemon's reader. It
// reports the read(2) calls per second the model saw and the CPU the
// process used per second of wall time (the model serves those reads in
// this process, so the CPU is an upper bound of the backend's own).
func BenchmarkKernelIdle(b *testing.B) {
	m := itcmodel.ForTest(b, itcmodel.Config{})
	t, err := m.Tile("t")
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range packet.Links {
		n, err := m.Tile("n" + d.String())
		if err != nil {
			b.Fatal(err)
		}
		if err := m.Link(t, d, n); err != nil {
			b.Fatal(err)
		}
	}
	k, err := OpenKernel(KernelConfig{
		Path: t.DevPath("bulk"), FlashPath: t.DevPath("flash"),
		MFMDevices: true, MFMDir: t.DevPath("mfm"), MFZIDPath: t.SysPath("mfzid"),
		StatusPath: t.SysPath("status"), Logger: quietLog,
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := k.SetMFZID([]byte("idle")); err != nil {
		b.Fatal(err)
	}
	done := readUntilClosed(k)
	time.Sleep(200 * time.Millisecond) // past start-up
	const span = 2 * time.Second
	b.ResetTimer()
	var reads, cpu, wall float64
	for i := 0; i < b.N; i++ {
		r0, c0, w0 := t.Reads(), cpuTime(b), time.Now()
		time.Sleep(span)
		reads += float64(t.Reads() - r0)
		cpu += (cpuTime(b) - c0).Seconds()
		wall += time.Since(w0).Seconds()
	}
	b.StopTimer()
	k.Close()
	<-done
	b.ReportMetric(reads/wall, "reads/s")
	b.ReportMetric(100*cpu/wall, "%cpu")
}

// cpuTime is the user and system time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
