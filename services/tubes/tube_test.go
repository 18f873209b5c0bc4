package tubes

import (
	"testing"
	"time"
)

// TestConfirmationsAcrossTheWrap: the received and delivered counts of a
// tube keep counting past 4 GiB of stream, where sequence numbers wrap.
func TestConfirmationsAcrossTheWrap(t *testing.T) {
	now := time.Unix(1, 0)
	st := newTube(1, 0, [8]byte{}, KindStream, 1<<16, 0, now)
	st.delivered, st.received = 1<<32-10, 1<<32-10
	st.snd.una, st.snd.nxt = 1<<32-10+0, 20
	st.snd.read = 10 // 20 bytes more read, across the wrap
	if !st.confirmations() || st.delivered != 1<<32+10 || st.received != st.delivered {
		t.Fatalf("stream: delivered %d received %d, want %d", st.delivered, st.received, uint64(1<<32+10))
	}
	mt := newTube(2, 0, [8]byte{}, KindMessage, 1<<16, 0, now)
	base := uint32(1<<32 - 12)
	mt.snd.una, mt.snd.nxt, mt.snd.read = base, base, base
	for range 3 { // three messages of 4 bytes: 8 on the wire each
		mt.handOver([]byte("abcd"))
	}
	mt.snd.nxt = base + 24
	mt.snd.una = base + 16 // two held far away
	mt.snd.read = base + 8 // one read
	if !mt.confirmations() || mt.delivered != 1 || mt.received != 2 {
		t.Fatalf("messages: delivered %d received %d, want 1 and 2", mt.delivered, mt.received)
	}
}
