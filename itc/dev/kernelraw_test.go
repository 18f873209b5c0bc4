package dev

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
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
