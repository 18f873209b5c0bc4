package daemon

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// stuckDevice has every link up and refuses every write as if the link's
// queue were full, so whatever the daemon queues stays queued.
type stuckDevice struct {
	changes chan struct{}
	done    chan struct{}
}

func newStuckDevice() *stuckDevice {
	return &stuckDevice{changes: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *stuckDevice) ReadPacket([]byte) (int, error) { <-s.done; return 0, dev.ErrClosed }
func (s *stuckDevice) WritePacket([]byte) error       { return dev.ErrWouldBlock }
func (s *stuckDevice) StatusChanges() <-chan struct{} { return s.changes }
func (s *stuckDevice) Close() error                   { close(s.done); return nil }
func (s *stuckDevice) Status() dev.Status {
	var st dev.Status
	for _, d := range packet.Links {
		st[d] = dev.LinkMFM
	}
	return st
}

// isLive reports whether the neighbour on d is live.
func (ns *neighbours) isLive(d packet.Dir) bool {
	if !d.IsLink() {
		return false
	}
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.n[d].state == Live
}

// helloFrom is a valid hello payload from tile id.
func helloFrom(id p2p.TileID) []byte {
	return AppendHello(nil, Hello{Version: ProtocolVersion, Tile: id, TS: 1})
}

// disconnect ends the neighbour on d as the liveness deadline would.
func (dm *Daemon) disconnect(d packet.Dir) {
	ns := &dm.nbr
	ns.mu.Lock()
	defer ns.mu.Unlock()
	r := ns.rules
	r.deadAfter = -time.Nanosecond // any silence is past the deadline
	dm.applyLocked(d, ns.n[d].step(input{kind: inTick}, time.Now(), r))
}

// A full send queue that is dropped because its neighbour left must wake
// the sender waiting for Drained: no packet will ever leave that queue to
// fire it otherwise, and a service.sock client would wait forever.
func TestDisconnectWakesSenderOfFullQueue(t *testing.T) {
	cfg := testConfig(t)
	cfg.ServiceQueue = 4
	svc := &echoService{}
	dm, err := New(cfg, Options{Device: newStuckDevice(), Services: []p2p.Service{svc}, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	dm.nbr.heard(dm, packet.ET, helloFrom(p2p.TileID{1}))
	h := dm.inproc[0]
	for i := 0; ; i++ {
		err := h.Send(packet.ET, []byte("x"))
		if errors.Is(err, p2p.ErrQueueFull) {
			break
		}
		if err != nil || i > cfg.ServiceQueue {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	select {
	case <-h.Drained():
		t.Fatal("Drained fired before anything was drained")
	default:
	}
	dm.disconnect(packet.ET)
	select {
	case <-h.Drained():
	default:
		t.Fatal("queue dropped on disconnect, but the service waiting on Drained was not woken")
	}
	if n := dm.out.links[packet.ET].pending; n != 0 {
		t.Fatalf("%d packets still pending for a neighbour that left", n)
	}
}

// A client that attaches to mfm.sock or service.sock while neighbours come
// and go must see, per link, connect and disconnect alternating, starting
// with a connect, with nothing duplicated, lost or out of order, whatever
// moment it attaches at. The initial connects for live neighbours and the
// events that follow are one ordered stream.
func TestAttachingClientSeesConsistentEvents(t *testing.T) {
	for _, sock := range []string{control.MFMSocket, control.ServiceSocket} {
		t.Run(sock, func(t *testing.T) {
			cfg := testConfig(t)
			cfg.InboxLen = 4096
			cfg.HelloInterval = conf.Duration(time.Hour) // the test drives every event
			cfg.DeadAfter = conf.Duration(2 * time.Hour)
			cfg.IdentityHold = conf.Duration(time.Nanosecond) // a new tile at every flap
			r := startDaemon(t, cfg, newStuckDevice())
			const flaps = 20 // 40 events: within a service client's hub queue of 64
			for iter := range 100 {
				path := filepath.Join(cfg.RunDir, sock)
				c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
				if err != nil {
					t.Fatal(err)
				}
				if sock == control.ServiceSocket {
					bind(t, c, "bind 30", "ok 30")
				}
				// Flap ET while the daemon attaches the client, then mark the
				// end with a connect on WT.
				done := make(chan struct{})
				go func() {
					defer close(done)
					for i := range flaps {
						r.nbr.heard(r.Daemon, packet.ET, helloFrom(p2p.TileID{byte(i + 1)}))
						r.disconnect(packet.ET)
					}
					r.nbr.heard(r.Daemon, packet.WT, helloFrom(p2p.TileID{0xee}))
				}()
				var seq []packet.Event
				buf := make([]byte, 256)
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for end := false; !end; {
					n, err := c.Read(buf)
					if err != nil {
						t.Fatalf("iteration %d: after %v: %v", iter, seq, err)
					}
					e, err := p2p.ParseEvent(buf[:n])
					if err != nil || e.Kind == packet.EventMFMCompatible || e.Kind == packet.EventMFMIncompatible {
						continue // MFM compatibility follows the link, not the hellos
					}
					switch e.Dir {
					case packet.ET:
						seq = append(seq, e.Kind)
					case packet.WT:
						end = e.Kind == packet.EventConnect
					}
				}
				<-done
				if err := checkAlternating(seq); err != nil {
					t.Fatalf("iteration %d: ET events %v: %v", iter, seq, err)
				}
				c.Close()
				r.disconnect(packet.WT)
				eventually(t, "client released", func() bool {
					if sock == control.MFMSocket {
						return !r.Status().MFMClient
					}
					return r.owners[30].Load() == nil
				})
			}
		})
	}
}

// checkAlternating checks one link's events as a client saw them, the
// last being a disconnect.
func checkAlternating(seq []packet.Event) error {
	want := packet.EventConnect
	for i, e := range seq {
		if e != want {
			return fmt.Errorf("event %d is %v, want %v", i, e, want)
		}
		if want == packet.EventConnect {
			want = packet.EventDisconnect
		} else {
			want = packet.EventConnect
		}
	}
	if len(seq) > 0 && seq[len(seq)-1] != packet.EventDisconnect {
		return errors.New("the link ends live, but its neighbour left")
	}
	return nil
}
