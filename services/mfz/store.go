package mfz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// The store: its configuration, opening it (directories, trust, the
// version record, the scans of tomb/, live/ and partial/) and closing it.
// What it does once open lives beside it: install.go, adopt.go, scan.go,
// versions.go, list.go, events.go, partials.go, hooks.go, watch.go.

// StoreConfig configures a Store.
type StoreConfig struct {
	// Dir is the store's directory, normally STATE/mfz. It holds live/,
	// partial/, tomb/, tmp/, rejected/, trust/ and state.json.
	Dir string
	// TrustDir holds the trusted *.pub keys; "" means Dir/trust.
	TrustDir string
	// Hooks run after a new version of a matching name is cut over.
	Hooks []Hook
	// Logger receives the store's log; nil means slog.Default().
	Logger *slog.Logger
	// Settle is how long a file that appears in live/ by hand must stay
	// unchanged before the store examines it; 0 means 1s.
	Settle time.Duration
	// SyncEvery is how many received blocks a Partial may hold unsynced
	// before it fsyncs the data and records them; 0 means 32.
	SyncEvery int
	// PollEvery is how often a store that cannot watch live/ and the trust
	// directory (no inotify instance left) looks at them instead; 0
	// means 2s. It tries to watch again every 15 polls.
	PollEvery time.Duration
	// WriteFault is a test hook, nil in production: when set, it is called
	// before every data write the store makes with the write's name
	// ("block", "have", "partial", "install", "state", "tombstone",
	// "reason"), and an error it returns fails that write, as a full disk
	// would (return syscall.ENOSPC to play one).
	WriteFault func(op string) error
	// WatchFault is a test hook, nil in production: an error it returns
	// fails the store's watch of live/ and the trust directory, as running
	// out of inotify instances does.
	WatchFault func() error
}

// Entry describes one name the store holds: a live file or, with Deleted
// set, a tombstone that keeps spreading.
type Entry struct {
	Name     string
	Version  int64
	Deleted  bool      // a tombstone: the name was deleted
	Path     string    // live/NAME, or tomb/NAME for a tombstone
	Size     int64     // size of the MFZ file at Path
	Manifest *Manifest // verified manifest
	Signed   []byte    // signed manifest (manifest || signature)
	Hash     Hash      // Manifest.Hash, the tie-break identity
}

// Store is the local store of signed MFZ files in a tile's state dir. All
// methods are safe for concurrent use.
type Store struct {
	cfg   StoreConfig
	log   *slog.Logger
	trust *TrustSet

	live, partial, tomb, tmp, rejected, trustDir, stateFile string

	ctx    context.Context // canceled by Close; owns hooks
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	entries  map[string]*entry
	seen     map[string]seenRec
	partials map[string]*Partial // by partialKey
	bad      map[Hash]error      // signed manifests whose complete body failed
	subs     map[chan Event]struct{}
	hookQ    []hookJob
	hookBusy bool

	// fault, if set by tests, is called before every data write with the
	// operation's name; an error makes the write fail (a full disk).
	fault func(op string) error
	// adoptHook, set by tests, runs in adopt once the file is taken
	// out of live/ and before it is checked.
	adoptHook func()

	// installing holds the files pushes are copying in (mu guards it);
	// installSlots bounds how many copy and verify at once.
	installing   map[Hash]bool
	installSlots chan struct{}
	// checkSlots bounds the whole-file checks at once (checks.go).
	checkSlots chan struct{}
}

// maxInstalls bounds the pushes that copy and verify at once: each takes a
// whole copy of its file in tmp/ and a core to verify it, and a careless
// `xargs -P` must not fill the disk or the tile's two cores.
const maxInstalls = 2

