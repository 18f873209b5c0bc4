package hostile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/emulation"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// The standing attack suite: real tiles, a hostile neighbour on a link of
// one of them, and the invariants that must hold whatever it sends: the
// daemon keeps running within bounded memory, its honest neighbours stay
// live throughout and keep talking, and what it drops it counts.

var (
	tileA = tilegrid.Coord{X: 0, Y: 0}
	tileB = tilegrid.Coord{X: 1, Y: 0}
)

// floodRate paces the floods: fast enough to be a flood (40 times a busy
// T2 link's packet rate), slow enough that the tiles' shared UDP socket is
// not simply overrun on a loaded test machine, which would test the
// kernel's buffers instead of the daemon. Under emulation (make arm-test)
// it is a tenth of that, still 4 times a busy link: emulated tiles keep
// their honest links live through it as native ones do through the full
// rate.
var floodRate = emulation.Rate(10000)

// Twenty thousand datagrams of garbage and of valid frames carrying
// absurd packets at tile A's WT link: A keeps running within bounded
// memory, its honest neighbour B stays live throughout on both ends, the
// counter service still carries B's value to A afterwards, and what A
// dropped it counted: malformed datagrams, suspect packets, packets for
// services nobody runs, malformed counter and service 8 messages.
func TestAttackFlood(t *testing.T) {
	a := newArena(t, 2, 1, dev.LinkProfile{Rate: tilegrid.DefaultRate}, attacker{at: tileA, dir: packet.WT})
	x := a.nb[0]
	before := a.status(tileA)
	heap0, g0 := heap()
	mark := a.g.Mark()
	stop := watch(a.honestOK)

	n, err := x.Flood(a.ctx, hostile.Flood{Gen: hostile.Garbage(300), Count: 10000, Rate: floodRate, Seed: 1})
	if err != nil || n != 10000 {
		t.Fatalf("garbage flood: %d sent, %v", n, err)
	}
	n, err = x.Flood(a.ctx, hostile.Flood{Gen: hostile.Absurd(), Count: 10000, Rate: floodRate, Seed: 2})
	if err != nil || n != 10000 {
		t.Fatalf("absurd flood: %d sent, %v", n, err)
	}
	if err := stop(); err != nil {
		t.Errorf("during the flood: %v", err)
	}
	a.alive()
	a.noHonestDisconnect(mark)
	if err := a.honestOK(); err != nil {
		t.Error(err)
	}
	a.checkBounded(heap0, g0)

	// A reads what is still queued; poll until it has counted it all.
	var after control.Status
	var was, is control.LinkStatus
	var dc dist.Counters
	counted := func() error {
		after = a.status(tileA)
		was, is = link(before, packet.WT), link(after, packet.WT)
		dc0 := distOf(before).Counters
		dc = distOf(after).Counters
		for _, c := range []struct {
			what          string
			before, after uint64
			atLeast       uint64
		}{
			{"malformed datagrams (BadDatagram)", before.DeviceStats.BadDatagram, after.DeviceStats.BadDatagram, 1000},
			{"suspect packets", was.Suspect, is.Suspect, 50},
			{"packets for services nobody runs", was.Unowned, is.Unowned, 500},
			{"malformed counter messages", counterOf(before).Malformed, counterOf(after).Malformed, 500},
			{"service 8 messages malformed, damaged or of no type",
				dc0.Malformed + dc0.CRCErrors + dc0.Unknown, dc.Malformed + dc.CRCErrors + dc.Unknown, 1000},
		} {
			if c.after-c.before < c.atLeast {
				return fmt.Errorf("%s: %d -> %d, want at least %d more", c.what, c.before, c.after, c.atLeast)
			}
		}
		return nil
	}
	var last error
	if a.g.WaitFor(10*time.Second, "A counted what it dropped", func() bool { last = counted(); return last == nil }) != nil {
		t.Error(last)
	}
	t.Logf("A's WT after the flood: %+v; device %+v; dist %+v", is, after.DeviceStats.Links[packet.WT], dc)

	// The honest link still carries service traffic: B's counter reaches A.
	a.counterReaches(tileB, tileA, packet.ET, 4242)
}

