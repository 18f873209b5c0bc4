package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/services/mfz"
)

// runCapture runs an itcd subcommand in-process and captures its output.
func runCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = dispatch(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestParseInterleaved(t *testing.T) {
	for _, tc := range []struct {
		args []string
		pos  string
		json bool
	}{
		{[]string{"--json", "a", "b"}, "a b", true},
		{[]string{"a", "--json", "b"}, "a b", true},
		{[]string{"a", "b", "-json"}, "a b", true},
		{[]string{"a", "--", "--json"}, "a --json", false},
		{[]string{}, "", false},
	} {
		fs := newFlagSet("t", "", io.Discard)
		j := fs.Bool("json", false, "")
		pos, err := parseInterleaved(fs, tc.args)
		if err != nil || strings.Join(pos, " ") != tc.pos || *j != tc.json {
			t.Errorf("%q: pos %q json %v err %v", tc.args, pos, *j, err)
		}
	}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"1700000000", 1700000000_000000000, true},
		{"2023-11-14T22:13:20Z", 1700000000_000000000, true},
		{"2023-11-14T22:13:20.5Z", 1700000000_500000000, true},
		{"yesterday", 0, false},
		{"99999999999999999", 0, false},
	} {
		got, err := parseVersion(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("parseVersion(%q) = %d, %v", tc.in, got, err)
		}
	}
}

