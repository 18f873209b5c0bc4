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

// TestShortcutQueueBound: the queue holds shortFrames frames, as a socket
// buffer holds so many; one more is refused (the sender counts it
// dropped), and taking them makes room and keeps their buffers.
func TestShortcutQueueBound(t *testing.T) {
	s := &shortcut{ready: make(chan struct{}, 1)}
	from := netip.MustParseAddrPort("127.0.0.1:9")
	frame := make([]byte, MaxFrameLen)
	for i := range shortFrames {
		frame[0], frame[1] = byte(i), byte(i>>8)
		if !s.put(frame, from) {
			t.Fatalf("frame %d refused below the bound", i)
		}
	}
	if s.put(frame, from) {
		t.Fatal("a frame past the bound was queued")
	}
	if n := s.dropped.Load(); n != 1 {
		t.Fatalf("%d frames counted dropped, want 1", n)
	}
	batch := s.take(nil)
	if len(batch) != shortFrames || len(s.q) != 0 {
		t.Fatalf("took %d, %d left; want %d and none", len(batch), len(s.q), shortFrames)
	}
	// Each frame is a copy: the sender reuses its buffer at once.
	for i, f := range batch {
		if f.b[0] != byte(i) || f.b[1] != byte(i>>8) || f.from != from {
			t.Fatalf("frame %d holds %d from %v: not the frame sent", i, int(f.b[0])|int(f.b[1])<<8, f.from)
		}
	}
	s.recycle(batch)
	if len(s.spare) != shortFrames {
		t.Fatalf("%d buffers kept, want %d", len(s.spare), shortFrames)
	}
	if !s.put(frame[:10], from) || len(s.q[0].b) != 10 || len(s.spare) != shortFrames-1 {
		t.Fatal("a frame after taking was not queued in a kept buffer")
	}
}

// TestUDPShortcutFullCountedOnLink: a frame that finds the neighbour's
// shortcut queue full is lost there, counted on the sender's link
// (BufferDropped) as sent, and the link carries on once there is room.
func TestUDPShortcutFullCountedOnLink(t *testing.T) {
	a, b := udpPair(t, func(ca, cb *UDPConfig) { ca.InProcess, cb.InProcess = true, true })
	waitUp(t, a, b)
	full := &shortcut{addr: b.short.addr, ready: make(chan struct{}, 1), q: make([]shortFrame, shortFrames)}
	shortcuts.Store(b.short.addr, full) // b's reader stops taking frames
	sent := a.Stats().Links[packet.ET].SentPackets
	p, _ := packet.AppendService(nil, packet.ET, 8, []byte("lost"))
	writeAll(t, a, p)
	waitFor(t, "the frame dropped at the full queue", func() bool { return a.Stats().Links[packet.ET].BufferDropped >= 1 })
	if s := a.Stats().Links[packet.ET]; s.SentPackets <= sent || s.SendErrors != 0 {
		t.Fatalf("sent %d (was %d), %d send errors: a frame lost at the far end is sent, not a failure", s.SentPackets, sent, s.SendErrors)
	}
	if s := a.Stats().Links[packet.WT].BufferDropped; s != 0 {
		t.Fatalf("%d counted on another link", s)
	}
	shortcuts.Store(b.short.addr, b.short)
	exchangeN(t, a, b, 5)
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
