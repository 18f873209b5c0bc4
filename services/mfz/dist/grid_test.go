package dist_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tile"
)

// keys makes a signing key in dir and returns it with its .pub path.
func keys(t testing.TB, dir string, seed byte) (ed25519.PrivateKey, string) {
	t.Helper()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	pub := filepath.Join(dir, fmt.Sprintf("k%d.pub", seed))
	if err := os.WriteFile(pub, mfz.MarshalPublicKey(priv.Public().(ed25519.PublicKey), "test"), 0o644); err != nil {
		t.Fatal(err)
	}
	return priv, pub
}

// pack makes a signed file of size random (incompressible) bytes and
// returns its path.
func pack(t testing.TB, dir, name string, version int64, size int, priv ed25519.PrivateKey, seed int64) string {
	t.Helper()
	return packBlocks(t, dir, name, version, size, 0, priv, seed)
}

// packBlocks is pack with blocks of bs bytes (0: Pack's choice).
func packBlocks(t testing.TB, dir, name string, version int64, size, bs int, priv ed25519.PrivateKey, seed int64) string {
	return packOpts(t, dir, size, seed, mfz.PackOptions{Name: name, Version: version, Key: priv, BlockSize: bs})
}

// packOpts packs size seeded random bytes with opt, naming the file after
// opt's name and version.
func packOpts(t testing.TB, dir string, size int, seed int64, opt mfz.PackOptions) string {
	t.Helper()
	payload := make([]byte, size)
	rand.New(rand.NewSource(seed)).Read(payload)
	path := filepath.Join(dir, fmt.Sprintf("%s-%d.mfz", opt.Name, opt.Version))
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	opt.SizeHint, opt.TempDir = int64(size), dir
	if _, err := mfz.Pack(out, bytes.NewReader(payload), opt); err != nil {
		t.Fatal(err)
	}
	return path
}

type fixture struct {
	t    testing.TB
	g    *tilegrid.Grid
	dir  string
	priv ed25519.PrivateKey
}

// grid starts a w x h grid whose tiles trust one test key.
func grid(t testing.TB, w, h int, prof dev.LinkProfile, edit func(*tilegrid.Config)) *fixture {
	t.Helper()
	dir := t.TempDir()
	priv, pub := keys(t, dir, 1)
	cfg := tilegrid.DefaultConfig(w, h)
	cfg.Dir = filepath.Join(dir, "grid")
	cfg.Profile = prof
	cfg.Seed = 11
	cfg.Trust = []string{pub}
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 1500*time.Millisecond
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 1000*time.Millisecond
	cfg.Progress = func(_ tilegrid.Coord, st *control.Status) *tilegrid.Progress {
		return nil
	}
	if edit != nil {
		edit(&cfg)
	}
	g := gridtest.Start(t, cfg)
	return &fixture{t: t, g: g, dir: dir, priv: priv}
}

func (fx *fixture) push(at tilegrid.Coord, path string) (dist.PushResult, error) {
	var r dist.PushResult
	tl := fx.g.Tile(at)
	cc, err := control.Dial(tl.RunDir)
	if err != nil {
		return r, err
	}
	defer cc.Close()
	err = cc.Call("push", dist.PushArgs{Path: path}, &r)
	return r, err
}

func (fx *fixture) status(c tilegrid.Coord) dist.Status {
	st, err := fx.g.Status(c)
	if err != nil {
		return dist.Status{}
	}
	s, _ := dist.StatusFrom(st.Sections)
	return s
}

// waitAll waits until every running tile holds name at version complete.
func (fx *fixture) waitAll(name string, version int64, timeout time.Duration) {
	fx.t.Helper()
	err := fx.g.WaitFor(timeout, fmt.Sprintf("every tile holds %s@%d", name, version), func() bool {
		for _, c := range fx.g.Geometry().Coords() {
			if !fx.g.Tile(c).Running() {
				continue
			}
			p, ok := dist.ProgressOf(statusOf(fx.g, c), name, version)
			if !ok || !p.Complete || p.Version != version {
				return false
			}
		}
		return true
	})
	if err != nil {
		fx.dump()
		fx.t.Fatal(err)
	}
}

func statusOf(g *tilegrid.Grid, c tilegrid.Coord) map[string]any {
	st, err := g.Status(c)
	if err != nil {
		return nil
	}
	return st.Sections
}

func (fx *fixture) dump() {
	for _, c := range fx.g.Geometry().Coords() {
		s := fx.status(c)
		fx.t.Logf("%v: files %+v transfers %+v counters %+v", c, s.Files, s.Transfers, s.Counters)
		for _, n := range s.Neighbours {
			fx.t.Logf("   nbr %v inflight %d fetching %d serving %d files %+v", n.Dir, n.InFlight, n.Fetching, n.Serving, n.Files)
		}
	}
}

