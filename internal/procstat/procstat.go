// Package procstat measures what a process costs the machine, for
// benchmarks of a tile: the context switches of all its threads, its CPU
// time, and running it on one CPU as a tile's one core runs it.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// PinToOneCPU puts every thread of the process on the first CPU it may
// use; threads made later inherit it. restore puts them back on the
// CPUs they had. Set GOMAXPROCS to 1 as well, as a one-core tile has it.
func PinToOneCPU() (restore func(), err error) {
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		return nil, fmt.Errorf("procstat: CPU affinity: %w", err)
	}
	var one unix.CPUSet
	for c := 0; c < 1024; c++ {
		if was.IsSet(c) {
			one.Set(c)
			break
		}
	}
	set := func(s *unix.CPUSet) error {
		tids, err := threads()
		for _, tid := range tids {
			unix.SchedSetaffinity(tid, s) // a thread may have ended meanwhile
		}
		return err
	}
	if err := set(&one); err != nil {
		return nil, err
	}
	return func() { set(&was) }, nil
}

// ThreadSwitches is the context switches, voluntary and not, of every
// thread of the process so far (/proc/self/task/*/status).
func ThreadSwitches() (uint64, error) {
	tids, err := threads()
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, tid := range tids {
		data, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/status")
		if err != nil {
			continue // ended meanwhile
		}
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) == 2 && strings.HasSuffix(f[0], "ctxt_switches:") {
				v, _ := strconv.ParseUint(f[1], 10, 64)
				n += v
			}
		}
	}
	return n, nil
}

func threads() ([]int, error) {
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil, fmt.Errorf("procstat: threads: %w", err)
	}
	var tids []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}

// Switches is ThreadSwitches for a benchmark, which fails on an error.
func Switches(tb testing.TB) uint64 {
	tb.Helper()
	n, err := ThreadSwitches()
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// CPU is the CPU time the process has used so far, every thread's, user
// and system.
func CPU() time.Duration {
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// MemDir is a directory for a benchmark in a filesystem held in memory
// (/dev/shm), as a tile's /sys is, removed when tb ends; tb's temporary
// directory if there is none.
func MemDir(tb testing.TB) string {
	if d, err := os.MkdirTemp("/dev/shm", "itcd-bench"); err == nil {
		tb.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return tb.TempDir()
}
