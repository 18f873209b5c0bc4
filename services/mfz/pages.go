package mfz

import (
	"errors"
	"fmt"
	"io"
)

// Format 3: hash pages. In formats 1 and 2 the signed manifest holds the
// hash of every body block, so a tile must receive all of it before it
// can check (and pass on) a first block: 8 KB for 1 MiB in 2 KiB blocks,
// 130 ms a hop at 64 KB/s. In format 3 the block hashes follow the
// manifest as a hash list, 16 bytes a body block, that travels cut into
// blocks like the body: its "pages". The signed manifest holds only the
// pages' hashes (one 255-byte packet for 1 MiB), so a hop can start after
// it and one page, and each page is checked on its own before it is
// stored or served.
//
// The blocks of a format-3 file, the units it travels in, are its P pages
// and then its body blocks. The region after the signed manifest is the
// hash list (16 x body blocks bytes) followed by the body; page j is bytes
// [j B, (j+1) B) of the hash list, the last one shorter.

// ErrNeedPage reports a body block offered before the hash page that
// holds its hash: the caller must fetch the page first. It is nobody's
// fault but the caller's.
var ErrNeedPage = errors.New("mfz: the block's hash page is not held yet")

// paged reports whether m's format keeps the block hashes in pages.
func (m *Manifest) paged() bool { return m.FormatVersion() >= 3 && m.Kind == KindFile }

// bodyBlocks returns the number of body blocks.
func (m *Manifest) bodyBlocks() int { return int(blockCountFor(m.BodyLen, m.BlockSize)) }

// pagesFor returns the number of hash pages of n body blocks of bs bytes.
func pagesFor(n int64, bs int) int64 { return blockCountFor(n*BlockHashLen, bs) }

// Pages returns the number of hash pages the file's blocks begin with: 0
// before format 3, whose manifests hold every block's hash.
func (m *Manifest) Pages() int {
	if !m.paged() {
		return 0
	}
	return len(m.BlockHashes)
}

// HashListLen returns the length of the hash list between the signed
// manifest and the body: BlockHashLen bytes a body block in format 3, 0
// before.
func (m *Manifest) HashListLen() int64 {
	if !m.paged() {
		return 0
	}
	return int64(m.bodyBlocks()) * BlockHashLen
}

// RegionLen returns the length of what follows the signed manifest in the
// file, what travels as blocks: the hash list and the body.
func (m *Manifest) RegionLen() int64 { return m.HashListLen() + m.BodyLen }

// PageOf returns the block, a hash page, that holds the hash of block i,
// or -1 if the signed manifest holds it (a page, or any block before
// format 3).
func (m *Manifest) PageOf(i int) int {
	p := m.Pages()
	if !m.paged() || i < p || i >= m.BlockCount() {
		return -1
	}
	return (i - p) * BlockHashLen / m.BlockSize
}

// hashInPage returns the hash of block i as page, the data of block
// PageOf(i), records it.
func (m *Manifest) hashInPage(i int, page []byte) (Hash, error) {
	var h Hash
	off := (i-m.Pages())*BlockHashLen - m.PageOf(i)*m.BlockSize
	if off < 0 || off+BlockHashLen > len(page) {
		return h, fmt.Errorf("%w: page of %d bytes has no hash for block %d", ErrMalformed, len(page), i)
	}
	copy(h[:], page[off:off+BlockHashLen])
	return h, nil
}

// VerifyBlockIn checks that data is block i, whose hash page (block
// PageOf(i)) is page, already checked. For a block whose hash the signed
// manifest holds, page is ignored.
func (m *Manifest) VerifyBlockIn(i int, data, page []byte) error {
	if m.PageOf(i) < 0 {
		return m.VerifyBlock(i, data)
	}
	want, err := m.hashInPage(i, page)
	if err != nil {
		return err
	}
	return m.checkHash(i, data, want)
}

// checkHash checks that data is block i, whose hash is want: its length
// and its hash, else a *BlockError.
func (m *Manifest) checkHash(i int, data []byte, want Hash) error {
	if len(data) != m.BlockLen(i) || m.BlockHash(data) != want {
		return &BlockError{Index: i}
	}
	return nil
}

