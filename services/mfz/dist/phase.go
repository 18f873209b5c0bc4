package dist

import "fmt"

// phase is where a file of the table (files.go) is in its life. Before it
// enters the table a file is announced by a neighbour and its manifest is
// being fetched (fetch.go); the store's Begin then makes it a transfer:
//
//	receiving --allBlocks--> verifying --checkDone--> receiving
//	receiving --installed--> held
//	held, tombstone: final (a tombstone is made so, from the store's list)
//
// A transfer whose whole-file check passed is installed (checkDone, then
// installed); one whose check failed for this tile's disk goes on
// receiving, paused (pause.go); one refused or superseded leaves the
// table. A file in any phase but verifying leaves the table when the
// store no longer lists it; a verifying one waits for its check.
type phase uint8

const (
	_              phase = iota // the zero phase: not a file of the table
	phaseReceiving              // blocks are fetched and stored in its partial
	phaseVerifying              // every block held: the whole-file check runs, off the loop
	phaseHeld                   // the store holds it whole: it is served and announced complete
	phaseTombstone              // a deletion: announced, nothing to serve
)

func (p phase) String() string {
	switch p {
	case phaseReceiving:
		return "receiving"
	case phaseVerifying:
		return "verifying"
	case phaseHeld:
		return "held"
	case phaseTombstone:
		return "tombstone"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// phaseEvent is what moves a file from one phase to the next.
type phaseEvent uint8

const (
	evAllBlocks phaseEvent = iota + 1 // every block is held (or a paused check is due): the check starts
	evCheckDone                       // the whole-file check returned, passed or not
	evInstalled                       // the store holds it whole: its check passed, or the same file was pushed
)

// next returns the phase after e, and false if e cannot happen in p; the
// caller then changes nothing.
func (p phase) next(e phaseEvent) (phase, bool) {
	switch {
	case p == phaseReceiving && e == evAllBlocks:
		return phaseVerifying, true
	case p == phaseVerifying && e == evCheckDone:
		return phaseReceiving, true
	case p == phaseReceiving && e == evInstalled:
		return phaseHeld, true
	}
	return p, false
}

// transferring reports whether the file has a partial in the store: it
// is receiving or verifying.
func (p phase) transferring() bool { return p == phaseReceiving || p == phaseVerifying }
