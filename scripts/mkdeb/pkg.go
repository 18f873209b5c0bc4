package main

// The package itself: what goes where, built with nfpm's deb packager.

import (
	"bytes"
	"compress/gzip"
	"embed"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

//go:embed maint/postinst maint/prerm maint/postrm maint/copyright maint/lintian-overrides
var maint embed.FS

// Params say which package to build.
type Params struct {
	Version    string    // the Debian version (DebianVersion)
	Describe   string    // what git describe said, for the changelog
	Arch       string    // Debian architecture: armhf (a tile) or amd64
	Binary     string    // the itcd binary built for Arch
	Root       string    // the repository: dist/itcd.service, dist/itcd.toml, README.md
	Maintainer string    // "Name <address>"
	Date       time.Time // the commit's time: every file's and the changelog's, so a build repeats byte for byte
}

// The paths the package installs. The unit sits in /lib, where every
// Debian release a tile may run (10 to 12) looks for packaged units.
const (
	pathBinary = "/usr/bin/itcd"
	pathUnit   = "/lib/systemd/system/itcd.service"
	pathConfig = "/etc/itcd/itcd.toml"
	pathDoc    = "/usr/share/doc/itcd"
)

const description = `intertile peer-to-peer service daemon for T2 tiles
 itcd starts on every T2 tile at boot, owns the tile's ITC packet devices,
 keeps a model of each of up to six neighbours, hands MFM traffic to mfmt2
 and service traffic to peer-to-peer services, and spreads signed files
 through the grid. Its sockets are in /run/itcd (members of the itcd group
 may use them), its state in /var/lib/itcd, its settings in
 /etc/itcd/itcd.toml.`

// FileName is the package's file name, as Debian's tools name it.
func FileName(version, arch string) string {
	return fmt.Sprintf("itcd_%s_%s.deb", version, arch)
}

// Build writes the package p describes to w. work is a scratch dir for
// the files nfpm reads from disk (scripts, copyright, changelog).
func Build(p Params, work string, w io.Writer) error {
	if err := CheckDebianVersion(p.Version); err != nil {
		return fmt.Errorf("version %q: %w", p.Version, err)
	}
	scripts := map[string]string{}
	for _, name := range []string{"postinst", "prerm", "postrm", "copyright", "lintian-overrides"} {
		b, err := maint.ReadFile("maint/" + name)
		if err != nil {
			return err
		}
		scripts[name] = filepath.Join(work, name)
		if err := os.WriteFile(scripts[name], b, 0o755); err != nil {
			return err
		}
	}
	changelog := filepath.Join(work, "changelog.Debian.gz")
	if err := writeChangelog(changelog, p); err != nil {
		return err
	}
	file := func(src, dst string, mode os.FileMode, typ string) *files.Content {
		return &files.Content{Source: src, Destination: dst, Type: typ,
			FileInfo: &files.ContentFileInfo{Mode: mode, MTime: p.Date, Owner: "root", Group: "root"}}
	}
	info := &nfpm.Info{
		Name:          "itcd",
		Arch:          p.Arch,
		Platform:      "linux",
		Version:       p.Version,
		VersionSchema: "none", // already a Debian version
		Section:       "net",
		Priority:      "optional",
		Maintainer:    p.Maintainer,
		Description:   description,
		Homepage:      "https://github.com/t2tiles/itcd",
		MTime:         p.Date,
		Overridables: nfpm.Overridables{
			// A static Go binary needs no library; the maintainer
			// scripts use groupadd (or adduser's addgroup) and
			// deb-systemd-helper.
			Depends: []string{"passwd | adduser", "init-system-helpers (>= 1.54~)"},
			Contents: files.Contents{
				file(p.Binary, pathBinary, 0o755, files.TypeFile),
				file(filepath.Join(p.Root, "dist/itcd.service"), pathUnit, 0o644, files.TypeFile),
				file(filepath.Join(p.Root, "dist/itcd.toml"), pathConfig, 0o644, files.TypeConfig),
				file(filepath.Join(p.Root, "README.md"), pathDoc+"/README.md", 0o644, files.TypeFile),
				file(scripts["copyright"], pathDoc+"/copyright", 0o644, files.TypeFile),
				file(changelog, pathDoc+"/changelog.Debian.gz", 0o644, files.TypeFile),
				// Each with its reason: maint/lintian-overrides.
				file(scripts["lintian-overrides"], "/usr/share/lintian/overrides/itcd", 0o644, files.TypeFile),
			},
			Scripts: nfpm.Scripts{
				PostInstall: scripts["postinst"],
				PreRemove:   scripts["prerm"],
				PostRemove:  scripts["postrm"],
			},
			Deb: nfpm.Deb{Compression: "xz"},
		},
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return fmt.Errorf("package contents: %w", err)
	}
	if err := deb.Default.Package(info, w); err != nil {
		return fmt.Errorf("build the %s package: %w", p.Arch, err)
	}
	return nil
}

// writeChangelog writes a one-entry Debian changelog, gzipped with no
// name or time in the header (lintian asks for gzip -n).
func writeChangelog(path string, p Params) error {
	text := fmt.Sprintf("itcd (%s) unstable; urgency=medium\n\n"+
		"  * Built from git %s; the history is the git log.\n\n"+
		" -- %s  %s\n", p.Version, p.Describe, p.Maintainer, p.Date.UTC().Format(time.RFC1123Z))
	var b bytes.Buffer
	z, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return err
	}
	if _, err := z.Write([]byte(text)); err != nil {
		return err
	}
	if err := z.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}
