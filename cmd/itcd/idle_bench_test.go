package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
)

// procCPU returns the user+system CPU time of pid, from /proc/PID/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the ")" that closes the command name; utime and stime
	// are fields 14 and 15 of the whole line.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}

// procRSS returns the resident set size of pid in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, err := strconv.ParseInt(strings.Fields(line)[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// BenchmarkIdleRun measures what an idle `itcd run` costs: a tile with two
// live neighbours over UDP and nothing to do but hellos and keepalives.
// It reports CPU as a percentage of one core and the resident set size.
// Each iteration samples 5 seconds. The test binary is the itcd here, so
// its RSS includes the test framework's few hundred KB.
func BenchmarkIdleRun(b *testing.B) {
	dir := b.TempDir()
	s := []udpSock{udpSocket(b), udpSocket(b), udpSocket(b)}
	mid := startItcd(b, filepath.Join(dir, "mid"), s[0], "--link", "WT="+s[1].addr, "--link", "ET="+s[2].addr)
	startItcd(b, filepath.Join(dir, "w"), s[1], "--link", "ET="+s[0].addr)
	startItcd(b, filepath.Join(dir, "e"), s[2], "--link", "WT="+s[0].addr)
	waitFor(b, "both neighbours live", func() bool {
		c, err := control.Dial(mid.runDir)
		if err != nil {
			return false
		}
		defer c.Close()
		var st control.Status
		if c.Call("status", nil, &st) != nil {
			return false
		}
		live := 0
		for _, l := range st.Links {
			if (l.Dir == packet.WT || l.Dir == packet.ET) && l.State == control.Live {
				live++
			}
		}
		return live == 2
	})
	pid := mid.cmd.Process.Pid
	b.ResetTimer()
	var cpuPct, rss float64
	for i := 0; i < b.N; i++ {
		c0, err := procCPU(pid)
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		time.Sleep(5 * time.Second)
		c1, _ := procCPU(pid)
		cpuPct += 100 * (c1 - c0).Seconds() / time.Since(t0).Seconds()
		r, err := procRSS(pid)
		if err != nil {
			b.Fatal(err)
		}
		rss += float64(r)
	}
	b.ReportMetric(cpuPct/float64(b.N), "%cpu")
	b.ReportMetric(rss/float64(b.N)/(1<<20), "MiB-rss")
}
