package dev

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExplainOpen(t *testing.T) {
	mfmt2 := func() (Proc, bool) { return Proc{Pid: 812, Comm: "mfmt2"}, true }
	writer := func() (Proc, bool) { return Proc{Pid: 812, Tid: 815, Comm: "mfmt2"}, true }
	nobody := func() (Proc, bool) { return Proc{}, false }
	for _, tc := range []struct {
		name           string
		kind           devKind
		err            unix.Errno
		holder, writer func() (Proc, bool)
		is             error
		want           []string
	}{
		{"mfm busy", kindMFM, unix.EBUSY, mfmt2, nil, unix.EBUSY,
			[]string{"mfm device /p", "held by pid 812 (mfmt2)?", "stop it or set kernel.mfm_devices = false"}},
		{"mfm busy, holder gone", kindMFM, unix.EBUSY, nobody, nil, unix.EBUSY,
			[]string{"none found in /proc/*/fd", "kernel.mfm_devices = false"}},
		{"bulk busy", kindService, unix.EBUSY, func() (Proc, bool) { return Proc{Pid: 90, Comm: "itcd"}, true }, nil, unix.EBUSY,
			[]string{"itc device /p is already open", "held by pid 90 (itcd)", "another itcd? stop it"}},
		{"mfm wrong thread", kindMFM, unix.ESRCH, nil, writer, unix.ESRCH,
			[]string{"mfzid was written by another thread/process (thread 815 of pid 812 (mfmt2) from the mfzid file)", "kernel.mfm_devices = false"}},
		{"mfm wrong thread, unknown", kindMFM, unix.ESRCH, nil, nil, unix.ESRCH,
			[]string{"(another thread or process)"}},
		{"not loaded", kindService, unix.ENOENT, nil, nil, os.ErrNotExist,
			[]string{"does not exist", "itc_pkt not loaded"}},
		{"mfzid missing", kindMFZID, unix.ENOENT, nil, nil, os.ErrNotExist,
			[]string{"mfzid file /p", "itc_pkt not loaded"}},
		{"mfm permission", kindMFM, unix.EACCES, nil, nil, os.ErrPermission,
			[]string{"permission denied", "run itcd as root", "ls -l /p"}},
		{"mfzid permission", kindMFZID, unix.EPERM, nil, nil, os.ErrPermission,
			[]string{"mfzid file /p: permission denied"}},
		{"other", kindService, unix.EIO, nil, nil, unix.EIO,
			[]string{"itc device /p: open"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := explainOpen(tc.kind, "/p", tc.err, tc.holder, tc.writer)
			if !errors.Is(err, tc.is) {
				t.Errorf("%v does not match %v", err, tc.is)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q lacks %q", err, w)
				}
			}
		})
	}
}

func TestProcRefString(t *testing.T) {
	for _, tc := range []struct {
		p    Proc
		want string
	}{
		{Proc{Pid: 7}, "pid 7"},
		{Proc{Pid: 7, Comm: "mfmt2"}, "pid 7 (mfmt2)"},
		{Proc{Pid: 7, Tid: 7, Comm: "mfmt2"}, "pid 7 (mfmt2)"},
		{Proc{Pid: 7, Tid: 9, Comm: "x"}, "thread 9 of pid 7 (x)"},
	} {
		if got := tc.p.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestCheckMFZID(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want string // "" valid
	}{
		{"phys", ""},
		{"-z tag[0123abcd]", ""},
		{strings.Repeat("x", MaxMFZID), ""},
		{"", ""}, // the module's value from boot, written as one NUL byte
		{strings.Repeat("x", MaxMFZID+1), "101 bytes, at most 100"},
		{"a\x00b", "NUL"},
	} {
		err := checkMFZID([]byte(tc.id))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v", tc.id, err)
		case tc.want != "" && (!errors.Is(err, ErrMFZIDInvalid) || !strings.Contains(fmt.Sprint(err), tc.want)):
			t.Errorf("%q: %v, want ErrMFZIDInvalid saying %q", tc.id, err, tc.want)
		}
	}
}

func TestParseMFZIDWriter(t *testing.T) {
	for _, tc := range []struct {
		text string
		tid  int
		ok   bool
	}{
		{"815 17 phys\n", 815, true},
		{"815 17 \n", 815, true},
		{"-1 0 \n", 0, false},
		{"0 0 \n", 0, false},
		{"", 0, false},
		{"abc 1 x\n", 0, false},
		{"99999999999999999999 1 x", 0, false},
	} {
		tid, ok := parseMFZIDWriter(tc.text)
		if tid != tc.tid || ok != tc.ok {
			t.Errorf("%q: %d %v, want %d %v", tc.text, tid, ok, tc.tid, tc.ok)
		}
	}
}

// appendMFZIDText renders the mfzid file as the module does.
func appendMFZIDText(b []byte, tid int, token uint8, id string) []byte {
	return fmt.Appendf(b, "%d %d %s\n", tid, token, id)
}

func FuzzParseMFZIDWriter(f *testing.F) {
	f.Add(815, uint8(17), "phys")
	f.Add(-1, uint8(0), "")
	f.Add(1, uint8(255), "a b c\n")
	f.Fuzz(func(t *testing.T, tid int, token uint8, id string) {
		text := string(appendMFZIDText(nil, tid, token, id))
		got, ok := parseMFZIDWriter(text)
		if ok != (tid > 0) || (ok && got != tid) {
			t.Fatalf("%q: %d %v, want the writer %d", text, got, ok, tid)
		}
		parseMFZIDWriter(id) // anything at all: no panic
	})
}

// TestFindHolder finds this process holding a file open, and no one
// holding a file nobody has open.
func TestFindHolder(t *testing.T) {
	dir := t.TempDir()
	held := filepath.Join(dir, "held")
	f, err := os.Create(held)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Through a symbolic link, as a configured path may be.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(held, link); err != nil {
		t.Fatal(err)
	}
	p, ok := FindHolder(link)
	if !ok || p.Pid != os.Getpid() || p.Comm == "" {
		t.Fatalf("holder %+v %v, want this process %d", p, ok, os.Getpid())
	}
	if !strings.HasPrefix(p.String(), "pid "+strconv.Itoa(os.Getpid())+" (") {
		t.Fatalf("holder %s", p)
	}
	if p, ok := FindHolder(filepath.Join(dir, "nobody")); ok {
		t.Fatalf("found %+v holding a file that does not exist", p)
	}
}

// TestMFZIDWriter names the writing thread's process from the file.
func TestMFZIDWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "mfzid")
	tid := unix.Gettid()
	if err := os.WriteFile(path, appendMFZIDText(nil, tid, 3, "phys"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, ok := MFZIDWriter(path)
	if !ok || p.Tid != tid || p.Pid != os.Getpid() {
		t.Fatalf("writer %+v %v, want thread %d of %d", p, ok, tid, os.Getpid())
	}
	os.WriteFile(path, []byte("-1 0 \n"), 0o644)
	if p, ok := MFZIDWriter(path); ok {
		t.Fatalf("writer %+v of a never-written mfzid", p)
	}
}
