package hostile_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/emulation"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// An honest transfer from A to B while three hostile neighbours attack
// service 8:
//
//   - X1, on A's WT, sends A every service 8 message type with absurd
//     fields (AbsurdDistMessages, then a random flood of them), naming A's
//     own handle for the file where a message names one; it also fetches
//     the file's signed manifest from A, as any neighbour may;
//   - X2, on B's ET, says hello as A (A's tile identity, refused: A is
//     live on B's WT), then as itself announces that
//     file to B as complete, with the real manifest X1 fetched, and serves
//     B blocks that pass every chunk's CRC and fail the manifest's hash;
//   - X3, on B's SE, sends B the same absurd barrage, announces the
//     file's name at absurd versions under fake file ids, and answers
//     every manifest B asks of it with garbage.
//
// Whatever they do: no tile stops, memory stays bounded, A and B stay live
// to each other, B ends with a copy byte-identical to the pushed file, B
// found X2's blocks bad, and no tile's live/ ever holds anything but
// complete files that verify.
func TestAttackDist(t *testing.T) {
	const name = "physics.mfz"
	grab := hostile.NewManifestGrabber(name)
	var (
		serverMu sync.Mutex
		server   *hostile.DistServer
	)
	corrupt := func(n *hostile.Neighbour, r *hostile.Received) {
		serverMu.Lock()
		s := server
		serverMu.Unlock()
		if s != nil {
			s.Handle(n, r)
		}
	}
	var handleB atomic.Uint32 // B's handle for the file, as B announced it to X3
	liar := func(n *hostile.Neighbour, r *hostile.Received) {
		m, err := r.Dist()
		if err == nil && m.Type == dist.MsgAnnounce && m.Name == name {
			handleB.Store(uint32(m.Handle))
		}
		if err != nil || m.Type != dist.MsgGetManifest {
			return
		}
		junk := bytes.Repeat([]byte{0x5a}, 241)
		for off := 0; off < 2000; off += len(junk) {
			n.SendDist(&dist.Message{Type: dist.MsgManifest, Handle: m.Handle, Offset: uint32(off), Total: 2000, Data: junk[:min(len(junk), 2000-off)]})
		}
	}
	a := newArena(t, 2, 1, dev.LinkProfile{Rate: tilegrid.DefaultRate},
		attacker{at: tileA, dir: packet.WT, cfg: hostile.Config{Handler: grab.Handle}},
		attacker{at: tileB, dir: packet.ET, cfg: hostile.Config{Handler: corrupt}},
		attacker{at: tileB, dir: packet.SE, cfg: hostile.Config{Handler: liar}})
	x1, x2, x3 := a.nb[0], a.nb[1], a.nb[2]
	// X2 claims to be A, which is live on B's WT: an impostor, refused,
	// so nothing B holds against X2 can fall on A. Then it attacks as
	// itself.
	idA, own := a.status(tileA).Tile, x2.Tile()
	x2.SetTile(idA)
	if err := a.g.WaitFor(10*time.Second, "B refuses X2 as A", func() bool {
		l := link(a.status(tileB), packet.ET)
		return l.IdentityRefused > 0 && (l.Tile == nil || *l.Tile != idA)
	}); err != nil {
		t.Fatal(err)
	}
	x2.SetTile(own)
	if err := a.g.WaitFor(10*time.Second, "B sees X2 as itself again", func() bool {
		l := link(a.status(tileB), packet.ET)
		return l.Tile != nil && *l.Tile == own
	}); err != nil {
		t.Fatal(err)
	}
	heap0, g0 := heap()
	mark := a.g.Mark()
	lc := a.liveChecker()
	stopHonest := watch(a.honestOK)
	stopLive := watch(lc.check)

	path := a.pack(name, 1000, 256<<10)
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pushed := a.push(tileA, path)

	// X2 serves the real manifest and bad blocks once X1 has grabbed it.
	ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
	defer cancel()
	file, err := grab.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s, err := hostile.NewDistServer(file, 3, hostile.CorruptBlocks(9))
	if err != nil {
		t.Fatal(err)
	}
	serverMu.Lock()
	server = s
	serverMu.Unlock()
	if err := s.Announce(x2); err != nil {
		t.Fatal(err)
	}

	// The barrages, while B receives.
	var wg sync.WaitGroup
	for i, x := range []*hostile.Neighbour{x1, x3} {
		handle := file.Handle
		if x == x3 {
			handle = uint8(handleB.Load())
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			barrage(t, a.ctx, x, uint64(i), handle, name)
		}()
	}
	err = a.g.WaitFor(30*time.Second, "B holds the pushed file", func() bool {
		p, ok := dist.ProgressOf(a.status(tileB).Sections, name, pushed.Version)
		return ok && p.Complete
	})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := stopHonest(); err != nil {
		t.Errorf("during the attack: %v", err)
	}
	if err := stopLive(); err != nil {
		t.Errorf("during the attack: %v", err)
	}
	if err := lc.check(); err != nil {
		t.Error(err)
	}
	got, err := os.ReadFile(filepath.Join(a.g.Tile(tileB).StateDir, "mfz", "live", name))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("B's live copy (%d bytes, %v) differs from the pushed file (%d bytes)", len(got), err, len(want))
	}
	a.alive()
	a.noHonestDisconnect(mark)
	a.checkBounded(heap0, g0)

	reqs, chunks := s.Served()
	cb := distOf(a.status(tileB)).Counters
	t.Logf("X2 answered %d requests with %d bad chunks; B: %+v", reqs, chunks, cb)
	t.Logf("A: %+v", distOf(a.status(tileA)).Counters)
	if reqs == 0 || cb.BadBlocks == 0 {
		t.Errorf("B asked X2 for %d blocks and found %d bad: X2 announced the file early in a 4 s transfer, so B should have tried it", reqs, cb.BadBlocks)
	}
	for _, c := range []tilegrid.Coord{tileA, tileB} {
		if d := distOf(a.status(c)).Counters; d.Malformed+d.CRCErrors+d.Unknown < 1000 {
			t.Errorf("%v counted %d malformed, %d damaged, %d unknown service 8 messages of the barrage", c, d.Malformed, d.CRCErrors, d.Unknown)
		}
	}
}

