package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/buildinfo"
	"github.com/t2tiles/itcd/internal/emulation"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz"
)

// proc is an `itcd run` process started by a test.
type proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	runDir string
	log    string
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited is closed
}

// udpSock is a tile's UDP socket, bound by the test and held until it
// ends: the itcd processes inherit it (--udp-fd 3), so no other program
// can take the port, not even while a killed tile restarts.
type udpSock struct {
	file *os.File
	addr string
}

func udpSocket(t testing.TB) udpSock {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return udpSock{file: f, addr: c.LocalAddr().String()}
}

func startItcd(t testing.TB, dir string, sock udpSock, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, runDir: filepath.Join(dir, "run"), log: filepath.Join(dir, "log"), exited: make(chan struct{})}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	logf, err := os.OpenFile(p.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	all := append([]string{"run", "--config", filepath.Join(dir, "none.toml"), "--state-dir", filepath.Join(dir, "state"), "--run-dir", p.runDir, "--udp-fd", "3"}, args...)
	p.cmd = exec.Command(exe, all...)
	p.cmd.Env = append(os.Environ(), "ITCD_TEST_AS_MAIN=1")
	p.cmd.Stderr, p.cmd.Stdout = logf, logf
	p.cmd.ExtraFiles = []*os.File{sock.file} // fd 3
	if err := os.WriteFile(filepath.Join(dir, "none.toml"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			b, _ := os.ReadFile(p.log)
			t.Logf("log of %s:\n%s", dir, b)
		}
	})
	waitFor(t, "control socket of "+dir, func() bool {
		c, err := control.Dial(p.runDir)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
	return p
}

func (p *proc) status() control.Status {
	p.t.Helper()
	c, err := control.Dial(p.runDir)
	if err != nil {
		p.t.Fatal(err)
	}
	defer c.Close()
	var st control.Status
	if err := c.Call("status", nil, &st); err != nil {
		p.t.Fatal(err)
	}
	return st
}

func (p *proc) link(d packet.Dir) control.LinkStatus {
	for _, l := range p.status().Links {
		if l.Dir == d {
			return l
		}
	}
	p.t.Fatalf("no link %v in status", d)
	return control.LinkStatus{}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dialSeq(t *testing.T, path string) *net.UnixConn {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// nextTEP reads packets from c until a TEP connect or disconnect arrives.
func nextTEP(t *testing.T, c *net.UnixConn, timeout time.Duration) p2p.Event {
	t.Helper()
	buf := make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(timeout))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for a TEP: %v", err)
		}
		// MFM compatibility (TEP 3, 4) follows the link, not the
		// neighbour: the callers wait for connects and disconnects.
		if e, err := p2p.ParseEvent(buf[:n]); err == nil && e.Kind != packet.EventMFMCompatible && e.Kind != packet.EventMFMIncompatible {
			return e
		}
	}
}

func nextOfKind(t *testing.T, c *net.UnixConn, kind packet.Kind) (packet.Packet, []byte) {
	t.Helper()
	buf := make([]byte, 256)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for a %v packet: %v", kind, err)
		}
		if p, err := packet.Decode(buf[:n]); err == nil && p.Kind == kind {
			return p, buf[:n]
		}
	}
}

