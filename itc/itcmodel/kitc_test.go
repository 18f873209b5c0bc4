//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// TestHandshakeStates walks one link through the handshake's states, as
// the status nibble (both ends) and MFM delivery see them.
func TestHandshakeStates(t *testing.T) {
	m, a, b := pair(t, itcmodel.Config{})
	type want struct {
		nibble     int
		compatible bool
	}
	check := func(step string, w want) {
		t.Helper()
		for _, e := range []struct {
			t *itcmodel.Tile
			d packet.Dir
		}{{a, packet.ET}, {b, packet.WT}} {
			if n, c := e.t.Nibble(e.d), e.t.Compatible(e.d); n != w.nibble || c != w.compatible {
				t.Errorf("%s: %s %v nibble %d compatible %v, want %d %v", step, e.t.Name(), e.d, n, c, w.nibble, w.compatible)
			}
		}
	}
	steps := []struct {
		name string
		do   func() error
		want want
	}{
		{"linked, neither wrote mfzid: equal empty ids", func() error { return nil }, want{2, true}},
		{"a writes x: incompatible, but 2 is never lowered to 1", func() error { return writeMFZID(a, "x") }, want{2, false}},
		{"b writes x too", func() error { return writeMFZID(b, "x") }, want{2, true}},
		{"b writes y", func() error { return writeMFZID(b, "y") }, want{2, false}},
		{"link pulled", func() error { return m.SetLink(a, packet.ET, false) }, want{0, false}},
		{"link back, ids differ: 1", func() error { return m.SetLink(a, packet.ET, true) }, want{1, false}},
		{"a writes y: 1 -> 2", func() error { return writeMFZID(a, "y") }, want{2, true}},
		{"a writes y again: still equal", func() error { return writeMFZID(a, "y") }, want{2, true}},
		{"b writes y with a newline: differs", func() error { return writeMFZID(b, "y\n") }, want{2, false}},
		{"b writes y and a NUL: cut at the NUL", func() error { return writeMFZID(b, "y\x00tail") }, want{2, true}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		check(s.name, s.want)
	}
	if got := readFile(t, a.SysPath("status")); got != "00000200\n" {
		t.Errorf("a status %q", got)
	}
	if got := readFile(t, b.SysPath("status")); got != "02000000\n" {
		t.Errorf("b status %q", got)
	}
}

// TestHandshakeTakesTime: with a HandshakeDelay a fresh link reads 1 and
// drops MFM traffic until the handshake completes.
func TestHandshakeTakesTime(t *testing.T) {
	_, a, b := pair(t, itcmodel.Config{HandshakeDelay: time.Hour})
	if a.Nibble(packet.ET) != 1 || b.Nibble(packet.WT) != 1 || b.Compatible(packet.WT) {
		t.Fatalf("before the handshake: nibbles %d %d compatible %v, want 1 1 false",
			a.Nibble(packet.ET), b.Nibble(packet.WT), b.Compatible(packet.WT))
	}
	var bMFM int
	onThread(func(int) {
		// Equal ids: what drops MFM below is the unfinished handshake.
		if writeMFZID(a, "z") != nil || writeMFZID(b, "z") != nil {
			t.Error("mfzid write failed")
		}
		bMFM = openOn(t, b.DevPath("mfm/WT"), unix.O_RDWR|unix.O_NONBLOCK)
	})
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	write(t, aFlash, []byte{0xA2, 0x20, 'm'})
	expectEmpty(t, bMFM)

	_, c, d := pair(t, itcmodel.Config{HandshakeDelay: 20 * time.Millisecond})
	waitFor(t, "handshake done", func() bool { return c.Compatible(packet.ET) && d.Compatible(packet.WT) })
	if c.Nibble(packet.ET) != 2 || d.Nibble(packet.WT) != 2 {
		t.Fatalf("after the handshake: nibbles %d %d, want 2 2", c.Nibble(packet.ET), d.Nibble(packet.WT))
	}
}
