package tubes

// Sequence numbers count stream bytes from 0 and wrap at 2^32; windows are
// far smaller than 2^31, so comparisons in serial arithmetic (RFC 1982)
// stay right across the wrap.

func seqLT(a, b uint32) bool { return int32(a-b) < 0 }
func seqLE(a, b uint32) bool { return int32(a-b) <= 0 }

// seqMax returns the later of a and b.
func seqMax(a, b uint32) uint32 {
	if seqLT(a, b) {
		return b
	}
	return a
}
