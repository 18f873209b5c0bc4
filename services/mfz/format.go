package mfz

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"strings"
)

// Hard limits of the format. Parsers check them before allocating.
const (
	// FormatVersion is the format version Pack writes. This package reads
	// it and every version down to OldestFormat.
	FormatVersion = 3
	// OldestFormat is the oldest format version this package reads.
	// Format 1 hashes each block with all 32 bytes of SHA-256; format 2
	// keeps the first BlockHashLen of them, which halves the manifest a
	// tile must receive before it can pass the first block on; format 3
	// moves the block hashes out of the manifest into hash pages that
	// travel as blocks (pages.go), so a tile starts after one packet of
	// manifest and one page.
	OldestFormat = 1
	// BlockHashLen is the length of a block hash in a format-2 manifest:
	// SHA-256 cut to 128 bits, still 2^128 work to forge a block for a
	// given hash. The payload hash stays whole.
	BlockHashLen = 16
	// HeaderLen is the length of the fixed file header.
	HeaderLen = 16
	// SignatureLen is the length of the ed25519 signature after the manifest.
	SignatureLen = 64
	// HashLen is the length of a SHA-256 hash.
	HashLen = 32
	// MaxNameLen is the longest file name a manifest may carry.
	MaxNameLen = 28
	// MaxPayloadLen is the largest payload (uncompressed file) allowed.
	MaxPayloadLen = 1 << 30
	// MaxBodyLen is the largest compressed body allowed: incompressible
	// data grows slightly under xz.
	MaxBodyLen = MaxPayloadLen + 16<<20
	// MinBlockSize and MaxBlockSize bound the block size, a power of two.
	MinBlockSize = 1 << 10
	MaxBlockSize = 1 << 20
	// MaxBlocks is the largest number of blocks a file travels in (in
	// format 3 its hash pages included).
	MaxBlocks = 4096
	// manifestFixedLen is the manifest length without name and block hashes.
	manifestFixedLen = 3 + 8 + 8 + 8 + 8 + 4 + 4 + HashLen
	// MinManifestLen and MaxManifestLen bound the manifest length in any
	// format (the largest is format 1's, with whole block hashes).
	MinManifestLen = manifestFixedLen + 1
	MaxManifestLen = manifestFixedLen + MaxNameLen + MaxBlocks*HashLen
	// MaxSignedManifestLen bounds a signed manifest (manifest+signature).
	MaxSignedManifestLen = MaxManifestLen + SignatureLen
	// MaxDictCap is the largest xz dictionary a body may declare; it bounds
	// the decompressor's memory (MaxCheckMemory). It is what Pack writes at
	// most, xz's default: a tile has 512 MB for everything it runs, and a
	// larger dictionary would make each check of a file cost a tile that
	// much more for a slightly smaller file.
	MaxDictCap = 8 << 20
)

// Magic starts every MFZ file. Like PNG's, it catches text-mode transfers.
var Magic = [8]byte{0x89, 'M', 'F', 'Z', '\r', '\n', 0x1a, '\n'}

// signContext is prepended to the manifest bytes before signing, so that a
// signature made for an MFZ manifest can never be valid for anything else.
const signContext = "itcd-mfz-v1\x00"

// Kind says whether a manifest describes a file or a tombstone.
type Kind uint8

