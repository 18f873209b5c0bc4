package mfz

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"testing"
)

func TestPackVerifyRoundTrip(t *testing.T) {
	pub, priv := testKey(1)
	trust := NewTrustSet(pub)
	for _, tc := range []struct {
		name string
		n    int
		bs   int
	}{
		{"empty", 0, 0},
		{"one", 1, 0},
		{"small", 1000, 0},
		{"multi", 100_000, 1024},
		{"auto", 300_000, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload := testPayload(int64(tc.n), tc.n)
			file := packBytes(t, "f-"+tc.name, 42, payload, priv, tc.bs)
			var out bytes.Buffer
			f, err := VerifyFile(bytes.NewReader(file), int64(len(file)), trust, &out)
			if err != nil {
				t.Fatalf("VerifyFile: %v", err)
			}
			if !bytes.Equal(out.Bytes(), payload) {
				t.Fatalf("payload differs")
			}
			m := f.Manifest
			if m.Name != "f-"+tc.name || m.Version != 42 || m.PayloadLen != int64(tc.n) {
				t.Fatalf("manifest %+v", m)
			}
			t.Logf("%d -> body %d, %d blocks of %d", tc.n, m.BodyLen, m.BlockCount(), m.BlockSize)
		})
	}
}

// A file packed by an older itcd (format 1, whole block hashes) is still
// read, verified block by block and whole; format 2 halved the manifest,
// and format 3 keeps only the hashes of its hash pages there.
func TestFormat1FileStillReads(t *testing.T) {
	pub, priv := testKey(1)
	payload := testPayload(8, 30_000)
	v2 := packBytes(t, "old", 1, payload, priv, 1024)
	v1 := asFormat1(t, v2, priv)
	f1, err := ReadFile(bytes.NewReader(v1), int64(len(v1)))
	if err != nil {
		t.Fatal(err)
	}
	f2, _ := ReadFile(bytes.NewReader(v2), int64(len(v2)))
	if v1[9] != 1 || v2[9] != FormatVersion || f1.Manifest.FormatVersion() != 1 || f2.Manifest.FormatVersion() != FormatVersion {
		t.Fatalf("header versions %d, %d; manifests %d, %d", v1[9], v2[9], f1.Manifest.FormatVersion(), f2.Manifest.FormatVersion())
	}
	n, pages := f1.Manifest.BlockCount(), f2.Manifest.Pages()
	if d := len(f1.Signed) - len(f2.Signed); pages != 1 || d != n*HashLen-pages*BlockHashLen {
		t.Fatalf("format 1 manifest %d bytes longer, want %d (%d pages)", d, n*HashLen-pages*BlockHashLen, pages)
	}
	var out bytes.Buffer
	if _, err := VerifyFile(bytes.NewReader(v1), int64(len(v1)), NewTrustSet(pub), &out); err != nil || !bytes.Equal(out.Bytes(), payload) {
		t.Fatalf("VerifyFile of format 1: %v", err)
	}
	bad := append([]byte(nil), v1...)
	bad[f1.BodyOffset+2*1024+5] ^= 1
	var be *BlockError
	if _, err := VerifyFile(bytes.NewReader(bad), int64(len(bad)), NewTrustSet(pub), nil); !errors.As(err, &be) || be.Index != 2 {
		t.Fatalf("altered format 1 block: %v", err)
	}
}

