package tubes_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/dev"
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
		for j, c := range []*sockClient{op, acc} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := randomBytes(3000, int64(2*i+j))
				want := randomBytes(3000, int64(2*i+1-j))
				got, final := c.pump(data, 40*time.Second)
				if final != "c" || !bytes.Equal(got, want) {
					errs <- fmt.Sprintf("tube %d side %d: final %q, %d of %d bytes", i, j, final, len(got), len(want))
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
