package main

// examples/mfm_client.c, built with the machine's C compiler and run
// against simulated tiles. It lives here because a Go package directory
// may not hold C files without cgo.

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
)

// startPipeTile runs a daemon with physics identity mfzid on dv until the
// test ends.
func startPipeTile(t *testing.T, mfzid string, dv dev.Device) daemon.Config {
	t.Helper()
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.StateDir, cfg.RunDir = filepath.Join(dir, "state"), filepath.Join(dir, "run")
	cfg.HelloInterval = conf.Duration(50 * time.Millisecond)
	cfg.DeadAfter = conf.Duration(1500 * time.Millisecond)
	cfg.MFZID = mfzid
	runTestDaemon(t, cfg, daemon.Options{Device: dv, DeviceName: "pipe"})
	return cfg
}

// readUntil reads messages from c until one satisfies ok.
func readMessagesUntil(t *testing.T, c *net.UnixConn, what string, ok func([]byte) bool) {
	t.Helper()
	buf := make([]byte, 512)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(buf[:n]) {
			return
		}
	}
}

// TestMFMClient builds examples/mfm_client.c with the machine's C
// compiler and runs it as mfmt2 on tile A of two simulated tiles joined
// on A's ET. A and B start with different physics identities; the client
// gives B's, sends its packet once ET is MFM-compatible, and prints the
// packet B's mfm.sock client sends back.
func TestMFMClient(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler (cc) on this machine: examples/mfm_client.c not built or run")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bin := filepath.Join(t.TempDir(), "mfm_client")
	build := exec.CommandContext(ctx, cc, "-std=c99", "-Wall", "-Wextra", "-O2", "-o", bin, filepath.Join("..", "..", "examples", "mfm_client.c"))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("cc mfm_client.c: %v\n%s", err, out)
	} else if len(out) > 0 {
		t.Errorf("cc mfm_client.c warns:\n%s", out)
	}

	a, b := dev.Pipe(packet.ET, 64)
	ca := startPipeTile(t, "", a)
	cb := startPipeTile(t, "demo[t]", b)
	mb, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: filepath.Join(cb.RunDir, control.MFMSocket), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	// Once A is live at B, the client on A hears a connect when it starts.
	readMessagesUntil(t, mb, "B's connect for WT", func(m []byte) bool {
		e, err := p2p.ParseEvent(m)
		return err == nil && e.Kind == packet.EventConnect && e.Dir == packet.WT
	})

	client := exec.CommandContext(ctx, bin, "-s", filepath.Join(ca.RunDir, control.MFMSocket),
		"-z", "demo[t]", "-m", "ET:2001ff", "-c", "1", "-t", "30")
	var stdout, stderr strings.Builder
	client.Stdout, client.Stderr = &stdout, &stderr
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- client.Wait() }()
	// On a failure, what the client saw (TEPs, whether it sent) tells
	// where its packet went; read once it has exited.
	waited := false
	defer func() {
		if !t.Failed() {
			return
		}
		if !waited {
			client.Process.Kill()
			<-exited
		}
		t.Logf("mfm_client:\nstdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	}()

	// B's side: WT turns MFM-compatible and the client's packet arrives,
	// and only then does B send the client one. Each tile learns of the
	// compatibility on its own: a packet B sent the moment B saw it could
	// reach A before A saw it, and A drops MFM on a link not compatible
	// (a CI run lost it that way). The client sends only once A saw it,
	// so its packet may reach B before B's own TEP does: the two are
	// awaited in either order (read one after the other, the packet went
	// by unseen while the test waited for the TEP, and it failed so once
	// under qemu-arm).
	var compatible, arrived bool
	readMessagesUntil(t, mb, "B's mfm_compatible for WT and the client's MFM packet", func(m []byte) bool {
		if e, err := p2p.ParseEvent(m); err == nil && e.Kind == packet.EventMFMCompatible && e.Dir == packet.WT {
			compatible = true
		}
		if p, err := packet.Decode(m); err == nil && p.Kind == packet.KindMFM && p.Dir == packet.WT && string(p.Payload) == "\x20\x01\xff" {
			arrived = true
		}
		return compatible && arrived
	})
	pkt, _ := packet.AppendMFM(nil, packet.WT, false, false, []byte{0x20, 'h', 'i'})
	if _, err := mb.Write(pkt); err != nil {
		t.Fatal(err)
	}

	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Fatalf("mfm_client: %v", err)
		}
	case <-time.After(40 * time.Second):
		t.Fatal("mfm_client did not exit within 40 s")
	}
	out := stdout.String()
	for _, want := range []string{
		"reply ok MFZID demo[t]\n",
		"tep connect ET ",
		"tep mfm_compatible ET ",
		"sent ET 4 a2 20 01 ff\n",
		"mfm ET 4 a2 20 68 69\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("mfm_client printed no %q", want)
		}
	}
	if testing.Verbose() && !t.Failed() {
		t.Logf("mfm_client:\n%s", out)
	}
}
