package dev

import (
	"testing"
	"time"

	"github.com/t2tiles/itcd/itc/packet"
)

func TestPollBackoff(t *testing.T) {
	const limit = 50 * time.Millisecond
	min := minReadBackoff
	cases := []struct {
		name string
		cur  time.Duration
		ev   pollEvent
		want time.Duration
	}{
		{"first sleep", 0, pollEmpty, min},
		{"nothing found: doubles", min, pollEmpty, 2 * min},
		{"nothing found near the limit: the limit", 40 * time.Millisecond, pollEmpty, limit},
		{"nothing found at the limit: stays", limit, pollEmpty, limit},
		{"a packet read: from the start", limit, pollRead, min},
		{"a packet written: from the start", limit, pollWrote, min},
		{"a hello read: unchanged", limit, pollHello, limit},
		{"a hello read while hurrying: unchanged", 800 * time.Microsecond, pollHello, 800 * time.Microsecond},
		{"a hello read first: the shortest", 0, pollHello, min},
	}
	for _, c := range cases {
		if got := pollBackoff(c.cur, c.ev, limit); got != c.want {
			t.Errorf("%s: pollBackoff(%v, %d) = %v, want %v", c.name, c.cur, c.ev, got, c.want)
		}
	}
}

func TestPollEventOf(t *testing.T) {
	svc := func(s packet.Service) []byte {
		p, err := packet.AppendService(nil, packet.ET, s, []byte{1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	mfm, err := packet.AppendMFM(nil, packet.ET, false, false, []byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		p    []byte
		want pollEvent
	}{
		{"hello", svc(packet.ServiceLiveness), pollHello},
		{"signed-file service", svc(packet.ServiceMFZ), pollRead},
		{"MFM traffic", mfm, pollRead},
		{"does not decode", []byte{}, pollRead},
	}
	for _, c := range cases {
		if got := pollEventOf(c.p, pollRead); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}
