package mfz

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Partial is a file being received block by block. Its directory
// partial/NAME@VERSION@HASH16/ holds "file", the MFZ file being filled in
// place (header and signed manifest first, blocks written at their
// offsets), and "have", the bitmap of blocks that are on disk. A block is
// recorded in "have" only after the data was fsynced, so after a power cut
// every recorded block is really there. Methods are safe for concurrent
// use.
type Partial struct {
	s       *Store
	m       *Manifest
	signed  []byte
	hash    Hash
	key     string
	dir     string
	bodyOff int64

	mu       sync.RWMutex
	f        *os.File
	have     []byte // bit i%8 of byte i/8 is block i
	nhave    int
	unsynced int
	state    partialState
}

type partialState int

const (
	partialActive partialState = iota
	partialCompleting
	partialDone
	partialDropped
)

func partialKey(m *Manifest, h Hash) string {
	return fmt.Sprintf("%s@%d@%s", m.Name, m.Version, hex.EncodeToString(h[:8]))
}

// Manifest returns the verified manifest of the file being received.
func (p *Partial) Manifest() *Manifest { return p.m }

// Signed returns the signed manifest (manifest || signature).
func (p *Partial) Signed() []byte { return p.signed }

// Have returns a copy of the bitmap of blocks held: block i is held when
// bit i%8 (least significant first) of byte i/8 is set.
func (p *Partial) Have() []byte {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append([]byte(nil), p.have...)
}

// Has reports whether block i is held.
func (p *Partial) Has(i int) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.hasLocked(i)
}

func (p *Partial) hasLocked(i int) bool {
	return i >= 0 && i < p.m.BlockCount() && p.have[i/8]&(1<<(i%8)) != 0
}

// Missing returns how many blocks are still missing.
func (p *Partial) Missing() int {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.m.BlockCount() - p.nhave
}

