package daemon

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/buildinfo"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// Which hellos carry this tile's version, and what status shows of each
// neighbour's: a daemon without a digest sends it only to a neighbour
// whose hellos say it reads the flags byte (version 2), so an older one
// never takes 4 zero bytes for a digest.
func TestHelloBuildPerNeighbour(t *testing.T) {
	dm, err := New(testConfig(t), Options{Device: newStuckDevice(), Logger: testLogger(), Build: "v9.9-test\x01"})
	if err != nil {
		t.Fatal(err)
	}
	const sent = "v9.9-test?" // buildinfo.Wire of the Options.Build
	now := time.Now()
	if h := dm.helloFor(packet.ET, now); h.HasBuild || h.HasMFZDigest {
		t.Fatalf("hello to a link with no tile yet: %+v; want neither digest nor version", h)
	}
	hellos := []struct {
		dir   packet.Dir
		h     Hello
		label string // status's PeerBuild
		gets  bool   // our hellos to it carry our version
	}{
		{packet.ET, Hello{Version: 1, Tile: p2p.TileID{1}, TS: 1, MFZDigest: [4]byte{1, 2, 3, 4}, HasMFZDigest: true}, BuildUnknown, false},
		{packet.NE, Hello{Version: 2, Tile: p2p.TileID{2}, TS: 1, Build: "v1.0", HasBuild: true}, "v1.0", true},
		{packet.SE, Hello{Version: 2, Tile: p2p.TileID{3}, TS: 1, Build: "\x01", HasBuild: true}, BuildInvalid, true},
		{packet.WT, Hello{Version: 2, Tile: p2p.TileID{4}, TS: 1}, BuildUnknown, true},
	}
	for _, tc := range hellos {
		dm.nbr.heard(dm, tc.dir, AppendHello(nil, tc.h))
	}
	st := dm.Status()
	if st.Build != sent {
		t.Errorf("status itcd_version %q, want %q", st.Build, sent)
	}
	for _, tc := range hellos {
		for _, l := range st.Links {
			if l.Dir == tc.dir && l.PeerBuild != tc.label {
				t.Errorf("%v: status peer_itcd_version %q, want %q", tc.dir, l.PeerBuild, tc.label)
			}
		}
		h := dm.helloFor(tc.dir, now)
		if h.HasBuild != tc.gets || tc.gets && h.Build != sent || h.HasMFZDigest || h.Sealed != tc.gets {
			t.Errorf("%v: our hello %+v; want version %v", tc.dir, h, tc.gets)
		}
	}
	// Gone: the link's version goes with the tile.
	dm.disconnect(packet.NE)
	for _, l := range dm.Status().Links {
		if l.Dir == packet.NE && l.PeerBuild != "" {
			t.Errorf("NE after disconnect: peer_itcd_version %q, want none", l.PeerBuild)
		}
	}
	// Its hellos to this tile may only have been lost: it still reads
	// the flags, and takes only sealed hellos from this tile.
	if h := dm.helloFor(packet.NE, now); !h.HasBuild || !h.Sealed {
		t.Errorf("hello to a link whose tile timed out: %+v; want version and seal", h)
	}
	// Down: another tile, perhaps older, may come up on the link.
	dm.nbr.mu.Lock()
	dm.applyLocked(packet.NE, dm.nbr.n[packet.NE].step(input{kind: inLinkDown}, now, dm.nbr.rules))
	dm.nbr.mu.Unlock()
	if h := dm.helloFor(packet.NE, now); h.HasBuild || h.Sealed {
		t.Errorf("hello to a link that went down carries the version: %+v", h)
	}
	// With a digest every hello carries the version: old daemons read
	// bytes 34..37 as the digest they are.
	dm.phys.mu.Lock()
	dm.phys.digest = digestOf([]byte("physics"))
	dm.phys.mu.Unlock()
	if h := dm.helloFor(packet.ET, now); !h.HasBuild || !h.HasMFZDigest || h.Build != sent || !h.Sealed {
		t.Errorf("hello with a digest to an old daemon: %+v; want digest and version", h)
	}
}

// Two daemons over a pipe (no physics identity, so no digests) learn each
// other's version within a few hellos.
func TestNeighboursShowVersion(t *testing.T) {
	a, b := dev.Pipe(packet.ET, 64)
	ra := startDaemon(t, testConfig(t), a)
	startDaemon(t, testConfig(t), b)
	want := buildinfo.Wire(buildinfo.Read().Version)
	eventually(t, "ET shows the neighbour's itcd version", func() bool {
		for _, l := range ra.Status().Links {
			if l.Dir == packet.ET {
				return l.PeerBuild == want
			}
		}
		return false
	})
}

// The failure that made the seal: a neighbour's hello whose uptime a
// flipped bit raised from 1 to 33, then its next true hello. Unsealed,
// the pair reads as a restart (a disconnect and a connect of every
// service); sealed, the damaged hello is bad and nothing happens.
func TestDamagedHelloIsNoRestart(t *testing.T) {
	dm, err := New(testConfig(t), Options{Device: newStuckDevice(), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	h := Hello{Version: ProtocolVersion, Tile: p2p.TileID{7}, Uptime: 1, TS: 1000, Build: "v1", HasBuild: true, Sealed: true}
	first := AppendHello(nil, h)
	damaged := append([]byte(nil), first...)
	damaged[13] ^= 0x20 // uptime 1 -> 33
	h.TS = 1250
	next := AppendHello(nil, h)
	for _, b := range [][]byte{first, damaged, next} {
		dm.nbr.heard(dm, packet.ET, b)
	}
	for _, l := range dm.Status().Links {
		if l.Dir == packet.ET && (l.Connects != 1 || l.BadHellos != 1 || l.Hellos != 2) {
			t.Fatalf("ET: %d connects, %d bad hellos, %d hellos; want 1, 1, 2", l.Connects, l.BadHellos, l.Hellos)
		}
	}
}
