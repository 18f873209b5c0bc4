package mfz

import (
	"fmt"
	"io"
)

// The part of an MFZ file before its body: header and signed manifest,
// read and written. Checking a whole file is in verify.go, making one in
// pack.go.

// File describes a parsed MFZ file: its manifest, the raw signed manifest
// (manifest || signature, what travels first over the wire) and where the
// body starts.
type File struct {
	Manifest *Manifest
	Signed   []byte // manifest bytes followed by the 64-byte signature
	// BodyOffset is where the blocks start in the file: the body, or in
	// format 3 the hash list and then the body (Manifest.RegionLen).
	BodyOffset int64
}

// Size returns the length of the whole file.
func (f *File) Size() int64 { return f.BodyOffset + f.Manifest.RegionLen() }

// Signature returns the 64-byte signature.
func (f *File) Signature() []byte { return f.Signed[len(f.Signed)-SignatureLen:] }

// AppendFileHeader appends the file header and the signed manifest signed
// to b: everything of an MFZ file before its body. A tombstone file is
// exactly this.
func AppendFileHeader(b []byte, signed []byte) ([]byte, error) {
	mb, _, err := SplitSignedManifest(signed)
	if err != nil {
		return b, err
	}
	format, err := manifestFormat(mb)
	if err != nil {
		return b, err
	}
	b, _ = Header{Version: uint16(format), ManifestLen: uint32(len(mb))}.AppendBinary(b)
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
	if m.FormatVersion() != int(h.Version) {
		return nil, fmt.Errorf("%w: header says format %d, manifest says %d", ErrMalformed, h.Version, m.FormatVersion())
	}
	f := &File{Manifest: m, Signed: signed, BodyOffset: HeaderLen + signedLen}
	switch want := f.Size(); {
	case size < want:
		return nil, fmt.Errorf("%w: file is %d bytes, manifest declares %d (%d of %d bytes after the manifest present)", ErrTruncated, size, want, size-f.BodyOffset, m.RegionLen())
	case size > want:
		return nil, fmt.Errorf("%w: %d bytes of trailing data after the %d-byte file", ErrMalformed, size-want, want)
	}
	return f, nil
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