// Done reports whether the partial was completed (or, for a tombstone,
// installed at once by Begin).
func (p *Partial) Done() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.state == partialDone
}

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
		have: make([]byte, (m.BlockCount()+7)/8)}
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
		err = f.Truncate(p.bodyOff + p.m.BodyLen) // sparse until blocks arrive
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
	p.have = make([]byte, (p.m.BlockCount()+7)/8)
	rec, err := readOwn(filepath.Join(dir, "have"), int64(len(p.have)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return p, err
	}
	buf := make([]byte, p.m.BlockSize)
	for i := 0; i < p.m.BlockCount(); i++ {
		if i/8 >= len(rec) || rec[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		if _, err := readBlockAt(f, p.bodyOff, p.m, i, buf); err != nil {
			s.log.Warn("mfz recorded block is bad; fetching it again", "dir", dir, "block", i, "err", err)
			continue
		}
		p.have[i/8] |= 1 << (i % 8)
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

// PutBlock verifies block i against the manifest and, only if it matches,
// writes it. A wrong block returns a *BlockError (ErrBlockHash) and
// nothing is written; a block already held is accepted and ignored. Every
// SyncEvery blocks (and when the last block arrives) the data is fsynced
// and then the bitmap is recorded.
//
// A failure of the local file system (a full disk) returns a
// *StorageError (ErrStorage) naming the path, and every block recorded
// before stays. If the block was written but could not be recorded, Has(i)
// reports it held and the next Sync, PutBlock or Complete that reaches
// the disk records it; if the write itself failed, it is not held.
func (p *Partial) PutBlock(i int, data []byte) error {
	if err := p.m.VerifyBlock(i, data); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != partialActive {
		return fmt.Errorf("%w: %s", ErrDone, p.key)
	}
	if p.hasLocked(i) {
		return nil
	}
	if _, err := (&faultWriter{w: &offsetWriter{p.f, p.bodyOff + p.m.BlockOffset(i)}, s: p.s, op: "block"}).Write(data); err != nil {
		return storageErr(fmt.Sprintf("writing block %d of %s", i, p.key), filepath.Join(p.dir, "file"), err)
	}
	p.have[i/8] |= 1 << (i % 8)
	p.nhave++
	p.unsynced++
	if p.unsynced >= p.s.cfg.SyncEvery || p.nhave == p.m.BlockCount() {
		return p.syncLocked()
	}
	return nil
}

type offsetWriter struct {
	f   *os.File
	off int64
}

func (w *offsetWriter) Write(b []byte) (int, error) { return w.f.WriteAt(b, w.off) }

// Sync makes every block received so far durable and records it.
func (p *Partial) Sync() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != partialActive && p.state != partialCompleting {
		return nil
	}
	return p.syncLocked()
}

func (p *Partial) syncLocked() error {
	if p.unsynced == 0 {
		return nil
	}
	// Data first, then the record: a recorded block is always on disk.
	if err := p.f.Sync(); err != nil {
		return storageErr("syncing "+p.key, filepath.Join(p.dir, "file"), err)
	}
	if err := p.s.writeFileAtomic(filepath.Join(p.dir, "have"), p.have, "have"); err != nil {
		return storageErr("recording the blocks of "+p.key, filepath.Join(p.dir, "have"), err)
	}
	p.unsynced = 0
	return nil
}

// ReadBlock reads held block i into buf (at least BlockLen(i) bytes),
// checking it against its hash, so a file can be served onward while it is
// still being received. It returns the block length.
func (p *Partial) ReadBlock(i int, buf []byte) (int, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.state == partialDone || p.state == partialDropped {
		return 0, fmt.Errorf("%w: %s (read completed files from the Store)", ErrDone, p.key)
	}
	if !p.hasLocked(i) {
		return 0, fmt.Errorf("%w: block %d of %s not held", ErrNotFound, i, p.key)
	}
	return readBlockAt(p.f, p.bodyOff, p.m, i, buf)
}

// Complete verifies the whole received file (bounded decompression and
// payload hash), renames it into live/, runs the hooks and removes
// partials of older versions. It returns ErrIncomplete while blocks are
// missing. If the body is bad although every block matched (the signer
// made a bad file), the partial is dropped and its manifest refused from
// then on. Calling Complete again after success returns nil.
func (p *Partial) Complete() error { return p.CompleteContext(context.Background()) }

// CompleteContext is Complete that gives up when ctx ends: verifying a
// large file takes minutes on a tile, longer than a daemon may take to
// stop. A check that was cancelled, or that could not read or record the
// file or rename it into live/ (a *StorageError), keeps the partial with
// every verified block, to complete later.
func (p *Partial) CompleteContext(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case partialDone:
		p.mu.Unlock()
		return nil
	case partialActive:
	default:
		p.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrDone, p.key)
	}
	if missing := p.m.BlockCount() - p.nhave; missing > 0 {
		p.mu.Unlock()
		return fmt.Errorf("%w: %d of %d blocks of %s", ErrIncomplete, missing, p.m.BlockCount(), p.key)
	}
	if err := p.syncLocked(); err != nil {
		p.mu.Unlock()
		return err
	}
	p.state = partialCompleting
	f := p.f
	p.mu.Unlock()

	verr := verifyBody(ctx, io.NewSectionReader(f, p.bodyOff, p.m.BodyLen), p.m, nil)

	s := p.s
	s.mu.Lock()
	defer s.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != partialCompleting {
		return fmt.Errorf("%w: %s was abandoned", ErrDone, p.key)
	}
	if verr != nil {
		// Every block matched its signed hash, so a payload that does not
		// decompress to the signed one is the signer's fault and no fetch
		// can mend it: refuse this manifest from now on.
		contentFault := errors.Is(verr, ErrPayload) || errors.Is(verr, ErrMalformed)
		if contentFault {
			s.bad[p.hash] = fmt.Errorf("%w (signed manifest %s refused)", verr, p.key)
		}
		var be *BlockError
		if !contentFault && !errors.As(verr, &be) {
			// Cancelled, or the disk failed a read: that says nothing
			// about the file. Keep every verified block.
			p.state = partialActive
			if osFailure(verr) {
				return storageErr("final check of "+p.key+" (its blocks are kept)", filepath.Join(p.dir, "file"), verr)
			}
			return fmt.Errorf("mfz: final check of %s stopped (its blocks are kept): %w", p.key, verr)
		}
		p.endLocked(partialDropped)
		s.forgetPartialLocked(p.key, p, verr.Error())
		return verr
	}
	file := &File{Manifest: p.m, Signed: p.signed, BodyOffset: p.bodyOff}
	// commitLocked renames the file out of the partial directory. It drops
	// every partial of this file it finds, and p's lock is held: take p
	// out of s.partials first.
	delete(s.partials, p.key)
	if _, err := s.commitLocked(filepath.Join(p.dir, "file"), f, file, false); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			// The rename into live/ failed (no room for the entry, a
			// read-only file system): keep the partial, listed again so
			// that it is closed, found and dropped like any other.
			p.state = partialActive
			s.partials[p.key] = p
			return storageErr("installing "+p.key+" (its blocks are kept)", s.live, le)
		}
		p.endLocked(partialDropped)
		s.forgetPartialLocked(p.key, p, err.Error())
		return err
	}
	p.f = nil // now owned by the live entry
	p.state = partialDone
	delete(s.partials, p.key)
	s.removeDirLocked(p.dir)
	return nil
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

// endLocked sets p's final state and closes its file; the caller holds
// p.mu. A Complete verifying the file meanwhile fails and notices.
func (p *Partial) endLocked(st partialState) {
	p.state = st
	if p.f != nil {
		p.f.Close()
		p.f = nil
	}
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

// close records the partial's blocks and closes it (Store.Close); it
// resumes at the next Open.
func (p *Partial) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == partialActive {
		if err := p.syncLocked(); err != nil {
			p.s.log.Error("mfz partial sync at close failed", "partial", p.key, "err", err)
		}
	}
	p.endLocked(partialDropped)
}
