package mfz

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/ulikunitz/xz/lzma"
)

// Checking the xz structure of a body from verified bytes only, so the
// decompressor's memory is bounded before it allocates anything.

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

// The xz container's fixed sizes: stream header and footer, the largest
// index of one block (indicator, count, two 9-byte sizes, padding, CRC32),
// and the largest block header.
const (
	streamHeaderLen   = 12
	streamFooterLen   = 12
	maxIndexLen       = 64
	maxBlockHeaderLen = 1024
)

// checkXZ checks, from verified bytes only, that the body is a single xz
// stream with at most one block, whose uncompressed size is the signed
// payload length and whose LZMA2 dictionary is at most MaxDictCap. It
// returns the dictionary size. This bounds the decompressor's memory before
// it allocates anything. It reads the blocks holding the stream's head and
// tail once each: at most three blocks in all.
func checkXZ(body io.ReaderAt, m *Manifest) (int, error) {
	bad := func(format string, a ...any) (int, error) {
		return 0, fmt.Errorf("%w: xz body: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if m.BodyLen < streamHeaderLen+streamFooterLen+8 {
		return bad("%d bytes is too short for an xz stream", m.BodyLen)
	}
	head, err := readVerified(body, m, 0, min(m.BodyLen, streamHeaderLen+maxBlockHeaderLen))
	if err != nil {
		return 0, err
	}
	tailLen := min(m.BodyLen, streamFooterLen+maxIndexLen)
	tail, err := readVerified(body, m, m.BodyLen-tailLen, tailLen)
	if err != nil {
		return 0, err
	}
	if string(head[:6]) != "\xfd7zXZ\x00" {
		return bad("no xz stream magic")
	}
	foot := tail[tailLen-streamFooterLen:]
	if string(foot[10:]) != "YZ" {
		return bad("no xz stream footer at the end of the body")
	}
	indexLen := (int64(binary.LittleEndian.Uint32(foot[4:8])) + 1) * 4
	if indexLen > maxIndexLen {
		return bad("index of %d bytes: more than one block", indexLen)
	}
	indexOff := m.BodyLen - streamFooterLen - indexLen
	if indexOff < streamHeaderLen {
		return bad("index size %d overlaps the stream header", indexLen)
	}
	idx := tail[tailLen-streamFooterLen-indexLen : tailLen-streamFooterLen]
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
	// It ends before the index, so inside head.
	hlen := (int64(head[streamHeaderLen]) + 1) * 4
	if head[streamHeaderLen] == 0 || streamHeaderLen+hlen > indexOff {
		return bad("block header size %d invalid", hlen)
	}
	bh := head[streamHeaderLen : streamHeaderLen+hlen]
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
		return 0, fmt.Errorf("%w: xz dictionary of %d bytes exceeds the %d a tile allows (the signer must repack the file with itcd pack)", ErrTooLarge, dc, MaxDictCap)
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
