package tubes

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/packet"
	tubeclient "github.com/t2tiles/itcd/tube"
)

// Frame types on tube.sock (notes/protocol.md, "tube.sock").
const (
	frData      = 'd'
	frConsumed  = 'a'
	frFinish    = 'f'
	frAbort     = 'x'
	frEnd       = 'e'
	frReceived  = 'r'
	frDelivered = 'v'
	frClosed    = 'c'
)

// maxFrame is the largest frame a program may send: a type byte and a
// whole message.
const maxFrame = 1 + MaxMessage

// drainFor is how long a connection whose tube ended still takes (and
// drops) what its program sends, so that closing it does not reset it.
const drainFor = 5 * time.Second

// maxRequest bounds the request line.
const maxRequest = tubeclient.MaxRequest

// request is a program's first frame, parsed.
type request struct {
	accept  bool
	dir     packet.Dir // open: the link; accept: only from it (0: any)
	to      string     // open: a tile beyond the neighbours (identity, prefix or route)
	port    uint16
	kind    byte
	acks    bool
	timeout time.Duration // 0: the default (open) or none (accept)
}

// parseRequest reads the program's first frame with the client library's
// parser (package tube), so the two cannot drift.
func parseRequest(line string) (request, error) {
	q, err := tubeclient.ParseRequest([]byte(line))
	if err != nil {
		return request{}, err
	}
	r := request{accept: q.Accept, dir: q.Dir, to: q.To, port: q.Port, kind: KindStream, acks: q.Acks, timeout: q.Timeout}
	if q.Accept {
		r.dir = q.From
	}
	if q.Message {
		r.kind = KindMessage
	}
	return r, nil
}

// client is one connection on tube.sock. Its reader is ServeConn's
// goroutine, its writer one ServeConn starts; the service's goroutine
// owns the tube and talks to them through credit and out.
type client struct {
	conn   *net.UnixConn
	credit chan struct{} // the reader may hand over the next data frame
	out    outbox
	tube   *tube // the service's goroutine only
}

// outbox is what waits to be written to the program. The service's
// goroutine adds, the writer takes; a data frame is added only within
// the tube's window, so the outbox is bounded by it.
type outbox struct {
	mu        sync.Mutex
	frames    [][]byte
	received  uint64
	delivered uint64
	confirm   bool   // received or delivered changed
	final     []byte // 'c', 'x' or "error": written last, then the connection closes; empty: close only
	message   bool   // a message tube: 'r' frames too
	wake      chan struct{}
}

func (o *outbox) push(f []byte) {
	o.mu.Lock()
	o.frames = append(o.frames, f)
	o.mu.Unlock()
	notify(o.wake)
}

func (o *outbox) setConfirm(received, delivered uint64) {
	o.mu.Lock()
	o.received, o.delivered, o.confirm = received, delivered, true
	o.mu.Unlock()
	notify(o.wake)
}

