//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"bytes"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// TestRouting writes packets on tile a and checks where they land on b
// (a's ET is b's WT): service traffic by byte 1 bit 7, MFM only while
// compatible and never the handshake's type 0, nothing shorter than two
// bytes. DIR arrives rewritten to WT.
func TestRouting(t *testing.T) {
	_, a, b := pair(t, itcmodel.Config{})
	// Both tiles give the same mfzid from one thread, which then opens
	// the MFM devices: the link is compatible.
	var aMFM, bMFM int
	onThread(func(int) {
		for _, tile := range []*itcmodel.Tile{a, b} {
			if err := writeMFZID(tile, "same"); err != nil {
				t.Error(err)
			}
		}
		aMFM = openOn(t, a.DevPath("mfm/ET"), unix.O_RDWR|unix.O_NONBLOCK)
		bMFM = openOn(t, b.DevPath("mfm/WT"), unix.O_RDWR|unix.O_NONBLOCK)
	})
	if !b.Compatible(packet.WT) {
		t.Fatal("link not compatible after equal mfzids")
	}
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	bBulk := open(t, b.DevPath("bulk"), unix.O_RDWR|unix.O_NONBLOCK)
	bFlash := open(t, b.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	dests := map[string]int{"bulk": bBulk, "flash": bFlash, "mfm/WT": bMFM}
	tests := []struct {
		name string
		via  int
		p    []byte
		to   string // "" for nowhere
	}{
		{"service, byte 1 bit 7 set", aFlash, []byte{0x82, 0x81, 'x'}, "bulk"},
		{"service, byte 1 bit 7 clear (every 63-service packet)", aFlash, []byte{0x82, 0x08, 'x'}, "flash"},
		{"service written to an MFM device", aMFM, []byte{0x82, 0x08, 'y'}, "flash"},
		{"MFM type 1", aMFM, []byte{0xA2, 0x20, 'm'}, "mfm/WT"},
		{"MFM type 7 written to flash", aFlash, []byte{0xA2, 0xE0, 'm'}, "mfm/WT"},
		{"MFM type 0 is the kernel's handshake", aMFM, []byte{0xA2, 0x1F, 'k'}, ""},
		{"1 byte: the receiver ignores it", aFlash, []byte{0x82}, ""},
		{"overrun and error bits pass", aFlash, []byte{0x9A, 0x81, 'o'}, "bulk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			write(t, tc.via, tc.p)
			for name, fd := range dests {
				if name != tc.to {
					expectEmpty(t, fd)
					continue
				}
				got := readPacket(t, fd)
				want := bytes.Clone(tc.p)
				want[0] = want[0]&^7 | byte(packet.WT)
				if !bytes.Equal(got, want) {
					t.Fatalf("%s got % x, want % x", name, got, want)
				}
			}
		})
	}
}

