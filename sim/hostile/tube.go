package hostile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
)

// Speaking the tube service (service 9) byte by byte. SendTube sends any
// message the service's own encoder makes; a TubeLog, called from
// Config.Handler, keeps what the daemon sends on service 9 so a test can
// wait for an answer (an ACCEPT, an ACK, a RESET) and read its fields.

// SendTube sends the service 9 message m, CRC sealed, fields as they are.
func (n *Neighbour) SendTube(m *tubes.WireMessage) error {
	var buf [2 * packet.MaxLen]byte
	return n.SendService(packet.ServiceTube, tubes.AppendWire(buf[:0], m))
}

// TubeGen floods service 9 messages that make(r) returns.
func TubeGen(gen func(r *rand.Rand) tubes.WireMessage) Gen {
	return func(n *Neighbour, r *rand.Rand, buf []byte) ([]byte, bool) {
		m := gen(r)
		var p [2 * packet.MaxLen]byte
		b, err := packet.AppendService(buf, n.cfg.Dir, packet.ServiceTube, tubes.AppendWire(p[:0], &m))
		if err != nil {
			return append(buf[:0], 0), false // never a service 9 message: a bad packet
		}
		return b, false
	}
}

// tubeLogMax bounds what a TubeLog keeps: the oldest go first.
const tubeLogMax = 4096

// TubeLog keeps the service 9 messages the daemon sends, the last
// tubeLogMax of them. Its methods may be called from any goroutine.
type TubeLog struct {
	mu    sync.Mutex
	msgs  []tubes.WireMessage
	total int
	bad   int
	wake  chan struct{}
}

// NewTubeLog returns an empty log.
func NewTubeLog() *TubeLog { return &TubeLog{wake: make(chan struct{}, 1)} }

// Handle looks at one datagram from the daemon.
func (l *TubeLog) Handle(_ *Neighbour, r *Received) {
	if !r.IsService(packet.ServiceTube) {
		return
	}
	m, err := tubes.ParseWire(r.Packet.Payload)
	l.mu.Lock()
	if err != nil {
		l.bad++
	} else {
		m.Data = append([]byte(nil), m.Data...)
		if len(l.msgs) == tubeLogMax {
			l.msgs = append(l.msgs[:0], l.msgs[1:]...)
		}
		l.msgs = append(l.msgs, m)
		l.total++
	}
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Counts returns how many well-formed and unreadable service 9 messages
// came so far.
func (l *TubeLog) Counts() (total, bad int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.bad
}

// Since returns the messages kept, from the mark-th of all that came
// (a mark is a total from Counts), and the new mark.
func (l *TubeLog) Since(mark int) ([]tubes.WireMessage, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	first := l.total - len(l.msgs)
	i := max(mark-first, 0)
	return append([]tubes.WireMessage(nil), l.msgs[i:]...), l.total
}

// ErrTimeout is returned by Wait when nothing matched in time.
var ErrTimeout = errors.New("hostile: no such message from the daemon in time")

// Wait returns the first message from the mark-th on for which match is
// true, waiting up to timeout or until ctx ends.
func (l *TubeLog) Wait(ctx context.Context, mark int, timeout time.Duration, match func(*tubes.WireMessage) bool) (tubes.WireMessage, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		ms, _ := l.Since(mark)
		for i := range ms {
			if match(&ms[i]) {
				return ms[i], nil
			}
		}
		select {
		case <-ctx.Done():
			return tubes.WireMessage{}, ctx.Err()
		case <-t.C:
			return tubes.WireMessage{}, fmt.Errorf("%w (%d messages looked at)", ErrTimeout, len(ms))
		case <-l.wake:
		}
	}
}
