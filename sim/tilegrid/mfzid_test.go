package tilegrid

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// Two regions of other physics: t-0-0 and t-1-0 are "A", t-2-0 is "B".
// Every link goes live, but only A-A is MFM-compatible: an MFM packet
// crosses it and not the A-B link, while services cross both. Giving
// t-2-0 "A" at run time makes A-B compatible within a second or so.
func TestGridMFZIDRegions(t *testing.T) {
	cfg := testConfig(t, 3, 1)
	cfg.MFZID = func(c Coord) string {
		if c.X < 2 {
			return "A"
		}
		return "B"
	}
	g := newGrid(t, cfg)
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}
	want := func(a, b, c dev.LinkState) func() bool {
		return func() bool {
			s := g.Snapshot()
			return s[0].Device != nil && s[1].Device != nil && s[2].Device != nil &&
				s[0].Device[packet.ET] == a && s[1].Device[packet.WT] == a &&
				s[1].Device[packet.ET] == b && s[2].Device[packet.WT] == c
		}
	}
	if err := g.WaitFor(patience, "A-A compatible, A-B up only", want(dev.LinkMFM, dev.LinkUp, dev.LinkUp)); err != nil {
		t.Fatal(err, g.Snapshot()[1].Device)
	}
	snap := g.Snapshot()
	if snap[2].MFZID != "B" || g.Tile(Coord{2, 0}).MFZID != "B" {
		t.Errorf("t-2-0's identity %q", snap[2].MFZID)
	}
	if b, err := os.ReadFile(filepath.Join(g.Dir(), "grid.json")); err != nil || !strings.Contains(string(b), `"mfzid": "B"`) {
		t.Errorf("grid.json without t-2-0's identity: %v\n%s", err, b)
	}
	if ok, known := snap[1].Compatible(packet.ET); ok || !known {
		t.Errorf("t-1-0 ET: compatible %v, known %v", ok, known)
	}
	var pic strings.Builder
	WriteText(&pic, g.Geometry(), snap, false)
	if !strings.Contains(pic.String(), "t-0-0 -     - t-1-0 #     # t-2-0") {
		t.Errorf("picture:\n%s", pic.String())
	}

	m0, m1, m2 := dialMFM(t, g, Coord{0, 0}), dialMFM(t, g, Coord{1, 0}), dialMFM(t, g, Coord{2, 0})
	// t-1-0 sends to B first, then to A: once A has its packet, B's
	// was sent before it.
	waitDaemonMFM(t, g, Coord{1, 0}, packet.WT, true)
	sendMFM(t, m1, packet.ET, "to-B")
	sendMFM(t, m1, packet.WT, "to-A")
	if p := readMFM(t, m0, patience); p == nil || string(p.Payload) != "to-A" {
		t.Fatalf("t-0-0 read %+v", p)
	}
	if p := readMFM(t, m2, time.Second); p != nil {
		t.Fatalf("t-2-0 (other physics) read %+v", p)
	}
	// Services still cross the A-B link: it stays live throughout.
	if err := g.WaitAllLive(patience); err != nil {
		t.Fatal(err)
	}

	// t-2-0 takes A's physics, as mfmt2 gives it: on mfm.sock.
	if _, err := m2.Write([]byte("MFZID A")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, packet.MaxLen)
	m2.SetReadDeadline(time.Now().Add(patience))
	for {
		n, err := m2.Read(buf)
		if err != nil {
			t.Fatalf("no answer to MFZID A: %v", err)
		}
		if strings.HasPrefix(string(buf[:n]), "ok MFZID A") {
			break
		}
	}
	if err := g.WaitFor(patience, "all compatible", want(dev.LinkMFM, dev.LinkMFM, dev.LinkMFM)); err != nil {
		t.Fatal(err)
	}
	// The devices agree; t-1-0's daemon sends MFM on ET once it has also
	// heard t-2-0's hello with the new identity (an emulated tile takes
	// a while): until then it holds packets back and counts them.
	waitDaemonMFM(t, g, Coord{1, 0}, packet.ET, true)
	sendMFM(t, m1, packet.ET, "now")
	if p := readMFM(t, m2, patience); p == nil || string(p.Payload) != "now" {
		t.Fatalf("t-2-0 read %+v", p)
	}
}

func TestGridMFZIDRefused(t *testing.T) {
	cfg := testConfig(t, 1, 1)
	cfg.MFZID = func(Coord) string { return strings.Repeat("x", dev.MaxMFZID+1) }
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "at most 100") {
		t.Fatalf("too long: %v", err)
	}
}

func dialMFM(t *testing.T, g *Grid, c Coord) *net.UnixConn {
	t.Helper()
	path := filepath.Join(g.Tile(c).RunDir, control.MFMSocket)
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	// The daemon takes the client and sends it a connect event for each
	// live neighbour: once one is read, MFM packets reach the client.
	conn.SetReadDeadline(time.Now().Add(patience))
	if _, err := conn.Read(make([]byte, packet.MaxLen)); err != nil {
		t.Fatalf("%s: no Tile Event on mfm.sock: %v", c.Name(), err)
	}
	return conn
}

func sendMFM(t *testing.T, c *net.UnixConn, d packet.Dir, payload string) {
	t.Helper()
	p, err := packet.AppendMFM(nil, d, false, false, []byte(payload))
	if err == nil {
		_, err = c.Write(p)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// readMFM returns the next MFM packet from an mfm.sock connection,
// skipping Tile Event Packets, or nil if none comes within wait.
func readMFM(t *testing.T, c *net.UnixConn, wait time.Duration) *packet.Packet {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, packet.MaxLen)
	for {
		n, err := c.Read(buf)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if p, err := packet.Decode(buf[:n]); err == nil && p.Kind == packet.KindMFM {
			p.Payload = append([]byte(nil), p.Payload...)
			return &p
		}
	}
}

// waitDaemonMFM waits until tile c's daemon counts its link d MFM-compatible
// (or not): it sends MFM packets on d only then.
func waitDaemonMFM(t *testing.T, g *Grid, c Coord, d packet.Dir, want bool) {
	t.Helper()
	err := g.WaitFor(patience, fmt.Sprintf("%s's daemon: %v MFM-compatible %v", c.Name(), d, want), func() bool {
		st, err := g.Status(c)
		if err != nil {
			return false
		}
		for _, l := range st.Links {
			if l.Dir == d {
				return l.MFMCompatible == want
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
}
