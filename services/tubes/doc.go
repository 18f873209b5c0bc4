// Package tubes is the tube service (service 9): reliable, ordered,
// flow-controlled byte streams and message tubes between programs on
// neighbouring tiles, over links that lose, duplicate and corrupt packets.
//
// One side opens a tube to a port on a neighbour, the other accepts on that
// port, in either order. Programs reach the service through RUN_DIR/tube.sock
// (sock.go; the Go client is package tube, the shell's is `itcd pipe`).
//
// The transport is a sliding window over byte sequence numbers: the sender
// (sender.go) keeps what it sent until the far itcd acknowledges it, and the
// receiver (receiver.go) offers a window that only the far application's
// reading opens. Links keep order, so a packet that arrives after a hole
// shows the hole was lost: the receiver acknowledges at once with the ranges
// it holds beyond it, and the sender resends what was sent before anything
// acknowledged (loss.go). A silence past the RTO resends the oldest
// outstanding segment. The lifecycle of a tube is a pure state machine
// (state.go) that the service's one goroutine (service.go) applies.
package tubes
