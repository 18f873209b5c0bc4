package mfz

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Run watches the trust directory and live/ until ctx is done: trusted
// keys added or removed take effect at once (after a short settling
// delay), and a file put into live/ by hand is verified and installed, or
// moved aside to rejected/ with a logged reason; a live file removed by
// hand is forgotten (its version is still remembered). Run returns nil
// when ctx is done. It starts no goroutines of its own beyond the
// fsnotify watcher, which it closes.
//
// A store that cannot watch (inotify instances are 128 per user by
// default: a simulator of a hundred tiles in one process ran out, and
// the stores past it silently never saw live/ again) looks instead,
// every StoreConfig.PollEvery, and tries to watch again every
// watchRetry polls.
func (s *Store) Run(ctx context.Context) error {
	w, err := s.newWatcher()
	if err != nil {
		s.log.Warn("mfz cannot watch live/ and the trust directory; looking every few seconds instead",
			"every", s.cfg.PollEvery, "err", err)
	}
	defer func() {
		if w != nil {
			w.Close()
		}
	}()
	var poll *time.Ticker
	var pollC <-chan time.Time
	if w == nil {
		poll = time.NewTicker(s.cfg.PollEvery)
		pollC = poll.C
		defer poll.Stop()
	}
	polls := 0
	seen := map[string]fileIdent{} // while polling: live/ as the last poll found it

	settle := s.cfg.Settle
	// The timer runs only while a key change or a file waits to settle:
	// an idle store costs no wakeups.
	every := max(settle/4, 10*time.Millisecond)
	timer := time.NewTimer(every)
	defer timer.Stop()
	running := true

	pending := map[string]time.Time{} // live/ paths and when to look
	// Catch up with keys and files that arrived between Open and the watch.
	trustAt := time.Now()
	s.rescanLive(pending, time.Now())
	for {
		if !running && (len(pending) > 0 || !trustAt.IsZero()) {
			timer.Reset(every)
			running = true
		}
		var evC <-chan fsnotify.Event
		var errC <-chan error
		if w != nil {
			evC, errC = w.Events, w.Errors
		}
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-evC:
			if !ok {
				return nil
			}
			now := time.Now()
			switch filepath.Dir(ev.Name) {
			case s.live:
				if !strings.HasPrefix(filepath.Base(ev.Name), ".") {
					pending[ev.Name] = now.Add(settle)
				}
			case s.trustDir:
				if ev.Op&fsnotify.Chmod == 0 {
					trustAt = now.Add(settle / 2)
				}
			}
		case err, ok := <-errC:
			if !ok {
				return nil
			}
			s.log.Warn("mfz watch error; rescanning", "err", err)
			s.rescanLive(pending, time.Now())
			trustAt = time.Now()
		case now := <-pollC:
			trustAt = now
			if polls++; polls%watchRetry == 0 {
				if nw, err := s.newWatcher(); err == nil {
					w = nw
					poll.Stop()
					pollC = nil
					s.log.Info("mfz watching live/ and the trust directory again")
					// What changed since the last poll the watch did not
					// see: everything is looked at, as if just written.
					s.rescanLive(pending, now.Add(settle))
					continue
				}
			}
			s.pollLive(pending, seen, now)
		case now := <-timer.C:
			running = false
			if !trustAt.IsZero() && !now.Before(trustAt) {
				trustAt = time.Time{}
				if changed, err := s.reloadTrustChanged(); err != nil {
					s.log.Error("mfz trust reload failed; keeping the previous keys", "err", err)
				} else if changed {
					s.mu.Lock()
					s.emitLocked(Event{Kind: EventTrust})
					s.mu.Unlock()
				}
			}
			for p, at := range pending {
				if ctx.Err() != nil {
					return nil
				}
				if !now.Before(at) {
					delete(pending, p)
					s.adopt(ctx, p)
				}
			}
		}
	}
}

// watchRetry: a store that cannot watch tries again every watchRetry
// polls.
const watchRetry = 15

// newWatcher watches live/ and the trust directory.
func (s *Store) newWatcher() (*fsnotify.Watcher, error) {
	if s.cfg.WatchFault != nil {
		if err := s.cfg.WatchFault(); err != nil {
			return nil, err
		}
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{s.live, s.trustDir} {
		if err := w.Add(d); err != nil {
			w.Close()
			return nil, err
		}
	}
	return w, nil
}

// pollLive queues, for a store that cannot watch, the files in live/
// that are as the last poll found them: a file being copied in is looked
// at only once it stopped changing for a poll, as a watch would wait for
// it to settle (looked at half-written, it would be moved aside). The
// store's files missing from live/ are queued too: removed by hand. seen
// is replaced by what this poll found.
func (s *Store) pollLive(pending map[string]time.Time, seen map[string]fileIdent, now time.Time) {
	ents, _ := filepath.Glob(filepath.Join(s.live, "[^.]*"))
	found := make(map[string]fileIdent, len(ents))
	for _, p := range ents {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		id := identOf(fi)
		if old, ok := seen[p]; ok && old == id {
			pending[p] = now
		}
		found[p] = id
	}
	s.mu.Lock()
	for _, e := range s.entries {
		if _, ok := found[e.Path]; !ok && !e.Deleted {
			pending[e.Path] = now
		}
	}
	s.mu.Unlock()
	clear(seen)
	maps.Copy(seen, found)
}

// rescanLive queues every file in live/ for a look; adopt ignores the
// store's own files.
func (s *Store) rescanLive(pending map[string]time.Time, now time.Time) {
	ents, _ := filepath.Glob(filepath.Join(s.live, "[^.]*"))
	for _, p := range ents {
		pending[p] = now
	}
	s.mu.Lock()
	for _, e := range s.entries {
		if !e.Deleted {
			pending[e.Path] = now // notice files removed by hand
		}
	}
	s.mu.Unlock()
}
