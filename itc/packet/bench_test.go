package packet_test

import (
	"testing"

	"github.com/t2tiles/itcd/itc/packet"
)

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		in   []byte
	}{
		{"nonstandard", []byte{'A'}},
		{"mfm/255", cat([]byte{0xa2}, seq(254))},
		{"service/2", []byte{0x82, 0x01}},
		{"service/255", cat([]byte{0x86, 0x08}, seq(253))},
		{"local/control", []byte{0xc3, 'P'}},
		{"tep/11", cat([]byte{0xc4, 1, 2}, identity)},
		{"error/service0", []byte{0x82, 0x00, 1, 2}},
		{"error/tepdir", []byte{0xc4, 1, 4}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.in)))
			for b.Loop() {
				sinkPacket, sinkErr = packet.Decode(c.in)
			}
		})
	}
}

func BenchmarkAppendService(b *testing.B) {
	payload := seq(packet.MaxServicePayload)
	buf := make([]byte, 0, packet.MaxLen)
	b.ReportAllocs()
	b.SetBytes(packet.MaxLen)
	for b.Loop() {
		buf, sinkErr = packet.AppendService(buf[:0], packet.ET, packet.ServiceMFZ, payload)
	}
}

func BenchmarkAppendMFM(b *testing.B) {
	payload := seq(packet.MaxLen - packet.MFMHeaderLen)
	buf := make([]byte, 0, packet.MaxLen)
	b.ReportAllocs()
	b.SetBytes(packet.MaxLen)
	for b.Loop() {
		buf, sinkErr = packet.AppendMFM(buf[:0], packet.WT, false, false, payload)
	}
}

func BenchmarkAppendTEP(b *testing.B) {
	buf := make([]byte, 0, packet.MaxLen)
	b.ReportAllocs()
	b.SetBytes(int64(packet.TEPHeaderLen + len(identity)))
	for b.Loop() {
		buf, sinkErr = packet.AppendTEP(buf[:0], packet.EventConnect, packet.ET, identity)
	}
}
