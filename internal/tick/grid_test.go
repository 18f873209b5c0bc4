package tick

import (
	"testing"
	"time"
)

// TestGridTicksEverySubscriber: two subscribers of one period share one
// grid and both tick; a third of another period has its own; the grid
// ends with its last subscriber and starts again for a new one.
func TestGridTicksEverySubscriber(t *testing.T) {
	const period = 20 * time.Millisecond
	a, err := Subscribe(period)
	if err != nil {
		t.Skip("no timerfd here:", err)
	}
	b, err := Subscribe(period)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Subscribe(period + time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if a.g != b.g || a.g == c.g {
		t.Fatal("subscribers of one period on different grids, or of two on one")
	}
	wait := func(s *Sub, what string) {
		t.Helper()
		for i := 0; i < 3; i++ {
			select {
			case <-s.C:
			case <-time.After(10 * time.Second):
				t.Fatalf("%s: tick %d not within 10 s", what, i+1)
			}
		}
	}
	wait(a, "a")
	wait(b, "b")
	wait(c, "c")
	g := a.g
	a.Stop()
	wait(b, "b after a stopped")
	b.Stop()
	select {
	case <-g.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the grid still runs 10 s after its last subscriber stopped")
	}
	c.Stop()
	d, err := Subscribe(period)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Stop()
	if d.g == g {
		t.Fatal("a stopped grid handed out again")
	}
	wait(d, "d on a new grid")
}

func TestGridRefusesNoPeriod(t *testing.T) {
	if _, err := Subscribe(0); err == nil {
		t.Fatal("a grid of period 0")
	}
}
