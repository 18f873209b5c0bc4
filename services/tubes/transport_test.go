package tubes

import (
	"bytes"
	"math/rand"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/rtt"
)

// The transport on its own: a sender and a receiver joined by an
// in-memory link that keeps order and loses, duplicates and corrupts
// packets by a seeded source, driven by a clock the test moves. Every
// packet is encoded and parsed as on the wire, so a corrupt one fails its
// CRC and counts as lost.

type lossyLink struct {
	rng                   *rand.Rand
	loss, dup, corrupt    float64
	delay                 time.Duration
	queue                 []inflight
	sent, dropped, broken int
}

type inflight struct {
	at time.Time
	b  []byte
}

func (l *lossyLink) put(now time.Time, b []byte) {
	l.sent++
	if l.rng.Float64() < l.loss {
		l.dropped++
		return
	}
	n := 1
	if l.rng.Float64() < l.dup {
		n = 2
	}
	for i := 0; i < n; i++ {
		c := append([]byte(nil), b...)
		if l.rng.Float64() < l.corrupt {
			c[l.rng.Intn(len(c))] ^= byte(1 + l.rng.Intn(255))
			l.broken++
		}
		l.queue = append(l.queue, inflight{now.Add(l.delay), c})
	}
}

// due takes the packets that have arrived by now, in order.
func (l *lossyLink) due(now time.Time) [][]byte {
	var out [][]byte
	for len(l.queue) > 0 && !now.Before(l.queue[0].at) {
		out = append(out, l.queue[0].b)
		l.queue = l.queue[1:]
	}
	return out
}

// transfer moves data from a sender to a receiver whose program reads
// everything at once, and returns what arrived and the virtual time it
// took. Writes are handed over in pieces of random sizes.
func transfer(t *testing.T, data []byte, seed int64, loss, dup, corrupt float64) ([]byte, time.Duration, *sender) {
	t.Helper()
	return transferFrom(t, data, seed, loss, dup, corrupt, 0)
}

// transferFrom is transfer with the stream's sequence numbers starting
// at start instead of 0, as after start bytes of a long stream.
func transferFrom(t *testing.T, data []byte, seed int64, loss, dup, corrupt float64, start0 uint32) ([]byte, time.Duration, *sender) {
	t.Helper()
	cfg := DefaultConfig()
	rng := rand.New(rand.NewSource(seed))
	fwd := &lossyLink{rng: rng, loss: loss, dup: dup, corrupt: corrupt, delay: 5 * time.Millisecond}
	back := &lossyLink{rng: rng, loss: loss, dup: dup, corrupt: corrupt, delay: 5 * time.Millisecond}
	start := time.Unix(1000, 0)
	now := start
	window := uint32(cfg.Window)
	snd := newSender(window, rtt.New(0))
	rcv := newReceiver(window)
	snd.una, snd.nxt, snd.read, snd.limit = start0, start0, start0, start0+window
	rcv.nxt, rcv.read, rcv.lastLimit = start0, start0, start0+window
	var got []byte
	off := 0
	const step = time.Millisecond
	for i := 0; ; i++ {
		if i > 10_000_000 {
			t.Fatalf("no end: %d of %d bytes arrived", len(got), len(data))
		}
		// The program hands over what fits.
		for off < len(data) && snd.queued() < cfg.Window {
			n := min(1+rng.Intn(3000), len(data)-off)
			snd.write(data[off : off+n])
			off += n
		}
		if off == len(data) {
			snd.fin = true
		}
		// One packet a millisecond each way: a link's rate.
		if seg, b, ok := snd.next(now, 0); ok {
			var fl byte
			if seg.fin {
				fl = flagFin
			}
			fwd.put(now, appendData(nil, 1, seg.seq, fl, b))
		}
		if rcv.ackDue(now) {
			ack, read, limit, sp := rcv.ack(nil)
			back.put(now, appendAck(nil, 1, ack, read, limit, sp))
		}
		now = now.Add(step)
		for _, p := range fwd.due(now) {
			m, err := parseMsg(p)
			if err != nil {
				continue
			}
			if m.typ == msgData {
				rcv.onData(m.seq, m.flags&flagFin != 0, m.data, now, cfg.AckDelay.D(), func(b []byte) {
					got = append(got, b...)
					rcv.freed(uint32(len(b)), now, cfg.AckDelay.D())
					rcv.consumed(uint32(len(b)), now, cfg.AckDelay.D())
				})
				if rcv.ended {
					rcv.consumeFin()
				}
			}
		}
		for _, p := range back.due(now) {
			m, err := parseMsg(p)
			if err != nil {
				continue
			}
			if _, ok := snd.onAck(m.ack, m.read, m.limit, m.sacks, now); !ok {
				t.Fatalf("a true ACK refused: ack %d read %d limit %d, una %d nxt %d", m.ack, m.read, m.limit, snd.una, snd.nxt)
			}
		}
		snd.timeout(now, &cfg)
		if snd.finRead() && rcv.ended {
			return got, now.Sub(start), &snd
		}
	}
}

