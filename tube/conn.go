package tube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Conn is one tube. It is a net.Conn; its methods are safe to call
// concurrently. Reads and writes are independent, as on TCP.
//
// The receive side has no goroutine of its own: whoever needs the next
// frame from the daemon (a Read, ReadMessage or one of the Waits) takes
// rtok, the right to receive, reads one frame, files it (data in queue,
// counters, end, failure) and hands rtok back, waking the others through
// changed.
type Conn struct {
	// Never modified after construction.
	uc      *net.UnixConn
	raw     syscall.RawConn
	local   Addr
	remote  Addr
	id      uint64
	message bool
	window  int
	rtok    chan struct{} // holds one token: the right to recv from uc
	rbuf    []byte        // receive buffer, used only by the holder of rtok

	wmu  sync.Mutex // writers, one at a time: a Write's frames stay together
	wbuf []byte     // guarded by wmu

	sent      atomic.Uint64 // bytes or messages handed to the daemon
	bytesSent atomic.Uint64 // data bytes handed to the daemon
	bytesRead atomic.Uint64 // data bytes the application read
	received  atomic.Uint64 // 'r': messages the far itcd holds
	delivered atomic.Uint64 // 'v': bytes or messages the far program consumed
	wrClosed  atomic.Bool   // 'f' sent

	mu       sync.Mutex    // guards everything below
	queue    [][]byte      // data received, not yet consumed: stream chunks or whole messages
	head     int           // bytes of queue[0] already read by Read
	queued   int           // bytes in queue, less head
	eof      bool          // 'e': no more data will come
	finished bool          // 'c': closed cleanly
	sockDone bool          // the socket gave its last frame
	err      error         // the tube failed: 'x', a protocol or socket error
	closed   bool          // Close was called
	consumed uint64        // bytes or messages the application consumed
	acked    uint64        // the count in the last 'a' frame sent
	sinceAck int           // bytes consumed since the last 'a' frame
	rdl      time.Time     // the application's read deadline
	waiting  uint64        // the Wait (by number) holding rtok with its context's deadline on uc; 0: none
	waits    uint64        // Waits numbered so far
	changed  chan struct{} // closed and replaced whenever the above changes
}

var _ net.Conn = (*Conn)(nil)

// aLongTimeAgo is a deadline that has passed: setting it wakes a blocked
// socket call at once.
var aLongTimeAgo = time.Unix(1, 0)

// errNoReason: the daemon closed the tube without 'c' or 'x'.
var errNoReason = &Error{Op: "tube", Reason: "the daemon closed the tube without a reason (did itcd stop?)", Err: ErrAborted}

func newConn(uc *net.UnixConn, r Reply) (*Conn, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &Conn{
		uc: uc, raw: raw, id: r.ID, message: r.Message, window: r.Window,
		local:   Addr{Dir: r.Dir, Port: r.LocalPort},
		remote:  Addr{Dir: r.Dir, Port: r.RemotePort, Tile: r.Tile},
		rtok:    make(chan struct{}, 1),
		rbuf:    make([]byte, MaxFrame+1), // +1: a longer frame shows as MSG_TRUNC
		changed: make(chan struct{}),
	}
	c.rtok <- struct{}{}
	return c, nil
}

// ID is the tube's number on this tile, as `itcd status` lists it.
func (c *Conn) ID() uint64 { return c.id }

// Window is the receive window, in bytes, each side offers.
func (c *Conn) Window() int { return c.window }

// IsMessage reports whether this is a message tube.
func (c *Conn) IsMessage() bool { return c.message }

// LocalAddr is this tile's end: the link and the local port.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr is the far end: the link, the far port and the far tile.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Sent counts what was handed to the daemon: bytes, or messages.
func (c *Conn) Sent() uint64 { return c.sent.Load() }

// BytesSent counts the data bytes handed to the daemon (for a stream,
// Sent).
func (c *Conn) BytesSent() uint64 { return c.bytesSent.Load() }

// BytesReceived counts the data bytes the application read.
func (c *Conn) BytesReceived() uint64 { return c.bytesRead.Load() }

// Received counts the messages the far itcd holds (message tubes).
func (c *Conn) Received() uint64 { return c.received.Load() }

// Delivered counts what the far program consumed: bytes, or messages.
func (c *Conn) Delivered() uint64 { return c.delivered.Load() }

// Read reads stream bytes; on a message tube, the bytes of at most one
// message (ReadMessage keeps the boundaries). It returns io.EOF once the
// far side finished writing and everything before was read.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n := 0
	err := c.next("read", func() bool {
		n = c.takeLocked(p)
		return n > 0
	})
	return n, err
}

// takeLocked copies queued data into p, at most one message's worth on
// a message tube, and reports what it consumed.
func (c *Conn) takeLocked(p []byte) int {
	n := 0
	for len(c.queue) > 0 && n < len(p) {
		m := c.queue[0]
		k := copy(p[n:], m[c.head:])
		n += k
		c.head += k
		c.queued -= k
		c.sinceAck += k
		c.bytesRead.Add(uint64(k))
		if !c.message {
			c.consumed += uint64(k)
		}
		if c.head < len(m) {
			break
		}
		c.popLocked()
		if c.message {
			c.consumed++
			if n > 0 {
				break // one message a Read
			}
		}
	}
	c.ackLocked()
	return n
}

func (c *Conn) popLocked() {
	c.queue[0] = nil
	c.queue, c.head = c.queue[1:], 0
	if len(c.queue) == 0 {
		c.queue = c.queue[:0:0]
	}
}

