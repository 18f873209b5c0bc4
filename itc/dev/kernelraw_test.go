package dev

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/packet"
)

// TestRawSafe: raw calls only on a non-blocking descriptor off FUSE (the
// FUSE case: TestKernelModelServiceBothWays).
func TestRawSafe(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[0])
	defer unix.Close(fds[1])
	if rawSafe(fds[0]) {
		t.Error("a blocking descriptor taken as safe for raw calls")
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	if !rawSafe(fds[0]) {
		t.Error("a non-blocking socket not taken as safe for raw calls")
	}
	if rawSafe(-1) {
		t.Error("a bad descriptor taken as safe")
	}
	// Raw reads and writes behave as the announced ones: one packet a
	// call, EAGAIN when there is none.
	buf := make([]byte, 16)
	if _, err := devRead(fds[0], buf, true); err != unix.EAGAIN {
		t.Fatalf("empty raw read: %v, want EAGAIN", err)
	}
	if n, err := devWrite(fds[1], []byte("pkt"), false); n != 3 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := devRead(fds[0], buf, true); n != 3 || err != nil || string(buf[:n]) != "pkt" {
		t.Fatalf("raw read %q, %v", buf[:n], err)
	}
	if n, err := devWrite(fds[0], []byte("back"), true); n != 4 || err != nil {
		t.Fatal(n, err)
	}
	if n, err := devRead(fds[1], buf, false); n != 4 || err != nil || string(buf[:n]) != "back" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// TestSleeper: the timerfd fires once per arm, a new arm replaces the
// time set before, and close ends its goroutine.
func TestSleeper(t *testing.T) {
	s, err := newSleeper()
	if err != nil {
		t.Fatal(err)
	}
	ran := make(chan struct{})
	go func() {
		defer close(ran)
		s.run()
	}()
	wait := func(what string) {
		t.Helper()
		select {
		case <-s.C:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no wakeup within 10 s", what)
		}
	}
	s.arm(time.Millisecond)
	wait("armed for 1 ms")
	s.arm(time.Hour)
	s.arm(0) // replaces the hour: fires at once
	wait("an hour replaced by now")
	s.arm(time.Hour)
	select {
	case <-s.C:
		t.Fatal("fired long before its hour")
	case <-time.After(20 * time.Millisecond):
	}
	s.close()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("run still going 10 s after close")
	}
	s.arm(time.Millisecond) // after close: harmless
}

// TestRawSafeKinds: a regular file is never read raw, a character device
// is.
func TestRawSafeKinds(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	unix.SetNonblock(int(f.Fd()), true)
	if rawSafe(int(f.Fd())) {
		t.Error("a regular file taken as safe for raw calls")
	}
	null, err := unix.Open("/dev/null", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skip(err)
	}
	defer unix.Close(null)
	if !rawSafe(null) {
		t.Error("/dev/null, non-blocking, not taken as safe for raw calls")
	}
}

// TestKernelRawReadError: a device whose raw read fails is reported, not
// polled forever as empty. The device is a FIFO's write end, which
// cannot be read (EBADF).
func TestKernelRawReadError(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	r, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(r)
	w, err := unix.Open(fifo, unix.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	status := filepath.Join(t.TempDir(), "status")
	writeStatus(t, status, "00000000")
	k, err := newKernel(KernelConfig{StatusPath: status, Logger: quietLog}, []*kernelFD{{fd: w, path: "write end"}})
	if err != nil {
		unix.Close(w)
		t.Fatal(err)
	}
	defer k.Close()
	if !k.svc[0].raw {
		t.Fatal("a FIFO taken as unsafe for raw calls")
	}
	got := make(chan error, 1)
	go func() {
		_, err := k.ReadPacket(make([]byte, packet.MaxLen))
		got <- err
	}()
	select {
	case err := <-got:
		if !errors.Is(err, unix.EBADF) || !strings.Contains(err.Error(), "write end") {
			t.Fatalf("read of a write end: %v, want EBADF naming the device", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the failing device is still polled as empty after 10 s")
	}
}

// TestStatusReader: in a filesystem held in memory the status file is
// read by raw calls, and reads as os.ReadFile would: its content, its
// change, and its absence (fs.ErrNotExist).
func TestStatusReader(t *testing.T) {
	dir, err := os.MkdirTemp("/dev/shm", "itcd-test")
	if err != nil {
		t.Skip("no /dev/shm:", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "status")
	r := newStatusReader(path)
	if r.decided {
		t.Fatal("decided on a file not there yet")
	}
	if _, err := r.read(); !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r.read(); !r.decided || !r.raw {
		t.Skip("/dev/shm is not held in memory here")
	}
	for _, want := range []string{"00000020\n", "11101110\n", ""} {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if got, err := r.read(); err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if newStatusReader("/no/such/dir/status").raw {
		t.Error("raw calls for a path whose filesystem is unknown")
	}
}
