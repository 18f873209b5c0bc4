package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/dev"
	"github.com/t2tiles/itcd/itc/packet"
)

// doctorReport is what itcd doctor finds on a tile: it looks and opens,
// it never writes, and it holds no device past one open and close.
type doctorReport struct {
	Config     string               `json:"config"`
	MFMDevices bool                 `json:"mfm_devices"` // kernel.mfm_devices
	Module     moduleReport         `json:"module"`
	Devices    []deviceReport       `json:"devices,omitempty"`
	Status     string               `json:"status,omitempty"` // the status file, as read
	Links      []linkReport         `json:"links,omitempty"`
	MFZID      *mfzidReport         `json:"mfzid,omitempty"`
	Statistics []dev.LinkStatistics `json:"statistics,omitempty"`
	FIFOs      []dev.FIFO           `json:"fifos,omitempty"`
	Problems   []problem            `json:"problems"`
	Exit       int                  `json:"exit"`
}

type moduleReport struct {
	Loaded      bool   `json:"loaded"`
	SysDir      string `json:"sys_dir"`
	ProcModules string `json:"proc_modules,omitempty"` // the module's line, if readable
}

// Outcomes of opening a device (deviceReport.Open).
const (
	openOK         = "ok"          // opened and closed at once: nobody holds it
	openBusy       = "busy"        // EBUSY: Holder, when found, holds it
	openWriterOnly = "writer-only" // ESRCH: an MFM device opens only for the mfzid writer
	openMissing    = "missing"
	openDenied     = "denied"
	openFailed     = "error"
)

type deviceReport struct {
	Name    string    `json:"name"` // as under /dev/itc: bulk, mfm/ET, ...
	Path    string    `json:"path"`
	Present bool      `json:"present"`
	Mode    string    `json:"mode,omitempty"`
	Owner   string    `json:"owner,omitempty"` // user:group
	Open    string    `json:"open"`
	Error   string    `json:"error,omitempty"`
	Holder  *dev.Proc `json:"holder,omitempty"`
}

type linkReport struct {
	Dir    packet.Dir `json:"dir"`
	Nibble int        `json:"nibble"`
	State  string     `json:"state"`
}

type mfzidReport struct {
	dev.MFZIDFile
	WriterProc *dev.Proc `json:"writer,omitempty"`
}

// problem is one thing wrong, and what to do. Errors stop itcd from
// running as configured and make doctor exit 1; warnings do not.
type problem struct {
	Level string `json:"level"` // "error" or "warn"
	What  string `json:"what"`
	Do    string `json:"do"`
}

// doctorPaths locates what doctor looks at.
type doctorPaths struct {
	sysDir                           string
	status, mfzid, statistics, fifos string
	devNames                         []string
	devPath                          map[string]string
}

// doctorDevices are the module's device nodes, under /dev/itc.
var doctorDevices = []string{"bulk", "flash", "pru/0", "pru/1", "pktevents", "itcevents",
	"mfm/ET", "mfm/SE", "mfm/SW", "mfm/WT", "mfm/NW", "mfm/NE"}

// newDoctorPaths takes the paths of k, or everything under devRoot and
// sysRoot when they are set.
func newDoctorPaths(k dev.KernelConfig, devRoot, sysRoot string) doctorPaths {
	if sysRoot == "" {
		sysRoot = filepath.Dir(k.StatusPath)
	}
	p := doctorPaths{sysDir: sysRoot, status: k.StatusPath, mfzid: k.MFZIDPath,
		statistics: filepath.Join(sysRoot, "statistics"), fifos: filepath.Join(sysRoot, "fifos"),
		devNames: doctorDevices, devPath: map[string]string{}}
	fixed := devRoot != ""
	if !fixed {
		devRoot = filepath.Dir(k.Path)
	}
	for _, n := range doctorDevices {
		p.devPath[n] = filepath.Join(devRoot, n)
	}
	if !fixed {
		p.devPath["bulk"], p.devPath["flash"] = k.Path, k.FlashPath
		for _, d := range []string{"ET", "SE", "SW", "WT", "NW", "NE"} {
			p.devPath["mfm/"+d] = filepath.Join(k.MFMDir, d)
		}
	}
	if sysRoot != filepath.Dir(k.StatusPath) {
		p.status, p.mfzid = filepath.Join(sysRoot, "status"), filepath.Join(sysRoot, "mfzid")
	}
	return p
}

