// go-fuse, under the model, does not build for 32-bit targets, so neither
// do these tests (see itc/dev/kernelmodel_test.go).

//go:build !(arm || 386 || mips || mipsle)

package main

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
)

// The tests here run itcd doctor on the model of the itc_pkt module
// (itc/itcmodel) over FUSE; they skip where FUSE is unavailable.

// doctorTiles mounts a model with tiles a and b, a's ET joined to b's WT.
func doctorTiles(t *testing.T) (*itcmodel.Tile, *itcmodel.Tile) {
	t.Helper()
	_, a, b := itcmodel.PairForTest(t, itcmodel.Config{})
	return a, b
}

func roots(tile *itcmodel.Tile) []string {
	return []string{"--dev-root", tile.DevPath(""), "--sys-root", tile.SysPath("")}
}

func findProblem(r doctorReport, level, what string) (problem, bool) {
	for _, p := range r.Problems {
		if p.Level == level && strings.Contains(p.What, what) {
			return p, true
		}
	}
	return problem{}, false
}

func device(t *testing.T, r doctorReport, name string) deviceReport {
	t.Helper()
	for _, d := range r.Devices {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no device %s in %+v", name, r.Devices)
	return deviceReport{}
}

// TestDoctorHealthyModel: two linked tiles, nobody running: exit 0, every
// device present and opening, ET linked and MFM-compatible, the sysfs
// tables parsed, and only the warning that itcd is not running.
func TestDoctorHealthyModel(t *testing.T) {
	a, _ := doctorTiles(t)
	code, r := runDoctorJSON(t, roots(a)...)
	if code != 0 || !r.Module.Loaded {
		t.Fatalf("exit %d: %+v", code, r)
	}
	if len(r.Devices) != 12 {
		t.Fatalf("%d devices", len(r.Devices))
	}
	for _, d := range r.Devices {
		want := openOK
		if strings.HasPrefix(d.Name, "mfm/") {
			want = openWriterOnly // nobody wrote mfzid, so no thread may open them
		}
		if !d.Present || d.Open != want || d.Mode == "" || d.Owner == "" || d.Holder != nil {
			t.Errorf("device %+v, want present and %s", d, want)
		}
	}
	if len(r.Links) != 6 {
		t.Fatalf("links %+v", r.Links)
	}
	for _, l := range r.Links {
		if want := map[bool]int{true: 2, false: 0}[l.Dir == packet.ET]; l.Nibble != want {
			t.Errorf("link %+v, want nibble %d", l, want)
		}
	}
	if r.MFZID == nil || r.MFZID.Writer != -1 || r.MFZID.WriterProc != nil {
		t.Errorf("mfzid %+v, want never written", r.MFZID)
	}
	if len(r.Statistics) != 8 || len(r.FIFOs) < 10 {
		t.Errorf("%d statistics rows, %d fifos", len(r.Statistics), len(r.FIFOs))
	}
	if _, ok := findProblem(r, "warn", "itcd is not running"); !ok || len(r.Problems) != 1 {
		t.Errorf("problems %+v, want only that itcd is not running", r.Problems)
	}
	code, out := runDoctor(t, roots(a)...)
	for _, want := range []string{"itc_pkt loaded", "mfm/ET", "only for the mfzid writer", "ET  2  linked, MFM-compatible",
		"mfzid    never written", "mUserIB-itc!flash", "0 errors, 1 warnings (exit 0)"} {
		if !strings.Contains(out, want) {
			t.Errorf("screen lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d", code)
	}
}

// TestDoctorHeldDevice: a device held by another process is busy, names
// the holder, and is an error (itcd could not start).
func TestDoctorHeldDevice(t *testing.T) {
	a, _ := doctorTiles(t)
	f, err := os.OpenFile(a.DevPath("bulk"), os.O_RDWR|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if h, ok := a.Holder("bulk"); !ok || h.Pid != os.Getpid() {
		t.Fatalf("model holder %+v %v", h, ok)
	}
	code, r := runDoctorJSON(t, roots(a)...)
	d := device(t, r, "bulk")
	if code != 1 || d.Open != openBusy || d.Holder == nil || d.Holder.Pid != os.Getpid() || d.Holder.Comm == "" {
		t.Fatalf("exit %d, bulk %+v", code, d)
	}
	p, ok := findProblem(r, "error", "bulk held by pid")
	if !ok || !strings.Contains(p.Do, "stop that process") {
		t.Errorf("problems %+v", r.Problems)
	}
	if _, ok := findProblem(r, "warn", "itcd is not running"); ok {
		t.Errorf("bulk is held, yet: %+v", r.Problems)
	}
}

// TestDoctorForeignMFZIDWriter: an mfzid written by a thread of another
// program is named, with its process, and is a warning.
func TestDoctorForeignMFZIDWriter(t *testing.T) {
	a, _ := doctorTiles(t)
	// The writer thread stays locked until the end, so that doctor's
	// opens never run on it (an MFM open from the writer would succeed).
	written, done := make(chan int), make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		runtime.LockOSThread()
		if err := os.WriteFile(a.SysPath("mfzid"), []byte("phys"), 0); err != nil {
			t.Error(err)
		}
		written <- unix.Gettid()
		<-done
	}()
	tid := <-written
	code, r := runDoctorJSON(t, roots(a)...)
	if code != 0 || r.MFZID == nil || r.MFZID.Writer != tid || r.MFZID.ID != "phys" || r.MFZID.Token == 0 {
		t.Fatalf("exit %d, mfzid %+v", code, r.MFZID)
	}
	if w := r.MFZID.WriterProc; w == nil || w.Pid != os.Getpid() || w.Tid != tid || w.Comm == "" {
		t.Fatalf("writer %+v, want thread %d of this process", w, tid)
	}
	p, ok := findProblem(r, "warn", "mfzid written by ")
	if !ok || !strings.Contains(p.Do, "kernel.mfm_devices = false") {
		t.Errorf("problems %+v", r.Problems)
	}
	if d := device(t, r, "mfm/ET"); d.Open != openWriterOnly {
		t.Errorf("mfm/ET %+v", d)
	}
}

// TestDoctorFlashBacklog: a flash FIFO filled with nobody reading it is
// reported, with its drops.
func TestDoctorFlashBacklog(t *testing.T) {
	a, _ := doctorTiles(t)
	pru, ok := itcmodel.PRUOf(packet.ET)
	if !ok {
		t.Fatal("no PRU for ET")
	}
	p := make([]byte, 255)
	p[0], p[1] = 0x80|byte(packet.ET), 0x01 // routed, byte 1 bit 7 clear: flash
	for range 80 {
		a.Inject(pru, p)
	}
	code, r := runDoctorJSON(t, roots(a)...)
	if code != 0 {
		t.Fatalf("exit %d: %+v", code, r.Problems)
	}
	if p, ok := findProblem(r, "warn", "flash holds 16 KB unread"); !ok || !strings.Contains(p.Do, "is itcd running") {
		t.Errorf("problems %+v", r.Problems)
	}
	if _, ok := findProblem(r, "warn", "mUserIB-itc!flash dropped"); !ok {
		t.Errorf("problems %+v", r.Problems)
	}
}

// TestDoctorMFMHeld: an MFM device held by the mfzid writer (as mfmt2
// holds them) is an error while itcd is to own the MFM devices, and
// expected with kernel.mfm_devices = false.
func TestDoctorMFMHeld(t *testing.T) {
	a, _ := doctorTiles(t)
	opened, done := make(chan error), make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		runtime.LockOSThread() // the write and the open from one thread, as the module wants
		err := os.WriteFile(a.SysPath("mfzid"), []byte("phys"), 0)
		var f *os.File
		if err == nil {
			f, err = os.OpenFile(a.DevPath("mfm/ET"), os.O_RDWR|unix.O_NONBLOCK, 0)
		}
		opened <- err
		<-done
		if f != nil {
			f.Close()
		}
	}()
	if err := <-opened; err != nil {
		t.Fatal(err)
	}
	code, r := runDoctorJSON(t, roots(a)...)
	d := device(t, r, "mfm/ET")
	if code != 1 || d.Open != openBusy || d.Holder == nil || d.Holder.Pid != os.Getpid() {
		t.Fatalf("exit %d, mfm/ET %+v", code, d)
	}
	if p, ok := findProblem(r, "error", "mfm/ET held by pid"); !ok || !strings.Contains(p.Do, "kernel.mfm_devices = false, or stop") {
		t.Errorf("problems %+v", r.Problems)
	}
	code, r = runDoctorConfigJSON(t, "[kernel]\nmfm_devices = false\n", roots(a)...)
	if code != 0 || r.MFMDevices {
		t.Fatalf("mfm_devices = false: exit %d, %+v", code, r.Problems)
	}
	for _, p := range r.Problems {
		if strings.Contains(p.What, "mfm/") || strings.Contains(p.What, "mfzid") {
			t.Errorf("mfmt2 owning MFM is expected with mfm_devices = false: %+v", p)
		}
	}
}
