package tube_test

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
	"github.com/t2tiles/itcd/tube"
	"golang.org/x/net/nettest"
)

// tubeSockWait is how long after its links are live a tile's tube.sock
// may take to appear before the test decides the daemon has none.
const tubeSockWait = 5 * time.Second

// realTiles starts two real daemons in this process, t-0-0 and t-1-0,
// joined over UDP (ET of the first is WT of the second), and returns
// their run dirs. While the daemon has no tube service (services/tubes)
// the test is skipped, saying so.
func realTiles(t *testing.T) (west, east string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs real daemons")
	}
	cfg := tilegrid.DefaultConfig(2, 1)
	cfg.Dir = shortDir(t)
	cfg.Seed = 1
	cfg.Profile.Rate = 2 << 20 // fast: these tests are of the API, not the link
	cfg.HelloInterval, cfg.DeadAfter = 100*time.Millisecond, 3*time.Second
	cfg.Keepalive, cfg.DownAfter = 100*time.Millisecond, 2*time.Second
	g := gridtest.Start(t, cfg)
	west = g.Tile(tilegrid.Coord{X: 0, Y: 0}).RunDir
	east = g.Tile(tilegrid.Coord{X: 1, Y: 0}).RunDir
	deadline := time.Now().Add(tubeSockWait)
	for _, d := range []string{west, east} {
		for {
			if _, err := os.Stat(filepath.Join(d, tube.SocketName)); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not appear within %v: the daemon serves no tube.sock", filepath.Join(d, tube.SocketName), tubeSockWait)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return west, east
}

// TestConnConformsGrid runs x/net/nettest's net.Conn suite over tubes
// between two real daemons.
func TestConnConformsGrid(t *testing.T) {
	west, east := realTiles(t)
	port := uint16(200)
	nettest.TestConn(t, func() (net.Conn, net.Conn, func(), error) {
		port++
		c1, c2, err := dialPair(t, west, east, port, false)
		if err != nil {
			return nil, nil, nil, err
		}
		return c1, c2, func() { c1.Close(); c2.Close() }, nil
	})
}

// TestMessagesGrid: messages of every size class cross real daemons
// whole and in order, and the sender learns each was delivered.
func TestMessagesGrid(t *testing.T) {
	west, east := realTiles(t)
	c1, c2, err := dialPair(t, west, east, 7, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	defer c2.Close()
	if c1.RemoteAddr().(tube.Addr).Tile == "" || c2.LocalAddr().(tube.Addr).Port != 7 {
		t.Errorf("addresses %v %v", c1.RemoteAddr(), c2.LocalAddr())
	}
	sizes := []int{0, 1, 252, 253, 254, 4096, tube.MaxMessage}
	go func() {
		for i, n := range sizes {
			if _, err := c1.WriteMessage(bytes.Repeat([]byte{byte(i)}, n)); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i, n := range sizes {
		m, err := c2.ReadMessage()
		if err != nil || len(m) != n || !bytes.Equal(m, bytes.Repeat([]byte{byte(i)}, n)) {
			t.Fatalf("message %d: %d bytes (want %d), %v", i, len(m), n, err)
		}
	}
	if err := c1.WaitDelivered(ctxFor(t, 30*time.Second), uint64(len(sizes))); err != nil {
		t.Fatal(err)
	}
	if c1.Received() < uint64(len(sizes)) {
		t.Errorf("delivered but received %d", c1.Received())
	}
}
