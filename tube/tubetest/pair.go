package tubetest

import (
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/t2tiles/itcd/tube"
)

// pair is one tube: a the opener's end, b the accepter's.
type pair struct {
	s      *Server
	id     uint64
	window int
	a, b   *end
	done   chan struct{} // closed when the tube is over

	mu   sync.Mutex // guards the state of both ends and over
	over bool
}

// end is one client's side of a pair.
type end struct {
	p    *pair
	c    *net.UnixConn
	req  tube.Request
	data chan []byte   // data frames for this client, from the other's pump
	kick chan struct{} // wakes the writer for control frames

	// Guarded by pair.mu.
	fin       bool   // the client sent 'f' or closed
	gone      bool   // the client closed its socket
	sent      uint64 // bytes or messages this client handed over
	forwarded uint64 // bytes or messages written into this client's socket
	consumed  uint64 // this client's last 'a'
	sendR     uint64 // pending 'r', 'v' (0: none)
	sendV     uint64
	sendE     bool
	final     []byte // pending 'c' or 'x', the last frame
}

func newEnd(p *pair, c *net.UnixConn, req tube.Request) *end {
	return &end{p: p, c: c, req: req, data: make(chan []byte), kick: make(chan struct{}, 1)}
}

func (p *pair) other(e *end) *end {
	if e == p.a {
		return p.b
	}
	return p.a
}

