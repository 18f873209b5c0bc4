package tilegrid

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
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

// reporter is a service that only reports a status section.
type reporter struct{}

func (reporter) Number() packet.Service { return 41 }
func (reporter) Name() string           { return "reporter" }
func (reporter) Status() any            { return 7 }
func (reporter) Serve(ctx context.Context, _ p2p.Host, _ p2p.Inbox) error {
	<-ctx.Done()
	return nil
}

// TestProgressOfReadsOneSection: with ProgressSection set, ProgressOf
// hands the hook a status holding that section of an in-process tile
// and nothing else (no links: the whole status was not built); without
// it, the whole status.
func TestProgressOfReadsOneSection(t *testing.T) {
	for _, section := range []string{"reporter", ""} {
		cfg := testConfig(t, 1, 1)
		cfg.Services = func(Coord) []p2p.Service { return []p2p.Service{reporter{}} }
		var got *control.Status
		cfg.Progress = func(_ Coord, st *control.Status) *Progress {
			got = st
			return &Progress{Have: 1, Size: 2}
		}
		cfg.ProgressSection = section
		g := newGrid(t, cfg)
		if p := g.ProgressOf(Coord{0, 0}); p == nil || p.Have != 1 {
			t.Fatalf("section %q: ProgressOf gave %+v", section, p)
		}
		if got == nil || got.Sections["reporter"] != 7 {
			t.Fatalf("section %q: the hook got %+v, want the reporter's section 7", section, got)
		}
		if whole := len(got.Links) > 0; whole != (section == "") {
			t.Fatalf("section %q: the hook got %d links", section, len(got.Links))
		}
	}
}
