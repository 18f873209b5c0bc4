package mfz

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"Demo.mfz", true},
		{"a", true},
		{"physics_v2+fix-1.tar.gz", true},
		{strings.Repeat("x", MaxNameLen), true},
		{strings.Repeat("x", MaxNameLen+1), false},
		{"", false},
		{".hidden", false},
		{".", false},
		{"..", false},
		{"a..b", false},
		{"a/b", false},
		{"../etc", false},
		{"a\x00b", false},
		{"tab\tname", false},
		{"new\nline", false},
		{"sp ace", false},
		{"é", false},
		{"a\\b", false},
	} {
		err := CheckName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrName) {
			t.Errorf("CheckName(%q) = %v, not ErrName", tc.name, err)
		}
	}
}

func TestManifestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		format uint8
		hashes []Hash
		want   int   // manifest length
		lens   []int // of each block, and 0 past the last
	}{
		// Format 3 (0 is the current format): one hash, of the one page
		// holding the hashes of the 3 body blocks, which follow it.
		{0, []Hash{{3, 15: 4}}, 75 + 5 + BlockHashLen, []int{48, 1024, 1024, 3000 - 2048, 0}},
		{1, []Hash{{1}, {2}, {3, 15: 4}}, 75 + 5 + 3*HashLen, []int{1024, 1024, 3000 - 2048, 0}},
		{2, []Hash{{1}, {2}, {3, 15: 4}}, 75 + 5 + 3*BlockHashLen, []int{1024, 1024, 3000 - 2048, 0}},
	} {
		m := &Manifest{Format: tc.format, Kind: KindFile, Name: "x.mfz", Version: -5, KeyID: KeyID{1, 2, 3}, PayloadLen: 10,
			BodyLen: 3000, BlockSize: 1024, PayloadHash: Hash{9}, BlockHashes: tc.hashes}
		b, err := m.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != m.BinaryLen() || len(b) != tc.want {
			t.Fatalf("format %d: len %d, BinaryLen %d, want %d", tc.format, len(b), m.BinaryLen(), tc.want)
		}
		got, err := ParseManifest(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, _ := got.MarshalBinary()
		last := len(tc.hashes) - 1
		if !bytes.Equal(b, b2) || got.FormatVersion() != m.FormatVersion() || got.BlockHashes[last] != m.BlockHashes[last] {
			t.Fatalf("format %d: round trip differs: %+v", tc.format, got)
		}
		var off int64
		for i, want := range tc.lens {
			if got.BlockLen(i) != want || want > 0 && got.BlockOffset(i) != off {
				t.Fatalf("format %d: block %d at %d of %d bytes, want %d at %d", tc.format, i, got.BlockOffset(i), got.BlockLen(i), want, off)
			}
			off += int64(want)
		}
		if got.BlockCount() != len(tc.lens)-1 || got.RegionLen() != off {
			t.Fatalf("format %d: %d blocks, region %d; want %d, %d", tc.format, got.BlockCount(), got.RegionLen(), len(tc.lens)-1, off)
		}
	}
}