func TestRunTwoTilesOverUDP(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	emulation.SkipNoExec(t)
	dir := t.TempDir()
	ua, ub := udpSocket(t), udpSocket(t)
	bArgs := []string{"--link", "WT=" + ua.addr}
	a := startItcd(t, filepath.Join(dir, "a"), ua, "--link", "ET="+ub.addr)
	b := startItcd(t, filepath.Join(dir, "b"), ub, bArgs...)

	mfmA := dialSeq(t, filepath.Join(a.runDir, control.MFMSocket))
	mfmB := dialSeq(t, filepath.Join(b.runDir, control.MFMSocket))
	ea, eb := nextTEP(t, mfmA, 20*time.Second), nextTEP(t, mfmB, 20*time.Second)
	idA, idB := a.status().Tile, b.status().Tile
	if ea.Kind != packet.EventConnect || ea.Dir != packet.ET || ea.Tile != idB {
		t.Fatalf("A's TEP %v, want connect ET %v", ea, idB)
	}
	if eb.Kind != packet.EventConnect || eb.Dir != packet.WT || eb.Tile != idA {
		t.Fatalf("B's TEP %v, want connect WT %v", eb, idA)
	}

	// mfmt2 on A writes an MFM packet to ET; mfmt2 on B reads it from WT.
	pkt, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte("atom"))
	if _, err := mfmA.Write(pkt); err != nil {
		t.Fatal(err)
	}
	if p, _ := nextOfKind(t, mfmB, packet.KindMFM); p.Dir != packet.WT || string(p.Payload) != "atom" {
		t.Fatalf("B read %+v", p)
	}

	// A program on A talks to one on B through service.sock.
	sa, sb := dialSeq(t, filepath.Join(a.runDir, control.ServiceSocket)), dialSeq(t, filepath.Join(b.runDir, control.ServiceSocket))
	for _, c := range []*net.UnixConn{sa, sb} {
		c.Write([]byte("bind 30"))
		buf := make([]byte, 64)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if n, err := c.Read(buf); err != nil || string(buf[:n]) != "ok 30" {
			t.Fatalf("bind: %q %v", buf[:n], err)
		}
	}
	svc, _ := packet.AppendService(nil, packet.ET, 30, []byte("hi B"))
	if _, err := sa.Write(svc); err != nil {
		t.Fatal(err)
	}
	if p, _ := nextOfKind(t, sb, packet.KindService); p.Dir != packet.WT || p.Service != 30 || string(p.Payload) != "hi B" {
		t.Fatalf("B's program read %+v", p)
	}

	// Garbage at A's UDP port, from a stranger and in a bad frame, is
	// counted and changes nothing else.
	g, err := net.Dial("udp", ua.addr)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 50; i++ {
		g.Write([]byte{0x54, 0x01, 0x06, 0x82, byte(i)})
		g.Write([]byte("not a frame at all"))
	}
	g.Close()
	waitFor(t, "A to count the strangers' datagrams", func() bool {
		st := a.status()
		return st.DeviceStats != nil && st.DeviceStats.UnknownSource >= 100
	})
	if l := a.link(packet.ET); l.State != control.Live || l.Connects != 1 {
		t.Fatalf("after garbage, A's ET: %+v", l)
	}
	// B's hellos (with a physics identity digest, as on a tile) carry
	// its itcd version; A's status shows it.
	if l, want := a.link(packet.ET), buildinfo.Wire(buildinfo.Read().Version); l.PeerBuild != want {
		t.Errorf("A's ET shows itcd version %q, want B's %q", l.PeerBuild, want)
	}

	// kill -9 B: A reports the disconnect within the deadline.
	killed := time.Now()
	b.cmd.Process.Signal(syscall.SIGKILL)
	<-b.exited
	e := nextTEP(t, mfmA, 20*time.Second)
	took := time.Since(killed)
	if e.Kind != packet.EventDisconnect || e.Dir != packet.ET || e.Tile != idB {
		t.Fatalf("A's TEP after kill: %v", e)
	}
	t.Logf("disconnect seen %v after kill -9 (default deadline 3s)", took.Round(time.Millisecond))

	// B restarts with its state dir: the same tile connects again.
	startItcd(t, filepath.Join(dir, "b"), ub, bArgs...)
	if e := nextTEP(t, mfmA, 20*time.Second); e.Kind != packet.EventConnect || e.Tile != idB {
		t.Fatalf("A's TEP after restart: %v, want connect of %v", e, idB)
	}

	// SIGTERM: A stops cleanly and removes its sockets.
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-a.exited:
		if a.err != nil {
			t.Fatalf("A exited with %v after SIGTERM", a.err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("A did not stop on SIGTERM")
	}
	for _, s := range []string{control.MFMSocket, control.ServiceSocket, control.ControlSocket} {
		if _, err := os.Stat(filepath.Join(a.runDir, s)); !os.IsNotExist(err) {
			t.Errorf("%s left behind after SIGTERM", s)
		}
	}
	log, _ := os.ReadFile(a.log)
	if !strings.Contains(string(log), "stopped cleanly") {
		t.Errorf("A's log does not say it stopped cleanly")
	}
	// The first line says which build this is and what it speaks.
	first, _, _ := strings.Cut(string(log), "\n")
	for _, want := range []string{`msg="itcd starting"`, "version=" + buildinfo.Read().Version, "go=" + runtime.Version(), "liveness_hello=" + strconv.Itoa(daemon.ProtocolVersion), "udp_frames=3", "mfz_file=" + strconv.Itoa(mfz.FormatVersion)} {
		if !strings.Contains(first, want) {
			t.Errorf("A's first log line lacks %s: %s", want, first)
		}
	}
}

// At 20% loss on both directions neither end may see a false disconnect.
func TestRunNoFalseDisconnectAtTwentyPercentLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and runs for seconds")
	}
	emulation.SkipNoExec(t)
	dir := t.TempDir()
	sa, sb := udpSocket(t), udpSocket(t)
	a := startItcd(t, filepath.Join(dir, "a"), sa, "--link", "NE="+sb.addr, "--loss", "0.2", "--seed", "7")
	b := startItcd(t, filepath.Join(dir, "b"), sb, "--link", "SW="+sa.addr, "--loss", "0.2", "--seed", "8")
	waitFor(t, "both ends live", func() bool {
		return a.link(packet.NE).State == control.Live && b.link(packet.SW).State == control.Live
	})
	// 6 s is 24 hello intervals and 60 keepalive intervals at 20% loss.
	time.Sleep(6 * time.Second)
	la, lb := a.link(packet.NE), b.link(packet.SW)
	if la.State != control.Live || la.Connects != 1 || lb.State != control.Live || lb.Connects != 1 {
		t.Fatalf("false disconnect at 20%% loss: A %+v, B %+v", la, lb)
	}
	if st := a.status(); st.DeviceStats == nil || st.DeviceStats.Links[packet.NE].Lost == 0 {
		t.Fatal("the loss impairment did not drop anything: the test tests nothing")
	}
}

// --udp-fd must name an inherited UDP socket; anything else is a usage
// error that says so, before any daemon starts.
func TestRunUDPFDMustBeAUDPSocket(t *testing.T) {
	dir := t.TempDir()
	f, err := os.CreateTemp(dir, "not-a-socket")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, fd := range []string{"999", strconv.Itoa(int(f.Fd()))} {
		var stderr bytes.Buffer
		code := cmdRun([]string{"--udp-fd", fd, "--state-dir", filepath.Join(dir, "s"), "--run-dir", filepath.Join(dir, "r")}, io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), "--udp-fd "+fd) {
			t.Errorf("--udp-fd %s: exit %d, stderr %q; want 2 and a word about --udp-fd", fd, code, stderr.String())
		}
	}
}