func TestMFZCommands(t *testing.T) {
	dir := t.TempDir()
	at := func(s string) string { return filepath.Join(dir, s) }
	payload := bytes.Repeat([]byte("physics "), 10000)
	os.WriteFile(at("in.bin"), payload, 0o644)

	if code, _, errs := runCapture(t, "keygen", at("alice")); code != 0 {
		t.Fatalf("keygen: %d %s", code, errs)
	}
	if fi, err := os.Stat(at("alice.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("alice.key mode: %v %v", fi.Mode(), err)
	}
	if code, _, _ := runCapture(t, "keygen", at("alice")); code != 1 {
		t.Fatal("keygen overwrote a key")
	}
	runCapture(t, "keygen", at("mallory"))
	os.Mkdir(at("trust"), 0o755)
	b, _ := os.ReadFile(at("alice.pub"))
	os.WriteFile(at("trust/alice.pub"), b, 0o644)

	// Flags after positionals work too.
	if code, _, errs := runCapture(t, "pack", at("in.bin"), at("out.mfz"), "--key", at("alice.key"), "--name", "Demo.mfz", "--version", "1700000000"); code != 0 {
		t.Fatalf("pack: %s", errs)
	}
	if code, out, errs := runCapture(t, "verify", "--trust", at("trust"), at("out.mfz")); code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("verify: %d %s %s", code, out, errs)
	}
	code, out, _ := runCapture(t, "inspect", at("out.mfz"), "--json")
	var j inspectJSON
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j.Name != "Demo.mfz" || j.Version != 1700000000_000000000 || j.PayloadLen != int64(len(payload)) {
		t.Fatalf("inspect: %d %s", code, out)
	}
	// Format 3: the manifest holds the hashes of the hash pages, the
	// file's first blocks, which hold the body blocks' hashes.
	if j.FormatVersion != mfz.FormatVersion || j.Pages < 1 || len(j.BlockSHA256) != j.Pages || len(j.BlockSHA256[0]) != 2*mfz.BlockHashLen ||
		j.HashListLen != int64(j.Blocks-j.Pages)*mfz.BlockHashLen || j.BodyOffset+j.BodyLen != j.FileLen {
		t.Fatalf("inspect: format %d, %d pages, %d blocks, hash list %d, body %d at %d of %d, hashes %q",
			j.FormatVersion, j.Pages, j.Blocks, j.HashListLen, j.BodyLen, j.BodyOffset, j.FileLen, j.BlockSHA256)
	}
	// --format 1 packs for grids with tiles older than format 2.
	if code, _, errs := runCapture(t, "pack", "--format", "1", "--key", at("alice.key"), at("in.bin"), at("old.mfz")); code != 0 {
		t.Fatalf("pack --format 1: %s", errs)
	}
	code, out, _ = runCapture(t, "inspect", at("old.mfz"), "--json")
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j.FormatVersion != 1 || len(j.BlockSHA256[0]) != 2*mfz.HashLen {
		t.Fatalf("inspect of format 1: %d %s", code, out)
	}
	if code, _, errs := runCapture(t, "verify", "--trust", at("trust"), at("old.mfz")); code != 0 {
		t.Fatalf("verify of format 1: %s", errs)
	}
	// --format 2 for grids with tiles older than format 3: every block's
	// hash in the manifest, no pages.
	if code, _, errs := runCapture(t, "pack", "--format", "2", "--key", at("alice.key"), at("in.bin"), at("two.mfz")); code != 0 {
		t.Fatalf("pack --format 2: %s", errs)
	}
	code, out, _ = runCapture(t, "inspect", at("two.mfz"), "--json")
	if code != 0 || json.Unmarshal([]byte(out), &j) != nil || j.FormatVersion != 2 || j.Pages != 0 || len(j.BlockSHA256) != j.Blocks {
		t.Fatalf("inspect of format 2: %d %s", code, out)
	}
	if code, _, errs := runCapture(t, "verify", "--trust", at("trust"), at("two.mfz")); code != 0 {
		t.Fatalf("verify of format 2: %s", errs)
	}
	if code, _, errs := runCapture(t, "pack", "--format", "4", "--key", at("alice.key"), at("in.bin"), at("new.mfz")); code != 1 || !strings.Contains(errs, "writes versions 1 to 3") {
		t.Fatalf("pack --format 4: %d %s", code, errs)
	}
	if code, _, errs := runCapture(t, "unpack", "--trust", at("alice.pub"), at("out.mfz"), at("back")); code != 0 {
		t.Fatalf("unpack: %s", errs)
	}
	if back, _ := os.ReadFile(at("back")); !bytes.Equal(back, payload) {
		t.Fatal("unpacked payload differs")
	}
	if code, _, errs := runCapture(t, "pack", "--key", at("alice.key"), "--delete", "Demo.mfz", at("tomb.mfz")); code != 0 {
		t.Fatalf("pack --delete: %s", errs)
	}
	if code, _, _ := runCapture(t, "verify", "--trust", at("trust"), at("tomb.mfz")); code != 0 {
		t.Fatal("tombstone does not verify")
	}
	if code, _, _ := runCapture(t, "unpack", "--trust", at("trust"), at("tomb.mfz"), at("x")); code != 1 {
		t.Fatal("unpacked a tombstone")
	}
	if _, err := os.Stat(at("x")); !os.IsNotExist(err) {
		t.Fatal("failed unpack left its output")
	}

	good, _ := os.ReadFile(at("out.mfz"))
	write := func(name string, b []byte) string { p := at(name); os.WriteFile(p, b, 0o644); return p }
	flip := func(i int) []byte { c := append([]byte(nil), good...); c[i] ^= 0x40; return c }
	runCapture(t, "pack", "--key", at("mallory.key"), "--name", "Demo.mfz", at("in.bin"), at("evil.mfz"))
	for _, tc := range []struct {
		name, file, fault string
		code              int
	}{
		{"truncated", write("t.mfz", good[:len(good)-10]), "truncated", 1},
		{"magic", write("m.mfz", flip(1)), "bad magic", 1},
		{"version", write("v.mfz", flip(9)), "unknown format version", 1},
		{"signature", write("s.mfz", flip(16+15)), "manifest signature invalid", 1},
		{"untrusted", at("evil.mfz"), "untrusted key", 1},
		{"block", write("b.mfz", flip(len(good)-100)), "hash mismatch", 1},
		{"missing", at("nope.mfz"), "no such file", 1},
	} {
		code, _, errs := runCapture(t, "verify", "--trust", at("trust"), tc.file)
		if code != tc.code || !strings.HasPrefix(errs, "itcd verify: "+tc.file+": ") || !strings.Contains(errs, tc.fault) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%s: code %d, stderr %q", tc.name, code, errs)
		}
		if code, _, _ := runCapture(t, "unpack", "--trust", at("trust"), tc.file, at("u")); code != 1 {
			t.Errorf("%s: unpack exit %d", tc.name, code)
		}
		if _, err := os.Stat(at("u")); !os.IsNotExist(err) {
			t.Errorf("%s: failed unpack left output", tc.name)
		}
	}
	for _, args := range [][]string{
		{"verify"}, {"verify", at("out.mfz")}, {"pack", at("in.bin")}, {"unpack", at("out.mfz")}, {"pack", "--bogus"},
		{"pack", "--key", at("alice.key"), "--name", "../etc", at("in.bin"), at("o")},
	} {
		t.Setenv("ITCD_MFZ_TRUST", "")
		if code, _, _ := runCapture(t, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