// testdata/format1*.mfz were packed by itcd before format 2 (8daab9f):
// they still verify, and packing the same input in format 1 today gives
// the same bytes, so the format-1 writer and reader did not drift with
// the new code.
func TestFormat1Golden(t *testing.T) {
	pub, priv := testKey(1)
	file, err := os.ReadFile("testdata/format1.mfz")
	if err != nil {
		t.Fatal(err)
	}
	tomb, err := os.ReadFile("testdata/format1-tombstone.mfz")
	if err != nil {
		t.Fatal(err)
	}
	payload := testPayload(21, 9000)
	var out bytes.Buffer
	if _, err := VerifyFile(bytes.NewReader(file), int64(len(file)), NewTrustSet(pub), &out); err != nil || !bytes.Equal(out.Bytes(), payload) {
		t.Fatalf("golden format 1 file: %v", err)
	}
	if _, err := VerifyFile(bytes.NewReader(tomb), int64(len(tomb)), NewTrustSet(pub), nil); err != nil {
		t.Fatalf("golden format 1 tombstone: %v", err)
	}
	var again bytes.Buffer
	if _, err := Pack(&again, bytes.NewReader(payload), PackOptions{Name: "golden.bin", Version: 1700000000_000000000, Key: priv,
		BlockSize: 1024, SizeHint: int64(len(payload)), TempDir: t.TempDir(), Format: 1}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), file) {
		t.Error("Pack with Format 1 no longer writes what itcd wrote before format 2")
	}
	if b, _, err := NewTombstone("golden.bin", 1700000001_000000000, priv, 0); err != nil || !bytes.Equal(b, tomb) {
		t.Errorf("a tombstone (format 1 by default) differs from the one itcd wrote before format 2: %v", err)
	}
	// A header that names format 2 over a format 1 manifest is malformed.
	bad := append([]byte(nil), file...)
	bad[9] = 2
	if _, err := ReadFile(bytes.NewReader(bad), int64(len(bad))); !errors.Is(err, ErrMalformed) {
		t.Errorf("header 2 over a format 1 manifest: %v", err)
	}
}

func TestVerifyErrors(t *testing.T) {
	pub, priv := testKey(1)
	other, _ := testKey(2)
	payload := testPayload(7, 50_000)
	good := packBytes(t, "x", 1, payload, priv, 1024)
	f, err := ReadFile(bytes.NewReader(good), int64(len(good)))
	if err != nil {
		t.Fatal(err)
	}
	body := int(f.BodyOffset)
	mod := func(fn func(b []byte) []byte) []byte { return fn(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name  string
		file  []byte
		trust *TrustSet
		want  error
		block int
	}{
		{"good", good, NewTrustSet(pub), nil, -1},
		{"untrusted", good, NewTrustSet(other), ErrUntrusted, -1},
		{"empty", nil, NewTrustSet(pub), ErrTruncated, -1},
		{"short header", good[:10], NewTrustSet(pub), ErrTruncated, -1},
		{"truncated manifest", good[:100], NewTrustSet(pub), ErrTruncated, -1},
		{"truncated body", good[:len(good)-1], NewTrustSet(pub), ErrTruncated, -1},
		{"trailing", append(append([]byte(nil), good...), 0), NewTrustSet(pub), ErrMalformed, -1},
		{"magic", mod(func(b []byte) []byte { b[1] = 'X'; return b }), NewTrustSet(pub), ErrBadMagic, -1},
		{"version", mod(func(b []byte) []byte { b[9] = 4; return b }), NewTrustSet(pub), ErrVersion, -1},
		{"header and manifest formats differ", mod(func(b []byte) []byte { b[9] = 1; return b }), NewTrustSet(pub), ErrMalformed, -1},
		{"manifest version bit", mod(func(b []byte) []byte { b[HeaderLen+10] ^= 1; return b }), NewTrustSet(pub), ErrSignature, -1},
		{"manifest hash bit", mod(func(b []byte) []byte { b[HeaderLen+50] ^= 1; return b }), NewTrustSet(pub), ErrSignature, -1},
		{"signature bit", mod(func(b []byte) []byte { b[body-1] ^= 1; return b }), NewTrustSet(pub), ErrSignature, -1},
		{"body bit block 0", mod(func(b []byte) []byte { b[body+3] ^= 0x10; return b }), NewTrustSet(pub), ErrBlockHash, 0},
		{"body bit block 5", mod(func(b []byte) []byte { b[body+5*1024+7] ^= 1; return b }), NewTrustSet(pub), ErrBlockHash, 5},
		{"body bit last", mod(func(b []byte) []byte { b[len(b)-2] ^= 1; return b }), NewTrustSet(pub), ErrBlockHash, f.Manifest.BlockCount() - 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := VerifyFile(bytes.NewReader(tc.file), int64(len(tc.file)), tc.trust, nil)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.block >= 0 {
				var be *BlockError
				if !errors.As(err, &be) || be.Index != tc.block {
					t.Fatalf("err = %v, want block %d", err, tc.block)
				}
			}
			if err != nil {
				t.Logf("%v", err)
			}
		})
	}
}

