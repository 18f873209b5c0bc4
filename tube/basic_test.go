package tube_test

import (
	"bytes"
	"io"
	"math/rand"
	"testing"
)

// TestCloseAfterWriteDeliversAll: a writer that closes at once after
// its last Write still gets every byte to the reader.
func TestCloseAfterWriteDeliversAll(t *testing.T) {
	for range 5 {
		c1, c2, _ := pair(t, 4096, false)
		want := make([]byte, 1<<20)
		rand.New(rand.NewSource(0)).Read(want)
		go func() {
			for b := want; len(b) > 0; b = b[min(len(b), 1024):] {
				if _, err := c1.Write(b[:min(len(b), 1024)]); err != nil {
					t.Error(err)
					return
				}
			}
			c1.Close()
		}()
		got, err := io.ReadAll(c2)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("got %d bytes (want %d), %v; first difference at %d", len(got), len(want), err, firstDiff(got, want))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
