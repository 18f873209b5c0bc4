package tube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

// DefaultRunDir is where the daemon's sockets are on a tile.
const DefaultRunDir = "/run/itcd"

// SocketName is the tube service's socket in the run dir.
const SocketName = "tube.sock"

// Options set up a tube. The zero value is a stream tube through
// /run/itcd/tube.sock.
type Options struct {
	RunDir  string // the daemon's run dir; "" is DefaultRunDir
	Message bool   // a message tube (both sides must ask for one)
	// Timeout: for Dial, how long the open waits for the far accept (the
	// daemon's default, 10 s, when 0; at most MaxOpenTimeout; a context
	// deadline shortens it); for Accept, how long it waits for an open
	// (0: for ever).
	Timeout time.Duration
	From    packet.Dir // Listen: accept only tubes over this link; 0 (NT) = any
}

func (o Options) socket() string {
	d := o.RunDir
	if d == "" {
		d = DefaultRunDir
	}
	return filepath.Join(d, SocketName)
}

// Dial opens a tube to port on the live neighbour at dir and returns
// once a program there accepted it.
func Dial(ctx context.Context, dir packet.Dir, port uint16, opt Options) (*Conn, error) {
	if !dir.IsLink() {
		return nil, fmt.Errorf("tube open: %v is not a link: want one of NE ET SE SW WT NW", dir)
	}
	return dial(ctx, Request{Dir: dir, Port: port}, opt)
}

// DialTile opens a tube to port on a tile anywhere in the grid the
// routing service reaches, named by its identity (16 hex digits, or a
// unique prefix of 4 or more) or by a route of links from here such as
// "ET,ET,SE", and returns once a program there accepted it. The tube's
// packets travel by paths the tile chooses; it keeps its far end, not its
// path, when links come and go.
func DialTile(ctx context.Context, tile string, port uint16, opt Options) (*Conn, error) {
	if err := CheckTileName(tile); err != nil {
		return nil, fmt.Errorf("tube open: %w", err)
	}
	return dial(ctx, Request{To: tile, Port: port}, opt)
}

func dial(ctx context.Context, req Request, opt Options) (*Conn, error) {
	if req.Port == 0 {
		return nil, errors.New("tube open: port 0: want 1..65535")
	}
	t := min(opt.Timeout, MaxOpenTimeout)
	if dl, ok := ctx.Deadline(); ok {
		left := time.Until(dl)
		if left <= 0 {
			return nil, fmt.Errorf("tube open: %w", context.DeadlineExceeded)
		}
		if t == 0 || left < t {
			t = left
		}
	}
	req.Message, req.Acks, req.Timeout = opt.Message, true, t
	return setup(ctx, opt, "open", req, nil)
}

// setup connects to tube.sock, sends req and reads the reply; hold, if
// not nil, is given the socket first so that a Listener can close it.
func setup(ctx context.Context, opt Options, op string, req Request, hold func(*net.UnixConn) bool) (*Conn, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "unixpacket", opt.socket())
	if err != nil {
		return nil, fmt.Errorf("tube %s: %w (is itcd running, with tubes, and is that its run dir?)", op, err)
	}
	uc := nc.(*net.UnixConn)
	if hold != nil && !hold(uc) {
		uc.Close()
		return nil, net.ErrClosed
	}
	c, err := handshake(ctx, uc, op, req)
	if err != nil {
		uc.Close()
		return nil, err
	}
	return c, nil
}

func handshake(ctx context.Context, uc *net.UnixConn, op string, req Request) (*Conn, error) {
	stop := context.AfterFunc(ctx, func() { uc.SetDeadline(aLongTimeAgo) })
	defer stop()
	if _, err := uc.Write(req.AppendText(nil)); err != nil {
		return nil, fmt.Errorf("tube %s: %w", op, err)
	}
	buf := make([]byte, MaxRequest+1)
	n, err := uc.Read(buf)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("tube %s: %w", op, ctx.Err())
	}
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("tube %s: the daemon closed the connection without a reply: %w", op, err)
	}
	rep, err := ParseReply(op, buf[:n])
	if err != nil {
		return nil, err
	}
	if rep.Message != req.Message {
		return nil, fmt.Errorf("%w: asked for message=%v, got %q", ErrProtocol, req.Message, buf[:n])
	}
	if !stop() {
		return nil, fmt.Errorf("tube %s: %w", op, ctx.Err())
	}
	return newConn(uc, rep)
}

// Listener accepts tubes opened to one port of this tile. Accept calls
// take turns: the daemon allows one pending accept per port.
type Listener struct {
	port uint16
	opt  Options

	acceptMu sync.Mutex // one accept at a time

	mu      sync.Mutex // guards the two below
	closed  bool
	pending *net.UnixConn // the socket of the accept in progress
}

var _ net.Listener = (*Listener)(nil)

// Listen prepares to accept tubes opened to port on this tile. It checks
// that the daemon's socket is there; the port is claimed by each Accept.
func Listen(port uint16, opt Options) (*Listener, error) {
	if port == 0 {
		return nil, errors.New("tube listen: port 0: want 1..65535")
	}
	if opt.From != 0 && !opt.From.IsLink() {
		return nil, fmt.Errorf("tube listen: from %v is not a link: want one of NE ET SE SW WT NW", opt.From)
	}
	// Only looked at: a connection without a request would be noise in
	// the daemon's log. Accept reports a daemon that is not listening.
	if _, err := os.Stat(opt.socket()); err != nil {
		return nil, fmt.Errorf("tube listen: %w (is itcd running, with tubes, and is that its run dir?)", err)
	}
	return &Listener{port: port, opt: opt}, nil
}

// Accept waits for the next tube opened to the port (net.Listener).
func (l *Listener) Accept() (net.Conn, error) { return l.AcceptTube() }

// AcceptTube is Accept returning the *Conn.
func (l *Listener) AcceptTube() (*Conn, error) {
	l.acceptMu.Lock()
	defer l.acceptMu.Unlock()
	req := Request{Accept: true, Port: l.port, Message: l.opt.Message, Acks: true, From: l.opt.From, Timeout: l.opt.Timeout}
	c, err := setup(context.Background(), l.opt, "accept", req, func(uc *net.UnixConn) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		l.pending = uc
		return !l.closed
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pending = nil
	if l.closed {
		if c != nil {
			c.uc.Close()
		}
		return nil, &net.OpError{Op: "accept", Net: Network, Addr: l.Addr(), Err: net.ErrClosed}
	}
	return c, err
}

// Close stops accepting; an Accept in progress returns net.ErrClosed.
func (l *Listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	if l.pending != nil {
		l.pending.Close()
	}
	return nil
}

// Addr is the port listened on (and the link, with Options.From).
func (l *Listener) Addr() net.Addr { return Addr{Dir: l.opt.From, Port: l.port} }
