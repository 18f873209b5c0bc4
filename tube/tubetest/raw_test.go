package tubetest_test

import (
	"bytes"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/tube/tubetest"
)

// TestRawPump: Pump sends its data in frames of at most FrameSize bytes
// and an 'f', and returns the clean close, while the far program (driven
// frame by frame with Recv and Send) consumes all and finishes.
func TestRawPump(t *testing.T) {
	for _, c := range []struct{ size, frames int }{{0, 5}, {1000, 18}, {6000, 3}} {
		dir := t.TempDir()
		s, err := tubetest.Start(dir, 1<<16)
		if err != nil {
			t.Fatal(err)
		}
		acc := tubetest.DialRaw(t, dir, "accept 7")
		op := tubetest.DialRaw(t, dir, "open ET 7")
		op.FrameSize = c.size
		if r := op.Reply(); !strings.HasPrefix(r, "ok ") {
			t.Fatalf("size %d: open: %q", c.size, r)
		}
		if r := acc.Reply(); !strings.HasPrefix(r, "ok ") {
			t.Fatalf("size %d: accept: %q", c.size, r)
		}
		data := bytes.Repeat([]byte("0123456789abcdef"), 1100)
		var got []byte
		var frames int
		var finalB string
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				f, err := acc.Recv(20 * time.Second)
				if err != nil {
					finalB = "read: " + err.Error()
					return
				}
				switch f[0] {
				case 'd':
					got = append(got, f[1:]...)
					frames++
					acc.Send(binary.BigEndian.AppendUint64([]byte{'a'}, uint64(len(got))))
				case 'e':
					acc.Send([]byte{'f'})
				case 'c', 'x':
					finalB = string(f)
					return
				}
			}
		}()
		back, finalA := op.Pump(data, 20*time.Second)
		<-done
		if finalA != "c" || finalB != "c" || len(back) != 0 || !bytes.Equal(got, data) || frames != c.frames {
			t.Fatalf("size %d: finals %q %q; got %d of %d bytes in %d frames (want %d), %d back",
				c.size, finalA, finalB, len(got), len(data), frames, c.frames, len(back))
		}
		if f, err := op.Recv(10 * time.Second); err != io.EOF {
			t.Errorf("size %d: after the close: %q, %v; want io.EOF", c.size, f, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRawExpect: Expect skips frames until the one it waits for, and
// Reply returns a refusal.
func TestRawExpect(t *testing.T) {
	dir := t.TempDir()
	s, err := tubetest.Start(dir, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acc := tubetest.DialRaw(t, dir, "accept 9 message")
	op := tubetest.DialRaw(t, dir, "open ET 9 message")
	op.Expect("ok ", 10*time.Second)
	acc.Expect("ok ", 10*time.Second)
	op.Send([]byte("dfirst"))
	op.Send([]byte("dsecond"))
	if f := acc.Expect("dsec", 10*time.Second); string(f) != "dsecond" {
		t.Errorf("Expect returned %q", f)
	}
	if r := tubetest.DialRaw(t, dir, "hello 9").Reply(); !strings.HasPrefix(r, "error ") {
		t.Errorf("a request that is not one: %q", r)
	}
}
