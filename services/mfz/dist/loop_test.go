package dist

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// A unit-level harness: one loop driven by hand, with a fake p2p.Host
// that records what is sent and a clock the test moves (l.now). Messages
// from neighbours are crafted with the append* builders, so a test can
// play a buggy or hostile neighbour exactly.

type fakeHost struct {
	mu      sync.Mutex
	live    map[packet.Dir]bool
	sent    map[packet.Dir][][]byte
	full    func(to packet.Dir) bool // Send fails with ErrQueueFull while true
	room    int
	drained chan struct{}
	log     *slog.Logger
}

func (h *fakeHost) Send(to packet.Dir, b []byte) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.live[to] {
		return p2p.ErrNotLive
	}
	if h.full != nil && h.full(to) {
		return p2p.ErrQueueFull
	}
	h.sent[to] = append(h.sent[to], bytes.Clone(b))
	return nil
}

func (h *fakeHost) Broadcast(b []byte) []packet.Dir {
	var ds []packet.Dir
	for d := range h.live {
		if h.Send(d, b) == nil {
			ds = append(ds, d)
		}
	}
	return ds
}

func (h *fakeHost) Room(packet.Dir) int { return h.room }

func (h *fakeHost) Drained() <-chan struct{} { return h.drained }

func (h *fakeHost) Neighbours() []p2p.Neighbour {
	var ns []p2p.Neighbour
	for d := range h.live {
		ns = append(ns, p2p.Neighbour{Dir: d, Tile: p2p.TileID{byte(d)}})
	}
	return ns
}

func (h *fakeHost) Neighbour(d packet.Dir) (p2p.Neighbour, bool) {
	return p2p.FindNeighbour(h.Neighbours(), d)
}

func (h *fakeHost) Self() p2p.TileID { return p2p.TileID{0xAA} }

func (h *fakeHost) Logger() *slog.Logger { return h.log }

// take returns and forgets what was sent to d, parsed.
func (h *fakeHost) take(t testing.TB, d packet.Dir) []msg {
	t.Helper()
	h.mu.Lock()
	raw := h.sent[d]
	h.sent[d] = nil
	h.mu.Unlock()
	var ms []msg
	for _, b := range raw {
		m, err := parseMessage(b)
		if err != nil {
			t.Fatalf("we sent a message we cannot parse (% x): %v", b, err)
		}
		m.manifest.data, m.bitfield.bits = bytes.Clone(m.manifest.data), bytes.Clone(m.bitfield.bits)
		m.have.list, m.data.data = bytes.Clone(m.have.list), bytes.Clone(m.data.data)
		ms = append(ms, m)
	}
	return ms
}

type harness struct {
	t      testing.TB
	h      *fakeHost
	s      *Service
	l      *loop
	priv   ed25519.PrivateKey
	dir    string
	cancel context.CancelFunc
	wg     sync.WaitGroup
	full   atomic.Bool // the store's writes fail with ENOSPC while set
	// fullFor: the store's writes of this kind (mfz's fault op: "block",
	// "have"...) fail with ENOSPC while set
	fullFor atomic.Value
}

