//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// TestStatistics checks the counters the module keeps per dir8. The
// handshake's packets count as MFM (LEAD, FOLLOW: 2 bytes; CONFIG, CHECK:
// 4 bytes plus the id); sent packets count by the queue they left
// (bulk queue: service), received ones by their header.
func TestStatistics(t *testing.T) {
	_, a, b := pair(t, itcmodel.Config{})
	aFlash := open(t, a.DevPath("flash"), unix.O_RDWR|unix.O_NONBLOCK)
	aPRU := open(t, a.DevPath("pru/0"), unix.O_RDWR|unix.O_NONBLOCK)
	for range 3 {
		write(t, aFlash, pkt(0x82, 0x01, 10))
	}
	write(t, aFlash, pkt(0xA2, 0x20, 5)) // MFM header, bulk queue
	write(t, aPRU, []byte("dbg"))        // 'd' is 0x64: "DIR" 4
	if err := writeMFZID(a, "ab"); err != nil {
		t.Fatal(err)
	}
	type row map[string]uint64
	tests := []struct {
		tile *itcmodel.Tile
		d    packet.Dir
		want row
	}{
		{a, packet.ET, row{"psan": 1, "mfmpsent": 2 + 2, "mfmbsent": 6 + 8, "mfmprcvd": 2 + 2, "mfmbrcvd": 6 + 6,
			"svcpsent": 4, "svcbsent": 35}},
		{b, packet.WT, row{"psan": 1, "mfmpsent": 4, "mfmbsent": 12, "mfmprcvd": 4 + 1, "mfmbrcvd": 14 + 5,
			"svcprcvd": 3, "svcbrcvd": 30}},
		{a, packet.ST, row{"svcpsent": 1, "svcbsent": 3}},
		{a, packet.SE, row{}},
	}
	for _, tc := range tests {
		got := statistics(t, tc.tile)[tc.d]
		for col, v := range got {
			want := tc.want[col]
			if col == "dir" {
				want = uint64(tc.d)
			}
			if v != want {
				t.Errorf("%s %v %s = %d, want %d", tc.tile.Name(), tc.d, col, v, want)
			}
		}
	}
}
