package dist

import (
	"crypto/sha256"
	"errors"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/mfz"
)

// The loop's side of manifest fetching (fetch.go has the fetch, its
// timers and the tokens): which announced files to fetch, from whom, and
// what to do with a manifest that arrives or a fetch that fails.

// reconsiderAll looks again at everything every neighbour announced: a
// neighbour went away, or the slow timer runs.
func (l *loop) reconsiderAll() {
	for _, n := range l.nbrs {
		l.considerNbr(n)
	}
}

// consider starts fetching the manifest of a file a neighbour announced if
// it dominates what we hold of its name.
//
// At most t.manifests fetches run from one neighbour: a neighbour
// announcing files we refuse, or streaming manifests slowly, holds its own
// slots and nobody else's, so an honest neighbour's announcement of the
// same name (older or not) is fetched meanwhile. A newer announcement of a
// name being fetched from n takes that fetch over (fetchTable.retarget),
// and fresh fetches from n spend its fetch tokens (tokenBucket).
func (l *loop) consider(n *nbr, rf *rfile) {
	if l.files.byID[rf.id] != nil || l.fetches[rf.id] != nil || l.isRefused(rf.id) {
		return
	}
	if cur := l.files.byName[rf.name]; cur != nil && !dominates(rf.version, rf.id, cur.version, cur.id) {
		return
	}
	if n.avoided(l.now) || !l.mayStart(rf.id) {
		return
	}
	k := 0
	for _, mf := range l.fetches {
		if mf.from != n.dir {
			continue
		}
		if mf.name == rf.name {
			if dominates(rf.version, rf.id, mf.version, mf.id) {
				// It moved on to a newer one of the name: fetch that instead.
				l.fetches.retarget(mf, rf.id, rf.version)
			}
			return
		}
		k++
	}
	if k >= l.t.manifests || !n.tokens.take(l.now, l.t) {
		return
	}
	mf := newFetch(rf, n.dir, l.now, l.t)
	l.fetches[rf.id] = mf
	l.askManifest(n, rf, mf)
}

// announcesNewer reports whether n announces a file of mf's name that
// dominates mf's.
func announcesNewer(n *nbr, mf *mfetch) bool {
	for _, rf := range n.byFid {
		if rf.name == mf.name && dominates(rf.version, rf.id, mf.version, mf.id) {
			return true
		}
	}
	return false
}

// considerNbr looks again at everything n announced (one of its fetch
// slots came free).
func (l *loop) considerNbr(n *nbr) {
	if n == nil {
		return
	}
	for _, rf := range n.byFid {
		l.consider(n, rf)
	}
}

// fetchFailed drops a manifest fetch that n did not serve and strikes n;
// the file is asked of another neighbour that announced it first.
func (l *loop) fetchFailed(n *nbr, mf *mfetch, why string) {
	l.fetchDropped(n, mf)
	l.strike(n, why)
	if !n.avoided(l.now) {
		l.considerNbr(n)
	}
}

// fetchDropped forgets the manifest fetch mf asked of n and asks another
// neighbour that announced the file.
func (l *loop) fetchDropped(n *nbr, mf *mfetch) {
	delete(l.fetches, mf.id)
	for _, o := range l.nbrs {
		if o != nil && o != n {
			if rf := o.byFid[mf.id]; rf != nil {
				l.consider(o, rf)
			}
		}
	}
}

// fetchVanished drops the manifest fetch mf, whose file n took back
// (NOTHAVE "gone", its handle given to another file) with nothing newer
// of the name announced. Once is no fault: a file removed by hand, a
// handle reused; the fetch cost n one of its fetch tokens, which bound
// how often it can happen. t.vanishes of them within t.vanishWindow is
// one strike: a neighbour that takes back whatever it is asked for.
func (l *loop) fetchVanished(n *nbr, mf *mfetch) {
	if n.conduct.vanish(l.now, l.t) {
		l.fetchFailed(n, mf, "took back the files it announced")
		return
	}
	l.fetchDropped(n, mf)
	l.considerNbr(n) // its slot is free
}

// askManifest asks n for the segments of mf (announced as rf) that
// mfetch.asking says: the first ask, or after a silence.
func (l *loop) askManifest(n *nbr, rf *rfile, mf *mfetch) {
	l.sendAsks(n, rf, mf.asking(l.now))
}

// sendAsks sends n the GET_MANIFESTs of asks, for the file it announced
// as rf.
func (l *loop) sendAsks(n *nbr, rf *rfile, asks []segRange) {
	for _, a := range asks {
		if rf.numbered {
			l.sendManifestAsk(n, rf, a.first, a.count)
			continue
		}
		l.sendCtrl(n, appendGetManifest(l.buf[:0], rf.handle, a.first*manifestSeg, a.count))
	}
}

// manifestSeg takes a MANIFEST segment from n for a fetch asked of it.
func (l *loop) manifestSeg(n *nbr, m *manifestMsg) {
	rf := n.rh[m.handle]
	if rf == nil {
		return
	}
	mf := l.fetches[rf.id]
	if mf == nil || mf.from != n.dir {
		return
	}
	switch mf.segment(m, l.now, l.t) {
	case segMalformed:
		l.counters.Malformed++
	case segGap:
		l.sendAsks(n, rf, mf.asks) // segments were lost
	case segComplete:
		delete(l.fetches, mf.id)
		l.manifestFetched(n, rf, mf)
		l.considerNbr(n) // its slot is free
	}
}

