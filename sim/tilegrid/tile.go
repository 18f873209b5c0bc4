package tilegrid

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// Tile is one tile of a grid. Its exported fields do not change.
type Tile struct {
	Coord    Coord
	Name     string
	Dir      string // Dir/NAME in the grid's directory
	RunDir   string
	StateDir string
	Addr     string // its UDP address, 127.0.0.1:PORT, kept across restarts
	Links    []Link // its links, in dir8 order
	MFZID    string // its physics identity (Config.MFZID); "" if none was given

	g    *Grid
	seed int64

	// sock is the tile's UDP socket, bound when the grid is built and
	// held until it closes: each run of the tile gets a copy (in-process)
	// or inherits it (a process), so its port is never free for another
	// program to take, not while a process starts, nor while the tile is
	// stopped.
	sock *os.File

	mu       sync.Mutex         // serialises Start and Stop; guards what follows
	profiles [8]dev.LinkProfile // outbound profile of each link, kept across restarts
	run      instance           // the current or last run; nil before the first and once reaped
	starts   int
	base     [8]dev.LinkStats // counters of earlier runs
}

// instance is one run of a tile's daemon: in this process (inProcess,
// inprocess.go) or as an `itcd run` process (process, proc.go). The Tile
// holds at most one, under Tile.mu, and asks it the same questions
// whichever it is; a run that has ended is replaced by a new one, never
// restarted. Its methods may be called from any goroutine.
type instance interface {
	// ended is closed when the run has ended, for whatever reason.
	ended() <-chan struct{}
	// stop ends the run if it has not ended and waits for it. It returns
	// why the run ended if that was a fault (not the stop itself).
	stop() error
	// status reads the daemon's status now.
	status() (control.Status, error)
	// lastStatus is the status at little cost, for Snapshot: read now in
	// this process, the last one polled from a process (nil before the
	// first poll).
	lastStatus() *control.Status
	// sectionStatus is a status holding at least the section name (all
	// of lastStatus where reading one section costs the same), nil if
	// there is none.
	sectionStatus(name string) *control.Status
	// setProfile sets the outbound profile of link d now.
	setProfile(d packet.Dir, p dev.LinkProfile) error
	// linkStats are the run's link counters (see LinkReport.FromDaemon
	// for what a process's are).
	linkStats() [8]dev.LinkStats
	// deviceStats are the UDP device's own counters, where they can be
	// read.
	deviceStats() (dev.UDPStats, error)
	// pid is the run's process id, 0 in this process.
	pid() int
	// linkStates is the UDP device's state of each link (down, up, or
	// up and MFM-compatible), and false where it cannot be read.
	linkStates() (dev.Status, bool)
}

// launcher starts a run of t, called with t.mu held. It returns once the
// daemon answers on t's run dir with t's link profiles applied; when it
// fails it leaves nothing running.
type launcher func(t *Tile) (instance, error)

// newLauncher picks the kind of every run of a grid's tiles, once.
func newLauncher(cfg Config) (launcher, error) {
	if !cfg.Procs {
		return startInProcess, nil
	}
	itcd := cfg.Itcd
	if itcd == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("tilegrid: finding the itcd binary: %w", err)
		}
		itcd = exe
	}
	return func(t *Tile) (instance, error) { return startProcess(t, itcd) }, nil
}

// Running reports whether the tile is running.
func (t *Tile) Running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.runningLocked() != nil
}

// runningLocked is the current run if it has not ended, else nil.
func (t *Tile) runningLocked() instance {
	if t.run == nil || isDone(t.run.ended()) {
		return nil
	}
	return t.run
}

// running is runningLocked for callers without the lock.
func (t *Tile) running() instance {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.runningLocked()
}

func isDone(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// startTimeout bounds how long a tile may take to accept connections.
const startTimeout = 30 * time.Second

// Start starts the tile (again), with its state dir and UDP port kept, and
// returns once it accepts connections on its run dir. Links keep the
// profiles the grid last set on them.
func (t *Tile) Start() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.g.closed.Load() {
		return ErrClosed
	}
	if t.run != nil {
		if !isDone(t.run.ended()) {
			return fmt.Errorf("tilegrid: %s is already running", t.Name)
		}
		t.reapLocked()
	}
	t.starts++
	r, err := t.g.launch(t)
	if err != nil {
		return fmt.Errorf("tilegrid: starting %s: %w", t.Name, err)
	}
	t.run = r
	return nil
}

// Stop stops the tile. Its neighbours see it go silent, as they would if
// it crashed; its state dir is kept for Start.
func (t *Tile) Stop() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil {
		return fmt.Errorf("%w: %s", ErrStopped, t.Name)
	}
	err := t.run.stop()
	t.reapLocked()
	if err != nil {
		return fmt.Errorf("tilegrid: %s ended with: %w", t.Name, err)
	}
	return nil
}

// reapLocked records the counters of a run that has ended.
func (t *Tile) reapLocked() {
	if t.run == nil {
		return
	}
	cur := t.run.linkStats()
	for d := range t.base {
		t.base[d] = t.base[d].Add(cur[d])
	}
	t.run = nil
}

// changedProfilesLocked lists t's links whose profile is not the grid's,
// which a new run must be given.
func (t *Tile) changedProfilesLocked() []linkProfile {
	var out []linkProfile
	for _, l := range t.Links {
		if p := t.profiles[l.Dir]; p != t.g.cfg.Profile {
			out = append(out, linkProfile{l.Dir, p})
		}
	}
	return out
}

type linkProfile struct {
	dir     packet.Dir
	profile dev.LinkProfile
}

// Status returns the tile's daemon status: straight from the daemon for an
// in-process tile, over its control socket for a process.
func (t *Tile) Status() (control.Status, error) {
	r := t.running()
	if r == nil {
		return control.Status{}, fmt.Errorf("%w: %s", ErrStopped, t.Name)
	}
	return r.status()
}

func (t *Tile) setProfile(d packet.Dir, p dev.LinkProfile) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.profiles[d] = p
	r := t.runningLocked()
	if r == nil {
		return nil // applied when it starts
	}
	if err := r.setProfile(d, p); err != nil {
		return fmt.Errorf("tilegrid: %s: %w", t.Name, err)
	}
	return nil
}

// Pid returns the process id of a running process tile, 0 otherwise.
func (t *Tile) Pid() int {
	if r := t.running(); r != nil {
		return r.pid()
	}
	return 0
}

// DeviceStats returns the UDP device counters of a running in-process tile
// (they start from zero at each start).
func (t *Tile) DeviceStats() (dev.UDPStats, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.run == nil {
		return dev.UDPStats{}, fmt.Errorf("%w: %s", ErrStopped, t.Name)
	}
	s, err := t.run.deviceStats()
	if err != nil {
		return dev.UDPStats{}, fmt.Errorf("tilegrid: %s is %w", t.Name, err)
	}
	return s, nil
}

// linkStats returns the tile's link counters over all its runs.
func (t *Tile) linkStats() [8]dev.LinkStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	var cur [8]dev.LinkStats
	if t.run != nil {
		cur = t.run.linkStats()
	}
	for d := range cur {
		cur[d] = cur[d].Add(t.base[d])
	}
	return cur
}
