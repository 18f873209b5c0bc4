package tilegrid

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/tile"
)

// inProcess is a run of a tile's daemon in this process: tile.New with the
// tile's config, its UDP socket adopted, its Tile Events read from the
// daemon's hub. Everything is asked of the daemon directly.
type inProcess struct {
	tile   *tile.Tile
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
	err    error         // what Run returned, set before done closes
}

var _ instance = (*inProcess)(nil)

// startInProcess starts t's daemon on a copy of t's bound socket and
// returns once it is ready.
func startInProcess(t *Tile) (instance, error) {
	g := t.g
	pc, err := net.FilePacketConn(t.sock)
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	cfg := g.tileConfig(t)
	cfg.UDP.InProcess = true // frames to the other in-process tiles skip the sockets (itc/dev udpshort.go)
	log, logf, err := g.tileLogger(t, cfg.LogLevel)
	if err != nil {
		conn.Close()
		return nil, err
	}
	var extra []p2p.Service
	if g.cfg.Services != nil {
		extra = g.cfg.Services(t.Coord)
	}
	opt := tile.Options{Logger: log, UDPConn: conn, Extra: extra, RouteVerified: g.verified, Clock: g.clk}
	if g.cfg.Options != nil {
		g.cfg.Options(t.Coord, &opt)
	}
	tt, err := tile.New(cfg, opt)
	if err != nil {
		conn.Close()
		closeFile(logf)
		return nil, err
	}
	// Before Run: a cut link stays cut from the first packet, and a
	// tile of other physics never looks compatible to its neighbours.
	for _, l := range t.changedProfilesLocked() {
		tt.UDP.SetProfile(l.dir, l.profile)
	}
	if err := setMFZID(tt, t); err != nil {
		tt.UDP.Close() // its conn, and its place in the in-process shortcut
		closeFile(logf)
		return nil, err
	}
	sub := tt.Hub().Subscribe(1024)
	ctx, cancel := context.WithCancel(g.ctx)
	r := &inProcess{tile: tt, cancel: cancel, done: make(chan struct{})}
	g.wg.Add(2)
	go func() {
		defer g.wg.Done()
		r.err = tt.Run(ctx)
		sub.Close()
		closeFile(logf)
		close(r.done)
	}()
	go func() { // hands the daemon's Tile Events to the grid until the run ends
		defer g.wg.Done()
		note := func(e p2p.Event) { g.addEvent(Event{At: g.clk.Now(), Tile: t.Coord, Event: e}) }
		for {
			select {
			case e := <-sub.C():
				note(e)
			case <-r.done:
				for {
					select {
					case e := <-sub.C():
						note(e)
					default:
						return
					}
				}
			}
		}
	}()
	select {
	case <-tt.Ready():
		return r, nil
	case <-r.done:
		if r.err == nil {
			return nil, errors.New("daemon stopped at once")
		}
		return nil, r.err
	case <-time.After(startTimeout):
		cancel()
		<-r.done
		return nil, fmt.Errorf("not ready within %v", startTimeout)
	}
}

func (r *inProcess) ended() <-chan struct{} { return r.done }

func (r *inProcess) stop() error {
	r.cancel()
	<-r.done
	return r.err
}

func (r *inProcess) status() (control.Status, error) { return r.tile.Status(), nil }

func (r *inProcess) lastStatus() *control.Status {
	st := r.tile.Status()
	return &st
}

func (r *inProcess) sectionStatus(name string) *control.Status {
	v, ok := r.tile.Section(name)
	if !ok {
		return nil
	}
	return &control.Status{Sections: map[string]any{name: v}}
}

func (r *inProcess) setProfile(d packet.Dir, p dev.LinkProfile) error {
	return r.tile.UDP.SetProfile(d, p)
}

func (r *inProcess) linkStats() [8]dev.LinkStats { return r.tile.UDP.Stats().Links }

func (r *inProcess) deviceStats() (dev.UDPStats, error) { return r.tile.UDP.Stats(), nil }

func (r *inProcess) pid() int { return 0 }

func (r *inProcess) linkStates() (dev.Status, bool) { return r.tile.UDP.Status(), true }

// tileLogger is the logger of an in-process tile: the grid's, or one
// writing to the tile's own itcd.log.
func (g *Grid) tileLogger(t *Tile, level string) (*slog.Logger, *os.File, error) {
	if g.cfg.Logger != nil {
		return g.cfg.Logger.With("node", t.Name), nil, nil
	}
	f, err := os.OpenFile(filepath.Join(t.Dir, "itcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: parseLevel(level)})), f, nil
}

func parseLevel(s string) slog.Level {
	var l slog.Level
	if l.UnmarshalText([]byte(strings.ToUpper(s))) != nil {
		return slog.LevelInfo
	}
	return l
}

func closeFile(f *os.File) {
	if f != nil {
		f.Close()
	}
}
