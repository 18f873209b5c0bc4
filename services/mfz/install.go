package mfz

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Installing a file: a push copied in and verified (Install), and the
// one cut-over every install goes through (commitLocked), tombstones
// included.

// Install installs the MFZ file at path (a file anywhere, as `itcd push`
// gives it): it copies it into the store, verifies it completely, checks
// dominance, renames it atomically into live/ (or tomb/ for a tombstone)
// and runs the hooks. path itself is not changed. It returns the new entry.
// A path that is not a regular file (or a link to one) is refused with
// ErrNotRegular, without waiting on it. A partial of exactly this file is
// dropped: it is complete now.
func (s *Store) Install(path string) (*Entry, error) {
	return s.InstallContext(context.Background(), path)
}

// InstallContext is Install that gives up, with ctx's error, when ctx
// ends: copying and verifying a large file takes minutes on a tile, longer
// than a daemon may take to stop.
func (s *Store) InstallContext(ctx context.Context, path string) (*Entry, error) {
	src, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// Cheap checks first, so a stale or untrusted file is not copied.
	file, err := ReadFile(src, fi.Size())
	if err != nil {
		return nil, err
	}
	if _, err := VerifySignedManifest(file.Signed, s.trust); err != nil {
		return nil, err
	}
	h := manifestHash(file.Signed)
	s.mu.Lock()
	err = s.admitLocked(file.Manifest, h)
	if err == nil && s.installing[h] {
		err = fmt.Errorf("mfz: %s version %d: %w; wait for it", file.Manifest.Name, file.Manifest.Version, ErrInstalling)
	}
	if err == nil {
		s.installing[h] = true
	}
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	defer func() {
		s.mu.Lock()
		delete(s.installing, h)
		s.mu.Unlock()
	}()
	select {
	case s.installSlots <- struct{}{}:
		defer func() { <-s.installSlots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tmp, err := s.spool("in-*", "install", func(w io.Writer) error {
		_, err := io.Copy(w, ctxReader{ctx, io.NewSectionReader(src, 0, fi.Size())})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mfz: copying %s into the store: %w", path, err)
	}
	return s.installTemp(ctx, tmp)
}

// ctxReader reads from r until ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// installTemp verifies the file tmp (open, in tmp/) completely and commits
// it. It always consumes tmp: installed, or closed and removed.
func (s *Store) installTemp(ctx context.Context, tmp *os.File) (*Entry, error) {
	fail := func(err error) (*Entry, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	fi, err := tmp.Stat()
	if err != nil {
		return fail(err)
	}
	file, err := s.checkFile(ctx, tmp, fi.Size())
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	e, err := s.commitLocked(tmp.Name(), tmp, file, false)
	if err != nil {
		return fail(err)
	}
	return &e.Entry, nil
}

// commitLocked cuts a verified file (at src, open as f, on the store's
// file system) over: rename into live/NAME or tomb/NAME, fsync, update the
// entry and the seen record, drop older partials and any partial of this
// very file, notify and run hooks.
// On success f belongs to the entry (or is closed, for a tombstone).
func (s *Store) commitLocked(src string, f *os.File, file *File, quiet bool) (*entry, error) {
	m := file.Manifest
	h := manifestHash(file.Signed)
	if _, err := VerifySignedManifest(file.Signed, s.trust); err != nil {
		return nil, err
	}
	if err := s.admitLocked(m, h); err != nil {
		return nil, err
	}
	dir := s.live
	if m.IsTombstone() {
		dir = s.tomb
	}
	dst := filepath.Join(dir, m.Name)
	if err := os.Rename(src, dst); err != nil {
		return nil, fmt.Errorf("mfz: installing %s: %w", m.Name, err)
	}
	if err := syncDir(dir); err != nil {
		s.log.Error("mfz fsync of directory failed", "dir", dir, "err", err)
	}
	if m.IsTombstone() {
		f.Close()
		f = nil
		if err := os.Remove(filepath.Join(s.live, m.Name)); err == nil {
			syncDir(s.live)
		}
	} else if err := os.Remove(filepath.Join(s.tomb, m.Name)); err == nil {
		syncDir(s.tomb) // a newer file supersedes the tombstone
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return nil, err
	}
	e := s.registerLocked(dst, f, fi, file)
	if err := s.saveStateLocked(); err != nil {
		// The file is in place; the record is rebuilt from it at restart.
		s.log.Error("mfz cannot save the version record", "err", err)
	}
	// Partials this version dominates are useless now, and so is a
	// partial of exactly this file: it arrived whole by push or by hand
	// while it was being received. (Complete takes its own partial out of
	// s.partials before it commits.) A Partial handed out fails further
	// PutBlocks with ErrDone.
	for key, p := range s.partials {
		if p.m.Name != m.Name || p.m.Version > m.Version {
			continue
		}
		why := "superseded by " + fmt.Sprint(m.Version)
		if p.hash == h {
			why = "the same file was installed"
		}
		s.dropPartialLocked(key, p, why)
	}
	kind := EventInstalled
	if e.Deleted {
		kind = EventDeleted
	}
	s.log.Info("mfz "+kind.String(), "name", m.Name, "version", m.Version, "key", m.KeyID.String(), "hash", h.String()[:16])
	ev := e.Entry
	s.emitLocked(Event{Kind: kind, Name: m.Name, Version: m.Version, Entry: &ev})
	if !quiet {
		s.queueHooksLocked(e.Entry)
	}
	return e, nil
}

// installTombstoneLocked writes the tombstone file of the verified
// manifest m (signed as signed) and commits it.
func (s *Store) installTombstoneLocked(m *Manifest, signed []byte) error {
	b, err := AppendFileHeader(nil, signed)
	if err != nil {
		return err
	}
	f, err := s.spool("tomb-*", "tombstone", func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
	if err != nil {
		return err
	}
	file := &File{Manifest: m, Signed: signed, BodyOffset: int64(len(b))}
	if _, err := s.commitLocked(f.Name(), f, file, false); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	return nil
}
