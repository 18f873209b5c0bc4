package counter

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// settleDelay is how long after the first change to the file it is read.
// A writer such as `echo 5 > counter` truncates the file and then writes
// it; reading at the first event could see it empty.
const settleDelay = 50 * time.Millisecond

// reloadOps are the changes to the counter file that make the service read
// it again. Create covers a file renamed over it; Rename and Remove mean it
// is gone. Chmod alone changes no content.
const reloadOps = fsnotify.Write | fsnotify.Create | fsnotify.Rename | fsnotify.Remove

// The interfaces Service implements, checked by the compiler.
var (
	_ p2p.Service        = (*Service)(nil)
	_ p2p.StatusReporter = (*Service)(nil)
	_ p2p.ControlHandler = (*Service)(nil)
)

// Service is the counter service. Make it with New; the daemon runs Serve.
type Service struct {
	path       string                            // the counter file
	interval   time.Duration                     // advertise at least this often
	clk        *clock.Clock                      // the grid's time: Options.Clock
	newWatcher func() (*fsnotify.Watcher, error) // fsnotify.NewWatcher; tests make it fail

	// mu guards everything below. Serve is the only writer; Status and
	// Control read from the control socket's goroutine.
	mu       sync.Mutex
	value    int64
	hasValue bool   // false until the file has held a number
	problem  string // why the file's content is not in value now, "" if it is
	// heard holds each live neighbour's value, indexed by the link it is
	// on; nil until a value arrives and again once the neighbour leaves.
	heard  [8]*neighbourValue
	counts Counts
}

// neighbourValue is what one neighbour last told us.
type neighbourValue struct {
	tile  p2p.TileID
	value int64
	at    time.Time
}

// Number implements p2p.Service.
func (s *Service) Number() packet.Service { return packet.ServiceCounter }

// Name implements p2p.Service.
func (s *Service) Name() string { return "counter" }

// Serve implements p2p.Service: it runs until ctx ends, and fails early
// if the counter file's directory does not exist.
func (s *Service) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	log := h.Logger()

	// Watch the directory, not the file. An editor saves by renaming a new
	// file over the old one, and a file deleted and created again is a new
	// file: a watch on the old file would hear of neither.
	dir, name := filepath.Dir(s.path), filepath.Base(s.path)
	var changes <-chan fsnotify.Event
	var watchErrs <-chan error
	var poll <-chan time.Time // while there is no watch
	watcher, err := s.newWatcher()
	if err != nil {
		// No inotify instance left (128 per user by default; a simulator
		// of many tiles in one process runs out): look at the file every
		// pollEvery instead, as a watch would see it change.
		log.Warn("counter cannot watch its file; looking at it every second instead", "err", err)
		t := time.NewTicker(pollEvery)
		defer t.Stop()
		poll = t.C
	} else {
		defer watcher.Close() // also stops the watcher's goroutine
		if err := watcher.Add(dir); err != nil {
			return fmt.Errorf("counter: watch %s: %w (the counter file's directory must exist)", dir, err)
		}
		changes, watchErrs = watcher.Events, watcher.Errors
	}
	// Read the file only now that the watch is in place, so that a change
	// made in between is not missed. There is nobody to tell yet: each
	// neighbour hears the value when its connect event comes in.
	looked := stampOf(s.path) // before the read: a change after it is seen
	s.reload(log)

	tick := s.clk.NewTicker(s.interval)
	defer tick.Stop()
	// settle fires settleDelay after the first unread change; nil (which
	// never fires) while there is none.
	var settle <-chan time.Time

	for {
		select {
		case <-ctx.Done():
			return nil

		case ev, ok := <-changes:
			if !ok {
				return errors.New("counter: file watcher stopped")
			}
			if filepath.Base(ev.Name) == name && ev.Op&reloadOps != 0 && settle == nil {
				settle = time.After(settleDelay)
			}
		case err, ok := <-watchErrs:
			if !ok {
				return errors.New("counter: file watcher stopped")
			}
			// Typically the kernel's event queue overflowed: a change may
			// have gone unseen, so read the file again to be sure.
			log.Warn("counter file watch error; reading the file again", "err", err)
			if settle == nil {
				settle = time.After(settleDelay)
			}
		case <-poll:
			if st := stampOf(s.path); st != looked && settle == nil {
				settle = time.After(settleDelay)
			}
		case <-settle:
			settle = nil
			// The stamp of what is read, taken before the read: a poll
			// that caught a write half done (truncated, not yet written)
			// must not see the rest of that write as a new change and
			// read it twice.
			looked = stampOf(s.path)
			if s.reload(log) {
				s.advertise(h)
			}

		case <-tick.C:
			// Periodic adverts repair whatever was lost: packets dropped on
			// the link, or not sent because a send queue was full.
			s.advertise(h)

		case ev := <-in.Events:
			s.neighbourEvent(h, ev)
		case m := <-in.Packets:
			s.receive(h, &m)
		}
	}
}

// pollEvery is how often the counter file is looked at when it cannot be
// watched.
const pollEvery = time.Second

