package dist

// Recording received blocks off the loop. A partial's sync (an fsync of
// its data, then the record of which blocks are on disk) takes well under
// a millisecond on a quiet SSD, tens of milliseconds on a tile's eMMC,
// and over a hundred when the journal commits while the tiles of a
// simulated grid share one disk. A loop waiting for it neither answers
// nor sends, and its neighbours' silence timers run out. So the loop
// writes each block (mfz.Partial.WriteBlock) and leaves the sync, when
// one is due, to a goroutine of its own: one at a time per file, and at
// most maxSyncs at once, however many files are received at once.

// maxSyncs bounds the syncs running at once. A due sync that finds them
// all busy is asked for again by the file's next block.
const maxSyncs = 4

// synced is the result of one sync of f's partial.
type synced struct {
	f   *file
	err error
}

// syncSoon starts a sync of f's partial unless one runs already: blocks
// written meanwhile wait for the next, which the next block written asks
// for (WriteBlock says when) or the whole-file check makes.
func (l *loop) syncSoon(f *file) {
	if f.syncing || l.syncs >= maxSyncs {
		return
	}
	f.syncing = true
	l.syncs++
	p, ctx := f.partial, l.ctx
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		err := p.Sync()
		select {
		case l.synced <- synced{f, err}:
		case <-ctx.Done():
		}
	}()
}

// syncDone takes the result of a sync. A failure (this tile's disk:
// full, or failing) pauses the transfer as a failed write does
// (pause.go); its blocks written stay held, and the sync after the pause
// records them.
func (l *loop) syncDone(r synced) {
	f := r.f
	f.syncing = false
	l.syncs--
	if r.err == nil || l.files.byID[f.id] != f || !f.receiving() {
		return
	}
	l.storeFailed(f, r.err)
}