// barrage sends every absurd service 8 message at the tile, naming
// handle where a message names one of the tile's, then announces name at
// absurd versions under fake ids, then floods random absurd messages.
// It sends about 5000 messages a second.
func barrage(t *testing.T, ctx context.Context, x *hostile.Neighbour, seed uint64, handle uint8, name string) {
	sent := 0
	send := func(m *dist.Message) bool {
		if err := x.SendDist(m); err != nil {
			t.Errorf("barrage: %v", err)
			return false
		}
		if sent++; sent%5 == 0 {
			select {
			case <-ctx.Done():
				return false
			case <-time.After(time.Millisecond):
			}
		}
		return true
	}
	for _, m := range hostile.AbsurdDistMessages(handle) {
		if !send(&m) {
			return
		}
	}
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 200 {
		var id [8]byte
		for j := range id {
			id[j] = byte(r.Uint32())
		}
		v := []int64{1001, 1 << 62, 1<<63 - 1}[i%3] - int64(i)
		if !send(&dist.Message{Type: dist.MsgAnnounce, Handle: uint8(i % 255), Flags: 1, Version: v, Blocks: 32, Held: 32, ID: id, Name: name}) {
			return
		}
	}
	if _, err := x.Flood(ctx, hostile.Flood{Gen: hostile.AbsurdDist(), Count: 5000, Rate: emulation.Rate(5000), Seed: seed}); err != nil && ctx.Err() == nil {
		t.Errorf("barrage flood: %v", err)
	}
}
