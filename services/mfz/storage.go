package mfz

import (
	"errors"
	"fmt"
	"syscall"
)

// Whose fault is a store error? A receiver must know: a block that fails
// its hash is the sender's doing and the sender is avoided, while a full
// disk is this tile's own and must never be blamed on the neighbour that
// served the block (it would be avoided, the block asked of the next one,
// which fails the same way: a re-fetch storm). Classify is the one place
// that decides; services/mfz/dist acts on it.
//
// Rejected alternative: telling local failures apart by matching errnos
// at the caller. The caller does not know which path failed and so cannot
// tell the user where to free space; the store does.

// ErrStorage: this tile's own storage failed (no space left, quota, I/O
// error, read-only file system, a directory removed by hand...). It is
// nobody else's fault. Partial keeps every block it had recorded, so the
// operation can simply be tried again later. Errors wrapping it are of type
// *StorageError and name the path.
var ErrStorage = errors.New("local storage failure")

// StorageError is a local storage failure: what the store was doing, the
// path it could not write or read, and the system's error. It wraps both
// ErrStorage and Err.
type StorageError struct {
	Op   string // what was being done, e.g. "writing block 3 of a.mfz@1@..."
	Path string // the file or directory that failed: the file system to act on
	Err  error
}

// fileSystemErrs are the failures of a whole file system rather than of
// one path: full, over quota, read-only, failing.
var fileSystemErrs = []error{syscall.ENOSPC, syscall.EDQUOT, syscall.EROFS, syscall.EIO}

// FileSystemWide reports whether err is a local storage failure of the
// whole file system (full, over quota, read-only, failing), so that no
// other file can be stored either; any other local failure (something in
// the way of one file's path, a permission) is that file's alone.
func FileSystemWide(err error) bool {
	if !errors.Is(err, ErrStorage) {
		return false
	}
	for _, e := range fileSystemErrs {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func (e *StorageError) Error() string {
	var what string
	switch {
	case errors.Is(e.Err, syscall.ENOSPC):
		what = fmt.Sprintf("no space left on %s: free space on that file system", e.Path)
	case errors.Is(e.Err, syscall.EDQUOT):
		what = fmt.Sprintf("disk quota exceeded on %s: free space or raise the quota of the daemon's user", e.Path)
	case errors.Is(e.Err, syscall.EROFS):
		what = fmt.Sprintf("%s is on a read-only file system: remount it read-write", e.Path)
	case errors.Is(e.Err, syscall.EIO):
		what = fmt.Sprintf("I/O error on %s: the disk may be failing (see the kernel log)", e.Path)
	default:
		what = fmt.Sprintf("cannot use %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("mfz: %s: %s; transfers resume by themselves", e.Op, what)
}

// Unwrap returns ErrStorage and the system's error, so errors.Is finds
// either (for example syscall.ENOSPC).
func (e *StorageError) Unwrap() []error { return []error{ErrStorage, e.Err} }

// storageErr wraps a failure of the local file system at path; nil stays
// nil, and an error that is one already is returned as it is.
func storageErr(op, path string, err error) error {
	if err == nil || errors.Is(err, ErrStorage) {
		return err
	}
	return &StorageError{Op: op, Path: path, Err: err}
}

// osFailure reports whether err came from the operating system (a failed
// open, write, rename, fsync...), as opposed to a verdict of this package
// on a file.
func osFailure(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno)
}

// Fault says who must act on a store error.
type Fault int

const (
	// FaultNone: there was no error.
	FaultNone Fault = iota
	// FaultLocal: this tile's storage failed (ErrStorage), or something
	// this package cannot attribute to the data. Nobody else is to blame:
	// back off and try again; the data offered may be good.
	FaultLocal
	// FaultData: the file, manifest or block offered is bad (signature,
	// trust, format, block hash, payload): whoever offered it is at fault.
	FaultData
	// FaultState: refused for what this tile holds (stale, tombstoned,
	// already installed, no longer active, not found, closed). Nobody's
	// fault, and trying again will not help.
	FaultState
)

func (f Fault) String() string {
	switch f {
	case FaultNone:
		return "none"
	case FaultLocal:
		return "local"
	case FaultData:
		return "data"
	case FaultState:
		return "state"
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// dataFaults are the sentinels that mean the data itself is bad.
var dataFaults = []error{ErrBlockHash, ErrUntrusted, ErrSignature, ErrMalformed, ErrTruncated,
	ErrBadMagic, ErrVersion, ErrName, ErrTooLarge, ErrPayload}

// stateFaults are the sentinels that mean the store holds something that
// makes the operation pointless.
var stateFaults = []error{ErrStale, ErrTombstoned, ErrExists, ErrIncomplete, ErrDone, ErrNotFound, ErrClosed}

// Classify says whose fault an error from Begin, PutBlock, Sync or
// Complete is. A local storage failure wins over everything else it may
// wrap; an error it does not know is FaultLocal, so that nothing unknown
// is ever blamed on a neighbour.
func Classify(err error) Fault {
	switch {
	case err == nil:
		return FaultNone
	case errors.Is(err, ErrStorage):
		return FaultLocal
	}
	for _, e := range dataFaults {
		if errors.Is(err, e) {
			return FaultData
		}
	}
	for _, e := range stateFaults {
		if errors.Is(err, e) {
			return FaultState
		}
	}
	return FaultLocal
}
