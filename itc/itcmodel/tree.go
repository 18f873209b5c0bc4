//go:build !(arm || 386 || mips || mipsle)

package itcmodel

import (
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// The file tree the model serves, one directory per tile:
//
//	<tile>/dev/itc/{pru/0,pru/1,bulk,flash,pktevents,itcevents}
//	<tile>/dev/itc/mfm/{ET,SE,SW,WT,NW,NE}
//	<tile>/sys/class/itc_pkt/{status,mfzid,statistics,fifos}
//
// Nodes are never removed, so a node id is never reused and the kernel
// may cache entries and attributes for as long as it likes. Device nodes
// are regular files, not character devices: a character device on a
// FUSE mount would open the kernel's driver of that number, not the
// model.

type nodeKind uint8

const (
	kindDir nodeKind = iota
	kindDev
	kindSys
)

type node struct {
	id       uint64
	kind     nodeKind
	perm     uint32
	tile     *Tile
	mn       minor  // kindDev
	sys      string // kindSys
	names    []string
	children map[string]*node
}

// tree holds the nodes; the Model's mu guards it.
type tree struct {
	nodes map[uint64]*node
	next  uint64
	born  time.Time
}

func (tr *tree) init() {
	tr.nodes = map[uint64]*node{}
	tr.next = fuse.FUSE_ROOT_ID
	tr.born = time.Now()
	tr.add(nil, "", &node{kind: kindDir, perm: 0o755})
}

func (tr *tree) root() *node { return tr.nodes[fuse.FUSE_ROOT_ID] }

func (tr *tree) add(parent *node, name string, n *node) *node {
	n.id = tr.next
	tr.next++
	tr.nodes[n.id] = n
	if n.kind == kindDir {
		n.children = map[string]*node{}
	}
	if parent != nil {
		parent.children[name] = n
		parent.names = append(parent.names, name)
	}
	return n
}

// dir returns the directory at path under parent, making what is missing.
func (tr *tree) dir(parent *node, path string) *node {
	for _, name := range strings.Split(path, "/") {
		c := parent.children[name]
		if c == nil {
			c = tr.add(parent, name, &node{kind: kindDir, perm: 0o755})
		}
		parent = c
	}
	return parent
}

func (tr *tree) addTile(t *Tile) {
	top := tr.dir(tr.root(), t.name)
	itc := tr.dir(top, "dev/itc")
	for mn, name := range devNames {
		parent := itc
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			parent, name = tr.dir(itc, name[:i]), name[i+1:]
		}
		// The module's nodes are made root-only (0600): there is no udev rule.
		tr.add(parent, name, &node{kind: kindDev, perm: 0o600, tile: t, mn: minor(mn)})
	}
	sys := tr.dir(top, "sys/class/itc_pkt")
	for _, name := range sysNames {
		perm := uint32(0o444)
		if name == sysMFZID {
			perm = 0o644
		}
		tr.add(sys, name, &node{kind: kindSys, perm: perm, tile: t, sys: name})
	}
}

// attr fills out the attributes of n. Sysfs files report 4096 bytes, as
// sysfs does; device nodes 0. Reads ignore sizes (direct I/O).
func (tr *tree) attr(n *node, a *fuse.Attr) {
	a.Ino = n.id
	a.Nlink = 1
	a.Mode = n.perm
	switch n.kind {
	case kindDir:
		a.Mode |= syscall.S_IFDIR
		a.Nlink = 2
	case kindSys:
		a.Mode |= syscall.S_IFREG
		a.Size = 4096
	default:
		a.Mode |= syscall.S_IFREG
	}
	a.SetTimes(&tr.born, &tr.born, &tr.born)
	a.Blksize = 4096
}
