package mfz

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/syncbuf"
)

type storeEnv struct {
	t     *testing.T
	dir   string
	pub   ed25519.PublicKey
	priv  ed25519.PrivateKey
	logs  *syncbuf.Buffer
	hooks []Hook
	sync  int
	// noWatch: the store cannot watch (as with no inotify instance
	// left) and polls every 20 ms.
	noWatch bool
}

func newStoreEnv(t *testing.T) *storeEnv {
	pub, priv := testKey(1)
	e := &storeEnv{t: t, dir: t.TempDir(), pub: pub, priv: priv, logs: &syncbuf.Buffer{}}
	os.MkdirAll(filepath.Join(e.dir, "trust"), 0o755)
	if err := os.WriteFile(filepath.Join(e.dir, "trust", "k1.pub"), MarshalPublicKey(pub, "k1"), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *storeEnv) open() *Store {
	e.t.Helper()
	cfg := StoreConfig{Dir: e.dir, Logger: slog.New(slog.NewTextHandler(e.logs, nil)),
		Hooks: e.hooks, Settle: 50 * time.Millisecond, SyncEvery: e.sync}
	if e.noWatch {
		cfg.PollEvery = 20 * time.Millisecond
		cfg.WatchFault = func() error { return syscall.EMFILE }
	}
	s, err := Open(cfg)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	return s
}

// file packs a deterministic payload for (name, version, seed) and writes
// it to a temp file; it returns the path and payload.
func (e *storeEnv) file(name string, version int64, seed int64, size int) (string, []byte) {
	p := testPayload(seed, size)
	b := packBytes(e.t, name, version, p, e.priv, 1024)
	return writeTemp(e.t, fmt.Sprintf("%s-%d-%d.mfz", name, version, seed), b), p
}

func (e *storeEnv) tombstone(name string, version int64) string {
	b, _, err := NewTombstone(name, version, e.priv, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return writeTemp(e.t, fmt.Sprintf("tomb-%s-%d.mfz", name, version), b)
}

func liveVersion(s *Store, name string) int64 {
	en, ok := s.Lookup(name)
	if !ok || en.Deleted {
		return -1
	}
	return en.Version
}

func TestStoreDominance(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	v1, _ := e.file("a.mfz", 100, 1, 5000)
	v2, p2 := e.file("a.mfz", 200, 2, 7000)
	if _, err := s.Install(v1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(v2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(v1); !errors.Is(err, ErrStale) {
		t.Fatalf("older over newer: %v", err)
	}
	if _, err := s.Install(v2); !errors.Is(err, ErrExists) {
		t.Fatalf("same again: %v", err)
	}
	if got := liveVersion(s, "a.mfz"); got != 200 {
		t.Fatalf("live version %d", got)
	}
	// The live file is the verified MFZ file; it unpacks to the payload.
	var out bytes.Buffer
	f, _ := os.Open(filepath.Join(s.LiveDir(), "a.mfz"))
	fi, _ := f.Stat()
	if _, err := VerifyFile(f, fi.Size(), s.Trust(), &out); err != nil || !bytes.Equal(out.Bytes(), p2) {
		t.Fatalf("live file: %v", err)
	}
	f.Close()
	// ReadBlock serves verified blocks.
	en, _ := s.Lookup("a.mfz")
	buf := make([]byte, en.Manifest.BlockSize)
	for i := 0; i < en.Manifest.BlockCount(); i++ {
		n, err := s.ReadBlock("a.mfz", i, buf)
		if err != nil || n != en.Manifest.BlockLen(i) {
			t.Fatalf("ReadBlock %d: %v", i, err)
		}
	}
	// After a restart the older version is still refused.
	s.Close()
	s = e.open()
	if got := liveVersion(s, "a.mfz"); got != 200 {
		t.Fatalf("after restart: version %d", got)
	}
	if _, err := s.Install(v1); !errors.Is(err, ErrStale) {
		t.Fatalf("older after restart: %v", err)
	}
	// And after the live file is deleted by hand and the store restarted.
	s.Close()
	os.Remove(filepath.Join(e.dir, "live", "a.mfz"))
	s = e.open()
	if _, ok := s.Lookup("a.mfz"); ok {
		t.Fatal("removed file still listed")
	}
	if _, err := s.Install(v1); !errors.Is(err, ErrStale) {
		t.Fatalf("older after deletion: %v", err)
	}
	if _, err := s.Install(v2); err != nil {
		t.Fatalf("same version after deletion should come back: %v", err)
	}
}

func TestStoreTieBreak(t *testing.T) {
	e := newStoreEnv(t)
	a, _ := e.file("tie", 5, 1, 3000)
	b, _ := e.file("tie", 5, 2, 3000)
	// The same content signed in format 1 is another version of equal
	// number: the formats take part in the tie like any two manifests.
	c := writeTemp(t, "tie-f1.mfz", asFormat1(t, packBytes(t, "tie", 5, testPayload(1, 3000), e.priv, 1024), e.priv))
	for _, pair := range [][2]string{{a, b}, {a, c}} {
		tieBreak(t, e, pair[0], pair[1])
	}
}

// tieBreak installs a then b and b then a in fresh stores and checks that
// the same version wins both ways.
func tieBreak(t *testing.T, e *storeEnv, a, b string) {
	t.Helper()
	var winners []Hash
	for _, order := range [][]string{{a, b}, {b, a}} {
		e.dir = t.TempDir()
		os.MkdirAll(filepath.Join(e.dir, "trust"), 0o755)
		os.WriteFile(filepath.Join(e.dir, "trust", "k.pub"), MarshalPublicKey(e.pub, ""), 0o644)
		s := e.open()
		_, err1 := s.Install(order[0])
		_, err2 := s.Install(order[1])
		if err1 != nil {
			t.Fatal(err1)
		}
		en, _ := s.Lookup("tie")
		winners = append(winners, en.Hash)
		if (err2 == nil) == errors.Is(err2, ErrStale) {
			t.Fatalf("second install: %v", err2)
		}
		s.Close()
	}
	if winners[0] != winners[1] {
		t.Fatal("tie resolved differently depending on order")
	}
}

func TestStoreTombstone(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	events, cancel := s.Subscribe(16)
	defer cancel()
	v1, _ := e.file("t.mfz", 100, 1, 3000)
	v3, _ := e.file("t.mfz", 300, 3, 3000)
	if _, err := s.Install(v1); err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Kind != EventInstalled || ev.Version != 100 {
		t.Fatalf("event %+v", ev)
	}
	en, err := s.Install(e.tombstone("t.mfz", 200))
	if err != nil || !en.Deleted {
		t.Fatalf("tombstone: %+v %v", en, err)
	}
	if ev := <-events; ev.Kind != EventDeleted || ev.Version != 200 {
		t.Fatalf("event %+v", ev)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "live", "t.mfz")); !os.IsNotExist(err) {
		t.Fatalf("live file survived the tombstone: %v", err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "tomb", "t.mfz")); err != nil {
		t.Fatalf("tombstone not kept: %v", err)
	}
	if _, err := s.Install(v1); !errors.Is(err, ErrTombstoned) || !errors.Is(err, ErrStale) {
		t.Fatalf("older after tombstone: %v", err)
	}
	s.Close()
	s = e.open()
	l := s.List()
	if len(l) != 1 || !l[0].Deleted || l[0].Version != 200 {
		t.Fatalf("after restart: %+v", l)
	}
	if _, err := s.Install(v1); !errors.Is(err, ErrTombstoned) {
		t.Fatalf("older after tombstone and restart: %v", err)
	}
	// A newer file revives the name and replaces the tombstone.
	if _, err := s.Install(v3); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "tomb", "t.mfz")); !os.IsNotExist(err) {
		t.Fatal("tombstone kept after a newer file")
	}
	// A tombstone via Begin completes at once.
	signed := mustSigned(t, e.tombstone("t.mfz", 400))
	p, err := s.Begin(signed)
	if err != nil || !p.Done() || p.Complete() != nil {
		t.Fatalf("Begin tombstone: %v", err)
	}
	if got := liveVersion(s, "t.mfz"); got != -1 {
		t.Fatalf("live after tombstone via Begin: %d", got)
	}
}

func mustSigned(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	file, err := ReadFile(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	return file.Signed
}

// blocksOf returns the body blocks of the MFZ file at path.
// receiving makes a signed file at path and begins receiving it in s: the
// partial, the file's header and its blocks.
func (e *storeEnv) receiving(s *Store, name string, version, seed int64, size int) (path string, p *Partial, file *File, blocks [][]byte) {
	e.t.Helper()
	path, _ = e.file(name, version, seed, size)
	file, blocks = blocksOf(e.t, path)
	p, err := s.Begin(file.Signed)
	if err != nil {
		e.t.Fatal(err)
	}
	return path, p, file, blocks
}

func blocksOf(t testing.TB, path string) (*File, [][]byte) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file, err := ReadFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	m := file.Manifest
	var out [][]byte
	for i := 0; i < m.BlockCount(); i++ {
		o := file.BodyOffset + m.BlockOffset(i)
		out = append(out, b[o:o+int64(m.BlockLen(i))])
	}
	return file, out
}

func TestPartialReceive(t *testing.T) {
	e := newStoreEnv(t)
	e.sync = 4
	s := e.open()
	old, _ := e.file("p.bin", 50, 9, 3000)
	path, payload := e.file("p.bin", 100, 1, 40_000)
	file, blocks := blocksOf(t, path)
	if len(blocks) < 10 {
		t.Fatalf("want many blocks, got %d", len(blocks))
	}
	// An older partial that the new version will supersede.
	oldP, err := s.Begin(mustSigned(t, old))
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := s.Begin(file.Signed); p2 != p {
		t.Fatal("second Begin returned another Partial")
	}
	// A body block before its hash page cannot be checked: refused, not
	// recorded, and not a bad block.
	if err := p.PutBlock(3, blocks[3]); !errors.Is(err, ErrNeedPage) || p.Has(3) || errors.Is(err, ErrBlockHash) {
		t.Fatalf("block before its page: %v", err)
	}
	// A corrupt page is refused like any block.
	badPage := append([]byte(nil), blocks[0]...)
	badPage[5] ^= 1
	var be *BlockError
	if err := p.PutBlock(0, badPage); !errors.As(err, &be) || be.Index != 0 || p.Has(0) {
		t.Fatalf("bad page: %v", err)
	}
	if err := p.PutBlock(0, blocks[0]); err != nil {
		t.Fatalf("page: %v", err)
	}
	// A corrupt block is refused and not recorded.
	bad := append([]byte(nil), blocks[3]...)
	bad[0] ^= 1
	if err := p.PutBlock(3, bad); !errors.As(err, &be) || be.Index != 3 || p.Has(3) {
		t.Fatalf("bad block: %v", err)
	}
	if err := p.PutBlock(3, blocks[4]); !errors.Is(err, ErrBlockHash) {
		t.Fatalf("wrong block: %v", err)
	}
	// Receive in a scrambled order, serving blocks as they arrive (the
	// page first, held already; a repeat of it is ignored).
	if file.Manifest.Pages() != 1 {
		t.Fatalf("%d pages, want 1", file.Manifest.Pages())
	}
	order := []int{0}
	for i := len(blocks) - 1; i >= 1; i -= 2 {
		order = append(order, i)
	}
	for i := len(blocks) - 2; i >= 1; i -= 2 {
		order = append(order, i)
	}
	buf := make([]byte, file.Manifest.BlockSize)
	for k, i := range order {
		if err := p.Complete(); !errors.Is(err, ErrIncomplete) {
			t.Fatalf("early Complete: %v", err)
		}
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatal(err)
		}
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatalf("duplicate: %v", err)
		}
		n, err := p.ReadBlock(i, buf)
		if err != nil || !bytes.Equal(buf[:n], blocks[i]) {
			t.Fatalf("ReadBlock %d: %v", i, err)
		}
		if p.Missing() != len(blocks)-k-1 {
			t.Fatalf("missing %d", p.Missing())
		}
	}
	if _, err := p.ReadBlock(len(blocks), buf); err == nil {
		t.Fatal("ReadBlock out of range")
	}
	if err := p.Complete(); err != nil {
		t.Fatal(err)
	}
	if !p.Done() || p.Complete() != nil {
		t.Fatal("not done")
	}
	if err := oldP.PutBlock(0, nil); err == nil {
		t.Fatal("superseded partial still active")
	}
	if len(s.Partials()) != 0 {
		t.Fatalf("partials left: %d", len(s.Partials()))
	}
	if ents, _ := os.ReadDir(filepath.Join(e.dir, "partial")); len(ents) != 0 {
		t.Fatalf("partial dirs left: %v", ents)
	}
	var out bytes.Buffer
	lf, _ := os.Open(filepath.Join(e.dir, "live", "p.bin"))
	defer lf.Close()
	fi, _ := lf.Stat()
	if _, err := VerifyFile(lf, fi.Size(), s.Trust(), &out); err != nil || !bytes.Equal(out.Bytes(), payload) {
		t.Fatalf("live file: %v", err)
	}
	if _, err := s.Begin(file.Signed); !errors.Is(err, ErrExists) {
		t.Fatalf("Begin of installed: %v", err)
	}
	if _, err := s.Begin(mustSigned(t, old)); !errors.Is(err, ErrStale) {
		t.Fatalf("Begin of older: %v", err)
	}
}

