package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tube"
)

func init() {
	register("pipe", "move standard input and output through a tube to a neighbour (the netcat of the grid)", func(args []string, stdout, stderr io.Writer) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runPipe(ctx, args, pipeIO{in: os.Stdin, out: stdout, err: stderr,
			inTTY: isTerminal(os.Stdin), errTTY: isTerminal(stderr)})
	})
}

// Exit statuses of itcd pipe.
const (
	pipeOK     = 0 // every byte sent was delivered and the far stream ended
	pipeFailed = 1 // the tube was refused, failed or timed out
	pipeUsage  = 2
	pipeLocal  = 3 // reading standard input or writing standard output failed
)

// pipeIO is where itcd pipe reads and writes, and what they are.
type pipeIO struct {
	in     io.Reader
	out    io.Writer
	err    io.Writer
	inTTY  bool // standard input is a terminal: stop reading it when the far side ends
	errTTY bool // show progress on err
}

const pipeAbout = `Standard input goes through the tube, what comes out goes to standard
output, both at once. At the end of standard input the far side reads to
the end of the stream. A terminal on standard input is read until the
far side ends its stream, so "itcd pipe --listen 7 | zfs recv" ends by
itself when the sender is done.

  zfs send pool/fs@now | itcd pipe --to ET 7     # on one tile
  itcd pipe --listen 7 | zfs recv pool/fs         # on its east neighbour

--to also names a tile anywhere in the grid: its identity (or a unique
prefix of 4 or more hex digits, as ` + "`itcd route`" + ` lists them) or a route
of links from here such as ET,ET,SE. Its bytes then travel through the
tiles between, striped over up to three paths that share no link.

Exit status: 0 once every byte sent was delivered to the far program and
the far side's stream ended; 1 if the tube was refused, failed (the
neighbour disconnected, the far program aborted or exited early) or timed
out, with the reason on standard error; 2 for a usage error; 3 if standard
input or output failed (the tube is aborted). On a terminal, standard
error shows bytes each way, the rate and what was delivered.`

func runPipe(ctx context.Context, args []string, pio pipeIO) int {
	fs := flag.NewFlagSet("pipe", flag.ContinueOnError)
	fs.SetOutput(pio.err)
	usageFor(fs, "pipe [--run-dir DIR] [--message] [--timeout D] --to DIR|TILE PORT\n       itcd pipe [--run-dir DIR] [--message] [--timeout D] [--from DIR] --listen PORT", pipeAbout)
	runDir := fs.String("run-dir", tube.DefaultRunDir, "the daemon's run `dir`")
	to := fs.String("to", "", "open a tube to PORT on the neighbour over this link (NE ET SE SW WT NW), or on a tile further (`TILE`: identity, prefix or route such as ET,ET,SE)")
	listen := fs.Uint("listen", 0, "accept one tube opened to this `port` (1..65535)")
	from := fs.String("from", "", "with --listen, accept only over this link")
	message := fs.Bool("message", false, "a message tube, one message per line of input (both sides must say it)")
	timeout := fs.Duration("timeout", 0, "how long --to waits for the far accept (default 10s, at most 5m) or --listen for an open (default for ever)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return pipeOK
		}
		return pipeUsage
	}
	opt := tube.Options{RunDir: *runDir, Message: *message, Timeout: *timeout}
	var c *tube.Conn
	switch {
	case *to != "" && *listen == 0 && *from == "" && len(pos) == 1:
		d, tile, terr := tube.ParseTarget(*to)
		p, perr := strconv.ParseUint(pos[0], 10, 16)
		if terr != nil || perr != nil || p == 0 {
			fmt.Fprintf(pio.err, "itcd pipe: --to %s %s: want a link (NE ET SE SW WT NW), a tile (identity, prefix or route such as ET,ET,SE) and a port 1..65535\n", *to, pos[0])
			return pipeUsage
		}
		if tile == "" {
			c, err = tube.Dial(ctx, d, uint16(p), opt)
		} else {
			c, err = tube.DialTile(ctx, tile, uint16(p), opt)
		}
	case *to == "" && *listen > 0 && *listen <= 65535 && len(pos) == 0:
		if *from != "" {
			if opt.From, err = packet.ParseDir(*from); err != nil || !opt.From.IsLink() {
				fmt.Fprintf(pio.err, "itcd pipe: --from %s: want a link (NE ET SE SW WT NW)\n", *from)
				return pipeUsage
			}
		}
		c, err = acceptOne(ctx, uint16(*listen), opt)
	default:
		fs.Usage()
		return pipeUsage
	}
	if err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintf(pio.err, "itcd pipe: %v\n", err)
		return pipeFailed
	}
	defer c.Close()
	return pipeRun(ctx, c, pio)
}

// acceptOne accepts one tube; ctx ending stops the wait.
func acceptOne(ctx context.Context, port uint16, opt tube.Options) (*tube.Conn, error) {
	l, err := tube.Listen(port, opt)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	defer l.Close()
	c, err := l.AcceptTube()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("accept: %w", ctx.Err())
	}
	return c, err
}

