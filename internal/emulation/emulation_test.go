package emulation

import (
	"runtime"
	"testing"
)

func TestFromProc(t *testing.T) {
	const (
		pc  = "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2\n"
		arm = "processor\t: 0\nmodel name\t: ARMv7 Processor rev 2 (v7l)\nCPU architecture: 7\n"
	)
	for _, tc := range []struct {
		name            string
		status, cpuinfo string
		goarch          string
		want            string
		emulated        bool
	}{
		{"qemu-arm started by hand", "Name:\tqemu-arm\nUmask:\t0022\n", pc, "arm", "qemu-arm", true},
		{"binfmt_misc keeps the program's name", "Name:\tdaemon.test\n", pc, "arm", "qemu-arm", true},
		{"arm64 on a PC", "Name:\tx.test\n", pc, "arm64", "qemu-arm64", true},
		{"a tile", "Name:\tdaemon.test\n", arm, "arm", "", false},
		{"the build machine", "Name:\tdaemon.test\n", pc, "amd64", "", false},
		{"another architecture by hand", "Name:\tqemu-riscv64\n", pc, "riscv64", "qemu-riscv64", true},
		{"no /proc", "", "", "arm", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := fromProc([]byte(tc.status), []byte(tc.cpuinfo), tc.goarch)
			if got != tc.want || ok != tc.emulated {
				t.Fatalf("fromProc = %q, %v; want %q, %v", got, ok, tc.want, tc.emulated)
			}
		})
	}
}

// TestThisProcess checks the verdict on the running test: native on the
// build machine, emulated when `make arm-test` runs it under qemu-arm.
func TestThisProcess(t *testing.T) {
	emu, ok := Emulator()
	t.Logf("GOARCH %s, emulator %q, emulated %v", runtime.GOARCH, emu, ok)
	if runtime.GOARCH == "amd64" && ok {
		t.Fatalf("an amd64 test reports emulation by %q", emu)
	}
	want := 10000
	if ok {
		want = 1000
	}
	if got := Rate(10000); got != want {
		t.Fatalf("Rate(10000) = %d, want %d (emulated %v)", got, want, ok)
	}
	if got := Rate(1); got != 1 {
		t.Fatalf("Rate(1) = %d: a flood must keep at least one packet a second", got)
	}
}
