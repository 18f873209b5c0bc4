//go:build !(arm || 386 || mips || mipsle)

package tile_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/tile"
)

// TestModelHeldServiceDevice: a tile whose bulk or flash device another
// opener holds does not start; tile.New's error is EBUSY and names the
// holder and what to do.
func TestModelHeldServiceDevice(t *testing.T) {
	_, ma, _ := modelTiles(t)
	for _, name := range []string{"bulk", "flash"} {
		t.Run(name, func(t *testing.T) {
			fd, err := unix.Open(ma.DevPath(name), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			tt, err := tile.New(modelConfig(t, ma, "phys"), tile.Options{})
			if err == nil {
				// Run on an ended context releases what New opened.
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				tt.Run(ctx)
				t.Fatalf("tile.New with %s held: no error", name)
			}
			holder := fmt.Sprintf("held by pid %d", os.Getpid())
			if !errors.Is(err, unix.EBUSY) || !strings.Contains(err.Error(), ma.DevPath(name)) ||
				!strings.Contains(err.Error(), holder) || !strings.Contains(err.Error(), "stop it") {
				t.Fatalf("tile.New with %s held: %v\nwant EBUSY naming the device, %q and what to do", name, err, holder)
			}
			t.Logf("tile.New: %v", err)
		})
	}
}

// TestModelHeldMFMDevice: when another thread owns mfzid and holds an
// MFM device (as mfmt2 does today), the tile starts and carries service
// traffic; its status says why its identity is not held: the device is
// busy, who holds it, and to stop it or set kernel.mfm_devices = false.
func TestModelHeldMFMDevice(t *testing.T) {
	_, ma, mb := modelTiles(t)
	held := make(chan error, 1)
	release, released := make(chan struct{}), make(chan struct{})
	go func() { // an mfmt2: writes mfzid, opens mfm/ET and holds it
		runtime.LockOSThread() // never unlocked: the thread ends here
		defer close(released)
		if err := writeMFZID(ma, "mfmt2"); err != nil {
			held <- err
			return
		}
		dev, err := unix.Open(ma.DevPath("mfm/ET"), unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		held <- err
		if err == nil {
			<-release
			unix.Close(dev)
		}
	}()
	if err := <-held; err != nil {
		t.Fatalf("holding mfm/ET: %v", err)
	}
	// Registered after the model's cleanup, so it runs before it: the
	// model unmounts with no descriptor open.
	t.Cleanup(func() {
		close(release)
		<-released
	})

	a := startTile(t, ma, modelConfig(t, ma, "phys"))
	b := startTile(t, mb, modelConfig(t, mb, "phys"))
	waitLive(t, a, b)
	st := a.Status()
	for _, want := range []string{ma.DevPath("mfm/ET"), fmt.Sprintf("held by pid %d", os.Getpid()), "kernel.mfm_devices = false"} {
		if !strings.Contains(st.MFZIDError, want) {
			t.Errorf("a's mfzid_error %q: says nothing of %q", st.MFZIDError, want)
		}
	}
	if l := a.link(packet.ET); l.State != control.Live {
		t.Errorf("a's ET is %s with an MFM device held, want live", l.State)
	}
	t.Logf("a's mfzid_error: %s", st.MFZIDError)
}
