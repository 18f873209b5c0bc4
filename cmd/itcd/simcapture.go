package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// `itcd sim --capture DIR`: every tile's packets into DIR/t-X-Y.pcapng,
// as `itcd capture` would write them. Each capture talks to its tile's
// control.sock, so tiles in this process and tiles run with --procs are
// captured alike.

// simCaptures are the running captures of a grid.
type simCaptures struct {
	dir    string
	stderr io.Writer
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex // guards what follows
	written uint64
	lost    uint64
	failed  []string // "t-X-Y: reason"
}

// startSimCaptures starts a capture of every tile of g into dir. A tile
// that cannot be captured is an error: nothing is left running.
func startSimCaptures(g *tilegrid.Grid, dir string, stderr io.Writer) (*simCaptures, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--capture %s: %w", dir, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	sc := &simCaptures{dir: dir, stderr: stderr, cancel: cancel}
	for _, t := range g.Tiles() {
		if err := sc.start(ctx, t); err != nil {
			sc.stop()
			return nil, fmt.Errorf("--capture: %s: %w", t.Name, err)
		}
	}
	return sc, nil
}

// start begins the capture of one tile.
func (sc *simCaptures) start(ctx context.Context, t *tilegrid.Tile) error {
	c, err := control.Dial(t.RunDir)
	if err != nil {
		return err
	}
	c.Timeout = statusTimeout
	st, err := c.Capture(control.CaptureArgs{})
	if err != nil {
		c.Close()
		return err
	}
	c.Timeout = 0
	path := filepath.Join(sc.dir, t.Name+".pcapng")
	file, err := createAtomic(path)
	if err != nil {
		c.Close()
		return err
	}
	sink, err := newPcapSink(file.w, st.Info, "simulated tile "+t.Name, nil)
	if err != nil {
		file.abort()
		c.Close()
		return err
	}
	sc.wg.Add(1)
	go func() {
		defer sc.wg.Done()
		defer c.Close()
		res, perr := pumpCapture(ctx, st, 0, sink.packet)
		err := sink.end(res)
		if err == nil {
			err = file.commit()
		} else {
			file.abort()
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		sc.written += res.written
		sc.lost += res.lost
		if err == nil {
			err = perr
		}
		if err != nil {
			sc.failed = append(sc.failed, fmt.Sprintf("%s: %v", t.Name, err))
		}
	}()
	return nil
}

// stop ends every capture, waits for its file and says on stderr what
// was captured. It returns false if a capture failed. A nil
// *simCaptures (no --capture) does nothing; so does a second stop.
func (sc *simCaptures) stop() bool {
	if sc == nil {
		return true
	}
	sc.cancel()
	sc.wg.Wait()
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.dir == "" {
		return len(sc.failed) == 0
	}
	fmt.Fprintf(sc.stderr, "itcd sim: captures in %s: %d packets, %d lost\n", sc.dir, sc.written, sc.lost)
	for _, f := range sc.failed {
		fmt.Fprintf(sc.stderr, "itcd sim: capture %s\n", f)
	}
	sc.dir = "" // said once
	return len(sc.failed) == 0
}