// fileStamp is what changes when a file is written, replaced or removed.
type fileStamp struct {
	size, mtime int64
	ino         uint64
}

// stampOf returns path's stamp; the zero stamp if it does not exist.
func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ino = uint64(sys.Ino)
	}
	return st
}

// reload reads the counter file and reports whether the value changed.
// Whatever goes wrong, the last good value stays.
func (s *Service) reload(log *slog.Logger) (changed bool) {
	v, err := readCounter(s.path)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		changed = !s.hasValue || v != s.value
		s.value, s.hasValue, s.problem = v, true, ""
		if changed {
			log.Info("counter value", "value", v)
		}
	case errors.Is(err, fs.ErrNotExist):
		// Not bad content: the file may simply not have been written yet,
		// or be between a delete and a create.
		s.problem = "file missing"
		if s.hasValue {
			log.Info("counter file gone; keeping the last value", "path", s.path, "value", s.value)
		} else {
			log.Info("no counter file yet: nothing to advertise until it holds a number", "path", s.path)
		}
	case errors.Is(err, errEmptyFile):
		// Not bad content either: a write caught between its truncation
		// and its bytes looks like this. The write's end is a change too.
		s.problem = "file empty"
		log.Info("counter file empty; keeping the last value", "path", s.path)
	case err.Error() == s.problem:
		// The same bad content read again: a read that raced a write
		// takes the stamp from before it, so the next look reads the
		// rest of that write once more. Nothing new to count or say.
	default:
		s.problem = err.Error()
		s.counts.BadContent++
		log.Warn("counter file ignored; keeping the last value", "path", s.path, "reason", err)
	}
	return changed
}

// valueMessage returns the MsgValue to send, or false while there is no
// value yet: a tile without one says nothing.
func (s *Service) valueMessage() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hasValue {
		return nil, false
	}
	return AppendValue(nil, s.value), true
}

// advertise sends our value to every live neighbour.
func (s *Service) advertise(h p2p.Host) {
	msg, ok := s.valueMessage()
	if !ok {
		return
	}
	for _, n := range h.Neighbours() {
		s.send(h, n.Dir, msg)
	}
}

// send sends one payload and counts the outcome. Nothing is retried: a
// lost advert is repaired by the next periodic one, so the service does
// not need to wait for Host.Drained.
func (s *Service) send(h p2p.Host, to packet.Dir, payload []byte) {
	err := h.Send(to, payload)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err == nil:
		s.counts.Sent++
	case errors.Is(err, p2p.ErrQueueFull):
		s.counts.QueueFull++
	}
	// ErrNotLive means the neighbour left since we looked: its disconnect
	// event is on its way.
}

// neighbourEvent handles a neighbour connecting or disconnecting.
func (s *Service) neighbourEvent(h p2p.Host, ev p2p.Event) {
	if !ev.Dir.IsLink() {
		return
	}
	switch ev.Kind {
	case packet.EventConnect:
		// Tell the newcomer our value now rather than at the next tick, and
		// ask for its own. Two tiles see each other go live at slightly
		// different moments, and a value that arrives before its sender is
		// live here is dropped (see receive); whichever side goes live
		// second asks, so both still learn the other's value at once.
		if msg, ok := s.valueMessage(); ok {
			s.send(h, ev.Dir, msg)
		}
		s.send(h, ev.Dir, askPayload)
	case packet.EventDisconnect:
		s.mu.Lock()
		s.heard[ev.Dir] = nil
		s.mu.Unlock()
	}
}

// receive handles one packet from a neighbour.
func (s *Service) receive(h p2p.Host, m *p2p.Message) {
	msg, err := ParseMessage(m.Payload())
	if err != nil {
		s.mu.Lock()
		s.counts.Malformed++
		s.mu.Unlock()
		h.Logger().Debug("unreadable counter packet", "dir", m.From.String(), "err", err)
		return
	}
	// Keep values of live neighbours only. Packets and events come on
	// different channels, so a packet sent just before its sender
	// disconnected (or was replaced by another tile on the same link) can
	// be read here after that: recording it would leave a value for a
	// neighbour that is gone, or file it under the wrong tile.
	tile, live := liveTile(h, m.From)
	if !live || tile != m.Tile {
		s.mu.Lock()
		s.counts.NotLive++
		s.mu.Unlock()
		return
	}
	switch msg.Kind {
	case MsgValue:
		s.mu.Lock()
		s.heard[m.From] = &neighbourValue{tile: m.Tile, value: msg.Value, at: s.clk.Now()}
		s.counts.Received++
		s.mu.Unlock()
	case MsgAsk:
		if reply, ok := s.valueMessage(); ok {
			s.send(h, m.From, reply)
		}
	}
}

// liveTile returns the tile on link d if the daemon counts it live.
func liveTile(h p2p.Host, d packet.Dir) (p2p.TileID, bool) {
	for _, n := range h.Neighbours() {
		if n.Dir == d {
			return n.Tile, true
		}
	}
	return p2p.TileID{}, false
}
