package tilegrid

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestWaitGivesUpWhenCtxEnds: a wait whose context ends (the user's ^C in
// `itcd sim`) returns at once with the context's error, not at its
// deadline, and a grid that closes still says ErrClosed.
func TestWaitGivesUpWhenCtxEnds(t *testing.T) {
	gctx, closeGrid := context.WithCancel(context.Background())
	g := &Grid{ctx: gctx}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := g.waitEvery(ctx, time.Hour, time.Millisecond, "never", func() bool { return false })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait: %v, want context.Canceled", err)
	}
	closeGrid()
	if err := g.waitEvery(context.Background(), time.Hour, time.Millisecond, "never", func() bool { return false }); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed grid: %v, want ErrClosed", err)
	}
}
