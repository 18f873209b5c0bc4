// Package mfz implements signed MFZ files and the store that holds them on
// a T2 tile.
//
// An MFZ file is
//
//	header (16 bytes) | manifest | ed25519 signature (64) | [hash list] | body
//
// The manifest names the file (a safe name of at most MaxNameLen bytes),
// its version (Unix nanoseconds; larger is newer), the signer's key id,
// the payload and body lengths, the block size, the SHA-256 of the payload
// and one hash per body block (its SHA-256; in format 2 the first 16
// bytes of it, so the manifest a hop waits for is half as long). Format 3,
// the version Pack writes, moves those hashes into a hash list after the
// signature that travels as blocks of its own, its pages, and the
// manifest holds the pages' hashes (pages.go): a hop waits for a
// one-packet manifest and one page. The body is the payload compressed
// with xz. The signature covers "itcd-mfz-v1\x00" followed by the
// manifest. Because the manifest and its signature come first and hash
// every block (or every page, which hashes its blocks), a receiver
// verifies the signed manifest (VerifySignedManifest) and then each block
// the moment it arrives (Manifest.VerifyBlock, or VerifyBlockIn with its
// page), before it serves it to anyone else. A tombstone is a manifest of kind KindTombstone with
// no body: a signed deletion of every older version of its name. The
// format is documented byte by byte in notes/protocol.md.
//
// Pack makes files, VerifyFile checks them completely (streaming; nothing
// is held whole in memory, and decompression is bounded by the signed
// payload length), ReadFile parses the part before the body.
//
// Store is the store in a tile's state directory: live/ holds complete
// verified files, moved in by atomic rename; partial/ holds files being
// received block by block (Begin, Partial.PutBlock or WriteBlock and Sync,
// Partial.Complete) with enough state to resume after a power cut; tomb/
// holds tombstones, which keep spreading; state.json remembers the highest
// version seen per name so that an older version never comes back.
// Store.Run watches the trust directory and live/ with fsnotify. Hooks run
// after a new version is cut over. See notes/design.md.
package mfz
