package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/t2tiles/itcd/services/mfz/dist"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// simRun is one run of `itcd sim`: its options, where it writes, and what
// it shows while the grid runs.
type simRun struct {
	o              *simOptions
	stdout, stderr io.Writer
	start          time.Time
	live           bool // redraw the grid on stdout: a terminal, no --json
	events         *simEvents
	caps           *simCaptures // nil without --capture
}

// buildSim prepares a run of the grid the options describe: the grid's
// configuration, with the push's progress and the events wired to what
// the run shows.
func buildSim(o *simOptions, stdout, stderr io.Writer) (*simRun, tilegrid.Config) {
	r := &simRun{o: o, stdout: stdout, stderr: stderr, start: o.clock.Now(), live: !o.asJSON && isTerminal(stdout)}
	r.events = &simEvents{start: r.start, live: r.live, quiet: o.asJSON, w: stdout}
	cfg := tilegrid.Config{
		Geometry:        o.geo,
		Dir:             o.dir,
		Profile:         o.profile,
		Seed:            o.seed,
		Procs:           o.procs,
		Clock:           o.clock,
		Trust:           o.trust,
		LogLevel:        o.logLevel,
		Progress:        o.push.progressHook(),
		ProgressSection: dist.SectionName,
		OnEvent:         r.events.add,
		MFZID:           o.mfzid.hook(),
	}
	return r, cfg
}

// run starts the grid, pushes the file (if any) and waits for the end: ctx
// done (a signal), --duration, or with --until-complete every tile
// holding the file or --timeout. It returns the grid still running, for
// report; if the grid cannot start or take the push, it closes what there
// is and returns the exit status instead.
func (r *simRun) run(ctx context.Context, cfg tilegrid.Config) (*tilegrid.Grid, int) {
	o := r.o
	if !o.asJSON {
		fmt.Fprintf(r.stderr, "itcd sim: starting a %v grid (%s links%s) in %s\n", o.geo, rateName(o.profile.Rate), map[bool]string{true: ", one process a tile", false: ""}[o.procs], dirName(o.dir))
	}
	g, err := tilegrid.New(cfg)
	if err != nil {
		fmt.Fprintf(r.stderr, "itcd sim: %v\n", err)
		return nil, 1
	}
	if !o.asJSON {
		fmt.Fprintf(r.stderr, "itcd sim: %d tiles running in %s; try: itcd status --run-dir %s\n", o.geo.Len(), g.Dir(), g.Tiles()[0].RunDir)
	}
	if o.capture != "" {
		if r.caps, err = startSimCaptures(g, o.capture, r.stderr); err != nil {
			fmt.Fprintf(r.stderr, "itcd sim: %v\n", err)
			g.Close()
			return nil, 1
		}
	}
	if pf := o.push; pf != nil {
		// ^C while the grid comes up or settles ends the run there.
		if err := g.WaitAllLiveContext(ctx, time.Minute); errors.Is(err, context.Canceled) {
			fmt.Fprintf(r.stderr, "itcd sim: stopped before the push: %v\n", err)
			g.Close()
			return nil, 1
		} else if err != nil {
			fmt.Fprintf(r.stderr, "itcd sim: the grid did not come up: %v\n", err)
			g.Close()
			return nil, 1
		}
		// The push is measured on a settled grid: the routing service's
		// flood of a grid's start (every tile's links, to every tile) is
		// over, as it is long before anyone pushes on a real grid.
		if err := g.WaitRoutesSettledContext(ctx, time.Minute, time.Second); errors.Is(err, context.Canceled) {
			fmt.Fprintf(r.stderr, "itcd sim: stopped before the push: %v\n", err)
			g.Close()
			return nil, 1
		} else if err != nil {
			fmt.Fprintf(r.stderr, "itcd sim: pushing before the routes settled: %v\n", err)
		}
		if err := pf.pushAt(g); err != nil {
			fmt.Fprintf(r.stderr, "itcd sim: push at %s refused: %v\n", pf.src.Name(), err)
			g.Close()
			return nil, 1
		}
		if !o.asJSON {
			fmt.Fprintf(r.stderr, "itcd sim: pushed %s (%d bytes) at %s\n", pf.name, pf.size, pf.src.Name())
		}
		if o.untilComplete {
			var cancel context.CancelFunc
			ctx, cancel = o.clock.WithTimeout(ctx, o.timeout)
			defer cancel()
		}
	}
	// --duration counts from the push, if any: waiting for a grid of
	// 400 tiles to settle can take two minutes, and is not the user's
	// to lose.
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = o.clock.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	r.wait(ctx, g)
	return g, 0
}

// wait returns when ctx is done or, with --until-complete, every tile
// holds the pushed file; on a terminal it redraws the grid meanwhile.
func (r *simRun) wait(ctx context.Context, g *tilegrid.Grid) {
	pf := r.o.push
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		if r.live {
			r.draw(g)
		}
		if pf != nil && r.o.untilComplete && pf.pollComplete(g) {
			break
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	if r.live {
		r.draw(g)
	}
}
