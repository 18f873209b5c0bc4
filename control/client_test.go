package control

import (
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A Call with a Timeout gives up on a daemon that never answers, with an
// error, instead of waiting for ever.
func TestControlCallTimeout(t *testing.T) {
	dir := t.TempDir()
	ln, err := net.Listen("unix", filepath.Join(dir, ControlSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // accepts and says nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cc, err := Dial(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cc.Timeout = 100 * time.Millisecond
	done := make(chan error, 1)
	go func() { done <- cc.Call("status", nil, nil) }()
	select {
	case err := <-done:
		if !os.IsTimeout(unwrapAll(err)) {
			t.Fatalf("Call to a silent daemon: %v, want a timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Call with a Timeout did not return")
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok || u.Unwrap() == nil {
			return err
		}
		err = u.Unwrap()
	}
}

// A full listen queue (a burst of other clients) answers a connect with
// EAGAIN; Dial waits a little for room instead of failing.
func TestDialRetriesFullQueue(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ControlSocket)
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	// Fill the queue: connects that nobody accepts.
	var fillers []net.Conn
	defer func() {
		for _, c := range fillers {
			c.Close()
		}
	}()
	for {
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			break
		}
		fillers = append(fillers, c)
		if len(fillers) > 64 {
			t.Skip("the kernel queued every connect: cannot fill a listen queue here")
		}
	}
	go func() { // make room after a while
		time.Sleep(200 * time.Millisecond)
		for range len(fillers) + 1 {
			nfd, _, err := unix.Accept(fd)
			if err != nil {
				return
			}
			defer unix.Close(nfd)
		}
	}()
	cc, err := Dial(dir)
	if err != nil {
		t.Fatalf("Dial with the queue full for 200ms: %v", err)
	}
	cc.Close()
}
