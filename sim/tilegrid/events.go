package tilegrid

import (
	"fmt"
	"time"

	"github.com/t2tiles/itcd/p2p"
)

// Event is a Tile Event a tile published: Tile saw the neighbour on
// Event.Dir connect or disconnect.
type Event struct {
	At   time.Time
	Tile Coord
	p2p.Event
}

func (e Event) String() string {
	n, _ := Step(e.Tile, e.Dir)
	return fmt.Sprintf("%v: %v %v (%v) %v", e.Tile, e.Kind, e.Dir, n, e.Event.Tile)
}

// addEvent logs an event and hands it to OnEvent.
func (g *Grid) addEvent(e Event) {
	g.evMu.Lock()
	g.events = append(g.events, e)
	g.evMu.Unlock()
	if g.cfg.OnEvent != nil {
		g.cfg.OnEvent(e)
	}
}

// Events returns the Tile Events logged since mark (0: all of them) and the
// mark to pass next time. Process tiles' events are derived from their
// status, polled four times a second, so short blips may be missed.
func (g *Grid) Events(mark int) ([]Event, int) {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	mark = min(max(mark, 0), len(g.events))
	return append([]Event(nil), g.events[mark:]...), len(g.events)
}

// Mark returns the current end of the event log, for Events and WaitEvent.
func (g *Grid) Mark() int {
	g.evMu.Lock()
	defer g.evMu.Unlock()
	return len(g.events)
}

// WaitEvent waits for an event logged after mark that match accepts.
func (g *Grid) WaitEvent(timeout time.Duration, mark int, what string, match func(Event) bool) (Event, error) {
	var found Event
	err := g.WaitFor(timeout, what, func() bool {
		evs, next := g.Events(mark)
		mark = next
		for _, e := range evs {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found, err
}
