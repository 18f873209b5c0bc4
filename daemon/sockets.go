package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/p2p"
)

// sockets owns the listeners in the run dir and every connection on them.
// Each socket has its own limit of MaxClients connections, so idle clients
// of one socket cannot lock out another's (mfmt2's mfm.sock above all).
type sockets struct {
	d         *Daemon
	listeners []*listener
	// owner says whether a peer's uid may use the reserve (isOwner;
	// tests, which run as root, replace it).
	owner func(uid int) bool

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // connection goroutines
}

// listener is one local socket and its connections. conns is guarded by
// sockets.mu.
type listener struct {
	name    string // mfm.sock, service.sock, control.sock
	network string // unixpacket or unix
	path    string
	ln      *net.UnixListener
	serve   func(context.Context, *localConn)
	// clientFirst: the client speaks first, so a new connection is idle
	// until it does (control.sock, service.sock; not mfm.sock).
	clientFirst bool
	// busyWith, if set, says why a new client cannot be served at all
	// ("" when it can): mfm.sock while mfmt2 holds it.
	busyWith func() string
	conns    map[*localConn]struct{}

	refused atomic.Uint64 // connections turned away: the socket was full
	evicted atomic.Uint64 // idle connections closed to admit a new one
}

// localConn is one client connection. A handler marks it idle while it
// waits for a client that owes it a request (control.sock between
// requests, service.sock before its bind); an idle connection is the one
// closed when the socket is full and another client arrives.
type localConn struct {
	*net.UnixConn
	on *listener // the socket it came in on
	// idleSince is the unix ns since which the connection waits idle,
	// 0 while busy, and evicted once closed to make room.
	idleSince atomic.Int64
}

const evicted = -1

// hasInput reports whether the client's bytes wait unread.
func (lc *localConn) hasInput() bool {
	raw, err := lc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	raw.Control(func(fd uintptr) { n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
	return n > 0
}

// idle marks the connection as waiting for its client (unless it was
// closed to make room: that mark stays).
func (lc *localConn) idle() {
	now := time.Now().UnixNano()
	for {
		v := lc.idleSince.Load()
		if v == evicted || lc.idleSince.CompareAndSwap(v, now) {
			return
		}
	}
}

// busy marks the connection as serving a request. It returns false if the
// connection was closed to make room meanwhile: the request is dropped
// and the handler returns.
func (lc *localConn) busy() bool {
	for {
		v := lc.idleSince.Load()
		if v == evicted {
			return false
		}
		if lc.idleSince.CompareAndSwap(v, 0) {
			return true
		}
	}
}

func (s *sockets) listen(d *Daemon) error {
	s.d = d
	if s.owner == nil {
		s.owner = isOwner
	}
	cfg := &d.cfg
	if err := os.MkdirAll(cfg.RunDir, 0o755); err != nil {
		return fmt.Errorf("run dir: %w", err)
	}
	gid := -1
	if cfg.SocketGroup != "" {
		g, err := user.LookupGroup(cfg.SocketGroup)
		if err != nil {
			return fmt.Errorf("socket_group %q: %w", cfg.SocketGroup, err)
		}
		gid, _ = strconv.Atoi(g.Gid)
	}
	all := []*listener{
		{name: control.MFMSocket, network: "unixpacket", serve: d.serveMFM, busyWith: d.mfm.heldBy},
		{name: control.ServiceSocket, network: "unixpacket", serve: d.serveServiceClient, clientFirst: true},
		{name: control.ControlSocket, network: "unix", serve: d.serveControl, clientFirst: true},
	}
	// Services with a socket of their own (tube.sock): a connection is
	// theirs from the start, so it is never idle to the daemon.
	for _, h := range d.inproc {
		if ss, ok := h.svc.(p2p.SocketServer); ok {
			all = append(all, &listener{name: ss.SocketName(), network: "unixpacket",
				serve: func(ctx context.Context, lc *localConn) { ss.ServeConn(ctx, lc.UnixConn) }})
		}
	}
	for _, l := range all {
		l.path = filepath.Join(cfg.RunDir, l.name)
		l.conns = make(map[*localConn]struct{})
		if err := removeStale(l.path, l.network); err != nil {
			s.closeListeners()
			return err
		}
		ln, err := net.ListenUnix(l.network, &net.UnixAddr{Name: l.path, Net: l.network})
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s: %w", l.path, err)
		}
		ln.SetUnlinkOnClose(true)
		l.ln = ln
		s.listeners = append(s.listeners, l)
		if err := os.Chmod(l.path, os.FileMode(cfg.SocketMode)); err != nil {
			s.closeListeners()
			return fmt.Errorf("socket %s: %w", l.path, err)
		}
		if gid >= 0 {
			if err := os.Chown(l.path, -1, gid); err != nil {
				s.closeListeners()
				return fmt.Errorf("socket %s: %w", l.path, err)
			}
		}
	}
	return nil
}

// removeStale removes a socket file left by a daemon that died, and refuses
// to start beside one that still runs.
func removeStale(path, network string) error {
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if c, err := net.DialTimeout(network, path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s answers: another itcd runs with this run dir; stop it or use --run-dir", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

func (s *sockets) serve(ctx context.Context, goroutine func(string, func(context.Context))) {
	for _, l := range s.listeners {
		l := l
		goroutine("accept "+l.path, func(ctx context.Context) {
			for {
				c, err := l.ln.AcceptUnix()
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
						return
					}
					s.d.log.Warn("accept failed", "socket", l.name, "err", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				lc := &localConn{UnixConn: c, on: l}
				if l.clientFirst {
					lc.idle()
				}
				if !s.admit(l, lc) {
					continue
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					defer s.untrack(l, lc)
					l.serve(ctx, lc)
				}()
			}
		})
	}
}

// admit tracks a new connection on l. When l is full it closes the
// connection that has been idle longest to make room, and when none is
// idle it refuses the new one with a reason the client can read.
func (s *sockets) admit(l *listener, lc *localConn) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lc.Close()
		return false
	}
	if l.busyWith != nil {
		// Refused before it takes a place, so a crowd of them cannot
		// keep the socket full.
		if reason := l.busyWith(); reason != "" {
			s.mu.Unlock()
			l.refused.Add(1)
			s.d.log.Warn("local client refused", "socket", l.name, "reason", reason, "pid", peerPID(lc.UnixConn))
			refuse(l, lc, reason)
			return false
		}
	}
	var old *localConn
	if len(l.conns) >= s.d.cfg.MaxClients {
		if old = oldestIdleLocked(l); old != nil {
			delete(l.conns, old)
			l.evicted.Add(1)
		} else if _, uid := peerCred(lc.UnixConn); len(l.conns) < s.d.cfg.MaxClients+ownerReserve && s.owner(uid) {
			// Admitted to the reserve.
		} else {
			s.mu.Unlock()
			l.refused.Add(1)
			s.d.log.Warn("local socket full: connection refused", "socket", l.name, "max_clients", s.d.cfg.MaxClients, "pid", peerPID(lc.UnixConn))
			refuse(l, lc, fmt.Sprintf("%s has %d busy clients, the most max_clients allows: try again later", l.name, s.d.cfg.MaxClients))
			return false
		}
	}
	l.conns[lc] = struct{}{}
	s.mu.Unlock()
	if old != nil {
		s.d.log.Warn("local socket full: closed the connection idle longest", "socket", l.name, "max_clients", s.d.cfg.MaxClients)
		refuse(l, old, fmt.Sprintf("%s is full and this connection was idle longest: closed to make room", l.name))
	}
	return true
}

// oldestIdleLocked returns l's connection idle longest, claimed for
// closing, or nil if none is idle. A connection whose client has spoken
// (bytes wait unread) is not idle, only not yet served.
func oldestIdleLocked(l *listener) *localConn {
	for {
		var old *localConn
		var since int64
		for c := range l.conns {
			if v := c.idleSince.Load(); v > 0 && (old == nil || v < since) && !c.hasInput() {
				old, since = c, v
			}
		}
		if old == nil || old.idleSince.CompareAndSwap(since, evicted) {
			return old
		}
		// It turned busy (or idle anew) meanwhile: look again.
	}
}

// refuse tells a client why it is turned away, in its socket's language,
// and closes the connection. The client is new or idle: nothing else
// writes to it, so the message cannot interleave with another.
// The message is best effort: sent only if the socket's buffer has room
// at once, so a client that stopped reading cannot stall the accept loop.
func refuse(l *listener, lc *localConn, reason string) {
	var b []byte
	if l.network == "unix" {
		b, _ = json.Marshal(control.Response{Error: reason})
		b = append(b, '\n')
	} else {
		b = []byte("error: " + reason)
	}
	if raw, err := lc.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) { unix.Send(int(fd), b, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL) })
	}
	lc.Close()
}