const (
	// KindFile: the manifest describes a file with a body.
	KindFile Kind = 1
	// KindTombstone: a signed deletion of every older version of the name;
	// there is no body.
	KindTombstone Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindFile:
		return "file"
	case KindTombstone:
		return "tombstone"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// KeyID names a public key: the first 8 bytes of SHA-256 of the 32-byte
// ed25519 public key.
type KeyID [8]byte

// String returns the key id as 16 hex digits.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// Hash is a SHA-256 hash.
type Hash [HashLen]byte

// String returns the hash in hex.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// Header is the fixed 16-byte header at the start of an MFZ file.
type Header struct {
	Version     uint16 // format version, OldestFormat..FormatVersion
	ManifestLen uint32 // length of the manifest that follows
}

// ParseHeader parses and checks the header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < len(Magic) || !bytes.Equal(b[:len(Magic)], Magic[:]) {
		if len(b) < len(Magic) && bytes.HasPrefix(Magic[:], b) {
			return h, fmt.Errorf("%w: header is %d bytes, need %d", ErrTruncated, len(b), HeaderLen)
		}
		return h, ErrBadMagic
	}
	if len(b) < HeaderLen {
		return h, fmt.Errorf("%w: header is %d bytes, need %d", ErrTruncated, len(b), HeaderLen)
	}
	h.Version = binary.BigEndian.Uint16(b[8:])
	if !knownFormat(int(h.Version)) {
		return h, fmt.Errorf("%w %d (this build reads versions %d to %d; upgrade itcd)", ErrVersion, h.Version, OldestFormat, FormatVersion)
	}
	if flags := binary.BigEndian.Uint16(b[10:]); flags != 0 {
		return h, fmt.Errorf("%w: reserved header flags %#04x set", ErrMalformed, flags)
	}
	h.ManifestLen = binary.BigEndian.Uint32(b[12:])
	if h.ManifestLen < MinManifestLen {
		return h, fmt.Errorf("%w: manifest length %d below minimum %d", ErrMalformed, h.ManifestLen, MinManifestLen)
	}
	if limit := maxManifestLen(int(h.Version)); h.ManifestLen > uint32(limit) {
		return h, fmt.Errorf("%w: manifest length %d exceeds format %d's limit %d", ErrTooLarge, h.ManifestLen, h.Version, limit)
	}
	return h, nil
}

// AppendBinary appends the 16-byte header to b.
func (h Header) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, Magic[:]...)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = binary.BigEndian.AppendUint16(b, 0)
	return binary.BigEndian.AppendUint32(b, h.ManifestLen), nil
}

// Manifest is the signed description of a file or tombstone.
type Manifest struct {
	// Format is the format version the manifest is written in; 0 means
	// FormatVersion. It sets the length of a block hash.
	Format      uint8
	Kind        Kind
	Name        string // safe name, see CheckName
	Version     int64  // Unix nanoseconds; larger is newer for the same name
	KeyID       KeyID  // signer
	PayloadLen  int64  // uncompressed length
	BodyLen     int64  // compressed (xz) length
	BlockSize   int    // body block size; power of two; 0 for a tombstone
	PayloadHash Hash   // SHA-256 of the payload; zero for a tombstone
	// BlockHashes holds the SHA-256 of each body block; from format 2
	// only the first BlockHashLen bytes of each, the rest zero. In format
	// 3 it holds the hashes of the hash pages (pages.go), which hold the
	// body blocks' hashes.
	BlockHashes []Hash
}

// CheckName reports whether name is a safe file name: 1 to MaxNameLen
// bytes from [A-Za-z0-9._+-], not starting with '.', no "..".
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: name is %d bytes, at most %d allowed", ErrName, len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			c == '.' || c == '_' || c == '+' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q has byte %#02x at %d; use only A-Z a-z 0-9 . _ + -", ErrName, name, c, i)
		}
	}
	if name[0] == '.' {
		return fmt.Errorf("%w: %q starts with '.'", ErrName, name)
	}
	if strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q contains \"..\"", ErrName, name)
	}
	return nil
}

// blockCountFor returns ceil(bodyLen/blockSize).
func blockCountFor(bodyLen int64, blockSize int) int64 {
	if blockSize <= 0 {
		return 0
	}
	return (bodyLen + int64(blockSize) - 1) / int64(blockSize)
}

