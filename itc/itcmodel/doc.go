// Package itcmodel is a model of the itc_pkt kernel module of a T2 tile
// (T2-12, develop branch, as tiles run it), served as a FUSE file system so
// that the production kernel backend reaches it through the same open,
// read and write system calls it makes on a tile.
//
//	m := itcmodel.ForTest(t, itcmodel.Config{}) // or New, then Close
//	a, _ := m.Tile("a")
//	b, _ := m.Tile("b")
//	m.Link(a, packet.ET, b)        // a's ET joined to b's WT, and up
//	cfg.Path = a.DevPath("bulk")   // .../a/dev/itc/bulk
//	cfg.StatusPath = a.SysPath("status")
//	m.SetLink(a, packet.ET, false) // pull the cable: status 0 at both ends
//
// Each tile has a directory under the mount with dev/itc standing for
// /dev/itc (pru/0, pru/1, bulk, flash, pktevents, itcevents, mfm/ET ..
// mfm/NE) and sys/class/itc_pkt for /sys/class/itc_pkt (status, mfzid,
// statistics, fifos). What a program sees there is what the module does:
//
//   - Every device open is exclusive: a second open fails EBUSY
//     (Tile.Holder says who holds it). Opening mfm/DIR fails ESRCH unless
//     the opening thread is the one that last wrote mfzid.
//   - One read returns one packet from the device's 16 KB record FIFO
//     (1 length byte + the packet per record); an empty FIFO is EAGAIN
//     under O_NONBLOCK, and otherwise the read waits. FIFOs fill whether
//     or not the device is open, and a full one drops and counts.
//   - One write is one packet. bulk, flash and mfm/DIR route by the
//     header's DIR: over 496 bytes EINVAL, STND clear ENXIO, status
//     nibble 0 EHOSTUNREACH, over 255 EINVAL; a full outbound queue
//     EAGAIN under O_NONBLOCK, else the write waits (Tile.StallPRU fills
//     them). Nothing implements poll().
//   - Received service traffic goes to bulk if byte 1 has bit 7 set and to
//     flash if not; MFM traffic to mfm/DIR only while the link's handshake
//     found the two mfzids equal; the handshake's own MFM type 0 and local
//     packets (0xC0..0xDF) never reach user space. DIR is rewritten to the
//     link the packet arrived on.
//   - Writing mfzid (at most 100 bytes, else EFBIG) records the writer's
//     thread id, moves the token on, makes all six MFM devices stale
//     (reads and writes ESTALE until reopened) and restarts every link's
//     handshake. Status nibbles: 0 no sync, 1 synced, 2 synced and
//     compatible; 2 is never lowered to 1 while the link stays up, so
//     after an mfzid change a link can read 2 and drop MFM traffic.
//   - statistics and fifos count what the module counts (see sysfs.go).
//
// Where the model differs from the module:
//
//   - The handshake is its outcome, not its packets (see kitc.go); it
//     completes after Config.HandshakeDelay, at once by default.
//   - A write or read of 0 bytes never reaches a FUSE file system: it
//     returns 0, where the module's write fails EINVAL.
//   - A signal interrupts a waiting read or write with EINTR; the
//     module's wait restarts instead. O_NONBLOCK callers never wait.
//   - Device nodes are regular files, not character devices.
//   - FUSE releases a file after close() returns, so an open of a device
//     that its holder has just closed waits for that release (at most
//     2 s) instead of failing EBUSY.
//   - The event devices read as empty; the PRUs are ideal links that
//     lose nothing unless a FIFO is full or the link is down.
//
// The mount needs root and /dev/fuse (it calls mount(2) itself, never
// fusermount); ForTest skips the test with the reason where either is
// missing. Close unmounts; if descriptors are still open it detaches the
// mount (and aborts its connection where fusectl is mounted). A test binary killed before Close
// (a -timeout panic) leaves a dead mount at a directory named
// itcmodel-* under $TMPDIR: find it with "grep itcmodel /proc/mounts"
// and free it with "umount -l DIR". A mount whose server hangs is freed
// by aborting its connection: mount -t fusectl none
// /sys/fs/fuse/connections, then echo 1 >
// /sys/fs/fuse/connections/N/abort, where "mountpoint -d DIR" prints
// 0:N.
//
// The model builds only on 64-bit targets: go-fuse v2.12.1 does not compile
// for 32-bit ones (its splice package). On a 32-bit build the package is
// empty, and the tests that use it carry the same build constraint.
package itcmodel
