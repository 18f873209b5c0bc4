package dist

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// file is a signed file this tile holds or is receiving, in the phase
// (phase.go) that says which. Only the loop goroutine touches it.
type file struct {
	id        fileID
	name      string
	version   int64
	phase     phase
	m         *mfz.Manifest
	signed    []byte
	handle    uint8 // ours, announced to the neighbours; noHandle if none was free
	blocks    int
	nhave     int // blocks held: all of them once held
	bytesHave int64

	// A transfer's (receiving and verifying); partial, have and fetching
	// are nil once held.
	partial  *mfz.Partial
	have     mfz.Bitmap   // verified blocks
	fetching []packet.Dir // per block: the neighbour fetching it, 0 none
	low      int          // every block below low is held
	// recentHaves: the blocks last announced in HAVEs, repeated in the
	// next ones (flushHaves).
	recentHaves []int
	resumed     int // blocks held when the transfer was (re)started here
	started     time.Time
	changedAt   time.Time // a block verified
	sources     [8]SourceStatus
	pause       pause // a local store failure stopped it (a full disk): pause.go
	syncing     bool  // a sync of partial runs (sync.go)

	completedAt time.Time // completed by transfer or push in this run
	// seed: a file pushed here is shown to the neighbours a few blocks
	// at a time until each block has been asked for once (seeding.go).
	seed *seeding
	// reannounce: a change this important (complete, new) is announced
	// again a few times soon after, in case the first was lost.
	reannounceAt   time.Time
	reannounceGap  time.Duration
	reannounceLeft int
}

// heldFile is the file of an entry of the store's list: held whole, or a
// tombstone.
func heldFile(e *mfz.Entry) *file {
	f := &file{id: fidOf(e.Hash), name: e.Name, version: e.Version, phase: phaseHeld,
		m: e.Manifest, signed: e.Signed, blocks: e.Manifest.BlockCount(), handle: noHandle}
	if e.Deleted {
		f.phase = phaseTombstone
	}
	f.nhave = f.blocks
	f.bytesHave = e.Manifest.RegionLen()
	return f
}

// newTransfer is the file of a partial the store holds, with the blocks
// it verified already (after a restart, or a transfer begun before).
func newTransfer(p *mfz.Partial, now time.Time) *file {
	m := p.Manifest()
	f := &file{id: fidOf(p.Hash()), name: m.Name, version: m.Version, phase: phaseReceiving, m: m, signed: p.Signed(),
		blocks: m.BlockCount(), partial: p, started: now, handle: noHandle}
	f.have = p.Have()
	if len(f.have) != (f.blocks+7)/8 {
		f.have = mfz.NewBitmap(f.blocks)
	}
	for b := 0; b < f.blocks; b++ {
		if f.have.Has(b) {
			f.nhave++
			f.bytesHave += int64(m.BlockLen(b))
		}
	}
	f.resumed = f.nhave
	f.fetching = make([]packet.Dir, f.blocks)
	f.advanceLow()
	return f
}

// to moves f to the phase after e, and reports whether e could happen in
// its phase (phase.next); if not, nothing changes.
func (f *file) to(e phaseEvent) bool {
	p, ok := f.phase.next(e)
	f.phase = p
	return ok
}

// receiving reports whether f has a transfer: it is receiving or
// verifying.
func (f *file) receiving() bool { return f.phase.transferring() }

// holds reports whether block b is verified here.
func (f *file) holds(b int) bool {
	if b < 0 || b >= f.blocks {
		return false
	}
	switch f.phase {
	case phaseHeld:
		return true
	case phaseReceiving, phaseVerifying:
		return f.have.Has(b)
	}
	return false
}

// gotBlock counts block b, length bytes, verified at now, as held. It
// reports false if it was held already.
func (f *file) gotBlock(b, length int, now time.Time) bool {
	if f.have.Has(b) {
		return false
	}
	f.have.Set(b)
	f.nhave++
	f.bytesHave += int64(length)
	f.changedAt = now
	f.advanceLow()
	return true
}

// advanceLow moves low past the blocks held.
func (f *file) advanceLow() {
	for f.low < f.blocks && f.have.Has(f.low) {
		f.low++
	}
}

// installed makes f, whose transfer the store now holds whole, a held
// file at now. It reports false if f had no transfer to finish.
func (f *file) installed(now time.Time) bool {
	if !f.to(evInstalled) {
		return false
	}
	f.partial, f.have, f.fetching = nil, nil, nil
	f.nhave, f.bytesHave = f.blocks, f.m.RegionLen()
	f.completedAt = now
	return true
}

// dominates reports whether version v1 with file id id1 wins over v2 with
// id2 by the dominance order of mfz.CompareVersions.
func dominates(v1 int64, id1 fileID, v2 int64, id2 fileID) bool {
	return mfz.CompareVersions(v1, id1[:], v2, id2[:]) > 0
}

// fileTable is the files this tile holds or receives: by file id, by our
// handle, and the dominant file of each name (what is announced). Only
// the loop goroutine touches it.
type fileTable struct {
	byID    map[fileID]*file
	byName  map[string]*file
	handles [maxHandle + 1]*file
	nextH   int
}

// newFileTable returns an empty table.
func newFileTable() fileTable {
	return fileTable{byID: map[fileID]*file{}, byName: map[string]*file{}}
}

// add puts f in the table under a fresh handle.
func (ft *fileTable) add(f *file) {
	f.handle = ft.allocHandle(f)
	ft.byID[f.id] = f
}

// remove takes f out of the table and frees its handle. The dominant
// files are recomputed by names.
func (ft *fileTable) remove(f *file) {
	delete(ft.byID, f.id)
	if f.handle != noHandle && ft.handles[f.handle] == f {
		ft.handles[f.handle] = nil
	}
}

// byHandle returns the file of our handle h, or nil.
func (ft *fileTable) byHandle(h uint8) *file { return ft.handles[h] }

// allocHandle gives f a handle, going round 0..254 so a handle freed is
// reused as late as possible.
func (ft *fileTable) allocHandle(f *file) uint8 {
	for i := 0; i <= maxHandle; i++ {
		h := (ft.nextH + i) % (maxHandle + 1)
		if ft.handles[h] == nil {
			ft.handles[h] = f
			ft.nextH = h + 1
			return uint8(h)
		}
	}
	// More than 255 files: the oldest complete ones go unannounced.
	return noHandle
}

// names recomputes the dominant file of each name and returns those that
// became dominant (a name newly held, or a newer file of a name).
func (ft *fileTable) names() (changed []*file) {
	best := map[string]*file{}
	for _, f := range ft.byID {
		if b := best[f.name]; b == nil || dominates(f.version, f.id, b.version, b.id) {
			best[f.name] = f
		}
	}
	for name, f := range best {
		if ft.byName[name] != f {
			ft.byName[name] = f
			changed = append(changed, f)
		}
	}
	for name := range ft.byName {
		if best[name] == nil {
			delete(ft.byName, name)
		}
	}
	return changed
}
