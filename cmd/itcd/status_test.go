package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/t2tiles/itcd/services/mfz/dist"
)

// A transfer paused by a full disk says so in `itcd status`, with the
// reason (the path to free space on) and when it is tried again.
func TestStatusShowsPausedTransfer(t *testing.T) {
	reason := "mfz: writing block 3 of a.mfz@1@00: no space left on /st/mfz/partial/a/file: free space on that file system; transfers resume by themselves"
	s := dist.Status{
		Transfers: []dist.TransferStatus{{Name: "a.mfz", Version: 1, BlocksHeld: 3, BlocksTotal: 9,
			State: "paused", Reason: reason, RetryS: 4}},
		Paused: reason, PausedRetryS: 8,
		StartsPaused: []dist.StartPause{{Name: "b.mfz", Version: 2, Reason: "mfz: creating partial: not a directory", RetryS: 16}},
	}
	var out bytes.Buffer
	writeMFZ(&out, s)
	got := out.String()
	for _, want := range []string{"paused a.mfz", "3/9 blocks held; retry in 4 s: " + reason, "new transfers paused (retry in 8 s): " + reason,
		"cannot start b.mfz", "(retry in 16 s): mfz: creating partial: not a directory"} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
}
