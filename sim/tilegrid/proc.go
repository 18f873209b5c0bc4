package tilegrid

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// stopTimeout is how long a process tile gets to stop after SIGTERM before
// it is killed.
const stopTimeout = 5 * time.Second

// pollInterval is how often the status of process tiles is read.
const pollInterval = 250 * time.Millisecond

// process is a run of a tile as an `itcd run` process. All it knows of the
// daemon comes over the control socket: its status is polled four times a
// second (the cache lastStatus returns), and its Tile Events are derived
// from the changes between polls.
type process struct {
	cmd    *exec.Cmd
	runDir string
	done   chan struct{} // closed when the process has been waited for
	err    error         // what Wait returned, set before done closes

	mu   sync.Mutex
	last *control.Status // from the poller
	seen [8]seenLink     // what the poller saw of each link, for events
}

var _ instance = (*process)(nil)

type seenLink struct {
	live bool
	tile p2p.TileID
}

// startProcess execs `itcd run` (the binary itcd) for t. The process
// inherits the tile's bound UDP socket as file descriptor 3 (--udp-fd 3):
// the port is never free.
func startProcess(t *Tile, itcd string) (instance, error) {
	g := t.g
	cfg := g.tileConfig(t)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	confPath := filepath.Join(t.Dir, "itcd.toml")
	if err := os.WriteFile(confPath, buf.Bytes(), 0o644); err != nil {
		return nil, err
	}
	// Everything is in the file; the socket is inherited, bound.
	args := []string{"run", "--config", confPath, "--udp-fd", "3"}
	logf, err := os.OpenFile(filepath.Join(t.Dir, "itcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(itcd, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{t.sock} // fd 3
	cmd.Env = append(childEnv(), g.cfg.Env...)
	// Its own process group: a terminal's ^C reaches the simulator, which
	// stops the tiles in order. Pdeathsig kills it if the simulator dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{cmd: cmd, runDir: t.RunDir, done: make(chan struct{})}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	if err := p.awaitControl(logf.Name()); err != nil {
		p.stop()
		return nil, err
	}
	for _, l := range t.changedProfilesLocked() {
		if err := callLink(t.RunDir, l.dir, &l.profile); err != nil {
			p.stop()
			return nil, err
		}
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		p.poll(g.ctx, g.polling, func(e p2p.Event, at time.Time) { g.addEvent(Event{At: at, Tile: t.Coord, Event: e}) })
	}()
	return p, nil
}

// awaitControl waits until the process answers on its control socket.
func (p *process) awaitControl(logPath string) error {
	deadline := time.Now().Add(startTimeout)
	for {
		cc, err := control.Dial(p.runDir)
		if err == nil {
			err = cc.Call("ping", nil, nil)
			cc.Close()
			if err == nil {
				return nil
			}
		}
		select {
		case <-p.done:
			return fmt.Errorf("itcd run exited (%v): %s", p.err, logTail(logPath))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("itcd run did not answer on %s within %v: see %s", p.runDir, startTimeout, logPath)
		}
	}
}

// childEnv is this process's environment without what systemd gives a
// service: the tiles are not the unit systemd started.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// logTail returns the last lines of a tile's log, to say why it failed.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	lines = lines[max(0, len(lines)-3):]
	return strings.Join(lines, " | ") + " (" + path + ")"
}

func (p *process) ended() <-chan struct{} { return p.done }

// stop sends SIGTERM, then SIGKILL to the process group if the process
// has not ended within stopTimeout, and waits for it. A process that
// ended by a signal (the stop's own) ended without a fault.
func (p *process) stop() error {
	if !isDone(p.done) {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	if isExitBySignal(p.err) {
		return nil
	}
	return p.err
}

// isExitBySignal reports a process that ended because it was killed.
func isExitBySignal(err error) bool {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return true
		}
	}
	return false
}

func (p *process) status() (control.Status, error) { return procStatus(p.runDir) }

func (p *process) lastStatus() *control.Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

func (p *process) sectionStatus(string) *control.Status { return p.lastStatus() }

func (p *process) setProfile(d packet.Dir, prof dev.LinkProfile) error {
	return callLink(p.runDir, d, &prof)
}

// linkStats are the daemon's counts of packets written to and read from
// the device, as last polled: the device's own are not on the control
// socket.
func (p *process) linkStats() [8]dev.LinkStats {
	var out [8]dev.LinkStats
	st := p.lastStatus()
	if st == nil {
		return out
	}
	for _, l := range st.Links {
		if !l.Dir.IsLink() {
			continue
		}
		s := &out[l.Dir]
		for _, c := range l.Out {
			s.SentPackets += c.Packets
			s.SentBytes += c.Bytes
		}
		for _, c := range l.In {
			s.RecvPackets += c.Packets
			s.RecvBytes += c.Bytes
		}
	}
	return out
}

func (p *process) deviceStats() (dev.UDPStats, error) {
	return dev.UDPStats{}, errors.New("a process: its device counters are not on the control socket")
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// linkStates: a process's status says whether each neighbour is live, not
// its device's link state.
func (p *process) linkStates() (dev.Status, bool) { return dev.Status{}, false }

// callLink sets a process tile's link profile on its control socket.
func callLink(runDir string, d packet.Dir, p *dev.LinkProfile) error {
	cc, err := control.Dial(runDir)
	if err != nil {
		return err
	}
	defer cc.Close()
	if err := cc.Call("link", control.LinkArgs{Dir: d, Profile: p}, nil); err != nil {
		return fmt.Errorf("link %v: %w", d, err)
	}
	return nil
}

// procStatus reads a process tile's status on its control socket.
func procStatus(runDir string) (control.Status, error) {
	var st control.Status
	cc, err := control.Dial(runDir)
	if err != nil {
		return st, err
	}
	defer cc.Close()
	// A daemon that accepts and never answers must not keep the grid's
	// one polling turn.
	cc.Timeout = statusTimeout
	err = cc.Call("status", nil, &st)
	return st, err
}

// statusTimeout bounds one status read of a process tile.
const statusTimeout = 5 * time.Second

// poll reads the process's status four times a second until it ends or
// ctx (the grid's) is done, and hands emit the Tile Events the changes
// show; it reads only while it holds a token of turns, which the grid's
// pollers share. The run's own goroutine runs it, counted in the grid's
// WaitGroup.
func (p *process) poll(ctx context.Context, turns chan struct{}, emit func(p2p.Event, time.Time)) {
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.done:
			return
		case <-tick.C:
		}
		select {
		case turns <- struct{}{}:
		case <-ctx.Done():
			return
		case <-p.done:
			return
		}
		st, err := procStatus(p.runDir)
		<-turns
		if err != nil {
			continue
		}
		at := time.Now()
		for _, e := range p.note(&st) {
			emit(e, at)
		}
	}
}

// note records a polled status and returns the Tile Events since the last.
func (p *process) note(st *control.Status) []p2p.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = st
	var evs []p2p.Event
	for _, l := range st.Links {
		if !l.Dir.IsLink() {
			continue
		}
		s := seenLink{live: l.State == control.Live}
		if l.Tile != nil {
			s.tile = *l.Tile
		}
		old := p.seen[l.Dir]
		if old.live && (!s.live || s.tile != old.tile) {
			evs = append(evs, p2p.Event{Kind: packet.EventDisconnect, Dir: l.Dir, Tile: old.tile})
		}
		if s.live && (!old.live || s.tile != old.tile) {
			evs = append(evs, p2p.Event{Kind: packet.EventConnect, Dir: l.Dir, Tile: s.tile})
		}
		p.seen[l.Dir] = s
	}
	return evs
}
