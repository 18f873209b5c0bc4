package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

func TestParseLinks(t *testing.T) {
	cases := []struct {
		flags []string
		want  dev.Links
		err   string
	}{
		{[]string{"ET=10.0.0.2:7420"}, dev.Links{packet.ET: "10.0.0.2:7420"}, ""},
		{[]string{"et=a:1", "nw=b:2"}, dev.Links{packet.ET: "a:1", packet.NW: "b:2"}, ""},
		{[]string{"ET=a:1", "et=b:1"}, nil, "ET is already linked to a:1"},
		{[]string{"ET=a:1", "2=b:1"}, nil, "ET is already linked"},
		{[]string{"ET"}, nil, "want DIR=HOST:PORT"},
		{[]string{"ET="}, nil, "want DIR=HOST:PORT"},
		{[]string{"NT=a:1"}, nil, "want DIR=HOST:PORT"},
		{[]string{"ſe=a:1"}, nil, "want DIR=HOST:PORT"},
	}
	for _, c := range cases {
		got, err := parseLinks(c.flags)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.flags, err, c.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: %v, %v; want %v", c.flags, got, err, c.want)
		}
	}
}
