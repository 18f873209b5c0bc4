package dev

import "sync/atomic"

// The counters of a UDP device: the snapshot types it reports (LinkStats,
// UDPStats) and the atomic counters behind them.

// LinkStats counts what happened on one link of a UDP device.
type LinkStats struct {
	SentPackets, SentBytes uint64 // packets handed to the socket (duplicates included)
	RecvPackets, RecvBytes uint64 // packets queued for ReadPacket
	OutFull                uint64 // writes refused with ErrWouldBlock
	InDropped              uint64 // received packets dropped: inbound queue full
	Lost                   uint64 // packets dropped by the Loss impairment
	Duplicated             uint64 // packets sent twice by the Duplicate impairment
	Corrupted              uint64 // packets with bits flipped by the Corrupt impairment
	CutDropped             uint64 // packets dropped, either way, because the link is cut
	Idle                   uint64 // busy periods of a rate-limited link that ended with its queue empty
	KeepalivesSent         uint64
	KeepalivesRecv         uint64
	KeepalivesLost         uint64 // keepalives dropped by the Loss impairment
	Misrouted              uint64 // datagrams from this neighbour naming the wrong direction
	SendErrors             uint64 // socket send failures
	// Reordered counts packet frames dropped because they were not newer
	// than the newest already received on the link: late (reordered by
	// the network) or duplicated by the network, or from the neighbour's
	// previous run. The link keeps T2 order: it loses them instead.
	Reordered uint64
	// Resynced counts the times the receiver took a frame as the start of
	// the neighbour's sequence: the first frame heard, a new epoch (the
	// neighbour restarted), the first frame after the link was down or
	// cut, or a frame too far behind to be merely late.
	Resynced uint64
	// MFMIncompatible counts MFM packets received while the link was not
	// MFM-compatible (the two tiles' physics identities differ, or the
	// neighbour's is not yet heard): dropped, as the itc_pkt module drops
	// them. Service packets are not affected.
	MFMIncompatible uint64
	// BusyIdeal and BusyActual measure the rate kept while the link had
	// a backlog (udpbusy.go), over busy periods of at least a second:
	// their bytes take BusyIdeal ns at the link's rate and took
	// BusyActual ns. The rate kept is rate*BusyIdeal/BusyActual.
	BusyIdeal, BusyActual uint64
}

// RateKept returns the fraction of its rate the link kept while busy (1:
// exact; 0.98: 2% slow), or 0 if no busy period long enough was measured.
func (s LinkStats) RateKept() float64 {
	if s.BusyActual == 0 {
		return 0
	}
	return float64(s.BusyIdeal) / float64(s.BusyActual)
}

// Add returns the sum of two sets of counters, such as a link's before and
// after its device was reopened.
func (s LinkStats) Add(o LinkStats) LinkStats {
	return LinkStats{
		SentPackets: s.SentPackets + o.SentPackets, SentBytes: s.SentBytes + o.SentBytes,
		RecvPackets: s.RecvPackets + o.RecvPackets, RecvBytes: s.RecvBytes + o.RecvBytes,
		OutFull: s.OutFull + o.OutFull, InDropped: s.InDropped + o.InDropped,
		Lost: s.Lost + o.Lost, Duplicated: s.Duplicated + o.Duplicated,
		Corrupted: s.Corrupted + o.Corrupted, CutDropped: s.CutDropped + o.CutDropped,
		Idle:           s.Idle + o.Idle,
		KeepalivesSent: s.KeepalivesSent + o.KeepalivesSent, KeepalivesRecv: s.KeepalivesRecv + o.KeepalivesRecv,
		KeepalivesLost: s.KeepalivesLost + o.KeepalivesLost, Misrouted: s.Misrouted + o.Misrouted,
		SendErrors: s.SendErrors + o.SendErrors, Reordered: s.Reordered + o.Reordered,
		Resynced: s.Resynced + o.Resynced, MFMIncompatible: s.MFMIncompatible + o.MFMIncompatible,
		BusyIdeal: s.BusyIdeal + o.BusyIdeal, BusyActual: s.BusyActual + o.BusyActual,
	}
}

// UDPStats are the counters of a UDP device.
type UDPStats struct {
	Links         [8]LinkStats
	UnknownSource uint64 // datagrams from addresses that are no neighbour
	BadDatagram   uint64 // datagrams from neighbours that do not decode (or speak another framing version)
}

// linkCounters are the atomic counters behind LinkStats.
type linkCounters struct {
	sentPackets, sentBytes, recvPackets, recvBytes atomic.Uint64
	outFull, inDropped, lost, duplicated           atomic.Uint64
	corrupted, cutDropped, idle                    atomic.Uint64
	kaSent, kaRecv, kaLost, misrouted, sendErrors  atomic.Uint64
	reordered, resynced, mfmIncompatible           atomic.Uint64
	busyIdeal, busyActual                          atomic.Uint64
}

func (c *linkCounters) snapshot() LinkStats {
	return LinkStats{
		SentPackets:    c.sentPackets.Load(),
		SentBytes:      c.sentBytes.Load(),
		RecvPackets:    c.recvPackets.Load(),
		RecvBytes:      c.recvBytes.Load(),
		OutFull:        c.outFull.Load(),
		InDropped:      c.inDropped.Load(),
		Lost:           c.lost.Load(),
		Duplicated:     c.duplicated.Load(),
		Corrupted:      c.corrupted.Load(),
		CutDropped:     c.cutDropped.Load(),
		Idle:           c.idle.Load(),
		KeepalivesSent: c.kaSent.Load(),
		KeepalivesRecv: c.kaRecv.Load(),
		KeepalivesLost: c.kaLost.Load(),
		Misrouted:      c.misrouted.Load(),
		SendErrors:     c.sendErrors.Load(),
		Reordered:      c.reordered.Load(),
		Resynced:       c.resynced.Load(),

		MFMIncompatible: c.mfmIncompatible.Load(),
		BusyIdeal:       c.busyIdeal.Load(),
		BusyActual:      c.busyActual.Load(),
	}
}
