package mfz

import (
	"bufio"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Making MFZ files and tombstones.

// PackOptions configures Pack.
type PackOptions struct {
	Name    string             // file name in the manifest (CheckName)
	Version int64              // Unix nanoseconds
	Key     ed25519.PrivateKey // signing key
	// BlockSize forces a block size; 0 picks ChooseBlockSize.
	BlockSize int
	// SizeHint, if > 0, is the expected payload length; a small payload
	// gets a small xz dictionary, so receivers allocate little. 0 takes
	// the length from src when it knows it (a bytes or strings reader, a
	// regular file): see payloadLenOf.
	SizeHint int64
	// TempDir holds the spooled body while packing ("" for os.TempDir).
	TempDir string
	// Format is the format version to write; 0 means FormatVersion.
	// Format 2 is for grids that still run tiles older than format 3,
	// format 1 for tiles older than format 2; they refuse what is newer.
	Format int
}

// Pack compresses src into an MFZ file written to dst. The body is spooled
// through a temporary file, since the manifest (which precedes the body)
// holds the block hashes; memory use does not grow with the payload.
func Pack(dst io.Writer, src io.Reader, opt PackOptions) (*Manifest, error) {
	if err := CheckName(opt.Name); err != nil {
		return nil, err
	}
	if len(opt.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: no ed25519 signing key", ErrKey)
	}
	format, err := packFormat(opt.Format)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(opt.TempDir, ".mfz-pack-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	hint := opt.SizeHint
	if hint <= 0 {
		hint = payloadLenOf(src)
	}
	dict := MaxDictCap
	if hint > 0 && hint < int64(dict) {
		dict = int(max(hint, lzma.MinDictCap))
	}
	bw := bufio.NewWriterSize(tmp, 64<<10)
	zw, err := xz.WriterConfig{DictCap: dict, CheckSum: xz.CRC32}.NewWriter(bw)
	if err != nil {
		return nil, err
	}
	ph := sha256.New()
	plen, err := io.Copy(io.MultiWriter(zw, ph), io.LimitReader(src, MaxPayloadLen+1))
	if err != nil {
		return nil, fmt.Errorf("packing %s: %w", opt.Name, err)
	}
	if plen > MaxPayloadLen {
		return nil, fmt.Errorf("%w: payload exceeds %d bytes", ErrTooLarge, MaxPayloadLen)
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	bodyLen, err := tmp.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	if bodyLen > MaxBodyLen {
		return nil, fmt.Errorf("%w: compressed body of %d bytes exceeds %d", ErrTooLarge, bodyLen, int64(MaxBodyLen))
	}
	bs := opt.BlockSize
	if bs == 0 {
		bs = ChooseBlockSize(bodyLen, int(format))
	}
	// The body's block hashes, as a format-2 manifest holds them.
	bm := &Manifest{Format: min(format, 2), Kind: KindFile, Name: opt.Name, Version: opt.Version, PayloadLen: plen, BodyLen: bodyLen, BlockSize: bs}
	copy(bm.PayloadHash[:], ph.Sum(nil))
	bm.BlockHashes = make([]Hash, blockCountFor(bodyLen, bs))
	buf := make([]byte, bs)
	for i := range bm.BlockHashes {
		b := buf[:bm.BlockLen(i)]
		if _, err := tmp.ReadAt(b, bm.BlockOffset(i)); err != nil {
			return nil, err
		}
		bm.BlockHashes[i] = bm.BlockHash(b)
	}
	m, list := bm, []byte(nil)
	if format >= 3 {
		m, list = pageHashes(bm, format)
	}
	signed, err := Sign(m, opt.Key)
	if err != nil {
		return nil, err
	}
	head, err := AppendFileHeader(nil, signed)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(append(head, list...)); err != nil {
		return nil, err
	}
	if _, err := io.CopyBuffer(dst, io.NewSectionReader(tmp, 0, bodyLen), buf); err != nil {
		return nil, err
	}
	return m, nil
}

// NewTombstone returns a whole signed tombstone file that deletes name and
// every version of it older than version, in format version format. 0
// picks format 1: a tombstone has no block hashes, so format 2 would gain
// nothing and only be refused by tiles older than it.
func NewTombstone(name string, version int64, key ed25519.PrivateKey, format int) ([]byte, *Manifest, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, fmt.Errorf("%w: no ed25519 signing key", ErrKey)
	}
	if format == 0 {
		format = 1
	}
	f, err := packFormat(format)
	if err != nil {
		return nil, nil, err
	}
	m := &Manifest{Format: f, Kind: KindTombstone, Name: name, Version: version}
	signed, err := Sign(m, key)
	if err != nil {
		return nil, nil, err
	}
	b, err := AppendFileHeader(nil, signed)
	return b, m, err
}

// packFormat checks the format version a caller asked to write; 0 is
// FormatVersion.
func packFormat(format int) (uint8, error) {
	if format == 0 {
		format = FormatVersion
	}
	if !knownFormat(format) {
		return 0, fmt.Errorf("%w %d: this build writes versions %d to %d", ErrVersion, format, OldestFormat, FormatVersion)
	}
	return uint8(format), nil
}

// payloadLenOf is what remains to read of src, when src can say without
// being read, else 0. Every receiver of a file allocates its xz
// dictionary whole to check it: an 8 MiB dictionary for a 1 MiB payload
// took 2.1 of the 3.7 CPU-s a 400-tile simulation's push spent
// allocating (BENCHMARKS.md, "Fewer hand-offs").
func payloadLenOf(src io.Reader) int64 {
	switch r := src.(type) {
	case interface{ Len() int }: // bytes.Reader, bytes.Buffer, strings.Reader
		return int64(r.Len())
	case *os.File:
		fi, err := r.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return 0
		}
		off, err := r.Seek(0, io.SeekCurrent)
		if err != nil || off > fi.Size() {
			return 0
		}
		return fi.Size() - off
	}
	return 0
}
