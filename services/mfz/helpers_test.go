package mfz

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"hash/crc32"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

// testKey returns a deterministic key pair derived from seed.
func testKey(seed byte) (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

// testPayload returns n bytes of half-compressible deterministic data.
func testPayload(seed int64, n int) []byte {
	r := rand.New(rand.NewSource(seed))
	b := make([]byte, n)
	for i := 0; i < n; {
		if r.Intn(2) == 0 {
			k := min(n-i, 1+r.Intn(200))
			r.Read(b[i : i+k])
			i += k
		} else {
			k := min(n-i, 1+r.Intn(300))
			c := byte(r.Intn(4))
			for j := 0; j < k; j++ {
				b[i+j] = c
			}
			i += k
		}
	}
	return b
}

// packBytes packs payload into an in-memory MFZ file.
func packBytes(t testing.TB, name string, version int64, payload []byte, priv ed25519.PrivateKey, bs int) []byte {
	t.Helper()
	var out bytes.Buffer
	if _, err := Pack(&out, bytes.NewReader(payload), PackOptions{Name: name, Version: version, Key: priv, BlockSize: bs, SizeHint: int64(len(payload)), TempDir: t.TempDir()}); err != nil {
		t.Fatalf("Pack: %v", err)
	}
	return out.Bytes()
}

func writeTemp(t testing.TB, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// buildFile makes a signed file from a manifest template and a body,
// computing the block hashes (for hostile-but-signed files), and in
// format 3 the hash list and its pages.
func buildFile(t testing.TB, m Manifest, body []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	m.BodyLen = int64(len(body))
	if m.BlockSize == 0 {
		m.BlockSize = 4 << 10
	}
	format := uint8(m.FormatVersion())
	m.Format = min(format, 2)
	m.BlockHashes = make([]Hash, blockCountFor(m.BodyLen, m.BlockSize))
	for i := range m.BlockHashes {
		m.BlockHashes[i] = m.BlockHash(body[m.BlockOffset(i) : m.BlockOffset(i)+int64(m.BlockLen(i))])
	}
	pm, list := &m, []byte(nil)
	if format >= 3 {
		pm, list = pageHashes(&m, format)
	}
	signed, err := Sign(pm, priv)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	b, err := AppendFileHeader(nil, signed)
	if err != nil {
		t.Fatal(err)
	}
	return append(append(b, list...), body...)
}

// xzBytes compresses p with the given dictionary size.
func xzBytes(t testing.TB, p []byte, dict int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := xz.WriterConfig{DictCap: dict}.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(p)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rawXZ builds an xz stream by hand around payload, stored in LZMA2
// uncompressed chunks, whose block header declares the dictionary size
// dictByte stands for (lzma.DecodeDictCap). No encoder runs, so a test can
// declare any dictionary without allocating it.
func rawXZ(payload []byte, dictByte byte) []byte {
	le32 := func(b []byte, v uint32) []byte { return binary.LittleEndian.AppendUint32(b, v) }
	flags := []byte{0, 1} // check type 1: CRC32
	out := append([]byte("\xfd7zXZ\x00"), flags...)
	out = le32(out, crc32.ChecksumIEEE(flags))
	// Block header: size, flags (one filter, no sizes), LZMA2 with its
	// dictionary byte, padding, CRC32.
	bh := []byte{2, 0, 0x21, 1, dictByte, 0, 0, 0}
	bh = le32(bh, crc32.ChecksumIEEE(bh))
	out = append(out, bh...)
	start := len(out)
	for i := 0; i < len(payload); i += 64 << 10 {
		chunk := payload[i:min(len(payload), i+64<<10)]
		ctl := byte(2) // uncompressed, no dictionary reset
		if i == 0 {
			ctl = 1 // uncompressed, dictionary reset
		}
		out = append(out, ctl, byte((len(chunk)-1)>>8), byte(len(chunk)-1))
		out = append(out, chunk...)
	}
	out = append(out, 0) // end of LZMA2 data
	unpadded := len(bh) + len(out) - start + 4
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	out = le32(out, crc32.ChecksumIEEE(payload))
	idx := binary.AppendUvarint([]byte{0, 1}, uint64(unpadded))
	idx = binary.AppendUvarint(idx, uint64(len(payload)))
	for len(idx)%4 != 0 {
		idx = append(idx, 0)
	}
	idx = le32(idx, crc32.ChecksumIEEE(idx))
	out = append(out, idx...)
	foot := le32(nil, uint32(len(idx)/4-1))
	foot = append(foot, flags...)
	out = le32(out, crc32.ChecksumIEEE(foot))
	return append(append(out, foot...), 'Y', 'Z')
}

// dictByte returns the LZMA2 dictionary property byte for 2^k bytes.
func dictByte(k int) byte { return byte(2 * (k - 12)) }

// asFormat1 returns the MFZ file b signed again in format 1 (whole
// SHA-256 block hashes), as a tile of an older itcd packed it.
func asFormat1(t testing.TB, b []byte, priv ed25519.PrivateKey) []byte {
	t.Helper()
	f, err := ReadFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	m := *f.Manifest
	body := b[f.BodyOffset+m.HashListLen():]
	m.Format = 1
	m.BlockHashes = make([]Hash, blockCountFor(m.BodyLen, m.BlockSize))
	for i := range m.BlockHashes {
		m.BlockHashes[i] = m.BlockHash(body[m.BlockOffset(i) : m.BlockOffset(i)+int64(m.BlockLen(i))])
	}
	signed, err := Sign(&m, priv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := AppendFileHeader(nil, signed)
	if err != nil {
		t.Fatal(err)
	}
	return append(out, body...)
}

// runStore runs s.Run until the test ends (before the store closes, if
// the store's Close was registered first).
func runStore(t testing.TB, s *Store) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}
