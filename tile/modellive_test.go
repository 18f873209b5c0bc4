//go:build !(arm || 386 || mips || mipsle)

package tile_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/services/counter"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/services/mfz/dist"
)

// Two real tiles on the model of the itc_pkt module: they go live (every
// hello arrives on the flash device), exchange the counter service's
// values, carry a signed file, and see a pulled cable.

// TestModelTilesLiveCounter: the tiles go live on hellos read from
// flash, and a value written to either tile's counter file shows in the
// other's counter status, asked over its control socket.
func TestModelTilesLiveCounter(t *testing.T) {
	_, a, b := modelPair(t, "phys")
	waitLive(t, a, b)
	if h := b.link(packet.WT).Hellos; h == 0 {
		t.Fatalf("b live on WT with no hello counted")
	}
	// Each tile's value shows in the other's counter status.
	for _, s := range []struct {
		from, to *modelTile
		d        packet.Dir // the link the value arrives on
		value    int64
	}{{a, b, packet.WT, 42}, {b, a, packet.ET, -7}} {
		if err := os.WriteFile(filepath.Join(s.from.cfg.StateDir, "counter"), []byte(fmt.Sprintln(s.value)), 0o644); err != nil {
			t.Fatal(err)
		}
		cc, err := control.Dial(s.to.cfg.RunDir)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		waitFor(t, fmt.Sprintf("%s's counter status shows %s's %d", s.to.mt.Name(), s.from.mt.Name(), s.value), func() bool {
			var st counter.Status
			if err := cc.Call("counter", nil, &st); err != nil {
				t.Fatalf("counter: %v", err)
			}
			for _, n := range st.Neighbours {
				if n.Dir == s.d && n.Tile == s.from.Self() && n.Value == s.value {
					return true
				}
			}
			return false
		})
	}
}

// TestModelTilesSignedFile: a signed file pushed at a (the control
// command "push", as `itcd push` sends it) is fetched and verified by b,
// whose live copy is the pushed file byte for byte.
func TestModelTilesSignedFile(t *testing.T) {
	_, ma, mb := modelTiles(t)
	trust := t.TempDir()
	file := signedFile(t, trust, t.TempDir(), "physics.mfz", 20<<10)
	ca, cb := modelConfig(t, ma, "phys"), modelConfig(t, mb, "phys")
	ca.MFZ.TrustDir, cb.MFZ.TrustDir = trust, trust
	a, b := startTile(t, ma, ca), startTile(t, mb, cb)
	waitLive(t, a, b)

	cc, err := control.Dial(a.cfg.RunDir)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	var res dist.PushResult
	if err := cc.Call("push", dist.PushArgs{Path: file}, &res); err != nil {
		t.Fatalf("push at a: %v", err)
	}
	if res.Name != "physics.mfz" || res.Already {
		t.Fatalf("push at a: %+v", res)
	}
	waitFor(t, "b holds physics.mfz whole", func() bool {
		p, ok := dist.ProgressOf(b.Status().Sections, "physics.mfz", res.Version)
		return ok && p.Complete
	})
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dist.StoreDir(cb.StateDir), "live", "physics.mfz"))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("b's live copy differs from the pushed file (%d bytes, want %d; err %v)", len(got), len(want), err)
	}
}

// TestModelTilesPulledLink: pulling the cable (status 0 at both ends)
// gives mfm.sock an MFM-incompatible then a disconnect event, and the
// status shows the neighbour absent; plugging it back makes it live.
func TestModelTilesPulledLink(t *testing.T) {
	m, a, b := modelPair(t, "phys")
	waitLive(t, a, b)
	ma := dialSock(t, a, control.MFMSocket)
	ma.until(t, "a's mfm_compatible for ET", func(msg []byte) bool { return isTEP(msg, packet.EventMFMCompatible, packet.ET) }, nil)

	if err := m.SetLink(a.mt, packet.ET, false); err != nil {
		t.Fatal(err)
	}
	incompatible := false
	ma.until(t, "a's disconnect for ET", func(msg []byte) bool { return isTEP(msg, packet.EventDisconnect, packet.ET) },
		func(msg []byte) { incompatible = incompatible || isTEP(msg, packet.EventMFMIncompatible, packet.ET) })
	if !incompatible {
		t.Errorf("no mfm_incompatible for ET before the disconnect")
	}
	for _, s := range []struct {
		mt *modelTile
		d  packet.Dir
	}{{a, packet.ET}, {b, packet.WT}} {
		waitFor(t, s.mt.mt.Name()+" sees its neighbour absent", func() bool {
			l := s.mt.link(s.d)
			return l.State == control.Absent && !l.MFMCompatible
		})
	}

	if err := m.SetLink(a.mt, packet.ET, true); err != nil {
		t.Fatal(err)
	}
	ma.until(t, "a's connect for ET", func(msg []byte) bool { return isTEP(msg, packet.EventConnect, packet.ET) }, nil)
	waitLive(t, a, b)
}

// signedFile packs size bytes of seeded random data as dir/name, signed
// by a key from a fixed seed whose public half it writes to
// trustDir/signer.pub, and returns the file's path.
func signedFile(t *testing.T, trustDir, dir, name string, size int) string {
	t.Helper()
	pubKey, priv, err := ed25519.GenerateKey(mrand.New(mrand.NewSource(1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(trustDir, "signer.pub"), mfz.MarshalPublicKey(pubKey, "test"), 0o644); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, size)
	mrand.New(mrand.NewSource(2)).Read(payload)
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := mfz.Pack(f, bytes.NewReader(payload), mfz.PackOptions{Name: name, Version: 1_700_000_000_000_000_000, Key: priv}); err != nil {
		t.Fatal(err)
	}
	return path
}
