package dev

import (
	"bytes"
	"net/netip"
	"testing"

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
		if !s.put(frame, from) {
			t.Fatalf("frame %d refused below the bound", i)
		}
	}
	if s.put(frame, from) {
		t.Fatal("a frame past the bound was queued")
	}
	batch := s.take(nil)
	if len(batch) != shortFrames || len(s.q) != 0 {
		t.Fatalf("took %d, %d left; want %d and none", len(batch), len(s.q), shortFrames)
	}
	s.recycle(batch)
	if len(s.spare) != shortFrames {
		t.Fatalf("%d buffers kept, want %d", len(s.spare), shortFrames)
	}
	if !s.put(frame[:10], from) || len(s.q[0].b) != 10 || len(s.spare) != shortFrames-1 {
		t.Fatal("a frame after taking was not queued in a kept buffer")
	}
}
