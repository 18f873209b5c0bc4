package dev

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/procstat"
	"github.com/t2tiles/itcd/itc/packet"
)

// BenchmarkUDPPacketsPerSecond measures packets per second between two UDP
// devices on loopback: unlimited rate, no impairments, one writer retrying
// on ErrWouldBlock, one reader draining. Like a daemon that does not flood
// its neighbour's 16 KB input FIFO, the writer keeps at most benchWindow
// packets written and not yet read; without that a writer outruns the
// reader and the inbound queue drops most packets, as on a T2 link. One op
// is one packet written; pkts/s counts packets read in the run, lost%
// those that never arrived.
func BenchmarkUDPPacketsPerSecond(b *testing.B) {
	for _, size := range []int{16, 255} {
		b.Run(sizeName(size), func(b *testing.B) {
			a, c := udpPair(b, func(a, c *UDPConfig) { a.Logger, c.Logger = quietLog, quietLog })
			waitUp(b, a, c)
			benchPacketFlow(b, size, a, c)
		})
	}
}

// BenchmarkUDPShortcut is BenchmarkUDPPacketsPerSecond between two
// devices of one process that hand frames over directly (InProcess), as
// the simulator's tiles do. cpu_ns/pkt is the process's CPU time (every
// goroutine's, user and system) per packet read.
func BenchmarkUDPShortcut(b *testing.B) {
	a, c := udpPair(b, func(a, c *UDPConfig) {
		a.Logger, c.Logger = quietLog, quietLog
		a.InProcess, c.InProcess = true, true
	})
	waitUp(b, a, c)
	benchPacketFlow(b, 255, a, c)
}

// benchPacketFlow writes b.N packets of size bytes on link ET of from,
// keeping at most benchWindow written and not yet read on to, and reports
// the packets per second read and the share lost. It closes to.
func benchPacketFlow(b *testing.B, size int, from, to Device) {
	p, err := packet.AppendService(nil, packet.ET, packet.ServiceCounter, make([]byte, size-packet.ServiceHeaderLen))
	if err != nil {
		b.Fatal(err)
	}
	var got atomic.Int64
	window := make(chan struct{}, benchWindow) // a token per packet in flight
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, packet.MaxLen)
		for {
			if _, err := to.ReadPacket(buf); err != nil {
				return
			}
			got.Add(1)
			<-window
		}
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), procstat.CPU()
	for i := 0; i < b.N; i++ {
		window <- struct{}{}
		for {
			err := from.WritePacket(p)
			if err == nil {
				break
			}
			if !errors.Is(err, ErrWouldBlock) {
				b.Fatal(err)
			}
			runtime.Gosched()
		}
	}
	// Wait until the last packets have arrived or stopped arriving.
	last, lastChange := got.Load(), time.Now()
	for got.Load() < int64(b.N) && time.Since(lastChange) < 100*time.Millisecond {
		time.Sleep(time.Millisecond)
		if n := got.Load(); n != last {
			last, lastChange = n, time.Now()
		}
	}
	el := time.Since(start)
	cpu := procstat.CPU() - cpu0
	b.StopTimer()
	n := got.Load()
	b.ReportMetric(float64(n)/el.Seconds(), "pkts/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(n, 1)), "cpu_ns/pkt")
	b.ReportMetric(100*float64(int64(b.N)-n)/float64(b.N), "lost%")
	to.Close()
	<-done
}

// benchWindow bounds the packets in flight: 48 packets of 255 bytes are
// 12 KB, within the 16 KB inbound queue.
const benchWindow = 48

func sizeName(n int) string {
	if n == 255 {
		return "255B"
	}
	return "16B"
}
