package mfz

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// Checking a whole MFZ file or body: every block hash, then bounded
// decompression and the payload's length and hash.

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
	return f, verifyRegion(ctx, r, f.BodyOffset, f.Manifest, payload)
}

// VerifyBody checks what follows a signed manifest in a file (the body,
// or in format 3 the hash list and the body: RegionLen bytes) against the
// already verified manifest: block hashes, xz structure, bounded
// decompression, payload length and hash. The payload goes to payload if
// it is not nil.
func VerifyBody(region io.ReaderAt, m *Manifest, payload io.Writer) error {
	return verifyRegion(context.Background(), region, 0, m, payload)
}

// verifyRegion is VerifyBody of the region r holds from off, stopping when
// ctx ends. A bad body block is named by its index as the file travels,
// after its pages.
func verifyRegion(ctx context.Context, r io.ReaderAt, off int64, m *Manifest, payload io.Writer) error {
	if m.IsTombstone() {
		return nil
	}
	body, bm, err := bodyOf(r, off, m)
	if err != nil {
		return err
	}
	err = verifyBody(ctx, body, bm, payload)
	var be *BlockError
	if errors.As(err, &be) {
		be.Index += m.Pages()
	}
	return err
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
	blk []byte // one block's room, allocated once
	buf []byte // verified bytes of blk not yet returned
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
		if b.blk == nil {
			b.blk = make([]byte, b.m.BlockLen(0)) // the first block is the largest
		}
		b.buf = b.blk[:b.m.BlockLen(b.i)]
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