// newHarness makes a service whose store trusts one test key, and a loop
// with live neighbours on dirs.
func newHarness(t testing.TB, dirs ...packet.Dir) *harness {
	t.Helper()
	dir := t.TempDir()
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	trust := filepath.Join(dir, "trust")
	if err := os.MkdirAll(trust, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trust, "k.pub"), mfz.MarshalPublicKey(priv.Public().(ed25519.PublicKey), "test"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	x := &harness{t: t, priv: priv, dir: dir}
	s, err := New(Config{TrustDir: trust}, Options{StateDir: filepath.Join(dir, "state"), Logger: log, WriteFault: func(op string) error {
		if x.full.Load() || x.fullFor.Load() == op {
			return syscall.ENOSPC
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{live: map[packet.Dir]bool{}, sent: map[packet.Dir][][]byte{}, room: 1000,
		drained: make(chan struct{}), log: log}
	for _, d := range dirs {
		h.live[d] = true
	}
	x.h, x.s = h, s
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	x.l = newLoop(s, h, &x.wg)
	x.l.rng = rand.New(rand.NewSource(1)) // rarest-first's tie-break: the same picks every run
	x.l.ctx = ctx
	x.l.now = time.Now()
	x.l.resync()
	for _, d := range dirs {
		x.l.connect(d, p2p.TileID{byte(d)})
	}
	t.Cleanup(func() {
		cancel()
		x.wg.Wait()
		s.store.Close()
	})
	for _, d := range dirs {
		h.take(t, d) // the SYNC and announcements of connect
	}
	return x
}

// signedFile is a packed file held only in memory.
type signedFile struct {
	m      *mfz.Manifest
	signed []byte
	body   []byte
	file   []byte // the whole MFZ file
	id     fileID
}

// pack makes a signed file of size random bytes with block size bs, in
// format 2: the loop's tests count manifest segments and body blocks of
// a manifest that holds every block's hash. Format 3's hash pages have
// tests of their own (pages_test.go), and the grid tests spread it.
func (x *harness) pack(name string, version int64, size, bs int) *signedFile {
	x.t.Helper()
	return x.packFormat(x.priv, name, version, size, bs, 2)
}

// packKey is pack signed with key (which the tile may not trust).
func (x *harness) packKey(key ed25519.PrivateKey, name string, version int64, size, bs int) *signedFile {
	x.t.Helper()
	return x.packFormat(key, name, version, size, bs, 2)
}

// packFormat is packKey in format format.
func (x *harness) packFormat(key ed25519.PrivateKey, name string, version int64, size, bs, format int) *signedFile {
	x.t.Helper()
	payload := make([]byte, size)
	rand.New(rand.NewSource(version)).Read(payload)
	var out bytes.Buffer
	if _, err := mfz.Pack(&out, bytes.NewReader(payload), mfz.PackOptions{Name: name, Version: version, Key: key,
		BlockSize: bs, SizeHint: int64(size), TempDir: x.dir, Format: format}); err != nil {
		x.t.Fatal(err)
	}
	f, err := mfz.ReadFile(bytes.NewReader(out.Bytes()), int64(out.Len()))
	if err != nil {
		x.t.Fatal(err)
	}
	return &signedFile{m: f.Manifest, signed: f.Signed, body: out.Bytes()[f.BodyOffset:], file: out.Bytes(), id: fidOf(f.Manifest.Hash())}
}

func (sf *signedFile) chunk(b, c int) []byte {
	off := int(sf.m.BlockOffset(b))
	blk := sf.body[off : off+sf.m.BlockLen(b)]
	return blk[c*ChunkLen : c*ChunkLen+chunkSize(len(blk), c)]
}

// receiving makes the loop receive sf (as if its manifest had come) and
// has the neighbour on d announce it complete under handle hd.
func (x *harness) receiving(sf *signedFile, d packet.Dir, hd uint8) *file {
	x.t.Helper()
	if _, err := x.s.store.Begin(sf.signed); err != nil {
		x.t.Fatal(err)
	}
	x.l.resync()
	f := x.l.files.byID[sf.id]
	if f == nil || !f.receiving() {
		x.t.Fatalf("no transfer of %s", sf.m.Name)
	}
	x.in(d, appendAnnounce(nil, hd, flagComplete, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	return f
}

// in delivers one crafted payload from d.
func (x *harness) in(d packet.Dir, b []byte) { x.l.handle(d, p2p.TileID{byte(d)}, b) }

// turn runs what the loop does after each event.
func (x *harness) turn() {
	x.l.flushHaves()
	for _, n := range x.l.nbrs {
		if n != nil {
			x.l.fill(n)
			x.l.pump(n)
		}
	}
}

// advance moves the clock and runs the timers.
func (x *harness) advance(d time.Duration) {
	x.l.now = x.l.now.Add(d)
	x.l.fastTimers()
	x.turn()
}

func requests(ms []msg) (out []requestMsg) {
	for _, m := range ms {
		if m.typ == msgRequest {
			out = append(out, m.request)
		}
	}
	return out
}

// liveOut counts n's outstanding-chunk entries of blocks still being fetched.
func liveOut(n *nbr) int { return liveEntries(&n.win) }

// A probe re-asks chunks that were only slow; when the originals then
// complete the block, the probe's entries must stop counting against the
// window. They used to stay in inflight for ever, so the neighbour's window
// shrank with every such probe and its timer kept firing with nothing
// outstanding, striking and then avoiding an honest neighbour for good.
func TestProbeThenBlockDoneKeepsWindow(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 3000, 1024) // 3 blocks of 1 KiB: 5 chunks each
	x.receiving(sf, packet.ET, 9)
	x.turn()
	n := x.l.nbrs[packet.ET]
	reqs := requests(x.h.take(t, packet.ET))
	if len(reqs) == 0 || n.win.inflight == 0 {
		t.Fatalf("nothing asked: %d requests, inflight %d", len(reqs), n.win.inflight)
	}
	// Silence: a probe re-asks the oldest chunks (of block 0).
	x.advance(time.Second)
	if n.win.timeouts != 1 {
		t.Fatalf("timeouts %d, want 1", n.win.timeouts)
	}
	x.h.take(t, packet.ET)
	// The original answers arrive, in order, for every request.
	for _, r := range reqs {
		for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
			x.in(packet.ET, appendData(nil, 9, int(r.block), c, sf.chunk(int(r.block), c)))
		}
	}
	f := x.l.files.byID[sf.id]
	if f.nhave != f.blocks {
		t.Fatalf("held %d of %d blocks", f.nhave, f.blocks)
	}
	if n.win.inflight != liveOut(n) || n.win.inflight != 0 {
		t.Fatalf("inflight %d with %d chunks really outstanding", n.win.inflight, liveOut(n))
	}
	// Nothing is outstanding, so no timer fires and n is not avoided.
	for i := 0; i < 40; i++ {
		x.advance(time.Second)
	}
	if n.win.timeouts != 1 || n.avoided(x.l.now) {
		t.Fatalf("after the block: %d timeouts, avoided %v", n.win.timeouts, n.avoided(x.l.now))
	}
}

// A neighbour replaying a chunk it already delivered (nothing asked for
// it) must not count as progress: it kept the silence timer from ever
// firing, so a block it never served stayed assigned to it for ever and
// nobody else could fetch it.
func TestDuplicateChunksAreNotProgress(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 900, 1024) // 1 block, 4 chunks
	x.receiving(sf, packet.ET, 9)
	x.turn()
	n := x.l.nbrs[packet.ET]
	// The block, and its last chunk again (fill's tail ask: nothing more
	// to ask after it).
	if reqs := requests(x.h.take(t, packet.ET)); len(reqs) != 2 || reqs[0].count != 4 || reqs[1].chunk != 3 || reqs[1].count != 1 {
		t.Fatalf("requests %+v", reqs)
	}
	dup := appendData(nil, 9, 0, 0, sf.chunk(0, 0))
	x.in(packet.ET, dup) // answers chunk 0; chunks 1..3 never come
	for i := 0; i < 300; i++ {
		x.in(packet.ET, dup)
		x.advance(50 * time.Millisecond)
	}
	if n.win.timeouts == 0 {
		t.Fatalf("15 s without the chunks asked for and no timeout")
	}
	if !n.avoided(x.l.now) {
		t.Errorf("a neighbour that never serves what it is asked is not avoided (%d timeouts)", n.win.timeouts)
	}
}

// The control queue towards a slow neighbour that never quite drains must
// not grow: the slice behind it kept every message ever queued.
func TestCtrlQueueStaysBounded(t *testing.T) {
	x := newHarness(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	k := 0
	x.h.full = func(packet.Dir) bool { k++; return k%3 != 0 } // one Send in three succeeds
	msgb := appendNotHave(nil, 1, 2)
	for i := 0; i < 20000; i++ {
		x.l.sendCtrl(n, msgb)
		x.l.sendCtrl(n, msgb)
		x.l.pump(n)
	}
	if waiting := len(n.ctrl) - n.ctrlHead; waiting > x.l.t.ctrlQueue {
		t.Fatalf("%d control messages waiting", waiting)
	}
	if len(n.ctrl) > 2*x.l.t.ctrlQueue+256 {
		t.Fatalf("control queue slice is %d long for %d waiting", len(n.ctrl), len(n.ctrl)-n.ctrlHead)
	}
}

// A GET_MANIFEST stream for a file the tile dropped meanwhile stops: the
// handle may soon name another file.
func TestManifestStreamOfDroppedFileStops(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 30000, 1024)
	f := x.receiving(sf, packet.ET, 9)
	x.h.full = func(packet.Dir) bool { return true }
	x.in(packet.ET, appendGetManifest(nil, f.handle, 0, 0))
	x.turn()
	x.l.abandon(f)
	x.h.full = nil
	x.turn()
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ == msgManifest {
			t.Fatalf("MANIFEST of a dropped file sent under handle %d", m.manifest.handle)
		}
	}
}

// Every message type with a byte added after its body is refused
// (notes/protocol.md: "Bytes after a known body are not allowed").
func TestTrailingBytesRefused(t *testing.T) {
	for _, b := range seeds() {
		if b[0] == msgData || b[0] == msgShortData || b[0] == msgManifest || b[0] == msgBitfield || b[0] == msgHave {
			continue // their last field runs to the CRC
		}
		body := append(bytes.Clone(b[:len(b)-crcLen]), 0)
		if _, err := parseMessage(seal(body)); !errors.Is(err, errField) && !errors.Is(err, errShort) {
			t.Errorf("type %d with a trailing byte: %v", b[0], err)
		}
	}
}

// A final check that fails while the store keeps the partial (a disk
// error: the block bitmap cannot be recorded) is not retried at once: the
// loop used to take the partial straight back from the store and verify
// the whole file again, in a tight loop for as long as the disk failed.
// The transfer is paused now, and the check runs once per backoff step.
func TestFailedCompletionNotRetriedAtOnce(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 900, 1024) // 1 block, 4 chunks
	f := x.receiving(sf, packet.ET, 9)
	x.turn()
	dirs, _ := filepath.Glob(filepath.Join(x.dir, "state", "mfz", "partial", "*"))
	if len(dirs) != 1 {
		t.Fatalf("partial dirs %v", dirs)
	}
	if err := os.RemoveAll(dirs[0]); err != nil {
		t.Fatal(err)
	}
	x.serveAll(packet.ET, 9, sf) // written; the check cannot record it: a disk error
	if f.nhave != 1 || f.phase != phaseVerifying {
		t.Fatalf("blocks held %d, phase %v; want 1, checking", f.nhave, f.phase)
	}
	attempts := 0
	x.runFor(10*time.Second, func() bool {
		x.serveAll(packet.ET, 9, sf)
		if f.phase == phaseVerifying {
			select {
			case c := <-x.l.done:
				attempts++
				x.l.completed(c)
			case <-time.After(20 * time.Second):
				t.Fatal("the final check did not come back")
			}
		}
		return true
	})
	// The first check at once, then paused 1 s, 2 s, 4 s: checks at 1 s,
	// 3 s and 7 s.
	if attempts < 2 || attempts > 4 || x.l.counters.DiskErrors != uint64(attempts) {
		t.Fatalf("%d final checks in 10 s, %d disk errors: want one check per backoff step, each failing", attempts, x.l.counters.DiskErrors)
	}
	if x.l.isRefused(sf.id) || x.l.files.byID[sf.id] != f || f.nhave != 1 {
		t.Fatal("a transfer whose disk failed was refused or lost its block")
	}
}

func TestRemoteHeldCounts(t *testing.T) {
	for _, blocks := range []int{0, 1, 7, 8, 9, 100, 4096} {
		r := &rfile{blocks: blocks, have: mfz.NewBitmap(blocks)}
		want := 0
		for b := 0; b < blocks; b += 3 {
			r.have.Set(b)
			want++
		}
		if got := r.held(); got != want {
			t.Errorf("%d blocks: held %d, want %d", blocks, got, want)
		}
	}
}

// A packet from the tile that was on a link before the one now connected
// there (read after the new tile's connect event) is not the new tile's:
// its announcement used to fill the new tile's handle table, and asking
// the new tile for that file under a handle it never gave earned it a
// strike.
func TestPacketFromReplacedTileIgnored(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 900, 1024)
	old := p2p.TileID{0xEE}
	x.l.handle(packet.ET, old, appendAnnounce(nil, 9, flagComplete, 1, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, "a.mfz"))
	x.turn()
	n := x.l.nbrs[packet.ET]
	if len(n.byFid) != 0 || len(x.l.fetches) != 0 {
		t.Fatalf("the replaced tile's announcement was taken as the new tile's: %d files, %d fetches", len(n.byFid), len(x.l.fetches))
	}
	if x.l.counters.NotLive != 1 {
		t.Errorf("not_live %d, want 1", x.l.counters.NotLive)
	}
}

// --- hostile neighbours ---

// untrusted is a signing key the harness's tile does not trust.
var untrusted = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))

