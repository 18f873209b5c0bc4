package mfz

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// The dictionary a file declares is what every receiver allocates to
// check it, so Pack sizes it to the payload whenever it can learn the
// payload's length: from SizeHint, or from src itself.
func TestPackDictionaryFitsThePayload(t *testing.T) {
	_, priv := testKey(1)
	payload := testPayload(7, 100_000)
	dir := t.TempDir()
	path := filepath.Join(dir, "payload")
	if err := os.WriteFile(path, payload, 0o644); err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for _, tc := range []struct {
		name string
		src  io.Reader
		hint int64
		want int // the dictionary the body declares
	}{
		{"bytes reader, no hint", bytes.NewReader(payload), 0, 128 << 10},
		{"regular file, no hint", file, 0, 128 << 10},
		{"stream, hint", struct{ io.Reader }{bytes.NewReader(payload)}, int64(len(payload)), 128 << 10},
		{"stream of unknown length", struct{ io.Reader }{bytes.NewReader(payload)}, 0, MaxDictCap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			if _, err := Pack(&out, tc.src, PackOptions{Name: "d.bin", Version: 1, Key: priv, SizeHint: tc.hint, TempDir: dir}); err != nil {
				t.Fatal(err)
			}
			f, err := ReadFile(bytes.NewReader(out.Bytes()), int64(out.Len()))
			if err != nil {
				t.Fatal(err)
			}
			body, bm, err := bodyOf(bytes.NewReader(out.Bytes()), f.BodyOffset, f.Manifest)
			if err != nil {
				t.Fatal(err)
			}
			dict, err := checkXZ(body, bm)
			if err != nil {
				t.Fatal(err)
			}
			// xz rounds a dictionary up to 2^n or 3*2^(n-1).
			if dict < len(payload) || dict > tc.want {
				t.Fatalf("body declares a %d-byte dictionary for a %d-byte payload, want at most %d", dict, len(payload), tc.want)
			}
		})
	}
}
