package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
)

func init() {
	register("capture", "capture a running daemon's packets into a pcapng file for Wireshark", cmdCapture)
}

// captureOptions are the checked flags of `itcd capture`.
type captureOptions struct {
	runDir   string
	out      string // file, or "-" for stdout
	count    uint64 // 0: no limit
	duration time.Duration
	args     control.CaptureArgs
}

func parseCapture(args []string, stdout, stderr io.Writer) (*captureOptions, int) {
	fs := flag.NewFlagSet("capture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	usageFor(fs, "capture [--run-dir DIR] [--count N] [--duration D] [--dir ET,...] [--kind mfm|service|local] -w FILE.pcapng",
		"Copies every packet the daemon on DIR/control.sock reads from and writes to its device,\n"+
			"and every Tile Event it gives its clients, into FILE.pcapng until ^C, SIGTERM, --count\n"+
			"or --duration. -w - streams to stdout: itcd capture -w - | wireshark -k -i -\n"+
			"Wireshark shows the packets with dist/wireshark/itc.lua in its plugins folder.\n"+
			"A capture that cannot keep up loses its own packets, never the daemon's traffic,\n"+
			"and says how many in the file and on stderr.")
	o := &captureOptions{}
	fs.StringVar(&o.runDir, "run-dir", control.DefaultRunDir, "the daemon's run `dir`")
	fs.StringVar(&o.out, "w", "", "write to `FILE.pcapng` (- for stdout)")
	fs.Uint64Var(&o.count, "count", 0, "stop after `N` packets (0: no limit)")
	fs.DurationVar(&o.duration, "duration", 0, "stop after this long (0: until ^C)")
	var dirs, kinds multiFlag
	fs.Var(&dirs, "dir", "capture only the links `ET,WT,...` (NE ET SE SW WT NW; repeatable)")
	fs.Var(&kinds, "kind", "capture only `mfm|service|local` packets (comma-separated; local: local, non-standard, TEPs)")
	if pos, err := parseInterleaved(fs, args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "itcd capture: unexpected argument %q (the file goes after -w)\n", pos[0])
		return nil, 2
	}
	bad := func(format string, a ...any) (*captureOptions, int) {
		fmt.Fprintf(stderr, "itcd capture: "+format+"\n", a...)
		return nil, 2
	}
	if o.out == "" {
		return bad("-w FILE.pcapng is required (-w - writes to stdout)")
	}
	if o.out == "-" && isTerminal(stdout) {
		return bad("-w - writes binary pcapng to stdout, which is a terminal: pipe it (itcd capture -w - | wireshark -k -i -) or give -w FILE.pcapng")
	}
	if o.duration < 0 {
		return bad("--duration must not be negative")
	}
	for _, s := range splitList(dirs) {
		d, err := packet.ParseDir(s)
		if err != nil || !d.IsLink() {
			return bad("--dir %q: not a link; want NE ET SE SW WT NW, comma-separated", s)
		}
		if !slices.Contains(o.args.Links, d) {
			o.args.Links = append(o.args.Links, d)
		}
	}
	for _, k := range splitList(kinds) {
		k = strings.ToLower(k)
		if !slices.Contains(control.CaptureKinds, k) {
			return bad("--kind %q: want mfm, service or local, comma-separated", k)
		}
		if !slices.Contains(o.args.Kinds, k) {
			o.args.Kinds = append(o.args.Kinds, k)
		}
	}
	return o, 0
}

// splitList splits repeated, comma-separated flag values.
func splitList(vals []string) []string {
	var out []string
	for _, v := range vals {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

func cmdCapture(args []string, stdout, stderr io.Writer) int {
	o, code := parseCapture(args, stdout, stderr)
	if o == nil {
		return code
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	return capturePackets(ctx, o, stdout, stderr)
}

// capturePackets runs a checked capture until ctx ends or its limits.
func capturePackets(ctx context.Context, o *captureOptions, stdout, stderr io.Writer) int {
	if o.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.duration)
		defer cancel()
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "itcd capture: %v\n", err)
		return 1
	}
	c, err := control.Dial(o.runDir)
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	c.Timeout = statusTimeout // the answer to the request; the stream has none
	st, err := c.Capture(o.args)
	if err != nil {
		return fail(err)
	}
	c.Timeout = 0
	var (
		bw   *bufio.Writer
		file *atomicFile
	)
	name := o.out
	if o.out == "-" {
		bw, name = bufio.NewWriterSize(stdout, 64<<10), "stdout"
	} else {
		if file, err = createAtomic(o.out); err != nil {
			return fail(fmt.Errorf("-w %s: %w", o.out, err))
		}
		defer file.abort() // after commit: nothing left to remove
		bw = file.w
	}
	var flush func() error
	if file == nil {
		flush = bw.Flush
	}
	sink, err := newPcapSink(bw, st.Info, "run dir "+o.runDir, flush)
	if err == nil && flush != nil {
		err = flush()
	}
	if err != nil {
		return fail(fmt.Errorf("write %s: %w", name, err))
	}
	fmt.Fprintf(stderr, "itcd capture: tile %s (%s device) into %s; ^C stops\n", st.Info.Tile, st.Info.Device, name)
	res, perr := pumpCapture(ctx, st, o.count, sink.packet)
	if err := sink.end(res); err == nil {
		err = bw.Flush()
	}
	if err == nil && file != nil {
		err = file.commit()
	}
	fmt.Fprintf(stderr, "itcd capture: %s\n", res.lostNote())
	switch {
	case err != nil:
		return fail(fmt.Errorf("write %s: %w", name, err))
	case perr != nil:
		return fail(fmt.Errorf("the stream from the daemon broke off (%w); %s holds what came before", perr, name))
	}
	return 0
}
