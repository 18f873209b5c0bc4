package dev

import (
	"bytes"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// exchangeN writes n packets each way between a (ET) and b (WT) and
// checks every one arrives, in order.
func exchangeN(t *testing.T, a, b *UDP, n int) {
	t.Helper()
	for i := range n {
		pa, _ := packet.AppendService(nil, packet.ET, 8, []byte{byte(i), 'a'})
		pb, _ := packet.AppendService(nil, packet.WT, 8, []byte{byte(i), 'b'})
		writeAll(t, a, pa)
		writeAll(t, b, pb)
		if got := readTimeout(t, b); !bytes.Equal(got[2:], pa[2:]) {
			t.Fatalf("b read % x, want payload % x", got, pa[2:])
		}
		if got := readTimeout(t, a); !bytes.Equal(got[2:], pb[2:]) {
			t.Fatalf("a read % x, want payload % x", got, pb[2:])
		}
	}
}

// TestUDPShortcut: two devices of one process that both set InProcess
// hand every frame over directly, and the link works as over sockets.
func TestUDPShortcut(t *testing.T) {
	a, b := udpPair(t, func(ca, cb *UDPConfig) { ca.InProcess, cb.InProcess = true, true })
	waitUp(t, a, b)
	exchangeN(t, a, b, 50)
	for _, d := range []*UDP{a, b} {
		if d.short == nil || d.short.taken.Load() < 50 {
			t.Fatalf("%v: the shortcut took %d frames, want every one (at least 50)", d.LocalAddr(), d.short.taken.Load())
		}
	}
	addr := a.short.addr
	a.Close()
	if _, ok := shortcuts.Load(addr); ok {
		t.Fatal("a closed device still takes frames directly")
	}
}

// TestUDPShortcutOneSide: a device that set InProcess and one that did
// not (another process, as far as the first can tell) talk over their
// sockets.
func TestUDPShortcutOneSide(t *testing.T) {
	a, b := udpPair(t, func(ca, _ *UDPConfig) { ca.InProcess = true })
	waitUp(t, a, b)
	exchangeN(t, a, b, 20)
	if n := a.short.taken.Load(); n != 0 {
		t.Fatalf("a took %d frames directly from a device that sends over its socket", n)
	}
	if b.short != nil {
		t.Fatal("b takes frames directly without InProcess")
	}
}

// TestUDPShortcutFullInboundQueue: with no receive buffer in front of it,
// a frame through the shortcut that finds the receiver's inbound queue
// full is dropped there and counted (InDropped), as the module drops a
// packet at a full input FIFO; the link carries on once it is read.
func TestUDPShortcutFullInboundQueue(t *testing.T) {
	a, b := udpPair(t, func(ca, cb *UDPConfig) {
		ca.InProcess, cb.InProcess = true, true
		cb.InQueueBytes = 1024 // about four packets of 250 bytes
	})
	waitUp(t, a, b)
	p, _ := packet.AppendService(nil, packet.ET, 8, bytes.Repeat([]byte{'x'}, 240))
	written := uint64(0)
	waitFor(t, "a packet dropped at b's full inbound queue", func() bool {
		writeAll(t, a, p)
		written++
		return b.Stats().Links[packet.WT].InDropped > 0
	})
	waitFor(t, "every packet written sent", func() bool { return a.Stats().Links[packet.ET].SentPackets >= written })
	if s := a.Stats().Links[packet.ET]; s.SendErrors != 0 {
		t.Fatalf("%d send errors: a packet dropped at the far end is sent, not a failure", s.SendErrors)
	}
	for range b.Stats().Links[packet.WT].RecvPackets { // each one queued, none read yet
		readTimeout(t, b)
	}
	exchangeN(t, a, b, 5)
}

// TestShortcutLeavesTheSendersFrame: the receiver works on a copy. Its
// receive rewrites the packet's direction to the arrival link, and the
// sender still holds the frame (a duplicate goes out of the same buffer).
func TestShortcutLeavesTheSendersFrame(t *testing.T) {
	a, b := udpPair(t, func(ca, cb *UDPConfig) { ca.InProcess, cb.InProcess = true, true })
	waitUp(t, a, b)
	p, _ := packet.AppendService(nil, packet.ET, 8, []byte("copy"))
	frame := pktFrame(packet.ET, a.epoch, 60000, p...)
	sent := append([]byte(nil), frame...)
	b.short.receive(frame, a.short.addr, b.linkFrom(a.short.addr))
	if !bytes.Equal(frame, sent) {
		t.Fatalf("the sender's frame became % x, was % x", frame, sent)
	}
	got := readTimeout(t, b)
	if !bytes.Equal(got[2:], p[2:]) {
		t.Fatalf("b read % x, want payload % x", got, p[2:])
	}
	// From a device b has no link to: dropped and counted, as a
	// datagram from an address that is no neighbour.
	b.short.receive(frame, netip.AddrPortFrom(a.short.addr.Addr(), 1), nil)
	if n := b.unknownSource.Load(); n != 1 {
		t.Fatalf("a frame from no neighbour: %d counted, want 1", n)
	}
	b.Close()
	before := b.short.taken.Load()
	b.short.receive(frame, a.short.addr, b.linkFrom(a.short.addr))
	if b.short.taken.Load() != before {
		t.Fatal("a closed device took a frame")
	}
}

// TestUDPShortcutBesideSocket: a device that takes frames through the
// shortcut from one neighbour and over its socket from another receives
// both at once, its two readers feeding one inbound queue: every packet
// once and in order per link. (rxMu, which keeps the readers from
// running receive together, matters only for frames of one link coming
// both ways, around a neighbour's restart.)
func TestUDPShortcutBesideSocket(t *testing.T) {
	ca, cb, cc := listenLoopback(t), listenLoopback(t), listenLoopback(t)
	open := func(conn *net.UDPConn, inProc bool, seed int64, links map[packet.Dir]string) *UDP {
		d, err := OpenUDP(UDPConfig{Conn: conn, Links: links, Keepalive: 20 * time.Millisecond, DownAfter: 2 * time.Second,
			Seed: seed, Logger: quietLog, InProcess: inProc})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	c := open(cc, true, 3, map[packet.Dir]string{packet.ET: ca.LocalAddr().String(), packet.WT: cb.LocalAddr().String()})
	a := open(ca, true, 1, map[packet.Dir]string{packet.WT: cc.LocalAddr().String()})  // through the shortcut
	b := open(cb, false, 2, map[packet.Dir]string{packet.ET: cc.LocalAddr().String()}) // over its socket
	waitFor(t, "links up", func() bool {
		return a.Status().Up(packet.WT) && b.Status().Up(packet.ET) && c.Status().Up(packet.ET) && c.Status().Up(packet.WT)
	})
	const n = 200
	var wg sync.WaitGroup
	for _, s := range []struct {
		d   *UDP
		dir packet.Dir
	}{{a, packet.WT}, {b, packet.ET}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range n {
				p, _ := packet.AppendService(nil, s.dir, 8, []byte{byte(i), byte(s.dir)})
				for {
					err := s.d.WritePacket(p)
					if err == nil {
						break
					}
					if !errors.Is(err, ErrWouldBlock) {
						t.Error(err)
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	next := map[byte]int{}
	for range 2 * n {
		p := readTimeout(t, c)
		from, i := p[len(p)-1], int(p[len(p)-2])
		if i != next[from]%256 {
			t.Fatalf("from %v: packet %d, want %d", packet.Dir(from), i, next[from])
		}
		next[from]++
	}
	wg.Wait()
	if c.short.taken.Load() < n {
		t.Fatalf("the shortcut took %d frames, want at least %d", c.short.taken.Load(), n)
	}
}

// TestUDPShortcutNeighbourReplaced: a neighbour that closes and comes
// back at the same address (a tile restarted by the simulator) takes
// frames through the shortcut again; the sender does not keep handing
// them to the closed device it had looked up.
func TestUDPShortcutNeighbourReplaced(t *testing.T) {
	var cfgB UDPConfig
	a, b := udpPair(t, func(ca, cb *UDPConfig) { ca.InProcess, cb.InProcess = true, true; cfgB = *cb })
	waitUp(t, a, b)
	exchangeN(t, a, b, 5)
	addr := b.LocalAddr().(*net.UDPAddr)
	b.Close()
	conn, err := net.ListenUDP("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cfgB.Conn, cfgB.Seed = conn, 3
	b2, err := OpenUDP(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b2.Close() })
	waitUp(t, a, b2)
	exchangeN(t, a, b2, 20)
	if n := b2.short.taken.Load(); n < 20 {
		t.Fatalf("the new device took %d frames through the shortcut, want at least 20", n)
	}
}
