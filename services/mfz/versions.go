package mfz

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// What the store holds and what it may take: the entry of each name, the
// highest version seen per name (persisted in state.json so an older
// version never comes back), and the admission check every install and
// Begin passes.

// entry is what the store holds for a name: its Entry, the file blocks
// are read from, and that file's identity on disk (to tell our own install
// from a file replaced by hand).
type entry struct {
	Entry
	f     *os.File // open for reading blocks; nil for tombstones
	ident fileIdent
	// list is a format-3 file's hash list, checked, read at the first
	// block served (ReadBlock), so a body block served is checked against
	// it, not against its page read and hashed again each time. 16 bytes
	// a body block: half what a format-2 manifest holds in memory.
	// listRead says it was read, or tried: a list that failed its check
	// is not read again for every block served.
	list     []byte
	listRead bool
}

// seenRec is the persisted highest version seen per name, with the
// identity of the file that holds it for a fast restart.
type seenRec struct {
	Version int64     `json:"version"`
	Hash    string    `json:"hash"`
	Deleted bool      `json:"deleted,omitempty"`
	File    fileIdent `json:"file"`
}

type fileIdent struct {
	Dev   uint64 `json:"dev,omitempty"`
	Ino   uint64 `json:"ino,omitempty"`
	Size  int64  `json:"size,omitempty"`
	Mtime int64  `json:"mtime,omitempty"`
}

func identOf(fi os.FileInfo) fileIdent {
	id := fileIdent{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		id.Dev, id.Ino = uint64(st.Dev), uint64(st.Ino)
	}
	return id
}

type stateFile struct {
	Format int                `json:"format"`
	Names  map[string]seenRec `json:"names"`
}

// maxStateLen bounds state.json: one record (about 250 bytes) per name
// ever seen, so some 60,000 names.
const maxStateLen = 16 << 20

func (s *Store) loadState() error {
	b, err := readOwn(s.stateFile, maxStateLen)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return err
	}
	if st.Format != 1 {
		return fmt.Errorf("state format %d", st.Format)
	}
	for name, r := range st.Names {
		if CheckName(name) != nil {
			continue
		}
		if _, err := hex.DecodeString(r.Hash); err != nil || len(r.Hash) != 2*HashLen {
			continue
		}
		s.seen[name] = r
	}
	return nil
}

func (s *Store) saveStateLocked() error {
	st := stateFile{Format: 1, Names: s.seen}
	b, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return err
	}
	return s.writeFileAtomic(s.stateFile, append(b, '\n'), "state")
}

// seenCmp compares (version, hash) with the highest record for name:
// -1 older, 0 same, +1 newer. A name never seen compares +1.
func (s *Store) seenCmp(name string, version int64, h Hash) int {
	r, ok := s.seen[name]
	if !ok {
		return 1
	}
	seen, _ := hex.DecodeString(r.Hash) // checked when it was loaded or made
	return CompareVersions(version, h[:], r.Version, seen)
}

// admitLocked decides whether (m, h) may be installed or begun.
func (s *Store) admitLocked(m *Manifest, h Hash) error {
	if s.closed {
		return ErrClosed
	}
	if err, ok := s.bad[h]; ok {
		return err
	}
	switch s.seenCmp(m.Name, m.Version, h) {
	case -1:
		r := s.seen[m.Name]
		if r.Deleted {
			return fmt.Errorf("%w: %w: %s version %d is older than the tombstone of version %d", ErrStale, ErrTombstoned, m.Name, m.Version, r.Version)
		}
		return fmt.Errorf("%w: %s version %d: version %d (hash %.16s) is newer or wins the tie", ErrStale, m.Name, m.Version, r.Version, r.Hash)
	case 0:
		if e, ok := s.entries[m.Name]; ok && e.Hash == h {
			return fmt.Errorf("%w: %s version %d", ErrExists, m.Name, m.Version)
		}
	}
	return nil
}

func manifestHash(signed []byte) Hash {
	return sha256.Sum256(signed[:len(signed)-SignatureLen])
}

// registerLocked records an installed file or tombstone as the entry of
// its name and raises the seen record.
func (s *Store) registerLocked(p string, f *os.File, fi os.FileInfo, file *File) *entry {
	m := file.Manifest
	h := manifestHash(file.Signed)
	if old, ok := s.entries[m.Name]; ok && old.f != nil {
		old.f.Close()
	}
	e := &entry{
		Entry: Entry{Name: m.Name, Version: m.Version, Deleted: m.IsTombstone(), Path: p,
			Size: fi.Size(), Manifest: m, Signed: file.Signed, Hash: h},
		f: f, ident: identOf(fi),
	}
	s.entries[m.Name] = e
	if s.seenCmp(m.Name, m.Version, h) >= 0 {
		s.seen[m.Name] = seenRec{Version: m.Version, Hash: hex.EncodeToString(h[:]), Deleted: e.Deleted, File: e.ident}
	}
	return e
}
