package main

import "testing"

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"65536", 65536, true},
		{"64KB/s", 65536, true},
		{"64KiB/s", 65536, true},
		{"64kb", 65536, true},
		{"512kbit", 65536, true},
		{"512kbps", 65536, true},
		{"1.5MB", 1572864, true},
		{"0", 0, true},
		{" 20000 ", 20000, true},
		{"fast", 0, false},
		{"-5", 0, false},
		{"64XB/s", 0, false},
		{"3GB/s", 0, false},
	} {
		got, err := parseRate(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("parseRate(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
