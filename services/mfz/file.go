package mfz

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// File describes a parsed MFZ file: its manifest, the raw signed manifest
// (manifest || signature, what travels first over the wire) and where the
// body starts.
type File struct {
	Manifest   *Manifest
	Signed     []byte // manifest bytes followed by the 64-byte signature
	BodyOffset int64  // offset of the body in the file
}

// Size returns the length of the whole file.
func (f *File) Size() int64 { return f.BodyOffset + f.Manifest.BodyLen }

// Signature returns the 64-byte signature.
func (f *File) Signature() []byte { return f.Signed[len(f.Signed)-SignatureLen:] }

// AppendFileHeader appends the file header and the signed manifest signed
// to b: everything of an MFZ file before its body. A tombstone file is
// exactly this.
func AppendFileHeader(b []byte, signed []byte) ([]byte, error) {
	if _, _, err := SplitSignedManifest(signed); err != nil {
		return b, err
	}
	b, _ = Header{Version: FormatVersion, ManifestLen: uint32(len(signed) - SignatureLen)}.AppendBinary(b)
	return append(b, signed...), nil
}

// ReadFile reads the header, manifest and signature of an MFZ file of size
// bytes from r and checks that the size matches. It does not check the
// signature or the body; see VerifyFile.
func ReadFile(r io.ReaderAt, size int64) (*File, error) {
	var hb [HeaderLen]byte
	n, err := r.ReadAt(hb[:], 0)
	if n < HeaderLen && err != nil && err != io.EOF {
		return nil, err
	}
	h, err := ParseHeader(hb[:n])
	if err != nil {
		return nil, err
	}
	signedLen := int64(h.ManifestLen) + SignatureLen
	if size < HeaderLen+signedLen {
		return nil, fmt.Errorf("%w: file is %d bytes, its %d-byte manifest and signature end at %d", ErrTruncated, size, h.ManifestLen, HeaderLen+signedLen)
	}
	signed := make([]byte, signedLen)
	if _, err := r.ReadAt(signed, HeaderLen); err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: manifest cut short", ErrTruncated)
		}
		return nil, err
	}
	m, err := ParseManifest(signed[:h.ManifestLen])
	if err != nil {
		return nil, err
	}
	f := &File{Manifest: m, Signed: signed, BodyOffset: HeaderLen + signedLen}
	switch want := f.Size(); {
	case size < want:
		return nil, fmt.Errorf("%w: file is %d bytes, manifest declares %d (%d of %d body bytes present)", ErrTruncated, size, want, size-f.BodyOffset, m.BodyLen)
	case size > want:
		return nil, fmt.Errorf("%w: %d bytes of trailing data after the %d-byte file", ErrMalformed, size-want, want)
	}
	return f, nil
}

// VerifyFile checks an MFZ file of size bytes completely: header, manifest,
// signature by a key in trust, every block hash, the xz structure and the
// payload's length and SHA-256. Decompression is bounded by the signed
// payload length. If payload is not nil the payload is written to it as it
// is verified; the caller must discard what was written if VerifyFile
// fails. Nothing is held whole in memory.
func VerifyFile(r io.ReaderAt, size int64, trust *TrustSet, payload io.Writer) (*File, error) {
	return verifyFile(context.Background(), r, size, trust, payload)
}

// verifyFile is VerifyFile that stops, with ctx's error, when ctx ends.
func verifyFile(ctx context.Context, r io.ReaderAt, size int64, trust *TrustSet, payload io.Writer) (*File, error) {
	f, err := ReadFile(r, size)
	if err != nil {
		return nil, err
	}
	if _, err := VerifySignedManifest(f.Signed, trust); err != nil {
		return f, err
	}
	if f.Manifest.IsTombstone() {
		return f, nil
	}
	return f, verifyBody(ctx, io.NewSectionReader(r, f.BodyOffset, f.Manifest.BodyLen), f.Manifest, payload)
}

// VerifyBody checks a body against its (already verified) manifest: block
// hashes, xz structure, bounded decompression, payload length and hash. The
// payload goes to payload if it is not nil.
func VerifyBody(body io.ReaderAt, m *Manifest, payload io.Writer) error {
	return verifyBody(context.Background(), body, m, payload)
}

