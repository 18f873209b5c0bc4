package tube_test

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tube"
)

// python runs examples/tube_echo.py with args and stdin, and returns a
// func that waits for it and gives its stdout, stderr and error.
func python(t *testing.T, stdin string, args ...string) func() (string, string, error) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join("..", "examples", "tube_echo.py")}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errs
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	return func() (string, string, error) {
		defer cancel()
		err := cmd.Wait()
		return out.String(), errs.String(), err
	}
}

// goEcho accepts one tube on port in dir and echoes it until its end.
func goEcho(t *testing.T, dir string, port uint16) <-chan error {
	l, err := tube.Listen(port, tube.Options{RunDir: dir, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		defer l.Close()
		c, err := l.AcceptTube()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		if _, err := io.Copy(c, c); err != nil {
			done <- err
			return
		}
		c.CloseWrite()
		done <- c.WaitClosed(context.Background())
	}()
	return done
}

// pythonAgainst: the example accepts and echoes what Go sends, then
// opens and prints what a Go echo returns; both ends see a clean close.
func pythonAgainst(t *testing.T, openDir, acceptDir string) {
	wait := python(t, "", "accept", "7", acceptDir)
	// The open waits for the example's accept (up to its timeout), so
	// the order does not matter.
	c, err := tube.Dial(ctxFor(t, 30*time.Second), packet.ET, 7, tube.Options{RunDir: openDir, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := strings.Repeat("hello, tile ", 1000)
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	c.CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != msg {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	if err := c.WaitClosed(ctxFor(t, 30*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, errs, err := wait(); err != nil || !strings.Contains(errs, "tube") {
		t.Fatalf("accepting example: %v\n%s", err, errs)
	}

	done := goEcho(t, acceptDir, 8)
	wait = python(t, "ping\n", "open", "ET", "8", openDir)
	out, errs, err := wait()
	if err != nil || out != "ping\n" {
		t.Fatalf("opening example: %q, %v\n%s", out, err, errs)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPythonExampleFake(t *testing.T) {
	dir, _ := fake(t, 32768)
	pythonAgainst(t, dir, dir)
}

func TestPythonExampleGrid(t *testing.T) {
	west, east := realTiles(t)
	pythonAgainst(t, west, east)
}