// next runs take under mu until it succeeds, receiving a frame whenever
// nothing is queued; it fails at the end of the stream, on a failure, a
// deadline or Close.
func (c *Conn) next(op string, take func() bool) error {
	for {
		c.mu.Lock()
		if take() {
			c.mu.Unlock()
			return nil
		}
		if err := c.readErrLocked(); err != nil {
			c.mu.Unlock()
			return err
		}
		changed, dl := c.changed, c.rdl
		c.mu.Unlock()
		got, err := c.acquire(changed, dl)
		if err != nil {
			return c.opErr(op, err)
		}
		if !got {
			continue
		}
		c.mu.Lock()
		stale := len(c.queue) > 0 || c.readErrLocked() != nil
		c.mu.Unlock()
		if !stale {
			err = c.recvOne()
		}
		c.release()
		if err != nil {
			return c.opErr(op, sockErr(err))
		}
	}
}

// sockErr takes the reason out of a socket's *net.OpError, whose
// addresses are the socket's, not the tube's.
func sockErr(err error) error {
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	return err
}

// readErrLocked says why nothing more can be read, or nil.
func (c *Conn) readErrLocked() error {
	switch {
	case c.closed:
		return net.ErrClosed
	case c.eof || c.finished:
		return io.EOF
	case c.err != nil:
		return c.err
	case c.sockDone:
		return errNoReason
	}
	return nil
}

// acquire waits for rtok, a change, or the deadline dl.
func (c *Conn) acquire(changed <-chan struct{}, dl time.Time) (bool, error) {
	select {
	case <-c.rtok:
		return true, nil
	default:
	}
	var timer <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return false, os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-c.rtok:
		return true, nil
	case <-changed:
		return false, nil
	case <-timer:
		return false, os.ErrDeadlineExceeded
	}
}

func (c *Conn) release() {
	c.rtok <- struct{}{}
	c.mu.Lock()
	c.broadcastLocked()
	c.mu.Unlock()
}

func (c *Conn) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Conn) opErr(op string, err error) error {
	return &net.OpError{Op: op, Net: Network, Source: c.local, Addr: c.remote, Err: err}
}

// recvOne receives one frame with the deadline now on uc and files it.
// A timeout or Close is returned and changes nothing; every other error
// ends the tube.
func (c *Conn) recvOne() error {
	n, err := c.uc.Read(c.rbuf)
	if errors.Is(err, syscall.ECONNRESET) {
		// The daemon closed while frames of ours lay unread: Linux
		// reports that once, before the frames it had sent, such as
		// the final 'c' or 'x'. They are still there.
		n, err = c.uc.Read(c.rbuf)
	}
	var ne net.Error
	if err != nil && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed)) {
		return err
	}
	if err != nil || n == 0 {
		c.mu.Lock()
		if err != nil && !errors.Is(err, io.EOF) && c.err == nil && !c.finished {
			c.err = &Error{Op: "tube", Reason: err.Error(), Err: ErrAborted}
		}
		c.sockDone = true
		c.broadcastLocked()
		c.mu.Unlock()
		return nil
	}
	c.fileFrame(c.rbuf[:n])
	return nil
}

// fileFrame checks one frame from the daemon and files what it says.
// rbuf holds one byte more than the longest frame, so a longer frame
// shows here as too long.
func (c *Conn) fileFrame(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.broadcastLocked()
	f, err := ParseFrame(b)
	if err != nil {
		c.failLocked(err)
		return
	}
	switch f.Type {
	case FrameData:
		if c.eof || (!c.message && len(f.Data) == 0) {
			c.failLocked(fmt.Errorf("%w: data frame after the end, or empty", ErrProtocol))
			return
		}
		c.queue = append(c.queue, append([]byte{}, f.Data...))
		c.queued += len(f.Data)
	case FrameEnd:
		c.eof = true
	case FrameReceived:
		storeMax(&c.received, f.Count)
	case FrameDelivered:
		storeMax(&c.delivered, f.Count)
	case FrameClosed:
		c.finished = true
		// Everything sent was delivered: the counters say so too.
		storeMax(&c.delivered, c.sent.Load())
		storeMax(&c.received, c.sent.Load())
	case FrameAbort:
		if c.err == nil {
			c.err = &Error{Op: "tube", Reason: string(f.Data), Err: ErrAborted}
		}
	}
	c.ackLocked()
}

// failLocked ends the tube on a daemon that broke the contract.
func (c *Conn) failLocked(err error) {
	if c.err == nil {
		c.err = err
	}
	c.sockDone = true
	c.sendNowLocked(append([]byte{FrameAbort}, err.Error()...))
}

func storeMax(v *atomic.Uint64, n uint64) {
	for {
		old := v.Load()
		if n <= old || v.CompareAndSwap(old, n) {
			return
		}
	}
}

// ackLocked reports what the application consumed, once a quarter of
// the window was consumed since the last report or when nothing is left
// queued, so the far sender learns "delivered" exactly.
func (c *Conn) ackLocked() {
	if c.consumed == c.acked || c.closed || c.sockDone {
		return
	}
	if len(c.queue) > 0 && c.sinceAck < c.window/4 {
		return
	}
	if c.sendNowLocked(AppendCount(nil, FrameAck, c.consumed)) == nil {
		c.acked, c.sinceAck = c.consumed, 0
	}
}

// sendNowLocked sends a small frame without blocking and without
// waiting for a blocked Write (a Write holds the socket's write lock;
// seqpacket sends are atomic, so frames never interleave). An ack that
// finds the socket full is retried at the next chance.
func (c *Conn) sendNowLocked(b []byte) error {
	var serr error
	err := c.raw.Control(func(fd uintptr) {
		serr = syscall.Sendto(int(fd), b, syscall.MSG_DONTWAIT|syscall.MSG_NOSIGNAL, nil)
	})
	if err != nil {
		return err
	}
	return serr
}