// Hellos on the attacker's link that claim other identities (a new one
// each time, and the identities of A and of its honest neighbour B) do
// not touch the honest link: B stays live at A as itself, connected once,
// and the counter service still carries values both ways.
func TestAttackForgedHellos(t *testing.T) {
	a := newArena(t, 2, 1, dev.LinkProfile{Rate: tilegrid.DefaultRate}, attacker{at: tileA, dir: packet.WT})
	x := a.nb[0]
	idA, idB := a.status(tileA).Tile, a.status(tileB).Tile
	heap0, g0 := heap()
	mark := a.g.Mark()
	stop := watch(a.honestOK)

	n, err := x.Flood(a.ctx, hostile.Flood{Gen: hostile.ForgedHellos(), Count: 2000, Rate: emulation.Rate(4000), Seed: 3})
	if err != nil || n != 2000 {
		t.Fatalf("forged hellos: %d sent, %v", n, err)
	}
	// Now the attacker claims to be B, then A, for a while each, in
	// hellos as good as theirs.
	for _, id := range []p2p.TileID{idB, idA, idB} {
		x.SetTile(id)
		for range 20 {
			if err := x.SendHello(x.Hello()); err != nil {
				t.Fatal(err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := stop(); err != nil {
		t.Errorf("during the forgery: %v", err)
	}
	a.alive()
	a.noHonestDisconnect(mark)
	if err := a.honestOK(); err != nil {
		t.Error(err)
	}
	a.checkBounded(heap0, g0)
	a.counterReaches(tileB, tileA, packet.ET, 31)
	a.counterReaches(tileA, tileB, packet.WT, -5)
}

// counterReaches writes v into the counter file of the tile at from and
// waits until the tile at to holds v from it on link d.
func (a *arena) counterReaches(from, to tilegrid.Coord, d packet.Dir, v int64) {
	a.t.Helper()
	id := a.status(from).Tile
	path := filepath.Join(a.g.Tile(from).StateDir, "counter")
	if err := os.WriteFile(path, []byte(strconv.FormatInt(v, 10)+"\n"), 0o644); err != nil {
		a.t.Fatal(err)
	}
	err := a.g.WaitFor(10*time.Second, "counter value across the honest link", func() bool {
		st, err := a.g.Status(to)
		if err != nil {
			return false
		}
		for _, nv := range counterOf(st).Neighbours {
			if nv.Dir == d && nv.Tile == id && nv.Value == v {
				return true
			}
		}
		return false
	})
	if err != nil {
		a.t.Fatalf("%v (%v holds %+v)", err, to, counterOf(a.status(to)).Neighbours)
	}
}

// A neighbour that said hello with a new identity on every packet (14k a
// second) once made a connect and a disconnect of each, for every service
// and client, and wrote 98 MB of log in 20 s. Now the first identity
// holds the link for identity_hold, the rest are counted, and every line
// the tile writes is rate-limited: ten thousand forged hellos cost tile A
// a few lines of log, and its honest neighbour never notices.
func TestAttackIdentityFloodBoundsTheLog(t *testing.T) {
	a := newArena(t, 2, 1, dev.LinkProfile{Rate: tilegrid.DefaultRate}, attacker{at: tileA, dir: packet.WT})
	x := a.nb[0]
	logPath := filepath.Join(a.g.Tile(tileA).Dir, "itcd.log")
	size0 := fileSize(t, logPath)
	was := link(a.status(tileA), packet.WT)
	mark := a.g.Mark()
	stop := watch(a.honestOK)

	const hellos = 10000
	n, err := x.Flood(a.ctx, hostile.Flood{Gen: hostile.ForgedHellos(), Count: hellos, Rate: floodRate, Seed: 4})
	if err != nil || n != hellos {
		t.Fatalf("forged hellos: %d sent, %v", n, err)
	}
	err = a.g.WaitFor(10*time.Second, "A counted the forged identities", func() bool {
		st, err := a.g.Status(tileA)
		return err == nil && link(st, packet.WT).IdentityRefused-was.IdentityRefused >= hellos*9/10
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Errorf("during the flood: %v", err)
	}
	a.alive()
	a.noHonestDisconnect(mark)
	is := link(a.status(tileA), packet.WT)
	// The liveness deadline may end the attacker's first identity while
	// its hellos are ignored, and let the next connect: a few, not 10k.
	if c := is.Connects - was.Connects; c > 4 {
		t.Errorf("%d connects on the attacker's link for %d identities", c, hellos)
	}
	if grew := fileSize(t, logPath) - size0; grew > 32<<10 {
		t.Errorf("tile A's log grew %d bytes for %d forged hellos", grew, hellos)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
