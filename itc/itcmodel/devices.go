//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import "github.com/t2tiles/itcd/itc/packet"

// minor is a device's minor number, as the module numbers its twelve
// character devices.
type minor uint8

const (
	minorPRU0      minor = 0
	minorPRU1      minor = 1
	minorBulk      minor = 2
	minorFlash     minor = 3
	minorPktEvents minor = 4
	minorITCEvents minor = 5
	minorMFM       minor = 6 // 6..11: mfm/ET SE SW WT NW NE (dir6 order)
	numMinors            = 12
)

// dir6 is the module's index of a link: ET SE SW WT NW NE. The MFM minors
// and per-link handshake state follow this order.
var dir6Dirs = [6]packet.Dir{packet.ET, packet.SE, packet.SW, packet.WT, packet.NW, packet.NE}

// dir6Of returns the dir6 index of dir8 d, or false for NT, ST and
// values past 7.
func dir6Of(d packet.Dir) (int, bool) {
	for i, x := range dir6Dirs {
		if x == d {
			return i, true
		}
	}
	return 0, false
}

// PRUOf returns which PRU (0 or 1) drives link d, and false for a
// direction with no link. PRU 0 drives ET, SE and SW; PRU 1 WT, NW and NE.
// Each PRU has one outbound channel, so a stalled PRU holds back all three.
func PRUOf(d packet.Dir) (int, bool) {
	switch d {
	case packet.ET, packet.SE, packet.SW:
		return 0, true
	case packet.WT, packet.NW, packet.NE:
		return 1, true
	}
	return 0, false
}

// pruDir maps a PRU and its link number 0..2 to a dir8, as the PRU's
// status packets name links; ok is false for anything else.
func pruDir(pru, prudir int) (packet.Dir, bool) {
	if pru < 0 || pru > 1 || prudir < 0 || prudir > 2 {
		return 0, false
	}
	return dir6Dirs[3*pru+prudir], true
}

// devNames are the device paths under /dev/itc by minor, and kernelNames
// the names the module gives them (the fifos file shows these).
var (
	devNames = [numMinors]string{
		"pru/0", "pru/1", "bulk", "flash", "pktevents", "itcevents",
		"mfm/ET", "mfm/SE", "mfm/SW", "mfm/WT", "mfm/NW", "mfm/NE",
	}
	kernelNames = [numMinors]string{
		"itc!pru!0", "itc!pru!1", "itc!bulk", "itc!flash", "itc!pktevents", "itc!itcevents",
		"itc!mfm!ET", "itc!mfm!SE", "itc!mfm!SW", "itc!mfm!WT", "itc!mfm!NW", "itc!mfm!NE",
	}
)

// minorOf returns the minor of a device path under /dev/itc.
func minorOf(name string) (minor, bool) {
	for i, n := range devNames {
		if n == name {
			return minor(i), true
		}
	}
	return 0, false
}

func (m minor) isMFM() bool   { return m >= minorMFM && m < numMinors }
func (m minor) isEvent() bool { return m == minorPktEvents || m == minorITCEvents }
func (m minor) isPRU() bool   { return m == minorPRU0 || m == minorPRU1 }

// Sysfs attributes of /sys/class/itc_pkt that the model serves.
const (
	sysStatus     = "status"
	sysMFZID      = "mfzid"
	sysStatistics = "statistics"
	sysFifos      = "fifos"
)

var sysNames = []string{sysStatus, sysMFZID, sysStatistics, sysFifos}

// Header bits of byte 0 and byte 1 that the module's routing reads.
const (
	hdrStandard = 0x80 // STND
	hdrLocal    = 0x40 // LOCL
	hdrMFM      = 0x20 // MFMT
	hdrDir      = 0x07 // DIR
	byte1Bulk   = 0x80 // service traffic: set goes to bulk, clear to flash
	byte1XITC   = 0xE0 // MFM traffic: type; 0 is the kernel's own handshake
)

// Limits of the write path.
const (
	// rpmsgMaxPacket is RPMSG_MAX_PACKET_SIZE (512-byte rpmsg buffers less
	// a 16-byte header): any write longer is EINVAL before anything else.
	rpmsgMaxPacket = 512 - 16
	// maxMFZID is MAX_MFZ_NAME_LENGTH: a longer write to mfzid is EFBIG.
	maxMFZID = 100
)
