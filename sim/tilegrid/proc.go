package tilegrid

import (
	"bytes"
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

// proc is a tile running as an `itcd run` process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu   sync.Mutex
	last *control.Status // from the poller
	seen [8]seenLink     // what the poller saw of each link, for events
}

type seenLink struct {
	live bool
	tile p2p.TileID
}

// startProc execs `itcd run` for t. The process inherits the tile's bound
// UDP socket as file descriptor 3 (--udp-fd 3): the port is never free.
func (t *Tile) startProc() error {
	g := t.g
	cfg := g.tileConfig(t)
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	confPath := filepath.Join(t.Dir, "itcd.toml")
	if err := os.WriteFile(confPath, buf.Bytes(), 0o644); err != nil {
		return err
	}
	// Everything is in the file; the socket is inherited, bound.
	args := []string{"run", "--config", confPath, "--udp-fd", "3"}
	logf, err := os.OpenFile(filepath.Join(t.Dir, "itcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(g.itcd, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{t.sock} // fd 3
	cmd.Env = append(childEnv(), g.cfg.Env...)
	// Its own process group: a terminal's ^C reaches the simulator, which
	// stops the tiles in order. Pdeathsig kills it if the simulator dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	pr := &proc{cmd: cmd, done: make(chan struct{})}
	r := &running{proc: pr, done: pr.done, cancel: func() {}}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		r.err = cmd.Wait()
		logf.Close()
		close(pr.done)
	}()
	t.run = r

	// Wait until its control socket answers.
	deadline := time.Now().Add(startTimeout)
	for {
		cc, err := control.Dial(t.RunDir)
		if err == nil {
			err = cc.Call("ping", nil, nil)
			cc.Close()
			if err == nil {
				break
			}
		}
		select {
		case <-pr.done:
			t.reapLocked()
			return fmt.Errorf("itcd run exited (%v): %s", r.err, logTail(logf.Name()))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			pr.stop()
			t.reapLocked()
			return fmt.Errorf("itcd run did not answer on %s within %v: see %s", t.RunDir, startTimeout, logf.Name())
		}
	}
	for _, l := range t.Links {
		if p := t.profiles[l.Dir]; p != g.cfg.Profile {
			if err := callLink(t.RunDir, l.Dir, &p); err != nil {
				pr.stop()
				t.reapLocked()
				return err
			}
		}
	}
	return nil
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

// stop sends SIGTERM, then SIGKILL to the process group if the process
// has not ended within stopTimeout, and waits for it.
func (p *proc) stop() {
	if isDone(p.done) {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopTimeout):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
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
	err = cc.Call("status", nil, &st)
	return st, err
}

// pollProcs reads every process tile's status four times a second: the
// cache Snapshot shows, and the Tile Events derived from the changes.
func (g *Grid) pollProcs() {
	defer g.wg.Done()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-g.ctx.Done():
			return
		case <-tick.C:
		}
		for _, t := range g.tiles {
			t.mu.Lock()
			r := t.run
			t.mu.Unlock()
			if r == nil || r.proc == nil || isDone(r.done) {
				continue
			}
			st, err := procStatus(t.RunDir)
			if err != nil {
				continue
			}
			g.noteProcStatus(t, r.proc, &st)
		}
	}
}

func (g *Grid) noteProcStatus(t *Tile, p *proc, st *control.Status) {
	p.mu.Lock()
	p.last = st
	var evs []Event
	now := time.Now()
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
			evs = append(evs, Event{At: now, Tile: t.Coord, Event: p2p.Event{Kind: packet.EventDisconnect, Dir: l.Dir, Tile: old.tile}})
		}
		if s.live && (!old.live || s.tile != old.tile) {
			evs = append(evs, Event{At: now, Tile: t.Coord, Event: p2p.Event{Kind: packet.EventConnect, Dir: l.Dir, Tile: s.tile}})
		}
		p.seen[l.Dir] = s
	}
	p.mu.Unlock()
	for _, e := range evs {
		g.addEvent(e)
	}
}
