//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
)

// deadline bounds every wait for the model to reach a state.
const deadline = 15 * time.Second

// pair mounts a model with two tiles, a's ET joined to b's WT.
func pair(t *testing.T, cfg itcmodel.Config) (*itcmodel.Model, *itcmodel.Tile, *itcmodel.Tile) {
	t.Helper()
	return itcmodel.PairForTest(t, cfg)
}

// open opens path with flags and closes it when the test ends (before
// the model's cleanup, which was registered earlier).
func open(t *testing.T, path string, flags int) int {
	t.Helper()
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// openOn is open for a goroutine other than the test's own (onThread):
// it reports a failure with Errorf and returns -1.
func openOn(t *testing.T, path string, flags int) int {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Errorf("open %s: %v", path, err)
		return -1
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// openErr returns the errno of opening path, closing it if it opened.
func openErr(path string, flags int) error {
	fd, err := unix.Open(path, flags|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
	}
	return err
}

// write writes p to fd as one packet and fails the test on an error.
func write(t *testing.T, fd int, p []byte) {
	t.Helper()
	n, err := unix.Write(fd, p)
	if err != nil || n != len(p) {
		t.Fatalf("write % x: n=%d err=%v", p, n, err)
	}
}

// readPacket reads one packet from a non-blocking fd, polling until one
// comes or the deadline passes.
func readPacket(t *testing.T, fd int) []byte {
	t.Helper()
	buf := make([]byte, 512)
	end := time.Now().Add(deadline)
	for {
		n, err := unix.Read(fd, buf)
		if err == nil {
			return buf[:n]
		}
		if err != unix.EAGAIN && err != unix.EINTR {
			t.Fatalf("read: %v", err)
		}
		if time.Now().After(end) {
			t.Fatalf("no packet within %v", deadline)
		}
		time.Sleep(time.Millisecond)
	}
}

// expectEmpty checks that a non-blocking read of fd finds nothing.
func expectEmpty(t *testing.T, fd int) {
	t.Helper()
	buf := make([]byte, 512)
	n, err := unix.Read(fd, buf)
	if err != unix.EAGAIN {
		t.Fatalf("read: got % x, %v; want EAGAIN", buf[:max(n, 0)], err)
	}
}

// readFile reads a sysfs file of the model.
func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// onThread runs f on a goroutine locked to a new OS thread and waits for
// it: every system call f makes comes from that one thread, which ends
// with f (a goroutine that exits locked takes its thread with it), so no
// later goroutine runs on it.
func onThread(f func(tid int)) {
	th := newThread()
	th.do(f)
	th.stop()
}

// thread is one OS thread that runs functions on request, for tests that
// need the same thread again later.
type thread struct {
	work chan func()
	done chan struct{}
	tid  int
}

func newThread() *thread {
	th := &thread{work: make(chan func()), done: make(chan struct{})}
	ready := make(chan int)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(th.done)
		ready <- unix.Gettid()
		for f := range th.work {
			f()
		}
	}()
	th.tid = <-ready
	return th
}

// do runs f on the thread and waits for it.
func (th *thread) do(f func(tid int)) {
	fin := make(chan struct{})
	th.work <- func() { defer close(fin); f(th.tid) }
	<-fin
}

func (th *thread) stop() {
	close(th.work)
	<-th.done
}

// writeMFZID writes id to t's mfzid file from the calling thread.
func writeMFZID(tile *itcmodel.Tile, id string) error {
	fd, err := unix.Open(tile.SysPath("mfzid"), unix.O_WRONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(id))
	return err
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(time.Millisecond)
	}
}

// statistics parses the statistics file into rows by dir8, columns by
// header name.
func statistics(t *testing.T, tile *itcmodel.Tile) [8]map[string]uint64 {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(readFile(t, tile.SysPath("statistics")), "\n"), "\n")
	if len(lines) != 9 {
		t.Fatalf("statistics: %d lines, want 9", len(lines))
	}
	cols := strings.Fields(lines[0])
	var out [8]map[string]uint64
	for d := range 8 {
		f := strings.Fields(lines[d+1])
		if len(f) != len(cols) {
			t.Fatalf("statistics line %q: %d fields, want %d", lines[d+1], len(f), len(cols))
		}
		out[d] = map[string]uint64{}
		for i, c := range cols {
			v, err := parseUint(f[i])
			if err != nil {
				t.Fatalf("statistics %s: %v", c, err)
			}
			out[d][c] = v
		}
	}
	return out
}

func parseUint(s string) (uint64, error) {
	var v uint64
	if s == "" {
		return 0, errors.New("empty field")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("not a number: " + s)
		}
		v = v*10 + uint64(c-'0')
	}
	return v, nil
}
