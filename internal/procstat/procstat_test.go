package procstat

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestThreadSwitchesCount(t *testing.T) {
	n0, err := ThreadSwitches()
	if err != nil {
		t.Skip(err)
	}
	time.Sleep(20 * time.Millisecond) // the thread running this blocks: a switch
	n1, err := ThreadSwitches()
	if err != nil {
		t.Fatal(err)
	}
	if n1 <= n0 {
		t.Fatalf("context switches went from %d to %d over a sleep", n0, n1)
	}
}

func TestPinToOneCPU(t *testing.T) {
	var was unix.CPUSet
	if err := unix.SchedGetaffinity(0, &was); err != nil {
		t.Skip(err)
	}
	restore, err := PinToOneCPU()
	if err != nil {
		t.Fatal(err)
	}
	var now unix.CPUSet
	if err := unix.SchedGetaffinity(0, &now); err != nil {
		t.Fatal(err)
	}
	if now.Count() != 1 {
		t.Errorf("pinned to %d CPUs, want 1", now.Count())
	}
	restore()
	if err := unix.SchedGetaffinity(0, &now); err != nil {
		t.Fatal(err)
	}
	if now != was {
		t.Errorf("restored to %d CPUs, want the %d it had", now.Count(), was.Count())
	}
}
