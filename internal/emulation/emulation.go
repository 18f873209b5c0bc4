// Package emulation tells a test whether it runs under user-mode CPU
// emulation (qemu-user), as `make arm-test` runs the tile's linux/arm
// tests on a PC, and skips what cannot work there with the reason.
//
// Two things differ under qemu-user and nothing else should: instructions
// are emulated (an ARM tile's test runs some 5-30 times slower, so
// wall-clock rates cannot be measured), and the kernel cannot start
// another ARM binary unless qemu is registered in binfmt_misc (tests that
// start itcd processes). Tests skip for exactly these reasons, and only
// under emulation: on a tile and on the build machine they run.
//
// Only tests import this package.
package emulation

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var detect = sync.OnceValues(func() (string, bool) {
	return fromProc(read("/proc/self/status"), read("/proc/cpuinfo"), runtime.GOARCH)
})

func read(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// Emulator returns the emulator this process runs under ("qemu-arm") and
// true, or "" and false when it runs on its own CPU.
func Emulator() (string, bool) { return detect() }

// fromProc decides from /proc/self/status, /proc/cpuinfo and GOARCH.
// qemu-user leaves the host's process name (qemu-arm, when started as
// `qemu-arm prog`) and the host's /proc/cpuinfo, which on an ARM board
// names the CPU architecture and on a PC does not.
func fromProc(status, cpuinfo []byte, goarch string) (string, bool) {
	for line := range bytes.Lines(status) {
		if name, ok := bytes.CutPrefix(line, []byte("Name:")); ok {
			if n := strings.TrimSpace(string(name)); strings.HasPrefix(n, "qemu-") {
				return n, true
			}
			break
		}
	}
	switch goarch {
	case "arm", "arm64":
		// Started through binfmt_misc the process keeps the program's
		// name; the host's CPU still shows.
		if len(cpuinfo) > 0 && !bytes.Contains(cpuinfo, []byte("CPU architecture")) {
			return "qemu-" + goarch, true
		}
	}
	return "", false
}

// SkipSlow skips t under emulation: it measures a wall-clock rate or
// timing that emulated instructions cannot keep. what says what it
// measures.
func SkipSlow(t testing.TB, what string) {
	t.Helper()
	if emu, ok := Emulator(); ok {
		t.Skipf("under %s: %s is a wall-clock measurement, and emulated instructions run many times slower than on a tile; run it on a tile or natively", emu, what)
	}
}

// Rate returns rate, a number of packets a second with which a test
// floods a tile that must keep up in real time, scaled to the machine: a
// tenth of it under emulation, whose instructions run 10-30 times slower,
// so the flood weighs on an emulated tile as the full one does natively.
func Rate(rate int) int {
	if _, ok := Emulator(); ok {
		return max(rate/10, 1)
	}
	return rate
}

// SkipNoExec skips t under emulation when the kernel cannot start another
// binary of this architecture: without a binfmt_misc entry for the
// emulator, exec of an ARM program fails with "exec format error".
func SkipNoExec(t testing.TB) {
	t.Helper()
	emu, ok := Emulator()
	if !ok || binfmtRegistered(emu) {
		return
	}
	t.Skipf("under %s without binfmt_misc: this test starts itcd processes, and the kernel cannot exec an %s binary; install qemu-user-binfmt (and mount binfmt_misc) to run it", emu, runtime.GOARCH)
}

// binfmtRegistered reports whether binfmt_misc hands binaries of this
// architecture to emu.
func binfmtRegistered(emu string) bool {
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/" + emu)
	return err == nil && bytes.HasPrefix(b, []byte("enabled"))
}
