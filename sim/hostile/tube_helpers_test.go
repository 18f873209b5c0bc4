package hostile_test

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/hostile"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tile"
)

// Helpers of the tube attacks: a program on tube.sock, the tube section of
// a status, and an attacker that offers service 9 and logs what it hears.

// tubeServices is what a tile with the tube service offers in its hellos.
const tubeServices = 1<<packet.ServiceLiveness | 1<<packet.ServiceCounter | 1<<packet.ServiceMFZ | 1<<packet.ServiceTube

// tubeAttacker is an attacker on tile A's WT that speaks service 9: every
// service 9 message from A goes into log, and to answer when set.
type tubeAttacker struct {
	log    *hostile.TubeLog
	answer atomic.Pointer[func(n *hostile.Neighbour, m *tubes.WireMessage)]
}

func newTubeAttacker() (*tubeAttacker, attacker) {
	ta := &tubeAttacker{log: hostile.NewTubeLog()}
	cfg := hostile.Config{Services: tubeServices, Handler: func(n *hostile.Neighbour, r *hostile.Received) {
		ta.log.Handle(n, r)
		if f := ta.answer.Load(); f != nil && r.IsService(packet.ServiceTube) {
			if m, err := tubes.ParseWire(r.Packet.Payload); err == nil {
				(*f)(n, &m)
			}
		}
	}}
	return ta, attacker{at: tileA, dir: packet.WT, cfg: cfg}
}

// tubeArena is a 2x1 arena with a tube attacker on A's WT, the tiles'
// tube settings changed by tweak (if not nil).
func tubeArena(t *testing.T, tweak func(*tubes.Config)) (*arena, *tubeAttacker) {
	ta, atk := newTubeAttacker()
	a := newArenaWith(t, 2, 1, devProfile(), func(_ tilegrid.Coord, c *tile.Config) {
		if tweak != nil {
			tweak(&c.Tube)
		}
	}, atk)
	return a, ta
}

func tubeOf(st control.Status) tubes.Status {
	var s tubes.Status
	section(st, "tube", &s)
	return s
}

// tubeOn returns the tube on link d with local port p, if any.
func tubeOn(s tubes.Status, d packet.Dir, port uint16) (tubes.TubeStatus, bool) {
	for _, ts := range s.Tubes {
		if ts.Dir == d && ts.LocalPort == port {
			return ts, true
		}
	}
	return tubes.TubeStatus{}, false
}

// prog is a program on a tile's tube.sock.
type prog struct {
	t    *testing.T
	conn *net.UnixConn
	buf  []byte
}

func dialTube(t *testing.T, runDir, request string) *prog {
	t.Helper()
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: filepath.Join(runDir, tubes.SocketName), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p := &prog{t: t, conn: conn, buf: make([]byte, 70000)}
	if request != "" {
		p.send([]byte(request))
	}
	return p
}

func (p *prog) send(f []byte) {
	p.t.Helper()
	if _, err := p.conn.Write(f); err != nil {
		p.t.Errorf("send %q: %v", f[:min(len(f), 20)], err)
	}
}

// recv returns the next frame, or an error (io.EOF at the end).
func (p *prog) recv(timeout time.Duration) ([]byte, error) {
	p.conn.SetReadDeadline(time.Now().Add(timeout))
	n, err := p.conn.Read(p.buf)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.EOF
	}
	return append([]byte(nil), p.buf[:n]...), nil
}

// expect reads frames until one starts with prefix, and fails after
// timeout or at the end of the connection.
func (p *prog) expect(prefix string, timeout time.Duration) []byte {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		f, err := p.recv(time.Until(deadline))
		if err != nil {
			p.t.Fatalf("waiting for %q: %v", prefix, err)
		}
		if strings.HasPrefix(string(f), prefix) {
			return f
		}
	}
}
