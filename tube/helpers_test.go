package tube_test

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tube"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// shortDir is a temp dir with a short path: a Unix socket path has at
// most 107 bytes, and t.TempDir carries the test's name.
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "tube")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// fake starts a fake tube service with window and returns its run dir.
func fake(t testing.TB, window int) (string, *tubetest.Server) {
	t.Helper()
	dir := shortDir(t)
	s, err := tubetest.Start(dir, window)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return dir, s
}

// dialPair opens a tube from openDir over ET to port and accepts it in
// acceptDir (the same dir for the fake, the neighbour's for real tiles).
func dialPair(t testing.TB, openDir, acceptDir string, port uint16, message bool) (opener, accepter *tube.Conn, err error) {
	t.Helper()
	l, err := tube.Listen(port, tube.Options{RunDir: acceptDir, Message: message})
	if err != nil {
		return nil, nil, err
	}
	defer l.Close()
	type res struct {
		c   *tube.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.AcceptTube()
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c1, err := tube.Dial(ctx, packet.ET, port, tube.Options{RunDir: openDir, Message: message})
	if err != nil {
		l.Close()
		<-ch
		return nil, nil, err
	}
	r := <-ch
	if r.err != nil {
		c1.Close()
		return nil, nil, r.err
	}
	return c1, r.c, nil
}

// pair is dialPair on one fake service, closed at the end of the test.
func pair(t *testing.T, window int, message bool) (*tube.Conn, *tube.Conn, *tubetest.Server) {
	t.Helper()
	dir, s := fake(t, window)
	c1, c2, err := dialPair(t, dir, dir, 7, message)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c1.Close(); c2.Close() })
	return c1, c2, s
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
