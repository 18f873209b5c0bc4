package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"encoding/xml"
	"fmt"
	mrand "math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/t2tiles/itcd/internal/emulation"
	"github.com/t2tiles/itcd/services/mfz"
	"github.com/t2tiles/itcd/sim/tilegrid"
)

func TestSimPushFlagErrors(t *testing.T) {
	dir := t.TempDir()
	key, file := makeSignedFile(t, dir, "f.mfz", 1000)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--until-complete"}, "go with --push"},
		{[]string{"--timeout", "10s"}, "go with --push"},
		{[]string{"--at", "t-0-0"}, "go with --push"},
		{[]string{"--push", filepath.Join(dir, "missing.mfz"), "--trust", key}, "no such file"},
		{[]string{"--push", key, "--trust", key}, "--push"},
		{[]string{"--grid", "2x2", "--push", file, "--trust", key, "--at", "t-5-5"}, "not a tile"},
		{[]string{"--grid", "2x2", "--push", file}, "needs --trust"},
	} {
		var out, errb bytes.Buffer
		if code := runSim(tc.args, &out, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want exit 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// makeSignedFile writes a key pair and a signed file of size random bytes
// (seeded, so runs repeat) into dir; it returns the public key's path and
// the file's.
func makeSignedFile(t testing.TB, dir, name string, size int) (pub, file string) {
	t.Helper()
	return makeSignedFileWithSeed(t, dir, name, size, 1)
}

// makeSignedFileWithSeed is makeSignedFile with the key made from seed.
func makeSignedFileWithSeed(t testing.TB, dir, name string, size int, seed int64) (pub, file string) {
	t.Helper()
	pubKey, priv, err := ed25519.GenerateKey(mrand.New(mrand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	pub = filepath.Join(dir, "signer.pub")
	if err := os.WriteFile(pub, mfz.MarshalPublicKey(pubKey, "test"), 0o644); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, size)
	mrand.New(mrand.NewSource(2)).Read(payload)
	file = filepath.Join(dir, name)
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := mfz.Pack(f, bytes.NewReader(payload), mfz.PackOptions{Name: name, Version: 1_700_000_000_000_000_000, Key: priv}); err != nil {
		t.Fatal(err)
	}
	return pub, file
}

// TestSimPushUntilComplete pushes a file into a small grid the way a user
// would and checks the report and every tile's copy.
func TestSimPushUntilComplete(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	dir := t.TempDir()
	key, file := makeSignedFile(t, dir, "physics.mfz", 48<<10)
	gridDir := filepath.Join(dir, "grid")
	var out, errb bytes.Buffer
	code := runSim([]string{"--grid", "2x2", "--rate", "512KB/s", "--dir", gridDir, "--trust", key,
		"--push", file, "--at", "t-1-1", "--until-complete", "--timeout", "60s", "--json"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errb.String(), out.String())
	}
	var r simReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.AllComplete == nil || r.Lower == nil || r.Ratio == nil || r.Multi == nil || *r.Lower <= 0 {
		t.Fatalf("report lacks completion or bounds: %s", out.String())
	}
	// The push waited for the grid (and its routes) to settle, and the
	// report says when it came.
	if r.Pushed == nil || *r.Pushed <= 0 || *r.Pushed+*r.AllComplete > r.Duration+0.01 {
		t.Errorf("pushed_s %v, all_complete_s %v, duration_s %v", r.Pushed, *r.AllComplete, r.Duration)
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tile := range r.Tiles {
		if tile.Complete == nil {
			t.Errorf("%s: complete_s is null", tile.Name)
		}
		got, err := os.ReadFile(filepath.Join(tile.StateDir, "mfz", "live", "physics.mfz"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: live copy differs from the pushed file (err %v)", tile.Name, err)
		}
	}
}

// TestSimSlowdown runs a grid on a clock three times slower than the
// machine's: the push keeps the links' rate in the grid's time, so it takes
// no less than its bound there, and the grid's time passes slower than
// the machine's by the factor asked.
func TestSimSlowdown(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	const k = 3
	dir := t.TempDir()
	key, file := makeSignedFile(t, dir, "physics.mfz", 48<<10)
	var out, errb bytes.Buffer
	began := time.Now()
	code := runSim([]string{"--grid", "2x1", "--rate", "256KB/s", "--slowdown", fmt.Sprint(k), "--dir", filepath.Join(dir, "grid"),
		"--trust", key, "--push", file, "--until-complete", "--timeout", "20s", "--json"}, &out, &errb)
	machine := time.Since(began)
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errb.String(), out.String())
	}
	var r simReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.Slowdown != k || r.AllComplete == nil || r.Lower == nil {
		t.Fatalf("report: slowdown %v, all_complete_s %v, lower_bound_s %v", r.Slowdown, r.AllComplete, r.Lower)
	}
	// Paced by the machine's time, the file would arrive in a third of
	// its bound in the grid's time. Pacing sends a packet up to half a
	// step (2.5 ms) early, hence the margin.
	if *r.AllComplete < 0.95**r.Lower {
		t.Errorf("all complete after %.3f s of the grid's time, under the bound %.3f s: the links ran faster than their rate", *r.AllComplete, *r.Lower)
	}
	if min := time.Duration(k * r.Duration * float64(time.Second)); machine < min {
		t.Errorf("the run took %v of the machine's time for %.3f s of the grid's: want at least %v", machine, r.Duration, min)
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, tile := range r.Tiles {
		got, err := os.ReadFile(filepath.Join(tile.StateDir, "mfz", "live", "physics.mfz"))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: live copy differs from the pushed file (err %v)", tile.Name, err)
		}
	}
}

func TestSimBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--grid", "0x3"},
		{"--grid", "four"},
		{"--rate", "fast"},
		{"--loss", "2"},
		{"--trust", "/nonexistent/key.pub"},
		{"--slowdown", "0.5"},
		{"--slowdown", "1000"},
		{"--slowdown", "2", "--procs"},
		{"stray"},
	} {
		var out, errb bytes.Buffer
		if code := runSim(args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q", args, code, errb.String())
		}
	}
}

// simReport is the part of the --json report the tests read.
type simReport struct {
	Grid  string `json:"grid"`
	Rate  int    `json:"rate"`
	Tiles []struct {
		Name       string            `json:"name"`
		RunDir     string            `json:"run_dir"`
		StateDir   string            `json:"state_dir"`
		Neighbours map[string]string `json:"neighbours"`
		Complete   *float64          `json:"complete_s"`
		MFZID      string            `json:"mfzid"`
		LinkStates map[string]string `json:"link_states"`
	} `json:"tiles"`
	AllComplete *float64 `json:"all_complete_s"`
	Pushed      *float64 `json:"pushed_s"`
	Duration    float64  `json:"duration_s"`
	Slowdown    float64  `json:"slowdown"`
	Lower       *float64 `json:"lower_bound_s"`
	Multi       *float64 `json:"multipath_bound_s"`
	Ratio       *float64 `json:"ratio"`
	Links       []struct {
		From, Dir, To  string
		Packets, Bytes uint64
	} `json:"links"`
}

func runSimJSON(t *testing.T, args ...string) simReport {
	t.Helper()
	var out, errb bytes.Buffer
	if code := runSim(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r simReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	for _, tl := range r.Tiles {
		for d, st := range tl.Neighbours {
			if st != "live" {
				t.Errorf("%s sees %s as %s at the end", tl.Name, d, st)
			}
		}
		if tl.Complete != nil {
			t.Errorf("%s: complete_s %v without a push", tl.Name, *tl.Complete)
		}
	}
	if r.AllComplete != nil || r.Lower != nil || r.Pushed != nil {
		t.Error("completion, bound or push time without a push")
	}
	return r
}

func TestSimJSON(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(t.TempDir(), "alice.pub")
	os.WriteFile(key, []byte("not checked by the simulator\n"), 0o644)
	grid := filepath.Join(dir, "g")
	svg := filepath.Join(dir, "r.svg")
	r := runSimJSON(t, "--grid", "2x2", "--duration", "3s", "--json", "--dir", grid, "--report", svg,
		"--trust", key, "--rate", "32KB/s", "--seed", "7")
	if r.Grid != "2x2" || r.Rate != 32768 || len(r.Tiles) != 4 {
		t.Fatalf("report %+v", r)
	}
	// 2x2: five links, ten directions, every one used by hellos.
	if len(r.Links) != 10 {
		t.Errorf("%d link directions, want 10", len(r.Links))
	}
	for _, l := range r.Links {
		if l.Packets == 0 || l.Bytes == 0 {
			t.Errorf("link %+v carried nothing", l)
		}
	}
	for _, tl := range r.Tiles {
		if tl.RunDir != filepath.Join(grid, tl.Name, "run") || tl.StateDir != filepath.Join(grid, tl.Name, "state") {
			t.Errorf("%s: dirs %s %s", tl.Name, tl.RunDir, tl.StateDir)
		}
		if _, err := os.Stat(filepath.Join(tl.StateDir, "mfz", "trust", "alice.pub")); err != nil {
			t.Errorf("%s does not trust the key: %v", tl.Name, err)
		}
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	if err := xml.Unmarshal(b, new(struct{})); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("report is not SVG: %v", err)
	}
}

// TestSimProcs runs a grid of `itcd run` processes (this test binary as
// itcd, see TestMain) and checks none is left behind.
func TestSimProcs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	emulation.SkipNoExec(t)
	t.Setenv("ITCD_TEST_AS_MAIN", "1")
	grid := filepath.Join(t.TempDir(), "g")
	r := runSimJSON(t, "--grid", "2x2", "--procs", "--duration", "5s", "--json", "--dir", grid)
	if len(r.Tiles) != 4 {
		t.Fatalf("%d tiles", len(r.Tiles))
	}
	// Every tile process is gone.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(grid)) {
			t.Errorf("left running: %s", bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
	if _, err := os.Stat(filepath.Join(grid, "t-1-1", "itcd.log")); err != nil {
		t.Error(err)
	}
}

// TestSimDurationFromPush: with --push, --duration counts from the push,
// so the wait for the grid and its routes to settle does not eat it.
func TestSimDurationFromPush(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a grid")
	}
	dir := t.TempDir()
	key, file := makeSignedFile(t, dir, "physics.mfz", 8<<10)
	var out, errb bytes.Buffer
	if code := runSim([]string{"--grid", "2x1", "--dir", filepath.Join(dir, "grid"), "--trust", key,
		"--push", file, "--duration", "2s", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var r simReport
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("%v in %s", err, out.String())
	}
	if r.Pushed == nil || *r.Pushed <= 0 {
		t.Fatalf("no pushed_s in the report: %+v", r)
	}
	if after := r.Duration - *r.Pushed; after < 1.99 {
		t.Errorf("the run ended %.3f s after the push (pushed_s %.3f, duration_s %.3f), want 2 s", after, *r.Pushed, r.Duration)
	}
}

// TestSimMFZID: two physics regions; the report gives each tile's
// identity and each link's device state, "mfm" exactly between tiles of
// one identity.
func TestSimMFZID(t *testing.T) {
	r := runSimJSON(t, "--grid", "3x2", "--duration", "3s", "--json", "--dir", filepath.Join(t.TempDir(), "g"),
		"--mfzid", "A", "--mfzid", "x>=2=B")
	geo := tilegrid.Geometry{W: 3, H: 2}
	ids := map[tilegrid.Coord]string{}
	for _, tl := range r.Tiles {
		c, _ := tilegrid.ParseCoord(tl.Name)
		ids[c] = tl.MFZID
		if want := map[bool]string{true: "B", false: "A"}[c.X >= 2]; tl.MFZID != want {
			t.Errorf("%s: mfzid %q, want %q", tl.Name, tl.MFZID, want)
		}
	}
	mixed := 0
	for _, tl := range r.Tiles {
		c, _ := tilegrid.ParseCoord(tl.Name)
		for _, l := range geo.Links(c) {
			want := "up"
			if ids[l.To] == ids[c] {
				want = "mfm"
			} else {
				mixed++
			}
			if got := tl.LinkStates[l.Dir.String()]; got != want {
				t.Errorf("%s %v (to %s): %q, want %q", tl.Name, l.Dir, l.To.Name(), got, want)
			}
		}
	}
	if mixed == 0 {
		t.Error("no link between the regions")
	}
}
