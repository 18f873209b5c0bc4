package mfz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand"
	"runtime"
	"testing"
	"time"
)

// allocated returns the bytes f allocates in all (TotalAlloc, so a bound
// on it bounds the peak too).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// heldPeak measures what a check holds: before each block it reads
// (io.ReaderAt) and each piece of payload it writes (io.Writer), when every
// buffer of the decoder exists, it collects garbage and notes the live
// heap above base.
type heldPeak struct {
	r    io.ReaderAt
	base uint64
	peak uint64
}

func newHeldPeak(r io.ReaderAt) *heldPeak {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return &heldPeak{r: r, base: ms.HeapAlloc}
}

func (h *heldPeak) note() {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	if ms.HeapAlloc > h.base {
		h.peak = max(h.peak, ms.HeapAlloc-h.base)
	}
}

func (h *heldPeak) ReadAt(p []byte, off int64) (int, error) {
	h.note()
	return h.r.ReadAt(p, off)
}

func (h *heldPeak) Write(p []byte) (int, error) {
	h.note()
	return len(p), nil
}

// TestCheckMemoryBound proves MaxCheckMemory: a body that asks for a
// dictionary past MaxDictCap is refused before anything near it is
// allocated, and the costliest bodies a tile accepts (the largest
// dictionary and the largest blocks) hold at most MaxCheckMemory.
func TestCheckMemoryBound(t *testing.T) {
	_, priv := testKey(1)
	// manifest returns the manifest of a file of body and what follows
	// the manifest in it (in format 3 the hash list, then body).
	manifest := func(t *testing.T, body, payload []byte, bs int) (*Manifest, []byte) {
		m := Manifest{Kind: KindFile, Name: "mem", Version: 1, BlockSize: bs,
			PayloadLen: int64(len(payload)), PayloadHash: sha256.Sum256(payload)}
		file := buildFile(t, m, body, priv)
		f, err := ReadFile(bytes.NewReader(file), int64(len(file)))
		if err != nil {
			t.Fatal(err)
		}
		return f.Manifest, file[f.BodyOffset:]
	}

	t.Run("1 GiB dictionary refused unallocated", func(t *testing.T) {
		payload := []byte("abcd")
		body := rawXZ(payload, dictByte(30))
		m, region := manifest(t, body, payload, MinBlockSize)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := VerifyBody(bytes.NewReader(region), m, nil)
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) || Classify(err) != FaultData {
			t.Fatalf("err = %v (fault %v), want ErrTooLarge, the file's fault", err, Classify(err))
		}
		n := after.TotalAlloc - before.TotalAlloc
		t.Logf("refused after allocating %d bytes in all: %v", n, err)
		if n > 64<<10 {
			t.Fatalf("refusing the body allocated %d bytes, want a few KB", n)
		}
	})

	random := make([]byte, 3<<20)
	rand.New(rand.NewSource(1)).Read(random)
	for _, tc := range []struct {
		name    string
		payload []byte
		body    func(p []byte) []byte
	}{
		// Stored chunks in three 1 MiB blocks and a bit, so the
		// stream's tail straddles two blocks.
		{"incompressible, 4 blocks of 1 MiB", random, func(p []byte) []byte { return rawXZ(p, dictByte(23)) }},
		{"compressed, 1 block of 1 MiB", testPayload(2, 512<<10), func(p []byte) []byte { return xzBytes(t, p, MaxDictCap) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body(tc.payload)
			m, region := manifest(t, body, tc.payload, MaxBlockSize)
			h := newHeldPeak(bytes.NewReader(region))
			if err := VerifyBody(h, m, h); err != nil {
				t.Fatal(err)
			}
			t.Logf("%d blocks of %d, dictionary %d: held at most %d bytes, bound %d", m.BlockCount(), m.BlockSize, MaxDictCap, h.peak, MaxCheckMemory)
			if h.peak > MaxCheckMemory {
				t.Fatalf("a check held %d bytes, more than MaxCheckMemory %d", h.peak, MaxCheckMemory)
			}
			if h.peak < MaxDictCap {
				t.Fatalf("a check held %d bytes, less than its dictionary: the measurement is broken", h.peak)
			}
		})
	}
}

// TestChecksWaitForASlot: with maxChecks checks running, another waits
// (and gives up with its context, keeping its blocks), and runs once a
// slot is free.
func TestChecksWaitForASlot(t *testing.T) {
	e := newStoreEnv(t)
	s := e.open()
	_, p, _, blocks := e.receiving(s, "w.bin", 100, 1, 20_000)
	for i, b := range blocks {
		if err := p.PutBlock(i, b); err != nil {
			t.Fatal(err)
		}
	}
	for range maxChecks {
		s.checkSlots <- struct{}{}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.CompleteContext(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Complete with every slot taken = %v, want it to wait and give up", err)
	}
	if p.Missing() != 0 {
		t.Fatalf("%d blocks lost waiting for a slot", p.Missing())
	}
	for range maxChecks {
		<-s.checkSlots
	}
	if err := p.Complete(); err != nil {
		t.Fatalf("Complete with a free slot: %v", err)
	}
	if _, ok := s.Lookup("w.bin"); !ok {
		t.Fatal("not installed")
	}
}