func (e *end) wake() {
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// run serves one end: its writer in a new goroutine, its pump here.
func (p *pair) run(opener bool) {
	e := p.b
	rep := tube.Reply{ID: p.id + 1, Tile: Tile, Message: p.a.req.Message, Window: p.window}
	eph := uint16(49152 + p.id%16384)
	if opener {
		e, rep.ID = p.a, p.id
		rep.Dir, rep.LocalPort, rep.RemotePort = p.a.req.Dir, eph, p.a.req.Port
	} else {
		rep.Dir, rep.LocalPort, rep.RemotePort = p.a.req.Dir.Opposite(), p.a.req.Port, eph
	}
	if _, err := e.c.Write(rep.AppendText(nil)); err != nil {
		p.abort(e, "the far program closed the tube")
	}
	p.s.wg.Add(1)
	go e.write()
	e.pump()
}

// pump reads the client's frames. It hands a data frame to the other
// end's writer and reads nothing more until the writer took it: the
// contract's flow control.
func (e *end) pump() {
	p, o := e.p, e.p.other(e)
	buf := make([]byte, tube.MaxFrame+1)
	for {
		n, err := e.c.Read(buf)
		if errors.Is(err, syscall.ECONNRESET) {
			// The client closed with frames of ours unread: Linux says
			// so once, before the frames it sent last, which are still
			// there. Whoever stops here loses the end of the data.
			continue
		}
		if err != nil || n == 0 {
			p.mu.Lock()
			if p.over {
				p.mu.Unlock()
				return
			}
			e.gone = true
			if !e.fin {
				e.fin, o.sendE = true, true
				o.wake()
			}
			undelivered := o.sent > e.consumed
			p.mu.Unlock()
			if undelivered {
				p.abort(e, "the far program closed the tube")
			}
			p.checkClose()
			return
		}
		f := buf[:n]
		switch {
		case f[0] == tube.FrameData && n > tube.MaxFrame:
			p.abort(nil, "message of more than "+strconv.Itoa(tube.MaxMessage)+" bytes is over the 64 KiB limit")
		case f[0] == tube.FrameData:
			// Counted as sent in the same step as the look at the other
			// client: either its leaving sees this data undelivered, or
			// this sees it gone.
			p.mu.Lock()
			bad, gone := e.fin || (!e.req.Message && n == 1), o.gone
			if !bad && !gone {
				e.sent += e.count(n - 1)
			}
			p.mu.Unlock()
			if bad {
				p.abort(nil, "protocol error: data after 'f', or an empty stream frame")
				continue
			}
			if gone {
				p.abort(o, "the far program closed the tube") // o's client left: e hears why
				continue
			}
			select {
			case o.data <- append([]byte(nil), f...):
			case <-p.done:
				return
			}
		case f[0] == tube.FrameAck && n == 9:
			v := binary.BigEndian.Uint64(f[1:])
			p.mu.Lock()
			bad := v < e.consumed || v > e.forwarded
			if !bad {
				e.consumed, o.sendV = v, v
				o.wake()
			}
			p.mu.Unlock()
			if bad {
				p.abort(nil, "protocol error: ack of "+strconv.FormatUint(v, 10)+" is more than was delivered or less than before")
			}
			p.checkClose()
		case f[0] == tube.FrameFin && n == 1:
			p.mu.Lock()
			if !e.fin {
				e.fin, o.sendE = true, true
				o.wake()
			}
			p.mu.Unlock()
			p.checkClose()
		case f[0] == tube.FrameAbort:
			p.abort(e, string(f[1:]))
		default:
			p.abort(nil, "protocol error: frame 0x"+strconv.FormatUint(uint64(f[0]), 16)+" of "+strconv.Itoa(n)+" bytes")
		}
	}
}

func (e *end) count(bytes int) uint64 {
	if e.req.Message {
		return 1
	}
	return uint64(bytes)
}

// write is the only writer of the client's socket after the reply: data
// frames as the other pump hands them, then the latest counts, the end,
// and the final frame, after which it closes the socket.
func (e *end) write() {
	p := e.p
	defer p.s.wg.Done()
	defer p.s.drop(e.c)
	o := p.other(e)
	broken := false
	for {
		select {
		case d := <-e.data:
			// Counted first: the client may read and ack it before
			// Write returns here.
			p.mu.Lock()
			e.forwarded += e.count(len(d) - 1)
			p.mu.Unlock()
			if broken {
				continue // dropped: the pump will find the client's end
			}
			if _, err := e.c.Write(d); err != nil {
				// The client left. Its pump reads what it sent last,
				// perhaps an 'x' with its reason, then ends the tube.
				broken = true
				continue
			}
			if e.req.Message {
				p.mu.Lock()
				o.sendR = e.forwarded
				o.wake()
				p.mu.Unlock()
			}
		case <-e.kick:
		case <-p.done:
		}
		p.mu.Lock()
		var out [][]byte
		if e.sendV > 0 {
			out = append(out, tube.AppendCount(nil, tube.FrameDelivered, e.sendV))
		}
		if e.sendR > 0 {
			out = append(out, tube.AppendCount(nil, tube.FrameReceived, e.sendR))
		}
		if e.sendE {
			out = append(out, []byte{tube.FrameEnd})
		}
		final := e.final
		if final != nil {
			out = append(out, final)
		}
		e.sendV, e.sendR, e.sendE = 0, 0, false
		gone := e.gone
		p.mu.Unlock()
		if !gone {
			e.c.SetWriteDeadline(time.Now().Add(time.Second)) // control frames never wait long
			for _, b := range out {
				e.c.Write(b)
			}
			e.c.SetWriteDeadline(time.Time{})
		}
		if final != nil {
			return
		}
	}
}

// checkClose ends the tube cleanly once both sides finished and all
// each sent was consumed by the other.
func (p *pair) checkClose() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.over || !p.a.fin || !p.b.fin || p.b.consumed != p.a.sent || p.a.consumed != p.b.sent {
		return
	}
	p.endLocked([]byte{tube.FrameClosed}, []byte{tube.FrameClosed})
}

// abort fails the tube: the other side of from (both, if from is nil)
// gets reason; from's client, which asked, gets a plain close.
func (p *pair) abort(from *end, reason string) {
	x := append([]byte{tube.FrameAbort}, reason...)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.over {
		return
	}
	fa, fb := x, x
	if from == p.a {
		fa = []byte{tube.FrameAbort}
	} else if from == p.b {
		fb = []byte{tube.FrameAbort}
	}
	p.endLocked(fa, fb)
}

func (p *pair) endLocked(fa, fb []byte) {
	p.over = true
	p.a.final, p.b.final = fa, fb
	close(p.done)
	// Wake pumps blocked in Read: the tube is over.
	p.a.c.SetReadDeadline(time.Unix(1, 0))
	p.b.c.SetReadDeadline(time.Unix(1, 0))
}
