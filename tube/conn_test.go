package tube_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/nettest"

	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tube"
)

// TestConnConformsFake runs x/net/nettest's net.Conn suite over tubes of
// the fake service, with a small window so that writers block.
func TestConnConformsFake(t *testing.T) {
	dir, _ := fake(t, 4096)
	port := uint16(100)
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		port++
		c1, c2, err := dialPair(t, dir, dir, port, false)
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

func TestAddrs(t *testing.T) {
	c1, c2, _ := pair(t, 32768, false)
	if got := c1.RemoteAddr().String(); got != "fa4e7e5700000001@ET:7" {
		t.Errorf("opener's remote %q", got)
	}
	if got := c2.LocalAddr().String(); got != "WT:7" {
		t.Errorf("accepter's local %q", got)
	}
	if c1.RemoteAddr().Network() != "itc" || c1.Window() != 32768 || c1.ID() == c2.ID() || c1.IsMessage() {
		t.Errorf("network %q window %d ids %d %d", c1.RemoteAddr().Network(), c1.Window(), c1.ID(), c2.ID())
	}
}

// TestPartialReads: a reader with a tiny buffer gets every byte, in
// order, of frames much larger than it, and the writer learns each byte
// was delivered.
func TestPartialReads(t *testing.T) {
	c1, c2, _ := pair(t, 8192, false)
	want := make([]byte, 200_000)
	rand.New(rand.NewSource(1)).Read(want)
	errc := make(chan error, 1)
	go func() {
		_, err := c1.Write(want)
		if err == nil {
			err = c1.CloseWrite()
		}
		errc <- err
	}()
	var got bytes.Buffer
	buf := make([]byte, 7)
	for {
		n, err := c2.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("got %d bytes, not what was sent", got.Len())
	}
	if err := c1.WaitDelivered(ctxFor(t, 20*time.Second), uint64(len(want))); err != nil {
		t.Fatal(err)
	}
	if c1.Sent() != uint64(len(want)) || c1.Delivered() != uint64(len(want)) {
		t.Fatalf("sent %d delivered %d", c1.Sent(), c1.Delivered())
	}
}

func TestMessageBoundaries(t *testing.T) {
	c1, c2, _ := pair(t, 1<<17, true)
	sizes := []int{0, 1, 1000, tube.MaxMessage, 3}
	for i, n := range sizes {
		id, err := c1.WriteMessage(bytes.Repeat([]byte{byte(i + 1)}, n))
		if err != nil || id != uint64(i+1) {
			t.Fatalf("message %d: id %d, %v", i, id, err)
		}
	}
	if err := c1.WaitReceived(ctxFor(t, 20*time.Second), uint64(len(sizes))); err != nil {
		t.Fatal(err)
	}
	// Received is not delivered: nobody read yet.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c1.WaitDelivered(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delivered before any read: %v (delivered %d)", err, c1.Delivered())
	}
	for i, n := range sizes {
		m, err := c2.ReadMessage()
		if err != nil || len(m) != n || (n > 0 && m[0] != byte(i+1)) {
			t.Fatalf("message %d: %d bytes (want %d), %v", i, len(m), n, err)
		}
		if err := c1.WaitDelivered(ctxFor(t, 20*time.Second), uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMessageTooLong(t *testing.T) {
	c1, c2, _ := pair(t, 1<<17, true)
	if _, err := c1.WriteMessage(make([]byte, tube.MaxMessage+1)); !errors.Is(err, tube.ErrMessageTooLong) {
		t.Fatalf("got %v", err)
	}
	if _, err := c1.Write(make([]byte, tube.MaxMessage+1)); !errors.Is(err, tube.ErrMessageTooLong) {
		t.Fatalf("Write: got %v", err)
	}
	// Nothing was sent: the tube is fine and numbering goes on at 1.
	if id, err := c1.WriteMessage([]byte("ok")); err != nil || id != 1 {
		t.Fatalf("id %d, %v", id, err)
	}
	if m, err := c2.ReadMessage(); err != nil || string(m) != "ok" {
		t.Fatalf("%q %v", m, err)
	}
	if _, err := c2.WriteMessage(nil); err != nil {
		t.Fatal(err)
	}
}

// TestWaitQueuesData: a Wait for delivery reads the frames in front of
// the 'v' it waits for; the data among them is kept for Read, whole.
func TestWaitQueuesData(t *testing.T) {
	c1, c2, _ := pair(t, 1<<17, true)
	for i := range 5 {
		if _, err := c2.WriteMessage([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	id, err := c1.WriteMessage([]byte("ping"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.WaitReceived(ctxFor(t, 20*time.Second), 5); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c1.WaitDelivered(ctxFor(t, 20*time.Second), id) }()
	if m, err := c2.ReadMessage(); err != nil || string(m) != "ping" {
		t.Fatalf("%q %v", m, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if m, err := c1.ReadMessage(); err != nil || len(m) != 1 || m[0] != byte(i) {
			t.Fatalf("message %d: %v %v", i, m, err)
		}
	}
}

func TestWaitDeliveredStreamNeedsTheReader(t *testing.T) {
	c1, c2, _ := pair(t, 32768, false)
	if _, err := c1.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := c1.WaitDelivered(ctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	// Read reports what it consumed when it drained what it held (or
	// a quarter window): a part read is not yet delivered, the rest is.
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c2, buf); err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel1()
	if err := c1.WaitDelivered(ctx1, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if _, err := io.ReadFull(c2, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if err := c1.WaitDelivered(ctxFor(t, 20*time.Second), 10); err != nil || c1.Delivered() != 10 {
		t.Fatal(err, c1.Delivered())
	}
	// A cancelled context ends a Wait at once, too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel2)
	if _, err := c1.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := c1.WaitDelivered(ctx2, 11); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

func TestCleanClose(t *testing.T) {
	c1, c2, _ := pair(t, 32768, false)
	var wg sync.WaitGroup
	for _, c := range []*tube.Conn{c1, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Error(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Error(err)
			}
			if b, err := io.ReadAll(c); err != nil || string(b) != "hello" {
				t.Errorf("read %q %v", b, err)
			}
			if err := c.WaitClosed(ctxFor(t, 20*time.Second)); err != nil {
				t.Error(err)
			}
			if _, err := c.Write([]byte("x")); err == nil {
				t.Error("write after CloseWrite worked")
			}
		}()
	}
	wg.Wait()
}

func TestAbortReason(t *testing.T) {
	c1, c2, _ := pair(t, 32768, false)
	if err := c1.Abort("disk full"); err != nil {
		t.Fatal(err)
	}
	_, err := c2.Read(make([]byte, 10))
	var te *tube.Error
	if !errors.Is(err, tube.ErrAborted) || !errors.As(err, &te) || te.Reason != "disk full" {
		t.Fatalf("got %v", err)
	}
	if _, err := c2.Write([]byte("x")); !errors.Is(err, tube.ErrAborted) {
		t.Fatalf("write: got %v", err)
	}
}

func TestNeighbourGone(t *testing.T) {
	c1, c2, s := pair(t, 32768, true)
	s.AbortAll("the neighbour at ET disconnected")
	for _, c := range []*tube.Conn{c1, c2} {
		if _, err := c.ReadMessage(); !errors.Is(err, tube.ErrAborted) || !strings.Contains(err.Error(), "disconnected") {
			t.Fatalf("got %v", err)
		}
		if err := c.WaitDelivered(ctxFor(t, 5*time.Second), 1); !errors.Is(err, tube.ErrAborted) {
			t.Fatalf("wait: got %v", err)
		}
	}
}

func TestFarProgramClosedEarly(t *testing.T) {
	c1, c2, _ := pair(t, 32768, false)
	if _, err := c1.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	c1.CloseWrite()
	c2.Close()
	err := c1.WaitClosed(ctxFor(t, 20*time.Second))
	if !errors.Is(err, tube.ErrAborted) || !strings.Contains(err.Error(), "far program closed") {
		t.Fatalf("got %v", err)
	}
}

func TestDeadlines(t *testing.T) {
	c1, c2, _ := pair(t, 4096, false)
	c1.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c1.Read(make([]byte, 1)); !isTimeout(err) {
		t.Fatalf("read: %v", err)
	}
	// Nobody reads c2: the writer blocks once the sockets and the fake's
	// hand-over are full, and its deadline ends the Write.
	c1.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	var err error
	for err == nil {
		_, err = c1.Write(make([]byte, 4096))
	}
	if !isTimeout(err) {
		t.Fatalf("write: %v", err)
	}
	// The tube still works once the reader reads.
	c1.SetWriteDeadline(time.Time{})
	go io.Copy(io.Discard, c2)
	if _, err := c1.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
}

func TestRefusals(t *testing.T) {
	dir, _ := fake(t, 4096)
	ctx := ctxFor(t, 20*time.Second)
	_, err := tube.Dial(ctx, packet.ET, 9, tube.Options{RunDir: dir, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, tube.ErrRefused) || !strings.Contains(err.Error(), "no program accepted port 9") {
		t.Fatalf("open with no accept: %v", err)
	}
	// Two accepts on one port at once: one is refused; Close ends the
	// other.
	var ls [2]*tube.Listener
	errs := make(chan error, 2)
	for i := range ls {
		l, err := tube.Listen(9, tube.Options{RunDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		ls[i] = l
		go func() { _, err := l.Accept(); errs <- err }()
	}
	if err := <-errs; !errors.Is(err, tube.ErrRefused) || !strings.Contains(err.Error(), "already") {
		t.Fatalf("second accept: %v", err)
	}
	ls[0].Close()
	ls[1].Close()
	if err := <-errs; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept after Close: %v", err)
	}
	// Kinds differ: both sides hear it.
	l3, _ := tube.Listen(10, tube.Options{RunDir: dir, Message: true})
	go l3.Accept()
	_, err = tube.Dial(ctx, packet.ET, 10, tube.Options{RunDir: dir})
	if !errors.Is(err, tube.ErrRefused) || !strings.Contains(err.Error(), "kinds differ") {
		t.Fatalf("kinds: %v", err)
	}
	l3.Close()
	if _, err := tube.Dial(ctx, packet.ET, 9, tube.Options{RunDir: shortDir(t)}); err == nil || !strings.Contains(err.Error(), "is itcd running") {
		t.Fatalf("no daemon: %v", err)
	}
	if _, err := tube.Dial(ctx, packet.NT, 9, tube.Options{RunDir: dir}); err == nil {
		t.Fatal("NT accepted")
	}
}
