package dev

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// The link state the handshake gives, from what the receiver knows.
func TestLinkStateOf(t *testing.T) {
	empty, a, b := DigestMFZID(nil), DigestMFZID([]byte("A")), DigestMFZID([]byte("B"))
	for _, tc := range []struct {
		name   string
		synced bool
		local  MFZDigest
		peer   *MFZDigest
		want   LinkState
	}{
		{"not synced, nothing heard", false, empty, nil, LinkDown},
		{"not synced, equal digest heard before", false, a, &a, LinkDown},
		{"synced, digest not yet heard", true, empty, nil, LinkUp},
		{"synced, both never set (empty)", true, empty, &empty, LinkMFM},
		{"synced, equal", true, a, &a, LinkMFM},
		{"synced, differ", true, a, &b, LinkUp},
		{"synced, one empty", true, empty, &a, LinkUp},
	} {
		if got := linkStateOf(tc.synced, tc.local, tc.peer); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDigestMFZID(t *testing.T) {
	if DigestMFZID(nil) != DigestMFZID([]byte{}) {
		t.Error("nil and empty identities differ")
	}
	// The digests notes/protocol.md gives: SHA-256's first 8 bytes.
	for id, want := range map[string]string{"": "e3b0c44298fc1c14", "A": "559aead08264d579"} {
		d := DigestMFZID([]byte(id))
		if got := unhex(t, want); !bytes.Equal(d[:], got) {
			t.Errorf("DigestMFZID(%q) = % x, want %s", id, d, want)
		}
	}
}

// mfmPacket is an MFM packet for link d of MFM type 2 (type 0 is the
// kernel's own handshake and never reaches user space).
func mfmPacket(t *testing.T, d packet.Dir, payload string) []byte {
	t.Helper()
	p, err := packet.AppendMFM(nil, d, false, false, append([]byte{0x40}, payload...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Two devices: equal identities give LinkMFM and MFM flows; different
// ones give LinkUp, MFM dropped and counted, services still flow; a
// change takes effect at once, not at the next periodic keepalive.
func TestUDPMFZIDHandshake(t *testing.T) {
	// Periodic keepalives far apart: after the first, only SetMFZID's
	// own can carry a new identity, so what follows shows it goes at once.
	a, b := udpPair(t, func(a, b *UDPConfig) {
		a.Keepalive, a.DownAfter = time.Minute, 2*time.Minute
		b.Keepalive, b.DownAfter = time.Minute, 2*time.Minute
	})
	state := func() (LinkState, LinkState) { return a.Status()[packet.ET], b.Status()[packet.WT] }
	waitFor(t, "both ends MFM-compatible (no identity set)", func() bool {
		sa, sb := state()
		return sa == LinkMFM && sb == LinkMFM
	})
	writeAll(t, b, mfmPacket(t, packet.WT, "atom"))
	if got := readTimeout(t, a); !bytes.Equal(got, mfmPacket(t, packet.ET, "atom")) {
		t.Fatalf("read % x", got)
	}

	if err := a.SetMFZID([]byte("A")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both ends up but not compatible", func() bool {
		sa, sb := state()
		return sa == LinkUp && sb == LinkUp
	})
	writeAll(t, b, mfmPacket(t, packet.WT, "lost"))
	writeAll(t, b, service(t, packet.WT, "svc"))
	if got := readTimeout(t, a); got[0]&packet.BitMFMT != 0 || !bytes.Equal(got[1:], service(t, packet.WT, "svc")[1:]) {
		t.Fatalf("read % x, want the service packet (the MFM one dropped)", got)
	}
	if n := a.Stats().Links[packet.ET].MFMIncompatible; n != 1 {
		t.Fatalf("MFMIncompatible %d, want 1", n)
	}
	// The other way too: a's MFM packet is sent and dropped by b.
	writeAll(t, a, mfmPacket(t, packet.ET, "lost"))
	writeAll(t, a, service(t, packet.ET, "svc"))
	if got := readTimeout(t, b); got[0]&packet.BitMFMT != 0 {
		t.Fatalf("b read % x, want the service packet", got)
	}
	if n := b.Stats().Links[packet.WT].MFMIncompatible; n != 1 {
		t.Fatalf("b: MFMIncompatible %d, want 1", n)
	}

	// b takes the same identity: compatible again, MFM flows.
	if err := b.SetMFZID([]byte("A")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "compatible again", func() bool {
		sa, sb := state()
		return sa == LinkMFM && sb == LinkMFM
	})
	writeAll(t, b, mfmPacket(t, packet.WT, "back"))
	if got := readTimeout(t, a); !bytes.Equal(got, mfmPacket(t, packet.ET, "back")) {
		t.Fatalf("read % x", got)
	}
	if n := a.Stats().Links[packet.ET].MFMIncompatible; n != 1 {
		t.Fatalf("MFMIncompatible %d, want still 1", n)
	}
}

func TestUDPSetMFZIDRefuses(t *testing.T) {
	u, _, _ := rawNeighbour(t, nil)
	if err := u.SetMFZID([]byte(strings.Repeat("x", MaxMFZID))); err != nil {
		t.Fatalf("%d bytes: %v", MaxMFZID, err)
	}
	err := u.SetMFZID([]byte(strings.Repeat("x", MaxMFZID+1)))
	if err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("%d bytes: %v", MaxMFZID+1, err)
	}
	u.Close()
	if err := u.SetMFZID(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// kaFrameID is a keepalive carrying the digest of identity id.
func kaFrameID(dir packet.Dir, epoch uint32, id string) []byte {
	d := DigestMFZID([]byte(id))
	return append(kaFrame(dir, epoch)[:frameBaseLen], d[:]...)
}

// The handshake against a neighbour that sends exactly what the test
// wants: the state follows the last digest heard, and a neighbour that
// restarted (new epoch) is not compatible until its keepalive says so.
func TestUDPMFZIDFromKeepalives(t *testing.T) {
	u, raw, to := rawNeighbour(t, nil)
	if err := u.SetMFZID([]byte("A")); err != nil {
		t.Fatal(err)
	}
	st := func() LinkState { return u.Status()[packet.ET] }
	send := func(b []byte) {
		t.Helper()
		if _, err := raw.WriteToUDPAddrPort(b, to); err != nil {
			t.Fatal(err)
		}
	}
	var seq uint16
	mfm := func(epoch uint32) []byte {
		seq++
		return pktFrame(packet.WT, epoch, seq, mfmPacket(t, packet.WT, "m")...)
	}
	svc := func(epoch uint32) []byte {
		seq++
		return pktFrame(packet.WT, epoch, seq, service(t, packet.WT, "s")...)
	}
	dropped := func() uint64 { return u.Stats().Links[packet.ET].MFMIncompatible }

	// Heard by a packet frame first: up, identity not yet checked.
	send(svc(1))
	readTimeout(t, u)
	if s := st(); s != LinkUp {
		t.Fatalf("after a packet frame: %v, want up", s)
	}
	send(kaFrameID(packet.WT, 1, "B"))
	send(mfm(1))
	send(svc(1))
	if got := readTimeout(t, u); got[0]&packet.BitMFMT != 0 || st() != LinkUp || dropped() != 1 {
		t.Fatalf("identity B: read % x, %v, %d dropped", got, st(), dropped())
	}
	send(kaFrameID(packet.WT, 1, "A"))
	waitFor(t, "compatible", func() bool { return st() == LinkMFM })
	send(mfm(1))
	if got := readTimeout(t, u); got[0]&packet.BitMFMT == 0 {
		t.Fatalf("identity A: read % x", got)
	}
	// The neighbour restarts: its first packet frame ends the handshake.
	send(mfm(2))
	send(svc(2))
	if got := readTimeout(t, u); got[0]&packet.BitMFMT != 0 || st() != LinkUp || dropped() != 2 {
		t.Fatalf("restarted: read % x, %v, %d dropped", got, st(), dropped())
	}
	send(kaFrameID(packet.WT, 2, "A"))
	waitFor(t, "compatible after the restart", func() bool { return st() == LinkMFM })
}
