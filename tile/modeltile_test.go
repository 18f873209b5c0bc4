// go-fuse, under the model, does not build for 32-bit targets, so neither
// do these tests; the unit tests built for linux/arm run without them.

//go:build !(arm || 386 || mips || mipsle)

package tile_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/control"
	"github.com/t2tiles/itcd/internal/conf"
	"github.com/t2tiles/itcd/internal/syncbuf"
	"github.com/t2tiles/itcd/itc/itcmodel"
	"github.com/t2tiles/itcd/itc/packet"
	"github.com/t2tiles/itcd/p2p"
	"github.com/t2tiles/itcd/tile"
)

// Helpers for the end-to-end tests of real tiles (tile.New, device
// "kernel", the code of `itcd run`) on the FUSE model of the itc_pkt
// module (itc/itcmodel). They skip where FUSE is unavailable.

// deadline bounds every wait for the tiles to reach a state.
const deadline = 30 * time.Second

// modelTile is a running tile on a model tile.
type modelTile struct {
	*tile.Tile
	mt  *itcmodel.Tile
	cfg tile.Config
	log *syncbuf.Buffer
}

// modelConfig is a tile's config with every kernel path in the model
// tile's directory and short liveness timers.
func modelConfig(t testing.TB, mt *itcmodel.Tile, mfzid string) tile.Config {
	dir := t.TempDir()
	cfg := tile.DefaultConfig()
	cfg.StateDir, cfg.RunDir = filepath.Join(dir, "state"), filepath.Join(dir, "run")
	cfg.Device = "kernel"
	cfg.Kernel.Path = mt.DevPath("bulk")
	cfg.Kernel.FlashPath = mt.DevPath("flash")
	cfg.Kernel.MFMDir = mt.DevPath("mfm")
	cfg.Kernel.MFZIDPath = mt.SysPath("mfzid")
	cfg.Kernel.StatusPath = mt.SysPath("status")
	cfg.Kernel.StatusInterval = 10 * time.Millisecond
	cfg.MFZID = mfzid
	cfg.HelloInterval = conf.Duration(50 * time.Millisecond)
	cfg.DeadAfter = conf.Duration(1500 * time.Millisecond)
	cfg.LogLevel = "debug"
	return cfg
}

// startTile builds the tile with tile.New and runs it until the test
// ends; the cleanup stops it before the model's (registered earlier)
// unmounts. Its log is shown if the test fails.
func startTile(t testing.TB, mt *itcmodel.Tile, cfg tile.Config) *modelTile {
	t.Helper()
	log := &syncbuf.Buffer{}
	tt, err := tile.New(cfg, tile.Options{Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("tile %s: %v", mt.Name(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("tile %s: Run: %v", mt.Name(), err)
			}
		case <-time.After(deadline):
			t.Errorf("tile %s did not stop within %v", mt.Name(), deadline)
		}
		if t.Failed() {
			t.Logf("log of tile %s:\n%s", mt.Name(), log.String())
		}
	})
	select {
	case <-tt.Ready():
	case err := <-done:
		t.Fatalf("tile %s stopped: %v", mt.Name(), err)
	case <-time.After(deadline):
		t.Fatalf("tile %s not ready within %v", mt.Name(), deadline)
	}
	return &modelTile{Tile: tt, mt: mt, cfg: cfg, log: log}
}

// modelTiles mounts a model with tiles a and b, a's ET joined to b's WT;
// no itcd runs on them yet.
func modelTiles(t *testing.T) (*itcmodel.Model, *itcmodel.Tile, *itcmodel.Tile) {
	t.Helper()
	return itcmodel.PairForTest(t, itcmodel.Config{})
}

// modelPair is modelTiles with a tile running on each, both with physics
// identity mfzid.
func modelPair(t *testing.T, mfzid string) (*itcmodel.Model, *modelTile, *modelTile) {
	t.Helper()
	m, ma, mb := modelTiles(t)
	return m, startTile(t, ma, modelConfig(t, ma, mfzid)), startTile(t, mb, modelConfig(t, mb, mfzid))
}

// link returns the tile's status of link d.
func (mt *modelTile) link(d packet.Dir) control.LinkStatus {
	for _, l := range mt.Status().Links {
		if l.Dir == d {
			return l
		}
	}
	return control.LinkStatus{}
}

// waitLive waits until a sees b live on its ET and b sees a on its WT.
func waitLive(t *testing.T, a, b *modelTile) {
	t.Helper()
	waitFor(t, "a and b live", func() bool {
		la, lb := a.link(packet.ET), b.link(packet.WT)
		return la.State == control.Live && lb.State == control.Live &&
			la.Tile != nil && *la.Tile == b.Self() && lb.Tile != nil && *lb.Tile == a.Self()
	})
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sockClient is a client of a tile's mfm.sock or service.sock.
type sockClient struct {
	c   *net.UnixConn
	buf [512]byte
}

func dialSock(t *testing.T, mt *modelTile, name string) *sockClient {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: filepath.Join(mt.cfg.RunDir, name), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &sockClient{c: c}
}

func (sc *sockClient) send(t *testing.T, msg []byte) {
	t.Helper()
	if _, err := sc.c.Write(msg); err != nil {
		t.Fatalf("write % x: %v", msg, err)
	}
}

// next reads one message within wait; nil if none came.
func (sc *sockClient) next(t *testing.T, wait time.Duration) []byte {
	t.Helper()
	m, err := sc.read(wait)
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return nil
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return m
}

// read reads one message within wait, for goroutines other than the
// test's own.
func (sc *sockClient) read(wait time.Duration) ([]byte, error) {
	sc.c.SetReadDeadline(time.Now().Add(wait))
	n, err := sc.c.Read(sc.buf[:])
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), sc.buf[:n]...), nil
}

// until reads messages until one satisfies ok and returns it; skip, if not
// nil, sees every message read before.
func (sc *sockClient) until(t *testing.T, what string, ok func([]byte) bool, skip func([]byte)) []byte {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		m := sc.next(t, time.Until(end))
		if m == nil {
			break
		}
		if ok(m) {
			return m
		}
		if skip != nil {
			skip(m)
		}
	}
	t.Fatalf("%s: not within %v", what, deadline)
	return nil
}

// isTEP reports whether m is a Tile Event of kind k for link d.
func isTEP(m []byte, k packet.Event, d packet.Dir) bool {
	e, err := p2p.ParseEvent(m)
	return err == nil && e.Kind == k && e.Dir == d
}

// mfmPacket is an MFM packet to or from link d; byte 1's top three bits
// are the MFM type, and type 0 (the kernel's handshake) never reaches
// user space, so the payload starts with type 1.
func mfmPacket(t *testing.T, d packet.Dir, payload string) []byte {
	t.Helper()
	p, err := packet.AppendMFM(nil, d, false, false, append([]byte{0x20}, payload...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mfmPayload returns the payload after the type byte of an MFM packet
// from link d, or ok false if m is none.
func mfmPayload(m []byte, d packet.Dir) (string, bool) {
	p, err := packet.Decode(m)
	if err != nil || p.Kind != packet.KindMFM || p.Dir != d || len(p.Payload) < 1 {
		return "", false
	}
	return string(p.Payload[1:]), true
}
