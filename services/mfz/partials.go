package mfz

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// The store's partials: beginning one, resuming those on disk at start,
// listing, abandoning and dropping them.

// Begin starts or resumes receiving the file described by a signed
// manifest. It refuses untrusted signers (ErrUntrusted), versions older
// than one installed or tombstoned (ErrStale, plus ErrTombstoned), and
// the version already installed (ErrExists). A Partial for the same
// signed manifest that already exists, in memory or on disk from before a
// restart, is returned as it is. A tombstone has no blocks: Begin installs
// it at once and returns a Partial that is Done.
func (s *Store) Begin(signed []byte) (*Partial, error) {
	m, err := VerifySignedManifest(signed, s.trust)
	if err != nil {
		return nil, err
	}
	signed = append([]byte(nil), signed...)
	h := manifestHash(signed)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.admitLocked(m, h); err != nil {
		return nil, err
	}
	key := partialKey(m, h)
	if p, ok := s.partials[key]; ok {
		return p, nil
	}
	p := &Partial{s: s, m: m, signed: signed, hash: h, key: key,
		dir: filepath.Join(s.partial, key), bodyOff: int64(HeaderLen + len(signed)),
		have: NewBitmap(m.BlockCount()), list: make([]byte, m.HashListLen())}
	if m.IsTombstone() {
		if err := s.installTombstoneLocked(m, signed); err != nil {
			return nil, err
		}
		p.state = partialDone
		return p, nil
	}
	if err := s.createPartialLocked(p); err != nil {
		return nil, err
	}
	s.partials[key] = p
	s.log.Info("mfz receiving", "name", m.Name, "version", m.Version, "blocks", m.BlockCount(), "bytes", m.BodyLen)
	return p, nil
}

// createPartialLocked makes the partial's directory in tmp/ and renames it
// into partial/, so a half-made partial is never seen. A failure of the
// file system (a full disk) wraps ErrStorage.
func (s *Store) createPartialLocked(p *Partial) error {
	head, err := AppendFileHeader(nil, p.signed)
	if err != nil {
		return fmt.Errorf("mfz: creating partial %s: %w", p.key, err)
	}
	tdir := filepath.Join(s.tmp, "p-"+p.key)
	os.RemoveAll(tdir)
	fail := func(err error) error {
		os.RemoveAll(tdir)
		return storageErr("creating partial "+p.key, s.partial, err)
	}
	if err := os.Mkdir(tdir, 0o755); err != nil {
		return fail(err)
	}
	f, err := os.OpenFile(filepath.Join(tdir, "file"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fail(err)
	}
	_, err = (&faultWriter{w: f, s: s, op: "partial"}).Write(head)
	if err == nil {
		err = f.Truncate(p.bodyOff + p.m.RegionLen()) // sparse until blocks arrive
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tdir, "have"), p.have, 0o644)
	}
	if err == nil {
		err = syncDir(tdir)
	}
	if err == nil {
		err = os.Rename(tdir, p.dir)
	}
	if err == nil {
		err = syncDir(s.partial)
	}
	if err != nil {
		f.Close()
		return fail(err)
	}
	p.f = f
	return nil
}

// scanPartials resumes the partials on disk. Recorded blocks are checked
// again; stale, untrusted or broken partials are removed.
func (s *Store) scanPartials() {
	ents, _ := os.ReadDir(s.partial)
	for _, de := range ents {
		dir := filepath.Join(s.partial, de.Name())
		p, err := s.loadPartial(dir)
		s.mu.Lock()
		if err == nil && p.key != de.Name() {
			err = fmt.Errorf("%w: directory name does not match its manifest", ErrMalformed)
		}
		if err == nil {
			err = s.admitLocked(p.m, p.hash)
		}
		if err != nil {
			if p != nil && p.f != nil {
				p.f.Close()
			}
			s.log.Warn("mfz partial dropped at start", "dir", dir, "reason", err)
			s.removeDirLocked(dir)
		} else {
			s.partials[p.key] = p
			s.log.Info("mfz partial resumed", "name", p.m.Name, "version", p.m.Version, "have", p.nhave, "blocks", p.m.BlockCount())
		}
		s.mu.Unlock()
	}
}

