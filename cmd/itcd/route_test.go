package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/services/routes"
	"github.com/t2tiles/itcd/sim/tilegrid"
	"github.com/t2tiles/itcd/sim/tilegrid/gridtest"
)

// TestRouteCommand: `itcd route` on a 3x3 grid lists the eight other
// tiles, names one by prefix and by directions, and says what is wrong
// with a bad request.
func TestRouteCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real daemons")
	}
	d, err := os.MkdirTemp("", "route")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	cfg := tilegrid.DefaultConfig(3, 3)
	cfg.Dir, cfg.Seed = d, 3
	g := gridtest.Start(t, cfg)
	run := g.Tile(tilegrid.Coord{}).RunDir
	var tab routes.Table
	deadline := time.Now().Add(30 * time.Second)
	// Every tile reachable, and every link known (both ends list it):
	// until then a route may still shorten.
	links := len(g.Geometry().AllLinks()) / 2
	for len(tab.Routes) != 8 || tab.Links != links {
		if time.Now().After(deadline) {
			t.Fatalf("the corner reaches %d tiles, want 8, over %d links, want %d", len(tab.Routes), tab.Links, links)
		}
		time.Sleep(20 * time.Millisecond)
		code, out, errs := runCapture(t, "route", "--json", "--run-dir", run)
		if code != 0 {
			t.Fatalf("route --json: exit %d, %s", code, errs)
		}
		if err := json.Unmarshal([]byte(out), &tab); err != nil {
			t.Fatalf("route --json: %v in %q", err, out)
		}
	}
	code, out, _ := runCapture(t, "route", "--run-dir", run)
	if code != 0 || !strings.Contains(out, "8 reachable") || !strings.Contains(out, "ALTERNATIVES") {
		t.Errorf("route: exit %d\n%s", code, out)
	}
	far := tab.Routes[len(tab.Routes)-1]
	code, out, errs := runCapture(t, "route", "--run-dir", run, far.Tile.String()[:6])
	if code != 0 || !strings.Contains(out, "paths that share no link") || !strings.Contains(out, fmt.Sprintf("%d hops; ", far.Hops)) {
		t.Errorf("route %s: exit %d\n%s%s", far.Tile.String()[:6], code, out, errs)
	}
	code, out, _ = runCapture(t, "route", "--run-dir", run, far.Path)
	if code != 0 || !strings.Contains(out, far.Tile.String()) {
		t.Errorf("route %s: exit %d\n%s", far.Path, code, out)
	}
	for _, tc := range []struct {
		args []string
		code int
		errs string
	}{
		{[]string{"WT"}, 1, "no link there"},
		{[]string{"ffffffff"}, 1, "no known tile"},
		{[]string{"--paths", "4", "ET"}, 2, ""},
		{[]string{"ET", "NE"}, 2, ""},
	} {
		code, _, errs := runCapture(t, append([]string{"route", "--run-dir", run}, tc.args...)...)
		if code != tc.code || !strings.Contains(errs, tc.errs) {
			t.Errorf("route %v: exit %d, stderr %q; want %d and %q", tc.args, code, errs, tc.code, tc.errs)
		}
	}
}
