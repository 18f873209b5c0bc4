package mfz

import (
	"fmt"
	"os"
	"sort"
)

// Reading the store: its entries and the blocks of its live files.

// List returns the live files and tombstones whose signer is trusted now,
// sorted by name.
func (s *Store) List() []Entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Entry, 0, len(s.entries))
	for _, e := range s.entries {
		if _, ok := s.trust.Lookup(e.Manifest.KeyID); ok {
			out = append(out, e.Entry)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the entry for name (a live file or a tombstone).
func (s *Store) Lookup(name string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[name]
	if !ok {
		return Entry{}, false
	}
	if _, trusted := s.trust.Lookup(e.Manifest.KeyID); !trusted {
		return Entry{}, false
	}
	return e.Entry, true
}

// ReadBlock reads block i of the live file name (in format 3 a hash page
// or a body block after them) into buf (which must hold the manifest's
// BlockSize) after checking it against its hash, and returns its length.
// A format-3 file's pages are read and checked at the first block served
// and kept with the entry.
func (s *Store) ReadBlock(name string, i int, buf []byte) (int, error) {
	// e.f is read under s.mu: Close clears it, and Close or a newer
	// install closes it; a read racing with them fails on the closed file.
	s.mu.Lock()
	e, ok := s.entries[name]
	var f *os.File
	var list []byte
	listRead := false
	if ok {
		f, list, listRead = e.f, e.list, e.listRead
	}
	s.mu.Unlock()
	if f == nil {
		return 0, fmt.Errorf("%w: no live file %q", ErrNotFound, name)
	}
	m := e.Manifest
	if _, ok := s.trust.Lookup(m.KeyID); !ok {
		return 0, fmt.Errorf("%w %s: %s is no longer served", ErrUntrusted, m.KeyID, name)
	}
	off := int64(HeaderLen + len(e.Signed))
	if m.Pages() > 0 && !listRead {
		// A page damaged on disk leaves the list unkept (nil, its error
		// not needed here): each block is then checked through its own
		// page, and only the blocks of the damaged page fail, with the
		// page's error.
		l, _ := readHashList(f, off, m)
		s.mu.Lock()
		e.list, e.listRead = l, true
		s.mu.Unlock()
		list = l
	}
	return readBlockAt(f, off, m, i, buf, list)
}
