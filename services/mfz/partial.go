package mfz

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// One file being received: its bitmap of held blocks, writing and
// reading blocks, and making them durable. The store's bookkeeping of its
// partials (begin, resume, drop) is in partials.go, the final check and
// cut-over in complete.go.

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
	// list is the hash list of a format-3 file: the pages held, checked,
	// are copied into it when they arrive and when the partial resumes,
	// and check the body blocks (at most MaxBlocks x BlockHashLen bytes).
	list []byte

	mu       sync.RWMutex
	f        *os.File
	have     Bitmap
	nhave    int
	unsynced int
	recorded int // "have" files recorded: Sync renames its own only if none came since its snapshot
	state    partialState

	syncMu sync.Mutex // one Sync at a time
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

// Hash returns the SHA-256 of the manifest bytes: the version's identity
// (Manifest.Hash, without marshaling the manifest again).
func (p *Partial) Hash() Hash { return p.hash }

// Signed returns the signed manifest (manifest || signature).
func (p *Partial) Signed() []byte { return p.signed }

// Have returns a copy of the bitmap of blocks held.
func (p *Partial) Have() Bitmap {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return append(Bitmap(nil), p.have...)
}

// Has reports whether block i is held.
func (p *Partial) Has(i int) bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.hasLocked(i)
}

func (p *Partial) hasLocked(i int) bool {
	return i < p.m.BlockCount() && p.have.Has(i)
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

// PutBlock verifies block i against the manifest (or, a format-3 body
// block, against its hash page, which must be held: else ErrNeedPage)
// and, only if it matches, writes it. A wrong block returns a *BlockError
// (ErrBlockHash) and nothing is written; a block already held is accepted
// and ignored. Every SyncEvery blocks (and when the last block arrives)
// the data is fsynced and then the bitmap is recorded (Sync).
//
// A failure of the local file system (a full disk) returns a
// *StorageError (ErrStorage) naming the path, and every block recorded
// before stays. If the block was written but could not be recorded, Has(i)
// reports it held and the next Sync, PutBlock or Complete that reaches
// the disk records it; if the write itself failed, it is not held.
func (p *Partial) PutBlock(i int, data []byte) error {
	due, err := p.WriteBlock(i, data)
	if err != nil || !due {
		return err
	}
	return p.Sync()
}

// WriteBlock is PutBlock without the sync, for a caller that must not
// wait for the disk: it reports whether a sync is due (SyncEvery blocks
// unrecorded, or the last block), and the caller runs Sync elsewhere.
// Blocks written and not yet recorded are held (Has, ReadBlock) but lost
// at a power cut, to be fetched again.
func (p *Partial) WriteBlock(i int, data []byte) (syncDue bool, err error) {
	if err := p.verify(i, data); err != nil {
		return false, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state != partialActive {
		return false, fmt.Errorf("%w: %s", ErrDone, p.key)
	}
	if p.hasLocked(i) {
		return false, nil
	}
	if _, err := (&faultWriter{w: &offsetWriter{p.f, p.bodyOff + p.m.BlockOffset(i)}, s: p.s, op: "block"}).Write(data); err != nil {
		return false, storageErr(fmt.Sprintf("writing block %d of %s", i, p.key), filepath.Join(p.dir, "file"), err)
	}
	if i < p.m.Pages() {
		copy(p.list[p.m.BlockOffset(i):], data)
	}
	p.have.Set(i)
	p.nhave++
	p.unsynced++
	return p.unsynced >= p.s.cfg.SyncEvery || p.nhave == p.m.BlockCount(), nil
}

// verify checks data as block i, against its hash page if it has one.
// A page's bytes in p.list are written once, before its bit in p.have,
// both under p.mu: once the bit is seen they are there and never change.
func (p *Partial) verify(i int, data []byte) error {
	pg := p.m.PageOf(i)
	if pg < 0 {
		return p.m.VerifyBlock(i, data)
	}
	p.mu.RLock()
	held := p.hasLocked(pg)
	p.mu.RUnlock()
	if !held {
		return fmt.Errorf("%w: block %d of %s needs page %d", ErrNeedPage, i, p.key, pg)
	}
	off := p.m.BlockOffset(pg)
	return p.m.VerifyBlockIn(i, data, p.list[off:off+int64(p.m.BlockLen(pg))])
}

type offsetWriter struct {
	f   *os.File
	off int64
}

func (w *offsetWriter) Write(b []byte) (int, error) { return w.f.WriteAt(b, w.off) }

// Sync makes every block written so far durable and records it in
// "have": data first, then the record, so a recorded block is always on
// disk. The fsyncs run without p.mu: blocks are written and read
// meanwhile, and only the rename of the new record waits for them. A
// record made meanwhile by Complete or Close (syncLocked, of every block)
// stands, and this one's older snapshot is thrown away. A partial that
// ends meanwhile is left to its end (nil).
func (p *Partial) Sync() error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	p.mu.Lock()
	if !p.recordingLocked() || p.unsynced == 0 {
		p.mu.Unlock()
		return nil
	}
	f, have, n, gen := p.f, append(Bitmap(nil), p.have...), p.unsynced, p.recorded
	p.mu.Unlock()

	if err := f.Sync(); err != nil {
		if !p.recording() {
			return nil // ended meanwhile: its file was closed
		}
		return p.syncErr(err)
	}
	tmp, err := p.s.spoolBytes(have, "have")
	if err != nil {
		return p.recordErr(err)
	}
	p.mu.Lock()
	if !p.recordingLocked() || p.recorded != gen {
		p.mu.Unlock()
		os.Remove(tmp)
		return nil
	}
	if err := os.Rename(tmp, p.recordPath()); err != nil {
		p.mu.Unlock()
		os.Remove(tmp)
		return p.recordErr(err)
	}
	p.recorded++
	p.unsynced -= n
	p.mu.Unlock()
	if err := syncDir(p.dir); err != nil && p.recording() {
		return p.recordErr(err) // else dropped meanwhile, its directory with it
	}
	return nil
}

// recording is recordingLocked for a caller without p.mu.
func (p *Partial) recording() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.recordingLocked()
}

// recordingLocked reports whether p still records its blocks: neither
// installed nor dropped.
func (p *Partial) recordingLocked() bool {
	return p.state == partialActive || p.state == partialCompleting
}

// syncLocked is Sync holding p.mu throughout, for the paths that end or
// check the partial (Complete, Close).
func (p *Partial) syncLocked() error {
	if p.unsynced == 0 {
		return nil
	}
	if err := p.f.Sync(); err != nil {
		return p.syncErr(err)
	}
	if err := p.s.writeFileAtomic(p.recordPath(), p.have, "have"); err != nil {
		return p.recordErr(err)
	}
	p.recorded++
	p.unsynced = 0
	return nil
}

// recordPath is the file that records which blocks are on disk.
func (p *Partial) recordPath() string { return filepath.Join(p.dir, "have") }

// syncErr and recordErr are the storage errors of the two steps of a sync.
func (p *Partial) syncErr(err error) error {
	return storageErr("syncing "+p.key, filepath.Join(p.dir, "file"), err)
}

func (p *Partial) recordErr(err error) error {
	return storageErr("recording the blocks of "+p.key, p.recordPath(), err)
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
	return readBlockAt(p.f, p.bodyOff, p.m, i, buf, p.list)
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