// A block hash is all 32 bytes of SHA-256 in format 1 and the first 16 in
// format 2; a manifest holding more than its format's length is invalid,
// and a block is checked against exactly its format's hash.
func TestBlockHashByFormat(t *testing.T) {
	block := bytes.Repeat([]byte{7}, 1024)
	whole := Hash(sha256.Sum256(block))
	for _, format := range []uint8{1, 2} {
		m := &Manifest{Format: format, Kind: KindFile, Name: "h", PayloadLen: 1, BodyLen: 1024, BlockSize: 1024}
		m.BlockHashes = []Hash{m.BlockHash(block)}
		if n := m.BlockHashLen(); !bytes.Equal(m.BlockHashes[0][:n], whole[:n]) || !isZero(m.BlockHashes[0][n:]) {
			t.Fatalf("format %d: BlockHash %x, SHA-256 %x", format, m.BlockHashes[0], whole)
		}
		if err := m.VerifyBlock(0, block); err != nil {
			t.Fatalf("format %d: %v", format, err)
		}
		other := append([]byte(nil), block...)
		other[1000] ^= 1
		if err := m.VerifyBlock(0, other); !errors.Is(err, ErrBlockHash) {
			t.Fatalf("format %d: altered block: %v", format, err)
		}
	}
	m := &Manifest{Format: 2, Kind: KindFile, Name: "h", PayloadLen: 1, BodyLen: 1024, BlockSize: 1024, BlockHashes: []Hash{whole}}
	if err := m.Validate(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("format 2 with a 32-byte block hash: %v", err)
	}
	if _, err := (&Manifest{Format: 4, Kind: KindTombstone, Name: "h"}).MarshalBinary(); !errors.Is(err, ErrVersion) {
		t.Fatalf("format 4: %v", err)
	}
}

func isZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

func TestChooseBlockSize(t *testing.T) {
	for _, tc := range []struct {
		body int64
		want int
	}{
		{0, 1 << 10}, {1, 1 << 10}, {64 << 10, 1 << 10}, {64<<10 + 200, 1 << 10},
		{256 << 10, 2 << 10}, {256<<10 + 200, 2 << 10}, {512 << 10, 2 << 10},
		{1 << 20, 4 << 10}, {1<<20 + 200, 4 << 10}, {4 << 20, 8 << 10},
		{16 << 20, 16 << 10}, {64 << 20, 32 << 10},
		// MaxBlocks, not the manifest, sets the size from 512 MiB on.
		{512 << 20, 128 << 10}, {512<<20 + 1, 256 << 10}, {MaxBodyLen, 512 << 10},
	} {
		if got := ChooseBlockSize(tc.body, 2); got != tc.want {
			t.Errorf("ChooseBlockSize(%d, 2) = %d, want %d", tc.body, got, tc.want)
		}
		if n := blockCountFor(tc.body, ChooseBlockSize(tc.body, 2)); n > MaxBlocks {
			t.Errorf("body %d: %d blocks", tc.body, n)
		}
	}
}

func TestChooseBlockSizePaged(t *testing.T) {
	for _, tc := range []struct {
		body int64
		want int
	}{
		{0, 1 << 10}, {1, 1 << 10}, {64 << 10, 1 << 10}, {256<<10 + 200, 1 << 10}, {512 << 10, 1 << 10},
		{1 << 20, 2 << 10}, {1<<20 + 200, 2 << 10}, {4 << 20, 4 << 10}, {16 << 20, 8 << 10},
		// MaxBlocks, pages included, sets the size from 64 MiB on.
		{64 << 20, 32 << 10}, {MaxBodyLen, 512 << 10},
	} {
		for _, format := range []int{0, 3} {
			bs := ChooseBlockSize(tc.body, format)
			if bs != tc.want {
				t.Errorf("ChooseBlockSize(%d, %d) = %d, want %d", tc.body, format, bs, tc.want)
			}
			if n := blockCountFor(tc.body, bs); n+pagesFor(n, bs) > MaxBlocks {
				t.Errorf("body %d: %d blocks and their pages", tc.body, n)
			}
		}
	}
}

// rawManifest builds manifest bytes of format 2 (one hash a body block)
// field by field, bypassing Validate.
func rawManifest(kind byte, name string, plen, blen uint64, bs, count uint32, hashes int) []byte {
	return rawManifestFormat(2, kind, name, plen, blen, bs, count, hashes)
}

