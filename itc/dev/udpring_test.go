package dev

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestRing checks the ring against a slice model, through many wrap-arounds.
func TestRing(t *testing.T) {
	for _, stamped := range []bool{false, true} {
		r := newRing(600, stamped)
		var model [][]byte
		var stamps []int64
		rng := rand.New(rand.NewPCG(1, 2))
		bytesHeld := 0
		for i := 0; i < 20000; i++ {
			if rng.IntN(2) == 0 {
				n := 1 + rng.IntN(255)
				if r.used+r.entryLen(n) > len(r.buf) {
					continue
				}
				p := make([]byte, n)
				for j := range p {
					p[j] = byte(rng.Uint32())
				}
				st := rng.Int64()
				r.push(st, p)
				model = append(model, p)
				stamps = append(stamps, st)
				bytesHeld += n
			} else if len(model) > 0 {
				buf := make([]byte, 255)
				n, st := r.pop(buf)
				if !bytes.Equal(buf[:n], model[0]) || stamped && st != stamps[0] {
					t.Fatalf("step %d: popped % x (stamp %d), want % x (%d)", i, buf[:n], st, model[0], stamps[0])
				}
				model, stamps = model[1:], stamps[1:]
				bytesHeld -= n
			}
			if r.count != len(model) || r.bytes != bytesHeld {
				t.Fatalf("step %d: count %d bytes %d, want %d %d", i, r.count, r.bytes, len(model), bytesHeld)
			}
		}
	}
}

// TestRingWorstCase fills a ring of limit bytes with 1-byte packets.
func TestRingWorstCase(t *testing.T) {
	r := newRing(100, false)
	for i := 0; i < 100; i++ {
		if r.used+r.entryLen(1) > len(r.buf) {
			t.Fatalf("full after %d one-byte packets", i)
		}
		r.push(0, []byte{byte(i)})
	}
	var b [1]byte
	for i := 0; i < 100; i++ {
		if n, _ := r.pop(b[:]); n != 1 || b[0] != byte(i) {
			t.Fatalf("pop %d: %d % x", i, n, b)
		}
	}
}