// Open opens (creating if needed) the store in cfg.Dir: it loads the
// trusted keys and the highest-version record, checks live/ and tomb/,
// adopts or moves aside files dropped into live/ while the daemon was
// down, and resumes partial files. Call Run to watch for changes and
// Close when done.
func Open(cfg StoreConfig) (*Store, error) {
	if cfg.Dir == "" {
		return nil, errors.New("mfz: StoreConfig.Dir is empty")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Settle <= 0 {
		cfg.Settle = time.Second
	}
	if cfg.PollEvery <= 0 {
		cfg.PollEvery = 2 * time.Second
	}
	if cfg.SyncEvery <= 0 {
		cfg.SyncEvery = 32
	}
	s := &Store{
		cfg:          cfg,
		log:          cfg.Logger.With("svc", "mfz"),
		live:         filepath.Join(cfg.Dir, "live"),
		partial:      filepath.Join(cfg.Dir, "partial"),
		tomb:         filepath.Join(cfg.Dir, "tomb"),
		tmp:          filepath.Join(cfg.Dir, "tmp"),
		rejected:     filepath.Join(cfg.Dir, "rejected"),
		trustDir:     cfg.TrustDir,
		stateFile:    filepath.Join(cfg.Dir, "state.json"),
		entries:      map[string]*entry{},
		seen:         map[string]seenRec{},
		partials:     map[string]*Partial{},
		bad:          map[Hash]error{},
		subs:         map[chan Event]struct{}{},
		installing:   map[Hash]bool{},
		installSlots: make(chan struct{}, maxInstalls),
		checkSlots:   make(chan struct{}, maxChecks),
		fault:        cfg.WriteFault,
	}
	if s.trustDir == "" {
		s.trustDir = DefaultTrustDir(cfg.Dir)
	}
	for _, d := range []string{cfg.Dir, s.live, s.partial, s.tomb, s.tmp, s.rejected, s.trustDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("mfz: %w", err)
		}
	}
	for _, h := range cfg.Hooks {
		if _, err := filepath.Match(h.Pattern, ""); err != nil || h.Command == "" {
			return nil, fmt.Errorf("mfz: hook %q: bad pattern or empty command", h.Pattern)
		}
	}
	// Whatever is in tmp/ is a write a crash interrupted.
	if ents, err := os.ReadDir(s.tmp); err == nil {
		for _, e := range ents {
			os.RemoveAll(filepath.Join(s.tmp, e.Name()))
		}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.trust = NewTrustSet()
	if _, err := s.reloadTrustChanged(); err != nil {
		return nil, err
	}
	if err := s.loadState(); err != nil {
		s.log.Error("mfz state unreadable; rebuilding it from live/ and tomb/ (older versions may be accepted until a newer one is seen again)", "path", s.stateFile, "err", err)
		s.moveAside(s.stateFile, "state.json", err)
	}
	s.scanTomb()
	s.scanLive()
	s.scanPartials()
	s.mu.Lock()
	err := s.saveStateLocked()
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Trust returns the store's trust set; it changes when the trust
// directory does.
func (s *Store) Trust() *TrustSet { return s.trust }

// TrustDir returns the directory of trusted keys.
func (s *Store) TrustDir() string { return s.trustDir }

// LiveDir returns the directory of live files.
func (s *Store) LiveDir() string { return s.live }

// reloadTrustChanged reloads the trust directory and reports whether the
// set of keys changed.
func (s *Store) reloadTrustChanged() (bool, error) {
	t, err := LoadTrust(func(p string, err error) {
		s.log.Warn("mfz trust key ignored", "path", p, "err", err)
	}, s.trustDir)
	if err != nil {
		return false, fmt.Errorf("mfz: loading trust: %w", err)
	}
	old := s.trust.IDs()
	s.trust.replace(t)
	now := s.trust.IDs()
	changed := fmt.Sprint(old) != fmt.Sprint(now)
	if changed {
		s.log.Info("mfz trusted keys", "dir", s.trustDir, "keys", fmt.Sprint(now))
	}
	return changed, nil
}

// Close stops the hooks (killing a running one), closes files and
// subscriptions, and waits for the store's goroutines. Partial files keep
// their state on disk and resume at the next Open.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.cancel()
	for _, p := range s.partials {
		p.close()
	}
	for _, e := range s.entries {
		if e.f != nil {
			e.f.Close()
			e.f = nil
		}
	}
	for ch := range s.subs {
		close(ch)
	}
	s.subs = map[chan Event]struct{}{}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// DefaultTrustDir is the trust dir of a store in dir when its config names
// none: dir/trust.
func DefaultTrustDir(dir string) string { return filepath.Join(dir, "trust") }
