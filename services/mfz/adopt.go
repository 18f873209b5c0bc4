package mfz

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Files dropped into live/ by hand, at start or while running.

// adopt examines a file that appeared in live/ by hand: it takes it out of
// live/, verifies it completely and installs it if it dominates, or moves
// it aside with a logged reason.
func (s *Store) adopt(ctx context.Context, p string) {
	base := filepath.Base(p)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	fi, err := os.Lstat(p)
	e, isEntry := s.entries[base]
	if isEntry && e.Path != p {
		isEntry = false
	}
	if err != nil {
		if isEntry && errors.Is(err, os.ErrNotExist) {
			// Removed by hand: forget the file, remember its version.
			if e.f != nil {
				e.f.Close()
			}
			delete(s.entries, base)
			s.log.Warn("mfz live file removed by hand", "name", base, "version", e.Version)
			s.emitLocked(Event{Kind: EventRemoved, Name: base, Version: e.Version})
		}
		s.mu.Unlock()
		return
	}
	if isEntry && identOf(fi) == e.ident {
		s.mu.Unlock()
		return // our own install
	}
	var before Hash
	if isEntry {
		// The user replaced or touched the live file: it is no longer
		// the verified one.
		before = e.Hash
		if e.f != nil {
			e.f.Close()
		}
		delete(s.entries, base)
	}
	tmpPath := filepath.Join(s.tmp, "adopt-"+base)
	err = os.Rename(p, tmpPath)
	s.mu.Unlock()
	if err != nil {
		s.log.Warn("mfz cannot take in a file from live/", "path", p, "err", err)
		return
	}
	reject := func(err error) {
		if errors.Is(err, ErrExists) {
			os.Remove(tmpPath)
			s.log.Info("mfz duplicate file in live/ removed", "path", p)
			return
		}
		s.moveAside(tmpPath, base, err)
	}
	if !fi.Mode().IsRegular() {
		reject(notRegular(p, fi.Mode()))
		return
	}
	if s.adoptHook != nil {
		s.adoptHook()
	}
	f, fi, err := openOwn(tmpPath, os.O_RDONLY)
	if err != nil {
		reject(err)
		return
	}
	file, err := s.checkFile(ctx, f, fi.Size())
	if err != nil && ctx.Err() != nil {
		// Stopping: a large file must not hold the daemon up. Put it
		// back, unjudged, for the next start to take in.
		f.Close()
		if _, serr := os.Lstat(p); !errors.Is(serr, os.ErrNotExist) {
			// Another file took its name meanwhile: keep this one in
			// rejected/ (tmp/ is emptied at the next start), saying why.
			s.moveAside(tmpPath, base, fmt.Errorf("mfz: the daemon stopped while checking it and %s was taken meanwhile; put it back in live/ to have it checked: %w", p, err))
			return
		}
		if rerr := os.Rename(tmpPath, p); rerr != nil {
			s.moveAside(tmpPath, base, fmt.Errorf("mfz: the daemon stopped while checking it and could not put it back in live/ (%v): put it back by hand", rerr))
		}
		return
	}
	if err != nil {
		f.Close()
		reject(err)
		return
	}
	s.mu.Lock()
	_, err = s.commitLocked(tmpPath, f, file, before == manifestHash(file.Signed))
	s.mu.Unlock()
	if err != nil {
		f.Close()
		reject(err)
		return
	}
	s.log.Info("mfz file dropped into live/ installed", "path", p, "name", file.Manifest.Name, "version", file.Manifest.Version)
}
