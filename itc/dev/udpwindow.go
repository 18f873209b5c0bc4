package dev

// The receive window of one UDP link (notes/protocol.md, "UDP link
// frames", steps 6 and 7): which run of the neighbour is live, and which of
// its packet frames are new. A T2 link never reorders and the services
// rely on it; UDP may reorder and duplicate, so the receiver delivers only
// frames newer than the newest it delivered and loses the others.
//
// rxWindow is pure: no socket, no clock, no lock. UDP.receive feeds it
// every well-formed frame that came from the right neighbour on an uncut
// link and applies the verdict (counters, liveness, delivery). The
// alternative, a window that also held the link's last-heard time, was
// rejected: that time is shared with the status and profile code, which
// read and clear it from other goroutines.

// reorderWindow is how far behind the newest sequence number a frame may
// be and still count as late (dropped, Reordered). A frame further behind
// is taken as a jump of the neighbour's sequence (a restart that kept its
// epoch, or tens of thousands of frames lost in a row): the receiver
// accepts it and resynchronises. Real networks reorder by a few frames,
// rarely hundreds.
const reorderWindow = 4096

// prevEpochKeepalives is how many keepalives of the neighbour's previous
// epoch the receiver ignores as stragglers before it takes that epoch back
// as the live one. A run that ended has at most one keepalive in flight.
const prevEpochKeepalives = 3

// seqNewer reports whether sequence number a comes after b in serial
// number arithmetic (RFC 1982) on 16 bits: a is at most 32767 ahead.
func seqNewer(a, b uint16) bool { return int16(a-b) > 0 }

// rxVerdict is what the receive window makes of one frame. The receiver
// applies it: whether the neighbour counts as heard (its link layer is
// alive), which counter moves, and whether the packet is delivered.
type rxVerdict uint8

const (
	// rxStraggler: a packet frame of the neighbour's previous run,
	// overtaken by the new run's frames. Not heard, counted Reordered,
	// dropped.
	rxStraggler rxVerdict = iota + 1
	// rxStragglerKeepalive: one of the first prevEpochKeepalives
	// keepalives of the previous run since the current one began. Not
	// heard, not counted, dropped.
	rxStragglerKeepalive
	// rxKeepalive: any other keepalive. Heard, counted KeepalivesRecv.
	rxKeepalive
	// rxResync: a packet frame that starts the sequence: the first heard,
	// the first of a new epoch, or the first after the link was down or
	// cut. Heard, counted Resynced, delivered.
	rxResync
	// rxNext: a packet frame newer than the newest delivered. Heard,
	// delivered.
	rxNext
	// rxLate: a packet frame not newer than the newest delivered and less
	// than reorderWindow behind it: reordered or duplicated by the
	// network. Heard, counted Reordered, dropped.
	rxLate
	// rxJump: a packet frame reorderWindow or more behind: the sequence
	// jumped. Heard, counted Resynced, delivered.
	rxJump
)

// heard reports whether a frame with this verdict shows the neighbour's
// link layer alive.
func (v rxVerdict) heard() bool { return v >= rxKeepalive }

// deliver reports whether the frame's packet goes to the reader.
func (v rxVerdict) deliver() bool { return v == rxResync || v == rxNext || v == rxJump }

func (v rxVerdict) String() string {
	switch v {
	case rxStraggler:
		return "straggler"
	case rxStragglerKeepalive:
		return "straggler-keepalive"
	case rxKeepalive:
		return "keepalive"
	case rxResync:
		return "resync"
	case rxNext:
		return "next"
	case rxLate:
		return "late"
	case rxJump:
		return "jump"
	}
	return "rxVerdict(?)"
}

// rxWindow is the receive window of one link: the neighbour's current and
// previous epoch, and the newest sequence number delivered in the current
// one (valid once synced). The zero value has heard nothing. It is not
// safe for concurrent use: the device's reader goroutine owns it.
type rxWindow struct {
	epoch, prevEpoch uint32
	prevKeepalives   int // keepalives of prevEpoch ignored since epoch began; at most prevEpochKeepalives
	seq              uint16
	synced           bool
}

// admit decides what f is and moves the window past it. f is a frame as
// ParseFrame returns it (epoch nonzero, type FramePacket or
// FrameKeepalive). fresh says the link was down or cut since the last
// frame heard (or nothing was ever heard): the sequence then starts
// afresh, whatever the window held.
func (w *rxWindow) admit(f Frame, fresh bool) rxVerdict {
	if f.Epoch != w.epoch {
		// A straggler of the neighbour's previous run, overtaken by the
		// new run's frames, is neither heard nor delivered. But a run
		// that goes on sending keepalives is alive: then the "new" epoch
		// was a stray frame, and the previous one is taken back.
		if f.Epoch == w.prevEpoch && !fresh && (f.Type == FramePacket || w.prevKeepalives < prevEpochKeepalives) {
			if f.Type == FramePacket {
				return rxStraggler
			}
			w.prevKeepalives++
			return rxStragglerKeepalive
		}
		w.prevEpoch, w.epoch = w.epoch, f.Epoch
		w.prevKeepalives = 0
		w.synced = false
	} else if fresh {
		w.synced = false
	}
	if f.Type == FrameKeepalive {
		return rxKeepalive
	}

	// Keep T2 order: deliver only frames newer than the newest so far.
	v := rxNext
	switch {
	case !w.synced:
		w.synced = true
		v = rxResync
	case seqNewer(f.Seq, w.seq):
	case uint16(w.seq-f.Seq) < reorderWindow:
		return rxLate // late, or a network duplicate
	default:
		v = rxJump // far behind: the sequence jumped
	}
	w.seq = f.Seq
	return v
}