// examine builds the report. The module counts as loaded when its status
// file exists; without it nothing else is looked at.
func examine(r *doctorReport, p doctorPaths) {
	r.Module.SysDir = p.sysDir
	r.Module.ProcModules = procModulesLine("/proc/modules", "itc_pkt")
	if _, err := os.Stat(p.status); err != nil {
		r.Module.Loaded = false
		r.add("error", "itc_pkt is not loaded: "+p.status+" does not exist",
			"this is not a T2 tile, or the module is not loaded: modprobe itc_pkt (lsmod | grep itc_pkt)")
		return
	}
	r.Module.Loaded = true
	for _, n := range p.devNames {
		r.Devices = append(r.Devices, probeDevice(n, p.devPath[n]))
	}
	examineStatus(r, p.status)
	examineMFZID(r, p.mfzid)
	if text, err := dev.ReadSysFile(p.statistics); err != nil {
		r.add("warn", "statistics unreadable: "+err.Error(), "nothing for itcd: it does not read them")
	} else if r.Statistics, err = dev.ParseStatistics(text); err != nil {
		r.add("warn", err.Error(), "a module other than T2-12's? itcd does not read this file")
	}
	if text, err := dev.ReadSysFile(p.fifos); err != nil {
		r.add("warn", "fifos unreadable: "+err.Error(), "nothing for itcd: it does not read them")
	} else if r.FIFOs, err = dev.ParseFIFOs(text); err != nil {
		r.add("warn", err.Error(), "a module other than T2-12's? itcd does not read this file")
	}
	adviseDevices(r)
	adviseFIFOs(r)
}

func (r *doctorReport) add(level, what, do string) {
	r.Problems = append(r.Problems, problem{Level: level, What: what, Do: do})
	if level == "error" {
		r.Exit = 1
	}
}

// procModulesLine returns the line of module name in /proc/modules, read
// up to 1 MB, or "" when absent or unreadable.
func procModulesLine(path, name string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, 1<<20))
	for sc.Scan() {
		if line := sc.Text(); strings.HasPrefix(line, name+" ") {
			return line
		}
	}
	return ""
}

// probeDevice stats path and opens it as itcd does, closing it at once.
func probeDevice(name, path string) deviceReport {
	d := deviceReport{Name: name, Path: path}
	fi, err := os.Stat(path)
	if err == nil {
		d.Present = true
		d.Mode = fi.Mode().String()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			d.Owner = ownerName(st.Uid, st.Gid)
		}
	}
	var fd int
	for {
		fd, err = unix.Open(path, unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != unix.EINTR {
			break
		}
	}
	switch {
	case err == nil:
		unix.Close(fd)
		d.Open = openOK
	case errors.Is(err, unix.EBUSY):
		d.Open = openBusy
		if h, ok := dev.FindHolder(path); ok {
			d.Holder = &h
		}
	case errors.Is(err, unix.ESRCH):
		d.Open = openWriterOnly
	case errors.Is(err, unix.ENOENT):
		d.Open, d.Present = openMissing, false
	case errors.Is(err, unix.EACCES), errors.Is(err, unix.EPERM):
		d.Open = openDenied
	default:
		d.Open = openFailed
	}
	if err != nil {
		d.Error = err.Error()
	}
	return d
}

func ownerName(uid, gid uint32) string {
	u, g := strconv.FormatUint(uint64(uid), 10), strconv.FormatUint(uint64(gid), 10)
	if x, err := user.LookupId(u); err == nil {
		u = x.Username
	}
	if x, err := user.LookupGroupId(g); err == nil {
		g = x.Name
	}
	return u + ":" + g
}

// linkMeaning says what a status nibble means.
var linkMeaning = [3]string{"down (no packet sync)", "linked, physics differ or not yet checked", "linked, MFM-compatible"}

func examineStatus(r *doctorReport, path string) {
	text, err := dev.ReadSysFile(path)
	var st dev.Status
	if err == nil {
		r.Status = strings.TrimSpace(text)
		st, err = dev.ParseStatus(text)
	}
	if err != nil {
		r.add("error", "link status: "+err.Error(), "itcd would treat every link as down: is this the T2-12 itc_pkt module?")
		return
	}
	for d := packet.Dir(0); d < 8; d++ {
		n := int(st[d])
		if !d.IsLink() {
			if n != 0 {
				r.add("warn", "status nibble "+strconv.Itoa(n)+" on "+d.String()+", a direction with no link", "none: itcd ignores it")
			}
			continue
		}
		r.Links = append(r.Links, linkReport{Dir: d, Nibble: n, State: linkMeaning[n]})
		if n == 1 {
			r.add("warn", "status nibble 1 on "+d.String()+": linked but physics differ (mfzid), or the handshake is not done",
				"itcd carries services on "+d.String()+" but the module drops its MFM packets until both tiles write the same mfzid")
		}
	}
}

