package mfz

import (
	"crypto/sha256"
	"fmt"
)

// Format versions: which a manifest is written in, and what that decides
// (the length of a block hash, manifest byte 1, the longest manifest).

// FormatVersion returns the format version m is written in.
func (m *Manifest) FormatVersion() int {
	if m.Format == 0 {
		return FormatVersion
	}
	return int(m.Format)
}

// knownFormat reports whether this build reads and writes format f.
func knownFormat(f int) bool { return f >= OldestFormat && f <= FormatVersion }

// BlockHashLen returns the length of one block hash in m's format.
func (m *Manifest) BlockHashLen() int { return blockHashLen(m.FormatVersion()) }

func blockHashLen(format int) int {
	if format == 1 {
		return HashLen
	}
	return BlockHashLen
}

// BlockHash returns the hash of data as m's format records it.
func (m *Manifest) BlockHash(data []byte) Hash { return m.cut(sha256.Sum256(data)) }

// formatByte is byte 1 of a manifest: 0 in format 1, where it was a
// reserved byte that had to be 0, and the version itself after that.
func formatByte(format int) byte {
	if format == 1 {
		return 0
	}
	return byte(format)
}

// manifestFormat reads the format version of the manifest b.
func manifestFormat(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, fmt.Errorf("%w: manifest is %d bytes", ErrTruncated, len(b))
	}
	switch f := b[1]; {
	case f == 0:
		return 1, nil
	case f == 1:
		return 0, fmt.Errorf("%w: manifest format byte 1 (format 1 writes 0 there)", ErrMalformed)
	case knownFormat(int(f)):
		return int(f), nil
	default:
		return 0, fmt.Errorf("%w %d in the manifest (this build reads versions %d to %d; upgrade itcd)", ErrVersion, f, OldestFormat, FormatVersion)
	}
}

// maxManifestLen is the longest manifest of a format version.
func maxManifestLen(format int) int {
	return manifestFixedLen + MaxNameLen + MaxBlocks*blockHashLen(format)
}

// cut returns h with the bytes past m's block hash length cleared.
func (m *Manifest) cut(h Hash) Hash {
	clear(h[m.BlockHashLen():])
	return h
}
