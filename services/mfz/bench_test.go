package mfz

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"
)

const benchSize = 64 << 20

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFiles.dir != "" {
		os.RemoveAll(benchFiles.dir)
	}
	os.Exit(code)
}

// benchInput writes a 64 MB half-compressible payload and its MFZ file
// once per process.
var benchFiles struct {
	once              sync.Once
	dir, payload, mfz string
}

func benchSetup(b *testing.B) (payload, file string) {
	benchFiles.once.Do(func() {
		dir, err := os.MkdirTemp("", "mfz-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchFiles.dir = dir
		benchFiles.payload = filepath.Join(dir, "payload")
		benchFiles.mfz = filepath.Join(dir, "payload.mfz")
		if err := os.WriteFile(benchFiles.payload, testPayload(64, benchSize), 0o644); err != nil {
			b.Fatal(err)
		}
		_, priv := testKey(1)
		if err := packFile(benchFiles.payload, benchFiles.mfz, priv); err != nil {
			b.Fatal(err)
		}
	})
	return benchFiles.payload, benchFiles.mfz
}

func packFile(in, out string, priv []byte) error {
	src, err := os.Open(in)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(out)
	if err != nil {
		return err
	}
	defer dst.Close()
	_, err = Pack(dst, src, PackOptions{Name: "bench", Version: 1, Key: priv, SizeHint: benchSize, TempDir: filepath.Dir(out)})
	return err
}

// peakHeap samples live heap bytes every 2 ms (runtime/metrics does not
// stop the world) until stop is called, and returns the peak.
func peakHeap() (stop func() uint64) {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

func BenchmarkPack(b *testing.B) {
	payload, _ := benchSetup(b)
	_, priv := testKey(1)
	out := filepath.Join(b.TempDir(), "out.mfz")
	b.SetBytes(benchSize)
	stop := peakHeap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := packFile(payload, out, priv); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
}

func BenchmarkVerify(b *testing.B) {
	_, file := benchSetup(b)
	pub, _ := testKey(1)
	trust := NewTrustSet(pub)
	b.SetBytes(benchSize)
	stop := peakHeap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		verifyBench(b, file, trust, io.Discard)
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
}

func BenchmarkUnpack(b *testing.B) {
	_, file := benchSetup(b)
	pub, _ := testKey(1)
	trust := NewTrustSet(pub)
	out := filepath.Join(b.TempDir(), "payload.out")
	b.SetBytes(benchSize)
	stop := peakHeap()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		verifyBench(b, file, trust, w)
		w.Close()
	}
	b.StopTimer()
	b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
}

func verifyBench(b *testing.B, path string, trust *TrustSet, w io.Writer) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if _, err := VerifyFile(f, fi.Size(), trust, w); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkReceive measures the store's receive path: Begin, PutBlock for
// every block (hash check, write, fsync every 32 blocks) and Complete.
func BenchmarkReceive(b *testing.B) {
	_, file := benchSetup(b)
	_, blocks := blocksOf(b, file)
	signed := mustSigned(b, file)
	pub, _ := testKey(1)
	b.SetBytes(benchSize)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		os.MkdirAll(filepath.Join(dir, "trust"), 0o755)
		os.WriteFile(filepath.Join(dir, "trust", "k.pub"), MarshalPublicKey(pub, ""), 0o644)
		s, err := Open(StoreConfig{Dir: dir, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		p, err := s.Begin(signed)
		if err != nil {
			b.Fatal(err)
		}
		for j, blk := range blocks {
			if err := p.PutBlock(j, blk); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Complete(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
}
