package mfz

import "math/bits"

// Bitmap is a set of block numbers: block i is bit i%8 (least significant
// first) of byte i/8. It is the form of a partial's "have" file, of
// Partial.Have, and of the block bitmaps service 8 sends (BITFIELD), so
// the one set of helpers here serves the store and the distribution
// service alike. Numbers outside the bitmap are never set: Has reports
// them absent and Set and Clear ignore them, so a block number from a
// neighbour cannot index past the end.
type Bitmap []byte

// NewBitmap returns an empty bitmap for a file of blocks blocks.
func NewBitmap(blocks int) Bitmap { return make(Bitmap, (blocks+7)/8) }

// Has reports whether block i is in the set.
func (b Bitmap) Has(i int) bool { return i >= 0 && i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0 }

// Set adds block i.
func (b Bitmap) Set(i int) {
	if i >= 0 && i/8 < len(b) {
		b[i/8] |= 1 << (i % 8)
	}
}

// Clear removes block i.
func (b Bitmap) Clear(i int) {
	if i >= 0 && i/8 < len(b) {
		b[i/8] &^= 1 << (i % 8)
	}
}

// Count returns how many of the blocks below n are in the set. It counts
// by bytes: the distribution service counts every neighbour's partial
// bitmaps (up to 6 x 255 x 4096 blocks) ten times a second.
func (b Bitmap) Count(n int) int {
	k, full := 0, min(max(n, 0)/8, len(b))
	for _, x := range b[:full] {
		k += bits.OnesCount8(x)
	}
	for i := full * 8; i < n && i/8 < len(b); i++ {
		if b.Has(i) {
			k++
		}
	}
	return k
}

// Empty reports whether no block is in the set.
func (b Bitmap) Empty() bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}
