package mfz

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// A full disk while a file is received is this tile's fault, not the
// sender's: every failure says so (ErrStorage, FaultLocal), names the path
// to free space on, keeps every block held before, and the same partial
// completes once space returns.
func TestFullDiskIsLocalAndKeepsBlocks(t *testing.T) {
	e := newStoreEnv(t)
	e.sync = 1000 // record only at the last block
	var full atomic.Value
	full.Store("")
	s := e.open()
	s.fault = func(op string) error {
		if op == full.Load().(string) {
			return syscall.ENOSPC
		}
		return nil
	}
	path, _ := e.file("d.bin", 1, 1, 5000)
	file, blocks := blocksOf(t, path)
	if len(blocks) < 3 {
		t.Fatalf("%d blocks", len(blocks))
	}
	last := len(blocks) - 1

	full.Store("partial")
	if _, err := s.Begin(file.Signed); !isFullDisk(err, s.partial) {
		t.Fatalf("Begin on a full disk: %v", err)
	}
	full.Store("")
	p, err := s.Begin(file.Signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.PutBlock(0, blocks[0]); err != nil {
		t.Fatal(err)
	}
	full.Store("block")
	err = p.PutBlock(1, blocks[1])
	if !isFullDisk(err, filepath.Join(p.dir, "file")) {
		t.Fatalf("PutBlock on a full disk: %v", err)
	}
	if !p.Has(0) || p.Has(1) {
		t.Fatalf("after a failed write: block 0 held %v, block 1 held %v", p.Has(0), p.Has(1))
	}
	// The data reaches the disk, its record does not.
	full.Store("have")
	for i := 1; i <= last; i++ {
		err = p.PutBlock(i, blocks[i])
	}
	if !isFullDisk(err, filepath.Join(p.dir, "have")) || p.Missing() != 0 {
		t.Fatalf("last block with the record failing: %v, %d missing", err, p.Missing())
	}
	if err := p.Complete(); !isFullDisk(err, filepath.Join(p.dir, "have")) {
		t.Fatalf("Complete with the record failing: %v", err)
	}
	if p.Missing() != 0 || p.Done() {
		t.Fatalf("after a failed Complete: %d missing, done %v", p.Missing(), p.Done())
	}
	full.Store("")
	if err := p.Complete(); err != nil {
		t.Fatalf("Complete once space returned: %v", err)
	}
	if liveVersion(s, "d.bin") != 1 {
		t.Fatal("not installed")
	}
}

func isFullDisk(err error, path string) bool {
	return errors.Is(err, ErrStorage) && errors.Is(err, syscall.ENOSPC) && Classify(err) == FaultLocal &&
		strings.Contains(err.Error(), "no space left on "+path) &&
		strings.Contains(err.Error(), "free space on that file system")
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want Fault
	}{
		{nil, FaultNone},
		{&BlockError{Index: 3}, FaultData},
		{fmt.Errorf("x: %w", ErrUntrusted), FaultData},
		{fmt.Errorf("x: %w", ErrSignature), FaultData},
		{fmt.Errorf("x: %w", ErrPayload), FaultData},
		{fmt.Errorf("%w: %w", ErrStale, ErrTombstoned), FaultState},
		{fmt.Errorf("x: %w", ErrExists), FaultState},
		{fmt.Errorf("x: %w", ErrDone), FaultState},
		{storageErr("writing", "/x", syscall.EIO), FaultLocal},
		// A local failure wins over what it wraps.
		{storageErr("reading", "/x", fmt.Errorf("%w: short", ErrMalformed)), FaultLocal},
		{errors.New("something unknown"), FaultLocal},
	} {
		if got := Classify(c.err); got != c.want {
			t.Errorf("Classify(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	for errno, want := range map[syscall.Errno]string{
		syscall.EDQUOT: "quota", syscall.EROFS: "read-only", syscall.EIO: "I/O error", syscall.ENOENT: "no such file",
	} {
		msg := storageErr("writing block 1", "/st/partial/a", errno).Error()
		if !strings.Contains(msg, want) || !strings.Contains(msg, "/st/partial/a") || !strings.Contains(msg, "resume by themselves") {
			t.Errorf("%v: %q", errno, msg)
		}
	}
}

// A rename into live/ that fails (here: something is in the way) keeps
// the partial listed with its blocks, so it is still closed, dropped or
// completed later, and a second Begin of the same file is not blocked by
// an orphaned directory.
func TestFailedRenameKeepsPartialListed(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	_, p, file, blocks := e.receiving(s, "d.bin", 1, 1, 5000)
	for i, b := range blocks {
		if err := p.PutBlock(i, b); err != nil {
			t.Fatal(err)
		}
	}
	inTheWay := filepath.Join(s.live, "d.bin")
	if err := os.MkdirAll(filepath.Join(inTheWay, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(); Classify(err) != FaultLocal {
		t.Fatalf("Complete with live/d.bin in the way: %v, want a local storage error", err)
	}
	if got := s.Partials(); len(got) != 1 || got[0] != p {
		t.Fatalf("after the failed rename the store lists %d partials, want the one kept", len(got))
	}
	if again, err := s.Begin(file.Signed); err != nil || again != p {
		t.Fatalf("Begin of the same file again: %v (same partial %v)", err, again == p)
	}
	if err := os.RemoveAll(inTheWay); err != nil {
		t.Fatal(err)
	}
	if err := p.Complete(); err != nil {
		t.Fatalf("Complete once the way is clear: %v", err)
	}
	if liveVersion(s, "d.bin") != 1 {
		t.Fatal("not installed")
	}
}

func TestFileSystemWide(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{storageErr("op", "/p", syscall.ENOSPC), true},
		{storageErr("op", "/p", syscall.EDQUOT), true},
		{storageErr("op", "/p", syscall.EROFS), true},
		{storageErr("op", "/p", syscall.EIO), true},
		{storageErr("op", "/p", syscall.ENOTDIR), false}, // one file's path is in the way
		{storageErr("op", "/p", syscall.EEXIST), false},
		{syscall.ENOSPC, false}, // not a store failure
		{ErrBlockHash, false},
		{nil, false},
	} {
		if got := FileSystemWide(c.err); got != c.want {
			t.Errorf("FileSystemWide(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
