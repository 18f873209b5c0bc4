// Package dev moves whole ITC packets between a tile and its links.
//
// A Device reads one packet at a time (DIR = the link it arrived on) and
// writes one packet at a time (DIR = the link to send it on), and reports
// the state of each link. Backends:
//
//   - Kernel: the itc_pkt character devices of a real tile (/dev/itc/...),
//     which have no poll(), so reads are a polling loop that Close stops.
//     Service traffic is read from bulk and flash and written to bulk; with
//     kernel.mfm_devices it owns the tile's mfzid and the six MFM devices
//     from one locked OS thread (SetMFZID, PhysicsIdentity).
//   - UDP: each link maps to a neighbour's UDP address; link sync is
//     emulated: any frame heard keeps a link up, and small keepalives go
//     on links that carried nothing for a while; they also carry the
//     kernel's physics handshake (SetMFZID: MFM packets flow only between
//     tiles of one identity). Each link can be shaped like a T2 link
//     (rate, queues, delay, loss, duplication, corruption, cut); one clock
//     goroutine per device paces all its links on a coarse wall-clock
//     grid (udpclock.go).
//   - Pipe: two devices joined in memory, for tests and benchmarks.
//
// Writes never block: a full outbound queue is ErrWouldBlock, as EAGAIN is
// on a non-blocking kernel device, and the caller retries later.
package dev
