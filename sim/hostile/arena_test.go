package hostile_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tile"
)

// An arena is a grid of real tiles (in this process, so the test sees
// their memory) with hostile neighbours on links the grid leaves free.

// attacker places a hostile neighbour: on the tile at at, on that tile's
// link dir (cfg.Dir is set to its opposite).
type attacker struct {
	at  tilegrid.Coord
	dir packet.Dir
	cfg hostile.Config
}

type arena struct {
	t     *testing.T
	ctx   context.Context
	g     *tilegrid.Grid
	dir   string
	priv  ed25519.PrivateKey
	trust *mfz.TrustSet
	nb    []*hostile.Neighbour
}

// newArena starts a w x h grid whose tiles trust one test key, waits until
// every honest neighbour is live, then starts the attackers and waits
// until each that says hello is live at its tile. The tiles keep the
// daemon's default liveness timings.
func newArena(t *testing.T, w, h int, prof dev.LinkProfile, atk ...attacker) *arena {
	t.Helper()
	return newArenaWith(t, w, h, prof, nil, atk...)
}

// newArenaWith is newArena with tweak applied to every tile's
// configuration after the attackers' links are set.
func newArenaWith(t *testing.T, w, h int, prof dev.LinkProfile, tweak func(tilegrid.Coord, *tile.Config), atk ...attacker) *arena {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	a := &arena{t: t, ctx: ctx, dir: dir}
	a.priv = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	pub := filepath.Join(dir, "test.pub")
	if err := os.WriteFile(pub, mfz.MarshalPublicKey(a.priv.Public().(ed25519.PublicKey), "test"), 0o644); err != nil {
		t.Fatal(err)
	}
	a.trust = mfz.NewTrustSet(a.priv.Public().(ed25519.PublicKey))
	for _, x := range atk {
		x.cfg.Dir = x.dir.Opposite()
		n, err := hostile.Listen(x.cfg)
		if err != nil {
			t.Fatal(err)
		}
		a.nb = append(a.nb, n)
	}
	cfg := tilegrid.DefaultConfig(w, h)
	cfg.Dir = filepath.Join(dir, "grid")
	cfg.Profile = prof
	cfg.Seed = 5
	cfg.Trust = []string{pub}
	cfg.Tweak = func(c tilegrid.Coord, dc *tile.Config) {
		for i, x := range atk {
			if x.at == c {
				dc.UDP.Links[x.dir] = a.nb[i].Addr().String()
			}
		}
		if tweak != nil {
			tweak(c, dc)
		}
	}
	g, err := tilegrid.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.g = g
	// Cleanups run last first: the attackers stop, then the grid.
	t.Cleanup(func() {
		if err := g.Close(); err != nil {
			t.Errorf("grid close: %v", err)
		}
	})
	t.Cleanup(func() {
		cancel()
		for _, n := range a.nb {
			n.Close()
		}
	})
	if err := g.WaitAllLive(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	for i, x := range atk {
		if err := a.nb[i].Start(ctx, g.Tile(x.at).Addr); err != nil {
			t.Fatal(err)
		}
		if x.cfg.HelloInterval >= 0 {
			if err := g.WaitLink(10*time.Second, x.at, x.dir, control.Live); err != nil {
				t.Fatal(err)
			}
		}
	}
	return a
}

func (a *arena) status(c tilegrid.Coord) control.Status {
	a.t.Helper()
	st, err := a.g.Status(c)
	if err != nil {
		a.t.Fatalf("status of %v: %v", c, err)
	}
	return st
}

func link(st control.Status, d packet.Dir) control.LinkStatus {
	for _, l := range st.Links {
		if l.Dir == d {
			return l
		}
	}
	return control.LinkStatus{}
}

// section decodes a service's section of a status into out.
func section(st control.Status, name string, out any) {
	b, _ := json.Marshal(st.Sections[name])
	json.Unmarshal(b, out)
}

func counterOf(st control.Status) counter.Status {
	var s counter.Status
	section(st, "counter", &s)
	return s
}

func distOf(st control.Status) dist.Status {
	s, _ := dist.StatusFrom(st.Sections)
	return s
}

// honest is every link between two tiles of the grid, both ways.
func (a *arena) honest() []tilegrid.Link { return a.g.Geometry().AllLinks() }

// honestOK checks that every honest link is live, with the right tile on
// it, connected exactly once since the grid started.
func (a *arena) honestOK() error {
	for _, l := range a.honest() {
		st, err := a.g.Status(l.From)
		if err != nil {
			return err
		}
		peer, err := a.g.Status(l.To)
		if err != nil {
			return err
		}
		ls := link(st, l.Dir)
		if ls.State != control.Live || ls.Tile == nil || *ls.Tile != peer.Tile || ls.Connects != 1 {
			return fmt.Errorf("honest link %v: state %v, tile %v (want %v), %d connects", l, ls.State, ls.Tile, peer.Tile, ls.Connects)
		}
	}
	return nil
}

// watch calls check every 20ms until stop is called, which returns the
// first failure, if any.
func watch(check func() error) (stop func() error) {
	done := make(chan struct{})
	var (
		wg    sync.WaitGroup
		first error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if err := check(); err != nil && first == nil {
				first = err
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() error {
		close(done)
		wg.Wait()
		return first
	}
}

// noHonestDisconnect fails if a tile logged a disconnect on an honest
// link since mark.
func (a *arena) noHonestDisconnect(mark int) {
	a.t.Helper()
	evs, _ := a.g.Events(mark)
	for _, e := range evs {
		if e.Kind != packet.EventDisconnect {
			continue
		}
		if _, ok := a.g.Geometry().Neighbour(e.Tile, e.Dir); ok {
			a.t.Errorf("honest neighbour lost: %v", e)
		}
	}
}

// heap is the heap in use after a collection, and the goroutines.
func heap() (inuse uint64, goroutines int) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse, runtime.NumGoroutine()
}

// Generous bounds on what an attack may cost the process (every tile of
// the arena runs in it): a leak per message of a 20k-message attack
// passes neither.
const (
	maxHeapGrowth      = 64 << 20
	maxGoroutineGrowth = 64
)

func (a *arena) checkBounded(heap0 uint64, g0 int) {
	a.t.Helper()
	h, g := heap()
	a.t.Logf("heap in use %d KB -> %d KB, goroutines %d -> %d", heap0>>10, h>>10, g0, g)
	if h > heap0 && h-heap0 > maxHeapGrowth {
		a.t.Errorf("heap in use grew by %d MB during the attack (bound %d MB)", (h-heap0)>>20, maxHeapGrowth>>20)
	}
	if g-g0 > maxGoroutineGrowth {
		a.t.Errorf("goroutines grew from %d to %d during the attack", g0, g)
	}
}

// alive checks that every tile runs and answers on its control socket.
func (a *arena) alive() {
	a.t.Helper()
	for _, c := range a.g.Geometry().Coords() {
		tl := a.g.Tile(c)
		if !tl.Running() {
			a.t.Fatalf("%v stopped", c)
		}
		cc, err := control.Dial(tl.RunDir)
		if err != nil {
			a.t.Fatalf("%v: %v", c, err)
		}
		var pong string
		err = cc.Call("ping", nil, &pong)
		cc.Close()
		if err != nil || pong != "pong" {
			a.t.Fatalf("%v: ping: %q, %v", c, pong, err)
		}
	}
}

// pack makes a signed file of size random bytes and returns its path.
func (a *arena) pack(name string, version int64, size int) string {
	a.t.Helper()
	payload := make([]byte, size)
	rand.New(rand.NewSource(version)).Read(payload)
	path := filepath.Join(a.dir, fmt.Sprintf("%s-%d", name, version))
	out, err := os.Create(path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer out.Close()
	if _, err := mfz.Pack(out, bytes.NewReader(payload), mfz.PackOptions{Name: name, Version: version, Key: a.priv,
		SizeHint: int64(size), TempDir: a.dir}); err != nil {
		a.t.Fatal(err)
	}
	return path
}

func (a *arena) push(at tilegrid.Coord, path string) dist.PushResult {
	a.t.Helper()
	cc, err := control.Dial(a.g.Tile(at).RunDir)
	if err != nil {
		a.t.Fatal(err)
	}
	defer cc.Close()
	var r dist.PushResult
	if err := cc.Call("push", dist.PushArgs{Path: path}, &r); err != nil {
		a.t.Fatal(err)
	}
	return r
}

// liveChecker checks that a tile's live/ holds only complete files that
// verify against the test key. Each file is verified once per (size,
// modification time).
type liveChecker struct {
	a    *arena
	seen map[string]string
}

func (a *arena) liveChecker() *liveChecker { return &liveChecker{a: a, seen: map[string]string{}} }

func (lc *liveChecker) check() error {
	for _, c := range lc.a.g.Geometry().Coords() {
		live := filepath.Join(lc.a.g.Tile(c).StateDir, "mfz", "live")
		ents, err := os.ReadDir(live)
		if err != nil {
			continue // not made yet
		}
		for _, e := range ents {
			p := filepath.Join(live, e.Name())
			fi, err := os.Lstat(p)
			if err != nil {
				continue // replaced meanwhile: the next look sees the new one
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%v: live/%s is %v, not a regular file", c, e.Name(), fi.Mode())
			}
			key := fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
			if lc.seen[p] == key {
				continue
			}
			f, err := mfz.VerifyPath(p, lc.a.trust, nil)
			if err != nil {
				if _, serr := os.Lstat(p); serr != nil {
					continue // gone while read
				}
				return fmt.Errorf("%v: live/%s does not verify: %v", c, e.Name(), err)
			}
			if f.Manifest.Name != e.Name() {
				return fmt.Errorf("%v: live/%s holds %s", c, e.Name(), f.Manifest.Name)
			}
			lc.seen[p] = key
		}
	}
	return nil
}

// serverSlot is where an attacker's handler finds the DistServer it
// answers with, once the test has made one.
type serverSlot struct {
	p atomic.Pointer[hostile.DistServer]
}

func (s *serverSlot) handle(n *hostile.Neighbour, r *hostile.Received) {
	if srv := s.p.Load(); srv != nil {
		srv.Handle(n, r)
	}
}

// grabbedFile is what a neighbour holding the packed file at path, under
// handle, announces and serves; and the file's version.
func grabbedFile(t *testing.T, path, name string, handle uint8) (hostile.Grabbed, int64) {
	t.Helper()
	f, _, err := mfz.ReadFileAt(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(f.Signed[:len(f.Signed)-mfz.SignatureLen])
	g := hostile.Grabbed{Handle: handle, Name: name, Version: f.Manifest.Version, Blocks: uint16(f.Manifest.BlockCount()), Signed: f.Signed}
	copy(g.ID[:], h[:8])
	return g, f.Manifest.Version
}