// bodyOf returns the body of the file whose region (hash list and body)
// r holds from off, and a manifest that checks the body's blocks alone:
// m itself before format 3; in format 3 a format-2 manifest with every
// body block's hash, from the hash list, which is read and checked page
// by page against m first (at most MaxBlocks x BlockHashLen bytes).
func bodyOf(r io.ReaderAt, off int64, m *Manifest) (io.ReaderAt, *Manifest, error) {
	if !m.paged() {
		return io.NewSectionReader(r, off, m.BodyLen), m, nil
	}
	list, err := readHashList(r, off, m)
	if err != nil {
		return nil, nil, err
	}
	bm := *m
	bm.Format = 2
	bm.BlockHashes = make([]Hash, m.bodyBlocks())
	for k := range bm.BlockHashes {
		copy(bm.BlockHashes[k][:], list[k*BlockHashLen:(k+1)*BlockHashLen])
	}
	return io.NewSectionReader(r, off+m.HashListLen(), m.BodyLen), &bm, nil
}

// readHashList reads the hash list of the format-3 file whose region r
// holds from off and checks it page by page against m.
func readHashList(r io.ReaderAt, off int64, m *Manifest) ([]byte, error) {
	list := make([]byte, m.HashListLen())
	if _, err := r.ReadAt(list, off); err != nil {
		if err == io.EOF {
			err = fmt.Errorf("%w: file ends inside its hash list", ErrTruncated)
		}
		return nil, err
	}
	for j := 0; j < m.Pages(); j++ {
		if err := m.VerifyBlock(j, list[m.BlockOffset(j):m.BlockOffset(j)+int64(m.BlockLen(j))]); err != nil {
			return nil, err
		}
	}
	return list, nil
}

// readBlockAt reads block i of the file f, whose region starts at off,
// into buf and checks it: against its hash page if it has one, taken from
// list (a partial's checked pages) or else read and checked first (so
// buf must hold the page too: BlockSize bytes always do).
func readBlockAt(f io.ReaderAt, off int64, m *Manifest, i int, buf, list []byte) (int, error) {
	n := m.BlockLen(i)
	if n == 0 {
		return 0, fmt.Errorf("%w: block index %d out of range [0, %d)", ErrMalformed, i, m.BlockCount())
	}
	pg := m.PageOf(i)
	need := n
	if pg >= 0 && list == nil {
		need = max(n, m.BlockLen(pg))
	}
	if len(buf) < need {
		return 0, fmt.Errorf("mfz: ReadBlock buffer of %d bytes, block %d needs %d", len(buf), i, need)
	}
	if pg < 0 {
		if _, err := f.ReadAt(buf[:n], off+m.BlockOffset(i)); err != nil {
			return 0, err
		}
		if err := m.VerifyBlock(i, buf[:n]); err != nil {
			return 0, err
		}
		return n, nil
	}
	page := buf[:m.BlockLen(pg)]
	if list != nil {
		page = list[m.BlockOffset(pg) : m.BlockOffset(pg)+int64(m.BlockLen(pg))]
	} else {
		if _, err := f.ReadAt(page, off+m.BlockOffset(pg)); err != nil {
			return 0, err
		}
		if err := m.VerifyBlock(pg, page); err != nil {
			return 0, err
		}
	}
	want, err := m.hashInPage(i, page) // before buf, which may hold the page, is read over
	if err != nil {
		return 0, err
	}
	if _, err := f.ReadAt(buf[:n], off+m.BlockOffset(i)); err != nil {
		return 0, err
	}
	if err := m.checkHash(i, buf[:n], want); err != nil {
		return 0, err
	}
	return n, nil
}

// pagedBlockCost is what ChooseBlockSize counts a format-3 block to cost
// beyond its bytes, in bytes of link time: fit to the measurements (2 KiB
// blocks for 1 MiB beat 1 KiB and 4 KiB).
const pagedBlockCost = 8

// pageHashes returns the format-3 manifest of the body bm describes (a
// format-2 manifest with every body block's hash) and its hash list.
func pageHashes(bm *Manifest, format uint8) (*Manifest, []byte) {
	list := make([]byte, 0, len(bm.BlockHashes)*BlockHashLen)
	for _, h := range bm.BlockHashes {
		list = append(list, h[:BlockHashLen]...)
	}
	m := *bm
	m.Format = format
	m.BlockHashes = make([]Hash, pagesFor(int64(len(bm.BlockHashes)), bm.BlockSize))
	for j := range m.BlockHashes {
		m.BlockHashes[j] = m.BlockHash(list[m.BlockOffset(j) : m.BlockOffset(j)+int64(m.BlockLen(j))])
	}
	return &m, list
}
