package dev

import (
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// Backlogger is a Device that knows how much written to a link has not
// left for it yet. The daemon keeps the service traffic in that backlog
// short, so what it sends ahead of bulk data (MFM packets, hellos, a
// service's requests and announcements) waits behind a few packets, not
// behind a whole device queue: 16 KB is 250 ms of a 64 KB/s link.
type Backlogger interface {
	// Backlog returns the packet bytes queued for link d and how long
	// they take to leave at the link's rate (0 when it has none).
	Backlog(d packet.Dir) (bytes int, drain time.Duration)
}

// Backlog implements Backlogger: the outbound queue of link d.
func (u *UDP) Backlog(d packet.Dir) (int, time.Duration) {
	l := u.links[d&7]
	if l == nil {
		return 0, 0
	}
	l.outMu.Lock()
	n := l.out.bytes
	l.outMu.Unlock()
	rate := l.profile.Load().Rate
	if rate <= 0 {
		return n, 0
	}
	return n, time.Duration(int64(n) * int64(time.Second) / int64(rate))
}
