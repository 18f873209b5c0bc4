// Package itcd_test checks the layout rules of the source tree that the
// compiler does not: which packages may depend on which, and how long a
// file may grow.
package itcd_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/t2tiles/itcd"

// imports returns the packages that the non-test files of the package
// in dir import.
func imports(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range af.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// deps returns every package pkg depends on, directly or not, as far as
// this module's packages go (others are listed but not followed).
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	all := map[string]bool{}
	var walk func(p string)
	walk = func(p string) {
		for _, im := range imports(t, "."+strings.TrimPrefix(p, module)) {
			if all[im] {
				continue
			}
			all[im] = true
			if strings.HasPrefix(im, module+"/") {
				walk(im)
			}
		}
	}
	walk(pkg)
	return all
}

func TestDependencyRules(t *testing.T) {
	tests := []struct {
		pkg    string
		banned func(dep string) bool
		rule   string
	}{
		{module + "/daemon", func(d string) bool { return strings.HasPrefix(d, module+"/services/") },
			"the daemon implements p2p.Host and imports no service"},
		{module + "/services/counter", func(d string) bool { return d == module+"/daemon" || strings.Contains(d, "BurntSushi/toml") },
			"a service needs neither the daemon nor the TOML library"},
		{module + "/services/mfz/dist", func(d string) bool { return d == module+"/daemon" || strings.Contains(d, "BurntSushi/toml") },
			"a service needs neither the daemon nor the TOML library"},
		{module + "/services/tubes", func(d string) bool { return d == module+"/daemon" || strings.Contains(d, "BurntSushi/toml") },
			"a service needs neither the daemon nor the TOML library"},
		{module + "/control", func(d string) bool {
			return d == module+"/daemon" || d == module+"/tile" || strings.HasPrefix(d, module+"/services/") || strings.HasPrefix(d, module+"/sim/")
		}, "the control client and its types need neither the daemon nor a service, so a client imports no more than it talks to"},
		{module + "/p2p", func(d string) bool { return strings.HasPrefix(d, module+"/") && d != module+"/itc/packet" },
			"the service contract imports only itc/packet"},
	}
	for _, tc := range tests {
		for d := range deps(t, tc.pkg) {
			if tc.banned(d) {
				t.Errorf("%s depends on %s: %s", tc.pkg, d, tc.rule)
			}
		}
	}
}

// maxFileLines bounds a non-test source file: past it a file holds more
// than one job, and a reader cannot keep it in mind.
const maxFileLines = 500

func TestFilesStaySmall(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != "." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if n := strings.Count(string(b), "\n"); n > maxFileLines {
			t.Errorf("%s has %d lines, more than %d: split it by job", path, n, maxFileLines)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
