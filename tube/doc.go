// Package tube is the Go side of itcd's tubes: reliable, ordered,
// flow-controlled streams and message tubes between programs on two
// neighbouring tiles, carried by the daemon's tube service (service 9)
// and reached through RUN_DIR/tube.sock.
//
// A program opens a tube with Dial and accepts one with a Listener:
//
//	c, err := tube.Dial(ctx, packet.ET, 7, tube.Options{})   // on one tile
//	l, err := tube.Listen(7, tube.Options{})                 // on the other
//	c, err := l.Accept()
//
// A *Conn is a net.Conn, so io.Copy, bufio and TLS work over it. A message
// tube (Options.Message) keeps boundaries: WriteMessage numbers each
// message, and WaitReceived / WaitDelivered wait until the far itcd holds
// it or the far program has read it.
//
// The library speaks the socket contract documented in notes/protocol.md:
// one SOCK_SEQPACKET connection per tube, a text request and reply, then
// frames whose first byte is their type. It always asks for `acks` mode
// and reports what the application consumed, so "delivered" means read
// by the far program, not merely handed to its socket. No goroutine runs
// in the background: Read (or a Wait) reads the daemon's frames as the
// caller needs them, and deadlines are those of the underlying socket.
package tube