// rawManifestFormat is rawManifest in the given format.
func rawManifestFormat(format int, kind byte, name string, plen, blen uint64, bs, count uint32, hashes int) []byte {
	b := []byte{kind, formatByte(format), byte(len(name))}
	b = append(b, name...)
	b = binary.BigEndian.AppendUint64(b, 1)
	b = append(b, make([]byte, 8)...)
	b = binary.BigEndian.AppendUint64(b, plen)
	b = binary.BigEndian.AppendUint64(b, blen)
	b = binary.BigEndian.AppendUint32(b, bs)
	b = binary.BigEndian.AppendUint32(b, count)
	b = append(b, make([]byte, 32)...)
	return append(b, make([]byte, blockHashLen(format)*hashes)...)
}

func TestParseManifestErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", rawManifest(1, "a", 5, 2048, 1024, 2, 2), nil},
		{"ok tombstone", rawManifest(2, "a", 0, 0, 0, 0, 0), nil},
		{"empty", nil, ErrTruncated},
		{"4 GB payload", rawManifest(1, "a", 4<<30, 2048, 1024, 2, 2), ErrTooLarge},
		{"huge payload", rawManifest(1, "a", 1<<63, 2048, 1024, 2, 2), ErrTooLarge},
		{"4 GB body", rawManifest(1, "a", 5, 4<<30, 1<<20, 4096, 0), ErrTooLarge},
		{"too many blocks", rawManifest(1, "a", 5, 5000*1024, 1024, 5000, 0), ErrTooLarge},
		{"block size odd", rawManifest(1, "a", 5, 3000, 1000, 3, 3), ErrMalformed},
		{"block size small", rawManifest(1, "a", 5, 3000, 512, 6, 6), ErrMalformed},
		{"block size big", rawManifest(1, "a", 5, 3000, 2<<20, 1, 1), ErrMalformed},
		{"count mismatch", rawManifest(1, "a", 5, 2048, 1024, 3, 3), ErrMalformed},
		{"missing hashes", rawManifest(1, "a", 5, 2048, 1024, 2, 1), ErrTruncated},
		{"trailing", rawManifest(1, "a", 5, 2048, 1024, 2, 3), ErrMalformed},
		{"kind 0", rawManifest(0, "a", 5, 2048, 1024, 2, 2), ErrMalformed},
		{"kind 9", rawManifest(9, "a", 5, 2048, 1024, 2, 2), ErrMalformed},
		{"empty body", rawManifest(1, "a", 0, 0, 1024, 0, 0), ErrMalformed},
		{"tombstone with blocks", rawManifest(2, "a", 0, 1024, 1024, 1, 1), ErrMalformed},
		{"name slash", rawManifest(1, "a/b", 5, 2048, 1024, 2, 2), ErrName},
		{"name dotdot", rawManifest(1, "..", 5, 2048, 1024, 2, 2), ErrName},
		{"name ctrl", rawManifest(1, "a\x01", 5, 2048, 1024, 2, 2), ErrName},
		{"name long", rawManifest(1, strings.Repeat("n", 29), 5, 2048, 1024, 2, 2), ErrName},
		{"format 1", rawManifestFormat(1, 1, "a", 5, 2048, 1024, 2, 2), nil},
		{"format 1 tombstone", rawManifestFormat(1, 2, "a", 0, 0, 0, 0, 0), nil},
		{"format 1 with short hashes", rawManifestFormat(1, 1, "a", 5, 2048, 1024, 2, 1), ErrTruncated},
		{"format 2 with whole hashes", rawManifestFormat(2, 1, "a", 5, 2048, 1024, 2, 4), ErrMalformed},
		{"format byte 1", func() []byte { b := rawManifest(1, "a", 5, 2048, 1024, 2, 2); b[1] = 1; return b }(), ErrMalformed},
		{"format byte 4", func() []byte { b := rawManifest(1, "a", 5, 2048, 1024, 2, 2); b[1] = 4; return b }(), ErrVersion},
		// Format 3: one hash a page of body block hashes.
		{"format 3", rawManifestFormat(3, 1, "a", 5, 2048, 1024, 1, 1), nil},
		{"format 3 with a hash a body block", rawManifestFormat(3, 1, "a", 5, 2048, 1024, 2, 2), ErrMalformed},
		{"format 3, 2 pages", rawManifestFormat(3, 1, "a", 5, 65*1024, 1024, 2, 2), nil},
		{"format 3, pages past MaxBlocks", rawManifestFormat(3, 1, "a", 5, 4090*1024, 1024, 64, 64), ErrMalformed},
		{"format 3 tombstone", rawManifestFormat(3, 2, "a", 0, 0, 0, 0, 0), nil},
		{"cut fixed", rawManifest(1, "a", 5, 2048, 1024, 2, 2)[:30], ErrTruncated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseManifest(tc.b)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestParseHeaderErrors(t *testing.T) {
	good, _ := Header{Version: 1, ManifestLen: 200}.AppendBinary(nil)
	mod := func(i int, v byte) []byte { b := append([]byte(nil), good...); b[i] = v; return b }
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", good, nil},
		{"empty", nil, ErrTruncated},
		{"magic prefix", good[:5], ErrTruncated},
		{"short", good[:12], ErrTruncated},
		{"magic", mod(0, 'P'), ErrBadMagic},
		{"zip", []byte("PK\x03\x04 this is a zip file"), ErrBadMagic},
		{"version 0", mod(9, 0), ErrVersion},
		{"version 2", mod(9, 2), nil},
		{"version 3", mod(9, 3), nil},
		{"version 4", mod(9, 4), ErrVersion},
		{"format 2 manifest longer than format 2 allows", func() []byte {
			b, _ := Header{Version: 2, ManifestLen: uint32(maxManifestLen(2) + 1)}.AppendBinary(nil)
			return b
		}(), ErrTooLarge},
		{"format 1 manifest of that length", func() []byte {
			b, _ := Header{Version: 1, ManifestLen: uint32(maxManifestLen(2) + 1)}.AppendBinary(nil)
			return b
		}(), nil},
		{"flags", mod(11, 1), ErrMalformed},
		{"manifest 4 GB", mod(12, 0xff), ErrTooLarge},
		{"manifest tiny", mod(15, 3), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseHeader(tc.b)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	a := &Manifest{Kind: KindTombstone, Name: "n", Version: 5}
	b := &Manifest{Kind: KindTombstone, Name: "n", Version: 6}
	c := &Manifest{Kind: KindTombstone, Name: "n", Version: 5, KeyID: KeyID{1}}
	if !b.Newer(a) || a.Newer(b) || Compare(a, a) != 0 {
		t.Fatal("version order wrong")
	}
	if Compare(a, c) == 0 || Compare(a, c) != -Compare(c, a) {
		t.Fatal("tie-break not antisymmetric")
	}
}

func TestSignedManifest(t *testing.T) {
	pub, priv := testKey(3)
	m := &Manifest{Kind: KindTombstone, Name: "gone", Version: 7}
	raw, err := Sign(m, priv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := VerifySignedManifest(raw, NewTrustSet(pub))
	if err != nil || got.Name != "gone" || got.KeyID != KeyIDOf(pub) {
		t.Fatalf("got %+v, %v", got, err)
	}
	// A signature over the bare manifest (no domain prefix) must fail.
	bad := append([]byte(nil), raw...)
	copy(bad[len(bad)-SignatureLen:], ed25519Sign(priv, raw[:len(raw)-SignatureLen]))
	if _, err := VerifySignedManifest(bad, NewTrustSet(pub)); !errors.Is(err, ErrSignature) {
		t.Fatalf("undomained signature: %v", err)
	}
	if _, err := VerifySignedManifest(raw[:50], NewTrustSet(pub)); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short: %v", err)
	}
	if _, err := VerifySignedManifest(make([]byte, MaxSignedManifestLen+1), NewTrustSet(pub)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("long: %v", err)
	}
}

func FuzzParseHeader(f *testing.F) {
	good, _ := Header{Version: 1, ManifestLen: 200}.AppendBinary(nil)
	f.Add(good)
	v2, _ := Header{Version: 2, ManifestLen: 200}.AppendBinary(nil)
	f.Add(v2)
	f.Add(good[:9])
	f.Add([]byte{})
	f.Add(append(append([]byte(nil), good[:12]...), 0xff, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.ManifestLen > MaxManifestLen || h.ManifestLen < MinManifestLen || h.Version < OldestFormat || h.Version > FormatVersion {
			t.Fatalf("accepted %+v", h)
		}
		out, _ := h.AppendBinary(nil)
		if !bytes.Equal(out, b[:HeaderLen]) {
			t.Fatalf("round trip differs")
		}
	})
}

func FuzzParseManifest(f *testing.F) {
	f.Add(rawManifest(1, "a", 5, 2048, 1024, 2, 2))
	f.Add(rawManifest(2, "tomb.mfz", 0, 0, 0, 0, 0))
	f.Add(rawManifest(1, "a", 4<<30, 2048, 1024, 2, 2))
	f.Add(rawManifest(1, "../x", 5, 2048, 1024, 2, 2))
	f.Add(rawManifestFormat(1, 1, "a", 5, 2048, 1024, 2, 2))
	f.Add(rawManifestFormat(3, 1, "a", 5, 65*1024, 1024, 2, 2))
	f.Add([]byte{1, 0, 200})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParseManifest(b)
		if err != nil {
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("parsed but invalid: %v", err)
		}
		out, err := m.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("round trip differs: %v", err)
		}
		// The blocks tile the region, and in format 3 each body block's
		// hash is in a page before it.
		var off int64
		for i := 0; i < m.BlockCount(); i++ {
			pg := m.PageOf(i)
			if m.BlockOffset(i) != off || m.BlockLen(i) <= 0 || pg >= m.Pages() || (pg >= 0) != (m.Pages() > 0 && i >= m.Pages()) {
				t.Fatalf("block %d of %d: at %d (want %d), %d bytes, page %d of %d", i, m.BlockCount(), m.BlockOffset(i), off, m.BlockLen(i), pg, m.Pages())
			}
			off += int64(m.BlockLen(i))
		}
		if off != m.RegionLen() || m.BlockCount() > MaxBlocks {
			t.Fatalf("blocks cover %d of a %d-byte region; %d blocks", off, m.RegionLen(), m.BlockCount())
		}
	})
}

