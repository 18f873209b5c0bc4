package main

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// testRoot is a throwaway Debian root for dpkg --root: the host's /usr
// under an overlay (what dpkg writes to /usr lands in the root's own
// upper dir, the host's stays as it is), a /etc with only root's user and
// group, an empty dpkg database and, unless asked, no /run/systemd/system:
// dpkg runs the maintainer scripts chrooted into it, as in a chroot where
// systemd is not running. A fake systemctl first in PATH logs every call
// to /tmp/systemctl.log, so the test sees what the scripts asked of
// systemd, and that they asked nothing where it does not run.
type testRoot struct {
	dir, upper, work string
}

// nsSetup mounts the overlay and /dev/null inside a private mount
// namespace (unshare --mount), so nothing outlives the command.
const nsSetup = `set -e
r=$1; shift
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$r.upper,workdir=$r.work" "$r/usr"
mount --bind /dev/null "$r/dev/null"
exec "$@"`

// fakeSystemctl hands what works without a running systemd (--root=:
// deb-systemd-helper enabling the unit offline) to the real one.
const fakeSystemctl = `#!/bin/sh
echo "$*" >>/tmp/systemctl.log
case "$*" in
*--root=*) exec /usr/bin/systemctl "$@" ;;
*is-enabled*) echo enabled ;;
esac
exit 0
`

func newTestRoot(t *testing.T, systemd bool) *testRoot {
	t.Helper()
	need(t, "dpkg")
	need(t, "unshare")
	if os.Geteuid() != 0 {
		msg := "installing into a throwaway root needs root (chroot, mounts in a private namespace); CI runs as root"
		if os.Getenv("ITCD_DEB_TEST") == "strict" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	base := t.TempDir()
	r := &testRoot{dir: filepath.Join(base, "root"), upper: filepath.Join(base, "root.upper"), work: filepath.Join(base, "root.work")}
	for _, d := range []string{r.upper, r.work, r.dir, "usr", "etc", "dev", "run", "tmp", "var/lib/dpkg/info", "var/lib/dpkg/updates", "var/log", "root"} {
		if !filepath.IsAbs(d) {
			d = filepath.Join(r.dir, d)
		}
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(r.dir, "tmp"), 0o1777)
	if systemd {
		os.MkdirAll(filepath.Join(r.dir, "run/systemd/system"), 0o755)
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(r.dir, l)); err != nil {
			t.Fatal(err)
		}
	}
	// The tools the scripts use are the host's, in /usr: the root's
	// database says so, from the host's (which holds them).
	deps, err := exec.Command("dpkg-query", "--status", "passwd", "init-system-helpers").Output()
	if err != nil {
		t.Fatalf("dpkg-query --status passwd init-system-helpers on the host: %v", err)
	}
	loginDefs, err := os.ReadFile("/etc/login.defs")
	if err != nil {
		t.Fatalf("the host's /etc/login.defs, which groupadd reads: %v", err)
	}
	for path, body := range map[string]string{
		"etc/passwd":             "root:x:0:0:root:/root:/bin/sh\n",
		"etc/group":              "root:x:0:\n",
		"etc/shadow":             "root:*:20000:0:99999:7:::\n",
		"etc/gshadow":            "root:*::\n",
		"etc/nsswitch.conf":      "passwd: files\ngroup: files\nshadow: files\ngshadow: files\n",
		"etc/login.defs":         string(loginDefs),
		"dev/null":               "",
		"var/lib/dpkg/status":    string(deps),
		"var/lib/dpkg/available": "",
		// In the upper dir: /usr/local/sbin comes first in PATH.
		"../root.upper/local/sbin/systemctl": fakeSystemctl,
		// A container's policy-rc.d forbids starting anything; the
		// root's lets deb-systemd-invoke call (the fake) systemctl.
		"../root.upper/sbin/policy-rc.d": "#!/bin/sh\nexit 0\n",
	} {
		p := filepath.Join(r.dir, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(r.upper, "local/sbin/systemctl"), 0o755)
	os.Chmod(filepath.Join(r.upper, "sbin/policy-rc.d"), 0o755)
	return r
}

// run runs a command with the root's mounts in place; dpkg gets --root.
func (r *testRoot) run(t *testing.T, args ...string) string {
	t.Helper()
	if args[0] == "dpkg" {
		args = append([]string{"dpkg", "--root=" + r.dir, "--force-unsafe-io"}, args[1:]...)
	}
	cmd := exec.Command("unshare", append([]string{"--mount", "--propagation", "private", "sh", "-c", nsSetup, "sh", r.dir}, args...)...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", "DEBIAN_FRONTEND=noninteractive"}
	b, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, b)
	}
	return string(b)
}

