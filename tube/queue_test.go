package tube_test

import (
	"context"
	"testing"
	"time"

	"github.com/t2tiles/itcd/tube"
)

// TestWaitBoundsEmptyMessages: a far program sending empty messages
// while this side only Waits must not make this side queue them without
// bound (each costs memory, though no bytes); Read gets them all later.
func TestWaitBoundsEmptyMessages(t *testing.T) {
	a, b, _ := pair(t, 8192, true)
	const n = 20000
	wrote := make(chan error, 1)
	go func() {
		for range n {
			if _, err := b.WriteMessage(nil); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	ctx, cancel := context.WithCancel(context.Background())
	waited := make(chan error, 1)
	go func() { waited <- a.WaitClosed(ctx) }()
	limit := tube.MaxQueuedEntries(a)
	deadline := time.Now().Add(20 * time.Second)
	for tube.QueuedEntries(a) < limit && b.Received() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := tube.QueuedEntries(a); got > limit {
		t.Errorf("a Wait queued %d empty messages, want at most %d", got, limit)
	}
	cancel()
	if err := <-waited; err == nil {
		t.Fatal("WaitClosed ended without error before the end")
	}
	for i := range n {
		m, err := a.ReadMessage()
		if err != nil || len(m) != 0 {
			t.Fatalf("message %d: %q, %v", i+1, m, err)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatal(err)
	}
}
