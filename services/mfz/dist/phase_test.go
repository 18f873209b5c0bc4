package dist

import "testing"

// Every phase against every event: only the transitions drawn in
// phase.go happen; anything else leaves the phase as it is.
func TestPhaseTransitions(t *testing.T) {
	type key struct {
		p phase
		e phaseEvent
	}
	allowed := map[key]phase{
		{phaseReceiving, evAllBlocks}: phaseVerifying,
		{phaseVerifying, evCheckDone}: phaseReceiving,
		{phaseReceiving, evInstalled}: phaseHeld,
	}
	for _, p := range []phase{0, phaseReceiving, phaseVerifying, phaseHeld, phaseTombstone} {
		for _, e := range []phaseEvent{0, evAllBlocks, evCheckDone, evInstalled} {
			want, ok := allowed[key{p, e}]
			if !ok {
				want = p
			}
			got, gotOK := p.next(e)
			if got != want || gotOK != ok {
				t.Errorf("%v on event %d: %v %v, want %v %v", p, e, got, gotOK, want, ok)
			}
		}
	}
}

// A transfer's life as the loop drives it, event by event, with the file
// methods that apply the transitions.
func TestPhaseLives(t *testing.T) {
	for _, c := range []struct {
		name   string
		events []phaseEvent
		ok     []bool
		phases []phase
	}{
		{"completed", []phaseEvent{evAllBlocks, evCheckDone, evInstalled},
			[]bool{true, true, true}, []phase{phaseVerifying, phaseReceiving, phaseHeld}},
		{"a check that failed for the disk runs again",
			[]phaseEvent{evAllBlocks, evCheckDone, evAllBlocks, evCheckDone, evInstalled},
			[]bool{true, true, true, true, true},
			[]phase{phaseVerifying, phaseReceiving, phaseVerifying, phaseReceiving, phaseHeld}},
		{"pushed while receiving", []phaseEvent{evInstalled, evAllBlocks, evInstalled},
			[]bool{true, false, false}, []phase{phaseHeld, phaseHeld, phaseHeld}},
		{"one check at a time", []phaseEvent{evAllBlocks, evAllBlocks, evInstalled},
			[]bool{true, false, false}, []phase{phaseVerifying, phaseVerifying, phaseVerifying}},
		{"no result without a check", []phaseEvent{evCheckDone},
			[]bool{false}, []phase{phaseReceiving}},
	} {
		f := &file{phase: phaseReceiving}
		for i, e := range c.events {
			if ok := f.to(e); ok != c.ok[i] || f.phase != c.phases[i] {
				t.Fatalf("%s, event %d: %v %v, want %v %v", c.name, i, f.phase, ok, c.phases[i], c.ok[i])
			}
			if f.receiving() != f.phase.transferring() {
				t.Fatalf("%s: receiving() %v in %v", c.name, f.receiving(), f.phase)
			}
		}
	}
}
