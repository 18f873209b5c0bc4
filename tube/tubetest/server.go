// Package tubetest is a fake of itcd's tube service for tests of its
// clients (the tube package, `itcd pipe`, programs in other languages).
// A Server listens on DIR/tube.sock and speaks the tube.sock contract,
// with itself as the far tile: an open of port P over any link is
// accepted by an accept of port P on the same Server, so two clients of
// one Server are the two ends of a tube.
//
// It keeps the contract's rules that clients can observe (one accept per
// port, kinds must agree, open timeouts, flow control by not reading the
// sender's next frame until the receiver's socket took the last one,
// received/delivered counts, end, clean close, abort, "the far program
// closed the tube") and none of the transport: data never crosses a link.
//
// Raw is the other side: a program on a tube.sock, the daemon's or a
// Server's, that sends and reads the contract's frames itself, for tests
// of the service that must send exactly the frames they mean.
package tubetest

import (
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/t2tiles/itcd/tube"
)

// Tile is the far tile's identity the Server reports.
const Tile = "fa4e7e5700000001"

// defaultOpenTimeout is the contract's default wait of an open.
const defaultOpenTimeout = 10 * time.Second

// Server is a fake tube service. Its methods are safe concurrently.
type Server struct {
	ln     *net.UnixListener
	window int
	wg     sync.WaitGroup // every goroutine the Server started

	mu      sync.Mutex // guards everything below
	closed  bool
	conns   map[*net.UnixConn]bool
	waiting map[uint16][]*waiter // port -> opens and the accept waiting on it
	tubes   []*pair
	nextID  uint64
}

// Start listens on dir/tube.sock; window is the window each reply
// announces (it only informs clients: the fake's flow control is the
// sockets' own).
func Start(dir string, window int) (*Server, error) {
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: filepath.Join(dir, tube.SocketName), Net: "unixpacket"})
	if err != nil {
		return nil, err
	}
	s := &Server{ln: ln, window: window, conns: map[*net.UnixConn]bool{}, waiting: map[uint16][]*waiter{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops the Server: every tube ends, every goroutine returns.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	ts := append([]*pair(nil), s.tubes...)
	s.mu.Unlock()
	for _, t := range ts {
		t.abort(nil, "the tube service stopped") // ends its goroutines
	}
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// AbortAll fails every tube with reason, as the daemon does when a
// neighbour disconnects.
func (s *Server) AbortAll(reason string) {
	s.mu.Lock()
	ts := append([]*pair(nil), s.tubes...)
	s.mu.Unlock()
	for _, t := range ts {
		t.abort(nil, reason)
	}
}

// Opened counts the tubes set up so far.
func (s *Server) Opened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tubes)
}

func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.wg.Add(1)
		s.mu.Unlock()
		go s.handle(c)
	}
}

// waiter is an open or an accept waiting for its other half.
type waiter struct {
	c       *net.UnixConn
	req     tube.Request
	matched *pair // set under Server.mu by the other half
	first   bool  // the opener of matched
	refusal string
}

func (s *Server) handle(c *net.UnixConn) {
	defer s.wg.Done()
	buf := make([]byte, tube.MaxRequest+1)
	n, err := c.Read(buf)
	if err != nil {
		s.drop(c)
		return
	}
	req, err := tube.ParseRequest(buf[:n])
	if err != nil {
		s.refuse(c, err.Error())
		return
	}
	w := &waiter{c: c, req: req}
	if reason := s.match(w); reason != "" {
		s.refuse(c, reason)
		return
	}
	timeout := req.Timeout
	if timeout == 0 && !req.Accept {
		timeout = defaultOpenTimeout
	}
	if timeout > 0 {
		c.SetReadDeadline(time.Now().Add(timeout))
	}
	// Wait for the other half, or the client leaving, or the timeout:
	// match wakes this Read with a past deadline.
	s.mu.Lock()
	matched := w.matched != nil || w.refusal != ""
	s.mu.Unlock()
	if !matched {
		var one [1]byte
		_, err = c.Read(one[:])
	}
	s.mu.Lock()
	p := w.matched
	if p == nil {
		s.unwaitLocked(w)
	}
	refusal := w.refusal
	s.mu.Unlock()
	switch {
	case refusal != "":
		s.refuse(c, refusal)
	case p != nil:
		c.SetReadDeadline(time.Time{})
		p.run(w.first)
	case isTimeout(err) && req.Accept:
		s.refuse(c, "no tube was opened to port "+strconv.Itoa(int(req.Port))+" within "+timeout.String())
	case isTimeout(err):
		s.refuse(c, "no program accepted port "+strconv.Itoa(int(req.Port))+" on the neighbour at "+req.Dir.String()+" within "+timeout.String())
	case err == nil:
		s.refuse(c, "a frame before the reply: wait for ok")
	default:
		s.drop(c)
	}
}

// match pairs w with a waiting other half, or makes w wait; it returns
// a reason to refuse w.
func (s *Server) match(w *waiter) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	port := w.req.Port
	for i, o := range s.waiting[port] {
		if o.req.Accept == w.req.Accept {
			if w.req.Accept {
				return "port " + strconv.Itoa(int(port)) + " is already being accepted on by another program"
			}
			continue
		}
		open, acc := o, w
		if !w.req.Accept {
			open, acc = w, o
		}
		if acc.req.From != 0 && acc.req.From != open.req.Dir.Opposite() {
			continue
		}
		s.waiting[port] = append(s.waiting[port][:i:i], s.waiting[port][i+1:]...)
		if open.req.Message != acc.req.Message {
			s.refuseLater(o)
			return "kinds differ: one side asked for a message tube, the other for a stream"
		}
		s.nextID += 2 // one number for each end, as two tiles would have
		p := &pair{s: s, id: s.nextID - 1, window: s.window, done: make(chan struct{})}
		p.a = newEnd(p, open.c, open.req)
		p.b = newEnd(p, acc.c, acc.req)
		s.tubes = append(s.tubes, p)
		o.matched, w.matched = p, p
		open.first = true
		o.c.SetReadDeadline(time.Unix(1, 0)) // wake its handle
		return ""
	}
	s.waiting[port] = append(s.waiting[port], w)
	return ""
}

// refuseLater makes a waiting half fail when its handle wakes.
func (s *Server) refuseLater(o *waiter) {
	o.refusal = "kinds differ: one side asked for a message tube, the other for a stream"
	o.c.SetReadDeadline(time.Unix(1, 0))
}

func (s *Server) unwaitLocked(w *waiter) {
	ws := s.waiting[w.req.Port]
	for i, o := range ws {
		if o == w {
			s.waiting[w.req.Port] = append(ws[:i:i], ws[i+1:]...)
			break
		}
	}
	if len(s.waiting[w.req.Port]) == 0 {
		delete(s.waiting, w.req.Port)
	}
}

func (s *Server) refuse(c *net.UnixConn, reason string) {
	c.Write([]byte("error " + reason))
	s.drop(c)
}

func (s *Server) drop(c *net.UnixConn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
