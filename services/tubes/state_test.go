package tubes

import "testing"

// TestStateTable walks every state and event: the transitions listed in
// notes/design.md, and nothing else moves.
func TestStateTable(t *testing.T) {
	want := map[state]map[event]state{
		stOpening:   {evAccepted: stOpen, evFail: stFailed},
		stOpen:      {evLocalFin: stSent, evRemoteFin: stGot, evFail: stFailed},
		stSent:      {evRemoteFin: stBoth, evFinRead: stDelivered, evFail: stFailed},
		stGot:       {evLocalFin: stBoth, evFail: stFailed},
		stBoth:      {evFinRead: stLinger, evFail: stFailed},
		stDelivered: {evRemoteFin: stLinger, evFail: stFailed},
		stLinger:    {evLingerEnd: stClosed, evFail: stClosed},
		stFailed:    {evLingerEnd: stClosed},
	}
	for s := stOpening; s <= stFailed; s++ {
		for e := evAccepted; e <= evLingerEnd; e++ {
			to, ok := want[s][e]
			if !ok {
				to = s
			}
			if got := next(s, e); got != to {
				t.Errorf("%v + %v = %v, want %v", s, e, got, to)
			}
		}
	}
}

// TestAdvanceFollowsTheHalves: the tube derives its events from its
// halves, in whichever order the FINs come and are read.
func TestAdvanceFollowsTheHalves(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps []func(*tube)
		want  []state
	}{
		{"we finish first", []func(*tube){localFin, finRead, remoteFin}, []state{stSent, stDelivered, stLinger}},
		{"they finish first", []func(*tube){remoteFin, localFin, finRead}, []state{stGot, stBoth, stLinger}},
		{"both, then read", []func(*tube){localFin, remoteFin, finRead}, []state{stSent, stBoth, stLinger}},
	} {
		tb := &tube{st: stOpen, asmWant: -1}
		for i, step := range c.steps {
			step(tb)
			tb.advance()
			if tb.st != c.want[i] {
				t.Errorf("%s: step %d: %v, want %v", c.name, i, tb.st, c.want[i])
			}
		}
	}
}

func localFin(t *tube)  { t.snd.fin = true }
func remoteFin(t *tube) { t.rcv.ended = true }
func finRead(t *tube) {
	t.snd.fin, t.snd.finSent, t.snd.finAcked = true, true, true
	t.snd.read = t.snd.finSeq() + 1
}