func TestTransportPropertyUnderImpairment(t *testing.T) {
	for seed := int64(1); seed <= 12; seed++ {
		rng := rand.New(rand.NewSource(seed))
		data := make([]byte, rng.Intn(200_000))
		rng.Read(data)
		loss := []float64{0, 0.01, 0.05, 0.2}[seed%4]
		got, took, snd := transfer(t, data, seed, loss, 0.05, 0.05)
		if !bytes.Equal(got, data) {
			t.Fatalf("seed %d loss %.2f: %d bytes arrived of %d, or in the wrong order", seed, loss, len(got), len(data))
		}
		t.Logf("seed %d loss %.2f: %d bytes in %v, %d retransmits", seed, loss, len(data), took, snd.retransmits)
	}
}

// TestTransportGoodput: at one packet a millisecond, the transport's own
// overheads and its loss recovery cost what the ratios say, at most.
func TestTransportGoodput(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(data)
	ideal := time.Duration(len(data)/MaxSegment) * time.Millisecond
	for _, c := range []struct {
		loss float64
		most float64 // time over the ideal
	}{{0, 1.02}, {0.05, 1.12}, {0.2, 1.7}} {
		got, took, _ := transfer(t, data, 3, c.loss, 0, 0)
		if !bytes.Equal(got, data) {
			t.Fatalf("loss %.2f: bytes differ", c.loss)
		}
		r := took.Seconds() / ideal.Seconds()
		t.Logf("loss %.2f: %.3fx the ideal", c.loss, r)
		if r > c.most {
			t.Errorf("loss %.2f: %v, %.2fx the loss-free ideal %v (at most %.2fx)", c.loss, took, r, ideal, c.most)
		}
	}
}

// TestSenderProbesUnconfirmedRead: everything is acknowledged but the far
// program's reading of it was in an ACK that was lost. The sender probes
// after its RTO rather than waiting for ever for a delivered
// confirmation; a far side that answers is not silent, however long its
// program takes to read.
func TestSenderProbesUnconfirmedRead(t *testing.T) {
	cfg := DefaultConfig()
	now := time.Unix(0, 0)
	s := newSender(1<<20, rtt.New(10*time.Millisecond))
	s.write(make([]byte, 1000))
	for {
		if _, _, ok := s.next(now, 0); !ok {
			break
		}
	}
	if _, ok := s.onAck(1000, 0, 1<<20, nil, now.Add(20*time.Millisecond)); !ok {
		t.Fatal("ACK refused")
	}
	now = now.Add(20 * time.Millisecond)
	if s.outstanding() || !s.unread() {
		t.Fatalf("outstanding %v unread %v", s.outstanding(), s.unread())
	}
	d := s.deadline(&cfg)
	if d.IsZero() {
		t.Fatal("no probe planned while the read is unconfirmed")
	}
	if fired, probe := s.timeout(d, &cfg); !fired || !probe {
		t.Fatalf("at the deadline: fired %v probe %v", fired, probe)
	}
	// The far side answers each probe: the tube is not given up on.
	for i := 0; i < 100; i++ {
		now = s.deadline(&cfg)
		s.timeout(now, &cfg)
		s.onAck(1000, 0, 1<<20, nil, now)
	}
	if got := s.silentFor(now); got != 0 {
		t.Fatalf("silent for %v while every probe was answered", got)
	}
	// Read at last: nothing more to wait for.
	s.onAck(1000, 1000, 1<<20, nil, now)
	if !s.deadline(&cfg).IsZero() {
		t.Fatal("a timer is still planned with everything read")
	}
}

// TestTransportAcrossTheWrap: a stream past 4 GiB wraps its sequence
// numbers; serial arithmetic keeps it whole and in order through loss,
// duplication and corruption.
func TestTransportAcrossTheWrap(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		data := make([]byte, 300_000)
		rand.New(rand.NewSource(seed)).Read(data)
		start := uint32(1<<32 - 100_000 - 977*seed)
		got, _, snd := transferFrom(t, data, seed, 0.05*float64(seed-1), 0.05, 0.05, start)
		if !bytes.Equal(got, data) {
			t.Fatalf("seed %d: %d bytes arrived of %d, or in the wrong order", seed, len(got), len(data))
		}
		if want := start + uint32(len(data)) + 1; snd.read != want {
			t.Fatalf("seed %d: read %d, want %d (past the FIN)", seed, snd.read, want)
		}
	}
}
