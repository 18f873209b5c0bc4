package dist

import (
	"errors"

	"github.com/t2tiles/itcd/services/mfz"
)

// The file table against the store: the store is the authority on what
// this tile holds, and the loop's table follows it (resync). A transfer
// begins with a partial the store made (manifests.go, or one resumed
// after a restart), ends in the whole-file check run off the loop
// (startComplete, completed), or ends early: superseded by a newer
// version, installed aside by a push, refused.

// completion is the result of a whole-file check, sent back to the loop.
type completion struct {
	f   *file
	err error
}

// resync reconciles the file table with the store: live files and
// tombstones from List, transfers from Partials. The store is the
// authority; its events only say when to look.
func (l *loop) resync() {
	present := map[fileID]bool{}
	for _, e := range l.st.List() {
		id := fidOf(e.Hash)
		present[id] = true
		if f := l.files.byID[id]; f != nil {
			if f.phase == phaseReceiving {
				// Installed behind our back (pushed, or dropped into
				// live/) while it was being received.
				l.installedAside(f)
			}
			continue
		}
		f := heldFile(&e)
		if old := l.files.byName[e.Name]; old == nil || dominates(f.version, f.id, old.version, old.id) {
			f.completedAt = l.now // newly installed while we run (push, hand, or startup)
			if l.running && l.t.superSeed && f.phase == phaseHeld && f.blocks > 1 {
				// Pushed (or dropped into live/) while we run: no other
				// tile has it yet.
				f.seed = newSeeding(f.blocks, f.m.Pages(), f.m.BlockSize/mfz.BlockHashLen, l.now)
			}
		}
		l.files.add(f)
	}
	for _, p := range l.st.Partials() {
		id := fidOf(p.Hash())
		present[id] = true
		if f := l.files.byID[id]; f != nil {
			if f.phase == phaseReceiving && f.partial != p {
				f.partial = p // the store made it again
			}
			continue
		}
		if l.isRefused(id) {
			// Its final check failed and the store kept it (a disk
			// error): try again when the refusal ends, not at once.
			continue
		}
		l.addTransfer(p)
	}
	for id, f := range l.files.byID {
		if !present[id] && f.phase != phaseVerifying {
			l.removeFile(f)
		}
	}
	l.rebuildNames()
}

// addTransfer starts (or resumes) receiving the partial p.
func (l *loop) addTransfer(p *mfz.Partial) *file {
	f := newTransfer(p, l.now)
	l.counters.BlocksResumed += uint64(f.nhave)
	l.files.add(f)
	l.log.Info("mfz transfer", "name", f.name, "version", f.version, "blocks", f.blocks, "held", f.nhave)
	if f.nhave == f.blocks {
		l.startComplete(f)
	}
	return f
}

// removeFile forgets a file the store no longer holds.
func (l *loop) removeFile(f *file) {
	l.endTransfer(f)
	l.files.remove(f)
	l.recent.forget(f)
	delete(l.haves, f)
}

// finishTransfer makes f, now complete in the store, a file we hold.
func (l *loop) finishTransfer(f *file) {
	l.endTransfer(f)
	f.installed(l.now)
}

// installedAside ends the transfer of f, which the store now holds whole
// because the same file was pushed or dropped into live/ meanwhile (the
// store dropped the partial), and tells the neighbours at once, as for a
// completion: they may be waiting for its blocks.
func (l *loop) installedAside(f *file) {
	l.log.Info("mfz transfer ended: the same file was installed (push or live/)", "name", f.name, "version", f.version)
	l.finishTransfer(f)
	l.announceHeld(f)
}

// endTransfer stops fetching blocks of f from anyone.
func (l *loop) endTransfer(f *file) {
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		l.cancelAsms(n, func(a *asm) bool { return a.f == f })
	}
}

// rebuildNames recomputes the dominant file of each name and announces
// those that changed; an older transfer of such a name is pointless now.
func (l *loop) rebuildNames() {
	for _, f := range l.files.names() {
		l.reannounceSoon(f)
		for _, o := range l.files.byID {
			if o.name == f.name && o != f && o.phase == phaseReceiving {
				l.abandon(o)
			}
		}
		l.announceAll(f)
	}
}

// abandon stops an older transfer and drops its partial from the store.
func (l *loop) abandon(f *file) {
	l.log.Info("mfz transfer superseded", "name", f.name, "version", f.version)
	l.counters.Superseded++
	l.endTransfer(f)
	if err := l.st.Abandon(f.name, f.version); err != nil && !errors.Is(err, mfz.ErrNotFound) {
		l.log.Warn("mfz abandon", "name", f.name, "err", err)
	}
	l.removeFile(f)
}

// startComplete runs the whole-file check of f, every block held, off the
// loop: it reads and hashes the whole body.
func (l *loop) startComplete(f *file) {
	if !f.to(evAllBlocks) {
		return // checked already, or not a transfer
	}
	p := f.partial
	ctx := l.ctx
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := p.CompleteContext(ctx) // a stop cancels it
		select {
		case l.done <- completion{f, err}:
		case <-ctx.Done():
		}
	}()
}

// completed takes the result of a whole-file check.
func (l *loop) completed(c completion) {
	f := c.f
	f.to(evCheckDone)
	if l.files.byID[f.id] != f {
		return
	}
	if c.err != nil && l.supersededBy(f, c.err) {
		// A newer version was installed (pushed) while the whole-file
		// check ran: the store dropped this partial. Not a bad file.
		l.log.Info("mfz transfer superseded at its final check", "name", f.name, "version", f.version, "err", c.err)
		l.counters.Superseded++
		l.removeFile(f)
		l.resync()
		return
	}
	if c.err != nil && l.heldWhole(f) {
		// The same file was installed (pushed) while the check ran: the
		// store dropped the partial. Not a bad file.
		l.installedAside(f)
		l.resync()
		return
	}
	if c.err != nil && local(c.err) {
		// This tile's disk, not the file: every block is kept, and the
		// check runs again when the pause ends (retryPaused).
		l.storeFailed(f, c.err)
		return
	}
	if c.err != nil {
		l.log.Warn("mfz file failed its final check; refused", "name", f.name, "version", f.version, "err", c.err)
		l.refuse(f.id, c.err.Error())
		l.removeFile(f)
		l.resync()
		return
	}
	l.storeWorked(f)
	l.finishTransfer(f)
	l.counters.Completed++
	l.log.Info("mfz file complete", "name", f.name, "version", f.version, "seconds", l.now.Sub(f.started).Seconds())
	l.announceHeld(f)
	l.resync()
}

// heldWhole reports whether the store holds exactly f, complete.
func (l *loop) heldWhole(f *file) bool {
	e, ok := l.st.Lookup(f.name)
	return ok && !e.Deleted && fidOf(e.Hash) == f.id
}

// supersededBy reports whether the final check of f failed because the
// store holds a newer file of its name (installed meanwhile).
func (l *loop) supersededBy(f *file, err error) bool {
	if errors.Is(err, mfz.ErrStale) {
		return true
	}
	e, ok := l.st.Lookup(f.name)
	return ok && dominates(e.Version, fidOf(e.Hash), f.version, f.id)
}
