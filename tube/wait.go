package tube

import (
	"context"
	"errors"
	"net"
)

// ReadMessage returns the next whole message of a message tube (the rest
// of it, if Read took its start). It returns io.EOF once the far side
// finished writing and every message was read.
func (c *Conn) ReadMessage() ([]byte, error) {
	if !c.message {
		return nil, ErrNotMessage
	}
	var m []byte
	err := c.next("read", func() bool {
		if len(c.queue) == 0 {
			return false
		}
		m = c.queue[0][c.head:]
		c.queued -= len(m)
		c.sinceAck += len(m)
		c.bytesRead.Add(uint64(len(m)))
		c.consumed++
		c.popLocked()
		c.ackLocked()
		return true
	})
	return m, err
}

// WaitReceived waits until the far itcd holds message id (so the sender
// may forget it), the tube fails, or ctx ends.
func (c *Conn) WaitReceived(ctx context.Context, id uint64) error {
	if !c.message {
		return ErrNotMessage
	}
	return c.wait(ctx, func() bool { return c.received.Load() >= id })
}

// WaitDelivered waits until the far program consumed n: messages 1..n of
// a message tube, or n bytes of a stream.
func (c *Conn) WaitDelivered(ctx context.Context, n uint64) error {
	return c.wait(ctx, func() bool { return c.delivered.Load() >= n })
}

// WaitClosed waits for the daemon's word that the tube closed cleanly:
// both sides finished writing and everything this side sent was
// delivered. Call CloseWrite first, and keep reading to io.EOF (or let
// another goroutine do it): the far side's closing waits on that.
func (c *Conn) WaitClosed(ctx context.Context) error {
	return c.wait(ctx, func() bool { return false })
}

// wait receives frames until done or the daemon's 'c' holds, queueing
// the data that arrives meanwhile for Read up to bound() (fullLocked): past
// that it waits for Read to take some. Its deadline is ctx's, on the
// socket while it receives; the application's read deadline is put back
// afterwards.
func (c *Conn) wait(ctx context.Context, done func() bool) error {
	c.mu.Lock()
	c.waits++
	me := c.waits
	c.mu.Unlock()
	// A late call of this func must not touch a later Wait: it checks
	// the number.
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		if c.waiting == me {
			c.uc.SetReadDeadline(aLongTimeAgo)
		}
		c.broadcastLocked()
		c.mu.Unlock()
	})
	defer stop()
	for {
		c.mu.Lock()
		if err := c.waitStateLocked(ctx, done); err != nil || done() || c.finished {
			c.mu.Unlock()
			return err
		}
		full := c.fullLocked()
		changed := c.changed
		c.mu.Unlock()
		if full {
			select {
			case <-changed:
			case <-ctx.Done():
			}
			continue
		}
		select {
		case <-c.rtok:
		case <-changed:
			continue
		case <-ctx.Done():
			continue
		}
		c.mu.Lock()
		if c.waitStateLocked(ctx, done) != nil || done() || c.finished || c.fullLocked() {
			c.mu.Unlock()
			c.release()
			continue
		}
		c.waiting = me
		dl, _ := ctx.Deadline()
		c.uc.SetReadDeadline(dl)
		c.mu.Unlock()
		err := c.recvOne()
		c.mu.Lock()
		c.waiting = 0
		c.uc.SetReadDeadline(c.rdl)
		c.mu.Unlock()
		c.release()
		if err != nil && ctx.Err() == nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return context.DeadlineExceeded // ctx's deadline, a moment early
			}
			return c.opErr("wait", sockErr(err))
		}
	}
}

// waitStateLocked says why a wait must end unfulfilled, or nil.
func (c *Conn) waitStateLocked(ctx context.Context, done func() bool) error {
	switch {
	case done() || c.finished:
		return nil
	case c.closed:
		return net.ErrClosed
	case c.err != nil:
		return c.err
	case c.sockDone:
		return errNoReason
	}
	return ctx.Err()
}
