package control

import (
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/dev"
)

// WriteStatus is what `itcd status` and SIGUSR1 print: a status with
// every field set gives every line.
func TestWriteStatus(t *testing.T) {
	var b strings.Builder
	WriteStatus(&b, sampleStatus())
	want := `tile 0102030405060708  up 1m01s  device udp  itcd v0.3.0-2-g204e96c  protocol v1
run dir /r  state dir /s  mfmt2 connected
mfzid "demo[ab12]" from mfm.sock (not set: device busy)

DIR  LINK  MFM  STATE  TILE              HEARD     RTT   MFM in/out  SERVICE in/out  BYTES in/out  DROP  ERR
ET   mfm   ok   live   0102030405060708  0.5s ago  12ms  1/0         0/3             2B/3.9K       18    39

services: 2 itcd counter
neighbours' itcd: ET v0.2.0
malformed from device: 17  refused on mfm.sock: 15  on service.sock: 16
ET: 21 MFM packets from mfm.sock not sent: the link is not MFM-compatible
ET: 14 hellos claimed another identity sooner than a tile can be replaced (ignored)
local clients: control.sock 1 (2 refused, 3 idle closed)
log lines suppressed by the rate limit: 20

counter:
  {
    "value": 1
  }
`
	if got := b.String(); got != want {
		t.Errorf("WriteStatus:\n%s\nwant:\n%s", got, want)
	}
}

func TestFormatFigures(t *testing.T) {
	for _, tc := range []struct {
		s    float64
		want string
	}{
		{0, "0.0s"}, {59.94, "59.9s"}, {61, "1m01s"}, {3600, "1h00m"}, {86400 + 7200, "1d02h"},
	} {
		if got := fmtSeconds(tc.s); got != tc.want {
			t.Errorf("fmtSeconds(%v) = %q, want %q", tc.s, got, tc.want)
		}
	}
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0B"}, {1023, "1023B"}, {1536, "1.5K"}, {3 << 20, "3.0M"}, {5 << 30, "5.0G"},
	} {
		if got := fmtBytes(tc.n); got != tc.want {
			t.Errorf("fmtBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

// On a real tile the kernel backend's counters follow: each device's
// packets and the reader's polls.
func TestWriteStatusKernel(t *testing.T) {
	st := sampleStatus()
	st.KernelStats = &dev.KernelStats{
		Devices: []dev.DeviceCounts{{Path: "/dev/itc/flash", Read: 7, Written: 9}, {Path: "/dev/itc/mfm/ET", Read: 1, Written: 2}},
		Polls:   1200, MFMReopens: 1, MFZIDRewrites: 3,
	}
	var b strings.Builder
	WriteStatus(&b, st)
	for _, want := range []string{
		"kernel devices, packets read/written: /dev/itc/flash 7/9, /dev/itc/mfm/ET 1/2\n",
		"kernel reader: 1200 polls  1 MFM reopens  3 mfzid rewrites\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("WriteStatus lacks %q:\n%s", want, b.String())
		}
	}
}
