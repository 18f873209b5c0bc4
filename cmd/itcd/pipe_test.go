package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/tube"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// pipeRunDir starts a fake tube service (its far side is itself) in a
// short temp dir: a Unix socket path has at most 107 bytes.
func pipeRunDir(t *testing.T) (string, *tubetest.Server) {
	t.Helper()
	d, err := os.MkdirTemp("", "pipe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	s, err := tubetest.Start(d, 8192)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return d, s
}

// pipeRunner is one `itcd pipe` run in a goroutine.
type pipeRunner struct {
	out, errs syncBuffer
	code      chan int
}

func startPipe(ctx context.Context, args []string, in io.Reader, inTTY, errTTY bool) *pipeRunner {
	r := &pipeRunner{code: make(chan int, 1)}
	go func() {
		r.code <- runPipe(ctx, args, pipeIO{in: in, out: &r.out, err: &r.errs, inTTY: inTTY, errTTY: errTTY})
	}()
	return r
}

func (r *pipeRunner) wait(t *testing.T) int {
	t.Helper()
	select {
	case c := <-r.code:
		return c
	case <-time.After(60 * time.Second):
		t.Fatalf("itcd pipe still running after 60s; stderr %q", r.errs.String())
		return -1
	}
}

// syncBuffer is a bytes.Buffer goroutines may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// terminal stands for a terminal on standard input: nobody types.
type terminal struct{ done chan struct{} }

func (t terminal) Read([]byte) (int, error) { <-t.done; return 0, io.EOF }

// readStarted is a terminal that says when it is first read.
type readStarted struct {
	terminal
	started chan struct{}
}

func (r readStarted) Read(p []byte) (int, error) {
	select {
	case r.started <- struct{}{}:
	default:
	}
	return r.terminal.Read(p)
}

func newTerminal(t *testing.T) terminal {
	tt := terminal{make(chan struct{})}
	t.Cleanup(func() { close(tt.done) })
	return tt
}

func TestPipeUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"--to", "ET"}, {"--to", "NT", "7"}, {"--to", "ET", "0"}, {"--to", "ET", "7", "--listen", "7"},
		{"--listen", "70000"}, {"--listen", "7", "8"}, {"--listen", "7", "--from", "ST"}, {"--bogus"},
	} {
		var errs bytes.Buffer
		if code := runPipe(context.Background(), args, pipeIO{in: strings.NewReader(""), out: io.Discard, err: &errs}); code != pipeUsage {
			t.Errorf("%q: exit %d (want %d); %s", args, code, pipeUsage, errs.String())
		}
	}
}

func TestPipeRefused(t *testing.T) {
	dir, _ := pipeRunDir(t)
	r := startPipe(context.Background(), []string{"--run-dir", dir, "--timeout", "100ms", "--to", "ET", "7"}, strings.NewReader("x"), false, false)
	if code := r.wait(t); code != pipeFailed || !strings.Contains(r.errs.String(), "no program accepted port 7") {
		t.Fatalf("exit %d, stderr %q", code, r.errs.String())
	}
}

// TestPipeMovesBytes: a MiB from one pipe's standard input to the
// other's output, both exit 0; the listener's terminal input ends when
// the sender is done, and progress shows on a terminal.
func TestPipeMovesBytes(t *testing.T) {
	dir, _ := pipeRunDir(t)
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(3)).Read(data)
	ctx := context.Background()
	recv := startPipe(ctx, []string{"--listen", "7", "--run-dir", dir}, newTerminal(t), true, false)
	send := startPipe(ctx, []string{"--run-dir", dir, "--to", "ET", "7"}, bytes.NewReader(data), false, true)
	if code := send.wait(t); code != pipeOK {
		t.Fatalf("sender: exit %d, stderr %q", code, send.errs.String())
	}
	if code := recv.wait(t); code != pipeOK {
		t.Fatalf("receiver: exit %d, stderr %q", code, recv.errs.String())
	}
	if got := recv.out.String(); got != string(data) {
		t.Fatalf("received %d bytes, not what was sent", len(got))
	}
	if !strings.Contains(send.errs.String(), "sent 1.0 MiB, received 0 B, all delivered") {
		t.Errorf("sender's progress: %q", send.errs.String())
	}
	if recv.errs.String() != "" || send.out.String() != "" {
		t.Errorf("receiver's stderr %q, sender's stdout %q", recv.errs.String(), send.out.String())
	}
}

