// Package dist spreads signed MFZ files from tile to tile: service 8,
// "managed file update". `itcd push FILE` installs a file on one tile and
// every tile of the grid soon holds the same verified copy.
//
// # What travels
//
// Each tile announces to its live neighbours the dominant version of every
// name it holds or is receiving (ANNOUNCE): at once when that changes, to a
// neighbour that connects, and otherwise every 30-60 s. A neighbour that
// wants a newer version fetches the signed manifest first (GET_MANIFEST,
// MANIFEST), checks it against its trust directory (mfz.Store.Begin) and
// then fetches the body block by block in chunks of ChunkLen bytes
// (REQUEST, DATA). Each block is checked against the manifest before it is
// stored (mfz.Partial.WriteBlock; the store's sync runs off the loop) and
// again before it is served; a tile tells each neighbour every block it
// verifies that the neighbour does not hold (HAVE), so a file being
// received is served onward at once (pipelining). Every message ends with a CRC-16:
// T2 links may flip bits silently, and a damaged message is dropped like a
// lost one. notes/protocol.md has the format byte by byte.
//
// # Flow control
//
// A receiver fetches a whole block from one neighbour (so a block that
// fails its hash has a culprit), several blocks from several neighbours at
// once, and keeps at most a window of chunks asked for and not arrived per
// neighbour; a faster neighbour empties its window sooner and so gets more
// of the work. Links keep order and a sender serves requests in order, so a
// chunk arriving proves every chunk asked before it that has not come
// lost: those are asked again at once. Only a silence longer than an
// adaptive timeout (from request-to-first-data samples) triggers a small
// probe, with exponential backoff, so requests never storm. Control messages
// (requests, announcements) go ahead of our own bulk data, and only a few
// DATA packets wait in the daemon's queue at a time, so a request is never
// stuck behind a long queue of ours.
//
// # Faults
//
// A block that passes every chunk's CRC and fails its hash was sent wrong:
// the neighbour is avoided for 30 s (doubling each time) and the block is
// fetched elsewhere. Repeated NOTHAVEs or silences for blocks a neighbour
// announced earn strikes and the same avoidance. A neighbour that goes
// away frees its blocks for the others at once; one that restarts says
// SYNC, and everything about it is relearnt. A newer version announced
// mid-transfer stops the older transfer (mfz.Store.Abandon). Manifests the
// store refuses (untrusted, stale, tombstoned) are remembered and not
// fetched again for 10 minutes, or until the trust directory changes.
// Partial files survive a restart in the store and resume without fetching
// a verified block again. A failure of this tile's own store (a full disk:
// mfz.Classify says FaultLocal) blames nobody: the transfer pauses, backing
// off from 1 s to 30 s, shows "paused" and the reason in the status, and
// resumes by itself when a write works again.
//
// # Inside
//
// One goroutine, the loop (loop.go), owns the protocol state, kept in
// rooms of one job each that loop.go lists: the file table and its
// phases, what neighbours announced, manifest fetching, the request
// window of each neighbour, serving, and each neighbour's conduct. The
// pure parts (phases, windows, fetch timers, conduct) take the time as
// an argument and are tested by tables. Each message kind is a type with
// an append and a parse (wiremsg.go); message.go exports them for the
// programs that speak service 8 from outside.
//
// # Hooks for tools
//
// Control commands "push" ({"path": "/abs/file.mfz"} → PushResult) and
// "files" (→ Status). The Status section "mfz" of `itcd status` lists the
// files, transfers, neighbours and counters; ProgressOf reads it
// for the simulator; `itcd push --wait` reads the neighbours part.
package dist
