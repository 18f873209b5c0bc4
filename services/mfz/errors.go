package mfz

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error returned by this package that concerns a
// fault in a file, a manifest or the store wraps exactly one of these (and
// sometimes more), so callers can test with errors.Is and still print a
// message that names the detail.
var (
	// ErrTruncated: the data ends before the header, manifest, signature
	// or body that the header declares.
	ErrTruncated = errors.New("truncated")
	// ErrBadMagic: the data does not start with the MFZ magic; it is not an
	// itcd MFZ file.
	ErrBadMagic = errors.New("bad magic: not an itcd MFZ file")
	// ErrVersion: the header or the manifest names a format version this
	// build cannot read (or a caller asked to write one it cannot).
	ErrVersion = errors.New("unknown format version")
	// ErrMalformed: a field has an impossible value (reserved bits set,
	// inconsistent lengths, trailing bytes, a corrupt xz structure...).
	ErrMalformed = errors.New("malformed")
	// ErrName: the file name in a manifest is not a safe name.
	ErrName = errors.New("bad name")
	// ErrTooLarge: a length, or the xz dictionary a body declares, exceeds
	// a hard format limit.
	ErrTooLarge = errors.New("too large")
	// ErrSignature: the ed25519 signature over the manifest does not verify.
	ErrSignature = errors.New("manifest signature invalid")
	// ErrUntrusted: the manifest was signed by a key that is not trusted.
	ErrUntrusted = errors.New("untrusted key")
	// ErrBlockHash: a body block does not match its hash in the manifest.
	// Errors wrapping it are of type *BlockError and carry the index.
	ErrBlockHash = errors.New("block hash mismatch")
	// ErrPayload: the decompressed payload does not match the signed
	// length or SHA-256 (for example a compression bomb).
	ErrPayload = errors.New("payload mismatch")
	// ErrKey: a key file cannot be read or parsed.
	ErrKey = errors.New("bad key file")
	// ErrTombstone: the operation needs a payload but the file is a
	// tombstone.
	ErrTombstone = errors.New("file is a tombstone")

	// ErrStale: the store already holds or has held a dominating version
	// of the name; the offered version is older (or loses the tie-break).
	ErrStale = errors.New("stale version")
	// ErrTombstoned: a tombstone at least as new as the offered version
	// deleted the name. Errors wrapping it also wrap ErrStale.
	ErrTombstoned = errors.New("name deleted by a tombstone")
	// ErrExists: exactly this signed manifest is already installed.
	ErrExists = errors.New("already installed")
	// ErrIncomplete: Partial.Complete was called while blocks are missing.
	ErrIncomplete = errors.New("blocks missing")
	// ErrDone: the partial file was already completed or abandoned.
	ErrDone = errors.New("partial no longer active")
	// ErrNotFound: the store has no live file of that name.
	ErrNotFound = errors.New("not found")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("store closed")
	// ErrNotRegular: a path given to the store, or found in its
	// directories, is not a regular file (a named pipe, a device, a
	// directory...). It is refused without being opened or waited on.
	ErrNotRegular = errors.New("not a regular file")
	// ErrInstalling: the same file is being installed by another push;
	// a second copy is not made.
	ErrInstalling = errors.New("being installed by another push")
)

// BlockError reports a body block that failed verification. It wraps
// ErrBlockHash.
type BlockError struct {
	Index int // 0-based block index
}

func (e *BlockError) Error() string {
	return fmt.Sprintf("block %d hash mismatch: data is corrupt, fetch the block or file again", e.Index)
}

// Unwrap returns ErrBlockHash.
func (e *BlockError) Unwrap() error { return ErrBlockHash }