// pipeResult is what one direction of the pipe ended with.
type pipeResult struct {
	local bool // the failure is standard input's or output's
	err   error
}

// pipeRun moves the bytes both ways and decides the exit status. Each
// direction is a goroutine that ends with the tube (a Read or Write
// fails once it is closed or aborted); the one reading standard input
// may stay blocked there when the tube ends first, as netcat's does.
func pipeRun(ctx context.Context, c *tube.Conn, pio pipeIO) int {
	up, down := make(chan pipeResult, 1), make(chan pipeResult, 1)
	go func() { up <- sendInput(c, pio.in) }()
	go func() { down <- receiveOutput(c, pio.out) }()
	var prog *progress
	if pio.errTTY {
		prog = startProgress(c, pio.err)
		defer prog.stop()
	}
	fail := func(r pipeResult, what string) int {
		if ctx.Err() != nil {
			c.Abort("itcd pipe on the far side was interrupted")
			fmt.Fprintf(pio.err, "itcd pipe: interrupted; tube aborted\n")
			return pipeFailed
		}
		if r.local {
			c.Abort("itcd pipe on the far side could not " + what)
			fmt.Fprintf(pio.err, "itcd pipe: %v; tube aborted\n", r.err)
			return pipeLocal
		}
		fmt.Fprintf(pio.err, "itcd pipe: %v\n", r.err)
		return pipeFailed
	}
	stopOnSignal := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stopOnSignal()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Once the far stream ended nothing reads the tube, and standard
	// input may give nothing for ever: WaitClosed watches the tube (its
	// failure, a signal) from then on. Buffered: it may outlive us.
	var closed chan error
	closedOK := false // closed answered: the tube closed cleanly
	upDone, downDone := false, false
	for !upDone || !downDone {
		select {
		case r := <-up:
			upDone = true
			if r.err != nil {
				return fail(r, "read its input")
			}
		case r := <-down:
			downDone = true
			if r.err != nil {
				return fail(r, "write its output")
			}
			if pio.inTTY && !upDone {
				// The far side is done and nobody is typing to a
				// script: finish this side too.
				c.CloseWrite()
				upDone = true
			}
			closed = make(chan error, 1)
			go func() { closed <- c.WaitClosed(wctx) }()
		case err := <-closed: // nil until down is done
			if err != nil {
				return fail(pipeResult{err: err}, "")
			}
			closed, closedOK = nil, true // closed cleanly, yet standard input is read
		}
	}
	if !closedOK {
		// Down is done, so closed is waiting for the close.
		if err := <-closed; err != nil {
			return fail(pipeResult{err: err}, "")
		}
	}
	if prog != nil {
		prog.stop()
		prog.final()
	}
	return pipeOK
}

// sendInput copies standard input into the tube, a line a message on a
// message tube, and half-closes the tube at its end.
func sendInput(c *tube.Conn, in io.Reader) pipeResult {
	var err error
	if c.IsMessage() {
		err = sendLines(c, in)
	} else {
		_, err = io.CopyBuffer(onlyWriter{c}, onlyReader{in}, make([]byte, tube.MaxMessage))
	}
	if err != nil {
		var le *localErr
		return pipeResult{local: errors.As(err, &le), err: err}
	}
	if err := c.CloseWrite(); err != nil {
		return pipeResult{err: err}
	}
	return pipeResult{}
}

// sendLines sends each line (its newline kept; a longer line than a
// message holds goes in pieces) as one message.
func sendLines(c *tube.Conn, in io.Reader) error {
	r := bufio.NewReaderSize(in, tube.MaxMessage)
	for {
		line, err := r.ReadSlice('\n')
		if len(line) > 0 {
			if _, werr := c.WriteMessage(line); werr != nil {
				return werr
			}
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
		case errors.Is(err, io.EOF):
			return nil
		default:
			return &localErr{fmt.Errorf("reading standard input: %w", err)}
		}
	}
}

// receiveOutput copies the tube to standard output until its end.
func receiveOutput(c *tube.Conn, out io.Writer) pipeResult {
	buf := make([]byte, tube.MaxMessage)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := out.Write(buf[:n]); werr != nil {
				return pipeResult{local: true, err: fmt.Errorf("writing standard output: %w", werr)}
			}
		}
		if errors.Is(err, io.EOF) {
			return pipeResult{}
		}
		if err != nil {
			return pipeResult{err: err}
		}
	}
}

// localErr marks a failure of standard input or output.
type localErr struct{ error }

func (e *localErr) Unwrap() error { return e.error }

// onlyWriter and onlyReader hide ReadFrom and WriteTo, so io.Copy goes
// through the buffer and the errors stay apart: a read error is
// standard input's, a write error the tube's.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) {
		err = &localErr{fmt.Errorf("reading standard input: %w", err)}
	}
	return n, err
}