// liveFile is the path of name in the tile's live/ store.
func (fx *fixture) liveFile(c tilegrid.Coord, name string) string {
	return filepath.Join(fx.g.Tile(c).StateDir, "mfz", "live", name)
}

// checkIdentical checks that every running tile's live copy of name is
// byte-identical to the pushed file.
func (fx *fixture) checkIdentical(name, pushed string) {
	fx.t.Helper()
	want, err := os.ReadFile(pushed)
	if err != nil {
		fx.t.Fatal(err)
	}
	for _, c := range fx.g.Geometry().Coords() {
		got, err := os.ReadFile(fx.liveFile(c, name))
		if err != nil {
			fx.t.Errorf("%v: %v", c, err)
			continue
		}
		if !bytes.Equal(got, want) {
			fx.t.Errorf("%v: live %s differs from the pushed file (%d vs %d bytes)", c, name, len(got), len(want))
		}
	}
}

var fast = dev.LinkProfile{Rate: 1 << 20}

func TestTwoTiles(t *testing.T) {
	fx := grid(t, 2, 1, fast, nil)
	path := pack(t, fx.dir, "physics.mfz", 1000, 200<<10, fx.priv, 1)
	r, err := fx.push(tilegrid.Coord{}, path)
	if err != nil {
		t.Fatal(err)
	}
	if r.Name != "physics.mfz" || r.Version != 1000 || r.Blocks == 0 {
		t.Fatalf("push result %+v", r)
	}
	fx.waitAll("physics.mfz", 1000, 30*time.Second)
	fx.checkIdentical("physics.mfz", path)
	s := fx.status(tilegrid.Coord{X: 1})
	if s.Counters.BlocksIn != uint64(r.Blocks) {
		t.Errorf("blocks fetched %d, want %d", s.Counters.BlocksIn, r.Blocks)
	}
	t.Logf("receiver counters %+v", s.Counters)
	if testing.Short() {
		return
	}
	// Idle: once the re-announcements (1 s and 3 s after completion, sent
	// on the idle tick of 250 ms, and a SYNC answer deferred up to 1.25 s)
	// are out, nothing is sent until the 30-60 s refresh. Measure from the
	// later of the two tiles' own completion times.
	var done time.Time
	for _, c := range []tilegrid.Coord{{}, {X: 1}} {
		for _, f := range fx.status(c).Files {
			if at := time.Unix(0, f.CompletedAt); f.Name == "physics.mfz" && at.After(done) {
				done = at
			}
		}
	}
	time.Sleep(time.Until(done.Add(5 * time.Second)))
	var before [2]uint64
	for i, c := range []tilegrid.Coord{{}, {X: 1}} {
		before[i] = fx.status(c).Counters.PacketsOut
	}
	time.Sleep(2 * time.Second)
	for i, c := range []tilegrid.Coord{{}, {X: 1}} {
		if d := fx.status(c).Counters.PacketsOut - before[i]; d > 0 {
			t.Errorf("%v: %d packets sent in 2 s while idle", c, d)
		}
	}
}

// A file packed in format 1 (by an older itcd, or with --format 1 for a
// grid that still has such tiles) spreads as it was signed.
func TestFormat1FileSpreads(t *testing.T) {
	fx := grid(t, 3, 1, fast, nil)
	path := packOpts(t, fx.dir, 60<<10, 3, mfz.PackOptions{Name: "old.mfz", Version: 7, Key: fx.priv, Format: 1})
	if _, err := fx.push(tilegrid.Coord{}, path); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("old.mfz", 7, 30*time.Second)
	fx.checkIdentical("old.mfz", path)
	f, _, err := mfz.ReadFileAt(fx.liveFile(tilegrid.Coord{X: 2}, "old.mfz"))
	if err != nil || f.Manifest.FormatVersion() != 1 {
		t.Fatalf("far tile's copy: %v", err)
	}
}

func TestGrid3x3LossDupCorrupt(t *testing.T) {
	prof := dev.LinkProfile{Rate: 1 << 20, Loss: 0.05, Duplicate: 0.02, Corrupt: 0.02}
	fx := grid(t, 3, 3, prof, nil)
	path := pack(t, fx.dir, "physics.mfz", 1000, 128<<10, fx.priv, 2)
	if _, err := fx.push(tilegrid.Coord{}, path); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 1000, 60*time.Second)
	fx.checkIdentical("physics.mfz", path)
	var crc, lost uint64
	for _, c := range fx.g.Geometry().Coords() {
		s := fx.status(c)
		crc += s.Counters.CRCErrors
		lost += s.Counters.Lost
		if s.Counters.BadBlocks != 0 {
			t.Errorf("%v: %d bad blocks: link damage got past the CRC", c, s.Counters.BadBlocks)
		}
	}
	if crc == 0 || lost == 0 {
		t.Errorf("crc errors %d, lost chunks %d: the impairments did not bite", crc, lost)
	}
}

