//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// fsys serves the model's tree over FUSE's raw protocol. The raw protocol,
// not go-fuse's node API, because only it hands each read and write the
// file's current flags (O_NONBLOCK may be set after open with fcntl) and
// each request its caller's thread id.
type fsys struct {
	fuse.RawFileSystem // ENOSYS for what the model does not serve
	m                  *Model

	mu     sync.Mutex // guards files and next
	files  map[uint64]*openFile
	nextFh uint64
}

// openFile is one FUSE open: a device open or a sysfs file.
type openFile struct {
	n    *node
	dev  *handle // kindDev
	snap []byte  // kindSys: what the last read at offset 0 rendered
}

var _ fuse.RawFileSystem = (*fsys)(nil)

// entryTTL is how long the kernel may cache names and attributes: the
// tree only grows, and attributes never change.
const entryTTL = time.Hour

func (f *fsys) String() string { return "itcmodel" }

func (f *fsys) node(id uint64) *node {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	return f.m.tree.nodes[id]
}

func (f *fsys) Lookup(cancel <-chan struct{}, h *fuse.InHeader, name string, out *fuse.EntryOut) fuse.Status {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	p := f.m.tree.nodes[h.NodeId]
	if p == nil || p.kind != kindDir {
		return fuse.ENOTDIR
	}
	c := p.children[name]
	if c == nil {
		return fuse.ENOENT
	}
	out.NodeId = c.id
	out.SetEntryTimeout(entryTTL)
	out.SetAttrTimeout(entryTTL)
	f.m.tree.attr(c, &out.Attr)
	return fuse.OK
}

func (f *fsys) GetAttr(cancel <-chan struct{}, in *fuse.GetAttrIn, out *fuse.AttrOut) fuse.Status {
	n := f.node(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	out.SetTimeout(entryTTL)
	f.m.tree.attr(n, &out.Attr)
	return fuse.OK
}

// SetAttr accepts and ignores changes (a shell's "echo x > mfzid"
// truncates first), as sysfs and character devices do.
func (f *fsys) SetAttr(cancel <-chan struct{}, in *fuse.SetAttrIn, out *fuse.AttrOut) fuse.Status {
	return f.GetAttr(cancel, &fuse.GetAttrIn{InHeader: in.InHeader}, out)
}

func (f *fsys) OpenDir(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := f.node(in.NodeId)
	if n == nil || n.kind != kindDir {
		return fuse.ENOTDIR
	}
	return fuse.OK
}

// ReadDir lists a directory; the offset is an index into its names.
func (f *fsys) ReadDir(cancel <-chan struct{}, in *fuse.ReadIn, out *fuse.DirEntryList) fuse.Status {
	f.m.mu.Lock()
	defer f.m.mu.Unlock()
	n := f.m.tree.nodes[in.NodeId]
	if n == nil || n.kind != kindDir {
		return fuse.ENOTDIR
	}
	for i := in.Offset; i < uint64(len(n.names)); i++ {
		c := n.children[n.names[i]]
		var a fuse.Attr
		f.m.tree.attr(c, &a)
		if !out.AddDirEntry(fuse.DirEntry{Name: n.names[i], Mode: a.Mode, Ino: c.id, Off: i + 1}) {
			break
		}
	}
	return fuse.OK
}

func (f *fsys) ReleaseDir(in *fuse.ReleaseIn) {}

// Open opens a device the module's way, or a sysfs file. Every file is
// opened with direct I/O: each read and write reaches the model as one
// request of the caller's size, and nothing is cached.
func (f *fsys) Open(cancel <-chan struct{}, in *fuse.OpenIn, out *fuse.OpenOut) fuse.Status {
	n := f.node(in.NodeId)
	if n == nil {
		return fuse.ENOENT
	}
	of := &openFile{n: n}
	switch n.kind {
	case kindDir:
		return fuse.Status(syscall.EISDIR)
	case kindSys:
		if in.Flags&syscall.O_ACCMODE != syscall.O_RDONLY && n.perm&0o200 == 0 {
			return fuse.EACCES // kernfs refuses to open a read-only attribute for writing
		}
	case kindDev:
		tid := int(in.Caller.Pid)
		h, errno := n.tile.openDev(n.mn, tid, processOf(tid), cancel)
		if errno != 0 {
			return fuse.Status(errno)
		}
		of.dev = h
	}
	f.mu.Lock()
	f.nextFh++
	fh := f.nextFh
	if f.files == nil {
		f.files = map[uint64]*openFile{}
	}
	f.files[fh] = of
	f.mu.Unlock()
	out.Fh = fh
	out.OpenFlags = fuse.FOPEN_DIRECT_IO
	return fuse.OK
}

func (f *fsys) file(fh uint64) *openFile {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files[fh]
}

func (f *fsys) Read(cancel <-chan struct{}, in *fuse.ReadIn, buf []byte) (fuse.ReadResult, fuse.Status) {
	of := f.file(in.Fh)
	if of == nil {
		return nil, fuse.EBADF
	}
	if of.dev != nil {
		n, errno := of.dev.read(buf, in.Flags&syscall.O_NONBLOCK != 0, cancel)
		if errno != 0 {
			return nil, fuse.Status(errno)
		}
		return fuse.ReadResultData(buf[:n]), fuse.OK
	}
	// A sysfs file renders at a read from offset 0, and later reads
	// continue in that text, as kernfs does.
	f.mu.Lock()
	defer f.mu.Unlock()
	if in.Offset == 0 || of.snap == nil {
		of.snap = of.n.tile.sysText(of.n.sys)
	}
	if in.Offset >= uint64(len(of.snap)) {
		return fuse.ReadResultData(nil), fuse.OK
	}
	return fuse.ReadResultData(of.snap[in.Offset:min(uint64(len(of.snap)), in.Offset+uint64(len(buf)))]), fuse.OK
}

func (f *fsys) Write(cancel <-chan struct{}, in *fuse.WriteIn, data []byte) (uint32, fuse.Status) {
	of := f.file(in.Fh)
	if of == nil {
		return 0, fuse.EBADF
	}
	if of.dev != nil {
		n, errno := of.dev.write(data, in.Flags&syscall.O_NONBLOCK != 0, cancel)
		return uint32(n), fuse.Status(errno)
	}
	if of.n.sys != sysMFZID {
		return 0, fuse.EACCES
	}
	t := of.n.tile
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	if t.m.closed {
		return 0, fuse.EIO
	}
	if errno := t.writeMFZIDLocked(int32(in.Caller.Pid), data); errno != 0 {
		return 0, fuse.Status(errno)
	}
	return uint32(len(data)), fuse.OK
}

// Flush comes, synchronously, with every close() of a descriptor.
func (f *fsys) Flush(cancel <-chan struct{}, in *fuse.FlushIn) fuse.Status {
	if of := f.file(in.Fh); of != nil && of.dev != nil {
		of.dev.flush()
	}
	return fuse.OK
}

// Release comes once the last descriptor of an open is closed, after
// close() has returned.
func (f *fsys) Release(cancel <-chan struct{}, in *fuse.ReleaseIn) {
	f.mu.Lock()
	of := f.files[in.Fh]
	delete(f.files, in.Fh)
	f.mu.Unlock()
	if of != nil && of.dev != nil {
		of.dev.release()
	}
}

// processOf returns the process (thread group) of thread tid, from
// /proc/TID/status, or tid itself if that cannot be read.
func processOf(tid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", tid))
	if err != nil {
		return tid
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		if v, ok := bytes.CutPrefix(s.Bytes(), []byte("Tgid:")); ok {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(v))); err == nil {
				return pid
			}
		}
	}
	return tid
}
