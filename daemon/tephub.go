package daemon

import (
	"sync"
	"sync/atomic"

	"github.com/t2tiles/itcd/p2p"
)

// Hub delivers every Tile Event to mfmt2's socket, the service-socket
// clients and the in-process services.
//
// Hub delivers every published Event to every subscriber. Publish never
// blocks: each subscriber has a bounded queue, and an event that does not
// fit is counted as dropped for that subscriber alone.
type Hub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// NewHub returns an empty Hub.
func NewHub() *Hub { return &Hub{subs: make(map[*Subscription]struct{})} }

// Subscription is one subscriber's queue of events.
type Subscription struct {
	hub     *Hub
	c       chan p2p.Event
	dropped atomic.Uint64
}

// C returns the channel the subscriber reads events from.
func (s *Subscription) C() <-chan p2p.Event { return s.c }

// Dropped counts the events that did not fit the queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription. Its channel is not closed, so a reader
// selecting on it together with a context is never woken by Close.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}

// Subscribe adds a subscriber whose queue holds up to queue events.
func (h *Hub) Subscribe(queue int) *Subscription {
	if queue < 1 {
		queue = 1
	}
	s := &Subscription{hub: h, c: make(chan p2p.Event, queue)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Publish hands e to every subscriber and returns how many missed it.
func (h *Hub) Publish(e p2p.Event) (dropped int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- e:
		default:
			s.dropped.Add(1)
			dropped++
		}
	}
	return dropped
}
