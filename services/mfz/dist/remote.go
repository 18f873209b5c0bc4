package dist

import "github.com/t2tiles/itcd/services/mfz"

// What the neighbours told this tile: each neighbour's announced files by
// its handle and by file id, with the blocks it holds of each partial one
// (ANNOUNCE, BITFIELD, HAVE). A file announced that dominates what this
// tile holds of its name is considered for fetching (manifests.go).

// rfile is what a neighbour announced about one of its files.
type rfile struct {
	handle   uint8
	id       fileID
	name     string
	version  int64
	complete bool
	tomb     bool
	counted  bool // it serves GET_MANIFEST with a segment count (flagCounted)
	numbered bool // it takes REQUESTS (flagRequests)
	marks    bool // it answers marks (flagMarks)
	short    bool // it answers with SHORT DATA (flagShortData)
	blocks   int
	have     mfz.Bitmap // its blocks; nil when complete
}

// holds reports whether the neighbour serves block b.
func (r *rfile) holds(b int) bool {
	if b < 0 || b >= r.blocks || r.tomb {
		return false
	}
	return r.complete || r.have.Has(b)
}

// heldByte returns which of blocks 8i..8i+7 r holds, as a byte of its
// bitmap (bit j: block 8i+j).
func (r *rfile) heldByte(i int) byte {
	if r.complete {
		return 0xFF
	}
	if i < len(r.have) {
		return r.have[i]
	}
	return 0
}

// held counts the blocks it holds.
func (r *rfile) held() int {
	if r.complete {
		return r.blocks
	}
	return r.have.Count(r.blocks)
}

// announced takes n's ANNOUNCE: a handle (re)mapped to a file, or news of
// one, and considers fetching it.
func (l *loop) announced(n *nbr, m *announceMsg) {
	l.counters.AnnouncesIn++
	rf := n.rh[m.handle]
	if rf == nil || rf.id != m.fid {
		if rf != nil {
			l.dropRemote(n, rf)
		}
		if old := n.byFid[m.fid]; old != nil {
			l.dropRemote(n, old)
		}
		rf = &rfile{handle: m.handle, id: m.fid}
		n.rh[m.handle] = rf
		n.byFid[m.fid] = rf
		// It announces only the dominant file of a name: what it said
		// of an older one of that name is void.
		for _, o := range n.byFid {
			if o != rf && o.name == m.name && dominates(m.version, m.fid, o.version, o.id) {
				l.dropRemote(n, o)
			}
		}
	}
	rf.name, rf.version = m.name, m.version
	rf.tomb = m.flags&flagTombstone != 0
	rf.complete = m.flags&flagComplete != 0
	rf.counted = m.flags&flagCounted != 0
	rf.numbered = m.flags&flagRequests != 0
	rf.marks = rf.numbered && m.flags&flagMarks != 0
	rf.short = rf.numbered && m.flags&flagShortData != 0
	if int(m.blocks) != rf.blocks {
		rf.have = nil
	}
	rf.blocks = int(m.blocks)
	if rf.complete {
		rf.have = nil
	} else if rf.have == nil {
		rf.have = mfz.NewBitmap(rf.blocks)
	}
	l.consider(n, rf)
}

// dropRemote forgets a neighbour's handle mapping (it was remapped).
func (l *loop) dropRemote(n *nbr, rf *rfile) {
	if n.rh[rf.handle] == rf {
		n.rh[rf.handle] = nil
	}
	if n.byFid[rf.id] == rf {
		delete(n.byFid, rf.id)
	}
	l.cancelAsms(n, func(a *asm) bool { return a.f.id == rf.id })
}

// bitfield takes a run of the bitmap of a partial file n announced.
func (l *loop) bitfield(n *nbr, m *bitfieldMsg) {
	rf := n.rh[m.handle]
	if rf == nil || rf.complete || rf.have == nil {
		return
	}
	first, bits := int(m.first), mfz.Bitmap(m.bits)
	for i := 0; i < 8*len(bits); i++ {
		if bits.Has(i) && first+i < rf.blocks {
			rf.have.Set(first + i)
		}
	}
}

// have takes n's HAVE: blocks of a partial file it verified.
func (l *loop) have(n *nbr, m *haveMsg) {
	rf := n.rh[m.handle]
	if rf == nil || rf.complete || rf.have == nil {
		return
	}
	// The low mark repairs HAVEs lost before this one.
	for b := 0; b < int(m.low) && b < rf.blocks; b++ {
		rf.have.Set(b)
	}
	m.blocks(func(b int) {
		if b < rf.blocks {
			rf.have.Set(b)
		}
	})
}
