package tube

import (
	"errors"
	"fmt"
)

// Sentinels callers test with errors.Is; the *Error that wraps them
// carries the daemon's reason.
var (
	// ErrAborted: the tube failed after it was set up (the daemon's 'x'
	// frame): the neighbour disconnected or was replaced, the far program
	// or tile aborted, a timeout, a protocol error.
	ErrAborted = errors.New("tube aborted")
	// ErrRefused: the daemon answered the open or accept with an error
	// (no such neighbour, nobody accepted in time, port busy, kinds differ).
	ErrRefused = errors.New("tube refused")
	// ErrMessageTooLong: a message over MaxMessage bytes, refused before
	// anything was sent.
	ErrMessageTooLong = fmt.Errorf("message over the %d-byte limit of a message tube", MaxMessage)
	// ErrNotMessage: a message call on a stream tube.
	ErrNotMessage = errors.New("not a message tube: open it with Options.Message on both sides")
	// ErrProtocol: the daemon sent something the contract does not allow.
	ErrProtocol = errors.New("tube: daemon broke the tube.sock contract")
)

// Error is a failure the daemon reported, with its reason for a human.
type Error struct {
	Op     string // "open", "accept" or "tube"
	Reason string
	Err    error // ErrAborted or ErrRefused
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Op, e.Err, e.Reason)
}

// Unwrap lets errors.Is(err, ErrAborted) and errors.Is(err, ErrRefused) work.
func (e *Error) Unwrap() error { return e.Err }
