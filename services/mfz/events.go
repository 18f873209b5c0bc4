package mfz

import "fmt"

// Store events: what changed, told to subscribers without blocking.

// EventKind says what changed in the store.
type EventKind int

const (
	// EventInstalled: a new version of a file was cut over into live/.
	EventInstalled EventKind = iota + 1
	// EventDeleted: a tombstone was installed; the live file is gone.
	EventDeleted
	// EventRemoved: a live file vanished by hand (not by a tombstone).
	EventRemoved
	// EventTrust: the trusted keys changed; List may show more or fewer
	// entries.
	EventTrust
)

func (k EventKind) String() string {
	switch k {
	case EventInstalled:
		return "installed"
	case EventDeleted:
		return "deleted"
	case EventRemoved:
		return "removed"
	case EventTrust:
		return "trust"
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// Event reports a change in the store.
type Event struct {
	Kind    EventKind
	Name    string // empty for EventTrust
	Version int64
	Entry   *Entry // the new entry for EventInstalled and EventDeleted
}

// Subscribe returns a channel that receives an Event for each change, with
// room for buf events. Events that do not fit are dropped (and logged): a
// subscriber that falls behind should call List. cancel stops the
// subscription and closes the channel; Close closes it too.
func (s *Store) Subscribe(buf int) (events <-chan Event, cancel func()) {
	ch := make(chan Event, max(buf, 1))
	s.mu.Lock()
	if s.closed {
		close(ch)
	} else {
		s.subs[ch] = struct{}{}
	}
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.subs[ch]; ok {
			delete(s.subs, ch)
			close(ch)
		}
	}
}

func (s *Store) emitLocked(ev Event) {
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			s.log.Warn("mfz subscriber too slow; event dropped", "event", ev.Kind.String(), "name", ev.Name)
		}
	}
}
