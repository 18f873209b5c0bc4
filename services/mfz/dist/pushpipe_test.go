package dist_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/daemon"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// controlCall sends one request on a new control.sock connection and
// returns the answer; it gives up after a generous deadline.
func controlCall(runDir, cmd string, args any) (control.Response, error) {
	var resp control.Response
	c, err := net.Dial("unix", filepath.Join(runDir, control.ControlSocket))
	if err != nil {
		return resp, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	a, _ := json.Marshal(args)
	b, _ := json.Marshal(control.Request{Cmd: cmd, Args: a})
	if _, err := c.Write(append(b, '\n')); err != nil {
		return resp, err
	}
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil {
		return resp, fmt.Errorf("no answer: %w", err)
	}
	return resp, json.Unmarshal(line, &resp)
}

// A push of a named pipe used to wait in open for a writer for ever: the
// control request never answered, each such push held a thread, and the
// daemon could not stop (it waits for its control connections). A push of
// anything that is not a regular file is refused at once now, with the
// reason, and the daemon stops.
func TestPushOfPipeRefusedAndDaemonStops(t *testing.T) {
	dir := t.TempDir()
	cfg := daemon.DefaultConfig()
	cfg.StateDir, cfg.RunDir = filepath.Join(dir, "state"), filepath.Join(dir, "run")
	if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc, err := dist.New(dist.DefaultConfig(), dist.Options{StateDir: cfg.StateDir, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	d, _ := dev.Pipe(packet.ET, 64)
	dm, err := daemon.New(cfg, daemon.Options{Device: d, Services: []p2p.Service{svc}, Logger: log})
	if err != nil {
		svc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dm.Run(ctx) }()
	fifo := filepath.Join(dir, "pipe.mfz")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without the fix, pushes wait in open: a writer that comes and goes
	// releases them, so a failing run still ends.
	release := func() {
		if f, err := os.OpenFile(fifo, os.O_RDWR, 0); err == nil {
			f.Close()
		}
	}
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("the daemon did not stop within 15s with pipe pushes in progress")
			release()
			<-done
		}
	}()
	select {
	case <-dm.Ready():
	case err := <-done:
		t.Fatalf("daemon stopped: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("daemon not ready")
	}

	paths := map[string]string{fifo: "a named pipe", dir: "a directory", "/dev/null": "a character device"}
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]string{}
	for i := 0; i < 20; i++ {
		for p := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := controlCall(cfg.RunDir, "push", dist.PushArgs{Path: p})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					answers[p] = "error: " + err.Error()
				case resp.OK:
					answers[p] = "ok"
				default:
					answers[p] = resp.Error
				}
			}()
		}
	}
	wg.Wait()
	for p, what := range paths {
		want := p + " is " + what + ", not a regular file: push a signed .mfz file"
		if !strings.Contains(answers[p], want) {
			t.Errorf("push %s answered %q, want it to say %q", p, answers[p], want)
		}
	}
	// The daemon still answers.
	if resp, err := controlCall(cfg.RunDir, "ping", nil); err != nil || !resp.OK {
		t.Errorf("ping after the pushes: %v %+v", err, resp)
	}
}
