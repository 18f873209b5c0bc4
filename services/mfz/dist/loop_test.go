package dist

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/tep"
)

// A unit-level harness: one loop driven by hand, with a fake daemon.Host
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
		return daemon.ErrNotLive
	}
	if h.full != nil && h.full(to) {
		return daemon.ErrQueueFull
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

func (h *fakeHost) Neighbours() []daemon.Neighbour {
	var ns []daemon.Neighbour
	for d := range h.live {
		ns = append(ns, daemon.Neighbour{Dir: d, Tile: tep.TileID{byte(d)}})
	}
	return ns
}

func (h *fakeHost) Self() tep.TileID { return tep.TileID{0xAA} }

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
		m.data = bytes.Clone(m.data)
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
	var cfg daemon.Config
	cfg.StateDir = filepath.Join(dir, "state")
	cfg.MFZ.TrustDir = trust
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHost{live: map[packet.Dir]bool{}, sent: map[packet.Dir][][]byte{}, room: 1000,
		drained: make(chan struct{}), log: log}
	for _, d := range dirs {
		h.live[d] = true
	}
	x := &harness{t: t, h: h, s: s, priv: priv, dir: dir}
	ctx, cancel := context.WithCancel(context.Background())
	x.cancel = cancel
	x.l = newLoop(s, h, &x.wg)
	x.l.ctx = ctx
	x.l.now = time.Now()
	x.l.resync()
	for _, d := range dirs {
		x.l.connect(d, tep.TileID{byte(d)})
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

// pack makes a signed file of size random bytes with block size bs.
func (x *harness) pack(name string, version int64, size, bs int) *signedFile {
	x.t.Helper()
	payload := make([]byte, size)
	rand.New(rand.NewSource(version)).Read(payload)
	var out bytes.Buffer
	if _, err := mfz.Pack(&out, bytes.NewReader(payload), mfz.PackOptions{Name: name, Version: version, Key: x.priv,
		BlockSize: bs, SizeHint: int64(size), TempDir: x.dir}); err != nil {
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
	f := x.l.files[sf.id]
	if f == nil || !f.receiving() {
		x.t.Fatalf("no transfer of %s", sf.m.Name)
	}
	x.in(d, appendAnnounce(nil, hd, flagComplete, sf.m.Version, sf.m.BlockCount(), sf.m.BlockCount(), sf.id, sf.m.Name))
	return f
}

// in delivers one crafted payload from d.
func (x *harness) in(d packet.Dir, b []byte) { x.l.handle(d, tep.TileID{byte(d)}, b) }

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
	x.l.timeouts()
	x.turn()
}

func requests(ms []msg) (out []msg) {
	for _, m := range ms {
		if m.typ == msgRequest {
			out = append(out, m)
		}
	}
	return out
}

// liveOut counts n's outstanding-chunk entries of blocks still being fetched.
func liveOut(n *nbr) int {
	k := 0
	for _, e := range n.out[n.outHead:] {
		if !e.a.dead {
			k++
		}
	}
	return k
}

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
	if len(reqs) == 0 || n.inflight == 0 {
		t.Fatalf("nothing asked: %d requests, inflight %d", len(reqs), n.inflight)
	}
	// Silence: a probe re-asks the oldest chunks (of block 0).
	x.advance(time.Second)
	if n.timeoutsN != 1 {
		t.Fatalf("timeouts %d, want 1", n.timeoutsN)
	}
	x.h.take(t, packet.ET)
	// The original answers arrive, in order, for every request.
	for _, r := range reqs {
		for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
			x.in(packet.ET, appendData(nil, 9, int(r.block), c, sf.chunk(int(r.block), c)))
		}
	}
	f := x.l.files[sf.id]
	if f.nhave != f.blocks {
		t.Fatalf("held %d of %d blocks", f.nhave, f.blocks)
	}
	if n.inflight != liveOut(n) || n.inflight != 0 {
		t.Fatalf("inflight %d with %d chunks really outstanding", n.inflight, liveOut(n))
	}
	// Nothing is outstanding, so no timer fires and n is not avoided.
	for i := 0; i < 40; i++ {
		x.advance(time.Second)
	}
	if n.timeoutsN != 1 || n.avoided(x.l.now) {
		t.Fatalf("after the block: %d timeouts, avoided %v", n.timeoutsN, n.avoided(x.l.now))
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
	if reqs := requests(x.h.take(t, packet.ET)); len(reqs) != 1 || reqs[0].count != 4 {
		t.Fatalf("requests %+v", reqs)
	}
	dup := appendData(nil, 9, 0, 0, sf.chunk(0, 0))
	x.in(packet.ET, dup) // answers chunk 0; chunks 1..3 never come
	for i := 0; i < 300; i++ {
		x.in(packet.ET, dup)
		x.advance(50 * time.Millisecond)
	}
	if n.timeoutsN == 0 {
		t.Fatalf("15 s without the chunks asked for and no timeout")
	}
	if !n.avoided(x.l.now) {
		t.Errorf("a neighbour that never serves what it is asked is not avoided (%d timeouts)", n.timeoutsN)
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
	x.in(packet.ET, appendGetManifest(nil, f.handle, 0))
	x.turn()
	x.l.abandon(f)
	x.h.full = nil
	x.turn()
	for _, m := range x.h.take(t, packet.ET) {
		if m.typ == msgManifest {
			t.Fatalf("MANIFEST of a dropped file sent under handle %d", m.handle)
		}
	}
}

// Every message type with a byte added after its body is refused
// (notes/protocol.md: "Bytes after a known body are not allowed").
func TestTrailingBytesRefused(t *testing.T) {
	for _, b := range seeds() {
		if b[0] == msgData || b[0] == msgManifest || b[0] == msgBitfield || b[0] == msgHave {
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
func TestFailedCompletionNotRetriedAtOnce(t *testing.T) {
	x := newHarness(t, packet.ET)
	sf := x.pack("a.mfz", 1, 900, 1024) // 1 block, 4 chunks
	x.receiving(sf, packet.ET, 9)
	deliver := func() {
		x.turn()
		for _, r := range requests(x.h.take(t, packet.ET)) {
			for c := int(r.chunk); c < int(r.chunk)+int(r.count); c++ {
				x.in(packet.ET, appendData(nil, 9, int(r.block), c, sf.chunk(int(r.block), c)))
			}
		}
	}
	dirs, _ := filepath.Glob(filepath.Join(x.dir, "state", "mfz", "partial", "*"))
	if len(dirs) != 1 {
		t.Fatalf("partial dirs %v", dirs)
	}
	if err := os.RemoveAll(dirs[0]); err != nil {
		t.Fatal(err)
	}
	deliver() // stored but not recorded: a disk error
	if x.l.counters.DiskErrors != 1 {
		t.Fatalf("disk errors %d, want 1", x.l.counters.DiskErrors)
	}
	deliver() // the store holds it already: the final check starts, and fails
	attempts := 0
	deadline := time.After(time.Second)
	for done := false; !done; {
		select {
		case c := <-x.l.done:
			attempts++
			x.l.completed(c)
		case <-deadline:
			done = true
		}
	}
	if attempts != 1 {
		t.Fatalf("%d final checks in a second, want 1", attempts)
	}
}

func TestRemoteHeldCounts(t *testing.T) {
	for _, blocks := range []int{0, 1, 7, 8, 9, 100, 4096} {
		r := &rfile{blocks: blocks, have: make([]byte, (blocks+7)/8)}
		want := 0
		for b := 0; b < blocks; b += 3 {
			setBit(r.have, b)
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
	old := tep.TileID{0xEE}
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
