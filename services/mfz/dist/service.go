package dist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// SectionName is the service's name: its section in `itcd status` and
// the name in log lines.
const SectionName = "mfz"

// Strategy chooses which missing block to ask a neighbour for.
type Strategy int

const (
	// RarestFirst (the default) asks for the missing block that the
	// fewest live neighbours hold, a random one of those on a tie: the
	// neighbours of a tile then hold different blocks, so each has
	// something the others lack and every link into a tile carries
	// something new (notes/design.md, "Block selection").
	RarestFirst Strategy = iota
	// Sequential asks for the lowest missing block that the neighbour
	// holds and nobody is fetching. Kept for comparison (BENCHMARKS.md).
	Sequential
)

func (s Strategy) String() string {
	if s == Sequential {
		return "sequential"
	}
	return "rarest-first"
}

// tuning holds the protocol's constants in one place. Tests and
// benchmarks change some of them through Options.Tuning.
type tuning struct {
	window       int           // chunks requested and not arrived, per neighbour, at most
	minWindow    int           // ...and at least (window.size)
	linkRate     int           // bytes/s a link is assumed to carry at least (window.size)
	minBatch     int           // smallest request sent while others are in flight
	strategy     Strategy      // block selection
	superSeed    bool          // a file pushed here leaves it block by block to one neighbour each first (seeding.go)
	avoidFor     time.Duration // first avoidance of a bad neighbour; doubles
	avoidMax     time.Duration
	strikes      int           // NOTHAVEs/timeouts in a row before avoiding
	refreshMin   time.Duration // idle announcement refresh, jittered in [min, max)
	refreshMax   time.Duration
	bitfieldGap  time.Duration // partial bitmaps re-sent at most this often while they grow
	minRTO       time.Duration
	maxRTO       time.Duration
	tick         time.Duration // timer for retries and send pacing while busy
	idleTick     time.Duration // the same with nothing in flight: a tile's idle CPU
	dataDepth    int           // DATA packets of ours allowed in the daemon's queue per link
	serveQueue   int           // queued REQUESTs per neighbour
	serveChunks  int           // queued chunks per neighbour
	ctrlQueue    int           // control messages waiting per neighbour
	manifests    int           // manifest fetches at once from one neighbour
	mfFloor      time.Duration // a manifest fetch may take this long...
	mfRate       int           // ...plus its size at this many bytes/s, then it is abandoned
	mfBurst      int           // fresh manifest fetches a neighbour may start at once...
	mfRefill     time.Duration // ...and one more each this long; each manifest it serves gives one back
	vanishes     int           // fetched files a neighbour takes back within vanishWindow for a strike
	vanishWindow time.Duration
	syncGap      time.Duration // a neighbour's SYNCs are answered at most this often
	conductMax   int           // disconnected tiles whose strikes and avoidance are remembered
	refusedMax   int           // remembered refused file ids
	refuseFor    time.Duration // a refused id is not fetched again for this long
	pauseMin     time.Duration // a local store failure (full disk) pauses what failed this long first...
	pauseMax     time.Duration // ...doubling per failure in a row up to this; then it is tried again
	startsMax    int           // files whose transfer could not start, paused each on its own; more pause all
	resyncEvery  time.Duration // reconcile with the store's list
	snapEvery    time.Duration // publish the status snapshot
	syncEvery    int           // StoreConfig.SyncEvery
}

