package main

import (
	"context"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/tube"
)

// blockedInput is standard input that is not a terminal and never
// gives anything (`sleep 1000 | itcd pipe ...`) until the test ends.
func blockedInput(t *testing.T) terminal { return newTerminal(t) }

// farEndsFirst accepts the pipe's tube on port 7, sends "hi", finishes
// writing and waits until the pipe consumed it, then runs then.
func farEndsFirst(t *testing.T, dir string, then func(*tube.Conn)) {
	t.Helper()
	l, err := tube.Listen(7, tube.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.AcceptTube()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("hi"))
		c.CloseWrite()
		if c.WaitDelivered(context.Background(), 2) == nil {
			then(c)
		}
	}()
}

// TestPipeFarAbortsAfterItsEnd: the far side finished its stream, then
// aborts while this side's standard input (not a terminal) gives
// nothing; the pipe must exit 1 with the reason, not wait for input.
func TestPipeFarAbortsAfterItsEnd(t *testing.T) {
	dir, _ := pipeRunDir(t)
	farEndsFirst(t, dir, func(c *tube.Conn) { c.Abort("far program gave up") })
	send := startPipe(context.Background(), []string{"--run-dir", dir, "--to", "ET", "7"}, blockedInput(t), false, false)
	if code := send.wait(t); code != pipeFailed || !strings.Contains(send.errs.String(), "far program gave up") {
		t.Fatalf("exit %d, stderr %q", code, send.errs.String())
	}
	if send.out.String() != "hi" {
		t.Errorf("output %q, want %q", send.out.String(), "hi")
	}
}

// TestPipeInterruptedAfterFarEnd: a signal while standard input (not a
// terminal) gives nothing and the far stream already ended: the pipe
// aborts and exits 1.
func TestPipeInterruptedAfterFarEnd(t *testing.T) {
	dir, _ := pipeRunDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	farEndsFirst(t, dir, func(*tube.Conn) { cancel() })
	send := startPipe(ctx, []string{"--run-dir", dir, "--to", "ET", "7"}, blockedInput(t), false, false)
	if code := send.wait(t); code != pipeFailed || !strings.Contains(send.errs.String(), "interrupted") {
		t.Fatalf("exit %d, stderr %q", code, send.errs.String())
	}
}