// Validate checks the manifest against the format's rules and limits.
func (m *Manifest) Validate() error {
	if f := m.FormatVersion(); !knownFormat(f) {
		return fmt.Errorf("%w %d (this build writes versions %d to %d)", ErrVersion, f, OldestFormat, FormatVersion)
	}
	if err := CheckName(m.Name); err != nil {
		return err
	}
	switch m.Kind {
	case KindTombstone:
		if m.PayloadLen != 0 || m.BodyLen != 0 || m.BlockSize != 0 || len(m.BlockHashes) != 0 || m.PayloadHash != (Hash{}) {
			return fmt.Errorf("%w: tombstone with lengths, block size, hashes or blocks", ErrMalformed)
		}
		return nil
	case KindFile:
	default:
		return fmt.Errorf("%w: unknown kind %d", ErrMalformed, m.Kind)
	}
	if m.PayloadLen < 0 || m.PayloadLen > MaxPayloadLen {
		return fmt.Errorf("%w: payload length %d exceeds limit %d", ErrTooLarge, uint64(m.PayloadLen), MaxPayloadLen)
	}
	if m.BodyLen < 0 || m.BodyLen > MaxBodyLen {
		return fmt.Errorf("%w: body length %d exceeds limit %d", ErrTooLarge, uint64(m.BodyLen), int64(MaxBodyLen))
	}
	if m.BodyLen == 0 {
		return fmt.Errorf("%w: file with an empty body", ErrMalformed)
	}
	if m.BlockSize < MinBlockSize || m.BlockSize > MaxBlockSize || bits.OnesCount(uint(m.BlockSize)) != 1 {
		return fmt.Errorf("%w: block size %d is not a power of two in [%d, %d]", ErrMalformed, m.BlockSize, MinBlockSize, MaxBlockSize)
	}
	total, hashes := m.counts()
	if total > MaxBlocks {
		if m.paged() {
			return fmt.Errorf("%w: %d blocks, %d of them hash pages, exceed limit %d; pick a larger block size", ErrTooLarge, total, hashes, MaxBlocks)
		}
		return fmt.Errorf("%w: %d blocks exceed limit %d", ErrTooLarge, total, MaxBlocks)
	}
	if int64(len(m.BlockHashes)) != hashes {
		return fmt.Errorf("%w: %d block hashes for %d blocks", ErrMalformed, len(m.BlockHashes), hashes)
	}
	for i := range m.BlockHashes {
		if m.BlockHashes[i] != m.cut(m.BlockHashes[i]) {
			return fmt.Errorf("%w: block hash %d longer than format %d's %d bytes", ErrMalformed, i, m.FormatVersion(), m.BlockHashLen())
		}
	}
	return nil
}

// BinaryLen returns the length of the marshaled manifest.
func (m *Manifest) BinaryLen() int {
	return manifestFixedLen + len(m.Name) + len(m.BlockHashes)*m.BlockHashLen()
}

// AppendBinary validates m and appends its binary form to b
// (see notes/protocol.md).
func (m *Manifest) AppendBinary(b []byte) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return b, err
	}
	b = append(b, byte(m.Kind), formatByte(m.FormatVersion()), byte(len(m.Name)))
	b = append(b, m.Name...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Version))
	b = append(b, m.KeyID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(m.PayloadLen))
	b = binary.BigEndian.AppendUint64(b, uint64(m.BodyLen))
	b = binary.BigEndian.AppendUint32(b, uint32(m.BlockSize))
	b = binary.BigEndian.AppendUint32(b, uint32(len(m.BlockHashes)))
	b = append(b, m.PayloadHash[:]...)
	hl := m.BlockHashLen()
	for i := range m.BlockHashes {
		b = append(b, m.BlockHashes[i][:hl]...)
	}
	return b, nil
}

// MarshalBinary returns the binary form of the manifest.
func (m *Manifest) MarshalBinary() ([]byte, error) {
	return m.AppendBinary(make([]byte, 0, m.BinaryLen()))
}

