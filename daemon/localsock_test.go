package daemon

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// dialControl opens a raw control.sock connection.
func dialControl(t *testing.T, runDir string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: filepath.Join(runDir, control.ControlSocket), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Idle control.sock clients once counted against one limit shared by all
// three sockets: 200 of them locked out mfmt2, service programs and `itcd
// status`. Limits are per socket now, and a full control.sock makes room
// by closing the client idle longest.
func TestIdleControlClientsLockOutNobody(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	r := startDaemon(t, cfg, a)
	for range 200 {
		dialControl(t, cfg.RunDir)
	}
	eventually(t, "control.sock full", func() bool { return r.sockets.status()[2].Clients == cfg.MaxClients })

	m := dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	eventually(t, "mfmt2 admitted", func() bool { return r.Status().MFMClient })
	s := dialPacket(t, filepath.Join(cfg.RunDir, control.ServiceSocket))
	bind(t, s, "bind 30", "ok 30")
	cc, err := control.Dial(cfg.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var st control.Status
	if err := cc.Call("status", nil, &st); err != nil {
		t.Fatalf("itcd status with control.sock full of idle clients: %v", err)
	}
	ctl := st.Sockets[2]
	if ctl.Name != control.ControlSocket || ctl.Clients != cfg.MaxClients || ctl.Evicted < 200-uint64(cfg.MaxClients) {
		t.Fatalf("control.sock status %+v: want %d clients and the idle ones closed to make room", ctl, cfg.MaxClients)
	}
	m.Close()
}

// A control client that sends nothing for ClientIdle is told so and
// closed, and so is a service client that never binds.
func TestIdleClientsAreClosed(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	cfg.ClientIdle = conf.Duration(100 * time.Millisecond)
	startDaemon(t, cfg, a)

	c := dialControl(t, cfg.RunDir)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("idle control client: %v", err)
	}
	var resp control.Response
	if err := json.Unmarshal([]byte(line), &resp); err != nil || resp.OK || !strings.Contains(resp.Error, "no request for 100ms") {
		t.Fatalf("idle control client got %q", line)
	}

	s := dialPacket(t, filepath.Join(cfg.RunDir, control.ServiceSocket))
	buf := make([]byte, 256)
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := s.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "error: no bind within 100ms") {
		t.Fatalf("service client that never binds: %q, %v", buf[:n], err)
	}
}

// Clients that send requests and never read the answers are closed once
// an answer waits too long, so they cannot hold control.sock busy.
func TestControlClientsThatDoNotReadAreClosed(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	cfg.MaxClients = 2
	cfg.ClientIdle = conf.Duration(200 * time.Millisecond)
	r := startDaemon(t, cfg, a)
	req := []byte("{\"cmd\":\"status\"}\n")
	for range cfg.MaxClients {
		c := dialControl(t, cfg.RunDir)
		go func() { // fill its socket with answers it never reads
			for {
				if _, err := c.Write(req); err != nil {
					return
				}
			}
		}()
	}
	eventually(t, "the silent readers admitted", func() bool { return r.sockets.status()[2].Clients == cfg.MaxClients })
	eventually(t, "the silent readers closed", func() bool { return r.sockets.status()[2].Clients == 0 })
	cc, err := control.Dial(cfg.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if err := cc.Call("ping", nil, nil); err != nil {
		t.Fatalf("control.sock after clients that never read: %v", err)
	}
}

// A socket whose clients are all busy refuses a new one with a reason it
// can read, and the refusal is counted; root and the daemon's own user
// still get in, to a reserve of ownerReserve places.
func TestFullSocketRefusesWithReason(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	cfg.MaxClients = 3
	r := startDaemon(t, cfg, a)
	setOwner := func(f func(int) bool) {
		r.sockets.mu.Lock()
		r.sockets.owner = f
		r.sockets.mu.Unlock()
	}
	setOwner(func(int) bool { return false }) // the test runs as root
	for i := range 3 {
		bind(t, dialPacket(t, filepath.Join(cfg.RunDir, control.ServiceSocket)), fmt.Sprintf("bind %d", 40+i), "ok")
	}
	refused := func(what string) {
		t.Helper()
		extra := dialPacket(t, filepath.Join(cfg.RunDir, control.ServiceSocket))
		buf := make([]byte, 256)
		extra.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := extra.Read(buf)
		if err != nil || !strings.HasPrefix(string(buf[:n]), "error: service.sock has 3 busy clients") {
			t.Fatalf("%s: %q, %v", what, buf[:n], err)
		}
	}
	refused("a fourth client of another user")
	if got := r.sockets.status()[1].Refused; got != 1 {
		t.Fatalf("service.sock refused = %d, want 1", got)
	}
	setOwner(isOwner)
	for i := range ownerReserve {
		bind(t, dialPacket(t, filepath.Join(cfg.RunDir, control.ServiceSocket)), fmt.Sprintf("bind %d", 50+i), "ok")
	}
	refused("a client of root past the reserve")
	// The other sockets are not affected.
	dialControl(t, cfg.RunDir)
	dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	eventually(t, "mfmt2 admitted", func() bool { return r.Status().MFMClient })
}

// SOCK_SEQPACKET carries empty messages. One used to read as the end of
// the stream: the client was dropped and its service number released.
// Now it is refused and counted like any malformed message, and the
// connection stays up.
func TestEmptyMessageKeepsTheClient(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	r := startDaemon(t, cfg, a)

	s := dialPacket(t, filepath.Join(cfg.RunDir, control.ServiceSocket))
	bind(t, s, "bind 30", "ok 30")
	if _, err := s.Write(nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "empty message counted", func() bool { return r.Status().SvcRefuse == 1 })
	if r.owners[30].Load() == nil {
		t.Fatal("an empty message released the service number")
	}

	m := dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	eventually(t, "mfmt2 admitted", func() bool { return r.Status().MFMClient })
	if _, err := m.Write(nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, "empty MFM message counted", func() bool { return r.Status().MFMRefuse == 1 })
	if !r.Status().MFMClient {
		t.Fatal("an empty message dropped the MFM client")
	}

	// A real close still ends both.
	s.Close()
	m.Close()
	eventually(t, "clients released", func() bool { return r.owners[30].Load() == nil && !r.Status().MFMClient })
}

// A second mfm.sock client is told who holds the channel.
func TestSecondMFMClientIsToldWhy(t *testing.T) {
	a, _ := dev.Pipe(packet.ET, 4)
	cfg := testConfig(t)
	r := startDaemon(t, cfg, a)
	dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	eventually(t, "first client admitted", func() bool { return r.Status().MFMClient })
	second := dialPacket(t, filepath.Join(cfg.RunDir, control.MFMSocket))
	buf := make([]byte, 256)
	second.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := second.Read(buf)
	if err != nil || !strings.HasPrefix(string(buf[:n]), "error: mfm.sock is held by pid ") {
		t.Fatalf("second client got %q, %v", buf[:n], err)
	}
}