// verifyBody is VerifyBody that stops, with ctx's error, when ctx ends.
func verifyBody(ctx context.Context, body io.ReaderAt, m *Manifest, payload io.Writer) error {
	if m.IsTombstone() {
		return nil
	}
	dict, err := checkXZ(body, m)
	if err != nil {
		return err
	}
	br := &blockReader{ctx: ctx, r: body, m: m}
	xr, err := xz.ReaderConfig{DictCap: max(dict, lzma.MinDictCap), SingleStream: true}.NewReader(bufio.NewReaderSize(br, 32<<10))
	if err != nil {
		return br.fault(err)
	}
	h := sha256.New()
	var w io.Writer = h
	if payload != nil {
		w = io.MultiWriter(h, payloadWriter{payload})
	}
	n, err := io.Copy(w, io.LimitReader(xr, m.PayloadLen))
	if err != nil {
		var we *writeError
		if errors.As(err, &we) {
			return we.err
		}
		return br.fault(err)
	}
	if n < m.PayloadLen {
		return fmt.Errorf("%w: body inflates to %d bytes, signed payload length is %d", ErrPayload, n, m.PayloadLen)
	}
	var one [1]byte
	if k, err := io.ReadFull(xr, one[:]); k > 0 {
		return fmt.Errorf("%w: body inflates past the signed payload length %d (compression bomb?)", ErrPayload, m.PayloadLen)
	} else if err != io.EOF {
		return br.fault(err)
	}
	if Hash(h.Sum(nil)) != m.PayloadHash {
		return fmt.Errorf("%w: payload SHA-256 differs from the signed hash", ErrPayload)
	}
	return nil
}

// writeError marks an error from the payload writer, so it is not
// mistaken for a fault in the file.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }

type payloadWriter struct{ w io.Writer }

func (p payloadWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	if err != nil {
		err = &writeError{err}
	}
	return n, err
}

// blockReader reads a body sequentially, verifying each block before
// returning any of its bytes.
type blockReader struct {
	ctx context.Context // checked before each block: a final check can take minutes on a tile
	r   io.ReaderAt
	m   *Manifest
	i   int    // next block
	buf []byte // verified bytes not yet returned
	err error  // first verification or I/O error
}

func (b *blockReader) Read(p []byte) (int, error) {
	if len(b.buf) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		if b.i >= b.m.BlockCount() {
			return 0, io.EOF
		}
		if err := b.ctx.Err(); err != nil {
			b.err = err
			return 0, err
		}
		n := b.m.BlockLen(b.i)
		if cap(b.buf) < n {
			b.buf = make([]byte, b.m.BlockSize)
		}
		b.buf = b.buf[:n]
		if _, err := b.r.ReadAt(b.buf, b.m.BlockOffset(b.i)); err != nil {
			if err == io.EOF {
				err = fmt.Errorf("%w: body ends inside block %d", ErrTruncated, b.i)
			}
			b.err, b.buf = err, b.buf[:0]
			return 0, err
		}
		if err := b.m.VerifyBlock(b.i, b.buf); err != nil {
			b.err, b.buf = err, b.buf[:0]
			return 0, err
		}
		b.i++
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

// fault returns the error that explains a decompression failure: a block
// that failed verification, or else a corrupt xz stream.
func (b *blockReader) fault(err error) error {
	if b.err != nil {
		return b.err
	}
	return fmt.Errorf("%w: xz body: %v", ErrMalformed, err)
}

// readVerified returns body[off:off+n] after verifying every block it
// touches.
func readVerified(body io.ReaderAt, m *Manifest, off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > m.BodyLen {
		return nil, fmt.Errorf("%w: xz structure points outside the body", ErrMalformed)
	}
	first, last := int(off/int64(m.BlockSize)), int((off+n-1)/int64(m.BlockSize))
	start := m.BlockOffset(first)
	buf := make([]byte, m.BlockOffset(last)+int64(m.BlockLen(last))-start)
	if _, err := body.ReadAt(buf, start); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: body cut short", ErrTruncated)
		}
		return nil, err
	}
	for i := first; i <= last; i++ {
		o := m.BlockOffset(i) - start
		if err := m.VerifyBlock(i, buf[o:o+int64(m.BlockLen(i))]); err != nil {
			return nil, err
		}
	}
	return buf[off-start : off-start+n], nil
}