// ParseManifest parses and validates a manifest (without its signature).
// It checks every length against the format limits before allocating.
func ParseManifest(b []byte) (*Manifest, error) {
	if len(b) > MaxManifestLen {
		return nil, fmt.Errorf("%w: manifest is %d bytes, limit %d", ErrTooLarge, len(b), MaxManifestLen)
	}
	if len(b) < 3 {
		return nil, fmt.Errorf("%w: manifest is %d bytes", ErrTruncated, len(b))
	}
	format, err := manifestFormat(b)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Format: uint8(format), Kind: Kind(b[0])}
	hl := m.BlockHashLen()
	nameLen := int(b[2])
	if nameLen == 0 || nameLen > MaxNameLen {
		return nil, fmt.Errorf("%w: name length %d, allowed 1..%d", ErrName, nameLen, MaxNameLen)
	}
	if len(b) < manifestFixedLen+nameLen {
		return nil, fmt.Errorf("%w: manifest is %d bytes, fixed part needs %d", ErrTruncated, len(b), manifestFixedLen+nameLen)
	}
	p := b[3:]
	m.Name = string(p[:nameLen])
	if err := CheckName(m.Name); err != nil {
		return nil, err
	}
	p = p[nameLen:]
	m.Version = int64(binary.BigEndian.Uint64(p))
	copy(m.KeyID[:], p[8:16])
	plen := binary.BigEndian.Uint64(p[16:])
	blen := binary.BigEndian.Uint64(p[24:])
	bs := binary.BigEndian.Uint32(p[32:])
	count := binary.BigEndian.Uint32(p[36:])
	copy(m.PayloadHash[:], p[40:72])
	p = p[72:]
	if plen > MaxPayloadLen {
		return nil, fmt.Errorf("%w: payload length %d exceeds limit %d", ErrTooLarge, plen, MaxPayloadLen)
	}
	if blen > MaxBodyLen {
		return nil, fmt.Errorf("%w: body length %d exceeds limit %d", ErrTooLarge, blen, int64(MaxBodyLen))
	}
	if count > MaxBlocks {
		return nil, fmt.Errorf("%w: %d blocks exceed limit %d", ErrTooLarge, count, MaxBlocks)
	}
	if need := uint64(count) * uint64(hl); uint64(len(p)) != need {
		if uint64(len(p)) < need {
			return nil, fmt.Errorf("%w: manifest has %d bytes of block hashes, %d blocks need %d", ErrTruncated, len(p), count, need)
		}
		return nil, fmt.Errorf("%w: %d trailing bytes after %d block hashes", ErrMalformed, uint64(len(p))-need, count)
	}
	m.PayloadLen, m.BodyLen, m.BlockSize = int64(plen), int64(blen), int(bs)
	if m.Kind == KindFile {
		// Check the block count arithmetic before allocating hashes.
		if m.BlockSize < MinBlockSize || m.BlockSize > MaxBlockSize || bits.OnesCount(uint(m.BlockSize)) != 1 {
			return nil, fmt.Errorf("%w: block size %d is not a power of two in [%d, %d]", ErrMalformed, m.BlockSize, MinBlockSize, MaxBlockSize)
		}
		if total, n := m.counts(); n != int64(count) || total > MaxBlocks {
			return nil, fmt.Errorf("%w: %d block hashes for a %d-byte body in %d-byte blocks (%d hashes, %d blocks, at most %d)", ErrMalformed, count, m.BodyLen, m.BlockSize, n, total, MaxBlocks)
		}
	}
	if count > 0 {
		m.BlockHashes = make([]Hash, count)
		for i := range m.BlockHashes {
			copy(m.BlockHashes[i][:hl], p[i*hl:])
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// IsTombstone reports whether m is a signed deletion.
func (m *Manifest) IsTombstone() bool { return m.Kind == KindTombstone }

// counts returns how many blocks the file travels in and how many hashes
// its manifest holds: one a body block before format 3; in format 3 one
// a hash page, and the pages travel too.
func (m *Manifest) counts() (total, hashes int64) {
	n := blockCountFor(m.BodyLen, m.BlockSize)
	if !m.paged() {
		return n, n
	}
	p := pagesFor(n, m.BlockSize)
	return n + p, p
}

// BlockCount returns the number of blocks the file travels in (0 for a
// tombstone): its body blocks, after its hash pages in format 3.
func (m *Manifest) BlockCount() int {
	if !m.paged() {
		return len(m.BlockHashes)
	}
	return len(m.BlockHashes) + m.bodyBlocks()
}

// BlockOffset returns the offset of block i in the region after the
// signed manifest (RegionLen): in the body, or in format 3 in the hash
// list and then the body.
func (m *Manifest) BlockOffset(i int) int64 {
	if p := m.Pages(); i >= p && p > 0 {
		return m.HashListLen() + int64(i-p)*int64(m.BlockSize)
	}
	return int64(i) * int64(m.BlockSize)
}

// BlockLen returns the length of block i: BlockSize for all but the last
// (and in format 3 the last page), which may be shorter. It returns 0 for
// an index out of range.
func (m *Manifest) BlockLen(i int) int {
	if i < 0 || i >= m.BlockCount() {
		return 0
	}
	end := m.RegionLen()
	if i < m.Pages() {
		end = m.HashListLen()
	}
	if rest := end - m.BlockOffset(i); rest < int64(m.BlockSize) {
		return int(rest)
	}
	return m.BlockSize
}

// VerifyBlock checks that data is block i: the right length and the
// right hash (BlockHash: SHA-256, cut to the format's length). A mismatch
// returns a *BlockError (wrapping ErrBlockHash). A format-3 body block,
// whose hash is in a page, needs VerifyBlockIn: here it is ErrNeedPage.
func (m *Manifest) VerifyBlock(i int, data []byte) error {
	if i < 0 || i >= m.BlockCount() {
		return fmt.Errorf("%w: block index %d out of range [0, %d)", ErrMalformed, i, m.BlockCount())
	}
	if i >= len(m.BlockHashes) {
		return fmt.Errorf("%w: block %d (page %d)", ErrNeedPage, i, m.PageOf(i))
	}
	return m.checkHash(i, data, m.BlockHashes[i])
}

// Hash returns SHA-256 of the marshaled manifest, the identity of a signed
// version used to break ties between equal versions. It returns the zero
// hash for an invalid manifest.
func (m *Manifest) Hash() Hash {
	b, err := m.MarshalBinary()
	if err != nil {
		return Hash{}
	}
	return sha256.Sum256(b)
}

// Compare orders two manifests of the same name by dominance
// (CompareVersions). It returns -1, 0 or +1; 0 means the manifests are
// identical.
func Compare(a, b *Manifest) int {
	if c := CompareVersions(a.Version, nil, b.Version, nil); c != 0 {
		return c // the hashes are not needed
	}
	ha, hb := a.Hash(), b.Hash()
	return CompareVersions(a.Version, ha[:], b.Version, hb[:])
}

// CompareVersions is the dominance order of the versions of one name,
// the one rule by which the store admits a version and every tile picks
// the version it holds and announces: the larger version wins; for equal
// versions the larger manifest hash wins, so every tile resolves a tie
// the same way. A tombstone is a version like any other: it wins or
// loses by the same rule. h1 and h2 are the hashes, or prefixes of them
// of one length (service 8 names a file by the first 8 bytes of its
// hash: they order alike unless they collide), compared as bytes. It
// returns -1, 0 or +1.
func CompareVersions(v1 int64, h1 []byte, v2 int64, h2 []byte) int {
	switch {
	case v1 < v2:
		return -1
	case v1 > v2:
		return 1
	}
	return bytes.Compare(h1, h2)
}

// Newer reports whether m dominates other (see Compare).
func (m *Manifest) Newer(other *Manifest) bool { return Compare(m, other) > 0 }
