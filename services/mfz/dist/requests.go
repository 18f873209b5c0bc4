package dist

import (
	"math/rand"
	"time"
)

// Numbered requests (REQUESTS, type 10). A lost REQUEST costs the asker a
// recovery round at least: what it asked comes never, and only the
// arrival of something asked later, or a silence, shows that. At 20%
// loss that was a fifth of all requests, and on the 4x4 push about 0.4 s
// of 4.6 (measured by sparing REQUESTs alone from the loss). So on a
// lossy link each request goes out with the few sent just before it, and
// the neighbour takes each number once: a lost packet's requests arrive
// with the next one, in order, as if never lost.

// requestLog is the asker's side for one neighbour: the last number used
// and the requests sent most recently, to send again. Pure: time comes in
// as an argument.
type requestLog struct {
	seq    uint16
	recent [maxRequestEntries - 1]sentRequest // ring, the newest at recent[(head-1) mod len]
	head   int
	n      int
}

// newRequestLog starts a neighbour's numbers at a random one: a tile that
// restarts and whose SYNC is lost starts far from where it left off, so
// its new numbers are behind the last the neighbour took (restartIf) or
// well ahead of it, not among the few just taken.
func newRequestLog(rng *rand.Rand) requestLog { return requestLog{seq: uint16(rng.Uint32())} }

// sentRequest is one request sent, its number and when.
type sentRequest struct {
	r   requestMsg
	seq uint16
	at  time.Time
}

// next numbers r and appends the REQUESTS that carries it to b[:0], with
// up to repeats of the requests sent within maxAge before now (those
// older were answered or have been given up on: a repeat then would
// only serve twice what was asked again since).
func (g *requestLog) next(b []byte, r requestMsg, repeats int, maxAge time.Duration, now time.Time) []byte {
	g.seq++
	var entries [maxRequestEntries * requestEntryLen]byte
	list := appendRequestEntry(entries[:0], r)
	want := g.seq - 1
	for i := range min(repeats, g.n) {
		s := &g.recent[(g.head-1-i+2*len(g.recent))%len(g.recent)]
		if s.seq != want || now.Sub(s.at) > maxAge {
			break
		}
		list = appendRequestEntry(list, s.r)
		want--
	}
	g.recent[g.head] = sentRequest{r: r, seq: g.seq, at: now}
	g.head = (g.head + 1) % len(g.recent)
	g.n = min(g.n+1, len(g.recent))
	m := requestsMsg{seq: g.seq, list: list}
	return m.append(b[:0])
}

// forget drops the requests to repeat: after a timeout the probe asks
// again for what is still outstanding, so a repeat of an older request
// would only have its chunks served twice.
func (g *requestLog) forget() { g.n = 0 }

// requestSeen is the server's side: the newest request number taken from
// a neighbour. A neighbour's SYNC or a new link starts it afresh.
type requestSeen struct {
	last uint16
	ok   bool
}

// take reports whether request number seq is new, and records it. Links
// keep order, so a number no newer than the last taken (within half the
// number space) is a repeat of one already taken.
func (s *requestSeen) take(seq uint16) bool {
	if s.ok && int16(seq-s.last) <= 0 {
		return false
	}
	s.last, s.ok = seq, true
	return true
}

// restartIf notes a packet whose newest request is numbered behind the
// last taken. The newest entry of a packet is never a repeat (a copy of
// the packet, the link's or ours, has it equal to the last taken), so
// the neighbour numbers afresh: its service restarted and the SYNC that
// said so was lost. All of the packet's entries are then taken; without
// this, its requests would be ignored until its numbers passed ours.
func (s *requestSeen) restartIf(newest uint16, entries int) {
	if s.ok && int16(newest-s.last) < 0 {
		s.last = newest - uint16(entries)
	}
}

// requests: n asks for chunks, or manifest segments, with numbered
// requests.
func (l *loop) requests(n *nbr, m *requestsMsg) {
	n.reqSeen.restartIf(m.seq, len(m.list)/requestEntryLen)
	m.entries(func(seq uint16, r requestMsg) {
		if !n.reqSeen.take(seq) {
			l.counters.RequestRepeats++
			return
		}
		if r.block == manifestAsk {
			l.getManifest(n, &getManifestMsg{handle: r.handle, offset: uint32(r.chunk) * manifestSeg, count: r.count})
			return
		}
		l.request(n, &r)
	})
}

// sendManifestAsk sends n a numbered ask for count segments of the signed
// manifest it announced as rf from segment first on (count 0: to the
// end). The packet goes twice: a manifest fetch that starts knows
// nothing yet of the link's loss, and a lost ask costs a silence (at
// least 150 ms) while the tiles behind wait; the sender takes the
// number once, so the copy costs 12-33 bytes and nothing more.
func (l *loop) sendManifestAsk(n *nbr, rf *rfile, first, count int) {
	if count == 0 {
		count = maxManifestSegs - first
	}
	b := l.numbered(n, requestMsg{handle: rf.handle, block: manifestAsk, chunk: uint16(first), count: uint16(count)})
	l.sendCtrl(n, b)
	l.sendCtrl(n, b)
}

// numbered is the REQUESTS that carries r to n, with the repeats the
// link's measured loss calls for, written into l.buf.
func (l *loop) numbered(n *nbr, r requestMsg) []byte {
	return n.reqLog.next(l.buf[:0], r, requestRepeats(&n.win), n.win.rto(l.t), l.now)
}

// requestRepeats is how many earlier requests a REQUESTS to n carries:
// none on a link that loses nothing, all it may from 1% measured loss.
func requestRepeats(w *window) int {
	if w.lossy < 0.01 {
		return 0
	}
	return maxRequestEntries - 1
}
