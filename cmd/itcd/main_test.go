package main

import (
	"os"
	"testing"
)

// TestMain lets tests run this test binary as the itcd command: with
// ITCD_TEST_AS_MAIN=1 in its environment it dispatches its arguments the
// way main does. Process-level tests (kill -9, restarts) need a real
// process, and this one is built with the same flags as the tests.
func TestMain(m *testing.M) {
	if os.Getenv("ITCD_TEST_AS_MAIN") == "1" {
		os.Exit(dispatch(os.Args[1:]))
	}
	os.Exit(m.Run())
}