// A format 1 file (from a tile of an older itcd) is received block by
// block and installed as it was signed, header version 1.
func TestPartialReceiveFormat1(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	payload := testPayload(3, 20_000)
	path := writeTemp(t, "f1.mfz", asFormat1(t, packBytes(t, "f1.bin", 7, payload, e.priv, 1024), e.priv))
	file, blocks := blocksOf(t, path)
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	for i := range blocks {
		if i == len(blocks)/2 {
			// A restart half-way: the partial resumes from disk.
			s.Close()
			s = e.open()
			if ps := s.Partials(); len(ps) != 1 || ps[0].Missing() != len(blocks)-i {
				t.Fatalf("after a restart: %d partials", len(ps))
			}
			p = s.Partials()[0]
		}
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	if err := p.Complete(); err != nil {
		t.Fatal(err)
	}
	live, err := os.ReadFile(filepath.Join(e.dir, "live", "f1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := VerifyFile(bytes.NewReader(live), int64(len(live)), s.Trust(), &out); err != nil || !bytes.Equal(out.Bytes(), payload) || live[9] != 1 {
		t.Fatalf("live file: %v (header version %d)", err, live[9])
	}
}

func TestPartialResume(t *testing.T) {
	e := newStoreEnv(t)
	e.sync = 3
	s := e.open()
	path, _ := e.file("r.bin", 100, 1, 30_000)
	file, blocks := blocksOf(t, path)
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 7; i++ {
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatal(err)
		}
	}
	// A power cut now: blocks 0-5 were synced and recorded, block 6 not.
	crash := t.TempDir()
	copyTree(t, e.dir, crash)
	s.Close() // a clean close records everything
	s = e.open()
	ps := s.Partials()
	if len(ps) != 1 || ps[0].Missing() != len(blocks)-7 {
		t.Fatalf("after clean restart: %d partials", len(ps))
	}
	s.Close()

	e.dir = crash
	s = e.open()
	ps = s.Partials()
	if len(ps) != 1 || ps[0].Missing() != len(blocks)-6 || ps[0].Has(6) {
		t.Fatalf("after power cut: %+v", ps)
	}
	p = ps[0]
	if p2, err := s.Begin(file.Signed); err != nil || p2 != p {
		t.Fatalf("Begin after restart did not resume: %v", err)
	}
	for i := range blocks {
		if err := p.PutBlock(i, blocks[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Complete(); err != nil {
		t.Fatal(err)
	}
	if liveVersion(s, "r.bin") != 100 {
		t.Fatal("not installed")
	}
}

func TestPartialCorruptRecordedBlock(t *testing.T) {
	e := newStoreEnv(t)
	e.sync = 1
	s := e.open()
	path, _ := e.file("c.bin", 100, 1, 20_000)
	file, blocks := blocksOf(t, path)
	p, _ := s.Begin(file.Signed)
	for i := 0; i < 4; i++ {
		p.PutBlock(i, blocks[i])
	}
	s.Close()
	// Rot one recorded block on disk.
	pf := filepath.Join(e.dir, "partial", p.key, "file")
	f, _ := os.OpenFile(pf, os.O_RDWR, 0)
	f.WriteAt([]byte{0xff, 0xee}, file.BodyOffset+file.Manifest.BlockOffset(2))
	f.Close()
	s = e.open()
	ps := s.Partials()
	if len(ps) != 1 || ps[0].Has(2) || !ps[0].Has(3) {
		t.Fatalf("corrupt recorded block not dropped")
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		d := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(d, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(d, b, fi.Mode())
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBeginRefusals(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	_, other := testKey(9)
	b := packBytes(t, "u", 1, []byte("hello"), other, 0)
	file, _ := ReadFile(bytes.NewReader(b), int64(len(b)))
	if _, err := s.Begin(file.Signed); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("untrusted: %v", err)
	}
	if _, err := s.Begin(file.Signed[:40]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short: %v", err)
	}
	path, _ := e.file("u", 10, 1, 100)
	signed := mustSigned(t, path)
	flipped := append([]byte(nil), signed...)
	flipped[len(flipped)-1] ^= 1
	if _, err := s.Begin(flipped); !errors.Is(err, ErrSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	if _, err := s.Install(e.tombstone("u", 20)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Begin(signed); !errors.Is(err, ErrTombstoned) {
		t.Fatalf("tombstoned: %v", err)
	}
	if err := s.Abandon("u", 10); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Abandon: %v", err)
	}
	newer, _ := e.file("u", 30, 1, 100)
	p, err := s.Begin(mustSigned(t, newer))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Abandon("u", 30); err != nil {
		t.Fatal(err)
	}
	if err := p.PutBlock(0, nil); err == nil {
		t.Fatal("abandoned partial still active")
	}
}

// TestFullDisk injects write failures (as from ENOSPC) into every write
// path: nothing half-written becomes visible and the earlier file stays.
func TestFullDisk(t *testing.T) {
	enospc := errors.New("no space left on device")
	for _, op := range []string{"install", "state", "block", "have", "partial", "tombstone"} {
		t.Run(op, func(t *testing.T) {
			e := newStoreEnv(t)
			e.sync = 1
			s := e.open()
			v1, p1 := e.file("d.bin", 100, 1, 20_000)
			if _, err := s.Install(v1); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			s.fault = func(o string) error {
				mu.Lock()
				defer mu.Unlock()
				if o == op {
					return enospc
				}
				return nil
			}
			v2, _ := e.file("d.bin", 200, 2, 20_000)
			var err error
			switch op {
			case "install", "state":
				_, err = s.Install(v2)
			case "tombstone":
				_, err = s.Begin(mustSigned(t, e.tombstone("d.bin", 300)))
			default:
				var p *Partial
				file, blocks := blocksOf(t, v2)
				p, err = s.Begin(file.Signed)
				if err == nil {
					err = p.PutBlock(0, blocks[0])
					if op == "block" && p.Has(0) {
						t.Fatal("failed block recorded")
					}
				}
			}
			if op == "state" {
				// The file is installed; only the record failed, and it is
				// rebuilt from live/ at the next start.
				if err != nil || liveVersion(s, "d.bin") != 200 {
					t.Fatalf("state failure: %v", err)
				}
				s.fault = nil
				s.Close()
				s = e.open()
				if _, err := s.Install(v1); !errors.Is(err, ErrStale) {
					t.Fatalf("record not rebuilt: %v", err)
				}
				return
			}
			if !errors.Is(err, enospc) {
				t.Fatalf("err = %v, want the injected failure", err)
			}
			if liveVersion(s, "d.bin") != 100 {
				t.Fatal("earlier file lost")
			}
			if ents, _ := os.ReadDir(filepath.Join(e.dir, "tmp")); op != "block" && op != "have" && len(ents) != 0 {
				t.Fatalf("tmp not cleaned: %v", ents)
			}
			s.Close()
			s.fault = nil
			s = e.open()
			var out bytes.Buffer
			lf, _ := os.Open(filepath.Join(e.dir, "live", "d.bin"))
			defer lf.Close()
			fi, _ := lf.Stat()
			if _, err := VerifyFile(lf, fi.Size(), s.Trust(), &out); err != nil || !bytes.Equal(out.Bytes(), p1) {
				t.Fatalf("earlier file damaged: %v", err)
			}
		})
	}
}

func TestHooks(t *testing.T) {
	e := newStoreEnv(t)
	out := filepath.Join(t.TempDir(), "hook.out")
	e.hooks = []Hook{
		{Pattern: "*.mfz", Command: `echo "$ITCD_MFZ_NAME $ITCD_MFZ_VERSION $ITCD_MFZ_DELETED $(basename $ITCD_MFZ_PATH)" >> ` + out},
		{Pattern: "*.mfz", Command: "echo oops >&2; exit 3"},
		{Pattern: "slow*", Command: "sleep 30", Timeout: 200 * time.Millisecond},
		{Pattern: "other", Command: "echo never >> " + out},
	}
	s := e.open()
	a, _ := e.file("x.mfz", 100, 1, 1000)
	slow, _ := e.file("slow.bin", 100, 1, 1000)
	if _, err := s.Install(a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(slow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Install(e.tombstone("x.mfz", 200)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "hooks", func() bool {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "\n") >= 2 && strings.Contains(e.logs.String(), "timed out")
	})
	b, _ := os.ReadFile(out)
	if string(b) != "x.mfz 100  x.mfz\nx.mfz 200 1 x.mfz\n" {
		t.Fatalf("hook output %q", b)
	}
	logs := e.logs.String()
	for _, want := range []string{"mfz hook failed", "exit=3", "oops", "mfz hook timed out"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	// A running hook is killed by Close, which waits for it.
	e.hooks = []Hook{{Pattern: "*", Command: "sleep 30", Timeout: time.Hour}}
	s.Close()
	s = e.open()
	z, _ := e.file("z", 1, 1, 100)
	if _, err := s.Install(z); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("Close took %v", d)
	}
}

// TestRunWatch: keys and files added to or removed from the trust
// directory and live/ by hand take effect, whether the store can watch
// them or, with no inotify instance left, polls.
func TestRunWatch(t *testing.T) {
	for _, noWatch := range []bool{false, true} {
		t.Run(map[bool]string{false: "watched", true: "polled"}[noWatch], func(t *testing.T) {
			e := newStoreEnv(t)
			e.noWatch = noWatch
			testRunWatch(t, e)
		})
	}
}

func testRunWatch(t *testing.T, e *storeEnv) {
	s := e.open()
	events, cancelSub := s.Subscribe(64)
	defer cancelSub()
	runStore(t, s)

	// A key that is not trusted yet.
	pub2, priv2 := testKey(2)
	b2 := packBytes(t, "k2.bin", 5, []byte("signed by key 2"), priv2, 0)
	f2 := writeTemp(t, "k2.mfz", b2)
	if _, err := s.Install(f2); !errors.Is(err, ErrUntrusted) {
		t.Fatalf("before trust: %v", err)
	}
	os.WriteFile(filepath.Join(e.dir, "trust", "k2.pub"), MarshalPublicKey(pub2, "k2"), 0o644)
	waitFor(t, "key added", func() bool { _, ok := s.Trust().Lookup(KeyIDOf(pub2)); return ok })
	if _, err := s.Install(f2); err != nil {
		t.Fatalf("after trust: %v", err)
	}
	os.Remove(filepath.Join(e.dir, "trust", "k2.pub"))
	waitFor(t, "key removed", func() bool { _, ok := s.Lookup("k2.bin"); return !ok })
	if _, err := s.ReadBlock("k2.bin", 0, make([]byte, 8192)); !errors.Is(err, ErrUntrusted) && !errors.Is(err, ErrNotFound) {
		t.Fatalf("served an untrusted file: %v", err)
	}

	// A valid file copied into live/ by hand under any name is installed.
	good, _ := e.file("hand.mfz", 7, 1, 5000)
	b, _ := os.ReadFile(good)
	os.WriteFile(filepath.Join(e.dir, "live", "copied-by-hand"), b, 0o644)
	waitFor(t, "hand-copied file", func() bool { return liveVersion(s, "hand.mfz") == 7 })
	if _, err := os.Stat(filepath.Join(e.dir, "live", "copied-by-hand")); !os.IsNotExist(err) {
		t.Fatal("hand-copied file left under its own name")
	}
	// An invalid one is moved aside with a reason.
	bad := append([]byte(nil), b...)
	bad[len(bad)-3] ^= 1
	os.WriteFile(filepath.Join(e.dir, "live", "broken.mfz"), bad, 0o644)
	waitFor(t, "rejected file", func() bool {
		m, _ := filepath.Glob(filepath.Join(e.dir, "rejected", "broken.mfz.*.reason"))
		return len(m) == 1
	})
	m, _ := filepath.Glob(filepath.Join(e.dir, "rejected", "broken.mfz.*.reason"))
	reason, _ := os.ReadFile(m[0])
	if !strings.Contains(string(reason), "hash mismatch") {
		t.Fatalf("reason %q", reason)
	}
	if _, err := os.Stat(filepath.Join(e.dir, "live", "broken.mfz")); !os.IsNotExist(err) {
		t.Fatal("broken file still in live/")
	}
	// An older version dropped in is moved aside too.
	old, _ := e.file("hand.mfz", 6, 1, 5000)
	ob, _ := os.ReadFile(old)
	os.WriteFile(filepath.Join(e.dir, "live", "old-copy"), ob, 0o644)
	waitFor(t, "stale file rejected", func() bool {
		m, _ := filepath.Glob(filepath.Join(e.dir, "rejected", "old-copy.*.reason"))
		return len(m) == 1
	})
	// A live file removed by hand is forgotten.
	os.Remove(filepath.Join(e.dir, "live", "hand.mfz"))
	waitFor(t, "removal noticed", func() bool { _, ok := s.Lookup("hand.mfz"); return !ok })

	kinds := map[EventKind]int{}
	for len(events) > 0 {
		kinds[(<-events).Kind]++
	}
	if kinds[EventInstalled] < 2 || kinds[EventTrust] < 2 || kinds[EventRemoved] != 1 {
		t.Fatalf("events %v", kinds)
	}
}

// ReadBlock serves blocks from the control socket's or the distributor's
// goroutine while Close (or an install) ends the live entry: that must
// give an error, never a data race on the entry's file.
func TestReadBlockDuringClose(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	v1, _ := e.file("a.mfz", 100, 1, 5000)
	if _, err := s.Install(v1); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	done := make(chan error)
	go func() {
		buf := make([]byte, MaxBlockSize)
		for i := 0; ; i++ {
			if _, err := s.ReadBlock("a.mfz", 0, buf); err != nil {
				done <- err
				return
			}
			if i == 0 {
				close(read)
			}
		}
	}()
	<-read
	s.Close()
	if err := <-done; err == nil {
		t.Fatal("ReadBlock after Close succeeded")
	}
}

// A final check that is cancelled (the daemon stopping) keeps every
// verified block: a later check completes the file without fetching any.
func TestCompleteCancelledKeepsBlocks(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	_, p, _, blocks := e.receiving(s, "c.bin", 100, 1, 40_000)
	for i, b := range blocks {
		if err := p.PutBlock(i, b); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.CompleteContext(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled check: %v", err)
	}
	if _, ok := s.Lookup("c.bin"); ok {
		t.Fatal("a cancelled check installed the file")
	}
	if p.Missing() != 0 {
		t.Fatalf("%d blocks lost to a cancelled check", p.Missing())
	}
	if err := p.Complete(); err != nil {
		t.Fatalf("check after the cancelled one: %v", err)
	}
	if _, ok := s.Lookup("c.bin"); !ok {
		t.Fatal("not installed after a whole check")
	}
}

// pollLive, for a store that cannot watch: a file in live/ is queued only
// once a poll finds it as the last one did (one being copied in is not
// looked at half-written), and a live file removed by hand is queued so
// that it is forgotten.
func TestPollLive(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	v1, _ := e.file("a.mfz", 1, 1, 3000)
	if _, err := s.Install(v1); err != nil {
		t.Fatal(err)
	}
	own, _ := s.Lookup("a.mfz")
	copied := filepath.Join(e.dir, "live", "copied")
	pending, seen := map[string]time.Time{}, map[string]fileIdent{}
	now := time.Now()
	poll := func(step string, want ...string) {
		t.Helper()
		clear(pending)
		s.pollLive(pending, seen, now)
		var got []string
		for p := range pending {
			got = append(got, filepath.Base(p))
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%s: queued %v, want %v", step, got, want)
		}
	}
	poll("first poll") // a.mfz is new to the poller
	poll("nothing changed", "a.mfz")
	if err := os.WriteFile(copied, []byte("half a file"), 0o644); err != nil {
		t.Fatal(err)
	}
	poll("a copy begins", "a.mfz")
	f, err := os.OpenFile(copied, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(" and the rest")
	f.Close()
	poll("the copy grew", "a.mfz")
	poll("the copy is done", "a.mfz", "copied")
	os.Remove(own.Path)
	poll("a.mfz removed by hand", "a.mfz", "copied")
}

// A store that could not watch at first watches again once it can, and
// a file dropped in meanwhile is not missed.
func TestRunWatchesAgain(t *testing.T) {
	e := newStoreEnv(t)
	var fail atomic.Bool
	fail.Store(true)
	s, err := Open(StoreConfig{Dir: e.dir, Logger: slog.New(slog.NewTextHandler(e.logs, nil)), Settle: 50 * time.Millisecond,
		PollEvery: 10 * time.Millisecond, WatchFault: func() error {
			if fail.Load() {
				return syscall.EMFILE
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	runStore(t, s)
	waitFor(t, "the store polling", func() bool { return strings.Contains(e.logs.String(), "cannot watch") })
	good, _ := e.file("a.mfz", 3, 1, 2000)
	b, _ := os.ReadFile(good)
	fail.Store(false)
	os.WriteFile(filepath.Join(e.dir, "live", "dropped"), b, 0o644)
	waitFor(t, "watching again", func() bool { return strings.Contains(e.logs.String(), "watching live/ and the trust directory again") })
	waitFor(t, "the dropped file installed", func() bool { return liveVersion(s, "a.mfz") == 3 })
	b2, _ := os.ReadFile(func() string { p, _ := e.file("a.mfz", 4, 1, 2000); return p }())
	os.WriteFile(filepath.Join(e.dir, "live", "dropped2"), b2, 0o644)
	waitFor(t, "a file dropped once watched", func() bool { return liveVersion(s, "a.mfz") == 4 })
}
