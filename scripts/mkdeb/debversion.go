package main

// The package version: `git describe --tags --always --dirty` mapped to a
// version dpkg accepts and orders the way the commits came.
//
//	v1.2.3                    1.2.3-1
//	v1.2.3-4-gabc1234         1.2.3+4.gabc1234-1       (after 1.2.3, before 1.2.4)
//	v1.2.3-rc1                1.2.3~rc1-1              (before 1.2.3)
//	abc1234 (no tag yet)      0.0~git20261130.233415.abc1234-1  (by commit time, UTC)
//	...-dirty                 ....dirty-1              (after the clean build of that commit)
//
// The "-1" is the Debian revision: the package is built from this tree,
// not from an upstream release packaged by Debian, but lintian asks a
// changelog.Debian.gz of non-native packages, and a revision lets a
// packaging-only fix ship as -2.

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	// describeRE splits git describe's output: the tag, commits since
	// it and the abbreviated hash, and the dirty mark.
	describeRE = regexp.MustCompile(`^(.+?)(?:-([0-9]+)-g([0-9a-f]{4,40}))?(-dirty)?$`)
	// bareHashRE is --always's output when no tag is reachable.
	bareHashRE = regexp.MustCompile(`^([0-9a-f]{4,40})(-dirty)?$`)
)

// ErrNoDescribe: the version string is empty (not a git tree, or git
// missing); the Makefile passes VERSION= to say one.
var ErrNoDescribe = errors.New("no version: run in a git clone or set VERSION=x.y.z")

// DebianVersion maps git describe's output to a Debian version. commit
// is the commit's time, used only when no tag is reachable.
func DebianVersion(describe string, commit time.Time) (string, error) {
	describe = strings.TrimSpace(describe)
	if describe == "" {
		return "", ErrNoDescribe
	}
	var v string
	if m := bareHashRE.FindStringSubmatch(describe); m != nil {
		v = "0.0~git" + commit.UTC().Format("20060102.150405") + "." + m[1]
		if m[2] != "" {
			v += ".dirty"
		}
	} else {
		m := describeRE.FindStringSubmatch(describe)
		if m == nil {
			return "", fmt.Errorf("version %q: not git describe's output", describe)
		}
		v = upstreamOfTag(m[1])
		var extra []string
		if m[2] != "" {
			extra = append(extra, m[2], "g"+m[3])
		}
		if m[4] != "" {
			extra = append(extra, "dirty")
		}
		if len(extra) > 0 {
			v += "+" + strings.Join(extra, ".")
		}
	}
	v += "-1"
	if err := CheckDebianVersion(v); err != nil {
		return "", fmt.Errorf("version %q maps to %q: %w", describe, v, err)
	}
	return v, nil
}

// upstreamOfTag turns a tag into the upstream part: a leading v goes,
// a hyphen (v1.2.3-rc1) becomes ~ so a pre-release sorts before the
// release, other characters dpkg refuses become '.', and a tag that does
// not start with a digit is put after 0~ (dpkg requires a digit first).
func upstreamOfTag(tag string) string {
	tag = strings.TrimPrefix(tag, "v")
	b := []byte(tag)
	for n, c := range b {
		switch {
		case c == '-' || c == '_':
			b[n] = '~'
		case !isVersionChar(c):
			b[n] = '.'
		}
	}
	if len(b) == 0 || b[0] < '0' || b[0] > '9' {
		return "0~" + string(b)
	}
	return string(b)
}

func isVersionChar(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '.' || c == '+' || c == '~'
}

// CheckDebianVersion applies dpkg's rules (deb-version(7)): [epoch:]
// upstream[-revision]; the epoch is digits, the upstream starts with a
// digit and holds alphanumerics and . + ~ (and - only when there is a
// revision), the revision alphanumerics and . + ~.
func CheckDebianVersion(v string) error {
	if v == "" {
		return errors.New("empty version")
	}
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch := v[:i]
		if epoch == "" || strings.Trim(epoch, "0123456789") != "" {
			return fmt.Errorf("epoch %q is not a number", epoch)
		}
		v = v[i+1:]
	}
	up := v
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		up = v[:i]
		rev := v[i+1:]
		if rev == "" {
			return errors.New("empty revision after '-'")
		}
		for n := 0; n < len(rev); n++ {
			if !isVersionChar(rev[n]) {
				return fmt.Errorf("revision %q: %q not allowed", rev, rev[n])
			}
		}
	}
	if up == "" || up[0] < '0' || up[0] > '9' {
		return fmt.Errorf("upstream version %q does not start with a digit", up)
	}
	for n := 0; n < len(up); n++ {
		if !isVersionChar(up[n]) && up[n] != '-' {
			return fmt.Errorf("upstream version %q: %q not allowed", up, up[n])
		}
	}
	return nil
}
