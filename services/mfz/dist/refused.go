package dist

import "time"

// refusals remembers the files whose manifest or whole body this tile
// refused (untrusted, badly signed, not what was announced, failed its
// final check), so they are not fetched again for t.refuseFor, or until
// the trust directory changes (the loop clears it then). It holds at most
// t.refusedMax: a neighbour announcing ever new bad files pushes out the
// refusal that ends first. Only the loop goroutine touches it.
type refusals map[fileID]refusal

// refusal is why and until when a file id is refused.
type refusal struct {
	until  time.Time
	reason string
}

// add refuses id at now for why.
func (r refusals) add(id fileID, why string, now time.Time, t *tuning) {
	if len(r) >= t.refusedMax {
		var oldest fileID
		var at time.Time
		for k, x := range r {
			if at.IsZero() || x.until.Before(at) {
				oldest, at = k, x.until
			}
		}
		delete(r, oldest)
	}
	r[id] = refusal{until: now.Add(t.refuseFor), reason: why}
}

// has reports whether id is refused at now, forgetting it once its time
// is over.
func (r refusals) has(id fileID, now time.Time) bool {
	x, ok := r[id]
	if ok && now.After(x.until) {
		delete(r, id)
		return false
	}
	return ok
}

// refuse refuses the file id for why.
func (l *loop) refuse(id fileID, why string) {
	l.refused.add(id, why, l.now, l.t)
	l.counters.Refused++
}

// isRefused reports whether the file id is refused now.
func (l *loop) isRefused(id fileID) bool { return l.refused.has(id, l.now) }
