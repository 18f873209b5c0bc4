package hostile

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
)

// The most a flood may send, whatever it asks: a flood always ends.
const (
	MaxFloodCount = 1 << 20
	MaxFloodTime  = time.Minute
)

// Flood describes a flood of datagrams.
type Flood struct {
	// Gen makes each datagram.
	Gen Gen
	// Count stops the flood after this many datagrams; Duration after
	// this long. At least one must be set; the flood ends at the first.
	Count    int
	Duration time.Duration
	// Rate is datagrams a second; zero sends as fast as the socket takes
	// them (which on loopback outruns any receiver).
	Rate int
	// Seed seeds the Gen's random source, so a flood is reproducible.
	Seed uint64
}

// ErrUnbounded is returned for a flood with neither a count nor a
// duration, or beyond MaxFloodCount or MaxFloodTime.
var ErrUnbounded = fmt.Errorf("hostile: a flood needs a Count (at most %d) or a Duration (at most %v)", MaxFloodCount, MaxFloodTime)

// A Gen makes one datagram of a flood from r: it appends it to buf and
// returns buf with it (Flood passes an empty buf), with raw true if it is a whole datagram, false if it is a
// packet of 1..255 bytes for the Neighbour to put in a valid frame (its
// epoch, its next sequence number).
type Gen func(n *Neighbour, r *rand.Rand, buf []byte) (b []byte, raw bool)

// Flood sends the datagrams of f and returns how many it handed to the
// socket. It returns early with an error when ctx ends, when the
// Neighbour closes, or when the Gen makes a packet no frame can carry.
// Datagrams the socket refuses are counted in Stats.SendErrors and the
// flood goes on (the daemon may be restarting).
func (n *Neighbour) Flood(ctx context.Context, f Flood) (int, error) {
	if f.Gen == nil {
		return 0, errors.New("hostile: a flood needs a Gen")
	}
	if f.Count <= 0 && f.Duration <= 0 || f.Count > MaxFloodCount || f.Duration > MaxFloodTime || f.Rate < 0 {
		return 0, ErrUnbounded
	}
	count, dur := f.Count, f.Duration
	if count <= 0 {
		count = MaxFloodCount
	}
	if dur <= 0 {
		dur = MaxFloodTime
	}
	r := rand.New(rand.NewPCG(f.Seed, 0xf1_00_d5))
	start := time.Now()
	end := start.Add(dur)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	buf := make([]byte, 0, 2*dev.MaxFrameLen)
	sent := 0
	for sent < count {
		if err := ctx.Err(); err != nil {
			return sent, err
		}
		now := time.Now()
		if !now.Before(end) {
			break
		}
		if f.Rate > 0 {
			due := start.Add(time.Duration(int64(sent) * int64(time.Second) / int64(f.Rate)))
			if wait := due.Sub(now); wait > 0 {
				timer.Reset(wait)
				select {
				case <-ctx.Done():
					return sent, ctx.Err()
				case <-timer.C:
				}
			}
		}
		b, raw := f.Gen(n, r, buf[:0])
		if err := n.floodOne(b, raw); err != nil {
			return sent, err
		}
		sent++
	}
	return sent, nil
}

// floodOne frames (unless raw) and sends one datagram of a flood.
func (n *Neighbour) floodOne(b []byte, raw bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !raw {
		f, err := dev.AppendFrame(n.buf[:0], dev.Frame{Type: dev.FramePacket, Dir: n.cfg.Dir, Epoch: n.cfg.Epoch, Seq: n.seq, Packet: b})
		if err != nil {
			return fmt.Errorf("hostile: flood packet of %d bytes: %w", len(b), err)
		}
		n.seq++
		b = f
	}
	err := n.writeLocked(b)
	if errors.Is(err, ErrClosed) || errors.Is(err, ErrNotStarted) {
		return err
	}
	return nil // a refused datagram is counted; the flood goes on
}