// slow links make a transfer last long enough to disturb it.
var slow = dev.LinkProfile{Rate: 96 << 10}

func waitHave(t *testing.T, fx *fixture, c tilegrid.Coord, name string, frac float64) {
	t.Helper()
	err := fx.g.WaitFor(60*time.Second, fmt.Sprintf("%v holds %.0f%% of %s", c, 100*frac, name), func() bool {
		p, ok := dist.ProgressOf(statusOf(fx.g, c), name, 0)
		return ok && p.Size > 0 && float64(p.Have) >= frac*float64(p.Size)
	})
	if err != nil {
		fx.dump()
		t.Fatal(err)
	}
}

func TestLinkCutAndTileRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("several seconds of slow links")
	}
	fx := grid(t, 3, 2, slow, nil)
	path := pack(t, fx.dir, "physics.mfz", 1000, 384<<10, fx.priv, 3)
	src, far := tilegrid.Coord{}, tilegrid.Coord{X: 2, Y: 1}
	if _, err := fx.push(src, path); err != nil {
		t.Fatal(err)
	}
	// Cut the source's east link mid-transfer; the rest must route round.
	waitHave(t, fx, tilegrid.Coord{X: 1}, "physics.mfz", 0.2)
	if err := fx.g.Cut(src, packet.ET); err != nil {
		t.Fatal(err)
	}
	// Stop the far tile mid-transfer and start it again.
	waitHave(t, fx, far, "physics.mfz", 0.3)
	if err := fx.g.Stop(far); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if err := fx.g.Start(far); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 1000, 60*time.Second)
	fx.checkIdentical("physics.mfz", path)
	s := fx.status(far)
	var total uint64
	for _, f := range s.Files {
		total = uint64(f.Blocks)
	}
	if s.Counters.BlocksResumed == 0 || s.Counters.BlocksIn+s.Counters.BlocksResumed != total {
		t.Errorf("restarted tile: %d blocks resumed + %d fetched, want > 0 + that = %d: verified blocks fetched again",
			s.Counters.BlocksResumed, s.Counters.BlocksIn, total)
	}
	if err := fx.g.Restore(src, packet.ET); err != nil {
		t.Fatal(err)
	}
}