func (s *sockets) untrack(l *listener, lc *localConn) {
	lc.Close()
	s.mu.Lock()
	delete(l.conns, lc)
	s.mu.Unlock()
}

func (s *sockets) closeListeners() {
	for _, l := range s.listeners {
		l.ln.Close()
	}
}

// close stops accepting and closes every connection.
func (s *sockets) close() {
	s.closeListeners()
	s.mu.Lock()
	s.closed = true
	for _, l := range s.listeners {
		for c := range l.conns {
			c.Close()
		}
	}
	s.mu.Unlock()
}

// cleanup waits for the connection goroutines.
func (s *sockets) cleanup() { s.wg.Wait() }

func (s *sockets) status() []control.SocketStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]control.SocketStatus, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, control.SocketStatus{Name: l.name, Clients: len(l.conns), Refused: l.refused.Load(), Evicted: l.evicted.Load()})
	}
	return out
}

// peerPID returns the process id at the other end of a local connection.
func peerPID(c *net.UnixConn) int {
	pid, _ := peerCred(c)
	return pid
}

// peerCred returns the process and user ids at the other end of a local
// connection (0 and -1 if unknown).
func peerCred(c *net.UnixConn) (pid, uid int) {
	pid, uid = 0, -1
	raw, err := c.SyscallConn()
	if err != nil {
		return pid, uid
	}
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid, uid = int(cred.Pid), int(cred.Uid)
		}
	})
	return pid, uid
}

// ownerReserve is how many places past max_clients each socket keeps for
// root and the daemon's own user, so that clients of a socket_group
// member that keep every place busy (requests back to back) cannot lock
// the operator's `itcd status` out.
const ownerReserve = 4

// isOwner reports whether uid may use the reserve.
func isOwner(uid int) bool { return uid == 0 || uid == os.Geteuid() }
