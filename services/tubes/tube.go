package tubes

import (
	"encoding/binary"
	"time"

	"github.com/t2tiles/itcd/internal/rtt"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// MaxMessage is the largest message a message tube carries. On the wire a
// message is its length (4 bytes, big-endian) and its bytes, in the
// tube's byte stream.
const MaxMessage = 64 << 10

const msgHeader = 4

// socketSlack bounds what a far program's socket may hold written and not
// yet reported read (the socket's buffer, set in ServeConn, and the
// reports the client library holds back): the far window may run ahead
// of read by the window and this, no more.
const socketSlack = 256 << 10

// socketBuffer is the send buffer of the daemon's end of a program's
// connection (the kernel doubles it for its bookkeeping).
const socketBuffer = 64 << 10

// maxUnread bounds the messages a tube has sent that the far program has
// not yet read: the program waits to hand over more, so a far side that
// acknowledges everything and reads nothing cannot grow their records.
const maxUnread = 4096

// tube is one tube: its two halves, its state, and the program it serves.
// Only the service's goroutine touches it.
type tube struct {
	id, peer uint16     // this tile's id for it, the neighbour's
	dir      packet.Dir // the link, or viaRoutes
	tile     p2p.TileID
	// By routes: the paths it may use (sharing no link, shortest first;
	// its other messages take the first), how many of the first it
	// stripes its data over, and the most links a path may have for its
	// segments to fit.
	paths      [][]packet.Dir
	stripe     int
	hops       int
	back       []packet.Dir // the way the far side's latest packet came, reversed
	ceBack     []packet.Dir // a packet came marked CE this way: echo it on the next ACK, back by it
	allPathsAt time.Time    // it gave up a path: when to offer it every path again (via.go)
	localPort  uint16
	remotePort uint16
	kind       byte
	opener     bool
	st         state
	reason     string // why it failed

	snd sender
	rcv receiver
	cl  *client // nil once the program closed its connection
	// appGone: the program closed its connection; data from the far
	// side can no longer be read, and ends the tube.
	appGone bool
	acks    bool // the program reports what it consumed ('a' frames)
	endSent bool // the program was told the far stream ended ('e')

	// Message accounting. sent counts messages handed over; sentEnds
	// holds the end sequence number of each not yet read far away
	// (oldest first; index 0 is message delivered+1).
	sent, received, delivered uint64
	sentEnds                  []uint32
	// Receiving: the message being put together, and the ends of the
	// messages given to the program and not yet consumed.
	asm      []byte
	asmWant  int // bytes the message being assembled has in all, -1 for its header
	givenEnd []uint32
	takeSeq  uint32 // sequence number of the next byte take sees
	given    uint64 // stream bytes or messages given to the program
	taken    uint64 // of those, consumed
	// written counts what of given the writer put into the socket;
	// claimed the most the program said it consumed ('a'). Only what was
	// written can have been consumed: a program that claims what still
	// waits in its outbox would open the window to more, without bound.
	written, claimed uint64
	freedN           uint64 // of given, how many opened the window (written)
	toProgram        int    // bytes given and not yet written into the socket
	// Open and close timing.
	deadline  time.Time // opening: give up then; linger: close then
	retryAt   time.Time // opening: send OPEN again then
	retryGap  time.Duration
	creditDue bool // the program waits for room to hand over more
	started   time.Time

	bytesIn, bytesOut uint64
}

func newTube(id uint16, dir packet.Dir, tile p2p.TileID, kind byte, window int, hello time.Duration, now time.Time) *tube {
	t := &tube{id: id, dir: dir, tile: tile, kind: kind, asmWant: -1, started: now}
	t.snd = newSender(0, rtt.New(hello))
	t.snd.ahead = uint32(window + socketSlack)
	t.rcv = newReceiver(uint32(window))
	return t
}

// receiveWindow is what a tube of kind offers: a message tube a whole
// message more than the configured window, so that the largest message
// fits beside a window's worth of smaller ones its program has not read.
func receiveWindow(kind byte, window int) int {
	if kind == KindMessage {
		return window + MaxMessage + msgHeader
	}
	return window
}

// handOver takes one 'd' frame from the program: stream bytes, or one
// whole message.
func (t *tube) handOver(p []byte) {
	if t.kind == KindMessage {
		t.snd.write(binary.BigEndian.AppendUint32(nil, uint32(len(p))))
		t.snd.write(p)
		t.sent++
		t.sentEnds = append(t.sentEnds, t.snd.finSeq())
	} else {
		t.snd.write(p)
		t.sent += uint64(len(p))
	}
	t.bytesOut += uint64(len(p))
}

// confirmations recounts what the far side received and read; it
// reports whether either moved.
func (t *tube) confirmations() bool {
	if t.kind == KindMessage {
		moved := false
		for len(t.sentEnds) > 0 && seqLE(t.sentEnds[0], t.snd.read) {
			t.sentEnds = t.sentEnds[1:]
			t.delivered++
			moved = true
		}
		r := t.delivered
		for _, e := range t.sentEnds {
			if !seqLE(e, t.snd.una) {
				break
			}
			r++
		}
		if r != t.received {
			t.received, moved = r, true
		}
		return moved
	}
	// A stream's confirmation is in bytes read; the FIN is no byte.
	read := uint64(t.snd.read)
	if t.snd.fin && seqLT(t.snd.finSeq(), t.snd.read) {
		read--
	}
	// Sequence numbers start at 0 and a stream over 4 GiB wraps them:
	// count in steps from the last value.
	d := uint64(uint32(read) - uint32(t.delivered))
	if d == 0 {
		return false
	}
	t.delivered += d
	t.received = t.delivered
	return true
}

// take passes in-order bytes from the receiver to the program: a
// stream's as they come, a message tube's a whole message at a time. It
// reports false when a message's length is over MaxMessage: the far side
// broke the protocol.
func (t *tube) take(b []byte, give func([]byte)) bool {
	t.bytesIn += uint64(len(b))
	if t.kind != KindMessage {
		if len(b) == 0 {
			return true // a FIN alone: the program hears of it as 'e'
		}
		t.given += uint64(len(b))
		t.takeSeq += uint32(len(b))
		give(b)
		return true
	}
	for len(b) > 0 {
		if t.asmWant < 0 {
			n := min(msgHeader-len(t.asm), len(b))
			t.asm, b = append(t.asm, b[:n]...), b[n:]
			t.takeSeq += uint32(n)
			if len(t.asm) < msgHeader {
				return true
			}
			want := binary.BigEndian.Uint32(t.asm)
			if want > MaxMessage {
				return false
			}
			t.asmWant, t.asm = int(want), t.asm[:0]
		}
		n := min(t.asmWant-len(t.asm), len(b))
		t.asm, b = append(t.asm, b[:n]...), b[n:]
		t.takeSeq += uint32(n)
		if len(t.asm) == t.asmWant {
			give(t.asm)
			t.asm, t.asmWant = t.asm[:0], -1
			t.given++
			t.givenEnd = append(t.givenEnd, t.takeSeq)
		}
	}
	return true
}

// consume notes that the program consumed up to total (bytes or
// messages, cumulative) and opens the window. It reports false when the
// program claims more than it was given.
func (t *tube) consume(total uint64, now time.Time, ackDelay time.Duration) bool {
	if total > t.given {
		return false
	}
	if total <= t.taken {
		return true
	}
	if t.kind == KindMessage {
		n := total - t.taken
		end := t.givenEnd[n-1]
		t.givenEnd = t.givenEnd[n:]
		t.rcv.consumed(end-t.rcv.read, now, ackDelay)
	} else {
		t.rcv.consumed(uint32(total-t.taken), now, ackDelay)
	}
	t.taken = total
	t.finConsumed()
	return true
}

// free notes that total (bytes or messages, cumulative) were written to
// the program, which opens the window by as much.
func (t *tube) free(total uint64, now time.Time, ackDelay time.Duration) {
	total = min(total, t.given)
	if total <= t.freedN {
		return
	}
	var end uint32
	switch {
	case t.kind == KindMessage && total <= t.taken:
		end = seqMax(t.rcv.free, t.rcv.read) // their ends are consumed already
	case t.kind == KindMessage:
		end = t.givenEnd[total-t.taken-1]
	default:
		end = t.rcv.free + uint32(total-t.freedN)
	}
	t.freedN = total
	t.rcv.freed(end-t.rcv.free, now, ackDelay)
}

// finConsumed counts the far FIN as read once the program took all that
// came before it.
func (t *tube) finConsumed() {
	if t.taken == t.given && len(t.asm) == 0 && t.asmWant < 0 {
		t.rcv.consumeFin()
	}
}

// advance applies the events the halves' conditions imply to the state.
// It returns the states passed through, so the caller can act on each.
func (t *tube) advance() (entered []state) {
	for {
		var e event
		switch {
		case t.st == stOpen && t.snd.fin, t.st == stGot && t.snd.fin:
			e = evLocalFin
		case (t.st == stOpen || t.st == stSent || t.st == stDelivered) && t.rcv.ended:
			e = evRemoteFin
		case (t.st == stSent || t.st == stBoth) && t.snd.finRead():
			e = evFinRead
		default:
			return entered
		}
		t.st = next(t.st, e)
		entered = append(entered, t.st)
	}
}
