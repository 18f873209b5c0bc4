package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestMain lets tests run this test binary as the itcd command: with
// ITCD_TEST_AS_MAIN=1 in its environment it dispatches its arguments the
// way main does. Process-level tests (kill -9, restarts) need a real
// process, and this one is built with the same flags as the tests.
func TestMain(m *testing.M) {
	if os.Getenv("ITCD_TEST_AS_MAIN") == "1" {
		os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// Every command writes where it is told: usage, errors and results reach
// the writers dispatch was given, with the exit status of the real command.
func TestDispatchWriters(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args      []string
		code      int
		stdout    string // a part of what must be on stdout
		stderr    string // a part of what must be on stderr
		quietOut  bool   // nothing on stdout
		quietErrs bool   // nothing on stderr
	}{
		{args: nil, code: 2, stderr: "usage: itcd COMMAND", quietOut: true},
		{args: []string{"help"}, code: 0, stdout: "commands:", quietErrs: true},
		{args: []string{"nosuch"}, code: 2, stderr: `unknown command "nosuch"`, quietOut: true},
		{args: []string{"status", "-h"}, code: 0, stderr: "usage: itcd status", quietOut: true},
		{args: []string{"status", "--run-dir", dir}, code: 1, stderr: "itcd status: no itcd control socket at " + dir, quietOut: true},
		{args: []string{"counter", "--run-dir", dir}, code: 1, stderr: "itcd counter: no itcd control socket", quietOut: true},
		{args: []string{"push", "--run-dir", dir, dir + "/none.mfz"}, code: 1, stderr: "itcd push:", quietOut: true},
		{args: []string{"run", "--log-level", "loud", "--config", dir + "/none.toml"}, code: 2, stderr: "itcd run:", quietOut: true},
		{args: []string{"inspect"}, code: 2, stderr: "usage: itcd inspect", quietOut: true},
		{args: []string{"verify", "--trust", dir, dir + "/x.mfz"}, code: 2, stderr: "itcd verify: no trusted keys found", quietOut: true},
		{args: []string{"decode", "c4010201"}, code: 0, stdout: `"local_type":"tep"`, quietErrs: true},
		{args: []string{"sim", "--grid", "0x0"}, code: 2, stderr: "itcd sim:", quietOut: true},
	}
	for _, tc := range tests {
		var out, errs bytes.Buffer
		code := dispatch(tc.args, &out, &errs)
		if code != tc.code || !strings.Contains(out.String(), tc.stdout) || !strings.Contains(errs.String(), tc.stderr) ||
			(tc.quietOut && out.Len() > 0) || (tc.quietErrs && errs.Len() > 0) {
			t.Errorf("itcd %q: exit %d\nstdout: %q\nstderr: %q\nwant exit %d, stdout with %q, stderr with %q",
				tc.args, code, out.String(), errs.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
