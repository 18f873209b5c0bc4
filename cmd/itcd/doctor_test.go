package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/itc/dev"
)

// runDoctor runs itcd doctor with an empty config file and args.
func runDoctor(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runDoctorConfig(t, "", args...)
}

// runDoctorConfig runs itcd doctor with config text and args.
func runDoctorConfig(t *testing.T, config string, args ...string) (int, string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "itcd.toml")
	if err := os.WriteFile(cfg, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := dispatch(append([]string{"doctor", "--config", cfg}, args...), &out, &errb)
	if errb.Len() > 0 {
		t.Logf("stderr: %s", errb.String())
	}
	return code, out.String()
}

func runDoctorJSON(t *testing.T, args ...string) (int, doctorReport) {
	t.Helper()
	return runDoctorConfigJSON(t, "", args...)
}

func runDoctorConfigJSON(t *testing.T, config string, args ...string) (int, doctorReport) {
	t.Helper()
	code, out := runDoctorConfig(t, config, append([]string{"--json"}, args...)...)
	var r doctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v in %s", err, out)
	}
	if r.Exit != code {
		t.Errorf("report says exit %d, the command %d", r.Exit, code)
	}
	return code, r
}

// TestDoctorNoModule: on a machine without itc_pkt (empty dirs) doctor
// says so plainly and exits 1.
func TestDoctorNoModule(t *testing.T) {
	devRoot, sysRoot := t.TempDir(), t.TempDir()
	code, out := runDoctor(t, "--dev-root", devRoot, "--sys-root", sysRoot)
	if code != 1 || !strings.Contains(out, "itc_pkt NOT LOADED") || !strings.Contains(out, "modprobe itc_pkt") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	code, r := runDoctorJSON(t, "--dev-root", devRoot, "--sys-root", sysRoot)
	if code != 1 || r.Module.Loaded || len(r.Problems) != 1 || r.Problems[0].Level != "error" ||
		!strings.Contains(r.Problems[0].What, "itc_pkt is not loaded") || r.Devices != nil {
		t.Fatalf("exit %d: %+v", code, r)
	}
}

func TestDoctorFlags(t *testing.T) {
	var out, errb bytes.Buffer
	if code := dispatch([]string{"doctor", "extra"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unexpected argument") {
		t.Errorf("exit %d, %s", code, errb.String())
	}
	errb.Reset()
	if code := dispatch([]string{"doctor", "--config", filepath.Join(t.TempDir(), "none.toml")}, &out, &errb); code != 2 {
		t.Errorf("a named config that is missing: exit %d, %s", code, errb.String())
	}
}

// TestDoctorPaths: the config's paths, or everything under the roots.
func TestDoctorPaths(t *testing.T) {
	k := dev.DefaultKernelConfig()
	k.FlashPath = "/x/flash"
	k.MFMDir = "/m"
	p := newDoctorPaths(k, "", "")
	if p.devPath["bulk"] != "/dev/itc/bulk" || p.devPath["flash"] != "/x/flash" || p.devPath["mfm/ET"] != "/m/ET" ||
		p.devPath["pru/0"] != "/dev/itc/pru/0" || p.status != "/sys/class/itc_pkt/status" || p.fifos != "/sys/class/itc_pkt/fifos" {
		t.Errorf("config paths: %+v", p)
	}
	p = newDoctorPaths(k, "/d", "/s")
	if p.devPath["flash"] != "/d/flash" || p.devPath["mfm/NE"] != "/d/mfm/NE" || p.mfzid != "/s/mfzid" || p.statistics != "/s/statistics" {
		t.Errorf("roots: %+v", p)
	}
	if len(p.devNames) != 12 {
		t.Errorf("%d devices", len(p.devNames))
	}
}