func TestPipeMessages(t *testing.T) {
	dir, _ := pipeRunDir(t)
	in := "one\ntwo\n" + strings.Repeat("l", tube.MaxMessage+10) + "\nlast, no newline"
	ctx := context.Background()
	recv := startPipe(ctx, []string{"--listen", "7", "--message", "--run-dir", dir}, strings.NewReader(""), false, false)
	send := startPipe(ctx, []string{"--run-dir", dir, "--message", "--to", "ET", "7"}, strings.NewReader(in), false, false)
	if code := send.wait(t); code != pipeOK {
		t.Fatalf("sender: exit %d, stderr %q", code, send.errs.String())
	}
	if code := recv.wait(t); code != pipeOK || recv.out.String() != in {
		t.Fatalf("receiver: exit %d, %d bytes, stderr %q", code, len(recv.out.String()), recv.errs.String())
	}
}

// TestPipeFarAborts: the far program aborts mid-stream; the sender
// exits 1 with its reason.
func TestPipeFarAborts(t *testing.T) {
	dir, _ := pipeRunDir(t)
	l, err := tube.Listen(7, tube.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptTube()
		if err != nil {
			return
		}
		io.ReadFull(c, make([]byte, 1000))
		c.Abort("disk full on the far side")
	}()
	send := startPipe(context.Background(), []string{"--run-dir", dir, "--to", "ET", "7"}, io.LimitReader(rand.New(rand.NewSource(1)), 1<<30), false, false)
	if code := send.wait(t); code != pipeFailed || !strings.Contains(send.errs.String(), "disk full on the far side") {
		t.Fatalf("exit %d, stderr %q", code, send.errs.String())
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

// TestPipeOutputFails: a receiver whose output fails exits 3 and aborts
// the tube; the sender exits 1 saying why.
func TestPipeOutputFails(t *testing.T) {
	dir, _ := pipeRunDir(t)
	ctx := context.Background()
	code := make(chan int, 1)
	var rerrs syncBuffer
	go func() {
		code <- runPipe(ctx, []string{"--listen", "7", "--run-dir", dir}, pipeIO{in: newTerminal(t), inTTY: true, out: brokenWriter{}, err: &rerrs})
	}()
	send := startPipe(ctx, []string{"--run-dir", dir, "--to", "ET", "7"}, strings.NewReader("hello"), false, false)
	if c := send.wait(t); c != pipeFailed || !strings.Contains(send.errs.String(), "could not write its output") {
		t.Fatalf("sender: exit %d, stderr %q", c, send.errs.String())
	}
	if c := <-code; c != pipeLocal || !strings.Contains(rerrs.String(), "broken pipe") {
		t.Fatalf("receiver: exit %d, stderr %q", c, rerrs.String())
	}
}

// TestPipeInterrupted: a signal (ctx) aborts the tube and exits 1.
func TestPipeInterrupted(t *testing.T) {
	dir, _ := pipeRunDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	recv := startPipe(context.Background(), []string{"--listen", "7", "--run-dir", dir}, newTerminal(t), true, false)
	// The pipe reads its input once the tube is open.
	in := readStarted{terminal: newTerminal(t), started: make(chan struct{}, 1)}
	send := startPipe(ctx, []string{"--run-dir", dir, "--to", "ET", "7"}, in, false, false)
	<-in.started
	cancel()
	if code := send.wait(t); code != pipeFailed || !strings.Contains(send.errs.String(), "interrupted") {
		t.Fatalf("sender: exit %d, stderr %q", code, send.errs.String())
	}
	if code := recv.wait(t); code != pipeFailed || !strings.Contains(recv.errs.String(), "interrupted") {
		t.Fatalf("receiver: exit %d, stderr %q", code, recv.errs.String())
	}
}
