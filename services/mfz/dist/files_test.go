package dist

import (
	"sort"
	"testing"
)

// Handles go round 0..254, so a freed handle is reused as late as
// possible (a neighbour may still send requests under it); past 255 files
// a file goes without one.
func TestFileTableHandles(t *testing.T) {
	ft := newFileTable()
	var fs []*file
	add := func(i int) *file {
		f := &file{id: fileID{byte(i), byte(i >> 8)}, name: "f.mfz", phase: phaseHeld}
		ft.add(f)
		fs = append(fs, f)
		return f
	}
	for i := 0; i < 3; i++ {
		if f := add(i); f.handle != uint8(i) || ft.byHandle(uint8(i)) != f {
			t.Fatalf("file %d got handle %d", i, f.handle)
		}
	}
	ft.remove(fs[1])
	if ft.byHandle(1) != nil || ft.byID[fs[1].id] != nil {
		t.Fatal("a removed file keeps its handle or its id")
	}
	if f := add(3); f.handle != 3 {
		t.Fatalf("handle %d after freeing 1, want 3 (the freed one reused last)", f.handle)
	}
	for i := 4; i <= maxHandle+1; i++ {
		add(i)
	}
	if h := fs[len(fs)-1].handle; h != 1 {
		t.Fatalf("the 255th file got handle %d, want 1 (the only one free)", h)
	}
	if f := add(1000); f.handle != noHandle || len(ft.byID) != maxHandle+2 {
		t.Fatalf("the 256th file got handle %d", f.handle)
	}
	ft.remove(fs[len(fs)-1]) // handleless: frees nothing
	if ft.byHandle(1) == nil {
		t.Fatal("removing a file with no handle freed another's")
	}
}

// The dominant file of each name: the newest version (a tombstone like
// any), the larger id on a tie; names() says which names changed.
func TestFileTableNames(t *testing.T) {
	ft := newFileTable()
	mk := func(name string, v int64, id byte, p phase) *file {
		return &file{id: fileID{id}, name: name, version: v, phase: p}
	}
	a1, a2, a2b := mk("a.mfz", 1, 1, phaseHeld), mk("a.mfz", 2, 2, phaseReceiving), mk("a.mfz", 2, 3, phaseReceiving)
	b5, bDel := mk("b.mfz", 5, 4, phaseHeld), mk("b.mfz", 6, 5, phaseTombstone)
	changedNames := func() []string {
		var out []string
		for _, f := range ft.names() {
			out = append(out, f.name+"@"+string('0'+rune(f.id[0])))
		}
		sort.Strings(out)
		return out
	}
	for i, c := range []struct {
		add, remove []*file
		changed     []string
		dominant    map[string]*file
	}{
		{[]*file{a1, b5}, nil, []string{"a.mfz@1", "b.mfz@4"}, map[string]*file{"a.mfz": a1, "b.mfz": b5}},
		{[]*file{a2}, nil, []string{"a.mfz@2"}, map[string]*file{"a.mfz": a2, "b.mfz": b5}},
		{[]*file{a2b}, nil, []string{"a.mfz@3"}, map[string]*file{"a.mfz": a2b, "b.mfz": b5}},
		{nil, nil, nil, map[string]*file{"a.mfz": a2b, "b.mfz": b5}},
		{[]*file{bDel}, nil, []string{"b.mfz@5"}, map[string]*file{"a.mfz": a2b, "b.mfz": bDel}},
		{nil, []*file{a2b}, []string{"a.mfz@2"}, map[string]*file{"a.mfz": a2, "b.mfz": bDel}},
		{nil, []*file{a1, a2}, nil, map[string]*file{"b.mfz": bDel}},
	} {
		for _, f := range c.add {
			ft.add(f)
		}
		for _, f := range c.remove {
			ft.remove(f)
		}
		got := changedNames()
		if len(got) != len(c.changed) {
			t.Fatalf("step %d: changed %v, want %v", i, got, c.changed)
		}
		for k := range got {
			if got[k] != c.changed[k] {
				t.Fatalf("step %d: changed %v, want %v", i, got, c.changed)
			}
		}
		if len(ft.byName) != len(c.dominant) {
			t.Fatalf("step %d: %d names, want %d", i, len(ft.byName), len(c.dominant))
		}
		for name, f := range c.dominant {
			if ft.byName[name] != f {
				t.Fatalf("step %d: %s is dominated by %v, want %v", i, name, ft.byName[name].id, f.id)
			}
		}
	}
}