var defaultTuning = tuning{
	window:      96, // 96 x 245 = 23.5 KB
	minWindow:   24,
	linkRate:    64 << 10,
	minBatch:    8,
	strategy:    RarestFirst,
	superSeed:   true,
	avoidFor:    30 * time.Second,
	avoidMax:    10 * time.Minute,
	strikes:     3,
	refreshMin:  30 * time.Second,
	refreshMax:  60 * time.Second,
	bitfieldGap: time.Second,
	minRTO:      150 * time.Millisecond,
	maxRTO:      4 * time.Second,
	// The fast tick refills the daemon's queue of DATA (dataDepth: 24
	// packets, 96 ms of a 64 KB/s link) and runs the silence timers (150
	// ms at least): 20 ms is soon enough for both, and a quarter of the
	// wakeups of 5 ms (BENCHMARKS.md, "Syncs off the loop").
	tick:        20 * time.Millisecond,
	idleTick:    250 * time.Millisecond,
	dataDepth:   24,
	serveQueue:  64,
	serveChunks: 512,
	ctrlQueue:   1024,
	manifests:   1,
	mfFloor:     10 * time.Second,
	mfRate:      4096,
	mfBurst:     8,
	mfRefill:    2 * time.Second,
	// One file taken back is a file removed by hand or a handle reused;
	// three within a minute, a neighbour that takes back what it offers.
	vanishes:     3,
	vanishWindow: time.Minute,
	syncGap:      time.Second,
	conductMax:   64,
	refusedMax:   256,
	refuseFor:    10 * time.Minute,
	// A full disk: the first retry after 1 s (space freed by hand is
	// used at once), then 2, 4... and at most every 30 s: one probe block
	// (a block) and one log line per step, for as long as the disk is full.
	pauseMin:    time.Second,
	pauseMax:    30 * time.Second,
	startsMax:   64,
	resyncEvery: 5 * time.Second,
	snapEvery:   100 * time.Millisecond,
	syncEvery:   64,
}

// The interfaces Service implements, checked by the compiler.
var (
	_ p2p.Service        = (*Service)(nil)
	_ p2p.StatusReporter = (*Service)(nil)
	_ p2p.ControlHandler = (*Service)(nil)
)

// Service is the signed-file distribution service (service 8). It owns the
// tile's mfz.Store. Make it with New; the daemon runs Serve.
type Service struct {
	store   *mfz.Store
	log     *slog.Logger
	t       tuning
	clk     *clock.Clock // Options.Clock
	corrupt bool

	served atomic.Bool // Serve ran: it closes the store
	wake   chan struct{}

	mu   sync.Mutex
	snap Status
}

// New opens the signed-file store in STATE_DIR/mfz and makes the
// service. Serve closes the store when it returns; if Serve never runs,
// call Close.
func New(cfg Config, opt Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	t := opt.Tuning.apply(defaultTuning)
	st, err := mfz.Open(mfz.StoreConfig{
		Dir:        StoreDir(opt.StateDir),
		TrustDir:   cfg.TrustDir,
		Hooks:      cfg.hooks(),
		Logger:     log,
		SyncEvery:  t.syncEvery,
		WriteFault: opt.WriteFault,
	})
	if err != nil {
		return nil, err
	}
	s := &Service{store: st, log: log, t: t, clk: opt.Clock, corrupt: opt.CorruptSends, wake: make(chan struct{}, 1)}
	s.snap = Status{Files: []FileStatus{}, Transfers: []TransferStatus{}, Neighbours: []NeighbourStatus{},
		StartsPaused: []StartPause{}}
	return s, nil
}

// Store returns the service's store.
func (s *Service) Store() *mfz.Store { return s.store }

// Close closes the store of a service whose Serve never ran (Serve closes
// it itself).
func (s *Service) Close() error {
	if s.served.Load() {
		return nil
	}
	return s.store.Close()
}

// Number implements p2p.Service.
func (s *Service) Number() packet.Service { return packet.ServiceMFZ }

// Name implements p2p.Service.
func (s *Service) Name() string { return SectionName }

// Serve implements p2p.Service. It runs the store's watcher and the
// protocol loop until ctx ends, then closes the store.
func (s *Service) Serve(ctx context.Context, h p2p.Host, in p2p.Inbox) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("mfz: Serve called twice")
	}
	defer s.store.Close()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (deferred later, so it runs first)
	defer cancel()
	events, unsubscribe := s.store.Subscribe(256)
	defer unsubscribe()
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.store.Run(ctx); err != nil && ctx.Err() == nil {
			h.Logger().Error("mfz store watcher stopped", "err", err)
		}
	}()
	l := newLoop(s, h, &wg)
	return l.run(ctx, in, events)
}