// tick moves the clock and runs the timers, the slow ones too.
func (x *harness) tick(d time.Duration) {
	x.advance(d)
	x.l.slowTick()
	x.turn()
}

// announceFile has the neighbour on d announce sf complete under handle hd.
func (x *harness) announceFile(d packet.Dir, hd uint8, sf *signedFile) {
	x.in(d, appendAnnounce(nil, hd, flagComplete, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
}

// serveManifest has the neighbour on d send the segments of sf's signed
// manifest from byte from (all of it if to < 0, else up to byte to).
func (x *harness) serveManifest(d packet.Dir, hd uint8, sf *signedFile, from, to int) {
	if to < 0 {
		to = len(sf.signed)
	}
	for off := from; off < to; off += manifestSeg {
		end := min(off+manifestSeg, len(sf.signed))
		x.in(d, appendManifest(nil, hd, off, len(sf.signed), sf.signed[off:end]))
	}
}

func getManifests(ms []msg) (out []getManifestMsg) {
	for _, m := range ms {
		if m.typ == msgGetManifest {
			out = append(out, m.getManifest)
		}
	}
	return out
}

func (x *harness) fetchesFrom(d packet.Dir) int {
	k := 0
	for _, mf := range x.l.fetches {
		if mf.from == d {
			k++
		}
	}
	return k
}

// A neighbour announcing several names and never serving their manifests
// used to take every manifest fetch slot (4 in all): an honest neighbour's
// new file was not fetched until those timed out, and a neighbour that
// kept announcing kept them. Fetches are limited per neighbour now.
func TestManifestFetchSlotsPerNeighbour(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	for i := 0; i < 5; i++ {
		bogus := x.packKey(untrusted, "bogus"+string(rune('a'+i))+".mfz", 100, 1500, 1024)
		x.announceFile(packet.ET, uint8(10+i), bogus)
	}
	x.turn()
	if k := x.fetchesFrom(packet.ET); k > x.l.t.manifests {
		t.Fatalf("%d manifest fetches from one neighbour, limit %d", k, x.l.t.manifests)
	}
	honest := x.pack("b.mfz", 1, 1500, 1024)
	x.announceFile(packet.SE, 3, honest)
	x.turn()
	if len(getManifests(x.h.take(t, packet.SE))) != 1 || x.l.fetches[honest.id] == nil {
		t.Fatalf("the honest neighbour's file is not fetched while another holds %d fetches", x.fetchesFrom(packet.ET))
	}
	x.serveManifest(packet.SE, 3, honest, 0, -1)
	if f := x.l.files.byID[honest.id]; f == nil || !f.receiving() {
		t.Fatalf("no transfer of the honest file")
	}
}

// A manifest in a format newer than this build reads comes from a newer
// itcd, not a liar: it is refused (not fetched again) but not struck, so
// an upgraded neighbour is never avoided for it, and its files in a
// format this build reads still come.
func TestNewerFormatRefusedNotStruck(t *testing.T) {
	x := newHarness(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	for v := int64(10); v < 10+int64(x.l.t.strikes)+1; v++ {
		sf := x.pack("next.mfz", v, 3000, 1024)
		future := *sf
		future.signed = append([]byte(nil), sf.signed...)
		future.signed[1] = mfz.FormatVersion + 1
		future.id = fidOf(sha256.Sum256(future.signed[:len(future.signed)-mfz.SignatureLen]))
		x.announceFile(packet.ET, uint8(v), &future)
		x.turn()
		if len(getManifests(x.h.take(t, packet.ET))) == 0 {
			t.Fatalf("version %d: the manifest is not asked for", v)
		}
		x.serveManifest(packet.ET, uint8(v), &future, 0, -1)
		if !x.l.isRefused(future.id) || x.l.files.byID[future.id] != nil {
			t.Fatalf("version %d: a manifest of format %d is not refused", v, mfz.FormatVersion+1)
		}
		if n.conduct.strikes != 0 || n.avoided(x.l.now) {
			t.Fatalf("version %d: the neighbour has %d strikes (avoided %v)", v, n.conduct.strikes, n.avoided(x.l.now))
		}
		x.tick(100 * time.Millisecond)
	}
	sf := x.pack("now.mfz", 99, 3000, 1024)
	x.announceFile(packet.ET, 99, sf)
	x.turn()
	x.serveManifest(packet.ET, 99, sf, 0, -1)
	if f := x.l.files.byID[sf.id]; f == nil || !f.receiving() {
		t.Fatal("a file this build reads is not received from the upgraded neighbour")
	}
}

// A neighbour announcing a newer version of a name, signed by a key we do
// not trust, used to take the name's only fetch slot from an honest
// neighbour's older (but good) version ("newer replaces older"), and each
// refusal cost it nothing, so announcing ever-newer versions starved the
// name. Now the honest announcement is fetched meanwhile, and every refused
// manifest is a strike: three in a row and the neighbour is avoided.
func TestBogusNewerVersionsDoNotStarveName(t *testing.T) {
	for _, honestFirst := range []bool{true, false} {
		x := newHarness(t, packet.ET, packet.SE)
		honest := x.pack("a.mfz", 5, 1500, 1024)
		bogus := x.packKey(untrusted, "a.mfz", 100, 1500, 1024)
		if honestFirst {
			x.announceFile(packet.SE, 3, honest)
			x.announceFile(packet.ET, 7, bogus)
		} else {
			x.announceFile(packet.ET, 7, bogus)
			x.announceFile(packet.SE, 3, honest)
		}
		x.turn()
		if x.l.fetches[honest.id] == nil || len(getManifests(x.h.take(t, packet.SE))) == 0 {
			t.Fatalf("honest first %v: the honest version is not fetched while a bogus newer one is", honestFirst)
		}
		// The bogus neighbour keeps announcing newer versions and serving
		// them; each is refused and struck.
		n := x.l.nbrs[packet.ET]
		for v := int64(100); v < 110 && !n.avoided(x.l.now); v++ {
			b := x.packKey(untrusted, "a.mfz", v, 1500, 1024)
			x.announceFile(packet.ET, uint8(v), b)
			x.turn()
			x.serveManifest(packet.ET, uint8(v), b, 0, -1)
			x.tick(100 * time.Millisecond)
		}
		if !n.avoided(x.l.now) {
			t.Fatalf("honest first %v: a neighbour whose manifests are refused again and again is not avoided (%d strikes, %d refused)",
				honestFirst, n.conduct.strikes, x.l.counters.Refused)
		}
		if x.l.counters.Refused != uint64(x.l.t.strikes) {
			t.Errorf("honest first %v: %d refused before avoiding, want %d", honestFirst, x.l.counters.Refused, x.l.t.strikes)
		}
		x.serveManifest(packet.SE, 3, honest, 0, -1)
		if f := x.l.files.byID[honest.id]; f == nil || !f.receiving() {
			t.Fatalf("honest first %v: no transfer of the honest version", honestFirst)
		}
		if x.l.nbrs[packet.SE].conduct.strikes != 0 {
			t.Errorf("honest first %v: the honest neighbour has %d strikes", honestFirst, x.l.nbrs[packet.SE].conduct.strikes)
		}
	}
}

// A neighbour streaming a manifest just fast enough never to be silent for
// a timeout used to hold the fetch for as long as it liked. A fetch now
// has a deadline (a floor plus its size at a conservative rate); past it,
// the fetch is abandoned, the neighbour struck, and the file is asked of
// another neighbour that announced it.
func TestSlowManifestAbandonedAtDeadline(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	sf := x.pack("big.mfz", 1, 2<<20, 1024) // 2049 blocks: a 33 KB manifest
	x.announceFile(packet.ET, 4, sf)
	x.turn()
	x.h.take(t, packet.ET)
	n := x.l.nbrs[packet.ET]
	gap := n.win.rto(x.l.t) - 10*time.Millisecond
	limit := x.l.t.mfFloor + time.Duration(len(sf.signed))*time.Second/time.Duration(x.l.t.mfRate)
	start := x.l.now
	// SE announces it too, a little later: the slow one keeps the fetch.
	x.announceFile(packet.SE, 5, sf)
	off := 0
	for off < len(sf.signed) && x.l.fetches[sf.id] != nil && x.l.fetches[sf.id].from == packet.ET {
		x.serveManifest(packet.ET, 4, sf, off, off+1)
		off += manifestSeg
		x.tick(gap)
	}
	took := x.l.now.Sub(start)
	if off >= len(sf.signed) {
		t.Fatalf("a manifest streamed at %.0f B/s was fetched to the end (%v)", float64(manifestSeg)/gap.Seconds(), took)
	}
	if took > limit+time.Second {
		t.Errorf("abandoned after %v, deadline %v", took, limit)
	}
	if n.conduct.strikes != 1 {
		t.Errorf("the slow neighbour has %d strikes, want 1", n.conduct.strikes)
	}
	if mf := x.l.fetches[sf.id]; mf == nil || mf.from != packet.SE || len(getManifests(x.h.take(t, packet.SE))) == 0 {
		t.Fatalf("the manifest is not asked of the other neighbour that has it")
	}
}

// Avoidance used to live in the neighbour's state, made afresh when it
// connects: a bad tile cleared it by flapping its link. It is kept by tile
// id now (a bounded number of tiles), until it expires.
func TestAvoidanceSurvivesReconnect(t *testing.T) {
	x := newHarness(t, packet.ET)
	tile := p2p.TileID{byte(packet.ET)}
	n := x.l.nbrs[packet.ET]
	for i := 0; i < x.l.t.strikes; i++ {
		x.l.strike(n, "test")
	}
	x.l.strike(n, "test") // one more strike after the avoidance
	if !n.avoided(x.l.now) {
		t.Fatal("not avoided after its strikes")
	}
	until, next := n.conduct.avoidUntil, n.conduct.avoidFor
	x.tick(time.Second)
	x.l.disconnect(packet.ET)
	x.tick(time.Second)
	x.l.connect(packet.ET, tile)
	n = x.l.nbrs[packet.ET]
	if !n.avoided(x.l.now) || n.conduct.avoidUntil != until || n.conduct.avoidFor != next || n.conduct.strikes != 1 {
		t.Fatalf("after reconnecting: avoided %v until %v (was %v), next %v (was %v), strikes %d",
			n.avoided(x.l.now), n.conduct.avoidUntil, until, n.conduct.avoidFor, next, n.conduct.strikes)
	}
	sf := x.pack("a.mfz", 1, 900, 1024)
	x.h.take(t, packet.ET)
	x.receiving(sf, packet.ET, 9)
	x.turn()
	if len(requests(x.h.take(t, packet.ET))) != 0 {
		t.Fatal("an avoided tile is asked for blocks after reconnecting")
	}
	// Another tile on the same link starts clean.
	x.l.connect(packet.ET, p2p.TileID{0x42})
	if x.l.nbrs[packet.ET].avoided(x.l.now) {
		t.Fatal("a different tile on the link is avoided")
	}
	// And the bad one, back after its record expired, too.
	x.l.now = until.Add(x.l.t.avoidMax + time.Second)
	x.l.connect(packet.ET, tile)
	if n := x.l.nbrs[packet.ET]; n.avoided(x.l.now) || n.conduct.strikes != 0 || n.conduct.avoidFor != x.l.t.avoidFor {
		t.Fatalf("expired record still applies: strikes %d, next avoidance %v", n.conduct.strikes, n.conduct.avoidFor)
	}
	// The memory is bounded.
	for i := 0; i < 3*x.l.t.conductMax; i++ {
		id := p2p.TileID{1, byte(i), byte(i >> 8)}
		x.l.connect(packet.ET, id)
		x.l.avoid(x.l.nbrs[packet.ET], "test")
		x.l.disconnect(packet.ET)
		x.l.now = x.l.now.Add(time.Millisecond)
	}
	if len(x.l.remembered) > x.l.t.conductMax {
		t.Fatalf("%d tiles remembered, limit %d", len(x.l.remembered), x.l.t.conductMax)
	}
}

func announces(ms []msg) (out []announceMsg) {
	for _, m := range ms {
		if m.typ == msgAnnounce {
			out = append(out, m.announce)
		}
	}
	return out
}

// One 4-byte SYNC makes us announce everything again. A neighbour sending
// SYNCs back to back used to get every announcement (and bitfield) for
// each: at most one answer per second now. A SYNC inside that second is not
// lost, though: after a real restart the neighbour needs our announcements,
// so the second's SYNCs get one answer when the second ends, and what the
// neighbour had announced is forgotten at once.
func TestSyncAnsweredOncePerSecond(t *testing.T) {
	x := newHarness(t, packet.ET)
	for i, name := range []string{"a.mfz", "b.mfz", "c.mfz"} {
		sf := x.pack(name, int64(i+1), 900, 1024)
		path := filepath.Join(x.dir, name)
		if err := os.WriteFile(path, sf.file, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := x.s.store.Install(path); err != nil {
			t.Fatal(err)
		}
	}
	x.l.resync()
	for i := 0; i < 20; i++ { // past the re-announcements of new files
		x.tick(250 * time.Millisecond)
	}
	x.h.take(t, packet.ET)
	files := len(x.l.files.byName)
	x.in(packet.ET, appendSync(nil, 0)) // the first is answered at once
	x.turn()
	if k := len(announces(x.h.take(t, packet.ET))); k != files {
		t.Fatalf("first SYNC: %d announcements, want %d", k, files)
	}
	for i := 0; i < 100; i++ {
		x.in(packet.ET, appendSync(nil, 0))
		x.turn()
	}
	if k := len(announces(x.h.take(t, packet.ET))); k != 0 {
		t.Fatalf("100 more SYNCs in the same second: %d announcements, want none yet", k)
	}
	// The neighbour restarts within the second: SYNC, then its own
	// announcement under a handle it used before for another file.
	other := x.pack("d.mfz", 1, 900, 1024)
	x.in(packet.ET, appendAnnounce(nil, 1, flagComplete, 7, 1, 1, fileID{1}, "old.mfz"))
	x.tick(500 * time.Millisecond)
	x.h.take(t, packet.ET)
	x.in(packet.ET, appendSync(nil, 0))
	n := x.l.nbrs[packet.ET]
	if len(n.byFid) != 0 || n.rh[1] != nil {
		t.Fatal("what the neighbour announced before its SYNC is still believed")
	}
	x.announceFile(packet.ET, 1, other)
	x.turn()
	if k := len(announces(x.h.take(t, packet.ET))); k != 0 {
		t.Fatalf("a SYNC within the second answered at once (%d announcements)", k)
	}
	for i := 0; i < 6; i++ {
		x.tick(250 * time.Millisecond)
	}
	if k := len(announces(x.h.take(t, packet.ET))); k != files {
		t.Fatalf("the SYNCs of the second: %d announcements, want %d once", k, files)
	}
	if x.l.counters.SyncsDeferred != 101 {
		t.Errorf("syncs_deferred %d, want 101", x.l.counters.SyncsDeferred)
	}
	for i := 0; i < 8; i++ {
		x.tick(250 * time.Millisecond)
	}
	if k := len(announces(x.h.take(t, packet.ET))); k != 0 {
		t.Fatalf("%d more announcements with no SYNC", k)
	}
	// A SYNC a second after the last answer is answered at once.
	x.in(packet.ET, appendSync(nil, 0))
	x.turn()
	if k := len(announces(x.h.take(t, packet.ET))); k != files {
		t.Fatalf("a later SYNC: %d announcements, want %d", k, files)
	}
}

// A transfer whose final check loses to a newer version pushed meanwhile
// (the store drops the partial) used to be logged as "failed its final
// check; refused" and counted as refused. It is superseded.
func TestCompletionSupersededByPush(t *testing.T) {
	x := newHarness(t, packet.ET)
	var logged bytes.Buffer
	x.l.log = slog.New(slog.NewTextHandler(&logged, nil))
	v1 := x.pack("a.mfz", 1, 900, 1024)
	f := x.receiving(v1, packet.ET, 9)
	if err := f.partial.PutBlock(0, v1.body); err != nil {
		t.Fatal(err)
	}
	v2 := x.pack("a.mfz", 2, 900, 1024)
	path := filepath.Join(x.dir, "a2.mfz")
	if err := os.WriteFile(path, v2.file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.s.store.Install(path); err != nil {
		t.Fatal(err)
	}
	// The final check of v1, racing with the push, as startComplete runs it.
	if !f.to(evAllBlocks) {
		t.Fatalf("the transfer cannot start its final check in phase %v", f.phase)
	}
	x.l.completed(completion{f, f.partial.Complete()})
	if x.l.counters.Refused != 0 || x.l.counters.Superseded != 1 {
		t.Errorf("refused %d, superseded %d; want 0, 1", x.l.counters.Refused, x.l.counters.Superseded)
	}
	if bytes.Contains(logged.Bytes(), []byte("failed its final check")) {
		t.Errorf("logged as a failure: %s", logged.String())
	}
	if x.l.isRefused(v1.id) {
		t.Error("the superseded file is refused")
	}
	if g := x.l.files.byName["a.mfz"]; g == nil || g.id != v2.id {
		t.Errorf("the pushed version is not the one announced")
	}
}

// segmentsSent lists the MANIFEST segments (by slot) among ms, in order.
func segmentsSent(ms []msg) (slots []int) {
	for _, m := range ms {
		if m.typ == msgManifest {
			slots = append(slots, int(m.manifest.offset)/manifestSeg)
		}
	}
	return slots
}

// A GET_MANIFEST to the end sends every segment in order and the last
// once more; asks for segments already waiting add nothing; a counted
// ask sends exactly its segments, its last twice.
func TestManifestSegmentsServed(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 80000, 1024) // 79 blocks: a signed manifest of 6 segments
	f := x.receiving(sf, packet.ET, 9)
	segs := segCount(len(f.signed))
	if segs != 6 {
		t.Fatalf("%d segments, want 6", segs)
	}
	x.h.take(t, packet.ET)
	x.h.full = func(packet.Dir) bool { return true } // nothing leaves until all asks are in
	x.in(packet.ET, appendGetManifest(nil, f.handle, 0, 0))
	x.turn()
	x.in(packet.ET, appendGetManifest(nil, f.handle, 2*manifestSeg, 2)) // waiting already
	x.in(packet.ET, appendGetManifest(nil, f.handle, 4*manifestSeg, 0)) // so are these
	x.h.full = nil
	x.turn()
	if got, want := segmentsSent(x.h.take(t, packet.ET)), []int{0, 1, 2, 3, 4, 5, 5}; !slices.Equal(got, want) {
		t.Fatalf("sent segments %v, want %v", got, want)
	}
	x.in(packet.ET, appendGetManifest(nil, f.handle, 3*manifestSeg, 1))
	x.in(packet.ET, appendGetManifest(nil, f.handle, 1*manifestSeg, 1))
	x.turn()
	if got, want := segmentsSent(x.h.take(t, packet.ET)), []int{1, 3, 3}; !slices.Equal(got, want) {
		t.Fatalf("re-asked segments sent %v, want %v", got, want)
	}
	// A count past the end is cut at the end.
	x.in(packet.ET, appendGetManifest(nil, f.handle, 4*manifestSeg, 9))
	x.turn()
	if got, want := segmentsSent(x.h.take(t, packet.ET)), []int{4, 5, 5}; !slices.Equal(got, want) {
		t.Fatalf("segments past the end: sent %v, want %v", got, want)
	}
	// A re-ask that comes before the last segment's second copy: the
	// highest one sent still goes twice, after the re-asked one.
	x.h.full = func(packet.Dir) bool { return true }
	x.in(packet.ET, appendGetManifest(nil, f.handle, 0, 0))
	x.turn()
	x.h.full = nil
	j := &x.l.nbrs[packet.ET].jobs[0]
	for s := 0; s < segs; s++ {
		j.sentSeg(j.nextSeg()) // sent, as pump does
	}
	x.in(packet.ET, appendGetManifest(nil, f.handle, 2*manifestSeg, 1))
	x.turn()
	if got, want := segmentsSent(x.h.take(t, packet.ET)), []int{2, 5}; !slices.Equal(got, want) {
		t.Fatalf("after a re-ask mid-stream: sent %v, want %v", got, want)
	}
}

// Every ANNOUNCE says the tile serves counted GET_MANIFESTs.
func TestAnnounceSaysCounted(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 20000, 1024)
	x.receiving(sf, packet.ET, 9)
	x.l.announceAll(x.l.files.byID[sf.id])
	as := announces(x.h.take(t, packet.ET))
	if len(as) == 0 {
		t.Fatal("no ANNOUNCE")
	}
	for _, a := range as {
		if a.flags&flagsServed != flagsServed {
			t.Fatalf("ANNOUNCE flags %#x without flagCounted and flagRequests", a.flags)
		}
	}
}

// A transfer that begins is announced at once and again 25 ms, 75 ms,
// 175 ms, 375 ms, 775 ms, 1.575 s and 3.175 s later, on the fast tick,
// except to a neighbour
// that announced the file whole itself.
func TestNewTransferReannounced(t *testing.T) {
	x := newHarness(t, packet.ET, packet.SE)
	sf := x.pack("a.mfz", 1, 20000, 1024)
	x.receiving(sf, packet.ET, 9) // ET announces it whole
	x.l.reannounceSoon(x.l.files.byID[sf.id])
	x.h.take(t, packet.ET)
	x.h.take(t, packet.SE)
	var at []time.Duration
	start := x.l.now
	for x.l.now.Sub(start) < 5*time.Second {
		if x.l.files.byID[sf.id].reannounceLeft > 0 && !x.l.busy() {
			t.Fatalf("repeats due and the loop not on its fast tick")
		}
		x.advance(5 * time.Millisecond)
		if len(announces(x.h.take(t, packet.SE))) > 0 {
			at = append(at, x.l.now.Sub(start))
		}
		if len(announces(x.h.take(t, packet.ET))) > 0 {
			t.Fatalf("announced again to the neighbour that holds it, at %v", x.l.now.Sub(start))
		}
	}
	ms := time.Millisecond
	if want := []time.Duration{25 * ms, 75 * ms, 175 * ms, 375 * ms, 775 * ms, 1575 * ms, 3175 * ms}; !slices.Equal(at, want) {
		t.Fatalf("repeats at %v, want %v", at, want)
	}
}

// A manifest segment lost is asked again by itself the moment a later one
// arrives; still missing after a silence, by itself again; after a second
// silence in a row, from it to the end (the form every sender serves).
func TestManifestLostSegmentAskedAlone(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 40000, 1024) // 6 segments
	x.in(packet.ET, appendAnnounce(nil, 4, flagComplete|flagCounted, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	x.turn()
	if ms := getManifests(x.h.take(t, packet.ET)); len(ms) != 1 || ms[0].offset != 0 || ms[0].count != 0 {
		t.Fatalf("first asks %+v, want one from 0 to the end", ms)
	}
	x.serveManifest(packet.ET, 4, sf, 0, 2*manifestSeg)
	x.serveManifest(packet.ET, 4, sf, 3*manifestSeg, -1)
	x.turn()
	seg2 := getManifestMsg{handle: 4, offset: 2 * manifestSeg, count: 1}
	if ms := getManifests(x.h.take(t, packet.ET)); !slices.Equal(ms, []getManifestMsg{seg2}) {
		t.Fatalf("asks after segment 2 was passed: %+v, want %+v", ms, seg2)
	}
	var asks []getManifestMsg
	for i := 0; i < 200 && len(asks) < 2; i++ {
		x.advance(10 * time.Millisecond)
		asks = append(asks, getManifests(x.h.take(t, packet.ET))...)
	}
	if want := []getManifestMsg{seg2, {handle: 4, offset: 2 * manifestSeg}}; !slices.Equal(asks, want) {
		t.Fatalf("asks after silences: %+v, want %+v", asks, want)
	}
	x.serveManifest(packet.ET, 4, sf, 2*manifestSeg, 3*manifestSeg)
	if x.l.files.byID[sf.id] == nil || len(x.l.fetches) != 0 {
		t.Fatalf("the manifest did not complete its fetch")
	}
}

// A block asked into an empty pipe of a lossy link is guarded even when
// the window has no room for the next block: with its REQUEST lost, the
// answer to a guard shows the loss at once. The window's minimum of 24
// chunks leaves 7 after a 17-chunk block, less than a batch, so fill used
// to stop there unguarded, and at 20% loss a third of such blocks waited
// for a timeout.
func TestShallowPipeGuarded(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 3*4096-512, 4096) // 3 blocks of 17 chunks
	n := x.l.nbrs[packet.ET]
	n.win.lossy = 0.2                      // as measured on earlier blocks
	n.win.rtt.SRTT = 10 * time.Millisecond // a window of 24 chunks
	x.receiving(sf, packet.ET, 9)
	x.turn()
	reqs := requests(x.h.take(t, packet.ET))
	if len(reqs) != 3 || reqs[0].chunk != 0 || reqs[0].count != 17 {
		t.Fatalf("requests %+v, want a block of 17 chunks and two guards", reqs)
	}
	b := int(reqs[0].block)
	for _, g := range reqs[1:] {
		if int(g.block) != b || g.chunk != 16 || g.count != 1 {
			t.Fatalf("guard %+v, want chunk 16 of block %d", g, b)
		}
	}
	// The block's REQUEST is lost; the first guard is served.
	x.in(packet.ET, appendData(nil, 9, b, 16, sf.chunk(b, 16)))
	x.turn()
	asked := map[int]bool{}
	for _, r := range requests(x.h.take(t, packet.ET)) {
		if int(r.block) == b {
			for c := int(r.chunk); c < int(r.chunk+r.count); c++ {
				asked[c] = true
			}
		}
	}
	for c := 0; c < 16; c++ {
		if !asked[c] {
			t.Fatalf("chunk %d of block %d not asked again at once (asked again: %v)", c, b, asked)
		}
	}
	if n.win.timeouts != 0 || n.win.inflight != liveOut(n) {
		t.Fatalf("timeouts %d, inflight %d with %d outstanding", n.win.timeouts, n.win.inflight, liveOut(n))
	}

	// A lossless link asks no guard while more is to come.
	y := newHarness(t, packet.ET)
	y.l.nbrs[packet.ET].win.rtt.SRTT = 10 * time.Millisecond
	y.receiving(sf, packet.ET, 9)
	y.turn()
	if reqs := requests(y.h.take(t, packet.ET)); len(reqs) != 1 {
		t.Fatalf("lossless link: requests %+v, want the block alone", reqs)
	}
}
