package mfz

// The block size Pack picks for a body.

// ChooseBlockSize returns the block size Pack uses for a body of bodyLen
// bytes in format format (0: FormatVersion).
//
// Format 3: a hop waits for a packet of manifest, a page and a block, 2
// bs bytes on its link, so blocks are small; but each block costs a
// hash, a HAVE entry, requests and a write, about pagedBlockCost bytes
// of the link's time for a body of bodyLen: bodyLen/bs * pagedBlockCost.
// The power of two with the least sum: 1 KiB up to 512 KiB, 2 KiB
// for 1 MiB, 8 KiB for 16 MiB. (Measured, issue 13, 1 MiB from the
// corner of 6x6 in format 3: 2 KiB blocks 1.144-1.148 x the multipath
// bound, 1 KiB 1.163-1.168, 4 KiB 1.170-1.178; BENCHMARKS.md.)
//
// Formats 1 and 2: each hop of a grid waits for the whole signed manifest (no block
// verifies before it: BlockHashLen bytes a block) and then for a whole
// block (none is passed on before it verifies): about bodyLen/bs *
// BlockHashLen + bs bytes on its link, least where the two are equal.
// So the power of two nearest sqrt(BlockHashLen * bodyLen), within
// MinBlockSize..MaxBlockSize and with at most MaxBlocks blocks: 1 KiB
// for 64 KiB, 2 KiB for 256 KiB, 4 KiB for 1 MiB, 16 KiB for 16 MiB.
// (Measured, issue 13: 4 KiB blocks beat 8 KiB on 1 MiB, and 2 KiB beat
// 4 KiB on 256 KiB at 20% loss, 1.58 -> 1.42 x the loss-adjusted bound;
// BENCHMARKS.md.)
func ChooseBlockSize(bodyLen int64, format int) int {
	// wait is what a hop waits for, in bytes of its link; total the
	// blocks the file travels in.
	wait := func(bs int) int64 { return blockCountFor(bodyLen, bs)*BlockHashLen + int64(bs) }
	total := func(bs int) int64 { return blockCountFor(bodyLen, bs) }
	if format == 0 || format >= 3 {
		wait = func(bs int) int64 { return 2*int64(bs) + blockCountFor(bodyLen, bs)*pagedBlockCost }
		total = func(bs int) int64 { n := blockCountFor(bodyLen, bs); return n + pagesFor(n, bs) }
	}
	bs := MinBlockSize
	for bs < MaxBlockSize && (total(bs) > MaxBlocks || wait(2*bs) < wait(bs)) {
		bs *= 2
	}
	return bs
}