func (o *outbox) finish(f []byte) {
	o.mu.Lock()
	if o.final == nil {
		o.final = f
	}
	o.mu.Unlock()
	notify(o.wake)
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// cevent is something a client's goroutines tell the service.
type cevent struct {
	c       *client
	kind    byte    // 0: the request; a frame type; 'g': the connection is gone; 'w': written
	req     request // kind 0
	data    []byte  // 'd': valid until the client gets credit
	n       uint64  // 'a': the count; 'w': data frames written
	bytes   uint64  // 'w': bytes in them
	reason  string  // 'x'
	problem string  // the request or a frame was bad: the tube ends with it
}

// ServeConn serves one program on tube.sock until it or the tube ends.
// The writer outlives the reader: a refusal or the last frames of a tube
// are written after the program stopped sending.
func (s *Service) ServeConn(ctx context.Context, conn *net.UnixConn) {
	c := &client{conn: conn, credit: make(chan struct{}, 1)}
	conn.SetWriteBuffer(socketBuffer) // what the program has not read is bounded (socketSlack)
	c.out.wake = make(chan struct{}, 1)
	done := make(chan struct{})
	go func() { defer close(done); s.writeLoop(ctx, c) }()
	s.readLoop(ctx, c)
	<-done
}

// tell hands an event to the service's goroutine, unless the service or
// the connection's context has stopped.
func (s *Service) tell(ctx context.Context, ev cevent) bool {
	select {
	case s.events <- ev:
		return true
	case <-ctx.Done():
		return false
	case <-s.stopped:
		return false
	}
}

// readLoop reads the request and then the program's frames. A data
// frame waits for credit, so a program that writes faster than the tube
// moves blocks in send().
func (s *Service) readLoop(ctx context.Context, c *client) {
	defer s.tell(ctx, cevent{c: c, kind: 'g'})
	conn := c.conn
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, size, err := readFrame(conn, maxRequest)
	if err != nil || size == 0 {
		return
	}
	conn.SetReadDeadline(time.Time{})
	ev := cevent{c: c}
	if f == nil {
		ev.problem = fmt.Sprintf("request of %d bytes: at most %d", size, maxRequest)
	} else if ev.req, err = parseRequest(string(f)); err != nil {
		ev.problem = err.Error()
	}
	if !s.tell(ctx, ev) || ev.problem != "" {
		return
	}
	for resets := 0; ; {
		f, size, err := readFrame(conn, maxFrame)
		if errors.Is(err, syscall.ECONNRESET) && resets < 2 {
			// A program that closes with our frames unread resets the
			// connection, and Linux says so before the frames it sent
			// last: read on to them (and to the end).
			resets++
			continue
		}
		if err != nil || size == 0 {
			return
		}
		ev := cevent{c: c}
		switch {
		case f == nil:
			ev.kind, ev.problem = frAbort, fmt.Sprintf("a frame of %d bytes: a message is at most %d bytes (64 KiB)", size, MaxMessage)
		case f[0] == frData:
			ev.kind, ev.data = frData, f[1:]
		case f[0] == frConsumed && len(f) == 9:
			ev.kind, ev.n = frConsumed, binary.BigEndian.Uint64(f[1:9])
		case f[0] == frFinish && len(f) == 1:
			ev.kind = frFinish
		case f[0] == frAbort:
			ev.kind, ev.reason = frAbort, printable(f[1:min(len(f), 1+maxReason)])
		default:
			ev.kind, ev.problem = frAbort, fmt.Sprintf("unknown frame (type %q, %d bytes)", f[0], len(f))
		}
		if !s.tell(ctx, ev) || ev.problem != "" {
			return
		}
		if ev.kind == frData {
			select {
			case <-c.credit:
			case <-ctx.Done():
				return
			}
		}
	}
}

// readFrame reads one frame into a slice of its own size, so a connection
// holds no buffer of the largest frame while it waits: it asks the frame's
// size first (MSG_PEEK|MSG_TRUNC, which gives the real length on a
// SOCK_SEQPACKET socket since Linux 3.4). A frame over max is read and
// dropped: f is nil and size says how big it was. Size 0 is the end of
// the connection.
func readFrame(conn *net.UnixConn, max int) (f []byte, size int, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, 0, err
	}
	var peek [1]byte
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		size, _, rerr = unix.Recvfrom(int(fd), peek[:], unix.MSG_PEEK|unix.MSG_TRUNC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil || size == 0 {
		return nil, 0, err
	}
	buf := make([]byte, min(size, max+1))
	n, _, flags, _, err := conn.ReadMsgUnix(buf, nil)
	if err != nil {
		return nil, 0, err
	}
	if size > max || n > max || flags&unix.MSG_TRUNC != 0 {
		return nil, size, nil
	}
	return buf[:n], n, nil
}

// writeLoop writes what the service puts in the client's outbox, in
// order, until the final frame, after which it closes the connection.
func (s *Service) writeLoop(ctx context.Context, c *client) {
	// The writer never closes the connection: a write fails when the
	// program closed its end, and the frames it sent before are still to
	// be read (the reader reads to the end); ServeConn's return closes it.
	// A write blocked on a program that reads nothing ends when itcd
	// stops. The hook goes with the connection: ctx is the daemon's, and
	// a goroutine waiting on it would stay for every connection ever made.
	stop := context.AfterFunc(ctx, func() { c.conn.SetWriteDeadline(time.Now()) })
	defer stop()
	var frame []byte
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.out.wake:
		}
		o := &c.out
		o.mu.Lock()
		frames, confirm, final := o.frames, o.confirm, o.final
		recv, deliv, message := o.received, o.delivered, o.message
		o.frames, o.confirm = nil, false
		o.mu.Unlock()
		var w cevent
		for _, f := range frames {
			if _, err := c.conn.Write(f); err != nil {
				return
			}
			if f[0] == frData {
				w.n++
				w.bytes += uint64(len(f) - 1)
			}
		}
		if w.n > 0 {
			w.c, w.kind = c, 'w'
			s.tell(ctx, w)
		}
		if confirm {
			if message {
				frame = binary.BigEndian.AppendUint64(append(frame[:0], frReceived), recv)
				if _, err := c.conn.Write(frame); err != nil {
					return
				}
			}
			frame = binary.BigEndian.AppendUint64(append(frame[:0], frDelivered), deliv)
			if _, err := c.conn.Write(frame); err != nil {
				return
			}
		}
		if final != nil && len(frames) == 0 {
			if len(final) > 0 {
				c.conn.Write(final)
			}
			// Closing with the program's frames unread would reset the
			// connection, and Linux reports a reset before the frames
			// still queued for the program: it could lose the final
			// frame. So end our side, and let the reader take and drop
			// what the program still sends until it closes (or for
			// drainFor); ServeConn's return closes the connection.
			c.conn.CloseWrite()
			c.conn.SetReadDeadline(time.Now().Add(drainFor))
			notify(c.credit)
			return
		}
		if final != nil {
			notify(o.wake) // the final frame after the frames just written
		}
	}
}
