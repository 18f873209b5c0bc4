package mfz

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// heldRecord starts p.Sync on its own goroutine and holds it while it
// writes its record of the blocks (the "have" file, before the rename),
// returning a release and the Sync's result. Only that first write of a
// record is held.
func heldRecord(t *testing.T, s *Store, p *Partial) (release func(), result <-chan error) {
	t.Helper()
	entered, hold := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	s.fault = func(op string) error {
		if op == "have" && first.CompareAndSwap(false, true) {
			close(entered)
			<-hold
		}
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- p.Sync() }()
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("Sync did not write its record")
	}
	return func() { close(hold) }, done
}

// beginUnsynced begins a partial of a file of a few blocks, in a store
// that syncs only at the last block.
func beginUnsynced(t *testing.T) (*Store, *Partial, [][]byte) {
	t.Helper()
	e := newStoreEnv(t)
	e.sync = 1000
	s := e.open()
	path, _ := e.file("s.bin", 1, 1, 8000)
	file, blocks := blocksOf(t, path)
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	return s, p, blocks
}

// writesBesideSync writes block 0, holds a Sync on the disk (heldRecord)
// and writes every other block meanwhile.
func writesBesideSync(t *testing.T, s *Store, p *Partial, blocks [][]byte) (release func(), result <-chan error) {
	t.Helper()
	if _, err := p.WriteBlock(0, blocks[0]); err != nil {
		t.Fatal(err)
	}
	release, result = heldRecord(t, s, p)
	for i := 1; i < len(blocks); i++ {
		if _, err := p.WriteBlock(i, blocks[i]); err != nil {
			t.Fatal(err)
		}
	}
	return release, result
}

// returnsSoon fails the test if f does not return in a generous time: a Sync
// that held the partial's lock while on the disk would block it.
func returnsSoon(t *testing.T, what string, f func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s waited for a Sync on the disk", what)
	}
}

// A Sync on the disk does not hold the partial: blocks are written and
// read meanwhile, and the record it makes lists what was written before
// it began; the blocks after it stay unrecorded until the next.
func TestSyncBesideWritesAndReads(t *testing.T) {
	s, p, blocks := beginUnsynced(t)
	for i := 0; i < 2; i++ {
		if due, err := p.WriteBlock(i, blocks[i]); err != nil || due {
			t.Fatalf("WriteBlock %d: due %v, %v", i, due, err)
		}
	}
	release, result := heldRecord(t, s, p)
	returnsSoon(t, "WriteBlock", func() error { _, err := p.WriteBlock(2, blocks[2]); return err })
	returnsSoon(t, "ReadBlock", func() error { _, err := p.ReadBlock(0, make([]byte, len(blocks[0]))); return err })
	release()
	if err := <-result; err != nil {
		t.Fatalf("Sync: %v", err)
	}
	have, err := os.ReadFile(filepath.Join(p.dir, "have"))
	if err != nil {
		t.Fatal(err)
	}
	if !Bitmap(have).Has(0) || !Bitmap(have).Has(1) || Bitmap(have).Has(2) {
		t.Fatalf("record %08b: want blocks 0 and 1, not 2 (written after the Sync began)", have)
	}
	if err := p.Sync(); err != nil {
		t.Fatal(err)
	}
	if have, _ := os.ReadFile(filepath.Join(p.dir, "have")); !Bitmap(have).Has(2) {
		t.Fatalf("record %08b after the next Sync: block 2 missing", have)
	}
}

// A record made while a Sync is on the disk (here by a whole-file check
// that was cancelled and keeps the partial) is newer than that Sync's
// snapshot: the Sync throws its own away instead of writing fewer blocks
// over it.
func TestSyncDoesNotRecordOverANewerRecord(t *testing.T) {
	s, p, blocks := beginUnsynced(t)
	release, result := writesBesideSync(t, s, p, blocks)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.CompleteContext(cancelled); err == nil {
		t.Fatal("a cancelled check completed")
	}
	release()
	if err := <-result; err != nil {
		t.Fatalf("Sync: %v", err)
	}
	have, _ := os.ReadFile(filepath.Join(p.dir, "have"))
	if n := Bitmap(have).Count(len(blocks)); n != len(blocks) {
		t.Fatalf("record lists %d of %d blocks after the Sync: it wrote its older snapshot over the check's", n, len(blocks))
	}
	if err := p.Complete(); err != nil {
		t.Fatal(err)
	}
	if leftover, _ := filepath.Glob(filepath.Join(s.tmp, "w-*")); len(leftover) != 0 {
		t.Fatalf("spooled records left in tmp/: %v", leftover)
	}
}

// A partial installed while a Sync is on the disk ends that Sync quietly:
// nothing is recorded after the install and nothing is left behind.
func TestSyncEndedByTheInstall(t *testing.T) {
	s, p, blocks := beginUnsynced(t)
	release, result := writesBesideSync(t, s, p, blocks)
	returnsSoon(t, "Complete", p.Complete)
	release()
	if err := <-result; err != nil {
		t.Fatalf("Sync after the install: %v", err)
	}
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Fatalf("partial directory after the install: %v", err)
	}
	if leftover, _ := filepath.Glob(filepath.Join(s.tmp, "w-*")); len(leftover) != 0 {
		t.Fatalf("spooled records left in tmp/: %v", leftover)
	}
	if liveVersion(s, "s.bin") != 1 {
		t.Fatal("not installed")
	}
}
