package tilegrid

import (
	"time"

	"github.com/t2tiles/itcd/itc/dev"
)

// LinkReport is what happened on one direction of a link since the grid
// was built, over every run of both tiles.
type LinkReport struct {
	Link
	Profile dev.LinkProfile // the current profile of From's outbound side
	// Packets and Bytes left From on this link (duplicates included, the
	// link's own keepalives not).
	Packets, Bytes uint64
	// At From: dropped by the Loss impairment, sent twice, corrupted,
	// dropped because the link was cut, writes refused (queue full).
	Lost, Duplicated, Corrupted, CutDropped, OutFull uint64
	// InDropped arrived at To and were dropped: its inbound queue was full.
	InDropped uint64
	// Drops is Lost + CutDropped + InDropped.
	Drops uint64
	// Busy is Bytes over what the link could carry at its current rate
	// since the grid was built (0 for an unlimited link).
	Busy float64
	// RateKept is the fraction of its rate the link kept while it had a
	// backlog, over busy periods of a second or more (dev.LinkStats
	// RateKept): 1 is exact, 0.98 is 2% slow; 0 if none was that long.
	// A simulation too heavy for its machine shows here first.
	RateKept float64
	// FromDaemon is set for process tiles: the counters are the daemon's
	// packets written to and read from the device, since the device's own
	// are not on the control socket, and the impairment and drop counters
	// are unknown (0).
	FromDaemon bool
}

// LinkReports reports every direction of every link, in the order of
// Geometry.AllLinks.
func (g *Grid) LinkReports(elapsed time.Duration) []LinkReport {
	stats := make([][8]dev.LinkStats, len(g.tiles))
	for i, t := range g.tiles {
		stats[i] = t.linkStats()
	}
	var out []LinkReport
	for _, l := range g.cfg.AllLinks() {
		from := g.Tile(l.From)
		s := stats[g.cfg.Index(l.From)][l.Dir]
		in := stats[g.cfg.Index(l.To)][l.Dir.Opposite()]
		from.mu.Lock()
		p := from.profiles[l.Dir]
		from.mu.Unlock()
		r := LinkReport{
			Link: l, Profile: p,
			Packets: s.SentPackets, Bytes: s.SentBytes,
			Lost: s.Lost, Duplicated: s.Duplicated, Corrupted: s.Corrupted, CutDropped: s.CutDropped, OutFull: s.OutFull,
			InDropped:  in.InDropped,
			RateKept:   s.RateKept(),
			FromDaemon: g.cfg.Procs,
		}
		r.Drops = r.Lost + r.CutDropped + r.InDropped
		if p.Rate > 0 && elapsed > 0 {
			r.Busy = min(1, float64(r.Bytes)/(float64(p.Rate)*elapsed.Seconds()))
		}
		out = append(out, r)
	}
	return out
}
