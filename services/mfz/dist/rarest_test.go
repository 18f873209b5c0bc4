package dist

import (
	"math/rand"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// rarestSetup makes a loop receiving a file of blocks 1 KiB blocks: ET
// holds all of it, SE the even blocks, WT those below blocks/2; this tile
// holds every fourth block from blocks/4 on.
func rarestSetup(t testing.TB, blocks int) (*harness, *file, *nbr, *rfile) {
	x := newHarness(t, packet.ET, packet.SE, packet.WT)
	sf := x.pack("a.mfz", 1, blocks*1024, 1024)
	f := x.receiving(sf, packet.ET, 9)
	x.in(packet.SE, appendAnnounce(nil, 4, 0, sf.m.Version, f.blocks, f.blocks/2, sf.id, sf.m.Name))
	even := mfz.NewBitmap(f.blocks)
	for b := 0; b < f.blocks; b += 2 {
		even.Set(b)
	}
	x.in(packet.SE, appendBitfield(nil, 4, 0, even))
	x.in(packet.WT, appendAnnounce(nil, 5, 0, sf.m.Version, f.blocks, f.blocks/2, sf.id, sf.m.Name))
	x.in(packet.WT, appendHave(nil, 5, f.blocks/2, nil))
	for b := f.blocks / 4; b < f.blocks; b += 4 {
		f.have.Set(b)
		f.nhave++
	}
	n := x.l.nbrs[packet.ET]
	return x, f, n, n.byFid[sf.id]
}

// rarest picks only blocks that are missing, held by the neighbour, free
// and held by the fewest neighbours, and each of those about equally
// often: the pass goes a byte of bitmap at a time in block order, so the
// tie-break alone spreads the picks.
func TestRarestUniformAmongRarest(t *testing.T) {
	x, f, n, rf := rarestSetup(t, 64)
	x.l.rng = rand.New(rand.NewSource(5))
	// Block 33 is being fetched from SE: not free for ET.
	f.fetching[33] = packet.SE
	// The rarest for ET: odd, 32 and up (only ET holds them), missing
	// (not 32+4k... those are even anyway), and not 33.
	want := map[int]bool{}
	for b := 35; b < f.blocks; b += 2 {
		want[b] = true
	}
	const picks = 20000
	count := map[int]int{}
	for range picks {
		b := x.l.rarest(n, f, rf)
		if !want[b] {
			t.Fatalf("picked block %d: not among the rarest free blocks %v", b, want)
		}
		count[b]++
	}
	mean := picks / len(want)
	for b := range want {
		if c := count[b]; c < mean*3/4 || c > mean*5/4 {
			t.Errorf("block %d picked %d times of %d, want about %d", b, c, picks, mean)
		}
	}

	// With nothing of n's left to fetch, no pick.
	for b := range f.blocks {
		if !f.have.Has(b) && f.fetching[b] == 0 {
			f.fetching[b] = packet.SE
		}
	}
	if b := x.l.rarest(n, f, rf); b != -1 {
		t.Fatalf("picked block %d with every block held or fetched", b)
	}
}

// BenchmarkRarest: one pick from a neighbour holding the whole file of
// 1024 blocks (4 MiB in 4 KiB blocks), with three neighbours: early in
// the transfer (most blocks missing), and late (one in ten missing).
func BenchmarkRarest(b *testing.B) {
	for _, late := range []bool{false, true} {
		name := "early"
		if late {
			name = "late"
		}
		b.Run(name, func(b *testing.B) {
			x, f, n, rf := rarestSetup(b, 1024)
			if late {
				for blk := range f.blocks {
					if blk%10 != 1 && !f.have.Has(blk) {
						f.have.Set(blk)
						f.nhave++
					}
				}
			}
			b.ResetTimer()
			for range b.N {
				if x.l.rarest(n, f, rf) < 0 {
					b.Fatal("no pick")
				}
			}
		})
	}
}
