package hostile_test

import (
	"bytes"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// The tube service (service 9) under a hostile neighbour: tile A's WT
// speaks service 9 byte by byte while an honest tube runs between A and
// B. Whatever it sends, A keeps running within bounded memory, the honest
// tube delivers every byte and closes cleanly, and A counts what it
// turned away.

func devProfile() dev.LinkProfile { return dev.LinkProfile{Rate: tilegrid.DefaultRate} }

// honestTube opens a stream tube from A to B on port 7 and moves n bytes
// each way in the background; wait returns what went wrong, if anything.
func honestTube(t *testing.T, a *arena, n int) (wait func() string) {
	acc := tubetest.DialRaw(t, a.g.Tile(tileB).RunDir, "accept 7")
	op := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "open ET 7 timeout=20s")
	op.Expect("ok ", 20*time.Second)
	acc.Expect("ok ", 20*time.Second)
	data := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	var wg sync.WaitGroup
	errs := make([]string, 2)
	for i, p := range []*tubetest.Raw{op, acc} {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for off := 0; off < n; off += 4000 {
				p.Conn.Write(append([]byte{'d'}, data[off:min(off+4000, n)]...))
			}
			p.Conn.Write([]byte{'f'})
		}()
		go func() {
			defer wg.Done()
			var got []byte
			for {
				f, err := p.Recv(60 * time.Second)
				switch {
				case err != nil:
					errs[i] = "read: " + err.Error()
				case f[0] == 'd':
					got = append(got, f[1:]...)
					continue
				case f[0] == 'c':
					if !bytes.Equal(got, data) {
						errs[i] = "bytes differ"
					}
				case f[0] == 'x':
					errs[i] = string(f)
				default:
					continue
				}
				return
			}
		}()
	}
	return func() string { wg.Wait(); return strings.Join(errs, " ") }
}

// forgery makes a service 9 message with random fields, for ids chosen
// among ids (or any).
func forgery(ids []uint16) func(r *rand.Rand) tubes.WireMessage {
	return func(r *rand.Rand) tubes.WireMessage {
		m := tubes.WireMessage{Type: byte(1 + r.IntN(7)), ID: uint16(r.Uint32()), From: uint16(r.Uint32()),
			SrcPort: uint16(r.Uint32()), DstPort: uint16(r.Uint32()), Kind: byte(r.IntN(3)), Window: r.Uint32(),
			Seq: r.Uint32(), Flags: byte(r.IntN(2)), Ack: r.Uint32(), Read: r.Uint32(), Limit: r.Uint32(),
			Code: byte(r.IntN(9)), Reason: "forged"}
		if len(ids) > 0 && r.IntN(2) == 0 {
			m.ID = ids[r.IntN(len(ids))]
		}
		m.Data = make([]byte, r.IntN(tubes.MaxSegment+1))
		for i := range r.IntN(5) {
			m.Sacks = append(m.Sacks, [2]uint32{r.Uint32(), r.Uint32() >> (i * 8)})
		}
		return m
	}
}

// TestAttackTubeForgeries: thousands of service 9 messages of every type
// with random fields, half of them naming the honest tube's ids on A, at
// A's WT while a tube runs between A and B. The honest tube is unharmed,
// A answers packets of tubes it does not hold with a bounded number of
// RESETs, and counts them.
func TestAttackTubeForgeries(t *testing.T) {
	a, ta := tubeArena(t, nil)
	x := a.nb[0]
	heap0, g0 := heap()
	mark := a.g.Mark()
	wait := honestTube(t, a, 256<<10)
	var ids []uint16
	for _, ts := range tubeOf(a.status(tileA)).Tubes {
		ids = append(ids, ts.ID)
	}
	before := tubeOf(a.status(tileA)).Counters
	start := time.Now()
	const count = 6000
	n, err := x.Flood(a.ctx, hostile.Flood{Gen: hostile.TubeGen(forgery(ids)), Count: count, Rate: floodRate / 4, Seed: 9})
	if err != nil || n != count {
		t.Fatalf("flood: %d sent, %v", n, err)
	}
	took := time.Since(start)
	if e := wait(); e != " " {
		t.Fatalf("the honest tube: %q", e)
	}
	a.alive()
	a.noHonestDisconnect(mark)
	a.checkBounded(heap0, g0)
	after := tubeOf(a.status(tileA))
	if d := after.Counters.Unknown - before.Unknown; d < count/10 {
		t.Errorf("A counted %d packets of unknown tubes, want at least %d", d, count/10)
	}
	if d := after.Counters.CRCErrors + after.Counters.Malformed - before.CRCErrors - before.Malformed; d < count/10 {
		t.Errorf("A counted %d unreadable packets, want at least %d", d, count/10)
	}
	resets := 0
	ms, _ := ta.log.Since(0)
	for _, m := range ms {
		if m.Type == tubes.MsgReset {
			resets++
		}
	}
	// 10 a second after a burst of 20 (packets.go), and a margin.
	if limit := 40 + int(took.Seconds()*10); resets > limit {
		t.Errorf("A sent %d RESETs in %v: over %d", resets, took, limit)
	}
	for _, ts := range after.Tubes {
		if ts.Dir == packet.WT && ts.State != "linger" && ts.State != "failed" {
			t.Errorf("a tube on WT from forgeries: %+v", ts)
		}
	}
	t.Logf("%d RESETs in %v; counters %+v", resets, took, after.Counters)
}

// acceptFromAttacker has a program accept on port p from WT and the
// attacker open a tube to it with tube id id; it returns the program and
// A's id for the tube.
func acceptFromAttacker(t *testing.T, a *arena, ta *tubeAttacker, p uint16, id uint16, opts string) (*tubetest.Raw, uint16) {
	t.Helper()
	pr := tubetest.DialRaw(t, a.g.Tile(tileA).RunDir, "accept "+itoa(p)+" from=WT "+opts)
	waitAccept(t, a, p)
	mark, _ := ta.log.Counts()
	kind := byte(tubes.KindStream)
	if strings.Contains(opts, "message") {
		kind = tubes.KindMessage
	}
	a.nb[0].SendTube(&tubes.WireMessage{Type: tubes.MsgOpen, ID: id, SrcPort: 1000, DstPort: p, Kind: kind, Window: 1 << 16})
	m, err := ta.log.Wait(a.ctx, mark, 10*time.Second, func(m *tubes.WireMessage) bool { return m.Type == tubes.MsgAccept && m.ID == id })
	if err != nil {
		t.Fatalf("no ACCEPT for tube %d: %v", id, err)
	}
	pr.Expect("ok ", 10*time.Second)
	return pr, m.From
}

func waitAccept(t *testing.T, a *arena, p uint16) {
	t.Helper()
	err := a.g.WaitFor(10*time.Second, "the program accepts", func() bool {
		for _, q := range tubeOf(a.status(tileA)).Accepts {
			if q == p {
				return true
			}
		}
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }
