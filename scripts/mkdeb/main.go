// Command mkdeb builds itcd's Debian packages (`make deb`): for each
// ARCH=BINARY argument, OUT/itcd_VERSION_ARCH.deb with the binary in
// /usr/bin, the systemd unit, /etc/itcd/itcd.toml as a conffile, the
// docs, and maintainer scripts that make the itcd group and
// /var/lib/itcd and enable, start, restart, stop and disable the unit
// (maint/).
//
// It is its own Go module so that nfpm (github.com/goreleaser/nfpm/v2)
// and its dependencies stay out of itcd's: itcd's module builds the
// daemon, this one only packages it. nfpm was chosen over dpkg-deb
// because it is Go: `make deb` then needs only Go, on any machine, as
// every other target does, and writes the same bytes from the same
// commit (every file time is the commit's). dpkg-deb and lintian check
// the result in the tests (deb_test.go), where Debian's tools belong.
//
//	go run . -describe "$(git describe --tags --always --dirty)" \
//	    -date "$(git log -1 --format=%ct)" -root ../.. -out ../../bin \
//	    armhf=../../bin/deb/armhf/itcd amd64=../../bin/deb/amd64/itcd
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	describe := fs.String("describe", "", "git describe --tags --always --dirty of the tree the binaries come from")
	date := fs.String("date", "", "the commit's time in Unix seconds (git log -1 --format=%ct)")
	root := fs.String("root", "../..", "the itcd repository")
	out := fs.String("out", ".", "where the packages go")
	maintainer := fs.String("maintainer", "", "the Maintainer field, \"Name <address>\"")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	secs, err := strconv.ParseInt(*date, 10, 64)
	if err != nil {
		fmt.Fprintf(stderr, "mkdeb: -date %q: want the commit's Unix time (git log -1 --format=%%ct)\n", *date)
		return 2
	}
	t := time.Unix(secs, 0).UTC()
	version, err := DebianVersion(*describe, t)
	if err != nil {
		fmt.Fprintf(stderr, "mkdeb: %v\n", err)
		return 2
	}
	if !strings.Contains(*maintainer, "<") {
		fmt.Fprintf(stderr, "mkdeb: -maintainer %q: want \"Name <address>\"\n", *maintainer)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "mkdeb: name at least one ARCH=BINARY (armhf=bin/deb/armhf/itcd)")
		return 2
	}
	for _, a := range fs.Args() {
		arch, bin, ok := strings.Cut(a, "=")
		if !ok || arch == "" || bin == "" {
			fmt.Fprintf(stderr, "mkdeb: %q: want ARCH=BINARY\n", a)
			return 2
		}
		p := Params{Version: version, Describe: *describe, Arch: arch, Binary: bin, Root: *root, Maintainer: *maintainer, Date: t}
		path := filepath.Join(*out, FileName(version, arch))
		if err := buildFile(p, path); err != nil {
			fmt.Fprintf(stderr, "mkdeb: %v\n", err)
			return 1
		}
		fmt.Fprintln(stdout, path)
	}
	return 0
}

// buildFile builds p into path, whole or not at all.
func buildFile(p Params, path string) error {
	work, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = Build(p, work, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}