// path is where p (relative to the root) is on the host: what the
// package put in /usr is in the overlay's upper dir.
func (r *testRoot) path(p string) string {
	for _, l := range []string{"usr/", "lib/", "bin/", "sbin/"} {
		if strings.HasPrefix(p, l) {
			return filepath.Join(r.upper, strings.TrimPrefix(p, "usr/"))
		}
	}
	return filepath.Join(r.dir, p)
}

func (r *testRoot) exists(p string) bool {
	_, err := os.Lstat(r.path(p))
	return err == nil
}

// systemctlCalls returns what the scripts asked of systemctl since the
// last call, and forgets it.
func (r *testRoot) systemctlCalls() string {
	p := filepath.Join(r.dir, "tmp/systemctl.log")
	b, _ := os.ReadFile(p)
	os.Remove(p)
	return strings.TrimSpace(string(b))
}

// snapshot lists every file and link of the root (with its content or
// target) but dpkg's own database and log and the backups groupadd
// keeps: what a package leaves behind shows as a difference.
func (r *testRoot) snapshot(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	walk := func(top, prefix string, skip func(string) bool) {
		err := filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel := prefix + strings.TrimPrefix(strings.TrimPrefix(path, top), "/")
			if skip(rel) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			switch {
			case d.Type()&fs.ModeSymlink != 0:
				target, _ := os.Readlink(path)
				out[rel] = "-> " + target
			case d.IsDir():
				// Directories count only through what is in them,
				// but the two a purge must delete are checked apart.
			default:
				b, _ := os.ReadFile(path)
				out[rel] = fmt.Sprintf("%x", sha256.Sum256(b))[:16]
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	walk(r.dir, "", func(rel string) bool {
		return rel == "usr" || rel == "tmp" || strings.HasPrefix(rel, "var/lib/dpkg") || strings.HasPrefix(rel, "var/log") ||
			rel == "etc/group-" || rel == "etc/gshadow-" || rel == "etc/.pwd.lock"
	})
	walk(r.upper, "usr/", func(string) bool { return false })
	return out
}

func diff(before, after map[string]string) []string {
	var d []string
	for p, v := range after {
		if before[p] != v {
			d = append(d, p)
		}
	}
	for p := range before {
		if _, ok := after[p]; !ok {
			d = append(d, p+" (gone)")
		}
	}
	sort.Strings(d)
	return d
}

// The amd64 package installs, upgrades over itself, removes and purges
// cleanly in a throwaway root where systemd is not running, as in a
// chroot: the maintainer scripts make the group and the state dir and
// enable the unit for the next boot, a local edit of the conffile
// survives the upgrade, a remove leaves only the conffile and the state
// dir, a purge nothing; systemd is asked nothing but to enable the unit
// offline (systemctl --root=/).
func TestInstallWithoutSystemd(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := mkPackage(t, dir, "amd64", "v1.0.0"), mkPackage(t, dir, "amd64", "v1.0.1")
	r := newTestRoot(t, false)
	clean := r.snapshot(t)

	r.run(t, "dpkg", "-i", v1)
	for _, p := range []string{"usr/bin/itcd", "lib/systemd/system/itcd.service", "etc/itcd/itcd.toml", "usr/share/doc/itcd/copyright"} {
		if !r.exists(p) {
			t.Errorf("installed: no /%s", p)
		}
	}
	if st, err := os.Stat(r.path("var/lib/itcd")); err != nil || !st.IsDir() || st.Mode().Perm() != 0o755 {
		t.Errorf("installed: /var/lib/itcd %v, %v; want a 0755 dir", st, err)
	}
	if g, _ := os.ReadFile(r.path("etc/group")); !strings.Contains(string(g), "\nitcd:x:") {
		t.Errorf("installed: no itcd group in /etc/group:\n%s", g)
	}
	wants := "etc/systemd/system/multi-user.target.wants/itcd.service"
	if l, err := os.Readlink(r.path(wants)); err != nil || l != "/lib/systemd/system/itcd.service" {
		t.Errorf("installed: /%s -> %q, %v; want the unit enabled for the next boot", wants, l, err)
	}
	if v := r.run(t, "chroot", r.dir, "/usr/bin/itcd", "version"); !strings.HasPrefix(v, "itcd v1.0.0 ") {
		t.Errorf("installed itcd version says:\n%s", v)
	}

	// A local edit of the conffile survives an upgrade.
	conf := r.path("etc/itcd/itcd.toml")
	edited, _ := os.ReadFile(conf)
	edited = append(edited, "# a local edit\n"...)
	os.WriteFile(conf, edited, 0o644)
	r.run(t, "dpkg", "-i", v2)
	if b, _ := os.ReadFile(conf); string(b) != string(edited) {
		t.Error("upgraded: the local edit of /etc/itcd/itcd.toml is lost")
	}
	if v := r.run(t, "chroot", r.dir, "/usr/bin/itcd", "version"); !strings.HasPrefix(v, "itcd v1.0.1 ") {
		t.Errorf("upgraded itcd version says:\n%s", v)
	}
	if st := r.run(t, "dpkg-query", "--admindir="+r.dir+"/var/lib/dpkg", "-W", "-f=${Version} ${db:Status-Status}", "itcd"); st != "1.0.1-1 installed" {
		t.Errorf("upgraded: dpkg says %q", st)
	}
	// The state the daemon would have made stays over a remove.
	os.WriteFile(r.path("var/lib/itcd/tile-id"), []byte("0102030405060708\n"), 0o644)
	afterInstall := r.snapshot(t)

	r.run(t, "dpkg", "-r", "itcd")
	left := diff(clean, r.snapshot(t))
	wantLeft := []string{"etc/group", "etc/gshadow", "etc/itcd/itcd.toml", "var/lib/itcd/tile-id"}
	if strings.Join(left, " ") != strings.Join(wantLeft, " ") {
		t.Errorf("removed: left %v; want only the conffile, the state dir and the itcd group %v\n(installed: %v)", left, wantLeft, diff(clean, afterInstall))
	}

	// Installed again, the unit is enabled again and the kept conffile
	// is used; a remove then leaves what it left before.
	r.run(t, "dpkg", "-i", v2)
	if _, err := os.Readlink(r.path(wants)); err != nil {
		t.Errorf("installed after a remove: the unit is not enabled: %v", err)
	}
	if b, _ := os.ReadFile(conf); string(b) != string(edited) {
		t.Error("installed after a remove: the kept /etc/itcd/itcd.toml was replaced")
	}
	r.run(t, "dpkg", "-r", "itcd")

	r.run(t, "dpkg", "-P", "itcd")
	if left := diff(clean, r.snapshot(t)); len(left) > 0 {
		t.Errorf("purged: left %v; want nothing", left)
	}
	for _, p := range []string{"etc/itcd", "var/lib/itcd"} {
		if r.exists(p) {
			t.Errorf("purged: /%s is still there", p)
		}
	}
	calls := r.systemctlCalls()
	t.Logf("systemctl calls: %s", strings.ReplaceAll(calls, "\n", "; "))
	for _, c := range strings.Split(calls, "\n") {
		if c != "" && !strings.Contains(c, "--root=") {
			t.Errorf("without systemd running the scripts asked it to %q", c)
		}
	}
}

// Where systemd runs, install starts the unit, an upgrade restarts it
// and a remove stops it (a fake systemctl records the calls).
func TestInstallWithSystemd(t *testing.T) {
	dir := t.TempDir()
	v1, v2 := mkPackage(t, dir, "amd64", "v1.0.0"), mkPackage(t, dir, "amd64", "v1.0.1")
	r := newTestRoot(t, true)
	steps := []struct {
		args []string
		want []string // systemctl calls that must be among those made
	}{
		{[]string{"dpkg", "-i", v1}, []string{"--system daemon-reload", "--quiet --system start itcd.service"}},
		{[]string{"dpkg", "-i", v2}, []string{"--system daemon-reload", "--quiet --system restart itcd.service"}},
		{[]string{"dpkg", "-r", "itcd"}, []string{"stop itcd.service", "--system daemon-reload"}},
		{[]string{"dpkg", "-P", "itcd"}, []string{"--system daemon-reload"}},
	}
	for _, s := range steps {
		r.run(t, s.args...)
		calls := r.systemctlCalls()
		t.Logf("%s: systemctl %s", strings.Join(s.args, " "), strings.ReplaceAll(calls, "\n", "; "))
		for _, w := range s.want {
			if !strings.Contains("\n"+calls+"\n", "\n"+w+"\n") {
				t.Errorf("%s: systemctl calls\n%s\nlack %q", strings.Join(s.args, " "), calls, w)
			}
		}
		if strings.Contains(calls, "restart") != strings.Contains(strings.Join(s.want, " "), "restart") {
			t.Errorf("%s: systemctl calls\n%s", strings.Join(s.args, " "), calls)
		}
	}
}
