package mfz

import (
	"context"
	"io"
)

// The memory of whole-file checks, bounded per check and in all.
//
// A check of a body holds the xz decoder's dictionary, which the body
// declares, and one block; transfers that complete, pushes and files
// dropped into live/ may all ask for one at the same moment. Each check
// holds at most MaxCheckMemory, and the store runs at most maxChecks at
// once, so a tile's checks never hold more than maxChecks*MaxCheckMemory
// (18.75 MiB) whatever files arrive.

// MaxCheckMemory bounds the heap one check of a body holds at any moment:
// first the blocks with the xz stream's head and tail (at most two
// blocks), freed before the decoder exists; then the xz dictionary
// (MaxDictCap), the block being decompressed, and the decoder's tables and
// buffers (well under 256 KiB); in format 3 also the body's block hashes,
// read from its pages (at most MaxBlocks of HashLen). What the decoder allocates and drops on
// the way (32 KiB for each stored chunk of 64 KiB) is garbage the
// collector takes back, not held memory. TestCheckMemoryBound measures it.
const MaxCheckMemory = MaxDictCap + MaxBlockSize + 256<<10 + MaxBlocks*HashLen

// maxChecks bounds the whole-file checks that run at once. A tile has one
// core, so more would not finish sooner; two let a small file complete
// while a large one is being checked.
const maxChecks = 2

// checkSlot waits for one of the store's check slots, or for ctx to end.
// The caller calls release when its check is done.
func (s *Store) checkSlot(ctx context.Context) (release func(), err error) {
	select {
	case s.checkSlots <- struct{}{}:
		return func() { <-s.checkSlots }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// checkFile is verifyFile against the store's trust, in a check slot.
func (s *Store) checkFile(ctx context.Context, r io.ReaderAt, size int64) (*File, error) {
	release, err := s.checkSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	return verifyFile(ctx, r, size, s.trust, nil)
}

// checkRegion is verifyRegion, without the payload, in a check slot.
func (s *Store) checkRegion(ctx context.Context, r io.ReaderAt, off int64, m *Manifest) error {
	release, err := s.checkSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	return verifyRegion(ctx, r, off, m, nil)
}
