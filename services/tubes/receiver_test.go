package tubes

import (
	"bytes"
	"testing"
	"time"
)

// TestReceiverBoundsHeldSegments: a far side that sends one-byte
// segments beyond a hole, every other byte of the window, in the worst
// order (each one first in the list), makes the receiver keep at most
// maxHeld of them: its memory and its work per packet stay bounded. The
// stream still arrives whole once the sender fills the holes.
func TestReceiverBoundsHeldSegments(t *testing.T) {
	const window = 32 << 10
	r := newReceiver(window)
	now := time.Unix(1, 0)
	var got []byte
	deliver := func(b []byte) { got = append(got, b...) }
	stream := make([]byte, window)
	for i := range stream {
		stream[i] = byte(i * 7)
	}
	for seq := window - 1; seq >= 1; seq -= 2 {
		r.onData(uint32(seq), false, stream[seq:seq+1], now, 0, deliver)
		if len(r.held) > maxHeld {
			t.Fatalf("%d segments held, over %d", len(r.held), maxHeld)
		}
	}
	if r.heldN > window {
		t.Fatalf("%d bytes held", r.heldN)
	}
	// The honest resend: the whole window in segments, in order.
	for off := 0; off < window; off += MaxSegment {
		r.onData(uint32(off), false, stream[off:min(off+MaxSegment, window)], now, 0, deliver)
	}
	if !bytes.Equal(got, stream) || len(r.held) != 0 || r.heldN != 0 {
		t.Fatalf("got %d bytes (equal %v), %d held segments, %d bytes", len(got), bytes.Equal(got, stream), len(r.held), r.heldN)
	}
}
