package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

func init() {
	register("sim", "run a simulated grid of tiles over UDP on this machine", runSim)
}

// simJSON is what --json prints at the end.
type simJSON struct {
	Grid     string     `json:"grid"`
	Dir      string     `json:"dir"`
	Procs    bool       `json:"procs"`
	Seed     int64      `json:"seed"`
	Rate     int        `json:"rate"`
	Duration float64    `json:"duration_s"`
	Source   *string    `json:"source"`
	Size     *int64     `json:"size"`
	Tiles    []simTile  `json:"tiles"`
	AllDone  *float64   `json:"all_complete_s"`
	Lower    *float64   `json:"lower_bound_s"`
	Multi    *float64   `json:"multipath_bound_s"`
	Ratio    *float64   `json:"ratio"`
	Ecc      int        `json:"source_eccentricity,omitempty"`
	Lambda   int        `json:"lambda,omitempty"`
	Links    []simLink  `json:"links"`
	Events   []simEvent `json:"events,omitempty"`
}

type simTile struct {
	Name       string            `json:"name"`
	X          int               `json:"x"`
	Y          int               `json:"y"`
	RunDir     string            `json:"run_dir"`
	StateDir   string            `json:"state_dir"`
	Running    bool              `json:"running"`
	Tile       string            `json:"tile,omitempty"`
	Neighbours map[string]string `json:"neighbours"`
	Complete   *float64          `json:"complete_s"`
}

type simLink struct {
	From       string  `json:"from"`
	Dir        string  `json:"dir"`
	To         string  `json:"to"`
	Rate       int     `json:"rate"`
	Packets    uint64  `json:"packets"`
	Bytes      uint64  `json:"bytes"`
	Drops      uint64  `json:"drops"`
	Lost       uint64  `json:"lost"`
	CutDropped uint64  `json:"cut_dropped"`
	InDropped  uint64  `json:"in_dropped"`
	OutFull    uint64  `json:"out_full"`
	Duplicated uint64  `json:"duplicated"`
	Corrupted  uint64  `json:"corrupted"`
	Busy       float64 `json:"busy"`
	FromDaemon bool    `json:"from_daemon,omitempty"`
}

type simEvent struct {
	At    float64 `json:"t_s"`
	Tile  string  `json:"tile"`
	Event string  `json:"event"`
	Dir   string  `json:"dir"`
	Peer  string  `json:"peer"`
}