// TestMFMDroppedWhenIncompatible: with different mfzids MFM traffic is
// dropped at the receiver (and counted as received), service traffic
// still flows, and writing MFM still succeeds at the sender.
func TestMFMDroppedWhenIncompatible(t *testing.T) {
	_, a, b := pair(t, itcmodel.Config{})
	var aMFM, bMFM int
	onThread(func(int) {
		if writeMFZID(a, "one") != nil || writeMFZID(b, "two") != nil {
			t.Error("mfzid write failed")
		}
		aMFM = openOn(t, a.DevPath("mfm/ET"), unix.O_RDWR|unix.O_NONBLOCK)
		bMFM = openOn(t, b.DevPath("mfm/WT"), unix.O_RDWR|unix.O_NONBLOCK)
	})
	before := statistics(t, b)[packet.WT]["mfmprcvd"]
	write(t, aMFM, []byte{0xA2, 0x20, 'm'})
	expectEmpty(t, bMFM)
	if got := statistics(t, b)[packet.WT]["mfmprcvd"]; got != before+1 {
		t.Errorf("mfmprcvd %d, want %d: a dropped packet still counts as received", got, before+1)
	}
	bFlash := open(t, b.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	write(t, aMFM, []byte{0x82, 0x01, 's'})
	readPacket(t, bFlash)
}

// TestInjectedPackets: what the PRU hands up that is not routed traffic.
func TestInjectedPackets(t *testing.T) {
	_, a, _ := pair(t, itcmodel.Config{})
	pru1 := open(t, a.DevPath("pru/1"), unix.O_RDWR|unix.O_NONBLOCK)
	a.Inject(1, []byte("Hello from PRU1"))
	if got := string(readPacket(t, pru1)); got != "Hello from PRU1" {
		t.Fatalf("pru/1 read %q", got)
	}
	a.Inject(0, []byte{0xC1, 'd', 'b', 'g'}) // debug text: logged by the module only
	a.Inject(0, []byte{0xC4, 1, 2})          // a TEP: the shipped module never delivers one
	a.Inject(0, []byte{'x'})                 // one byte: ignored
	for _, dev := range []string{"pru/0", "bulk", "flash"} {
		if n := a.Queued(dev); n != 0 {
			t.Errorf("%s holds %d packets, want none", dev, n)
		}
	}
	// A framing error report on ET ('F', PRU 0, link 0) takes it down.
	a.Inject(0, []byte{0xC3, 'F', '0', '0', '0', ':'})
	if n := a.Nibble(packet.ET); n != 0 {
		t.Fatalf("ET nibble %d after a framing error, want 0", n)
	}
	if got := statistics(t, a)[packet.ET]["sfan"]; got != 1 {
		t.Errorf("sfan %d, want 1", got)
	}
	a.Inject(0, []byte{0xC3, 'P', '0', '0', '0', ':'})
	if n := a.Nibble(packet.ET); n != 2 {
		t.Fatalf("ET nibble %d after packet sync again, want 2 (both ends never wrote mfzid)", n)
	}
}

// TestPulledLink: status 0 at both ends, writes EHOSTUNREACH, packets
// queued when the cable goes are lost, and the link comes back.
func TestPulledLink(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	bBulk := open(t, b.DevPath("bulk"), unix.O_RDWR|unix.O_NONBLOCK)
	a.StallPRU(0, true)
	write(t, aFlash, []byte{0x82, 0x81, 'q'}) // queued behind the stalled PRU
	if err := m.SetLink(a, packet.ET, false); err != nil {
		t.Fatal(err)
	}
	a.StallPRU(0, false)
	if got := readFile(t, a.SysPath("status")) + readFile(t, b.SysPath("status")); got != "00000000\n00000000\n" {
		t.Fatalf("status after pulling the link: %q", got)
	}
	if _, err := unix.Write(aFlash, []byte{0x82, 0x81, 'r'}); err != unix.EHOSTUNREACH {
		t.Fatalf("write on a pulled link: %v, want EHOSTUNREACH", err)
	}
	if s := statistics(t, b)[packet.WT]; s["toan"] != 1 || s["psan"] != 1 {
		t.Errorf("b WT toan %d psan %d, want 1 1", s["toan"], s["psan"])
	}
	if err := m.SetLink(b, packet.WT, true); err != nil {
		t.Fatal(err)
	}
	write(t, aFlash, []byte{0x82, 0x81, 's'})
	if got := readPacket(t, bBulk); got[2] != 's' {
		t.Fatalf("after the link came back b read % x, want the packet sent after it", got)
	}
	expectEmpty(t, bBulk)
}

func TestLinkErrors(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	c, _ := m.Tile("c")
	for _, err := range []error{
		m.Link(a, packet.ET, c),        // a's ET taken
		m.Link(c, packet.ET, b),        // b's WT taken
		m.Link(a, packet.NT, c),        // no such link
		m.Link(a, packet.SE, a),        // a tile to itself
		m.SetLink(c, packet.SE, false), // never joined
	} {
		if err == nil {
			t.Error("no error")
		}
	}
	if _, err := m.Tile("bad/name"); err == nil || !strings.Contains(err.Error(), "bad/name") {
		t.Errorf("bad tile name: %v", err)
	}
	if again, _ := m.Tile("a"); again != a {
		t.Error("Tile with an existing name made a new tile")
	}
}