// checkXZ checks, from verified bytes only, that the body is a single xz
// stream with at most one block, whose uncompressed size is the signed
// payload length and whose LZMA2 dictionary is at most MaxDictCap. It
// returns the dictionary size. This bounds the decompressor's memory before
// it allocates anything.
func checkXZ(body io.ReaderAt, m *Manifest) (int, error) {
	bad := func(format string, a ...any) (int, error) {
		return 0, fmt.Errorf("%w: xz body: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	const streamHeaderLen, footerLen = 12, 12
	if m.BodyLen < streamHeaderLen+footerLen+8 {
		return bad("%d bytes is too short for an xz stream", m.BodyLen)
	}
	hdr, err := readVerified(body, m, 0, streamHeaderLen)
	if err != nil {
		return 0, err
	}
	if string(hdr[:6]) != "\xfd7zXZ\x00" {
		return bad("no xz stream magic")
	}
	foot, err := readVerified(body, m, m.BodyLen-footerLen, footerLen)
	if err != nil {
		return 0, err
	}
	if string(foot[10:]) != "YZ" {
		return bad("no xz stream footer at the end of the body")
	}
	indexLen := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	if indexLen > 64 {
		return bad("index of %d bytes: more than one block", indexLen)
	}
	indexOff := m.BodyLen - footerLen - indexLen
	if indexOff < streamHeaderLen {
		return bad("index size %d overlaps the stream header", indexLen)
	}
	idx, err := readVerified(body, m, indexOff, indexLen)
	if err != nil {
		return 0, err
	}
	if idx[0] != 0 {
		return bad("index indicator missing")
	}
	p := idx[1:]
	records, p, ok := uvarint(p)
	if !ok || records > 1 {
		return bad("index lists %d blocks, want at most one", records)
	}
	if records == 0 {
		if m.PayloadLen != 0 || indexOff != streamHeaderLen {
			return bad("no blocks but payload length %d", m.PayloadLen)
		}
		return lzma.MinDictCap, nil
	}
	unpadded, p, ok1 := uvarint(p)
	uncompressed, _, ok2 := uvarint(p)
	if !ok1 || !ok2 {
		return bad("index record malformed")
	}
	if uncompressed != uint64(m.PayloadLen) {
		return 0, fmt.Errorf("%w: xz index declares %d uncompressed bytes, signed payload length is %d", ErrPayload, uncompressed, m.PayloadLen)
	}
	if unpadded > uint64(m.BodyLen) || streamHeaderLen+int64((unpadded+3)&^3) != indexOff {
		return bad("block size in the index does not match its position")
	}
	// The one block header: size byte, flags, optional sizes, one filter.
	first, err := readVerified(body, m, streamHeaderLen, 1)
	if err != nil {
		return 0, err
	}
	hlen := (int64(first[0]) + 1) * 4
	if first[0] == 0 || streamHeaderLen+hlen > indexOff {
		return bad("block header size %d invalid", hlen)
	}
	bh, err := readVerified(body, m, streamHeaderLen, hlen)
	if err != nil {
		return 0, err
	}
	flags := bh[1]
	if flags&0x3c != 0 || flags&3 != 0 {
		return bad("block flags %#02x: want one filter, no reserved bits", flags)
	}
	p = bh[2 : hlen-4]
	if flags&0x40 != 0 {
		if _, p, ok = uvarint(p); !ok {
			return bad("block header compressed size malformed")
		}
	}
	if flags&0x80 != 0 {
		var u uint64
		if u, p, ok = uvarint(p); !ok || u != uint64(m.PayloadLen) {
			return bad("block header uncompressed size malformed or not the payload length")
		}
	}
	id, p, ok := uvarint(p)
	if !ok || id != 0x21 {
		return bad("filter %#x, want LZMA2 (0x21) only", id)
	}
	psize, p, ok := uvarint(p)
	if !ok || psize != 1 || len(p) < 1 {
		return bad("LZMA2 filter properties malformed")
	}
	dc, err := lzma.DecodeDictCap(p[0])
	if err != nil {
		return bad("%v", err)
	}
	if dc > MaxDictCap {
		return 0, fmt.Errorf("%w: xz dictionary of %d bytes exceeds limit %d", ErrTooLarge, dc, MaxDictCap)
	}
	return int(dc), nil
}

// uvarint decodes an xz multibyte integer.
func uvarint(p []byte) (uint64, []byte, bool) {
	var v uint64
	for i := 0; i < len(p) && i < 9; i++ {
		v |= uint64(p[i]&0x7f) << (7 * i)
		if p[i]&0x80 == 0 {
			if i > 0 && p[i] == 0 {
				return 0, p, false
			}
			return v, p[i+1:], true
		}
	}
	return 0, p, false
}

// PackOptions configures Pack.
type PackOptions struct {
	Name    string             // file name in the manifest (CheckName)
	Version int64              // Unix nanoseconds
	Key     ed25519.PrivateKey // signing key
	// BlockSize forces a block size; 0 picks ChooseBlockSize.
	BlockSize int
	// SizeHint, if > 0, is the expected payload length; a small payload
	// gets a small xz dictionary, so receivers allocate little.
	SizeHint int64
	// TempDir holds the spooled body while packing ("" for os.TempDir).
	TempDir string
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
	tmp, err := os.CreateTemp(opt.TempDir, ".mfz-pack-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()

	dict := 8 << 20
	if opt.SizeHint > 0 && opt.SizeHint < int64(dict) {
		dict = int(max(opt.SizeHint, lzma.MinDictCap))
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
		bs = ChooseBlockSize(bodyLen)
	}
	m := &Manifest{Kind: KindFile, Name: opt.Name, Version: opt.Version, PayloadLen: plen, BodyLen: bodyLen, BlockSize: bs}
	copy(m.PayloadHash[:], ph.Sum(nil))
	m.BlockHashes = make([]Hash, blockCountFor(bodyLen, bs))
	buf := make([]byte, bs)
	for i := range m.BlockHashes {
		b := buf[:m.BlockLen(i)]
		if _, err := tmp.ReadAt(b, m.BlockOffset(i)); err != nil {
			return nil, err
		}
		m.BlockHashes[i] = sha256.Sum256(b)
	}
	signed, err := Sign(m, opt.Key)
	if err != nil {
		return nil, err
	}
	head, err := AppendFileHeader(nil, signed)
	if err != nil {
		return nil, err
	}
	if _, err := dst.Write(head); err != nil {
		return nil, err
	}
	if _, err := io.CopyBuffer(dst, io.NewSectionReader(tmp, 0, bodyLen), buf); err != nil {
		return nil, err
	}
	return m, nil
}

// NewTombstone returns a whole signed tombstone file that deletes name and
// every version of it older than version.
func NewTombstone(name string, version int64, key ed25519.PrivateKey) ([]byte, *Manifest, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, nil, fmt.Errorf("%w: no ed25519 signing key", ErrKey)
	}
	m := &Manifest{Kind: KindTombstone, Name: name, Version: version}
	signed, err := Sign(m, key)
	if err != nil {
		return nil, nil, err
	}
	b, err := AppendFileHeader(nil, signed)
	return b, m, err
}

// ReadFileAt reads the header and signed manifest of the MFZ file at path,
// without checking the signature, and returns them with the file's size.
func ReadFileAt(path string) (*File, int64, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	mf, err := ReadFile(f, fi.Size())
	return mf, fi.Size(), err
}

// VerifyPath checks the MFZ file at path completely, as VerifyFile does,
// writing the payload to payload if it is not nil.
func VerifyPath(path string, trust *TrustSet, payload io.Writer) (*File, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return VerifyFile(f, fi.Size(), trust, payload)
}
