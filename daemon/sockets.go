package daemon

import (
	"context"
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
)

// Socket names in the run dir.
const (
	MFMSocket     = "mfm.sock"
	ServiceSocket = "service.sock"
	ControlSocket = "control.sock"
)

// sockets owns the listeners in the run dir and every connection on them.
type sockets struct {
	d         *Daemon
	listeners []*net.UnixListener
	paths     []string

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // connection goroutines

	refused atomic.Uint64 // connections over MaxClients
}

func (s *sockets) listen(d *Daemon) error {
	s.d = d
	s.conns = make(map[net.Conn]struct{})
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
	for _, l := range []struct{ name, network string }{
		{MFMSocket, "unixpacket"}, {ServiceSocket, "unixpacket"}, {ControlSocket, "unix"},
	} {
		path := filepath.Join(cfg.RunDir, l.name)
		if err := removeStale(path, l.network); err != nil {
			s.closeListeners()
			return err
		}
		ln, err := net.ListenUnix(l.network, &net.UnixAddr{Name: path, Net: l.network})
		if err != nil {
			s.closeListeners()
			return fmt.Errorf("listen on %s: %w", path, err)
		}
		ln.SetUnlinkOnClose(true)
		s.listeners = append(s.listeners, ln)
		s.paths = append(s.paths, path)
		if err := os.Chmod(path, os.FileMode(cfg.SocketMode)); err != nil {
			s.closeListeners()
			return fmt.Errorf("socket %s: %w", path, err)
		}
		if gid >= 0 {
			if err := os.Chown(path, -1, gid); err != nil {
				s.closeListeners()
				return fmt.Errorf("socket %s: %w", path, err)
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
	handlers := []func(context.Context, *net.UnixConn){s.d.serveMFM, s.d.serveServiceClient, s.d.serveControl}
	for i, ln := range s.listeners {
		ln, handle := ln, handlers[i]
		goroutine("accept "+s.paths[i], func(ctx context.Context) {
			for {
				c, err := ln.AcceptUnix()
				if err != nil {
					if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
						return
					}
					s.d.log.Warn("accept failed", "socket", ln.Addr().String(), "err", err)
					select {
					case <-ctx.Done():
						return
					case <-time.After(100 * time.Millisecond):
					}
					continue
				}
				if !s.track(c) {
					c.Close()
					continue
				}
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					defer s.untrack(c)
					handle(ctx, c)
				}()
			}
		})
	}
}

func (s *sockets) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if len(s.conns) >= s.d.cfg.MaxClients*len(s.listeners) {
		s.refused.Add(1)
		s.d.log.Warn("too many local connections: refused", "max_per_socket", s.d.cfg.MaxClients)
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *sockets) untrack(c net.Conn) {
	c.Close()
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *sockets) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
}

// close stops accepting and closes every connection.
func (s *sockets) close() {
	s.closeListeners()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
}

// cleanup waits for the connection goroutines.
func (s *sockets) cleanup() { s.wg.Wait() }

// peerPID returns the process id at the other end of a local connection.
func peerPID(c *net.UnixConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	pid := 0
	raw.Control(func(fd uintptr) {
		if cred, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid = int(cred.Pid)
		}
	})
	return pid
}
