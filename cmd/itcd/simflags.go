package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/t2tiles/itcd/internal/clock"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

// simOptions is what `itcd sim`'s flags ask for, checked.
type simOptions struct {
	geo      tilegrid.Geometry
	dir      string // "" for a temporary one
	procs    bool
	clock    *clock.Clock    // the grid's time: nil is the machine's (--slowdown)
	profile  dev.LinkProfile // of every link; its Rate is the figures' rate
	seed     int64           // each tile's seed is derived from it
	trust    []string
	logLevel string
	mfzid    mfzidFlag // tiles' physics identities

	push          *pushFile // nil without --push; push.src is --at
	untilComplete bool
	timeout       time.Duration // with untilComplete

	duration time.Duration // 0: until a signal
	asJSON   bool
	report   string // SVG file, "" for none
	capture  string // dir for every tile's pcapng capture, "" for none
}

// parseSim reads and checks the flags of `itcd sim`. Without options it
// returns the exit status, the fault already said on stderr (0 for -h).
func parseSim(args []string, stderr io.Writer) (*simOptions, int) {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "sim --grid WxH [flags]",
		"Runs a grid of tiles on this machine, each the real daemon (as `itcd run`), joined\n"+
			"by UDP links on 127.0.0.1 shaped like T2 links. Each tile has its own run dir and\n"+
			"state dir under --dir, so `itcd status --run-dir DIR/t-X-Y/run` works on it.\n"+
			"Tiles are named t-X-Y: column X, row Y from the top-left; odd rows sit half a\n"+
			"tile to the right. Runs until ^C or SIGTERM (or --duration).")
	o := &simOptions{profile: tilegrid.DefaultConfig(0, 0).Profile, seed: dev.DefaultUDPConfig().Seed}
	grid := fs.String("grid", "4x4", "grid size `WxH`")
	shape := addShapeFlags(fs, o.profile, o.seed)
	fs.StringVar(&o.dir, "dir", "", "grid `dir`, kept afterwards (default: a temporary one, removed)")
	fs.BoolVar(&o.procs, "procs", false, "run every tile as its own `itcd run` process")
	slowdown := fs.Float64("slowdown", 1, "run the grid's time `K` times slower than this machine's (1 to 256): a grid too\n"+
		"big for this machine's CPU then keeps its links' rates and liveness in its own time, in which\n"+
		"every figure is reported. In-process tiles only")
	var trust multiFlag
	fs.Var(&trust, "trust", "public `KEY.pub` every tile trusts (repeatable)")
	fs.Var(&o.mfzid, "mfzid", mfzidHelp)
	push := fs.String("push", "", "signed `FILE` to push once every tile is live (give --trust its key)")
	at := fs.String("at", "t-0-0", "`TILE` to push at: t-X-Y or X,Y")
	fs.BoolVar(&o.untilComplete, "until-complete", false, "with --push: stop once every tile holds the file (exit 0), or at --timeout (exit 1)")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Minute, "with --until-complete: give up after this long (of the grid's time, with --slowdown)")
	fs.BoolVar(&o.asJSON, "json", false, "print one JSON report at the end instead of a live picture")
	fs.StringVar(&o.report, "report", "", "draw the grid into `FILE.svg` at the end")
	fs.StringVar(&o.capture, "capture", "", "capture every tile's packets into `DIR`/t-X-Y.pcapng (see itcd capture)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long, counted from the push with --push (default: run until ^C); of the grid's time, with --slowdown")
	fs.StringVar(&o.logLevel, "log-level", "info", "tiles' log level (logs in DIR/t-X-Y/itcd.log)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "itcd sim: unexpected argument %q\n", pos[0])
		return nil, 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	if o.geo, err = tilegrid.ParseGeometry(*grid); err != nil {
		fmt.Fprintf(stderr, "itcd sim: %v\n", err)
		return nil, 2
	}
	if err := o.mfzid.check(o.geo); err != nil {
		fmt.Fprintf(stderr, "itcd sim: %v\n", err)
		return nil, 2
	}
	if *push == "" && (set["at"] || o.untilComplete || set["timeout"]) {
		fmt.Fprintln(stderr, "itcd sim: --at, --until-complete and --timeout go with --push FILE")
		return nil, 2
	}
	if *push != "" {
		if o.push, err = readPushFile(*push); err != nil {
			fmt.Fprintf(stderr, "itcd sim: --push %s: %v\n", *push, err)
			return nil, 2
		}
		if o.push.src, err = tilegrid.ParseCoord(*at); err != nil || !o.geo.Contains(o.push.src) {
			fmt.Fprintf(stderr, "itcd sim: --at %q: not a tile of the %v grid (t-0-0 is the top-left)\n", *at, o.geo)
			return nil, 2
		}
		if len(trust) == 0 {
			fmt.Fprintln(stderr, "itcd sim: --push needs --trust KEY.pub: the tiles must trust the file's signer")
			return nil, 2
		}
	}
	if o.clock, err = clock.New(*slowdown); err != nil {
		fmt.Fprintf(stderr, "itcd sim: --slowdown: %v\n", err)
		return nil, 2
	}
	if o.clock != nil && o.procs {
		fmt.Fprintln(stderr, "itcd sim: --slowdown needs in-process tiles: --procs tiles keep this machine's time")
		return nil, 2
	}
	if o.push != nil {
		o.push.clk = o.clock
	}
	if err := shape.apply(&o.profile, &o.seed); err != nil {
		fmt.Fprintf(stderr, "itcd sim: %v\n", err)
		return nil, 2
	}
	for _, k := range trust {
		if fi, err := os.Stat(k); err != nil || !fi.Mode().IsRegular() {
			fmt.Fprintf(stderr, "itcd sim: --trust %s: not a readable key file\n", k)
			return nil, 2
		}
	}
	o.trust = trust
	if o.duration < 0 {
		fmt.Fprintln(stderr, "itcd sim: --duration must not be negative")
		return nil, 2
	}
	return o, 0
}
