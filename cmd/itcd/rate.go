package main

import (
	"fmt"
	"strconv"
	"strings"
)

// parseRate reads a link rate in bytes per second: a plain number
// ("65536") or one with a unit ("64KB/s", "64KiB/s", "512kbit",
// "512kbps", "1.5MB"): B is bytes, bit and bps are bits.
// K, M and G are binary (1024), with or without the i, because the T2
// figures are quoted that way: 64KB/s = 512kbit = 65536 bytes a second.
func parseRate(s string) (int, error) {
	lower := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "/s"))
	bits := false
	switch {
	case strings.HasSuffix(lower, "bps"): // kbps, Mbps: bits, as in networking
		bits, lower = true, strings.TrimSuffix(lower, "bps")
	case strings.HasSuffix(lower, "bit"):
		bits, lower = true, strings.TrimSuffix(lower, "bit")
	case strings.HasSuffix(lower, "b"):
		lower = strings.TrimSuffix(lower, "b")
	}
	lower = strings.TrimSuffix(lower, "i")
	mult := 1.0
	if n := len(lower); n > 0 {
		switch lower[n-1] {
		case 'k':
			mult, lower = 1<<10, lower[:n-1]
		case 'm':
			mult, lower = 1<<20, lower[:n-1]
		case 'g':
			mult, lower = 1<<30, lower[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(lower), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: want bytes per second, like 65536, 64KB/s or 512kbit", s)
	}
	v *= mult
	if bits {
		v /= 8
	}
	if v > 1<<31-1 {
		return 0, fmt.Errorf("rate %q is more than 2 GB/s", s)
	}
	return int(v + 0.5), nil
}
