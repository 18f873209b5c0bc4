// Package control is the language of a daemon's control socket
// (RUN_DIR/control.sock) and its client: what `itcd status`, `itcd push`,
// the simulator and tests use to ask a running daemon something, without
// importing the daemon.
//
// The socket speaks one JSON object a line each way:
//
//	request:  {"cmd":"status","args":{...}}
//	response: {"ok":true,"result":{...}} or {"ok":false,"error":"..."}
//
// A request is at most MaxRequest bytes. The daemon answers "status"
// (a Status), "ping" ("pong") and "link" (LinkArgs, answered with the
// link's dev.LinkProfile); services add their own commands (counter,
// push), whose argument and result types live with the service.
// "capture" (CaptureArgs) turns the connection into a binary stream of
// the packets the daemon reads and writes (capture.go).
//
// The package holds the types on the wire and nothing of the daemon: the
// daemon imports it for the types it serves, never the reverse, so a
// client pulls in neither the daemon nor any service.
package control