func ed25519Sign(priv ed25519.PrivateKey, msg []byte) []byte { return ed25519.Sign(priv, msg) }

// CompareVersions is the one dominance order: version first, then the
// hash (or an equal-length prefix of it) as bytes; tombstones obey it
// like any version.
func TestCompareVersions(t *testing.T) {
	lo, hi := []byte{0x01, 0xFF}, []byte{0x02, 0x00}
	for _, c := range []struct {
		v1     int64
		h1     []byte
		v2     int64
		h2     []byte
		result int
	}{
		{2, lo, 1, hi, 1},   // a newer version wins whatever its hash
		{1, hi, 2, lo, -1},  // an older one loses whatever its hash
		{-1, hi, 0, lo, -1}, // versions are signed
		{5, hi, 5, lo, 1},   // a tie goes to the larger hash
		{5, lo, 5, hi, -1},  //
		{5, lo, 5, lo, 0},   // the same file
		{1 << 62, nil, 1 << 62, nil, 0},
	} {
		if got := CompareVersions(c.v1, c.h1, c.v2, c.h2); got != c.result {
			t.Errorf("CompareVersions(%d, %x, %d, %x) = %d, want %d", c.v1, c.h1, c.v2, c.h2, got, c.result)
		}
		if got := CompareVersions(c.v2, c.h2, c.v1, c.h1); got != -c.result {
			t.Errorf("CompareVersions(%d, %x, %d, %x) = %d, want %d", c.v2, c.h2, c.v1, c.h1, got, -c.result)
		}
	}
}
