// Package hostile is a fake neighbour tile for tests: it stands at the far
// end of one UDP link of a real itcd (a tile of sim/tilegrid, or any daemon
// with a UDP device) and says what an honest tile would, or whatever a
// hostile or broken one might. It is the attacker of the standing attack
// suite (attack_test.go) and a tool for any test that needs a neighbour
// the test controls byte by byte.
//
// # What it speaks
//
// A Neighbour owns one UDP socket on 127.0.0.1. Once started it sends
// keepalives (so the daemon's link comes up) and liveness hellos (so the
// daemon counts it live and its services talk to it), both optional, in
// the UDP link frames of itc/dev (dev.AppendFrame: epoch, per-link
// sequence numbers). Every message goes through the project's own
// encoders: dev.AppendFrame, packet.AppendService, daemon.AppendHello,
// counter.AppendValue, dist.AppendMessage; so the kit speaks exactly what
// a tile speaks, and can be told to speak anything else:
//
//	SendRaw      any bytes as one datagram (garbage, other framing versions)
//	SendFrame    a frame with any epoch, sequence number and direction
//	SendPacket   any 1..255 bytes in a valid frame (the next sequence number)
//	SendService  a service packet with any payload
//	SendHello    a hello with any identity, version, services, timestamps
//	SendDist     a service 8 message with any fields, CRC sealed
//	SendTube     a service 9 (tube) message with any fields, CRC sealed
//	Flood        datagrams from a Gen at a rate, for a bounded count or time
//
// Gens for floods: Garbage (random datagrams), Absurd (valid frames
// carrying valid-but-absurd packets of every service), AbsurdDist (service
// 8 messages with absurd fields), ForgedHellos (a new identity each),
// TubeGen (service 9 messages a function makes);
// AbsurdDistMessages lists service 8 messages that push every field of
// every type to its limits.
//
// # What it hears
//
// Everything the daemon sends on the link is parsed (dev.ParseFrame,
// packet.Decode) and handed to Config.Handler as a Received, which decodes
// each service's payload on demand (Hello, Counter, Dist). The handler
// runs on the receiving goroutine and may send, so an attacker can answer:
// TubeLog keeps the service 9 messages the daemon sends, for a test to
// wait on; DistServer serves a signed file's manifest and blocks (corrupt ones if
// asked) to the daemon, ManifestGrabber fetches a signed manifest from it.
//
// # Bounds
//
// Every goroutine of a Neighbour stops when the context given to Start
// ends or Close is called, and Close waits for them. A flood needs a
// count or a duration and is capped at MaxFloodCount datagrams and
// MaxFloodTime. Nothing the daemon sends is kept beyond the handler call
// that sees it.
package hostile