func runSim(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "sim --grid WxH [flags]",
		"Runs a grid of tiles on this machine, each the real daemon (as `itcd run`), joined\n"+
			"by UDP links on 127.0.0.1 shaped like T2 links. Each tile has its own run dir and\n"+
			"state dir under --dir, so `itcd status --run-dir DIR/t-X-Y/run` works on it.\n"+
			"Tiles are named t-X-Y: column X, row Y from the top-left; odd rows sit half a\n"+
			"tile to the right. Runs until ^C or SIGTERM (or --duration).")
	grid := fs.String("grid", "4x4", "grid size `WxH`")
	profile, seed := tilegrid.DefaultConfig(0, 0).Profile, dev.DefaultUDPConfig().Seed
	shape := addShapeFlags(fs, profile, seed)
	dir := fs.String("dir", "", "grid `dir`, kept afterwards (default: a temporary one, removed)")
	procs := fs.Bool("procs", false, "run every tile as its own `itcd run` process")
	var trust multiFlag
	fs.Var(&trust, "trust", "public `KEY.pub` every tile trusts (repeatable)")
	push := fs.String("push", "", "signed `FILE` to push once every tile is live (give --trust its key)")
	at := fs.String("at", "t-0-0", "`TILE` to push at: t-X-Y or X,Y")
	untilComplete := fs.Bool("until-complete", false, "with --push: stop once every tile holds the file (exit 0), or at --timeout (exit 1)")
	timeout := fs.Duration("timeout", 10*time.Minute, "with --until-complete: give up after this long")
	asJSON := fs.Bool("json", false, "print one JSON report at the end instead of a live picture")
	report := fs.String("report", "", "draw the grid into `FILE.svg` at the end")
	duration := fs.Duration("duration", 0, "stop after this long (default: run until ^C)")
	logLevel := fs.String("log-level", "info", "tiles' log level (logs in DIR/t-X-Y/itcd.log)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "itcd sim: unexpected argument %q\n", pos[0])
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	geo, err := tilegrid.ParseGeometry(*grid)
	if err != nil {
		fmt.Fprintf(stderr, "itcd sim: %v\n", err)
		return 2
	}
	var pf *pushFile
	if *push == "" && (set["at"] || *untilComplete || set["timeout"]) {
		fmt.Fprintln(stderr, "itcd sim: --at, --until-complete and --timeout go with --push FILE")
		return 2
	}
	if *push != "" {
		if pf, err = readPushFile(*push); err != nil {
			fmt.Fprintf(stderr, "itcd sim: --push %s: %v\n", *push, err)
			return 2
		}
		if pf.src, err = tilegrid.ParseCoord(*at); err != nil || !geo.Contains(pf.src) {
			fmt.Fprintf(stderr, "itcd sim: --at %q: not a tile of the %v grid (t-0-0 is the top-left)\n", *at, geo)
			return 2
		}
		if len(trust) == 0 {
			fmt.Fprintln(stderr, "itcd sim: --push needs --trust KEY.pub: the tiles must trust the file's signer")
			return 2
		}
	}
	// Each tile's seed is derived from this one.
	if err := shape.apply(&profile, &seed); err != nil {
		fmt.Fprintf(stderr, "itcd sim: %v\n", err)
		return 2
	}
	rate := profile.Rate
	for _, k := range trust {
		if fi, err := os.Stat(k); err != nil || !fi.Mode().IsRegular() {
			fmt.Fprintf(stderr, "itcd sim: --trust %s: not a readable key file\n", k)
			return 2
		}
	}
	if *duration < 0 {
		fmt.Fprintln(stderr, "itcd sim: --duration must not be negative")
		return 2
	}

	live := !*asJSON && isTerminal(stdout)
	start := time.Now()
	var evMu sync.Mutex
	var recent []string // for the live picture
	cfg := tilegrid.Config{
		Geometry: geo,
		Dir:      *dir,
		Profile:  profile,
		Seed:     seed,
		Procs:    *procs,
		Trust:    trust,
		LogLevel: *logLevel,
		Progress: pf.progressHook(),
		OnEvent: func(e tilegrid.Event) {
			line := fmt.Sprintf("%7.2fs %s", e.At.Sub(start).Seconds(), e)
			switch {
			case live:
				evMu.Lock()
				recent = append(recent, line)
				if len(recent) > 6 {
					recent = recent[len(recent)-6:]
				}
				evMu.Unlock()
			case !*asJSON:
				evMu.Lock()
				fmt.Fprintln(stdout, line)
				evMu.Unlock()
			}
		},
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if !*asJSON {
		fmt.Fprintf(stderr, "itcd sim: starting a %v grid (%s links%s) in %s\n", geo, rateName(rate), map[bool]string{true: ", one process a tile", false: ""}[*procs], dirName(*dir))
	}
	g, err := tilegrid.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "itcd sim: %v\n", err)
		return 1
	}
	closed := false
	closeGrid := func() error {
		if closed {
			return nil
		}
		closed = true
		return g.Close()
	}
	defer closeGrid()
	if !*asJSON {
		fmt.Fprintf(stderr, "itcd sim: %d tiles running in %s; try: itcd status --run-dir %s\n", geo.Len(), g.Dir(), g.Tiles()[0].RunDir)
	}
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	status := 0
	if pf != nil {
		if err := g.WaitAllLive(time.Minute); err != nil {
			fmt.Fprintf(stderr, "itcd sim: the grid did not come up: %v\n", err)
			return 1
		}
		if err := pf.pushAt(g); err != nil {
			fmt.Fprintf(stderr, "itcd sim: push at %s refused: %v\n", pf.src.Name(), err)
			return 1
		}
		if !*asJSON {
			fmt.Fprintf(stderr, "itcd sim: pushed %s (%d bytes) at %s\n", pf.name, pf.size, pf.src.Name())
		}
		if *untilComplete {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
	}

	draw := func() {
		var b bytes.Buffer
		b.WriteString("\x1b[H\x1b[2J")
		fmt.Fprintf(&b, "itcd sim %v  %s links  %.0fs  dir %s  (^C stops)\n", geo, rateName(rate), time.Since(start).Seconds(), g.Dir())
		if pf != nil {
			fmt.Fprintf(&b, "pushed %s (%d bytes) at %s: %s\n", pf.name, pf.size, pf.src.Name(), pf.summary(g.Snapshot()))
		}
		b.WriteString("links: \\ / - live   ~ link up, no itcd   x down\n\n")
		tilegrid.WriteText(&b, geo, g.Snapshot(), true)
		evMu.Lock()
		b.WriteString("\n")
		for _, l := range recent {
			b.WriteString(l + "\n")
		}
		evMu.Unlock()
		stdout.Write(b.Bytes())
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		if live {
			draw()
		}
		if pf != nil && *untilComplete && pf.allComplete(g.Snapshot()) {
			break
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	if live {
		draw()
	}
	elapsed := time.Since(start)
	snap := g.Snapshot()
	links := g.LinkReports(elapsed)
	evs, _ := g.Events(0)
	tiles := g.Tiles()
	gridDir := g.Dir()
	var completeS []float64
	if pf != nil {
		completeS = pf.completeTimes(snap)
		if *untilComplete && !pf.allComplete(snap) {
			fmt.Fprintf(stderr, "itcd sim: not every tile holds %s after %v: %s\n", pf.name, *timeout, pf.summary(snap))
			status = 1
		} else if !*asJSON {
			fmt.Fprintf(stderr, "itcd sim: %s\n", pf.summary(snap))
		}
		if !*asJSON {
			var r simJSON
			pf.fillJSON(&r, geo, rate, completeS)
			fmt.Fprintln(stdout, boundsSummary(&r))
		}
	}
	if err := closeGrid(); err != nil {
		fmt.Fprintf(stderr, "itcd sim: stopping the grid: %v\n", err)
		status = 1
	}

	if *report != "" {
		var b bytes.Buffer
		tilegrid.WriteSVG(&b, tilegrid.SVGReport{
			Geometry: geo,
			Title:    fmt.Sprintf("itcd sim %v, %s links, %.0f s", geo, rateName(rate), elapsed.Seconds()),
			Tiles:    snap,
			Complete: completeS,
			Links:    links,
		})
		if err := os.WriteFile(*report, b.Bytes(), 0o644); err != nil {
			fmt.Fprintf(stderr, "itcd sim: report: %v\n", err)
			status = 1
		}
	}
	if *asJSON {
		out := simJSON{Grid: geo.String(), Dir: gridDir, Procs: *procs, Seed: seed, Rate: rate, Duration: elapsed.Seconds()}
		for i, s := range snap {
			t := simTile{Name: s.Name, X: s.X, Y: s.Y, RunDir: tiles[i].RunDir, StateDir: tiles[i].StateDir,
				Running: s.Running, Neighbours: map[string]string{}}
			if s.Status != nil {
				t.Tile = s.Status.Tile.String()
			}
			for _, l := range geo.Links(s.Coord) {
				st, _ := s.Neighbour(geo, l.Dir)
				if s.Status == nil {
					t.Neighbours[l.Dir.String()] = "unknown"
				} else {
					t.Neighbours[l.Dir.String()] = st.String()
				}
			}
			if completeS != nil && completeS[i] >= 0 {
				c := round3(completeS[i])
				t.Complete = &c
			}
			out.Tiles = append(out.Tiles, t)
		}
		if pf != nil {
			pf.fillJSON(&out, geo, rate, completeS)
		}
		for _, l := range links {
			out.Links = append(out.Links, simLink{
				From: l.From.Name(), Dir: l.Dir.String(), To: l.To.Name(), Rate: l.Profile.Rate,
				Packets: l.Packets, Bytes: l.Bytes, Drops: l.Drops, Lost: l.Lost, CutDropped: l.CutDropped,
				InDropped: l.InDropped, OutFull: l.OutFull, Duplicated: l.Duplicated, Corrupted: l.Corrupted,
				Busy: math.Round(l.Busy*1e4) / 1e4, FromDaemon: l.FromDaemon,
			})
		}
		sort.SliceStable(evs, func(i, j int) bool { return evs[i].At.Before(evs[j].At) })
		for _, e := range evs {
			n, _ := geo.Neighbour(e.Tile, e.Dir)
			out.Events = append(out.Events, simEvent{At: round3(e.At.Sub(start).Seconds()), Tile: e.Tile.Name(), Event: e.Kind.String(), Dir: e.Dir.String(), Peer: n.Name()})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return 1
		}
	}
	return status
}

func round3(f float64) float64 { return math.Round(f*1000) / 1000 }

func rateName(rate int) string {
	if rate <= 0 {
		return "unlimited"
	}
	if rate%1024 == 0 {
		return fmt.Sprintf("%d KB/s", rate/1024)
	}
	return fmt.Sprintf("%d B/s", rate)
}

func dirName(d string) string {
	if d == "" {
		return "a temporary dir"
	}
	return d
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
