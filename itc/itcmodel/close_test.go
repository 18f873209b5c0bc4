//go:build !(arm || 386 || mips || mipsle)

package itcmodel_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/itc/itcmodel"
)

func mounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(string(b), " "+dir+" ")
}

func newModel(t *testing.T) *itcmodel.Model {
	t.Helper()
	m, err := itcmodel.New(itcmodel.Config{})
	if errors.Is(err, itcmodel.ErrUnavailable) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCloseUnmounts(t *testing.T) {
	m := newModel(t)
	if !mounted(t, m.Dir()) {
		t.Fatalf("%s is not mounted", m.Dir())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if mounted(t, m.Dir()) {
		t.Fatalf("%s still mounted after Close", m.Dir())
	}
	if _, err := os.Stat(m.Dir()); !os.IsNotExist(err) {
		t.Errorf("mount point left behind: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := m.Tile("late"); !errors.Is(err, itcmodel.ErrClosed) {
		t.Errorf("Tile after Close: %v, want ErrClosed", err)
	}
}

// TestCloseWithOpenDescriptor: a test that fails before closing its
// descriptors leaves no mount: Close wakes a blocked reader (EIO),
// detaches the mount and says so.
func TestCloseWithOpenDescriptor(t *testing.T) {
	m := newModel(t)
	a, err := m.Tile("a")
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(a.DevPath("bulk"), unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer unix.Close(fd)
	read := make(chan error, 1)
	go func() {
		var buf [255]byte
		for {
			_, err := unix.Read(fd, buf[:])
			if err != unix.EINTR {
				read <- err
				return
			}
		}
	}()
	waitFor(t, "the read waiting", func() bool { return itcmodel.Waiting(m) == 1 })
	err = m.Close()
	if err == nil || !strings.Contains(err.Error(), "still in use") {
		t.Errorf("Close with a descriptor open: %v, want an error that says the mount was in use", err)
	}
	if err := <-read; err != unix.EIO {
		t.Errorf("blocked read after Close: %v, want EIO", err)
	}
	if mounted(t, m.Dir()) {
		t.Errorf("%s still mounted", m.Dir())
	}
}