func (s *Store) loadPartial(dir string) (*Partial, error) {
	f, fi, err := openOwn(filepath.Join(dir, "file"), os.O_RDWR)
	if err != nil {
		return nil, err
	}
	p := &Partial{s: s, f: f, dir: dir}
	file, err := ReadFile(f, fi.Size())
	if err != nil {
		return p, err
	}
	if _, err := VerifySignedManifest(file.Signed, s.trust); err != nil {
		return p, err
	}
	p.m, p.signed, p.hash, p.bodyOff = file.Manifest, file.Signed, manifestHash(file.Signed), file.BodyOffset
	p.key = partialKey(p.m, p.hash)
	p.have = NewBitmap(p.m.BlockCount())
	p.list = make([]byte, p.m.HashListLen())
	rec, err := readOwn(filepath.Join(dir, "have"), int64(len(p.have)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return p, err
	}
	buf := make([]byte, p.m.BlockSize)
	for i := 0; i < p.m.BlockCount(); i++ {
		if !Bitmap(rec).Has(i) {
			continue
		}
		if pg := p.m.PageOf(i); pg >= 0 && !p.have.Has(pg) {
			// Its page is not held (pages come first in this loop): it
			// could not be checked, nor its page fetched for it.
			s.log.Warn("mfz recorded block without its hash page; fetching it again", "dir", dir, "block", i, "page", pg)
			continue
		}
		n, err := readBlockAt(f, p.bodyOff, p.m, i, buf, p.list)
		if err != nil {
			s.log.Warn("mfz recorded block is bad; fetching it again", "dir", dir, "block", i, "err", err)
			continue
		}
		if i < p.m.Pages() {
			copy(p.list[p.m.BlockOffset(i):], buf[:n])
		}
		p.have.Set(i)
		p.nhave++
	}
	return p, nil
}

// Partials returns the partial files being received, for example those
// resumed after a restart.
func (s *Store) Partials() []*Partial {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Partial, 0, len(s.partials))
	for _, k := range sortedKeys(s.partials) {
		out = append(out, s.partials[k])
	}
	return out
}

// Abandon drops the partial of name at version (for example when a newer
// version supersedes it); its blocks are deleted. It returns ErrNotFound
// if there is none.
func (s *Store) Abandon(name string, version int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, p := range s.partials {
		if p.m.Name == name && p.m.Version == version {
			s.dropPartialLocked(key, p, "abandoned")
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("%w: no partial %s@%d", ErrNotFound, name, version)
	}
	return nil
}

// dropPartialLocked ends p and deletes its directory. The caller holds
// s.mu and not p.mu.
func (s *Store) dropPartialLocked(key string, p *Partial, why string) {
	p.mu.Lock()
	p.endLocked(partialDropped)
	p.mu.Unlock()
	s.forgetPartialLocked(key, p, why)
}

func (s *Store) forgetPartialLocked(key string, p *Partial, why string) {
	delete(s.partials, key)
	s.removeDirLocked(p.dir)
	s.log.Info("mfz partial dropped", "partial", key, "reason", why)
}

// removeDirLocked removes a directory under partial/ by renaming it into
// tmp/ first, so it never half-exists under its name.
func (s *Store) removeDirLocked(dir string) {
	t := filepath.Join(s.tmp, fmt.Sprintf("rm-%s-%d", filepath.Base(dir), time.Now().UnixNano()))
	if err := os.Rename(dir, t); err == nil {
		syncDir(filepath.Dir(dir))
		dir = t
	}
	os.RemoveAll(dir)
}

// sortedKeys is for deterministic iteration in tests and logs.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
