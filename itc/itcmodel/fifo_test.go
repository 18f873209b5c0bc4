//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

func TestRecordFIFOAvail(t *testing.T) {
	tests := []struct {
		name    string
		fill    []int // sizes of packets put first
		avail   uint32
		used    uint32
		fits255 bool
	}{
		{"empty: capped at 255 by the one-byte header", nil, 255, 0, true},
		{"63 full packets: 256 bytes left", rep(255, 63), 255, 63 * 256, true},
		{"64 full packets: none left", rep(255, 64), 0, fifoSize, false},
		{"two bytes left: one-byte packet", append(rep(255, 63), 253), 1, fifoSize - 2, false},
		{"one byte left: nothing fits", append(rep(255, 63), 254), 0, fifoSize - 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFIFO("mUserIB", "itc!bulk")
			for _, n := range tc.fill {
				if !f.offer(make([]byte, n)) {
					t.Fatalf("a %d-byte packet did not fit", n)
				}
			}
			if f.avail() != tc.avail || f.used() != tc.used || f.fits(255) != tc.fits255 {
				t.Errorf("avail %d used %d fits(255) %v; want %d %d %v", f.avail(), f.used(), f.fits(255), tc.avail, tc.used, tc.fits255)
			}
		})
	}
}

func rep(n, count int) []int {
	s := make([]int, count)
	for i := range s {
		s[i] = n
	}
	return s
}

func TestRecordFIFODropsAndCounts(t *testing.T) {
	f := newFIFO("mUserIB", "itc!flash")
	for range 64 {
		f.offer(make([]byte, 255))
	}
	for range 3 {
		if f.offer([]byte{1, 2}) {
			t.Fatal("a full FIFO took a packet")
		}
	}
	want := "mUserIB-itc!flash 16384 0 0 0 16384 0 3 3\n"
	if got := string(f.appendLine(nil)); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
	var buf [255]byte
	if n, ok := f.take(buf[:]); !ok || n != 255 {
		t.Fatalf("take: %d %v", n, ok)
	}
	if !f.offer([]byte{1, 2}) {
		t.Fatal("no room after a take")
	}
	want = "mUserIB-itc!flash 16387 256 3 256 16131 252 0 3\n"
	if got := string(f.appendLine(nil)); got != want {
		t.Errorf("line %q, want %q", got, want)
	}
}

func TestRecordFIFOShortReadLosesTheRest(t *testing.T) {
	f := newFIFO("mUserIB", "itc!bulk")
	f.offer([]byte{1, 2, 3, 4})
	f.offer([]byte{5, 6})
	var small [2]byte
	if n, _ := f.take(small[:]); n != 2 || small != [2]byte{1, 2} {
		t.Fatalf("short take: %d % x", n, small)
	}
	var buf [255]byte
	if n, _ := f.take(buf[:]); !bytes.Equal(buf[:n], []byte{5, 6}) {
		t.Fatalf("next take: % x, want 05 06", buf[:n])
	}
	if _, ok := f.take(buf[:]); ok || !f.empty() {
		t.Fatal("not empty")
	}
}

// TestRecordFIFORandomised keeps the FIFO beside a slice of packets
// through random puts and takes, far past the ring's wrap.
func TestRecordFIFORandomised(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := newFIFO("b", "d")
	var ref [][]byte
	var drops, used uint32
	buf := make([]byte, 255)
	for i := range 50000 {
		if rng.IntN(3) > 0 {
			p := make([]byte, 1+rng.IntN(255))
			for j := range p {
				p[j] = byte(rng.Uint32())
			}
			if f.offer(p) {
				ref = append(ref, p)
				used += uint32(len(p)) + 1
			} else {
				drops++
			}
		} else {
			n, ok := f.take(buf)
			if ok != (len(ref) > 0) {
				t.Fatalf("step %d: take ok=%v with %d held", i, ok, len(ref))
			}
			if ok {
				if !bytes.Equal(buf[:n], ref[0]) {
					t.Fatalf("step %d: took % x, want % x", i, buf[:n], ref[0])
				}
				used -= uint32(len(ref[0])) + 1
				ref = ref[1:]
			}
		}
		if f.used() != used || f.recordsNow != len(ref) || f.tdrops != drops {
			t.Fatalf("step %d: used %d records %d drops %d; want %d %d %d", i, f.used(), f.recordsNow, f.tdrops, used, len(ref), drops)
		}
	}
	if f.in < 1<<20 {
		t.Fatalf("only %d bytes went through: the ring did not wrap often", f.in)
	}
}