// Status implements p2p.StatusReporter: the last snapshot the loop
// published (at most about 100ms old).
func (s *Service) Status() any { return s.Snapshot() }

// Snapshot returns the service's state. It is safe from any goroutine.
func (s *Service) Snapshot() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.snap
}

func (s *Service) publish(st Status) {
	s.mu.Lock()
	s.snap = st
	s.mu.Unlock()
}

// Commands implements p2p.ControlHandler.
func (s *Service) Commands() []string { return []string{"push", "files"} }

// PushArgs are the arguments of the control command "push".
type PushArgs struct {
	Path string `json:"path"` // the signed file, an absolute path the daemon can read
}

// PushResult is the answer to "push": the file now installed.
type PushResult struct {
	Name    string `json:"name"`
	Version int64  `json:"version"`
	Deleted bool   `json:"deleted"` // a tombstone
	Size    int64  `json:"size"`    // bytes of the MFZ file
	Body    int64  `json:"body"`    // bytes that travel (the compressed body; in format 3 its hash list too)
	Blocks  int    `json:"blocks"`
	Hash    string `json:"hash"`
	// Already is set when exactly this file was installed before; the
	// push is then a no-op that succeeds.
	Already bool `json:"already,omitempty"`
}

// Control implements p2p.ControlHandler.
//
//	push  {"path": "/abs/file.mfz"}  verify, install, announce: PushResult
//	files                            the Status
func (s *Service) Control(ctx context.Context, cmd string, args []byte) (any, error) {
	switch cmd {
	case "files":
		return s.Snapshot(), nil
	case "push":
		var a PushArgs
		if len(args) == 0 {
			return nil, errors.New(`push: want {"path": "/abs/file.mfz"}`)
		}
		if err := json.Unmarshal(args, &a); err != nil {
			return nil, fmt.Errorf("push: %w", err)
		}
		return s.Push(ctx, a.Path)
	}
	return nil, fmt.Errorf("mfz: unknown command %q", cmd)
}

// Push verifies the signed file at path completely and installs it; the
// service then announces it to every neighbour. A file that does not
// verify, is signed by an untrusted key, or is older than what the tile
// holds is refused with an error that says so, and never spreads; so is a
// path that is not a regular file (a named pipe is refused, not waited
// on). Push gives up when ctx ends: a daemon that stops does not wait for
// a long copy and check.
func (s *Service) Push(ctx context.Context, path string) (PushResult, error) {
	if path == "" || !filepath.IsAbs(path) {
		return PushResult{}, fmt.Errorf("push: path %q: want an absolute path", path)
	}
	e, err := s.store.InstallContext(ctx, path)
	already := false
	if errors.Is(err, mfz.ErrExists) {
		f, _, rerr := mfz.ReadFileAt(path)
		if rerr == nil {
			if cur, ok := s.store.Lookup(f.Manifest.Name); ok && cur.Hash == f.Manifest.Hash() {
				e, err, already = &cur, nil, true
			}
		}
	}
	if errors.Is(err, mfz.ErrNotRegular) { // it names the path
		return PushResult{}, fmt.Errorf("push: %w: push a signed .mfz file", err)
	}
	if err != nil {
		return PushResult{}, fmt.Errorf("push %s: %w", path, explain(err))
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
	r := PushResult{Name: e.Name, Version: e.Version, Deleted: e.Deleted, Size: e.Size,
		Hash: e.Hash.String(), Already: already}
	if e.Manifest != nil {
		r.Body, r.Blocks = e.Manifest.RegionLen(), e.Manifest.BlockCount()
	}
	return r, nil
}

// explain adds what to do to the store's refusals.
func explain(err error) error {
	switch {
	case errors.Is(err, mfz.ErrUntrusted):
		return fmt.Errorf("%w (put the signer's .pub key into the tile's trust directory)", err)
	case errors.Is(err, mfz.ErrTombstoned):
		return fmt.Errorf("%w (a newer tombstone deleted this name; sign a newer version)", err)
	case errors.Is(err, mfz.ErrStale):
		return fmt.Errorf("%w (the tile holds a newer version; sign with a newer version)", err)
	}
	return err
}
