package tubes

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// FuzzRoutedService: any packets from any neighbours, with the clock and
// the links moving between them, never panic the service, and never make
// it hold more than its bounds: fwdMax a link to forward, pendingMax kept
// OPENs a slot, max_tubes tubes a far side.
func FuzzRoutedService(f *testing.F) {
	path := []packet.Dir{packet.ET, packet.ET}
	open := appendOpen(nil, 5, 49152, 7, KindStream, 1<<16)
	f.Add(routedTo(path, 2, tileID(50), selfTile, open))
	f.Add(routedTo(path, 1, tileID(50), tileID(9), open))
	f.Add(append(append([]byte{0xff, 0}, routedTo(path, 2, tileID(50), selfTile, open)...), 0xfe, 30))
	f.Add(append(routedTo(path, 2, tileID(50), selfTile, open), routedTo(path, 2, tileID(50), selfTile, appendData(nil, 100, 0, flagFin, []byte("hi")))...))
	f.Add(routedTo([]packet.Dir{packet.WT, packet.ET, packet.WT}, 1, tileID(50), selfTile, appendCancel(nil, 5)))
	f.Fuzz(func(t *testing.T, b []byte) {
		links := map[packet.Dir]p2p.TileID{}
		for i, d := range packet.Links {
			links[d] = tileID(10 + i)
		}
		s, h := newDriven(t, selfTile, links)
		s.cfg.MaxTubes = 4
		acceptOn(s, 7)
		acceptOn(s, 8)
		// The input is a run of packets, each cut where the next ROUTED
		// type byte begins; a byte 0xff before one picks its link, 0xfe
		// moves the clock.
		from := packet.ET
		for len(b) > 0 {
			switch b[0] {
			case 0xff:
				if len(b) > 1 {
					from = packet.Links[int(b[1])%6]
				}
				b = b[min(2, len(b)):]
				continue
			case 0xfe:
				if len(b) > 1 {
					s.now = s.now.Add(time.Duration(b[1]) * 100 * time.Millisecond)
					s.timers()
				}
				b = b[min(2, len(b)):]
				continue
			}
			n := 1
			for n < len(b) && n < maxMsg && b[n] != msgRouted && b[n] != 0xff && b[n] != 0xfe {
				n++
			}
			deliver(s, from, b[:n])
			b = b[n:]
			s.pump()
			h.take()
			for _, d := range packet.Links {
				drainLink(h, d, 4)
			}
			for d := range s.fwd {
				if s.fwd[d].len() > fwdMax {
					t.Fatalf("%d to forward on %v", s.fwd[d].len(), packet.Dir(d))
				}
			}
			for d := range s.pending {
				if len(s.pending[d]) > pendingMax {
					t.Fatalf("%d OPENs kept in slot %d", len(s.pending[d]), d)
				}
			}
			far := map[p2p.TileID]int{}
			for _, tb := range s.tubes {
				if tb.dir == viaRoutes {
					far[tb.tile]++
					if len(tb.paths) == 0 || len(tb.back) > MaxHops {
						t.Fatalf("tube %d: paths %v back %v", tb.id, tb.paths, tb.back)
					}
				}
			}
			for tile, n := range far {
				if n > s.cfg.MaxTubes {
					t.Fatalf("%d tubes for %v", n, tile)
				}
			}
			if len(s.tubes) > 2 {
				t.Fatalf("%d tubes with two programs accepting", len(s.tubes))
			}
		}
	})
}
