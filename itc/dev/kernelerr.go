package dev

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// devKind names what an itc path is, for errors that say what to do.
type devKind uint8

const (
	kindService devKind = iota // bulk or flash
	kindMFM                    // mfm/DIR
	kindMFZID                  // /sys/class/itc_pkt/mfzid
)

// Proc names a process, or a thread of one, for an error message or
// itcd doctor.
type Proc struct {
	Pid  int    `json:"pid"`            // the process (thread group)
	Tid  int    `json:"tid,omitempty"`  // the thread, when it is not the process's main one
	Comm string `json:"comm,omitempty"` // its command name, "" if unknown
}

func (p Proc) String() string {
	s := "pid " + strconv.Itoa(p.Pid)
	if p.Tid != 0 && p.Tid != p.Pid {
		s = "thread " + strconv.Itoa(p.Tid) + " of " + s
	}
	if p.Comm != "" {
		s += " (" + p.Comm + ")"
	}
	return s
}

// kernelOpenError explains why a bulk or flash device could not be opened.
func kernelOpenError(path string, err error) error {
	return explainOpen(kindService, path, err, func() (Proc, bool) { return FindHolder(path) }, nil)
}

// mfmOpenError explains why an MFM device could not be opened.
func mfmOpenError(path, mfzidPath string, err error) error {
	return explainOpen(kindMFM, path, err,
		func() (Proc, bool) { return FindHolder(path) },
		func() (Proc, bool) { return MFZIDWriter(mfzidPath) })
}

// mfzidOpenError explains why the mfzid file could not be opened.
func mfzidOpenError(path string, err error) error {
	return explainOpen(kindMFZID, path, err, nil, nil)
}

// explainOpen maps the errno of a failed open to an error that says what
// to do. holder finds who holds a busy device, writer who last wrote
// mfzid; they are called only when needed and may be nil.
func explainOpen(kind devKind, path string, err error, holder, writer func() (Proc, bool)) error {
	what := "itc device"
	switch kind {
	case kindMFM:
		what = "mfm device"
	case kindMFZID:
		what = "mfzid file"
	}
	switch err {
	case unix.EBUSY:
		who := "another process (none found in /proc/*/fd)"
		if holder != nil {
			if p, ok := holder(); ok {
				who = p.String()
			}
		}
		if kind == kindMFM {
			return fmt.Errorf("%s %s is already open, held by %s? mfmt2 opens it itself: stop it or set kernel.mfm_devices = false: %w", what, path, who, err)
		}
		return fmt.Errorf("%s %s is already open, held by %s: another itcd? stop it: %w", what, path, who, err)
	case unix.ESRCH:
		if kind == kindMFM {
			who := "another thread or process"
			if writer != nil {
				if p, ok := writer(); ok {
					who = p.String() + " from the mfzid file"
				}
			}
			return fmt.Errorf("%s %s: mfzid was written by another thread/process (%s), and the module lets only the last writer open the MFM devices: stop it (mfmt2?) or set kernel.mfm_devices = false: %w", what, path, who, err)
		}
	case unix.ENOENT:
		return fmt.Errorf("%s %s does not exist: itc_pkt not loaded (modprobe itc_pkt), or not a T2 tile: %w", what, path, err)
	case unix.EACCES, unix.EPERM:
		return fmt.Errorf("%s %s: permission denied: run itcd as root or as a member of the file's group (ls -l %s): %w", what, path, path, err)
	}
	return fmt.Errorf("%s %s: open: %w", what, path, err)
}

// holderScanLimit bounds the descriptors FindHolder looks at: a busy
// tile has a few thousand.
const holderScanLimit = 1 << 16

// FindHolder looks for a process with path open among /proc/*/fd and
// stops at the first. Processes and descriptors come and go while it
// looks: whatever cannot be read is skipped.
func FindHolder(path string) (Proc, bool) {
	target := canonicalPath(path)
	proc, err := os.Open("/proc")
	if err != nil {
		return Proc{}, false
	}
	defer proc.Close()
	budget := holderScanLimit
	for budget > 0 {
		names, err := proc.Readdirnames(256)
		for _, name := range names {
			pid, e := strconv.Atoi(name)
			if e != nil || pid <= 0 {
				continue
			}
			if holdsPath(pid, target, &budget) {
				return Proc{Pid: pid, Comm: readComm(pid)}, true
			}
			if budget <= 0 {
				break
			}
		}
		if err != nil {
			break
		}
	}
	return Proc{}, false
}

// holdsPath reports whether process pid has target open, spending budget
// on each descriptor looked at.
func holdsPath(pid int, target string, budget *int) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	for *budget > 0 {
		names, err := f.Readdirnames(min(256, *budget))
		for _, n := range names {
			*budget--
			if l, e := os.Readlink(dir + "/" + n); e == nil && l == target {
				return true
			}
		}
		if err != nil {
			return false
		}
	}
	return false
}

// canonicalPath is path as /proc/PID/fd links show it: absolute, without
// symbolic links.
func canonicalPath(path string) string {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	if p, err := filepath.Abs(path); err == nil {
		path = p
	}
	return path
}

// readComm returns the command name of a process or thread, "" if gone.
func readComm(id int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(id) + "/comm")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// MFZIDWriter reads the mfzid file and names the thread that last wrote
// it, and its process.
func MFZIDWriter(mfzidPath string) (Proc, bool) {
	text, err := ReadSysFile(mfzidPath)
	if err != nil {
		return Proc{}, false
	}
	tid, ok := parseMFZIDWriter(text)
	if !ok {
		return Proc{}, false
	}
	return ThreadProc(tid), true
}

// ThreadProc names thread tid and its process from /proc; a thread that
// is gone keeps its id as the process and no command name.
func ThreadProc(tid int) Proc {
	return Proc{Pid: threadGroup(tid), Tid: tid, Comm: readComm(tid)}
}

// parseMFZIDWriter takes the writer's thread id from the text of the
// mfzid file, "TID TOKEN ID\n"; a TID of -1 (never written) or one that is
// not a number gives false.
func parseMFZIDWriter(text string) (int, bool) {
	f, _, _ := strings.Cut(text, " ")
	tid, err := strconv.Atoi(f)
	if err != nil || tid <= 0 {
		return 0, false
	}
	return tid, true
}

// threadGroup returns the process that thread tid belongs to, from
// /proc/TID/status, or tid itself when that cannot be read.
func threadGroup(tid int) int {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return tid
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Tgid:"); ok {
			if pid, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
				return pid
			}
		}
	}
	return tid
}