func TestNewerVersionMidTransfer(t *testing.T) {
	if testing.Short() {
		t.Skip("several seconds of slow links")
	}
	fx := grid(t, 3, 1, slow, nil)
	v1 := pack(t, fx.dir, "physics.mfz", 1000, 384<<10, fx.priv, 4)
	v2 := pack(t, fx.dir, "physics.mfz", 2000, 128<<10, fx.priv, 5)
	if _, err := fx.push(tilegrid.Coord{}, v1); err != nil {
		t.Fatal(err)
	}
	waitHave(t, fx, tilegrid.Coord{X: 2}, "physics.mfz", 0.1)
	if _, err := fx.push(tilegrid.Coord{}, v2); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 2000, 60*time.Second)
	fx.checkIdentical("physics.mfz", v2)
	var superseded uint64
	for _, c := range fx.g.Geometry().Coords() {
		superseded += fx.status(c).Counters.Superseded
	}
	if superseded == 0 {
		t.Error("no transfer of version 1000 was stopped")
	}
	// No partial of the old version is left behind.
	err := fx.g.WaitFor(10*time.Second, "partials gone", func() bool {
		for _, c := range fx.g.Geometry().Coords() {
			ents, _ := os.ReadDir(filepath.Join(fx.g.Tile(c).StateDir, "mfz", "partial"))
			if len(ents) > 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		t.Error(err)
	}
	// The older version, pushed again anywhere, is refused.
	for _, c := range fx.g.Geometry().Coords() {
		if _, err := fx.push(c, v1); err == nil || !strings.Contains(err.Error(), "stale") {
			t.Errorf("%v: push of the older version: %v, want a stale-version error", c, err)
		}
	}
}

func TestOlderVersionRefusedEverywhere(t *testing.T) {
	fx := grid(t, 3, 1, fast, nil)
	v1 := pack(t, fx.dir, "physics.mfz", 1000, 64<<10, fx.priv, 6)
	v2 := pack(t, fx.dir, "physics.mfz", 2000, 64<<10, fx.priv, 7)
	if _, err := fx.push(tilegrid.Coord{X: 2}, v2); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 2000, 30*time.Second)
	for _, c := range fx.g.Geometry().Coords() {
		if _, err := fx.push(c, v1); err == nil || !strings.Contains(err.Error(), "stale") {
			t.Errorf("%v: push of the older version: %v, want a stale-version error", c, err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	fx.checkIdentical("physics.mfz", v2)
}

func TestTombstoneSpreads(t *testing.T) {
	fx := grid(t, 3, 2, fast, nil)
	path := pack(t, fx.dir, "physics.mfz", 1000, 64<<10, fx.priv, 8)
	if _, err := fx.push(tilegrid.Coord{}, path); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 1000, 30*time.Second)
	tomb, _, err := mfz.NewTombstone("physics.mfz", 1500, fx.priv, 0)
	if err != nil {
		t.Fatal(err)
	}
	tp := filepath.Join(fx.dir, "physics.tomb.mfz")
	if err := os.WriteFile(tp, tomb, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := fx.push(tilegrid.Coord{X: 2, Y: 1}, tp)
	if err != nil || !r.Deleted {
		t.Fatalf("push tombstone: %+v, %v", r, err)
	}
	fx.waitAll("physics.mfz", 1500, 30*time.Second)
	for _, c := range fx.g.Geometry().Coords() {
		p, _ := dist.ProgressOf(statusOf(fx.g, c), "physics.mfz", 0)
		if !p.Deleted {
			t.Errorf("%v: progress %+v, want deleted", c, p)
		}
		if _, err := os.Stat(fx.liveFile(c, "physics.mfz")); !os.IsNotExist(err) {
			t.Errorf("%v: live file still there: %v", c, err)
		}
	}
}

func TestTamperedAndUntrustedRefusedAtFirstTile(t *testing.T) {
	fx := grid(t, 2, 2, fast, nil)
	path := pack(t, fx.dir, "physics.mfz", 1000, 64<<10, fx.priv, 9)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-100] ^= 1 // a body byte
	bad := filepath.Join(fx.dir, "tampered.mfz")
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := fx.push(tilegrid.Coord{}, bad); err == nil {
		t.Fatal("tampered file accepted")
	}
	other, _ := keys(t, fx.dir, 2)
	untrusted := pack(t, fx.dir, "other.mfz", 1000, 16<<10, other, 10)
	if _, err := fx.push(tilegrid.Coord{}, untrusted); err == nil || !strings.Contains(err.Error(), "trust") {
		t.Fatalf("untrusted file: %v, want an untrusted-key error", err)
	}
	if _, err := fx.push(tilegrid.Coord{}, "relative.mfz"); err == nil {
		t.Fatal("relative path accepted")
	}
	time.Sleep(500 * time.Millisecond)
	for _, c := range fx.g.Geometry().Coords() {
		if p, ok := dist.ProgressOf(statusOf(fx.g, c), "physics.mfz", 0); ok {
			t.Errorf("%v: holds a tampered file: %+v", c, p)
		}
		if p, ok := dist.ProgressOf(statusOf(fx.g, c), "other.mfz", 0); ok {
			t.Errorf("%v: holds an untrusted file: %+v", c, p)
		}
	}
}

func TestCorruptNeighbourAvoided(t *testing.T) {
	// In the 2x2 brick wall t-1-0 is a neighbour of every other tile.
	// It receives correctly but serves every block damaged; the others
	// must notice, avoid it, and complete from t-0-0 and t-0-1.
	bad := tilegrid.Coord{X: 1}
	fx := grid(t, 2, 2, fast, func(cfg *tilegrid.Config) {
		cfg.Options = func(c tilegrid.Coord, o *tile.Options) { o.MFZ.CorruptSends = c == bad }
	})
	path := pack(t, fx.dir, "physics.mfz", 1000, 256<<10, fx.priv, 11)
	if _, err := fx.push(tilegrid.Coord{}, path); err != nil {
		t.Fatal(err)
	}
	fx.waitAll("physics.mfz", 1000, 60*time.Second)
	fx.checkIdentical("physics.mfz", path)
	var badBlocks, avoided uint64
	for _, c := range fx.g.Geometry().Coords() {
		s := fx.status(c)
		badBlocks += s.Counters.BadBlocks
		avoided += s.Counters.Avoided
	}
	t.Logf("bad blocks %d, avoided %d", badBlocks, avoided)
	if badBlocks == 0 || avoided == 0 {
		t.Errorf("bad blocks %d, avoided %d: the corrupt neighbour went unnoticed", badBlocks, avoided)
	}
}
