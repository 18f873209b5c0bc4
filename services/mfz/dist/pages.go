package dist

import "github.com/t2tiles/itcd/services/mfz"

// Format 3's hash pages in the choice of blocks (mfz pages.go): a body
// block is asked for only once the page that checks it is here, and a
// page goes first once it is wanted (rarest, recv.go).

// checkable reports whether block b could be checked if it arrived now:
// the signed manifest holds its hash, or (format 3) its hash page is held.
func (f *file) checkable(b int) bool {
	pg := f.m.PageOf(b)
	return pg < 0 || f.have.Has(pg)
}

// pageWanted reports whether some neighbour holds a body block of f (whose
// first pages blocks are its hash pages) that hash page j checks and this
// tile lacks. The source shows its blocks lowest first, so early in a push
// only the first page is wanted: a tile starts after one page, not after
// all of them (6x6 corner, 1 MiB in 2 KiB blocks: all pages first
// 1.143-1.168 x the multipath bound).
func pageWanted(f *file, pages, j int, others []*rfile) bool {
	per := f.m.BlockSize / mfz.BlockHashLen
	lo := pages + j*per
	for b := lo; b < min(lo+per, f.blocks); b++ {
		if f.have.Has(b) {
			continue
		}
		for _, orf := range others {
			if orf.holds(b) {
				return true
			}
		}
	}
	return false
}