func TestHostileBodies(t *testing.T) {
	pub, priv := testKey(1)
	trust := NewTrustSet(pub)
	payload := bytes.Repeat([]byte("abcdefgh"), 100_000) // 800 KB, compresses well
	body := xzBytes(t, payload, 1<<16)
	sum := func(p []byte) Hash { return sha256.Sum256(p) }
	base := Manifest{Kind: KindFile, Name: "bomb", Version: 1, BlockSize: 1024}
	for _, tc := range []struct {
		name string
		m    func(m *Manifest)
		body []byte
		want error
	}{
		{"good", func(m *Manifest) { m.PayloadLen, m.PayloadHash = int64(len(payload)), sum(payload) }, body, nil},
		{"bomb: inflates past signed length", func(m *Manifest) { m.PayloadLen, m.PayloadHash = 1000, sum(payload[:1000]) }, body, ErrPayload},
		{"inflates short of signed length", func(m *Manifest) { m.PayloadLen = int64(len(payload)) + 1 }, body, ErrPayload},
		{"payload hash", func(m *Manifest) { m.PayloadLen = int64(len(payload)) }, body, ErrPayload},
		{"not xz", func(m *Manifest) { m.PayloadLen = 10 }, bytes.Repeat([]byte{7}, 5000), ErrMalformed},
		{"two streams", func(m *Manifest) { m.PayloadLen, m.PayloadHash = int64(len(payload)), sum(payload) }, append(append([]byte(nil), body...), body...), ErrMalformed},
		// Made by hand: an encoder with a 1 GiB dictionary cannot even be
		// made on a 32-bit tile.
		{"huge dictionary", func(m *Manifest) { m.PayloadLen, m.PayloadHash = 4, sum([]byte("abcd")) }, rawXZ([]byte("abcd"), dictByte(30)), ErrTooLarge},
		{"largest dictionary, 4 GiB", func(m *Manifest) { m.PayloadLen, m.PayloadHash = 4, sum([]byte("abcd")) }, rawXZ([]byte("abcd"), 40), ErrTooLarge},
		{"dictionary one step past the limit", func(m *Manifest) { m.PayloadLen, m.PayloadHash = 4, sum([]byte("abcd")) }, rawXZ([]byte("abcd"), dictByte(23)+1), ErrTooLarge},
		{"dictionary at the limit", func(m *Manifest) { m.PayloadLen, m.PayloadHash = int64(len(payload)), sum(payload) }, rawXZ(payload, dictByte(23)), nil},
		{"dictionary property invalid", func(m *Manifest) { m.PayloadLen, m.PayloadHash = 4, sum([]byte("abcd")) }, rawXZ([]byte("abcd"), 41), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := base
			tc.m(&m)
			file := buildFile(t, m, tc.body, priv)
			_, err := VerifyFile(bytes.NewReader(file), int64(len(file)), trust, io.Discard)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			t.Logf("%v", err)
		})
	}
}

func FuzzVerifyFile(f *testing.F) {
	pub, priv := testKey(1)
	trust := NewTrustSet(pub)
	good := packBytes(f, "fz", 1, testPayload(3, 3000), priv, 1024)
	tomb, _, _ := NewTombstone("fz", 2, priv, 0)
	f.Add(good)
	f.Add(tomb)
	f.Add(asFormat1(f, good, priv))
	tomb2, _, _ := NewTombstone("fz", 3, priv, 2)
	f.Add(tomb2)
	f.Add(good[:100])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := VerifyFile(bytes.NewReader(b), int64(len(b)), trust, io.Discard)
		if err == nil && !bytes.Equal(b, good) && !bytes.Equal(b, tomb) {
			// Any other accepted file must at least re-verify its manifest.
			if _, err := VerifySignedManifest(file.Signed, trust); err != nil {
				t.Fatalf("accepted a file whose manifest fails: %v", err)
			}
		}
	})
}
