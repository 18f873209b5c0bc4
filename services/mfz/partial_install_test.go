package mfz

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A file being received that arrives whole by push used to keep its
// partial: listed by Partials, its directory on disk beside the live copy,
// and resumed at every start. Install drops a partial of exactly the file
// it installs, and the Partial handed out fails cleanly from then on.
func TestInstallDropsPartialOfSameFile(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	path, p, _, blocks := e.receiving(s, "x.mfz", 5, 1, 5000)
	if err := p.PutBlock(0, blocks[0]); err != nil {
		t.Fatal(err)
	}
	// Another name's partial is not touched.
	_, other, _, _ := e.receiving(s, "y.mfz", 1, 2, 3000)

	if _, err := s.Install(path); err != nil {
		t.Fatal(err)
	}
	if ps := s.Partials(); len(ps) != 1 || ps[0] != other {
		t.Fatalf("Partials() = %d partials after the same file was installed, want only the other name's", len(ps))
	}
	if _, err := os.Stat(p.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partial directory %s is still on disk: %v", p.dir, err)
	}
	if _, err := os.Stat(other.dir); err != nil {
		t.Fatalf("the other name's partial directory is gone: %v", err)
	}
	if err := p.PutBlock(1, blocks[1]); !errors.Is(err, ErrDone) {
		t.Errorf("PutBlock on the dropped partial = %v, want ErrDone", err)
	}
	buf := make([]byte, 1<<10)
	if _, err := p.ReadBlock(0, buf); !errors.Is(err, ErrDone) {
		t.Errorf("ReadBlock on the dropped partial = %v, want ErrDone", err)
	}
	if err := p.Complete(); !errors.Is(err, ErrDone) {
		t.Errorf("Complete on the dropped partial = %v, want ErrDone", err)
	}
	if err := p.Sync(); err != nil {
		t.Errorf("Sync on the dropped partial = %v", err)
	}
	if en, ok := s.Lookup("x.mfz"); !ok || en.Version != 5 {
		t.Fatalf("x.mfz not live after the install")
	}
	if _, err := s.ReadBlock("x.mfz", 1, buf); err != nil {
		t.Fatalf("the live file does not serve: %v", err)
	}

	// Nothing of it comes back at the next start.
	s.Close()
	s = e.open()
	if ps := s.Partials(); len(ps) != 1 || ps[0].Manifest().Name != "y.mfz" {
		t.Fatalf("%d partials resumed after restart, want only y.mfz", len(ps))
	}
}

// The same for a file dropped into live/ by hand while it was being
// received: adopting it drops the partial.
func TestAdoptDropsPartialOfSameFile(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	path, p, _, blocks := e.receiving(s, "x.mfz", 5, 1, 5000)
	runStore(t, s)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(s.LiveDir(), ".x.mfz.tmp")
	if err := os.WriteFile(tmp, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.LiveDir(), "x.mfz")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dropped file installed", func() bool { return liveVersion(s, "x.mfz") == 5 })
	if len(s.Partials()) != 0 {
		t.Fatal("the partial of the adopted file is still listed")
	}
	if _, err := os.Stat(p.dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the partial directory is still on disk: %v", err)
	}
	if err := p.PutBlock(0, blocks[0]); !errors.Is(err, ErrDone) {
		t.Errorf("PutBlock on the dropped partial = %v, want ErrDone", err)
	}
}
