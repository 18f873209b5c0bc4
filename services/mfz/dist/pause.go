package dist

import (
	"time"

	"github.com/t2tiles/itcd/services/mfz"
)

// A local store failure (mfz.FaultLocal: a full disk, a quota, a
// read-only or failing file system) is this tile's own. It used to be
// treated as a lost block: asked again at once, failed again, in a loop of
// thousands a second (both tiles' CPU, megabytes of log). Now what failed
// pauses:
//
//   - a transfer whose block could not be written, or whose final check
//     could not record or install it: nothing of it is asked for (its
//     blocks in flight are cancelled, so what still arrives is dropped as
//     unexpected, without a write); when the pause ends one block is
//     fetched as a probe (or the final check runs again); success resumes
//     it, failure doubles the pause;
//   - a new transfer the store could not create: no manifest of that
//     file is fetched until its pause ends (startPause). Only a failure
//     of the whole disk (mfz.FileSystemWide: full, over quota, read-only, I/O
//     errors) pauses every new transfer (loop.begins): a failure of one
//     file's partial (something in the way of its directory) used to
//     pause them all, again and again, while others could have started.
//
// The pause grows from t.pauseMin, doubling, to t.pauseMax. Verified
// blocks already stored stay (the store keeps them); nobody is struck. The
// log gets the first failure and then at most one line per backoff step,
// with the count of failures not logged.

// pause is the backoff state of something a local store failure stopped.
// The zero value is "not paused".
type pause struct {
	err      error         // the last failure; nil: not paused
	since    time.Time     // the first failure in a row
	until    time.Time     // nothing is tried before this
	delay    time.Duration // the current step
	failures int           // steps that failed in a row
	logAt    time.Time     // no log line before this
	quiet    int           // failures not logged since the last line
}

func (p *pause) paused() bool { return p.err != nil }

// waiting reports whether the pause is in force: nothing may be tried.
func (p *pause) waiting(now time.Time) bool { return p.err != nil && now.Before(p.until) }

// fail records a failure at now and reports whether to log it, with how
// many failures were not logged before it. A failure while the pause is in
// force (something already in flight when the first failed) does not
// lengthen it.
func (p *pause) fail(now time.Time, err error, t *tuning) (logIt bool, quiet int) {
	p.err = err
	switch {
	case p.since.IsZero():
		p.since, p.delay = now, t.pauseMin
	case now.Before(p.until):
		p.quiet++
		return false, 0
	default:
		p.delay = min(2*p.delay, t.pauseMax)
	}
	p.failures++
	p.until = now.Add(p.delay)
	if now.Before(p.logAt) {
		p.quiet++
		return false, 0
	}
	quiet, p.quiet = p.quiet, 0
	p.logAt = p.until
	return true, quiet
}

// storeFailed pauses f after a local store failure (mfz.FaultLocal).
func (l *loop) storeFailed(f *file, err error) {
	l.counters.DiskErrors++
	// Nothing more of f is asked for or written until the pause ends.
	l.endTransfer(f)
	if logIt, quiet := f.pause.fail(l.now, err, l.t); logIt {
		l.log.Error("mfz transfer paused: cannot store", "name", f.name, "version", f.version,
			"retry_in", f.pause.delay, "failures", f.pause.failures, "not_logged", quiet, "err", err)
	}
}

// storeWorked ends f's pause: a write reached the disk again.
func (l *loop) storeWorked(f *file) {
	if !f.pause.paused() {
		return
	}
	l.log.Info("mfz transfer resumed", "name", f.name, "version", f.version,
		"paused_for", l.now.Sub(f.pause.since).Round(time.Second), "failures", f.pause.failures+f.pause.quiet)
	f.pause = pause{}
}

// startPause is the pause of new transfers of one file, whose partial the
// store could not create for a reason of its own.
type startPause struct {
	name    string
	version int64
	pause
}

// beginFailed pauses new transfers of mf's file, the store could not
// create it: all of them if the disk failed (mfz.FileSystemWide) or if more than
// t.startsMax files failed each for a reason of its own (then it is not
// theirs), else only that file's.
func (l *loop) beginFailed(mf *mfetch, err error) {
	l.counters.DiskErrors++
	sp := l.starts[mf.id]
	if sp == nil && !mfz.FileSystemWide(err) && len(l.starts) < l.t.startsMax {
		sp = &startPause{name: mf.name, version: mf.version}
		l.starts[mf.id] = sp
	}
	if sp == nil || mfz.FileSystemWide(err) {
		if logIt, quiet := l.begins.fail(l.now, err, l.t); logIt {
			l.log.Error("mfz new transfers paused: cannot store", "name", mf.name,
				"retry_in", l.begins.delay, "failures", l.begins.failures, "not_logged", quiet, "err", err)
		}
		return
	}
	if logIt, quiet := sp.fail(l.now, err, l.t); logIt {
		l.log.Error("mfz transfer cannot start: cannot store", "name", mf.name, "version", mf.version,
			"retry_in", sp.delay, "failures", sp.failures, "not_logged", quiet, "err", err)
	}
}

// beginWorked ends the pause of new transfers, and that of id's.
func (l *loop) beginWorked(id fileID) {
	if sp := l.starts[id]; sp != nil {
		l.log.Info("mfz transfer can start again", "name", sp.name, "version", sp.version,
			"paused_for", l.now.Sub(sp.since).Round(time.Second))
		delete(l.starts, id)
	}
	if !l.begins.paused() {
		return
	}
	l.log.Info("mfz new transfers resumed", "paused_for", l.now.Sub(l.begins.since).Round(time.Second))
	l.begins = pause{}
}

// mayStart reports whether the manifest of id may be fetched to start a
// transfer: not while new transfers, or those of id, are paused.
func (l *loop) mayStart(id fileID) bool {
	if l.begins.waiting(l.now) {
		return false
	}
	sp := l.starts[id]
	return sp == nil || !sp.waiting(l.now)
}

// forgetStarts drops the start pauses of files held now, and of those no
// neighbour announces any more once their pause ends (a file announced
// again later starts afresh).
func (l *loop) forgetStarts() {
	for id, sp := range l.starts {
		if l.files.byID[id] != nil || !sp.waiting(l.now) && !l.someoneAnnounces(id) {
			delete(l.starts, id)
		}
	}
}

// someoneAnnounces reports whether a live neighbour announces the file id.
func (l *loop) someoneAnnounces(id fileID) bool {
	for _, n := range l.nbrs {
		if n != nil && n.byFid[id] != nil {
			return true
		}
	}
	return false
}

// mayFetch reports whether a block of f may be asked for now: not while
// its pause is in force, and once it ends only one block at a time (the
// probe) until a write works again.
func (l *loop) mayFetch(f *file) bool {
	if !f.pause.paused() {
		return true
	}
	if f.pause.waiting(l.now) {
		return false
	}
	for _, n := range l.nbrs {
		if n == nil {
			continue
		}
		if n.win.fetching(f) {
			return false
		}
	}
	return true
}

// retryPaused runs the final check again of transfers paused with every
// block held, once their pause ends.
func (l *loop) retryPaused() {
	for _, f := range l.files.byID {
		if f.phase == phaseReceiving && f.pause.paused() && !f.pause.waiting(l.now) && f.nhave == f.blocks {
			l.startComplete(f)
		}
	}
}

// local reports whether a store error is this tile's own failure.
func local(err error) bool { return mfz.Classify(err) == mfz.FaultLocal }
