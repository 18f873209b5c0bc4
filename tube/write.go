package tube

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// abortGrace bounds how long Abort waits to hand its 'x' frame to a
// daemon that is not reading (its send buffer full of this tube's data).
const abortGrace = 2 * time.Second

// reasonWait bounds how long a failed Write waits for a concurrent Read
// to file the daemon's reason.
const reasonWait = time.Second

var errWriteClosed = errors.New("tube: write after CloseWrite")

// Write sends stream bytes, in frames of at most MaxMessage bytes; on a
// message tube, p is one message (see WriteMessage). It blocks while
// the far side's window is full, until the write deadline.
func (c *Conn) Write(p []byte) (int, error) {
	if c.message {
		if _, err := c.WriteMessage(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeErr(); err != nil {
		return 0, c.opErr("write", err)
	}
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+MaxMessage)]
		if err := c.sendLocked(chunk, uint64(len(chunk))); err != nil {
			return n, err
		}
		n += len(chunk)
	}
	return n, nil
}

// WriteMessage sends one message of at most MaxMessage bytes and returns
// its number (1, 2, 3...), which WaitReceived and WaitDelivered take.
func (c *Conn) WriteMessage(b []byte) (uint64, error) {
	if !c.message {
		return 0, ErrNotMessage
	}
	if len(b) > MaxMessage {
		return 0, fmt.Errorf("%w: %d bytes", ErrMessageTooLong, len(b))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeErr(); err != nil {
		return 0, c.opErr("write", err)
	}
	if err := c.sendLocked(b, 1); err != nil {
		return 0, err
	}
	return c.sent.Load(), nil
}

// sendLocked sends one data frame that counts as count. The count goes
// up before the send: the far program may consume the data, and the
// daemon say so, before the send returns here.
func (c *Conn) sendLocked(data []byte, count uint64) error {
	if c.wbuf == nil {
		c.wbuf = make([]byte, 0, MaxFrame)
	}
	c.wbuf = append(append(c.wbuf[:0], FrameData), data...)
	c.sent.Add(count)
	if _, err := c.uc.Write(c.wbuf); err != nil {
		c.sent.Add(-count)
		return c.opErr("write", c.writeFailure(err))
	}
	c.bytesSent.Add(uint64(len(data)))
	return nil
}

// writeErr says why nothing may be written, or nil.
func (c *Conn) writeErr() error {
	if c.wrClosed.Load() {
		return errWriteClosed
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return net.ErrClosed
	case c.err != nil:
		return c.err
	case c.finished || c.sockDone:
		return errNoReason
	}
	return nil
}

// writeFailure turns a failed send into the tube's reason: a daemon that
// ended the tube closed the socket after an 'x' frame, which may wait
// unread; it is looked for without blocking.
func (c *Conn) writeFailure(err error) error {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, net.ErrClosed) {
		return sockErr(err)
	}
	// The reason may be read by a Read in another goroutine, which
	// holds rtok: wait a moment for it.
	t := time.NewTimer(reasonWait)
	defer t.Stop()
	for {
		c.mu.Lock()
		reason, changed := c.err, c.changed
		c.mu.Unlock()
		if reason != nil {
			return reason
		}
		select {
		case <-c.rtok:
			c.drainNow()
			c.release()
			c.mu.Lock()
			reason = c.err
			c.mu.Unlock()
			if reason != nil {
				return reason
			}
			return sockErr(err)
		case <-changed:
		case <-t.C:
			return sockErr(err)
		}
	}
}

// drainNow files the frames already waiting, without blocking, up to the
// data bound; the caller holds rtok.
func (c *Conn) drainNow() {
	for range 64 {
		c.mu.Lock()
		stop := c.sockDone || c.fullLocked()
		c.mu.Unlock()
		if stop {
			return
		}
		var n int
		var rerr error
		err := c.raw.Control(func(fd uintptr) {
			n, _, rerr = syscall.Recvfrom(int(fd), c.rbuf, syscall.MSG_DONTWAIT)
		})
		if rerr == syscall.ECONNRESET {
			continue // reported once, before the frames still queued
		}
		if err != nil || rerr != nil {
			return
		}
		if n <= 0 {
			c.mu.Lock()
			c.sockDone = true
			c.broadcastLocked()
			c.mu.Unlock()
			return
		}
		c.fileFrame(c.rbuf[:n])
	}
}

// bound is the most data a Wait queues before it leaves the rest to
// Read: the window, and one whole frame beyond it.
func (c *Conn) bound() int { return c.window + MaxFrame }

// queueEntryCost is what each queued message or chunk counts for beyond
// its bytes: empty messages cost memory too, and would otherwise queue
// without bound while a Wait runs.
const queueEntryCost = 64

// fullLocked says the queue reached bound: a Wait receives no more.
func (c *Conn) fullLocked() bool {
	return c.queued+len(c.queue)*queueEntryCost >= c.bound()
}

// CloseWrite tells the far side that no more data comes ('f'): it reads
// to the end of the stream. The tube stays open for reading.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writeErr(); err != nil {
		if errors.Is(err, errWriteClosed) {
			return nil
		}
		return c.opErr("close", err)
	}
	if _, err := c.uc.Write([]byte{FrameFin}); err != nil {
		return c.opErr("close", c.writeFailure(err))
	}
	c.wrClosed.Store(true)
	return nil
}

// Close ends this side: what was written is still sent (a final 'f'),
// nothing more is read, and pending calls return net.ErrClosed. To learn
// that everything arrived, call WaitClosed before Close.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return c.opErr("close", net.ErrClosed)
	}
	if c.consumed != c.acked && !c.sockDone {
		// The last count, so the far side can learn it was all delivered.
		if c.sendNowLocked(AppendCount(nil, FrameAck, c.consumed)) == nil {
			c.acked = c.consumed
		}
	}
	c.closed = true
	if c.err == nil && !c.wrClosed.Load() {
		c.sendNowLocked([]byte{FrameFin}) // closing says the same; best effort
	}
	c.broadcastLocked()
	c.mu.Unlock()
	return c.uc.Close()
}

// Abort ends the tube now: the far side's calls fail with ErrAborted and
// reason, and so do this side's.
func (c *Conn) Abort(reason string) error {
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	c.uc.SetWriteDeadline(aLongTimeAgo) // wakes a Write blocked on the window
	c.wmu.Lock()
	c.uc.SetWriteDeadline(time.Now().Add(abortGrace))
	_, err := c.uc.Write(append([]byte{FrameAbort}, reason...))
	c.wmu.Unlock()
	c.mu.Lock()
	if c.err == nil {
		c.err = &Error{Op: "tube", Reason: "aborted here: " + reason, Err: ErrAborted}
	}
	c.mu.Unlock()
	cerr := c.Close()
	if err != nil {
		return c.opErr("abort", sockErr(err))
	}
	return cerr
}

// SetDeadline sets both deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline bounds Read and ReadMessage (not the Waits, which take
// a context).
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rdl = t
	c.broadcastLocked()
	if c.waiting != 0 {
		return nil // the Wait puts it back when it is done
	}
	return c.uc.SetReadDeadline(t)
}

// SetWriteDeadline bounds Write, WriteMessage and CloseWrite.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }
