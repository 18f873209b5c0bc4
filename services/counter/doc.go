// Package counter is the counter service, service 2: every tile advertises
// the number in its counter file to its live neighbours and keeps the
// numbers they advertise. It is the smallest complete peer-to-peer service
// in itcd, and the one to read before writing another.
//
// # What it does
//
// The counter file is STATE_DIR/counter, or counter.path in the config. It
// holds a signed decimal integer that fits in 64 bits, with any whitespace
// around it ("42\n", " -7 "), in at most 64 bytes. The service watches it
// and reads it again whenever it changes, including when an editor renames
// a new file over it and when it is deleted and created again. Content
// that is not such a number is logged with the reason and counted
// (bad_content), once for the same content read twice, and the last good
// value stays; so does the value when the file is deleted or empty (as
// it is between a write's truncation and its bytes). Until the file has held a number there is no value, and
// the tile advertises nothing.
//
// The value goes to every live neighbour when it changes, every
// counter.interval (a minute by default), and at once to a neighbour that
// has just connected. Each neighbour's value is kept with when it was
// heard, and forgotten when that neighbour disconnects. `itcd status` shows
// all of this in its "counter" section; `itcd counter` shows it alone.
//
// # How a service is built
//
// Read config.go and then counter.go from the top; both are short. The
// steps every service takes:
//
//  1. A type with Number, Name and Serve implements p2p.Service, the
//     contract in package p2p; a service imports that, never the daemon.
//     The service owns its settings (config.go): a Config that is its
//     [counter] section of itcd.toml, with DefaultConfig and Validate.
//     New(cfg, Options) builds it, and tile.standardServices adds it to
//     every tile. The daemon owns the service number for it: packets of
//     service 2 from neighbours go to this service and nowhere else.
//
//  2. The daemon calls Serve once, in a goroutine of its own, and cancels
//     ctx to stop it. Serve is one select loop. Everything the service
//     reacts to arrives on a channel: packets from neighbours
//     (in.Packets), neighbours connecting and disconnecting (in.Events),
//     and what the service itself starts, here a file watcher and a
//     ticker. Serve owns what it starts and stops it before returning
//     (defer watcher.Close, defer tick.Stop).
//
//  3. Host.Send and Host.Broadcast never block: they queue the packet or
//     fail, with ErrQueueFull when the link's queue is full. A service that
//     must deliver everything waits for Host.Drained and resends; this one
//     does not need to, because it repeats its value every interval anyway.
//
//  4. Nothing from a neighbour is trusted. Payloads are parsed by
//     ParseMessage, which checks the length for the type; what cannot be
//     read is counted and dropped, never acted on. The payload format is
//     in wire.go and byte by byte in notes/protocol.md.
//
//  5. Status (p2p.StatusReporter) and Control (p2p.ControlHandler)
//     are called from the control socket's goroutine, not from Serve, so
//     the state they read is behind a mutex. They return plain structs
//     that read well as JSON.
//
// # Choices worth knowing
//
// Only live neighbours' values are kept: a value from a link the daemon
// does not count live, or from a tile that is no longer the one live on
// its link (Message.Tile), is dropped (not_live). Packets and neighbour events
// arrive on separate channels, so without this rule a value sent just
// before a disconnect could outlive it. Two tiles see each other go live at
// slightly different moments, so the first value may be dropped that way;
// to still exchange values at once, each side sends its value and an ask
// on connect, and answers an ask with its value.
//
// Adverts carry no sequence number. Links deliver in order (ITC links and
// the simulator's UDP links never reorder) and a value is idempotent, so
// the last one received is the newest and a duplicate changes nothing. Nor
// do they carry a checksum: a link error the hardware sees marks the packet
// suspect and the daemon drops it, and a value damaged unseen is put right
// by the next advert.
//
// The watch is on the file's directory and the file's name: a symbolic
// link named counter is read through, but changes to its target elsewhere
// are not seen until the next change to the link itself.
package counter
