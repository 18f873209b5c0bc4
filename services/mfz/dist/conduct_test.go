package dist

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// fakeID is the file id of a version no manifest exists for.
func fakeID(v int64) fileID {
	return fileID{0xFA, 0xCE, byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}
}

// A neighbour announcing ever-newer fake versions of a name (16k
// announcements) used to get a GET_MANIFEST for each, and was never
// struck: each announcement replaced the fetch of the one before with a
// fresh one, so no fetch ever timed out. A newer announcement now takes
// over the pending fetch (its start, deadline and silences): the GET_MANIFESTs
// go at the pace of the silence timer, and the neighbour is struck and then
// avoided like any neighbour that does not serve what it announces.
func TestAnnouncementFloodBounded(t *testing.T) {
	x := newHarness(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	v := int64(100)
	asks := 0
	struck := time.Duration(-1)
	x.runFor(30*time.Second, func() bool {
		for i := 0; i < 10 && v < 10100; i++ { // 10 000 in the first 10 s
			v++
			x.in(packet.ET, appendAnnounce(nil, 7, flagComplete, v, 1, 1, fakeID(v), "a.mfz"))
		}
		x.turn()
		asks += len(getManifests(x.h.take(t, packet.ET)))
		if struck < 0 && (n.strikes > 0 || n.avoided(x.l.now)) {
			struck = time.Duration(v-100) * time.Millisecond
		}
		return asks <= 1000
	})
	t.Logf("10 000 announcements: %d GET_MANIFESTs, first strike after %v, avoided %v", asks, struck, n.avoided(x.l.now))
	if asks > 20 {
		t.Fatalf("%d GET_MANIFESTs for 10 000 announcements of versions never served", asks)
	}
	if struck < 0 || struck >= 10*time.Second {
		t.Errorf("not struck while it announced (first strike after %v)", struck)
	}
	if !n.avoided(x.l.now) {
		t.Errorf("not avoided after 30 s of announcing what it does not serve (%d strikes)", n.strikes)
	}
}

// The same flood with a SYNC before each announcement (which voids the
// fetch asked of it) or a NOTHAVE "gone" after each GET_MANIFEST: fresh
// fetches from one neighbour that never delivers a manifest are rate
// limited too.
func TestAnnouncementFloodWithSyncOrGoneBounded(t *testing.T) {
	for _, how := range []string{"sync", "gone"} {
		x := newHarness(t, packet.ET)
		n := x.l.nbrs[packet.ET]
		v := int64(100)
		asks := 0
		x.runFor(10*time.Second, func() bool {
			for i := 0; i < 10; i++ {
				v++
				if how == "sync" {
					x.in(packet.ET, appendSync(nil, 0))
				}
				x.in(packet.ET, appendAnnounce(nil, 7, flagComplete, v, 1, 1, fakeID(v), "a.mfz"))
				x.turn()
				ms := getManifests(x.h.take(t, packet.ET))
				asks += len(ms)
				if how == "gone" {
					for range ms {
						x.in(packet.ET, appendNotHave(nil, 7, blockGone))
					}
				}
			}
			return asks <= 1000
		})
		t.Logf("%s: 10 000 announcements: %d GET_MANIFESTs, %d strikes, avoided %v", how, asks, n.strikes, n.avoided(x.l.now))
		if limit := 8 + 5 + 1; asks > limit {
			t.Fatalf("%s: %d GET_MANIFESTs in 10 s for versions never served, limit %d", how, asks, limit)
		}
		if how == "gone" && n.strikes == 0 && !n.avoided(x.l.now) {
			t.Errorf("gone: taking back every file asked for, for 10 s, earns no strike")
		}
	}
}

// A file a neighbour announced and took back (NOTHAVE "gone") before its
// manifest came, with nothing newer of the name announced, used to strike
// the neighbour each time: an honest one whose file was removed by hand,
// or that gave the handle to another file, was struck for it. One such
// vanish is nobody's fault (the fetch tokens bound what it costs); only
// t.vanishes of them within t.vanishWindow strike.
func TestOneVanishedFileIsNoStrike(t *testing.T) {
	x := newHarness(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	vanish := func(v int64, name string) {
		t.Helper()
		x.in(packet.ET, appendAnnounce(nil, 7, flagComplete, v, 1, 1, fakeID(v), name))
		x.turn()
		if ms := getManifests(x.h.take(t, packet.ET)); len(ms) != 1 {
			t.Fatalf("%s: %d GET_MANIFESTs for its announcement", name, len(ms))
		}
		x.in(packet.ET, appendNotHave(nil, 7, blockGone))
		x.runFor(time.Second, func() bool { return true })
		if len(x.l.fetches) != 0 {
			t.Fatalf("%s: the fetch of a file taken back is kept", name)
		}
	}
	vanish(1, "a.mfz")
	if n.strikes != 0 {
		t.Fatalf("one file taken back: %d strikes", n.strikes)
	}
	x.runFor(2*time.Minute, func() bool { return true })
	vanish(2, "b.mfz")
	vanish(3, "c.mfz")
	if n.strikes != 0 {
		t.Fatalf("one file taken back 2 minutes after another, then one more: %d strikes", n.strikes)
	}
	vanish(4, "d.mfz") // the third within a minute
	if n.strikes != 1 {
		t.Fatalf("three files taken back within a minute: %d strikes, want 1", n.strikes)
	}
}

// A neighbour that serves the manifest but no blocks used to keep the
// blocks it was asked for until it was avoided (8 s for a 300 KB file),
// while another neighbour held them all. Blocks of a neighbour silent past
// its timeout now go to another that holds them and has room, at once.
func TestSilentNeighbourBlocksGoElsewhere(t *testing.T) {
	for _, silent := range []packet.Dir{packet.ET, packet.SE} {
		other := packet.SE
		if silent == packet.SE {
			other = packet.ET
		}
		x := newHarness(t, packet.ET, packet.SE)
		sf := x.pack("a.mfz", 1, 300_000, 8192)
		f := x.receiving(sf, silent, 9)
		x.announceFile(other, 5, sf)
		x.turn()
		took := x.runFor(10*time.Second, func() bool {
			x.h.take(t, silent) // asked, never answered
			x.serveAll(other, 5, sf)
			return f.nhave < f.blocks
		})
		t.Logf("silent %v: %d blocks in %v, %d from the silent one, %d reassigned", silent, f.blocks, took,
			f.sources[silent].Blocks, x.l.counters.Reassigned)
		if f.nhave < f.blocks {
			t.Fatalf("silent %v: %d of %d blocks after 10 s", silent, f.nhave, f.blocks)
		}
		if took > 1500*time.Millisecond {
			t.Errorf("silent %v: the file took %v with another neighbour holding it", silent, took)
		}
		if n := x.l.nbrs[other]; n.strikes != 0 || n.avoided(x.l.now) {
			t.Errorf("silent %v: the neighbour that served it has %d strikes", silent, n.strikes)
		}
		x.waitDone(f)
	}
}