// manifestFetched checks the signed manifest mf fetched from n, which
// announced it as rf, and begins its transfer if the store takes it.
func (l *loop) manifestFetched(n *nbr, rf *rfile, mf *mfetch) {
	signed := mf.buf
	man, _, err := mfz.SplitSignedManifest(signed)
	if err != nil || fidOf(sha256.Sum256(man)) != mf.id {
		// It announced one file and sent another: a lying neighbour.
		l.counters.BadManifests++
		l.strike(n, "manifest does not match its announced id")
		return
	}
	if cur := l.files.byName[mf.name]; cur != nil && !dominates(mf.version, mf.id, cur.version, cur.id) {
		// A newer one of the name came from someone else meanwhile.
		n.tokens.give(l.t)
		return
	}
	l.counters.ManifestsIn++
	pm, err := mfz.ParseManifest(man)
	if errors.Is(err, mfz.ErrVersion) {
		// A format newer than this build reads: the neighbour runs a
		// newer itcd, it does not lie. Refused (not fetched again while
		// the refusal lasts), not struck: a strike would make this tile
		// avoid every upgraded neighbour, all its files included, as
		// tiles from before format 2 do with format-2 files. It costs
		// what any announced file costs: one fetch in n's slot.
		l.log.Info("mfz manifest in a format this itcd cannot read; upgrade itcd", "name", mf.name, "version", mf.version, "dir", n.dir.String(), "err", err)
		l.refuse(mf.id, err.Error())
		n.tokens.give(l.t)
		return
	}
	if err != nil || pm.Name != rf.name || pm.Version != rf.version ||
		pm.BlockCount() != rf.blocks || pm.IsTombstone() != rf.tomb {
		// A manifest that does not parse, or is not what it announced.
		why := "manifest does not match its announcement"
		if err != nil {
			why = err.Error()
		}
		l.counters.BadManifests++
		l.log.Info("mfz manifest refused", "name", mf.name, "version", mf.version, "dir", n.dir.String(), "err", why)
		l.refuse(mf.id, why)
		l.strike(n, "announced a bad manifest")
		return
	}
	p, err := l.st.Begin(signed)
	if err != nil {
		if errors.Is(err, mfz.ErrExists) {
			n.tokens.give(l.t)
			l.resync()
			return
		}
		if local(err) {
			// This tile's disk (full...): the manifest may be good, and
			// n is not to blame. No new transfer of it (or of any, if the
			// disk failed) until the pause ends.
			n.tokens.give(l.t)
			l.beginFailed(mf, err)
			return
		}
		l.log.Info("mfz manifest refused", "name", mf.name, "version", mf.version, "dir", n.dir.String(), "err", err)
		l.refuse(mf.id, err.Error())
		if neighbourFault(err) {
			// Untrusted, badly signed, malformed: it offers what no tile
			// here will take, and holds a fetch slot each time.
			l.strike(n, "announced a manifest we refuse")
		} else {
			n.tokens.give(l.t)
		}
		return
	}
	n.tokens.give(l.t)
	l.beginWorked(mf.id)
	if p.Done() { // a tombstone, installed at once
		l.resync()
		return
	}
	f := l.addTransfer(p)
	f.started = l.now
	l.rebuildNames()
}

// neighbourFault reports whether Begin refused a manifest for what it is
// (signer, signature, format) rather than for what this tile holds (a
// newer version or tombstone arrived meanwhile) or a local disk error.
func neighbourFault(err error) bool { return mfz.Classify(err) == mfz.FaultData }

// manifestTimeouts ends the fetches that are pointless now (a newer
// version came, the neighbour moved on or took the file back) and runs
// the others' timers.
func (l *loop) manifestTimeouts() {
	for id, mf := range l.fetches {
		n := l.nbrs[mf.from]
		if n == nil {
			delete(l.fetches, id)
			continue
		}
		if cur := l.files.byName[mf.name]; cur != nil && !dominates(mf.version, mf.id, cur.version, cur.id) {
			delete(l.fetches, id) // a newer one of the name came meanwhile
			n.tokens.give(l.t)
			continue
		}
		rf := n.byFid[id]
		if rf == nil {
			if announcesNewer(n, mf) {
				// It moved on to a newer one we do not fetch from it
				// (held, refused, or fetched from another).
				delete(l.fetches, id)
				continue
			}
			// It took back (NOTHAVE "gone", a handle given to another
			// file) a file it announced and we asked it for.
			l.fetchVanished(n, mf)
			continue
		}
		switch mf.due(l.now, n.win.rto(l.t), l.t) {
		case dueTooSlow:
			l.counters.Timeouts++
			l.fetchFailed(n, mf, "manifest too slow")
		case dueNotServed:
			l.counters.Timeouts++
			l.fetchFailed(n, mf, "manifest not served")
		case dueAskAgain:
			l.counters.Timeouts++
			l.askManifest(n, rf, mf)
		}
	}
}

// dropFetchesFrom forgets the manifest fetches asked of the neighbour on d.
func (l *loop) dropFetchesFrom(d packet.Dir) { l.fetches.dropFrom(d) }
