package mfz

import (
	"context"
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
// when ctx is done, or an error if the watches cannot be set up. It starts
// no goroutines of its own beyond the fsnotify watcher, which it closes.
func (s *Store) Run(ctx context.Context) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer w.Close()
	for _, d := range []string{s.live, s.trustDir} {
		if err := w.Add(d); err != nil {
			return err
		}
	}
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
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
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
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.log.Warn("mfz watch error; rescanning", "err", err)
			s.rescanLive(pending, time.Now())
			trustAt = time.Now()
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
