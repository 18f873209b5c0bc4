package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// ITCD_DEB_TEST=strict (make deb-test sets it) turns a missing Debian
// tool into a failure: CI installs them (.ci/run) and must really run
// these tests. Without it they skip, saying what is missing.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err == nil {
		return p
	}
	msg := tool + " is missing: install Debian's dpkg, dpkg-dev and lintian packages (.ci/run does) to test the packages"
	if os.Getenv("ITCD_DEB_TEST") == "strict" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

const testMaintainer = "itcd tests <itcd-tests@users.noreply.github.com>"

var commitTime = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// itcdBinary builds the itcd command for a Debian architecture with the
// version describe, as make deb does; built once per (arch, describe).
var built = map[string]string{}

func itcdBinary(t *testing.T, arch, describe string) string {
	t.Helper()
	key := arch + " " + describe
	if p, ok := built[key]; ok {
		return p
	}
	env := map[string][]string{
		"amd64": {"GOOS=linux", "GOARCH=amd64"},
		"armhf": {"GOOS=linux", "GOARCH=arm", "GOARM=7"},
	}[arch]
	dir, err := os.MkdirTemp("", "mkdeb-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "itcd")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -X github.com/t2tiles/itcd/internal/buildinfo.Version="+describe, "-o", out, "./cmd/itcd")
	cmd.Dir = "../.."
	cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build itcd for %s: %v\n%s", arch, err, b)
	}
	built[key] = out
	return out
}

// mkPackage builds itcd's package for arch at version describe in dir.
func mkPackage(t *testing.T, dir, arch, describe string) string {
	t.Helper()
	v, err := DebianVersion(describe, commitTime)
	if err != nil {
		t.Fatal(err)
	}
	p := Params{Version: v, Describe: describe, Arch: arch, Binary: itcdBinary(t, arch, describe), Root: "../..", Maintainer: testMaintainer, Date: commitTime}
	path := filepath.Join(dir, FileName(v, arch))
	if err := buildFile(p, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func sh(t *testing.T, name string, args ...string) string {
	t.Helper()
	b, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
	}
	return string(b)
}

// The packages' metadata and files (dpkg-deb --info, --contents), the
// binary's architecture, and what lintian says.
func TestPackages(t *testing.T) {
	dpkgDeb := need(t, "dpkg-deb")
	lintian := need(t, "lintian")
	dir := t.TempDir()
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
	}{{"armhf", elf.EM_ARM}, {"amd64", elf.EM_X86_64}} {
		t.Run(tc.arch, func(t *testing.T) {
			deb := mkPackage(t, dir, tc.arch, "v1.0.0")
			if filepath.Base(deb) != "itcd_1.0.0-1_"+tc.arch+".deb" {
				t.Errorf("package file %s", filepath.Base(deb))
			}
			info := sh(t, dpkgDeb, "--info", deb)
			for _, want := range []string{
				"Package: itcd\n", "Version: 1.0.0-1\n", "Architecture: " + tc.arch + "\n",
				"Maintainer: " + testMaintainer + "\n", "Section: net\n", "Priority: optional\n",
				"Depends: passwd | adduser, init-system-helpers (>= 1.54~)\n",
				"Homepage: https://github.com/t2tiles/itcd\n",
				"Description: intertile peer-to-peer service daemon for T2 tiles\n",
				" postinst ", " prerm ", " postrm ", " conffiles ", " md5sums ",
			} {
				if !strings.Contains(info, want) {
					t.Errorf("dpkg-deb --info lacks %q:\n%s", want, info)
				}
			}
			if c := sh(t, dpkgDeb, "--info", deb, "conffiles"); c != "/etc/itcd/itcd.toml\n" {
				t.Errorf("conffiles = %q, want /etc/itcd/itcd.toml alone", c)
			}
			checkContents(t, sh(t, dpkgDeb, "--contents", deb))

			x := t.TempDir()
			sh(t, dpkgDeb, "-x", deb, x)
			f, err := elf.Open(filepath.Join(x, "usr/bin/itcd"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Errorf("/usr/bin/itcd is for %v, want %v", f.Machine, tc.machine)
			}
			if unit, _ := os.ReadFile(filepath.Join(x, "lib/systemd/system/itcd.service")); !strings.Contains(string(unit), "ExecStart=/usr/bin/itcd run --config /etc/itcd/itcd.toml\n") {
				t.Errorf("the unit does not start /usr/bin/itcd:\n%s", unit)
			}
			shipped, _ := os.ReadFile("../../dist/itcd.toml")
			if got, _ := os.ReadFile(filepath.Join(x, "etc/itcd/itcd.toml")); string(got) != string(shipped) {
				t.Error("/etc/itcd/itcd.toml is not dist/itcd.toml")
			}

			// Errors fail; so do warnings, which may only be
			// overridden with a reason (maint/lintian-overrides).
			out, err := exec.Command(lintian, "--fail-on", "error,warning", "--display-info", deb).CombinedOutput()
			t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
			if err != nil {
				t.Errorf("lintian: %v\n%s", err, out)
			}
		})
	}
}

// contentsRE reads one line of dpkg-deb --contents.
var contentsRE = regexp.MustCompile(`^([-dl][rwxs-]{9}) (\S+)/(\S+)\s+\d+ \S+ \S+ \./(\S*)`)

func checkContents(t *testing.T, listing string) {
	t.Helper()
	want := map[string]string{
		"usr/bin/itcd":                           "-rwxr-xr-x",
		"lib/systemd/system/itcd.service":        "-rw-r--r--",
		"etc/itcd/itcd.toml":                     "-rw-r--r--",
		"usr/share/doc/itcd/README.md":           "-rw-r--r--",
		"usr/share/doc/itcd/copyright":           "-rw-r--r--",
		"usr/share/doc/itcd/changelog.Debian.gz": "-rw-r--r--",
		"usr/share/lintian/overrides/itcd":       "-rw-r--r--",
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(listing), "\n") {
		m := contentsRE.FindStringSubmatch(line)
		if m == nil {
			t.Errorf("dpkg-deb --contents line %q: unreadable", line)
			continue
		}
		perm, owner, group, path := m[1], m[2], m[3], strings.TrimSuffix(m[4], "/")
		if owner != "root" || group != "root" {
			t.Errorf("%s is owned by %s/%s, want root/root", path, owner, group)
		}
		if perm[0] == 'd' {
			if perm != "drwxr-xr-x" {
				t.Errorf("directory %s is %s, want drwxr-xr-x", path, perm)
			}
			continue
		}
		got[path] = perm
	}
	var extra []string
	for p, perm := range got {
		if want[p] == "" {
			extra = append(extra, p)
		} else if perm != want[p] {
			t.Errorf("%s is %s, want %s", p, perm, want[p])
		}
	}
	for p := range want {
		if got[p] == "" {
			t.Errorf("the package lacks %s", p)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Errorf("files in the package that should not be: %v", extra)
	}
}