func examineMFZID(r *doctorReport, path string) {
	text, err := dev.ReadSysFile(path)
	var m dev.MFZIDFile
	if err == nil {
		m, err = dev.ParseMFZID(text)
	}
	if err != nil {
		level := "warn"
		if r.MFMDevices {
			level = "error"
		}
		r.add(level, "mfzid: "+err.Error(), "with kernel.mfm_devices = true itcd writes this file at start: check the module")
		return
	}
	r.MFZID = &mfzidReport{MFZIDFile: m}
	owner := "mfmt2"
	if r.MFMDevices {
		owner = "itcd"
	}
	if !m.Written() {
		if !r.MFMDevices {
			r.add("warn", "mfzid never written: no MFM device opens for anyone",
				"kernel.mfm_devices = false leaves it to mfmt2: is mfmt2 running?")
		}
		return
	}
	w := dev.ThreadProc(m.Writer)
	r.MFZID.WriterProc = &w
	switch {
	case w.Comm == "":
		r.add("warn", "mfzid writer thread "+strconv.Itoa(m.Writer)+" is gone: no MFM device opens until mfzid is written again",
			owner+" writes it at start: restart "+owner)
	case w.Comm != itcdComm && r.MFMDevices:
		r.add("warn", "mfzid written by "+w.String()+", not itcd: MFM devices open only for that thread",
			"itcd (kernel.mfm_devices = true) writes its own at start and takes MFM over; set kernel.mfm_devices = false to leave MFM to "+w.Comm)
	}
}

// itcdComm is the command name of a running itcd.
const itcdComm = "itcd"

func adviseDevices(r *doctorReport) {
	unheld := 0
	for _, d := range r.Devices {
		service := d.Name == "bulk" || d.Name == "flash"
		mfm := strings.HasPrefix(d.Name, "mfm/")
		used := service || (mfm && r.MFMDevices)
		switch d.Open {
		case openOK:
			if service {
				unheld++
			}
		case openMissing:
			switch {
			case service:
				r.add("error", d.Name+" missing ("+d.Path+")", "itcd cannot start on the kernel device: check udev's rules for itc_pkt (ls -l /dev/itc)")
			case used:
				r.add("warn", d.Name+" missing ("+d.Path+")", "itcd sends that link's MFM packets through bulk and receives none from it")
			}
		case openDenied:
			if used {
				r.add("error", d.Name+": permission denied ("+d.Mode+" "+d.Owner+")", "itcd cannot open it: run itcd as root or in the device's group")
			}
		case openBusy:
			switch {
			case d.Holder == nil:
				if used {
					r.add("warn", d.Name+" held by a process doctor cannot see", "run itcd doctor as root to name it")
				}
			case d.Holder.Comm == itcdComm:
			case service:
				r.add("error", d.Name+" held by "+d.Holder.String(), "itcd cannot open it: stop that process (another itcd?)")
			case mfm && r.MFMDevices:
				r.add("error", d.Name+" held by "+d.Holder.String(),
					"itcd runs with kernel.mfm_devices = false, or stop "+commOr(d.Holder, "that process"))
			}
		case openFailed:
			if used {
				r.add("warn", d.Name+": open: "+d.Error, "itcd would fail to open it the same way")
			}
		}
	}
	if unheld == 2 {
		r.add("warn", "nobody holds bulk and flash: itcd is not running", "start itcd (systemctl start itcd): service traffic is read by nobody")
	}
}

func commOr(p *dev.Proc, def string) string {
	if p.Comm != "" {
		return p.Comm
	}
	return def
}

// fifoBacklog is when a FIFO's backlog is worth a word: half of its 16 KB.
const fifoBacklog = 8 << 10

func adviseFIFOs(r *doctorReport) {
	holder := map[string]deviceReport{}
	for _, d := range r.Devices {
		holder[d.Name] = d
	}
	for _, f := range r.FIFOs {
		buf, device, _ := strings.Cut(f.Name, "-")
		name := strings.ReplaceAll(strings.TrimPrefix(device, "itc!"), "!", "/")
		if f.Len >= fifoBacklog {
			kb := strconv.FormatInt((f.Len+512)/1024, 10) + " KB"
			if buf == "mUserIB" {
				d := holder[name]
				do := "no reader — is itcd running?"
				if d.Holder != nil {
					do = "its reader " + d.Holder.String() + " is not keeping up"
				}
				r.add("warn", name+" holds "+kb+" unread", do)
			} else {
				r.add("warn", f.Name+" holds "+kb, "the PRU is not draining it: are its links stalled?")
			}
		}
		if f.TDrops != 0 {
			r.add("warn", f.Name+" dropped "+strconv.FormatInt(f.TDrops, 10)+" packets since the module loaded",
				"its 16 KB filled: its reader was absent or slow")
		}
	}
}
