package dev

import (
	"errors"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

// A pipe's link reads LinkMFM while both ends' physics identities agree,
// and MFM packets cross only then; service packets cross either way.
func TestPipePhysicsIdentity(t *testing.T) {
	for _, tc := range []struct {
		name   string
		a, b   string
		status LinkState
	}{
		{"never set", "", "", LinkMFM},
		{"same", "demo[ab]", "demo[ab]", LinkMFM},
		{"differ", "demo[ab]", "demo[cd]", LinkUp},
		{"one empty", "demo[ab]", "", LinkUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := Pipe(packet.ET, 4)
			defer a.Close()
			defer b.Close()
			var _ PhysicsIdentity = a
			if tc.a != "" {
				if err := a.SetMFZID([]byte(tc.a)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.b != "" {
				if err := b.SetMFZID([]byte(tc.b)); err != nil {
					t.Fatal(err)
				}
			}
			if got := a.Status()[packet.ET]; got != tc.status {
				t.Errorf("a: ET %v, want %v", got, tc.status)
			}
			if got := b.Status()[packet.WT]; got != tc.status {
				t.Errorf("b: WT %v, want %v", got, tc.status)
			}
			mfm, _ := packet.AppendMFM(nil, packet.ET, false, false, []byte{0x20, 1})
			svc, _ := packet.AppendService(nil, packet.ET, 5, []byte{2})
			for _, p := range [][]byte{mfm, svc} {
				if err := a.WritePacket(p); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, packet.MaxLen)
			n, _ := b.ReadPacket(buf)
			first, _ := packet.Decode(buf[:n])
			want := packet.KindMFM
			if tc.status != LinkMFM {
				want = packet.KindService // the MFM packet was dropped
			}
			if first.Kind != want {
				t.Errorf("first packet across is %v, want %v", first.Kind, want)
			}
		})
	}
	a, b := Pipe(packet.NE, 1)
	defer b.Close()
	if err := a.SetMFZID([]byte(strings.Repeat("x", MaxMFZID+1))); err == nil {
		t.Error("SetMFZID took 101 bytes")
	}
	a.Close()
	if err := b.WritePacket([]byte{0x80 | byte(packet.SW), 5}); !errors.Is(err, ErrLinkDown) {
		t.Errorf("write after the far end closed: %v, want ErrLinkDown", err)
	}
}
