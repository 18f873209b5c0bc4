package tubes_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/services/tubes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/tube/tubetest"
)

// TestGridCleanCloseThroughLoss: tubes that move a little each way and
// close, over links that lose a quarter of their packets. Both programs
// of every tube get every byte and 'c', though the last ACKs of many
// closings are lost (the one that says the far program read the end
// above all).
func TestGridCleanCloseThroughLoss(t *testing.T) {
	g := startGrid(t, 2, 1, dev.LinkProfile{Rate: 256 << 10, Loss: 0.25})
	const tubes = 12
	var wg sync.WaitGroup
	errs := make(chan string, 2*tubes)
	for i := range tubes {
		op, acc := openPair(t, g, 40+i, "")
		for j, c := range []*tubetest.Raw{op, acc} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := randomBytes(3000, int64(2*i+j))
				want := randomBytes(3000, int64(2*i+1-j))
				got, final := c.Pump(data, 40*time.Second)
				if final != "c" || !bytes.Equal(got, want) {
					errs <- fmt.Sprintf("tube %d side %d: final %q, %d of %d bytes", i, j, final, len(got), len(want))
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	failed := false
	for e := range errs {
		t.Error(e)
		failed = true
	}
	if failed {
		for _, c := range []tilegrid.Coord{{X: 0}, {X: 1}} {
			for _, ts := range tubeStatus(t, g, c).Tubes {
				t.Logf("%v: %+v", c, ts)
			}
		}
	}
}

// TestGridIdleAndStalledTubesLive: with give_up_after at 1s, a tube idle
// for longer writes again, and a reader that stops reading for longer
// (the far itcd answering every probe) reads on: neither is taken for a
// dead peer.
func TestGridIdleAndStalledTubesLive(t *testing.T) {
	g := startGridWith(t, 2, 1, dev.LinkProfile{Rate: 256 << 10}, func(c *tubes.Config) {
		c.GiveUpAfter, c.MaxRTO = conf.Duration(time.Second), conf.Duration(300*time.Millisecond)
	})
	op, acc := openPair(t, g, 7, "acks")
	op.Send([]byte("done"))
	if f, err := acc.Recv(10 * time.Second); err != nil || string(f) != "done" {
		t.Fatalf("first: %q %v", f, err)
	}
	acc.Send(appendU64('a', 3))         // "one"
	time.Sleep(2500 * time.Millisecond) // idle past give_up_after
	// Now a window's worth and more, which the reader does not read for
	// a while.
	data := randomBytes(3*tubes.DefaultConfig().Window, 5)
	go func() {
		for off := 0; off < len(data); off += 4000 {
			op.Conn.Write(append([]byte{'d'}, data[off:min(off+4000, len(data))]...))
		}
	}()
	time.Sleep(2500 * time.Millisecond) // the window is closed meanwhile
	var got []byte
	for len(got) < len(data) {
		f, err := acc.Recv(10 * time.Second)
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v", len(got), len(data), err)
		}
		if f[0] != 'd' {
			t.Fatalf("after %d of %d bytes: frame %q", len(got), len(data), f)
		}
		got = append(got, f[1:]...)
		acc.Send(appendU64('a', uint64(len(got))+3))
	}
	if !bytes.Equal(got, data) {
		t.Fatal("bytes differ")
	}
}
